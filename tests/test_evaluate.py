"""fitclip.evaluate end to end: tiny synthetic videos in the real layouts, annotation rows from the toy world's
files (the ``toy_benchmarks`` fixture), so these tests run on any clone."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from helpers import (GreyStub, add_youcook2_clip, make_didemo, make_mit, make_msrvtt, make_ucf101, make_youcook2, make_zero_byte,
                     remove_file, render_video, truncate_file)

from fitclip.annotations import Annotations, load_annotations
from fitclip.datasets import VideoDataset
from fitclip.evaluate import (BrokenVideosError, EvalModel, class_embeddings, evaluate, load_embeddings,
                              protocol_path)
from fitclip.report import format_table
from fitclip.fusion import FusionGrid
from fitclip.metrics import (NonFiniteScores, class_target_ranks, classification_metrics, metrics_from_ranks,
                             target_ranks)
from fitclip.models import load_clip
from fitclip.prompts import format_prompts

REPO = Path(__file__).resolve().parents[1]
ROW_COLUMNS = ["run_id", "model", "student", "alpha", "dataset", "split", "metric", "value", "n_expected", "n_evaluated",
               "n_failed", "ci_low", "ci_high"]


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return load_clip("fitclip-tiny", None)


def _level(i: int) -> int:
    return 30 + 30 * i


def _stub_msrvtt(tmp_path, source):
    layout = make_msrvtt(tmp_path, source, n=6, render=lambda vid, path, i: render_video(path, level=_level(i)))
    stub = GreyStub({text: _level(i) for i, text in enumerate(layout.info["texts"])})
    return layout, stub


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# ----------------------------------------------------------------------------------------------------


def test_retrieval_wiring_r1_is_100_and_skip_restricts_both_sides(tmp_path, toy_benchmarks):
    layout, stub = _stub_msrvtt(tmp_path, toy_benchmarks)
    out = tmp_path / "results.jsonl"
    rows = evaluate({"stub": stub}, "msrvtt", layout.data_root, num_workers=0, progress=False, out=out)
    values = {r["metric"]: r["value"] for r in rows}
    assert values == {"R@1": 100.0, "R@5": 100.0, "R@10": 100.0, "MdR": 1.0, "MnR": 1.0, "MRR": 100.0}
    assert all((r["n_expected"], r["n_evaluated"], r["n_failed"]) == (6, 6, 0) for r in rows)
    # Every item a hit: no spread, so the CI is the value itself; the median and mean rank have no per-item CI.
    cis = {r["metric"]: (r["ci_low"], r["ci_high"]) for r in rows}
    assert cis["R@1"] == cis["MRR"] == (100.0, 100.0) and cis["MdR"] == cis["MnR"] == (None, None)

    # Without video 3 the query AND the gallery lose item 3: every remaining query still finds its video.
    remove_file(layout.videos[layout.video_ids[2]])  # ret2
    rows = evaluate({"stub": stub}, "msrvtt", layout.data_root, num_workers=0, progress=False, out=out,
                    skip_broken=True)
    assert {r["metric"]: r["value"] for r in rows}["R@1"] == 100.0
    assert all((r["n_evaluated"], r["n_failed"]) == (5, 1) for r in rows)

    frame = pd.read_json(out, lines=True)  # tidy: one row per metric, both runs appended
    assert list(frame.columns) == ROW_COLUMNS and len(frame) == 12 and frame["run_id"].nunique() == 2
    assert frame["alpha"].isna().all() and frame["student"].isna().all()  # a plain model
    protocols = _read_jsonl(protocol_path(out))
    assert [p["n_failed"] for p in protocols] == [0, 1]
    assert protocols[1]["failed"][0]["key"] == "ret2" and "does not exist" in protocols[1]["failed"][0]["reason"]


def test_broken_videos_refused_then_skipped_and_appended(tmp_path, toy_benchmarks, tiny):
    layout = make_msrvtt(tmp_path, toy_benchmarks, n=6)
    make_zero_byte(layout.videos[layout.video_ids[1]])  # ret1
    truncate_file(layout.videos[layout.video_ids[2]])   # ret2: fails only when decoded
    remove_file(layout.videos[layout.video_ids[3]])     # ret3
    out = tmp_path / "results.jsonl"

    with pytest.raises(BrokenVideosError) as e:
        evaluate(tiny, "msrvtt", layout.data_root, out=out, progress=False, num_workers=0)
    message = str(e.value)
    assert "2 of 6 item(s)" in message and "ret1" in message and "ret3" in message
    assert "0 bytes" in message and "does not exist" in message
    assert "python -m fitclip doctor --dataset msrvtt" in message and "--skip-broken" in message
    assert not out.exists()

    for run in range(2):  # decode failures inside the 2 workers become records, not a crash
        rows = evaluate({"tiny": tiny}, "msrvtt", layout.data_root, out=out, progress=False, num_workers=2,
                        batch_size=2, skip_broken=True)
        assert [r["metric"] for r in rows] == ["R@1", "R@5", "R@10", "MdR", "MnR", "MRR"]
        assert all((r["n_expected"], r["n_evaluated"], r["n_failed"]) == (6, 3, 3) for r in rows)
    lines = _read_jsonl(out)
    assert len(lines) == 12 and lines[0]["run_id"] != lines[6]["run_id"]
    assert [r["value"] for r in lines[:6]] == [r["value"] for r in lines[6:]]  # deterministic, appended
    protocols = _read_jsonl(protocol_path(out))
    assert len(protocols) == 2 and protocols[0]["run_id"] == lines[0]["run_id"]
    failed = protocols[0]["failed"]
    assert [f["key"] for f in failed] == ["ret1", "ret2", "ret3"]
    assert [f["stage"] for f in failed] == ["precheck", "decode", "precheck"]
    assert "decord could not open" in failed[1]["reason"]
    p = protocols[0]
    assert p["frames"]["num_frames"] == 4 and p["frames"]["mode"] == "eval" and "linspace" in p["frames"]["sampler"]
    assert p["annotation_files"][0]["path"].endswith("MSRVTT_JSFUSION_test.csv")
    assert len(p["annotation_files"][0]["sha256"]) == 64
    assert {"torch", "open_clip", "decord", "av", "fitclip"} <= set(p["versions"])
    assert p["decoder"]["backend"] == "decord" and p["model_info"]["arch"] == "fitclip-tiny"


def test_decode_failure_found_during_the_pass_writes_nothing(tmp_path, toy_benchmarks, tiny):
    layout = make_msrvtt(tmp_path, toy_benchmarks, n=4)
    truncate_file(layout.videos[layout.video_ids[2]], keep=0.3)  # ret2
    out = tmp_path / "results.jsonl"
    with pytest.raises(BrokenVideosError) as e:
        evaluate(tiny, "msrvtt", layout.data_root, out=out, progress=False, num_workers=0)
    assert "while decoding (no metrics were written)" in str(e.value) and "ret2" in str(e.value)
    assert e.value.failures[0]["stage"] == "decode"
    assert not out.exists() and not protocol_path(out).exists()


def test_youcook2_clip_past_end_is_evaluated_and_listed(tmp_path, toy_benchmarks, tiny):
    layout = make_youcook2(tmp_path, toy_benchmarks)
    [past_end] = layout.info["past_end_keys"]  # the last video stops inside its last clip
    out = tmp_path / "r.jsonl"
    rows = evaluate(tiny, "youcook2", layout.data_root, out=out, progress=False, num_workers=0,
                    embeddings_dir=tmp_path / "emb")
    assert all((r["n_expected"], r["n_evaluated"], r["n_failed"]) == (6, 6, 0) for r in rows)
    protocol = _read_jsonl(protocol_path(out))[0]
    assert protocol["clip_end_past_video"]["keys"] == [past_end]
    saved = load_embeddings(protocol["embeddings"])
    assert saved["keys"] == layout.keys and saved["video"].shape == (6, 32) and saved["text"].shape == (6, 32)
    # The saved ranks are the text->video ranks of T·Vᵀ (fitclip.metrics, tested by hand in test_metrics.py),
    # and the reported metrics are those ranks' metrics.
    expected = target_ranks(saved["text"] @ saved["video"].t())
    assert saved["ranks"].tolist() == expected.tolist()
    assert {r["metric"]: r["value"] for r in rows} == pytest.approx(metrics_from_ranks(expected))


def test_youcook2_clip_starting_past_the_end_is_broken(tmp_path, toy_benchmarks, tiny, capsys):
    """No frame of such a clip exists: refused without skip_broken (the doctor agrees), counted and listed
    with it -- never scored on the video's last frame."""
    from fitclip.__main__ import main
    from fitclip.doctor import doctor

    layout = make_youcook2(tmp_path, toy_benchmarks)
    last = layout.video_ids[-1]
    assert layout.info["durations"][last] < 60
    key = add_youcook2_clip(layout, last, start=60, end=65)
    out = tmp_path / "r.jsonl"
    with pytest.raises(BrokenVideosError) as e:
        evaluate(tiny, "youcook2", layout.data_root, out=out, progress=False, num_workers=0)
    assert [f["key"] for f in e.value.failures] == [key] and "starts at 60 s" in e.value.failures[0]["reason"]
    assert not out.exists()
    rows = evaluate(tiny, "youcook2", layout.data_root, out=out, progress=False, num_workers=0, skip_broken=True)
    assert all((r["n_expected"], r["n_evaluated"], r["n_failed"]) == (7, 6, 1) for r in rows)
    protocol = _read_jsonl(protocol_path(out))[0]
    assert [f["key"] for f in protocol["failed"]] == [key]
    assert key not in protocol["clip_end_past_video"]["keys"]
    # The CLI refuses it (exit 1) without --skip-broken; the doctor marks it not evaluable.
    assert main(["evaluate", "--dataset", "youcook2", "--data-root", str(layout.data_root), "--arch", "fitclip-tiny",
                 "--pretrained", "none", "--num-workers", "0", "--no-progress"]) == 1
    assert key in capsys.readouterr().err
    report = doctor("youcook2", layout.data_root, num_workers=0, progress=False, write=False)
    [problem] = [p for p in report.problems if p["key"] == key]
    assert problem["cause"] == "clip_start_past_video" and problem["evaluable"] is False


