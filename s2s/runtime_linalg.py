"""Runtime helpers for products and linear algebra, each usable from Python and from Numba.

Every contraction s2s differentiates is an ``np.einsum``: its tangent is an einsum
of the tangents, and its transpose with respect to one operand is another einsum,
whose output may repeat an index (the transpose of a trace writes a diagonal) or
name one no input has (the transpose of a sum broadcasts).  ``einsum_into`` is that
einsum, the output's shape read from an array ``like``; it is closed under both
transforms.  Under Numba, where ``np.einsum`` does not exist, einsums with literal
subscripts compile to loop nests generated from the subscripts.
"""

from __future__ import annotations

import operator
import string

import numpy as np
import scipy.linalg

from .backends.deferred import numba_names, overload
from .runtime import _absent, _ndim, dot_left_transpose, dot_right_transpose, unbroadcast

# Numba's objects, as the overloads below name them: bound when the numba backend loads (``deferred``).
literally = types = as_dtype = to_fixed_tuple = None
numba_names(globals())

# -- subscripts -----------------------------------------------------------------


def einsum_parts(subscripts: str) -> tuple[list[str], str]:
    """The inputs' subscripts and the output's, made explicit (``'ij,jk'`` → ``['ij', 'jk'], 'ik'``)."""
    subscripts = subscripts.replace(" ", "")
    inputs, arrow, output = subscripts.partition("->")
    ins = inputs.split(",")
    if not arrow:
        letters = "".join(s.replace("...", "") for s in ins)
        once = sorted(c for c in set(letters) if letters.count(c) == 1)
        output = ("..." if any("..." in s for s in ins) else "") + "".join(once)
    return ins, output


def transposed_subscripts(subscripts: str, position: int) -> str:
    """Subscripts of the transpose of an einsum in operand ``position``: the cotangent first, then the others."""
    ins, out = einsum_parts(subscripts)
    return ",".join([out] + ins[:position] + ins[position + 1:]) + "->" + ins[position]


transposed_subscripts.fold = True  # evaluated when generating code, on literal subscripts


def _expand(subscripts: str, ndims, like_ndim=None) -> tuple[list[str], str]:
    """Subscripts with each ``...`` spelled as letters, right-aligned across operands (and the output)."""
    ins, out = einsum_parts(subscripts)
    used = set("".join(ins) + out)
    spare = [c for c in string.ascii_letters if c not in used]
    lengths = [n - len(s.replace("...", "")) for s, n in zip(ins, ndims) if "..." in s]
    if "..." in out and like_ndim is not None:
        lengths.append(like_ndim - len(out.replace("...", "")))
    block = "".join(spare[:max(lengths, default=0)])

    def spelled(s, n):
        return s.replace("...", block[len(block) - n:] if n else "") if "..." in s else s

    ins = [spelled(s, n - len(s.replace("...", ""))) for s, n in zip(ins, ndims)]
    if "..." in out:
        n = like_ndim - len(out.replace("...", "")) if like_ndim is not None else max(lengths, default=0)
        out = spelled(out, n)
    return ins, out


# -- einsum_into ----------------------------------------------------------------


def einsum_into(subscripts, like, *operands):
    """``np.einsum(subscripts, *operands)`` whose output, shaped like ``like``, may repeat or add indices.

    A repeated output index writes the diagonal (the rest is zero); an output index
    no input has broadcasts along ``like``'s axis; leading output axes that ``like``
    lacks are summed (undoing broadcasting).
    """
    ins, out = _expand(subscripts, [np.ndim(o) for o in operands], np.ndim(like))
    shape = np.shape(like)
    unique = "".join(dict.fromkeys(out))
    free = "".join(c for c in unique if not any(c in s for s in ins))
    ones = np.ones([shape[out.index(c)] for c in free])
    value = np.einsum(",".join(ins + [free]) + "->" + unique, *operands, ones, optimize=len(operands) > 1)
    if unique == out:
        return value
    result = np.zeros(shape, dtype=value.dtype)
    np.einsum(out + "->" + unique, result)[...] = value
    return result


