"""The plain-Python backend: generated modules run as they are, in the interpreter, with NumPy."""

from __future__ import annotations

from . import Backend


class Python(Backend):
    """Whole-array NumPy where it applies, batch loops one example after another, nothing compiled."""

    name = "python"


BACKEND = Python()
