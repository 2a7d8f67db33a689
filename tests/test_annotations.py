"""Annotation loaders: every parser on the toy world's files (any clone), the facts of the real files in
../shared/benchmarks, malformed inputs and the seeded subset sampler.

The parser tests copy the toy world's annotation files (the ``toy_benchmarks`` fixture: the same official
formats, written by ``fitclip.toyworld``'s writers) into a temporary data root. The tests of facts of the
real files (their counts, the class lists, the quirks) copy those from ../shared/benchmarks (read-only, never
copied into the repo) and skip, with the reason, where it is absent (the ``shared_benchmarks`` fixture).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import pytest

from fitclip.annotations import SPECS, AnnotationError, load_annotations, sample_labeled_subset
from fitclip.folders import escape_name, list_folder
from fitclip.prompts import UCF101_TEMPLATES, format_prompts, ucf101_class_name


def _copy(src: Path, dst: Path, transform=None) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if transform is None:
        shutil.copyfile(src, dst)
    else:
        dst.write_bytes(transform(src.read_bytes()))
    return dst


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _bom(data: bytes) -> bytes:
    return b"\xef\xbb\xbf" + data


@pytest.fixture
def toy_root(tmp_path, toy_benchmarks) -> Path:
    """A writable copy of the toy world's annotation files (every benchmark, no videos)."""
    shutil.copytree(toy_benchmarks, tmp_path / "data")
    return tmp_path / "data"


@pytest.fixture
def ucf_root(tmp_path, shared_benchmarks):
    for name in ("classInd.txt", "testlist01.txt", "trainlist01.txt"):
        _copy(shared_benchmarks / "ucf101" / name, tmp_path / "ucf101" / "ucfTrainTestlist" / name)
    return tmp_path


# ----------------------------------------------------------------------------------------------------
# UCF101
# ----------------------------------------------------------------------------------------------------


def test_ucf101_real_split1(ucf_root, shared_benchmarks):
    ann = load_annotations("ucf101", ucf_root)
    assert (ann.name, ann.split, ann.task) == ("ucf101", "test", "classification")
    assert len(ann) == 3783
    assert len(ann.classnames) == 101
    assert len({item.key for item in ann}) == 3783
    assert {item.target for item in ann} == set(range(101))
    assert ann.classnames[0] == "Apply Eye Makeup"
    assert ann.classnames[100] == "Yo Yo"
    assert ann.classnames[36] == "Handstand Pushups"
    # The official spelling quirk: folder HandstandPushups, files v_HandStandPushups_*; target from folder.
    quirk = [item for item in ann if item.key.startswith("v_HandStandPushups_")]
    assert quirk and all(item.target == 36 and item.path.parent.name == "HandstandPushups" for item in quirk)
    first = ann.items[0]
    assert first.path == ucf_root / "ucf101" / "UCF-101" / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g01_c01.avi"
    assert first.text is None and first.start is None and first.end is None
    # No videos in the temp layout: every item is reported missing (and still listed).
    assert len(ann.missing) == 3783
    assert [p.name for p in ann.annotation_files] == ["classInd.txt", "testlist01.txt"]
    # The 48 templates equal openai/CLIP's UCF101 templates, and the prompts fill them in.
    shared_templates = (shared_benchmarks / "prompts" / "openai_clip_ucf101_templates.txt").read_text().splitlines()
    assert list(UCF101_TEMPLATES) == shared_templates == ann.templates
    assert len(UCF101_TEMPLATES) == 48
    prompts = ann.class_prompts()
    assert len(prompts) == 101 and all(len(p) == 48 for p in prompts)
    assert prompts[100][0] == "a photo of a person Yo Yo."


def test_ucf101_split1_on_toy_files(toy_root):
    ann = load_annotations("ucf101", toy_root)
    assert (ann.name, ann.split, ann.task) == ("ucf101", "test", "classification")
    assert len(ann) == 20 and len({item.key for item in ann}) == 20  # 10 classes x 2 videos
    assert ann.classnames == ["Blinking", "Growing", "Moving Down", "Moving Left", "Moving Right", "Moving Up",
                              "Shaking", "Shrinking", "Spinning", "Staying Still"]
    assert [item.target for item in ann] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9]
    first = ann.items[0]
    assert (first.key, first.video_id) == ("v_Blinking_g01_c01", "v_Blinking_g01_c01")
    assert first.path == toy_root / "ucf101" / "UCF-101" / "Blinking" / "v_Blinking_g01_c01.avi"
    assert first.text is None and first.start is None and first.end is None
    assert len(ann.missing) == 20  # no videos in this layout: every item is reported missing (and still listed)
    assert [p.name for p in ann.annotation_files] == ["classInd.txt", "testlist01.txt"]
    assert ann.templates == list(UCF101_TEMPLATES)
    prompts = ann.class_prompts()
    assert len(prompts) == 10 and all(len(p) == 48 for p in prompts)
    assert prompts[9][0] == "a photo of a person Staying Still."

    # The target comes from the folder, not from the file name (UCF101's HandstandPushups quirk).
    split = toy_root / "ucf101" / "ucfTrainTestlist" / "testlist01.txt"
    split.write_text(split.read_text() + "Growing/v_GrowingUp_g09_c01.avi\n")
    assert load_annotations("ucf101", toy_root).items[-1].target == 1


