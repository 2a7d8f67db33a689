"""The trainer (fitclip.train) and its config (fitclip.config) on a tiny model and a synthetic WebVid corpus.

In-process runs cover the config, both teacher modes, λ=0, non-finite losses and learning; subprocess runs
cover SIGKILL + --resume exactness and torchrun (2 gloo ranks; a hung rank). Everything uses fitclip-tiny
with random weights, 4 frames and 4+4 clips per process; one BLAS thread per process (2-core CI).
"""

from __future__ import annotations

import dataclasses
import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from fitclip.files import load_state
from fitclip.config import PRESETS, ConfigError, config_from_dict, parse_cli, validate
from fitclip.models import load_clip
from faulty_train import fault
from train_fixtures import (FAULTY_TRAIN, REPO, make_webvid_corpus, subprocess_env, tiny_config, torchrun_cmd,
                                  write_config)

import fitclip.train as T


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_webvid_corpus(tmp_path_factory.mktemp("webvid"))


def run_inprocess(cfg: dict, resume=None) -> dict:
    config = validate(config_from_dict(cfg), resume=resume is not None)
    return T.train(config, resume)


def metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines() if line.strip()]


def student_weights(path: Path) -> dict[str, torch.Tensor]:
    return load_state(path)["student"]


def start_weights(cfg: dict) -> dict[str, torch.Tensor]:
    return T.load_start_weights(config_from_dict(cfg)).clip.state_dict()


# ----------------------------------------------------------------------------------------------------
# Config
# ----------------------------------------------------------------------------------------------------


def test_presets_and_cli_overrides(tmp_path):
    paper, _ = parse_cli([])
    assert (paper.preset, paper.temperature, paper.lam, paper.lr, paper.weight_decay, paper.betas) == \
        ("paper", 0.05, 1e-4, 3e-5, 0.01, (0.9, 0.999))
    assert (paper.batch_size_labeled, paper.batch_size_unlabeled, paper.num_frames, paper.val_every) == (8, 8, 4, 30)
    assert (paper.teacher_mode, paper.distill_scale, paper.precision) == ("cached", "inverse_temperature_squared", "fp32")
    ref, _ = parse_cli(["--preset", "reference-code"])
    assert (ref.temperature, ref.lr, ref.lam) == (0.015, 3e-6, 1e-4)
    toy, _ = parse_cli(["--preset", "toy"])
    assert (toy.lr, toy.batch_size_labeled, toy.max_steps, toy.val_every, toy.temperature, toy.hflip) == \
        (3e-4, 32, 300, 75, 0.05, False)
    assert set(PRESETS) == {"paper", "reference-code", "toy"}
    # preset < file < CLI; the file's values are typed, the CLI's are strings.
    f = write_config(tmp_path / "run.json", {"preset": "reference-code", "lam": 0.3, "betas": [0.8, 0.99],
                                              "unlabeled": {"name": "folder", "path": "/videos"}})
    cfg, flags = parse_cli(["--config", str(f), "--lr=1e-4", "--max_steps", "7", "--precision", "bf16",
                            "--labeled_csv", "none", "--resume"], extra_flags=("resume",))
    assert (cfg.preset, cfg.temperature, cfg.lam, cfg.lr, cfg.max_steps, cfg.betas, cfg.precision, cfg.labeled_csv) == \
        ("reference-code", 0.015, 0.3, 1e-4, 7, (0.8, 0.99), "bf16", None)
    assert cfg.unlabeled == {"name": "folder", "path": "/videos"} and flags == {"resume": True}
    # The saved config.json is itself a --config that reproduces the config.
    g = write_config(tmp_path / "saved.json", cfg.to_dict())
    assert parse_cli(["--config", str(g)])[0] == cfg
    with pytest.raises(dataclasses_frozen_error()):
        cfg.lr = 1.0  # one frozen dataclass


def dataclasses_frozen_error():
    import dataclasses
    return dataclasses.FrozenInstanceError


