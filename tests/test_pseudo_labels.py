"""Cached teacher pseudo labels (fitclip.pseudo_labels): values, resumption, sharding across ranks, checks,
bad shards (refused by training in one line, redone by a rerun)."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess

import pytest
import torch

from fitclip.config import ConfigError, config_from_dict, validate
from fitclip.datasets import VideoDataset, collate_clips
from fitclip.pseudo_labels import PseudoLabels, compute_pseudo_labels, shard_name
from fitclip.run_data import load_unlabeled
from fitclip.start_weights import load_start_weights
from fitclip.train import train
from fitclip.transforms import transforms_for
from train_fixtures import REPO, make_webvid_corpus, subprocess_env, tiny_config, torchrun_cmd, write_config


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_webvid_corpus(tmp_path_factory.mktemp("webvid"))


def _cfg(corpus, labels, **kw):
    return config_from_dict(tiny_config(corpus, labels.parent / "run", pseudo_labels=str(labels),
                                        pseudo_label_shard_size=5, teacher_mode="cached", **kw))


@pytest.fixture(scope="module")
def labels(corpus, tmp_path_factory):
    path = tmp_path_factory.mktemp("pl") / "labels"
    compute_pseudo_labels(validate(_cfg(corpus, path), for_pseudo_labels=True))
    return path


def test_labels_are_the_teacher_on_eval_frames(corpus, labels):
    cfg = _cfg(corpus, labels)
    pool = load_unlabeled(cfg)
    assert len(pool) == 16  # 24 train videos minus the 8 labeled ones (exclude_labeled)
    index = json.loads((labels / "index.json").read_text())
    assert [s["count"] for s in index["shards"]] == [5, 5, 5, 1] and index["dim"] == 32
    store = PseudoLabels(labels)
    store.check(cfg, [it.key for it in pool], None)
    teacher = load_start_weights(cfg).eval()
    batch = collate_clips([VideoDataset(pool, 4, "eval", transforms_for(teacher)[1])[i] for i in range(len(pool))])
    with torch.no_grad():
        video = teacher.encode_video(batch["frames"], batch["lengths"])
        text = teacher.encode_text(teacher.tokenize([it.text for it in pool]))
    keys = [it.key for it in pool][::-1]
    got_video, got_text = store.get(keys)
    assert got_video.dtype == torch.float32 and got_video.shape == (16, 32)
    torch.testing.assert_close(got_video, video.flip(0), atol=2e-3, rtol=0)  # fp16 on disk
    torch.testing.assert_close(got_text, text.flip(0), atol=2e-3, rtol=0)
    shard = torch.load(labels / shard_name(0), weights_only=True)
    assert shard["video"].dtype == torch.float16 and shard["keys"] == [it.key for it in pool[:5]]


def test_rerun_skips_complete_shards(corpus, labels):
    before = {p.name: p.stat().st_mtime_ns for p in labels.glob("shard-*.pt")}
    data = (labels / shard_name(1)).read_bytes()
    (labels / shard_name(1)).unlink()
    compute_pseudo_labels(_cfg(corpus, labels))
    after = {p.name: p.stat().st_mtime_ns for p in labels.glob("shard-*.pt")}
    assert set(after) == set(before)
    assert all(after[n] == before[n] for n in after if n != shard_name(1))  # untouched
    assert (labels / shard_name(1)).read_bytes() != b"" and len(PseudoLabels(labels)) == 16
    assert torch.equal(torch.load(labels / shard_name(1), weights_only=True)["video"],
                       torch.load(__import__("io").BytesIO(data), weights_only=True)["video"])


def test_labels_of_another_teacher_are_refused(corpus, labels):
    other = _cfg(corpus, labels, seed=1)  # random init from another seed = another teacher
    with pytest.raises(ConfigError, match="another teacher"):
        compute_pseudo_labels(other)
    with pytest.raises(ConfigError, match="teacher"):
        PseudoLabels(labels).check(other, [], None)
    with pytest.raises(ConfigError, match="num_frames"):
        PseudoLabels(labels).check(_cfg(corpus, labels, num_frames=2), [], None)
    with pytest.raises(ConfigError, match="have no labels"):
        PseudoLabels(labels).check(_cfg(corpus, labels), ["no-such-video"], None)


def test_prompts_are_cached_and_train(corpus, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red thing\na blue thing\na black thing\n")
    labels = tmp_path / "labels"
    cfg = _cfg(corpus, labels, unlabeled_text=str(prompts), max_steps=2, val_every=0)
    compute_pseudo_labels(validate(cfg, for_pseudo_labels=True))
    store = PseudoLabels(labels)
    assert store.prompt_text().shape == (3, 32)
    train(validate(cfg))
    rows = [json.loads(x) for x in (labels.parent / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(r["distill"] > 0 for r in rows)


def test_torchrun_shards_across_ranks_like_one_process(corpus, labels, tmp_path):
    out = tmp_path / "labels2"
    cfg = tiny_config(corpus, tmp_path / "run", pseudo_labels=str(out), pseudo_label_shard_size=5)
    f = write_config(tmp_path / "run.json", cfg)
    subprocess.run(torchrun_cmd("fitclip.pseudo_labels", "--config", str(f)), cwd=REPO, env=subprocess_env(),
                   check=True, timeout=150, capture_output=True)
    assert json.loads((out / "index.json").read_text())["shards"] == json.loads((labels / "index.json").read_text())["shards"]
    for i in range(4):
        a = torch.load(labels / shard_name(i), weights_only=True)
        b = torch.load(out / shard_name(i), weights_only=True)
        assert a["keys"] == b["keys"] and torch.equal(a["video"], b["video"]) and torch.equal(a["text"], b["text"])


def test_teacher_identity_is_the_weights_hash_not_the_path():
    from fitclip.start_weights import same_teacher
    a = {"arch": "fitclip-toy", "pretrained": "/old/teacher.pt", "pretrained_sha256": "ab"}
    assert same_teacher(a, {**a, "pretrained": "/moved/teacher.pt"})
    assert not same_teacher(a, {**a, "pretrained_sha256": "cd"})
    assert not same_teacher(a, {**a, "arch": "ViT-B-16"})
    assert not same_teacher({"arch": "x", "pretrained": "none", "init_seed": 0},
                            {"arch": "x", "pretrained": "none", "init_seed": 1})


# ----------------------------------------------------------------------------------------------------
# Bad shards: training refuses them in one line; a rerun of the pseudo-label step redoes them
# ----------------------------------------------------------------------------------------------------


def _damage(kind: str, labels) -> str:
    """Damage shard 1 (or index.json) of `labels` as `kind`; returns the file's name."""
    path = labels / shard_name(1)
    shard = torch.load(path, weights_only=True)
    n = len(shard["keys"])
    if kind == "truncated":
        path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])  # a copy cut short, a full disk
    elif kind == "missing":
        path.unlink()
    elif kind == "another teacher":  # same videos, 128-dimensional embeddings (the model's are 32)
        torch.save({**shard, "video": torch.randn(n, 128).half(), "text": torch.randn(n, 128).half()}, path)
    elif kind == "pickled":
        torch.save({**shard, "args": argparse.Namespace(lr=1e-4)}, path)
    elif kind == "float32":
        torch.save({**shard, "video": shard["video"].float()}, path)
    elif kind == "stale":  # shard 0's videos under shard 1's name
        shutil.copyfile(labels / shard_name(0), path)
    elif kind == "not a dict":
        torch.save([shard["video"]], path)
    elif kind == "index":
        (labels / "index.json").write_text('{"format": "fitclip-pseudo-labels-v1", "shards": [{"fi')
        return "index.json"
    return shard_name(1)


