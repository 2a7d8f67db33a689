"""Eq. 1–5: hand-computed values, shapes, gradients, and the multi-process equivalence."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from fitclip.losses import distillation_loss, fitclip_loss, labeled_loss, similarity


def _unit(x):
    return F.normalize(x, dim=-1)


def test_labeled_loss_hand_computed_2x2():
    # V = [e1, e2], T = [e1, (e1+e2)/√2]: S/τ computed by hand.
    v = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    t = torch.tensor([[1.0, 0.0], [1 / math.sqrt(2), 1 / math.sqrt(2)]])
    tau = 0.5
    s = [[1 / tau, (1 / math.sqrt(2)) / tau], [0.0, (1 / math.sqrt(2)) / tau]]

    def ce(row, target):
        return -row[target] + math.log(sum(math.exp(x) for x in row))

    rows = (ce(s[0], 0) + ce(s[1], 1)) / 2
    cols = (ce([s[0][0], s[1][0]], 0) + ce([s[0][1], s[1][1]], 1)) / 2
    assert labeled_loss(v, t, tau).item() == pytest.approx(rows + cols, rel=1e-6)


def test_labeled_loss_is_sum_of_both_directions_not_mean():
    """V = T = I (n orthonormal pairs): every row and column holds 1/τ on the diagonal and 0 elsewhere, so each
    direction's cross-entropy is log(e^{1/τ} + n − 1) − 1/τ and the loss, their SUM, is twice that."""
    n, tau = 6, 0.5
    one_direction = math.log(math.exp(1 / tau) + n - 1) - 1 / tau
    assert labeled_loss(torch.eye(n), torch.eye(n), tau).item() == pytest.approx(2 * one_direction, rel=1e-6)
    # Better-separated pairs (a smaller τ) give a smaller loss, towards 0.
    assert labeled_loss(torch.eye(n), torch.eye(n), 0.05).item() < 1e-6 < labeled_loss(torch.eye(n), torch.eye(n), 1.0).item()


def test_labeled_loss_rejects_unpaired_and_bad_temperature():
    with pytest.raises(ValueError, match="paired"):
        labeled_loss(torch.randn(3, 4), torch.randn(4, 4), 0.05)
    with pytest.raises(ValueError, match="temperature"):
        labeled_loss(torch.randn(3, 4), torch.randn(3, 4), 0.0)


def _kl_explicit(p_logits, q_logits):
    p, q = p_logits.softmax(-1), q_logits.softmax(-1)
    return (p * (p.log() - q.log())).sum(-1).mean()


@pytest.mark.parametrize("n,m", [(4, 4), (5, 3), (2, 7)])
def test_distillation_matches_explicit_kl_rectangular(n, m):
    sv, st = _unit(torch.randn(n, 16)), _unit(torch.randn(m, 16))
    tv, tt = _unit(torch.randn(n, 16)), _unit(torch.randn(m, 16))
    tau = 0.05
    s_s, s_t = sv @ st.t() / tau, tv @ tt.t() / tau
    k = _kl_explicit(s_t, s_s) + _kl_explicit(s_t.t(), s_s.t())
    got = distillation_loss(sv, st, tv, tt, tau)
    assert got.item() == pytest.approx(k.item() / tau ** 2, rel=1e-5)
    assert distillation_loss(sv, st, tv, tt, tau, scale="none").item() == pytest.approx(k.item(), rel=1e-5)


def test_distillation_zero_when_student_equals_teacher_and_teacher_gets_no_grad():
    v, t = _unit(torch.randn(4, 8)), _unit(torch.randn(5, 8))
    assert distillation_loss(v, t, v, t, 0.05).abs().item() < 1e-5
    sv = _unit(torch.randn(4, 8)).requires_grad_()
    tv = _unit(torch.randn(4, 8)).requires_grad_()
    distillation_loss(sv, t, tv, t, 0.05).backward()
    assert sv.grad is not None and sv.grad.abs().sum() > 0
    assert tv.grad is None


def test_distillation_rejects_mismatch_and_unknown_scale():
    a, b = torch.randn(3, 4), torch.randn(2, 4)
    with pytest.raises(ValueError, match="same items"):
        distillation_loss(a, b, torch.randn(4, 4), b, 0.05)
    with pytest.raises(ValueError, match="scale"):
        distillation_loss(a, b, a, b, 0.05, scale="tau")


def test_fitclip_loss_weights_and_lambda_range():
    lab, dis = torch.tensor(2.0), torch.tensor(10.0)
    out = fitclip_loss(lab, dis, 0.25)
    assert out["total"].item() == pytest.approx(0.25 * 10 + 0.75 * 2)
    assert out["labeled"] is lab and out["distill"] is dis
    assert fitclip_loss(lab, dis, 0.0)["total"].item() == 2.0
    assert fitclip_loss(lab, dis, 1.0)["total"].item() == 10.0
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r"lam"):
            fitclip_loss(lab, dis, bad)


def test_similarity_hand_computed():
    v = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    t = torch.tensor([[1.0, 0.0], [0.0, -1.0]])
    assert torch.allclose(similarity(v, t, 0.5), torch.tensor([[2.0, 0.0], [0.0, -2.0], [1.2, -1.6]]))
    assert similarity(torch.randn(3, 4), torch.randn(5, 4), 0.1).shape == (3, 5)


WORKER = Path(__file__).with_name("dist_loss_worker.py")


def test_two_process_gloo_matches_single_process(tmp_path):
    """Under torchrun, all-gathered losses and DDP gradients equal one process on the whole batch."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "FITCLIP_OUT": str(tmp_path)}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                    str(WORKER)], check=True, timeout=180, env=env, cwd=tmp_path)
    # The same computation in this process, on the concatenated batch.
    sys.path.insert(0, str(WORKER.parent))
    from dist_loss_worker import compute  # noqa: E402
    ref = compute(rank=0, world=1)
    for r in range(2):
        got = json.loads((tmp_path / f"rank{r}.json").read_text())
        for key in ("labeled", "distill", "distill_shared_prompts"):
            assert got[key] == pytest.approx(ref[key], rel=1e-5), key
        assert torch.allclose(torch.tensor(got["grad"]), torch.tensor(ref["grad"]), rtol=1e-5, atol=1e-4)
