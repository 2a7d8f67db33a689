"""Zero-shot prompt data: the UCF101 prompt templates and the UCF101 class-name rule.

Sources (both MIT licensed):

* ``UCF101_TEMPLATES`` are the 48 templates of the ``## UCF101`` section of ``data/prompts.md`` in
  openai/CLIP (https://github.com/openai/CLIP/blob/main/data/prompts.md, last changed in commit
  e184f608c5d5e58165682f7c332c3a8b4c1545f2), in the same order. FitCLIP's ``aligner/data/ucf.py``
  (bryant1410/fitclip) uses the identical list, in the same order, for zero-shot UCF101. The
  placeholder is written ``{}`` here (CLIP writes ``{c}``); fill it with :func:`format_prompts`.
* The class-name rule is FitCLIP's (``aligner/data/ucf.py``): the ``classInd.txt`` folder name split
  on capitals with the regex ``[a-zA-Z][^A-Z]*`` and joined by single spaces. Note that CLIP's own
  UCF101 class list differs from it at 5 positions (``Hand Stand Pushups`` vs ``Handstand Pushups``
  and two swapped pairs), so CLIP's list must never be indexed with classInd ids.

Moments in Time has no templates (neither FitCLIP nor CLIP defines any): its raw category string,
``+`` included, is the prompt.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# 2 articles x 6 verb phrases x 4 nouns, in openai/CLIP data/prompts.md order.
UCF101_TEMPLATES: tuple[str, ...] = (
    "a photo of a person {}.",
    "a video of a person {}.",
    "a example of a person {}.",
    "a demonstration of a person {}.",
    "a photo of the person {}.",
    "a video of the person {}.",
    "a example of the person {}.",
    "a demonstration of the person {}.",
    "a photo of a person using {}.",
    "a video of a person using {}.",
    "a example of a person using {}.",
    "a demonstration of a person using {}.",
    "a photo of the person using {}.",
    "a video of the person using {}.",
    "a example of the person using {}.",
    "a demonstration of the person using {}.",
    "a photo of a person doing {}.",
    "a video of a person doing {}.",
    "a example of a person doing {}.",
    "a demonstration of a person doing {}.",
    "a photo of the person doing {}.",
    "a video of the person doing {}.",
    "a example of the person doing {}.",
    "a demonstration of the person doing {}.",
    "a photo of a person during {}.",
    "a video of a person during {}.",
    "a example of a person during {}.",
    "a demonstration of a person during {}.",
    "a photo of the person during {}.",
    "a video of the person during {}.",
    "a example of the person during {}.",
    "a demonstration of the person during {}.",
    "a photo of a person performing {}.",
    "a video of a person performing {}.",
    "a example of a person performing {}.",
    "a demonstration of a person performing {}.",
    "a photo of the person performing {}.",
    "a video of the person performing {}.",
    "a example of the person performing {}.",
    "a demonstration of the person performing {}.",
    "a photo of a person practicing {}.",
    "a video of a person practicing {}.",
    "a example of a person practicing {}.",
    "a demonstration of a person practicing {}.",
    "a photo of the person practicing {}.",
    "a video of the person practicing {}.",
    "a example of the person practicing {}.",
    "a demonstration of the person practicing {}.",
)

_CAMEL_CASE_WORD = re.compile(r"[a-zA-Z][^A-Z]*")


def ucf101_class_name(folder: str) -> str:
    """The prompt class name for a UCF101 class folder: CamelCase split, joined by spaces.

    ``ApplyEyeMakeup`` -> ``Apply Eye Makeup``, ``YoYo`` -> ``Yo Yo``,
    ``HandstandPushups`` -> ``Handstand Pushups`` (FitCLIP's rule, regex ``[a-zA-Z][^A-Z]*``).
    """
    words = _CAMEL_CASE_WORD.findall(folder)
    if not words:
        raise ValueError(f"cannot derive a UCF101 class name from folder name {folder!r}")
    return " ".join(words)


def format_prompts(templates: Sequence[str] | None, classname: str) -> list[str]:
    """The prompts for one class: each template filled with the class name.

    ``templates=None`` means "no templates": the class name itself is the only prompt (MiT).
    """
    if templates is None:
        return [classname]
    return [template.format(classname) for template in templates]
