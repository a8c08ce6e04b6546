"""Workloads for the benchmarks in ``tools/`` (forward, reverse, batching), written the way scientists write loops.

They live in their own module because s2s reads a function's source from its file.
"""

import math

import numba
import numpy as np


def rk4_predator_prey(x0, y0, z0, a, b, c, d, dt, steps):
    """Three-species food chain integrated with classical RK4 (a ~50-line source-generation workload).

    Each step evaluates the right-hand side four times in an inner loop over the
    stages, clamps populations that would go negative, and accumulates a running
    cost; the step size shrinks when the state moves fast.
    """
    x, y, z = x0, y0, z0
    t = 0.0
    cost = 0.0
    h = dt
    for step in range(steps):
        kx, ky, kz = 0.0, 0.0, 0.0
        sx, sy, sz = 0.0, 0.0, 0.0
        for stage in range(4):
            if stage == 0:
                w, frac = 1.0, 0.0
            elif stage == 3:
                w, frac = 1.0, 1.0
            else:
                w, frac = 2.0, 0.5
            px = x + frac * h * kx
            py = y + frac * h * ky
            pz = z + frac * h * kz
            uptake = b * px * py / (1.0 + px)
            predation = d * py * pz / (1.0 + py)
            kx = a * px * (1.0 - px) - uptake
            ky = uptake - c * py - predation
            kz = predation - 0.5 * c * pz * math.exp(-0.1 * t)
            sx += w * kx
            sy += w * ky
            sz += w * kz
        x = x + h / 6.0 * sx
        y = y + h / 6.0 * sy
        z = z + h / 6.0 * sz
        if x < 0.0:
            x = 0.0
        if y < 0.0:
            y = 0.0
        if z < 0.0:
            z = 0.0
        speed = abs(sx) + abs(sy) + abs(sz)
        if speed > 60.0:
            h = 0.5 * dt
        else:
            h = dt
        t = t + h
        cost += h * (x - 0.8) ** 2 + h * 0.1 * y * y + h * 0.01 * math.sqrt(z * z + 1e-12)
    return cost + x * y * z


def logistic_average(x0, r, steps):
    """Scalar recurrence: the time average of the logistic map ``x <- r x (1 - x)``."""
    x = x0
    total = 0.0
    for _ in range(steps):
        x = r * x * (1.0 - x)
        total += x
    return total / steps


def heat_stencil(u0, alpha, source, steps):
    """1-D explicit heat equation with a nonlinear source, fixed ends, in-place buffer writes."""
    n = u0.shape[0]
    u = u0.copy()
    new = u0.copy()
    for _ in range(steps):
        for i in range(1, n - 1):
            new[i] = u[i] + alpha * (u[i - 1] - 2.0 * u[i] + u[i + 1]) + source * u[i] * (1.0 - u[i])
        for i in range(1, n - 1):
            u[i] = new[i]
    return np.sum(u * u) / n


# -- hand-written forward derivatives (references for the benchmark; s2s does not read these) --


def logistic_average_jvp_by_hand(x0, r, steps, x0_dot, r_dot):
    """Tangent of ``logistic_average`` as one would write it: ``d(r x (1-x)) = dr x(1-x) + r (1-2x) dx``."""
    x = x0
    x_dot = x0_dot
    total = 0.0
    total_dot = 0.0
    for _ in range(steps):
        x_dot = r_dot * x * (1.0 - x) + r * (1.0 - 2.0 * x) * x_dot
        x = r * x * (1.0 - x)
        total += x
        total_dot += x_dot
    return total / steps, total_dot / steps


def heat_stencil_jvp_by_hand(u0, alpha, source, steps, u0_dot, alpha_dot, source_dot):
    """Tangent of ``heat_stencil``, written by hand in the same loop."""
    n = u0.shape[0]
    u = u0.copy()
    new = u0.copy()
    u_dot = u0_dot.copy()
    new_dot = u0_dot.copy()
    for _ in range(steps):
        for i in range(1, n - 1):
            lap = u[i - 1] - 2.0 * u[i] + u[i + 1]
            lap_dot = u_dot[i - 1] - 2.0 * u_dot[i] + u_dot[i + 1]
            react = u[i] * (1.0 - u[i])
            new[i] = u[i] + alpha * lap + source * react
            new_dot[i] = (u_dot[i] + alpha_dot * lap + alpha * lap_dot + source_dot * react
                          + source * (1.0 - 2.0 * u[i]) * u_dot[i])
        for i in range(1, n - 1):
            u[i] = new[i]
            u_dot[i] = new_dot[i]
    return np.sum(u * u) / n, 2.0 * np.sum(u * u_dot) / n


