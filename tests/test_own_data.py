"""Your own data as a benchmark (issue 20 §5): a folder of class sub-folders (top-1 over their names) and a folder
with a ``path,caption[,start,end]`` CSV (R@k), read by the same loader, checked by the doctor (every problem named)
and evaluated by ``fitclip evaluate``; videos copied from the smoke toy world."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fitclip.annotations import AnnotationError, folder_class_name, load_annotations


def _videos(toy_world) -> list[Path]:
    root, _ = toy_world
    return sorted((root / "ucf101" / "UCF-101").glob("*/*.avi"))


@pytest.fixture
def class_folder(tmp_path, toy_world) -> Path:
    root = tmp_path / "my_clips"
    videos = _videos(toy_world)
    for name in sorted({v.parent.name for v in videos})[:4]:  # four classes, two videos each
        folder = root / name.replace("Moving", "moving_").lower()
        folder.mkdir(parents=True)
        for video in [v for v in videos if v.parent.name == name][:2]:
            shutil.copyfile(video, folder / video.name)
    return root


@pytest.fixture
def caption_folder(tmp_path, toy_world) -> Path:
    root = tmp_path / "my_captions"
    (root / "clips").mkdir(parents=True)
    for i, video in enumerate(_videos(toy_world)[:5]):
        shutil.copyfile(video, root / "clips" / f"take{i}.avi")
    return root


def test_class_subfolders_are_a_classification_benchmark(class_folder):
    a = load_annotations("folder", class_folder, classes="subfolders")
    assert a.task == "classification" and len(a) == 8
    assert a.classnames == ["blinking", "growing", "moving down", "moving left"]  # sorted folders, _ as a space
    assert [a.classnames[i.target] for i in a][:3] == ["blinking", "blinking", "growing"]
    assert a.templates is None and a.class_prompts()[2] == ["moving down"]  # the raw name is the prompt
    assert folder_class_name("playing_guitar-solo") == "playing guitar solo"
    names = class_folder.parent / "names.txt"  # a class-name set works for a folder too
    names.write_text("blinking | flashing\ngrowing\nmoving down\nmoving left\n")
    assert load_annotations("folder", class_folder, classes="subfolders",
                            classnames=str(names)).class_prompts()[0] == ["blinking", "flashing"]
    shutil.copyfile(next(class_folder.glob("*/*.avi")), class_folder / "loose.avi")
    with pytest.raises(AnnotationError, match=r"1 video\(s\) lie directly in the folder, in no class folder"):
        load_annotations("folder", class_folder, classes="subfolders")


def test_a_captions_csv_of_paths_is_a_retrieval_benchmark_and_every_problem_is_named(caption_folder):
    csv = caption_folder / "captions.csv"
    csv.write_text("path,caption,start,end\n"
                   "clips/take0.avi,a red circle moving left,0,1\n"
                   "clips/take0.avi,the same video later,1,2\n"
                   "clips/take1.avi,,0,1\n"                            # empty caption
                   "clips/take2.avi,twice,0,1\nclips/take2.avi,twice again,0,1\n"  # duplicate path and window
                   "clips/take3.avi,backwards,2,1\n"                   # empty window
                   "clips/take4.avi,x,soon,1\n")                       # not seconds
    with pytest.raises(AnnotationError) as e:
        load_annotations("folder", caption_folder, captions="captions.csv")
    message = str(e.value)
    assert "4 problem(s)" in message
    for text in ("line 4: clips/take1.avi: an empty caption", "line 6: clips/take2.avi [0, 1.0] duplicates line 5",
                 "line 7: clips/take3.avi: the window [2, 1.0] is empty or negative",
                 "line 8: clips/take4.avi: start/end 'soon', '1' are not seconds"):
        assert text in message
    csv.write_text("path,caption,start,end\nclips/take0.avi,a red circle moving left,0,1\n"
                   "clips/take0.avi,the same video later,1,2\nclips/take1.avi,one more,,\n")
    a = load_annotations("folder", caption_folder, captions=str(csv))  # absolute works too
    assert a.task == "retrieval" and [i.key for i in a] == ["clips/take0.avi@0-1", "clips/take0.avi@1-2",
                                                            "clips/take1.avi@0-end"]
    assert (a.items[1].start, a.items[1].end, a.items[2].end) == (1.0, 2.0, None)
    csv.write_text("path,caption\n../outside.avi,escape\n")
    with pytest.raises(AnnotationError, match="points outside the dataset folder"):
        load_annotations("folder", caption_folder, captions="captions.csv")
    with pytest.raises(ValueError, match="two benchmarks; pass one of them"):
        load_annotations("folder", caption_folder, captions="captions.csv", classes="subfolders")


def test_cli_evaluates_and_doctors_your_folders(class_folder, caption_folder, tmp_path, capsys):
    from fitclip.__main__ import main

    common = ["--arch", "fitclip-tiny", "--pretrained", "none", "--no-progress", "--num-workers", "0"]
    assert main(["evaluate", "--dataset", "folder", "--data-root", str(class_folder), "--dataset-option",
                 "classes=subfolders", "--out", str(tmp_path / "cls.jsonl"), *common]) == 0
    rows = [json.loads(line) for line in (tmp_path / "cls.jsonl").read_text().splitlines()]
    assert {r["metric"] for r in rows} == {"top1", "top5", "MdR"} and rows[0]["n_evaluated"] == 8
    (caption_folder / "captions.csv").write_text("path,caption\n" + "".join(
        f"clips/take{i}.avi,caption number {i}\n" for i in range(5)))
    assert main(["evaluate", "--dataset", "folder", "--data-root", str(caption_folder), "--dataset-option",
                 "captions=captions.csv", "--out", str(tmp_path / "ret.jsonl"), *common]) == 0
    assert "R@5" in capsys.readouterr().out
    doctor = ["doctor", "--dataset", "folder", "--data-root", str(caption_folder), "--dataset-option",
              "captions=captions.csv", "--out-dir", str(tmp_path / "doc"), "--no-progress", "--num-workers", "0"]
    assert main(doctor) == 0
    (caption_folder / "clips" / "take3.avi").unlink()
    assert main(doctor) == 1
    assert "clips/take3.avi" in capsys.readouterr().out  # the missing video, named
