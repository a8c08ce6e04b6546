"""NumPy reductions and array methods in every transform, with JAX's semantics.

Each reduction and option (``axis`` int, negative, tuple, None; ``keepdims``; ``ddof``;
``ord``) is checked in Python: jvp against central differences, vjp against jvp (the
dot-product test), vmap against a Python loop, jacrev against jacfwd, and the Hessian of a
smooth scalar function of it against finite differences of its gradient.  Under Numba
several reductions share one compiled function, so that compiles stay few.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from scipy.special import log_softmax, logsumexp, softmax

import s2s
from derivatives import assert_close, central_difference, flat
from programs import load_module

s2s.backends.named("numba")  # loaded: the runtime helpers called from numba.njit functions here are registered

#: ``(expression of x, shape of x)``: every reduction and method with its options.
CASES = [
    ("np.sum(x, axis=-1)", (3, 4)),
    ("np.sum(x, axis=(0, 2))", (2, 3, 4)),
    ("np.sum(x, axis=1, keepdims=True)", (2, 3, 4)),
    ("np.sum(x, keepdims=True)", (3, 4)),
    ("np.mean(x, axis=-1, keepdims=True)", (2, 3, 4)),
    ("np.mean(x, axis=(0, 1))", (2, 3, 4)),
    ("np.prod(x, axis=1)", (3, 4)),
    ("np.prod(x, axis=(0, 1))", (2, 3, 2)),
    ("np.prod(x, axis=-1, keepdims=True)", (2, 3)),
    ("np.max(x, axis=1)", (3, 4)),
    ("np.amax(x, axis=-1, keepdims=True)", (3, 4)),
    ("np.min(x, axis=(0, 2), keepdims=True)", (2, 3, 4)),
    ("np.amin(x)", (3, 4)),
    ("np.std(x)", (3, 4)),
    ("np.std(x, axis=0)", (3, 4)),
    ("np.var(x, axis=-1, ddof=1)", (3, 4)),
    ("np.var(x, 1, keepdims=True)", (3, 4)),
    ("np.var(x, axis=(0, 2))", (2, 3, 4)),
    ("np.cumsum(x)", (3, 4)),
    ("np.cumsum(x, axis=-1)", (3, 4)),
    ("np.cumprod(x, axis=0)", (3, 4)),
    ("np.cumprod(x)", (5,)),
    ("np.argmax(x, axis=1) * np.sum(x)", (3, 4)),
    ("np.argmin(x) * np.max(x)", (3, 4)),
    ("np.linalg.norm(x)", (5,)),
    ("np.linalg.norm(x, 1)", (5,)),
    ("np.linalg.norm(x, np.inf)", (5,)),
    ("np.linalg.norm(x, 'fro')", (3, 4)),
    ("np.linalg.norm(x, axis=1)", (3, 4)),
    ("np.linalg.norm(x, axis=-1, keepdims=True)", (3, 4)),
    ("np.linalg.norm(x, 1, axis=0)", (3, 4)),
    ("logsumexp(x)", (3, 4)),
    ("logsumexp(x, axis=1)", (3, 4)),
    ("logsumexp(x, axis=-1, keepdims=True)", (3, 4)),
    ("scipy.special.logsumexp(x, axis=(0, 1))", (2, 3, 4)),
    ("softmax(x, axis=-1)", (3, 4)),
    ("log_softmax(x, axis=1)", (3, 4)),
    ("x.sum(axis=1)", (3, 4)),
    ("x.mean(axis=0, keepdims=True)", (3, 4)),
    ("x.max(axis=(0, 1), keepdims=True)", (2, 3, 4)),
    ("x.min(axis=-1)", (3, 4)),
    ("x.std(axis=1)", (3, 4)),
    ("x.var()", (3, 4)),
    ("x.prod(axis=0)", (3, 4)),
    ("x.T", (3, 4)),
    ("x.reshape(4, 3)", (3, 4)),
    ("x.reshape((12,))", (3, 4)),
    ("x.dot(x.T)", (3, 4)),
    ("x.astype(float)", (3, 4)),
    ("x.astype(np.float64)", (3, 4)),
    ("x.copy()", (3, 4)),
    ("x.clip(-0.5, 0.5)", (3, 4)),
    ("x.ravel()", (3, 4)),
    ("x.flatten()", (3, 4)),
    ("x.reshape(3, 1, 4).squeeze()", (3, 4)),
    ("x.cumsum(1)", (3, 4)),
    ("x.cumprod(1)", (3, 4)),
    ("x.argmax() * x[0, 0]", (3, 4)),
]

#: Smooth ones whose Hessian (of the sum of their sines) is checked.
SECOND_ORDER = ["np.mean(x, axis=(0, 1))", "np.var(x, axis=-1, ddof=1)", "np.std(x, axis=0)",
                "logsumexp(x, axis=-1, keepdims=True)", "softmax(x, axis=-1)", "log_softmax(x, axis=1)",
                "np.sum(x, axis=1, keepdims=True)", "np.max(x, axis=1)"]


@pytest.fixture(scope="module")
def programs(tmp_path_factory):
    """``code -> function`` for every case, written to a module so that s2s can read their source."""
    lines = ["import numpy as np", "import scipy.special",
             "from scipy.special import logsumexp, softmax, log_softmax", ""]
    for i, (code, _) in enumerate(CASES):
        lines += [f"def f{i}(x):", f"    return {code}", "",
                  f"def g{i}(x):", f"    return np.sum(np.sin({code}))", ""]
    module = load_module(tmp_path_factory.mktemp("reductions"), "\n".join(lines))
    return {code: (getattr(module, f"f{i}"), getattr(module, f"g{i}")) for i, (code, _) in enumerate(CASES)}


def check_transforms(fun, x, rng, reference=None, rtol=1e-6):
    """jvp vs central differences, vjp vs jvp, vmap vs a loop, jacrev vs jacfwd (``reference``: plain Python)."""
    reference = reference or fun
    t = rng.standard_normal(x.shape)
    out, out_dot = s2s.jvp(fun, (x,), (t,))
    assert_close(out, reference(x), rtol=1e-10)
    assert_close(out_dot, central_difference(reference, (x,), (t,)), rtol=rtol, atol=1e-6)
    out, pullback = s2s.vjp(fun, x)
    ct = rng.standard_normal(np.shape(out)) if np.ndim(out) else float(rng.standard_normal())
    (x_bar,) = pullback(ct)
    assert np.shape(x_bar) == x.shape
    np.testing.assert_allclose(np.vdot(flat(x_bar), flat(t)), np.vdot(flat(ct), flat(out_dot)), rtol=1e-9, atol=1e-9)
    xs = rng.standard_normal((3,) + x.shape)
    assert_close(s2s.vmap(fun)(xs), np.stack([reference(v) for v in xs]), rtol=1e-10)
    forward, reverse = s2s.jacfwd(fun)(x), s2s.jacrev(fun)(x)
    assert np.shape(forward) == np.shape(out) + x.shape
    np.testing.assert_allclose(forward, reverse, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("code,shape", CASES, ids=[c for c, _ in CASES])
def test_reduction_in_every_transform(programs, code, shape):
    check_transforms(programs[code][0], np.random.default_rng(0).standard_normal(shape), np.random.default_rng(1))


def assert_hessian_matches_gradient_differences(fun, x, reference=None):
    hessian = s2s.hessian(fun)(x)
    gradient = s2s.grad(reference or fun)
    rng = np.random.default_rng(2)
    t = rng.standard_normal(x.shape)
    expected = central_difference(gradient, (x,), (t,), eps=1e-5)
    np.testing.assert_allclose(np.tensordot(hessian, t, axes=x.ndim).ravel(), expected, rtol=1e-5, atol=1e-6)
    _, hvp = s2s.jvp(s2s.grad(fun), (x,), (t,))
    np.testing.assert_allclose(flat(hvp), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("code", SECOND_ORDER)
def test_second_order(programs, code):
    shape = dict(CASES)[code]
    assert_hessian_matches_gradient_differences(programs[code][1], np.random.default_rng(3).standard_normal(shape))


def test_max_ties_share_the_gradient_as_in_jax():
    def top(x):
        return np.max(x, axis=1, keepdims=True)

    x = np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]])
    (x_bar,) = s2s.vjp(top, x)[1](np.ones((2, 1)))
    np.testing.assert_array_equal(x_bar, [[0.0, 0.5, 0.5], [0.5, 0.0, 0.5]])
    (x_bar,) = s2s.vjp(s2s.jit(top), x)[1](np.ones((2, 1)))
    np.testing.assert_array_equal(x_bar, [[0.0, 0.5, 0.5], [0.5, 0.0, 0.5]])


def test_float32_stays_float32(programs):
    x = np.random.default_rng(4).standard_normal((3, 4)).astype(np.float32)
    for code in ("np.mean(x, axis=-1, keepdims=True)", "np.var(x, axis=-1, ddof=1)", "logsumexp(x, axis=1)"):
        fun = programs[code][0]
        out, out_dot = s2s.jvp(fun, (x,), (np.ones_like(x),))
        assert out.dtype == np.float32 and out_dot.dtype == np.float32, code
        (x_bar,) = s2s.vjp(fun, x)[1](np.ones_like(out))
        assert x_bar.dtype == np.float32, code


# -- under Numba: several reductions in each compiled function ----------------------------


def reductions_a(x):
    """Reductions with axis/keepdims/tuple axes that Numba lacks natively (x: (2, 3, 4))."""
    a = np.sum(x, axis=(0, 2), keepdims=True)
    b = np.mean(x, axis=-1)
    c = np.max(x, axis=(0, 1))
    d = np.min(x, axis=1, keepdims=True)
    e = np.var(x, axis=(0, 2), ddof=1)
    f = np.std(x, axis=0)
    g = np.prod(x, axis=-1, keepdims=True)
    positives = np.sum(x > 0, axis=(0, 1), keepdims=True)  # a count, not a boolean
    return (np.sum(np.sin(a)) + np.sum(np.cos(b)) + np.sum(c * c) + np.sum(np.sin(d)) + np.sum(np.sqrt(e))
            + np.sum(f) + np.sum(np.tanh(g)) + np.sum(positives * x))


def reductions_b(x):
    """Cumulative sums and products, norms and SciPy's softmax family (x: (3, 4))."""
    a = np.cumsum(x, axis=1) + np.cumsum(x, axis=-2)
    b = np.cumprod(x, axis=0)
    c = np.linalg.norm(x, axis=1) + np.linalg.norm(x, 1, axis=0, keepdims=True).sum()
    d = np.linalg.norm(x) + np.linalg.norm(x[0], np.inf) + np.linalg.norm(x[1], 1) + np.linalg.norm(x[2])
    e = logsumexp(x, axis=-1, keepdims=True) + logsumexp(x, axis=(0, 1))
    f = softmax(x, axis=-1) * log_softmax(x, axis=0)
    return np.sum(np.sin(a)) + np.sum(b * b) + np.sum(c * c) + d + np.sum(e * e) + np.sum(f)


