"""fitclip.fusion and `python -m fitclip fuse`."""

import subprocess
import sys

import pytest
import torch

from fitclip.files import load_state, save_state
from fitclip.fusion import fuse
from fitclip.models import load_clip, model_file_state


def _pair():
    t = {"w": torch.tensor([0.0, 1.0, 2.0]), "h": torch.tensor([1.0, 3.0], dtype=torch.float16),
         "n": torch.tensor([7, 8])}
    s = {"w": torch.tensor([10.0, 11.0, 12.0]), "h": torch.tensor([2.0, 1.0], dtype=torch.float16),
         "n": torch.tensor([1, 2])}
    return t, s


def test_hand_computed_mix_and_dtypes():
    t, s = _pair()
    f = fuse(t, s, 0.4)
    assert torch.allclose(f["w"], torch.tensor([4.0, 5.0, 6.0]))
    assert f["h"].dtype == torch.float16 and torch.equal(f["h"], torch.tensor([1.4, 2.2]).half())
    assert torch.equal(f["n"], t["n"])  # integer buffers come from the teacher


def test_alpha_endpoints_are_exact():
    t = {"a": torch.randn(50), "b": torch.randn(3, 3).half()}
    s = {"a": torch.randn(50), "b": torch.randn(3, 3).half()}
    for k in t:
        assert torch.equal(fuse(t, s, 0.0)[k], t[k]) and torch.equal(fuse(t, s, 1.0)[k], s[k])
    f = fuse(t, s, 0.0)
    f["a"].add_(1)  # the output owns its tensors
    assert not torch.equal(f["a"], t["a"])


def test_errors_name_the_offending_key():
    t, s = _pair()
    with pytest.raises(ValueError, match="alpha"):
        fuse(t, s, 1.1)
    with pytest.raises(ValueError, match="alpha"):
        fuse(t, s, -0.01)
    s2 = dict(s)
    s2.pop("h")
    with pytest.raises(ValueError, match="'h' is missing from the student"):
        fuse(t, s2, 0.5)
    with pytest.raises(ValueError, match="'z' is missing from the teacher"):
        fuse(t, {**s, "z": torch.zeros(1)}, 0.5)
    with pytest.raises(ValueError, match="shape mismatch at 'w'"):
        fuse(t, {**s, "w": torch.zeros(4)}, 0.5)


def test_non_finite_weights_are_never_fused_nor_loaded(tmp_path):
    """A NaN student would give NaN models at every alpha > 0: fuse, FusionGrid and load_clip refuse it,
    naming the tensor."""
    from fitclip.fusion import FusionGrid

    teacher = load_clip("fitclip-tiny", None)
    state = {k: v.clone() for k, v in teacher.clip.state_dict().items()}
    state["text_projection"][0, 0] = float("inf")
    with pytest.raises(ValueError, match=r"alpha=0.5 hold NaN or infinity in 1 tensor\(s\) \(first: 'text_projection', "
                                         r"from the student\)"):
        fuse(teacher.clip.state_dict(), state, 0.5)
    assert torch.equal(fuse(teacher.clip.state_dict(), state, 0.0)["text_projection"],
                       teacher.clip.state_dict()["text_projection"])  # alpha 0 is the teacher, finite
    with pytest.raises(ValueError, match="student's weights hold NaN or infinity.*'text_projection'"):
        FusionGrid(teacher, {"s": state}, [0.0, 1.0])
    path = save_state(state, tmp_path / "inf.pt")
    with pytest.raises(ValueError, match=r"inf.pt' holds NaN or infinite weights in 1 tensor\(s\) \(first: "
                                         r"'text_projection'\)"):
        load_clip("fitclip-tiny", path)


