"""custom_jvp and custom_vjp: the user's rule, not the function's body, defines the derivative in every
transform, in Python and under s2s.jit; the seeds' examples give JAX's values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from api_samples import clipped_loss
from api_samples import softplus_loss as stable_loss
from derivatives import central_difference

import s2s
from s2s.errors import S2SError

# -- the seeds' examples -----------------------------------------------------------------------------

@s2s.custom_jvp
def f(x, y):
    return np.sin(x) * y


@f.defjvp
def f_jvp(primals, tangents):
    x, y = primals
    x_dot, y_dot = tangents
    primal_out = f(x, y)
    tangent_out = np.cos(x) * x_dot * y + np.sin(x) * y_dot
    return primal_out, tangent_out


@s2s.custom_jvp
def g(x, y):
    return np.sin(x) * y


g.defjvps(lambda x_dot, primal_out, x, y: np.cos(x) * x_dot * y,
          lambda y_dot, primal_out, x, y: np.sin(x) * y_dot)


@s2s.custom_vjp
def h(x, y):
    return np.sin(x) * y


def h_fwd(x, y):
    return h(x, y), (np.cos(x), np.sin(x), y)


def h_bwd(res, g):
    cos_x, sin_x, y = res
    return (cos_x * g * y, sin_x * g)


h.defvjp(h_fwd, h_bwd)


# -- rules that differ from the body: the rule must win ------------------------------------------

@s2s.custom_jvp
def rounded(x):
    """A straight-through estimator: the body's derivative is zero, the rule's one."""
    return np.floor(x * 4.0) / 4.0


@rounded.defjvp
def rounded_jvp(primals, tangents):
    return rounded(primals[0]), tangents[0]


def scaled_softplus(x):
    return 2.0 * x


@s2s.custom_jvp
def softplus(x):
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0.0)


@softplus.defjvp
def softplus_jvp(primals, tangents):
    x, = primals
    (x_dot,) = tangents
    sigmoid = 1.0 / (1.0 + np.exp(-x))
    return softplus(x), scaled_softplus(sigmoid) * x_dot / 2.0


def _power(x, n):
    return x ** n


power = s2s.custom_jvp(_power, nondiff_argnums=(1,))


@power.defjvp
def power_jvp(n, primals, tangents):
    x, = primals
    x_dot, = tangents
    return power(x, n), n * x ** (n - 1) * x_dot


# -- users' code calling them ------------------------------------------------------------------

def straight_through(x):
    return np.sum(rounded(x) * x)


def iterated(x, n):
    for _ in range(n):
        x = f(x, 0.9) + 0.1 * h(x, 1.5)
    return np.sum(x)


def softplus_loss(x):
    return np.sum(softplus(x) * x)


def power_loss(x):
    return np.sum(power(x, 3.0))


def not_linear(primals, tangents):
    x, = primals
    x_dot, = tangents
    return x, x_dot ** 2


X = np.array([0.3, -1.2, 2.0])


@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
@pytest.mark.parametrize("fun", [f, g])
def test_seed_custom_jvp(fun, jit):
    x, y = 0.5, 2.0
    grad = s2s.grad(fun, argnums=(0, 1))
    assert (s2s.jit(grad) if jit else grad)(x, y) == pytest.approx((math.cos(x) * y, math.sin(x)), rel=1e-14)
    out, out_dot = s2s.jvp(s2s.jit(fun) if jit else fun, (x, y), (1.0, 0.0))
    assert out == pytest.approx(math.sin(x) * y) and out_dot == pytest.approx(math.cos(x) * y)


@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
def test_seed_custom_vjp(jit):
    x, y = 0.5, 2.0
    grad = s2s.grad(h, argnums=(0, 1))
    assert (s2s.jit(grad) if jit else grad)(x, y) == pytest.approx((math.cos(x) * y, math.sin(x)), rel=1e-14)
    out, f_vjp = s2s.vjp(h, X, 2.0 * X)
    np.testing.assert_allclose(out, np.sin(X) * 2.0 * X)
    x_bar, y_bar = f_vjp(np.ones(3))
    np.testing.assert_allclose(x_bar, np.cos(X) * 2.0 * X)
    np.testing.assert_allclose(y_bar, np.sin(X))


def test_forward_mode_of_custom_vjp_is_refused():
    with pytest.raises(TypeError, match="forward-mode"):
        s2s.jvp(clipped_loss, (X,), (X,))


@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
def test_the_rule_defines_the_derivative(jit):
    def run(transform):
        return s2s.jit(transform) if jit else transform

    big = np.array([1.0, 30.0, 100.0])
    sigmoid = 1.0 / (1.0 + np.exp(-big))
    np.testing.assert_allclose(run(s2s.grad(stable_loss))(big), 2.0 * np.log1p(np.exp(big)) * sigmoid, rtol=1e-14)
    np.testing.assert_allclose(run(s2s.grad(straight_through))(X), np.floor(X * 4.0) / 4.0 + X)
    np.testing.assert_allclose(run(s2s.grad(clipped_loss))(X), np.clip(2.0 * 3.0 * X, -0.5, 0.5) * 3.0)


def test_rule_values_against_finite_differences():
    for fun in (stable_loss, softplus_loss, power_loss):
        tangent = np.array([0.7, -0.2, 1.1])
        expected = central_difference(fun, (X,), (tangent,))[0]
        assert np.vdot(s2s.grad(fun)(X), tangent) == pytest.approx(expected, rel=1e-7)
        assert s2s.jvp(fun, (X,), (tangent,))[1] == pytest.approx(expected, rel=1e-7)


@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
def test_inside_loops_vmap_and_second_order(jit):
    def run(transform):
        return s2s.jit(transform) if jit else transform

    tangent = np.array([1.0, 0.5, -0.3])
    expected = central_difference(lambda x: iterated(x, 4), (X,), (tangent,))[0]
    assert np.vdot(run(s2s.grad(iterated))(X, 4), tangent) == pytest.approx(expected, rel=1e-7)
    per_example = run(s2s.vmap(s2s.grad(stable_loss)))(np.stack([X, 2 * X]))
    np.testing.assert_allclose(per_example[1], s2s.grad(stable_loss)(2 * X), rtol=1e-12)
    hess = run(s2s.hessian(stable_loss))(X)
    column = central_difference(s2s.grad(stable_loss), (X,), (np.eye(3)[0],))
    np.testing.assert_allclose(hess[:, 0], column, rtol=1e-6, atol=1e-8)


def test_non_linear_rule_is_refused_where_it_is_defined():
    fun = s2s.custom_jvp(lambda x: x)
    with pytest.raises(S2SError, match="not linear in the tangents") as info:
        fun.defjvp(not_linear)
    assert "test_custom_rules.py" in str(info.value)


def test_source_shows_the_rule():
    text = s2s.source(stable_loss, mode="grad")
    assert "log1pexp(x)" in text and "np.exp(x)" in text and "def log1pexp" not in text


def tanh_layer(W, u):
    return np.tanh(W @ u)


@s2s.custom_vjp
def layer(W, u):
    return tanh_layer(W, u)


def layer_fwd(W, u):
    x = tanh_layer(W, u)
    return x, (W, u, x)


def layer_bwd(res, g):
    W, u, x = res
    v = g * (1.0 - x ** 2)
    return np.outer(v, u), W.T @ v


layer.defvjp(layer_fwd, layer_bwd)


def layer_loss(W, u):
    return np.sum(layer(W, u) ** 2)


@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
def test_rule_functions_calling_helpers(jit):
    """The function and its rule call helpers of their own; compiled, they are compiled with them."""
    W, u = np.array([[0.5, -0.2], [0.1, 0.3]]), np.array([0.4, -0.7])
    grad = s2s.grad(layer_loss, argnums=(0, 1))
    W_bar, u_bar = (s2s.jit(grad) if jit else grad)(W, u)
    tangent = np.array([[1.0, 0.5], [-0.3, 0.2]])
    assert np.vdot(W_bar, tangent) == pytest.approx(
        central_difference(layer_loss, (W, u), (tangent, None))[0], rel=1e-7)


CALLS = []


@s2s.custom_vjp
def scaled_product(x, y):
    return x * y


def counted_fwd(x, y):
    CALLS.append("fwd")
    return x * y, (x, y)


def counted_bwd(res, g):
    CALLS.append("bwd")
    x, y = res
    return g * y, g * x


scaled_product.defvjp(counted_fwd, counted_bwd)


def uses_scaled_product(x, y):
    return np.sin(scaled_product(x, y))


def test_custom_vjp_runs_fwd_and_bwd_once_for_all_arguments():
    CALLS.clear()
    gx, gy = s2s.grad(uses_scaled_product, argnums=(0, 1))(0.3, 0.7)
    assert CALLS == ["fwd", "bwd"]
    assert gx == pytest.approx(math.cos(0.21) * 0.7) and gy == pytest.approx(math.cos(0.21) * 0.3)
