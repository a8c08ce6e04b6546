"""``s2s.cuda.device``: per-example code and its derivatives as CUDA device functions for kernels of one's own.

``s2s.jit(s2s.vmap(g), target="cuda")`` writes the kernel; a user with a kernel of their own (one that
reads its examples from several arrays, reduces them, or does more per thread) calls the same
per-example function ``g`` as a device function instead.  Numba's CUDA module is imported when a
device function is first made: ``import s2s`` does not import it.
"""

from __future__ import annotations

import gast
import numpy as np

from . import backends, building, core, precision
from .errors import DeviceError
from .frontend.normalize import normalize

__all__ = ["device"]


def device(fun, dtype=np.float64):
    """``fun`` of scalars as a CUDA device function (``numba.cuda.jit(device=True)``), to call inside a kernel.

    ``fun`` is per-example code: the user's function of scalars, or ``s2s.grad``, ``s2s.value_and_grad``,
    ``s2s.jacfwd``, ``s2s.jacrev`` or ``s2s.hessian`` of one.  The device function takes one scalar per
    parameter and returns what ``fun`` returns for them, as scalars: a tuple of them where ``fun`` returns
    a tuple (``value_and_grad``: ``(value, (dx, dy))``; ``hessian`` with two argnums: ``((hxx, hxy), (hyx,
    hyy))``).  ``dtype`` (``np.float64`` or ``np.float32``) is the float type of the arguments the code is
    specialized for: a device function is compiled inside the caller's kernel, after s2s has written it.
    Code the device cannot run (arrays made per example, NumPy the device lacks, a tape) is refused here,
    with an ``s2s.errors.DeviceError`` naming the user's line.
    """
    unwrapped = building.unwrap(fun)[0]
    if getattr(unwrapped, "label", None) == "vmap":
        raise TypeError(f"s2s.cuda.device makes the code of one example, not of a batch ({fun!r}): pass the "
                        "per-example function (s2s.grad(f), …) and map over the examples in your kernel")
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise TypeError(f"s2s.cuda.device specializes code for float64 or float32 arguments, not {np.dtype(dtype)}")
    fn = normalize(building.innermost(unwrapped))
    indexed = sorted({node.value.id for stmt in core.walk_statements(fn.body) for node in gast.walk(stmt)
                      if isinstance(node, gast.Subscript) and isinstance(node.value, gast.Name)
                      and node.value.id in fn.params})
    if indexed:  # its code for scalars would take p[0] of a scalar p: refused, never a wrong derivative
        raise DeviceError(f"s2s.cuda.device makes code for scalar arguments, and {fn.name} indexes "
                          f"{', '.join(indexed)}: pass the components as scalars ({fn.name}(px, py, pz, …))",
                          fn.filename, fn.lineno, fn.source_line(fn.lineno))
    nparams = len(fn.params)
    floats = precision.FLOAT32 if np.dtype(dtype) == np.float32 else None
    scalars = (0,) * nparams  # every argument a scalar (no dimensions)
    return building.build(building.key_of(unwrapped), "device", None, nparams, backends.named("cuda"), scalars,
                          floats=floats).call
