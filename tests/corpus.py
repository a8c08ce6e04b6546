"""The golden corpus: functions written the way scientists write loops.

Each entry of ``CASES`` is one function with the arguments to check it at.
The same table drives the golden files (``golden/<mode>/<name>.py``), the
finite-difference tests and the Numba tests, so a function added here is
checked everywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Case:
    fun: object
    args: tuple
    #: positional arguments that are differentiated (tangents are random for these, None for others)
    argnums: tuple = (0,)
    #: False for cases Numba cannot compile (say why in ``note``)
    numba: bool = True
    note: str = ""
    rtol: float = 1e-5

    @property
    def name(self) -> str:
        return self.fun.__name__


_rng = np.random.default_rng(0)


def _vec(n, lo=-1.0, hi=1.0):
    return _rng.uniform(lo, hi, n)


# -- module-level constants used inside functions -------------------------------

GRAVITY = 9.81
LAPLACE_STENCIL = np.array([1.0, -2.0, 1.0])


# -- functions ------------------------------------------------------------------


def scalar_expression(x):
    """A smooth scalar response curve (sanity check of plain NumPy calls on a float)."""
    return 3 * np.sin(x) + np.cos(x / 2)


# recurrences


def logistic_map(r, x0, n):
    """Population after n generations of the logistic map x <- r x (1 - x)."""
    x = x0
    for _ in range(n):
        x = r * x * (1.0 - x)
    return x


def ar1_loglik(phi, log_sigma, y):
    """Conditional Gaussian log-likelihood of an AR(1) series y_t = phi y_{t-1} + e_t."""
    sigma = math.exp(log_sigma)
    n = len(y)
    total = 0.0
    for t in range(1, n):
        resid = y[t] - phi * y[t - 1]
        total -= 0.5 * (resid / sigma) ** 2
    total -= (n - 1) * (log_sigma + 0.5 * math.log(2.0 * math.pi))
    return total


def fibonacci_growth(a, b, n):
    """Growth ratio of a generalised Fibonacci recurrence (tuple swap a, b = b, a + b)."""
    for _ in range(n):
        a, b = b, a + b
    return b / a


def kalman_filter_1d(obs, q, r, x0, p0):
    """Negative log-likelihood of a scalar random-walk Kalman filter."""
    x, p = x0, p0
    nll = 0.0
    for k in range(len(obs)):
        p = p + q
        s = p + r
        innov = obs[k] - x
        nll += 0.5 * (math.log(2 * math.pi * s) + innov * innov / s)
        gain = p / s
        x = x + gain * innov
        p = (1 - gain) * p
    return nll


def cumulative_growth(rates):
    """Compounded wealth path from per-period returns (cumulative product written as a loop)."""
    n = rates.shape[0]
    wealth = np.empty_like(rates)
    wealth[0] = 1.0 + rates[0]
    for i in range(1, n):
        wealth[i] = wealth[i - 1] * (1.0 + rates[i])
    return wealth


def running_sums(x):
    """Prefix sums (in-place s[i] += s[i - 1]) and running means of a signal."""
    s = x.copy()
    for i in range(1, len(s)):
        s[i] += s[i - 1]
    means = np.zeros(len(s))
    for i in range(len(s)):
        means[i] = s[i] / (i + 1)
    return s, means


def alternating_series(x, n):
    """Partial sum of the alternating series of log(1 + x), sign from integer % and //."""
    total = 0.0
    term = x
    for k in range(1, n + 1):
        sign = 1 - 2 * ((k + 1) % 2)
        total += sign * term / k
        term *= x
    half = n // 2
    return total, half


# stencils


def heat_rod_slices(u0, alpha, steps):
    """Energy of a 1-D diffusing rod with fixed ends, updated with slices each time step."""
    u = np.copy(u0)
    for _ in range(steps):
        lap = u[:-2] - 2.0 * u[1:-1] + u[2:]
        u[1:-1] = u[1:-1] + alpha * lap
    return np.sum(u * u)


def set_dirichlet(u, left, right):
    """Impose the boundary temperatures of a rod in place."""
    u[0] = left
    u[-1] = right