def test_classification_class_embedding_is_unrenormalised_template_mean(tmp_path, toy_benchmarks, tiny):
    layout = make_ucf101(tmp_path, toy_benchmarks, n_classes=3, per_class=2)  # mp4 bytes under .avi names
    rows = evaluate(tiny, "ucf101", layout.data_root, progress=False, num_workers=0, embeddings_dir=tmp_path / "e",
                    text_batch_size=50)  # 3 x 48 prompts over several text batches
    values = {r["metric"]: r["value"] for r in rows}
    assert set(values) == {"top1", "top5", "MdR"} and rows[0]["n_evaluated"] == 6
    saved = load_embeddings(next((tmp_path / "e").glob("ucf101-test-*.pt")))
    assert saved["classnames"] == ["Blinking", "Growing", "Moving Down"]  # the toy's first 3 classInd folders
    assert len(saved["templates"]) == 48 and saved["targets"].tolist() == layout.info["targets"]
    with torch.no_grad():
        for c, name in enumerate(saved["classnames"]):
            prompts = format_prompts(saved["templates"], name)
            each = F.normalize(tiny.clip.encode_text(tiny.tokenize(prompts)), dim=-1)
            assert torch.allclose(saved["class_embeddings"][c], each.mean(0), atol=1e-5)
    norms = saved["class_embeddings"].norm(dim=-1)
    assert (norms < 1 - 1e-3).all()  # the mean of unit vectors, deliberately not re-normalised
    # Scores are V·Cᵀ; metrics and ranks come from fitclip.metrics (tested by hand in test_metrics.py).
    scores = saved["video"] @ saved["class_embeddings"].t()
    expected = classification_metrics(scores, saved["targets"])
    assert (values["top1"], values["top5"]) == pytest.approx((expected["top1"], expected["top5"]))
    assert values["top5"] == 100.0  # 3 classes: every target is within the top 5
    ranks = class_target_ranks(scores, saved["targets"])
    assert values["MdR"] == float(ranks.double().median()) and saved["ranks"].tolist() == ranks.tolist()
    assert saved["predictions"].shape == (6, 3)

    # The public helper: ragged prompt lists, several text batches, un-renormalised means.
    prompts = [["a video of archery.", "a photo of archery.", "archery"], ["yo yo"]]
    got = class_embeddings(tiny, prompts, batch_size=2)
    with torch.no_grad():
        first = F.normalize(tiny.clip.encode_text(tiny.tokenize(prompts[0])), dim=-1).mean(0)
    assert torch.allclose(got[0], first, atol=1e-5) and got[1].norm() == pytest.approx(1.0, abs=1e-5)


