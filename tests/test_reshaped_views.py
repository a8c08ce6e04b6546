"""Reshapes whose cotangent arrives as a view with strides no reshape keeps, compiled.

The class: the transpose of ``np.reshape`` (``ravel``, ``squeeze``, ``expand_dims``) reshapes the cotangent
back; where what follows the reshape is a transpose, a step slice or ``np.moveaxis``, that cotangent is a
non-contiguous view, which Numba cannot reshape (it raised inside the generated backward pass of ADBench's GMM
port).  Each program's compiled gradient is checked against the plain-Python one and central differences.
"""

from __future__ import annotations

import numpy as np
import pytest
from derivatives import central_difference
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from programs import load_module

import s2s

#: What makes the array reshaped (from ``x``, 4 x 6), how it is reshaped, and the view taken of the result.
MADE = ["np.sin(x)", "x @ w", "x * x + w[0, 0]", "x.T @ x[:, :4]"]
RESHAPED = ["np.reshape({}, (6, 4))", "{}.reshape(2, 12)", "np.ravel({})", "np.reshape({}, (3, 8))",
            "np.expand_dims({}, 0)", "{}.reshape(-1, 2)"]
VIEWED = ["{}.T", "np.transpose({})", "{}[::2]", "np.moveaxis({}, 0, -1)", "np.swapaxes({}, 0, -1)", "{}[::-1]"]


@st.composite
def programs(draw):
    made = draw(st.sampled_from(MADE))
    reshaped = draw(st.sampled_from(RESHAPED)).format(f"({made})")
    viewed = draw(st.sampled_from(VIEWED)).format("r")
    return ("import numpy as np\n\n\ndef program(x, w):\n"
            f"    r = {reshaped}\n"
            f"    v = {viewed}\n"
            "    return np.sum(np.sin(v) * np.arange(1.0, 1.0 + v.size).reshape(v.shape))\n")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(source=programs())
def test_reshaped_cotangent_views_compiled(source, tmp_path):
    program = load_module(tmp_path, source).program
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((4, 6)), rng.standard_normal((6, 6))
    compiled = s2s.jit(s2s.grad(program, argnums=(0, 1)))(x, w)
    plain = s2s.grad(program, argnums=(0, 1))(x, w)
    for a, b in zip(compiled, plain):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12, err_msg=source)
    tangents = (rng.standard_normal((4, 6)), rng.standard_normal((6, 6)))
    along = sum(np.vdot(g, t) for g, t in zip(plain, tangents))
    assert along == pytest.approx(central_difference(program, (x, w), tangents)[0], rel=1e-6, abs=1e-9), source