def _joined(n, m):
    """The size along an index of two arrays' sizes ``n`` and ``m`` along it (1 broadcasts, as in NumPy)."""
    if n != m and n != 1 and m != 1:
        raise ValueError("einsum: operands whose sizes differ along an index")
    return max(n, m)


def _sizes_source(arrays):
    """Lines computing each index's size over ``(subscripts, name)`` pairs, and each axis's step (0 where the
    array has size 1 along an index that is longer: it broadcasts, or, in ``like``, sums)."""
    lines, seen = [], set()
    for s, name in arrays:
        for axis, c in enumerate(s):
            lines.append(f"    n_{c} = {name}.shape[{axis}]" if c not in seen else
                         f"    n_{c} = joined(n_{c}, {name}.shape[{axis}])")
            seen.add(c)
    for s, name in arrays:
        lines += [f"    {name}_{axis} = 0 if {name}.shape[{axis}] == 1 else 1" for axis in range(len(s))]
    return lines


def _element(name, s):
    """``x0[i_ * x0_0, j_ * x0_1]``: an element of an array along the indices of ``s``, with its steps."""
    return f"{name}[{', '.join(f'{c}_ * {name}_{axis}' for axis, c in enumerate(s))}{',' if len(s) == 1 else ''}]" \
        if s else f"{name}[()]"


def _kernel(ins, out, scalars, dtype, into):
    """A loop nest computing an einsum with expanded subscripts.

    With ``into``, the first parameter is ``like``, shaped as the output: it may repeat an index (a diagonal),
    name one no input has (a broadcast), or have size 1 where the inputs are longer (a sum).
    """
    names = [f"x{i}" for i in range(len(ins))]
    letters = list(dict.fromkeys(out + "".join(ins)))
    params = (["like"] if into else []) + names
    arrays = ([(out, "like")] if into else []) + [(s, n) for s, n, sc in zip(ins, names, scalars) if not sc]
    lines = [f"def kernel({', '.join(params)}):"] + _sizes_source(arrays)
    shape = "like.shape" if into else "(" + "".join(f"n_{c}, " for c in out) + ")"
    lines.append(f"    out = np.zeros({shape}, dtype=dtype)")
    if into:
        lines += [f"    out_{axis} = like_{axis}" for axis in range(len(out))]
    else:
        lines += [f"    out_{axis} = 1" for axis in range(len(out))]
    depth = "    "
    for c in letters:
        lines.append(f"{depth}for {c}_ in range(n_{c}):")
        depth += "    "
    factors = [n if sc else _element(n, s) for n, s, sc in zip(names, ins, scalars)]
    lines.append(f"{depth}{_element('out', out)} += {' * '.join(factors) or '1.0'}")
    lines.append("    return out" if out else "    return out[()]")
    from numba import njit

    namespace = {"np": np, "dtype": dtype, "joined": njit(_joined)}
    exec("\n".join(lines), namespace)  # noqa: S102  (source built from validated subscript letters)
    return njit(namespace["kernel"])


def _numba_operands(operands):
    """The operand types of an overload's star arguments, or None if one is neither array nor number."""
    ops = list(operands.types) if isinstance(operands, types.BaseTuple) else list(operands)
    if not all(isinstance(t, (types.Array, types.Number)) for t in ops):
        return None
    return ops


def _dtype_of(ops):
    return np.result_type(*[as_dtype(t.dtype if isinstance(t, types.Array) else t) for t in ops], np.float32)


@overload(np.einsum)
def _einsum_numba(subscripts, *operands):
    if not isinstance(subscripts, types.StringLiteral):
        return None
    ops = _numba_operands(operands)
    if ops is None:
        return None
    ins, out = _expand(subscripts.literal_value, [t.ndim if isinstance(t, types.Array) else 0 for t in ops])
    kernel = _kernel(ins, out, [isinstance(t, types.Number) for t in ops], _dtype_of(ops), into=False)
    return lambda subscripts, *operands: kernel(*operands)


