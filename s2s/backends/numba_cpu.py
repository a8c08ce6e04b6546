"""The numba backend: a generated module compiled with ``numba.njit`` (nopython mode, cached on disk).

Every function of the module is compiled, so calls between generated
functions stay inside compiled code; batch loops run in parallel (``prange``).
A failure is reported as a ``CompileError`` naming the generated line and the
user's line it came from; there is no silent fallback to Python.  Importing
this module loads Numba's part of the runtime (``deferred``).
"""

from __future__ import annotations

import inspect
import re
import types
from pathlib import Path

import numba
import numpy as np
from numba import types as numba_types
from numba.core.errors import NumbaError
from numba.typed import List as TypedList
from numba.np.numpy_support import as_dtype

from .. import precision
from ..emit import is_literal
from ..errors import CompileError
from ..transforms.batch import uses_prange
from . import Backend, deferred

deferred.load()


class NumbaCPU(Backend):
    """Numba on the CPU: loops preferred, batch loops over ``prange``, float32 arguments kept float32."""

    name = "numba"
    prefers_loops = True
    parallel = True

    def float_type(self, args):
        return precision.float_type(args)

    def compile(self, namespace, path, program, rendered, entries, floats=None):
        parallel = {f.name for f in program.functions if uses_prange(f)}
        return compile_module(namespace, [f.name for f in program.functions], rendered.origins, path, entries,
                              program.constants, parallel, floats)

    def forward(self, forward):
        return lambda *args: with_tapes(forward, args)


BACKEND = NumbaCPU()


def compile_module(namespace: dict, names, origins: dict, path: Path, entries: dict, constants: dict,
                   parallel=frozenset(), floats=None) -> dict:
    """Replace each generated function in ``namespace`` by its Numba dispatcher; return the ``entries``'
    (role → name), by role.

    Plain Python functions bound as constants (primitives with a rule of the user's) are compiled
    as they are.  Modules that bind arrays or objects as globals are not cached on disk: Numba
    freezes those into the compiled code, and such code reloaded in another process is not safe.
    Functions in ``parallel`` (batch loops over ``prange``) are compiled with ``parallel=True``.
    ``floats``: the float type the module is specialized for (``precision``); Python floats passed
    to its entries are taken in that type.
    """
    cache = all(is_literal(v) for v in constants.values())
    for name in [n for n, v in constants.items() if isinstance(v, types.FunctionType)]:
        if isinstance(namespace[name], types.FunctionType):  # not compiled by an earlier request
            namespace[name] = compiled_function(namespace[name])
    for name in names:
        if isinstance(namespace[name], types.FunctionType):
            namespace[name] = numba.njit(cache=cache, parallel=name in parallel)(namespace[name])
    return {role: _Reporting(namespace[name], origins, path, floats) for role, name in entries.items()}


#: Functions being compiled by ``compiled_function`` (one may call itself through a rule's helpers).
_COMPILING: set = set()


def compiled_function(fun):
    """A user's function that generated code calls as it is (its rule is the user's: ``custom_jvp``, the
    helpers of a ``custom_vjp``), compiled with the functions it calls in turn: through s2s's own primal,
    whose module holds them; compiled as it is where s2s does not read it."""
    from ..building import build, key_of
    from ..errors import S2SError

    if fun in _COMPILING:
        return numba.njit(fun)
    _COMPILING.add(fun)
    try:
        nargs = len(inspect.signature(fun).parameters)
        return build(key_of(fun), "primal", None, nargs, BACKEND).call.dispatcher
    except (S2SError, TypeError, ValueError):
        return numba.njit(fun)
    finally:
        _COMPILING.discard(fun)


def with_tapes(forward, args):
    """Call the compiled ``forward`` on ``args``; its residuals come back fit to go back into compiled code."""
    result, residuals = forward(*args)
    return result, tapes_as_arrays(residuals, forward, args)


def tapes_as_arrays(residuals, entry, args) -> tuple:
    """Residuals of a compiled forward function, made fit to go back into compiled code.

    A list that leaves compiled code comes back as a Python list, and an empty one
    cannot go back in (Numba cannot type it).  Tapes of numbers and of arrays alike in
    shape become arrays, typed by the compiled signature even when empty: the linear and
    adjoint functions only index them.  Tapes of anything else (a helper's residuals saved
    in a loop, the uneven pieces of ``np.array_split``) become typed lists, slower to index
    but as exact.
    """
    returned = entry.return_type(entry.arguments(args))
    return residuals if returned is None else _fit(residuals, returned.types[1])


