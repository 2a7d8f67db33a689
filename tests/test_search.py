"""fitclip.search and `python -m fitclip search`: your own folder of videos (real h264 clips written with
fitclip.video.write_video), queries and labels, unreadable and non-video files, the gallery (PNG and HTML)."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import helpers
from helpers import GreyStub, make_zero_byte, render_video, truncate_file
from PIL import Image

import fitclip.evaluate as E
from fitclip.files import save_state
from fitclip.datasets import VideoDataset
from fitclip.evaluate import EvalModel, class_embeddings
from fitclip.models import load_clip, model_file_state
from fitclip.prompts import format_prompts
from fitclip.search import find_videos, parse_labels, resolve_templates, search, search_models

REPO = Path(__file__).resolve().parents[1]
THUMB = 32  # fitclip-tiny's input size, and the stub's


def _level(i: int) -> int:
    return 40 + 40 * i


def _grey_folder(root: Path) -> dict[str, int]:
    """Five real h264 clips at distinct grey levels, in nested folders with mixed extensions."""
    names = ["a/one.mp4", "a/b/two.mkv", "three.mov", "c/four.mp4", "c/d/e/five.avi"]
    for i, name in enumerate(names):
        render_video(root / name, num_frames=12, level=_level(i))
    return {name: _level(i) for i, name in enumerate(names)}


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return load_clip("fitclip-tiny", None)


class _Page(HTMLParser):
    """What the gallery page holds: its images, sections, mover cells and anything that is not self-contained."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.sections = 0
        self.movers = 0
        self.external: list[str] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs)
        if tag == "section":
            self.sections += 1
        if tag == "figure" and "mover" in (attrs.get("class") or "").split():
            self.movers += 1
        if tag in ("script", "link", "iframe") or (tag == "img" and not attrs.get("src", "").startswith("data:")):
            self.external.append(tag)


