"""Random programs over arrays built from the rule table's examples: jvp and grad against central
differences, vjp against jvp (the dot-product test), in Python and, for a few, under Numba.

Longer runs: ``python tools/fuzz.py``.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from random_programs import check, programs

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], derandomize=True)


@settings(max_examples=40, **SETTINGS)
@given(programs, st.integers(0, 2**16))
def test_random_programs(tmp_path, lines, seed):
    check(lines, seed, tmp_path)


@settings(max_examples=3, **SETTINGS)
@given(programs, st.integers(0, 2**16))
def test_random_programs_under_numba(tmp_path, lines, seed):
    check(lines, seed, tmp_path, jit=True)