def test_ucf101_train_list_label_column_on_toy_files(toy_root):
    lists = toy_root / "ucf101" / "ucfTrainTestlist"
    (lists / "trainlist01.txt").write_text("Blinking/v_Blinking_g08_c01.avi 1\nMovingDown/v_MovingDown_g08_c01.avi 3\n")
    ann = load_annotations("ucf101", toy_root, split="train")
    assert [(item.key, item.target) for item in ann] == [("v_Blinking_g08_c01", 0), ("v_MovingDown_g08_c01", 2)]
    (lists / "trainlist01.txt").write_text("Blinking/v_Blinking_g08_c01.avi 2\n")
    with pytest.raises(AnnotationError, match=r"line 1, column 2: label '2' does not match folder 'Blinking' \(id 1"):
        load_annotations("ucf101", toy_root, split="train")


def test_ucf101_class_name_rule():
    assert ucf101_class_name("ApplyEyeMakeup") == "Apply Eye Makeup"
    assert ucf101_class_name("YoYo") == "Yo Yo"
    assert ucf101_class_name("HandstandPushups") == "Handstand Pushups"
    assert ucf101_class_name("MovingDown") == "Moving Down"


def test_ucf101_class_names_vs_clips_list(shared_benchmarks):
    # Equal to CLIP's class list except the 5 documented positions (1 spelling, 2 swapped pairs).
    folders = [line.split()[1] for line in (shared_benchmarks / "ucf101" / "classInd.txt").read_text().splitlines()]
    ours = [ucf101_class_name(f) for f in folders]
    clip = (shared_benchmarks / "prompts" / "openai_clip_ucf101_classes.txt").read_text().splitlines()
    assert [i for i, (a, b) in enumerate(zip(ours, clip)) if a != b] == [34, 35, 36, 46, 47]
    assert sorted(set(ours) ^ set(clip)) == ["Hand Stand Pushups", "Handstand Pushups"]


def test_ucf101_train_list_with_label_column(ucf_root):
    ann = load_annotations("ucf101", ucf_root, split="train")
    assert len(ann) == 9537 and {item.target for item in ann} == set(range(101))


@pytest.mark.parametrize("transform", [_crlf, _bom, lambda b: _bom(_crlf(b))], ids=["crlf", "bom", "bom+crlf"])
def test_ucf101_crlf_and_bom(toy_root, transform):
    for name in ("classInd.txt", "testlist01.txt"):
        path = toy_root / "ucf101" / "ucfTrainTestlist" / name
        path.write_bytes(transform(path.read_bytes()))
    assert b"\r\n" in path.read_bytes() or path.read_bytes().startswith(b"\xef\xbb\xbf")
    ann = load_annotations("ucf101", toy_root)
    assert len(ann) == 20 and ann.classnames[0] == "Blinking" and ann.classnames[9] == "Staying Still"
    assert ann.items[0].key == "v_Blinking_g01_c01" and ann.items[-1].key == "v_StayingStill_g02_c01"
    assert all("\r" not in item.key and "\ufeff" not in item.key for item in ann)


def test_ucf101_unknown_class_and_duplicates(toy_root):
    split = toy_root / "ucf101" / "ucfTrainTestlist" / "testlist01.txt"
    lines = split.read_text().splitlines()
    split.write_text("\n".join(lines[:5] + ["NotAClass/v_NotAClass_g01_c01.avi"] + lines[5:]) + "\n")
    with pytest.raises(AnnotationError) as e:
        load_annotations("ucf101", toy_root)
    message = str(e.value)
    assert "testlist01.txt" in message and "line 6" in message and "'NotAClass'" in message
    assert "classInd.txt" in message

    split.write_text("\n".join(lines + [lines[10]]) + "\n")
    assert len(lines) == 20 and lines[10] == "MovingUp/v_MovingUp_g01_c01.avi"
    with pytest.raises(AnnotationError, match=r"line 21: duplicate video 'v_MovingUp_g01_c01' \(first seen at line 11\)"):
        load_annotations("ucf101", toy_root)


def test_ucf101_malformed_class_file(toy_root):
    class_file = toy_root / "ucf101" / "ucfTrainTestlist" / "classInd.txt"
    class_file.write_text("1 ApplyEyeMakeup\nApplyLipstick\n")
    with pytest.raises(AnnotationError, match=r"classInd.txt: line 2: 'ApplyLipstick' is not '<1-based id> <ClassFolder>'"):
        load_annotations("ucf101", toy_root)
    class_file.write_text("")
    with pytest.raises(AnnotationError, match=r"classInd.txt is empty"):
        load_annotations("ucf101", toy_root)


# ----------------------------------------------------------------------------------------------------
# Moments in Time
# ----------------------------------------------------------------------------------------------------


def _mit_root(tmp_path, shared_benchmarks, rows: str) -> Path:
    _copy(shared_benchmarks / "moments_in_time" / "moments_categories.RECONSTRUCTED_v1.txt",
          tmp_path / "mit" / "moments_categories.txt")
    (tmp_path / "mit" / "validationSet.csv").write_text(rows)
    return tmp_path


def test_mit_on_toy_files(toy_root):
    rows = ("circle+moving+left/yt-abc_1.mp4,circle+moving+left,3,0\n"
            "square+spinning/yt-xyz_2.mp4,square+spinning,2,1\r\n"
            "bar+shrinking/flickr-3-4-5_6.mp4,bar+shrinking,3,0\n")
    (toy_root / "mit" / "validationSet.csv").write_text(rows)
    present = toy_root / "mit" / "validation" / "bar+shrinking" / "flickr-3-4-5_6.mp4"
    present.parent.mkdir(parents=True)
    present.write_bytes(b"x")
    ann = load_annotations("mit", toy_root)
    assert ann.task == "classification" and ann.split == "val"
    assert len(ann.classnames) == 58  # 6 shapes x 10 motions, minus spinning circles and rings
    assert ann.classnames[:2] == ["circle+moving+left", "circle+moving+right"]
    assert ann.classnames[14] == "square+spinning" and ann.classnames[57] == "bar+shrinking"
    assert ann.templates is None
    assert ann.class_prompts()[14] == ["square+spinning"]  # the raw name, '+' kept
    assert [item.target for item in ann] == [0, 14, 57]
    assert ann.items[1].key == "square+spinning/yt-xyz_2.mp4"
    assert ann.items[1].video_id == "square+spinning/yt-xyz_2"
    assert ann.items[1].path == toy_root / "mit" / "validation" / "square+spinning" / "yt-xyz_2.mp4"
    assert ann.items[2].path == present
    assert ann.missing == ["circle+moving+left/yt-abc_1.mp4", "square+spinning/yt-xyz_2.mp4"]


