"""The arguments users pass to transforms, checked and bound: positions, tangents, cotangents, argnums.

Numbers and arrays of floats are differentiated; integers are not (their tangents are None); complex
values are refused.  Trees are left to ``pytrees``.
"""

from __future__ import annotations

import inspect
import numbers

import numpy as np

from . import analysis, pytrees
from .frontend.resolve import spelling


def check_argnums(argnums):
    if not isinstance(argnums, int) and not (isinstance(argnums, tuple) and argnums
                                             and all(isinstance(a, int) for a in argnums)):
        raise TypeError(f"argnums must be an int or a non-empty tuple of ints, got {argnums!r}")


def argnums_in(argnums, nargs):
    """``argnums`` with negative positions counted from the end (an int stays an int)."""
    if isinstance(argnums, int):
        return argnums % nargs if -nargs <= argnums < nargs else argnums
    return tuple(n % nargs if -nargs <= n < nargs else n for n in argnums)


def float_argnums(argnums, args, what) -> tuple:
    """``argnums`` as a tuple of non-negative positions, each checked to be a float argument."""
    nums = (argnums,) if isinstance(argnums, int) else argnums
    nums = tuple(n + len(args) if n < 0 else n for n in nums)
    for n in nums:
        if not 0 <= n < len(args):
            raise TypeError(f"argnums {argnums!r} is out of range for {len(args)} positional arguments")
        if not is_numeric(args[n]):
            raise TypeError(f"{what} differentiates with respect to numbers, arrays and tuples of them; argument "
                            f"{n} is a {type(args[n]).__name__} (pass its arrays as arguments of their own)")
        if any_integers(tuples(args[n])):
            raise TypeError(f"{what} requires float arguments to differentiate, but argument {n} is "
                            f"{args[n]!r} (integer): pass it as a float, or leave it out of argnums")
    return nums


def bind(fun, args, kwargs, defaults=False, real=True) -> tuple:
    """The positional arguments of the call ``fun(*args, **kwargs)``, bound as Python binds them.

    With keywords, or with ``defaults``, every parameter is given: the defaults of those
    skipped included, so a keyword after a skipped default reaches its own parameter.
    Without, the arguments as given (the generated code's callers add the defaults after them).
    Complex arguments are refused, unless ``real`` is false (the primal alone, which has no rules).
    """
    if (kwargs or defaults) and spelling(fun) is None:  # (a NumPy function's own defaults are its business)
        bound = inspect.signature(fun).bind(*args, **kwargs)
        bound.apply_defaults()
        args = bound.args
    return real_arguments(args) if real else tuple(tuples(a) for a in args)


def real_arguments(args) -> tuple:
    """``args`` (lists as tuples), refused if any is complex: s2s's rules are for real values."""
    args = tuple(tuples(a) for a in args)
    for i, arg in enumerate(args):
        if any_complex(arg):
            raise TypeError(f"s2s does not support complex values, and argument {i} is complex "
                            "(pass real and imaginary parts as separate float arguments)")
    return args


def is_numeric(value) -> bool:
    """A number, an array, or a (nested) tuple or list of those: what derivatives are taken with respect to."""
    if isinstance(value, (tuple, list)):
        return all(is_numeric(v) for v in value)
    return isinstance(value, (numbers.Number, np.number, np.ndarray))


def any_complex(value) -> bool:
    if isinstance(value, tuple):
        return any(any_complex(v) for v in value)
    if isinstance(value, np.ndarray):
        return value.dtype.kind == "c"
    return isinstance(value, (complex, np.complexfloating))


def tuples(value):
    """Lists become tuples (generated code, like Numba, indexes tuples); trees are left to ``pytrees``."""
    if isinstance(value, (list, tuple)) and not pytrees.needed((value,)):
        return tuple(tuples(v) for v in value)
    return value


def is_integer(value) -> bool:
    kind = type(value)
    if kind is float:  # the common cases first: this runs on every call
        return False
    if kind is np.ndarray:
        return value.dtype.kind not in "fc"
    return kind is int or isinstance(value, (bool, np.bool_, numbers.Integral))


