"""The study on your own videos (issue 20 §5): ``python -m fitclip.pipeline 01 02 03 04 05 -p world custom …`` on a
small folder made of the smoke world's videos — the doctor first, then training from your captions files,
the α grid on your benchmarks and validation captions, α chosen there by MRR, 05's table with CIs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fitclip.annotations import load_annotations
from fitclip.study.custom import VALIDATION, grid_datasets, parse_benchmark, prepare_custom

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def mine(toy_world, tmp_path_factory) -> dict:
    """my_videos/ (the smoke world's 16 WebVid-like videos: 8 labeled, 4 validation, 4 pool, no pool captions),
    my_test/ (its MSR-VTT-like videos with captions: retrieval), my_classes/ (UCF101-like class folders) and a
    teacher file (the toy architecture, random weights: stands in for --pretrained openai)."""
    import torch

    from fitclip.files import save_state
    from fitclip.models import load_clip, model_file_state

    world = toy_world[0]
    base = tmp_path_factory.mktemp("mine")
    torch.manual_seed(0)
    save_state(model_file_state(load_clip("fitclip-toy", None)), base / "teacher.pt")
    videos = base / "my_videos"
    videos.mkdir()
    items = [*load_annotations("webvid", world, split="train").items, *load_annotations("webvid", world, split="val").items]
    rows = []
    for i, item in enumerate(items):
        shutil.copyfile(item.path, videos / f"clip{i:02d}.mp4")
        rows.append(f"clip{i:02d}.mp4,{item.text.replace(',', ' ')}\n")
    (videos / "labeled.csv").write_text("path,caption\n" + "".join(rows[:8]))
    (videos / "val.csv").write_text("path,caption\n" + "".join(rows[8:12]))
    (base / "prompts.txt").write_text("a red circle moving left\na blue square spinning\na green bar growing\n")
    test = base / "my_test"
    test.mkdir()
    msrvtt = load_annotations("msrvtt", world)
    (test / "captions.csv").write_text("path,caption\n" + "".join(
        f"{Path(i.path).name},{i.text.replace(',', ' ')}\n" for i in msrvtt.items))
    for i in msrvtt.items:
        shutil.copyfile(i.path, test / Path(i.path).name)
    classes = base / "my_classes"
    for i in load_annotations("ucf101", world).items[:6]:
        (classes / Path(i.path).parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(i.path, classes / Path(i.path).parent.name / Path(i.path).name)
    return {"base": base, "videos": videos, "teacher": base / "teacher.pt",
            "benchmarks": [f"{test}:captions=captions.csv", f"{classes}:classes=subfolders"]}


def test_benchmark_specs_and_mistakes_are_named(mine, tmp_path):
    name, source = parse_benchmark(mine["benchmarks"][0])
    assert name == "my_test" and source["options"] == {"captions": "captions.csv"}
    with pytest.raises(ValueError, match="FOLDER:captions=FILE.csv"):
        parse_benchmark("my_test")
    with pytest.raises(ValueError, match="is not one"):
        prepare_custom(tmp_path, "/no/such/folder", "labeled.csv", "val.csv", "", mine["benchmarks"])
    with pytest.raises(ValueError, match="needs benchmarks"):
        prepare_custom(tmp_path, str(mine["videos"]), "labeled.csv", "val.csv", "", [])
    inside = mine["videos"] / "held_out"
    with pytest.raises(ValueError, match="lie inside video_folder"):
        prepare_custom(tmp_path, str(mine["videos"]), "labeled.csv", "val.csv", "", [f"{inside}:captions=x.csv"])
    broken = mine["base"] / "broken"
    broken.mkdir(exist_ok=True)
    (broken / "a.mp4").write_bytes(b"not a video")
    (broken / "captions.csv").write_text("path,caption\na.mp4,something\n")
    with pytest.raises(ValueError, match="your videos have problems") as e:
        prepare_custom(tmp_path, str(mine["videos"]), "labeled.csv", "val.csv", "", [f"{broken}:captions=captions.csv"])
    assert "doctor folder/all" in str(e.value)


def test_the_study_runs_on_your_folders(mine, tmp_path):
    data = tmp_path / "data"
    params = ["-p", "smoke", "True", "-p", "data_root", str(data), "-p", "world", "custom",
              "-p", "video_folder", str(mine["videos"]), "-p", "benchmarks", json.dumps(mine["benchmarks"]),
              "-p", "pretrained", str(mine["teacher"]), "-p", "unlabeled_text", str(mine["base"] / "prompts.txt")]
    done = subprocess.run([sys.executable, "-m", "fitclip.pipeline", "01", "02", "03", "04", "05", *params, "--quiet"],
                          capture_output=True, text=True, timeout=1200, cwd=REPO)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    index = json.loads((data / "01_data_prep" / "datasets.json").read_text())
    assert index["world"] == "custom" and index["benchmarks"] == ["my_test", "my_classes"]
    assert [e[0] for e in grid_datasets(index)] == ["my_test", "my_classes", VALIDATION]
    config = json.loads((data / "03_train" / "fitclip" / "config.json").read_text())
    assert config["video_folder"] == str(mine["videos"]) and config["labeled_csv"] == "labeled.csv"
    assert config["unlabeled"]["name"] == "folder" and "captions" not in config["unlabeled"]
    choice = json.loads((data / "04_fusion" / "chosen_alpha.json").read_text())
    assert choice["select_on"] == [VALIDATION] and choice["criterion"] == "MRR" and choice["n_validation"] == 4
    rows = [json.loads(line) for line in (data / "05_benchmarks" / "results.jsonl").read_text().splitlines()]
    headline = {(r["dataset"], r["metric"]) for r in rows if r["model"] == "Teacher"}
    assert {("my_test", "R@5"), ("my_classes", "top1")} <= headline
    assert all(r["ci_low"] <= r["value"] <= r["ci_high"] for r in rows if r["dataset"] != "average")
    table = (data / "05_benchmarks" / "table.md").read_text()
    assert "my_test" in table and "my_classes" in table and "average" in table