def test_fusion_grid_per_student_alphas_and_one_teacher_entry(tmp_path):
    """FusionGrid with `{student: alphas}` and `teacher_name`: the teacher first, once, then each student's own α
    (no α=0 of its own); every model's weights are `fuse`'s, bit for bit, in one working copy."""
    from fitclip.fusion import FusionGrid, grid_model

    torch.manual_seed(0)
    teacher = load_clip("fitclip-tiny", None)
    students = {}
    for seed, name in ((1, "a"), (2, "b")):
        torch.manual_seed(seed)
        students[name] = load_clip("fitclip-tiny", None).clip.state_dict()
    path = save_state(model_file_state(load_clip("fitclip-tiny", None)), tmp_path / "c.pt")
    grid = FusionGrid(teacher, {**students, "c": path}, {"a": [0.0, 0.3, 1.0], "b": [0.5], "c": [0.0]},
                      weights={"teacher": "openai"}, teacher_name="teacher")
    assert list(grid) == ["teacher", "a-alpha0.3", "a-alpha1", "b-alpha0.5"]
    assert grid.alphas == {"a": [0.0, 0.3, 1.0], "b": [0.5], "c": [0.0]}
    entry = grid["teacher"]
    assert entry.model is teacher
    assert (entry.alpha, entry.student, dict(entry.weights)) == (0.0, None, {"teacher": "openai"})
    assert dict(grid["a-alpha0.3"].weights) == {"teacher": "openai"} and grid["b-alpha0.5"].student == "b"
    assert grid.identity("teacher") == "teacher" and grid.identity("b-alpha0.5") == ("b", 0.5)
    assert len({id(e.model) for e in grid.values()}) == 2  # the teacher and one working copy
    teacher_state = teacher.clip.state_dict()
    for name in ["b-alpha0.5", "a-alpha0.3", "teacher", "a-alpha1"]:
        e = grid[name]
        expected = teacher_state if e.alpha == 0.0 else fuse(teacher_state, students[e.student], e.alpha)
        got = grid.select(name).clip.state_dict()
        assert all(torch.equal(got[k], expected[k]) for k in expected), name
    # Without the new arguments: the names and order of before (the study's results use them).
    plain = FusionGrid(teacher, students, [0.0, 0.5])
    assert list(plain) == [grid_model(s, a) for s in students for a in (0.0, 0.5)]
    assert plain["a-alpha0"].model is teacher and plain.alphas == {"a": [0.0, 0.5], "b": [0.0, 0.5]}

    with pytest.raises(ValueError, match="no alphas for 'b'"):
        FusionGrid(teacher, students, {"a": [0.5]})
    with pytest.raises(ValueError, match="alphas for 'z', which is no student"):
        FusionGrid(teacher, students, {"a": [0.5], "b": [0.5], "z": [0.5]})
    with pytest.raises(ValueError, match="repeated"):
        FusionGrid(teacher, students, {"a": [0.5, 0.5], "b": [0.5]})
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        FusionGrid(teacher, students, {"a": [0.5], "b": [2.0]})
    with pytest.raises(ValueError, match="teacher_name 'a-alpha0.5' is also a grid model's name"):
        FusionGrid(teacher, students, [0.5], teacher_name="a-alpha0.5")


