"""Branches decided where s2s reads the code (the index of a loop it unrolls, ``len`` of a tree): only the
branch taken is generated, as straight-line code, so that compiled reverse mode has no tape for a branch
that never runs."""

from __future__ import annotations

import numpy as np
import pytest

import s2s

from derivatives import central_difference


def mlp(layers, x):
    """No activation after the last layer: the common MLP."""
    for i, (W, b) in enumerate(layers):
        x = x @ W + b
        if i < len(layers) - 1:
            x = np.tanh(x)
    return np.sum(x ** 2)


def staged(x):
    for i in range(4):
        if i == 0:
            x = x * 1.5
        elif i % 2 == 1 and not i > 2:
            x = np.sin(x)
        else:
            x = x + 0.1 * x ** 2
    return np.sum(x)


LAYERS = [(np.array([[0.5, -0.2], [0.3, 0.8]]), np.zeros(2)), (np.array([[1.0, 0.4], [-0.6, 0.2]]), np.ones(2))]
X = np.array([0.3, -0.2])


@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
def test_branches_decided_by_unrolled_indices(jit):
    wrap = s2s.jit if jit else (lambda fun: fun)
    grads = wrap(s2s.grad(mlp, argnums=(0, 1)))(LAYERS, X)
    t = np.array([1.0, -0.5])
    assert np.vdot(grads[1], t) == pytest.approx(central_difference(mlp, (LAYERS, X), (None, t))[0], rel=1e-7)
    g = wrap(s2s.grad(staged))(X)
    assert np.vdot(g, t) == pytest.approx(central_difference(staged, (X,), (t,))[0], rel=1e-7)


def test_only_the_branch_taken_is_generated():
    text = s2s.source(staged, mode="primal")
    assert "if " not in "".join(line for line in text.splitlines() if not line.strip().startswith("#"))
