"""Reductions along axes under Numba: ``axis`` as an integer, negative or a tuple, and ``keepdims``.

Numba compiles ``np.sum(a, axis=int)`` but not ``np.mean``, ``np.max``, ``np.std``, ...
with an axis, nor ``keepdims``, tuple axes, ``np.cumsum(a, axis)`` or
``np.linalg.norm(x, axis=...)``.  Here one machinery supplies them all, as
overloads of the NumPy (and SciPy) functions themselves, so generated code stays
plain NumPy: the reduced elements of ``a`` are gathered into the rows of a 2-D
array (``_rows``), a *kernel* reduces each row, and the row results are shaped
as NumPy would shape them.  Each overload declines the calls Numba compiles
natively.
"""

from __future__ import annotations

import numpy as np
import scipy.special

from .backends.deferred import numba_names, overload, register_jitable

# Numba's objects, as the overloads below name them: bound when the numba backend loads (``deferred``).
numba = types = to_fixed_tuple = None
numba_names(globals())


def absent(arg):
    """Whether an overload's optional argument was left out or passed as ``None``."""
    return arg is None or isinstance(arg, (types.NoneType, types.Omitted))


def keeps(keepdims):
    """``keepdims`` as a Python bool when compiling, or None while Numba has not typed it as a literal."""
    if keepdims is False or absent(keepdims):  # (``False``: the typing function's own default)
        return False
    if isinstance(keepdims, types.BooleanLiteral):
        return keepdims.literal_value
    return None


def axis_count(ndim, axis):
    """How many axes of an ``ndim``-array ``axis`` (a Numba type) reduces, or None if it is no axis."""
    if absent(axis):
        return ndim
    if isinstance(axis, types.Integer):
        return 1
    if isinstance(axis, types.BaseTuple) and all(isinstance(t, types.Integer) for t in axis):
        return len(axis)
    return None


def reduced_ndim(a, axis, keepdims):
    """Dimensions of the result of reducing array type ``a`` along ``axis``, or None if unsupported."""
    count = axis_count(a.ndim, axis) if isinstance(a, types.Array) else None
    keep = keeps(keepdims)
    if count is None or keep is None:
        return None
    return a.ndim if keep else a.ndim - count


# -- which axes are reduced ----------------------------------------------------------


def reduced_mask(ndim, axis):
    """``mask[d]``: whether axis ``d`` of an ``ndim``-array is reduced (``axis`` None: all)."""
    mask = np.zeros(ndim, dtype=np.bool_)
    if axis is None:
        mask[:] = True
    else:
        for d in np.atleast_1d(axis):
            mask[d % ndim] = True
    return mask


@overload(reduced_mask)
def _reduced_mask_numba(ndim, axis):
    if absent(axis):
        return lambda ndim, axis: np.ones(ndim, dtype=np.bool_)
    if isinstance(axis, types.Integer):
        def one(ndim, axis):
            mask = np.zeros(ndim, dtype=np.bool_)
            mask[axis % ndim] = True
            return mask
        return one
    if isinstance(axis, types.BaseTuple):
        def several(ndim, axis):
            mask = np.zeros(ndim, dtype=np.bool_)
            for d in numba.literal_unroll(axis):
                mask[d % ndim] = True
            return mask
        return several
    return None


@register_jitable
def _row_and_column(index, shape, mask):
    """Where the element at ``index`` stands in ``_rows``: its kept axes' index, then its reduced axes'."""
    k = r = 0
    for d in range(len(shape)):
        if mask[d]:
            r = r * shape[d] + index[d]
        else:
            k = k * shape[d] + index[d]
    return k, r


@register_jitable
def _rows(a, mask):
    """``a``'s elements as a 2-D array: a row per index of the kept axes, holding that index's reduced elements."""
    kept = reduced = 1
    for d in range(a.ndim):
        if mask[d]:
            reduced *= a.shape[d]
        else:
            kept *= a.shape[d]
    rows = np.empty((kept, reduced), dtype=a.dtype)
    for index in np.ndindex(a.shape):
        rows[_row_and_column(index, a.shape, mask)] = a[index]
    return rows


@register_jitable
def _unrows(rows, a, mask):
    """The inverse of ``_rows``: an array shaped like ``a`` whose elements come from ``rows``."""
    out = np.empty(a.shape, dtype=rows.dtype)
    for index in np.ndindex(a.shape):
        out[index] = rows[_row_and_column(index, a.shape, mask)]
    return out


