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

#: Saturated object colours (RGB), jittered by a few levels per video.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 230),
    "yellow": (235, 215, 30),
    "purple": (150, 60, 200),
    "orange": (250, 135, 20),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
STILL_CLASSES: tuple[str, ...] = tuple(f"{c} {s}" for c in COLOURS for s in SHAPES)

MOTIONS: tuple[str, ...] = (
    "moving left", "moving right", "moving up", "moving down", "staying still",
    "spinning", "shaking", "blinking", "growing", "shrinking",
)
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
#: (colour, motion) pairs never shown in the WebVid-like corpus: one colour per motion, rotating.
HELDOUT_COMBOS: frozenset[tuple[str, str]] = frozenset(
    (list(COLOURS)[i % len(COLOURS)], m) for i, m in enumerate(MOTIONS))
BENCHMARK_DOMAINS: dict[str, str] = {
    "ucf101": "in-domain", "mit": "shifted", "msrvtt": "mixed", "youcook2": "in-domain", "didemo": "shifted",
}
BENCHMARKS: tuple[str, ...] = tuple(BENCHMARK_DOMAINS)

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
#: Every content word a motion caption can use; still captions must use none of them.
MOTION_WORDS: frozenset[str] = frozenset(
    w for phrases in (*MOTION_PHRASES.values(), *SPEED_ADVERBS.values()) for p in phrases for w in p.split()
    if w not in _STOPWORDS)

#: Teacher-corpus captions: object, size and background words only, never motion.
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
    """Whether the world ever renders this object doing this motion (a spinning circle looks still)."""
    return not (shape == "circle" and motion == "spinning")


def seen_in_training(colour: str, motion: str) -> bool:
    """Whether the WebVid-like corpus shows this colour doing this motion (see :data:`HELDOUT_COMBOS`)."""
    return (colour, motion) not in HELDOUT_COMBOS


def ucf101_class_folders() -> list[str]:
    """UCF101-like class folders in ``classInd.txt`` order (alphabetical, like the real file)."""
    return sorted(UCF_FOLDERS.values())


def ucf101_class_names() -> list[str]:
    """The class names FitCLIP's UCF101 rule derives from the folders (regex ``[a-zA-Z][^A-Z]*``)."""
    return [" ".join(re.findall(r"[a-zA-Z][^A-Z]*", f)) for f in ucf101_class_folders()]


def mit_category(colour: str, shape: str, motion: str) -> str:
    """MiT-style raw category name: words joined by ``+`` (``red+circle+moving+left``)."""
    return "+".join([colour, shape, *motion.split()])


def mit_categories() -> list[str]:
    """All 174 MiT-like categories (colour x shape x motion, minus spinning circles), in index order."""
    return [mit_category(c, s, m) for c in COLOURS for s in SHAPES for m in MOTIONS if valid_combo(c, s, m)]


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


def still_caption(colour: str, shape: str, bg: str, r: float, rng: np.random.Generator) -> str:
    template = STILL_TEMPLATES[int(rng.integers(len(STILL_TEMPLATES)))]
    size = "small" if r < 5.5 else "large" if r > 8.5 else None
    if "{size}" in template and size is None:
        template = STILL_TEMPLATES[0]
    return with_articles(template.format(colour=colour, shape=shape, bg=BACKGROUND_WORDS[bg], size=size))