DAMAGE = {  # kind: (training's words for it, the pseudo-label step's)
    "truncated": ("is truncated or corrupt (RuntimeError: PytorchStreamReader failed",) * 2,
    "missing": ("is missing",) * 2,
    "another teacher": ("is of another teacher: its video embeddings have dimension 128, the teacher's have 32",) * 2,
    "pickled": ("is pickled: it holds Python objects (argparse.Namespace) that weights_only=True refuses",) * 2,
    "float32": ("is of the wrong dtype: video is torch.float32, not torch.float16",) * 2,
    "stale": ("is of videos another shard holds too", "is of other videos than the pool's"),
    "not a dict": ("is not a pseudo-label shard (a list, not a dict)",) * 2,
    "index": ("is damaged (JSONDecodeError",) * 2,
}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_a_bad_shard_is_refused_in_one_line_and_a_rerun_redoes_it(kind, corpus, labels, tmp_path, capsys):
    """Before: raw tracebacks at the start of training, and the pseudo-label step, rerun, said it was done
    (it only redid MISSING files). Now training names the file and the fix; the rerun redoes the bad shard
    (saying which and why) and the folder trains."""
    import fitclip.pseudo_labels as PL
    import fitclip.train as T

    folder = tmp_path / "labels"
    shutil.copytree(labels, folder)
    name = _damage(kind, folder)
    out = tmp_path / "run"
    config = write_config(tmp_path / "run.json", tiny_config(
        corpus, out, teacher_mode="cached", pseudo_labels=str(folder), pseudo_label_shard_size=5, max_steps=1,
        val_every=0, save_every=0))
    train_words, step_words = DAMAGE[kind]
    assert T.main(["--config", str(config)]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert f"{folder / name} {train_words}" in lines[0], lines[0]
    assert "rerun `python -m fitclip.pseudo_labels --config run.json` (it redoes bad shards)" in lines[0]
    assert not out.exists()  # the failed start left nothing behind

    assert PL.main(["--config", str(config)]) == 0
    err = capsys.readouterr().err
    if kind not in ("missing", "index"):
        assert f"note: redoing {folder / shard_name(1)}: it {step_words}" in err, err
    assert "redoing" not in err.replace(f"redoing {folder / shard_name(1)}", "")  # only the bad one
    for i in range(4):
        a = torch.load(labels / shard_name(i), weights_only=True)
        b = torch.load(folder / shard_name(i), weights_only=True)
        assert a["keys"] == b["keys"] and torch.equal(a["video"], b["video"]) and torch.equal(a["text"], b["text"])
    assert json.loads((folder / "index.json").read_text()) == json.loads((labels / "index.json").read_text())
    assert T.main(["--config", str(config)]) == 0


def test_labels_of_another_dimension_than_the_model_are_refused(labels):
    with pytest.raises(ConfigError, match=r"hold 32-dimensional embeddings, this run's model makes 128-dimensional"):
        PseudoLabels(labels).check_dim(128)
    PseudoLabels(labels).check_dim(32)


def test_a_full_disk_while_writing_a_shard_is_one_line_and_the_rerun_resumes(corpus, labels, tmp_path, monkeypatch,
                                                                              capsys):
    import fitclip.files as files_mod
    import fitclip.pseudo_labels as PL
    from train_fixtures import fill_disk_at

    folder = tmp_path / "labels"
    shutil.copytree(labels, folder)
    (folder / shard_name(2)).unlink()
    config = write_config(tmp_path / "run.json", tiny_config(corpus, tmp_path / "run", pseudo_labels=str(folder),
                                                             pseudo_label_shard_size=5))
    fill_disk_at(monkeypatch, files_mod, shard_name(2))
    assert PL.main(["--config", str(config)]) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"error: cannot write {folder / shard_name(2)}: the disk is full") and \
        lines[0].endswith("(the shards already written are kept: the rerun resumes)"), lines[0]
    assert not (folder / shard_name(2)).exists() and not [p for p in folder.iterdir() if ".tmp" in p.name]
    monkeypatch.undo()
    assert PL.main(["--config", str(config)]) == 0 and len(PseudoLabels(folder)) == 16
