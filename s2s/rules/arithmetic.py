"""Python's operators and numeric builtins."""
# ruff: noqa: F821  (templates name tangents ``x_dot`` and the result ``ans``)

import math
import operator

import numpy as np

from . import shapes
from .examples import POSITIVE, example
from .registry import add_examples, declare, defjvp, defnondiff, twins


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
declare(*(f for f in vars(np).values() if isinstance(f, np.ufunc) and f.nout == 1), family=shapes.ELEMENTWISE)
declare(*(f for f in vars(math).values() if callable(f)), family=shapes.SCALAR)
declare(operator.add, operator.sub, operator.mul, operator.truediv, operator.floordiv, operator.mod,
        operator.pow, operator.neg, operator.pos, operator.not_, operator.lt, operator.and_, operator.or_,
        family=shapes.ELEMENTWISE)
declare(operator.matmul, np.matmul, family=shapes.CONTRACTION, result=shapes.dot)
# Builtins on numbers; abs, min, max and pow apply to arrays too (elementwise, through their NumPy twins).
declare(int, float, bool, round, family=shapes.SCALAR, cheap=True)
declare(abs, family=shapes.SCALAR, result=shapes.broadcast, cheap=True, numba="overload: of an array")
declare(max, min, family=shapes.SCALAR, result=shapes.broadcast, cheap=True)
declare(pow, math.pow, family=shapes.SCALAR, result=shapes.broadcast)
declare(len, family=shapes.QUERY, cheap=True)
declare(range, cheap=True)
twins(np.abs, None, abs)
twins(np.fabs, math.fabs)
twins(np.maximum, None, max)
twins(np.minimum, None, min)
twins(np.power, math.pow, pow)
twins(np.float64, None, float)

add_examples(operator.add, example("x + y", x=(3,), y=(2, 3)), example("x + y", x=(), y=()))
add_examples(operator.sub, example("x - y", x=(2, 3), y=(3,)), example("x - y", x=(), y=()))
add_examples(operator.mul, example("x * y", x=(3,), y=(2, 3)), example("x * y", x=(), y=()))
add_examples(operator.truediv, example("x / y", x=(2, 3), y=(3,), domain=POSITIVE), example("x / y", x=(), y=()))
add_examples(operator.matmul, example("x @ y", x=(2, 3), y=(3, 4)), example("x @ y", x=(3,), y=(3, 2)),
             example("x @ y", x=(3,), y=(3,)))
add_examples(np.matmul, example("np.matmul(x, y)", x=(2, 3), y=(3,)))
add_examples(operator.neg, example("-x", x=(2, 3)), example("-x", x=()))
add_examples(np.negative, example("np.negative(x)", x=(3,)))
add_examples(operator.pos, example("+x", x=(3,)))
add_examples(np.positive, example("np.positive(x)", x=(3,)))
add_examples(operator.pow, example("x ** y", x=(3,), y=(2, 3), domain=POSITIVE), example("x ** 3", x=(2, 3)),
             example("x ** y", x=(), y=(), domain=POSITIVE))
add_examples(pow, example("pow(x, y)", x=(), y=(), domain=POSITIVE))
add_examples(math.pow, example("math.pow(x, y)", x=(), y=(), domain=POSITIVE))
add_examples(np.power, example("np.power(x, y)", x=(2, 3), y=(3,), domain=POSITIVE))
add_examples(operator.mod, example("x % 0.7", x=(3,)), example("x % y", x=(), y=(), domain=POSITIVE))
add_examples(np.mod, example("np.mod(x, y)", x=(3,), y=(3,), domain=POSITIVE))
add_examples(np.remainder, example("np.remainder(x, 0.6)", x=(2, 3)))
add_examples(abs, example("abs(x)", x=(3,), second_order=False), example("abs(x)", x=(), second_order=False))
add_examples(np.abs, example("np.abs(x)", x=(2, 3), second_order=False))
add_examples(np.fabs, example("np.fabs(x)", x=(3,), second_order=False))
add_examples(math.fabs, example("math.fabs(x)", x=(), second_order=False))
add_examples(max, example("max(x, y)", x=(), y=(), second_order=False))
add_examples(min, example("min(x, y)", x=(), y=(), second_order=False))
add_examples(np.maximum, example("np.maximum(x, y)", x=(3,), y=(2, 3), second_order=False))
add_examples(np.minimum, example("np.minimum(x, y)", x=(2, 3), y=(3,), second_order=False))
add_examples(np.fmax, example("np.fmax(x, y)", x=(3,), y=(3,), second_order=False))
add_examples(np.fmin, example("np.fmin(x, y)", x=(3,), y=(3,), second_order=False))
add_examples(float, example("float(x) * x", x=()))
add_examples(np.float64, example("np.float64(x) * x", x=()))
add_examples(np.float32, example("np.float32(x)", x=()))
