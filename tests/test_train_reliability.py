"""The trainer's run folder under faults, each injected at an exact point: kills around a checkpoint, a
second writer, a folder without a checkpoint, damaged checkpoints and logs, a read-only folder, a video
that does not decode, a non-finite loss. Every user-facing failure is ONE `error:` line, no traceback.

fitclip-tiny with random weights on the tiny WebVid-format corpus of `train_fixtures` (4+4 clips per step).
"""

from __future__ import annotations

import builtins
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import fitclip.train as T
from fitclip.annotations import load_annotations
from fitclip.checkpoint import load_state
from train_fixtures import (REPO, killed_train_cmd, make_webvid_corpus, subprocess_env, tiny_config,
                            wait_for_checkpoint, write_config)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_webvid_corpus(tmp_path_factory.mktemp("webvid"))


def metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]


def steps(out: Path) -> list[int]:
    return [r["step"] for r in metrics(out)]


def error_line(err: str) -> str:
    """The one `error:` line of a failed run's stderr (progress bars aside); no traceback."""
    lines = [line for line in err.splitlines() if line.startswith("error")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def boom(*args, **kwargs):
    raise AssertionError("heavy work started")


# ----------------------------------------------------------------------------------------------------
# Kills around the checkpoint: metrics.jsonl holds every step exactly once
# ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reference")
    config = write_config(tmp / "run.json", tiny_config(corpus, tmp / "ref", max_steps=5, save_every=1, val_every=2))
    subprocess.run([sys.executable, "-m", "fitclip.train", "--config", str(config)], cwd=REPO, env=subprocess_env(),
                   check=True, timeout=300, capture_output=True)
    return config, metrics(tmp / "ref")


@pytest.mark.parametrize("when", ["after", "before"])
def test_a_kill_at_the_checkpoint_loses_no_log_line(when, reference, tmp_path):
    """SIGKILL right after the rename of step 3's last.pt (the case that lost step 3's line) or right before
    it is written; after --resume the log equals the uninterrupted run's, every step once."""
    config, expected = reference
    out = tmp_path / "cut"
    args = ("--config", str(config), "--out_dir", str(out))
    killed = subprocess.run(killed_train_cmd(*args), cwd=REPO, env=subprocess_env(KILL_AT=f"{when}:3"),
                            timeout=300, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert load_state(out / "last.pt")["step"] == (3 if when == "after" else 2)
    assert steps(out) == [1, 2, 3]  # step 3's line reached the disk before its checkpoint
    subprocess.run([sys.executable, "-m", "fitclip.train", *args, "--resume"], cwd=REPO, env=subprocess_env(),
                   check=True, timeout=300, capture_output=True)
    rows = metrics(out)
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5]
    for want, got in zip(expected, rows):
        assert want.keys() == got.keys()
        for key in set(want) - {"time", "clips_per_s"}:
            assert got[key] == pytest.approx(want[key], rel=1e-6), (key, want, got)


# ----------------------------------------------------------------------------------------------------
# One writer per folder
# ----------------------------------------------------------------------------------------------------


def test_a_second_writer_is_refused_naming_the_holders_pid(corpus, tmp_path, capsys):
    """A --resume while the first run is still going is refused and changes nothing; once the holder is
    killed (SIGKILL: no cleanup at all) the lock is gone with it and the resume completes the run."""
    out = tmp_path / "run"
    config = write_config(tmp_path / "run.json", tiny_config(corpus, out, max_steps=3, save_every=1, val_every=0))
    holder = subprocess.Popen([sys.executable, "-m", "fitclip.train", "--config", str(config)], cwd=REPO,
                              env=subprocess_env(FITCLIP_FAULT="hang:2"), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_for_checkpoint(out / "last.pt", 1, holder)  # now inside step 2 for good, holding the lock
        before = {name: (out / name).read_bytes() for name in ("metrics.jsonl", "last.pt")}
        assert T.main(["--config", str(config), "--resume"]) == 1
        line = error_line(capsys.readouterr().err)
        assert f"PID {holder.pid}" in line and "in use by another training run" in line
        assert {name: (out / name).read_bytes() for name in before} == before
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert T.main(["--config", str(config), "--resume"]) == 0
    assert steps(out) == [1, 2, 3] and load_state(out / "last.pt")["step"] == 3


def test_a_plain_start_into_a_locked_folder_is_refused_before_any_work(corpus, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    config = write_config(tmp_path / "run.json", tiny_config(corpus, out))
    monkeypatch.setattr(T, "load_start_weights", boom)
    monkeypatch.setattr(T, "load_labeled", boom)
    with T.RunFolderLock(out):  # another writer (here: this process, through its own open file)
        assert T.main(["--config", str(config)]) == 1
    assert f"PID {os.getpid()}" in error_line(capsys.readouterr().err)
    assert sorted(p.name for p in out.iterdir()) == [".lock"]  # nothing written; the owner file is gone


# ----------------------------------------------------------------------------------------------------
# A folder without a checkpoint; non-finite losses
# ----------------------------------------------------------------------------------------------------


def test_a_folder_without_a_checkpoint_is_a_fresh_start(corpus, tmp_path, monkeypatch, capsys):
    """A run that dies before its first checkpoint (NaN at step 2; last.pt only at the end) leaves
    metrics.jsonl; the advice (same command, lower lr) is accepted in the same folder, and so is --resume."""
    out = tmp_path / "run"
    config = write_config(tmp_path / "run.json", tiny_config(corpus, out, max_steps=3, save_every=0, val_every=0,
                                                             lam=0.0))
    monkeypatch.setenv("FITCLIP_FAULT", "nan:2")
    assert T.main(["--config", str(config)]) == 3
    err = capsys.readouterr().err
    assert "non-finite loss at step 2" in err and "holds none" in err and "--lr 0.0001" in err
    assert "last.pt" not in err and steps(out) == [1] and not (out / "last.pt").exists()
    monkeypatch.delenv("FITCLIP_FAULT")
    assert T.main(["--config", str(config), "--lr", "1e-4"]) == 0
    assert steps(out) == [1, 2, 3] and load_state(out / "last.pt")["config"]["lr"] == 1e-4
    # --resume into a folder that holds no checkpoint starts there too.
    (out / "last.pt").unlink()
    assert T.main(["--config", str(config), "--resume"]) == 0
    assert "holds no checkpoint; starting a new run" in capsys.readouterr().err and steps(out) == [1, 2, 3]


def test_a_folder_with_only_best_labeled_names_it(corpus, tmp_path, monkeypatch, capsys):
    """best_labeled.pt (a full training checkpoint) without last.pt: both starts name the file to resume."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "best_labeled.pt").write_bytes(b"")  # only its presence matters here
    config = write_config(tmp_path / "run.json", tiny_config(corpus, out))
    monkeypatch.setattr(T, "load_start_weights", boom)
    for extra in ([], ["--resume"]):
        assert T.main(["--config", str(config), *extra]) == 2
        assert f"--resume {out / 'best_labeled.pt'}" in capsys.readouterr().err


def test_a_nan_at_step_1_points_at_no_checkpoint(corpus, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    config = write_config(tmp_path / "run.json", tiny_config(corpus, out, max_steps=2, save_every=1, val_every=0,
                                                             lam=0.0))
    monkeypatch.setenv("FITCLIP_FAULT", "nan:1")
    assert T.main(["--config", str(config)]) == 3
    err = capsys.readouterr().err
    assert "non-finite loss at step 1" in err and "No checkpoint was written" in err and "last.pt" not in err
    monkeypatch.delenv("FITCLIP_FAULT")
    assert T.main(["--config", str(config), "--lr", "1e-4"]) == 0 and steps(out) == [1, 2]


# ----------------------------------------------------------------------------------------------------
# Damaged files, read-only folder, broken video: one line each
# ----------------------------------------------------------------------------------------------------


def test_resume_from_a_truncated_checkpoint_names_the_fallback(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    config = write_config(tmp_path / "run.json", tiny_config(corpus, out, max_steps=2, save_every=2, val_every=1,
                                                             lam=0.0))
    assert T.main(["--config", str(config)]) == 0
    data = (out / "last.pt").read_bytes()
    (out / "last.pt").write_bytes(data[: len(data) // 2])  # a copy cut short / a full disk
    capsys.readouterr()
    assert T.main(["--config", str(config), "--resume", "--max_steps", "3"]) == 1
    line = error_line(capsys.readouterr().err)
    assert "is damaged (truncated or corrupt" in line and f"--resume {out / 'best_labeled.pt'}" in line
    assert "re-save" not in line
    # The fallback it names works.
    assert T.main(["--config", str(config), "--resume", str(out / "best_labeled.pt"), "--max_steps", "3"]) == 0
    assert steps(out) == [1, 2, 3]


def test_a_torn_final_metrics_line_is_dropped_on_resume(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    config = write_config(tmp_path / "run.json", tiny_config(corpus, out, max_steps=2, save_every=1, val_every=0,
                                                             lam=0.0))
    assert T.main(["--config", str(config)]) == 0
    with open(out / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.write('{"step": 3, "epoch": 1.5, "tot')  # what a kill in the middle of a write leaves
    assert T.main(["--config", str(config), "--resume", "--max_steps", "3"]) == 0
    assert "dropped a torn final line (line 3" in capsys.readouterr().err and steps(out) == [1, 2, 3]
    # A damaged line that is not the last is not guessed at.
    lines = (out / "metrics.jsonl").read_text().splitlines()
    (out / "metrics.jsonl").write_text("\n".join([lines[0][:12], *lines[1:]]) + "\n")
    assert T.main(["--config", str(config), "--resume", "--max_steps", "4"]) == 1
    assert "metrics.jsonl: line 1 is not a JSON object" in error_line(capsys.readouterr().err)


def test_a_read_only_out_dir_is_one_line_before_any_work(corpus, tmp_path, monkeypatch, capsys):
    """Every file creation under out_dir fails as on a read-only mount (injected: the tests run as root)."""
    out = tmp_path / "ro"
    out.mkdir()
    config = write_config(tmp_path / "run.json", tiny_config(corpus, out))

    def refused(path):
        return str(path).startswith(str(out))

    real_os_open, real_open = os.open, builtins.open

    def os_open(path, flags, *args, **kwargs):
        if refused(path) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_os_open(path, flags, *args, **kwargs)

    def open_(path, mode="r", *args, **kwargs):
        if isinstance(path, (str, os.PathLike)) and refused(path) and set(mode) & set("wax+"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(builtins, "open", open_)
    monkeypatch.setattr(T, "load_start_weights", boom)
    assert T.main(["--config", str(config)]) == 1
    line = error_line(capsys.readouterr().err)
    assert f"out_dir {str(out)!r} is not writable (Read-only file system)" in line


def test_a_broken_labeled_video_names_the_file_and_the_doctor(corpus, tmp_path, capsys):
    root = tmp_path / "data"
    shutil.copytree(corpus["data_root"], root)
    labeled = load_annotations("webvid", root, split="train", csv=str(root / "labeled.csv"))
    broken = labeled.items[0].path
    broken.write_bytes(broken.read_bytes()[:300])  # a download cut short
    config = write_config(tmp_path / "run.json", tiny_config(
        {"data_root": str(root), "labeled_csv": str(root / "labeled.csv")}, tmp_path / "out", lam=0.0, max_steps=2,
        val_every=0, num_workers=1))  # decoded in a DataLoader worker, as in real runs
    assert T.main(["--config", str(config)]) == 1
    line = error_line(capsys.readouterr().err)
    assert str(broken) in line and "labeled video does not decode" in line
    assert f"python -m fitclip doctor --dataset webvid --data-root {root} --split train --dataset-option csv=" in line
