"""Elementwise NumPy functions, scipy.special, random draws and float32, in every transform.

Derivatives against central differences, VJPs against JVPs (dot-product test), second order
for a few, in Python and under ``s2s.jit``; and user-style functions: a Black-Scholes price
(delta and vega by grad), a logistic regression loss, a Gaussian mixture log-likelihood and
a Monte Carlo estimator whose draws the backward pass must not redraw.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
import scipy.special
from derivatives import assert_close, central_difference, flat, tangents_for

import s2s
from s2s.errors import UnsupportedSyntaxError

s2s.backends.named("numba")  # loaded: the runtime helpers called from numba.njit functions here are registered


def logaddexp_mix(x, y):
    return np.sum(np.logaddexp(x, y) + np.logaddexp2(x, 2.0 * y))


def expm1_log1p(x, y):
    return np.sum(np.expm1(x) * np.log1p(y * y) + np.hypot(x, y) + np.arctan2(y, x))


def sinc_sign(x, y):
    return np.sum(np.sinc(x) * y + np.sign(x) * y + np.heaviside(x, 0.5) * y)


def extrema(x, y):
    return np.sum(np.maximum(x, y) - 2.0 * np.minimum(x, y) + np.fmax(x, y) * np.fmin(y, x))


def where_clip(x, y):
    return np.sum(np.where(x > 0, x, y) + np.clip(y, -np.abs(x), np.abs(x) + 0.1))


def interp_all(x, y):
    return np.sum(np.interp(y, np.cumsum(np.exp(x)) - 2.0, np.sin(x)))


def linspace_of(x, y):
    return np.sum(np.linspace(x[0], y[0, 1], 5) ** 2)


def broadcast_arithmetic(x, y):
    return np.sum(x * y + x / (y * y + 1.0) - (y - x) ** 2 + np.power(x * x + 1.0, y))


def errors(x, y):
    return np.sum(scipy.special.erf(x) * y + scipy.special.erfc(y) + math.erf(x[0]) * math.erfc(x[1]))


def normals(x, y):
    return np.sum(scipy.special.ndtr(x) * y + scipy.special.log_ndtr(y) + scipy.special.log_ndtr(x - 40.0))


def logistic(x, y):
    return np.sum(scipy.special.expit(y) * scipy.special.logit(scipy.special.expit(x)))


def gammas(x, y):
    s = x * x + 0.5
    return np.sum(scipy.special.gammaln(s) * y + scipy.special.digamma(y * y + 1.0)) + math.lgamma(s[0]) \
        + math.gamma(s[1])


def xlogs(x, y):
    return np.sum(scipy.special.xlogy(x, y * y + 1.0) + scipy.special.xlog1py(y, x * x))


FUNCTIONS = [logaddexp_mix, expm1_log1p, sinc_sign, extrema, where_clip, interp_all, linspace_of,
             broadcast_arithmetic, errors, normals, logistic, gammas, xlogs]
def logaddexp_only(x, y):
    return np.sum(np.logaddexp(x, y))


SECOND_ORDER = [logaddexp_only, expm1_log1p, errors, normals, logistic, xlogs]


def operands(dtype=np.float64):
    rng = np.random.default_rng(1)
    return rng.standard_normal(3).astype(dtype), rng.standard_normal((2, 3)).astype(dtype)


def check_jvp_and_vjp(fun, args, rtol=1e-6, atol=1e-7, reference=None):
    tangents = tangents_for(args, (0, 1))
    _, tangent = s2s.jvp(fun, args, tangents)
    expected = central_difference(reference or fun, [np.asarray(a, float) for a in args], tangents)
    assert_close(tangent, expected, rtol=rtol, atol=atol)
    _, f_vjp = s2s.vjp(fun, *args)
    cts = f_vjp(1.0)
    assert_close(sum(np.sum(c * t) for c, t in zip(cts, tangents)), tangent, rtol=rtol, atol=atol)
    return cts


@pytest.mark.parametrize("fun", FUNCTIONS, ids=lambda f: f.__name__)
def test_jvp_matches_differences_and_vjp_matches_jvp(fun):
    check_jvp_and_vjp(fun, operands())


@pytest.mark.parametrize("fun", SECOND_ORDER, ids=lambda f: f.__name__)
def test_second_order(fun):
    x, y = operands()
    hess = s2s.hessian(fun)(x, y)
    t = tangents_for((x,), (0,))[0]
    expected = central_difference(lambda x: s2s.grad(fun)(x, y), (x,), (t,), eps=1e-5)
    assert_close(hess @ t, expected, rtol=1e-5, atol=1e-6)


def exp_plus_exp2(x, y):
    return np.sum(np.exp(x) + np.exp2(x))


def test_second_order_of_a_sum_of_two_elementwise_terms():
    test_second_order(exp_plus_exp2)


@pytest.mark.parametrize("fun", [logaddexp_mix, normals, logistic, gammas], ids=lambda f: f.__name__)
def test_vmap_and_jacobians(fun):
    x, y = operands()
    xs = np.stack([x, x + 0.5, x - 0.25])
    assert_close(s2s.vmap(fun, in_axes=(0, None))(xs, y), [fun(v, y) for v in xs], rtol=1e-12)
    assert_close(s2s.jacfwd(fun)(x, y), s2s.jacrev(fun)(x, y), rtol=1e-10)


def test_ties_share_the_derivative_equally_as_jax():
    x = np.array([1.0, 2.0, 3.0])
    y = np.array([1.0, 0.0, 3.0])
    gx, gy = s2s.grad(lambda a, b: np.sum(np.maximum(a, b)), argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(gx, [0.5, 1.0, 0.5])
    np.testing.assert_array_equal(gy, [0.5, 0.0, 0.5])
    assert s2s.grad(lambda a, b: min(a, b))(2.0, 2.0) == 0.5
    gx, gy = s2s.grad(lambda a, b: np.sum(np.fmax(a, b)), argnums=(0, 1))(x, y)  # ties go to y
    np.testing.assert_array_equal(gx, [0.0, 1.0, 0.0])


def test_interp_in_points_values_and_queries():
    xp, fp, q = np.array([0.0, 1.0, 2.5]), np.array([1.0, -1.0, 2.0]), np.array([-0.5, 0.3, 1.7, 3.0])
    fun = lambda q, xp, fp: np.sum(np.interp(q, xp, fp) ** 2)  # noqa: E731
    tangents = tangents_for((q, xp, fp), (0, 1, 2))
    _, tangent = s2s.jvp(fun, (q, xp, fp), tangents)
    assert_close(tangent, central_difference(fun, (q, xp, fp), tangents), rtol=1e-6)
    cts = s2s.grad(fun, argnums=(0, 1, 2))(q, xp, fp)
    assert_close(sum(np.sum(c * t) for c, t in zip(cts, tangents)), tangent, rtol=1e-10)


def test_digamma_second_order_is_refused_not_wrong():
    with pytest.raises(Exception, match="trigamma"):
        s2s.hessian(lambda x: np.sum(scipy.special.digamma(x)))(np.array([1.5, 2.0]))


# -- float32 ---------------------------------------------------------------------------


@pytest.mark.parametrize("fun", [logaddexp_mix, extrema, where_clip, errors, logistic, xlogs],
                         ids=lambda f: f.__name__)
def test_float32_stays_float32_in_python(fun):
    x, y = operands(np.float32)
    gx, gy = s2s.grad(fun, argnums=(0, 1))(x, y)
    assert gx.dtype == gy.dtype == np.float32
    _, tangent = s2s.jvp(fun, (x, y), tangents_for((x, y), (0, 1)))
    assert np.result_type(tangent) == np.float32
    check_jvp_and_vjp(fun, (x, y), rtol=2e-3, atol=2e-3, reference=fun)
    assert s2s.jacfwd(fun)(x, y).dtype == np.float32
    assert s2s.vmap(fun, in_axes=(0, None))(np.stack([x, x]), y).dtype == np.float32


# -- user-style functions ------------------------------------------------------------


def black_scholes(spot, vol, strike, rate, maturity):
    d1 = (np.log(spot / strike) + (rate + 0.5 * vol * vol) * maturity) / (vol * np.sqrt(maturity))
    d2 = d1 - vol * np.sqrt(maturity)
    return spot * scipy.special.ndtr(d1) - strike * np.exp(-rate * maturity) * scipy.special.ndtr(d2)


def test_black_scholes_delta_and_vega():
    spot, vol, strike, rate, maturity = 100.0, 0.2, 95.0, 0.01, 0.5
    delta, vega = s2s.grad(black_scholes, argnums=(0, 1))(spot, vol, strike, rate, maturity)
    d1 = (math.log(spot / strike) + (rate + 0.5 * vol * vol) * maturity) / (vol * math.sqrt(maturity))
    assert delta == pytest.approx(scipy.special.ndtr(d1), rel=1e-12)
    assert vega == pytest.approx(spot * math.exp(-0.5 * d1 * d1) / math.sqrt(2 * math.pi) * math.sqrt(maturity),
                                 rel=1e-12)


def logistic_loss(w, features, labels):
    z = features @ w
    return np.mean(labels * np.log1p(np.exp(-z)) + (1.0 - labels) * np.logaddexp(0.0, z)) \
        - 1e-3 * np.sum(np.log(scipy.special.expit(w)))


def mixture_loglik(params, data):
    mu0, mu1, logit_weight = params[0], params[1], params[2]
    weight = scipy.special.expit(logit_weight)
    one = np.log(weight) - 0.5 * (data - mu0) ** 2
    other = np.log1p(-weight) - 0.5 * (data - mu1) ** 2
    return np.sum(np.logaddexp(one, other))


def test_logistic_regression_and_mixture_gradients():
    rng = np.random.default_rng(5)
    features, labels = rng.standard_normal((20, 3)), (rng.random(20) > 0.5).astype(float)
    w = rng.standard_normal(3)
    bound = lambda w: logistic_loss(w, features, labels)  # noqa: E731
    check = (w,), tangents_for((w,), (0,))
    _, tangent = s2s.jvp(bound, *check)
    assert_close(tangent, central_difference(bound, *check), rtol=1e-6)
    assert_close(np.dot(s2s.grad(logistic_loss)(w, features, labels), check[1][0]), tangent, rtol=1e-10)
    data, params = rng.standard_normal(30), np.array([-0.5, 1.0, 0.3])
    tangents = tangents_for((params,), (0,))
    expected = central_difference(lambda p: mixture_loglik(p, data), (params,), tangents)
    assert_close(np.dot(s2s.grad(mixture_loglik)(params, data), tangents[0]), expected, rtol=1e-6)


def monte_carlo(mu, sigma):
    z = np.random.standard_normal(1000)
    u = np.random.uniform(0.0, 1.0, 1000)
    s = mu + sigma * z + np.random.normal(0.0, 0.1, 1000)
    return np.mean(np.exp(-s * s) * np.sin(s) * u)


def seeded_difference(fun, args, i, seed, eps=1e-6):
    up, down = list(args), list(args)
    up[i] += eps
    down[i] -= eps
    seed(3)
    high = fun(*up)
    seed(3)
    return (high - fun(*down)) / (2 * eps)


def test_random_draws_are_not_differentiated_and_drawn_once():
    np.random.seed(3)
    out, f_vjp = s2s.vjp(monte_carlo, 0.3, 1.2)
    after_forward = np.random.standard_normal()
    grads = f_vjp(1.0)  # the backward pass reads the saved draws: it draws nothing
    np.random.seed(3)
    assert monte_carlo(0.3, 1.2) == out
    assert np.random.standard_normal() == after_forward
    for i in range(2):
        assert grads[i] == pytest.approx(seeded_difference(monte_carlo, (0.3, 1.2), i, np.random.seed), rel=1e-6)
    np.random.seed(3)
    _, tangent = s2s.jvp(monte_carlo, (0.3, 1.2), (1.0, 0.0))
    assert tangent == pytest.approx(grads[0], rel=1e-10)


def test_generator_methods_are_refused_clearly():
    def drawn(mu, seed):
        rng = np.random.default_rng(seed)
        return np.sum(mu * rng.standard_normal(3))

    with pytest.raises(UnsupportedSyntaxError, match=r"test_elementwise_special.py:.*\.standard_normal\(\) of a random Generator"):
        s2s.grad(drawn)(0.5, 1)


# -- under Numba (few compiles: each is slow) ------------------------------------------


def special_mix(x, y):
    """Everything above that Numba compiles (not np.heaviside: Numba lacks it)."""
    return errors(x, y) + normals(x, y) + logistic(x, y) + gammas(x, y) + xlogs(x, y) + interp_all(x, y) \
        + logaddexp_mix(x, y) + extrema(x, y) + np.sum(np.sinc(x) * y + np.sign(x) * y)


def test_under_numba():
    x, y = operands()
    fun = s2s.jit(special_mix)
    assert fun(x, y) == pytest.approx(special_mix(x, y), rel=1e-12)
    check_jvp_and_vjp(fun, (x, y), reference=special_mix)


def test_float32_logistic_loss_under_numba():
    rng = np.random.default_rng(5)
    features, labels = rng.standard_normal((20, 3)).astype(np.float32), (rng.random(20) > 0.5).astype(np.float32)
    w = rng.standard_normal(3).astype(np.float32)
    grad = s2s.grad(s2s.jit(logistic_loss))(w, features, labels)
    assert_close(grad, s2s.grad(logistic_loss)(w.astype(float), features.astype(float), labels.astype(float)),
                 rtol=1e-4, atol=1e-5)


@numba.njit
def _numba_seed(seed):
    np.random.seed(seed)


def test_monte_carlo_under_numba():
    fun = s2s.jit(monte_carlo)
    _numba_seed(3)
    grads = s2s.grad(fun, argnums=(0, 1))(0.3, 1.2)
    for i in range(2):
        assert grads[i] == pytest.approx(seeded_difference(fun, (0.3, 1.2), i, _numba_seed), rel=1e-6)
    assert flat(grads).dtype == np.float64
