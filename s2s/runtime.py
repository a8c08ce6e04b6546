"""Helpers that generated code calls, each usable from Python and from Numba.

Generated modules import this module as ``rt``.  Every helper is plain NumPy
in Python; under Numba, ``overload`` gives it a typed implementation, so the
same generated line compiles in nopython mode.  The overloads are recorded
without importing Numba and registered when the numba backend loads
(``backends.deferred``): ``numba.njit`` code of your own that calls these
helpers needs ``s2s.backends.named("numba")`` first.
"""

from __future__ import annotations

import math
import operator

import numpy as np
import scipy.special

from . import reductions, tree_util
from .revolve import revolve, revolve_next  # noqa: F401  (the schedule of checkpointed loops)
from .backends.deferred import numba_names, overload, register_jitable
from .reductions import absent as _absent, along_rows, expand, reduced_count

# Numba's objects, as the overloads below name them: bound when the numba backend loads (``deferred``).
numba = types = TypingError = as_dtype = to_fixed_tuple = None


def literal_unroll(container):
    """In Python, the container itself (as Numba's is, called from Python); Numba's once it loads."""
    return container


def tuple_setitem(tup, index, value):
    """In Python, ``tup`` with ``value`` at ``index``; Numba's once it loads."""
    return tup[:index] + (value,) + tup[index + 1:]


#: The batch loop of ``vmap``: ``range`` in Python; under Numba, its parallel loop.
prange = range
numba_names(globals())


def zeros_like(x):
    """A zero tangent shaped like ``x``: ``0.0`` for a scalar, an array of zeros for an array."""
    if isinstance(x, tuple):
        return tuple(zeros_like(v) for v in x)
    if isinstance(x, list):  # the pieces of np.split
        return [zeros_like(v) for v in x]
    if isinstance(x, np.ndarray):
        return np.zeros_like(x)
    return 0.0


@overload(zeros_like)
def _zeros_like_numba(x):
    if isinstance(x, types.Array):
        return lambda x: np.zeros_like(x)
    if isinstance(x, (types.Float, types.Integer, types.Boolean)):
        zero = _float_scalar(x)(0.0)
        return lambda x: zero
    if isinstance(x, (types.List, types.ListType)) and isinstance(x.dtype, types.Array):  # the pieces of np.split
        return lambda x: [np.zeros_like(v) for v in x]
    return None


def _float_scalar(t):
    """The NumPy scalar type of a Numba scalar type's derivatives: a float one stays (float32 too), else float64."""
    return as_dtype(t).type if isinstance(t, types.Float) else np.float64


def reshape_cotangent(ct, shape):
    """``np.reshape(ct, shape)`` of a cotangent, which may be a view with strides no reshape can keep (a
    transpose's): Numba reshapes only contiguous arrays, so there it is made contiguous first."""
    return np.reshape(ct, shape)


@overload(reshape_cotangent)
def _reshape_cotangent_numba(ct, shape):
    if isinstance(ct, types.Array) and ct.layout != "C":
        return lambda ct, shape: np.ascontiguousarray(ct).reshape(shape)
    return lambda ct, shape: np.reshape(ct, shape)


def copy(x):
    """A snapshot of ``x`` that later in-place writes cannot change: a copy of an array, a scalar as is."""
    return x.copy() if isinstance(x, np.ndarray) else x


@overload(copy)
def _copy_numba(x):
    if isinstance(x, types.Array):
        return lambda x: x.copy()
    if isinstance(x, (types.Number, types.Boolean, types.BaseTuple)):  # (a tuple: as NumPy's body has it)
        return lambda x: x
    return None


@register_jitable
def larger(x, y):
    """``max(x, y)`` of two numbers, as device code spells it (Numba's CUDA target does not compile ``max``)."""
    return y if y > x else x


@register_jitable
def smaller(x, y):
    """``min(x, y)`` of two numbers, as device code spells it."""
    return y if y < x else x


@register_jitable
def sign(x):
    """``np.sign`` of a number, as device code spells it: 0 and NaN are their own signs."""
    return 1.0 if x > 0 else -1.0 if x < 0 else x


def stop_gradient(x):
    """``x`` itself, as a value that carries no derivative (``s2s.stop_gradient``): the rule table marks it
    so, and every transform reads that.  Called directly, it takes a tree (dicts, lists, …) too."""
    if isinstance(x, (np.ndarray, float, int, np.number)):
        return x
    return tree_util.tree_map(lambda leaf: leaf, x)


@overload(stop_gradient)
def _stop_gradient_numba(x):
    if isinstance(x, (types.Array, types.Number, types.Boolean, types.BaseTuple)):
        return lambda x: x
    return None


def checkpoint_name(x, name):
    """``x`` itself, named ``name`` for a checkpoint policy (``s2s.checkpoint_policies.save_only_these_names``):
    its derivative is the identity's in every transform."""
    return x


@overload(checkpoint_name)
def _checkpoint_name_numba(x, name):
    return lambda x, name: x


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
        return np.full_like(like, value, dtype=_float_dtype(like))
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
        dtype = _float_scalar(like.dtype)
        return lambda value, like: np.full(like.shape, value, dtype)
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


@register_jitable
def _prod_without_each_jvp(flat, tangent):
    """The tangent of ``_prod_without_each(flat)`` along ``tangent``: forward mode through its two sweeps."""
    n = flat.size
    out, d_out = np.ones_like(flat), np.zeros_like(tangent)
    left, d_left = 1.0, 0.0
    for i in range(n):
        out[i], d_out[i] = left, d_left
        d_left = d_left * flat[i] + left * tangent[i]
        left *= flat[i]
    right, d_right = 1.0, 0.0
    for i in range(n - 1, -1, -1):
        d_out[i] = d_out[i] * right + out[i] * d_right
        out[i] *= right
        d_right = d_right * flat[i] + right * tangent[i]
        right *= flat[i]
    return d_out


#: Each element's factor in ``np.prod(a, axis)``: the product of the others it is multiplied with.
_prod_others = along_rows(_prod_without_each)
_prod_others_jvp = along_rows(_prod_without_each_jvp)


def prod_others_jvp(a, t, axis=None):
    """The tangent of each element's product of the others along ``axis`` (``np.prod``'s second derivative).

    Element ``i`` gets the sum over ``k != i`` of ``t[k]`` times the product of all elements but ``i``
    and ``k``: symmetric in ``i`` and ``k``, so it is its own transpose.  No division: exact at zeros.
    """
    return _prod_others_jvp(a, t, axis)


@overload(prod_others_jvp)
def _prod_others_jvp_numba(a, t, axis=None):
    return _along(prod_others_jvp, a, axis)


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


@register_jitable
def _count(hit, like, axis, keepdims):
    """How many of ``hit`` are true along ``axis``, in ``like``'s float type (a float32 tangent stays float32)."""
    return np.sum(np.where(hit, np.ones_like(like), np.zeros_like(like)), axis=axis, keepdims=keepdims)


def extremum_jvp(a, a_dot, ans, axis=None, keepdims=False):
    """Tangent of ``np.max``/``np.min``: the mean of the tangents where the extremum is attained (as JAX)."""
    hit = a == expand(ans, a, axis, keepdims)
    picked = np.where(hit, a_dot, np.zeros_like(a_dot))  # (not 0.0: Numba would make float32 float64)
    return np.sum(picked, axis=axis, keepdims=keepdims) / _count(hit, a_dot, axis, keepdims)