def heat_rod_dirichlet(u0, t_left, t_right, kappa, dt, dx, steps):
    """Mid-rod temperature under diffusion with end temperatures imposed by an in-place helper."""
    u = u0.copy()
    n = len(u)
    r = kappa * dt / (dx * dx)
    set_dirichlet(u, t_left, t_right)
    for _ in range(steps):
        new = np.empty_like(u)
        for i in range(1, n - 1):
            new[i] = u[i] + r * (u[i - 1] - 2 * u[i] + u[i + 1])
        set_dirichlet(new, t_left, t_right)
        u = new
    return u[n // 2]


def laplacian_2d(f, h):
    """Energy of the 5-point Laplacian of a 2-D field, written with nested loops."""
    nx, ny = f.shape
    lap = np.zeros_like(f)
    for i in range(1, nx - 1):
        for j in range(1, ny - 1):
            lap[i, j] = (f[i + 1, j] + f[i - 1, j] + f[i, j + 1] + f[i, j - 1] - 4.0 * f[i, j]) / (h * h)
    return 0.5 * np.sum(lap ** 2)


def convolve_stencil(u, c):
    """Scaled second difference of a signal with a module-level 3-point stencil array."""
    n = u.shape[0]
    out = np.zeros(n - 2)
    for i in range(n - 2):
        out[i] = c * np.dot(LAPLACE_STENCIL, u[i:i + 3])
    return out


def wave_1d(u0, c, dt, dx, steps):
    """Three-level leapfrog scheme for the 1-D wave equation with fixed ends."""
    prev = u0.copy()
    cur = u0.copy()
    lam2 = (c * dt / dx) ** 2
    n = len(u0)
    for _ in range(steps):
        nxt = np.zeros(n)
        nxt[1:n - 1] = 2 * cur[1:n - 1] - prev[1:n - 1] + lam2 * (cur[2:] - 2 * cur[1:n - 1] + cur[:n - 2])
        prev, cur = cur, nxt
    return cur


# ODE integrators


def euler_decay_chain(k1, k2, a0, dt, steps):
    """Forward Euler (while loop) for the decay chain A -> B -> C; returns amounts of A and B."""
    a = a0
    b = 0.0
    t = 0
    while t < steps:
        da = -k1 * a
        db = k1 * a - k2 * b
        a += dt * da
        b += dt * db
        t += 1
    return a, b


def pendulum_rhs(theta, omega, g, length):
    """Right-hand side of the nonlinear pendulum equations."""
    return omega, -(g / length) * math.sin(theta)


def pendulum_rk4(theta0, omega0, g, length, dt, steps):
    """Classical RK4 integration of a pendulum; returns final angle and angular velocity."""
    th, om = theta0, omega0
    for _ in range(steps):
        k1t, k1w = pendulum_rhs(th, om, g, length)
        k2t, k2w = pendulum_rhs(th + 0.5 * dt * k1t, om + 0.5 * dt * k1w, g, length)
        k3t, k3w = pendulum_rhs(th + 0.5 * dt * k2t, om + 0.5 * dt * k2w, g, length)
        k4t, k4w = pendulum_rhs(th + dt * k3t, om + dt * k3w, g, length)
        th = th + dt / 6.0 * (k1t + 2 * k2t + 2 * k3t + k4t)
        om = om + dt / 6.0 * (k1w + 2 * k2w + 2 * k3w + k4w)
    return th, om


def lotka_volterra(state, params, dt, steps):
    """Euler steps of Lotka-Volterra predator-prey dynamics with tuple state and parameters."""
    prey, pred = state
    alpha, beta, delta, gamma = params
    for _ in range(steps):
        dprey = alpha * prey - beta * prey * pred
        dpred = delta * prey * pred - gamma * pred
        prey, pred = prey + dt * dprey, pred + dt * dpred
    return (prey, pred)


def kepler_force(q):
    """Gravitational acceleration toward the origin (unit mass, unit G)."""
    return -q / np.dot(q, q) ** 1.5


def leapfrog_orbit(q0, p0, dt, steps):
    """Kick-drift-kick leapfrog for a Kepler orbit; returns the final energy."""
    q = q0.copy()
    p = p0 + 0.5 * dt * kepler_force(q0)
    for step in range(steps):
        q = q + dt * p
        if step < steps - 1:
            p = p + dt * kepler_force(q)
    p = p + 0.5 * dt * kepler_force(q)
    return 0.5 * np.dot(p, p) - 1.0 / np.sqrt(np.dot(q, q))


def sir_epidemic(beta, gamma, i0, days, substeps):
    """SIR epidemic by Euler sub-steps; returns the daily peak infected fraction and final recovered."""
    s, i, r = 1.0 - i0, i0, 0.0
    dt = 1.0 / substeps
    peak = i
    for day in range(days):
        for _ in range(substeps):
            new_inf = beta * s * i
            rec = gamma * i
            s, i, r = s - dt * new_inf, i + dt * (new_inf - rec), r + dt * rec
        peak = max(peak, i)
    return peak, r


def projectile_range(speed, angle, drag):
    """Landing distance of a projectile with linear drag (Euler, module constant GRAVITY, early return)."""
    vx = speed * math.cos(angle)
    vy = speed * math.sin(angle)
    x, y = 0.0, 0.0
    dt = 0.01
    steps = 0
    while steps < 100000:
        x_new = x + dt * vx
        y_new = y + dt * vy
        vx += dt * (-drag * vx)
        vy += dt * (-GRAVITY - drag * vy)
        if y_new < 0.0:
            return x + (x_new - x) * y / (y - y_new)
        x, y = x_new, y_new
        steps += 1
    return x


# statistics and machine learning


def logsumexp(v):
    """Numerically stable log(sum(exp(v))) written by hand."""
    m = np.max(v)
    return m + np.log(np.sum(np.exp(v - m)))


def gmm_loglik(x, weight_logits, means, log_sigmas):
    """Log-likelihood of 1-D data under a Gaussian mixture, with a hand-written logsumexp."""
    k = len(means)
    logw = weight_logits - logsumexp(weight_logits)
    total = 0.0
    comp = np.empty(k)
    for n in range(len(x)):
        for j in range(k):
            z = (x[n] - means[j]) / np.exp(log_sigmas[j])
            comp[j] = logw[j] - 0.5 * z * z - log_sigmas[j] - 0.5 * np.log(2 * np.pi)
        total += logsumexp(comp)
    return total


def gaussian_logpdf(x, mu, sigma=1.0):
    """Log density of a normal distribution."""
    z = (x - mu) / sigma
    return -0.5 * z * z - math.log(sigma) - 0.5 * math.log(2.0 * math.pi)


def robust_regression_loglik(a, b, xs, ys, scale):
    """Line fit under a contaminated-normal noise model (helper called with keyword and default)."""
    total = 0.0
    for i in range(len(xs)):
        r = ys[i] - (a + b * xs[i])
        narrow = gaussian_logpdf(r, 0.0, sigma=scale)
        wide = gaussian_logpdf(r, 0.0)
        m = max(narrow, wide)
        total += m + math.log(0.9 * math.exp(narrow - m) + 0.1 * math.exp(wide - m))
    return total


def softplus(z):
    """Overflow-safe softplus log(1 + e^z) with early returns in the tails."""
    if z > 30.0:
        return z
    elif z < -30.0:
        return math.exp(z)
    return math.log1p(math.exp(z))


def logistic_regression_loss(w, b, X, y, l2):
    """Mean logistic loss with L2 penalty, looping over samples and calling a scalar softplus."""
    n = X.shape[0]
    loss = 0.0
    for i in range(n):
        z = np.dot(X[i], w) + b
        loss += softplus(z) - y[i] * z
    return loss / n + l2 * np.sum(w ** 2)


def logistic_loss_vectorized(w, X, y):
    """Vectorised logistic loss with the stable softplus max(z, 0) + log1p(exp(-|z|))."""
    z = X @ w
    sp = np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))
    return np.mean(sp - y * z)


