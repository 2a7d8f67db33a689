"""The regime the synthetic world models (issue 18 §1): its counts come from the world's own plan and files,
benchmark items split into inside / outside the labeled concepts correctly, and the forgetting rows and the
regime verdict read the paired differences right (hand-made cases)."""

import dataclasses

import numpy as np
import pytest
import torch

import fitclip.toyworld as S
from fitclip.annotations import load_annotations, sample_labeled_subset
from fitclip.files import write_json
from fitclip.study.forgetting import forgetting_rows, forgetting_table, regime_verdict, split_contrast
from fitclip.study.results import BENCHMARKS
from fitclip.toyworld.regime import (INSIDE, MIXED, OUTSIDE, item_splits, labeled_candidates, word_part, regime_record,
                                     split_of, webvid_concepts)
from fitclip.toyworld.world import world_manifest


@pytest.fixture(scope="module")
def default_plan_root(tmp_path_factory):
    """The DEFAULT world's annotation files, world.json and 600 stills' captions (planned, no video rendered)."""
    root = tmp_path_factory.mktemp("regime")
    cfg = S.WorldConfig()
    plan = S.plan_world(0, cfg)
    for rel, text in plan.files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8", newline="")
    write_json(root / "world.json", world_manifest(0, cfg, plan))
    stills = S.write_stills(root / "teacher", n=600, seed=0, progress=False)
    return root, stills / "captions.csv", plan


def test_regime_counts_come_from_the_default_worlds_plan(default_plan_root):
    root, stills, plan = default_plan_root
    train = load_annotations("webvid", root, split="train")
    candidates = labeled_candidates(train.items, root)
    concept = webvid_concepts(root)
    assert len(candidates) == S.WorldConfig().webvid_train // 3  # every third row shows a labeled concept
    assert {concept[item.key] for item in candidates} == set(S.LABELED_CONCEPTS)
    subset = sample_labeled_subset(candidates, n=S.WorldConfig().webvid_labeled, seed=0)
    regime = regime_record(root, stills, subset, train.items, BENCHMARKS)
    assert regime["teacher_concepts"] == 60 and regime["labeled_concepts"] == 20 and regime["pool_concepts"] == 60
    assert regime["labeled_share"] <= 1 / 3 and regime["validation_concepts"] == 60
    assert regime["n_labeled_videos"] == 500 and regime["n_pool_videos"] == 1300
    assert not regime["labeled_not_known_to_teacher"]
    for name in BENCHMARKS:  # every item of every benchmark is inside or outside, both present
        counts = regime["benchmark_items"][name]
        assert counts[MIXED] == 0 and counts[INSIDE] > 0 and counts[OUTSIDE] > counts[INSIDE]
        assert counts[INSIDE] + counts[OUTSIDE] == len(load_annotations(name, root))
    # ... and equal to a count straight from the plan's video jobs.
    testlist01 = {str(item.path.relative_to(root)) for item in load_annotations("ucf101", root)}
    ucf_inside = sum(f"{job.clips[0].colour} {job.clips[0].shape}" in S.LABELED_CONCEPTS
                     for job in plan.jobs if job.relpath in testlist01)
    assert regime["benchmark_items"]["ucf101"][INSIDE] == ucf_inside