def test_unknown_keys_and_bad_values_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown config key 'lamda'.*did you mean 'lam'"):
        parse_cli(["--lamda", "0.1"])
    with pytest.raises(ConfigError, match=r"unknown config key 'learning_rate'"):
        parse_cli(["--config", str(write_config(tmp_path / "x.json", {"learning_rate": 1}))])
    with pytest.raises(ConfigError, match=r"max_steps='ten' is not a valid int"):
        parse_cli(["--max_steps", "ten"])
    cfg = config_from_dict({"lam": 2.0, "lr": 0.0, "batch_size_labeled": 0, "temperature": -1.0,
                            "teacher_mode": "offline", "betas": [0.9, 1.5]})
    with pytest.raises(ConfigError) as e:
        validate(cfg, check_files=False)
    msg = str(e.value)
    for needle in ("lam=2.0 is out of range: λ must be in [0, 1]", "lr=0.0 must be > 0", "batch_size_labeled=0 must be >= 1",
                   "temperature=-1.0 must be > 0", "teacher_mode='offline'", "betas=[0.9, 1.5]"):
        assert needle in msg, (needle, msg)


def test_every_key_is_a_cli_option_typed_by_its_annotation(tmp_path):
    """One --key per dataclass field (also --key-name), each string parsed by the field's annotation: a config
    written out as CLI strings parses back to itself."""
    cfg = config_from_dict({"preset": "toy", "pseudo_labels": "labels", "precision": "bf16", "betas": [0.8, 0.9],
                            "unlabeled": {"name": "folder", "path": "/videos", "recursive": False}})
    argv = [a for k, v in cfg.to_dict().items()
            for a in (f"--{k.replace('_', '-')}", v if isinstance(v, str) else json.dumps(v))]
    assert parse_cli(argv)[0] == cfg
    assert parse_cli(["--max_steps", "1e3", "--betas", "0.5,0.6", "--val_csv", "null"])[0].max_steps == 1000
    assert parse_cli(["--unlabeled", "webvid"])[0].unlabeled == {"name": "webvid", "split": "train",
                                                                 "exclude_labeled": True}
    for argv, needle in [(["--seed", "1.5"], "seed='1.5' is not a valid int"),
                         (["--bf16", "true"], "unknown config key 'bf16'"),
                         (["--betas", "0.9"], "betas='0.9' is not a valid list of 2 floats"),
                         (["--unlabeled", '{"name": '], "unlabeled='{\"name\": ' is not valid JSON"),
                         (["--lr"], "--lr: expected one argument"), (["lr", "1"], "unexpected argument 'lr'"),
                         (["--max", "3"], "unknown config key 'max'"), (["--resume"], "unknown config key 'resume'")]:
        with pytest.raises(ConfigError) as e:
            parse_cli(argv)
        assert needle in str(e.value) and "\n" not in str(e.value), (argv, str(e.value))
    with pytest.raises(ConfigError, match=r"arch=5 is not a valid string"):
        config_from_dict({"arch": 5})
    with pytest.raises(ConfigError, match=r"max_steps=True is not a valid int"):
        config_from_dict({"max_steps": True})


def test_precision_replaces_the_older_bf16_key():
    """A config saved before `precision` (``"bf16": true/false``) still loads, as the same precision; a
    string there (``"bf16": "yes"``) is refused like any quoted value of a file (tests/test_config.py)."""
    assert config_from_dict({"bf16": True}).precision == "bf16"
    assert config_from_dict({"bf16": False}).precision == "fp32"
    with pytest.raises(ConfigError, match="bf16='false' is a string; write it as a JSON bool, without quotes: false"):
        config_from_dict({"bf16": "false"})
    with pytest.raises(ConfigError, match="bf16=3 is not a valid bool"):
        config_from_dict({"bf16": 3})


