"""The paper's published numbers, bundled with the package (``fitclip/data/published_results.csv``), for the
study's tables and overlays on our results (``fitclip.study.tables.published_table``)."""

from __future__ import annotations

from fitclip.annotations import AnnotationError

PUBLISHED_RESULTS_COLUMNS = ("source", "table", "model", "dataset", "split", "metric", "value", "protocol_note")


def load_published_results() -> "pandas.DataFrame":  # noqa: F821
    """The published numbers in ``fitclip/data/published_results.csv`` (columns
    ``source,table,model,dataset,split,metric,value,protocol_note``), for overlays on our results.

    Every row names where its number was read (``source``) and the protocol behind it
    (``protocol_note``): all 220 numbers of the paper's Tables 1a-3 and the supplement's Tables 2a-6,
    one row per number, copied unchanged from the project's record of the paper. Metrics are percent
    except ``MdR`` (a rank).
    """
    import pandas as pd
    from importlib import resources

    with resources.files("fitclip").joinpath("data/published_results.csv").open("r", encoding="utf-8") as f:
        frame = pd.read_csv(f, dtype={"source": str, "table": str, "model": str, "dataset": str,
                                      "split": str, "metric": str, "protocol_note": str})
    if tuple(frame.columns) != PUBLISHED_RESULTS_COLUMNS:
        raise AnnotationError(f"published_results.csv: columns {list(frame.columns)}, expected "
                              f"{list(PUBLISHED_RESULTS_COLUMNS)}")
    frame["value"] = frame["value"].astype(float)
    return frame