def test_item_splits_on_a_hand_made_world(tmp_path):
    """Three UCF-like videos with known objects: the split follows each item's video, keyed as evaluate keys it."""
    root = tmp_path
    (root / "ucf101" / "ucfTrainTestlist").mkdir(parents=True)
    (root / "ucf101" / "ucfTrainTestlist" / "classInd.txt").write_text("1 Blinking\n2 Spinning\n")
    names = ["Blinking/v_Blinking_g01_c01.avi", "Blinking/v_Blinking_g01_c02.avi", "Spinning/v_Spinning_g01_c01.avi"]
    (root / "ucf101" / "ucfTrainTestlist" / "testlist01.txt").write_text("".join(n + "\n" for n in names))
    objects = [["red circle"], ["pink bar"], ["red circle", "pink bar"]]
    write_json(root / "world.json", {"labeled_concepts": ["red circle", "blue square"],
                                     "videos": {f"ucf101/UCF-101/{n}": {"objects": o} for n, o in zip(names, objects)}})
    assert item_splits(root, "ucf101") == {"v_Blinking_g01_c01": INSIDE, "v_Blinking_g01_c02": OUTSIDE,
                                           "v_Spinning_g01_c01": MIXED}
    assert item_splits(root, "ucf101", labeled=["pink bar"])["v_Blinking_g01_c02"] == INSIDE
    assert split_of([], {"red circle"}) == MIXED  # no object: neither inside nor outside
    # The exploratory word-level reading: which of the object's two words the labeled concepts use.
    words = item_splits(root, "ucf101", labeled=["red circle", "blue bar"], words=True)
    assert words == {"v_Blinking_g01_c01": INSIDE, "v_Blinking_g01_c02": "shape shown", "v_Spinning_g01_c01": MIXED}
    assert [word_part(o, ["red circle", "blue bar"]) for o in ("red bar", "cyan circle", "pink ring", "red ring")] == \
        ["both words shown", "shape shown", "neither shown", "colour shown"]
    with pytest.raises(FileNotFoundError, match="synthetic world only"):
        item_splits(tmp_path / "nowhere", "ucf101")


def test_forgetting_rows_on_hand_made_hits():
    keys = ["a", "b", "c", "d"]
    teacher = {"ucf101": (keys, np.array([100.0, 100.0, 0.0, 0.0]))}
    plain = {"ucf101": (keys, np.array([100.0, 100.0, 100.0, 100.0]))}  # gains on c, d (outside)
    fit = {"ucf101": (keys, np.array([0.0, 100.0, 0.0, 0.0]))}  # loses a (inside)
    split = {"ucf101": {"a": INSIDE, "b": INSIDE, "c": OUTSIDE, "d": OUTSIDE}}
    rows = forgetting_rows(teacher, {"wiseft": (0.0, plain), "fitclip": (1e-4, fit)}, split, n_resamples=200)
    got = {(r["student"], r["dataset"], r["split"]): r for r in rows}
    assert got[("wiseft", "ucf101", INSIDE)]["diff_vs_teacher"] == 0.0
    assert got[("wiseft", "ucf101", OUTSIDE)]["diff_vs_teacher"] == 100.0
    assert got[("wiseft", "ucf101", OUTSIDE)]["ci_low"] == got[("wiseft", "ucf101", OUTSIDE)]["ci_high"] == 100.0
    assert got[("fitclip", "ucf101", INSIDE)]["diff_vs_teacher"] == -50.0
    assert got[("fitclip", "ucf101", INSIDE)]["n_items"] == 2 and got[("fitclip", "ucf101", INSIDE)]["lam"] == 1e-4
    assert got[("fitclip", "average", OUTSIDE)]["diff_vs_teacher"] == 0.0
    assert {r["split"] for r in rows} == {INSIDE, OUTSIDE} and len(rows) == 2 * (2 + 2)
    table = forgetting_table(rows)
    assert "wiseft (λ = 0) · outside" in table.index and table.loc["wiseft (λ = 0) · outside", "ucf101"].startswith("100.0")
    with pytest.raises(ValueError, match="no inside/outside label"):
        forgetting_rows(teacher, {"wiseft": (0.0, plain)}, {"ucf101": {"a": INSIDE}})
    with pytest.raises(ValueError, match="other items"):
        forgetting_rows(teacher, {"wiseft": (0.0, {"ucf101": (keys[::-1], plain["ucf101"][1])})}, split)


def _avg(split, delta, low, high):
    return {"student": "wiseft", "lam": 0.0, "dataset": "average", "split": split, "diff_vs_teacher": delta,
            "ci_low": low, "ci_high": high, "n_items": 10}