def methods(x):
    """Array methods (x: (3, 4))."""
    y = x.T.reshape(4, 3).dot(x.astype(np.float64)).clip(-2.0, 2.0)
    z = x.copy().ravel() + x.flatten()  # (.squeeze() without an axis: Numba cannot type its result)
    w = x.sum(axis=1, keepdims=True) * x.mean(axis=0) + x.max(axis=-1, keepdims=True) - x.min(axis=0)
    v = x.std(axis=1) + x.var(axis=0, ddof=1).sum() + x.prod(axis=0).sum() + x.cumsum(1)[:, -1]
    return np.sum(np.sin(y)) + np.sum(np.cos(z)) + np.sum(w * w) + np.sum(v * v) + x.argmax() * 0.5


@pytest.mark.parametrize("fun,shape", [(reductions_a, (2, 3, 4)), (reductions_b, (3, 4)), (methods, (3, 4))])
def test_under_numba(fun, shape):
    rng = np.random.default_rng(5)
    x = rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
    compiled = s2s.jit(fun)
    np.testing.assert_allclose(compiled(x), fun(x), rtol=1e-12)
    t = rng.standard_normal(shape)
    _, out_dot = s2s.jvp(compiled, (x,), (t,))
    np.testing.assert_allclose(out_dot, central_difference(fun, (x,), (t,))[0], rtol=1e-6)
    gradient = s2s.grad(compiled)(x)
    np.testing.assert_allclose(np.vdot(gradient, t), out_dot, rtol=1e-9)
    np.testing.assert_allclose(gradient, s2s.grad(fun)(x), rtol=1e-9)


