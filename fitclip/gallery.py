"""How a :func:`fitclip.search.search` is shown: its gallery, and its rankings as tables for the console and
notebooks. The gallery has one row per (query or label, model), its top-k videos as film strips of the sampled
frames (the frames the models saw) with their scores.

Each cell says the video's rank and score under that model and how its rank moved against the
reference (the teacher): ``↑3`` = three places higher than under the teacher. Movers (the videos whose
rank changes most between the teacher and FitCLIP, see ``fitclip.search``) are starred and framed in red.
A teacher with random weights (``pretrained`` "none") is said in red in the header of both
(:func:`random_weights_note`).

* :func:`gallery_figure`: a matplotlib ``Figure`` (no pyplot state; render it with :func:`figure_bytes`,
  write the bytes atomically), at most ``GALLERY_MAX_ROWS`` rows (the HTML page has them all);
* :func:`gallery_html`: a self-contained HTML page (every image embedded as a base64 PNG, no script, no
  external file), with the top labels per video when labels were given and the skipped files: the
  unreadable and left-out ones listed (up to a bound), the ignored non-video files counted by extension
  (every one is in ``skipped.csv``), so a folder of 20,000 stray files still gives a small page;
* :func:`ranking_report`: what ``python -m fitclip search`` prints, per kind (queries, then labels) a header
  and a table with column names (``query``/``label``, ``model``, ``#1`` ... ``#k``; cells ``video score``,
  videos by their short names, :func:`short_names`), then the ``*`` legend naming the two compared models
  (:func:`movers_legend`); :func:`ranking_view` is the same as a pandas Styler for notebooks (nothing
  truncated); :func:`movers_table` is ``movers.csv`` with the two models named in its column titles.

Names and texts are shown through :func:`fitclip.folders.escape_name` (control characters and bytes
that are not UTF-8 as visible escapes), and drawn with ``parse_math=False`` (a ``$`` in a file name or a query
is a dollar sign, never matplotlib's mathtext, which can fail to parse it), so any name renders.
"""

from __future__ import annotations

import base64
import html
import io
import textwrap
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fitclip.folders import escape_name

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from fitclip.search import SearchResult

__all__ = ["figure_bytes", "film_strip", "gallery_figure", "gallery_html", "gallery_rows", "movers_legend", "movers_table",
           "png_bytes", "random_weights_note", "ranking_report", "ranking_table", "ranking_view", "short_names"]

MOVER_COLOUR = "#d62728"
_KIND_NAMES = {"query": "query", "label": "label"}
_LISTED = 100  # skipped files listed one by one on the page (all of them are in skipped.csv)


def film_strip(frames: np.ndarray, n: int | None = None, gap: int = 2) -> np.ndarray:
    """Frames uint8 ``[T, h, w, 3]`` side by side with white gaps, padded with white to `n` frames."""
    frames = np.asarray(frames)
    t, h, w, _ = frames.shape
    n = max(t, n or t)
    strip = np.full((h, n * w + (n - 1) * gap, 3), 255, np.uint8)
    for i in range(t):
        strip[:, i * (w + gap): i * (w + gap) + w] = frames[i]
    return strip


def png_bytes(image: np.ndarray) -> bytes:
    """A uint8 RGB array as PNG bytes."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def figure_bytes(fig: "Figure", fmt: str = "png", dpi: int = 100) -> bytes:
    """Render a figure to bytes (write them with ``fitclip.files.atomic_write_bytes``)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=dpi if fmt == "png" else None, bbox_inches="tight",
                metadata={"Software": None} if fmt == "png" else {"Creator": None, "Producer": None,
                                                                    "CreationDate": None})
    return buffer.getvalue()


def gallery_rows(result: "SearchResult") -> list[dict[str, Any]]:
    """``[{"kind", "query_index", "query", "model", "shown_as", "first", "cells": [{"video_index", "video",
    "rank", "score", "reference_rank", "rank_change", "mover"}]}]`` in display order: queries, then labels;
    within each, every model in order (``first`` marks a query's first row)."""
    index = {key: i for i, key in enumerate(result.keys)}
    groups = {key: part for key, part in result.ranking.groupby(["kind", "query_index", "model"], sort=False)}
    rows = []
    for kind, texts in (("query", result.queries), ("label", result.labels)):
        for q, text in enumerate(texts):
            for m, model in enumerate(result.models):
                part = groups.get((kind, q, model))
                if part is None:
                    continue
                cells = [{"video_index": index[r.video], "video": r.video, "rank": int(r.rank), "score": float(r.score),
                          "reference_rank": int(r.reference_rank), "rank_change": int(r.rank_change),
                          "mover": bool(r.mover)} for r in part.sort_values("rank").itertuples()]
                rows.append({"kind": kind, "query_index": q, "query": text, "model": model,
                             "shown_as": result.labels_shown[model], "first": m == 0, "cells": cells})
    return rows