@overload(extremum_jvp)
def _extremum_jvp_numba(a, a_dot, ans, axis=None, keepdims=False):
    return _along(extremum_jvp, a, axis, keepdims)


def extremum_jvp_transpose(a, ct, ans, axis=None, keepdims=False):
    """Transpose of ``extremum_jvp`` in ``a_dot``: ``ct`` shared evenly among the positions of the extremum."""
    hit = a == expand(ans, a, axis, keepdims)
    share = expand(ct, a, axis, keepdims) / _count(hit, a, axis, True)
    return np.where(hit, share, np.zeros_like(share))


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
    """The derivative of ``np.linalg.norm(x, ord, axis)`` in ``x``, shaped like ``x`` (ties of inf share, as JAX).

    Vector norms of any ``ord`` and the Frobenius norm; the other matrix norms (spectral, nuclear,
    induced) raise rather than give a wrong derivative.
    """
    matrix = (np.ndim(x) == 2 if axis is None else np.ndim(axis) == 1 and len(axis) == 2)
    if matrix and ord is not None and ord != "fro":
        raise ValueError(f"s2s differentiates np.linalg.norm of a matrix for ord=None or 'fro' only, not ord={ord!r}")
    if ord is None or ord == 2 or ord == "fro":
        return x / expand(ans, x, axis, keepdims)
    return _vector_norm_direction(x, expand(ans, x, axis, keepdims), ord, axis)


@register_jitable
def _vector_norm_direction(x, norm, ord, axis):
    if ord == 1:
        return np.sign(x)
    if ord == 0:  # a count of the nonzero elements: constant where it has a derivative
        return np.zeros_like(x)
    if ord == np.inf or ord == -np.inf:
        hit = np.abs(x) == norm
        return np.where(hit, np.sign(x), 0.0) / _count(hit, x, axis, True)
    return np.sign(x) * (np.abs(x) / norm) ** (ord - 1)


@overload(norm_direction)
def _norm_direction_numba(x, ans, ord=None, axis=None, keepdims=False):
    if isinstance(ord, (types.UnicodeType, types.StringLiteral)) or _absent(ord):  # 'fro', or 2 of a vector
        return lambda x, ans, ord=None, axis=None, keepdims=False: x / expand(ans, x, axis, keepdims)
    if _along(norm_direction, x, axis, keepdims) is None:
        return None
    if isinstance(x, types.Array) and x.ndim == 2 and _absent(axis) or isinstance(axis, types.UniTuple):
        def matrix(x, ans, ord=None, axis=None, keepdims=False):
            raise ValueError("s2s differentiates np.linalg.norm of a matrix for ord=None or 'fro' only")
        return matrix
    return lambda x, ans, ord=None, axis=None, keepdims=False: _vector_norm_direction(
        x, expand(ans, x, axis, keepdims), ord, axis)


def norm_curvature(x, norm, ord=None, axis=None, keepdims=False):
    """How ``norm_direction(x, norm)`` varies (its JVP rule), shaped like ``x``: its tangent is this times
    ``x_dot - x * norm_dot / norm``.  ``(ord - 1) (|x| / norm) ** (ord - 2) / norm``: ``1 / norm`` for
    the 2-norm and Frobenius, zero where the direction is piecewise constant (``ord`` 1, 0, inf, -inf)."""
    if ord is None or ord == 2 or ord == "fro":
        return np.ones_like(x) / expand(norm, x, axis, keepdims)
    return _vector_norm_curvature(x, expand(norm, x, axis, keepdims), ord)


@register_jitable
def _vector_norm_curvature(x, norm, ord):
    if ord == 1 or ord == 0 or ord == np.inf or ord == -np.inf:
        return np.zeros_like(x / norm)
    return (ord - 1) * (np.abs(x) / norm) ** (ord - 2) / norm


@overload(norm_curvature)
def _norm_curvature_numba(x, norm, ord=None, axis=None, keepdims=False):
    if isinstance(ord, (types.UnicodeType, types.StringLiteral)) or _absent(ord):
        return lambda x, norm, ord=None, axis=None, keepdims=False: np.ones_like(x) / expand(norm, x, axis, keepdims)
    if _along(norm_curvature, x, axis, keepdims) is None:
        return None
    return lambda x, norm, ord=None, axis=None, keepdims=False: _vector_norm_curvature(
        x, expand(norm, x, axis, keepdims), ord)


# -- cumulative products: forward and reverse mode through the running product, exact at zeros ----
#
# Each helper runs along ``axis`` (``None``: the flattened array, as ``np.cumprod``).  They are
# linear in their tangent or cotangent operands, and transpose into one another: ``cumprod_hvp``
# is symmetric in its two tangents, so it and ``cumprod_hvp_transpose`` cover every second-order case.


@register_jitable
def _cumprod_row_jvp(row, tangent):
    out = np.empty_like(tangent)
    product, d_product = 1.0, 0.0
    for i in range(row.size):
        d_product = d_product * row[i] + product * tangent[i]
        product *= row[i]
        out[i] = d_product
    return out


@register_jitable
def _cumprod_row_hvp(row, t, b):
    out = np.empty_like(t)
    product, d_t, d_b, d_tb = 1.0, 0.0, 0.0, 0.0
    for i in range(row.size):
        d_tb = d_tb * row[i] + d_t * b[i] + d_b * t[i]
        d_t = d_t * row[i] + product * t[i]
        d_b = d_b * row[i] + product * b[i]
        product *= row[i]
        out[i] = d_tb
    return out


@register_jitable
def _cumprod_row_transpose(row, ct):
    """``out[k] = sum over i >= k of ct[i] * prod(row[j], j <= i, j != k)``: the products after ``k``
    gathered backwards, times the product before ``k``."""
    out = np.empty_like(ct)
    after = 0.0
    for k in range(row.size - 1, -1, -1):
        after += ct[k]
        out[k] = after
        after *= row[k]
    before = 1.0
    for k in range(row.size):
        out[k] *= before
        before *= row[k]
    return out


@register_jitable
def _cumprod_row_hvp_transpose(row, ct, b):
    """The tangent of ``_cumprod_row_transpose(row, ct)`` along ``b`` for ``row``."""
    after, d_after = np.empty_like(ct), np.empty_like(ct)
    gathered, d_gathered = 0.0, 0.0
    for k in range(row.size - 1, -1, -1):
        gathered += ct[k]
        after[k], d_after[k] = gathered, d_gathered
        d_gathered = d_gathered * row[k] + gathered * b[k]
        gathered *= row[k]
    before, d_before = 1.0, 0.0
    for k in range(row.size):
        d_after[k] = d_before * after[k] + before * d_after[k]
        d_before = d_before * row[k] + before * b[k]
        before *= row[k]
    return d_after


_cumprod_jvp_along = along_rows(_cumprod_row_jvp)
_cumprod_hvp_along = along_rows(_cumprod_row_hvp)
_cumprod_transpose_along = along_rows(_cumprod_row_transpose)
_cumprod_hvp_transpose_along = along_rows(_cumprod_row_hvp_transpose)


def cumprod_jvp(a, t, axis=None):
    """Tangent of ``np.cumprod(a, axis)`` along ``t``."""
    if axis is None:
        return _cumprod_jvp_along(a, t, None).ravel()
    return _cumprod_jvp_along(a, t, axis)