@overload(einsum_into)
def _einsum_into_numba(subscripts, like, *operands):
    if not isinstance(subscripts, types.StringLiteral) or not isinstance(like, types.Array):
        return None
    ops = _numba_operands(operands)
    if ops is None:
        return None
    ins, out = _expand(subscripts.literal_value, [t.ndim if isinstance(t, types.Array) else 0 for t in ops],
                       like.ndim)
    if len(out) != like.ndim:
        return None
    kernel = _kernel(ins, out, [isinstance(t, types.Number) for t in ops], _dtype_of(ops), into=True)
    return lambda subscripts, like, *operands: kernel(like, *operands)


# -- matrix products ------------------------------------------------------------


def matrix_transpose(a):
    """``a`` with its last two axes swapped (``a.T`` of a matrix, of each matrix of a stack)."""
    return np.swapaxes(a, -1, -2)


@overload(matrix_transpose)
def _matrix_transpose_numba(a):
    # A copy: Numba's in-place updates do not guard against overlap, and cotangents update in place.
    if isinstance(a, types.Array) and a.ndim == 2:
        return lambda a: np.ascontiguousarray(a.T)
    if isinstance(a, types.Array) and a.ndim == 3:
        return lambda a: np.ascontiguousarray(np.transpose(a, (0, 2, 1)))
    return None


def matmul_left_transpose(ct, b, a):
    """Cotangent of ``a`` in ``a @ b`` for any dimensions: ``ct @ bᵀ`` summed over the batch axes ``a`` lacks."""
    subscripts = transposed_subscripts(_matmul_subscripts(np.ndim(a), np.ndim(b)), 0)
    return unbroadcast(einsum_into(subscripts, a, ct, b), a)


def matmul_right_transpose(a, ct, b):
    """Cotangent of ``b`` in ``a @ b`` for any dimensions: ``aᵀ @ ct`` summed over the batch axes ``b`` lacks."""
    subscripts = transposed_subscripts(_matmul_subscripts(np.ndim(a), np.ndim(b)), 1)
    return unbroadcast(einsum_into(subscripts, b, ct, a), b)


def _matmul_subscripts(na, nb):
    """Einsum subscripts of ``a @ b`` for operands of ``na`` and ``nb`` dimensions."""
    batch = "abcdefgh"[:max(na, nb) - 2] if max(na, nb) > 2 else ""
    left = batch[len(batch) - (na - 2):] + "mk" if na >= 2 else "k"
    right = batch[len(batch) - (nb - 2):] + "kn" if nb >= 2 else "k"
    return f"{left},{right}->{batch}{'m' if na >= 2 else ''}{'n' if nb >= 2 else ''}"


def _matmul_numba(a, b):
    """Stacks of matrices (more than two dimensions), which Numba's ``@`` does not take."""
    if not (isinstance(a, types.Array) and isinstance(b, types.Array)) or max(a.ndim, b.ndim) <= 2:
        return None
    kernel = _kernel(*_expand(_matmul_subscripts(a.ndim, b.ndim), [a.ndim, b.ndim]), [False, False],
                     _dtype_of([a, b]), into=False)
    return lambda a, b: kernel(a, b)


overload(operator.matmul)(_matmul_numba)  # (np.matmul is a ufunc to Numba: an overload breaks its array expressions)


def _matmul_transpose_kernel(position, ct, known, like):
    """The loop nest of a stacked matmul's transpose in operand ``position``: ``kernel(like, ct, known)``."""
    na, nb = (like.ndim, known.ndim) if position == 0 else (known.ndim, like.ndim)
    subscripts = transposed_subscripts(_matmul_subscripts(na, nb), position)
    return _kernel(*_expand(subscripts, [_ndim(ct), known.ndim], like.ndim), [_ndim(ct) == 0, False],
                   _dtype_of([known]), into=True)


