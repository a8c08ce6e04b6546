"""Derivative checks shared by the test modules: random tangents, finite differences."""

from __future__ import annotations

import numpy as np

from s2s import tree_util


def random_like(value, rng):
    """A random tangent or cotangent shaped and typed like ``value`` (trees leaf by leaf)."""
    def leaf(v):
        if isinstance(v, np.ndarray):
            return rng.standard_normal(v.shape).astype(v.dtype)
        return float(rng.standard_normal())

    return tree_util.tree_map(leaf, value)


def tangents_for(args, argnums, seed=0):
    rng = np.random.default_rng(seed)
    return tuple(random_like(a, rng) if i in argnums else None for i, a in enumerate(args))


def _axpy(value, scale, tangent):
    if tangent is None:
        return value
    return tree_util.tree_map(lambda v, t: v + scale * t, value, tangent)


def flat(value) -> np.ndarray:
    """All numbers of a tree of scalars and arrays, as one float vector."""
    leaves = tree_util.tree_leaves(value)
    return np.concatenate([np.ravel(np.asarray(v, dtype=float)) for v in leaves]) if leaves else np.zeros(0)


def central_difference(fun, args, tangents, eps=1e-6):
    """(f(x + eps t) - f(x - eps t)) / (2 eps), flattened."""
    up = fun(*[_axpy(a, eps, t) for a, t in zip(args, tangents)])
    down = fun(*[_axpy(a, -eps, t) for a, t in zip(args, tangents)])
    return (flat(up) - flat(down)) / (2 * eps)


def assert_close(actual, expected, rtol, atol=1e-6):
    np.testing.assert_allclose(flat(actual), flat(expected), rtol=rtol, atol=atol)