def test_config_errors_come_before_any_work(tmp_path, corpus, monkeypatch, capsys):
    """main() rejects a bad config before loading models or data, and writes nothing."""
    def boom(*a, **k):
        raise AssertionError("work started before the config was validated")
    monkeypatch.setattr(T, "load_start_weights", boom)
    monkeypatch.setattr(T, "load_labeled", boom)
    out = tmp_path / "out"
    f = write_config(tmp_path / "run.json", tiny_config(corpus, out))
    assert T.main(["--config", str(f), "--lam", "1.5", "--batch_size_unlabeled", "0"]) == 2
    err = capsys.readouterr().err
    assert "lam=1.5" in err and "batch_size_unlabeled=0" in err and not out.exists()
    assert T.main(["--config", str(f), "--teacher_mode", "cached"]) == 2  # λ>0, cached, no pseudo_labels
    assert "python -m fitclip.pseudo_labels" in capsys.readouterr().err
    assert T.main(["--config", str(f), "--labeled_csv", str(tmp_path / "nope.csv")]) == 2
    assert "labeled_csv=" in capsys.readouterr().err
    assert T.main(["--config", str(f), "--precision", "fp16"]) == 2
    assert "precision='fp16': use one of fp32, bf16" in capsys.readouterr().err
    assert not out.exists()


# ----------------------------------------------------------------------------------------------------
# Single-process training
# ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pseudo_labels_dir(corpus, tmp_path_factory):
    from fitclip.pseudo_labels import compute_pseudo_labels
    out = tmp_path_factory.mktemp("pl")
    cfg = config_from_dict(tiny_config(corpus, out / "unused", pseudo_labels=str(out / "labels"),
                                       pseudo_label_shard_size=6))
    return str(compute_pseudo_labels(validate(cfg, for_pseudo_labels=True)))


@pytest.mark.parametrize("mode", ["cached", "online"])
def test_both_teacher_modes_train(mode, corpus, pseudo_labels_dir, tmp_path):
    out = tmp_path / mode
    cfg = tiny_config(corpus, out, teacher_mode=mode, pseudo_labels=pseudo_labels_dir, max_steps=3, val_every=3,
                      save_every=0)
    summary = run_inprocess(cfg)
    rows = metrics(out)
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert all(math.isfinite(r[k]) for r in rows for k in ("total", "labeled", "distill", "clips_per_s"))
    assert rows[0]["lr"] == 1e-3 and math.isfinite(rows[-1]["val_labeled"])
    # The student moved away from the shared start weights; the checkpoint loads as a model.
    start, end = start_weights(cfg), student_weights(out / "last.pt")
    assert max((start[k] - end[k]).abs().max().item() for k in start) > 1e-4
    model = load_clip("fitclip-tiny", str(out / "best_labeled.pt"))
    assert torch.equal(model.clip.state_dict()["visual.conv1.weight"], end["visual.conv1.weight"])
    assert json.loads((out / "config.json").read_text()) == config_from_dict(cfg).to_dict()
    info = json.loads((out / "run_info.json").read_text())
    assert info["torch"] == torch.__version__ and info["world_size"] == 1
    ckpt = load_state(out / "last.pt")  # weights_only=True
    assert ckpt["step"] == 3 and ckpt["config"]["teacher_mode"] == mode and set(ckpt["data"]) == {"labeled", "unlabeled"}
    assert set(ckpt["rng"][0]) == {"python", "numpy", "torch", "cuda"} and summary["best"]["step"] == 3


@pytest.mark.parametrize("mode", ["cached", "online"])
def test_lam0_is_plain_fine_tuning_without_teacher(mode, corpus, tmp_path, monkeypatch):
    """λ=0: no teacher built, no pseudo labels read (the folder does not even exist), no unlabeled clip."""
    import fitclip.pseudo_labels as PL

    def boom(*a, **k):
        raise AssertionError("teacher work with lam=0")
    monkeypatch.setattr(T, "build_teacher", boom)
    monkeypatch.setattr(PL.PseudoLabels, "__init__", boom)
    monkeypatch.setattr(T, "load_unlabeled", boom)
    out = tmp_path / "ft"
    cfg = tiny_config(corpus, out, lam=0.0, teacher_mode=mode, pseudo_labels=str(tmp_path / "missing"), max_steps=2,
                      val_every=0, save_every=0)
    run_inprocess(cfg)
    rows = metrics(out)
    assert [r["distill"] for r in rows] == [None, None] and rows[0]["total"] == rows[0]["labeled"]
    ckpt = load_state(out / "last.pt")
    assert set(ckpt["data"]) == {"labeled"} and not (out / "best_labeled.pt").exists()