def _arrays(*ts):
    return all(isinstance(t, types.Array) for t in ts)


@overload(matmul_left_transpose)
def _matmul_left_transpose_numba(ct, b, a):
    if not _arrays(a, b) or _ndim(ct) is None:
        return None
    if max(a.ndim, b.ndim) <= 2:  # one matrix product (BLAS)
        return lambda ct, b, a: dot_left_transpose(ct, b)
    kernel = _matmul_transpose_kernel(0, ct, b, a)
    return lambda ct, b, a: kernel(a, ct, b)


@overload(matmul_right_transpose)
def _matmul_right_transpose_numba(a, ct, b):
    if not _arrays(a, b) or _ndim(ct) is None:
        return None
    if max(a.ndim, b.ndim) <= 2:
        return lambda a, ct, b: dot_right_transpose(a, ct)
    kernel = _matmul_transpose_kernel(1, ct, a, b)
    return lambda a, ct, b: kernel(b, ct, a)


# -- linear algebra -------------------------------------------------------------


def tril_half(a):
    """A mask shaped like ``a``'s matrices: 1 below the diagonal, 1/2 on it, 0 above (Cholesky's tangent)."""
    n = np.shape(a)[-1]
    return np.tril(np.ones((n, n)), -1) + 0.5 * np.eye(n)


@overload(tril_half)
def _tril_half_numba(a):
    def impl(a):
        n = a.shape[-1]
        return np.tril(np.ones((n, n)), -1) + 0.5 * np.eye(n)
    return impl


def strictly_lower(a):
    """A mask shaped like ``a``'s matrices: 1 strictly below the diagonal, 0 elsewhere (QR's tangent)."""
    n = np.shape(a)[-1]
    return np.tril(np.ones((n, n)), -1)


@overload(strictly_lower)
def _strictly_lower_numba(a):
    def impl(a):
        n = a.shape[-1]
        return np.tril(np.ones((n, n)), -1)
    return impl


def eigh_gaps(w):
    """``1 / (w[j] - w[i])`` off the diagonal and 0 on it, for each stack of eigenvalues ``w``."""
    eye = np.eye(np.shape(w)[-1])
    return 1.0 / (np.expand_dims(w, -2) - np.expand_dims(w, -1) + eye) - eye


@overload(eigh_gaps)
def _eigh_gaps_numba(w):
    if not (isinstance(w, types.Array) and w.ndim == 1):
        return None

    def impl(w):
        n = w.shape[0]
        out = np.zeros((n, n))
        for i in range(n):
            for j in range(n):
                if i != j:
                    out[i, j] = 1.0 / (w[j] - w[i])
        return out
    return impl


def triangle(a, lower=False, trans=0):
    """The triangle of ``a`` that ``scipy.linalg.solve_triangular`` reads, transposed if ``trans``."""
    part = np.tril(a) if lower else np.triu(a)
    return matrix_transpose(part) if _transposes(trans) else part


def triangle_adjoint(ct, lower=False, trans=0):
    """The transpose of ``triangle``: ``ct`` transposed if ``trans``, then its triangle."""
    full = matrix_transpose(ct) if _transposes(trans) else ct
    return np.tril(full) if lower else np.triu(full)


def _transposes(trans):
    """Whether ``solve_triangular``'s ``trans`` asks for the transpose: 1 or 'T', and 2 or 'C' (the conjugate
    transpose, of a real matrix the transpose)."""
    return trans in (1, 2, "T", "C")


@overload(_transposes)
def _transposes_numba(trans):
    """Numba's ``_transposes``: an integer is read when the code runs, a string must be a literal."""
    if isinstance(trans, types.Integer):
        return lambda trans: trans != 0
    if _absent(trans):
        return lambda trans: False
    if isinstance(trans, types.StringLiteral):
        flag = trans.literal_value in ("T", "C")
        return lambda trans: flag
    return None


