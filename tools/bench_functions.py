"""Workloads for ``tools/bench_forward.py``, written the way scientists write loops.

They live in their own module because s2s reads a function's source from its file.
"""

import math

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