@register_jitable
def _result_sizes(shape, mask, keep):
    """The sizes of a reduction's result: the kept axes, and ones for the reduced ones if ``keep``."""
    sizes = np.ones(len(shape), dtype=np.int64)
    n = 0
    for d in range(len(shape)):
        if not mask[d]:
            sizes[n] = shape[d]
            n += 1
        elif keep:
            sizes[n] = 1
            n += 1
    return sizes


def _reducer(kernel, out_ndim, keep, dtype):
    """A compiled ``(a, axis, param) -> result``: ``kernel(row, param)`` over the reduced elements of each index."""

    if out_ndim == 0:
        def reduce(a, axis, param):
            return kernel(_rows(a, reduced_mask(a.ndim, axis))[0], param)
        return register_jitable(reduce)

    def reduce(a, axis, param):  # noqa: F811  (one of the two, chosen when compiling)
        mask = reduced_mask(a.ndim, axis)
        rows = _rows(a, mask)
        out = np.empty(rows.shape[0], dtype=dtype)
        for k in range(rows.shape[0]):
            out[k] = kernel(rows[k], param)
        return out.reshape(to_fixed_tuple(_result_sizes(a.shape, mask, keep), out_ndim))

    return register_jitable(reduce)


#: The dtype of a reduction's result from its operand's, as NumPy has it: averages are
#: floats, sums and products of booleans and small integers are int64, extrema keep it.
FLOATING, SUMMING, SAME = "floating", "summing", "same"


def _result_dtype(dtype, kind):
    if kind == SAME or isinstance(dtype, (types.Float, types.Complex)):
        return dtype
    return types.float64 if kind == FLOATING else types.int64


def _reduction(kernel, a, axis, keepdims, kind=FLOATING):
    """The compiled reduction of array type ``a`` by ``kernel``, or None where it does not apply."""
    out_ndim = reduced_ndim(a, axis, keepdims)
    if out_ndim is None:
        return None
    dtype = numba.np.numpy_support.as_dtype(_result_dtype(a.dtype, kind))
    return _reducer(kernel, out_ndim, keeps(keepdims), dtype)


def _native(axis, keepdims, axis_ok=False):
    """Numba compiles this call itself: ``keepdims`` not passed, and no axis (or an integer one where ``axis_ok``)."""
    passed = not (keepdims is False or isinstance(keepdims, types.Omitted))
    return not passed and (absent(axis) or axis_ok and isinstance(axis, types.Integer))


# -- kernels: one row of reduced elements to a number ----------------------------------


@register_jitable
def _sum(row, param):
    return np.sum(row)


@register_jitable
def _mean(row, param):
    return np.sum(row) / row.size


@register_jitable
def _prod(row, param):
    return np.prod(row)


@register_jitable
def _max(row, param):
    return np.max(row)


@register_jitable
def _min(row, param):
    return np.min(row)


@register_jitable
def _var(row, ddof):
    centered = row - np.sum(row) / row.size
    return np.sum(centered * centered) / (row.size - ddof)


@register_jitable
def _std(row, ddof):
    return np.sqrt(_var(row, ddof))


@register_jitable
def _norm(row, ord):
    """The vector norm of ``row``: 2 (``ord`` None or 'fro'), 1, inf or -inf."""
    if ord == 1:
        return np.sum(np.abs(row))
    if ord == np.inf:
        return np.max(np.abs(row))
    if ord == -np.inf:
        return np.min(np.abs(row))
    return np.sqrt(np.sum(row * row))


@register_jitable
def _logsumexp(row, param):
    top = np.max(row)
    if not np.isfinite(top):
        top = 0.0
    return top + np.log(np.sum(np.exp(row - top)))


# -- the NumPy functions --------------------------------------------------------------


def _plain(dtype, out):
    return absent(dtype) and absent(out)


@overload(np.sum)
def _np_sum(a, axis=None, dtype=None, out=None, keepdims=False):
    if _native(axis, keepdims, axis_ok=True) or not _plain(dtype, out):
        return None
    reduce = _reduction(_sum, a, axis, keepdims, SUMMING)
    return reduce and (lambda a, axis=None, dtype=None, out=None, keepdims=False: reduce(a, axis, 0))