def test_mit_raw_names_and_didemo_paragraphs(tmp_path, toy_benchmarks, tiny):
    mit = make_mit(tmp_path, toy_benchmarks)
    emb = tmp_path / "emb"
    name = mit.keys[0].split("/")[0]  # the first video's category, e.g. 'square+moving+right'
    assert "+" in name
    rows = evaluate(tiny, "mit", mit.data_root, progress=False, num_workers=0, embeddings_dir=emb)
    assert rows[0]["n_expected"] == 4 and {r["metric"] for r in rows} == {"top1", "top5", "MdR"}
    saved = load_embeddings(emb / "mit-val-fitclip-tiny.pt")
    assert saved["templates"] is None and len(saved["classnames"]) == 58  # every category, with or without videos
    with torch.no_grad():  # no templates: the raw name ('+' kept) is the only prompt
        raw = tiny.encode_text(tiny.tokenize([name]))[0]
    assert torch.allclose(saved["class_embeddings"][saved["classnames"].index(name)], raw, atol=1e-5)
    assert saved["targets"].tolist() == mit.info["targets"]

    didemo = make_didemo(tmp_path, toy_benchmarks, n_videos=2)
    rows = evaluate(tiny, "didemo", didemo.data_root, progress=False, num_workers=0, embeddings_dir=emb)
    assert rows[0]["n_expected"] == 2 and rows[0]["split"] == "val"


