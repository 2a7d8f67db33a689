"""Evaluation at scale (issue 12) on tiny things we make: the α grid in bounded memory (`FusionGrid`) gives
each fused model's own metrics, `torchrun` shards the decode pass and writes each row once, a video decord
rejects is decoded by PyAV and counted, bf16 autocast runs and is recorded."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
import torch
from helpers import fused_model, make_msrvtt, make_ucf101, render_video
from train_fixtures import REPO, subprocess_env

from fitclip.files import save_state
from fitclip.evaluate import evaluate, load_embeddings, embeddings_path, protocol_path
from fitclip.fusion import FusionGrid, grid_model
from fitclip.models import EvalModel, load_clip, model_file_state


@pytest.fixture(scope="module")
def teacher():
    torch.manual_seed(0)
    return load_clip("fitclip-tiny", None)


@pytest.fixture(scope="module")
def students(tmp_path_factory):
    """Two students with their own weights, as checkpoint files (what 03 writes)."""
    folder = tmp_path_factory.mktemp("students")
    paths = {}
    for seed, name in ((1, "fitclip"), (2, "wiseft")):
        torch.manual_seed(seed)
        paths[name] = save_state(model_file_state(load_clip("fitclip-tiny", None)), folder / f"{name}.pt")
    return paths


def _values(rows):
    return {(r["model"], r["metric"]): r["value"] for r in rows}


def test_grid_metrics_equal_each_fused_model_alone(tmp_path, toy_benchmarks, teacher, students):
    """The grid fuses ONE working copy in place per batch; every model's metrics and embeddings are those of
    that fused model evaluated on its own (`fuse`d into a full copy of its own)."""
    layout = make_ucf101(tmp_path, toy_benchmarks, n_classes=3, per_class=2)
    alphas = [0.0, 0.3, 1.0]
    grid = FusionGrid(teacher, students, alphas)
    assert list(grid) == [grid_model(s, a) for s in students for a in alphas]
    assert len({id(grid[name].model) for name in grid}) == 2  # the teacher and one working copy, for 6 models
    rows = evaluate(grid, "ucf101", layout.data_root, progress=False, num_workers=0, batch_size=4,
                    embeddings_dir=tmp_path / "grid")
    alone = {}
    for student, path in students.items():
        for alpha in alphas:
            name = grid_model(student, alpha)
            entry = EvalModel(fused_model(teacher, path, alpha), alpha, student=student)
            alone.update(_values(evaluate({name: entry}, "ucf101", layout.data_root, progress=False, num_workers=0,
                                          batch_size=4, embeddings_dir=tmp_path / "alone")))
            a = load_embeddings(embeddings_path(tmp_path / "grid", "ucf101", "test", name))
            b = load_embeddings(embeddings_path(tmp_path / "alone", "ucf101", "test", name))
            assert torch.equal(a["video"], b["video"]) and torch.equal(a["class_embeddings"], b["class_embeddings"])
    assert _values(rows) == alone
    # the teacher is untouched by the in-place fusion
    assert torch.equal(grid.select("fitclip-alpha0").clip.visual.conv1.weight, teacher.clip.visual.conv1.weight)


def test_grid_refuses_bad_input(teacher, students):
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        FusionGrid(teacher, students, [0.5, 1.5])
    with pytest.raises(ValueError, match="students is empty"):
        FusionGrid(teacher, {}, [0.5])
    torch.manual_seed(0)
    other = load_clip("fitclip-toy", None)
    with pytest.raises(ValueError, match="different keys|shape mismatch"):
        FusionGrid(teacher, {"x": other.clip.state_dict()}, [0.5])


def _cli(data_root, out, *extra):
    return ["-m", "fitclip", "evaluate", "--dataset", "msrvtt", "--data-root", str(data_root), "--arch", "fitclip-tiny",
            "--pretrained", "none", "--num-workers", "0", "--batch-size", "2", "--no-progress", "--out", str(out), *extra]


def test_torchrun_sharded_evaluation_writes_one_process_rows_once(tmp_path, toy_benchmarks, students):
    """`torchrun --nproc_per_node=2 -m fitclip evaluate` (gloo): each rank encodes half the videos, rank 0
    scores and writes; the rows equal one process's, once, under one run id, and the protocol says world_size 2."""
    layout = make_msrvtt(tmp_path, toy_benchmarks, n=7)  # odd: the shards differ in size
    grid = ["--student", str(students["fitclip"]), "--alpha", "0", "0.5", "1"]
    env = subprocess_env()
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    subprocess.run([sys.executable, *_cli(layout.data_root, one, *grid)], cwd=REPO, env=env, check=True,
                   capture_output=True, text=True, timeout=300)
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           *_cli(layout.data_root, two, *grid)[1:]], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    a, b = pd.read_json(one, lines=True), pd.read_json(two, lines=True)
    assert len(b) == len(a) == 3 * 6 and b["run_id"].nunique() == 1
    key = ["model", "metric"]
    merged = a.merge(b, on=key, suffixes=("_one", "_two"))
    assert len(merged) == len(a)
    assert (merged["value_one"] == merged["value_two"]).all(), merged
    assert (b["n_evaluated"] == 7).all()
    protocols = [json.loads(line) for line in protocol_path(two).read_text().splitlines()]
    assert len(protocols) == 3 and {p["world_size"] for p in protocols} == {2}
    assert {json.loads(line)["world_size"] for line in protocol_path(one).read_text().splitlines()} == {1}
    assert done.stdout.count("appended 18 rows") == 1  # rank 0 alone reports


