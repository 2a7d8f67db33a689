"""The toy world's vocabulary: what exists (colours, shapes, motions, backgrounds), which combinations are
rendered and which the WebVid-like corpus never shows, the benchmarks' class names, and the words of every
caption (templates and phrasings, drawn from the caller's random stream).

Why the world is built this way (cues, the order-only control, the domain shift): :mod:`fitclip.toyworld.world`.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np

FRAME_SIZE = 64
FPS = 10.0
#: 1 mod 4, so FitCLIP's 4-frame eval sampler picks time-symmetric frames (see the module docstring).
CLIP_FRAMES = 21

#: Saturated object colours (RGB), jittered by a few levels per video: ten hues, so the teacher's vocabulary
#: (10 colours x 6 shapes = 60 object concepts) is far broader than what the labeled videos show.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 230),
    "yellow": (235, 215, 30),
    "purple": (150, 60, 200),
    "orange": (250, 135, 20),
    "pink": (250, 120, 190),
    "cyan": (30, 200, 220),
    "lime": (160, 230, 30),
    "brown": (150, 85, 30),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "cross", "ring", "bar")
#: The teacher's object concepts: every colour x shape ("red circle"), 60 in all.
STILL_CLASSES: tuple[str, ...] = tuple(f"{c} {s}" for c in COLOURS for s in SHAPES)
CONCEPTS = STILL_CLASSES
#: What the WebVid-like LABELED subset shows: 5 of the 10 colours x 4 of the 6 shapes = 20 of the 60
#: concepts (one third), as FitCLIP's 4.5 k labeled videos show a sliver of what CLIP knows. The unlabeled
#: pool, the validation split and every benchmark draw on all 60.
LABELED_COLOURS: tuple[str, ...] = ("red", "green", "blue", "yellow", "purple")
LABELED_SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "cross")
LABELED_CONCEPTS: tuple[str, ...] = tuple(f"{c} {s}" for c in LABELED_COLOURS for s in LABELED_SHAPES)

#: The earlier stills-to-video gap (``video_gap="mix"``, issue 18): in the world's *videos* (never in the teacher's stills) each object concept's
#: colour is drawn :attr:`~fitclip.toyworld.world.WorldConfig.video_look` of the way towards another colour, the one
#: this many steps further in :data:`COLOURS`, per shape (never 5, so two concepts of one shape never meet
#: halfway; never 0). Each concept thus looks a little different on video than in photos, in its own direction,
#: as a real concept filmed (motion blur, compression, other framing) differs from its photos; the labeled videos
#: teach that look for the labeled concepts only. See :func:`video_look_towards`.
VIDEO_LOOK_STEPS: dict[str, int] = dict(zip(SHAPES, (1, 2, 3, 4, 6, 7)))


def video_look_towards(colour: str, shape: str) -> str:
    """The colour a concept's video look drifts towards (:data:`VIDEO_LOOK_STEPS`): "red circle" -> "green"."""
    names = list(COLOURS)
    return names[(names.index(colour) + VIDEO_LOOK_STEPS[shape]) % len(names)]


#: The default stills-to-video gap (:attr:`~fitclip.toyworld.world.WorldConfig.video_gap` ``"swap"``): the colours in
#: pairs, in :data:`COLOURS` order (red-green, blue-yellow, purple-orange, pink-cyan, lime-brown); per shape every
#: other pair is swapped on video (pair ``j`` when ``j`` + the shape's index is even), so half the 60 concepts (and
#: half the labeled ones) show, in every video, the palette colour of their partner's stills, and the other half
#: look as in the stills. See :func:`video_swap_partner`.
VIDEO_SWAP_PAIRS: tuple[tuple[str, str], ...] = tuple(zip(list(COLOURS)[0::2], list(COLOURS)[1::2]))