def test_bf16_training_runs_and_keeps_fp32_weights(corpus, tmp_path):
    """precision="bf16": a few steps under autocast (slow on this CPU, as the README says, but it runs), finite
    losses and validation, and the optimizer's weights stay float32."""
    out = tmp_path / "bf16"
    run_inprocess(tiny_config(corpus, out, precision="bf16", max_steps=2, val_every=2, save_every=2))
    rows = metrics(out)
    assert [r["step"] for r in rows] == [1, 2]
    assert all(math.isfinite(r[k]) for r in rows for k in ("total", "labeled", "distill"))
    assert math.isfinite(rows[-1]["val_labeled"])
    weights = student_weights(out / "last.pt")
    assert {v.dtype for v in weights.values() if v.is_floating_point()} == {torch.float32}
    assert load_state(out / "last.pt")["config"]["precision"] == "bf16"


def test_prompt_list_text_side(corpus, tmp_path):
    """unlabeled_text = a prompts file: n videos x m prompts, shared by all ranks (online teacher)."""
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red thing\na green thing\n\na blue thing\n")
    out = tmp_path / "p"
    run_inprocess(tiny_config(corpus, out, unlabeled_text=str(prompts), max_steps=2, val_every=0))
    assert all(math.isfinite(r["distill"]) for r in metrics(out))


def test_nonfinite_loss_stops_and_keeps_last_good_checkpoint(corpus, tmp_path, monkeypatch, capsys):
    out = tmp_path / "nan"
    f = write_config(tmp_path / "run.json", tiny_config(corpus, out, max_steps=5, save_every=1, val_every=0))
    monkeypatch.setattr(T, "step_hook", fault("nan", 3))
    assert T.main(["--config", str(f)]) == 3
    err = capsys.readouterr().err
    assert "non-finite loss at step 3" in err and f"{out / 'last.pt'} (step 2), is kept" in err
    assert "for a lower lr, start a new out_dir (a resumed run cannot change lr)" in err  # as checked below
    ckpt = load_state(out / "last.pt")
    assert ckpt["step"] == 2 and all(torch.isfinite(v).all() for v in ckpt["student"].values() if v.is_floating_point())
    assert [r["step"] for r in metrics(out)] == [1, 2]
    # Continuing without the fault picks up from the good checkpoint; a changed recipe is refused.
    monkeypatch.setattr(T, "step_hook", None)
    assert T.main(["--config", str(f), "--resume", "--lr", "0.5"]) == 2
    assert "lr: 0.001 in the checkpoint vs 0.5 now" in capsys.readouterr().err
    assert T.main(["--config", str(f)]) == 2  # an existing run is never overwritten without --resume
    assert "already holds a run" in capsys.readouterr().err
    assert T.main(["--config", str(f), "--resume", "--max_steps", "3"]) == 0
    assert [r["step"] for r in metrics(out)] == [1, 2, 3]


