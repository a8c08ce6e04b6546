"""Kernels of one's own that call s2s's device functions (``s2s.cuda.device``), written as users write them.

Imported by ``cuda_cases`` only, under the simulator: Numba's simulator gives a kernel its ``cuda`` through
the globals of the kernel's module, so the kernels live at a module's top level.
"""

from __future__ import annotations

import numpy as np
from cuda_cases import g, pendulum
from numba import cuda

import s2s

value_and_grad = s2s.cuda.device(s2s.value_and_grad(g, argnums=(0, 1)))
hessian = s2s.cuda.device(s2s.hessian(g, argnums=(0, 1)))
sensitivity = s2s.cuda.device(s2s.jacfwd(pendulum, argnums=(0, 1)))
grad32 = s2s.cuda.device(s2s.grad(g), dtype=np.float32)


@cuda.jit
def derivatives(x, y, steps, out):
    """Row ``i``: g's value, gradient and Hessian at example ``i``, and the pendulum's sensitivities."""
    i = cuda.grid(1)
    if i < x.shape[0]:
        out[i, 0], (out[i, 1], out[i, 2]) = value_and_grad(x[i], y[i])
        (out[i, 3], out[i, 4]), (out[i, 5], out[i, 6]) = hessian(x[i], y[i])
        out[i, 7], out[i, 8] = sensitivity(x[i], y[i], steps)


@cuda.jit
def gradients32(x, y, out):
    i = cuda.grid(1)
    if i < x.shape[0]:
        out[i] = grad32(x[i], y[i])