def test_alpha_grid_decodes_each_video_once_and_alpha0_is_the_teacher(tmp_path, toy_benchmarks, tiny,
                                                                      monkeypatch):
    layout = make_youcook2(tmp_path, toy_benchmarks)
    torch.manual_seed(1)
    student = load_clip("fitclip-tiny", None)
    grid = FusionGrid(tiny, {"fused": student.clip.state_dict()}, [0.0, 0.5, 1.0])
    assert list(grid) == ["fused-alpha0", "fused-alpha0.5", "fused-alpha1"]
    assert grid["fused-alpha0"].model is tiny and grid["fused-alpha0.5"].alpha == 0.5
    w = "visual.conv1.weight"
    mixed = grid.select("fused-alpha0.5").clip.state_dict()[w]
    assert torch.allclose(mixed, (tiny.clip.state_dict()[w] + student.clip.state_dict()[w]) / 2, atol=1e-6)

    decodes = []
    real_getitem = VideoDataset.__getitem__

    def counting_getitem(self, index):
        decodes.append(index)
        return real_getitem(self, index)

    monkeypatch.setattr(VideoDataset, "__getitem__", counting_getitem)
    rows = evaluate(grid, "youcook2", layout.data_root, progress=False, num_workers=0, batch_size=4)
    assert sorted(decodes) == list(range(6))  # 6 clips, 3 models, one decode each
    decodes.clear()
    models = {"teacher": tiny, "student": EvalModel(student, None, {"note": "not a file"})}
    rows += evaluate(models, "youcook2", layout.data_root, progress=False, num_workers=0, batch_size=4)
    assert sorted(decodes) == list(range(6))  # 2 plain models, one decode each
    by_model = {}
    for r in rows:
        by_model.setdefault(r["model"], {})[r["metric"]] = r["value"]
    assert by_model["fused-alpha0"] == by_model["teacher"]
    assert by_model["fused-alpha1"] == pytest.approx(by_model["student"])
    assert {(r["model"], r["student"], r["alpha"]) for r in rows} == {
        ("teacher", None, None), ("student", None, None), ("fused-alpha0", "fused", 0.0),
        ("fused-alpha0.5", "fused", 0.5), ("fused-alpha1", "fused", 1.0)}


def test_fusion_grid_rejects_bad_alphas(tiny):
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        FusionGrid(tiny, {"s": tiny.clip.state_dict()}, [0.5, 1.5])
    with pytest.raises(ValueError, match="repeated"):
        FusionGrid(tiny, {"s": tiny.clip.state_dict()}, [0.5, 0.5])


def test_single_open_decord_path_matches_the_two_call_path(tmp_path, toy_benchmarks):
    from fitclip.video import read_frames

    layout = make_youcook2(tmp_path, toy_benchmarks, fps=2.0)
    ds = VideoDataset(load_annotations("youcook2", layout.data_root))
    for i in range(len(ds)):
        plan, frames = ds._plan_and_read(i)
        assert plan == {**ds.plan(i), "decoded_by": "decord", "fallback_reason": None}
        assert (frames == read_frames(ds.items[i].path, plan["frame_indices"])).all()


def test_refuses_unlabeled_corpus_mismatched_models_and_missing_text(tmp_path, tiny, capsys):
    render_video(tmp_path / "corpus" / "a.mp4")
    with pytest.raises(ValueError, match="unlabeled") as refused:
        evaluate(tiny, "folder", tmp_path / "corpus", progress=False)
    from fitclip.__main__ import main  # the command line asks the same check: the same message, exit 2
    assert main(["evaluate", "--dataset", "folder", "--data-root", str(tmp_path / "corpus"), "--arch", "fitclip-tiny",
                 "--pretrained", "none"]) == 2
    assert str(refused.value) in capsys.readouterr().err
    ann = load_annotations("folder", tmp_path / "corpus")
    no_text = Annotations(name="folder", split="all", task="retrieval", items=ann.items)
    with pytest.raises(ValueError, match="have no text"):
        evaluate(tiny, no_text, progress=False)
    captioned = Annotations(name="folder", split="all", task="retrieval",
                            items=[dataclasses.replace(item, text="a video") for item in ann.items])
    toy = load_clip("fitclip-toy", None)
    with pytest.raises(ValueError, match="same input size"):
        evaluate({"a": tiny, "b": toy}, captioned, progress=False)
    with pytest.raises(ValueError, match="alpha must be in"):
        evaluate({"a": (tiny, 2.0)}, captioned, progress=False)


def test_protocol_path():
    assert protocol_path(Path("/x/results.jsonl")) == Path("/x/results.protocol.jsonl")
    assert protocol_path(Path("/x/results")) == Path("/x/results.protocol.jsonl")


# ----------------------------------------------------------------------------------------------------
# Numbers that never lie: NaN and collapsed models
# ----------------------------------------------------------------------------------------------------


def _broken_tiny(key: str = "visual.positional_embedding", value: float = float("nan")):
    torch.manual_seed(1)
    model = load_clip("fitclip-tiny", None)
    with torch.no_grad():
        model.clip.state_dict()[key].view(-1)[0] = value
    return model