def test_mit_reconstructed_categories(tmp_path, shared_benchmarks):
    rows = ("clapping/yt-abc_1.mp4,clapping,3,0\n"
            "adult+female+singing/getty-xyz_2.mp4,adult+female+singing,2,1\r\n"
            "typing/flickr-3-4-5_6.mp4,typing,3,0\n")
    root = _mit_root(tmp_path, shared_benchmarks, rows)
    (root / "mit" / "validation" / "typing").mkdir(parents=True)
    (root / "mit" / "validation" / "typing" / "flickr-3-4-5_6.mp4").write_bytes(b"x")
    ann = load_annotations("mit", root)
    assert ann.task == "classification" and ann.split == "val"
    assert len(ann.classnames) == 339
    assert ann.classnames[:3] == ["clapping", "praying", "dropping"] and ann.classnames[338] == "typing"
    assert ann.templates is None
    prompts = ann.class_prompts()
    assert prompts[ann.classnames.index("adult+female+singing")] == ["adult+female+singing"]
    assert [item.target for item in ann] == [0, ann.classnames.index("adult+female+singing"), 338]
    assert ann.items[1].key == "adult+female+singing/getty-xyz_2.mp4"
    assert ann.items[1].path == root / "mit" / "validation" / "adult+female+singing" / "getty-xyz_2.mp4"
    assert ann.missing == ["clapping/yt-abc_1.mp4", "adult+female+singing/getty-xyz_2.mp4"]
    assert "rows" in ann.notes


def test_mit_unknown_category_and_short_row(toy_root):
    root = toy_root
    (root / "mit" / "validationSet.csv").write_text("circle+growing/a.mp4,circle+growing,3,0\n"
                                                    "x/b.mp4,skydiving,3,0\n")
    with pytest.raises(AnnotationError, match=r"validationSet.csv: line 2, column 2: unknown category 'skydiving'"):
        load_annotations("mit", root)
    (root / "mit" / "validationSet.csv").write_text("circle+growing/a.mp4\n")
    with pytest.raises(AnnotationError, match=r"line 1: 1 field\(s\), expected 2"):
        load_annotations("mit", root)


# ----------------------------------------------------------------------------------------------------
# MSR-VTT
# ----------------------------------------------------------------------------------------------------


def test_msrvtt_jsfusion_on_toy_files(toy_root):
    ann = load_annotations("msrvtt", toy_root)
    assert (ann.task, ann.split, len(ann)) == ("retrieval", "test", 8)
    assert [item.key for item in ann] == [f"ret{i}" for i in range(8)]
    first = ann.items[0]
    assert (first.key, first.video_id, first.text) == ("ret0", "video8239", "there is a red ring quickly moving up")
    assert first.path == toy_root / "msrvtt" / "videos" / "all" / "video8239.mp4"
    assert ann.missing == [item.key for item in ann]


def test_msrvtt_jsfusion(tmp_path, shared_benchmarks):
    _copy(shared_benchmarks / "msrvtt" / "MSRVTT_JSFUSION_test.csv", tmp_path / "msrvtt" / "MSRVTT_JSFUSION_test.csv")
    ann = load_annotations("msrvtt", tmp_path)
    assert ann.task == "retrieval" and len(ann) == 1000
    assert len({item.video_id for item in ann}) == 1000
    first = ann.items[0]
    assert (first.key, first.video_id, first.text) == ("ret0", "video9770", "a person is connecting something to system")
    assert first.path == tmp_path / "msrvtt" / "videos" / "all" / "video9770.mp4"


def test_msrvtt_frozen_route_first_caption(toy_root):
    tmp_path = toy_root
    ids = [item.video_id for item in load_annotations("msrvtt", toy_root)][::-1]  # the toy's 8 videos
    list_file = tmp_path / "msrvtt" / "structured-symlinks" / "val_list_jsfusion.txt"
    list_file.parent.mkdir(parents=True)
    list_file.write_text("\n".join(ids) + "\n")
    annotations = [{"image_id": "video1", "caption": "not in the test list", "id": 0}]
    for round_ in range(2):  # two captions per video, interleaved: the first in JSON order must win
        for vid in reversed(ids):
            annotations.append({"image_id": vid, "caption": f"{vid} caption {round_}", "id": len(annotations)})
    json_path = tmp_path / "msrvtt" / "annotation" / "MSR_VTT.json"
    json_path.parent.mkdir(parents=True)
    json_path.write_text(json.dumps({"info": {}, "annotations": annotations}))
    ann = load_annotations("msrvtt", tmp_path, source="frozen")
    assert len(ann) == 8
    assert [item.video_id for item in ann] == ids
    assert all(item.text == f"{item.video_id} caption 0" for item in ann)
    assert "first caption" in ann.notes

    json_path.write_text(json.dumps({"annotations": [a for a in annotations if a["image_id"] != ids[3]]}))
    with pytest.raises(AnnotationError, match=rf"val_list_jsfusion.txt: line 4: video '{ids[3]}' has no caption"):
        load_annotations("msrvtt", tmp_path, source="frozen")