def test_regime_verdict_needs_both_effects_resolved():
    assert regime_verdict([_avg(INSIDE, 5, 1, 9), _avg(OUTSIDE, -4, -7, -1)]).get("verdict").startswith("in the paper's")
    assert regime_verdict([_avg(INSIDE, 5, 1, 9), _avg(OUTSIDE, -4, -7, 1)])["verdict"].startswith("NOT")
    both = [_avg(INSIDE, -5, -9, -1), _avg(OUTSIDE, -4, -7, -1)]
    alike = regime_verdict(both, {"delta": 1.0, "ci_low": -2.0, "ci_high": 3.0})
    assert alike["verdict"].startswith("NOT in the paper's regime: loses on both sides alike")
    assert "outside − inside 1.0 [-2.0, 3.0]" in alike["ours"]
    more = regime_verdict(both, {"delta": -3.0, "ci_low": -5.0, "ci_high": -1.0})["verdict"]
    assert more.startswith("partly: loses more outside than inside") and "loses inside too" in more
    assert regime_verdict([_avg(INSIDE, 5, -1, 9), _avg(OUTSIDE, -4, -7, -1)])["verdict"].startswith("partly: loses outside")
    assert regime_verdict([_avg(INSIDE, 5, 1, 9)])["verdict"] == "not defined"
    assert regime_verdict([_avg(INSIDE, 5, np.nan, np.nan), _avg(OUTSIDE, -4, -7, -1)])["verdict"].startswith("not defined")


def test_paired_ci_and_split_contrast_on_data_with_spread():
    """With spread: the paired CI of student − teacher excludes 0 where the items move together (an unpaired
    comparison of the two means would not), and the outside − inside contrast bootstraps the splits apart."""
    rng = np.random.default_rng(0)
    n = 200
    keys = [f"k{i}" for i in range(n)]
    base = rng.normal(50, 20, n)  # items differ a lot from each other ...
    student = base - 1.0 + rng.normal(0, 1, n)  # ... but the student is 1 point below the teacher on each
    split = {"ucf101": {k: (INSIDE if i % 2 else OUTSIDE) for i, k in enumerate(keys)}}
    rows = forgetting_rows({"ucf101": (keys, base)}, {"wiseft": (0.0, {"ucf101": (keys, student)})}, split,
                           n_resamples=500)
    inside = next(r for r in rows if r["dataset"] == "ucf101" and r["split"] == INSIDE)
    assert inside["ci_high"] < 0 < inside["ci_high"] + 1.5  # resolved, about ±0.3 wide
    from fitclip.metrics import bootstrap_ci
    lo_t, hi_t = bootstrap_ci(base[1::2], n_resamples=500)
    lo_s, hi_s = bootstrap_ci(student[1::2], n_resamples=500)
    assert lo_t < hi_s and lo_s < hi_t  # the unpaired intervals overlap: pairing is what resolves it
    c = split_contrast({"ucf101": (keys, base)}, {"ucf101": (keys, student)}, split, n_resamples=500)
    assert c["ci_low"] < 0 < c["ci_high"] and abs(c["delta"]) < 0.5  # the same loss on both splits
    worse = student.copy()
    worse[0::2] -= 3.0  # outside items lose 3 points more
    c = split_contrast({"ucf101": (keys, base)}, {"ucf101": (keys, worse)}, split, n_resamples=500)
    assert c["ci_high"] < 0 and c["delta"] == pytest.approx(-3.0, abs=0.5)