@pytest.mark.parametrize("dataset", ["msrvtt", "ucf101"])
def test_one_nan_weight_is_an_error_naming_the_model_and_nothing_is_written(tmp_path, toy_benchmarks, tiny, dataset):
    """One NaN in visual.positional_embedding made every score NaN, and NaN compares false, so every item
    ranked first (top-1 100, R@1 100). Now: an error naming the model and the tensor; no row, no record."""
    make = {"msrvtt": lambda: make_msrvtt(tmp_path, toy_benchmarks, n=4),
            "ucf101": lambda: make_ucf101(tmp_path, toy_benchmarks)}[dataset]
    layout = make()
    out = tmp_path / "results.jsonl"
    with pytest.raises(NonFiniteScores) as e:
        evaluate({"ok": tiny, "broken": _broken_tiny()}, dataset, layout.data_root, out=out, progress=False,
                 num_workers=0, embeddings_dir=tmp_path / "emb")
    message = str(e.value)
    assert "model 'broken'" in message and "'visual.positional_embedding'" in message
    assert "nothing was written" in message and "\n" not in message
    assert not out.exists() and not protocol_path(out).exists()


def test_a_collapsed_model_scores_chance_and_the_protocol_counts_its_ties(tmp_path, toy_benchmarks):
    """All-zero weights: every video and text embedding is 0, every score ties. With n = 6 items each target's
    rank is uniform on 1..6: R@1 = 100/6, R@5 = 500/6, R@10 = 100, MdR = MnR = 3.5, MRR = 100 · H(6)/6 (the
    optimistic rule gave 100, 100, 100, 1, 1, 100)."""
    layout = make_msrvtt(tmp_path, toy_benchmarks, n=6)
    zero = load_clip("fitclip-tiny", None)
    with torch.no_grad():
        for p in zero.clip.parameters():
            p.zero_()
    out = tmp_path / "results.jsonl"
    rows = evaluate({"zero": zero}, "msrvtt", layout.data_root, out=out, progress=False, num_workers=0,
                    embeddings_dir=tmp_path / "emb")
    values = {r["metric"]: r["value"] for r in rows}
    assert values == {"R@1": pytest.approx(100 / 6), "R@5": pytest.approx(500 / 6), "R@10": 100.0, "MdR": 3.5,
                      "MnR": 3.5, "MRR": pytest.approx(100 * sum(1 / k for k in range(1, 7)) / 6)}
    [protocol] = _read_jsonl(protocol_path(out))
    assert protocol["ties"]["n_items_tied"] == 6 and protocol["ties"]["max_tied"] == 5
    assert "expected rank" in protocol["ties"]["rule"]
    saved = load_embeddings(protocol["embeddings"])
    assert saved["tied"].tolist() == [5] * 6 and saved["ranks"].tolist() == [3.5] * 6


def test_a_half_collapsed_model_gets_credit_only_for_what_it_tells_apart(tmp_path, toy_benchmarks):
    """The stub's videos 2 and 3 (and their captions) share one grey level, so one embedding: queries 2 and 3
    find their video tied with the other (rank 1 or 2, p = 1/2 each); the other four rank theirs first.
    R@1 = (4 + 1/2 + 1/2) / 6 = 83.3 %, MnR = (4 + 1.5 + 1.5) / 6, MRR = (4 + 2 · (1 + 1/2) / 2) / 6."""
    level = {0: 30, 1: 60, 2: 120, 3: 120, 4: 180, 5: 210}
    layout = make_msrvtt(tmp_path, toy_benchmarks, n=6, render=lambda vid, path, i: render_video(path, level=level[i]))
    texts = layout.info["texts"]
    stub = GreyStub({text: level[i] for i, text in enumerate(texts)})
    out = tmp_path / "results.jsonl"
    rows = evaluate({"stub": stub}, "msrvtt", layout.data_root, num_workers=0, progress=False, out=out)
    values = {r["metric"]: r["value"] for r in rows}
    assert values == {"R@1": pytest.approx(500 / 6), "R@5": 100.0, "R@10": 100.0, "MdR": 1.0, "MnR": pytest.approx(7 / 6),
                      "MRR": pytest.approx(100 * (4 + 2 * 0.75) / 6)}
    assert _read_jsonl(protocol_path(out))[0]["ties"]["n_items_tied"] == 2


