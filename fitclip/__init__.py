"""fitclip: FitCLIP (Castro & Caba Heilbron, BMVC 2022) for CLIP-family models on zero-shot video.

The library never imports the trainer (`fitclip.train`) or the notebooks.
"""

__version__ = "0.1.0"