def test_derivative_helpers_under_numba_take_axes():
    """The helpers that Numba once refused with an axis (now supplied by s2s.reductions)."""
    from s2s import runtime as rt

    rng = np.random.default_rng(8)
    a = rng.standard_normal((2, 3, 4))
    cases = [(rt.sum_transpose, (rng.standard_normal(4), a, (0, 1))),
             (rt.prod_jvp_transpose, (a, rng.standard_normal((2, 4)), -2)),
             (rt.extremum_jvp_transpose, (a, rng.standard_normal((3, 4)), np.max(a, 0), 0))]
    for helper, args in cases:
        compiled = numba.njit(lambda *args: helper(*args))  # noqa: B023  (compiled at once)
        np.testing.assert_allclose(compiled(*args), helper(*args), rtol=1e-12)


# -- ML-style functions: gradients against finite differences, in Python and compiled ----------


def softmax_cross_entropy(z, labels):
    shifted = z - z.max(axis=-1, keepdims=True)
    log_p = shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
    return -np.mean(np.sum(labels * log_p, axis=-1))


def layer_norm(x, gain):
    mu = x.mean(axis=-1, keepdims=True)
    var = np.var(x, axis=-1, keepdims=True)
    y = (x - mu) / np.sqrt(var + 1e-5) * gain
    return np.sum(y * y * y)


