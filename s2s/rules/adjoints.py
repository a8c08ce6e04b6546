"""Forward-mode rules for the runtime helpers that adjoint code calls.

Generated backward passes are code like any other: a gradient taken inside a function that is then
differentiated in forward mode (``jvp``, ``jacfwd`` of a function that calls ``s2s.grad``) runs the
JVP pass over them.  Each helper here is linear in its cotangent operands, so its tangent is the
helper applied to their tangents; the operands that only give a shape (``like``, ``a``) carry none.
"""
# ruff: noqa: F821  (templates name tangents ``x_dot``)

import numpy as np

from .. import runtime as rt
from .registry import defjvp, defnondiff


@defjvp(rt.total)
def total(x):
    return rt.total(x_dot)


@defjvp(rt.unbroadcast)
def unbroadcast(value, like):
    return rt.unbroadcast(value_dot, like)


@defjvp(rt.sum_transpose)
def sum_transpose(ct, a, axis=None, keepdims=False):
    return rt.sum_transpose(ct_dot, a, axis, keepdims)


@defjvp(rt.mean_transpose)
def mean_transpose(ct, a, axis=None, keepdims=False):
    return rt.mean_transpose(ct_dot, a, axis, keepdims)


@defjvp(rt.cumsum_transpose)
def cumsum_transpose(ct, a, axis=None):
    return rt.cumsum_transpose(ct_dot, a, axis)


@defjvp(rt.transpose_transpose)
def transpose_transpose(ct, axes=None):
    return rt.transpose_transpose(ct_dot, axes)


@defjvp(rt.dot_left_transpose)
def dot_left_transpose(ct, b):
    return rt.dot_left_transpose(ct_dot, b) + rt.dot_left_transpose(ct, b_dot)


@defjvp(rt.dot_right_transpose)
def dot_right_transpose(a, ct):
    return rt.dot_right_transpose(a_dot, ct) + rt.dot_right_transpose(a, ct_dot)


@defjvp(rt.concatenate_piece)
def concatenate_piece(ct, arrays, index, axis=0):
    return rt.concatenate_piece(ct_dot, arrays, index, axis)


@defjvp(rt.stack_piece)
def stack_piece(ct, index, axis=0):
    return rt.stack_piece(ct_dot, index, axis)


defnondiff(rt.seed, rt.zeros_like, np.zeros_like)