def test_msrvtt_missing_column_and_duplicate_key(toy_root):
    tmp_path = toy_root
    dst = tmp_path / "msrvtt" / "MSRVTT_JSFUSION_test.csv"
    lines = dst.read_text().splitlines()
    dst.write_bytes(dst.read_bytes().replace(b"sentence", b"caption", 1))
    with pytest.raises(AnnotationError) as e:
        load_annotations("msrvtt", tmp_path)
    assert "MSRVTT_JSFUSION_test.csv" in str(e.value) and "missing column(s) 'sentence'" in str(e.value)
    assert "['key', 'vid_key', 'video_id', 'caption']" in str(e.value)

    dst.write_text("\n".join(lines + [lines[5]]) + "\n")  # header + 8 rows, then row 5 again
    with pytest.raises(AnnotationError, match=r"line 10: duplicate key 'ret4' \(first seen at line 6\)"):
        load_annotations("msrvtt", tmp_path)


# ----------------------------------------------------------------------------------------------------
# YouCook2
# ----------------------------------------------------------------------------------------------------


def test_youcook2_on_toy_files(toy_root):
    # One video present with a non-mp4 extension, next to a non-video file sharing its stem.
    task_dir = toy_root / "youcook2" / "validation" / "106"
    task_dir.mkdir(parents=True)
    (task_dir / "qrHcZK4eIpG.info.json").write_text("{}")
    (task_dir / "qrHcZK4eIpG.mkv").write_bytes(b"x")
    # A second caption of an existing window keeps keys unique.
    csv_path = toy_root / "youcook2" / "validation_youcook.csv"
    csv_path.write_text(csv_path.read_text() + "6,4,153,a second caption,iGTFd7HHb4A\n")
    ann = load_annotations("youcook2", toy_root)
    assert (ann.task, ann.split, len(ann)) == ("retrieval", "val", 11)
    assert len({item.key for item in ann}) == 11 and len({item.video_id for item in ann}) == 3
    first = ann.items[0]
    assert (first.key, first.video_id, first.start, first.end) == ("qrHcZK4eIpG_1_3", "qrHcZK4eIpG", 1.0, 3.0)
    assert first.text == "watch the red bar rapidly sliding down"
    assert first.path == task_dir / "qrHcZK4eIpG.mkv"
    repeated = [item for item in ann if item.key.startswith("iGTFd7HHb4A_4_6")]
    assert [(item.key, item.text) for item in repeated] == [
        ("iGTFd7HHb4A_4_6", "the lime ring is moving upward"), ("iGTFd7HHb4A_4_6_2", "a second caption")]
    # Missing videos get the most likely path (<task>/<video_id>.mp4) and are listed.
    assert ann.missing == [item.key for item in ann if item.video_id != "qrHcZK4eIpG"] and len(ann.missing) == 7
    assert ann.items[-1].path == toy_root / "youcook2" / "validation" / "153" / "iGTFd7HHb4A.mp4"


def test_youcook2_real_clips(tmp_path, shared_benchmarks):
    _copy(shared_benchmarks / "youcook2" / "validation_youcook.csv", tmp_path / "youcook2" / "validation_youcook.csv")
    # One video present with a non-mp4 extension, next to a non-video file sharing its stem.
    task_dir = tmp_path / "youcook2" / "validation" / "226"
    task_dir.mkdir(parents=True)
    (task_dir / "xHr8X2Wpmno.info.json").write_text("{}")
    (task_dir / "xHr8X2Wpmno.mkv").write_bytes(b"x")
    ann = load_annotations("youcook2", tmp_path)
    assert ann.task == "retrieval" and len(ann) == 3350
    assert len({item.key for item in ann}) == 3350
    assert len({item.video_id for item in ann}) == 436
    first = ann.items[0]
    assert (first.key, first.video_id, first.start, first.end) == ("xHr8X2Wpmno_47_60", "xHr8X2Wpmno", 47.0, 60.0)
    assert first.text == "pick the ends off the verdalago"
    assert first.path == task_dir / "xHr8X2Wpmno.mkv"
    assert all(item.start <= item.end for item in ann)
    # The real file has one window with two captions: keys stay unique.
    repeated = [item for item in ann if item.key.startswith("oJZUxU9szWA_120_252")]
    assert [item.key for item in repeated] == ["oJZUxU9szWA_120_252", "oJZUxU9szWA_120_252_2"]
    assert repeated[0].text != repeated[1].text
    # Missing videos get the most likely path (<task>/<video_id>.mp4) and are listed.
    n_present = sum(item.video_id == "xHr8X2Wpmno" for item in ann)
    assert len(ann.missing) == 3350 - n_present
    missing = ann.items[-1]
    assert missing.path.suffix == ".mp4" and missing.path.parent.parent.name == "validation"


def test_youcook2_bad_number(tmp_path):
    path = tmp_path / "youcook2" / "validation_youcook.csv"
    path.parent.mkdir(parents=True)
    path.write_text("end,start,task,text,video_id\n60,47,226,a,b\n6O,47,226,a,c\n")
    with pytest.raises(AnnotationError, match=r"line 3, column 'end': '6O' is not a number"):
        load_annotations("youcook2", tmp_path)
    path.write_text("end,start,task,text,video_id\n40,47,226,a,b\n")
    with pytest.raises(AnnotationError, match=r"line 2: clip window start=47 end=40 is invalid"):
        load_annotations("youcook2", tmp_path)


# ----------------------------------------------------------------------------------------------------
# DiDeMo
# ----------------------------------------------------------------------------------------------------


@pytest.fixture
def didemo_root(tmp_path, shared_benchmarks):
    for name in ("val_data.json", "test_data.json"):
        _copy(shared_benchmarks / "didemo" / name, tmp_path / "didemo" / name)
    return tmp_path