def cumprod_hvp(a, t, b, axis=None):
    """Tangent of ``cumprod_jvp(a, t, axis)`` along ``b`` for ``a``: symmetric in ``t`` and ``b``."""
    if axis is None:
        return _cumprod_hvp_along(a, t, b, None).ravel()
    return _cumprod_hvp_along(a, t, b, axis)


def cumprod_jvp_transpose(a, ct, axis=None):
    """Transpose of ``cumprod_jvp`` in ``t``: the cotangent of ``a``, shaped like it."""
    if axis is None:
        return _cumprod_transpose_along(a, np.reshape(ct, np.shape(a)), None)
    return _cumprod_transpose_along(a, ct, axis)


def cumprod_hvp_transpose(a, ct, b, axis=None):
    """Tangent of ``cumprod_jvp_transpose(a, ct, axis)`` along ``b`` for ``a``; transposes ``cumprod_hvp`` too."""
    if axis is None:
        return _cumprod_hvp_transpose_along(a, np.reshape(ct, np.shape(a)), b, None)
    return _cumprod_hvp_transpose_along(a, ct, b, axis)


@overload(cumprod_jvp)
def _cumprod_jvp_numba(a, t, axis=None):
    return _along(cumprod_jvp, a, axis)


@overload(cumprod_hvp)
def _cumprod_hvp_numba(a, t, b, axis=None):
    return _along(cumprod_hvp, a, axis)


@overload(cumprod_jvp_transpose)
def _cumprod_jvp_transpose_numba(a, ct, axis=None):
    return _along(cumprod_jvp_transpose, a, axis)


@overload(cumprod_hvp_transpose)
def _cumprod_hvp_transpose_numba(a, ct, b, axis=None):
    return _along(cumprod_hvp_transpose, a, axis)


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
    impl, common = _DOT_LEFT.get((_ndim(b), _ndim(ct))), _wider_float(ct, b)
    if impl is None or common is None:
        return impl
    same = register_jitable(impl)
    return lambda ct, b: same(ct.astype(common), b.astype(common))


def dot_right_transpose(a, ct):
    """Cotangent of ``b`` in ``np.dot(a, b)`` (or ``a @ b``), for 1-D and 2-D operands."""
    return _DOT_RIGHT[np.ndim(a), np.ndim(ct)](a, ct)


@overload(dot_right_transpose)
def _dot_right_transpose_numba(a, ct):
    impl, common = _DOT_RIGHT.get((_ndim(a), _ndim(ct))), _wider_float(a, ct)
    if impl is None or common is None:
        return impl
    same = register_jitable(impl)
    return lambda a, ct: same(a.astype(common), ct.astype(common))


def _wider_float(x, y):
    """For two arrays of different types, the one NumPy computes their product in (Numba's ``np.dot``
    takes arrays of one type); else None."""
    if isinstance(x, types.Array) and isinstance(y, types.Array) and x.dtype != y.dtype:
        return np.result_type(as_dtype(x.dtype), as_dtype(y.dtype))
    return None


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


def split_transpose(ct, axis=0):
    """Cotangent of ``np.split(ary, sections, axis)`` (and ``np.array_split``) for ``ary``: its pieces' joined.

    Pieces that left compiled code come back into it stacked on a new first axis where they are all
    alike, else as a typed list (``backends.numba_cpu.tapes_as_arrays``); NumPy joins either.
    """
    return np.concatenate(ct, axis)


@overload(split_transpose)
def _split_transpose_numba(ct, axis=0):
    if isinstance(ct, (types.List, types.ListType, types.BaseTuple)):  # (a tuple: pieces made in compiled code)
        return lambda ct, axis=0: np.concatenate(ct, axis)
    if not (isinstance(ct, types.Array) and ct.ndim >= 2):
        return None
    ndim = ct.ndim - 1  # the pieces'

    def stacked(ct, axis=0):  # piece i's slice j along ``axis`` is row i * (slices a piece) + j of the result
        k = _axis(axis, ndim)
        joined = _resized(ct.shape[1:], k, ct.shape[0] * ct.shape[k + 1])
        return np.ascontiguousarray(moveaxis(ct, 0, k)).reshape(joined)
    return stacked


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


_NOT_A_NUMBER_ON_TAPE = ("the backward pass needs a value of this loop that device tapes do not hold (here of "
                         "type {}): they hold floats of the code's float type, branch decisions, and integers the "
                         "code computes from integer constants; use forward mode (jvp, jacfwd) for it on the device")


def push(tape, size, value):
    """Device code's ``tape.append(value)`` (``device_tapes``): ``value`` written at ``size`` while the tape's
    column has room; the size it would have, which the launcher reads where it overflowed."""
    kind = np.asarray(value).dtype.kind
    if np.ndim(value) or not (kind in "iu" if tape.dtype.kind in "iu" else kind in "bf"):
        raise TypeError(_NOT_A_NUMBER_ON_TAPE.format(type(value).__name__))
    return _pushed(tape, size, value)


@register_jitable
def _pushed(tape, size, value):
    if size < len(tape):
        tape[size] = value
    return size + 1


@overload(push)
def _push_numba(tape, size, value):
    if not isinstance(tape, types.Array):
        return None
    if isinstance(tape.dtype, types.Integer):
        fits = isinstance(value, types.Integer)
    else:  # a float no wider than the column's, or a branch decision
        fits = isinstance(value, types.Boolean) or isinstance(value, types.Float) and \
            value.bitwidth <= tape.dtype.bitwidth
    if not fits:
        raise TypingError(_NOT_A_NUMBER_ON_TAPE.format(value))
    return lambda tape, size, value: _pushed(tape, size, value)


def seed(out):
    """The cotangent that starts a gradient: 1.0 for a scalar output; an error for any other."""
    if isinstance(out, np.ndarray) and out.shape != () or not isinstance(out, (float, int, np.number, np.ndarray)):
        raise TypeError("grad requires a function with a scalar output (use vjp or jacrev for other outputs)")
    return 1.0


@overload(seed)
def _seed_numba(out):
    if isinstance(out, (types.Float, types.Integer)):
        one = _float_scalar(out)(1.0)
        return lambda out: one

    def refuse(out):  # raises when called; typed as returning a float, so the gradient code compiles
        if len(np.shape(out)) >= 0:
            raise TypeError("grad requires a function with a scalar output (use vjp or jacrev for other outputs)")
        return 1.0

    return refuse


# -- batching ----------------------------------------------------------------------

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
    x = np.asarray(x)
    return np.eye(x.size, dtype=_float_dtype(x)).reshape((x.size,) + x.shape)


def _float_dtype(x):
    """``x``'s dtype if it is a float one (float32 stays float32), else float64."""
    return x.dtype if x.dtype.kind == "f" else np.float64


@overload(basis)
def _basis_numba(x):
    if isinstance(x, types.Array) and isinstance(x.dtype, types.Float):
        return lambda x: np.eye(x.size, dtype=x.dtype).reshape((x.size,) + x.shape)
    if isinstance(x, types.Array):
        return lambda x: np.eye(x.size).reshape((x.size,) + x.shape)
    if isinstance(x, types.Number):
        dtype = _float_scalar(x)
        return lambda x: np.ones(1, dtype)
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
    return np.zeros(np.shape(out) + np.shape(x), _float_dtype(np.asarray(x)))