def video_swap_partner(colour: str, shape: str) -> str | None:
    """The colour a concept shows on video under the swap gap (:data:`VIDEO_SWAP_PAIRS`), None when it is not
    swapped: "red circle" -> "green" (and "green circle" -> "red"), "red square" -> None."""
    names = list(COLOURS)
    pair = names.index(colour) // 2
    if (pair + SHAPES.index(shape)) % 2:
        return None
    return names[names.index(colour) ^ 1]


MOTIONS: tuple[str, ...] = (
    "moving left", "moving right", "moving up", "moving down", "staying still",
    "spinning", "shaking", "blinking", "growing", "shrinking",
)
#: Motions one frame shows (a trail, rotational or shake blur, a crisp object at rest): the teacher's stills
#: name them in some captions, as web photos name the action they show. Blinking and the order-only pair
#: have no single-frame cue, and no still caption ever names them.
SINGLE_FRAME_MOTIONS: tuple[str, ...] = ("moving left", "moving right", "moving up", "moving down", "staying still",
                                         "spinning", "shaking")
#: Negative control: these two differ only in frame order (shrinking == growing reversed).
ORDER_ONLY_PAIR: tuple[str, str] = ("growing", "shrinking")
#: Unit direction (dx, dy) in image coordinates (y points down) of the translations.
TRANSLATIONS: dict[str, tuple[int, int]] = {
    "moving left": (-1, 0), "moving right": (1, 0), "moving up": (0, -1), "moving down": (0, 1),
}
#: UCF101-style CamelCase folder per motion; the UCF loader's regex split gives back "Moving Left".
UCF_FOLDERS: dict[str, str] = {m: "".join(w.capitalize() for w in m.split()) for m in MOTIONS}

BACKGROUNDS: tuple[str, ...] = ("gradient", "stripes", "clouds", "checker", "dots")
TRAIN_BACKGROUNDS: tuple[str, ...] = ("gradient", "stripes", "clouds")
SHIFTED_BACKGROUNDS: tuple[str, ...] = ("checker", "dots")
#: How captions name each background family.
BACKGROUND_WORDS: dict[str, str] = {
    "gradient": "gradient", "stripes": "striped", "clouds": "cloudy", "checker": "checkered", "dots": "dotted",
}
BENCHMARK_DOMAINS: dict[str, str] = {
    "ucf101": "in-domain", "mit": "shifted", "msrvtt": "mixed", "youcook2": "in-domain", "didemo": "shifted",
}
BENCHMARKS: tuple[str, ...] = tuple(BENCHMARK_DOMAINS)
#: The later peers' zero-shot protocol (three test splits; benchmarks README §8): HMDB51-like and
#: Kinetics-600-zero-shot-like benchmarks in the peers' list format (UCF101-like has those lists too). Not part of
#: FitCLIP's five benchmarks nor of the demo; ``fitclip evaluate --dataset hmdb51 --split all`` reads them.
PEER_BENCHMARK_DOMAINS: dict[str, str] = {"hmdb51": "shifted", "k600_zs": "in-domain"}
PEER_BENCHMARKS: tuple[str, ...] = tuple(PEER_BENCHMARK_DOMAINS)

#: Varied phrasings per motion (video captions); the first one is the canonical name.
MOTION_PHRASES: dict[str, tuple[str, ...]] = {
    "moving left": ("moving left", "moving to the left", "sliding left", "drifting to the left", "travelling left"),
    "moving right": ("moving right", "moving to the right", "sliding right", "drifting to the right",
                     "travelling right"),
    "moving up": ("moving up", "moving upward", "rising", "sliding up", "drifting upward"),
    "moving down": ("moving down", "moving downward", "falling", "sliding down", "drifting downward"),
    "staying still": ("staying still", "standing still", "not moving", "motionless", "resting in place"),
    "spinning": ("spinning", "rotating", "turning around", "spinning in place", "twirling"),
    "shaking": ("shaking", "jittering", "trembling", "vibrating", "wobbling"),
    "blinking": ("blinking", "flashing on and off", "flickering", "blinking on and off",
                 "appearing and disappearing"),
    "growing": ("growing", "getting bigger", "expanding", "growing in size", "swelling"),
    "shrinking": ("shrinking", "getting smaller", "contracting", "shrinking in size", "dwindling"),
}
SPEED_ADVERBS: dict[str, tuple[str, ...]] = {"slow": ("slowly",), "fast": ("quickly", "rapidly")}
_STOPWORDS = frozenset({"a", "an", "the", "to", "in", "on", "and", "of"})
#: Every content word a motion caption can use.
MOTION_WORDS: frozenset[str] = frozenset(
    w for phrases in (*MOTION_PHRASES.values(), *SPEED_ADVERBS.values()) for p in phrases for w in p.split()
    if w not in _STOPWORDS)