def test_labeled_loss_decreases_when_captions_know_more_than_the_teacher(corpus, tmp_path):
    """Colour is in the captions, not in the random-init teacher: the labeled val loss must fall.

    12 steps at lr 3e-4, λ=1e-4 (paper), online teacher, 16 labeled videos. Measured on this corpus:
    val labeled loss 3.23 at the start (≈ chance, 2·ln 4 = 2.77 plus noise) → ~1.7 after 12 steps.
    """
    from fitclip.annotations import load_annotations, sample_labeled_subset
    from fitclip.datasets import VideoDataset
    from fitclip.transforms import transforms_for

    labeled16 = tmp_path / "labeled16.csv"
    sample_labeled_subset(load_annotations("webvid", corpus["data_root"], split="train"), n=16, seed=0,
                          out_csv=labeled16)
    out = tmp_path / "learn"
    cfg_dict = tiny_config(corpus, out, labeled_csv=str(labeled16), lam=1e-4, lr=3e-4, max_steps=12, val_every=12,
                           save_every=0)
    cfg = validate(config_from_dict(cfg_dict))
    model = T.load_start_weights(cfg)
    before = T.validate_labeled(model, VideoDataset(T.load_val(cfg), 4, "eval", transforms_for(model)[1]), cfg, T.Dist())
    T.train(cfg)
    rows = metrics(out)
    after = rows[-1]["val_labeled"]
    first, last = sum(r["labeled"] for r in rows[:4]) / 4, sum(r["labeled"] for r in rows[-4:]) / 4
    print(f"val labeled loss {before:.3f} -> {after:.3f}; train labeled (mean of 4) {first:.3f} -> {last:.3f}")
    assert after < 0.8 * before and last < first


def test_validation_decodes_once_and_the_cache_gives_the_same_loss(corpus, tmp_path):
    """The val clips are decoded on the first validation only; later ones read the in-memory cache."""
    from fitclip.datasets import VideoDataset
    from fitclip.transforms import transforms_for

    cfg = validate(config_from_dict(tiny_config(corpus, tmp_path / "run", lam=0.0, max_steps=1)))
    model = T.load_start_weights(cfg)
    val_ds = VideoDataset(T.load_val(cfg), 4, "eval", transforms_for(model)[1])
    plain = T.validate_labeled(model, val_ds, cfg, T.Dist())
    cache: list = []
    first = T.validate_labeled(model, val_ds, cfg, T.Dist(), cache)
    assert cache and first == plain
    val_ds.items = [dataclasses.replace(item, path=tmp_path / "gone.mp4") for item in val_ds.items]
    assert T.validate_labeled(model, val_ds, cfg, T.Dist(), cache) == plain  # nothing decoded again
    with pytest.raises(Exception):
        T.validate_labeled(model, val_ds, cfg, T.Dist())  # without the cache the moved videos are needed


# ----------------------------------------------------------------------------------------------------
# Subprocesses: SIGKILL + resume, torchrun
# ----------------------------------------------------------------------------------------------------


def _wait_for_step(path: Path, step: int, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (rc={proc.returncode}) before writing step {step}: "
                                 f"{proc.stderr.read()[-2000:] if proc.stderr else ''}")
        if path.exists():
            try:
                if torch.load(path, weights_only=True, map_location="cpu")["step"] >= step:
                    return
            except Exception:  # noqa: BLE001 - being replaced right now; os.replace makes this rare
                pass
        time.sleep(0.2)
    raise AssertionError(f"no checkpoint of step {step} at {path} after {timeout}s")


#: Issue 19's switches that carry state across a resume (FROSTER's projectors and their AdamW state, the EMA)
#: or draw per step (the interpolation ratio).
STATEFUL_SWITCHES = {"lam": 0.5, "distill": "feature_cosine", "interpolation_max": 0.6, "ema_decay": 0.5}