def check_tangent(primal, tangent, where):
    """The tangent to pass for ``primal``, checked against it; None for a zero tangent."""
    if isinstance(primal, tuple):
        if tangent is None:
            return None
        tangent = tuples(tangent)
        if not isinstance(tangent, tuple) or len(tangent) != len(primal):
            raise TypeError(f"the tangent of {where} must be a tuple of {len(primal)} entries like its primal")
        parts = [check_tangent(p, t, f"{where}[{i}]") for i, (p, t) in enumerate(zip(primal, tangent))]
        return tuple(zeros_like(p) if t is None else t for p, t in zip(primal, parts))
    if is_integer(primal):
        if tangent is not None:
            raise TypeError(f"{where} is an integer, so its tangent must be None (integers are not differentiated)")
        return None
    if tangent is None:
        return None
    if isinstance(primal, np.ndarray):
        t = np.asarray(tangent)
        if t.shape != primal.shape:
            raise ValueError(f"the tangent of {where} has shape {t.shape}, but its primal has shape {primal.shape}")
        if t.dtype != primal.dtype:
            raise TypeError(f"the tangent of {where} has dtype {t.dtype}, but its primal has dtype {primal.dtype}")
        return np.array(t, copy=True)
    if type(primal) is float and type(tangent) is float:
        return tangent
    if isinstance(primal, numbers.Real):
        if isinstance(tangent, np.ndarray) and tangent.shape != ():
            raise ValueError(f"the tangent of {where} has shape {tangent.shape}, but its primal is a scalar")
        if is_integer(tangent) or not isinstance(tangent, (numbers.Real, np.ndarray)):
            raise TypeError(f"the tangent of {where} must be a float like its primal, got {tangent!r}")
        return tangent
    raise TypeError(f"{where} is a {type(primal).__name__}: s2s differentiates floats, float arrays and tuples of them")


def zeros_like(primal):
    if isinstance(primal, tuple):
        return tuple(zeros_like(p) for p in primal)
    return np.zeros_like(primal) if isinstance(primal, np.ndarray) else 0.0


def all_integers(value) -> bool:
    if isinstance(value, tuple):
        return bool(value) and all(all_integers(v) for v in value)
    return is_integer(value)


def any_integers(value) -> bool:
    if isinstance(value, tuple):
        return any(any_integers(v) for v in value)
    return is_integer(value)


def param_kinds(args) -> tuple:
    return tuple(analysis.kind_of_value(a) for a in args)


def is_real_scalar(value) -> bool:
    if isinstance(value, np.ndarray):
        return value.shape == () and value.dtype.kind == "f"
    return isinstance(value, (float, np.floating))


def stand_in(primal, where):
    """A value with ``primal``'s shape and dtype (for ``linear_transpose``, whose primals may be descriptions)."""
    if isinstance(primal, (tuple, list)):
        return tuple(stand_in(p, f"{where}[{i}]") for i, p in enumerate(primal))
    if isinstance(primal, (int, float, np.ndarray, np.number)) and not isinstance(primal, bool):
        dtype = np.result_type(primal)
        shape = np.shape(primal)
    elif hasattr(primal, "shape") and hasattr(primal, "dtype"):
        dtype, shape = np.dtype(primal.dtype), tuple(primal.shape)
    else:
        raise TypeError(f"{where}: linear_transpose needs arrays, scalars or objects with shape and dtype, "
                        f"got {primal!r}")
    if dtype.kind != "f":
        raise TypeError(f"{where} has dtype {dtype}: linear_transpose transposes functions of floats")
    if shape == ():
        return float(0.0) if dtype == np.float64 and isinstance(primal, float) else dtype.type(0.0)
    return np.zeros(shape, dtype)


def check_cotangent(out, ct):
    """``ct`` checked against the output it is the cotangent of (structure, shape, dtype kind)."""
    if isinstance(out, tuple):
        if not isinstance(ct, tuple) or len(ct) != len(out):
            raise TypeError(f"the cotangent must be a tuple of {len(out)} entries like the output")
        return tuple(check_cotangent(o, c) for o, c in zip(out, ct))
    if any_complex(ct):
        raise TypeError("s2s does not support complex values, and the cotangent is complex")
    if isinstance(out, np.ndarray):
        c = np.asarray(ct, dtype=out.dtype if out.dtype.kind == "f" else float)
        if c.shape != out.shape:
            raise ValueError(f"the cotangent has shape {c.shape}, but the output has shape {out.shape}")
        return c
    if isinstance(ct, np.ndarray) and ct.shape != ():
        raise ValueError(f"the cotangent has shape {ct.shape}, but the output is a scalar")
    if not isinstance(ct, (numbers.Real, np.ndarray)) or isinstance(ct, bool):
        raise TypeError(f"the cotangent must be a float like the output, got {ct!r}")
    return float(ct)


def cast_like(primal, ct):
    """``ct`` as the cotangent of ``primal``: its structure, shape and dtype (zeros for ``None``)."""
    if isinstance(primal, tuple):
        parts = ct if isinstance(ct, tuple) else (None,) * len(primal)
        return tuple(cast_like(p, c) for p, c in zip(primal, parts))
    if ct is None:
        return zeros_like(primal)
    if isinstance(primal, np.ndarray):
        return np.asarray(ct, dtype=primal.dtype).reshape(primal.shape)
    if isinstance(primal, np.number):
        return primal.dtype.type(ct)
    return float(ct)