# -- reverse-mode workloads (tools/bench_reverse.py) --


def asian_call(s0, sigma, rate, strike, maturity, z):
    """Arithmetic-average Asian call priced by Monte Carlo over pre-drawn normals ``z[path, step]``.

    Geometric Brownian motion stepped exactly; each path's payoff depends on its whole history
    (the running average), and is discounted at the end.
    """
    n_paths, n_steps = z.shape
    dt = maturity / n_steps
    drift = (rate - 0.5 * sigma * sigma) * dt
    vol = sigma * math.sqrt(dt)
    total = 0.0
    for p in range(n_paths):
        s = s0
        running = 0.0
        for k in range(n_steps):
            s = s * math.exp(drift + vol * z[p, k])
            running += s
        average = running / n_steps
        if average > strike:
            total += average - strike
    return math.exp(-rate * maturity) * total / n_paths


def mixture_loglik(logits, means, log_sigmas, x):
    """Log-likelihood of 1-D data ``x`` under a Gaussian mixture, with a hand-written logsumexp.

    The weights are ``softmax(logits)`` and the scales ``exp(log_sigmas)``, so every parameter
    is unconstrained.
    """
    k = logits.shape[0]
    top = logits[0]
    for j in range(1, k):
        if logits[j] > top:
            top = logits[j]
    norm = 0.0
    for j in range(k):
        norm += math.exp(logits[j] - top)
    log_norm = top + math.log(norm)
    half_log_2pi = 0.5 * math.log(2.0 * math.pi)
    terms = np.empty(k)
    total = 0.0
    for i in range(x.shape[0]):
        best = -math.inf
        for j in range(k):
            z = (x[i] - means[j]) / math.exp(log_sigmas[j])
            terms[j] = logits[j] - log_norm - log_sigmas[j] - half_log_2pi - 0.5 * z * z
            best = max(best, terms[j])
        acc = 0.0
        for j in range(k):
            acc += math.exp(terms[j] - best)
        total += best + math.log(acc)
    return total


# -- hand-written gradients (references for tools/bench_reverse.py; s2s does not read these) --


def logistic_average_grad_by_hand(x0, r, steps):
    """Gradient of ``logistic_average`` w.r.t. ``(x0, r)`` in reverse mode: store the orbit, sweep back."""
    xs = np.empty(steps)
    x = x0
    for k in range(steps):
        xs[k] = x
        x = r * x * (1.0 - x)
    total_bar = 1.0 / steps
    x_bar = 0.0
    r_bar = 0.0
    for k in range(steps - 1, -1, -1):
        x_bar += total_bar
        x = xs[k]
        r_bar += x * (1.0 - x) * x_bar
        x_bar = r * (1.0 - 2.0 * x) * x_bar
    return x_bar, r_bar


def heat_stencil_grad_by_hand(u0, alpha, source, steps):
    """Gradient of ``heat_stencil`` w.r.t. ``(u0, alpha)``: every state kept in one array, then swept back."""
    n = u0.shape[0]
    states = np.empty((steps + 1, n))
    states[0] = u0
    for t in range(steps):
        u = states[t]
        new = states[t + 1]
        new[0] = u[0]
        new[n - 1] = u[n - 1]
        for i in range(1, n - 1):
            new[i] = u[i] + alpha * (u[i - 1] - 2.0 * u[i] + u[i + 1]) + source * u[i] * (1.0 - u[i])
    u_bar = 2.0 * states[steps] / n
    new_bar = np.zeros(n)
    alpha_bar = 0.0
    for t in range(steps - 1, -1, -1):
        u = states[t]
        for i in range(1, n - 1):
            new_bar[i] = u_bar[i]
        u_bar[0] += alpha * new_bar[1]
        u_bar[n - 1] += alpha * new_bar[n - 2]
        for i in range(1, n - 1):
            alpha_bar += new_bar[i] * (u[i - 1] - 2.0 * u[i] + u[i + 1])
            u_bar[i] = (new_bar[i] * (1.0 - 2.0 * alpha + source * (1.0 - 2.0 * u[i]))
                        + alpha * (new_bar[i - 1] + new_bar[i + 1]))
    return u_bar, alpha_bar


