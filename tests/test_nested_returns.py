"""The user's functions returning tuples of values, nested (``return (a, b), c``), unpacked as nested or
read by index where they are called: gradients agree with finite differences, and second derivatives
(``hessian``, ``jvp(grad)``, whose generated code calls the helpers' own derivatives returning nested
tuples) with finite differences of the gradient."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import s2s

from derivatives import central_difference
from programs import load_module

LEAVES = ["np.sin(x)", "np.sum(x * x)", "x * np.cos(x[0])", "np.sum(np.tanh(x))"]


def _shapes():
    return st.recursive(st.just(0), lambda inner: st.lists(inner, min_size=1, max_size=3).map(tuple), max_leaves=5)


def _display(shape, leaves):
    if isinstance(shape, tuple):
        return "(" + ", ".join(_display(s, leaves) for s in shape) + ",)"
    return next(leaves)


def _names(shape, prefix):
    if isinstance(shape, tuple):
        return "(" + ", ".join(_names(s, f"{prefix}_{k}") for k, s in enumerate(shape)) + ",)"
    return prefix


def _reads(shape, path):
    if isinstance(shape, tuple):
        return [r for k, s in enumerate(shape) for r in _reads(s, f"{path}[{k}]")]
    return [path]


@st.composite
def programs(draw):
    shape = draw(_shapes().filter(lambda s: isinstance(s, tuple)))
    leaves = iter(draw(st.lists(st.sampled_from(LEAVES), min_size=5, max_size=5)))
    unpacked = draw(st.booleans())
    body = f"    {_names(shape, 'r')} = helper(x)\n" if unpacked else "    r = helper(x)\n"
    reads = [p.replace("[", "_").replace("]", "") if unpacked else p for p in _reads(shape, "r")]
    total = " + ".join(f"{k + 1.5} * np.sum(np.sin({r}))" for k, r in enumerate(reads))
    return (f"import numpy as np\n\n\ndef helper(x):\n    return {_display(shape, leaves)}\n\n\n"
            f"def program(x):\n{body}    return {total}\n")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(source=programs())
def test_helpers_returning_nested_tuples(source, tmp_path):
    program = load_module(tmp_path, source).program
    x, t = np.array([0.3, -0.6, 0.9]), np.array([1.0, 0.5, -0.7])
    grad = s2s.grad(program)
    assert np.vdot(grad(x), t) == pytest.approx(central_difference(program, (x,), (t,))[0], rel=1e-6), source
    expected = central_difference(grad, (x,), (t,), eps=1e-5)
    np.testing.assert_allclose(s2s.jvp(grad, (x,), (t,))[1], expected, rtol=1e-5, atol=1e-7, err_msg=source)
    np.testing.assert_allclose(s2s.hessian(program)(x) @ t, expected, rtol=1e-5, atol=1e-7, err_msg=source)
