"""fitclip.search and `python -m fitclip search`: your own folder of videos (real h264 clips written with
fitclip.video.write_video), queries and labels, unreadable and non-video files, the gallery (PNG and HTML)."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import make_zero_byte, render_video, truncate_file
from PIL import Image

import fitclip.evaluate as E
from fitclip.checkpoint import save_state
from fitclip.datasets import VideoDataset
from fitclip.evaluate import EvalModel, class_embeddings
from fitclip.models import load_clip, model_file_state
from fitclip.prompts import format_prompts
from fitclip.search import find_videos, parse_labels, resolve_templates, search, search_models

REPO = Path(__file__).resolve().parents[1]
THUMB = 32  # fitclip-tiny's input size, and the stub's


def _level(i: int) -> int:
    return 40 + 40 * i


class GreyStub(torch.nn.Module):
    """The VideoCLIP interface with embeddings that agree by construction (as in test_evaluate): a video's
    embedding is the unit vector at the angle of its mean normalised pixel value, a text's the one at the angle
    of the grey level `levels[text]`. So a query's top video is the clip rendered at that level."""

    arch = "grey-stub"
    image_size = THUMB
    mean = (0.5, 0.5, 0.5)
    std = (0.5, 0.5, 0.5)

    def __init__(self, levels: dict[str, int]) -> None:
        super().__init__()
        self.texts = list(levels)
        self.levels = torch.tensor([levels[t] for t in self.texts], dtype=torch.float32)
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def tokenize(self, texts):
        return torch.tensor([[self.texts.index(t)] for t in texts])

    @staticmethod
    def _unit(angle: torch.Tensor) -> torch.Tensor:
        return torch.stack([angle.cos(), angle.sin()], dim=-1)

    def encode_video(self, frames, lengths=None):
        per_frame = frames.mean(dim=(2, 3, 4))
        mask = torch.arange(frames.shape[1])[None] < lengths[:, None]
        return self._unit((per_frame * mask).sum(1) / mask.sum(1))

    def encode_text(self, tokens):
        return self._unit((self.levels[tokens[:, 0]] / 255 - 0.5) / 0.5)


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
    assert "day2/notes.txt" in html and "day2/cut.mp4" in html  # listed on the page too

    with pytest.raises(ValueError, match="none of the 2 video file"):
        search(stub, folder / "day2", queries=["dark"], num_workers=0, progress=False)


def test_search_on_the_synthetic_world(tmp_path, tiny):
    from fitclip import toyworld as S
    from fitclip.search import ranking_table
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
    assert "searched 3 of 3 video(s) with 3 model(s)" in out.stdout and "skipped readme.md" in out.stdout
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

    monkeypatch.setattr(fitclip.encoding, "_encode_videos", no_heavy_work)
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
