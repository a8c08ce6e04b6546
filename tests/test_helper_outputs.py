"""Helpers that return several values (a tuple, or a dict), read by their caller, under every transform
that batches or differentiates the call: jacfwd (vmap of the JVP), jacrev, vmap, jvp.

The class of programs where the loop over a batch once stacked a helper's tuple of outputs as one
array (jacfwd gave a silently wrong Jacobian): generated, with outputs of mixed shapes.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import s2s

from derivatives import central_difference
from programs import load_module

_OUTPUTS = {
    "scale": "a * 2.0",
    "square": "a ** 2",
    "mixed": "np.array([a[1] ** 2, a[0]])",
    "total": "np.sum(np.sin(a))",
    "decay": "a[0] * np.exp(-a[1] * np.linspace(0.0, 1.0, 3))",
}


def _source(names, container, read) -> str:
    values = [_OUTPUTS[n] for n in names]
    if container == "dict":
        returned = "{" + ", ".join(f"{n!r}: {v}" for n, v in zip(names, values)) + "}"
        reading = f"model(a)[{names[read]!r}]"
    else:
        returned = "(" + ", ".join(values) + ",)"
        reading = f"model(a)[{read}]"
    return (f"import numpy as np\n\n\ndef model(a):\n    return {returned}\n\n\n"
            f"def program(a):\n    return {reading} * np.cos(a[0])\n")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.sampled_from(sorted(_OUTPUTS)), min_size=2, max_size=3, unique=True),
       container=st.sampled_from(["tuple", "dict"]), data=st.data())
def test_jacobians_through_helpers_with_several_outputs(names, container, data, tmp_path):
    read = data.draw(st.integers(0, len(names) - 1))
    program = load_module(tmp_path, _source(names, container, read)).program
    a = np.array([0.7, 1.3])
    forward, reverse = s2s.jacfwd(program)(a), s2s.jacrev(program)(a)
    columns = np.stack([central_difference(program, (a,), (e,)) for e in np.eye(2)], axis=-1)
    np.testing.assert_allclose(np.reshape(forward, columns.shape), columns, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(reverse, forward, rtol=1e-12, atol=1e-14)
    batch = np.array([[0.7, 1.3], [0.2, -0.4], [1.1, 0.5]])
    np.testing.assert_allclose(s2s.vmap(program)(batch), np.stack([program(b) for b in batch]), rtol=1e-14)


def model(a):
    return {"fit": a[0] * np.exp(-a[1] * np.linspace(0.0, 1.0, 3)), "reg": np.array([a[1] ** 2, a[0]])}


def fit(a):
    return model(a)["fit"]


@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
def test_exponential_fit_jacobian(jit):
    a = np.array([1.0, 0.35])
    t = np.linspace(0.0, 1.0, 3)
    expected = np.stack([np.exp(-a[1] * t), -a[0] * t * np.exp(-a[1] * t)], axis=-1)
    jacobian = s2s.jacfwd(fit)
    np.testing.assert_allclose((s2s.jit(jacobian) if jit else jacobian)(a), expected, rtol=1e-14)
