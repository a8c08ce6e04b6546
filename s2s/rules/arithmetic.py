"""Python's operators and numeric builtins."""
# ruff: noqa: F821  (templates name tangents ``x_dot`` and the result ``ans``)

import math
import operator

import numpy as np

from . import shapes
from .registry import declare, defjvp, defnondiff, twins


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


@defjvp(max, np.maximum)
def maximum(x, y):
    """At a tie each operand gets half the derivative, as JAX's."""
    return x_dot * (x > y) + y_dot * (x < y) + (x_dot + y_dot) * (x == y) / 2


@defjvp(min, np.minimum)
def minimum(x, y):
    return x_dot * (x < y) + y_dot * (x > y) + (x_dot + y_dot) * (x == y) / 2


@defjvp(np.fmax)
def fmax(x, y):
    """``x`` where it is larger or ``y`` is NaN, else ``y`` (ties too), as JAX's."""
    return x_dot * ((x > y) | np.isnan(y)) + y_dot * ((x <= y) | np.isnan(x))


@defjvp(np.fmin)
def fmin(x, y):
    return x_dot * ((x < y) | np.isnan(y)) + y_dot * ((x >= y) | np.isnan(x))


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

# Every ufunc applies elementwise, and every ``math`` function to numbers; entries below refine these.
declare(*(f for f in vars(np).values() if isinstance(f, np.ufunc)), family=shapes.ELEMENTWISE)
declare(*(f for f in vars(math).values() if callable(f)), family=shapes.SCALAR)
declare(operator.add, operator.sub, operator.mul, operator.truediv, operator.floordiv, operator.mod,
        operator.pow, operator.neg, operator.pos, operator.not_, operator.lt, operator.and_, operator.or_,
        family=shapes.ELEMENTWISE)
declare(operator.matmul, np.matmul, family=shapes.CONTRACTION, result=shapes.dot)
# Builtins on numbers; abs, min, max and pow apply to arrays too (elementwise, through their NumPy twins).
declare(int, float, bool, round, family=shapes.SCALAR, cheap=True)
declare(abs, max, min, family=shapes.SCALAR, result=shapes.broadcast, cheap=True)
declare(pow, math.pow, family=shapes.SCALAR, result=shapes.broadcast)
declare(len, family=shapes.QUERY, cheap=True)
declare(range, cheap=True)
twins(np.abs, None, abs)
twins(np.fabs, math.fabs)
twins(np.maximum, None, max)
twins(np.minimum, None, min)
twins(np.power, math.pow, pow)
twins(np.float64, None, float)
