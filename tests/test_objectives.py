"""Issue 19's objectives (fitclip.objectives) against hand computations on tiny tensors, and in the trainer:
FROSTER's feature distillation, Open-VCLIP's interpolated step, the EMA, their config checks and --help.

The kill-and-resume and 2-rank runs with these switches are parametrized cases of the trainer's own tests
(tests/test_train.py); this file checks the pieces and one in-process run of each."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from fitclip.files import load_state
from fitclip.config import ConfigError, config_from_dict, validate
from fitclip.objectives import (INTERPOLATION_WEIGHT, PROJECTOR_SCALE, FeatureProjectors, WeightEMA,
                                feature_cosine_loss, interpolate, interpolation_ratio, swapped)
from train_fixtures import REPO, make_webvid_corpus, subprocess_env, tiny_config

import fitclip.train as T


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_webvid_corpus(tmp_path_factory.mktemp("webvid"))


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True)


def test_feature_loss_with_zero_projectors_is_plain_cosine_distillation():
    torch.manual_seed(0)
    f, g, f0, g0 = (_unit(torch.randn(3, 4)) for _ in range(4))
    proj = FeatureProjectors(4)
    assert torch.count_nonzero(proj.video[2].weight) == 0 and torch.count_nonzero(proj.text[2].weight) == 0
    assert proj.video[0].bias is None and proj.text[2].bias is None  # no biases, as FROSTER's
    by_hand = sum((1 - (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1))).mean() for a, b in ((f, f0), (g, g0)))
    assert feature_cosine_loss(f, g, f0, g0, proj).item() == pytest.approx(by_hand.item(), rel=1e-6)
    # A non-zero projector: f̃ = f + 0.1·W2·gelu(W1·f), checked by hand.
    torch.nn.init.normal_(proj.video[2].weight)
    w1, w2 = proj.video[0].weight, proj.video[2].weight
    f_tilde = f + PROJECTOR_SCALE * F.gelu(f @ w1.t()) @ w2.t()
    by_hand = (1 - F.cosine_similarity(f_tilde, f0)).mean() + (1 - F.cosine_similarity(g, g0)).mean()
    assert feature_cosine_loss(f, g, f0, g0, proj).item() == pytest.approx(by_hand.item(), rel=1e-6)
    # The teacher side gets no gradient; the student side and the projectors do.
    fs, t0 = f.clone().requires_grad_(True), f0.clone().requires_grad_(True)
    feature_cosine_loss(fs, g, t0, g0, proj).backward()
    assert fs.grad is not None and t0.grad is None and proj.video[2].weight.grad is not None
    with pytest.raises(ValueError, match="the same items"):
        feature_cosine_loss(f, g, f0[:2], g0, proj)


def test_interpolated_step_gradient_is_the_sum_of_the_two_gradients():
    """What the trainer does (backward at θ, then backward of 0.5·L at θ_r inside `swapped`) leaves in .grad
    ∇L(θ) + 0.5·∇L(θ_r), each taken separately, and θ itself unchanged."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    params = list(model.parameters())
    start = [p.detach().clone() + 0.5 for p in params]  # θ₀ ≠ θ
    x, y = torch.randn(5, 3), torch.randn(5, 2)
    loss = lambda: ((model(x) - y) ** 2).mean()  # noqa: E731
    r = interpolation_ratio(seed=0, step=7, interpolation_max=0.6)
    theta = [p.detach().clone() for p in params]
    theta_r = [r * p0 + (1 - r) * p for p, p0 in zip(theta, start)]
    assert all(torch.allclose(a, b) for a, b in zip(interpolate(params, start, r), theta_r))

    def grads_at(values):
        m = torch.nn.Linear(3, 2)
        with torch.no_grad():
            for p, v in zip(m.parameters(), values):
                p.copy_(v)
        ((m(x) - y) ** 2).mean().backward()
        return [p.grad.clone() for p in m.parameters()]

    expected = [a + INTERPOLATION_WEIGHT * b for a, b in zip(grads_at(theta), grads_at(theta_r))]
    loss().backward()
    with swapped(params, interpolate(params, start, r)):
        assert all(torch.allclose(p, v) for p, v in zip(params, theta_r))
        (INTERPOLATION_WEIGHT * loss()).backward()
    assert all(torch.equal(p.detach(), t) for p, t in zip(params, theta))  # restored
    assert all(torch.allclose(p.grad, e, atol=1e-7) for p, e in zip(params, expected))