def test_the_stills_to_video_gap_moves_each_concepts_colour_its_own_way():
    # Hand cases of the look's direction (COLOURS order: red, green, blue, yellow, purple, orange, pink, cyan, lime,
    # brown; steps per shape circle 1, square 2, triangle 3, cross 4, ring 6, bar 7).
    assert S.video_look_towards("red", "circle") == "green"
    assert S.video_look_towards("red", "ring") == "pink"
    assert S.video_look_towards("brown", "bar") == "pink"  # (9 + 7) % 10 = 6
    for shape in S.SHAPES:  # two concepts of one shape never drift towards each other (they would meet halfway)
        pairs = [frozenset((c, S.video_look_towards(c, shape))) for c in S.COLOURS]
        assert len(set(pairs)) == len(S.COLOURS) and all(len(p) == 2 for p in pairs)
    # On video, an object's inside pixels are 0.6 x its stills colour + 0.4 x its look's colour (within rounding).
    plain = S.render_clip("red", "circle", "staying still", background="flat", seed=3).astype(float)
    looked = S.render_clip("red", "circle", "staying still", background="flat", seed=3, look=0.4, gap="mix").astype(float)
    distance = np.abs(plain[0] - plain[0, 0, 0]).sum(-1)  # from the flat background (one colour)
    centre = plain[0][np.unravel_index(distance.argmax(), distance.shape)]
    inside = (plain[0] == centre).all(-1)  # the object's fully covered pixels (its edges are anti-aliased)
    assert inside.sum() > 50
    expected = 0.6 * plain[0][inside] + 0.4 * np.array(S.COLOURS["green"], float)
    assert np.abs(looked[0][inside] - expected).max() <= 1.0
    assert np.array_equal(looked[0][distance == 0], plain[0][distance == 0])  # the background is untouched
    # The world puts the configured gap on every video job; the stills never get one (they render with look 0).
    mix = dataclasses.replace(S.WorldConfig.smoke(), video_gap="mix", video_look=0.4)
    assert {(job.look, job.gap) for job in S.plan_world(0, mix).jobs} == {(0.4, "mix")}
    assert {job.look for job in S.plan_world(0, dataclasses.replace(mix, video_look=0.0)).jobs} == {0.0}
    with pytest.raises(ValueError, match="video_look"):
        S.WorldConfig(video_gap="mix", video_look=1.0)


def test_the_swap_gap_paints_half_the_concepts_their_partners_colour():
    # Hand cases (pairs red-green, blue-yellow, purple-orange, pink-cyan, lime-brown; SHAPES circle 0, square 1,
    # triangle 2, cross 3, ring 4, bar 5; pair j swapped for a shape when j + its index is even).
    assert S.video_swap_partner("red", "circle") == "green" and S.video_swap_partner("green", "circle") == "red"
    assert S.video_swap_partner("red", "square") is None and S.video_swap_partner("blue", "square") == "yellow"
    assert S.video_swap_partner("brown", "ring") == "lime" and S.video_swap_partner("brown", "bar") is None
    swapped = [f"{c} {s}" for c in S.COLOURS for s in S.SHAPES if S.video_swap_partner(c, s) is not None]
    assert len(swapped) == 30 and sum(c in swapped for c in S.LABELED_CONCEPTS) == 10  # half of all, half labeled
    for concept in swapped:  # closed pairs: two concepts never show one colour on video
        colour, shape = concept.split()
        assert S.video_swap_partner(S.video_swap_partner(colour, shape), shape) == colour
    # On video a swapped concept's object is its partner's palette colour plus its own jitter; a concept that is
    # not swapped, and every background, render as in the stills.
    def pixels(colour, shape, **kw):
        return S.render_clip(colour, shape, "staying still", background="flat", seed=3, **kw).astype(float)[0]

    plain, swapped_red = pixels("red", "circle"), pixels("red", "circle", look=1.0, gap="swap")
    distance = np.abs(plain - plain[0, 0]).sum(-1)
    inside = (plain == plain[np.unravel_index(distance.argmax(), distance.shape)]).all(-1)
    jitter = plain[inside][0] - np.array(S.COLOURS["red"], float)
    assert np.abs(swapped_red[inside] - (np.array(S.COLOURS["green"], float) + jitter)).max() <= 1.0
    assert np.array_equal(swapped_red[distance == 0], plain[distance == 0])
    assert np.array_equal(pixels("red", "square", look=1.0, gap="swap"), pixels("red", "square"))
    default = S.WorldConfig()
    assert (default.video_gap, default.video_look) == ("swap", 1.0)
    assert {(job.look, job.gap) for job in S.plan_world(0, S.WorldConfig.smoke()).jobs} == {(1.0, "swap")}
    with pytest.raises(ValueError, match="video_gap"):
        S.WorldConfig(video_gap="blur")


