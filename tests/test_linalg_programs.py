"""Products and linear algebra as users write them: each function's jvp against central differences,
its vjp against its jvp, second order, vmap, in Python and under ``s2s.jit``.

The Numba part compiles each transform once for all the functions (one module per transform): a
compile takes seconds.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

import s2s
from s2s.errors import S2SError
from tests.derivatives import assert_close, central_difference, flat, random_like


def spd(x):
    return x @ x.T + 3.0 * np.eye(x.shape[0])


def gaussian_nll(x, r):
    """Negative log-likelihood of ``r`` under N(0, K) with K = x xᵀ + 3 I, through Cholesky."""
    K = x @ x.T + 3.0 * np.eye(3)
    L = np.linalg.cholesky(K)
    z = scipy.linalg.solve_triangular(L, r, lower=True)
    sign, logdet = np.linalg.slogdet(K)
    return 0.5 * logdet + 0.5 * z @ z


def gaussian_nll_solve(x, r):
    K = x @ x.T + 3.0 * np.eye(3)
    return 0.5 * np.linalg.slogdet(K)[1] + 0.5 * r @ np.linalg.solve(K, r)


def attention(q, k, v):
    """Single-head attention on (batch, sequence, dimension) tensors, softmax over the keys."""
    scores = np.einsum("bqd,bkd->bqk", q, k) / np.sqrt(q.shape[-1])
    w = np.exp(scores)
    w = w / np.sum(w, axis=-1)[:, :, None]
    return np.sum((w @ v) ** 2)


def least_squares(a, b):
    """Residual of the normal-equations solution."""
    coef = np.linalg.solve(a.T @ a, a.T @ b)
    return np.sum((a @ coef - b) ** 2)


def reprojection(points, direction):
    """Residuals of points against a line through the origin: |p × d|² / |d|², with broadcasting."""
    c = np.cross(points, direction)
    return np.sum(c * c) / (direction @ direction)


def stacked(x, y):
    """Stacks of matrices: inverse, determinant, Cholesky, solve and eigenvalues of each."""
    a = x @ np.transpose(x, (0, 2, 1)) + 3.0 * np.eye(3)
    t = np.sum(np.linalg.inv(a) * y) + np.sum(np.linalg.det(a)) + np.sum(np.linalg.cholesky(a) ** 2)
    return t + np.sum(np.linalg.solve(a, y)) + np.sum(np.linalg.eigh(a)[0] ** 2)


def eigen_and_qr(x):
    w, u = np.linalg.eigh(spd(x))
    q, r = np.linalg.qr(spd(x))
    return np.sum(w * w) + np.sum((u * u) @ w) + np.sum(r * r) + np.sum(q[:, 0] * r[0])


def logdet(x):
    return np.linalg.slogdet(x @ x.T + 3.0 * np.eye(3))[1]


def quadratic_solve(x, r):
    return r @ np.linalg.solve(x @ x.T + 3.0 * np.eye(3), r)


RNG = np.random.default_rng(3)
CASES = [
    (gaussian_nll, (RNG.standard_normal((3, 3)), RNG.standard_normal(3))),
    (gaussian_nll_solve, (RNG.standard_normal((3, 3)), RNG.standard_normal(3))),
    (attention, tuple(RNG.standard_normal((2, 4, 3)) for _ in range(3))),
    (least_squares, (RNG.standard_normal((5, 3)), RNG.standard_normal(5))),
    (reprojection, (RNG.standard_normal((4, 3)), RNG.standard_normal(3))),
    (stacked, (RNG.standard_normal((2, 3, 3)), RNG.standard_normal((2, 3, 3)))),
    (eigen_and_qr, (RNG.standard_normal((3, 3)),)),
]
SECOND_ORDER = [(logdet, (RNG.standard_normal((3, 3)),)), (quadratic_solve, (RNG.standard_normal((3, 3)),
                                                                             RNG.standard_normal(3)))]


def check(fun, args, compiled=None, seed=0):
    """jvp of ``compiled`` (default ``fun``) against central differences of ``fun``; vjp against jvp."""
    compiled = compiled or fun
    rng = np.random.default_rng(seed)
    tangents = tuple(random_like(a, rng) for a in args)
    out, out_dot = s2s.jvp(compiled, args, tangents)
    assert_close(out, fun(*args), rtol=1e-10, atol=1e-12)
    assert_close(out_dot, central_difference(fun, args, tangents), rtol=1e-5, atol=1e-6)
    _, pullback = s2s.vjp(compiled, *args)
    ct = random_like(out, rng)
    np.testing.assert_allclose(flat(ct) @ flat(out_dot), flat(pullback(ct)) @ flat(tangents), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("fun, args", CASES, ids=[f.__name__ for f, _ in CASES])
def test_python(fun, args):
    check(fun, args)


@pytest.mark.parametrize("fun, args", SECOND_ORDER, ids=[f.__name__ for f, _ in SECOND_ORDER])
def test_second_order(fun, args):
    """The Hessian (forward over reverse) against central differences of the gradient."""
    rng = np.random.default_rng(1)
    t = random_like(args[0], rng)
    hvp = s2s.jvp(s2s.grad(fun), args, (t,) + tuple(np.zeros_like(a) for a in args[1:]))[1]
    assert_close(hvp, central_difference(s2s.grad(fun), args, (t,) + tuple(np.zeros_like(a) for a in args[1:])),
                 rtol=1e-5, atol=1e-6)
    h = s2s.hessian(fun)(*args)
    np.testing.assert_allclose(np.tensordot(h, t, t.ndim), hvp, rtol=1e-8, atol=1e-10)


def test_vmap_of_grad():
    """Per-example gradients of a log-likelihood: vmap over a batch of data vectors."""
    x, rs = RNG.standard_normal((3, 3)), RNG.standard_normal((4, 3))
    batched = s2s.vmap(s2s.grad(gaussian_nll_solve), in_axes=(None, 0))(x, rs)
    for i in range(4):
        np.testing.assert_allclose(batched[i], s2s.grad(gaussian_nll_solve)(x, rs[i]), rtol=1e-10, atol=1e-12)


def svd_with_vectors(x):
    u, s, vh = np.linalg.svd(x)
    return np.sum(s)


def test_svd_with_vectors_is_refused_naming_the_line():
    with pytest.raises(S2SError, match=r"test_linalg_programs.py:\d+.*compute_uv"):
        s2s.grad(svd_with_vectors)(np.eye(3))


def numba_products(a, b, c):
    """Einsums (diagonals, traces, stacks), N-D @ with broadcasting, cross products: one compiled module."""
    t = np.sum(np.einsum("...ij,...jk->...ik", a, b) ** 2) + np.sum((a @ b) ** 2) + np.einsum("ii->", c)
    return t + np.sum(np.einsum("ii->i", c) ** 2) + np.sum(np.cross(c, c[0]) ** 2)


def numba_linalg(x, r):
    """Solve, inverse, determinant, Cholesky, triangular solve, slogdet, eigenvalues: one compiled module."""
    K = x @ x.T + 3.0 * np.eye(3)
    L = np.linalg.cholesky(K)
    z = scipy.linalg.solve_triangular(L, r, lower=True)
    t = 0.5 * np.linalg.slogdet(K)[1] + 0.5 * z @ z + r @ np.linalg.solve(K, r) + np.linalg.det(K)
    return t + np.sum(np.linalg.inv(K) * x) + np.sum(L * L)


def numba_eigh(x):
    return np.sum(np.linalg.eigh(x @ x.T + 3.0 * np.eye(3))[0] ** 2)


NUMBA = [(numba_products, (RNG.standard_normal((2, 2, 3)), RNG.standard_normal((3, 4)), RNG.standard_normal((3, 3)))),
         (numba_linalg, (RNG.standard_normal((3, 3)), RNG.standard_normal(3))),
         (numba_eigh, (RNG.standard_normal((3, 3)),))]


@pytest.mark.parametrize("fun, args", NUMBA, ids=[f.__name__ for f, _ in NUMBA])
def test_numba(fun, args):
    check(fun, args, compiled=s2s.jit(fun))
