"""The reverse-mode API: JAX's semantics for linearize, linear_transpose, vjp, grad and value_and_grad.

The seeds' documented values, argument handling, errors, and jit of gradients.
"""

from __future__ import annotations

import math
import types

import numpy as np
import pytest
import samples

import s2s
from s2s.errors import NonLinearError, UnsupportedSyntaxError


def test_linearize_matches_the_seed():
    y, f_jvp = s2s.linearize(samples.seed_f, 2.0)
    assert y == pytest.approx(3.2681944, abs=1e-6)
    assert f_jvp(3.0) == pytest.approx(-5.007528, abs=1e-6)
    assert f_jvp(4.0) == pytest.approx(-6.676704, abs=1e-6)


@pytest.mark.parametrize("primal", [1.0, types.SimpleNamespace(shape=(), dtype=np.float32)])
def test_linear_transpose_matches_the_seed(primal):
    f_t = s2s.linear_transpose(samples.half_difference, primal, primal)
    a, b = f_t(1.0)
    assert (a, b) == (0.5, -0.5)
    assert np.result_type(a) == (np.float32 if isinstance(primal, types.SimpleNamespace) else np.float64)


def test_vjp_matches_the_seed():
    out, f_vjp = s2s.vjp(samples.sin_cos, 0.5, 1.0)
    assert out == pytest.approx((math.sin(0.5), math.cos(1.0)))
    ct_x, ct_y = f_vjp((0.7, 0.3))
    assert ct_x == pytest.approx(0.6143078, abs=1e-7)
    assert ct_y == pytest.approx(-0.2524413, abs=1e-7)


def test_linear_transpose_of_an_array_map_is_its_adjoint():
    a = np.arange(12.0).reshape(3, 4)
    f_t = s2s.linear_transpose(samples.matrix_map, np.zeros(4))
    ct = np.array([1.0, -2.0, 0.5])
    (x_bar,) = f_t(ct)
    np.testing.assert_allclose(x_bar, a.T @ ct)


def test_linear_transpose_refuses_nonlinear_functions():
    with pytest.raises(NonLinearError, match="samples.py"):
        s2s.linear_transpose(samples.seed_f, 1.0)


def test_linear_transpose_refuses_integer_dtypes():
    with pytest.raises(TypeError, match="dtype int"):
        s2s.linear_transpose(samples.half_difference, np.zeros(3, dtype=np.int64), 1.0)


def test_vjp_gives_none_for_integer_primals():
    out, f_vjp = s2s.vjp(samples.integer_argument, 1.1, 3)
    ct_x, ct_n = f_vjp(1.0)
    assert ct_n is None and ct_x == pytest.approx(4 * 1.1 ** 3)


def test_vjp_checks_the_cotangent():
    _, f_vjp = s2s.vjp(samples.method_calls, np.array([0.5, -1.0, 2.0]))
    with pytest.raises(ValueError, match="shape"):
        f_vjp(np.ones(3))


def test_grad_argnums_int_and_tuple():
    x, y = 0.3, 1.7
    assert s2s.grad(samples.product_sin)(x, y) == pytest.approx(y * math.cos(x * y))
    gx, gy = s2s.grad(samples.product_sin, argnums=(0, 1))(x, y)
    assert (gx, gy) == pytest.approx((y * math.cos(x * y), x * math.cos(x * y)))
    value, g = s2s.value_and_grad(samples.product_sin, argnums=1)(x, y)
    assert value == pytest.approx(math.sin(x * y)) and g == pytest.approx(x * math.cos(x * y))


def test_grad_of_an_array_argument_has_its_shape_and_dtype():
    x = np.linspace(0.1, 1.0, 4).astype(np.float32)
    g = s2s.grad(samples.sum_of_squares)(x)
    assert g.shape == x.shape and g.dtype == np.float32
    np.testing.assert_allclose(g, 2 * x, rtol=1e-6)


def test_grad_refuses_integer_arguments_and_array_outputs():
    with pytest.raises(TypeError, match="integer"):
        s2s.grad(samples.integer_argument, argnums=1)(1.1, 3)
    with pytest.raises(TypeError, match="scalar"):
        s2s.grad(samples.doubled)(np.array([0.5, -1.0, 2.0]))
    with pytest.raises(TypeError, match="scalar"):
        s2s.jit(s2s.grad(samples.doubled))(np.array([0.5, -1.0, 2.0]))


def test_grad_with_aux():
    g, aux = s2s.grad(samples.loss_with_aux, has_aux=True)(2.0)
    assert g == pytest.approx(4.0) and aux == pytest.approx(2.0 ** 3)
    (value, aux), g = s2s.value_and_grad(samples.loss_with_aux, has_aux=True)(2.0)
    assert value == pytest.approx(4.0) and aux == pytest.approx(8.0) and g == pytest.approx(4.0)