def _cell_title(cell: dict[str, Any], is_reference: bool) -> str:
    title = f"{'★ ' if cell['mover'] else ''}#{cell['rank']}  {cell['score']:.3f}"
    change = cell["rank_change"]
    if not is_reference and change:
        title += f"  {'↑' if change > 0 else '↓'}{abs(change)}"
    return title


def _short(text: str, width: int) -> str:
    text = escape_name(text)
    return text if len(text) <= width else "…" + text[-(width - 1):]


def _legend(result: "SearchResult") -> str:
    if result.compare is None:
        return "one model: no comparison"
    return (f"↑n/↓n: rank against {result.labels_shown[result.reference]};  ★ red frame: the videos whose rank "
            f"moves most between {result.labels_shown[result.reference]} and {result.labels_shown[result.compare]}")


#: Rows the gallery figure shows at most (the HTML page has them all).
GALLERY_MAX_ROWS = 48


def gallery_figure(result: "SearchResult") -> "Figure":
    """The gallery as a figure: a header per query (or label), then one row per model with its top-k film strips."""
    from matplotlib.figure import Figure

    rows = gallery_rows(result)
    shown = rows[:GALLERY_MAX_ROWS]
    n_frames = max(len(f) for f in result.frames)
    frame_h, frame_w = result.frames[0].shape[1:3]
    strip_aspect = (n_frames * frame_w + (n_frames - 1) * 2) / frame_h
    k = max((len(r["cells"]) for r in shown), default=1)
    img_h, row_h, head_h, label_w, pad = 0.62, 1.0, 0.32, 1.9, 0.18
    cell_w = img_h * strip_aspect
    width = label_w + k * (cell_w + pad) + pad
    n_heads = sum(r["first"] for r in shown)
    note = random_weights_note(result)  # a random teacher: said in red under the title, wrapped to the width
    note_lines = textwrap.wrap(note, max(40, int(width * 11))) if note else []
    top = 0.9 + 0.2 * len(note_lines) + (0.1 if note_lines else 0.0)
    height = top + len(shown) * row_h + n_heads * head_h
    fig = Figure(figsize=(width, height))
    where = escape_name("/".join(result.folder.resolve().parts[-2:]))
    title = (f"fitclip search: {where} — {len(result.keys)} videos, top {result.top_k}"
             + (f" (first {len(shown)} of {len(rows)} rows; all in gallery.html)" if len(rows) > len(shown) else ""))
    fig.text(0.1 / width, 1 - 0.25 / height, title, fontsize=11, weight="bold", va="top", parse_math=False)
    fig.text(0.1 / width, 1 - 0.55 / height, _legend(result), fontsize=8, va="top", color="#444444",
             parse_math=False)
    if note_lines:
        fig.text(0.1 / width, 1 - 0.85 / height, "\n".join(note_lines), fontsize=9, weight="bold", va="top",
                 color=MOVER_COLOUR, linespacing=1.3, parse_math=False)
    y = height - top
    strips: dict[int, np.ndarray] = {}
    for row in shown:
        if row["first"]:
            text = f"{_KIND_NAMES[row['kind']]}: “{row['query']}”"
            fig.text(0.1 / width, (y - 0.06) / height, _short(text, int(width * 9)), fontsize=10, weight="bold",
                     va="top", parse_math=False)
            y -= head_h
        fig.text(0.15 / width, (y - row_h / 2) / height, "\n".join(textwrap.wrap(escape_name(row["shown_as"]), 22)),
                 fontsize=8.5, va="center", parse_math=False)
        is_reference = row["model"] == result.reference
        for j, cell in enumerate(row["cells"]):
            v = cell["video_index"]
            if v not in strips:
                strips[v] = film_strip(result.frames[v], n_frames)
            x0 = label_w + j * (cell_w + pad)
            ax = fig.add_axes([x0 / width, (y - 0.2 - img_h) / height, cell_w / width, img_h / height])
            ax.imshow(strips[v], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(_cell_title(cell, is_reference), fontsize=7, pad=2,
                         color=MOVER_COLOUR if cell["mover"] else "black")
            ax.set_xlabel(_short(cell["video"], int(cell_w * 16)), fontsize=6, labelpad=1, parse_math=False)
            for spine in ax.spines.values():
                spine.set_edgecolor(MOVER_COLOUR if cell["mover"] else "#999999")
                spine.set_linewidth(2.5 if cell["mover"] else 0.5)
        y -= row_h
    return fig


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; } h2 { font-size: 1.05em; margin: 1.4em 0 0.4em; }
.legend, .meta { color: #555; font-size: 0.9em; }
.warning { color: #d62728; font-weight: bold; }
table { border-collapse: collapse; }
th { text-align: left; font-weight: normal; padding: 0.3em 0.8em 0.3em 0; vertical-align: middle; white-space: nowrap; }
td { padding: 0.2em; vertical-align: top; white-space: nowrap; }
figure { display: inline-block; vertical-align: top; margin: 0 0.35em 0.35em 0; padding: 3px; border: 1px solid #ccc; }
figure.mover { border: 3px solid #d62728; padding: 1px; }
figure img { display: block; image-rendering: pixelated; height: 64px; }
figcaption { font-size: 0.75em; max-width: 20em; white-space: normal; overflow-wrap: anywhere; }
table.list td { white-space: normal; }
.mover figcaption b { color: #d62728; }
table.list td, table.list th { border-bottom: 1px solid #eee; padding: 0.2em 0.8em 0.2em 0; font-size: 0.85em; }
"""


def _img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{_e(alt)}" title="{_e(alt)}">'


def _e(text: str) -> str:
    """Text for the page: control characters and bytes that are not UTF-8 made visible, then HTML-escaped."""
    return html.escape(escape_name(text))


def _skipped_html(result: "SearchResult") -> list[str]:
    """The page's "Skipped files" section: unreadable and left-out files listed (up to ``_LISTED``), the ignored
    non-video files counted by extension."""
    from fitclip.search import ignored_by_extension

    skipped = result.skipped
    listed = skipped[skipped["stage"] != "ignored"]
    n_ignored = len(skipped) - len(listed)
    parts = ["<h2>Skipped files</h2>"]
    if not len(skipped):
        return parts + ['<p class="meta">none: every file was a readable video.</p>']
    if len(listed):
        parts.append('<table class="list"><tr><th>file</th><th>stage</th><th>reason</th></tr>')
        parts += [f"<tr><td>{_e(r.key)}</td><td>{_e(r.stage)}</td><td>{_e(r.reason)}</td></tr>"
                  for r in listed.iloc[:_LISTED].itertuples()]
        parts.append("</table>")
        if len(listed) > _LISTED:
            parts.append(f'<p class="meta">… and {len(listed) - _LISTED} more, all in skipped.csv.</p>')
    if n_ignored:
        counts = ", ".join(f"{n} {_e(ext)}" for ext, n in ignored_by_extension(skipped).items())
        parts.append(f'<p class="meta">{n_ignored} other file(s) ignored (not videos): {counts}; each one is '
                     "listed in skipped.csv.</p>")
    return parts


def gallery_html(result: "SearchResult") -> str:
    """A self-contained HTML page of the gallery (images embedded as base64 PNG data URIs)."""
    e = _e
    note = random_weights_note(result)
    n_frames = max(len(f) for f in result.frames)
    uris: dict[int, str] = {}

    def uri(v: int) -> str:
        if v not in uris:
            uris[v] = "data:image/png;base64," + base64.b64encode(png_bytes(film_strip(result.frames[v], n_frames))).decode()
        return uris[v]

    stages = result.skipped["stage"]
    n_failed = int(stages.isin(["precheck", "decode"]).sum())
    n_left_out = int((stages == "listing").sum())
    n_ignored = int((stages == "ignored").sum())
    models = ", ".join(e(result.labels_shown[m]) for m in result.models)
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f"<title>fitclip search: {e(str(result.folder))}</title>", f"<style>{_STYLE}</style>", "</head>", "<body>",
        f"<h1>fitclip search: {e(str(result.folder))}</h1>",
        f'<p class="meta">{len(result.keys)} videos searched of {result.n_found} found ({n_failed} unreadable, '
        f"{n_left_out} left out, {n_ignored} other files ignored); models: {models}; top {result.top_k}; "
        f"run {e(result.run_id)}. Each "
        f"strip shows the {n_frames} sampled frames the models saw.</p>",
        f'<p class="legend">{e(_legend(result))}</p>',
    ]
    if note:
        parts.append(f'<p class="warning">{e(note)}</p>')
    current = None
    for row in gallery_rows(result):
        if (row["kind"], row["query_index"]) != current:
            if current is not None:
                parts.append("</table></section>")
            current = (row["kind"], row["query_index"])
            parts.append(f'<section class="query"><h2>{_KIND_NAMES[row["kind"]]}: “{e(row["query"])}”</h2><table>')
        cells = []
        for cell in row["cells"]:
            mover = " mover" if cell["mover"] else ""
            cells.append(f'<figure class="cell{mover}">{_img(uri(cell["video_index"]), cell["video"])}<figcaption>'
                         f'<b>{e(_cell_title(cell, row["model"] == result.reference))}</b><br>{e(cell["video"])}'
                         "</figcaption></figure>")
        parts.append(f'<tr><th>{e(row["shown_as"])}</th><td>{"".join(cells)}</td></tr>')
    if current is not None:
        parts.append("</table></section>")
    if result.labels and len(result.video_labels):
        parts.append("<h2>Top labels per video</h2>")
        parts.append('<table class="list"><tr><th>video</th>'
                     + "".join(f"<th>{e(result.labels_shown[m])}</th>" for m in result.models) + "</tr>")
        by_video = {key: part for key, part in result.video_labels.groupby("video", sort=False)}
        for v, key in enumerate(result.keys):
            part = by_video[key]
            columns = []
            for m in result.models:
                top = part[part["model"] == m].sort_values("rank")
                columns.append("<td>" + "<br>".join(f"{e(r.label)} ({r.score:.3f})" for r in top.itertuples()) + "</td>")
            parts.append(f"<tr><td>{_img(uri(v), key)}<br>{e(key)}</td>{''.join(columns)}</tr>")
        parts.append("</table>")
    parts += _skipped_html(result)
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


# ----------------------------------------------------------------------------------------------------
# The rankings as text: the console's tables (ranking_report) and the notebook's (ranking_view, movers_table)
# ----------------------------------------------------------------------------------------------------

#: How each kind of row is introduced on the console and in :func:`ranking_view`.
KIND_HEADERS = {"query": "Queries (text→video): each model's top {k} videos per query",
                "label": "Labels (zero-shot): each label ranks the videos like a query; each model's top {k}"}


def short_names(keys: Sequence[str]) -> dict[str, str]:
    """Each video's shortest unique name for display: its file name, with as many of its folders as it takes to
    tell two videos of one file name apart (``ucf101/A/v_1.avi`` → ``v_1.avi``; ``a/x.mp4``, ``b/x.mp4`` keep
    their folder). Escaped (:func:`fitclip.folders.escape_name`): they are printed and shown."""
    parts = {key: key.split("/") for key in keys}
    depth = dict.fromkeys(keys, 1)
    while True:
        tails = {key: "/".join(parts[key][-depth[key]:]) for key in keys}
        counts = Counter(tails.values())
        clashing = [key for key in keys if counts[tails[key]] > 1 and depth[key] < len(parts[key])]
        if not clashing:
            return {key: escape_name(tail) for key, tail in tails.items()}
        for key in clashing:
            depth[key] += 1


def random_weights_note(result: SearchResult) -> str | None:
    """One line when the teacher's weights are random (``pretrained`` "none", e.g. ``--pretrained none``), else
    None: said on the console, in the gallery's header and above :func:`ranking_view`."""
    if not result.random_teacher:
        return None
    return ("RANDOM WEIGHTS: the teacher was not pretrained (pretrained 'none'), so these rankings are noise, not "
            "CLIP's; for real ones pass an open_clip tag (e.g. --pretrained openai) or a weights file")


def movers_legend(result: SearchResult, star: str = "*") -> str:
    """What `star` marks: the videos whose rank moves most between the two compared models, named."""
    if result.compare is None:
        return f"one model, so no movers ({star} marks the videos whose rank moves most between two models)"
    ref, cmp = result.labels_shown[result.reference], result.labels_shown[result.compare]
    return (f"{star} = a mover: of the videos in the top {result.top_k} of {ref} or {cmp}, the (up to "
            f"{result.n_movers}) whose rank moves most between the two, per query or label (movers.csv)")


def ranking_table(result: SearchResult, kind: str | None = None) -> pd.DataFrame:
    """One row per (query or label, model), one column per rank (``#1``, ``#2``, ...): cells ``video score``,
    ``*`` first on movers (:func:`movers_legend`); videos by their short names (:func:`short_names`: the file
    name, full paths in ``ranking.csv``), so no cell is long enough for pandas to truncate it.

    Index: ``(query | label, model)`` for one `kind` ("query" or "label"), else ``(kind, text, model)``; texts
    escaped (:func:`fitclip.folders.escape_name`), as the table is for printing."""
    if kind not in (None, "query", "label"):
        raise ValueError(f"kind must be 'query', 'label' or None (both), got {kind!r}")
    df = result.ranking if kind is None else result.ranking[result.ranking["kind"] == kind]
    names = short_names(result.keys)
    text = kind or "text"
    cells = df.assign(cell=[f"{'*' if m else ''}{names[v]} {s:.3f}" for v, s, m in zip(df["video"], df["score"],
                                                                                     df["mover"])],
                      **{text: [escape_name(q) for q in df["query"]]},
                      model=[result.labels_shown[m] for m in df["model"]])
    table = cells.pivot_table(index=["kind", "query_index", text, "model"], columns="rank", values="cell",
                              aggfunc="first", sort=False)
    table.columns = [f"#{c}" for c in table.columns]
    table.columns.name = None
    return table.reset_index(["query_index"] if kind is None else ["kind", "query_index"], drop=True)


#: Where the full paths are, said under every ranking table.
NAMES_NOTE = "videos by file name (with a folder where two share one); full paths in ranking.csv"


def _kinds(result: SearchResult) -> list[str]:
    return [kind for kind in ("query", "label") if (result.ranking["kind"] == kind).any()]


def ranking_report(result: SearchResult) -> str:
    """What ``python -m fitclip search`` prints: the random-weights note (if any); per kind a header and the
    :func:`ranking_table` with its column names; the ``*`` legend; where the full paths are. Never truncated."""
    lines = [note] if (note := random_weights_note(result)) else []
    for kind in _kinds(result):
        lines += ["", KIND_HEADERS[kind].format(k=result.top_k) + ' (cells: "video score")']
        lines += _text_table(ranking_table(result, kind).reset_index().fillna(""))
    return "\n".join([*lines, "", movers_legend(result), NAMES_NOTE])


def _text_table(table: pd.DataFrame) -> list[str]:
    """A frame as left-aligned fixed-width lines, its column names first, the first column's repeats blank."""
    rows = [[str(c) for c in table.columns]] + [[str(v) for v in row] for row in table.itertuples(index=False)]
    body = rows[1:]
    for row, above in zip(body[:0:-1], body[-2::-1]):  # bottom up, so each row compares with the one above
        if row[0] == above[0]:
            row[0] = ""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


def ranking_view(result: SearchResult) -> Any:
    """:func:`ranking_table` as a pandas ``Styler`` for notebooks: the header (random-weights note, what the
    rows are, the legend) as its caption, movers in red, every cell whole (a Styler never truncates)."""
    table = ranking_table(result)
    lines = [note] if (note := random_weights_note(result)) else []
    lines += [KIND_HEADERS[kind].format(k=result.top_k) for kind in _kinds(result)] + [movers_legend(result)]
    lines.append(f'cells: "video score", {NAMES_NOTE}')
    caption = "<br>".join(html.escape(line) for line in lines)
    return (table.style.set_caption(caption)
            .map(lambda cell: "color: #d62728; font-weight: bold" if isinstance(cell, str) and cell.startswith("*")
                 else "")
            .set_table_styles([{"selector": "caption", "props": "caption-side: top; text-align: left"},
                               {"selector": "td, th", "props": "white-space: nowrap; text-align: left"}]))


def movers_table(result: SearchResult) -> pd.DataFrame:
    """``movers.csv`` for reading: per query (or label), the videos whose rank moves most, with the two models
    named in the column titles (e.g. ``teacher (α=0) rank``, ``FitCLIP α=0.5 rank``), ``rank change`` (> 0:
    higher under the second) and short video names; empty (no columns of ranks) with one model."""
    m = result.movers
    if result.compare is None or m.empty:
        return pd.DataFrame(columns=["kind", "query", "video", "rank change"])
    ref, cmp = result.labels_shown[result.reference], result.labels_shown[result.compare]
    names = short_names(result.keys)
    return pd.DataFrame({"kind": m["kind"], "query": [escape_name(q) for q in m["query"]],
                         "video": [names[v] for v in m["video"]], f"{ref} rank": m["reference_rank"],
                         f"{cmp} rank": m["compare_rank"], "rank change": m["rank_change"],
                         f"{ref} score": m["reference_score"].round(3), f"{cmp} score": m["compare_score"].round(3)})