def mlp_mse(W1, b1, W2, b2, X, Y):
    """Mean squared error of a 2-layer tanh MLP written with @."""
    H = np.tanh(X @ W1 + b1)
    out = H @ W2 + b2
    err = out - Y
    return np.sum(err * err) / X.shape[0]


def softmax_cross_entropy(logits, labels):
    """Softmax cross-entropy of a batch of logits against integer class labels."""
    n, k = logits.shape
    loss = 0.0
    for i in range(n):
        row = logits[i]
        m = np.max(row)
        lse = m + np.log(np.sum(np.exp(row - m)))
        loss += lse - row[labels[i]]
    return loss / n


def ridge_gradient_descent(w0, X, y, lam, lr, steps):
    """Ridge objective after unrolled gradient-descent steps (transpose, @, w -= ...)."""
    w = w0.copy()
    n = X.shape[0]
    Xt = np.transpose(X)
    for _ in range(steps):
        r = X @ w - y
        grad = Xt @ r / n + lam * w
        w -= lr * grad
    r = X @ w - y
    return 0.5 * np.dot(r, r) / n + 0.5 * lam * np.dot(w, w)


def huber_loss(residuals, delta):
    """Huber robust loss, choosing the branch with a conditional expression."""
    total = 0.0
    for i in range(len(residuals)):
        a = abs(residuals[i])
        total += 0.5 * a * a if a <= delta else delta * (a - 0.5 * delta)
    return total


# finance / Monte Carlo


def asian_call(s0, sigma, rate, maturity, strike, z):
    """Monte Carlo arithmetic-average Asian call with pre-drawn normals z[path, step]."""
    n_paths, n_steps = z.shape
    dt = maturity / n_steps
    drift = (rate - 0.5 * sigma ** 2) * dt
    vol = sigma * math.sqrt(dt)
    payoff = 0.0
    for p in range(n_paths):
        s = s0
        avg = 0.0
        for k in range(n_steps):
            s = s * math.exp(drift + vol * z[p, k])
            avg += s
        avg /= n_steps
        payoff += max(avg - strike, 0.0)
    return math.exp(-rate * maturity) * payoff / n_paths


def barrier_call(s0, sigma, z, strike, barrier):
    """Monte Carlo up-and-out call: paths whose maximum reaches the barrier pay nothing."""
    n_paths, n_steps = z.shape
    dt = 1.0 / n_steps
    total = 0.0
    for p in range(n_paths):
        path = np.empty(n_steps + 1)
        path[0] = s0
        for k in range(n_steps):
            path[k + 1] = path[k] * np.exp(-0.5 * sigma * sigma * dt + sigma * np.sqrt(dt) * z[p, k])
        if np.max(path) < barrier:
            total += np.maximum(path[-1] - strike, 0.0)
    return total / n_paths


