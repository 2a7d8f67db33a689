"""The gallery of a :func:`fitclip.search.search`: one row per (query or label, model), its top-k videos as
film strips of the sampled frames (the frames the models saw) with their scores.

Each cell says the video's rank and score under that model and how its rank moved against the
reference (the teacher): ``↑3`` = three places higher than under the teacher. Movers (the videos whose
rank changes most between the teacher and FitCLIP, see ``fitclip.search``) are starred and framed in red.
A teacher with random weights (``pretrained`` "none") is said in red in the header of both
(:func:`fitclip.search.random_weights_note`).

* :func:`gallery_figure`: a matplotlib ``Figure`` (no pyplot state; render it with :func:`figure_bytes`,
  write the bytes atomically), at most ``max_rows`` rows (the HTML page has them all);
* :func:`gallery_html`: a self-contained HTML page (every image embedded as a base64 PNG, no script, no
  external file), with the top labels per video when labels were given and the skipped files: the
  unreadable and left-out ones listed (up to a bound), the ignored non-video files counted by extension
  (every one is in ``skipped.csv``), so a folder of 20,000 stray files still gives a small page.

Names and texts are shown through :func:`fitclip.folders.escape_name` (control characters and bytes
that are not UTF-8 as visible escapes), and drawn with ``parse_math=False`` (a ``$`` in a file name or a query
is a dollar sign, never matplotlib's mathtext, which can fail to parse it), so any name renders.
"""

from __future__ import annotations

import base64
import html
import io
import textwrap
from typing import TYPE_CHECKING, Any

import numpy as np

from fitclip.folders import escape_name

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from fitclip.search import SearchResult

__all__ = ["figure_bytes", "film_strip", "gallery_figure", "gallery_html", "gallery_rows", "png_bytes"]

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
    """Render a figure to bytes (write them with ``fitclip.checkpoint.atomic_write_bytes``)."""
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


def gallery_figure(result: "SearchResult", max_rows: int = 48) -> "Figure":
    """The gallery as a figure: a header per query (or label), then one row per model with its top-k film strips."""
    from matplotlib.figure import Figure

    from fitclip.search import random_weights_note

    rows = gallery_rows(result)
    shown = rows[:max_rows]
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
    from fitclip.search import random_weights_note

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
