"""checkpoint (remat): the same derivatives, with a checkpointed function's intermediates computed again
in the backward pass instead of saved."""

from __future__ import annotations

import math

import numpy as np
import pytest

import s2s

from derivatives import central_difference


@s2s.checkpoint
def g(x):
    y = np.sin(x)
    z = np.sin(y)
    return z


def step(x, w):
    h = np.tanh(w * x)
    return x + 0.1 * np.sin(h) * h


def integrate(x, w, n):
    for _ in range(n):
        x = s2s.checkpoint(step)(x, w)
    return np.sum(x ** 2)


def integrate_plain(x, w, n):
    for _ in range(n):
        x = step(x, w)
    return np.sum(x ** 2)


def sin_of(x):
    return np.sin(x)


def cos_of(x):
    return np.cos(x)


def tanh_of(x):
    return np.tanh(x)


def recursive_checkpoint(funs):
    """The seed's recursive composition: lambdas that close over functions, checkpointed where called."""
    if len(funs) == 1:
        return funs[0]
    elif len(funs) == 2:
        f1, f2 = funs
        return lambda x: f1(f2(x))
    else:
        f1 = recursive_checkpoint(funs[:len(funs) // 2])
        f2 = recursive_checkpoint(funs[len(funs) // 2:])
        return lambda x: f1(s2s.checkpoint(f2)(x))


def composed(x):
    return sin_of(cos_of(tanh_of(sin_of(cos_of(x)))))


X = np.linspace(0.1, 1.0, 4)


def test_seed_example():
    # The seed prints 0.25563914 (float32); the derivative cos(sin(2)) cos(2) is negative.
    assert s2s.grad(g)(2.0) == pytest.approx(math.cos(math.sin(2.0)) * math.cos(2.0), rel=1e-14)
    assert s2s.jvp(g, (2.0,), (1.0,))[1] == pytest.approx(math.cos(math.sin(2.0)) * math.cos(2.0), rel=1e-14)


@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
def test_checkpointed_loop_gives_the_same_gradient(jit):
    grad = s2s.grad(integrate, argnums=(0, 1))
    x_bar, w_bar = (s2s.jit(grad) if jit else grad)(X, 0.7, 20)
    expected = s2s.grad(integrate_plain, argnums=(0, 1))(X, 0.7, 20)
    np.testing.assert_allclose(x_bar, expected[0], rtol=1e-13)
    assert w_bar == pytest.approx(expected[1], rel=1e-13)
    tangent = np.array([0.3, -1.0, 0.5, 2.0])
    assert np.vdot(x_bar, tangent) == pytest.approx(
        central_difference(integrate, (X, 0.7, 20), (tangent, None, None))[0], rel=1e-7)


def test_a_checkpointed_step_saves_its_input_only():
    """The forward pass tapes the step's input (one array per trip), none of the step's own values."""
    text = s2s.source(integrate, mode="grad", argnums=(0, 1), args=(X, 0.7, 20))
    forward = text[text.index("def integrate_fwd"):text.index("def step_bwd")]
    assert forward.count(".append(") == 1 and "x_tape.append(x)" in forward
    plain = s2s.source(integrate_plain, mode="grad", argnums=(0, 1), args=(X, 0.7, 20))
    assert "step_fwd_res_tape.append(" in plain


def test_recursive_checkpoint():
    fun = recursive_checkpoint([sin_of, cos_of, tanh_of, sin_of, cos_of])
    assert s2s.grad(fun)(0.3) == pytest.approx(s2s.grad(composed)(0.3), rel=1e-14)
    _, f_vjp = s2s.vjp(fun, 0.3)
    assert f_vjp(1.0)[0] == pytest.approx(s2s.grad(composed)(0.3), rel=1e-14)


def test_policies_are_refused():
    with pytest.raises(NotImplementedError, match="policy"):
        s2s.checkpoint(step, policy=lambda *a: True)


def layer(p, x):
    return np.tanh(p["W"] @ x + p["b"])


def two_layers(p, x):
    """Straight-line checkpointed calls, each taking a tree."""
    x = s2s.checkpoint(layer)(p, x)
    x = s2s.checkpoint(layer)(p, x)
    return np.sum(x ** 2)


def two_layers_plain(p, x):
    return np.sum(layer(p, layer(p, x)) ** 2)


PARAMS = {"W": np.array([[0.5, -0.3], [0.2, 0.8]]), "b": np.array([0.1, -0.2])}


@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
def test_checkpointed_calls_taking_trees(jit):
    grad = s2s.grad(two_layers, argnums=(0, 1))
    got = (s2s.jit(grad) if jit else grad)(PARAMS, np.array([1.0, -0.5]))
    want = s2s.grad(two_layers_plain, argnums=(0, 1))(PARAMS, np.array([1.0, -0.5]))
    np.testing.assert_allclose(got[0]["W"], want[0]["W"], rtol=1e-13)
    np.testing.assert_allclose(got[0]["b"], want[0]["b"], rtol=1e-13)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-13)


def test_straight_line_checkpointed_calls_save_no_residuals():
    text = s2s.source(two_layers, mode="grad", args=(PARAMS, np.array([1.0, -0.5])))
    forward = text[text.index("def two_layers_fwd"):text.index("def layer_bwd")]
    returned = forward[forward.index("return"):]
    assert "layer_fwd_res" not in returned
