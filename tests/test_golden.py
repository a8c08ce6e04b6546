"""Generated source of every corpus function, pinned in ``golden/<mode>/<name>.py``.

After an intended change to generated code, rewrite the files with
``pytest tests/test_golden.py --force-regen`` and review the diff.  Reverse
modes are generated for the corpus arguments (their code depends on which
arguments are scalars and which arrays), and ``vmap`` for those arguments
batched as ``tests/test_batching.py`` batches them, so what is pinned is what
the tests run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from api_samples import SAMPLES
from corpus import CASES, batch_args
from test_corpus_reverse import UNSUPPORTED

import s2s

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
FORWARD = ("jvp",)
REVERSE = ("linearize", "transpose", "vjp", "grad")
BATCHED = ("vmap",)
MODES = FORWARD + REVERSE + BATCHED
PAIRS = [(case, mode) for mode in MODES for case in CASES if mode in FORWARD or case.name not in UNSUPPORTED]


@pytest.mark.parametrize("case, mode", PAIRS, ids=[f"{m}-{c.name}" for c, m in PAIRS])
def test_generated_source_matches_golden(case, mode, file_regression):
    if mode in BATCHED:
        args, in_axes = batch_args(case)
        generated = s2s.source(case.fun, mode=mode, args=args, in_axes=in_axes)
    else:
        args = case.args if mode in REVERSE else None
        generated = s2s.source(case.fun, mode=mode, argnums=case.argnums, args=args)
    file_regression.check(generated, fullpath=GOLDEN / mode / f"{case.name}.py")


@pytest.mark.parametrize("name", list(SAMPLES))
def test_api_samples_match_golden(name, file_regression):
    """Trees, rules of one's own and checkpoint, as their gradients' code reads."""
    fun, args, argnums = SAMPLES[name]
    file_regression.check(s2s.source(fun, mode="grad", argnums=argnums, args=args),
                          fullpath=GOLDEN / "api" / f"{name}.py")


def test_no_stale_golden_files():
    for mode in MODES:
        names = {c.name for c, m in PAIRS if m == mode}
        stale = {p.stem for p in (GOLDEN / mode).glob("*.py")} - names
        assert not stale, f"golden/{mode} has files for functions it no longer pins: {sorted(stale)}"
    stale = {p.stem for p in (GOLDEN / "api").glob("*.py")} - set(SAMPLES)
    assert not stale, f"golden/api has files for samples it no longer pins: {sorted(stale)}"
