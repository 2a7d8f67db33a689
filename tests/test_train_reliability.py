"""The trainer's run folder under faults, each injected at an exact point: kills around a checkpoint, a
second writer, a folder without a checkpoint, damaged checkpoints and logs, a read-only folder, a video
that does not decode, a non-finite loss, a full disk (ENOSPC at one exact write, and a real small tmpfs),
--resume past max_steps or of a finished run, a failed start. Every user-facing failure is ONE `error:`
line, no traceback.

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
import torch

import fitclip.files as files_mod
import fitclip.train as T
from fitclip.annotations import load_annotations
from fitclip.files import load_state
from helpers import mount_tmpfs, unmount
from faulty_train import fault
from train_fixtures import (FAULTY_TRAIN, REPO, fill_disk_at, killed_train_cmd, make_webvid_corpus, subprocess_env, tiny_config,
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
    holder = subprocess.Popen([sys.executable, FAULTY_TRAIN, "--config", str(config)], cwd=REPO,
                              env=subprocess_env(FITCLIP_TEST_FAULT="hang:2"), stdout=subprocess.DEVNULL,
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
    monkeypatch.setattr(T, "step_hook", fault("nan", 2))
    assert T.main(["--config", str(config)]) == 3
    err = capsys.readouterr().err
    assert "non-finite loss at step 2" in err and "holds none" in err and "--lr 0.0001" in err
    assert "last.pt" not in err and steps(out) == [1] and not (out / "last.pt").exists()
    monkeypatch.setattr(T, "step_hook", None)
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
    monkeypatch.setattr(T, "step_hook", fault("nan", 1))
    assert T.main(["--config", str(config)]) == 3
    err = capsys.readouterr().err
    assert "non-finite loss at step 1" in err and "No checkpoint was written" in err and "last.pt" not in err
    monkeypatch.setattr(T, "step_hook", None)
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


# ----------------------------------------------------------------------------------------------------
# A full disk: one line (what, where, the checkpoint kept), and --resume continues once space is freed
# ----------------------------------------------------------------------------------------------------


def folder_state(out: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file of `out` as (inode, mtime, bytes): equal states mean nothing was written, not even the same
    bytes again."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(out.iterdir())}


def disk_full_line(err: str, path: Path) -> str:
    line = error_line(err)
    assert line.startswith(f"error: cannot write {path}: the disk is full (no space left on the device of "
                           f"{path.parent}; ") and " free there)" in line, line
    assert "unexpected pos" not in err, err
    return line


def test_a_full_disk_at_the_checkpoint_keeps_the_previous_one(corpus, tmp_path, monkeypatch, capsys):
    """ENOSPC in the middle of step 4's last.pt (before: PyTorch's `unexpected pos`): last.pt of step 2 is
    whole, the line says so, and --resume ends the run."""
    out = tmp_path / "run"
    config = write_config(tmp_path / "run.json", tiny_config(corpus, out, max_steps=4, save_every=2, val_every=0,
                                                             lam=0.0))
    fill_disk_at(monkeypatch, files_mod, "last.pt", nth=2, torn=1000)
    assert T.main(["--config", str(config)]) == 1
    line = disk_full_line(capsys.readouterr().err, out / "last.pt")
    assert line.endswith(f"; the last checkpoint, {out / 'last.pt'} (step 2), is kept: free some space, then "
                         f"`--resume` continues from it"), line
    assert load_state(out / "last.pt")["step"] == 2 and steps(out) == [1, 2, 3, 4]
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "last.pt", "metrics.jsonl", "run_info.json",
                                                     "videos.json"]
    monkeypatch.undo()
    assert T.main(["--config", str(config), "--resume"]) == 0
    assert load_state(out / "last.pt")["step"] == 4 and steps(out) == [1, 2, 3, 4]


def test_a_full_disk_at_a_metrics_line_tears_it_and_resume_drops_it(corpus, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    config = write_config(tmp_path / "run.json", tiny_config(corpus, out, max_steps=4, save_every=2, val_every=0,
                                                             lam=0.0))
    fill_disk_at(monkeypatch, T, "metrics.jsonl", torn=20, armed=lambda data: '"step": 3,' in data)
    assert T.main(["--config", str(config)]) == 1
    line = disk_full_line(capsys.readouterr().err, out / "metrics.jsonl")
    assert line.endswith(f"the last checkpoint, {out / 'last.pt'} (step 2), is kept: free some space, then "
                         f"`--resume` continues from it"), line
    assert (out / "metrics.jsonl").read_text().splitlines()[-1] == '{"step": 3, "epoch":'  # 20 characters: torn
    monkeypatch.undo()
    assert T.main(["--config", str(config), "--resume"]) == 0
    assert "dropped a torn final line (line 3" in capsys.readouterr().err and steps(out) == [1, 2, 3, 4]


@pytest.mark.parametrize("name", ["config.json", "videos.json", "run_info.json"])
def test_a_full_disk_at_the_run_files(name, corpus, tmp_path, monkeypatch, capsys):
    """A fresh start that cannot write config.json / videos.json / run_info.json says to run it again (nothing to
    resume) and leaves no folder it made only for that; a resume says its checkpoint is kept."""
    out = tmp_path / "new" / "run"
    config = write_config(tmp_path / "run.json", tiny_config(corpus, out, max_steps=2, save_every=2, val_every=0,
                                                             lam=0.0))
    fill_disk_at(monkeypatch, files_mod, name)
    assert T.main(["--config", str(config)]) == 1
    line = disk_full_line(capsys.readouterr().err, out / name)
    assert line.endswith("; no checkpoint was written yet: free some space, then run the same command again (a "
                         "folder without a checkpoint is a fresh start)"), line
    if name == "config.json":
        assert not (tmp_path / "new").exists()  # the folders this start made are gone with it
    else:  # the files written before it stay (in the order they are written)
        written = {"videos.json": ["config.json"], "run_info.json": ["config.json", "videos.json"]}[name]
        assert sorted(p.name for p in out.iterdir()) == written
    monkeypatch.undo()
    assert T.main(["--config", str(config)]) == 0 and load_state(out / "last.pt")["step"] == 2
    fill_disk_at(monkeypatch, files_mod, name)
    assert T.main(["--config", str(config), "--resume", "--max_steps", "3"]) == 1
    line = disk_full_line(capsys.readouterr().err, out / name)
    assert line.endswith(f"the last checkpoint, {out / 'last.pt'} (step 2), is kept: free some space, then "
                         f"`--resume` continues from it"), line


def test_a_full_disk_at_the_lock_is_one_line(corpus, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    config = write_config(tmp_path / "run.json", tiny_config(corpus, out))
    fill_disk_at(monkeypatch, files_mod, ".lock.json")
    monkeypatch.setattr(T, "load_start_weights", boom)
    assert T.main(["--config", str(config)]) == 1
    line = disk_full_line(capsys.readouterr().err, out / ".lock.json")
    assert line.endswith("; free some space there or choose another out_dir") and not out.exists()


@pytest.fixture
def small_tmpfs(tmp_path):
    """A tmpfs mount of its own (we run as root): `mount(size)` mounts it, `mount(size, remount=True)` frees space."""
    where = tmp_path / "tmpfs"
    mounted = []

    def mount(size: int, remount: bool = False) -> Path:
        mounted[:] = [mount_tmpfs(where, size, remount=remount)]
        return where

    yield mount
    if mounted:
        unmount(where)


def test_a_real_full_disk_keeps_the_checkpoint_and_resume_ends_as_an_uninterrupted_run(corpus, tmp_path, small_tmpfs,
                                                                                       capsys):
    """A tmpfs holding one last.pt but not a second beside it (the atomic write's temp file): step 4's
    checkpoint does not fit. Once space is freed, --resume ends with the uninterrupted run's weights."""
    base = tiny_config(corpus, tmp_path / "ref", max_steps=4, save_every=2, val_every=0, lam=0.0)
    assert T.main(["--config", str(write_config(tmp_path / "ref.json", base))]) == 0
    size = (tmp_path / "ref" / "last.pt").stat().st_size
    out = small_tmpfs(size * 3 // 2) / "run"
    config = write_config(tmp_path / "run.json", {**base, "out_dir": str(out)})
    capsys.readouterr()
    assert T.main(["--config", str(config)]) == 1
    line = disk_full_line(capsys.readouterr().err, out / "last.pt")
    assert f"the last checkpoint, {out / 'last.pt'} (step 2), is kept" in line
    assert load_state(out / "last.pt")["step"] == 2 and not [p for p in out.iterdir() if ".tmp" in p.name]
    small_tmpfs(size * 3, remount=True)  # space freed
    assert T.main(["--config", str(config), "--resume"]) == 0
    a, b = load_state(tmp_path / "ref" / "last.pt")["student"], load_state(out / "last.pt")["student"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [{k: v for k, v in r.items() if k not in ("time", "clips_per_s")} for r in metrics(out)] == \
        [{k: v for k, v in r.items() if k not in ("time", "clips_per_s")} for r in metrics(tmp_path / "ref")]


# ----------------------------------------------------------------------------------------------------
# --resume: past max_steps, a finished run, a failed start
# ----------------------------------------------------------------------------------------------------


def test_resume_past_max_steps_is_refused_and_a_finished_run_writes_nothing(corpus, tmp_path, capsys):
    """--resume --max_steps 2 on a run at step 4 exited 0 and rewrote config.json; now: exit 2, nothing
    written. --resume at step == max_steps (notebook 03's re-runs) exits 0, reports the end, writes nothing."""
    out = tmp_path / "run"
    config = write_config(tmp_path / "run.json", tiny_config(corpus, out, max_steps=4, save_every=2, val_every=2,
                                                             lam=0.0))
    assert T.main(["--config", str(config)]) == 0
    capsys.readouterr()
    before = folder_state(out)
    assert T.main(["--config", str(config), "--resume", "--max_steps", "2"]) == 2
    line = error_line(capsys.readouterr().err)
    assert f"--resume {out / 'last.pt'}: the checkpoint is at step 4, past max_steps=2" in line
    assert "give --max_steps 4 or more" in line and folder_state(out) == before
    assert T.main(["--config", str(config), "--resume"]) == 0
    captured = capsys.readouterr()
    assert "is at step 4 = max_steps: the run is finished" in captured.err
    done = json.loads(captured.out.strip().splitlines()[-1])["done"]
    assert done["step"] == 4 and done["best"] == load_state(out / "last.pt")["best"]
    assert done["losses"] == {k: metrics(out)[-1][k] for k in ("total", "labeled", "distill")}
    assert folder_state(out) == before


def test_a_failed_resume_leaves_no_folder_and_adds_nothing(corpus, tmp_path, capsys):
    """The run folder's lock made out_dir (and .lock) before the checkpoint was read: a failed --resume left an
    empty folder. Now a failed start removes what it created, and only that."""
    bad = tmp_path / "cut.pt"
    bad.write_bytes(b"PK\x03\x04 cut short")
    config = write_config(tmp_path / "run.json", tiny_config(corpus, tmp_path / "new" / "run"))
    assert T.main(["--config", str(config), "--resume", str(bad)]) == 1
    assert "is damaged" in error_line(capsys.readouterr().err) and not (tmp_path / "new").exists()
    # An existing folder (no .lock: copied from elsewhere) gets nothing added, loses nothing.
    out = tmp_path / "copied"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert T.main(["--config", str(config), "--out_dir", str(out), "--resume", str(bad)]) == 1
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    # A .lock that was there stays (the same file: other processes may have it open).
    with T.RunFolderLock(out):
        pass
    inode = (out / ".lock").stat().st_ino
    assert T.main(["--config", str(config), "--out_dir", str(out), "--resume", str(bad)]) == 1
    assert sorted(p.name for p in out.iterdir()) == [".lock", "notes.txt"] and (out / ".lock").stat().st_ino == inode


def test_the_lock_is_taken_again_when_its_file_was_removed_under_it(tmp_path, monkeypatch):
    """A failed start removes the .lock it created while holding it; a taker that opened that file just
    before locks a removed file: it notices (not the file at the path) and locks the new one."""
    import fcntl

    import fitclip.runtime as R
    out = tmp_path / "run"
    out.mkdir()
    (out / ".lock").touch()
    real_flock, calls = fcntl.flock, []

    def flock(fd, op):
        calls.append(os.fstat(fd).st_ino)
        if len(calls) == 1:  # between our open and our flock, the file goes (another start failed)
            (out / ".lock").unlink()
        return real_flock(fd, op)

    monkeypatch.setattr(R.fcntl, "flock", flock)
    with T.RunFolderLock(out) as lock:
        assert len(calls) == 2  # the first lock was on the removed file: taken again
        assert os.fstat(lock.fd).st_ino == (out / ".lock").stat().st_ino
    assert (out / ".lock").exists()


def test_resume_refuses_a_run_that_started_from_other_weights(corpus, tmp_path, capsys):
    """A finished run in the folder, then the start weights file changes (the demo's teacher retrained after
    an update): --resume used to report the old run as finished; now it names the change, exit 2."""
    from fitclip.models import load_clip, model_file_state
    from fitclip.files import save_state

    weights = tmp_path / "start.pt"
    torch.manual_seed(0)
    save_state(model_file_state(load_clip("fitclip-tiny", "none")), weights)
    out = tmp_path / "run"
    config = write_config(tmp_path / "run.json", tiny_config(corpus, out, max_steps=2, save_every=2, val_every=2,
                                                             lam=0.0, pretrained=str(weights)))
    assert T.main(["--config", str(config)]) == 0
    assert T.main(["--config", str(config), "--resume"]) == 0  # the same weights: the finished run reports its end
    capsys.readouterr()
    torch.manual_seed(1)
    save_state(model_file_state(load_clip("fitclip-tiny", "none")), weights)
    before = folder_state(out)
    assert T.main(["--config", str(config), "--resume"]) == 2
    line = error_line(capsys.readouterr().err)
    assert "the run started from other weights" in line and "Start a new out_dir" in line
    assert folder_state(out) == before
