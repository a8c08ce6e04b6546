"""How cotangents flow back through the primitives that are linear in some operands.

Every primitive a JVP program applies to tangents is linear in them, so
transposing a linear program needs only these rules (see ``TransposeTemplate``).
"""
# ruff: noqa: F821  (templates name the cotangent ``ct`` and a tuple element's position ``index``)
#
# A tuple of tangents (the operand of ``np.array``, ``np.concatenate``, ...) gets
# ``ct[i]`` for its element ``i``, unless the entry names ``index``.

import operator

import numpy as np

from .. import runtime as rt
from .registry import deftranspose


@deftranspose(operator.add, elementwise=True)
def add(x, y):
    return ct, ct


@deftranspose(operator.sub, elementwise=True)
def sub(x, y):
    return ct, -ct


@deftranspose(operator.neg, np.negative, elementwise=True)
def neg(x):
    return -ct


@deftranspose(operator.pos, np.positive, float, np.float64, np.float32, elementwise=True)
def pos(x):
    return ct


@deftranspose(operator.mul, elementwise=True)
def mul(x, y):
    return ct * y, x * ct


@deftranspose(operator.truediv, elementwise=True)
def truediv(x, y):
    return ct / y, None


@deftranspose(np.where, elementwise=True)
def where(condition, x, y):
    return None, np.where(condition, ct, 0.0), np.where(condition, 0.0, ct)


@deftranspose(np.interp)
def interp(x, xp, fp):
    return None, None, rt.interp_transpose(ct, x, xp, fp)


@deftranspose(np.dot)
def dot(a, b):
    return rt.dot_left_transpose(ct, b), rt.dot_right_transpose(a, ct)


@deftranspose(operator.matmul, np.matmul)
def matmul(a, b):
    return rt.matmul_left_transpose(ct, b, a), rt.matmul_right_transpose(a, ct, b)


@deftranspose(np.vdot)
def vdot(a, b):
    return ct * b, a * ct


@deftranspose(np.outer)
def outer(a, b):
    return np.dot(ct, b), np.dot(a, ct)


@deftranspose(np.sum)
def sum_(a, axis=None, dtype=None, out=None, keepdims=None):
    return rt.sum_transpose(ct, a, axis, keepdims), None, None, None, None


@deftranspose(np.mean)
def mean(a, axis=None, dtype=None, out=None, keepdims=None):
    return rt.mean_transpose(ct, a, axis, keepdims), None, None, None, None


@deftranspose(rt.centered)
def centered(a, axis=None):
    """Centering is an orthogonal projection: its own transpose."""
    return rt.centered(ct, axis), None


@deftranspose(rt.group_sum)
def group_sum(v, axis=None):
    return rt.group_sum(ct, axis), None


@deftranspose(rt.weighted_sum)
def weighted_sum(w, v, axis=None, keepdims=None):
    return rt.expand(ct, v, axis, keepdims) * v, rt.expand(ct, w, axis, keepdims) * w, None, None


@deftranspose(np.cumsum)
def cumsum(a, axis=None):
    return rt.cumsum_transpose(ct, a, axis)


@deftranspose(np.reshape, np.ravel, np.squeeze, np.expand_dims)
def reshape(a, shape=None):
    return rt.reshape_cotangent(ct, np.shape(a)), None


@deftranspose(np.transpose)
def transpose(a, axes=None):
    return rt.transpose_transpose(ct, axes), None


@deftranspose(np.copy, rt.copy, np.array, np.asarray)
def copy(a, dtype=None):
    return ct, None


@deftranspose(np.concatenate)
def concatenate(arrays, axis=0):
    return rt.concatenate_piece(ct, arrays, index, axis), None


@deftranspose(np.stack)
def stack(arrays, axis=0):
    return rt.stack_piece(ct, index, axis), None


@deftranspose(np.full, np.full_like)
def full(shape, fill_value, dtype=None):
    return None, np.sum(ct), None


@deftranspose(np.linspace)
def linspace(start, stop, num=50):
    return np.sum(ct * np.linspace(1.0, 0.0, num)), np.sum(ct * np.linspace(0.0, 1.0, num)), None


@deftranspose(rt.prod_jvp)
def prod_jvp(a, t, axis=None, keepdims=None):
    return None, rt.prod_jvp_transpose(a, ct, axis, keepdims), None, None


@deftranspose(rt.prod_others_jvp)
def prod_others_jvp(a, t, axis=None):
    """Symmetric: its own transpose."""
    return None, rt.prod_others_jvp(a, ct, axis), None


@deftranspose(rt.prod_jvp_transpose)
def prod_jvp_transpose(a, w, axis=None, keepdims=None):
    return None, rt.prod_jvp(a, ct, axis, keepdims), None, None


@deftranspose(rt.expand)
def expand(value, a, axis=None, keepdims=None):
    """Summed over the reduced axes: ``ct`` may come shaped like ``a`` (the expanded value broadcast)."""
    return np.sum(ct, axis=axis, keepdims=keepdims), None, None, None


@deftranspose(rt.extremum_jvp)
def extremum_jvp(a, a_dot, extremum, axis=None, keepdims=None):
    return None, rt.extremum_jvp_transpose(a, ct, extremum, axis, keepdims), None, None, None


# The cumulative products' helpers transpose into one another (``cumprod_hvp`` is symmetric in ``t`` and ``b``).
@deftranspose(rt.cumprod_jvp)
def cumprod_jvp(a, t, axis=None):
    return None, rt.cumprod_jvp_transpose(a, ct, axis), None


@deftranspose(rt.cumprod_jvp_transpose)
def cumprod_jvp_transpose(a, w, axis=None):
    return None, rt.cumprod_jvp(a, ct, axis), None


@deftranspose(rt.cumprod_hvp)
def cumprod_hvp(a, t, b, axis=None):
    return None, rt.cumprod_hvp_transpose(a, ct, b, axis), rt.cumprod_hvp_transpose(a, ct, t, axis), None


@deftranspose(rt.cumprod_hvp_transpose)
def cumprod_hvp_transpose(a, w, b, axis=None):
    return None, rt.cumprod_hvp(a, ct, b, axis), rt.cumprod_hvp_transpose(a, w, ct, axis), None


@deftranspose(rt.moveaxis)
def moveaxis(a, source, destination):
    return rt.moveaxis(ct, destination, source), None, None


@deftranspose(rt.batch_broadcast)
def batch_broadcast(value, size):
    return np.sum(ct, axis=0), None


@deftranspose(rt.unflatten_last, rt.unflatten_first)
def unflatten(jac, like):
    return rt.reshape_cotangent(ct, np.shape(jac)), None
