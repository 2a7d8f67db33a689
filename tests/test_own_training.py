"""Training on your own videos (issue 20 §5): ``video_folder`` makes `labeled_csv` / `val_csv` captions files
(``path,caption[,start,end]``) of a folder, the pool is that folder (captions optional: prompts otherwise), and
every mistake is one ConfigError naming the key before any work. Videos copied from the trainer's WebVid corpus."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from train_fixtures import make_webvid_corpus, tiny_config

import fitclip.train as T
from fitclip.annotations import AnnotationError
from fitclip.config import ConfigError, config_from_dict, validate
from fitclip.run_data import doctor_command, load_labeled, load_unlabeled, load_val


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    """<root>/clips/take<i>.mp4 (12 videos), labeled.csv (takes 0-5, take 5 as two clips), val.csv (6-7), prompts."""
    corpus = make_webvid_corpus(tmp_path_factory.mktemp("webvid"), n_train=12, n_val=2, n_labeled=2)
    root = tmp_path_factory.mktemp("own")
    (root / "clips").mkdir()
    captions = {}
    for i, video in enumerate(sorted(Path(corpus["data_root"]).glob("webvid/videos/*/1*.mp4"))):
        shutil.copyfile(video, root / "clips" / f"take{i}.mp4")
        captions[i] = f"a {['red', 'green', 'blue', 'yellow', 'white', 'black'][i % 6]} square moving"
    rows = [f"clips/take{i}.mp4,{captions[i]}" for i in range(5)]
    rows += ["clips/take5.mp4,the first half,0,1", "clips/take5.mp4,the second half,1,2"]
    (root / "labeled.csv").write_text("path,caption,start,end\n" + "\n".join(r if r.count(",") == 3 else r + ",,"
                                                                           for r in rows) + "\n")
    (root / "val.csv").write_text("path,caption\n" + "".join(f"clips/take{i}.mp4,{captions[i]}\n" for i in (6, 7)))
    (root / "prompts.txt").write_text("a red square\na green square\na blue square\n")
    return root


def own_config(own: Path, out_dir: Path, **overrides) -> dict:
    keys = {"video_folder": str(own), "val_csv": "val.csv", "unlabeled": {"name": "folder", "path": str(own / "clips")},
            "unlabeled_text": str(own / "prompts.txt"), **overrides}
    return tiny_config({"data_root": str(own / "no_webvid_here"), "labeled_csv": "labeled.csv"}, out_dir, **keys)


def test_the_sets_come_from_your_folder(own, tmp_path):
    cfg = validate(config_from_dict(own_config(own, tmp_path / "run")))
    labeled, val = load_labeled(cfg), load_val(cfg)
    # A timed file: rows without a window are the whole video (0 to its end).
    assert [i.key for i in labeled] == [f"clips/take{i}.mp4@0-end" for i in range(5)] + ["clips/take5.mp4@0-1",
                                                                                         "clips/take5.mp4@1-2"]
    assert labeled[5].text == "the first half" and (labeled[5].start, labeled[5].end) == (0.0, 1.0)
    assert [i.video_id for i in val] == ["clips/take6", "clips/take7"]
    # The pool (listed from clips/) is the folder without the labeled and the validation files: takes 8-11.
    pool = load_unlabeled(cfg)
    assert {i.video_id for i in pool} == {f"take{i}" for i in range(8, 12)}
    assert all(i.text is None for i in pool)  # no captions there: the prompts file is the pool's text side
    assert doctor_command(cfg, "labeled") == (f"python -m fitclip doctor --dataset folder --data-root {own} "
                                              f"--dataset-option captions={own / 'labeled.csv'}")


def test_trains_on_your_folder_with_distillation_and_validation(own, tmp_path):
    out = tmp_path / "run"
    config = validate(config_from_dict(own_config(own, out, max_steps=2, val_every=2, save_every=2)))
    T.train(config)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    assert all(math.isfinite(r["distill"]) and math.isfinite(r["labeled"]) for r in rows)
    assert math.isfinite(rows[-1]["val_labeled"]) and (out / "best_labeled.pt").is_file()
    assert json.loads((out / "config.json").read_text())["video_folder"] == str(own)
    assert set(json.loads((out / "videos.json").read_text())) == {"labeled", "pool", "val"}


def test_mistakes_are_named_before_any_work(own, tmp_path):
    def problems(**overrides) -> str:
        with pytest.raises(ConfigError) as e:
            cfg = validate(config_from_dict(own_config(own, tmp_path / "x", **overrides)))
            load_val(cfg)
        return str(e.value)

    assert "val_csv is required with video_folder" in problems(val_csv=None)
    assert "video_folder='/no/such/dir' is not a directory" in problems(video_folder="/no/such/dir")
    assert "labeled_csv='missing.csv': not found" in problems(labeled_csv="missing.csv")
    (own / "leaky_val.csv").write_text("path,caption\nclips/take0.mp4,a red square moving\n")
    assert "share 1 video(s)" in problems(val_csv="leaky_val.csv")
    # val_every=0: no validation set needed.
    validate(config_from_dict(own_config(own, tmp_path / "y", val_csv=None, val_every=0)))
    # A captions file's own problems are all named at once (the folder reader's message).
    (own / "bad.csv").write_text("path,caption\nclips/take0.mp4,\nclips/take1.mp4,a\nclips/take1.mp4,b\n")
    with pytest.raises(AnnotationError, match=r"2 problem\(s\)") as e:
        load_labeled(validate(config_from_dict(own_config(own, tmp_path / "z", labeled_csv="bad.csv"))))
    assert "an empty caption" in str(e.value) and "duplicates line 3" in str(e.value)


def test_the_readme_walkthrough_runs_on_a_small_folder(own, tmp_path, capsys):
    """README "Training on your own videos", command by command: doctor, pseudo labels, train, α chosen on the
    validation captions, then the test folder scored by the teacher, the fused model and the student."""
    import torch

    from fitclip.__main__ import main as cli
    from fitclip.files import save_state
    from fitclip.models import load_clip, model_file_state
    from fitclip.pseudo_labels import main as pseudo_labels
    from fitclip.train import main as train

    torch.manual_seed(0)
    teacher = tmp_path / "teacher.pt"  # stands in for --pretrained openai (no downloads in tests)
    save_state(model_file_state(load_clip("fitclip-tiny", None)), teacher)
    test = tmp_path / "test"
    (test / "clips").mkdir(parents=True)
    for i in (8, 9, 10, 11):
        shutil.copyfile(own / "clips" / f"take{i}.mp4", test / "clips" / f"take{i}.mp4")
    (test / "captions.csv").write_text("path,caption\n" + "".join(f"clips/take{i}.mp4,take {i}\n" for i in (8, 9, 10, 11)))
    for captions in ("labeled.csv", "val.csv"):
        assert cli(["doctor", "--dataset", "folder", "--data-root", str(own), "--dataset-option",
                    f"captions={captions}"]) == 0
    common = ["--arch", "fitclip-tiny", "--pretrained", str(teacher), "--video_folder", str(own),
              "--labeled_csv", "labeled.csv", "--val_csv", "val.csv", "--unlabeled", f"folder:{own / 'clips'}",
              "--unlabeled_text", str(own / "prompts.txt"), "--pseudo_labels", str(tmp_path / "labels"),
              "--data_root", str(tmp_path), "--num_workers", "0"]
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"batch_size_labeled": 4, "batch_size_unlabeled": 4, "max_steps": 2,
                                  "val_every": 2, "save_every": 2, "lr": 1e-3, "out_dir": str(tmp_path / "run")}))
    assert pseudo_labels(["--config", str(config), *common]) == 0
    assert train(["--config", str(config), *common]) == 0
    student = tmp_path / "run" / "best_labeled.pt"
    grid = tmp_path / "val.jsonl"
    view = ["--arch", "fitclip-tiny", "--pretrained", str(teacher), "--student", str(student), "--num-workers", "0",
            "--no-progress"]
    assert cli(["evaluate", "--dataset", "folder", "--data-root", str(own), "--dataset-option", "captions=val.csv",
                "--alpha", "0", "0.5", "1", "--out", str(grid), *view]) == 0
    rows = [json.loads(line) for line in grid.read_text().splitlines()]
    mrr = {r["alpha"]: r["value"] for r in rows if r["metric"] == "MRR"}
    assert set(mrr) == {0.0, 0.5, 1.0} and all(0 < v <= 100 for v in mrr.values())
    alpha = max(sorted(mrr), key=mrr.__getitem__)  # the validation's best α (ties: the smaller)
    out = tmp_path / "test.jsonl"
    alphas = sorted({0.0, alpha, 1.0})  # the teacher, the chosen fusion, the student
    assert cli(["evaluate", "--dataset", "folder", "--data-root", str(test), "--dataset-option",
                "captions=captions.csv", "--alpha", *map(str, alphas), "--out", str(out), *view]) == 0
    scored = {(r["alpha"], r["metric"]) for r in map(json.loads, out.read_text().splitlines())}
    assert {(a, "R@5") for a in alphas} <= scored
