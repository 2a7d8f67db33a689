"""The later peers' zero-shot protocol (issue 20 §1-3): the readers of their three-split lists on the real files in
../shared/benchmarks/zero_shot_splits (counts, index range, UCF101 split 1 = testlist01, the 217 K600 names; skipped
with the reason where ../shared is absent) and on the toy world's files (any clone), malformed lists, the doctor's
§8 checks, mean ± std over splits, `fitclip evaluate/doctor --split all` end to end on the smoke world, multi-view
testing (hand-computed frame indices and crops) and class-name sets."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import fitclip.toyworld as S
from fitclip.annotations import (PEER_FILES, PUBLISHED_LISTS, AnnotationError, expand_split, load_annotations,
                                 read_class_csv)
from fitclip.doctor import peer_list_facts
from fitclip.report import format_split_summary, split_summary

#: README §8's prefixes of each dataset's files in shared/benchmarks/zero_shot_splits/.
_PREFIXES = {"ucf101": ("ucf_", "labels_ucf"), "hmdb51": ("hmdb_", "labels_hmdb"),
             "k600_zs": ("k600_", "labels_ZS", "labels_kinetics")}


@pytest.fixture(scope="module")
def real_root(tmp_path_factory, shared_benchmarks) -> Path:
    """A data root with the peers' real lists (and UCF101's testlist01 and classInd) where the readers look."""
    root = tmp_path_factory.mktemp("peer_lists")
    for f in sorted((shared_benchmarks / "zero_shot_splits").iterdir()):
        for dataset, prefixes in _PREFIXES.items():
            if f.name.startswith(prefixes):
                (root / dataset).mkdir(exist_ok=True)
                shutil.copyfile(f, root / dataset / f.name)
    (root / "ucf101" / "ucfTrainTestlist").mkdir()
    for name in ("classInd.txt", "testlist01.txt"):
        shutil.copyfile(shared_benchmarks / "ucf101" / name, root / "ucf101" / "ucfTrainTestlist" / name)
    return root


@pytest.fixture
def toy_root(tmp_path, toy_benchmarks) -> Path:
    shutil.copytree(toy_benchmarks, tmp_path / "data")
    return tmp_path / "data"


def test_real_lists_counts_index_range_and_the_facts_of_section_8(real_root):
    # Hand-copied from README §8 (K600: the lists end without a newline, so `wc -l` there counts one fewer).
    expected = {"ucf101": (101, (3783, 3734, 3696)), "hmdb51": (51, (1530, 1530, 1530)),
                "k600_zs": (160, (14084, 13978, 14136))}
    for dataset, (n_classes, counts) in expected.items():
        for split, n in zip("123", counts):
            a = load_annotations(dataset, real_root, split)
            assert (len(a), len(a.classnames), a.split, a.task) == (n, n_classes, split, "classification")
            assert {item.target for item in a} == set(range(n_classes))  # every index 0..n-1, each used
        problems, facts = peer_list_facts(dataset, real_root)
        assert problems == [], problems
    assert PUBLISHED_LISTS["k600_zs"]["lines"] == dict(zip("123", expected["k600_zs"][1]))
    names = set().union(*(read_class_csv(real_root / "k600_zs" / PEER_FILES["k600_zs"][k][1]) for k in "123"))
    assert len(names) == 217
    assert names <= set(read_class_csv(real_root / "k600_zs" / "labels_kinetics_600_labels.csv"))
    assert not names & set(read_class_csv(real_root / "k600_zs" / "labels_kinetics_400_labels.csv"))


def test_real_ucf101_split_1_selects_testlist01s_videos_and_classes(real_root):
    official = load_annotations("ucf101", real_root, "test")  # FitCLIP's protocol, the default split
    peers = load_annotations("ucf101", real_root, "1")
    assert len(official) == len(peers) == 3783
    assert sorted((i.path, i.target) for i in official) == sorted((i.path, i.target) for i in peers)
    assert peers.classnames == official.classnames  # CamelCase split as FitCLIP splits the folders
    quirk = next(i for i in peers if i.key == "v_HandStandPushups_g01_c01.avi")  # the official spelling quirk
    assert quirk.path == real_root / "ucf101" / "UCF-101" / "HandstandPushups" / "v_HandStandPushups_g01_c01.avi"
    assert peers.classnames[quirk.target] == "Handstand Pushups"


def test_a_modified_published_list_is_named_by_the_doctor(real_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(real_root, root)
    lst = root / "hmdb51" / "hmdb_splits_val2.txt"
    lines = lst.read_text().splitlines(keepends=True)
    lst.write_text("".join(lines[:-1]))  # one video dropped
    problems, _ = peer_list_facts("hmdb51", root)
    assert problems == ["split 2: hmdb_splits_val2.txt lists 1529 videos; the published list has 1530. "
                        "Fix: use the peers' file unchanged."]


def test_toy_worlds_lists_in_the_peers_format(toy_root):
    cfg = S.WorldConfig()  # the toy_benchmarks sizes leave the peer protocol's at their defaults
    for split in "123":
        a = load_annotations("ucf101", toy_root, split)
        assert len(a.classnames) == 10 and {i.target for i in a} == set(range(10))
        if split == "1":  # exactly testlist01's videos
            official = load_annotations("ucf101", toy_root, "test")
            assert sorted((i.path, i.target) for i in a) == sorted((i.path, i.target) for i in official)
        else:
            assert len(a) == 10 * cfg.ucf101_other_splits_per_class
            groups = {int(i.key.split("_g")[1][:2]) for i in a}
            assert groups <= (set(range(8, 15)) if split == "2" else set(range(15, 22)))
    for split in "123":
        h = load_annotations("hmdb51", toy_root, split)
        assert len(h) == 10 * cfg.hmdb51_test_per_class and h.classnames == list(S.MOTIONS)
        item = h.items[0]  # nested like the official archive: videos/<class_name>/<file>
        assert item.path.parent.name == h.classnames[item.target].replace(" ", "_")
        k = load_annotations("k600_zs", toy_root, split)
        assert len(k.classnames) == cfg.k600_zs_classes_per_split
        assert len(k) == cfg.k600_zs_classes_per_split * cfg.k600_zs_per_class
        assert not set(k.classnames) & set(S.LABELED_CONCEPTS)  # novel: outside what the labeled subset shows
        assert all(i.key.startswith("train/") and i.key.endswith(".mp4") for i in k)
    assert [peer_list_facts(d, toy_root)[0] for d in PEER_FILES] == [[], [], []]


def test_malformed_lists_and_label_files_are_refused_with_the_line_and_the_fix(toy_root):
    lst = toy_root / "hmdb51" / "hmdb_splits_val1.txt"
    good = lst.read_text()
    first = good.splitlines()[0].rsplit(" ", 1)[0]
    for bad, expected in ((f"{first} 10\n", "class index 10 is outside 0..9"),
                          (f"{first}\n", "is not '<video path> <class index>'"),
                          (f"{first} 0\n{first} 0\n", "duplicate"),
                          ("../../../escape.avi 0\n", "points outside the dataset folder")):
        lst.write_text(bad)
        with pytest.raises(AnnotationError, match="line") as e:
            load_annotations("hmdb51", toy_root, "1")
        assert expected in str(e.value) and str(lst) in str(e.value)
    lst.write_text(good)
    labels = toy_root / "hmdb51" / "labels_hmdb_51_labels.csv"
    labels.write_text("id,name\n0,moving left\n2,moving up\n")
    with pytest.raises(AnnotationError, match=r"ids must run 0\.\.1 without gaps; missing \[1\]"):
        load_annotations("hmdb51", toy_root, "1")


def test_expand_split_and_load_refuse_a_group_with_the_fix():
    assert expand_split("hmdb51") == expand_split("k600_zs") == expand_split("ucf101", "all") == ["1", "2", "3"]
    assert expand_split("ucf101") == ["test"] and expand_split("ucf101", "2") == ["2"]  # FitCLIP's by default
    with pytest.raises(ValueError, match=r"valid splits: 1, 2, 3, all \(= 1, 2, 3\)"):
        expand_split("hmdb51", "4")
    with pytest.raises(ValueError, match="load them one at a time"):
        load_annotations("hmdb51", "/nonexistent", "all")


def test_split_summary_is_mean_and_sample_std_over_splits():
    rows = [{"model": "m", "alpha": None, "dataset": "hmdb51", "split": k, "metric": metric, "value": v,
             "ci_low": v - 5, "ci_high": v + 5}
            for k, v in zip("123", (50.0, 60.0, 70.0)) for metric in ("top1", "top5")]
    (summary,) = split_summary(rows, ("top1",))
    assert (summary["mean"], summary["std"], summary["splits"]) == (60.0, 10.0, ["1", "2", "3"])
    assert format_split_summary([summary]) == (
        "hmdb51 top1, m: 60.00 ± 10.00 (mean ± sample std over splits 1, 2, 3; 95 % CI of each: split 1: 50.00 "
        "[45.00, 55.00]; split 2: 60.00 [55.00, 65.00]; split 3: 70.00 [65.00, 75.00])")


@pytest.mark.parametrize("dataset", ["hmdb51", "ucf101", "k600_zs"])
def test_cli_evaluate_and_doctor_split_all_on_the_smoke_world(toy_world, tmp_path, capsys, dataset):
    import pandas as pd

    from fitclip.__main__ import main

    root, _ = toy_world
    out = tmp_path / "results.jsonl"
    code = main(["evaluate", "--dataset", dataset, "--data-root", str(root), "--split", "all", "--arch",
                 "fitclip-tiny", "--pretrained", "none", "--out", str(out), "--no-progress", "--num-workers", "0"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert f"{dataset} top1, fitclip-tiny/random: " in printed and "mean ± sample std over splits 1, 2, 3" in printed
    rows = pd.read_json(out, lines=True)
    assert sorted(rows["split"].astype(str).unique()) == ["1", "2", "3"] and rows["run_id"].nunique() == 3
    top1 = rows[rows["metric"] == "top1"]
    assert (top1["ci_low"] <= top1["value"]).all() and (top1["value"] <= top1["ci_high"]).all()

    doctor = ["doctor", "--dataset", dataset, "--data-root", str(root), "--split", "all", "--out-dir",
              str(tmp_path / "doctor"), "--no-progress", "--num-workers", "0"]
    assert main(doctor) == 0
    assert "ok: split 3:" in capsys.readouterr().out


def test_class_name_sets_and_template_files(toy_root, tmp_path):
    names = tmp_path / "names.txt"  # one line per class, phrasings separated by |
    names.write_text("".join(f"{m} | {m.replace('moving', 'sliding')}\n" for m in S.MOTIONS))
    templates = tmp_path / "templates.txt"
    templates.write_text("a video of {}.\nthe {}\n")
    a = load_annotations("hmdb51", toy_root, "1", classnames=str(names), templates=str(templates))
    assert a.classnames == list(S.MOTIONS)
    assert a.class_prompts()[0] == ["a video of moving left.", "the moving left", "a video of sliding left.",
                                    "the sliding left"]
    assert a.class_prompts()[4] == ["a video of staying still.", "the staying still"] * 2  # both phrasings kept
    assert names in a.annotation_files and templates in a.annotation_files  # hashed into the protocol record
    # The peers' label CSV works as it is; a repeated id adds a phrasing to that class.
    labels = tmp_path / "labels.csv"
    labels.write_text((toy_root / "hmdb51" / "labels_hmdb_51_labels.csv").read_text() + "0,going left\n")
    b = load_annotations("hmdb51", toy_root, "2", classnames=str(labels))
    assert b.class_phrasings[0] == ["moving left", "going left"] and b.class_phrasings[1] == ["moving right"]
    names.write_text("".join(f"{m}\n" for m in S.MOTIONS[:9]))
    with pytest.raises(AnnotationError, match="names 9 classes; the dataset has 10"):
        load_annotations("hmdb51", toy_root, "1", classnames=str(names))
    templates.write_text("a video\n")
    with pytest.raises(AnnotationError, match=r"line 1: 'a video' needs exactly one '\{\}'"):
        load_annotations("hmdb51", toy_root, "1", templates=str(templates))
    with pytest.raises(ValueError, match="unknown option 'classnames' for msrvtt; accepted options: source"):
        load_annotations("msrvtt", toy_root, classnames=str(labels))  # a retrieval benchmark has no classes
    with pytest.raises(ValueError, match="accepted options: classnames, templates"):
        load_annotations("hmdb51", toy_root, "1", prompts="x")


def test_multi_view_frames_and_crops_are_the_documented_ones():
    import torch

    from fitclip.transforms import clip_transform
    from fitclip.video import frame_indices, multi_clip_indices

    # 100 frames, 4 frames x 2 clips: windows [0, 49] and [49, 99] (linspace(0, 99, 3) truncated), then the eval
    # sampler in each: [0, 49] -> edges 0, 12, 24, 36, 49 -> midpoints 6, 18, 30, 42 (42.5 rounds half to even);
    # [49, 99] -> edges 49, 61, 74, 86, 99 -> 55, 68, 80, 92.
    assert multi_clip_indices(0, 99, 4, 2) == [6, 18, 30, 42, 55, 68, 80, 92]
    assert multi_clip_indices(0, 20, 4, 1) == frame_indices(0, 20, 4) == [2, 8, 12, 18]  # FitCLIP's 4 x 1
    with pytest.raises(ValueError, match="num_clips"):
        multi_clip_indices(0, 20, 4, 0)
    # 3 crops of a wide clip: squares at the start, centre and end of the width; of a tall one, of the height.
    wide = torch.arange(96, dtype=torch.uint8).repeat(2, 64, 1)[..., None].expand(2, 64, 96, 3).contiguous()
    out = clip_transform(64, (0.0,) * 3, (1.0,) * 3, crops=3)(wide)  # no resize: the shorter side is 64
    assert out.shape == (6, 3, 64, 64)
    firsts = [round(float(out[k, 0, 0, 0]) * 255) for k in (0, 2, 4)]  # crop-major: frames 0-1, 2-3, 4-5
    assert firsts == [0, 16, 32]
    tall = wide.transpose(1, 2).contiguous()  # [2, 96, 64, 3]: the value now runs down the rows
    out = clip_transform(64, (0.0,) * 3, (1.0,) * 3, crops=3)(tall)
    assert [round(float(out[k, 0, 0, 0]) * 255) for k in (0, 2, 4)] == [0, 16, 32]
    centre = clip_transform(64, (0.0,) * 3, (1.0,) * 3)(wide)
    assert centre.shape == (2, 3, 64, 64) and torch.equal(centre, out[2:4].transpose(-1, -2))


def test_cli_views_option_is_recorded_and_checked(toy_world, tmp_path, capsys):
    import json

    from fitclip.__main__ import main

    root, _ = toy_world
    out = tmp_path / "results.jsonl"
    base = ["evaluate", "--dataset", "ucf101", "--data-root", str(root), "--split", "1", "--arch", "fitclip-tiny",
            "--pretrained", "none", "--out", str(out), "--no-progress", "--num-workers", "0"]
    assert main([*base, "--views", "8x3x2"]) == 2
    assert "--views '8x3x2' is not FRAMESxCLIPSxCROPS with crops 1 or 3" in capsys.readouterr().err
    assert main([*base, "--views", "2x3x3"]) == 0
    record = json.loads((tmp_path / "results.protocol.jsonl").read_text().splitlines()[0])
    frames = record["frames"]
    assert (frames["num_frames"], frames["num_clips"], frames["num_crops"]) == (2, 3, 3)
    assert frames["views"] == "2 frames x 3 clips x 3 crops" and "multi_clip_indices" in frames["sampler"]


def test_split_rows_and_the_peer_table_on_hand_made_rows():
    import pandas as pd

    from fitclip.fusion import grid_model
    from fitclip.study.peers import load_peers_published, peer_table, split_rows

    values = {("fitclip", 0.0): (40.0, 50.0, 60.0), ("fitclip", 1.0): (30.0, 30.0, 30.0), ("fitclip", 0.5): (50.0, 52.0, 54.0)}
    results = pd.DataFrame([{"model": grid_model(s, a), "dataset": "hmdb51", "split": k, "metric": m, "value": v,
                             "ci_low": v - 4, "ci_high": v + 4, "n_evaluated": 120}
                            for (s, a), vs in values.items() for k, v in zip("123", vs) for m in ("top1", "top5")])
    ours = split_rows(results, {"fitclip": 0.5, "wiseft": 0.4})  # wiseft was not evaluated: its row is left out
    by_row = {r["row"]: r for r in ours}
    assert set(by_row) == {"Teacher", "Student", "FitCLIP"}
    assert (by_row["Teacher"]["mean"], by_row["Teacher"]["std"]) == (50.0, 10.0)
    assert (by_row["Student"]["mean"], by_row["Student"]["std"]) == (30.0, 0.0)
    assert by_row["FitCLIP"]["alpha"] == 0.5 and by_row["FitCLIP"]["ci_low"] == [46.0, 48.0, 50.0]
    peers = load_peers_published()
    assert len(peers) == 27 and set(peers["benchmark"]) == {"ucf101", "hmdb51", "k600_zs"}
    table = peer_table(ours, peers, views="8 × 3 × 1")
    assert table.loc["ours: FitCLIP", "hmdb51"] == "52.0 ± 2.0" and table.loc["ours: FitCLIP", "fusion weight α"] == 0.5
    assert table.loc["ours: Teacher", "ucf101"] == ""  # not evaluated there: an empty cell, never a number
    assert table.loc["Frozen CLIP", "hmdb51"] == "47.9 ± 0.5" and table.loc["OST", "hmdb51"] == "55.9"  # no std given
    assert table.loc["FROSTER", "fusion weight α"] == "not in the source"
    assert list(table.index[:3]) == ["ours: Teacher", "ours: Student", "ours: FitCLIP"]