def test_cli_a_nan_student_is_refused_before_decoding_and_fuse_will_not_write_one(tmp_path, toy_benchmarks, capsys,
                                                                                  monkeypatch):
    from fitclip.__main__ import main
    from fitclip.files import save_state
    from fitclip.models import model_file_state

    layout = make_msrvtt(tmp_path, toy_benchmarks, n=4)
    nan_pt = save_state(model_file_state(_broken_tiny()), tmp_path / "nan.pt")
    monkeypatch.setattr("fitclip.evaluate.encode_pass", lambda *a, **k: pytest.fail("decoded a video"))
    code = main(["evaluate", "--dataset", "msrvtt", "--data-root", str(layout.data_root), "--arch", "fitclip-tiny",
                 "--pretrained", "none", "--student", str(nan_pt), "--alpha", "0", "1", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "nan.pt" in err and "'visual.positional_embedding'" in err
    teacher = save_state(model_file_state(load_clip("fitclip-tiny", None)), tmp_path / "teacher.pt")
    code = main(["fuse", "--teacher", str(teacher), "--student", str(nan_pt), "--alpha", "0.5", "--out",
                 str(tmp_path / "fused.pt")])
    err = capsys.readouterr().err
    assert code == 2 and "NaN or infinity" in err and "from the student" in err and not (tmp_path / "fused.pt").exists()
    # alpha 0 is the teacher, whose weights are finite: that file is written
    assert main(["fuse", "--teacher", str(teacher), "--student", str(nan_pt), "--alpha", "0", "--out",
                 str(tmp_path / "fused.pt")]) == 0


# ----------------------------------------------------------------------------------------------------
# Outputs never half-written
# ----------------------------------------------------------------------------------------------------


def _two_runs_then_a_full_disk(tmp_path, layout, tiny, out, break_write):
    """One run written, then a run whose write fails: both files, and the first run's embeddings file, must be
    exactly as after the first run; no temp or staged file is left behind."""
    emb = tmp_path / "emb"
    evaluate({"a": tiny}, "msrvtt", layout.data_root, out=out, progress=False, num_workers=0, embeddings_dir=emb)
    before = out.read_bytes(), protocol_path(out).read_bytes(), sorted(p.read_bytes() for p in emb.iterdir())
    with break_write():
        with pytest.raises(OSError) as e:
            evaluate({"a": tiny, "b": tiny}, "msrvtt", layout.data_root, out=out, progress=False, num_workers=0,
                     embeddings_dir=emb)
    assert (out.read_bytes(), protocol_path(out).read_bytes(), sorted(p.read_bytes() for p in emb.iterdir())) == before
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []
    assert [p.name for p in emb.iterdir()] == ["msrvtt-test-a.pt"]
    return e.value


def test_a_full_disk_while_writing_results_leaves_both_files_as_they_were(tmp_path, toy_benchmarks, tiny, monkeypatch):
    """ENOSPC injected at the exact write, half-way through the new bytes (as a full disk does)."""
    import contextlib
    import errno

    import fitclip.files as files_mod

    layout = make_msrvtt(tmp_path, toy_benchmarks, n=4)
    out = tmp_path / "results.jsonl"
    real = files_mod._write_synced

    def half_then_enospc(path, data):
        if path.name.startswith(".results.jsonl"):
            with open(path, "wb") as f:
                f.write(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(path, data)

    @contextlib.contextmanager
    def full():
        monkeypatch.setattr(files_mod, "_write_synced", half_then_enospc)
        yield
        monkeypatch.setattr(files_mod, "_write_synced", real)

    error = _two_runs_then_a_full_disk(tmp_path, layout, tiny, out, full)
    assert error.errno == errno.ENOSPC and "the disk is full" in error.strerror and "nothing was replaced" in error.strerror
    rows = evaluate({"a": tiny}, "msrvtt", layout.data_root, out=out, progress=False, num_workers=0)  # space is back
    from fitclip.study.results import read_results
    assert len(read_results(out)) == 6 and len(_read_jsonl(out)) == 12 and len(rows) == 6
    assert len(_read_jsonl(protocol_path(out))) == 2  # one record per model and run: the rows' runs, no more


def test_a_real_full_disk_while_writing_results(tmp_path, toy_benchmarks, tiny):
    """The same on a real 256 KB tmpfs, filled to the last few KB before the second run writes."""
    import contextlib

    from helpers import fill_disk, small_tmpfs

    layout = make_msrvtt(tmp_path, toy_benchmarks, n=4)
    with small_tmpfs(tmp_path / "disk") as disk:
        out = disk / "results.jsonl"

        @contextlib.contextmanager
        def full():
            filler = fill_disk(disk, leave=2048)
            yield
            filler.unlink()

        error = _two_runs_then_a_full_disk(tmp_path, layout, tiny, out, full)
        assert "the disk is full" in error.strerror
        evaluate({"a": tiny}, "msrvtt", layout.data_root, out=out, progress=False, num_workers=0)
        assert len(_read_jsonl(out)) == 12


def test_a_torn_results_file_is_named_with_its_line_and_refused_before_work(tmp_path, toy_benchmarks, tiny,
                                                                           monkeypatch):
    from fitclip.files import TornLine
    from fitclip.study.results import read_results

    layout = make_msrvtt(tmp_path, toy_benchmarks, n=4)
    out = tmp_path / "results.jsonl"
    evaluate({"a": tiny}, "msrvtt", layout.data_root, out=out, progress=False, num_workers=0)
    out.write_bytes(out.read_bytes() + b'{"run_id": "x", "model": "a", "met')  # an older writer cut mid-row
    with pytest.raises(TornLine, match=r"results.jsonl: line 7 is not a complete JSON record \(cut short"):
        read_results(out)
    monkeypatch.setattr("fitclip.evaluate.encode_pass", lambda *a, **k: pytest.fail("decoded a video"))
    with pytest.raises(ValueError, match="line 7"):
        evaluate({"a": tiny}, "msrvtt", layout.data_root, out=out, progress=False, num_workers=0)


def test_cli_outputs_that_cannot_be_written_are_refused_before_any_model_loads(tmp_path, toy_benchmarks, capsys,
                                                                              monkeypatch):
    """--out a directory, a checkpoint, a read-only place; --embeddings-dir a file; doctor --out-dir a file or
    read-only: one line each, before a model is built or a video is opened."""
    import errno

    from fitclip.__main__ import main
    from fitclip.files import save_state

    layout = make_msrvtt(tmp_path, toy_benchmarks, n=3)
    monkeypatch.setattr("fitclip.models.load_clip", lambda *a, **k: pytest.fail("loaded a model"))
    monkeypatch.setattr("fitclip.evaluate.encode_pass", lambda *a, **k: pytest.fail("decoded a video"))
    checkpoint = save_state({"w": torch.zeros(3)}, tmp_path / "student.pt")
    before = checkpoint.read_bytes()
    base = ["evaluate", "--dataset", "msrvtt", "--data-root", str(layout.data_root), "--arch", "fitclip-tiny",
            "--pretrained", "none", "--no-progress"]

    def one_line(code, expected, status=2):
        err = capsys.readouterr().err
        assert code == status and err.count("\n") == 1 and err.startswith("error: ") and expected in err, err

    one_line(main([*base, "--out", str(tmp_path)]), "is a directory")
    one_line(main([*base, "--out", str(checkpoint)]), "line 1 is not a complete JSON record")
    assert checkpoint.read_bytes() == before  # nothing appended into the .pt
    one_line(main([*base, "--embeddings-dir", str(checkpoint)]), "exists and is not a folder")
    one_line(main(["doctor", "--dataset", "msrvtt", "--data-root", str(layout.data_root), "--out-dir",
                   str(checkpoint), "--no-progress"]), "exists and is not a folder")

    real_write_bytes = Path.write_bytes

    def read_only(self, data):  # the write probe meets a read-only file system (injected: root ignores modes)
        if self.name.startswith(".fitclip-write-probe"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real_write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", read_only)
    one_line(main([*base, "--out", str(tmp_path / "ro" / "results.jsonl")]), "read-only file system", status=1)
    one_line(main([*base, "--embeddings-dir", str(tmp_path / "emb")]), "read-only file system", status=1)
    one_line(main(["doctor", "--dataset", "msrvtt", "--data-root", str(layout.data_root), "--out-dir",
                   str(tmp_path / "doc"), "--no-progress"]), "read-only file system")
    assert not (tmp_path / "ro").exists() and not (tmp_path / "doc").exists()


def test_format_table_one_line_per_model_and_split_with_blank_missing_cells():
    row = {"dataset": "ucf101", "split": "1", "n_evaluated": 9, "n_failed": 1}
    rows = [{**row, "model": "clip", "alpha": None, "metric": "top1", "value": 45.126},
            {**row, "model": "clip", "alpha": None, "metric": "top5", "value": 80.0},
            {**row, "model": "fused-alpha0.4", "alpha": 0.4, "metric": "top1", "value": 46.0, "ci_low": 40.0,
             "ci_high": 52.5}]
    lines = format_table(rows).splitlines()
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    assert cells[0] == ["model", "alpha", "dataset", "split", "top1", "top5", "n_evaluated", "n_failed"]
    assert set(lines[1]) <= set("|:-")  # the markdown rule
    assert cells[2:] == [["clip", "", "ucf101", "1", "45.13", "80.00", "9", "1"],
                         ["fused-alpha0.4", "0.4", "ucf101", "1", "46.00 [40.00, 52.50]", "", "9", "1"]]


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "fitclip", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


def test_cli_evaluate(tmp_path, toy_benchmarks, capsys):
    from fitclip.__main__ import main
    from fitclip.files import save_state, sha256_file
    from fitclip.models import model_file_state

    layout = make_msrvtt(tmp_path, toy_benchmarks, n=5)
    make_zero_byte(layout.videos[layout.video_ids[1]])  # ret1
    out = tmp_path / "results.jsonl"
    base = ["evaluate", "--dataset", "msrvtt", "--data-root", str(layout.data_root), "--arch", "fitclip-tiny",
            "--pretrained", "none", "--out", str(out), "--no-progress", "--num-workers", "1"]

    # In-process for the refusals (each subprocess pays ~5 s of imports); they happen before any model loads.
    assert main(base) == 1
    err = capsys.readouterr().err
    assert "ret1" in err and "--skip-broken" in err and "python -m fitclip doctor" in err
    assert not out.exists()
    assert main(["evaluate", "--dataset", "msrvtt", "--data-root", str(layout.data_root), "--alpha", "0.5"]) == 2
    assert "--alpha needs --student" in capsys.readouterr().err
    student = tmp_path / "student.pt"
    torch.manual_seed(3)
    save_state(model_file_state(load_clip("fitclip-tiny", None)), student)
    assert main([*base, "--student", str(student), "--alpha", "0.5", "1.5"]) == 2
    assert "[0, 1]" in capsys.readouterr().err
    assert main(["evaluate", "--dataset", "nope", "--data-root", str(layout.data_root)]) == 2
    assert "unknown dataset 'nope'" in capsys.readouterr().err
    assert main([*base, "--split", "val"]) == 2
    assert "unknown split 'val'" in capsys.readouterr().err

    # One real run through `python -m fitclip`.
    ok = _cli(*base, "--skip-broken", "--student", str(student), "--alpha", "0", "1")
    assert ok.returncode == 0, ok.stderr
    printed = [[c.strip() for c in line.strip("|").split("|")] for line in ok.stdout.splitlines() if line.startswith("|")]
    assert ["fused-alpha0", "0", "msrvtt", "test"] in [cells[:4] for cells in printed] and "fused-alpha1" in ok.stdout
    frame = pd.read_json(out, lines=True)
    assert len(frame) == 12 and set(frame["alpha"]) == {0.0, 1.0} and set(frame["student"]) == {"fused"}
    assert (frame["n_failed"] == 1).all() and (frame["n_evaluated"] == 4).all()
    protocol = _read_jsonl(protocol_path(out))[0]
    assert protocol["model_info"]["weights"]["student"]["sha256"] == sha256_file(student)
    assert protocol["model_info"]["weights"]["teacher"] == {"source": "none"}
    assert protocol["failed"][0]["key"] == "ret1"


def test_one_model_under_two_names_is_encoded_once(tmp_path, toy_benchmarks, tiny, monkeypatch):
    """The teacher is α=0 of both students' grids: same object, so one forward per batch, same rows."""
    layout = make_msrvtt(tmp_path, toy_benchmarks, n=4)
    calls = {"video": 0, "text": 0}
    real_video, real_text = tiny.encode_video, tiny.encode_text
    monkeypatch.setattr(tiny, "encode_video", lambda *a, **k: calls.__setitem__("video", calls["video"] + 1) or real_video(*a, **k))
    monkeypatch.setattr(tiny, "encode_text", lambda *a, **k: calls.__setitem__("text", calls["text"] + 1) or real_text(*a, **k))
    rows = evaluate({"fitclip-alpha0": (tiny, 0.0), "wiseft-alpha0": (tiny, 0.0)}, "msrvtt", layout.data_root,
                    progress=False, num_workers=0, batch_size=2)
    assert calls == {"video": 2, "text": 1}  # 4 clips in batches of 2; 4 queries in one text batch
    by_model = {m: {r["metric"]: r["value"] for r in rows if r["model"] == m} for m in ("fitclip-alpha0", "wiseft-alpha0")}
    assert by_model["fitclip-alpha0"] == by_model["wiseft-alpha0"]


def test_every_benchmark_of_the_rendered_toy_world_is_evaluated(toy_world, tiny):
    """The harness on the toy world's own files and videos, each benchmark in its official format: every item
    is scored, with the task's metrics."""
    root, manifest = toy_world
    counts = manifest["counts"]
    expected = {"ucf101": (counts["ucf101"], {"top1", "top5", "MdR"}), "mit": (counts["mit"], {"top1", "top5", "MdR"}),
                "msrvtt": (counts["msrvtt"], {"R@1", "R@5", "R@10", "MdR", "MnR", "MRR"}),
                "youcook2": (counts["youcook2"], {"R@1", "R@5", "R@10", "MdR", "MnR", "MRR"}),
                "didemo": (counts["didemo"], {"R@1", "R@5", "R@10", "MdR", "MnR", "MRR"}),
                "webvid": (counts["webvid_val"], {"R@1", "R@5", "R@10", "MdR", "MnR", "MRR"})}
    for name, (n, metrics) in expected.items():
        rows = evaluate({"tiny": tiny}, name, root, progress=False, num_workers=0)
        assert {r["metric"] for r in rows} == metrics, name
        assert all((r["dataset"], r["n_expected"], r["n_evaluated"], r["n_failed"]) == (name, n, n, 0) for r in rows)
        v = {r["metric"]: r["value"] for r in rows}
        if "R@10" in v:  # a gallery of n <= 10 videos: every query's video is within the top 10
            assert n <= 10 and v["R@10"] == 100.0 and 1 <= v["MdR"] <= n and v["R@1"] <= v["R@5"] <= 100.0
        else:
            assert 0.0 <= v["top1"] <= v["top5"] <= 100.0 and v["MdR"] >= 1
