"""Elementwise functions of ``math`` and NumPy.

Each template is written once with NumPy calls; instantiated for a ``math``
function it calls the ``math`` twins (``math.cos`` for ``math.sin``), so scalar
code stays scalar.
"""
# ruff: noqa: F821  (templates name tangents ``x_dot`` and the result ``ans``)

import math

import numpy as np

from .. import runtime as rt
from . import shapes
from .examples import POSITIVE, UNIT, example
from .registry import add_examples, declare, defjvp, defnondiff, twins


@defjvp(np.sin, math.sin)
def sin(x):
    return np.cos(x) * x_dot


@defjvp(np.cos, math.cos)
def cos(x):
    return -np.sin(x) * x_dot


@defjvp(np.tan, math.tan)
def tan(x):
    return (1 + ans * ans) * x_dot


@defjvp(np.arcsin, math.asin)
def arcsin(x):
    return x_dot / np.sqrt(1 - x * x)


@defjvp(np.arccos, math.acos)
def arccos(x):
    return -x_dot / np.sqrt(1 - x * x)


@defjvp(np.arctan, math.atan)
def arctan(x):
    return x_dot / (1 + x * x)


@defjvp(np.arctan2, math.atan2)
def arctan2(y, x):
    return (x * y_dot - y * x_dot) / (x * x + y * y)


@defjvp(np.sinh, math.sinh)
def sinh(x):
    return np.cosh(x) * x_dot


@defjvp(np.cosh, math.cosh)
def cosh(x):
    return np.sinh(x) * x_dot


@defjvp(np.tanh, math.tanh)
def tanh(x):
    return (1 - ans * ans) * x_dot


@defjvp(np.exp, math.exp)
def exp(x):
    return ans * x_dot


@defjvp(np.exp2)
def exp2(x):
    return ans * 0.6931471805599453 * x_dot


@defjvp(np.expm1, math.expm1)
def expm1(x):
    return (ans + 1) * x_dot


@defjvp(np.log, math.log)
def log(x):
    return x_dot / x


@defjvp(np.log1p, math.log1p)
def log1p(x):
    return x_dot / (1 + x)


@defjvp(np.log10, math.log10)
def log10(x):
    return x_dot / (x * 2.302585092994046)  # log(10): a Python float keeps float32 tangents float32


@defjvp(np.log2, math.log2)
def log2(x):
    return x_dot / (x * 0.6931471805599453)  # log(2): a Python float keeps float32 tangents float32


@defjvp(np.sqrt, math.sqrt)
def sqrt(x):
    return x_dot / (2 * ans)


@defjvp(np.hypot, math.hypot)
def hypot(x, y):
    return (x * x_dot + y * y_dot) / ans


@defjvp(np.logaddexp)
def logaddexp(x, y):
    return x_dot * np.exp(x - ans) + y_dot * np.exp(y - ans)


@defjvp(np.logaddexp2)
def logaddexp2(x, y):
    return x_dot * np.exp2(x - ans) + y_dot * np.exp2(y - ans)


@defjvp(np.sinc)
def sinc(x):
    """(cos(pi x) - sinc(x)) / x, and 0 at 0 (where the numerator is 0 too)."""
    return (np.cos(np.pi * x) - ans) / (x + (x == 0)) * x_dot


@defjvp(np.interp)
def interp(x, xp, fp):
    """Linear in ``fp``; moving the points ``xp`` moves the curve by minus the slope times their interpolated motion."""
    return rt.interp_slope(x, xp, fp) * (x_dot - np.interp(x, xp, xp_dot)) + np.interp(x, xp, fp_dot)


@defjvp(np.square)
def square(x):
    return 2 * x * x_dot


@defjvp(np.clip)
def clip(a, a_min, a_max):
    """Below ``a_min`` the result is ``a_min``, above ``a_max`` (or where ``a_min > a_max``) it is ``a_max``."""
    return (a_dot * ((a >= a_min) & (a <= a_max)) + a_min_dot * ((a < a_min) & (a_min <= a_max))
            + a_max_dot * ((a > a_max) | (a_min > a_max)))


@defjvp(np.where)
def where(condition, x, y):
    return np.where(condition, x_dot, y_dot)


defnondiff(rt.interp_slope)
defnondiff(np.sign, np.heaviside, np.floor, np.ceil, np.trunc, np.rint, np.round, math.floor, math.ceil,
           math.trunc, np.isnan, np.isinf, np.isfinite, math.isnan, math.isinf, math.isfinite,
           np.greater, np.less, np.equal, np.logical_and, np.logical_or, np.logical_not)