def test_interpolation_ratio_is_uniform_in_range_and_the_same_for_the_same_step():
    rs = [interpolation_ratio(3, s, 0.6) for s in range(2000)]
    assert all(0.0 <= r < 0.6 for r in rs)
    assert abs(sum(rs) / len(rs) - 0.3) < 0.02  # U(0, 0.6) has mean 0.3
    assert interpolation_ratio(3, 5, 0.6) == interpolation_ratio(3, 5, 0.6) != interpolation_ratio(4, 5, 0.6)


def test_ema_update_by_hand_and_its_state():
    p = torch.tensor([1.0, 2.0])
    ema = WeightEMA([p], decay=0.9)
    values = [torch.tensor([3.0, 0.0]), torch.tensor([5.0, 1.0])]
    for v in values:
        ema.update([v])
    # θ_ema = d²·θ₀ + d(1 − d)·θ₁ + (1 − d)·θ₂
    expected = 0.81 * p + 0.09 * values[0] + 0.1 * values[1]
    assert torch.allclose(ema.shadow[0], expected)
    other = WeightEMA([torch.zeros(2)], decay=0.9)
    other.load_state_dict(ema.state_dict())
    assert torch.equal(other.shadow[0], ema.shadow[0])
    with pytest.raises(ValueError, match="does not match"):
        WeightEMA([torch.zeros(3)], 0.9).load_state_dict(ema.state_dict())
    with pytest.raises(ValueError, match="must be in \\(0, 1\\)"):
        WeightEMA([p], 1.0)


@pytest.mark.parametrize("bad, message", [
    ({"distill": "cosine"}, "distill='cosine': use one of similarity_kl, feature_cosine"),
    ({"distill": "feature_cosine", "lam": 0.0}, "with lam=0 trains no distillation"),
    ({"distill": "feature_cosine", "lam": 0.5, "distill_scale": "none"}, "would change nothing"),
    ({"interpolation_max": 1.0}, "interpolation_max=1.0 must be in \\[0, 1\\)"),
    ({"ema_decay": -0.1}, "ema_decay=-0.1 must be in \\[0, 1\\)"),
])
def test_bad_switches_fail_before_any_work(corpus, tmp_path, bad, message):
    with pytest.raises(ConfigError, match=message):
        validate(config_from_dict(tiny_config(corpus, tmp_path / "x", **bad)))
    assert not (tmp_path / "x").exists()


