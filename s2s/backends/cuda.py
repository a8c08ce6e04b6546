"""The cuda backend: ``s2s.vmap`` of per-example code as a CUDA kernel, one thread per example.

The per-example function and the functions it calls are compiled with ``numba.cuda.jit(device=True)``;
the kernel (``batch.grid_kernel``) has thread ``b`` call it on example ``b`` and write each output leaf
into an array allocated before launch.  A program without a kernel (``s2s.cuda.device``) is the
per-example function alone, a device function for kernels of the user's own.  Device code cannot allocate arrays, call most of NumPy or
grow Python lists (the tapes of reverse-mode loops), so the generated code is read first and such
code is refused (``DeviceError``, naming the user's line) before anything is compiled.

Run with ``NUMBA_ENABLE_CUDASIM=1`` (set before Numba is imported), Numba's simulator runs the same
kernel on the CPU, one Python thread per CUDA thread: slow, but the same code paths.  Numba's CUDA
module is imported when code is first compiled: rendering it (``s2s.source``) needs no Numba.
"""

from __future__ import annotations

import ast
import textwrap
import types

import numpy as np

from .. import precision
from ..batch_axes import on_device
from ..errors import CompileError, DeviceError
from . import Backend, deferred

#: NumPy's names that device code keeps after ``device_math`` has spelled the rest with ``math``: those the CUDA
#: target types.
DEVICE_NUMPY = frozenset("minimum maximum fmin fmax float32 float64 int32 int64 bool_ pi e inf nan".split())
#: ``math``'s functions and constants that the CUDA target has (from libdevice).
DEVICE_MATH = frozenset("""
    sin cos tan asin acos atan atan2 sinh cosh tanh asinh acosh atanh hypot exp expm1 log log2 log10 log1p sqrt
    pow floor ceil trunc fabs copysign fmod remainder isnan isinf isfinite erf erfc gamma lgamma radians degrees
    frexp ldexp modf pi e tau inf nan
""".split())
#: NumPy functions that make arrays: what device code cannot do.
ALLOCATING = frozenset("""
    zeros ones empty full zeros_like ones_like empty_like full_like array asarray arange linspace eye identity
    stack concatenate hstack vstack column_stack outer copy diag tile repeat broadcast_to meshgrid
""".split())
#: Runtime helpers whose scalar cases are device code (their Numba overloads, compiled for the device).
DEVICE_RUNTIME = frozenset({"seed", "zeros_like", "total", "unbroadcast", "copy", "push", "larger", "smaller", "sign"})
#: Threads per block: a multiple of the warp, small enough for the registers derivative code needs.
THREADS = 128


class CUDA(Backend):
    """A CUDA GPU (or Numba's simulator): ``s2s.vmap`` of per-example code as a kernel."""

    name = "cuda"
    prefers_loops = True
    parallel = True
    device = True

    def float_type(self, args):
        return precision.float_type([np.empty(0, a.dtype) if on_device(a) else a for a in args])

    def header(self, text, main, program):
        if main not in program.launches:
            said = (f"{main} and the functions it calls are device functions (numba.cuda.jit(device=True)), "
                    "for kernels of one's own.")
        else:
            said = (f"{main} is the kernel (numba.cuda.jit), one thread per example; the other functions are "
                    "its device functions (numba.cuda.jit(device=True)).")
        return f"{text}\n\n" + textwrap.fill(f"For the cuda target: {said}", 110)

    def compile(self, namespace, path, program, rendered, entries, floats=None):
        main = entries["call"]
        kernel = main if main in program.launches else None
        check_device(rendered, {f.name for f in program.functions} - {kernel})
        cuda = _numba_cuda()
        for name, value in program.constants.items():  # the user's functions that a rule calls
            if isinstance(value, types.FunctionType) and isinstance(namespace[name], types.FunctionType):
                namespace[name] = cuda.jit(device=True)(value)
        for fn in program.functions:
            if fn.name != kernel and isinstance(namespace[fn.name], types.FunctionType):
                namespace[fn.name] = cuda.jit(device=True)(namespace[fn.name])
        if kernel is None:  # a device function (``s2s.cuda.device``)
            return {"call": namespace[main]}
        if isinstance(namespace[kernel], types.FunctionType):
            namespace[kernel] = cuda.jit(namespace[kernel])
        from .numba_cpu import _Reporting
        return {"call": Launcher(namespace[kernel], program.launches[kernel], _Reporting(None, rendered.origins, path),
                                 floats)}


BACKEND = CUDA()


def _numba_cuda():
    """Numba's CUDA module, with the runtime's overloads registered (their scalar cases are device code)."""
    from numba import cuda
    deferred.load()
    return cuda


