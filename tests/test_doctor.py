"""fitclip.doctor: every referenced video checked, causes named, manifest + quarantine written."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import make_msrvtt, make_ucf101, make_youcook2, make_zero_byte, remove_file, truncate_file

from fitclip.doctor import EVALUABLE_CAUSES, MANIFEST_COLUMNS, doctor

REPO = Path(__file__).resolve().parents[1]


def _csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_doctor_names_each_cause_and_writes_manifest_and_quarantine(tmp_path, shared_benchmarks):
    layout = make_msrvtt(tmp_path, shared_benchmarks, n=6)
    make_zero_byte(layout.videos["video9771"])         # ret1
    truncate_file(layout.videos["video7020"])          # ret2
    remove_file(layout.videos[list(layout.videos)[3]])  # ret3
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


def test_doctor_flags_youcook2_clip_end_past_video_as_evaluable(tmp_path, shared_benchmarks):
    layout = make_youcook2(tmp_path, shared_benchmarks)
    out_dir = tmp_path / "doctor-out"
    report = doctor("youcook2", layout.data_root, out_dir=out_dir, num_workers=0, progress=False)
    assert report.n_videos == 2 and len(report.rows) == 6
    assert [p["key"] for p in report.problems] == layout.info["past_end_keys"] == ["V53XmPeyjIU_46_53"]
    problem = report.problems[0]
    assert problem["cause"] == "clip_end_past_video" and problem["evaluable"] is True
    assert "end 53 s > video duration 50.000 s" in problem["detail"] and "clamps" in problem["detail"]
    assert "clip_end_past_video" in EVALUABLE_CAUSES and not report.ok
    assert report.quarantine_path == out_dir / "quarantine-val.csv"
    assert "evaluated, clamped" in report.format_summary()


def test_doctor_attributes_decode_failures_to_items(tmp_path, shared_benchmarks, monkeypatch):
    """A file that opens but whose sampled frames do not decode: only the affected clips are flagged."""
    from fitclip import video as V

    layout = make_youcook2(tmp_path, shared_benchmarks, past_end=False)
    real_read = V.read_frames

    def flaky_read(path, indices, backend="decord"):
        if Path(path).stem == "xHr8X2Wpmno" and 80 in list(indices):
            raise V.VideoDecodeError(f"{path}: decord failed to decode frames [80] (simulated)")
        return real_read(path, indices, backend=backend)

    monkeypatch.setattr(V, "read_frames", flaky_read)
    report = doctor("youcook2", layout.data_root, num_workers=0, progress=False, write=False)
    assert report.manifest_path is None
    assert [(p["key"], p["cause"]) for p in report.problems] == [("xHr8X2Wpmno_67_89", "decode_failed")]
    assert "simulated" in report.problems[0]["detail"] and report.problems[0]["evaluable"] is False


def test_doctor_cli_exit_status(tmp_path, shared_benchmarks, capsys):
    from fitclip.__main__ import main

    good = make_ucf101(tmp_path / "good", shared_benchmarks, n_classes=2, per_class=2)
    assert main(["doctor", "--dataset", "ucf101", "--data-root", str(good.data_root), "--no-progress",
                 "--num-workers", "0"]) == 0
    assert "4 ok, 0 with a problem" in capsys.readouterr().out
    assert main(["doctor", "--dataset", "ucf101", "--data-root", str(good.data_root), "--split", "nope"]) == 2
    assert "unknown split" in capsys.readouterr().err

    bad = make_msrvtt(tmp_path / "bad", shared_benchmarks, n=3)
    make_zero_byte(bad.videos["video9771"])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-m", "fitclip", "doctor", "--dataset", "msrvtt", "--data-root",
                          str(bad.data_root), "--out-dir", str(tmp_path / "o"), "--no-progress"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr
    assert "empty_file" in run.stdout and "ret1" in run.stdout
    assert (tmp_path / "o" / "manifest-test.csv").is_file() and (tmp_path / "o" / "quarantine-test.csv").is_file()