@overload(jacobian_zeros)
def _jacobian_zeros_numba(out, x):
    """Scalars count as arrays of shape ()."""
    if not all(isinstance(v, (types.Array, types.Number)) for v in (out, x)):
        return None
    dtype = x.dtype if isinstance(x, types.Array) and isinstance(x.dtype, types.Float) else \
        x if isinstance(x, types.Float) else types.float64
    if isinstance(out, types.Array) and isinstance(x, types.Array):
        return lambda out, x: np.zeros(out.shape + x.shape, dtype)
    if isinstance(out, types.Array):
        return lambda out, x: np.zeros(out.shape, dtype)
    if isinstance(x, types.Array):
        return lambda out, x: np.zeros(x.shape, dtype)
    return lambda out, x: np.zeros((), dtype)



@register_jitable
def _interp_segment(x, xp):
    """The segment of ``xp`` holding ``x``: i with xp[i] <= x < xp[i + 1], kept within the first and the last."""
    return min(max(np.searchsorted(xp, x, side="right") - 1, 0), len(xp) - 2)


def interp_slope(x, xp, fp):
    """The slope of ``np.interp(x, xp, fp)`` at each ``x``: its segment's, 0 outside ``[xp[0], xp[-1]]``.

    At a point of ``xp`` it is the slope of the segment to its right (the last one at ``xp[-1]``).
    """
    xp, fp = np.asarray(xp), np.asarray(fp)
    i = np.clip(np.searchsorted(xp, x, side="right") - 1, 0, len(xp) - 2)
    inside = (x >= xp[0]) & (x <= xp[-1])
    return (fp[i + 1] - fp[i]) / (xp[i + 1] - xp[i]) * inside


@overload(interp_slope)
def _interp_slope_numba(x, xp, fp):
    if isinstance(x, types.Number):
        def scalar(x, xp, fp):
            i = _interp_segment(x, xp)
            return (fp[i + 1] - fp[i]) / (xp[i + 1] - xp[i]) if xp[0] <= x <= xp[-1] else 0.0 * fp[0]
        return scalar
    if isinstance(x, types.Array):
        def array(x, xp, fp):
            out = np.empty(x.shape, fp.dtype)
            flat, values = out.reshape(out.size), x.ravel()
            for k in range(values.size):
                flat[k] = interp_slope(values[k], xp, fp)
            return out
        return array
    return None


def interp_transpose(ct, x, xp, fp):
    """Cotangent of ``fp`` in ``np.interp(x, xp, fp)``: each ``ct`` split between its segment's two ends."""
    xp = np.asarray(xp)
    x, ct = np.ravel(x), np.ravel(ct)
    i = np.clip(np.searchsorted(xp, x, side="right") - 1, 0, len(xp) - 2)
    t = np.clip((x - xp[i]) / (xp[i + 1] - xp[i]), 0, 1)
    out = np.zeros(np.shape(fp), np.result_type(ct, fp))
    np.add.at(out, i, (1 - t) * ct)
    np.add.at(out, i + 1, t * ct)
    return out


@overload(interp_transpose)
def _interp_transpose_numba(ct, x, xp, fp):
    if not isinstance(fp, types.Array):
        return None

    def impl(ct, x, xp, fp):
        out = np.zeros(fp.shape, fp.dtype)
        values, cts = np.ravel(np.asarray(x)), np.ravel(np.asarray(ct))
        for k in range(values.size):
            i = _interp_segment(values[k], xp)
            t = min(max((values[k] - xp[i]) / (xp[i + 1] - xp[i]), 0.0), 1.0)
            out[i] += (1 - t) * cts[k]
            out[i + 1] += t * cts[k]
        return out
    return impl

# -- scipy.special under Numba -----------------------------------------------------
#
# Numba has no scipy.special.  Each function generated code calls gets an overload
# that applies a scalar kernel to each element (broadcasting like a ufunc, float32
# staying float32), compiled the first time Numba meets a call.  In Python the
# generated code calls SciPy itself.

_SQRT_HALF = 0.7071067811865476


@register_jitable
def _erf(x):
    return math.erf(float(x))


@register_jitable
def _erfc(x):
    return math.erfc(float(x))


@register_jitable
def _ndtr(x):
    return 0.5 * math.erfc(-float(x) * _SQRT_HALF)


@register_jitable
def _log_ndtr(x):
    """``log(ndtr(x))`` without underflow: ``log1p`` for x > 0, an asymptotic series far in the left tail."""
    x = float(x)
    if x > 0.0:
        return math.log1p(-0.5 * math.erfc(x * _SQRT_HALF))
    if x > -30.0:
        return math.log(0.5 * math.erfc(-x * _SQRT_HALF))
    f = 1.0 / (x * x)  # ndtr(x) = phi(x) / -x * (1 - f + 3 f^2 - 15 f^3 + 105 f^4 - ...)
    series = 1.0 - f * (1.0 - f * (3.0 - f * (15.0 - 105.0 * f)))
    return -0.5 * x * x - math.log(-x) - 0.9189385332046728 + math.log(series)


@register_jitable
def _expit(x):
    x = float(x)
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@register_jitable
def _logit(p):
    p = float(p)
    return math.log(p) - math.log1p(-p)


@register_jitable
def _gammaln(x):
    return math.lgamma(float(x))


@register_jitable
def _digamma(x):
    """psi(x): reflection below 0, the recurrence psi(x) = psi(x + 1) - 1/x up to 10, then the asymptotic series."""
    x = float(x)
    if x <= 0.0 and x == math.floor(x):
        return -math.inf if x == 0.0 else math.nan
    result = 0.0
    if x < 0.0:
        result = -math.pi / math.tan(math.pi * x)
        x = 1.0 - x
    while x < 10.0:
        result -= 1.0 / x
        x += 1.0
    f = 1.0 / (x * x)
    return result + math.log(x) - 0.5 / x - f * (1 / 12 - f * (1 / 120 - f * (1 / 252 - f * (1 / 240 - f / 132))))


@register_jitable
def _trigamma(x):
    """psi'(x): reflection below 0, the recurrence psi'(x) = psi'(x + 1) + 1/x^2 up to 10, then the asymptotic series."""
    x = float(x)
    if x <= 0.0 and x == math.floor(x):
        return math.inf
    sign, result = 1.0, 0.0
    if x < 0.0:  # psi'(x) = pi^2 / sin^2(pi x) - psi'(1 - x)
        s = math.sin(math.pi * x)
        sign, result, x = -1.0, math.pi * math.pi / (s * s), 1.0 - x
    while x < 10.0:
        result += sign / (x * x)
        x += 1.0
    t = 1.0 / x
    f = t * t
    tail = t * (1.0 + t / 2 + f * (1 / 6 - f * (1 / 30 - f * (1 / 42 - f * (1 / 30 - 5 * f / 66)))))
    return result + sign * tail


@register_jitable
def _xlogy(x, y):
    return 0.0 if x == 0 and y == y else x * math.log(y)


@register_jitable
def _xlog1py(x, y):
    return 0.0 if x == 0 and y == y else x * math.log1p(y)


def trigamma(x):
    """The derivative of ``scipy.special.digamma``: ``polygamma(1, x)``, in ``x``'s float type."""
    value = scipy.special.polygamma(1, x)
    return value.astype(x.dtype) if isinstance(x, np.ndarray) and x.dtype.kind == "f" else value