def test_didemo_paragraphs(didemo_root, shared_benchmarks):
    val = load_annotations("didemo", didemo_root)
    test = load_annotations("didemo", didemo_root, split="test")
    assert (val.split, len(val)) == ("val", 1094)
    assert (test.split, len(test)) == ("test", 1037)
    records = json.loads((shared_benchmarks / "didemo" / "val_data.json").read_text())
    some_video = records[100]["video"]
    expected = " ".join(r["description"].strip() for r in records if r["video"] == some_video)
    item = next(item for item in val if item.key == some_video)
    assert item.text == expected and item.text.count(" ") >= 2
    assert item.start is None and item.end is None
    assert item.video_id == some_video.rsplit(".", 1)[0]
    # Same Flickr video under two extensions: 29 stems in val map to two queries each.
    assert len({item.video_id for item in val}) == 1065
    assert len(load_annotations("didemo", didemo_root, group_by="stem")) == 1065
    assert "1065 distinct files" in val.notes


def test_didemo_paragraphs_on_toy_files(toy_root):
    path = toy_root / "didemo" / "val_data.json"
    records = json.loads(path.read_text())
    ann = load_annotations("didemo", toy_root)
    assert (ann.task, ann.split, len(ann)) == ("retrieval", "val", 3)  # one paragraph per video
    first = ann.items[0]
    assert first.key == "50001496@N02_8615731175_80320e9567.3gp"  # the 'video' value, extension kept
    assert first.video_id == "50001496@N02_8615731175_80320e9567"
    # Its descriptions in JSON order (the file interleaves the videos), stripped, joined by one space.
    assert first.text == ("we see a purple triangle staying still the purple triangle is blinking on and off "
                          "a purple triangle shrinking")
    assert first.start is None and first.end is None
    assert first.path == toy_root / "didemo" / "videos" / "50001496@N02_8615731175_80320e9567.mp4"
    # The same stem under a second extension: two queries over one file, or one with group_by='stem'.
    path.write_text(json.dumps(records + [{**records[0], "video": f"{first.video_id}.mp4", "annotation_id": 1,
                                           "description": " an extra description "}]))
    ann = load_annotations("didemo", toy_root)
    assert len(ann) == 4 and ann.items[-1].text == "an extra description"
    assert "1 stem(s) appear under two 'video' names" in ann.notes
    merged = load_annotations("didemo", toy_root, group_by="stem")
    assert len(merged) == 3 and merged.items[0].text == first.text + " an extra description"


def test_didemo_any_extension_and_trailing_dot(toy_root):
    path = toy_root / "didemo" / "val_data.json"
    records = json.loads(path.read_text())
    dotted = "12345@N00_1234567890_abcdef0123."  # as in the real test_data.json: a 'video' ending in '.'
    path.write_text(json.dumps(records + [{"video": dotted, "description": "a dot", "annotation_id": 1}]))
    videos = toy_root / "didemo" / "videos"
    videos.mkdir()
    (videos / f"{dotted[:-1]}.mp4").write_bytes(b"x")
    (videos / f"{dotted[:-1]}.txt").write_bytes(b"x")
    ann = load_annotations("didemo", toy_root)
    item = next(item for item in ann if item.key == dotted)
    assert item.path == videos / f"{dotted[:-1]}.mp4" and ann.missing == [i.key for i in ann if i.key != dotted]


def test_didemo_bad_json_and_duplicate_record(toy_root):
    path = toy_root / "didemo" / "val_data.json"
    records = json.loads(path.read_text())
    path.write_text(json.dumps(records, indent=1)[:500])
    with pytest.raises(AnnotationError) as e:
        load_annotations("didemo", toy_root)
    assert "val_data.json: line" in str(e.value) and "column" in str(e.value) and "invalid JSON" in str(e.value)

    path.write_text(json.dumps(records + [records[1]]))
    with pytest.raises(AnnotationError, match=rf"record \[{len(records)}\]: duplicate annotation_id .*record \[1\]"):
        load_annotations("didemo", toy_root)

    path.write_text(json.dumps({"videos": records}))
    with pytest.raises(AnnotationError, match=r"expected a JSON list"):
        load_annotations("didemo", toy_root)


# ----------------------------------------------------------------------------------------------------
# WebVid (synthetic rows in the genuine layout) and the folder corpus
# ----------------------------------------------------------------------------------------------------


def test_webvid_on_toy_files(toy_root):
    ann = load_annotations("webvid", toy_root)
    assert (ann.task, ann.split, len(ann)) == ("retrieval", "val", 4)
    assert [item.key for item in ann] == ["35387166", "621190845", "2061622266", "997673"]
    assert ann.items[0].text == "a lime cross, quickly sliding left"  # quoted: a comma inside
    assert ann.items[1].text == 'seamless "loop": a cyan square not moving'  # doubled quotes
    # page_dir is used as given (the third val row's is not the 50-page bucket of its page_idx).
    assert ann.items[2].path == toy_root / "webvid" / "videos" / "094151_094200" / "2061622266.mp4"
    train = load_annotations("webvid", toy_root, split="train")
    assert len(train) == 8 and train.items[1].text == 'seamless "loop": a pink circle rapidly moving to the right'


def test_webvid_synthetic_quoting(tmp_path, shared_benchmarks):
    _copy(shared_benchmarks / "webvid" / "SYNTHETIC_results_2M_val_format_example.csv",
          tmp_path / "webvid" / "results_2M_val.csv")
    ann = load_annotations("webvid", tmp_path)
    assert ann.task == "retrieval" and len(ann) == 5
    assert [item.key for item in ann] == ["1000000001", "2000002", "1000000003", "4000004", "1000000005"]
    assert ann.items[2].text == "SYNTHETIC city street at night, cars passing by"
    assert ann.items[3].text == 'SYNTHETIC "quoted" word and a comma, inside the caption'
    # page_dir is used as given (2000002 is not in the 50-page bucket of its page_idx).
    assert ann.items[1].path == tmp_path / "webvid" / "videos" / "028601_028650" / "2000002.mp4"


