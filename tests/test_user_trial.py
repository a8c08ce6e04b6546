"""A new user's trial: functions written the way numerical scientists and ML people write NumPy,
not for s2s, differentiated, batched and compiled as the documentation says.

Each function is checked against central finite differences: ``jvp``, ``grad``, and where natural
``vmap``, ``jacfwd``/``jacrev`` and ``hessian``; a handful under ``s2s.jit``.  Where the natural form
is refused, the form the refusal leads the user to is tested too.  What does not work yet is a
strict xfail naming the bug, so that a fix shows up as an unexpected pass.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import scipy.linalg
from scipy.special import logsumexp, ndtr

import s2s
from s2s.errors import CompileError
from tests.derivatives import central_difference, flat, tangents_for



# --- 1. two-layer MLP with softmax cross-entropy --------------------------------------------------

def mlp_loss(W1, b1, W2, b2, X, Y):
    """Mean cross-entropy of a tanh MLP; Y is one-hot (n, classes)."""
    h = np.tanh(X @ W1 + b1)
    logits = h @ W2 + b2
    logits = logits - logits.max(axis=1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -(Y * log_probs).sum() / X.shape[0]


# --- 2. layer norm ------------------------------------------------------------------------------

def layer_norm(x, gamma, beta, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta


def layer_norm_var(x, gamma, beta, eps=1e-5):
    """The same with the ``var`` method, as most people write it."""
    mu = x.mean(axis=-1, keepdims=True)
    return gamma * (x - mu) / np.sqrt(x.var(axis=-1, keepdims=True) + eps) + beta


# --- 3. single-head attention -------------------------------------------------------------------

def softmax(z, axis=-1):
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def attention(x, Wq, Wk, Wv):
    """Self-attention of a (tokens, features) sequence."""
    q, k, v = x @ Wq, x @ Wk, x @ Wv
    scores = q @ k.T / np.sqrt(q.shape[1])
    return softmax(scores, axis=1) @ v


# --- 4. logistic regression with L2 -------------------------------------------------------------

def logreg_loss(w, b, X, y, lam):
    z = X @ w + b
    # log(1 + exp(z)) - y z, written stably
    nll = np.mean(np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z))) - y * z)
    return nll + 0.5 * lam * np.dot(w, w)


# --- 5. Gaussian log-likelihood through Cholesky ------------------------------------------------

def gaussian_loglik(mu, A, x):
    """log N(x | mu, A Aᵀ + I)."""
    n = x.shape[0]
    cov = A @ A.T + np.eye(n)
    L = np.linalg.cholesky(cov)
    alpha = scipy.linalg.solve_triangular(L, x - mu, lower=True)
    return -0.5 * alpha @ alpha - np.log(np.diag(L)).sum() - 0.5 * n * np.log(2 * np.pi)


# --- 6. RK4 integrator --------------------------------------------------------------------------

def lotka_volterra(y, a, b, c, d):
    prey, pred = y[0], y[1]
    return np.array([a * prey - b * prey * pred, c * prey * pred - d * pred])


def rk4(y0, a, b, c, d, dt, steps):
    y = y0.copy()
    for _ in range(steps):
        k1 = lotka_volterra(y, a, b, c, d)
        k2 = lotka_volterra(y + 0.5 * dt * k1, a, b, c, d)
        k3 = lotka_volterra(y + 0.5 * dt * k2, a, b, c, d)
        k4 = lotka_volterra(y + dt * k3, a, b, c, d)
        y = y + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    return y


# --- 7. 1-D heat equation, explicit stencil -----------------------------------------------------

def heat(u0, kappa, dx, dt, steps):
    u = u0.copy()
    r = kappa * dt / dx ** 2
    for _ in range(steps):
        lap = u[2:] - 2 * u[1:-1] + u[:-2]
        u[1:-1] += r * lap
    return u


# --- 8. Black-Scholes ---------------------------------------------------------------------------

def black_scholes_call(S, K, T, r, sigma):
    d1 = (np.log(S / K) + (r + 0.5 * sigma ** 2) * T) / (sigma * np.sqrt(T))
    d2 = d1 - sigma * np.sqrt(T)
    return S * ndtr(d1) - K * np.exp(-r * T) * ndtr(d2)


# --- 9. Gaussian mixture log-likelihood ---------------------------------------------------------

def gmm_loglik(X, means, log_sigmas, logits):
    """Isotropic Gaussian mixture: X (n, d), means (k, d), log_sigmas (k,), logits (k,)."""
    d = X.shape[1]
    log_w = logits - logsumexp(logits)
    sq = ((X[:, None, :] - means[None, :, :]) ** 2).sum(axis=-1)
    var = np.exp(2 * log_sigmas)
    log_comp = -0.5 * sq / var - d * log_sigmas - 0.5 * d * np.log(2 * np.pi)
    return logsumexp(log_w + log_comp, axis=1).sum()


# --- 10. Monte Carlo Asian option with pre-drawn normals ----------------------------------------

def asian_call_mc(S0, r, sigma, K, T, Z):
    n_paths, n_steps = Z.shape
    dt = T / n_steps
    S = np.full(n_paths, S0)
    running = np.zeros(n_paths)
    for t in range(n_steps):
        S = S * np.exp((r - 0.5 * sigma ** 2) * dt + sigma * np.sqrt(dt) * Z[:, t])
        running += S
    payoff = np.maximum(running / n_steps - K, 0.0)
    return np.exp(-r * T) * payoff.mean()


# --- 11. Huber regression -----------------------------------------------------------------------

def huber_loss(w, X, y, delta=1.0):
    r = X @ w - y
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r ** 2, delta * (a - 0.5 * delta)).mean()


# --- 12. reprojection residual with Rodrigues' rotation -----------------------------------------

def rotate(rvec, pts):
    theta = np.linalg.norm(rvec)
    k = rvec / theta
    cos, sin = np.cos(theta), np.sin(theta)
    return (pts * cos + np.cross(k, pts) * sin
            + np.outer(pts @ k, k) * (1 - cos))


def reprojection_residual(rvec, tvec, f, pts, obs):
    """Pinhole camera: residuals of projected points against observations, flattened."""
    Pc = rotate(rvec, pts) + tvec
    proj = f * Pc[:, :2] / Pc[:, 2:3]
    return (proj - obs).ravel()


# --- 13. Kalman filter log-likelihood -----------------------------------------------------------

def kalman_loglik(q, r, F, H, zs, x0, P0):
    """Log-likelihood of observations zs (T, m) under a linear-Gaussian model; noise scales q, r."""
    n, m = F.shape[0], H.shape[0]
    Q, R = q * np.eye(n), r * np.eye(m)
    x, P = x0, P0
    ll = 0.0
    for z in zs:
        x = F @ x
        P = F @ P @ F.T + Q
        S = H @ P @ H.T + R
        innov = z - H @ x
        ll -= 0.5 * (innov @ np.linalg.solve(S, innov) + np.linalg.slogdet(S)[1] + m * np.log(2 * np.pi))
        K = np.linalg.solve(S, H @ P).T
        x = x + K @ innov
        P = (np.eye(n) - K @ H) @ P
    return ll


# --- 14. polynomial fit with a Horner loop ------------------------------------------------------

def horner(coeffs, x):
    y = np.zeros_like(x)
    for c in coeffs:
        y = y * x + c
    return y


def polyfit_residual(coeffs, x, y):
    return np.sum((horner(coeffs, x) - y) ** 2)


# --- 15. standardize columns, correlation -------------------------------------------------------

def standardize(X):
    return (X - X.mean(axis=0)) / X.std(axis=0, ddof=1)


def correlation_penalty(X):
    """Sum of squared off-diagonal correlations of the columns of X."""
    Z = standardize(X)
    C = Z.T @ Z / (X.shape[0] - 1)
    return (C ** 2).sum() - np.trace(C ** 2)


# --- the same, rewritten the way the refusal messages lead a user to ---------------------------

def mlp_loss_nokeepdims(W1, b1, W2, b2, X, Y):
    h = np.tanh(X @ W1 + b1)
    logits = h @ W2 + b2
    logits = logits - logits.max(axis=1)[:, None]
    log_probs = logits - np.log(np.exp(logits).sum(axis=1))[:, None]
    return -(Y * log_probs).sum() / X.shape[0]


def layer_norm_nokeepdims(x, gamma, beta, eps=1e-5):
    mu = x.mean(axis=-1)[..., None]
    var = ((x - mu) ** 2).mean(axis=-1)[..., None]
    return gamma * (x - mu) / np.sqrt(var + eps) + beta


def attention_nokeepdims(x, Wq, Wk, Wv):
    q, k, v = x @ Wq, x @ Wk, x @ Wv
    scores = q @ k.T / np.sqrt(q.shape[1])
    e = np.exp(scores - scores.max(axis=1)[:, None])
    return (e / e.sum(axis=1)[:, None]) @ v


def gaussian_loglik_loop(mu, A, x):
    n = x.shape[0]
    cov = A @ A.T + np.eye(n)
    L = np.linalg.cholesky(cov)
    alpha = scipy.linalg.solve_triangular(L, x - mu, lower=True)
    logdet_half = sum(np.log(L[i, i]) for i in range(n))
    return -0.5 * alpha @ alpha - logdet_half - 0.5 * n * np.log(2 * np.pi)


def my_logsumexp(a):
    """log Σ exp over the last axis of a 2-D array (and over a 1-D one)."""
    if a.ndim == 1:
        m = a.max()
        return m + np.log(np.exp(a - m).sum())
    m = a.max(axis=1)
    return m + np.log(np.exp(a - m[:, None]).sum(axis=1))


def gmm_loglik_manual(X, means, log_sigmas, logits):
    d = X.shape[1]
    log_w = logits - my_logsumexp(logits)
    sq = ((X[:, None, :] - means[None, :, :]) ** 2).sum(axis=-1)
    var = np.exp(2 * log_sigmas)
    log_comp = -0.5 * sq / var - d * log_sigmas - 0.5 * d * np.log(2 * np.pi)
    return my_logsumexp(log_w + log_comp).sum()


def rotate_sqrt(rvec, pts):
    theta = np.sqrt(rvec @ rvec)
    k = rvec / theta
    cos, sin = np.cos(theta), np.sin(theta)
    return pts * cos + np.cross(k, pts) * sin + np.outer(pts @ k, k) * (1 - cos)


def reprojection_residual_sqrt(rvec, tvec, f, pts, obs):
    Pc = rotate_sqrt(rvec, pts) + tvec
    proj = f * Pc[:, :2] / Pc[:, 2:3]
    return (proj - obs).ravel()


def correlation_penalty_manual(X):
    n, d = X.shape
    Xc = X - X.mean(axis=0)
    Z = Xc / np.sqrt((Xc ** 2).sum(axis=0) / (n - 1))
    C = Z.T @ Z / (n - 1)
    return (C ** 2).sum() - sum(C[i, i] ** 2 for i in range(d))


# --- scalar losses around the vector-valued models ---------------------------------------------

def rk4_loss(y0, a):
    return np.sum(rk4(y0, a, 0.4, 0.3, 0.8, 0.05, 20) ** 2)


def heat_loss(u0, kappa):
    return np.sum(heat(u0, kappa, 0.1, 0.001, 10) ** 2)


# --- the same models, as users write them in JAX style or with other spellings --------------------

def rk4_final(y0):
    """The final state of one fixed trajectory, as a function of the initial state."""
    return rk4(y0, 1.1, 0.4, 0.3, 0.8, 0.05, 20)


def mlp_loss_params(params, X, Y):
    """Parameters as one tuple, read by index."""
    h = np.tanh(X @ params[0] + params[1])
    logits = h @ params[2] + params[3]
    logits = logits - logits.max(axis=1)[:, None]
    return -(Y * (logits - np.log(np.exp(logits).sum(axis=1))[:, None])).sum() / X.shape[0]


def mlp_loss_layers(layers, X, Y):
    """Parameters as a tuple of (W, b) layers, looped over."""
    h = X
    for W, b in layers[:-1]:
        h = np.tanh(h @ W + b)
    W, b = layers[-1]
    logits = h @ W + b
    logits = logits - logits.max(axis=1)[:, None]
    return -(Y * (logits - np.log(np.exp(logits).sum(axis=1))[:, None])).sum() / X.shape[0]


def mlp_loss_dict(params, X, Y):
    return mlp_loss_nokeepdims(params["W1"], params["b1"], params["W2"], params["b2"], X, Y)


def gmm_sq_newaxis(X, means):
    """Squared distances of every point to every mean, broadcast with ``np.newaxis``."""
    return ((X[:, np.newaxis, :] - means[np.newaxis, :, :]) ** 2).sum()


def assemble(values, nodes):
    """Scatter element values onto nodes; NumPy's fancy ``+=`` keeps the last of repeated nodes."""
    u = np.zeros(4)
    u[nodes] += values
    return u @ np.array([1.0, 2.0, 3.0, 4.0])


