"""``scipy.special`` functions and their ``math`` twins.

Every one applies elementwise (they are ufuncs).  Under Numba, ``runtime`` supplies
each function that generated code calls (Numba has no ``scipy.special``).
"""
# ruff: noqa: F821  (templates name tangents ``x_dot`` and the result ``ans``)

import math

import numpy as np
import scipy.special

from .. import runtime as rt
from . import shapes
from .examples import POSITIVE, UNIT, example
from .registry import add_examples, declare, defjvp, twins



@defjvp(scipy.special.erf, math.erf)
def erf(x):
    """2 / sqrt(pi) exp(-x^2)."""
    return 1.1283791670955126 * np.exp(-x * x) * x_dot


@defjvp(scipy.special.erfc, math.erfc)
def erfc(x):
    return -1.1283791670955126 * np.exp(-x * x) * x_dot


@defjvp(scipy.special.ndtr)
def ndtr(x):
    """The normal density, 1 / sqrt(2 pi) exp(-x^2 / 2)."""
    return 0.3989422804014327 * np.exp(-0.5 * x * x) * x_dot


@defjvp(scipy.special.log_ndtr)
def log_ndtr(x):
    """The normal density over ``ndtr``, as one exponential: finite far in the left tail."""
    return 0.3989422804014327 * np.exp(-0.5 * x * x - ans) * x_dot


@defjvp(scipy.special.expit)
def expit(x):
    return ans * (1 - ans) * x_dot


@defjvp(scipy.special.logit)
def logit(x):
    return x_dot / (x * (1 - x))


@defjvp(scipy.special.gammaln, math.lgamma)
def gammaln(x):
    return scipy.special.digamma(x) * x_dot


@defjvp(math.gamma)
def gamma(x):
    return ans * scipy.special.digamma(x) * x_dot


@defjvp(scipy.special.digamma)
def digamma(x):
    return rt.trigamma(x) * x_dot


@defjvp(scipy.special.xlogy)
def xlogy(x, y):
    return x_dot * np.log(y) + x * y_dot / y


@defjvp(scipy.special.xlog1py)
def xlog1py(x, y):
    return x_dot * np.log1p(y) + x * y_dot / (1 + y)


_FUNCTIONS = (scipy.special.erf, scipy.special.erfc, scipy.special.ndtr, scipy.special.log_ndtr,
              scipy.special.expit, scipy.special.logit, scipy.special.gammaln, scipy.special.digamma,
              scipy.special.xlogy, scipy.special.xlog1py)
declare(*_FUNCTIONS, family=shapes.ELEMENTWISE, numba="overload: elementwise, from runtime")
declare(rt.trigamma, family=shapes.ELEMENTWISE, numba="overload: elementwise")
twins(scipy.special.erf, math.erf)
twins(scipy.special.erfc, math.erfc)
twins(scipy.special.gammaln, math.lgamma)
twins(scipy.special.gamma, math.gamma)

add_examples(scipy.special.erf, example("scipy.special.erf(x)", x=(3,)), example("math.erf(x)", x=()))
add_examples(scipy.special.erfc, example("scipy.special.erfc(x)", x=(2, 3)), example("math.erfc(x)", x=()))
add_examples(scipy.special.ndtr, example("scipy.special.ndtr(x)", x=(3,)))
add_examples(scipy.special.log_ndtr, example("scipy.special.log_ndtr(x)", x=(3,)),
             example("scipy.special.log_ndtr(x - 40.0)", x=(3,)))
add_examples(scipy.special.expit, example("scipy.special.expit(x)", x=(3,)))
add_examples(scipy.special.logit, example("scipy.special.logit(x * x)", domain=UNIT, x=(3,)))
add_examples(scipy.special.gammaln, example("scipy.special.gammaln(x)", domain=POSITIVE, x=(3,)),
             example("math.lgamma(x)", domain=POSITIVE, x=()))
add_examples(math.gamma, example("math.gamma(x)", domain=POSITIVE, x=()))
add_examples(scipy.special.digamma, example("scipy.special.digamma(x)", domain=POSITIVE, second_order=False,
                                            x=(3,)))
add_examples(scipy.special.xlogy, example("scipy.special.xlogy(x, y)", domain=POSITIVE, x=(3,), y=(2, 3)))
add_examples(scipy.special.xlog1py, example("scipy.special.xlog1py(x, y)", domain=POSITIVE, x=(2, 3), y=(3,)))
add_examples(math.lgamma, example("math.lgamma(x)", x=(), domain=POSITIVE))