def test_webvid_layouts_and_minimal_columns(tmp_path):
    root = tmp_path / "webvid"
    (root / "videos" / "000001_000050").mkdir(parents=True)
    (root / "videos" / "000001_000050" / "0042.mp4").write_bytes(b"x")
    (root / "videos" / "0043.mp4").write_bytes(b"x")
    (root / "results_2M_train.csv").write_bytes(
        b'\xef\xbb\xbfvideoid,name,page_dir\r\n0042,"a, b",000001_000050\r\n0043,c,000001_000050\r\n0044,d,000001_000050\r\n')
    ann = load_annotations("webvid", tmp_path, split="train")
    assert [item.key for item in ann] == ["0042", "0043", "0044"]
    assert ann.items[0].path == root / "videos" / "000001_000050" / "0042.mp4"  # nested exists
    assert ann.items[1].path == root / "videos" / "0043.mp4"  # only the flat one exists
    assert ann.items[2].path == root / "videos" / "000001_000050" / "0044.mp4"  # neither: nested
    assert ann.missing == ["0044"]
    (root / "results_2M_val.csv").write_text("name,videoid\nx,7\n")  # only the needed columns, any order
    flat = load_annotations("webvid", tmp_path)
    assert flat.items[0].path == root / "videos" / "7.mp4" and flat.items[0].text == "x"
    forced = load_annotations("webvid", tmp_path, split="train", layout="flat")
    assert all(item.path.parent == root / "videos" for item in forced)


def test_webvid_malformed_rows(tmp_path):
    path = tmp_path / "webvid" / "results_2M_val.csv"
    path.parent.mkdir(parents=True)
    path.write_text("videoid,name,page_dir\n1,a, b,000001_000050\n")
    with pytest.raises(AnnotationError, match=r"line 2: 4 fields, but the header has 3.*must be quoted"):
        load_annotations("webvid", tmp_path)
    path.write_text("videoid,name\n1,a\n2,b\n1,c\n")
    with pytest.raises(AnnotationError, match=r"line 4: duplicate videoid '1' \(first seen at line 2\)"):
        load_annotations("webvid", tmp_path)
    path.write_text("videoid,caption\n1,a\n")
    with pytest.raises(AnnotationError, match=r"missing column\(s\) 'name'"):
        load_annotations("webvid", tmp_path)


def test_folder_corpus_with_partial_captions(tmp_path):
    root = tmp_path / "my_videos"
    (root / "sub").mkdir(parents=True)
    for name in ("b.mp4", "a.MOV", "sub/c.avi", "notes.txt", ".hidden.mp4"):
        (root / name).write_bytes(b"x")
    (root / "captions.csv").write_text('video_id,caption\nsub/c,"a cat, sleeping"\nb,a bird\nzzz,nobody\n')
    ann = load_annotations("folder", root)
    assert [item.key for item in ann] == ["a.MOV", "b.mp4", "sub/c.avi"]
    assert [item.text for item in ann] == [None, "a bird", "a cat, sleeping"]
    assert ann.task == "unlabeled" and ann.missing == []
    assert "1 caption rows matched no video" in ann.notes
    uncaptioned = load_annotations("folder", root, captions=None, recursive=False)
    assert [item.key for item in uncaptioned] == ["a.MOV", "b.mp4"]


def _odd_folder(tmp_path: Path) -> tuple[Path, Path]:
    """A folder with one of each entry the folder corpus must list without following or opening it."""
    root, outside = tmp_path / "mine", tmp_path / "elsewhere"
    (root / "sub").mkdir(parents=True)
    (outside / "dir").mkdir(parents=True)
    for name in ("a.mp4", "sub/b.avi", "notes.txt"):
        (root / name).write_bytes(b"x")
    (outside / "secret.mp4").write_bytes(b"x")
    (outside / "dir" / "c.mp4").write_bytes(b"x")
    os.mkfifo(root / "pipe.mp4")  # opening it would block forever
    (root / "zero.mp4").symlink_to("/dev/zero")  # reading it never ends
    (root / "random.mkv").symlink_to("/dev/urandom")
    (root / "gone.mp4").symlink_to(root / "missing.mp4")
    (root / "link.mp4").symlink_to(outside / "secret.mp4")  # a file link out of the folder
    (root / "inside.mp4").symlink_to(root / "a.mp4")  # a file link inside it: not followed either
    (root / "linked").symlink_to(outside / "dir")  # a folder link
    (root / "folder.mp4").mkdir()  # a folder named like a video: its files are listed as any folder's
    (root / "folder.mp4" / "d.mp4").write_bytes(b"x")
    (root / os.fsdecode(b"clip\xfe.mp4")).write_bytes(b"x")  # not UTF-8: the decoders cannot open it
    (root / os.fsdecode(b"notes\xfe.txt")).write_bytes(b"x")
    (root / os.fsdecode(b"dir\xff")).mkdir()
    (root / os.fsdecode(b"dir\xff") / "e.mp4").write_bytes(b"x")
    return root, outside


