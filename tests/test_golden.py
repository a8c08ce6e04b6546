"""Generated source of every corpus function, pinned in ``golden/<mode>/<name>.py``.

After an intended change to generated code, rewrite the files with
``pytest tests/test_golden.py --force-regen`` and review the diff.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from corpus import CASES

import s2s

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
MODES = ("jvp",)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_generated_source_matches_golden(case, mode, file_regression):
    generated = s2s.source(case.fun, mode=mode, argnums=case.argnums)
    file_regression.check(generated, fullpath=GOLDEN / mode / f"{case.name}.py")


def test_no_stale_golden_files():
    names = {c.name for c in CASES}
    for mode in MODES:
        stale = {p.stem for p in (GOLDEN / mode).glob("*.py")} - names
        assert not stale, f"golden/{mode} has files for functions no longer in the corpus: {sorted(stale)}"
