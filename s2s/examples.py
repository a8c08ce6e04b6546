"""Example functions for the demo and the documentation: loops as scientists write them."""

import numpy as np


def oscillator(x0, v0, k, c, dt, steps):
    """Position of a damped spring after ``steps`` semi-implicit Euler steps."""
    x, v = x0, v0
    for _ in range(steps):
        a = -k * x - c * v
        v = v + dt * a
        x = x + dt * v
    return x


def heat(u0, alpha, steps):
    """Explicit finite-difference heat equation on a rod with fixed ends."""
    u = u0.copy()
    n = len(u)
    for _ in range(steps):
        new = u.copy()
        for i in range(1, n - 1):
            new[i] = u[i] + alpha * (u[i - 1] - 2 * u[i] + u[i + 1])
        u = new
    return np.sum(u * u)
