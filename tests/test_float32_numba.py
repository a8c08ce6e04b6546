"""float32 under ``s2s.jit``: float32 arguments stay float32 through the primal and every derivative.

NumPy is the reference: where NumPy gives float32 for float32 inputs, the compiled primal, jvp,
grad, vmap and jacfwd give float32, with values close to the float64 ones.  Corpus functions
cover scalar loops, array loops, reductions, matrix products and scalar math.
"""

from __future__ import annotations

import numpy as np
import pytest
from corpus import CASES
from derivatives import assert_close, tangents_for

import s2s
from s2s import precision

NAMES = ("logistic_map", "kalman_filter_1d", "heat_rod_slices", "logsumexp", "logistic_loss_vectorized", "mlp_mse")
PICKED = [c for c in CASES if c.name in NAMES]


def float32(value):
    if isinstance(value, tuple):
        return tuple(float32(v) for v in value)
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return value.astype(np.float32)
    return np.float32(value) if isinstance(value, float) else value


def dtypes(value):
    if isinstance(value, tuple):
        return [d for v in value for d in dtypes(v)]
    return [np.result_type(value)]


def check(actual, expected, rtol=1e-4):
    assert all(d == np.float32 for d in dtypes(actual)), dtypes(actual)
    assert_close(np.asarray(actual, dtype=float) if not isinstance(actual, tuple) else
                 tuple(np.asarray(a, dtype=float) for a in actual), expected, rtol=rtol, atol=1e-4)


@pytest.mark.parametrize("case", PICKED, ids=lambda c: c.name)
def test_float32_stays_float32_under_numba(case):
    args, fun, first = float32(case.args), s2s.jit(case.fun), case.argnums[0]
    assert np.result_type(case.fun(*args)) == np.float32  # NumPy's answer, which the compiled code must give
    check(fun(*args), case.fun(*case.args))

    tangents = tangents_for(case.args, case.argnums)
    out, tangent = s2s.jvp(fun, args, float32(tangents))
    check(tangent, s2s.jvp(case.fun, case.args, tangents)[1])

    check(s2s.grad(fun, argnums=case.argnums)(*args), s2s.grad(case.fun, argnums=case.argnums)(*case.args))

    in_axes = tuple(0 if i == first else None for i in range(len(args)))
    batched = tuple(np.stack([a, a * np.float32(0.9)]) if i == first else a for i, a in enumerate(args))
    check(s2s.vmap(fun, in_axes=in_axes)(*batched), s2s.vmap(case.fun, in_axes=in_axes)(*float64(batched)))

    check(s2s.jit(s2s.jacfwd(case.fun, argnums=first))(*args), s2s.jacfwd(case.fun, argnums=first)(*case.args))


def float64(value):
    if isinstance(value, tuple):
        return tuple(float64(v) for v in value)
    return value.astype(float) if isinstance(value, np.ndarray) and value.dtype.kind == "f" else value


def test_float64_code_is_not_specialized():
    assert precision.float_type((np.ones(3), 1.0)) is None
    assert precision.float_type((np.ones(3, np.float32), np.ones(2))) is None  # mixed: NumPy computes in float64
    assert precision.float_type((np.ones(3, np.float32), 1.0, 3)) == precision.FLOAT32
    source = s2s.source(s2s.jit(s2s.grad(CASES[1].fun)), args=CASES[1].args)
    assert "float32" not in source


def test_python_numbers_meeting_floats_are_float32_and_indices_stay_integers():
    def walk(x, n):
        total = 0
        for i in range(n - 1):
            total += 0.5 * x[i + 1] * (i / 2) + 2 * x[i] / len(x)
        return total

    x = np.linspace(0.1, 1.0, 6).astype(np.float32)
    source = s2s.source(s2s.jit(s2s.grad(walk)), args=(x, 6))
    assert "np.float32(0.5)" in source and "x[i + 1]" in source and "range(n - 1)" in source
    grad = s2s.grad(s2s.jit(walk))(x, 6)
    assert grad.dtype == np.float32
    assert_close(grad, s2s.grad(walk)(x.astype(float), 6), rtol=1e-5)