@overload(triangle)
def _triangle_numba(a, lower=False, trans=0):
    if not (isinstance(a, types.Array) and a.ndim == 2 and _transposes_numba(trans)):
        return None

    def impl(a, lower=False, trans=0):
        part = np.tril(a) if lower else np.triu(a)
        return np.ascontiguousarray(part.T) if _transposes(trans) else part
    return impl


@overload(triangle_adjoint)
def _triangle_adjoint_numba(ct, lower=False, trans=0):
    if not (isinstance(ct, types.Array) and ct.ndim == 2 and _transposes_numba(trans)):
        return None

    def impl(ct, lower=False, trans=0):
        full = np.ascontiguousarray(ct.T) if _transposes(trans) else ct
        return np.tril(full) if lower else np.triu(full)
    return impl


@overload(scipy.linalg.solve_triangular)
def _solve_triangular_numba(a, b, trans=0, lower=False):
    if not (isinstance(a, types.Array) and a.ndim == 2 and isinstance(b, types.Array)):
        return None

    def impl(a, b, trans=0, lower=False):
        return np.linalg.solve(triangle(a, lower, trans), b)
    return impl


def svd_values_jvp(a, a_dot):
    """Tangent of the singular values ``np.linalg.svd(a, compute_uv=False)``: ``diag(Uᵀ a_dot V)``."""
    u, _, vh = np.linalg.svd(a, full_matrices=False)
    return np.einsum("...ji,...jk,...ik->...i", u, a_dot, vh)


def svd_values_transpose(a, ct):
    """Transpose of ``svd_values_jvp`` in ``a_dot``: ``U diag(ct) Vᵀ``."""
    u, _, vh = np.linalg.svd(a, full_matrices=False)
    return np.matmul(u * np.expand_dims(ct, -2), vh)


@overload(svd_values_jvp)
def _svd_values_jvp_numba(a, a_dot):
    if not (isinstance(a, types.Array) and a.ndim == 2):
        return None

    def impl(a, a_dot):
        u, _, vh = np.linalg.svd(a, full_matrices=False)
        return np.sum(u * (a_dot @ vh.T), axis=0)
    return impl


@overload(np.linalg.svd)
def _svd_values_numba(a, full_matrices=True, compute_uv=True):
    """The singular values alone (``compute_uv=False``), which Numba's ``svd`` does not take."""
    if not (isinstance(a, types.Array) and isinstance(compute_uv, types.BooleanLiteral)
            and not compute_uv.literal_value):
        return None

    def impl(a, full_matrices=True, compute_uv=True):
        return np.linalg.svd(a, False)[1]
    return impl


@overload(svd_values_transpose)
def _svd_values_transpose_numba(a, ct):
    if not (isinstance(a, types.Array) and a.ndim == 2):
        return None

    def impl(a, ct):
        u, _, vh = np.linalg.svd(a, full_matrices=False)
        return (u * ct) @ vh
    return impl


# -- stacks of matrices under Numba ---------------------------------------------


def _stacked_numba(fn, tuple_result=False):
    """An overload of ``fn`` for a stack (3-D) of matrices: ``fn`` of each, in a loop."""

    def unary(a):
        if not (isinstance(a, types.Array) and a.ndim == 3):
            return None
        if tuple_result:
            def impl(a):
                s0, l0 = fn(a[0])
                s = np.empty((a.shape[0],) + np.shape(s0), np.asarray(s0).dtype)
                lg = np.empty((a.shape[0],) + np.shape(l0), np.asarray(l0).dtype)
                for i in range(a.shape[0]):
                    s[i], lg[i] = fn(a[i])
                return s, lg
            return impl

        def impl(a):
            first = fn(a[0])
            out = np.empty((a.shape[0],) + np.shape(first), np.asarray(first).dtype)
            for i in range(a.shape[0]):
                out[i] = fn(a[i])
            return out
        return impl

    overload(fn)(unary)