#: The words of the motions no single frame shows (blinking, growing, shrinking): no still caption uses them.
UNSEEN_MOTION_WORDS: frozenset[str] = frozenset(
    w for m in MOTIONS if m not in SINGLE_FRAME_MOTIONS for p in MOTION_PHRASES[m] for w in p.split()
    if w not in _STOPWORDS) - frozenset(
    w for m in SINGLE_FRAME_MOTIONS for p in (*MOTION_PHRASES[m], *SPEED_ADVERBS["slow"], *SPEED_ADVERBS["fast"])
    for w in p.split())

#: Teacher-corpus captions that name only the object (and size, background).
STILL_TEMPLATES: tuple[str, ...] = (
    "a photo of a {colour} {shape}.",
    "a {colour} {shape}",
    "a photo of a {size} {colour} {shape}.",
    "a {colour} {shape} on a {bg} background",
    "an image of a {colour} {shape}",
    "a picture of the {colour} {shape}",
    "a {shape} that is {colour}",
    "{colour} {shape}, {bg} background",
    "a drawing of a {colour} {shape} over a {bg} pattern",
)
#: Teacher-corpus captions of stills whose frame shows the motion (a trail, blur, a crisp object at rest).
STILL_MOTION_TEMPLATES: tuple[str, ...] = (
    "a photo of a {colour} {shape} {motion}.",
    "a {colour} {shape} {motion}",
    "a blurry photo of a {colour} {shape} {motion}",
    "a {colour} {shape} {motion} on a {bg} background",
)
#: WebVid-like captions; index 3 has a comma and index 6 has double quotes (CSV quoting is exercised).
WEBVID_TEMPLATES: tuple[str, ...] = (
    "a {colour} {shape} {motion}",
    "{colour} {shape} {motion} on a {bg} background",
    "close-up of a {colour} {shape} {motion}",
    "a {colour} {shape}, {motion}",
    "animation of a {colour} {shape} {motion}, {bg} background",
    "Abstract {colour} {shape} {motion}. Stock footage",
    'seamless "loop": a {colour} {shape} {motion}',
)
#: A share of WebVid-like captions name only the object, as many real WebVid captions miss the action.
WEBVID_OBJECT_ONLY_TEMPLATES: tuple[str, ...] = (
    "a {colour} {shape} on a {bg} background",
    "{colour} {shape} animation",
)
#: MSR-VTT-like sentences: lowercase, no commas or quotes (as in the real JSFusion csv).
MSRVTT_TEMPLATES: tuple[str, ...] = (
    "a {colour} {shape} is {motion}",
    "a {colour} {shape} {motion} on a {bg} background",
    "there is a {colour} {shape} {motion}",
    "the {colour} {shape} is {motion}",
    "a {shape} colored {colour} is {motion}",
)
YOUCOOK2_TEMPLATES: tuple[str, ...] = (
    "the {colour} {shape} is {motion}",
    "{colour} {shape} {motion}",
    "now the {shape} is {motion}",
    "watch the {colour} {shape} {motion}",
)
DIDEMO_TEMPLATES: tuple[str, ...] = (
    "the {colour} {shape} is {motion}",
    "a {colour} {shape} {motion}",
    "we see a {colour} {shape} {motion}",
    "then a {colour} {shape} is {motion}",
    "{colour} {shape} {motion}.",
)