declare(np.where, np.clip, np.sinc, family=shapes.ELEMENTWISE)
# Elementwise in ``x`` only: ``vmap`` of a batch of curves ``(xp, fp)`` takes the loop strategy.
declare(np.interp, rt.interp_slope, result=shapes.same)
twins(np.arcsin, math.asin)
twins(np.arccos, math.acos)
twins(np.arctan, math.atan)
twins(np.arctan2, math.atan2)
for _name in ("sin", "cos", "tan", "sinh", "cosh", "tanh", "exp", "expm1", "log", "log1p", "log10", "log2",
              "sqrt", "hypot", "floor", "ceil", "copysign"):
    if hasattr(np, _name):
        twins(getattr(np, _name), getattr(math, _name))

add_examples(np.sin, example("np.sin(x)", x=(2, 3)))
add_examples(np.cos, example("np.cos(x)", x=(3,)))
add_examples(np.tan, example("np.tan(x)", x=(3,), domain=UNIT))
add_examples(np.arcsin, example("np.arcsin(x)", x=(3,), domain=UNIT))
add_examples(np.arccos, example("np.arccos(x)", x=(2, 3), domain=UNIT))
add_examples(np.arctan, example("np.arctan(x)", x=(3,)))
add_examples(np.arctan2, example("np.arctan2(x, y)", x=(3,), y=(2, 3)))
add_examples(np.sinh, example("np.sinh(x)", x=(3,)))
add_examples(np.cosh, example("np.cosh(x)", x=(3,)))
add_examples(np.tanh, example("np.tanh(x)", x=(2, 3)))
add_examples(np.exp, example("np.exp(x)", x=(2, 3)))
add_examples(np.expm1, example("np.expm1(x)", x=(3,)))
add_examples(np.log, example("np.log(x)", x=(2, 3), domain=POSITIVE))
add_examples(np.log1p, example("np.log1p(x)", x=(3,), domain=POSITIVE))
add_examples(np.log10, example("np.log10(x)", x=(3,), domain=POSITIVE))
add_examples(np.log2, example("np.log2(x)", x=(3,), domain=POSITIVE))
add_examples(np.sqrt, example("np.sqrt(x)", x=(2, 3), domain=POSITIVE))
add_examples(np.hypot, example("np.hypot(x, y)", x=(2, 3), y=(3,)))
add_examples(np.square, example("np.square(x)", x=(3,)))
add_examples(np.clip, example("np.clip(x, -0.5, 0.5)", x=(2, 3), second_order=False),
             example("np.clip(x, y, z)", x=(3,), y=(3,), z=(3,), second_order=False))
add_examples(np.where, example("np.where(x > 0, x, y)", x=(3,), y=(2, 3), second_order=False),
             example("np.where(x > 0, np.sin(y), 0.0)", x=(2, 3), y=(2, 3)))
add_examples(math.sin, example("math.sin(x)", x=()))
add_examples(math.cos, example("math.cos(x)", x=()))
add_examples(math.tan, example("math.tan(x)", x=(), domain=UNIT))
add_examples(math.asin, example("math.asin(x)", x=(), domain=UNIT))
add_examples(math.acos, example("math.acos(x)", x=(), domain=UNIT))
add_examples(math.atan, example("math.atan(x)", x=()))
add_examples(math.atan2, example("math.atan2(x, y)", x=(), y=()))
add_examples(math.sinh, example("math.sinh(x)", x=()))
add_examples(math.cosh, example("math.cosh(x)", x=()))
add_examples(math.tanh, example("math.tanh(x)", x=()))
add_examples(math.exp, example("math.exp(x)", x=()))
add_examples(math.expm1, example("math.expm1(x)", x=()))
add_examples(math.log, example("math.log(x)", x=(), domain=POSITIVE))
add_examples(math.log1p, example("math.log1p(x)", x=(), domain=POSITIVE))
add_examples(math.log10, example("math.log10(x)", x=(), domain=POSITIVE))
add_examples(math.log2, example("math.log2(x)", x=(), domain=POSITIVE))
add_examples(math.sqrt, example("math.sqrt(x)", x=(), domain=POSITIVE))
add_examples(math.hypot, example("math.hypot(x, y)", x=(), y=()))
add_examples(math.erf, example("math.erf(x)", x=()))
add_examples(math.erfc, example("math.erfc(x)", x=()))
add_examples(np.exp2, example("np.exp2(x)", x=(3,)))
add_examples(np.logaddexp, example("np.logaddexp(x, y)", x=(3,), y=(2, 3)))
add_examples(np.logaddexp2, example("np.logaddexp2(x, y)", x=(2, 3), y=()))
add_examples(np.sinc, example("np.sinc(x)", x=(4,)))
add_examples(np.interp, example("np.interp(x, np.array([-2.0, 0.0, 0.5, 2.0]), y)", x=(5,), y=(4,),
                                second_order=False))
