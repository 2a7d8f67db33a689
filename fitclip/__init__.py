"""fitclip: FitCLIP (Castro & Caba Heilbron, BMVC 2022) for CLIP-family models on zero-shot video.

The method core is the flat modules of this package (models, transforms, losses, fusion, metrics, video,
distributed, checkpoint, prompts, the annotation readers and the video dataset) and the pipelines built
on it (evaluate, doctor, config, train, pseudo_labels, runtime, search, gallery; ``python -m fitclip``).
Two wings build on the core and are never imported by it: :mod:`fitclip.study` (the notebooks'
helpers and their runner) and :mod:`fitclip.toyworld` (the demo's synthetic world and toy teacher).
The library never imports the trainer (`fitclip.train`) or the notebooks (tests/test_layout.py checks it).
"""

__version__ = "0.1.0"
