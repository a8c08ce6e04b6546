"""Python's operators and numeric builtins."""
# ruff: noqa: F821  (templates name tangents ``x_dot`` and the result ``ans``)

import math
import operator

import numpy as np

from .registry import defjvp, defnondiff


@defjvp(operator.add)
def add(x, y):
    return x_dot + y_dot


@defjvp(operator.sub)
def sub(x, y):
    return x_dot - y_dot


@defjvp(operator.mul)
def mul(x, y):
    return x_dot * y + x * y_dot


@defjvp(operator.truediv)
def truediv(x, y):
    return x_dot / y - ans * y_dot / y


@defjvp(operator.matmul, np.matmul)
def matmul(x, y):
    return x_dot @ y + x @ y_dot


@defjvp(operator.neg, np.negative)
def neg(x):
    return -x_dot


@defjvp(operator.pos, np.positive)
def pos(x):
    return x_dot


@defjvp(operator.pow, pow, math.pow, np.power)
def power(x, y):
    return y * x ** (y - 1) * x_dot + np.log(x) * ans * y_dot


@defjvp(operator.mod, np.mod, np.remainder)
def mod(x, y):
    return x_dot - np.floor(x / y) * y_dot


@defjvp(abs, np.abs, np.fabs, math.fabs)
def absolute(x):
    return np.sign(x) * x_dot


@defjvp(max, np.maximum, np.fmax)
def maximum(x, y):
    return x_dot * (x >= y) + y_dot * (x < y)


@defjvp(min, np.minimum, np.fmin)
def minimum(x, y):
    return x_dot * (x <= y) + y_dot * (x > y)


@defjvp(float)
def to_float(x):
    return float(x_dot)


@defjvp(np.float64)
def to_float64(x):
    return np.float64(x_dot)


@defjvp(np.float32)
def to_float32(x):
    return np.float32(x_dot)


defnondiff(operator.floordiv, operator.not_, operator.lt, operator.and_, operator.or_, getattr,
           int, bool, round, len, range, isinstance, print, np.floor_divide)