def test_cli_fuse_roundtrip(tmp_path):
    torch.manual_seed(0)
    teacher = load_clip("fitclip-tiny", None)
    torch.manual_seed(1)
    student = load_clip("fitclip-tiny", None)
    tp = save_state(model_file_state(teacher), tmp_path / "teacher.pt")
    sp = save_state({"student": student.clip.state_dict(), "config": {"arch": "fitclip-tiny"}}, tmp_path / "student.pt")
    out = tmp_path / "fused.pt"
    subprocess.run([sys.executable, "-m", "fitclip", "fuse", "--teacher", str(tp), "--student", str(sp),
                    "--alpha", "0.4", "--out", str(out)], check=True, timeout=120)
    fused = load_clip("fitclip-tiny", out)
    k = "visual.conv1.weight"
    expected = 0.6 * teacher.clip.state_dict()[k] + 0.4 * student.clip.state_dict()[k]
    assert torch.allclose(fused.clip.state_dict()[k], expected, atol=1e-6)
    assert load_state(out)["alpha"] == 0.4
    bad = subprocess.run([sys.executable, "-m", "fitclip", "fuse", "--teacher", str(tp), "--student", str(sp),
                          "--alpha", "2", "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "--alpha must be in [0, 1]" in bad.stderr


def _run_fuse(capsys, *args) -> tuple[int, str]:
    from fitclip.__main__ import main
    code = main(["fuse", *map(str, args)])
    return code, capsys.readouterr().err


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def test_cli_fuse_mismatched_bare_state_dicts_is_one_line(tmp_path, capsys):
    """Bare state dicts carry no arch: different architectures or shapes fail with one line, exit 2."""
    tiny = load_clip("fitclip-tiny", None).clip.state_dict()
    toy = load_clip("fitclip-toy", None).clip.state_dict()
    tp = save_state(tiny, tmp_path / "tiny.pt")
    out = tmp_path / "fused.pt"
    code, err = _run_fuse(capsys, "--teacher", tp, "--student", save_state(toy, tmp_path / "toy.pt"),
                          "--alpha", 0.5, "--out", out)
    line = _one_error_line(err)
    assert code == 2 and "cannot fuse" in line and "not one architecture" in line and not out.exists()
    reshaped = {**tiny, "visual.conv1.weight": tiny["visual.conv1.weight"].flatten(1)}
    code, err = _run_fuse(capsys, "--teacher", tp, "--student", save_state(reshaped, tmp_path / "reshaped.pt"),
                          "--alpha", 0.5, "--out", out)
    line = _one_error_line(err)
    assert code == 2 and "shape mismatch at 'visual.conv1.weight'" in line and not out.exists()


def test_cli_fuse_bad_files_and_unwritable_out_are_one_line(tmp_path, capsys, monkeypatch):
    tp = save_state(load_clip("fitclip-tiny", None).clip.state_dict(), tmp_path / "teacher.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(tp.read_bytes()[:1000])
    code, err = _run_fuse(capsys, "--teacher", tp, "--student", truncated, "--alpha", 0.5, "--out",
                          tmp_path / "f.pt")
    assert code == 2 and "--student" in _one_error_line(err) and "is damaged" in err
    code, err = _run_fuse(capsys, "--teacher", tmp_path / "nope.pt", "--student", tp, "--alpha", 0.5, "--out",
                          tmp_path / "f.pt")
    assert code == 2 and "does not exist" in _one_error_line(err)
    code, err = _run_fuse(capsys, "--teacher", tp, "--student", tp, "--alpha", 1.5, "--out", tmp_path / "f.pt")
    assert code == 2 and "--alpha must be in [0, 1]" in _one_error_line(err)

    def read_only(*args, **kwargs):  # a read-only folder (injected: the tests run as root)
        import errno
        import os
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))
    monkeypatch.setattr("torch.save", read_only)
    code, err = _run_fuse(capsys, "--teacher", tp, "--student", tp, "--alpha", 0.5, "--out", tmp_path / "f.pt")
    line = _one_error_line(err)
    assert code == 1 and "is on a read-only file system" in line and "nothing was replaced" in line


# ----------------------------------------------------------------------------------------------------
# Checkpoint averaging (issue 19 §7: `python -m fitclip average`)
# ----------------------------------------------------------------------------------------------------


def test_average_states_by_hand():
    from fitclip.fusion import average_states

    a = {"w": torch.tensor([1.0, 2.0]), "h": torch.tensor([1.0], dtype=torch.float16), "n": torch.tensor([3])}
    b = {"w": torch.tensor([3.0, 6.0]), "h": torch.tensor([2.0], dtype=torch.float16), "n": torch.tensor([7])}
    c = {"w": torch.tensor([5.0, 1.0]), "h": torch.tensor([6.0], dtype=torch.float16), "n": torch.tensor([9])}
    out = average_states([a, b, c])
    assert torch.equal(out["w"], torch.tensor([3.0, 3.0]))
    assert out["h"].dtype == torch.float16 and torch.equal(out["h"], torch.tensor([3.0], dtype=torch.float16))
    assert torch.equal(out["n"], torch.tensor([3]))  # integer buffers: the first checkpoint's
    assert torch.equal(average_states([a])["w"], a["w"])  # one state is its own average
    assert torch.equal(a["w"], torch.tensor([1.0, 2.0]))  # inputs untouched
    with pytest.raises(ValueError, match="shape mismatch at 'w': checkpoint 1 \\(2,\\) vs checkpoint 2 \\(3,\\)"):
        average_states([a, {**b, "w": torch.zeros(3)}])
    with pytest.raises(ValueError, match="no checkpoints"):
        average_states([])
    with pytest.raises(ValueError, match="NaN or infinity .*'w'"):
        average_states([a, {**b, "w": torch.tensor([float("nan"), 1.0])}])


def test_cli_average_writes_a_loadable_model_and_refuses_bad_input(tmp_path, capsys):
    from fitclip.__main__ import main

    models = []
    for seed in range(3):
        torch.manual_seed(seed)
        models.append(load_clip("fitclip-tiny", None))
    paths = [save_state({"student": m.clip.state_dict(), "config": {"arch": "fitclip-tiny"}}, tmp_path / f"step{i}.pt")
             for i, m in enumerate(models)]
    out = tmp_path / "avg.pt"
    assert main(["average", *map(str, paths), "--out", str(out)]) == 0
    averaged = load_clip("fitclip-tiny", out)
    k = "visual.conv1.weight"
    expected = sum(m.clip.state_dict()[k] for m in models) / 3
    assert torch.allclose(averaged.clip.state_dict()[k], expected, atol=1e-6)
    assert load_state(out)["averaged"] == [str(p) for p in paths]
    capsys.readouterr()
    for args, message in (([paths[0]], "two or more checkpoints"), ([paths[0], paths[0]], "is given twice"),
                          ([paths[0], tmp_path / "missing.pt"], "missing.pt"),
                          ([paths[0], save_state(load_clip("fitclip-toy", None).clip.state_dict(), tmp_path / "toy.pt")],
                           "checkpoint 1 and checkpoint 2 state dicts have different keys")):
        out2 = tmp_path / "never.pt"
        code = main(["average", *map(str, args), "--out", str(out2)])
        line = _one_error_line(capsys.readouterr().err)
        assert code == 2 and message in line and not out2.exists(), line
    code = main(["average", *map(str, paths[:2]), "--out", str(tmp_path)])  # a folder as --out: before any read
    assert code == 2 and "--out" in _one_error_line(capsys.readouterr().err)
