"""Backends: what runs generated code, as objects in a registry.

A backend says how generated code is shaped for it (loops or whole-array NumPy, a parallel
batch loop), which float type it specializes code for, how a rendered module becomes callable
functions (compiled, with the compiler's errors reported as ``CompileError`` naming the user's
line), and how the forward pass hands its residuals to the linear and adjoint functions.  The
rest of s2s holds backend objects, never names: ``named`` is looked up once, where a user picks
one (``s2s.jit``).  Adding a backend is a module here defining ``BACKEND`` and a line in
``_MODULES``.
"""

from __future__ import annotations

import functools
import importlib


class Backend:
    """A backend; this base is plain Python's behaviour, which a compiling backend overrides."""

    #: Its name in the registry, and in the names of the modules it loads.
    name = "python"
    #: Whether generated code takes loops where whole-array NumPy would also do (``vmap``'s default method,
    #: the columns of compiled Jacobians): what a compiler makes fast.
    prefers_loops = False
    #: Whether batch loops run their examples in parallel (``rt.prange``, a CUDA grid).
    parallel = False
    #: Whether per-example code runs as device functions, the batch as a kernel (``Program.device``).
    device = False

    def float_type(self, args):
        """The float type code for ``args`` is specialized for (``precision``), or None: as NumPy promotes."""
        return None

    def compile(self, namespace: dict, path, program, rendered, entries: dict, floats=None) -> dict:
        """The functions ``entries`` (role → name) of the loaded module ``namespace`` (from the file ``path``,
        rendered from ``program``), ready to call: compiled where the backend compiles, raising
        ``CompileError`` with the generated line and the user's where that fails."""
        return {role: namespace[name] for role, name in entries.items()}

    def header(self, text: str, main: str, program) -> str:
        """The docstring of a generated module whose main function is ``main`` (of ``program``): ``text``, and
        what this backend makes of the functions."""
        return text

    def forward(self, forward):
        """The forward function as callers use it: its residuals as this backend's linear and adjoint take them."""
        return forward

    def __reduce__(self):
        """Pickled as the registry's entry, whatever it holds: one backend object per process."""
        return named, (self.name,)

    def __repr__(self):
        return f"<s2s backend {self.name!r}>"


#: The backends, by name: the module here whose ``BACKEND`` each is (imported when first named: Numba's is slow).
_MODULES = {"python": "python", "numba": "numba_cpu", "cuda": "cuda"}


@functools.cache
def named(name: str) -> Backend:
    """The backend called ``name``."""
    if name not in _MODULES:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(map(repr, _MODULES))}")
    return importlib.import_module(f"{__name__}.{_MODULES[name]}").BACKEND


#: The default backend: generated code run by the Python interpreter.
PYTHON = named("python")