def _stacked_solve_numba(a, b):
    """``np.linalg.solve`` of a stack of matrices and a stack of right-hand sides (matrices): each pair, in a loop."""
    if not (isinstance(a, types.Array) and a.ndim == 3 and isinstance(b, types.Array) and b.ndim == 3):
        return None

    def impl(a, b):
        first = np.linalg.solve(a[0], b[0])
        out = np.empty((a.shape[0],) + first.shape, first.dtype)
        for i in range(a.shape[0]):
            out[i] = np.linalg.solve(a[i], b[i])
        return out
    return impl


overload(np.linalg.solve)(_stacked_solve_numba)
for _fn in (np.linalg.inv, np.linalg.det, np.linalg.cholesky):
    _stacked_numba(_fn)
for _fn in (np.linalg.slogdet, np.linalg.eigh):
    _stacked_numba(_fn, tuple_result=True)


# -- transposes of NumPy's other products (Python) -----------------------------


def _tensordot_axes(axes, na, nb):
    """``np.tensordot``'s ``axes`` as two lists of non-negative axes of ``a`` and ``b``."""
    if isinstance(axes, (int, np.integer)):
        return list(range(na - axes, na)), list(range(axes))
    left, right = ([x] if isinstance(x, (int, np.integer)) else list(x) for x in axes)
    return [i % na for i in left], [i % nb for i in right]


def _tensordot_subscripts(na, nb, axes) -> str:
    """Einsum subscripts of ``np.tensordot(a, b, axes)`` for operands of ``na`` and ``nb`` dimensions."""
    left, right = _tensordot_axes(axes, na, nb)
    a = string.ascii_letters[:na]
    b = list(string.ascii_letters[na:na + nb])
    for i, j in zip(left, right):
        b[j] = a[i]
    out = [c for i, c in enumerate(a) if i not in left] + [c for j, c in enumerate(b) if j not in right]
    return f"{a},{''.join(b)}->{''.join(out)}"


def tensordot_transpose(ct, other, like, axes, position):
    """Cotangent of operand ``position`` (``like``) of ``np.tensordot(a, b, axes)``; ``other`` is the other operand."""
    na, nb = (np.ndim(like), np.ndim(other)) if position == 0 else (np.ndim(other), np.ndim(like))
    return einsum_into(transposed_subscripts(_tensordot_subscripts(na, nb, axes), position), like, ct, other)


def inner_transpose(ct, other, like, position):
    """Cotangent of operand ``position`` of ``np.inner(a, b)``: the last axes contract."""
    return tensordot_transpose(ct, other, like, ([-1], [-1]), position)


def _kron_subscripts(n, position) -> str:
    """Einsum subscripts of the transpose of ``np.kron(a, b)`` (``n`` dimensions each) in operand ``position``:
    the cotangent with each axis split in two (``a``'s index, ``b``'s), then the other operand."""
    a, b = string.ascii_letters[:n], string.ascii_letters[n:2 * n]
    pairs = "".join(i + j for i, j in zip(a, b))
    return f"{pairs},{b}->{a}" if position == 0 else f"{pairs},{a}->{b}"


def kron_transpose(ct, other, like, position):
    """Cotangent of operand ``position`` of ``np.kron(a, b)`` (operands of equal dimensions)."""
    a_shape, b_shape = (np.shape(like), np.shape(other)) if position == 0 else (np.shape(other), np.shape(like))
    interleaved = np.reshape(ct, [n for pair in zip(a_shape, b_shape) for n in pair])
    return np.einsum(_kron_subscripts(len(a_shape), position), interleaved, other)