class Launcher:
    """Calls a kernel like the batched function it stands for: outputs allocated, arrays moved, results returned.

    NumPy arguments are copied to the device and the outputs back; with any argument already on the device
    (a Numba device array, or any object with the CUDA array interface: CuPy's), the outputs stay there, as
    Numba device arrays.
    """

    def __init__(self, kernel, launch, reporting, floats):
        self.kernel, self.launch, self.reporting, self.floats = kernel, launch, reporting, floats
        #: The longest each tape has needed (``device_tapes``): the first call with tapes learns them.
        self.lengths = np.zeros(launch.slots, np.int64)

    def __call__(self, *args):
        from numba.core.errors import NumbaError
        cuda = _numba_cuda()
        args = precision.weak(args, self.floats)
        mapped = [a for a, axis in zip(args, self.launch.inputs) if axis is not None]
        size = mapped[0].shape[0]
        stays = any(on_device(a) for a in args)
        moved = [_as_kernel_argument(a, cuda) for a in args]
        dtype = np.float32 if self.floats == precision.FLOAT32 else np.float64
        leaves = [cuda.device_array(size, dtype) for w in self.launch.widths for _ in range(w or 1)]
        try:
            while not self._launched(cuda, size, [*moved, *leaves]):
                pass  # a tape overflowed: run again with room for it
        except NumbaError as error:
            raise CompileError(self.reporting.explain(error)) from error
        found = iter(leaves if stays else [leaf.copy_to_host() for leaf in leaves])
        outputs = [next(found) if w is None else tuple(next(found) for _ in range(w)) for w in self.launch.widths]
        return outputs[0] if self.launch.arity is None else tuple(outputs)

    def _launched(self, cuda, size, args) -> bool:
        """Run the kernel on ``args``, with a column per thread in each tape array, as long as the longest
        that tape has needed; False if one was too short (its results are garbage; ``lengths`` now knows)."""
        grid = (size + THREADS - 1) // THREADS, min(THREADS, size)
        if not self.launch.tapes:
            self.kernel[grid](*args)
            return True
        floats = np.float32 if self.floats == precision.FLOAT32 else np.float64
        tapes = [cuda.device_array((max(int(self.lengths[slot]), 1), size), floats if dtype == "float" else dtype)
                 for slot, dtype in self.launch.tapes]
        needed = cuda.to_device(np.zeros(self.launch.slots, np.int64))
        self.kernel[grid](*args, *tapes, needed)
        needed = needed.copy_to_host()
        if (needed <= self.lengths).all():
            return True
        self.lengths = np.maximum(self.lengths, needed)
        return False


def _as_kernel_argument(value, cuda):
    """``value`` as the kernel takes it: a NumPy array copied to the device, another library's device array
    (``__cuda_array_interface__``) viewed as a Numba one without copying, anything else as it is."""
    if isinstance(value, np.ndarray):
        return cuda.to_device(np.ascontiguousarray(value))
    if hasattr(value, "__cuda_array_interface__") and not getattr(value, "__cuda_ndarray__", False):
        return cuda.as_cuda_array(value)
    return value


def check_device(rendered, names) -> None:
    """Refuse (``DeviceError``) what the generated functions ``names`` do that device code cannot."""
    for node in ast.walk(ast.parse(rendered.source)):
        if isinstance(node, ast.FunctionDef) and node.name in names:
            looped = {id(inner) for loop in ast.walk(node) if isinstance(loop, (ast.For, ast.While))
                      for inner in ast.walk(loop)}
            found = [(inner, _not_on_device(inner, id(inner) in looped)) for inner in ast.walk(node)]
            found = [(inner, reason) for inner, reason in found if reason is not None]
            if found:  # a tape is named where a value is saved on it, in the loop or branch
                inner, reason = next((f for f in found if isinstance(f[0], ast.Attribute)), found[0])
                file, line, text = _origin(rendered.origins, inner.lineno)
                raise DeviceError(f"{reason} (in the generated {node.name}; the cuda target runs "
                                  "per-example scalar code)", file, line, text)


def _not_on_device(node, in_loop: bool) -> str | None:
    """Why device code cannot do what ``node`` (inside a loop or not) does; None if it can."""
    if isinstance(node, (ast.List, ast.ListComp)) or isinstance(node, ast.Attribute) and node.attr == "append":
        saved = "of this loop keeps a tape of its steps" if in_loop else \
            "of this branch keeps the values it saves (as many as the branches taken)"
        return (f"reverse mode {saved} in a Python list, which device code cannot hold; s2s.jit(s2s.vmap(...), "
                "target='cuda') gives each thread a tape in device memory, a device function for a kernel of "
                "one's own cannot have one: use forward mode (jvp, jacfwd) there")
    if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)):
        return None
    module, name = node.value.id, node.attr
    if module == "np" and name in ALLOCATING:
        return f"np.{name} allocates an array, which device code cannot do"
    if module == "np" and name not in DEVICE_NUMPY or module == "math" and name not in DEVICE_MATH \
            or module == "scipy":
        return f"{module}.{name} is not available in device code"
    if module == "rt" and name not in DEVICE_RUNTIME:
        return f"the generated code calls rt.{name}, which works on arrays: not device code"
    return None


def _origin(origins: dict, line: int) -> tuple:
    """The user's (file, line, text) that the generated ``line`` came from: its own, or the nearest above."""
    for at in range(line, 0, -1):
        if at in origins and origins[at][0] not in (None, "<unknown>"):
            return origins[at]
    return None, None, None