def test_folder_corpus_never_follows_links_nor_opens_special_files(tmp_path):
    root, _ = _odd_folder(tmp_path)
    listing = list_folder(root)  # a FIFO or /dev/zero opened here would hang the test
    assert listing.keys == ["a.mp4", "folder.mp4/d.mp4", "sub/b.avi"]
    assert listing.videos == [root / k for k in listing.keys]
    causes = {r["key"]: (r["cause"], r["reason"]) for r in listing.left_out}
    assert {k: c for k, (c, _) in causes.items()} == {
        "clip\\xfe.mp4": "name", "dir\\xff": "name", "folder.mp4": "folder", "gone.mp4": "link",
        "inside.mp4": "link", "link.mp4": "link", "linked": "link", "pipe.mp4": "special", "random.mkv": "link",
        "zero.mp4": "link"}
    assert "a symbolic link to a file; links are never followed" in causes["link.mp4"][1]
    assert "to a folder" in causes["linked"][1] and "dangling" in causes["gone.mp4"][1]
    assert "to a character device" in causes["zero.mp4"][1] and "FIFO" in causes["pipe.mp4"][1]
    assert "not valid UTF-8" in causes["clip\\xfe.mp4"][1] and "rename" in causes["dir\\xff"][1]
    assert [r["key"] for r in listing.ignored] == ["notes.txt", "notes\\xfe.txt"]
    assert all(r["path"].encode("utf-8") for r in listing.left_out + listing.ignored)  # every record is UTF-8
    # The corpus follows the same rules (search lists with the same function).
    ann = load_annotations("folder", root)
    assert ann.keys == listing.keys and "10 entries left out" in ann.notes
    assert [item.key for item in load_annotations("folder", root, recursive=False)] == ["a.mp4"]
    top = list_folder(root, recursive=False)
    assert "top level only" in next(r["reason"] for r in top.left_out if r["key"] == "folder.mp4")


def test_folder_corpus_with_only_links_says_why_it_is_empty(tmp_path):
    root = tmp_path / "links"
    root.mkdir()
    (tmp_path / "v.mp4").write_bytes(b"x")
    (root / "v.mp4").symlink_to(tmp_path / "v.mp4")
    with pytest.raises(AnnotationError, match=r"no video files .* 1 entries left out: links"):
        load_annotations("folder", root)
    bad_root = tmp_path / os.fsdecode(b"videos\xfe")
    bad_root.mkdir()
    with pytest.raises(AnnotationError, match=r"videos\\xfe is not valid UTF-8"):
        load_annotations("folder", bad_root)


def test_escape_name_makes_control_characters_and_stray_bytes_visible():
    assert escape_name("clé 中.mp4") == "clé 中.mp4"  # any script is printable
    assert escape_name("\x1b]0;pwned\x07x.mp4") == "\\x1b]0;pwned\\x07x.mp4"  # no terminal escape gets through
    assert escape_name("a\nb\tc\u202ed") == "a\\nb\\tc\\u202ed"
    assert escape_name(os.fsdecode(b"notes\xfe.txt")) == "notes\\xfe.txt"
    assert escape_name(Path("x") / "y") == "x/y"


# ----------------------------------------------------------------------------------------------------
# Video paths from annotation ids never leave the dataset folder
# ----------------------------------------------------------------------------------------------------


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _ucf101(root: Path, bad: str):
    _write(root / "ucf101/ucfTrainTestlist/classInd.txt", "1 ApplyEyeMakeup\n")
    return _write(root / "ucf101/ucfTrainTestlist/testlist01.txt",
                  f"ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\n{bad}\n"), "line 2", {}


def _mit(root: Path, bad: str):
    _write(root / "mit/moments_categories.txt", "clapping,0\n")
    return _write(root / "mit/validationSet.csv", f"clapping/ok.mp4,clapping\n{bad},clapping\n"), "line 2", {}


def _msrvtt(root: Path, bad: str):
    return _write(root / "msrvtt/MSRVTT_JSFUSION_test.csv",
                  f"key,vid_key,video_id,sentence\nret0,msr0,video0,a man\nret1,msr1,{bad},a dog\n"), "line 3", {}


def _msrvtt_frozen(root: Path, bad: str):
    _write(root / "msrvtt/annotation/MSR_VTT.json", json.dumps(
        {"annotations": [{"image_id": "video0", "caption": "a"}, {"image_id": bad, "caption": "b"}]}))
    return (_write(root / "msrvtt/structured-symlinks/val_list_jsfusion.txt", f"video0\n{bad}\n"), "line 2",
            {"source": "frozen"})


def _youcook2(column: str):
    def write(root: Path, bad: str):
        task, video_id = (bad, "vid1") if column == "task" else ("101", bad)
        return _write(root / "youcook2/validation_youcook.csv",
                      f"end,start,task,text,video_id\n10,0,101,a,vid0\n10,0,{task},b,{video_id}\n"), "line 3", {}
    return write


def _didemo(root: Path, bad: str):
    return _write(root / "didemo/val_data.json", json.dumps(
        [{"video": "ok.mp4", "description": "a"}, {"video": f"{bad}.mp4", "description": "b"}])), "record [1]", {}


def _webvid(column: str):
    def write(root: Path, bad: str):
        videoid, page_dir = (bad, "000001_000050") if column == "videoid" else ("2", bad)
        return _write(root / "webvid/results_2M_val.csv",
                      f"videoid,name,page_dir\n1,a,000001_000050\n{videoid},b,{page_dir}\n"), "line 3", {}
    return write


CONTAINMENT_CASES = {"ucf101": ("ucf101", _ucf101), "mit": ("mit", _mit), "msrvtt": ("msrvtt", _msrvtt),
                     "msrvtt-frozen": ("msrvtt", _msrvtt_frozen), "youcook2-task": ("youcook2", _youcook2("task")),
                     "youcook2-video_id": ("youcook2", _youcook2("video_id")), "didemo": ("didemo", _didemo),
                     "webvid-videoid": ("webvid", _webvid("videoid")),
                     "webvid-page_dir": ("webvid", _webvid("page_dir"))}