def bracket_tax(income, rate_low, rate_high):
    """Tax owed on one income under a three-bracket schedule (early returns in if/elif/else)."""
    if income <= 10000.0:
        return 0.0
    elif income <= 40000.0:
        return rate_low * (income - 10000.0)
    else:
        return rate_low * 30000.0 + rate_high * (income - 40000.0)


def total_tax(incomes, rate_low, rate_high):
    """Total tax of a population of incomes, one helper call each."""
    total = 0.0
    for i in range(len(incomes)):
        total += bracket_tax(incomes[i], rate_low, rate_high)
    return total


# root finding and iterations


def newton_sqrt(a, tol=1e-12):
    """Square root by Newton's method with a while loop and a relative tolerance."""
    x = a if a > 1.0 else 1.0
    while abs(x * x - a) > tol * a:
        x = 0.5 * (x + a / x)
    return x


def kepler_eccentric_anomaly(mean_anomaly, ecc):
    """Solve Kepler's equation E - e sin E = M by Newton iteration with break."""
    E = mean_anomaly if ecc < 0.8 else math.pi
    for it in range(50):
        f = E - ecc * math.sin(E) - mean_anomaly
        if abs(f) < 1e-13:
            break
        E = E - f / (1.0 - ecc * math.cos(E))
    return E


def power_iteration(A, v0, tol):
    """Dominant eigenvalue of a symmetric matrix by power iteration (while with two conditions)."""
    v = v0 / np.sqrt(np.dot(v0, v0))
    lam = 0.0
    delta = 1.0
    it = 0
    while delta > tol and it < 500:
        w = A @ v
        new_lam = np.dot(v, w)
        v = w / np.sqrt(np.dot(w, w))
        delta = abs(new_lam - lam)
        lam = new_lam
        it += 1
    return lam


def horner(coeffs, x):
    """Polynomial (highest-degree coefficient first) evaluated by Horner's rule."""
    result = 0.0
    for i in range(len(coeffs)):
        result = result * x + coeffs[i]
    return result


def horner_ascending(coeffs, x):
    """Horner's rule on ascending coefficients, looping backwards with a negative step."""
    n = len(coeffs)
    acc = coeffs[n - 1]
    for i in range(n - 2, -1, -1):
        acc = acc * x + coeffs[i]
    return acc


def horner_with_derivative(coeffs, x):
    """Value and slope of a polynomial by the two-row Horner scheme (multiple return values)."""
    p = coeffs[0]
    dp = 0.0
    for i in range(1, len(coeffs)):
        dp = dp * x + p
        p = p * x + coeffs[i]
    return p, dp


def rosenbrock(x):
    """Extended Rosenbrock valley summed over consecutive coordinate pairs."""
    total = 0.0
    for i in range(len(x) - 1):
        total += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return total


def back_substitution(U, b):
    """Solution of an upper-triangular system by back substitution (reversed nested loops)."""
    n = len(b)
    x = np.zeros(n)
    for i in range(n - 1, -1, -1):
        s = b[i]
        for j in range(i + 1, n):
            s -= U[i, j] * x[j]
        x[i] = s / U[i, i]
    return x


# elementary functions


def trig_kinematics(x, y):
    """Inverse kinematics of a two-link planar arm reaching (x, y), with math trig functions."""
    l1, l2 = 1.0, 0.8
    d = (x * x + y * y - l1 * l1 - l2 * l2) / (2 * l1 * l2)
    elbow = math.acos(d)
    shoulder = math.atan2(y, x) - math.atan(l2 * math.sin(elbow) / (l1 + l2 * math.cos(elbow)))
    tip_slope = math.tan(shoulder + elbow)
    elevation = math.asin(y / math.hypot(x, y))
    return shoulder, elbow, tip_slope, elevation


def hyperbolic_profiles(x, a):
    """Catenary height and arc length, tanh boundary layer and expm1 relative growth."""
    cat = a * math.cosh(x / a) - a
    layer = math.tanh(x / a)
    arc = a * math.sinh(x / a)
    growth = math.expm1(0.1 * x) / (0.1 * x)
    return cat + layer + arc + growth + math.exp(-x)


def log_scales(x, y):
    """Decibels, bits and nepers of positive quantities, plus pow, sqrt, hypot and fabs."""
    db = 10.0 * math.log10(x / y)
    bits = math.log2(x)
    nep = math.log(x) - math.log1p(y)
    rms = math.sqrt(0.5 * (x * x + y * y))
    p = math.pow(x, 1.5) + pow(y, 0.5) + x ** y
    return db + bits + nep + rms + p + math.hypot(x, y) + math.fabs(x - 3.0 * y)


def sawtooth_wave(t, period, amplitude):
    """Sawtooth plus triangle wave built from floor, ceil, // and %."""
    phase = t / period - math.floor(t / period)
    cycles = math.ceil(t / period)
    tri = abs((t % period) / period - 0.5)
    k = t // period
    return amplitude * (phase + tri) + 0.1 * cycles + 0.01 * k