def _simple_reduction(kernel, kind):
    """An overload of ``np.mean``-like functions: ``(a, axis=None, dtype=None, out=None, keepdims=False)``."""

    def typer(a, axis=None, dtype=None, out=None, keepdims=False):
        if _native(axis, keepdims) or not _plain(dtype, out):
            return None
        reduce = _reduction(kernel, a, axis, keepdims, kind)
        return reduce and (lambda a, axis=None, dtype=None, out=None, keepdims=False: reduce(a, axis, 0))

    return typer


def _extremum(kernel):
    """An overload of ``np.max``/``np.min``: ``(a, axis=None, out=None, keepdims=False)``."""

    def typer(a, axis=None, out=None, keepdims=False):
        if _native(axis, keepdims) or not absent(out):
            return None
        reduce = _reduction(kernel, a, axis, keepdims, SAME)
        return reduce and (lambda a, axis=None, out=None, keepdims=False: reduce(a, axis, 0))

    return typer


def _spread(kernel):
    """An overload of ``np.var``/``np.std``: ``(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False)``."""

    def typer(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
        if _native(axis, keepdims) and (ddof == 0 or absent(ddof)) or not _plain(dtype, out):
            return None
        reduce = _reduction(kernel, a, axis, keepdims)
        return reduce and (lambda a, axis=None, dtype=None, out=None, ddof=0, keepdims=False:
                           reduce(a, axis, ddof))

    return typer


overload(np.mean)(_simple_reduction(_mean, FLOATING))
overload(np.prod)(_simple_reduction(_prod, SUMMING))
for _fn in (np.max, np.amax):
    overload(_fn)(_extremum(_max))
for _fn in (np.min, np.amin):
    overload(_fn)(_extremum(_min))
overload(np.var)(_spread(_var))
overload(np.std)(_spread(_std))


@overload(np.linalg.norm)
def _np_norm(x, ord=None, axis=None, keepdims=False):
    """Vector norms along ``axis`` (a 2-tuple axis or 'fro': the Frobenius norm of those axes)."""
    if _native(axis, keepdims):
        return None
    if isinstance(ord, (types.UnicodeType, types.StringLiteral)):
        reduce = _reduction(_norm, x, axis, keepdims)
        return reduce and (lambda x, ord=None, axis=None, keepdims=False: reduce(x, axis, 2))
    if not (absent(ord) or isinstance(ord, types.Number)):
        return None
    if isinstance(axis, types.BaseTuple) and not absent(ord):
        return None  # a matrix norm other than Frobenius
    reduce = _reduction(_norm, x, axis, keepdims)
    if absent(ord):
        return reduce and (lambda x, ord=None, axis=None, keepdims=False: reduce(x, axis, 2))
    return reduce and (lambda x, ord=None, axis=None, keepdims=False: reduce(x, axis, ord))


@overload(scipy.special.logsumexp)
def _logsumexp_numba(a, axis=None, b=None, keepdims=False, return_sign=False):
    if not (absent(b) and keeps(return_sign) is False):
        return None
    reduce = _reduction(_logsumexp, a, axis, keepdims)
    return reduce and (lambda a, axis=None, b=None, keepdims=False, return_sign=False: reduce(a, axis, 0))


@overload(scipy.special.softmax)
def _softmax_numba(x, axis=None):
    if not isinstance(x, types.Array) or axis_count(x.ndim, axis) is None:
        return None

    def impl(x, axis=None):
        shifted = np.exp(x - np.max(x, axis=axis, keepdims=True))
        return shifted / np.sum(shifted, axis=axis, keepdims=True)
    return impl


@overload(scipy.special.log_softmax)
def _log_softmax_numba(x, axis=None):
    if not isinstance(x, types.Array) or axis_count(x.ndim, axis) is None:
        return None

    def impl(x, axis=None):
        shifted = x - np.max(x, axis=axis, keepdims=True)
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
    return impl


# -- the helpers of derivatives ----------------------------------------------------------


def along_rows(step):
    """``(a, [b, c,] axis) -> array``: ``step`` applied to the elements along ``axis`` of each index.

    ``step`` takes one row per array (the arrays share a shape) and returns a row of their
    size; the result is shaped like ``a``.  ``step`` must compile with Numba; so does the result.
    """

    def apply(*operands):
        *arrays, axis = operands
        mask = reduced_mask(np.ndim(arrays[0]), axis)
        axes, k = np.flatnonzero(mask), int(mask.sum())
        moved = [np.moveaxis(np.asarray(x), axes, range(-k, 0)) for x in arrays]
        shape = moved[0].shape
        rows = [x.reshape(-1, int(np.prod(shape[len(shape) - k:], dtype=int))) for x in moved]
        done = np.array([step(*row) for row in zip(*rows)]).reshape(shape)
        return np.moveaxis(done, range(-k, 0), axes)

    @overload(apply)
    def _apply_numba(*operands):
        *arrays, axis = operands
        if not all(isinstance(x, types.Array) for x in arrays) or axis_count(arrays[0].ndim, axis) is None:
            return None
        dtype = np.result_type(*(numba.np.numpy_support.as_dtype(x.dtype) for x in arrays))
        return _ROW_WISE[len(arrays)](step, dtype)

    return apply


def _row_wise_1(step, dtype):
    def impl(*operands):
        a, axis = operands
        mask = reduced_mask(a.ndim, axis)
        rows = _rows(a, mask)
        out = np.empty(rows.shape, dtype)
        for k in range(rows.shape[0]):
            out[k] = step(rows[k])
        return _unrows(out, a, mask)
    return impl


def _row_wise_2(step, dtype):
    def impl(*operands):
        a, b, axis = operands
        mask = reduced_mask(a.ndim, axis)
        rows, rows_b = _rows(a, mask), _rows(b, mask)
        out = np.empty(rows.shape, dtype)
        for k in range(rows.shape[0]):
            out[k] = step(rows[k], rows_b[k])
        return _unrows(out, a, mask)
    return impl


def _row_wise_3(step, dtype):
    def impl(*operands):
        a, b, c, axis = operands
        mask = reduced_mask(a.ndim, axis)
        rows, rows_b, rows_c = _rows(a, mask), _rows(b, mask), _rows(c, mask)
        out = np.empty(rows.shape, dtype)
        for k in range(rows.shape[0]):
            out[k] = step(rows[k], rows_b[k], rows_c[k])
        return _unrows(out, a, mask)
    return impl


#: ``along_rows``'s Numba implementations, by how many arrays it takes.
_ROW_WISE = {1: _row_wise_1, 2: _row_wise_2, 3: _row_wise_3}


def expand(value, a, axis=None, keepdims=False):
    """A reduction's result ``value`` given back the reduced axes of ``a`` (size 1), so it broadcasts against ``a``."""
    if keepdims or np.ndim(a) == 0:
        return value
    return np.reshape(value, _result_sizes(np.shape(a), reduced_mask(np.ndim(a), axis), True))


@overload(expand)
def _expand_numba(value, a, axis=None, keepdims=False):
    keep = keeps(keepdims)
    if isinstance(a, types.Number) or keep:
        return lambda value, a, axis=None, keepdims=False: value
    if keep is None or not isinstance(a, types.Array) or axis_count(a.ndim, axis) is None:
        return None
    n = a.ndim

    def impl(value, a, axis=None, keepdims=False):
        shape = to_fixed_tuple(_result_sizes(a.shape, reduced_mask(n, axis), True), n)
        return np.reshape(np.asarray(value), shape)
    return impl


def reduced_count(a, axis=None):
    """How many elements of ``a`` each result of a reduction along ``axis`` combines."""
    mask = reduced_mask(np.ndim(a), axis)
    return int(np.prod(np.asarray(np.shape(a))[mask]))


@overload(reduced_count)
def _reduced_count_numba(a, axis=None):
    if isinstance(a, types.Number):
        return lambda a, axis=None: 1
    if not isinstance(a, types.Array) or axis_count(a.ndim, axis) is None:
        return None

    def impl(a, axis=None):
        mask = reduced_mask(a.ndim, axis)
        count = 1
        for d in range(a.ndim):
            if mask[d]:
                count *= a.shape[d]
        return count
    return impl


# -- cumulative sums and products along an axis --------------------------------------


def _cumulative(step):
    """An overload of ``np.cumsum``/``np.cumprod`` along an integer axis (Numba's own take none)."""
    apply = along_rows(step)

    def typer(a, axis=None, dtype=None, out=None):
        if absent(axis) or not isinstance(axis, types.Integer) or not _plain(dtype, out) \
                or not isinstance(a, types.Array):
            return None
        return lambda a, axis=None, dtype=None, out=None: apply(a, axis)

    return typer


@register_jitable
def _cumsum_row(row):
    return np.cumsum(row)


@register_jitable
def _cumprod_row(row):
    return np.cumprod(row)


overload(np.cumsum)(_cumulative(_cumsum_row))
overload(np.cumprod)(_cumulative(_cumprod_row))
