"""Derivative checks shared by the test modules: random tangents, finite differences."""

from __future__ import annotations

import numpy as np


def random_like(value, rng):
    """A random tangent or cotangent shaped and typed like ``value`` (tuples recursively)."""
    if isinstance(value, tuple):
        return tuple(random_like(v, rng) for v in value)
    if isinstance(value, np.ndarray):
        return rng.standard_normal(value.shape).astype(value.dtype)
    return float(rng.standard_normal())


def tangents_for(args, argnums, seed=0):
    rng = np.random.default_rng(seed)
    return tuple(random_like(a, rng) if i in argnums else None for i, a in enumerate(args))


def _axpy(value, scale, tangent):
    if tangent is None:
        return value
    if isinstance(value, tuple):
        return tuple(_axpy(v, scale, t) for v, t in zip(value, tangent))
    return value + scale * tangent


def flat(value) -> np.ndarray:
    """All numbers of a (nested tuple of) scalars and arrays, as one float vector."""
    if isinstance(value, tuple):
        return np.concatenate([flat(v) for v in value]) if value else np.zeros(0)
    return np.ravel(np.asarray(value, dtype=float))


def central_difference(fun, args, tangents, eps=1e-6):
    """(f(x + eps t) - f(x - eps t)) / (2 eps), flattened."""
    up = fun(*[_axpy(a, eps, t) for a, t in zip(args, tangents)])
    down = fun(*[_axpy(a, -eps, t) for a, t in zip(args, tangents)])
    return (flat(up) - flat(down)) / (2 * eps)


def assert_close(actual, expected, rtol, atol=1e-6):
    np.testing.assert_allclose(flat(actual), flat(expected), rtol=rtol, atol=atol)