def numpy_elementwise_mix(x, y):
    """Elementwise NumPy toolbox: arctan2, power, square, abs, maximum, minimum, clip, where, sign."""
    ang = np.arctan2(y, x)
    mag = np.power(np.square(x) + np.square(y), 0.5)
    lim = np.clip(x, -0.5, 0.5)
    hi = np.maximum(x, y)
    lo = np.minimum(x, y)
    sel = np.where(x > 0, np.exp(x), np.cos(y))
    s = np.sign(x) * np.abs(y)
    return np.sum(ang + mag + lim + hi - lo + sel + s)


def numpy_transcendentals(x):
    """Vectorised mix of NumPy trig, hyperbolic, exp, log, sqrt, hypot, fabs, floor and ceil."""
    u = np.sin(x) * np.cos(x) + np.tan(0.5 * x)
    v = np.arcsin(0.5 * x) + np.arccos(0.3 * x) + np.arctan(x)
    w = np.sinh(x) - np.cosh(x) + np.tanh(x) + np.expm1(x) + np.exp(-x)
    z = np.log(2.0 + x) + np.log1p(x * x) + np.log10(3.0 + x) + np.log2(4.0 + x)
    r = np.sqrt(1.5 + x) + np.hypot(x, 1.0) + np.fabs(x) + np.floor(3.0 * x) + np.ceil(x)
    return u + v + w + z + r


# reductions, linear algebra, constructors and indexing


def column_statistics(A):
    """Column means, ranges and products, row sums, and whole-array reductions of a data table."""
    mu = np.mean(A, axis=0)
    spread = np.max(A, axis=0) - np.min(A, axis=0)
    geo = np.prod(A, axis=0)
    rows = np.sum(A, axis=1)
    return np.sum(mu * spread) + np.sum(geo) + np.dot(rows, rows)


def whole_array_reductions(A):
    """Whole-array sum, mean, prod, max and min of a table (no axis), also as methods."""
    return np.sum(A) * np.mean(A) + np.prod(A[0]) + np.max(A) - np.min(A) + A.sum() - A.max()


def tensor_reductions(T):
    """Reductions of a rank-3 array along each of its axes."""
    a = np.sum(T, axis=2)
    b = np.max(T, axis=0)
    c = np.min(T, axis=1)
    return np.sum(a * a) + np.sum(b) - np.sum(c * c)


def bilinear_forms(a, b, M):
    """Quadratic and bilinear forms with dot, vdot, @, np.matmul and outer."""
    q = np.dot(a, M @ a)
    c = np.vdot(a, b)
    P = np.outer(a, b)
    T = np.matmul(M, P)
    return q + c * np.sum(T * M.T)


def assemble_state(x, y, vx, vy):
    """Pack scalars into arrays (array, asarray), join them (concatenate, stack), reshape and transpose."""
    pos = np.array([x, y])
    vel = np.asarray([vx, vy])
    both = np.concatenate((pos, vel))
    grid = np.stack((pos, vel))
    flat = np.reshape(grid, (4,))
    gram = grid.T @ grid
    return np.sum(both * flat) + np.sum(gram)


def trapezoid_integral(a, b, k, n):
    """Trapezoidal rule for the integral of exp(-k t^2) over [a, b] on np.linspace nodes."""
    t = np.linspace(a, b, n)
    f = np.exp(-k * t * t)
    h = (b - a) / (n - 1)
    return h * (np.sum(f) - 0.5 * (f[0] + f[-1]))


def simpson_integral(k, n):
    """Composite Simpson's rule for 1 / (1 + k x^2) on [0, 1] with strided ranges and np.arange."""
    h = 1.0 / n
    x = np.arange(n + 1) * h
    f = np.ones(n + 1) / (1.0 + k * x * x)
    total = f[0] + f[n]
    for i in range(1, n, 2):
        total += 4.0 * f[i]
    for i in range(2, n - 1, 2):
        total += 2.0 * f[i]
    return total * h / 3.0