def gaussian_mixture_loglik(x, means):
    """``x[i, k]``: point ``i`` seen by component ``k`` (x[:, None] - means broadcasts through a transpose
    that does not sum the cotangent down: a separate bug of indexing, not of reductions)."""
    d = x - means
    return np.sum(logsumexp(-0.5 * d * d, axis=1))


def standardized_columns(a):
    z = (a - a.mean(axis=0)) / a.std(axis=0, ddof=1)
    return np.sum(np.tanh(z) * np.arange(a.shape[1]))


ML = [
    (softmax_cross_entropy, lambda rng: (rng.standard_normal((4, 5)), np.eye(5)[[0, 2, 4, 1]])),
    (layer_norm, lambda rng: (rng.standard_normal((3, 6)), rng.standard_normal(6))),
    (gaussian_mixture_loglik, lambda rng: (rng.standard_normal((7, 3)), np.array([-1.0, 0.3, 1.2]))),
    (standardized_columns, lambda rng: (rng.standard_normal((6, 3)),)),
]


@pytest.mark.parametrize("compiled", [False, True], ids=["python", "numba"])
@pytest.mark.parametrize("fun,make", ML, ids=[f.__name__ for f, _ in ML])
def test_ml_gradients_match_finite_differences(fun, make, compiled):
    args = make(np.random.default_rng(6))
    target = s2s.jit(fun) if compiled else fun
    gradient = s2s.grad(target)(*args)
    t = np.random.default_rng(7).standard_normal(args[0].shape)
    expected = central_difference(fun, args, (t,) + (None,) * (len(args) - 1))[0]
    np.testing.assert_allclose(np.vdot(gradient, t), expected, rtol=1e-6)


def test_vector_norms_of_any_order_and_matrix_norms_refused():
    """A p-norm's derivative is sign(x) |x/‖x‖|^(p-1); matrix norms other than Frobenius raise, never a wrong number."""

    def norm(x, p):
        return np.linalg.norm(x, p)

    x = np.array([0.3, -1.2, 2.0, 0.7])
    for p in (1, 2, 3, np.inf, 0.5):
        expected = central_difference(lambda v: norm(v, p), (x,), (np.ones(4),))
        assert_close(s2s.grad(norm)(x, p) @ np.ones(4), expected, rtol=1e-6)
    with pytest.raises(ValueError, match="ord=None or 'fro'"):
        s2s.grad(norm)(np.eye(3), 2)