def _parse_gallery(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def _png(uri: str) -> Image.Image:
    head, _, data = uri.partition(",")
    assert head == "data:image/png;base64"
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    image.load()
    return image


def test_queries_rank_every_model_and_mark_the_videos_that_move(tmp_path, monkeypatch):
    folder = tmp_path / "my videos"
    levels = _grey_folder(folder)
    keys = list(levels)
    queries = [f"query {i}" for i in range(len(keys))]
    teacher = GreyStub({q: _level(i) for i, q in enumerate(queries)})
    # "FitCLIP" agrees except on query 0, which it reads as video 3's grey: video 3 jumps to the top.
    fused = GreyStub({q: _level(3 if i == 0 else i) for i, q in enumerate(queries)})
    calls = []
    original = VideoDataset.__getitem__
    monkeypatch.setattr(VideoDataset, "__getitem__", lambda self, i: calls.append(i) or original(self, i))
    result = search({"teacher": EvalModel(teacher, 0.0), "fitclip-alpha0.4": EvalModel(fused, 0.4)}, folder,
                    queries=queries, top_k=3, out_dir=tmp_path / "out", num_workers=0, progress=False)

    assert sorted(calls) == list(range(len(keys)))  # each video decoded once for both models
    assert result.keys == sorted(keys) and result.reference == "teacher" and result.compare == "fitclip-alpha0.4"
    rows = pd.read_csv(tmp_path / "out" / "ranking.csv")
    assert list(rows.columns) == ["run_id", "kind", "query_index", "query", "model", "alpha", "rank", "video", "path",
                                  "score", "reference_rank", "rank_change", "mover"]
    assert len(rows) == len(queries) * 2 * 3 and set(rows["kind"]) == {"query"}
    top = rows[rows["rank"] == 1].set_index(["query", "model"])["video"]
    for i, q in enumerate(queries):
        assert top[(q, "teacher")] == keys[i]  # the clip rendered at the query's grey level
        assert top[(q, "fitclip-alpha0.4")] == (keys[3] if i == 0 else keys[i])
    for (q, model), part in rows.groupby(["query", "model"]):
        assert list(part["rank"]) == [1, 2, 3] and part["score"].is_monotonic_decreasing
    pd.testing.assert_frame_equal(pd.read_json(tmp_path / "out" / "ranking.jsonl", lines=True), rows, check_dtype=False)

    movers = pd.read_csv(tmp_path / "out" / "movers.csv")
    q0 = movers[movers["query"] == "query 0"].set_index("video")
    assert q0.loc[keys[3], "compare_rank"] == 1 and q0.loc[keys[3], "rank_change"] == q0.loc[keys[3], "reference_rank"] - 1 > 0
    assert q0.loc[keys[0], "reference_rank"] == 1 and q0.loc[keys[0], "rank_change"] < 0  # the teacher's top falls
    assert q0["rank_change"].abs().is_monotonic_decreasing  # the biggest moves first
    jump = rows[(rows["query"] == "query 0") & (rows["video"] == keys[3])]
    assert jump["mover"].all() and (jump.set_index("model")["rank_change"]["fitclip-alpha0.4"] > 0)
    assert not movers["query"].isin(queries[1:]).any()  # the models agree there

    protocol = json.loads((tmp_path / "out" / "protocol.json").read_text())
    assert protocol["n_found"] == protocol["n_searched"] == len(keys) and protocol["failed"] == []
    assert protocol["frames"]["num_frames"] == 4 and protocol["movers"]["compare"] == "fitclip-alpha0.4"
    assert [m["alpha"] for m in protocol["models"]] == [0.0, 0.4] and protocol["queries"] == queries
    assert set(protocol["files"]) >= {"ranking.csv", "movers.csv", "skipped.csv", "gallery.png", "gallery.html"}
    assert Image.open(tmp_path / "out" / "gallery.png").size[0] > 500


def test_the_html_gallery_opens_and_holds_the_thumbnails(tmp_path):
    folder = tmp_path / "videos"
    levels = _grey_folder(folder)
    queries = ["first", "second"]
    teacher = GreyStub({"first": _level(0), "second": _level(1)})
    student = GreyStub({"first": _level(4), "second": _level(1)})
    result = search({"teacher": (teacher, 0.0), "fitclip-alpha1": (student, 1.0)}, folder, queries=queries, top_k=4,
                    out_dir=tmp_path / "out", num_workers=0, progress=False)
    page = _parse_gallery(tmp_path / "out" / "gallery.html")

    assert page.external == []  # self-contained: no script, stylesheet link or remote image
    assert page.sections == len(queries)
    assert len(page.images) == len(queries) * 2 * 4  # one thumbnail per (query, model, rank)
    assert {img["alt"] for img in page.images} <= set(levels)
    for img in page.images:
        strip = _png(img["src"])
        assert strip.size == (4 * THUMB + 3 * 2, THUMB)  # the 4 sampled frames side by side
    # The thumbnail IS the decoded clip: a flat grey video shows its own grey level (±codec rounding).
    first = next(img for img in page.images if img["alt"] == "a/one.mp4")
    pixels = np.asarray(_png(first["src"]).convert("RGB"))[:, :THUMB]
    assert abs(float(pixels.mean()) - levels["a/one.mp4"]) < 3
    assert page.movers >= 2  # video five.avi jumps to the top of "first" for the student: starred in both rows
    assert "five.avi" in (tmp_path / "out" / "gallery.html").read_text()
    assert result.files["gallery.html"] == tmp_path / "out" / "gallery.html"


def test_labels_mode_with_a_real_clip_fusion_grid_and_templates(tmp_path):
    folder = tmp_path / "clips"
    for i in range(4):
        render_video(folder / f"take{i}.mp4", num_frames=10, seed=i)
    torch.manual_seed(1)
    student = load_clip("fitclip-tiny", None)
    student_file = tmp_path / "student.pt"
    save_state(model_file_state(student), student_file)
    models = search_models("fitclip-tiny", None, {"fitclip": student_file}, [0.0, 0.5, 1.0])
    assert list(models) == ["teacher", "fitclip-alpha0.5", "fitclip-alpha1"]
    teacher = models["teacher"].model
    labels = ["juggling", "surfing", "cooking"]
    templates = ("a video of {}.", "someone {}")
    result = search(models, folder, labels=labels, templates=list(templates), top_k=2, out_dir=tmp_path / "out",
                    num_workers=0, progress=False)

    table = pd.read_csv(tmp_path / "out" / "labels.csv")
    assert list(table.columns) == ["run_id", "model", "alpha", "video", "path", "rank", "label", "score",
                                   "reference_rank"]
    assert len(table) == 3 * 4 * 2  # models x videos x top-k labels
    # The teacher's scores are the harness's: video . mean of the L2-normalised template embeddings.
    video_emb = E.encode_videos({"t": teacher}, find_videos(folder)[0], num_workers=0, progress=False)[0]["t"]
    classes = class_embeddings(teacher, [format_prompts(templates, label) for label in labels])
    expected = video_emb @ classes.t()
    for row in table[table["model"] == "teacher"].itertuples():
        v = result.keys.index(row.video)
        assert row.score == pytest.approx(float(expected[v, labels.index(row.label)]), abs=1e-5)
        assert row.reference_rank == row.rank
        assert row.label == labels[int(expected[v].argsort(descending=True)[row.rank - 1])]
    # Each label also ranks the videos: the gallery's rows, kind "label".
    ranking = pd.read_csv(tmp_path / "out" / "ranking.csv")
    assert set(ranking["kind"]) == {"label"} and len(ranking) == 3 * 3 * 2
    protocol = json.loads((tmp_path / "out" / "protocol.json").read_text())
    assert protocol["prompts"]["templates"] == list(templates) and protocol["labels"] == labels
    assert protocol["models"][2]["weights"]["student"]["sha256"]
    assert len(_parse_gallery(tmp_path / "out" / "gallery.html").images) == 3 * 3 * 2 + 4  # rows + per-video table


def test_two_students_and_several_alphas_are_one_fusion_grid_ranking_as_each_fused_model(tmp_path, monkeypatch):
    """`search_models` builds every fused model in bounded memory (a FusionGrid: the teacher and ONE working copy,
    whatever the number of students and α), and the search ranks exactly as with each model fused on its own by
    `fuse` (the decode pass and the text side select each model's weights before encoding)."""
    import fitclip.fusion
    from fitclip.fusion import FusionGrid

    folder = tmp_path / "clips"
    for i in range(5):
        render_video(folder / f"take{i}.mp4", num_frames=8, seed=i)
    files = {}
    for seed, name in ((1, "fitclip"), (2, "wiseft")):
        torch.manual_seed(seed)
        files[name] = save_state(model_file_state(load_clip("fitclip-tiny", None)), tmp_path / f"{name}.pt")
    copies = []
    clone = fitclip.fusion.clone_model
    monkeypatch.setattr(fitclip.fusion, "clone_model", lambda model: copies.append(model) or clone(model))
    alphas = {"fitclip": [0.0, 0.3, 0.7, 1.0], "wiseft": [0.5, 1.0]}
    torch.manual_seed(0)
    models = search_models("fitclip-tiny", None, files, alphas)
    assert isinstance(models, FusionGrid) and len(copies) == 1  # one working copy for 5 fused models
    assert list(models) == ["teacher", "fitclip-alpha0.3", "fitclip-alpha0.7", "fitclip-alpha1", "wiseft-alpha0.5",
                            "wiseft-alpha1"]
    assert len({id(entry.model) for entry in models.values()}) == 2
    options = dict(queries=["a ball", "a bird", "waves"], labels=["running", "cooking"], templates=["a video of {}."],
                   top_k=3, num_workers=0, progress=False)
    result = search(models, folder, out_dir=tmp_path / "grid", **options)

    teacher = models.teacher
    alone = {"teacher": EvalModel(teacher, 0.0, {"teacher": "none"})}
    for student, grid in alphas.items():
        for alpha in (a for a in grid if a != 0.0):
            alone[f"{student}-alpha{alpha:g}"] = EvalModel(helpers.fused_model(teacher, files[student], alpha), alpha,
                                                           {"teacher": "none", "student": str(files[student])},
                                                           student=student)
    expected = search(alone, folder, out_dir=tmp_path / "alone", **options)
    for table in ("ranking", "video_labels", "movers"):
        pd.testing.assert_frame_equal(getattr(result, table).drop(columns="run_id"),
                                      getattr(expected, table).drop(columns="run_id"), check_exact=True)
    assert (result.models, result.labels_shown, result.compare) == (expected.models, expected.labels_shown,
                                                                     expected.compare)
    assert [m["weights"] for m in result.protocol["models"]] == [m["weights"] for m in expected.protocol["models"]]
    assert result.frames and all(np.array_equal(a, b) for a, b in zip(result.frames, expected.frames))


def test_a_nested_folder_with_a_broken_file_and_a_non_video_file(tmp_path):
    folder = tmp_path / "footage"
    render_video(folder / "day1" / "good.mp4", num_frames=12, level=60)
    render_video(folder / "day1" / "morning" / "also good.m4v", num_frames=12, level=200)
    truncate_file(render_video(folder / "day2" / "cut.mp4", num_frames=12, level=120))  # a cut download
    make_zero_byte(folder / "day2" / "empty.mkv")
    (folder / "day2" / "notes.txt").write_text("shot on a phone\n")
    (folder / "fake.avi").write_text("this is not a video")  # a video extension, not a video
    (folder / ".hidden").mkdir()
    render_video(folder / ".hidden" / "skipped.mp4", num_frames=12)  # hidden, as the folder corpus does
    stub = GreyStub({"dark": 60, "bright": 200})

    result = search(stub, folder, queries=["dark", "bright"], top_k=5, out_dir=tmp_path / "out", num_workers=0,
                    progress=False)
    assert result.keys == ["day1/good.mp4", "day1/morning/also good.m4v"] and result.n_found == 5
    skipped = pd.read_csv(tmp_path / "out" / "skipped.csv").set_index("key")
    assert skipped.loc["day2/empty.mkv", "stage"] == "precheck" and "empty" in skipped.loc["day2/empty.mkv", "reason"]
    assert skipped.loc["day2/cut.mp4", "stage"] == "decode" and "cut.mp4" in skipped.loc["day2/cut.mp4", "reason"]
    assert skipped.loc["fake.avi", "stage"] == "decode"
    assert skipped.loc["day2/notes.txt", "stage"] == "ignored" and "not a video" in skipped.loc["day2/notes.txt", "reason"]
    assert len(skipped) == 4
    rows = pd.read_csv(tmp_path / "out" / "ranking.csv")
    assert set(rows["video"]) == set(result.keys)  # the broken ones are not ranked (never zero-filled)
    assert list(rows.loc[rows["query"] == "dark", "video"]) == ["day1/good.mp4", "day1/morning/also good.m4v"]
    protocol = json.loads((tmp_path / "out" / "protocol.json").read_text())
    assert protocol["n_failed"] == 3 and protocol["n_ignored"] == 1
    assert {f["key"] for f in protocol["failed"]} == {"day2/cut.mp4", "day2/empty.mkv", "fake.avi"}
    html = (tmp_path / "out" / "gallery.html").read_text()
    assert "day2/cut.mp4" in html and "1 other file(s) ignored (not videos): 1 .txt" in html  # on the page too

    with pytest.raises(ValueError, match="none of the 2 video file"):
        search(stub, folder / "day2", queries=["dark"], num_workers=0, progress=False)


def test_search_on_the_synthetic_world(tmp_path, tiny):
    from fitclip import toyworld as S
    from fitclip.gallery import ranking_table
    from fitclip.study.your_videos import demo_folder

    world = tmp_path / "data" / "01_data_prep" / "world"
    S.render_world(world, seed=0, config=dataclasses.replace(S.WorldConfig.smoke(), n_stills=0), workers=1,
                   progress=False)
    folder = demo_folder(tmp_path / "data", n_videos=6)
    assert folder == tmp_path / "data" / "08_your_videos" / "videos"
    keys = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert len(keys) == 6 and {Path(k).suffix for k in keys} == {".avi", ".mp4"}  # nested UCF-like + MSR-VTT-like
    assert demo_folder(tmp_path / "data", n_videos=4) and len(list(folder.rglob("*.*"))) == 4  # a new selection
    queries = list(pd.read_csv(world / "msrvtt" / "MSRVTT_JSFUSION_test.csv")["sentence"][:2])
    result = search({"teacher": (tiny, 0.0)}, folder, queries=queries, labels=["moving left", "spinning"], top_k=3,
                    out_dir=tmp_path / "out", num_workers=0, progress=False)
    assert len(result.keys) == 4 and result.compare is None and result.movers.empty
    assert len(ranking_table(result)) == 4  # (2 queries + 2 labels) x 1 model
    assert (tmp_path / "out" / "gallery.png").stat().st_size > 0 and result.skipped.empty


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fitclip", "search", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd or REPO)


def test_cli_search_on_real_h264_clips(tmp_path):
    folder = tmp_path / "videos"
    for i in range(3):
        render_video(folder / ("sub" if i else "") / f"clip{i}.mp4", num_frames=12, seed=i)
    (folder / "readme.md").write_text("not a video")
    torch.manual_seed(1)
    save_state(model_file_state(load_clip("fitclip-tiny", None)), tmp_path / "student.pt")
    out = _cli("--videos", str(folder), "--queries", "a ball", "a bird", "--labels", "running,jumping",
               "--arch", "fitclip-tiny", "--pretrained", "none", "--student", str(tmp_path / "student.pt"),
               "--alpha", "0", "0.4", "1", "--top-k", "2", "--out", str(tmp_path / "out"), "--num-workers", "0",
               "--no-progress")
    assert out.returncode == 0, out.stderr
    assert "searched 3 of 3 video(s) with 3 model(s)" in out.stdout
    assert "ignored 1 non-video file(s): 1 .md (listed in skipped.csv)" in out.stdout
    rows = pd.read_csv(tmp_path / "out" / "ranking.csv")
    assert set(rows["model"]) == {"teacher", "fitclip-alpha0.4", "fitclip-alpha1"}
    assert len(rows) == (2 + 2) * 3 * 2
    assert len(pd.read_csv(tmp_path / "out" / "labels.csv")) == 3 * 3 * 2
    assert len(_parse_gallery(tmp_path / "out" / "gallery.html").images) >= (2 + 2) * 3 * 2


@pytest.mark.parametrize("args, message", [
    (["--queries", "x"], "no video files"),                                          # a folder without videos
    (["--videos", "VIDEOS"], "nothing to search for"),                               # neither labels nor queries
    (["--videos", "VIDEOS", "--queries", "x", "--arch", "NoSuchArch"], "unknown architecture 'NoSuchArch'"),
    (["--videos", "VIDEOS", "--queries", "x", "--student", "missing.pt"], "does not exist"),
    (["--videos", "VIDEOS", "--queries", "x", "--student", "S", "--alpha", "0", "1.5"], "must be in [0, 1]"),
    (["--videos", "VIDEOS", "--labels-file", "nope.txt"], "labels file"),
    (["--videos", "VIDEOS", "--labels", "a,b", "--templates", "a video of"], "templates"),
])
def test_cli_bad_input_is_one_error_line_before_any_work(tmp_path, monkeypatch, capsys, args, message):
    from fitclip.__main__ import main

    videos = tmp_path / "videos"
    render_video(videos / "v.mp4", num_frames=8)
    empty = tmp_path / "no videos"
    empty.mkdir()
    (empty / "notes.txt").write_text("nothing here")
    (tmp_path / "S").write_bytes(b"x")
    args = [str(videos) if a == "VIDEOS" else str(tmp_path / "S") if a == "S" else a for a in args]
    if "--videos" not in args:
        args = ["--videos", str(empty), *args]

    def no_heavy_work(*_, **__):
        raise AssertionError("decoded videos on bad input")

    import fitclip.encoding

    monkeypatch.setattr(fitclip.encoding, "encode_pass", no_heavy_work)
    defaults = [] if "--arch" in args else ["--arch", "fitclip-tiny"]
    code = main(["search", *args, *defaults, "--pretrained", "none", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert not (tmp_path / "o").exists()


def test_labels_and_templates_parsing(tmp_path):
    assert parse_labels(" dancing, cooking ,,surfing ") == ["dancing", "cooking", "surfing"]
    (tmp_path / "labels.txt").write_text("\ufeff# my classes\ndancing\n\ncooking\n")
    assert parse_labels(file=tmp_path / "labels.txt") == ["dancing", "cooking"]
    with pytest.raises(ValueError, match="repeated"):
        parse_labels("a,b,a")
    assert resolve_templates("none") is None and len(resolve_templates("ucf101")) == 48
    (tmp_path / "t.txt").write_text("a clip of {}.\n# comment\n{} in a video\n")
    assert resolve_templates(tmp_path / "t.txt") == ("a clip of {}.", "{} in a video")
    with pytest.raises(ValueError, match="exactly once"):
        resolve_templates(["{} and {}"])


# ----------------------------------------------------------------------------------------------------
# --out: a run replaces the previous run's files whole, or not at all; refused before any work
# ----------------------------------------------------------------------------------------------------


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every entry under `folder` (hidden ones included) with its bytes; folders as None."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() if p.is_file() else None
            for p in sorted(folder.rglob("*"))}


def _disk_full_at(monkeypatch, name: str) -> None:
    """Every write of a file called `name` fails as on a full disk (ENOSPC), wherever the project writes it."""
    import errno

    import fitclip.files as C

    original = C._write_synced

    def write(path, data):
        if Path(path).name == name:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return original(path, data)

    monkeypatch.setattr(C, "_write_synced", write)


def test_a_new_run_replaces_the_previous_runs_files_whole_and_nothing_else(tmp_path):
    folder = tmp_path / "videos"
    _grey_folder(folder)
    stub = GreyStub({"dark": 40, "bright": 200, "dancing": 80, "cooking": 160})
    out = tmp_path / "stage"  # like notebook 08's stage folder: its own files beside the search's
    (out / "videos").mkdir(parents=True)
    (out / "params.json").write_text("{}")
    first = search(stub, folder, queries=["dark"], labels=["dancing", "cooking"], templates="none", top_k=2,
                   out_dir=out, num_workers=0, progress=False)
    assert (out / "labels.csv").is_file() and (out / "labels.jsonl").is_file()
    second = search(stub, folder, queries=["bright"], top_k=2, out_dir=out, num_workers=0, progress=False)

    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["gallery.html", "gallery.png", "movers.csv", "params.json", "protocol.json",
                            "ranking.csv", "ranking.jsonl", "skipped.csv", "videos"])  # no labels.* of run 1
    assert (out / "params.json").read_text() == "{}" and (out / "videos").is_dir()  # not the search's: untouched
    protocol = json.loads((out / "protocol.json").read_text())
    assert protocol["run_id"] == second.run_id != first.run_id and protocol["labels"] == []
    assert set(pd.read_csv(out / "ranking.csv")["run_id"]) == {second.run_id}
    assert second.run_id in (out / "gallery.html").read_text()
    assert set(second.files) == set(names) - {"params.json", "videos"}


def test_a_full_disk_leaves_the_previous_run_as_it_was(tmp_path, monkeypatch):
    folder = tmp_path / "videos"
    _grey_folder(folder)
    stub = GreyStub({"dark": 40, "bright": 200, "dancing": 80})
    out = tmp_path / "out"
    search(stub, folder, queries=["dark"], labels=["dancing"], templates="none", top_k=2, out_dir=out, num_workers=0,
           progress=False)
    before = _snapshot(out)
    for name in ("ranking.csv", "gallery.html", "protocol.json"):  # the first write, one in the middle, the last
        with monkeypatch.context() as m:
            _disk_full_at(m, name)
            with pytest.raises(OSError) as caught:
                search(stub, folder, queries=["bright"], top_k=3, out_dir=out, num_workers=0, progress=False)
        message = caught.value.strerror
        assert f"cannot write {out / name}: the disk is full" in message and "nothing was replaced" in message
        assert "\n" not in message
        assert _snapshot(out) == before  # the previous run, byte for byte; no staging folder left
    new = tmp_path / "new"
    with monkeypatch.context() as m:
        _disk_full_at(m, "movers.csv")
        with pytest.raises(OSError, match="disk is full"):
            search(stub, folder, queries=["bright"], out_dir=new, num_workers=0, progress=False)
    assert not new.exists()  # a folder the run created is not left behind, empty


def test_cli_full_disk_is_one_error_line_and_exit_1(tmp_path, monkeypatch, capsys):
    from fitclip.__main__ import main

    folder = tmp_path / "videos"
    for i in range(2):
        render_video(folder / f"clip{i}.mp4", num_frames=8, seed=i)
    args = ["search", "--videos", str(folder), "--arch", "fitclip-tiny", "--pretrained", "none", "--out",
            str(tmp_path / "out"), "--num-workers", "0", "--no-progress", "--top-k", "1"]
    assert main([*args, "--queries", "a ball"]) == 0
    before = _snapshot(tmp_path / "out")
    capsys.readouterr()
    _disk_full_at(monkeypatch, "gallery.png")
    code = main([*args, "--queries", "a bird", "a cat"])
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert code == 1 and len(err) == 1 and err[0].startswith("error: --out ") and "the disk is full" in err[0], err
    assert "Traceback" not in captured.err and _snapshot(tmp_path / "out") == before


@pytest.fixture
def small_tmpfs(tmp_path):
    """A real 512 KiB file system (tmpfs), or a skip with the reason where mounting is not permitted."""
    with helpers.small_tmpfs(tmp_path / "small", "512k") as mount:
        yield mount


def test_a_real_full_disk_leaves_the_previous_run_as_it_was(tmp_path, small_tmpfs):
    folder = tmp_path / "videos"
    _grey_folder(folder)
    out = small_tmpfs / "out"
    few = ["dark"]
    search(GreyStub({"dark": 40}), folder, queries=few, top_k=2, out_dir=out, num_workers=0, progress=False)
    before = _snapshot(out)
    # ranking.csv (~245 KB) fits on its own, ranking.jsonl (~300 KB) not beside it: the disk fills up mid-run.
    many = [f"query {i}: " + "a long description of what happens in the clip " * 12 for i in range(70)]
    stub = GreyStub({q: _level(i % 5) for i, q in enumerate(many)})
    with pytest.raises(OSError) as caught:
        search(stub, folder, queries=many, top_k=5, out_dir=out, num_workers=0, progress=False, gallery=False)
    assert caught.value.strerror.startswith(f"cannot write {out}/") and "the disk is full" in caught.value.strerror
    assert "free there" in caught.value.strerror
    assert _snapshot(out) == before and sorted(p.name for p in small_tmpfs.iterdir()) == ["out"]


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder on a read-only file system (a tmpfs mounted ro), or a skip with the reason."""
    with helpers.small_tmpfs(tmp_path / "ro", "64k", read_only=True) as mount:
        yield mount


@pytest.mark.parametrize("case, code, message", [
    ("file", 2, "is a file, not a folder"),
    ("under a file", 2, "is a file, so"),
    ("foreign files", 2, "holds gallery.html but no search protocol.json"),
    ("read-only", 1, "read-only file system"),
])
def test_cli_out_that_cannot_hold_a_run_is_refused_before_any_work(tmp_path, monkeypatch, capsys, request, case,
                                                                   code, message):
    from fitclip.__main__ import main

    videos = tmp_path / "videos"
    render_video(videos / "v.mp4", num_frames=8)
    out = {"file": tmp_path / "results.txt", "under a file": tmp_path / "results.txt" / "out",
           "foreign files": tmp_path / "my site"}.get(case)
    if case == "read-only":
        out = request.getfixturevalue("read_only_folder") / "out"
    (tmp_path / "results.txt").write_text("mine")
    (tmp_path / "my site").mkdir()
    (tmp_path / "my site" / "gallery.html").write_text("<p>my own page</p>")

    def no_heavy_work(*_, **__):
        raise AssertionError("loaded a model or decoded a video before refusing --out")

    import fitclip.encoding
    import fitclip.search

    monkeypatch.setattr(fitclip.encoding, "encode_pass", no_heavy_work)
    monkeypatch.setattr(fitclip.search, "search_models", no_heavy_work)
    result = main(["search", "--videos", str(videos), "--queries", "x", "--arch", "fitclip-tiny", "--pretrained",
                   "none", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert result == code and len(err) == 1 and err[0].startswith("error: --out ") and message in err[0], err
    assert (tmp_path / "results.txt").read_text() == "mine"
    assert (tmp_path / "my site" / "gallery.html").read_text() == "<p>my own page</p>"


# ----------------------------------------------------------------------------------------------------
# A user's folder: names that are not UTF-8, special files, links, terminal escapes, thousands of other files
# ----------------------------------------------------------------------------------------------------


class _NoHang:
    """Turns a hang (a FIFO opened, /dev/zero read) into a test failure instead of a stuck run: SIGALRM after
    `seconds`, far beyond what the search takes; never reached when the listing opens nothing."""

    def __init__(self, seconds: int = 120) -> None:
        self.seconds = seconds

    def __enter__(self):
        import signal

        def hung(*_):
            raise AssertionError(f"still running after {self.seconds} s: a FIFO or a device was opened")

        self.previous = signal.signal(signal.SIGALRM, hung)
        signal.alarm(self.seconds)

    def __exit__(self, *exc):
        import signal

        signal.alarm(0)
        signal.signal(signal.SIGALRM, self.previous)


def _read_every_output(out: Path) -> None:
    """Every output file is strict UTF-8 (the PNG aside) and the tables and records parse."""
    for path in out.iterdir():
        if path.suffix != ".png":
            path.read_bytes().decode("utf-8")
    json.loads((out / "protocol.json").read_text(encoding="utf-8"))
    pd.read_csv(out / "skipped.csv")
    pd.read_json(out / "ranking.jsonl", lines=True)
    _parse_gallery(out / "gallery.html")


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_names_that_are_not_utf8_are_listed_escaped_and_the_rest_searched(tmp_path, backend):
    folder = tmp_path / "phone"
    render_video(folder / "good.mp4", num_frames=8, level=60)
    render_video(folder / "other.mp4", num_frames=8, level=200)
    os.rename(render_video(folder / "x.mp4", num_frames=8), folder / os.fsdecode(b"caf\xe9.mp4"))  # Latin-1 name
    (folder / os.fsdecode(b"notes\xfe.txt")).write_text("ignored, and still listed")
    (folder / os.fsdecode(b"trip\xff")).mkdir()
    render_video(folder / os.fsdecode(b"trip\xff") / "day.mp4", num_frames=8)
    stub = GreyStub({"dark": 60})
    result = search(stub, folder, queries=["dark"], top_k=2, out_dir=tmp_path / "out", num_workers=0,
                    progress=False, backend=backend)
    assert result.keys == ["good.mp4", "other.mp4"]
    skipped = pd.read_csv(tmp_path / "out" / "skipped.csv").set_index("key")
    assert skipped.loc["caf\\xe9.mp4", "stage"] == "listing"
    assert "not valid UTF-8" in skipped.loc["caf\\xe9.mp4", "reason"]
    assert skipped.loc["trip\\xff", "stage"] == "listing"
    assert skipped.loc["notes\\xfe.txt", "stage"] == "ignored"
    assert skipped.loc["notes\\xfe.txt", "path"] == f"{folder}/notes\\xfe.txt"
    _read_every_output(tmp_path / "out")
    assert "caf\\xe9.mp4" in (tmp_path / "out" / "gallery.html").read_text()


def _links_and_special_files(tmp_path: Path) -> tuple[Path, Path]:
    folder, outside = tmp_path / "mine", tmp_path / "elsewhere"
    render_video(folder / "kept.mp4", num_frames=8, level=40)
    render_video(folder / "clip.mp4" / "inside.mp4", num_frames=8, level=120)  # in a folder named like a video
    render_video(outside / "secret.mp4", num_frames=8, level=230)
    render_video(outside / "dir" / "also secret.mp4", num_frames=8, level=230)
    os.mkfifo(folder / "pipe.mp4")
    (folder / "zero.mp4").symlink_to("/dev/zero")
    (folder / "urandom.avi").symlink_to("/dev/urandom")
    (folder / "gone.mp4").symlink_to(folder / "deleted.mp4")
    (folder / "link.mp4").symlink_to(outside / "secret.mp4")
    (folder / "linked").symlink_to(outside / "dir")
    return folder, outside


def test_links_fifos_and_devices_are_listed_never_followed_nor_opened(tmp_path):
    folder, _ = _links_and_special_files(tmp_path)
    stub = GreyStub({"bright": 230, "dark": 40})
    with _NoHang():
        result = search(stub, folder, queries=["bright", "dark"], top_k=5, out_dir=tmp_path / "out", num_workers=0,
                        progress=False)
    assert result.keys == ["clip.mp4/inside.mp4", "kept.mp4"]  # nothing from outside the folder
    skipped = pd.read_csv(tmp_path / "out" / "skipped.csv").set_index("key")
    assert set(skipped.index) == {"clip.mp4", "gone.mp4", "link.mp4", "linked", "pipe.mp4", "urandom.avi", "zero.mp4"}
    assert set(skipped["stage"]) == {"listing"}
    reasons = skipped["reason"]
    assert reasons["link.mp4"].startswith("a symbolic link to a file; links are never followed")
    assert reasons["linked"].startswith("a symbolic link to a folder; links are never followed")
    assert "dangling" in reasons["gone.mp4"] and "character device" in reasons["zero.mp4"]
    assert "FIFO" in reasons["pipe.mp4"] and "never opened" in reasons["pipe.mp4"]
    assert reasons["clip.mp4"].startswith("a folder, not a video file")
    page = _parse_gallery(tmp_path / "out" / "gallery.html")
    assert {img["alt"] for img in page.images} == set(result.keys)
    for img in page.images:  # no frame of the secret videos (grey 230) on the page a user may share
        assert abs(float(np.asarray(_png(img["src"]).convert("RGB")).mean()) - 230) > 40
    protocol = json.loads((tmp_path / "out" / "protocol.json").read_text())
    assert protocol["n_left_out"] == 7 and protocol["left_out"]["by_cause"] == {"link": 5, "special": 1, "folder": 1}
    assert "never followed" in protocol["listing"]


def test_cli_prints_names_escaped(tmp_path, monkeypatch, capsys):
    from fitclip.__main__ import main

    folder = tmp_path / "videos"
    title, clear = "\x1b]0;pwned\x07title.mp4", "\x1b[2J\x1b[Hclear.mp4"
    render_video(folder / title, num_frames=8, seed=1)
    render_video(folder / clear, num_frames=8, seed=2)
    os.mkfifo(folder / "\x1b[31mred.mp4")
    (folder / "\x1b[5mblink.txt").write_text("x")
    code = main(["search", "--videos", str(folder), "--queries", "a ball", "--arch", "fitclip-tiny", "--pretrained",
                 "none", "--out", str(tmp_path / "out"), "--num-workers", "0", "--no-progress", "--top-k", "2"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "\x1b" not in captured.out and "\x07" not in captured.out and "\x1b" not in captured.err
    assert "\\x1b]0;pwned\\x07title.mp4" in captured.out and "\\x1b[2J\\x1b[Hclear.mp4" in captured.out
    assert "skipped \\x1b[31mred.mp4 (listing)" in captured.out
    ranking = pd.read_csv(tmp_path / "out" / "ranking.csv")  # the data keep the names as they are
    assert set(ranking["video"]) == {title, clear}
    html = (tmp_path / "out" / "gallery.html").read_text()
    assert "\x1b" not in html and "\\x1b]0;pwned\\x07title.mp4" in html
    _read_every_output(tmp_path / "out")


def test_thousands_of_other_files_cost_a_line_not_thousands(tmp_path, capsys):
    from fitclip.__main__ import main

    folder = tmp_path / "downloads"
    render_video(folder / "a.mp4", num_frames=8, seed=1)
    render_video(folder / "b" / "b.mkv", num_frames=8, seed=2)
    for i in range(3000):
        (folder / ("b" if i % 2 else "") / f"page{i:05d}{'.json' if i % 10 == 0 else '.txt'}").touch()
    (folder / "pipe").parent.mkdir(exist_ok=True)
    os.mkfifo(folder / "pipe")
    code = main(["search", "--videos", str(folder), "--queries", "a ball", "--arch", "fitclip-tiny", "--pretrained",
                 "none", "--out", str(tmp_path / "out"), "--num-workers", "0", "--no-progress", "--top-k", "2"])
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    assert len(lines) < 16, out  # the random-weights note, the table with its header and legend: none per file
    assert "2 video file(s) under" in lines[0] and "(3000 other file(s) ignored, 1 left out;" in lines[0]
    assert "ignored 3000 non-video file(s): 2700 .txt, 300 .json (listed in skipped.csv)" in out
    assert "skipped pipe (listing): a FIFO (named pipe)" in out
    assert len(pd.read_csv(tmp_path / "out" / "skipped.csv")) == 3001  # the full list is there
    assert (tmp_path / "out" / "gallery.html").stat().st_size < 60_000
    assert (tmp_path / "out" / "protocol.json").stat().st_size < 20_000
    protocol = json.loads((tmp_path / "out" / "protocol.json").read_text())
    assert protocol["n_ignored"] == 3000 and protocol["ignored"]["by_extension"] == {".txt": 2700, ".json": 300}
    html = (tmp_path / "out" / "gallery.html").read_text()
    assert "3000 other file(s) ignored (not videos): 2700 .txt, 300 .json" in html


# ----------------------------------------------------------------------------------------------------
# Labels files that are not UTF-8; models whose scores are not finite
# ----------------------------------------------------------------------------------------------------


def test_cli_labels_file_that_is_not_utf8_names_the_file(tmp_path, monkeypatch, capsys):
    from fitclip.__main__ import main

    import fitclip.search

    def no_heavy_work(*_, **__):
        raise AssertionError("loaded a model on bad input")

    monkeypatch.setattr(fitclip.search, "search_models", no_heavy_work)
    render_video(tmp_path / "videos" / "v.mp4", num_frames=8)
    labels = tmp_path / "labels latin1.txt"
    labels.write_bytes("dancing\ncaf\xe9 chatting\n".encode("latin-1"))
    code = main(["search", "--videos", str(tmp_path / "videos"), "--labels-file", str(labels), "--pretrained", "none",
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert f"labels file {labels}: line 2 is not valid UTF-8" in err[0] and "re-save the file as UTF-8" in err[0]


def _poisoned(model):
    with torch.no_grad():
        next(model.clip.visual.parameters()).fill_(float("nan"))
    return model


def test_a_model_with_nan_weights_gives_no_ranking(tmp_path, monkeypatch, capsys):
    from fitclip.__main__ import main

    import fitclip.search
    from fitclip.metrics import NonFiniteScores

    folder = tmp_path / "videos"
    for i in range(2):
        render_video(folder / f"clip{i}.mp4", num_frames=8, seed=i)
    torch.manual_seed(0)
    broken = _poisoned(load_clip("fitclip-tiny", None))
    with pytest.raises(NonFiniteScores, match=r"model 'fitclip-alpha0.5' \(FitCLIP α=0.5\) gives non-finite scores.*"
                                                 r"weights hold NaN or infinity in 1 tensor"):
        search({"teacher": (load_clip("fitclip-tiny", None), 0.0),
                "fitclip-alpha0.5": EvalModel(broken, 0.5, student="fitclip")}, folder, queries=["a ball"],
               out_dir=tmp_path / "out", num_workers=0, progress=False)
    assert not (tmp_path / "out").exists()  # nothing written

    real = fitclip.search.search_models
    monkeypatch.setattr(fitclip.search, "search_models", lambda *a, **k: {
        n: EvalModel(_poisoned(e.model), e.alpha, e.weights) for n, e in real(*a, **k).items()})
    code = main(["search", "--videos", str(folder), "--queries", "a ball", "--arch", "fitclip-tiny", "--pretrained",
                 "none", "--out", str(tmp_path / "out"), "--num-workers", "0", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "model 'teacher'" in err[0] and "NaN" in err[0], err
    assert "nothing was written" in err[0] and not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------------------------------
# What is shown (issue 17): the console's headers and legend, the notebook's tables, a random teacher
# ----------------------------------------------------------------------------------------------------


def test_cli_prints_a_header_per_kind_the_star_legend_and_a_random_teacher(tmp_path, capsys):
    from fitclip.__main__ import main

    folder = tmp_path / "videos"
    for i in range(3):
        render_video(folder / f"clip{i}.mp4", num_frames=8, seed=i)
    torch.manual_seed(1)
    save_state(model_file_state(load_clip("fitclip-tiny", None)), tmp_path / "student.pt")
    base = ["search", "--videos", str(folder), "--queries", "a ball", "a bird", "--labels", "running,jumping",
            "--arch", "fitclip-tiny", "--student", str(tmp_path / "student.pt"), "--alpha", "0", "0.5", "1",
            "--top-k", "2", "--num-workers", "0", "--no-progress"]
    assert main([*base, "--pretrained", "none", "--out", str(tmp_path / "random")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("RANDOM WEIGHTS: the teacher was not pretrained (pretrained 'none'), so these "
                               "rankings are noise")
    queries = lines.index("Queries (text→video): each model's top 2 videos per query (cells: \"video score\")")
    labels = lines.index("Labels (zero-shot): each label ranks the videos like a query; each model's top 2 "
                         "(cells: \"video score\")")
    assert queries < labels
    assert lines[queries + 1].split() == ["query", "model", "#1", "#2"]  # column names under each header
    assert lines[labels + 1].split() == ["label", "model", "#1", "#2"]
    query_rows, label_rows = lines[queries + 2: labels - 1], lines[labels + 2:]
    assert query_rows[0].startswith("a ball ") and query_rows[3].startswith("a bird ")  # 3 models each
    assert not any("running" in line or "jumping" in line for line in query_rows)  # no label among the queries
    assert [r.split("  ")[0] for r in label_rows[:6:3]] == ["running", "jumping"]
    assert ("* = a mover: of the videos in the top 2 of teacher (α=0) or FitCLIP α=0.5, the (up to 3) whose rank "
            "moves most between the two, per query or label (movers.csv)") in lines
    html = (tmp_path / "random" / "gallery.html").read_text()
    assert '<p class="warning">RANDOM WEIGHTS: the teacher was not pretrained' in html
    assert json.loads((tmp_path / "random" / "protocol.json").read_text())["random_teacher"] is True

    # Real (here: trained-elsewhere) teacher weights: no such note anywhere.
    assert main([*base, "--pretrained", str(tmp_path / "student.pt"), "--out", str(tmp_path / "weights")]) == 0
    out = capsys.readouterr().out
    assert "RANDOM WEIGHTS" not in out and "Queries (text→video)" in out
    assert "RANDOM WEIGHTS" not in (tmp_path / "weights" / "gallery.html").read_text()
    assert json.loads((tmp_path / "weights" / "protocol.json").read_text())["random_teacher"] is False


def test_the_gallery_figure_says_random_weights_in_its_header(tmp_path):
    from fitclip.gallery import gallery_figure

    folder = tmp_path / "videos"
    _grey_folder(folder)
    models = search_models("fitclip-tiny", None)
    result = search(models, folder, queries=["a ball"], top_k=2, num_workers=0, progress=False)
    assert result.random_teacher
    texts = [t.get_text() for t in gallery_figure(result).texts]
    assert texts[2].replace("\n", " ").startswith("RANDOM WEIGHTS: the teacher was not pretrained")
    stub = search(GreyStub({"a ball": 60}), folder, queries=["a ball"], top_k=2, num_workers=0, progress=False)
    assert not stub.random_teacher
    assert not any("RANDOM" in t.get_text() for t in gallery_figure(stub).texts)


def test_short_names_are_file_names_with_a_folder_only_where_two_share_one():
    from fitclip.gallery import short_names

    keys = ["ucf101/MovingRight/v_MovingRight_g03_c08.avi", "msrvtt/video7010.mp4", "a/x.mp4", "b/x.mp4",
            "c/a/x.mp4", "x.mp4", "bad\x1bname.mp4"]
    assert short_names(keys) == {
        "ucf101/MovingRight/v_MovingRight_g03_c08.avi": "v_MovingRight_g03_c08.avi",
        "msrvtt/video7010.mp4": "video7010.mp4", "a/x.mp4": "a/x.mp4", "b/x.mp4": "b/x.mp4",
        "c/a/x.mp4": "c/a/x.mp4", "x.mp4": "x.mp4", "bad\x1bname.mp4": "bad\\x1bname.mp4"}


def test_notebook_tables_show_every_name_and_score_and_name_the_compared_models(tmp_path):
    """Notebook 08's ranking table was cut by pandas (`…v_MovingRight_g03_c08.avi (…`: no score), and its movers'
    `reference_rank` / `compare_rank` did not say which model is which. With α = 1 (what 04 chose in the demo)
    the grid is [0, 1]: the movers compare the teacher with the student, and the titles say so."""
    from fitclip.gallery import movers_table, ranking_table, ranking_view

    folder = tmp_path / "videos"
    names = ["ucf101/MovingRight/v_MovingRight_g03_c08.avi", "ucf101/Spinning/v_Spinning_g01_c02.avi",
             "msrvtt/video7010.mp4", "msrvtt/video7020.mp4"]
    for i, name in enumerate(names):
        render_video(folder / name, num_frames=8, level=_level(i))
    queries = [f"query {i}" for i in range(len(names))]
    teacher = GreyStub({q: _level(i) for i, q in enumerate(queries)})
    student = GreyStub({q: _level(3 if i == 0 else i) for i, q in enumerate(queries)})
    result = search({"teacher": EvalModel(teacher, 0.0), "fitclip-alpha1": EvalModel(student, 1.0, student="fitclip")},
                    folder, queries=queries, top_k=3, num_workers=0, progress=False)
    assert result.compare == "fitclip-alpha1"

    table = ranking_table(result)
    assert list(table.columns) == ["#1", "#2", "#3"] and table.index.names == ["kind", "text", "model"]
    top = table.loc[("query", "query 0", "teacher (α=0)"), "#1"]
    score = float(result.ranking.query("query == 'query 0' and model == 'teacher' and rank == 1")["score"].iloc[0])
    assert top == f"*v_MovingRight_g03_c08.avi {score:.3f}"  # a mover: the student puts video7020 first
    with pd.option_context("display.max_colwidth", 50):  # pandas' (and JupyterLab's) default
        shown = table._repr_html_()
    assert "..." not in shown and "…" not in shown and f"v_MovingRight_g03_c08.avi {score:.3f}" in shown
    view = ranking_view(result).to_html()
    assert "*v_MovingRight_g03_c08.avi" in view and "teacher (α=0) or FitCLIP student (α=1)" in view

    movers = movers_table(result)
    assert list(movers.columns) == ["kind", "query", "video", "teacher (α=0) rank", "FitCLIP student (α=1) rank",
                                    "rank change", "teacher (α=0) score", "FitCLIP student (α=1) score"]
    jump = movers.set_index("video").loc["video7020.mp4"]
    assert jump["FitCLIP student (α=1) rank"] == 1 and jump["rank change"] == jump["teacher (α=0) rank"] - 1 > 0
    csv = result.movers.iloc[0]
    assert (csv["reference"], csv["compare"]) == ("teacher", "fitclip-alpha1")  # movers.csv names them too
    one = search(teacher, folder, queries=queries[:1], top_k=2, num_workers=0, progress=False)
    assert movers_table(one).empty and list(movers_table(one).columns) == ["kind", "query", "video", "rank change"]


@pytest.mark.parametrize("chosen, grid, says", [
    ({"fitclip": 1.0}, [0.0, 1.0], "04 chose α = 1: FitCLIP is the student here, so two models are shown (the teacher "
                                   "and the fitclip student), and the movers compare the teacher with the student"),
    ({"fitclip": 0.0}, [0.0, 1.0], "04 chose α = 0: FitCLIP is the teacher here, so two models are shown"),
    ({"fitclip": 0.4}, [0.0, 0.4, 1.0], None),
    (None, [0.0, 0.5, 1.0], None),
])
def test_stage_08_says_when_fitclip_is_the_student(tmp_path, capsys, chosen, grid, says):
    from fitclip.study.your_videos import stage_students

    data = tmp_path / "data"
    (data / "03_train" / "fitclip").mkdir(parents=True)
    (data / "03_train" / "fitclip" / "best_labeled.pt").write_bytes(b"")  # only its path is used here
    if chosen is not None:
        (data / "04_fusion").mkdir()
        (data / "04_fusion" / "chosen_alpha.json").write_text(json.dumps({"chosen": chosen}))
    paths, grids = stage_students(data, ["fitclip"])
    out = capsys.readouterr().out
    assert grids == {"fitclip": grid} and paths == {"fitclip": data / "03_train" / "fitclip" / "best_labeled.pt"}
    if says:
        assert says in out
    else:
        assert "FitCLIP is the" not in out and "two models" not in out