def _elementwise_overload(fn, kernel):
    """Under Numba, ``fn(x)`` or ``fn(x, y)`` applies ``kernel`` to each element, as a ufunc (compiled on first use)."""
    nargs = kernel.__code__.co_argcount
    compiled = []

    def ufunc():
        if not compiled:
            signatures = [f"{t}({', '.join([t] * nargs)})" for t in ("float32", "float64")]
            compiled.append(numba.vectorize(signatures)(kernel))
        return compiled[0]

    if nargs == 1:
        def unary(x):
            u = ufunc()
            return lambda x: u(x)
        overload(fn)(unary)
    else:
        def binary(x, y):
            u = ufunc()
            return lambda x, y: u(x, y)
        overload(fn)(binary)


for _fn, _kernel in ((scipy.special.erf, _erf), (scipy.special.erfc, _erfc), (scipy.special.ndtr, _ndtr),
                     (scipy.special.log_ndtr, _log_ndtr), (scipy.special.expit, _expit),
                     (scipy.special.logit, _logit), (scipy.special.gammaln, _gammaln),
                     (scipy.special.digamma, _digamma), (trigamma, _trigamma),
                     (scipy.special.xlogy, _xlogy), (scipy.special.xlog1py, _xlog1py)):
    _elementwise_overload(_fn, _kernel)


# -- builtins and constructors on arrays under Numba (it takes these on numbers and lists) ----


@overload(abs)
def _abs_numba(x):
    """``abs`` of an array: NumPy's, elementwise."""
    if isinstance(x, types.Array):
        return lambda x: np.abs(x)
    return None


@overload(np.array)
def _array_of_array_numba(object, dtype=None):
    """``np.array`` of an array: a copy, in its own dtype or the one asked for."""
    if not isinstance(object, types.Array):
        return None
    if _absent(dtype):
        return lambda object, dtype=None: object.copy()
    return lambda object, dtype=None: object.astype(dtype)


# -- NumPy's shape operations under Numba: the signatures generated code uses that Numba lacks --
#
# Tile, repeat, pad and roll each fill an output whose every cell copies one input cell (or
# none: padding).  They are written once, as a table of those source cells
# (``_source_cells``): the operation gathers through it and its transpose scatters back.


def _integers(t) -> bool:
    """Whether a Numba type is an integer or a tuple of them (an ``axis``, ``reps``, ``shift``)."""
    return isinstance(t, types.Integer) or isinstance(t, types.UniTuple) and isinstance(t.dtype, types.Integer)


def _dtype(t):
    """The NumPy dtype of a Numba array or scalar type (a scalar cotangent's, too)."""
    return as_dtype(t.dtype if isinstance(t, types.Array) else t)


@register_jitable
def _axis(axis, ndim):
    """``axis`` counted from the front; an error out of range, as NumPy's."""
    if axis < -ndim or axis >= ndim:
        raise ValueError("axis is out of bounds for the array's dimensions")
    return axis % ndim


def ints(value):
    """An int, a tuple of ints or an integer array as a vector of ints."""
    return np.ravel(np.asarray(value, dtype=np.intp))


@overload(ints)
def _ints_numba(value):
    if isinstance(value, types.Integer):
        return lambda value: np.full(1, value, np.intp)
    if isinstance(value, types.UniTuple) and isinstance(value.dtype, types.Integer):
        return lambda value: np.array(value).astype(np.intp)
    if isinstance(value, types.Array) and isinstance(value.dtype, types.Integer):
        return lambda value: value.ravel().astype(np.intp)
    return None


@register_jitable
def _resized(shape, axis, size):
    """``shape`` with ``size`` at ``axis``."""
    return tuple_setitem(shape, axis, size)


@register_jitable
def _source_cells(maps, shape):
    """For an output whose index ``i`` along axis ``d`` reads the input's ``maps[d][i]`` (-1: nothing),
    the flat number of the input cell each output cell copies, in C order (-1: none, a zero)."""
    cells = np.zeros(1, np.intp)
    valid = np.ones(1, np.bool_)
    for d in range(len(maps)):
        m = maps[d]
        cells = (cells.reshape(-1, 1) * shape[d] + m.reshape(1, -1)).ravel()
        valid = (valid.reshape(-1, 1) & (m >= 0).reshape(1, -1)).ravel()
    return np.where(valid, cells, -1)


@register_jitable
def _lengths(maps):
    """The output's length along each axis: one entry of ``maps`` per output index."""
    return np.array([m.size for m in maps])


@register_jitable
def _gather_cells(a, cells, shape):
    """The output that copies ``a``'s ``cells`` (zero where -1), shaped ``shape``."""
    flat = np.ascontiguousarray(a).reshape(a.size)
    out = np.zeros(cells.size, a.dtype)
    for k in range(cells.size):
        if cells[k] >= 0:
            out[k] = flat[cells[k]]
    return out.reshape(shape)


@register_jitable
def _scatter_cells(ct, cells, shape):
    """The transpose of ``_gather_cells``: each cotangent element added back to the cell it came from."""
    out = np.zeros(shape, ct.dtype)
    flat_out = out.reshape(out.size)
    flat = np.ascontiguousarray(ct).reshape(ct.size)
    for k in range(cells.size):
        if cells[k] >= 0:
            flat_out[cells[k]] += flat[k]
    return out


@register_jitable
def _tile_cells(shape, reps, ndim):
    """Source cells of ``np.tile`` of an array shaped ``shape`` (``ndim``: the result's), and its lengths."""
    sizes, times = np.ones(ndim, np.intp), np.ones(ndim, np.intp)
    sizes[ndim - len(shape):] = np.array(shape)
    times[ndim - reps.size:] = reps
    maps = [np.arange(sizes[d] * times[d]) % max(sizes[d], 1) for d in range(ndim)]
    return _source_cells(maps, sizes), sizes * times


@register_jitable
def _repeat_cells(shape, repeats, axis):
    """Source cells of ``np.repeat`` along ``axis`` of an array shaped ``shape``, and the result's lengths."""
    maps = [np.repeat(np.arange(shape[d]), repeats) if d == axis else np.arange(shape[d]) for d in range(len(shape))]
    return _source_cells(maps, shape), _lengths(maps)


@register_jitable
def _pad_cells(shape, widths):
    """Source cells of ``np.pad`` (constant mode) by ``widths`` (one row (before, after) per axis), and lengths."""
    maps = []
    for d in range(len(shape)):
        m = np.arange(shape[d] + widths[d, 0] + widths[d, 1]) - widths[d, 0]
        m[(m < 0) | (m >= shape[d])] = -1
        maps.append(m)
    return _source_cells(maps, shape), _lengths(maps)


@register_jitable
def _roll_cells(shape, shift, axis):
    """Source cells of ``np.roll`` by ``shift`` along ``axis`` (vectors of ints, broadcast against each other)."""
    if shift.size != axis.size and shift.size != 1 and axis.size != 1:
        raise ValueError("np.roll: shift and axis must have the same length")
    maps = [np.arange(n) for n in shape]
    for k in range(max(shift.size, axis.size)):
        d = _axis(axis[k % axis.size], len(shape))
        maps[d] = (maps[d] - shift[k % shift.size]) % shape[d]
    return _source_cells(maps, shape)