def _fit(value, kind):
    if isinstance(kind, numba_types.List):
        item = kind.dtype
        if isinstance(item, numba_types.Array) and len({np.shape(v) for v in value}) <= 1:
            dtype = as_dtype(item.dtype)
            return np.stack(value).astype(dtype, copy=False) if value else np.empty((0,) * (item.ndim + 1), dtype)
        if isinstance(item, (numba_types.Number, numba_types.Boolean)):
            return np.asarray(value, dtype=as_dtype(item))
        if isinstance(item, numba_types.BaseTuple) and not item.types:  # a helper that saved nothing: a count
            return np.zeros(len(value), np.int8)
        typed = TypedList.empty_list(_fitted_type(item))
        for v in value:
            typed.append(_fit(v, item))
        return typed
    if isinstance(kind, numba_types.BaseTuple):
        return tuple(_fit(v, k) for v, k in zip(value, kind.types))
    return value


def _scalars_typed(value, kind):
    """``value`` with its float32 scalars as NumPy's (Numba returns every float scalar as a Python float)."""
    if kind == numba_types.float32 and isinstance(value, float):
        return np.float32(value)
    if isinstance(kind, numba_types.BaseTuple) and isinstance(value, tuple):
        return tuple(_scalars_typed(v, k) for v, k in zip(value, kind.types))
    return value


def _fitted_type(kind):
    """The Numba type of a value of type ``kind`` after ``_fit``."""
    if isinstance(kind, numba_types.List):
        item = kind.dtype
        if isinstance(item, numba_types.Array):
            return numba_types.Array(item.dtype, item.ndim + 1, "C")
        if isinstance(item, (numba_types.Number, numba_types.Boolean)):
            return numba_types.Array(item, 1, "C")
        if isinstance(item, numba_types.BaseTuple) and not item.types:
            return numba_types.Array(numba_types.int8, 1, "C")
        return numba_types.ListType(_fitted_type(item))
    if isinstance(kind, numba_types.BaseTuple):
        return numba_types.Tuple([_fitted_type(k) for k in kind.types])
    return kind


class _Reporting:
    """Calls a dispatcher; turns Numba's compile errors into ``CompileError``."""

    def __init__(self, dispatcher, origins, path, floats=None):
        self.dispatcher, self.origins, self.path, self.floats = dispatcher, origins, path, floats

    def arguments(self, args) -> tuple:
        """``args`` as the compiled code takes them (Python floats in a float32 specialization become float32)."""
        return precision.weak(args, self.floats)

    def __call__(self, *args):
        args = self.arguments(args)
        try:
            result = self.dispatcher(*args)
        except NumbaError as error:
            raise CompileError(self.explain(error)) from error
        return result if self.floats is None else _scalars_typed(result, self.return_type(args))

    def return_type(self, args):
        """The Numba type of what the compiled function returns for ``args`` (None if not compiled for them)."""
        compiled = self.dispatcher.overloads.get(tuple(self.dispatcher.typeof_pyval(a) for a in args))
        return None if compiled is None else compiled.signature.return_type

    def explain(self, error) -> str:
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
        found = [ln.strip() for ln in text.splitlines() if ln.strip()]
        reasons = [ln for ln in found[1:] if "Error:" in ln or ln.startswith(
            ("No implementation", "Unknown attribute", "Cannot unify", "Invalid use", ">>>", "Use of unsupported"))]
        summary = " ".join(dict.fromkeys(reasons[:3])) or (found[0] if found else type(error).__name__)
        lines = [f"Numba could not compile the generated code: {summary}"]
        # Numba names the frames innermost first: the line that failed, then the calls that led to it.
        hits = list(dict.fromkeys(int(n) for p, n in re.findall(r'File "([^"]+)", line (\d+)', text)
                                  if p.endswith(self.path.name)))
        if hits:
            line = hits[0]
            generated = self.path.read_text().splitlines()[line - 1].strip()
            lines.append(f"  generated line {line} of {self.path}: {generated}")
            found = [self.origins.get(hit) for hit in hits]
            for k, (file, lineno, text) in enumerate(dict.fromkeys(o for o in found if o and o[2])):
                lines.append(f"  {'called from' if k else 'from your source,'} {file}:{lineno}: {text}")
        lines.append("Generated code must type-check in Numba's nopython mode: each variable keeps one type, "
                     "and only the NumPy features Numba supports can be used.")
        return "\n".join(lines)
