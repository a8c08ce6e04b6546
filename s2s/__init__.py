"""s2s: source-to-source automatic differentiation for numerical Python.

The transforms follow JAX's API: ``jvp``, ``linearize``, ``linear_transpose``,
``vjp``, ``grad``, ``value_and_grad``, ``vmap``, ``jacfwd``, ``jacrev``,
``hessian``, ``jit``, ``vectorize`` and ``pmap`` (with the collectives ``psum``,
``pmean``…, and the device queries), with ``stop_gradient``, ``eval_shape``,
``checkpoint`` (with ``checkpoint_name``) and ``checkpointed`` loops, ``source`` to read the code any transform generates,
``custom_jvp`` and ``custom_vjp`` to give your functions derivative rules of
your own, ``defjvp`` to give one to a library's function, and ``tree_util`` for
arguments and results that are trees of arrays.  ``jit(..., target="cuda")`` runs
``vmap`` of per-example code as a GPU kernel, and ``cuda.device`` makes it a
device function for kernels of one's own.
"""

from . import cuda, errors, tree_util
from .api import (grad, hessian, jacfwd, jacrev, jit, jvp, linear_transpose, linearize, pmap, source,
                  value_and_grad, vjp, vmap)
from .collectives import all_gather, axis_index, pmax, pmean, pmin, psum
from .parallel import device_count, devices, local_device_count
from .checkpoint import checkpoint, checkpoint_policies, checkpointed, remat
from .custom import custom_jvp, custom_vjp
from .rules.registry import defjvp
from .runtime import checkpoint_name, stop_gradient
from .shape_eval import ShapeDtypeStruct, eval_shape
from .vectorize import vectorize

__all__ = ["ShapeDtypeStruct", "all_gather", "axis_index", "checkpoint", "checkpoint_name", "checkpoint_policies",
           "checkpointed", "cuda", "custom_jvp", "custom_vjp", "defjvp", "device_count", "devices",
           "errors", "eval_shape", "grad", "hessian", "jacfwd", "jacrev", "jit", "jvp", "linear_transpose",
           "linearize", "local_device_count", "pmap", "pmax", "pmean", "pmin", "psum", "remat", "source",
           "stop_gradient", "tree_util", "value_and_grad", "vectorize", "vjp", "vmap"]
__version__ = "0.1.0"