def pad_widths(pad_width, ndim):
    """``np.pad``'s ``pad_width`` (an int, a pair, or a pair per axis) as one row (before, after) per axis."""
    return np.broadcast_to(np.asarray(pad_width, dtype=np.intp), (ndim, 2))


@overload(pad_widths)
def _pad_widths_numba(pad_width, ndim):
    if isinstance(pad_width, types.Integer):
        return lambda pad_width, ndim: np.full((ndim, 2), pad_width, np.intp)
    if isinstance(pad_width, (types.UniTuple, types.Array)):
        return lambda pad_width, ndim: np.broadcast_to(np.asarray(pad_width), (ndim, 2)).astype(np.intp)
    return None


@overload(np.pad)
def _pad_numba(array, pad_width, mode="constant"):
    if not (isinstance(array, types.Array) and getattr(mode, "literal_value", mode) in ("constant", None)):
        return None
    ndim = array.ndim

    def impl(array, pad_width, mode="constant"):
        cells, lengths = _pad_cells(array.shape, pad_widths(pad_width, array.ndim))
        return _gather_cells(array, cells, to_fixed_tuple(lengths, ndim))
    return impl


@overload(np.tile)
def _tile_numba(A, reps):
    if not (isinstance(A, types.Array) and _integers(reps)):
        return None
    ndim = max(A.ndim, reps.count if isinstance(reps, types.UniTuple) else 1)

    def impl(A, reps):
        cells, lengths = _tile_cells(A.shape, ints(reps), ndim)
        return _gather_cells(A, cells, to_fixed_tuple(lengths, ndim))
    return impl


@overload(np.repeat)
def _repeat_numba(a, repeats, axis=None):
    if not (isinstance(a, types.Array) and isinstance(axis, types.Integer)):
        return None
    ndim = a.ndim

    def impl(a, repeats, axis=None):
        cells, lengths = _repeat_cells(a.shape, repeats, _axis(axis, a.ndim))
        return _gather_cells(a, cells, to_fixed_tuple(lengths, ndim))
    return impl


def negated(shift):
    """``-shift`` for an int or a tuple of ints (``np.roll``'s transpose rolls back)."""
    return tuple(-k for k in shift) if isinstance(shift, tuple) else -shift


negated.fold = True  # evaluated when generating code, on a literal shift


@overload(negated)
def _negated_numba(shift):
    if isinstance(shift, types.Integer):
        return lambda shift: -shift
    if not _integers(shift):
        return None

    def impl(shift):
        out = shift
        for k in range(len(shift)):
            out = tuple_setitem(out, k, -shift[k])
        return out
    return impl


@overload(np.roll)
def _roll_numba(a, shift, axis=None):
    if not (isinstance(a, types.Array) and _integers(shift) and _integers(axis)):
        return None
    return lambda a, shift, axis=None: _gather_cells(a, _roll_cells(a.shape, ints(shift), ints(axis)), a.shape)


@overload(np.flip)
def _flip_numba(m, axis=None):
    """Along one axis, a view (as NumPy's): the axis swapped to the front, reversed, swapped back."""
    if not (isinstance(m, types.Array) and isinstance(axis, types.Integer)):
        return None

    def impl(m, axis=None):
        k = _axis(axis, m.ndim)
        return np.swapaxes(np.swapaxes(m, 0, k)[::-1], 0, k)
    return impl


@overload(np.diff)
def _diff_numba(a, n=1, axis=-1):
    if not (isinstance(a, types.Array) and isinstance(axis, types.Integer)):
        return None

    def impl(a, n=1, axis=-1):
        k = _axis(axis, a.ndim)
        out = np.ascontiguousarray(a)
        for _ in range(n):
            front = moveaxis(out, k, 0)
            out = np.ascontiguousarray(moveaxis(front[1:] - front[:-1], 0, k))
        return out
    return impl


@overload(np.sort)
def _sort_numba(a, axis=-1):
    """Along any axis: Numba's sort of the last one, the axis moved there and back."""
    if not (isinstance(a, types.Array) and isinstance(axis, types.Integer)):
        return None

    def impl(a, axis=-1):
        k = _axis(axis, a.ndim)
        return np.ascontiguousarray(moveaxis(np.sort(moveaxis(a, k, -1)), -1, k))
    return impl


@overload(np.argsort)
def _argsort_numba(a, axis=-1):
    """Of an array of any dimensions, along any axis: each line's argsort (Numba sorts vectors)."""
    if not (isinstance(a, types.Array) and (isinstance(axis, (types.Integer, int)) and a.ndim > 1
                                            or isinstance(axis, types.Integer))):
        return None  # a vector's along its axis: Numba's own
    if a.ndim == 1:
        def vector(a, axis=-1):
            _axis(axis, 1)
            return np.argsort(a)
        return vector

    def impl(a, axis=-1):
        k = _axis(axis, a.ndim)
        moved = moveaxis(a, k, -1)
        out = np.empty(moved.shape, np.intp)
        for index in np.ndindex(moved.shape[:-1]):
            out[index] = np.argsort(moved[index])
        return np.ascontiguousarray(moveaxis(out, -1, k))
    return impl


@overload(np.squeeze)
def _squeeze_numba(a, axis=None):
    """With ``axis`` given (an int or a tuple): the result's dimensions must be known when compiling."""
    if not isinstance(a, types.Array):
        return None
    if _absent(axis):
        raise TypingError("np.squeeze under Numba needs axis= (which axes go must be known when compiling)")
    if not _integers(axis):
        return None
    ndim = a.ndim - (axis.count if isinstance(axis, types.UniTuple) else 1)

    def impl(a, axis=None):
        shape = np.array(a.shape)
        gone = np.zeros(a.ndim, np.bool_)
        for d in ints(axis):
            gone[_axis(d, a.ndim)] = True
        if np.any(shape[gone] != 1):
            raise ValueError("np.squeeze: cannot select an axis whose length is not one")
        return np.ascontiguousarray(a).reshape(to_fixed_tuple(shape[~gone], ndim))
    return impl


@overload(np.concatenate)
def _concatenate_list_numba(arrays, axis=0):
    """Of a list of arrays (Numba joins tuples): the cotangent of ``np.split``'s pieces."""
    if not (isinstance(arrays, (types.List, types.ListType)) and isinstance(arrays.dtype, types.Array)):
        return None
    ndim = arrays.dtype.ndim

    def impl(arrays, axis=0):
        k = _axis(axis, ndim)
        total = 0
        for piece in arrays:
            total += piece.shape[k]
        out = np.empty(_resized(arrays[0].shape, k, total), arrays[0].dtype)
        front = moveaxis(out, k, 0)
        start = 0
        for piece in arrays:
            front[start:start + piece.shape[k]] = moveaxis(piece, k, 0)
            start += piece.shape[k]
        return out
    return impl


# -- boolean masks of several dimensions (Numba reads and writes through masks of one) ------


@overload(operator.getitem)
def _mask_getitem_numba(a, mask):
    """``a[mask]`` for a mask of all ``a``'s dimensions: the flattened array through the flattened mask."""
    if not (isinstance(a, types.Array) and isinstance(mask, types.Array) and isinstance(mask.dtype, types.Boolean)
            and mask.ndim > 1):
        return None
    if mask.ndim != a.ndim:
        raise TypingError(f"a boolean mask of {mask.ndim} dimensions on an array of {a.ndim}: under Numba a mask "
                          "of several dimensions must have the array's")

    def impl(a, mask):
        if mask.shape != a.shape:
            raise IndexError("boolean mask's shape does not match the array's")
        return np.ascontiguousarray(a).reshape(a.size)[np.ascontiguousarray(mask).reshape(mask.size)]
    return impl