@pytest.mark.parametrize("wrap", [lambda f: s2s.jit(s2s.grad(f, argnums=(0, 1))),
                                  lambda f: s2s.grad(s2s.jit(f), argnums=(0, 1))])
def test_jit_of_grad_and_grad_of_jit(wrap):
    expected = s2s.grad(samples.product_sin, argnums=(0, 1))(0.3, 1.7)
    assert wrap(samples.product_sin)(0.3, 1.7) == pytest.approx(expected, rel=1e-12)


def test_grad_through_a_helper_that_branches():
    g = s2s.grad(samples.calls_branching_helper)
    assert g(2.0) == pytest.approx(2 * 2.0 * math.cos(2.0 ** 2))
    assert g(-2.0) == pytest.approx(-1.0)


def test_vjp_of_a_loop_can_be_called_again():
    out, f_vjp = s2s.vjp(s2s.jit(samples.integer_argument), 1.1, 4)
    first, second = f_vjp(1.0), f_vjp(2.0)
    assert second[0] == pytest.approx(2 * first[0])


def test_vjp_of_a_loop_that_runs_zero_times_under_numba():
    out, f_vjp = s2s.vjp(s2s.jit(samples.integer_argument), 1.1, 0)
    assert out == 1.1 and f_vjp(1.0)[0] == pytest.approx(1.0)


@pytest.mark.parametrize("wrap", [lambda g: g, s2s.jit])
def test_jvp_of_grad_is_a_hessian_vector_product(wrap):
    x = np.array([0.3, -0.5, 0.8, 1.1])
    v = np.array([1.0, 0.5, -0.2, 0.3])
    g = s2s.grad(samples.rosenbrock)
    value, hv = s2s.jvp(wrap(g), (x,), (v,))
    np.testing.assert_allclose(value, g(x), rtol=1e-12)
    a, b = x[:-1], x[1:]  # the Hessian of sum(100 (b - a^2)^2 + (1 - a)^2), written out
    hessian = np.zeros((4, 4))
    for i in range(3):
        hessian[i, i] += 1200 * a[i] ** 2 - 400 * b[i] + 2
        hessian[i, i + 1] += -400 * a[i]
        hessian[i + 1, i] += -400 * a[i]
        hessian[i + 1, i + 1] += 200
    np.testing.assert_allclose(hv, hessian @ v, rtol=1e-10)


@pytest.mark.parametrize("wrap", [lambda g: g, s2s.jit])
def test_grad_of_grad(wrap):
    x, y = 0.3, 1.7
    second = wrap(s2s.grad(s2s.grad(samples.product_sin), argnums=(0, 1)))
    dxx, dxy = second(x, y)
    assert dxx == pytest.approx(-y * y * math.sin(x * y), rel=1e-12)
    assert dxy == pytest.approx(math.cos(x * y) - x * y * math.sin(x * y), rel=1e-12)
    value, dxx_again = s2s.value_and_grad(s2s.grad(samples.product_sin))(x, y)
    assert value == pytest.approx(y * math.cos(x * y)) and dxx_again == pytest.approx(dxx)


def test_grad_of_grad_needs_a_scalar_gradient():
    with pytest.raises(TypeError, match="argnums=<int>"):
        s2s.grad(s2s.grad(samples.product_sin, argnums=(0, 1)))(0.3, 1.7)


@pytest.mark.parametrize("wrap", [lambda f: f, s2s.jit])
def test_grad_through_a_helper_that_writes_into_its_argument(wrap):
    assert s2s.grad(wrap(samples.calls_writer))(1.3) == pytest.approx(0.0 + 1.0 + 2.0 + 3.0)
    out, f_vjp = s2s.vjp(wrap(samples.fills_boundary), np.array([0.5, 0.7, 0.9]), 2.0)
    u_bar, left_bar = f_vjp(np.array([1.0, 10.0, 100.0]))
    np.testing.assert_allclose(u_bar, [0.0, 10.0, 100.0])  # u[0] is overwritten by the helper
    assert left_bar == pytest.approx(1.0)


def test_reverse_mode_refuses_a_stale_view():
    with pytest.raises(s2s.errors.UnsupportedSyntaxError, match="shares memory"):
        s2s.grad(samples.reads_stale_view)(np.array([1.0, 2.0]))


def test_update_that_reads_its_own_target_hands_on_the_old_cotangent():
    """``z_dot += 0.3 * z_dot + c * x_dot``: x gets the cotangent z had before the update (found by hypothesis)."""
    _, pullback = s2s.vjp(samples.self_scaled_update, 0.0, 0.0, 0.0)
    np.testing.assert_allclose(pullback(1.0), (0.3, 0.0, 1.3), rtol=1e-15)


def test_view_read_after_a_loop_that_wrote_its_memory_is_refused():
    """``w`` is taken in the loop, its memory written later in the same trip, and read after the loop."""
    with pytest.raises(UnsupportedSyntaxError, match="shares memory"):
        s2s.vjp(samples.stale_view_after_loop, np.ones(5), 0.5)