def test_decord_rejected_video_falls_back_to_pyav_and_is_counted(tmp_path, toy_benchmarks, teacher):
    """decord 0.6 cannot decode this 48x32 H.264 file; PyAV can. The item is evaluated (same frames as a
    PyAV-only run), and the protocol record counts and lists it. A file neither backend reads stays a failure."""
    from fitclip.video import VideoDecodeError, read_frames

    layout = make_msrvtt(tmp_path, toy_benchmarks, n=4)
    odd = list(layout.videos.values())[1]
    render_video(odd, num_frames=16, height=32, width=48, seed=7)
    with pytest.raises(VideoDecodeError):
        read_frames(odd, [0, 5], backend="decord")  # the premise: decord rejects it
    rows = evaluate(teacher, "msrvtt", layout.data_root, progress=False, num_workers=0, out=tmp_path / "r.jsonl",
                    embeddings_dir=tmp_path / "decord")
    assert {r["n_evaluated"] for r in rows} == {4}
    record = json.loads(protocol_path(tmp_path / "r.jsonl").read_text().splitlines()[0])
    fallback = record["decode_fallback"]
    assert fallback["count"] == 1 and [i["key"] for i in fallback["items"]] == [layout.keys[1]]
    assert fallback["items"][0]["decoded_by"] == "pyav" and "decord" in fallback["items"][0]["reason"]
    evaluate(teacher, "msrvtt", layout.data_root, progress=False, num_workers=0, backend="pyav",
             embeddings_dir=tmp_path / "pyav")
    name = "fitclip-tiny"
    assert torch.equal(load_embeddings(embeddings_path(tmp_path / "decord", "msrvtt", "test", name))["video"],
                       load_embeddings(embeddings_path(tmp_path / "pyav", "msrvtt", "test", name))["video"])


def test_bf16_precision_runs_and_is_recorded(tmp_path, toy_benchmarks, teacher):
    layout = make_msrvtt(tmp_path, toy_benchmarks, n=4)
    out = tmp_path / "r.jsonl"
    fp32 = _values(evaluate(teacher, "msrvtt", layout.data_root, progress=False, num_workers=0))
    bf16 = _values(evaluate(teacher, "msrvtt", layout.data_root, progress=False, num_workers=0, precision="bf16",
                            out=out))
    assert fp32.keys() == bf16.keys()
    assert json.loads(protocol_path(out).read_text().splitlines()[0])["precision"] == "bf16"
    with pytest.raises(ValueError, match="precision must be one of"):
        evaluate(teacher, "msrvtt", layout.data_root, progress=False, num_workers=0, precision="fp16")


def test_stage_04_grid_under_torchrun_writes_what_one_process_writes(tmp_path, toy_benchmarks, teacher, students):
    """Notebook 04's `fusion_grid(..., nproc_per_node=2)` launches torchrun (each rank a shard, rank 0 writes):
    the rows equal the in-kernel run's, once each."""
    from fitclip.study.grid import fusion_grid
    from fitclip.study.results import read_results

    layout = make_msrvtt(tmp_path / "bench", toy_benchmarks, n=5)
    weights = save_state(model_file_state(teacher), tmp_path / "teacher.pt")
    frames = {}
    for nproc in (1, 2):
        results, names = fusion_grid("fitclip-tiny", str(weights), students, [0.0, 0.5], layout.data_root,
                                     tmp_path / f"04-{nproc}", nproc_per_node=nproc, datasets=[("msrvtt", None)],
                                     num_workers=0, batch_size=2, device="cpu", timeout_s=300)
        assert names == ["fitclip-alpha0", "fitclip-alpha0.5", "wiseft-alpha0", "wiseft-alpha0.5"]
        raw = pd.read_json(results, lines=True)
        assert len(raw) == 4 * 6 and raw["run_id"].nunique() == 1
        frames[nproc] = read_results(results, models=names).set_index(["model", "metric"])["value"].sort_index()
    pd.testing.assert_series_equal(frames[1], frames[2])
    assert (tmp_path / "04-2" / "grid_spec.json").is_file() and (tmp_path / "04-2" / "grid.log").is_file()
