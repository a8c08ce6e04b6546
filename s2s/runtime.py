"""Helpers that generated code calls, each usable from Python and from Numba.

Generated modules import this module as ``rt``.  Every helper is plain NumPy
in Python; under Numba, ``overload`` gives it a typed implementation, so the
same generated line compiles in nopython mode.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import literal_unroll, types
from numba.extending import overload, register_jitable
from numba.np.numpy_support import as_dtype
from numba.np.unsafe.ndarray import to_fixed_tuple

from . import reductions
from .reductions import absent as _absent, along_rows, expand, reduced_count


def zeros_like(x):
    """A zero tangent shaped like ``x``: ``0.0`` for a scalar, an array of zeros for an array."""
    if isinstance(x, tuple):
        return tuple(zeros_like(v) for v in x)
    if isinstance(x, np.ndarray):
        return np.zeros_like(x)
    return 0.0


@overload(zeros_like)
def _zeros_like_numba(x):
    if isinstance(x, types.Array):
        return lambda x: np.zeros_like(x)
    if isinstance(x, (types.Float, types.Integer, types.Boolean)):
        return lambda x: 0.0
    return None


def copy(x):
    """A snapshot of ``x`` that later in-place writes cannot change: a copy of an array, a scalar as is."""
    return x.copy() if isinstance(x, np.ndarray) else x


@overload(copy)
def _copy_numba(x):
    if isinstance(x, types.Array):
        return lambda x: x.copy()
    if isinstance(x, (types.Number, types.Boolean)):
        return lambda x: x
    return None


def total(x):
    """A contribution reduced to a scalar input: the sum of an array, a scalar as is."""
    return np.sum(x) if isinstance(x, np.ndarray) else x


@overload(total)
def _total_numba(x):
    if isinstance(x, types.Array):
        return lambda x: np.sum(x)
    if isinstance(x, types.Number):
        return lambda x: x
    return None


def unbroadcast(value, like):
    """``value`` summed down to the shape of ``like``, undoing NumPy broadcasting.

    A cotangent has the broadcast output's shape; the input ``like`` gets it summed
    over the leading dimensions it lacks and over those where it has size 1.  A
    scalar ``value`` fills a float array shaped like ``like``.  Equal shapes return
    ``value`` itself.
    """
    if not isinstance(like, np.ndarray):
        return total(value)
    if not isinstance(value, np.ndarray):
        return np.full_like(like, value, dtype=float)
    if value.shape == like.shape:
        return value
    value = np.sum(value, axis=tuple(range(value.ndim - like.ndim)))
    return np.sum(value, axis=tuple(i for i, n in enumerate(like.shape) if n == 1), keepdims=True)


@register_jitable
def _sum_to_shape(value, shape):
    """``value`` summed down to ``shape`` in one pass: each element is added to the one it was broadcast from."""
    out = np.zeros(shape, dtype=value.dtype)
    flat = out.reshape(out.size)
    lead = value.ndim - len(shape)
    for index in np.ndindex(value.shape):
        k = 0
        for d in range(len(shape)):
            k = k * shape[d] + (index[lead + d] if shape[d] != 1 else 0)
        flat[k] += value[index]
    return out


@overload(unbroadcast)
def _unbroadcast_numba(value, like):
    if isinstance(like, types.Number):
        return lambda value, like: total(value)
    if not isinstance(like, types.Array):
        return None
    if isinstance(value, types.Number):
        return lambda value, like: np.full_like(like, value, dtype=np.float64)
    if isinstance(value, types.Array) and value.ndim == like.ndim:
        def impl(value, like):
            if value.shape == like.shape:
                return value
            return _sum_to_shape(value, like.shape)
        return impl
    if isinstance(value, types.Array) and value.ndim > like.ndim:
        return lambda value, like: _sum_to_shape(value, like.shape)
    return None


# -- reductions -------------------------------------------------------------------
#
# Each helper's NumPy body compiles under Numba as it is: the reductions it calls
# with ``axis`` and ``keepdims`` come from ``reductions``.  Under Numba ``keepdims``
# must be a literal (the result's dimensions depend on it), hence ``_along``.


def _along(helper, a, axis, keepdims=False):
    """``helper`` itself as its Numba implementation, where ``a``, ``axis`` and ``keepdims`` are supported."""
    if isinstance(a, types.Number) or reductions.reduced_ndim(a, axis, keepdims) is not None:
        return helper
    return None


def sum_transpose(ct, a, axis=None, keepdims=False):
    """Cotangent of ``np.sum(a, axis, keepdims)`` for ``a``: ``ct`` repeated along the summed axes, a new array."""
    if np.ndim(a) == 0:
        return ct
    return np.broadcast_to(expand(ct, a, axis, keepdims), np.shape(a)).copy()


@overload(sum_transpose)
def _sum_transpose_numba(ct, a, axis=None, keepdims=False):
    if isinstance(a, types.Number):
        return lambda ct, a, axis=None, keepdims=False: ct
    if _along(sum_transpose, a, axis, keepdims) is None:
        return None
    return lambda ct, a, axis=None, keepdims=False: np.broadcast_to(expand(ct, a, axis, keepdims), a.shape).copy()


def mean_transpose(ct, a, axis=None, keepdims=False):
    """Cotangent of ``np.mean(a, axis, keepdims)`` for ``a``: ``sum_transpose`` over the number of averaged elements."""
    return sum_transpose(ct, a, axis, keepdims) / reduced_count(a, axis)


@overload(mean_transpose)
def _mean_transpose_numba(ct, a, axis=None, keepdims=False):
    return _along(mean_transpose, a, axis, keepdims)


@register_jitable
def _prod_without_each(flat):
    """``out[i] = prod(flat[j] for j != i)``, without dividing (exact at zeros)."""
    n = flat.size
    out = np.ones(n, dtype=flat.dtype)
    left = 1.0
    for i in range(n):
        out[i] = left
        left *= flat[i]
    right = 1.0
    for i in range(n - 1, -1, -1):
        out[i] *= right
        right *= flat[i]
    return out


#: Each element's factor in ``np.prod(a, axis)``: the product of the others it is multiplied with.
_prod_others = along_rows(_prod_without_each)


def prod_jvp(a, a_dot, axis=None, keepdims=False):
    """Tangent of ``np.prod(a, axis, keepdims)``: sum over i of ``a_dot[i] * prod(a[j], j != i)``."""
    return np.sum(a_dot * _prod_others(a, axis), axis=axis, keepdims=keepdims)


@overload(prod_jvp)
def _prod_jvp_numba(a, a_dot, axis=None, keepdims=False):
    return _along(prod_jvp, a, axis, keepdims)


def prod_jvp_transpose(a, ct, axis=None, keepdims=False):
    """Transpose of ``prod_jvp`` in ``a_dot``: ``ct`` times the product of the other elements, shaped like ``a``."""
    return expand(ct, a, axis, keepdims) * _prod_others(a, axis)


@overload(prod_jvp_transpose)
def _prod_jvp_transpose_numba(a, ct, axis=None, keepdims=False):
    return _along(prod_jvp_transpose, a, axis, keepdims)


def extremum_jvp(a, a_dot, ans, axis=None, keepdims=False):
    """Tangent of ``np.max``/``np.min``: the mean of the tangents where the extremum is attained (as JAX)."""
    hit = a == expand(ans, a, axis, keepdims)
    return np.sum(np.where(hit, a_dot, 0.0), axis=axis, keepdims=keepdims) / np.sum(hit, axis=axis, keepdims=keepdims)


@overload(extremum_jvp)
def _extremum_jvp_numba(a, a_dot, ans, axis=None, keepdims=False):
    return _along(extremum_jvp, a, axis, keepdims)


def extremum_jvp_transpose(a, ct, ans, axis=None, keepdims=False):
    """Transpose of ``extremum_jvp`` in ``a_dot``: ``ct`` shared evenly among the positions of the extremum."""
    hit = a == expand(ans, a, axis, keepdims)
    return np.where(hit, expand(ct, a, axis, keepdims) / np.sum(hit, axis=axis, keepdims=True), 0.0)


@overload(extremum_jvp_transpose)
def _extremum_jvp_transpose_numba(a, ct, ans, axis=None, keepdims=False):
    return _along(extremum_jvp_transpose, a, axis, keepdims)


def centered(a, axis=None):
    """``a`` minus its mean along ``axis``: linear in ``a``, and its own transpose (``np.var``'s derivative)."""
    return a - np.mean(a, axis=axis, keepdims=True)


@overload(centered)
def _centered_numba(a, axis=None):
    return _along(centered, a, axis)


def weighted_sum(w, v, axis=None, keepdims=False):
    """``np.sum(w * v, axis, keepdims)`` for ``w`` and ``v`` of one shape: bilinear, so its transposes need no shapes."""
    return np.sum(w * v, axis=axis, keepdims=keepdims)


@overload(weighted_sum)
def _weighted_sum_numba(w, v, axis=None, keepdims=False):
    return _along(weighted_sum, w, axis, keepdims)


def group_sum(v, axis=None):
    """Each element replaced by the sum of its group along ``axis``: linear and its own transpose (softmax's derivative)."""
    return np.broadcast_to(np.sum(v, axis=axis, keepdims=True), np.shape(v)).copy()


@overload(group_sum)
def _group_sum_numba(v, axis=None):
    return _along(group_sum, v, axis)


def norm_direction(x, ans, ord=None, axis=None, keepdims=False):
    """The derivative of ``np.linalg.norm(x, ord, axis)`` in ``x``, shaped like ``x`` (ties of inf share, as JAX)."""
    if ord == 1:
        return np.sign(x)
    norm = expand(ans, x, axis, keepdims)
    if ord == np.inf or ord == -np.inf:
        hit = np.abs(x) == norm
        return np.where(hit, np.sign(x), 0.0) / np.sum(hit, axis=axis, keepdims=True)
    return x / norm


@overload(norm_direction)
def _norm_direction_numba(x, ans, ord=None, axis=None, keepdims=False):
    if isinstance(ord, (types.UnicodeType, types.StringLiteral)):  # 'fro'
        return lambda x, ans, ord=None, axis=None, keepdims=False: x / expand(ans, x, axis, keepdims)
    return _along(norm_direction, x, axis, keepdims)


def cumprod_jvp(a, a_dot, ans, axis=None):
    """Tangent of ``np.cumprod(a, axis)`` through the ratios ``a_dot / a``: exact where no element is zero."""
    return ans * np.cumsum(a_dot / a, axis=axis)


@overload(cumprod_jvp)
def _cumprod_jvp_numba(a, a_dot, ans, axis=None):
    if _absent(axis) or isinstance(axis, types.Integer):
        return cumprod_jvp
    return None


def cumprod_jvp_transpose(a, ct, ans, axis=None):
    """Transpose of ``cumprod_jvp`` in ``a_dot``."""
    return cumsum_transpose(ct * ans, a, axis) / a


@overload(cumprod_jvp_transpose)
def _cumprod_jvp_transpose_numba(a, ct, ans, axis=None):
    if _absent(axis) or isinstance(axis, types.Integer):
        return cumprod_jvp_transpose
    return None


def cumsum_transpose(ct, a, axis=None):
    """Cotangent of ``np.cumsum(a, axis)`` for ``a``: ``ct`` cumulated backwards along ``axis``.

    ``axis=None`` cumulates flattened ``a``, so ``ct`` is 1-D and the result is
    reshaped to ``a``'s shape.
    """
    if axis is None:
        return np.cumsum(ct[::-1])[::-1].reshape(np.shape(a))
    return np.flip(np.cumsum(np.flip(ct, axis), axis), axis)


@register_jitable
def _reverse_cumsum(row):
    """Sums of ``row`` from each position to the end, as a new array."""
    out = row.copy()
    for k in range(out.size - 2, -1, -1):
        out[k] += out[k + 1]
    return out


_reverse_cumsum_along = along_rows(_reverse_cumsum)


@overload(cumsum_transpose)
def _cumsum_transpose_numba(ct, a, axis=None):
    if _absent(axis):
        return lambda ct, a, axis=None: _reverse_cumsum(ct).reshape(np.shape(a))
    if isinstance(axis, types.Integer):
        return lambda ct, a, axis=None: _reverse_cumsum_along(ct, axis)
    return None


def transpose_transpose(ct, axes=None):
    """Cotangent of ``np.transpose(a, axes)`` for ``a``: ``ct`` transposed by the inverse permutation."""
    if axes is None:
        return np.transpose(ct)
    return np.transpose(ct, np.argsort(np.mod(axes, np.ndim(ct))))


@overload(transpose_transpose)
def _transpose_transpose_numba(ct, axes=None):
    if _absent(axes):
        return lambda ct, axes=None: np.transpose(ct)
    if isinstance(axes, types.UniTuple) and isinstance(axes.dtype, types.Integer):
        n = axes.count  # Numba transposes by a tuple, whose length must be known when compiling
        def impl(ct, axes=None):
            return np.transpose(ct, to_fixed_tuple(np.argsort(np.mod(np.array(axes), ct.ndim)), n))
        return impl
    return None


def _ndim(t):
    """The number of dimensions of a Numba type: 0 for a scalar, ``None`` for what is neither scalar nor array."""
    if isinstance(t, types.Number):
        return 0
    return t.ndim if isinstance(t, types.Array) else None


# The cotangents of ``np.dot(a, b)``, keyed by the dimensions of the known operand and of ``ct``.
_DOT_LEFT = {(1, 0): lambda ct, b: ct * b,
             (1, 1): lambda ct, b: np.outer(ct, b),
             (2, 1): lambda ct, b: np.dot(b, ct),
             (2, 2): lambda ct, b: np.dot(ct, np.ascontiguousarray(b.T))}
_DOT_RIGHT = {(1, 0): lambda a, ct: a * ct,
              (1, 1): lambda a, ct: np.outer(a, ct),
              (2, 1): lambda a, ct: np.dot(ct, a),
              (2, 2): lambda a, ct: np.dot(np.ascontiguousarray(a.T), ct)}


def dot_left_transpose(ct, b):
    """Cotangent of ``a`` in ``np.dot(a, b)`` (or ``a @ b``), for 1-D and 2-D operands."""
    return _DOT_LEFT[np.ndim(b), np.ndim(ct)](ct, b)


@overload(dot_left_transpose)
def _dot_left_transpose_numba(ct, b):
    return _DOT_LEFT.get((_ndim(b), _ndim(ct)))


def dot_right_transpose(a, ct):
    """Cotangent of ``b`` in ``np.dot(a, b)`` (or ``a @ b``), for 1-D and 2-D operands."""
    return _DOT_RIGHT[np.ndim(a), np.ndim(ct)](a, ct)


@overload(dot_right_transpose)
def _dot_right_transpose_numba(a, ct):
    return _DOT_RIGHT.get((_ndim(a), _ndim(ct)))


def concatenate_piece(ct, arrays, index, axis=0):
    """Cotangent of ``np.concatenate(arrays, axis)`` for ``arrays[index]``: its slice of ``ct``, as a new array."""
    start = stop = 0
    i = 0
    for x in literal_unroll(arrays):  # a tuple whose arrays may differ in type
        if i <= index:
            start, stop = stop, stop + np.shape(x)[axis]
        i += 1
    return np.take(ct, np.arange(start, stop), axis)


@overload(concatenate_piece)
def _concatenate_piece_numba(ct, arrays, index, axis=0):
    if isinstance(arrays, types.BaseTuple) and isinstance(index, types.Integer):
        return concatenate_piece  # the Python body compiles as it is
    return None


def stack_piece(ct, index, axis=0):
    """Cotangent of ``np.stack(arrays, axis)`` for ``arrays[index]``: ``ct`` at ``index`` along ``axis``, a new array."""
    return np.take(ct, index, axis)


@overload(stack_piece)
def _stack_piece_numba(ct, index, axis=0):
    if isinstance(ct, types.Array) and isinstance(index, types.Integer):
        return stack_piece  # the Python body compiles as it is
    return None


def add_at(target, index, value):
    """``target[index] += value`` in place, with repeated indices accumulating (``np.add.at``)."""
    np.add.at(target, index, value)


@overload(add_at)
def _add_at_numba(target, index, value):
    if not isinstance(target, types.Array):
        return None
    if isinstance(index, types.Integer):
        def impl(target, index, value):
            target[index] += value
        return impl
    if target.ndim == 1 and isinstance(index, types.Array) and index.ndim == 1 \
            and isinstance(index.dtype, types.Integer):
        def impl(target, index, value):
            values = np.broadcast_to(value, index.shape)
            for i in range(index.size):
                target[index[i]] += values[i]
        return impl
    return None


def seed(out):
    """The cotangent that starts a gradient: 1.0 for a scalar output; an error for any other."""
    if isinstance(out, np.ndarray) and out.shape != () or not isinstance(out, (float, int, np.number, np.ndarray)):
        raise TypeError("grad requires a function with a scalar output (use vjp or jacrev for other outputs)")
    return 1.0


@overload(seed)
def _seed_numba(out):
    if isinstance(out, (types.Float, types.Integer)):
        return lambda out: 1.0

    def refuse(out):  # raises when called; typed as returning a float, so the gradient code compiles
        if len(np.shape(out)) >= 0:
            raise TypeError("grad requires a function with a scalar output (use vjp or jacrev for other outputs)")
        return 1.0

    return refuse


# -- batching ----------------------------------------------------------------------

#: The batch loop of ``vmap``: ``range`` in Python; under Numba, its parallel loop.
prange = numba.prange


def batch_size(sizes):
    """The size of the batch: the mapped axes' common length (the API checks first, naming the arguments)."""
    for size in sizes:
        if size != sizes[0]:
            raise ValueError("vmap got arguments whose mapped axes have different sizes")
    return sizes[0]


@overload(batch_size)
def _batch_size_numba(sizes):
    def impl(sizes):
        for size in literal_unroll(sizes):
            if size != sizes[0]:
                raise ValueError("vmap got arguments whose mapped axes have different sizes")
        return sizes[0]
    return impl


def batch_empty(example, size):
    """An array for ``size`` results shaped like ``example``, the batch axis first (filled by the batch loop)."""
    return np.empty((size,) + np.shape(example), np.asarray(example).dtype)


@overload(batch_empty)
def _batch_empty_numba(example, size):
    if isinstance(example, types.Array):
        return lambda example, size: np.empty((size,) + example.shape, example.dtype)
    if isinstance(example, (types.Number, types.Boolean)):
        dtype = as_dtype(example)
        return lambda example, size: np.empty(size, dtype)
    return None


def batch_broadcast(value, size):
    """``size`` copies of ``value`` stacked along a new first axis: an unbatched value given a batch axis."""
    value = np.asarray(value)
    return np.repeat(value[np.newaxis], size, axis=0)


@overload(batch_broadcast)
def _batch_broadcast_numba(value, size):
    def impl(value, size):
        out = batch_empty(value, size)
        for b in range(size):
            out[b] = value
        return out
    return impl


def moveaxis(a, source, destination):
    """``np.moveaxis`` for one axis (a view), also under Numba."""
    return np.moveaxis(a, source, destination)


@overload(moveaxis)
def _moveaxis_numba(a, source, destination):
    if not isinstance(a, types.Array):
        return None
    ndim = a.ndim

    def impl(a, source, destination):
        src, dst = source % ndim, destination % ndim
        order = [d for d in range(ndim) if d != src]
        order.insert(dst, src)
        return a.transpose(to_fixed_tuple(np.array(order), ndim))
    return impl


def basis(x):
    """The standard basis of ``x``'s space, one direction per element: shape ``(x.size,) + x.shape``."""
    x = np.asarray(x, dtype=float)
    return np.eye(x.size).reshape((x.size,) + x.shape)


@overload(basis)
def _basis_numba(x):
    if isinstance(x, types.Array):
        return lambda x: np.eye(x.size).reshape((x.size,) + x.shape)
    if isinstance(x, types.Number):
        return lambda x: np.ones(1)
    return None


def unflatten_last(jac, x):
    """A Jacobian whose last axis runs over ``x``'s elements, that axis given ``x``'s shape."""
    return np.reshape(jac, np.shape(jac)[:-1] + np.shape(x))


@overload(unflatten_last)
def _unflatten_last_numba(jac, x):
    """Without a copy where the shape stays (a vector ``x``) or only loses the last axis (a scalar ``x``)."""
    if isinstance(x, types.Array) and x.ndim == 1:
        return lambda jac, x: jac
    if isinstance(x, types.Array):
        return lambda jac, x: np.ascontiguousarray(jac).reshape(jac.shape[:-1] + x.shape)
    if isinstance(x, types.Number):
        return lambda jac, x: jac[..., 0]
    return None


def unflatten_first(jac, out):
    """A Jacobian whose first axis runs over ``out``'s elements, that axis given ``out``'s shape."""
    return np.reshape(jac, np.shape(out) + np.shape(jac)[1:])


@overload(unflatten_first)
def _unflatten_first_numba(jac, out):
    """Without a copy where the shape stays (a vector ``out``) or only loses the first axis (a scalar)."""
    if isinstance(out, types.Array) and out.ndim == 1:
        return lambda jac, out: jac
    if isinstance(out, types.Array):
        return lambda jac, out: np.ascontiguousarray(jac).reshape(out.shape + jac.shape[1:])
    if isinstance(out, types.Number):
        return lambda jac, out: jac[0]
    return None


def jacobian_zeros(out, x):
    """A Jacobian of zeros, shaped ``out.shape + x.shape``, for its columns to be written into."""
    return np.zeros(np.shape(out) + np.shape(x))


@overload(jacobian_zeros)
def _jacobian_zeros_numba(out, x):
    if isinstance(out, types.Array) and isinstance(x, types.Array):
        return lambda out, x: np.zeros(out.shape + x.shape)
    return None