@pytest.mark.parametrize("kind", ["dotdot", "absolute"])
@pytest.mark.parametrize("case", list(CONTAINMENT_CASES))
def test_annotation_ids_never_lead_outside_the_dataset_folder(case, kind, tmp_path, monkeypatch):
    """A `..` id or an absolute id is an annotation error naming the file, the line and the id; the video
    path it points at (which exists, outside the root) is never even looked at."""
    name, write = CONTAINMENT_CASES[case]
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.mp4").write_bytes(b"not yours")
    data_root = tmp_path / "data"
    bad = "../../../../../../../../x" if kind == "dotdot" else str(outside / "x")
    annotation_file, where, options = write(data_root, bad)
    seen = []
    real_scandir = __import__("os").scandir
    monkeypatch.setattr("fitclip.annotations.os.scandir", lambda p: seen.append(str(p)) or real_scandir(p))
    with pytest.raises(AnnotationError) as e:
        load_annotations(name, data_root, **options)
    message = str(e.value)
    assert str(annotation_file) in message and where in message and bad in message and "\n" not in message
    if name != "ucf101":  # UCF101's split lines are '<Class>/<file>': such a line already fails that format
        assert "points outside the dataset folder" in message
    assert not any(str(outside) in p or not p.startswith(str(data_root)) for p in seen), seen


def test_a_symlink_inside_the_root_is_the_users_choice(tmp_path):
    """The test is on the id, not on where the user's own symlinks lead: videos/all -> another disk is fine."""
    elsewhere = tmp_path / "other_disk"
    elsewhere.mkdir()
    (elsewhere / "video0.mp4").write_bytes(b"x")
    data_root = tmp_path / "data"
    _msrvtt(data_root, "video1")
    (data_root / "msrvtt" / "videos").mkdir(parents=True)
    (data_root / "msrvtt" / "videos" / "all").symlink_to(elsewhere)
    ann = load_annotations("msrvtt", data_root)
    assert ann.items[0].path == data_root / "msrvtt" / "videos" / "all" / "video0.mp4"
    assert ann.items[0].path.is_file() and ann.missing == ["ret1"]


# ----------------------------------------------------------------------------------------------------
# API errors
# ----------------------------------------------------------------------------------------------------


def test_unknown_name_split_option_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"unknown dataset 'kinetics'; known datasets: ucf101, mit, msrvtt, "
                                         r"youcook2, didemo, webvid, folder"):
        load_annotations("kinetics", tmp_path)
    with pytest.raises(ValueError, match=r"unknown split 'validation' for didemo; valid splits: val, test"):
        load_annotations("didemo", tmp_path, split="validation")
    with pytest.raises(ValueError, match=r"unknown option 'captions' for msrvtt; accepted options: source"):
        load_annotations("msrvtt", tmp_path, captions="first")
    with pytest.raises(ValueError, match=r"source='first' is not one of 'jsfusion', 'frozen'"):
        load_annotations("msrvtt", tmp_path, source="first")
    with pytest.raises(AnnotationError) as e:
        load_annotations("ucf101", tmp_path)
    message = str(e.value)
    assert str(tmp_path / "ucf101" / "ucfTrainTestlist" / "classInd.txt") in message
    assert "UCF101TrainTestSplits-RecognitionTask.zip" in message
    with pytest.raises(AnnotationError, match=r"MIL-NCE_HowTo100M"):
        load_annotations("youcook2", tmp_path)


def test_spec_table_is_complete():
    assert set(SPECS) == {"ucf101", "mit", "msrvtt", "youcook2", "didemo", "webvid", "folder", "hmdb51", "k600_zs"}
    for name, spec in SPECS.items():
        assert spec.name == name and spec.video_layout
        assert spec.default_split in spec.splits or spec.default_split in spec.split_groups
        assert all(set(group) <= set(spec.splits) for group in spec.split_groups.values())


# ----------------------------------------------------------------------------------------------------
# Seeded labeled subset
# ----------------------------------------------------------------------------------------------------


def test_sample_labeled_subset_reproducible_and_reloadable(tmp_path):
    root = tmp_path / "webvid"
    root.mkdir()
    with open(root / "results_2M_train.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["videoid", "name", "page_idx", "page_dir", "duration", "contentUrl"])
        for i in range(100):
            writer.writerow([f"{i:07d}", f'caption {i}, with "quotes"', i, "000001_000050", "PT00H00M10S", "u"])
    ann = load_annotations("webvid", tmp_path, split="train")
    out = tmp_path / "subsets" / "labeled.csv"
    chosen = sample_labeled_subset(ann, n=45, seed=3, out_csv=out)
    again = sample_labeled_subset(ann.items, n=45, seed=3)
    other = sample_labeled_subset(ann, n=45, seed=4)
    assert [i.key for i in chosen] == [i.key for i in again] != [i.key for i in other]
    assert len({i.key for i in chosen}) == 45
    order = {item.key: k for k, item in enumerate(ann)}
    assert [order[i.key] for i in chosen] == sorted(order[i.key] for i in chosen)
    assert sorted(p.name for p in out.parent.iterdir()) == ["labeled.csv"]  # no temp file left
    reloaded = load_annotations("webvid", tmp_path, split="train", csv=out)
    assert [(i.key, i.text, i.path) for i in reloaded] == [(i.key, i.text, i.path) for i in chosen]
    assert reloaded.items[0].key.startswith("00")  # leading zeros survive the round trip
    with pytest.raises(ValueError, match=r"cannot sample 101 items: only 100 are available"):
        sample_labeled_subset(ann, n=101)


def test_format_prompts_without_templates():
    assert format_prompts(None, "adult+female+singing") == ["adult+female+singing"]
    assert format_prompts(["a {}.", "b {}"], "x") == ["a x.", "b x"]
