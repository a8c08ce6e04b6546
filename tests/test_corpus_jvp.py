"""Every corpus function: its JVP against central finite differences, in Python and under Numba, and its jit."""

from __future__ import annotations

import pytest
from derivatives import assert_close, central_difference, tangents_for
from corpus import CASES

import s2s


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_jvp_matches_finite_differences(case):
    tangents = tangents_for(case.args, case.argnums)
    out, out_dot = s2s.jvp(case.fun, case.args, tangents)
    assert_close(out, case.fun(*case.args), rtol=1e-12, atol=1e-12)
    assert_close(out_dot, central_difference(case.fun, case.args, tangents), rtol=case.rtol, atol=1e-6)


@pytest.mark.parametrize("case", [c for c in CASES if c.numba], ids=lambda c: c.name)
def test_numba_jvp_matches_python(case):
    tangents = tangents_for(case.args, case.argnums)
    out, out_dot = s2s.jvp(s2s.jit(case.fun), case.args, tangents)
    expected_out, expected_dot = s2s.jvp(case.fun, case.args, tangents)
    assert_close(out, expected_out, rtol=1e-10, atol=1e-12)
    assert_close(out_dot, expected_dot, rtol=1e-9, atol=1e-12)
    assert_close(out_dot, central_difference(case.fun, case.args, tangents), rtol=case.rtol, atol=1e-6)


def test_corpus_is_large_enough():
    assert len(CASES) >= 40
    assert len({c.name for c in CASES}) == len(CASES), "corpus function names must be unique"


@pytest.mark.parametrize("case", [c for c in CASES if c.numba], ids=lambda c: c.name)
def test_jit_primal_matches_python(case):
    assert_close(s2s.jit(case.fun)(*case.args), case.fun(*case.args), rtol=1e-12, atol=1e-12)