@pytest.mark.parametrize("switches", [{}, STATEFUL_SWITCHES], ids=["fitclip", "projectors+interpolation+ema"])
def test_sigkill_then_resume_ends_with_the_same_weights(corpus, tmp_path, switches):
    base = tiny_config(corpus, tmp_path / "unused", max_steps=5, save_every=1, val_every=2, **switches)
    f = write_config(tmp_path / "run.json", base)
    py = [sys.executable, "-m", "fitclip.train", "--config", str(f)]
    ref, cut = tmp_path / "ref", tmp_path / "cut"
    subprocess.run(py + ["--out_dir", str(ref)], cwd=REPO, env=subprocess_env(), check=True, timeout=120,
                   capture_output=True)
    # The same run with 1 loader worker; it hangs inside step 4 (after backward, before the optimizer
    # step) so the SIGKILL lands mid-step, after last.pt of step 3.
    proc = subprocess.Popen([sys.executable, FAULTY_TRAIN, *py[3:], "--out_dir", str(cut), "--num_workers", "1"],
                            cwd=REPO, env=subprocess_env(FITCLIP_TEST_FAULT="hang:4"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_step(cut / "last.pt", 3, proc, timeout=90)
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert load_state(cut / "last.pt")["step"] == 3
    subprocess.run(py + ["--out_dir", str(cut), "--resume"], cwd=REPO, env=subprocess_env(), check=True,
                   timeout=120, capture_output=True)
    a, b = student_weights(ref / "last.pt"), student_weights(cut / "last.pt")
    assert max((a[k] - b[k]).abs().max().item() for k in a) <= 1e-6
    for entry in ("train_weights", "projectors") if switches else ():  # θ under the EMA, FROSTER's projectors
        a, b = load_state(ref / "last.pt")[entry], load_state(cut / "last.pt")[entry]
        assert max((a[k] - b[k]).abs().max().item() for k in a) <= 1e-6, entry
    assert load_state(cut / "last.pt")["step"] == 5
    ra, rb = metrics(ref), metrics(cut)
    assert [r["step"] for r in rb] == [1, 2, 3, 4, 5]
    for x, y in zip(ra, rb):
        assert x["total"] == pytest.approx(y["total"], rel=1e-6)
        assert ("val_labeled" in x) == ("val_labeled" in y) and x.get("val_labeled", 0) == pytest.approx(
            y.get("val_labeled", 0), rel=1e-6)
    assert load_state(ref / "best_labeled.pt")["step"] == load_state(cut / "best_labeled.pt")["step"]


@pytest.mark.parametrize("switches", [{}, {"weight_penalty": 10.0, "text_lr_scale": 0.5}, STATEFUL_SWITCHES],
                         ids=["fitclip", "anchor+text-lr", "projectors+interpolation+ema"])
def test_torchrun_two_gloo_processes_match_one_process(corpus, tmp_path, switches):
    """2 ranks x (2+2) clips = one process x (4+4): same global batches, same losses step by step; with the
    anchor to the start weights and a smaller text learning rate, and with FROSTER's projectors, the interpolated
    step and the EMA (issue 19's switches).

    Step 1 agrees to float rounding; later steps to 1e-3 (a small lr keeps Adam, which turns rounding-level
    gradient differences into ±lr steps, from amplifying them)."""
    dist_out, single_out = tmp_path / "dist", tmp_path / "single"
    cfg = tiny_config(corpus, dist_out, batch_size_labeled=2, batch_size_unlabeled=2, max_steps=3, val_every=3,
                      save_every=0, lr=1e-5, **switches)
    f = write_config(tmp_path / "run.json", cfg)
    subprocess.run(torchrun_cmd("fitclip.train", "--config", str(f)), cwd=REPO, env=subprocess_env(), check=True,
                   timeout=150, capture_output=True)
    run_inprocess({**cfg, "out_dir": str(single_out), "batch_size_labeled": 4, "batch_size_unlabeled": 4})
    rd, rs = metrics(dist_out), metrics(single_out)
    assert [r["step"] for r in rd] == [1, 2, 3]
    for a, b in zip(rd, rs):
        for k in ("total", "labeled", "distill", *(k for k in ("weight_penalty", "interpolated") if k in b)):
            assert a[k] == pytest.approx(b[k], rel=1e-5 if a["step"] == 1 else 1e-3, abs=1e-12), (k, a, b)
    print([(a["total"], b["total"]) for a, b in zip(rd, rs)])
    assert rd[-1]["val_labeled"] == pytest.approx(rs[-1]["val_labeled"], rel=1e-3)
    ckpt = load_state(dist_out / "last.pt")
    assert ckpt["world_size"] == 2 and len(ckpt["rng"]) == 2
    loaded = load_clip("fitclip-tiny", str(dist_out / "last.pt")).clip.state_dict()  # the student, exactly
    assert loaded.keys() == ckpt["student"].keys()
    assert all(torch.equal(loaded[k], v) for k, v in ckpt["student"].items())


def test_hung_rank_makes_the_job_exit_nonzero_promptly(corpus, tmp_path):
    """Rank 1 hangs mid-step 2; rank 0's next collective times out (5 s) and the job exits non-zero."""
    f = write_config(tmp_path / "run.json", tiny_config(corpus, tmp_path / "out", max_steps=4, val_every=0,
                                                         save_every=0, collective_timeout_s=5))
    start = time.monotonic()
    cmd = [*torchrun_cmd("fitclip.train", "--config", str(f))]
    cmd[cmd.index("-m"):cmd.index("-m") + 2] = [FAULTY_TRAIN]  # the trainer with the fault hook set
    proc = subprocess.run(cmd, cwd=REPO, env=subprocess_env(FITCLIP_TEST_FAULT="hang:2:1"), timeout=120,
                          capture_output=True, text=True)
    elapsed = time.monotonic() - start
    assert proc.returncode != 0
    assert "Timed out" in proc.stderr or "timeout" in proc.stderr.lower()
    assert elapsed < 60, f"took {elapsed:.0f}s to give up on a hung rank"


def test_weight_penalty_by_hand():
    from fitclip.losses import weight_penalty_loss

    p = torch.tensor([1.0, 2.0], requires_grad=True)
    q = torch.tensor([[3.0]], requires_grad=True)
    loss = weight_penalty_loss([p, q], [torch.zeros(2), torch.tensor([[1.0]])])
    assert loss.item() == pytest.approx((1 + 4 + 4) / 2)
    loss.backward()
    assert torch.equal(p.grad, torch.tensor([1.0, 2.0])) and torch.equal(q.grad, torch.tensor([[2.0]]))  # θ − θ₀
    with pytest.raises(ValueError, match="2 weights but 1 start"):
        weight_penalty_loss([p, q], [torch.zeros(2)])


def test_text_lr_scale_groups_and_a_frozen_text_tower(corpus, tmp_path):
    """text_lr_scale in (0, 1): a second AdamW group at lr × scale holding every weight outside `visual`; 0: the
    text tower never moves while the image tower does; weight_penalty: 0 at step 1 (θ = θ₀), logged per step."""
    from fitclip.start_weights import load_start_weights

    cfg = validate(config_from_dict(tiny_config(corpus, tmp_path / "a", text_lr_scale=0.25)))
    student = load_start_weights(cfg)
    student.clip.logit_scale.requires_grad_(False)
    params, groups = T.optimizer_groups(student, cfg)
    assert len(groups) == 2 and "lr" not in groups[0] and groups[1]["lr"] == pytest.approx(cfg.lr * 0.25)
    text_names = {n for n, _ in student.clip.named_parameters() if not n.startswith("visual.") and n != "logit_scale"}
    assert {id(p) for p in groups[1]["params"]} == {id(p) for n, p in student.clip.named_parameters() if n in text_names}
    assert len(T.optimizer_groups(load_start_weights(cfg.replace(text_lr_scale=1.0)), cfg.replace(text_lr_scale=1.0))[1]) == 1

    out = tmp_path / "frozen"
    run_inprocess(tiny_config(corpus, out, text_lr_scale=0.0, weight_penalty=1.0, max_steps=2, val_every=0,
                              save_every=0, lam=0.0))
    start = load_start_weights(cfg).clip.state_dict()
    end = load_state(out / "last.pt")["student"]
    assert all(torch.equal(end[n], start[n]) for n in text_names)
    assert any(not torch.equal(end[n], start[n]) for n in start if n.startswith("visual."))
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert lines[0]["weight_penalty"] == 0.0 and lines[1]["weight_penalty"] > 0
    with pytest.raises(ConfigError, match="text_lr_scale=1.5 must be in \\[0, 1\\]"):
        validate(config_from_dict(tiny_config(corpus, tmp_path / "b", text_lr_scale=1.5)))
    with pytest.raises(ConfigError, match="weight_penalty=-1.0 must be >= 0"):
        validate(config_from_dict(tiny_config(corpus, tmp_path / "b", weight_penalty=-1.0)))