def valid_combo(colour: str, shape: str, motion: str) -> bool:
    """Whether the world ever renders this object doing this motion (a spinning circle or ring looks still)."""
    return not (shape in ("circle", "ring") and motion == "spinning")


def is_labeled_concept(concept: str) -> bool:
    """Whether the WebVid-like labeled subset shows this object concept ("red circle"): :data:`LABELED_CONCEPTS`."""
    return concept in LABELED_CONCEPTS


def ucf101_class_folders() -> list[str]:
    """UCF101-like class folders in ``classInd.txt`` order (alphabetical, like the real file)."""
    return sorted(UCF_FOLDERS.values())


def ucf101_class_names() -> list[str]:
    """The class names FitCLIP's UCF101 rule derives from the folders (regex ``[a-zA-Z][^A-Z]*``)."""
    return [" ".join(re.findall(r"[a-zA-Z][^A-Z]*", f)) for f in ucf101_class_folders()]


def mit_category(shape: str, motion: str) -> str:
    """MiT-style raw category name: words joined by ``+`` (``circle+moving+left``)."""
    return "+".join([shape, *motion.split()])


def mit_categories() -> list[str]:
    """All 58 MiT-like categories (shape x motion, minus spinning circles and rings), in index order; the
    videos' colours vary within a category."""
    return [mit_category(s, m) for s in SHAPES for m in MOTIONS if valid_combo("", s, m)]


# --------------------------------------------------------------------------------------------------
# Caption text
# --------------------------------------------------------------------------------------------------


def pick_one(rng: np.random.Generator, options: Sequence[Any]) -> Any:
    return options[int(rng.integers(len(options)))]


def _motion_phrase(motion: str, speed: str, rng: np.random.Generator) -> str:
    """A varied phrasing of the motion; translations mention their speed half of the time."""
    phrase = pick_one(rng, MOTION_PHRASES[motion])
    if motion in TRANSLATIONS and rng.random() < 0.5:
        phrase = f"{pick_one(rng, SPEED_ADVERBS[speed])} {phrase}"
    return phrase


def with_articles(text: str) -> str:
    """'a orange square' -> 'an orange square' (templates are written with 'a')."""
    return re.sub(r"\b([Aa]) (?=[aeiouAEIOU])", r"\1n ", text)


def motion_caption(templates: Sequence[str], colour: str, shape: str, motion: str, speed: str, bg: str,
             rng: np.random.Generator, template: int | None = None) -> str:
    t = templates[int(rng.integers(len(templates)))] if template is None else templates[template]
    return with_articles(t.format(colour=colour, shape=shape, motion=_motion_phrase(motion, speed, rng),
                              bg=BACKGROUND_WORDS[bg]))


def still_caption(colour: str, shape: str, bg: str, r: float, rng: np.random.Generator,
                  motion: str | None = None, speed: str = "slow") -> str:
    """A still's caption: with `motion` (one of :data:`SINGLE_FRAME_MOTIONS`) it names what the frame shows."""
    if motion is not None:
        if motion not in SINGLE_FRAME_MOTIONS:
            raise ValueError(f"no single frame shows {motion!r}; still captions name only {SINGLE_FRAME_MOTIONS}")
        return motion_caption(STILL_MOTION_TEMPLATES, colour, shape, motion, speed, bg, rng)
    template = STILL_TEMPLATES[int(rng.integers(len(STILL_TEMPLATES)))]
    size = "small" if r < 5.5 else "large" if r > 8.5 else None
    if "{size}" in template and size is None:
        template = STILL_TEMPLATES[0]
    return with_articles(template.format(colour=colour, shape=shape, bg=BACKGROUND_WORDS[bg], size=size))
