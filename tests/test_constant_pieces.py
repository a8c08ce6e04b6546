"""Sequences of arrays (``np.concatenate``, ``np.stack`` and their kin) where some pieces carry no
derivative (a constant, an argument not differentiated): reverse mode gives each differentiated piece its
slice, and needs the others only for their shapes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import s2s

from derivatives import central_difference
from programs import load_module

PIECES = ["x", "y", "np.ones(2)", "2.0 * x", "np.sin(y)", "x * y"]
JOINS = ["np.concatenate(({}))", "np.stack(({}))", "np.hstack(({}))", "np.vstack(({}))",
         "np.concatenate(({}), axis=0)", "np.stack(({}), axis=1)"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=st.lists(st.sampled_from(PIECES), min_size=1, max_size=4), join=st.sampled_from(JOINS),
       named=st.booleans())
def test_pieces_without_derivatives(pieces, join, named, tmp_path):
    joined = join.format(", ".join(pieces) + ",")
    body = f"    h = {joined}\n    return np.sum(np.sin(h) * h)\n" if named else \
        f"    return np.sum(np.sin({joined}))\n"
    source = f"import numpy as np\n\n\ndef program(x, y):\n{body}"
    program = load_module(tmp_path, source).program
    x, y = np.array([0.3, -0.8]), np.array([1.1, 0.4])
    tangent = np.array([0.7, 0.2])
    grad = s2s.grad(program)(x, y)
    expected = central_difference(program, (x, y), (tangent, None))[0]
    assert np.vdot(grad, tangent) == pytest.approx(expected, rel=1e-6, abs=1e-9), source
