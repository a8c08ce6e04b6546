"""The cuda target's generated source for a subset of the corpus, pinned in ``golden/cuda/<name>.py``.

Rendering needs no Numba, so these run in this process (``s2s.source(..., target="cuda")``); the
same transforms run under the simulator in ``cuda_cases`` (the ``golden`` case), so what is pinned is
code the target runs.  After an intended change, ``pytest tests/test_golden_cuda.py --force-regen``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from cuda_cases import GOLDEN, golden_case

import s2s

FOLDER = Path(__file__).resolve().parent.parent / "golden" / "cuda"


@pytest.mark.parametrize("name", list(GOLDEN))
def test_cuda_source_matches_golden(name, file_regression):
    fun, args = golden_case(name)
    file_regression.check(s2s.source(fun, target="cuda", args=args), fullpath=FOLDER / f"{name}.py")
    assert "numba.cuda" not in sys.modules, "rendering cuda code imported numba.cuda"


def test_no_stale_golden_files():
    stale = {p.stem for p in FOLDER.glob("*.py")} - set(GOLDEN)
    assert not stale, f"golden/cuda has files for functions it no longer pins: {sorted(stale)}"
