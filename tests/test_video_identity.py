"""Nothing is reused across a change of the videos behind unchanged annotation files (the synthetic world re-rendered
with another look keeps every caption): the videos' fingerprint, a training run's resume, the study's reuse of a
finished run and of pseudo labels, and the α grid's fingerprint all see it."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from fitclip.annotations import load_annotations
from fitclip.config import ConfigError, config_from_dict, validate
from fitclip.pseudo_labels import compute_pseudo_labels, stale_labels
from fitclip.run_data import VIDEOS_RECORD, load_labeled, videos_fingerprint
from fitclip.study.recipes import fresh_pseudo_labels, stale_videos
from fitclip.train import train
from train_fixtures import make_webvid_corpus, tiny_config


@pytest.fixture
def corpus(tmp_path):
    return make_webvid_corpus(tmp_path / "data")


def _touch(path, seconds: int = 12345) -> None:
    """The file re-rendered: another modification time (same bytes, so only the stat can tell)."""
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 10**9))


def test_the_fingerprint_follows_the_files_not_the_folder(corpus, tmp_path):
    items = load_annotations("webvid", corpus["data_root"], split="val").items
    before = videos_fingerprint(items)
    assert videos_fingerprint(items) == before
    moved = tmp_path / "moved"
    shutil.copytree(corpus["data_root"], moved)  # copy2: same sizes and times under another root
    assert videos_fingerprint(load_annotations("webvid", moved, split="val").items) == before
    _touch(items[3].path)
    assert videos_fingerprint(items) != before
    items[3].path.unlink()
    assert videos_fingerprint(items) not in (before, videos_fingerprint(items[:3] + items[4:]))


def test_a_finished_run_is_not_resumed_on_other_videos(corpus, tmp_path):
    out = tmp_path / "run"
    raw = tiny_config(corpus, out, lam=0.0, max_steps=2, val_every=0, save_every=1)
    train(validate(config_from_dict(raw)))
    recorded = json.loads((out / VIDEOS_RECORD).read_text())
    assert set(recorded) == {"labeled", "pool", "val"}
    assert stale_videos(out, config_from_dict(raw)) == []  # the same videos: the study resumes (reports the finished run)
    train(validate(config_from_dict(raw), resume=True), resume=out / "last.pt")

    _touch(load_labeled(config_from_dict(raw))[0].path)
    assert stale_videos(out, config_from_dict(raw)) == ["labeled videos changed"]
    with pytest.raises(ConfigError, match="the videos of labeled changed since this run started"):
        train(validate(config_from_dict(raw), resume=True), resume=out / "last.pt")
    (out / VIDEOS_RECORD).unlink()  # a run from before the record: the study cannot show it fits
    assert stale_videos(out, config_from_dict(raw)) == [f"no {VIDEOS_RECORD}: trained before fitclip recorded its videos"]


def test_pseudo_labels_of_other_videos_are_set_aside_by_the_study(corpus, tmp_path, capsys):
    labels = tmp_path / "labels"
    raw = tiny_config(corpus, tmp_path / "run", pseudo_labels=str(labels), teacher_mode="cached",
                      pseudo_label_shard_size=8)
    cfg = validate(config_from_dict(raw), for_pseudo_labels=True)
    compute_pseudo_labels(cfg)
    assert stale_labels(cfg) == [] and fresh_pseudo_labels(cfg) == []
    pool_video = next(p for p in sorted((tmp_path / "data" / "webvid" / "videos").rglob("*.mp4"))
                      if p.stem not in {i.video_id for i in load_labeled(cfg)})
    _touch(pool_video)
    assert stale_labels(cfg) == ["videos_sha256"]
    with pytest.raises(ConfigError, match=r"another teacher/pool/videos/setting \(differs in \['videos_sha256'\]\)"):
        compute_pseudo_labels(cfg)  # the CLI refuses ...
    with pytest.raises(ConfigError, match="the pool's videos changed since the labels were computed"):
        train(validate(config_from_dict({**raw, "max_steps": 1, "val_every": 0})))  # ... and so does training
    assert fresh_pseudo_labels(cfg) == ["videos_sha256"]  # ... the study sets them aside and computes anew
    assert not labels.exists() and len(list(tmp_path.glob("labels.replaced-*"))) == 1
    assert "pseudo labels of another teacher, pool, videos or setting (videos_sha256)" in capsys.readouterr().out
    compute_pseudo_labels(cfg)
    assert stale_labels(cfg) == []


def test_the_grid_fingerprint_sees_a_changed_video(corpus):
    from fitclip.study.grid import grid_fingerprint

    spec = {"arch": "fitclip-tiny", "pretrained": "none", "students": {}, "alphas": [0.0, 1.0],
            "root": corpus["data_root"], "datasets": [["webvid", "val"]], "options": {}}
    before = grid_fingerprint(spec)
    assert grid_fingerprint(spec) == before
    _touch(load_annotations("webvid", corpus["data_root"], split="val").items[0].path)
    after = grid_fingerprint(spec)
    assert after["data"]["webvid/val"]["annotations"] == before["data"]["webvid/val"]["annotations"]
    assert after["data"]["webvid/val"]["videos"] != before["data"]["webvid/val"]["videos"]


def test_runs_set_aside_are_not_students_of_the_stage(tmp_path):
    from fitclip.study.recipes import set_aside, trained_students

    for name in ("fitclip", "wiseft", "fitclip-seed1"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "best_labeled.pt").write_bytes(b"x")
    aside = set_aside(tmp_path / "wiseft", "a run of other videos")
    assert aside.name.startswith("wiseft.replaced-") and (aside / "best_labeled.pt").is_file()
    (tmp_path / "wiseft").mkdir()
    (tmp_path / "wiseft" / "best_labeled.pt").write_bytes(b"y")
    assert list(trained_students(tmp_path)) == ["fitclip", "wiseft", "fitclip-seed1"]