def test_motion_groups_hold_one_object_naming_different_motions():
    from fitclip.toyworld.pretrain import MotionGroups
    import torch

    labels = ["red circle"] * 4 + ["blue bar"] * 5 + ["red bar"] * 3
    motions = ["moving left", "moving up", "shaking", "", "moving left", "moving left", "spinning", "moving up",
               "staying still", "moving left", "moving left", "shaking"]  # red bar names only 2 motions
    groups = MotionGroups(labels, motions, n_train=len(labels), group_size=3)
    drawn = groups.draw(50, torch.Generator().manual_seed(0)).view(50, 3).tolist()
    for group in drawn:
        assert len({labels[i] for i in group}) == 1 and labels[group[0]] != "red bar"
        assert len({motions[i] for i in group}) == 3 and all(motions[i] for i in group)
    assert {labels[g[0]] for g in drawn} == {"red circle", "blue bar"}
    again = groups.draw(50, torch.Generator().manual_seed(0)).view(50, 3).tolist()
    assert again == drawn  # seeded
    with pytest.raises(ValueError, match="no object has stills naming 5 different motions"):
        MotionGroups(labels, motions, n_train=len(labels), group_size=5)


def test_still_motion_accuracy_on_a_hand_made_model():
    """Images are one-hot over the seven single-frame motions, a text is one-hot over the motion it names: the
    score is 1 for the motion the image shows. A tie (an image that matches nothing) is a miss."""
    import torch

    from fitclip.toyworld.pretrain import still_motion_accuracy
    from fitclip.toyworld.vocabulary import SINGLE_FRAME_MOTIONS

    class Hand:
        def eval(self):
            return self

        def tokenize(self, texts):
            return list(texts)

        def encode_image(self, x):
            return x

        def encode_text(self, texts):
            return torch.stack([torch.tensor([float(t.endswith(m) or t.endswith(m + ".")) for m in SINGLE_FRAME_MOTIONS])
                                for t in texts])

    def shows(motion):
        return torch.eye(7)[SINGLE_FRAME_MOTIONS.index(motion)] if motion else torch.zeros(7)

    stills = [("red circle", "moving left", "moving left"), ("red square", "spinning", "shaking"),
              ("blue bar", "moving up", None), ("blue bar", "", "moving up")]  # last: names no motion, left out
    images = torch.stack([shows(m) for _, _, m in stills])
    out = still_motion_accuracy(Hand(), images, [s[0] for s in stills], [s[1] for s in stills])
    assert out["n"] == 3
    assert out["motion_only"] == pytest.approx(100 / 3) and out["motion_given_object"] == pytest.approx(100 / 3)
    assert out["motion_only_ci_low"] <= out["motion_only"] <= out["motion_only_ci_high"]


def test_pretrain_teacher_on_a_tiny_budget_learns_and_writes_a_loadable_teacher(tmp_path):
    """Stage 00's trainer, end to end on 320 stills and 40 steps: the loss falls, the teacher file loads as the
    toy architecture, and pretrain.json records the held-out accuracies (motion measures included)."""
    import json

    from fitclip.models import load_clip
    from fitclip.toyworld import write_stills
    from fitclip.toyworld.pretrain import PretrainConfig, pretrain_teacher

    stills = write_stills(tmp_path, n=320, seed=0)
    config = PretrainConfig(steps=40, batch_size=32, holdout=64, motion_groups=2)
    record = pretrain_teacher(stills, tmp_path / "teacher", config, progress=False)
    losses = [json.loads(line)["loss"] for line in (tmp_path / "teacher" / "metrics.jsonl").read_text().splitlines()]
    assert len(losses) == 40 and np.mean(losses[-5:]) < np.mean(losses[:5])
    model = load_clip("fitclip-toy", str(tmp_path / "teacher" / "teacher.pt"))
    assert model.arch == "fitclip-toy"
    saved = json.loads((tmp_path / "teacher" / "pretrain.json").read_text())
    assert saved["config"]["motion_groups"] == 2 and saved["n_holdout"] == 64
    assert {"top1", "colour", "shape", "motion_only", "motion_given_object"} <= set(saved["zero_shot_after"])
    assert record["zero_shot_after"] == saved["zero_shot_after"]