def coarse_grain(field, weight):
    """Coarsen a 1-D field into 2-cell blocks (reshape, sum over axis) with np.full weights."""
    n = field.shape[0]
    blocks = field.reshape((n // 2, 2))
    coarse = 0.5 * np.sum(blocks, axis=1)
    w = np.full(n // 2, weight)
    base = np.ones_like(coarse)
    return np.sum(w * coarse * coarse) + np.sum(base * coarse)


def strided_views(x):
    """Even/odd split, reversal and negative indexing of a sampled signal, with a slice write."""
    even = x[::2]
    odd = x[1::2]
    rev = x[::-1]
    tail = x[-3:]
    y = np.zeros_like(x)
    y[2:5] = tail
    y[-1] = x[0] * x[-2]
    return np.sum(even * even) - np.sum(odd) + np.dot(rev, x) + np.sum(y * x) + x[-1]


def moving_average(x, w):
    """Trailing moving average over windows of width w, subsampled every third output."""
    n = len(x)
    out = np.empty(n - w + 1)
    for i in range(n - w + 1):
        out[i] = np.mean(x[i:i + w])
    return out[::3]


def matrix_rows_cols(A, v):
    """Row scaling A[i] = ..., a strided 2-D block update and column reads of a matrix."""
    B = A.copy()
    n, m = B.shape
    for i in range(n):
        B[i] = B[i] * v[i]
    B[1:3, ::2] += 1.0
    col = B[:, m - 1]
    return np.sum(B[0, :] ** 2) + np.dot(col, col) + B[-1, -2]


def tensor3_contract(T, v, w):
    """Contraction of a rank-3 tensor with two vectors by explicit triple loops."""
    I, J, K = T.shape
    out = np.zeros(I)
    for i in range(I):
        for j in range(J):
            for k in range(K):
                out[i] += T[i, j, k] * v[j] * w[k]
    return out


def rotate_rodrigues(omega, X):
    """Rotation of a 3-vector by an axis-angle vector (Rodrigues' formula)."""
    theta = np.sqrt(np.dot(omega, omega))
    k = omega / theta
    cross = np.array([k[1] * X[2] - k[2] * X[1], k[2] * X[0] - k[0] * X[2], k[0] * X[1] - k[1] * X[0]])
    c = np.cos(theta)
    s = np.sin(theta)
    return X * c + cross * s + k * np.dot(k, X) * (1.0 - c)


def reprojection_residual(omega, t, focal, k1, X, obs):
    """Bundle-adjustment residual of one 3-D point seen by a pinhole camera with radial distortion."""
    P = rotate_rodrigues(omega, X) + t
    u = -P[0] / P[2]
    v = -P[1] / P[2]
    r2 = u * u + v * v
    d = 1.0 + k1 * r2
    return focal * d * u - obs[0], focal * d * v - obs[1]


# control flow


def first_passage_time(x0, drift, noise, threshold):
    """Interpolated first time a random walk crosses a threshold (return from inside the loop)."""
    x = x0
    for k in range(len(noise)):
        x_new = x + drift + noise[k]
        if x_new >= threshold:
            return k + (threshold - x) / (x_new - x)
        x = x_new
    return float(len(noise))


def positive_part_energy(x, cutoff):
    """Mean squared excess above a cutoff, skipping low samples (continue) up to a sentinel (break)."""
    total = 0.0
    count = 0
    for i in range(len(x)):
        if x[i] < cutoff:
            continue
        if x[i] > 5.0:
            break
        total += (x[i] - cutoff) ** 2
        count += 1
    return total / max(count, 1)


def band_penalty(x, lo, hi, soft):
    """Penalty for samples outside a band [lo, hi]: chained comparison, and/or/not, nested branches."""
    pen = 0.0
    for i in range(len(x)):
        xi = x[i]
        if lo < xi < hi:
            continue
        below = xi <= lo
        if below and not soft:
            pen += 10.0 * (lo - xi) ** 2
        elif below or xi == lo:
            pen += (lo - xi) ** 2
        else:
            pen += (xi - hi) ** 2 if soft or xi < 2 * hi else 10.0 * (xi - hi) ** 2
    return pen


# found by the corpus: functions that exercise known s2s bugs (kept as written)


def saturation_vapor_pressure(temp_c):
    """Saturation vapour pressure over water in hPa (Magnus-Tetens formula)."""
    return 6.112 * math.exp(17.67 * temp_c / (temp_c + 243.5))


def relative_humidity(temp_c, dew_point_c):
    """Relative humidity in percent from air temperature and dew point, via a long-named helper."""
    return 100.0 * saturation_vapor_pressure(dew_point_c) / saturation_vapor_pressure(temp_c)


def rbf_kernel_energy(X, ell, y):
    """Quadratic form y^T K y of an RBF Gram matrix filled with chained indexing K[i][j]."""
    n = X.shape[0]
    K = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            d2 = np.sum((X[i] - X[j]) ** 2)
            K[i][j] = math.exp(-0.5 * d2 / (ell * ell))
    return y @ K @ y


def upwind_advection(u0, courant, steps):
    """Energy after first-order upwind advection steps written as one overlapping-slice update."""
    u = u0.copy()
    for _ in range(steps):
        u[1:] = (1.0 - courant) * u[1:] + courant * u[:-1]
    return np.sum(u * u)


# -- the table ------------------------------------------------------------------

_Q, _ = np.linalg.qr(_rng.normal(size=(4, 4)))
_SYM = _Q @ np.diag([5.0, 2.0, 1.0, 0.5]) @ _Q.T
_UPPER = np.triu(_rng.uniform(-1.0, 1.0, (5, 5))) + np.diag(_rng.uniform(2.0, 3.0, 5))
_X_MLP = _rng.normal(size=(6, 3))
_X_LOG = _rng.normal(size=(8, 3))
_u_rod = np.sin(np.linspace(0.0, np.pi, 16)) + 0.1 * _vec(16)

CASES: list[Case] = [
    Case(scalar_expression, (2.0,)),
    Case(logistic_map, (3.2, 0.3, 20), argnums=(0, 1)),
    Case(ar1_loglik, (0.6, -0.3, _rng.normal(size=30)), argnums=(0, 1, 2)),
    Case(fibonacci_growth, (1.0, 1.5, 12), argnums=(0, 1)),
    Case(kalman_filter_1d, (_rng.normal(size=20), 0.1, 0.5, 0.0, 1.0), argnums=(0, 1, 2, 3, 4)),
    Case(cumulative_growth, (_vec(12, -0.05, 0.08),)),
    Case(running_sums, (_vec(8),)),
    Case(alternating_series, (0.4, 15)),
    Case(heat_rod_slices, (_u_rod, 0.2, 30), argnums=(0, 1)),
    Case(heat_rod_dirichlet, (_vec(12, 0.0, 1.0), 1.0, 0.2, 0.5, 0.008, 0.1, 25), argnums=(0, 1, 2, 3)),
    Case(laplacian_2d, (_rng.normal(size=(6, 7)), 0.1), argnums=(0, 1)),
    Case(convolve_stencil, (_vec(10), 0.3), argnums=(0, 1)),
    Case(wave_1d, (np.exp(-((np.linspace(-1.0, 1.0, 20) / 0.3) ** 2)), 1.0, 0.05, 0.1, 15), argnums=(0, 1)),
    Case(euler_decay_chain, (0.5, 0.2, 1.0, 0.05, 40), argnums=(0, 1, 2)),
    Case(pendulum_rhs, (0.7, -0.2, 9.81, 1.3), argnums=(0, 1, 2, 3)),
    Case(pendulum_rk4, (1.0, 0.0, 9.81, 1.0, 0.01, 200), argnums=(0, 1, 2, 3)),
    Case(lotka_volterra, ((10.0, 5.0), (1.1, 0.4, 0.1, 0.4), 0.01, 300), argnums=(0, 1)),
    Case(leapfrog_orbit, (np.array([1.0, 0.0]), np.array([0.0, 1.1]), 0.01, 300), argnums=(0, 1)),
    Case(sir_epidemic, (0.3, 0.1, 0.01, 60, 4), argnums=(0, 1, 2)),
    Case(projectile_range, (10.0, 0.7, 0.1), argnums=(0, 1, 2)),
    Case(logsumexp, (_vec(5, -2.0, 2.0),)),
    Case(gmm_loglik, (_rng.normal(size=8), _vec(3), np.array([-1.0, 0.2, 1.5]), _vec(3, -0.5, 0.3)),
         argnums=(0, 1, 2, 3)),
    Case(robust_regression_loglik, (0.3, 1.2, _vec(10), _vec(10), 0.4), argnums=(0, 1, 2, 3, 4)),
    Case(softplus, (1.3,)),
    Case(logistic_regression_loss, (_vec(3), 0.1, _X_LOG, (_vec(8) > 0).astype(float), 0.1), argnums=(0, 1, 4)),
    Case(logistic_loss_vectorized, (_vec(3), _X_LOG, (_vec(8) > 0).astype(float)), argnums=(0, 1)),
    Case(mlp_mse, (_rng.normal(size=(3, 5)), _vec(5), _rng.normal(size=(5, 2)), _vec(2), _X_MLP,
                   _rng.normal(size=(6, 2))), argnums=(0, 1, 2, 3)),
    Case(softmax_cross_entropy, (_rng.normal(size=(5, 4)), np.array([0, 3, 1, 2, 3]))),
    Case(ridge_gradient_descent, (_vec(3), _rng.normal(size=(10, 3)), _rng.normal(size=10), 0.1, 0.05, 20),
         argnums=(0, 1, 2, 3, 4)),
    Case(huber_loss, (np.array([0.3, -1.7, 0.9, 2.4, -0.2, -0.6]), 1.0), argnums=(0, 1)),
    Case(asian_call, (1.0, 0.25, 0.03, 1.0, 1.0, _rng.normal(size=(50, 16))), argnums=(0, 1, 2, 3, 4)),
    Case(barrier_call, (1.0, 0.2, _rng.normal(size=(40, 12)), 1.0, 1.3), argnums=(0, 1, 3, 4)),
    Case(bracket_tax, (25000.0, 0.2, 0.4), argnums=(0, 1, 2)),
    Case(total_tax, (np.array([5000.0, 25000.0, 60000.0, 12000.0, 45000.0]), 0.2, 0.4), argnums=(0, 1, 2)),
    Case(newton_sqrt, (2.5,)),
    Case(kepler_eccentric_anomaly, (1.2, 0.3), argnums=(0, 1)),
    Case(power_iteration, (_SYM, _vec(4), 1e-12), argnums=(0, 1)),
    Case(horner, (_vec(5), 0.7), argnums=(0, 1)),
    Case(horner_ascending, (_vec(5), -0.6), argnums=(0, 1)),
    Case(horner_with_derivative, (_vec(6), 1.3), argnums=(0, 1)),
    Case(rosenbrock, (_vec(6, -1.5, 1.5),)),
    Case(back_substitution, (_UPPER, _vec(5)), argnums=(0, 1)),
    Case(trig_kinematics, (1.2, 0.7), argnums=(0, 1)),
    Case(hyperbolic_profiles, (0.8, 1.5), argnums=(0, 1)),
    Case(log_scales, (2.0, 0.5), argnums=(0, 1)),
    Case(sawtooth_wave, (2.3, 0.7, 1.5), argnums=(0, 1, 2)),
    Case(numpy_elementwise_mix, (np.array([0.3, -0.7, 0.9, -0.2, 0.65, 0.1]),
                                 np.array([-0.4, 0.5, 1.1, -0.8, 0.2, 0.3])), argnums=(0, 1)),
    Case(numpy_transcendentals, (np.array([-0.9, -0.55, -0.1, 0.2, 0.45, 0.8]),)),
    Case(column_statistics, (_vec((4, 3), 0.5, 2.0),), numba=False,
         note="Numba's np.mean/np.max/np.min/np.prod take no axis argument"),
    Case(whole_array_reductions, (_vec((3, 4), 0.5, 1.5),)),
    Case(tensor_reductions, (_rng.normal(size=(3, 4, 2)),), numba=False,
         note="Numba's np.max/np.min take no axis argument"),
    Case(bilinear_forms, (_vec(4), _vec(4), _rng.normal(size=(4, 4))), argnums=(0, 1, 2), numba=False,
         note="Numba does not support np.matmul (it does support the @ operator)"),
    Case(assemble_state, (0.3, -1.2, 0.5, 2.0), argnums=(0, 1, 2, 3)),
    Case(trapezoid_integral, (0.0, 2.0, 0.7, 33), argnums=(0, 1, 2)),
    Case(simpson_integral, (0.8, 20)),
    Case(coarse_grain, (_vec(8), 0.7), argnums=(0, 1)),
    Case(strided_views, (_vec(10),)),
    Case(moving_average, (_vec(12), 4)),
    Case(matrix_rows_cols, (_rng.normal(size=(4, 5)), _vec(4)), argnums=(0, 1),
         note="s2s bug: the row view B[i] read before B[i] = ... is reused by the tangent after the write"),
    Case(tensor3_contract, (_rng.normal(size=(2, 3, 4)), _vec(3), _vec(4)), argnums=(0, 1, 2)),
    Case(rotate_rodrigues, (np.array([0.1, -0.2, 0.3]), np.array([0.3, -0.2, 0.4])), argnums=(0, 1)),
    Case(reprojection_residual, (np.array([0.1, -0.2, 0.3]), np.array([0.1, 0.2, -5.0]), 1.2, 0.05,
                                 np.array([0.3, -0.2, 0.4]), np.array([0.05, 0.02])), argnums=(0, 1, 2, 3, 4)),
    Case(first_passage_time, (0.0, 0.1, 0.3 * _rng.normal(size=50), 1.5), argnums=(0, 1, 2, 3)),
    Case(positive_part_energy, (np.array([0.5, -0.2, 1.3, 0.8, -1.0, 2.0, 6.0, 1.5]), 0.3), argnums=(0, 1)),
    Case(band_penalty, (np.array([0.1, -0.9, 0.7, 1.4, -0.3, -0.6, 0.95]), -0.5, 0.5, False), argnums=(0, 1, 2)),
    Case(relative_humidity, (22.0, 13.5), argnums=(0, 1),
         note="s2s bug: a helper name of 24+ characters collides with a truncated temporary"),
    Case(rbf_kernel_energy, (_rng.normal(size=(5, 2)), 0.8, _vec(5)), argnums=(0, 1, 2),
         note="s2s bug: a chained-index write K[i][j] = ... drops the tangent"),
    Case(upwind_advection, (np.exp(-((np.linspace(0.0, 1.0, 24) - 0.3) / 0.1) ** 2), 0.4, 10), argnums=(0, 1),
         note="s2s bug: overlapping slice views read before u[1:] = ... are reused after the write"),
]


def batch_args(case, size=3):
    """``size`` examples of the case's arguments stacked for ``vmap``, and the ``in_axes`` that map them.

    The differentiated arguments are mapped (each example scaled a little, so the examples differ);
    the others (integers, flags, fixed data) are passed whole.
    """
    def stacked(value):
        if isinstance(value, tuple):
            return tuple(stacked(v) for v in value)
        return np.stack([value * (1.0 + 0.01 * k) for k in range(size)])

    args = tuple(stacked(a) if i in case.argnums else a for i, a in enumerate(case.args))
    return args, tuple(0 if i in case.argnums else None for i in range(len(case.args)))


def example(args, in_axes, b):
    """Example ``b`` of arguments batched by ``batch_args``."""
    def pick(value, axis):
        if axis is None:
            return value
        return tuple(pick(v, axis) for v in value) if isinstance(value, tuple) else value[b]

    return tuple(pick(a, axis) for a, axis in zip(args, in_axes))