def convolve_transpose(ct, other, like, mode="full"):
    """Cotangent of either operand of ``np.convolve(a, v, mode)``: ``ct`` placed in the full output, correlated."""
    n, m = np.size(like), np.size(other)
    full = np.zeros(n + m - 1, dtype=np.result_type(ct, other))
    start = {"full": 0, "same": (min(n, m) - 1) // 2, "valid": min(n, m) - 1}[mode]
    full[start:start + np.size(ct)] = ct
    return np.correlate(full, other, "valid")


# -- NumPy's other products under Numba: einsum loop nests, their subscripts known when compiling --


def _literal(t):
    """The value of a Numba literal type (an int ``axes``, an operand ``position``), or None."""
    return t.literal_value if isinstance(t, types.Literal) else None


def _product_kernel(subscripts, ops, into=False):
    """The compiled einsum of ``subscripts`` over operands of types ``ops`` (``into``: see ``_kernel``)."""
    ins, out = einsum_parts(subscripts)
    return _kernel(ins, out, [_ndim(t) == 0 for t in ops], _dtype_of(ops), into)


@overload(np.tensordot)
def _tensordot_numba(a, b, axes=2):
    if not _arrays(a, b):
        return None
    count = axes if isinstance(axes, int) else axes.value if isinstance(axes, types.Omitted) else _literal(axes)
    if count is None:  # (axes as pairs of sequences: their values are not known when compiling)
        return (lambda a, b, axes=2: literally(axes)) if isinstance(axes, types.Integer) else None
    kernel = _product_kernel(_tensordot_subscripts(a.ndim, b.ndim, count), [a, b])
    return lambda a, b, axes=2: kernel(a, b)


@overload(np.inner)
def _inner_numba(a, b):
    if not (_arrays(a, b) and a.ndim and b.ndim):
        return None
    kernel = _product_kernel(_tensordot_subscripts(a.ndim, b.ndim, ([-1], [-1])), [a, b])
    return lambda a, b: kernel(a, b)


def _transpose_numba(subscripts_of, ct, other, like, position):
    """A product's transpose in operand ``position``: the einsum of the cotangent and ``other`` into ``like``."""
    if not _arrays(other, like) or _ndim(ct) is None or _literal(position) is None:
        return None
    position = _literal(position)
    na, nb = (like.ndim, other.ndim) if position == 0 else (other.ndim, like.ndim)
    return _product_kernel(transposed_subscripts(subscripts_of(na, nb), position), [ct, other], into=True)


@overload(tensordot_transpose)
def _tensordot_transpose_numba(ct, other, like, axes, position):
    if isinstance(axes, types.Integer) and _literal(axes) is None or isinstance(position, types.Integer) and \
            _literal(position) is None:
        return lambda ct, other, like, axes, position: (literally(axes), literally(position))
    if not isinstance(axes, types.Integer):
        return None
    kernel = _transpose_numba(lambda na, nb: _tensordot_subscripts(na, nb, _literal(axes)), ct, other, like, position)
    return None if kernel is None else lambda ct, other, like, axes, position: kernel(like, ct, other)


@overload(inner_transpose)
def _inner_transpose_numba(ct, other, like, position):
    if isinstance(position, types.Integer) and _literal(position) is None:
        return lambda ct, other, like, position: literally(position)
    kernel = _transpose_numba(lambda na, nb: _tensordot_subscripts(na, nb, ([-1], [-1])), ct, other, like, position)
    return None if kernel is None else lambda ct, other, like, position: kernel(like, ct, other)


@overload(kron_transpose)
def _kron_transpose_numba(ct, other, like, position):
    if isinstance(position, types.Integer) and _literal(position) is None:
        return lambda ct, other, like, position: literally(position)
    if not (_arrays(ct, other, like) and ct.ndim == other.ndim == like.ndim) or _literal(position) is None:
        return None
    n, split, first = like.ndim, 2 * like.ndim, _literal(position) == 0
    kernel = _product_kernel(_kron_subscripts(n, _literal(position)), [ct, other])

    def impl(ct, other, like, position):
        a_shape, b_shape = (like.shape, other.shape) if first else (other.shape, like.shape)
        interleaved = np.empty(split, np.intp)
        for d in range(n):
            interleaved[2 * d], interleaved[2 * d + 1] = a_shape[d], b_shape[d]
        return kernel(np.ascontiguousarray(ct).reshape(to_fixed_tuple(interleaved, split)), other)
    return impl
