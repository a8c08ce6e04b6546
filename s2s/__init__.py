"""s2s: source-to-source automatic differentiation for numerical Python.

The transforms follow JAX's API: ``jvp``, ``linearize``, ``linear_transpose``,
``vjp``, ``grad``, ``value_and_grad``, ``vmap``, ``jacfwd``, ``jacrev``,
``hessian``, ``jit`` and ``vectorize``, with ``stop_gradient``, ``eval_shape``, ``source`` to read the code any transform
generates and ``defjvp`` to give a function a derivative rule of your own.
"""

from . import errors
from .api import (grad, hessian, jacfwd, jacrev, jit, jvp, linear_transpose, linearize, source, value_and_grad,
                  vjp, vmap)
from .rules.registry import defjvp
from .runtime import stop_gradient
from .shape_eval import ShapeDtypeStruct, eval_shape
from .vectorize import vectorize

__all__ = ["ShapeDtypeStruct", "defjvp", "errors", "eval_shape", "grad", "hessian", "jacfwd", "jacrev", "jit", "jvp",
           "linear_transpose", "linearize", "source", "stop_gradient", "value_and_grad", "vectorize", "vjp", "vmap"]
__version__ = "0.1.0"
