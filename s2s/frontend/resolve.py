"""Names in a user function → the objects they stand for.

A free name is looked up the way Python would at call time: closure cells,
then the function's globals, then builtins.  NumPy and ``math`` objects get
one spelling (``np.sin``, ``math.sin``) whatever the user imported them as, so
generated code always reads the same and the rule table is keyed by object.
"""

from __future__ import annotations

import builtins
import functools
import math
import sysconfig
import types

import numpy as np
import scipy.linalg
import scipy.special

_MISSING = object()

#: Modules whose members generated code spells through a fixed alias.
MODULE_ALIASES = {np: "np", math: "math", np.linalg: "np.linalg", np.random: "np.random",
                  scipy.linalg: "scipy.linalg", scipy.special: "scipy.special"}

#: Builtins that generated code may call by their own name.
BUILTIN_FUNCTIONS = (abs, min, max, len, range, float, int, bool, round, pow, print,
                     isinstance, ValueError, TypeError, IndexError, RuntimeError,
                     ZeroDivisionError, AssertionError, ArithmeticError)


def _aliases() -> dict:
    """Module → spelling, the runtime of generated code included (generated code can be transformed again)."""
    from .. import runtime  # imported late: the runtime compiles with Numba

    return {**MODULE_ALIASES, runtime: "rt"}


@functools.lru_cache(maxsize=1)
def _spellings() -> dict:
    spelled = {}
    for module, alias in _aliases().items():
        for attr_name in dir(module):
            if attr_name.startswith("_"):
                continue
            obj = getattr(module, attr_name)
            if callable(obj) and not isinstance(obj, types.ModuleType):
                # Prefer the first module (np.sinc, not scipy.special.sinc) and there the function's own
                # name (np.transpose, not its alias np.permute_dims).
                if id(obj) not in spelled or attr_name == getattr(obj, "__name__", None) \
                        and spelled[id(obj)][1].rpartition(".")[0] == alias:
                    spelled[id(obj)] = (obj, f"{alias}.{attr_name}")
    for obj in BUILTIN_FUNCTIONS:
        spelled[id(obj)] = (obj, obj.__name__)
    spelled[id(np.abs)] = (np.abs, "np.abs")  # as people write it, not np.absolute
    return spelled


def spelling(obj) -> str | None:
    """How generated code names a NumPy, ``math`` or builtin function, or None."""
    found = _spellings().get(id(obj))
    return found[1] if found and found[0] is obj else None


def module_alias(obj) -> str | None:
    return _aliases().get(obj) if isinstance(obj, types.ModuleType) else None


def lookup(fun, name: str):
    """The object ``name`` means inside ``fun``, or ``_MISSING``."""
    code = fun.__code__
    if fun.__closure__ and name in code.co_freevars:
        cell = fun.__closure__[code.co_freevars.index(name)]
        try:
            return cell.cell_contents
        except ValueError:  # cell not yet filled
            return _MISSING
    if name in fun.__globals__:
        return fun.__globals__[name]
    return getattr(builtins, name, _MISSING)


def is_missing(obj) -> bool:
    return obj is _MISSING


def user_function(obj):
    """The plain Python function behind ``obj`` if s2s should transform it, else None.

    Functions decorated with ``s2s.jit`` and Numba dispatchers are unwrapped:
    calls to them are transformed with the caller.
    """
    inner = getattr(obj, "__s2s_function__", None) or getattr(obj, "py_func", None)
    if inner is not None:
        obj = inner
    if isinstance(obj, types.FunctionType) and spelling(obj) is None:
        return obj
    return None


def is_library(obj) -> bool:
    """Whether ``obj``, a function or a module, is of an installed package or of the standard library (not the
    user's code)."""
    code = getattr(obj, "__code__", None)
    path = code.co_filename if code is not None else getattr(obj, "__file__", None)
    return isinstance(path, str) and path.startswith(_library_paths())


@functools.lru_cache(maxsize=1)
def _library_paths() -> tuple:
    paths = sysconfig.get_paths()
    return tuple({paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths})


@functools.lru_cache(maxsize=None)
def resolve_spelling(dotted: str):
    """The object generated code means by ``np.sin``, ``math.exp`` or ``abs``."""
    head, *rest = dotted.split(".")
    if head == "rt":  # helpers of generated code (imported late: the runtime compiles with Numba)
        from .. import runtime as obj
    else:
        obj = {"np": np, "math": math, "scipy": scipy}.get(head) or getattr(builtins, head, None)
    for part in rest:
        obj = getattr(obj, part, None)
    return obj