def test_stills_with_the_video_look_differ_only_in_the_objects_colour():
    """render_stills_chunk's `look` (for measuring the gap, never in the corpus): look 0 is the corpus's bytes;
    with the look the same scenes and captions, only the object's pixels change (the background stays)."""
    from fitclip.toyworld.render import render_stills_chunk

    plain, captions, labels = render_stills_chunk(0, 12, 12, seed=3)
    again, _, _ = render_stills_chunk(0, 12, 12, seed=3, look=0.0)
    looked, captions_l, labels_l = render_stills_chunk(0, 12, 12, seed=3, look=0.4)
    assert np.array_equal(plain, again) and captions == captions_l and labels == labels_l
    changed = (plain != looked).any(axis=-1)  # [12, 64, 64]
    assert changed.any() and changed.mean() < 0.2  # a small object moved in colour, not the frame


class _Blind(torch.nn.Module):
    """A model that reads nothing: every image, video and text embeds to the same vector, so every score ties."""

    def tokenize(self, texts):
        return torch.zeros(len(texts), 1)

    def encode_image(self, x):
        return torch.ones(len(x), 3)

    def encode_video(self, frames):
        return torch.ones(len(frames), 3)

    def encode_text(self, tokens):
        return torch.ones(len(tokens), 3)


def test_the_worlds_videos_keep_full_resolution_chroma_and_the_probe_reads_each_coding(tmp_path):
    """write_clip codes the chroma at full resolution (a 1-px red line decodes red, its neighbours grey) unless
    told otherwise (4:2:0: the line's colour shared with its neighbour); chroma_probe reads the same videos three
    ways, and a model that sees nothing (every score equal) gets exactly chance on each, with no difference."""
    from fitclip.toyworld.pretrain import chroma_probe
    from fitclip.toyworld.writers import write_clip
    from fitclip.video import read_frames

    clip = np.full((5, 64, 64, 3), 128, np.uint8)
    clip[:, :, 31] = (230, 30, 30)
    for suffix in (".mp4", ".avi"):
        red = {}
        for full in (True, False):
            path = write_clip(tmp_path / f"line-{full}{suffix}", clip, intra_only=True, full_chroma=full)
            frame = read_frames(path, [2], backend="pyav")[0].astype(int)
            red[full] = (frame[..., 0] - frame[..., 1]).mean(axis=0)  # red minus green per column: 200 on the line
        assert red[True][31] > 170 and abs(red[True][30]) < 15 and abs(red[True][32]) < 15, (suffix, red[True][29:34])
        assert red[False][31] < 140 and max(red[False][30], red[False][32]) > 40, (suffix, red[False][29:34])

    rows = chroma_probe(_Blind(), limit=10, transform=lambda x: x.permute(0, 3, 1, 2).float())
    assert [r["coding"] for r in rows] == ["rendered", "4:4:4", "4:2:0"]
    for r in rows:  # all 10 classes tied: each video's hit is shared, 1/10
        assert r["n"] == 10 and r["top1"] == pytest.approx(10.0) and r["diff_vs_444"] == 0.0


def test_look_probe_measures_every_look_on_the_same_stills():
    """look_probe on a hand-made model that reads the motion from nothing (every score equal): each look is
    measured on the same stills (the same n), every guess is counted once, and ties score no accuracy."""
    from fitclip.toyworld.pretrain import look_probe
    from fitclip.toyworld.vocabulary import SINGLE_FRAME_MOTIONS

    rows = look_probe(_Blind(), looks=(0.0, 0.4), n=40, seed=2, transform=lambda x: x.permute(0, 3, 1, 2).float())
    assert [r["look"] for r in rows] == [0.0, 0.4] and rows[0]["n"] == rows[1]["n"] > 0
    for r in rows:
        assert set(r["guesses"]) == set(SINGLE_FRAME_MOTIONS) and sum(r["guesses"].values()) == r["n"]
        assert r["motion_only"] == 0 and r["motion_given_object"] == 0  # all tied: a miss each
