"""Helpers that generated code calls, each usable from Python and from Numba.

Generated modules import this module as ``rt``.  Every helper is plain NumPy
in Python; under Numba, ``overload`` gives it a typed implementation, so the
same generated line compiles in nopython mode.
"""

from __future__ import annotations

import numpy as np
from numba import types
from numba.extending import overload, register_jitable


def zeros_like(x):
    """A zero tangent shaped like ``x``: ``0.0`` for a scalar, an array of zeros for an array."""
    if isinstance(x, tuple):
        return tuple(zeros_like(v) for v in x)
    if isinstance(x, np.ndarray):
        return np.zeros_like(x)
    return 0.0


@overload(zeros_like)
def _zeros_like_numba(x):
    if isinstance(x, types.Array):
        return lambda x: np.zeros_like(x)
    if isinstance(x, (types.Float, types.Integer, types.Boolean)):
        return lambda x: 0.0
    return None


@register_jitable
def _prod_without_each(flat):
    """``out[i] = prod(flat[j] for j != i)``, without dividing (exact at zeros)."""
    n = flat.size
    out = np.ones(n, dtype=flat.dtype)
    left = 1.0
    for i in range(n):
        out[i] = left
        left *= flat[i]
    right = 1.0
    for i in range(n - 1, -1, -1):
        out[i] *= right
        right *= flat[i]
    return out


def prod_jvp(a, a_dot, axis=None):
    """Tangent of ``np.prod(a, axis)``: sum over i of ``a_dot[i] * prod(a[j], j != i)``."""
    a = np.asarray(a)
    if axis is None:
        return np.sum(np.ravel(a_dot) * _prod_without_each(np.ravel(a)))
    moved = np.moveaxis(a, axis, -1)
    others = np.apply_along_axis(_prod_without_each, -1, moved)
    return np.sum(np.moveaxis(np.asarray(a_dot), axis, -1) * others, axis=-1)


@overload(prod_jvp)
def _prod_jvp_numba(a, a_dot, axis=None):
    if isinstance(axis, (types.NoneType, types.Omitted)) or axis is None:
        def impl(a, a_dot, axis=None):
            return np.sum(np.ravel(a_dot) * _prod_without_each(np.ravel(a)))
        return impl
    return None


def extremum_jvp(a, a_dot, ans, axis=None):
    """Tangent of ``np.max``/``np.min``: the mean of the tangents where the extremum is attained."""
    a, a_dot = np.asarray(a), np.asarray(a_dot)
    hit = a == (ans if axis is None else np.expand_dims(ans, axis))
    return np.sum(np.where(hit, a_dot, 0.0), axis=axis) / np.sum(hit, axis=axis)


@overload(extremum_jvp)
def _extremum_jvp_numba(a, a_dot, ans, axis=None):
    if isinstance(axis, (types.NoneType, types.Omitted)) or axis is None:
        def impl(a, a_dot, ans, axis=None):
            hit = np.ravel(a) == ans
            return np.sum(np.where(hit, np.ravel(a_dot), 0.0)) / np.sum(hit)
        return impl
    return None
