"""``s2s.eval_shape``: the shapes and dtypes of a function's outputs, without doing its arithmetic.

``fun`` runs as it is, in Python, on stand-in arrays: zero-stride views of one element, which
have an argument's shape and dtype but no memory of that size.  NumPy dispatches operations on
them here (``__array_ufunc__``, ``__array_function__``): elementwise ufuncs, matrix products and
``*_like`` allocations give stand-ins of the result's shape and dtype from the operands' shapes
alone (their dtype from one element each); anything else runs on the zero-stride views, which
costs what reading them costs, never more memory than the result's.
"""

from __future__ import annotations

import numpy as np

from . import tree_util


class ShapeDtypeStruct:
    """A shape and a dtype: what ``eval_shape`` returns for each output, and what it accepts for arguments."""

    __slots__ = ["shape", "dtype"]

    def __init__(self, shape, dtype):
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return int(np.prod(self.shape))

    def __eq__(self, other):
        return isinstance(other, ShapeDtypeStruct) and (self.shape, self.dtype) == (other.shape, other.dtype)

    def __hash__(self):
        return hash((self.shape, self.dtype))

    def __repr__(self):
        return f"ShapeDtypeStruct(shape={self.shape}, dtype={self.dtype})"


def eval_shape(fun, *args, **kwargs):
    """The shape and dtype of ``fun(*args, **kwargs)``, as a tree of ``ShapeDtypeStruct``, as ``jax.eval_shape``.

    Arguments may be arrays or any objects with ``shape`` and ``dtype`` (``ShapeDtypeStruct``), or trees
    of them; numbers are passed as they are (so they can still be loop bounds).  Shape errors are the
    ones ``fun`` raises.  ``fun`` may be a transform (``s2s.grad(f)``); under ``s2s.jit`` it runs in
    Python, as the shapes are the same.
    """
    args, kwargs = tree_util.tree_map(_stand_in, (args, kwargs))
    out = _in_python(fun)(*args, **kwargs)
    return tree_util.tree_map(lambda leaf: ShapeDtypeStruct(np.shape(leaf), np.result_type(leaf)), out)


def _in_python(fun):
    """``fun`` without ``s2s.jit``: compiled code would not take stand-ins."""
    inner = getattr(fun, "__s2s_function__", None)
    return fun if inner is None or hasattr(fun, "emit") else inner


def _stand_in(leaf):
    if hasattr(leaf, "shape") and hasattr(leaf, "dtype"):
        return stand_in(tuple(leaf.shape), np.dtype(leaf.dtype))
    return leaf


def stand_in(shape, dtype) -> _StandIn:
    """An array of ``shape`` and ``dtype`` whose elements all share one (zero) value in memory."""
    one = np.zeros(1, dtype)
    return np.lib.stride_tricks.as_strided(one, shape, (0,) * len(shape), subok=False).view(_StandIn)


class _StandIn(np.ndarray):
    """A zero-stride array whose operations describe their results rather than compute them where they can."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method == "__call__" and "out" not in kwargs:
            if ufunc.signature is None:
                shape = np.broadcast_shapes(*(np.shape(i) for i in inputs))
                return _described(ufunc(*map(_sample, inputs), **kwargs), shape)
            if ufunc is np.matmul and not kwargs:
                return _matmul(*inputs)
        inputs = tuple(map(_plain, inputs))
        if "out" in kwargs:
            kwargs["out"] = tuple(map(_plain, kwargs["out"]))
        with np.errstate(all="ignore"):
            return _wrapped(getattr(ufunc, method)(*inputs, **kwargs))

    def __array_function__(self, func, types, args, kwargs):
        if func is np.dot and not kwargs:
            a, b = args
            return _multiply(a, b) if np.ndim(a) == 0 or np.ndim(b) == 0 else _matmul(a, b, dot=True)
        if func in _LIKE:  # (prototype, [fill_value,] dtype, order, subok, shape)
            at = 2 if func is np.full_like else 1
            dtype = args[at] if len(args) > at else kwargs.get("dtype")
            shape = kwargs.get("shape", args[at + 3] if len(args) > at + 3 else None)
            shape = np.shape(args[0]) if shape is None else (shape,) if isinstance(shape, int) else tuple(shape)
            return stand_in(shape, np.result_type(args[0]) if dtype is None else np.dtype(dtype))
        with np.errstate(all="ignore"):
            return _wrapped(super().__array_function__(func, types, args, kwargs))


_LIKE = (np.zeros_like, np.ones_like, np.empty_like, np.full_like)


def _sample(value):
    """One element of an array operand, kept as an array of its dtype; numbers as they are (NumPy types them weakly)."""
    if isinstance(value, np.ndarray):
        return value.view(np.ndarray).reshape(-1)[:1] if value.size else np.zeros(1, value.dtype)
    return value


def _plain(value):
    return value.view(np.ndarray) if isinstance(value, _StandIn) else value


def _described(sample, shape):
    """Stand-ins shaped ``shape`` with the dtypes of ``sample`` (a ufunc's result on samples; a tuple for several)."""
    if isinstance(sample, tuple):
        return tuple(_described(s, shape) for s in sample)
    return stand_in(shape, np.result_type(sample))


def _wrapped(result):
    """Arrays that operations on plain views return, as stand-ins again (so that later operations dispatch here)."""
    if isinstance(result, tuple):
        return tuple(_wrapped(r) for r in result)
    if isinstance(result, np.ndarray) and not isinstance(result, _StandIn):
        return result.view(_StandIn)
    return result


def _multiply(a, b):
    return _described(np.multiply(_sample(a), _sample(b)), np.broadcast_shapes(np.shape(a), np.shape(b)))


def _matmul(a, b, dot=False):
    """``a @ b`` (``np.dot(a, b)`` with ``dot``) as a stand-in: its shape from the operands' shapes."""
    sa, sb = np.shape(a), np.shape(b)
    if len(sa) == 0 or len(sb) == 0:
        raise ValueError("matmul: Input operand does not have enough dimensions")
    k_a, k_b = sa[-1], sb[0] if len(sb) == 1 else sb[-2]
    if k_a != k_b:
        raise ValueError(f"shapes {sa} and {sb} not aligned: {k_a} (dim {len(sa) - 1}) != {k_b}")
    rows = sa[:-1]
    cols = () if len(sb) == 1 else sb[:-2] + sb[-1:] if dot else sb[-1:]
    if dot or len(sa) <= 2 and len(sb) <= 2:
        shape = rows + cols
    else:
        batch = np.broadcast_shapes(sa[:-2], sb[:-2] if len(sb) > 1 else ())
        shape = batch + sa[-2:-1] + cols
    dtype = np.result_type(np.matmul(_sample(a).reshape(1, 1), _sample(b).reshape(1, 1)))
    return stand_in(shape, dtype)