def covariance_steps(A, x0, P0, n):
    """The shape of a Kalman filter's covariance update, started from a tuple assignment."""
    x, P = x0, P0
    for _ in range(n):
        P = A @ P @ A.T + np.eye(2)
    return np.sum(P)


# -- checks -----------------------------------------------------------------------------------------

RTOL, ATOL = 1e-5, 1e-6
HERE = r"test_user_trial\.py:\d+: "


def check_jvp(fun, args, argnums):
    tangents = tangents_for(args, argnums, seed=1)
    value, tangent = s2s.jvp(fun, args, tangents)
    np.testing.assert_allclose(flat(value), flat(fun(*args)), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(flat(tangent), central_difference(fun, args, tangents), rtol=RTOL, atol=ATOL)


def check_grad(grad_fun, fun, args, argnums):
    """``grad_fun`` (s2s.grad(fun), perhaps compiled) dotted with random tangents against differences."""
    tangents = tangents_for(args, argnums, seed=1)
    grads = grad_fun(*args)
    along = sum(np.vdot(flat(grads[k]), flat(tangents[i])) for k, i in enumerate(argnums))
    np.testing.assert_allclose(along, central_difference(fun, args, tangents)[0], rtol=RTOL, atol=ATOL)


def fd_jacobian(fun, args, argnum, eps=1e-6):
    """d fun / d args[argnum], shaped (*out.shape, *in.shape), by central differences."""
    x = np.asarray(args[argnum], dtype=float)
    out_shape = np.shape(fun(*args))
    columns = []
    for i in range(x.size):
        step = np.zeros(x.size)
        step[i] = eps
        up = list(args)
        down = list(args)
        up[argnum] = x + step.reshape(x.shape)
        down[argnum] = x - step.reshape(x.shape)
        columns.append((flat(fun(*up)) - flat(fun(*down))) / (2 * eps))
    return np.stack(columns, axis=-1).reshape(out_shape + x.shape)


def rng():
    return np.random.default_rng(0)


def mlp_args():
    r = rng()
    X, labels = r.standard_normal((5, 3)), r.integers(0, 3, 5)
    return (r.standard_normal((3, 4)), r.standard_normal(4), r.standard_normal((4, 3)), r.standard_normal(3),
            X, np.eye(3)[labels])


def kalman_args():
    r = rng()
    F, H = np.array([[1.0, 0.1], [0.0, 1.0]]), np.array([[1.0, 0.0]])
    return 0.1, 0.5, F, H, r.standard_normal((4, 1)), np.zeros(2), np.eye(2)


def reprojection_args():
    r = rng()
    return (np.array([0.1, -0.2, 0.3]), np.array([0.1, 0.2, 5.0]), 2.0, r.standard_normal((4, 3)),
            r.standard_normal((4, 2)))


def layer_norm_loss(x, gamma, beta):
    return np.sum(layer_norm_nokeepdims(x, gamma, beta) ** 3)


def attention_loss(x, Wq, Wk, Wv):
    return np.sum(attention_nokeepdims(x, Wq, Wk, Wv) ** 2)


def reprojection_loss(rvec, tvec, f, pts, obs):
    return np.sum(reprojection_residual_sqrt(rvec, tvec, f, pts, obs) ** 2)


def reprojection_norm_loss(rvec, tvec, f, pts, obs):
    return np.sum(reprojection_residual(rvec, tvec, f, pts, obs) ** 2)


def cases():
    """name -> (function, arguments, differentiated argnums): the forms that work."""
    r = rng()
    X = r.standard_normal((5, 3))
    return {
        "mlp": (mlp_loss_nokeepdims, mlp_args(), (0, 1, 2, 3)),
        "layer_norm": (layer_norm_loss, (r.standard_normal((2, 4)), r.standard_normal(4), r.standard_normal(4)),
                       (0, 1, 2)),
        "attention": (attention_loss, (r.standard_normal((4, 3)), r.standard_normal((3, 3)), r.standard_normal((3, 3)),
                                       r.standard_normal((3, 2))), (0, 1, 2, 3)),
        "logistic_regression": (logreg_loss, (r.standard_normal(3), 0.3, X, (r.random(5) > 0.5) * 1.0, 0.1), (0, 1)),
        "gaussian_cholesky": (gaussian_loglik_loop, (r.standard_normal(3), r.standard_normal((3, 3)),
                                                     r.standard_normal(3)), (0, 1)),
        "rk4": (rk4_loss, (np.array([1.0, 0.5]), 1.1), (0, 1)),
        "heat": (heat_loss, (np.sin(np.linspace(0.0, 3.0, 8)), 0.5), (0, 1)),
        "black_scholes": (black_scholes_call, (100.0, 95.0, 0.5, 0.02, 0.25), (0, 1, 2, 3, 4)),
        "gmm": (gmm_loglik_manual, (X[:, :2], r.standard_normal((3, 2)), 0.1 * r.standard_normal(3),
                                    r.standard_normal(3)), (0, 1, 2, 3)),
        "asian_mc": (asian_call_mc, (100.0, 0.02, 0.3, 95.0, 1.0, r.standard_normal((50, 6))), (0, 1, 2, 3, 4)),
        "huber": (huber_loss, (r.standard_normal(3), X, r.standard_normal(5)), (0,)),
        "reprojection": (reprojection_loss, reprojection_args(), (0, 1, 2)),
        "kalman": (kalman_loglik, kalman_args(), (0, 1)),
        "polyfit": (polyfit_residual, (r.standard_normal(4), np.linspace(-1.0, 1.0, 6), r.standard_normal(6)), (0,)),
        "correlation": (correlation_penalty_manual, (r.standard_normal((6, 3)),), (0,)),
        "mlp_tuple_params": (mlp_loss_params, (mlp_args()[:4],) + mlp_args()[4:], (0,)),
        "mlp_layers": (mlp_loss_layers, ((mlp_args()[:2], mlp_args()[2:4]),) + mlp_args()[4:], (0,)),
    }


@pytest.mark.parametrize("name", list(cases()))
def test_jvp(name):
    fun, args, argnums = cases()[name]
    check_jvp(fun, args, argnums)


@pytest.mark.parametrize("name", list(cases()))
def test_grad(name):
    fun, args, argnums = cases()[name]
    check_grad(s2s.grad(fun, argnums=argnums), fun, args, argnums)


# -- the natural forms (keepdims, methods, diag, logsumexp, norm) ----------------------------------

NATURAL = {
    "mlp_keepdims": (mlp_loss, mlp_args(), (0, 1, 2, 3)),
    "layer_norm_keepdims": (layer_norm, cases()["layer_norm"][1], (0, 1, 2)),
    "layer_norm_var_method": (layer_norm_var, cases()["layer_norm"][1], (0, 1, 2)),
    "attention_keepdims": (attention, cases()["attention"][1], (0, 1, 2, 3)),
    "gaussian_diag": (gaussian_loglik, cases()["gaussian_cholesky"][1], (0, 1)),
    "gmm_logsumexp": (gmm_loglik, cases()["gmm"][1], (0, 1, 2, 3)),
    "reprojection_norm": (reprojection_norm_loss, reprojection_args(), (0, 1, 2)),
    "correlation_std_method": (correlation_penalty, cases()["correlation"][1], (0,)),
}


@pytest.mark.parametrize("name", list(NATURAL))
def test_natural_form_differentiates(name):
    """jvp against differences; vjp against jvp (dot-product test)."""
    fun, args, argnums = NATURAL[name]
    check_jvp(fun, args, argnums)
    tangents = tangents_for(args, argnums, seed=1)
    _, tangent = s2s.jvp(fun, args, tangents)
    weights = rng().standard_normal(np.shape(tangent))
    _, f_vjp = s2s.vjp(fun, *args)
    cotangents = f_vjp(weights)
    along = sum(np.vdot(flat(cotangents[i]), flat(tangents[i])) for i in argnums)
    np.testing.assert_allclose(along, np.vdot(flat(weights), flat(tangent)), rtol=1e-10)


# -- crashes inside generated code and wrong numbers ------------------------------------------------

def test_dict_params_gradient():
    """Parameters in a dict: the gradient is a dict of the same keys, each checked like the tuple form's."""
    args = mlp_args()
    params = dict(W1=args[0], b1=args[1], W2=args[2], b2=args[3])
    grads = s2s.grad(mlp_loss_dict)(params, *args[4:])
    flat = s2s.grad(mlp_loss_nokeepdims, argnums=(0, 1, 2, 3))(*args)
    assert set(grads) == {"W1", "b1", "W2", "b2"}
    for key, expected in zip(("W1", "b1", "W2", "b2"), flat):
        np.testing.assert_allclose(grads[key], expected, rtol=1e-12, atol=1e-14)
    check_grad(s2s.grad(mlp_loss_nokeepdims, argnums=(0, 1, 2, 3)), mlp_loss_nokeepdims, args, (0, 1, 2, 3))


def test_newaxis_gradient():
    X, means = cases()["gmm"][1][:2]
    check_jvp(gmm_sq_newaxis, (X, means), (0, 1))
    check_grad(s2s.grad(gmm_sq_newaxis, argnums=(0, 1)), gmm_sq_newaxis, (X, means), (0, 1))


def test_layer_norm_of_one_vector_gradient():
    x, gamma, beta = (a[0] if a.ndim == 2 else a for a in cases()["layer_norm"][1])
    check_grad(s2s.grad(layer_norm_loss, argnums=(0, 1, 2)), layer_norm_loss, (x, gamma, beta), (0, 1, 2))


def test_scatter_with_repeated_indices():
    args, argnums = (np.array([0.5, -1.0, 2.0]), np.array([0, 0, 2])), (0,)
    check_jvp(assemble, args, argnums)
    check_grad(s2s.grad(assemble, argnums=argnums), assemble, args, argnums)


# -- vmap, Jacobians, Hessians --------------------------------------------------------------------------

def test_vmap_rk4_over_initial_conditions():
    Y0 = rng().random((5, 2)) + 0.5
    batched = s2s.vmap(rk4, in_axes=(0, None, None, None, None, None, None))(Y0, 1.1, 0.4, 0.3, 0.8, 0.05, 20)
    np.testing.assert_allclose(batched, [rk4(y, 1.1, 0.4, 0.3, 0.8, 0.05, 20) for y in Y0], rtol=1e-12)


def test_vmap_and_grad_black_scholes_over_strikes():
    strikes = np.linspace(80.0, 120.0, 5)
    shared = (None, 0, None, None, None)
    prices = s2s.vmap(black_scholes_call, in_axes=shared)(100.0, strikes, 0.5, 0.02, 0.25)
    np.testing.assert_allclose(prices, black_scholes_call(100.0, strikes, 0.5, 0.02, 0.25), rtol=1e-12)
    deltas = s2s.vmap(s2s.grad(black_scholes_call), in_axes=shared)(100.0, strikes, 0.5, 0.02, 0.25)
    np.testing.assert_allclose(deltas, ndtr((np.log(100.0 / strikes) + 0.05125 * 0.5) / (0.25 * np.sqrt(0.5))),
                               rtol=1e-10)


def test_vmap_layer_norm_and_attention_over_a_batch():
    x, gamma, beta = cases()["layer_norm"][1]
    np.testing.assert_allclose(s2s.vmap(layer_norm_nokeepdims, in_axes=(0, None, None))(x, gamma, beta),
                               layer_norm_nokeepdims(x, gamma, beta), rtol=1e-12)
    r = rng()
    xs, Wq, Wk, Wv = r.standard_normal((2, 4, 3)), *(r.standard_normal((3, 3)) for _ in range(3))
    batched = s2s.vmap(attention_nokeepdims, in_axes=(0, None, None, None))
    np.testing.assert_allclose(batched(xs, Wq, Wk, Wv), [attention_nokeepdims(x, Wq, Wk, Wv) for x in xs], rtol=1e-12)
    tangent = r.standard_normal(xs.shape)
    _, along = s2s.jvp(batched, (xs, Wq, Wk, Wv), (tangent, None, None, None))
    np.testing.assert_allclose(flat(along), central_difference(batched, (xs, Wq, Wk, Wv), (tangent, None, None, None)),
                               rtol=RTOL, atol=ATOL)


def test_per_example_gradients_by_vmap_of_grad():
    """Huber and the MLP, one example at a time: the mean of per-example gradients is the batch gradient."""
    r = rng()
    X, y, w = r.standard_normal((7, 3)), 2.0 * r.standard_normal(7), r.standard_normal(3)

    def one(w, x, target):
        return huber_loss(w, x[None, :], np.array([target]))

    per = s2s.vmap(s2s.grad(one), in_axes=(None, 0, 0))(w, X, y)
    np.testing.assert_allclose(per, [fd_jacobian(one, (w, X[i], y[i]), 0) for i in range(7)], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(per.mean(axis=0), s2s.grad(huber_loss)(w, X, y), rtol=1e-12)

    W1, b1, W2, b2, X, Y = mlp_args()

    def mlp_one(W1, b1, W2, b2, x, y):
        return mlp_loss_nokeepdims(W1, b1, W2, b2, x[None, :], y[None, :])

    per = s2s.vmap(s2s.grad(mlp_one, argnums=(0, 2)), in_axes=(None, None, None, None, 0, 0))(W1, b1, W2, b2, X, Y)
    batch = s2s.grad(mlp_loss_nokeepdims, argnums=(0, 2))(W1, b1, W2, b2, X, Y)
    for p, b in zip(per, batch):
        np.testing.assert_allclose(p.mean(axis=0), b, rtol=1e-10)


def test_vmap_polyfit_heat_kalman():
    coeffs = rng().standard_normal((4, 4))
    x, y = cases()["polyfit"][1][1:]
    np.testing.assert_allclose(s2s.vmap(polyfit_residual, in_axes=(0, None, None))(coeffs, x, y),
                               [polyfit_residual(c, x, y) for c in coeffs], rtol=1e-12)
    np.testing.assert_allclose(s2s.vmap(s2s.grad(polyfit_residual), in_axes=(0, None, None))(coeffs, x, y),
                               [fd_jacobian(polyfit_residual, (c, x, y), 0) for c in coeffs], rtol=RTOL, atol=ATOL)
    u0 = np.sin(np.linspace(0.0, 3.0, 8))
    us = np.stack([u0, 2.0 * u0])
    np.testing.assert_allclose(s2s.vmap(heat, in_axes=(0, None, None, None, None))(us, 0.5, 0.1, 0.001, 10),
                               [heat(u, 0.5, 0.1, 0.001, 10) for u in us], rtol=1e-12)
    q, r, F, H, _, x0, P0 = kalman_args()
    zs = rng().standard_normal((3, 4, 1))
    np.testing.assert_allclose(
        s2s.vmap(kalman_loglik, in_axes=(None, None, None, None, 0, None, None))(q, r, F, H, zs, x0, P0),
        [kalman_loglik(q, r, F, H, z, x0, P0) for z in zs], rtol=1e-12)


def test_jacobians_of_trajectories_and_residuals():
    y0 = np.array([1.0, 0.5])
    np.testing.assert_allclose(s2s.jacfwd(rk4_final)(y0), fd_jacobian(rk4_final, (y0,), 0), rtol=RTOL, atol=ATOL)
    args = reprojection_args()
    expected = fd_jacobian(reprojection_residual_sqrt, args, 0)
    for jac in (s2s.jacfwd, s2s.jacrev):
        np.testing.assert_allclose(jac(reprojection_residual_sqrt)(*args), expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(s2s.jacrev(reprojection_residual_sqrt, argnums=1)(*args),
                               fd_jacobian(reprojection_residual_sqrt, args, 1), rtol=RTOL, atol=ATOL)
    heat_args = (np.sin(np.linspace(0.0, 3.0, 8)), 0.5, 0.1, 0.001, 10)
    expected = fd_jacobian(heat, heat_args, 0)
    np.testing.assert_allclose(s2s.jacfwd(heat)(*heat_args), expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(s2s.jacrev(heat)(*heat_args), expected, rtol=RTOL, atol=ATOL)
    att = cases()["attention"][1][:3] + (rng().standard_normal((3, 3)),)
    np.testing.assert_allclose(s2s.jacrev(attention_nokeepdims)(*att), fd_jacobian(attention_nokeepdims, att, 0),
                               rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(s2s.jacfwd(attention_nokeepdims, argnums=1)(*att),
                               fd_jacobian(attention_nokeepdims, att, 1), rtol=RTOL, atol=ATOL)


def test_jacfwd_reprojection_in_the_translation():
    args = reprojection_args()
    np.testing.assert_allclose(s2s.jacfwd(reprojection_residual_sqrt, argnums=1)(*args),
                               fd_jacobian(reprojection_residual_sqrt, args, 1), rtol=RTOL, atol=ATOL)


def test_jacrev_of_a_function_returning_a_helper_call():
    y0 = np.array([1.0, 0.5])
    np.testing.assert_allclose(s2s.jacrev(rk4_final)(y0), fd_jacobian(rk4_final, (y0,), 0), rtol=RTOL, atol=ATOL)


def test_jacrev_layer_norm_of_one_vector():
    x, gamma, beta = (a[0] if a.ndim == 2 else a for a in cases()["layer_norm"][1])
    np.testing.assert_allclose(s2s.jacrev(layer_norm_nokeepdims)(x, gamma, beta),
                               fd_jacobian(layer_norm_nokeepdims, (x, gamma, beta), 0), rtol=RTOL, atol=ATOL)


def test_hessians():
    def grad_of(fun, argnum, args):
        return lambda x: s2s.grad(fun, argnums=argnum)(*args[:argnum], x, *args[argnum + 1:])

    for name in ("logistic_regression", "huber", "polyfit"):
        fun, args, _ = cases()[name]
        np.testing.assert_allclose(s2s.hessian(fun)(*args), fd_jacobian(grad_of(fun, 0, args), (args[0],), 0),
                                   rtol=RTOL, atol=ATOL)
    coeffs, x, _ = cases()["polyfit"][1]
    vander = np.vander(x, 4)
    np.testing.assert_allclose(s2s.hessian(polyfit_residual)(*cases()["polyfit"][1]), 2.0 * vander.T @ vander,
                               rtol=1e-12)
    bs = cases()["black_scholes"][1]
    d1 = (np.log(100.0 / 95.0) + (0.02 + 0.5 * 0.25 ** 2) * 0.5) / (0.25 * np.sqrt(0.5))
    gamma = np.exp(-0.5 * d1 ** 2) / np.sqrt(2.0 * np.pi) / (100.0 * 0.25 * np.sqrt(0.5))
    np.testing.assert_allclose(s2s.hessian(black_scholes_call)(*bs), gamma, rtol=1e-10)
    np.testing.assert_allclose(s2s.grad(s2s.grad(black_scholes_call))(*bs), gamma, rtol=1e-10)
    kal = kalman_args()
    hess = s2s.hessian(kalman_loglik, argnums=(0, 1))(*kal)
    d_dr = lambda q: s2s.grad(kalman_loglik, argnums=1)(q, *kal[1:])  # noqa: E731
    np.testing.assert_allclose(hess[1][0], fd_jacobian(d_dr, (kal[0],), 0), rtol=RTOL, atol=ATOL)


# -- under s2s.jit (a handful: each compile takes seconds) -------------------------------------------

@pytest.mark.parametrize("name", ["rk4", "heat", "black_scholes", "logistic_regression", "huber", "asian_mc",
                                  "gaussian_cholesky"])
def test_jit_grad(name):
    fun, args, argnums = cases()[name]
    compiled = s2s.jit(s2s.grad(fun, argnums=argnums))
    check_grad(compiled, fun, args, argnums)
    for c, p in zip(compiled(*args), s2s.grad(fun, argnums=argnums)(*args)):
        np.testing.assert_allclose(c, p, rtol=1e-10)


def test_jit_jvp_and_vmap():
    fun, args, argnums = cases()["asian_mc"]
    check_jvp(s2s.jit(fun), args, argnums)
    strikes = np.linspace(80.0, 120.0, 5)
    compiled = s2s.jit(s2s.vmap(black_scholes_call, in_axes=(None, 0, None, None, None)))
    np.testing.assert_allclose(compiled(100.0, strikes, 0.5, 0.02, 0.25),
                               black_scholes_call(100.0, strikes, 0.5, 0.02, 0.25), rtol=1e-12)


def test_jit_hessian_polyfit():
    args = cases()["polyfit"][1]
    vander = np.vander(args[1], 4)
    np.testing.assert_allclose(s2s.jit(s2s.hessian(polyfit_residual))(*args), 2.0 * vander.T @ vander, rtol=1e-12)


def test_jit_grad_matmul_of_unknown_rank():
    args = (np.array([[0.9, 0.1], [0.0, 0.8]]), np.zeros(2), np.eye(2), 3)
    check_grad(s2s.jit(s2s.grad(covariance_steps, argnums=(0, 2))), covariance_steps, args, (0, 2))


def test_jit_of_reductions_along_axes():
    """np.max and np.mean with axis= and keepdims compile (s2s supplies what Numba lacks), primal and gradient."""
    fun, args, argnums = NATURAL["mlp_keepdims"]
    np.testing.assert_allclose(s2s.jit(fun)(*args), fun(*args), rtol=1e-12)
    check_grad(s2s.jit(s2s.grad(fun, argnums=argnums)), fun, args, argnums)


def heaviside_loss(x):
    y = np.sin(x)
    return np.sum(np.heaviside(y, 0.5) * y ** 2)


def test_jit_grad_compile_error_names_the_users_line():
    """A construct Numba cannot compile, inside a generated forward or backward pass: the error names the user's line."""
    with pytest.raises(CompileError) as info:
        s2s.jit(s2s.grad(heaviside_loss))(np.linspace(-1.0, 1.0, 5))
    assert re.search(r"test_user_trial\.py:\d+: return np\.sum\(np\.heaviside", str(info.value)), str(info.value)
