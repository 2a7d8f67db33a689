"""fitclip.doctor: every referenced video checked, causes named, manifest + quarantine written.

The layouts take their annotation rows from the toy world's files (the ``toy_benchmarks`` fixture), so these
tests run on any clone."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import make_msrvtt, make_ucf101, make_youcook2, make_zero_byte, remove_file, render_video, truncate_file

from fitclip.annotations import load_annotations
from fitclip.datasets import VideoDataset
from fitclip.doctor import EVALUABLE_CAUSES, MANIFEST_COLUMNS, doctor

REPO = Path(__file__).resolve().parents[1]


def _csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_doctor_names_each_cause_and_writes_manifest_and_quarantine(tmp_path, toy_benchmarks):
    layout = make_msrvtt(tmp_path, toy_benchmarks, n=6)
    assert layout.keys == ["ret0", "ret1", "ret2", "ret3", "ret4", "ret5"]
    make_zero_byte(layout.videos[layout.video_ids[1]])  # ret1
    truncate_file(layout.videos[layout.video_ids[2]])   # ret2
    remove_file(layout.videos[layout.video_ids[3]])     # ret3
    report = doctor("msrvtt", layout.data_root, num_workers=2, progress=False)

    assert not report.ok and report.n_videos == 6
    assert report.by_cause == {"missing": 1, "empty_file": 1, "unreadable": 1}
    causes = {r["key"]: r["cause"] for r in report.rows}
    assert causes == {"ret0": "", "ret1": "empty_file", "ret2": "unreadable", "ret3": "missing", "ret4": "",
                      "ret5": ""}
    assert "decord could not open" in report.rows[2]["detail"]

    out_dir = layout.root / "doctor"  # the documented default
    assert report.manifest_path == out_dir / "manifest-test.csv"
    manifest = _csv(report.manifest_path)
    assert list(manifest[0]) == list(MANIFEST_COLUMNS) and [m["key"] for m in manifest] == layout.keys
    ok_row = manifest[0]
    assert ok_row["status"] == "ok" and ok_row["num_frames"] == "16" and float(ok_row["fps"]) == 10.0
    assert (ok_row["width"], ok_row["height"]) == ("64", "48") and float(ok_row["duration"]) == pytest.approx(1.6)
    quarantine = _csv(report.quarantine_path)
    assert [(q["key"], q["cause"], q["evaluable"]) for q in quarantine] == [
        ("ret1", "empty_file", "False"), ("ret2", "unreadable", "False"), ("ret3", "missing", "False")]
    summary = json.loads(report.summary_path.read_text())
    assert summary["n_problems"] == 3 and summary["by_cause"]["missing"] == 1
    text = report.format_summary()
    assert "3 with a problem" in text and "missing" in text and "needs --skip-broken" in text
    assert not list(out_dir.glob(".*tmp*"))  # atomic writes leave no temp files


def test_doctor_and_evaluate_agree_on_what_is_evaluable(tmp_path, toy_benchmarks):
    import torch

    from fitclip.evaluate import check_videos, evaluate, protocol_path
    from fitclip.models import load_clip

    layout = make_msrvtt(tmp_path, toy_benchmarks, n=6)
    make_zero_byte(layout.videos[layout.video_ids[1]])  # ret1: found by both pre-checks
    truncate_file(layout.videos[layout.video_ids[2]])   # ret2: found by decoding
    remove_file(layout.videos[layout.video_ids[3]])     # ret3: found by both pre-checks
    directory = layout.videos[layout.video_ids[4]]      # ret4: a folder where the video should be
    remove_file(directory)
    directory.mkdir()
    report = doctor("msrvtt", layout.data_root, num_workers=0, progress=False)
    not_evaluable = [r["key"] for r in report.rows if not r["evaluable"]]
    assert not_evaluable == ["ret1", "ret2", "ret3", "ret4"]

    # evaluate's pre-check is the doctor's file check: the same items, the same words.
    details = {r["key"]: r["detail"] for r in report.rows}
    prechecked = check_videos(load_annotations("msrvtt", layout.data_root))
    assert {f["key"]: f["reason"] for f in prechecked} == {k: details[k] for k in ("ret1", "ret3", "ret4")}
    # ... and what evaluate skips (pre-check + decode pass) is exactly what the doctor calls not evaluable.
    torch.manual_seed(0)
    out = tmp_path / "results.jsonl"
    rows = evaluate(load_clip("fitclip-tiny", None), "msrvtt", layout.data_root, out=out, skip_broken=True,
                    num_workers=0, progress=False)
    assert {(r["n_evaluated"], r["n_failed"]) for r in rows} == {(2, 4)}
    protocol = json.loads(protocol_path(out).read_text().splitlines()[0])
    assert [f["key"] for f in protocol["failed"]] == not_evaluable


def test_doctor_flags_youcook2_clip_end_past_video_as_evaluable(tmp_path, toy_benchmarks):
    layout = make_youcook2(tmp_path, toy_benchmarks)
    out_dir = tmp_path / "doctor-out"
    report = doctor("youcook2", layout.data_root, out_dir=out_dir, num_workers=0, progress=False)
    assert report.n_videos == 2 and len(report.rows) == 6
    # The helper stopped the last video mid-way through its last clip (and only that clip).
    [key] = layout.info["past_end_keys"]
    last = layout.video_ids[-1]
    end, duration = int(key.rsplit("_", 1)[1]), layout.info["durations"][last]
    assert key.startswith(last + "_") and key == layout.keys[-1] and end > duration
    assert [p["key"] for p in report.problems] == [key]
    problem = report.problems[0]
    assert problem["cause"] == "clip_end_past_video" and problem["evaluable"] is True
    assert f"end {end} s > video duration {duration:.3f} s" in problem["detail"] and "clamps" in problem["detail"]
    assert "clip_end_past_video" in EVALUABLE_CAUSES and not report.ok
    assert report.quarantine_path == out_dir / "quarantine-val.csv"
    assert "evaluated, clamped" in report.format_summary()


def test_doctor_attributes_decode_failures_to_items(tmp_path, toy_benchmarks, monkeypatch):
    """A file that opens but whose sampled frames do not decode: only the affected clips are flagged."""
    from fitclip import video as V

    layout = make_youcook2(tmp_path, toy_benchmarks, past_end=False)
    video = layout.video_ids[0]
    plans = VideoDataset(load_annotations("youcook2", layout.data_root))
    ours = [i for i, key in enumerate(layout.keys) if key.startswith(video + "_")]
    assert len(ours) == 3
    # A frame that only the video's last clip samples (its clips do not overlap in time).
    others = {f for i in ours[:-1] for f in plans.plan(i)["frame_indices"]}
    bad = next(f for f in plans.plan(ours[-1])["frame_indices"] if f not in others)
    real_read = V.read_frames

    def flaky_read(path, indices, backend="decord"):
        if Path(path).stem == video and bad in list(indices):
            raise V.VideoDecodeError(f"{path}: decord failed to decode frames [{bad}] (simulated)")
        return real_read(path, indices, backend=backend)

    monkeypatch.setattr(V, "read_frames", flaky_read)
    report = doctor("youcook2", layout.data_root, num_workers=0, progress=False, write=False)
    assert report.manifest_path is None
    assert [(p["key"], p["cause"]) for p in report.problems] == [(layout.keys[ours[-1]], "decode_failed")]
    assert "simulated" in report.problems[0]["detail"] and report.problems[0]["evaluable"] is False


def test_doctor_cli_exit_status(tmp_path, toy_benchmarks, capsys):
    from fitclip.__main__ import main

    good = make_ucf101(tmp_path / "good", toy_benchmarks, n_classes=2, per_class=2)
    assert main(["doctor", "--dataset", "ucf101", "--data-root", str(good.data_root), "--no-progress",
                 "--num-workers", "0"]) == 0
    assert "4 ok, 0 with a problem" in capsys.readouterr().out
    assert main(["doctor", "--dataset", "ucf101", "--data-root", str(good.data_root), "--split", "nope"]) == 2
    assert "unknown split" in capsys.readouterr().err

    bad = make_msrvtt(tmp_path / "bad", toy_benchmarks, n=3)
    make_zero_byte(bad.videos[bad.video_ids[1]])  # ret1
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-m", "fitclip", "doctor", "--dataset", "msrvtt", "--data-root",
                          str(bad.data_root), "--out-dir", str(tmp_path / "o"), "--no-progress"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr
    assert "empty_file" in run.stdout and "ret1" in run.stdout
    assert (tmp_path / "o" / "manifest-test.csv").is_file() and (tmp_path / "o" / "quarantine-test.csv").is_file()


def test_doctor_passes_every_benchmark_of_the_rendered_toy_world(toy_world):
    """The toy world's own videos (h264 mp4; Motion JPEG AVI for UCF101) and files, as its writers render
    them: every referenced video of every benchmark decodes, and nothing is flagged."""
    root, manifest = toy_world
    expected = {"ucf101": manifest["counts"]["ucf101"], "mit": manifest["counts"]["mit"],
                "msrvtt": manifest["counts"]["msrvtt"], "youcook2": manifest["counts"]["youcook2_videos"],
                "didemo": manifest["counts"]["didemo"], "webvid": manifest["counts"]["webvid_val"]}
    for name, n_videos in expected.items():
        report = doctor(name, root, num_workers=0, progress=False, write=False)
        assert report.ok and report.problems == [] and report.n_videos == n_videos, (name, report.by_cause)


def test_a_file_only_pyav_reads_is_ok_and_noted_as_evaluate_falls_back(tmp_path, toy_benchmarks):
    """decord 0.6 rejects this 48x32 H.264 file and PyAV reads it; evaluate falls back to PyAV, so the doctor
    does too: the item is ok, its manifest row says decoded_by "pyav" with decord's error, the summary counts it."""
    layout = make_msrvtt(tmp_path, toy_benchmarks, n=3)
    odd = list(layout.videos.values())[2]
    render_video(odd, num_frames=16, height=32, width=48, seed=5)
    report = doctor("msrvtt", layout.data_root, num_workers=0, progress=False, out_dir=tmp_path / "doc")
    assert report.ok and [r["decoded_by"] for r in report.rows] == ["decord", "decord", "pyav"]
    assert "read with PyAV" in report.rows[2]["detail"] and "decord" in report.rows[2]["detail"]
    assert "1 item(s) read only with PyAV" in report.format_summary()
    assert json.loads(report.summary_path.read_text())["n_read_with_pyav"] == 1
    assert doctor("msrvtt", layout.data_root, num_workers=0, progress=False, write=False,
                  backend="pyav").notes == []  # PyAV itself: nothing fell back