@overload(operator.setitem)
def _mask_setitem_numba(a, mask, value):
    """``a[mask] = value`` for a mask of all ``a``'s dimensions: written cell by cell, in C order."""
    if not (isinstance(a, types.Array) and isinstance(mask, types.Array) and isinstance(mask.dtype, types.Boolean)
            and mask.ndim > 1):
        return None
    if mask.ndim != a.ndim:
        raise TypingError(f"a boolean mask of {mask.ndim} dimensions on an array of {a.ndim}: under Numba a mask "
                          "of several dimensions must have the array's")

    def impl(a, mask, value):
        if mask.shape != a.shape:
            raise IndexError("boolean mask's shape does not match the array's")
        values = np.broadcast_to(np.asarray(value), (np.sum(mask),))
        k = 0
        for index in np.ndindex(a.shape):
            if mask[index]:
                a[index] = values[k]
                k += 1
    return impl


# -- shape operations and indexing: transposes (cotangents flow back through these linear maps) --


def normalize_axis(axis, ndim):
    """``axis`` (an int, negative counting from the end, or a tuple of them) as non-negative ints."""
    if isinstance(axis, tuple):
        return tuple(a % ndim for a in axis)
    return axis % ndim


def tile_transpose(ct, a, reps):
    """Cotangent of ``np.tile(a, reps)`` for ``a``: the copies summed."""
    reps = (reps,) if np.ndim(reps) == 0 else tuple(reps)
    shape = np.shape(a)
    d = max(len(shape), len(reps))
    shape = (1,) * (d - len(shape)) + tuple(shape)
    reps = (1,) * (d - len(reps)) + reps
    split = [n for pair in zip(reps, shape) for n in pair]
    summed = np.sum(np.reshape(ct, split), axis=tuple(range(0, 2 * d, 2)))
    return np.reshape(summed, np.shape(a))


@overload(tile_transpose)
def _tile_transpose_numba(ct, a, reps):
    if not (isinstance(a, types.Array) and _integers(reps)):
        return None
    ndim = max(a.ndim, reps.count if isinstance(reps, types.UniTuple) else 1)

    def impl(ct, a, reps):
        cells, _ = _tile_cells(a.shape, ints(reps), ndim)
        return _scatter_cells(ct, cells, a.shape)
    return impl


def repeat_transpose(ct, a, repeats, axis=None):
    """Cotangent of ``np.repeat(a, repeats, axis)`` for ``a``: each element's copies summed."""
    if axis is None:
        flat = np.zeros(np.size(a), dtype=ct.dtype)
        np.add.at(flat, np.repeat(np.arange(np.size(a)), repeats), ct)
        return np.reshape(flat, np.shape(a))
    out = np.zeros(np.shape(a), dtype=ct.dtype)
    owner = np.repeat(np.arange(np.shape(a)[axis]), repeats)
    np.add.at(np.moveaxis(out, axis, 0), owner, np.moveaxis(ct, axis, 0))
    return out


@overload(repeat_transpose)
def _repeat_transpose_numba(ct, a, repeats, axis=None):
    if not isinstance(a, types.Array):
        return None
    if _absent(axis):
        def flat(ct, a, repeats, axis=None):
            cells, _ = _repeat_cells((a.size,), repeats, 0)
            return _scatter_cells(ct, cells, a.shape)
        return flat
    if isinstance(axis, types.Integer):
        def impl(ct, a, repeats, axis=None):
            cells, _ = _repeat_cells(a.shape, repeats, _axis(axis, a.ndim))
            return _scatter_cells(ct, cells, a.shape)
        return impl
    return None


def pad_transpose(ct, a, pad_width):
    """Cotangent of ``np.pad(a, pad_width)`` (constant mode) for ``a``: the padding cut off."""
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.intp), (np.ndim(a), 2))
    return ct[tuple(slice(lo, n - hi) for (lo, hi), n in zip(widths, np.shape(ct)))]


@overload(pad_transpose)
def _pad_transpose_numba(ct, a, pad_width):
    if not isinstance(a, types.Array):
        return None

    def impl(ct, a, pad_width):
        cells, _ = _pad_cells(a.shape, pad_widths(pad_width, a.ndim))
        return _scatter_cells(ct, cells, a.shape)
    return impl


def diff_transpose(ct, n=1, axis=-1):
    """Cotangent of ``np.diff(a, n, axis)`` for ``a``: ``n`` times the adjoint of one difference."""
    for _ in range(n):
        edges = [(0, 0)] * np.ndim(ct)
        edges[axis] = (1, 1)
        ct = -np.diff(np.pad(ct, edges), axis=axis)
    return ct


@overload(diff_transpose)
def _diff_transpose_numba(ct, n=1, axis=-1):
    if not (isinstance(ct, types.Array) and isinstance(axis, (types.Integer, int))):
        return None

    def impl(ct, n=1, axis=-1):  # each difference's adjoint, n times
        k = _axis(axis, ct.ndim)
        out = np.ascontiguousarray(ct)
        for _ in range(n):
            grown = np.zeros(_resized(out.shape, k, out.shape[k] + 1), out.dtype)
            front, back = moveaxis(grown, k, 0), moveaxis(out, k, 0)
            front[:-1] -= back
            front[1:] += back
            out = grown
        return out
    return impl


def diag_transpose(ct, v, k=0):
    """Cotangent of ``np.diag(v, k)`` for ``v``: the ``k``-th diagonal back (a vector's), or put back in place."""
    if np.ndim(v) == 1:
        return np.diagonal(ct, k).copy()
    out = np.zeros(np.shape(v), dtype=ct.dtype)
    rows = np.arange(len(ct)) + max(-k, 0)
    out[rows, rows + k] = ct
    return out


@overload(diag_transpose)
def _diag_transpose_numba(ct, v, k=0):
    if not (isinstance(v, types.Array) and isinstance(ct, types.Array)):
        return None
    if v.ndim == 1:
        def diagonal(ct, v, k=0):
            out = np.empty(v.size, ct.dtype)
            for i in range(v.size):
                out[i] = ct[i + max(-k, 0), i + max(k, 0)]
            return out
        return diagonal

    def placed(ct, v, k=0):
        out = np.zeros(v.shape, ct.dtype)
        for i in range(ct.size):
            out[i + max(-k, 0), i + max(k, 0)] = ct[i]
        return out
    return placed


def trace_transpose(ct, a, offset=0):
    """Cotangent of ``np.trace(a, offset)`` for a matrix ``a``: ``ct`` on that diagonal."""
    rows, cols = np.shape(a)
    return ct * np.eye(rows, cols, offset)


@overload(trace_transpose)
def _trace_transpose_numba(ct, a, offset=0):
    if isinstance(a, types.Array) and a.ndim == 2:
        return trace_transpose  # the Python body compiles as it is
    return None


