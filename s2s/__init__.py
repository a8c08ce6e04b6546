"""s2s: source-to-source automatic differentiation for numerical Python.

The transforms follow JAX's API: ``jvp``, ``linearize``, ``linear_transpose``,
``vjp``, ``grad``, ``value_and_grad``, ``vmap``, ``jacfwd``, ``jacrev``,
``hessian`` and ``jit``, with ``source`` to read the code any transform
generates, ``custom_jvp`` and ``custom_vjp`` to give your functions derivative
rules of your own, ``defjvp`` to give one to a library's function, and
``tree_util`` for arguments and results that are trees of arrays.
"""

from . import errors, tree_util
from .checkpoint import checkpoint, remat
from .custom import custom_jvp, custom_vjp
from .api import (grad, hessian, jacfwd, jacrev, jit, jvp, linear_transpose, linearize, source, value_and_grad,
                  vjp, vmap)
from .rules.registry import defjvp

__all__ = ["checkpoint", "custom_jvp", "custom_vjp", "defjvp", "errors", "tree_util", "grad", "hessian", "jacfwd", "jacrev", "jit", "jvp", "linear_transpose",
           "linearize", "remat", "source", "value_and_grad", "vjp", "vmap"]
__version__ = "0.1.0"