def test_a_run_with_every_switch_logs_and_saves_what_it_should(corpus, tmp_path):
    """FROSTER's loss is two cosine distances (in [0, 4]); the loss at θ_r is logged every step; the checkpoint's
    `student` is the EMA, `train_weights` the trained θ, `projectors` (trained: their zero layer moved) are
    kept apart, and the evaluated model loads the EMA without them."""
    from fitclip.models import load_clip

    out = tmp_path / "run"
    cfg = tiny_config(corpus, out, lam=0.5, distill="feature_cosine", interpolation_max=0.6, ema_decay=0.5,
                      max_steps=3, val_every=3, save_every=0)
    T.train(validate(config_from_dict(cfg)))
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all("interpolated" in r and r["interpolated"] > 0 for r in lines)
    assert 0 < lines[0]["distill"] <= 4  # (1 − cos) + (1 − cos) of unit vectors
    ckpt = load_state(out / "last.pt")
    assert set(ckpt["projectors"]) == {"video.0.weight", "video.2.weight", "text.0.weight", "text.2.weight"}
    assert any(torch.count_nonzero(v) for k, v in ckpt["projectors"].items() if k.endswith("2.weight"))
    student, trained = ckpt["student"], ckpt["train_weights"]
    assert student.keys() == trained.keys()
    moved = [k for k in student if student[k].is_floating_point() and not torch.equal(student[k], trained[k])]
    assert moved  # the EMA lags the trained weights
    model = load_clip("fitclip-tiny", str(out / "last.pt")).clip.state_dict()
    assert all(torch.equal(model[k], student[k]) for k in student)
    assert ckpt["ema"]["decay"] == 0.5
    # The protocol card of an evaluation records what the student was trained to do.
    from fitclip.evaluate import training_objective
    from fitclip.files import save_state

    assert training_objective(out / "last.pt") == {"lam": 0.5, "distill": "feature_cosine", "weight_penalty": 0.0,
                                                   "interpolation_max": 0.6, "ema_decay": 0.5, "text_lr_scale": 1.0}
    save_state(student, tmp_path / "weights_only.pt")  # a plain state dict (no config): nothing to record
    assert training_objective(tmp_path / "weights_only.pt") == {}
    (tmp_path / "not_torch.bin").write_bytes(b"not a checkpoint")
    assert training_objective(tmp_path / "not_torch.bin") == {}


def test_train_help_documents_the_switches():
    out = subprocess.run([sys.executable, "-m", "fitclip.train", "--help"], cwd=REPO, env=subprocess_env(),
                         capture_output=True, text=True, timeout=60, check=True).stdout
    for key, words in (("--distill", "FROSTER"), ("--weight_penalty", "L2-SP"), ("--interpolation_max", "Open-VCLIP"),
                       ("--ema_decay", "moving average"), ("--text_lr_scale", "text tower")):
        block = out.split(f"  {key} VALUE", 1)[1][:400]
        assert words in block, (key, block)


def test_keep_every_keeps_checkpoints_that_average_into_a_model(corpus, tmp_path):
    """keep_every writes step<N>.pt beside last.pt; `python -m fitclip average` of them is their uniform mean."""
    from fitclip.files import load_state

    out = tmp_path / "run"
    T.train(validate(config_from_dict(tiny_config(corpus, out, lam=0.0, max_steps=4, val_every=0, save_every=0,
                                                  keep_every=2))))
    assert sorted(p.name for p in out.glob("step*.pt")) == ["step2.pt", "step4.pt"]
    assert load_state(out / "step4.pt")["step"] == 4
    avg = tmp_path / "avg.pt"
    subprocess.run([sys.executable, "-m", "fitclip", "average", str(out / "step2.pt"), str(out / "step4.pt"),
                    "--out", str(avg)], cwd=REPO, env=subprocess_env(), check=True, timeout=120, capture_output=True)
    a, b, m = (load_state(p) for p in (out / "step2.pt", out / "step4.pt", avg))
    m = m["state_dict"]  # a fitclip model file
    for k, v in a["student"].items():
        if v.is_floating_point():
            assert torch.allclose(m[k], (v + b["student"][k]) / 2, atol=1e-7), k


def test_a_run_folder_of_another_recipe_is_moved_aside_not_resumed(tmp_path):
    """03/09–11 resume their runs; a folder whose recorded config differs in a key a resume may not change (the
    toy preset's lr after an update) is named, and train_students moves it aside instead of failing."""
    from fitclip.config import config_from_dict as build
    from fitclip.files import write_json
    from fitclip.study.recipes import stale_run

    run = tmp_path / "wiseft"
    old = build({"preset": "toy", "lr": 3e-5, "max_steps": 100}).to_dict()
    write_json(run / "config.json", old)
    new = build({"preset": "toy"})
    assert stale_run(run, new) == ["lr: 3e-05 → 0.0003"]  # max_steps may change on resume
    assert stale_run(run, build({**old, "max_steps": 300})) == []
    assert stale_run(tmp_path / "none", new) == []