def take_transpose(ct, a, indices, axis=None):
    """Cotangent of ``np.take(a, indices, axis)`` for ``a``: ``ct`` added back at ``indices`` (repeats add up)."""
    out = np.zeros(np.shape(a), dtype=np.result_type(ct))
    if axis is None:
        np.add.at(out.reshape(-1), indices, ct)
    else:
        axis = normalize_axis(axis, out.ndim)
        np.add.at(out, (slice(None),) * axis + (indices,), ct)
    return out


@overload(take_transpose)
def _take_transpose_numba(ct, a, indices, axis=None):
    if not isinstance(a, types.Array):
        return None
    dtype = _dtype(ct)
    if _absent(axis):
        def flat(ct, a, indices, axis=None):
            out = np.zeros(a.shape, dtype)
            add_at(out.reshape(out.size), indices, ct)
            return out
        return flat
    if not isinstance(axis, types.Integer):
        return None
    if isinstance(indices, types.Integer):
        def one(ct, a, indices, axis=None):
            out = np.zeros(a.shape, dtype)
            moveaxis(out, _axis(axis, a.ndim), 0)[indices] += ct
            return out
        return one

    def impl(ct, a, indices, axis=None):  # ``ct``'s axes from ``axis`` on run over ``indices``: one axis of them
        k = _axis(axis, a.ndim)
        out = np.zeros(a.shape, dtype)
        front = moveaxis(out, k, 0)
        along = moveaxis(np.ascontiguousarray(ct).reshape(_resized(a.shape, k, indices.size)), k, 0)
        flat = indices.ravel()
        for j in range(flat.size):
            front[flat[j]] += along[j]
        return out
    return impl


def take_along_axis_transpose(ct, arr, indices, axis):
    """Cotangent of ``np.take_along_axis(arr, indices, axis)`` for ``arr``: ``ct`` added back at ``indices``."""
    out = np.zeros(np.shape(arr), dtype=ct.dtype)
    if axis is None:
        np.add.at(out.reshape(-1), indices, ct)
        return out
    axis = normalize_axis(axis, out.ndim)
    where = list(np.ix_(*(np.arange(n) for n in np.shape(indices))))
    where = [np.broadcast_to(w, np.shape(indices)) for w in where]
    where[axis] = indices
    np.add.at(out, tuple(where), ct)
    return out


@overload(take_along_axis_transpose)
def _take_along_axis_transpose_numba(ct, arr, indices, axis):
    if not isinstance(arr, types.Array):
        return None
    if _absent(axis):
        def flat(ct, arr, indices, axis):
            out = np.zeros(arr.shape, ct.dtype)
            add_at(out.reshape(out.size), indices, ct)
            return out
        return flat

    def impl(ct, arr, indices, axis):
        k = _axis(axis, arr.ndim)
        out = np.zeros(arr.shape, ct.dtype)
        where = np.broadcast_to(indices, ct.shape)
        for index in np.ndindex(ct.shape):
            out[tuple_setitem(index, k, where[index])] += ct[index]
        return out
    return impl


def hstack_piece(ct, arrays, index):
    """Cotangent of ``np.hstack(arrays)`` for ``arrays[index]``: along axis 1, or 0 for vectors."""
    axis = 0 if np.ndim(arrays[0]) <= 1 else 1
    return np.reshape(concatenate_piece(ct, tuple(np.atleast_1d(x) for x in arrays), index, axis),
                      np.shape(arrays[index]))


@overload(hstack_piece)
def _hstack_piece_numba(ct, arrays, index):
    ndims = {_ndim(t) for t in arrays} if isinstance(arrays, types.BaseTuple) else set()
    if len(ndims) != 1 or ndims & {0, None} or not isinstance(index, types.Integer):
        return None  # pieces of one number of dimensions (NumPy asks that of all but vectors)
    axis = 0 if ndims == {1} else 1
    return lambda ct, arrays, index: concatenate_piece(ct, arrays, index, axis)


def vstack_piece(ct, arrays, index):
    """Cotangent of ``np.vstack(arrays)`` for ``arrays[index]``: its rows of ``ct``, in its own shape."""
    return np.reshape(concatenate_piece(ct, tuple(np.atleast_2d(x) for x in arrays), index, 0),
                      np.shape(arrays[index]))


@overload(vstack_piece)
def _vstack_piece_numba(ct, arrays, index):
    ndims = {_ndim(t) for t in arrays} if isinstance(arrays, types.BaseTuple) else set()
    if len(ndims) != 1 or ndims & {0, None} or not isinstance(index, types.Integer):
        return None
    if ndims == {1}:
        return lambda ct, arrays, index: ct[index].copy()  # each vector is a row
    return lambda ct, arrays, index: concatenate_piece(ct, arrays, index, 0)


def written_part(ct, index):
    """``ct[index]`` for what a write ``x[index] = v`` put there: zero where a later element of ``index``
    wrote the same place again (NumPy keeps the last write, so only that one reaches the result)."""
    part = np.array(ct[index], dtype=ct.dtype)
    cells = np.arange(ct.size).reshape(ct.shape)[index]
    order = np.arange(np.size(cells))
    last = np.full(ct.size, -1)
    last[np.ravel(cells)] = order
    kept = (last[np.ravel(cells)] == order).reshape(np.shape(cells))
    return np.where(kept, part, 0.0).astype(ct.dtype).reshape(np.shape(part))


@overload(written_part)
def _written_part_numba(ct, index):
    if not isinstance(ct, types.Array):
        return None
    if isinstance(index, types.Integer) or isinstance(index, types.BaseTuple) and \
            all(isinstance(t, types.Integer) for t in index) and len(index) == ct.ndim:
        return lambda ct, index: ct[index]  # one element: written once

    def impl(ct, index):
        cells = np.arange(ct.size).reshape(ct.shape)[index]
        flat_cells = np.ascontiguousarray(cells).reshape(cells.size)
        last = np.full(ct.size, -1)
        for k in range(flat_cells.size):
            last[flat_cells[k]] = k
        flat = np.ascontiguousarray(ct).reshape(ct.size)
        out = np.zeros(flat_cells.size, ct.dtype)
        for k in range(flat_cells.size):
            if last[flat_cells[k]] == k:
                out[k] = flat[flat_cells[k]]
        return out.reshape(cells.shape)
    return impl


@overload(add_at)
def _add_at_cells_numba(target, index, value):
    """Any index Numba can read with (arrays of indices, masks, mixed with slices): through cell numbers."""
    if not (isinstance(target, types.Array) and target.layout == "C" and isinstance(index, (types.Array,
                                                                                              types.BaseTuple))):
        return None
    if isinstance(index, types.Array) and target.ndim == 1 and isinstance(index.dtype, types.Integer):
        return None  # the element loop above

    def impl(target, index, value):
        cells = np.arange(target.size).reshape(target.shape)[index]
        values = np.broadcast_to(value, cells.shape).ravel()
        flat_target = target.reshape(target.size)
        flat_cells = cells.ravel()
        for k in range(flat_cells.size):
            flat_target[flat_cells[k]] += values[k]
    return impl


# Products and linear algebra (their own module; generated code reaches them as ``rt.<name>``).
from .runtime_linalg import (  # noqa: E402,F401  (they need the helpers above)
    convolve_transpose, einsum_into, eigh_gaps, inner_transpose, kron_transpose, tensordot_transpose,
    matmul_left_transpose, matmul_right_transpose, matrix_transpose, strictly_lower, svd_values_jvp,
    svd_values_transpose, transposed_subscripts, triangle, triangle_adjoint, tril_half)