def asian_call_grad_by_hand(s0, sigma, rate, strike, maturity, z):
    """Gradient of ``asian_call`` w.r.t. ``(s0, sigma, rate)``: a reverse sweep per path over its own short tape."""
    n_paths, n_steps = z.shape
    dt = maturity / n_steps
    drift = (rate - 0.5 * sigma * sigma) * dt
    vol = sigma * math.sqrt(dt)
    growth = np.empty(n_steps)
    total = 0.0
    s0_bar = 0.0
    drift_bar = 0.0
    vol_bar = 0.0
    for p in range(n_paths):
        s = s0
        running = 0.0
        for k in range(n_steps):
            growth[k] = math.exp(drift + vol * z[p, k])
            s = s * growth[k]
            running += s
        average = running / n_steps
        if average > strike:
            total += average - strike
            # d payoff / d s_k = 1 / n_steps for every k; s_k = s_{k-1} growth_k
            s_bar = 0.0
            for k in range(n_steps - 1, -1, -1):
                s_bar += 1.0 / n_steps
                drift_bar += s_bar * s  # s is s_k here: d s_k / d (drift + vol z_k) = s_k
                vol_bar += s_bar * s * z[p, k]
                s = s / growth[k]
                s_bar *= growth[k]
            s0_bar += s_bar
    discount = math.exp(-rate * maturity)
    scale = discount / n_paths
    value = scale * total
    sigma_bar = scale * (-sigma * dt * drift_bar + math.sqrt(dt) * vol_bar)
    rate_bar = scale * dt * drift_bar - maturity * value
    return scale * s0_bar, sigma_bar, rate_bar


def mixture_loglik_grad_by_hand(logits, means, log_sigmas, x):
    """Gradient of ``mixture_loglik`` in one pass over the data, through the responsibilities."""
    k = logits.shape[0]
    top = np.max(logits)
    weights = np.exp(logits - top)
    weights /= np.sum(weights)
    log_weights = np.log(weights)
    sigmas = np.exp(log_sigmas)
    half_log_2pi = 0.5 * math.log(2.0 * math.pi)
    terms = np.empty(k)
    zs = np.empty(k)
    resp_total = np.zeros(k)
    means_bar = np.zeros(k)
    log_sigmas_bar = np.zeros(k)
    for i in range(x.shape[0]):
        best = -math.inf
        for j in range(k):
            zs[j] = (x[i] - means[j]) / sigmas[j]
            terms[j] = log_weights[j] - log_sigmas[j] - half_log_2pi - 0.5 * zs[j] * zs[j]
            if terms[j] > best:
                best = terms[j]
        acc = 0.0
        for j in range(k):
            terms[j] = math.exp(terms[j] - best)
            acc += terms[j]
        for j in range(k):
            resp = terms[j] / acc
            resp_total[j] += resp
            means_bar[j] += resp * zs[j] / sigmas[j]
            log_sigmas_bar[j] += resp * (zs[j] * zs[j] - 1.0)
    logits_bar = resp_total - x.shape[0] * weights
    return logits_bar, means_bar, log_sigmas_bar


# -- batching: bundle adjustment -----------------------------------------------------------


def reprojection(camera, point, observed):
    """Reprojection residual of one observation (Snavely's model, as in Ceres' bundle adjustment example).

    ``camera``: angle-axis rotation (3), translation (3), focal length, two radial distortion
    coefficients; ``point``: a 3-D point; ``observed``: its measured image position (2).
    """
    w0, w1, w2 = camera[0], camera[1], camera[2]
    theta = math.sqrt(w0 * w0 + w1 * w1 + w2 * w2)
    c, s = math.cos(theta), math.sin(theta)
    k0, k1, k2 = w0 / theta, w1 / theta, w2 / theta
    x, y, z = point[0], point[1], point[2]
    kdotp = k0 * x + k1 * y + k2 * z
    px = x * c + (k1 * z - k2 * y) * s + k0 * kdotp * (1.0 - c) + camera[3]
    py = y * c + (k2 * x - k0 * z) * s + k1 * kdotp * (1.0 - c) + camera[4]
    pz = z * c + (k0 * y - k1 * x) * s + k2 * kdotp * (1.0 - c) + camera[5]
    u, v = -px / pz, -py / pz
    r2 = u * u + v * v
    distortion = 1.0 + r2 * (camera[7] + camera[8] * r2)
    return np.array([camera[6] * distortion * u - observed[0], camera[6] * distortion * v - observed[1]])


def reprojection_loop(reproject, cameras, points, observed):
    """All residuals, by a loop over the observations calling ``reproject`` (compiled with ``numba.njit``)."""
    out = np.empty((cameras.shape[0], 2))
    for i in range(cameras.shape[0]):
        out[i] = reproject(cameras[i], points[i], observed[i])
    return out


def reprojection_prange(reproject, cameras, points, observed):
    """``reprojection_loop`` over all cores (compiled with ``numba.njit(parallel=True)``)."""
    out = np.empty((cameras.shape[0], 2))
    for i in numba.prange(cameras.shape[0]):
        out[i] = reproject(cameras[i], points[i], observed[i])
    return out
