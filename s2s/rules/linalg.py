"""Products (einsum, tensordot, cross, ...) and linear algebra (solve, inv, det, Cholesky, eigh, QR, SVD).

Each tangent is written with operations linear in the tangents (products, solves with
the same matrix, masks), so reverse mode needs only their transposes: a solve's
transpose is a solve with the transposed matrix, an einsum's is another einsum.
Formulas follow JAX's: symmetric inputs (Cholesky, eigh) get symmetrized tangents.
"""
# ruff: noqa: F821  (templates name tangents ``x_dot``, the result ``ans`` and the cotangent ``ct``)

import numpy as np
import scipy.linalg

from .. import runtime as rt
from ..runtime_linalg import einsum_parts
from . import shapes
from .examples import example
from .registry import add_examples, declare, defjvp, defnondiff, deftranspose

def _same_as(position):
    def result(op: shapes.Operands):
        return op.ndim(position)
    return result


def _plus(added):
    def result(op: shapes.Operands):
        n = op.ndim(0)
        return None if n is None else n + added
    return result


# -- einsum and the contractions it spells ------------------------------------------


@defjvp(np.einsum)
def einsum(subscripts, x, y=None, z=None):
    return np.einsum(subscripts, x_dot, y, z) + np.einsum(subscripts, x, y_dot, z) + np.einsum(subscripts, x, y, z_dot)


@deftranspose(np.einsum)
def einsum_transpose(subscripts, x, y=None, z=None):
    return (None,
            rt.einsum_into(rt.transposed_subscripts(subscripts, 0), x, ct, y, z),
            rt.einsum_into(rt.transposed_subscripts(subscripts, 1), y, ct, x, z),
            rt.einsum_into(rt.transposed_subscripts(subscripts, 2), z, ct, x, y))


@defjvp(rt.einsum_into)
def einsum_into(subscripts, like, x, y=None, z=None):
    return (rt.einsum_into(subscripts, like, x_dot, y, z) + rt.einsum_into(subscripts, like, x, y_dot, z)
            + rt.einsum_into(subscripts, like, x, y, z_dot))


@deftranspose(rt.einsum_into)
def einsum_into_transpose(subscripts, like, x, y=None, z=None):
    return (None, None,
            rt.einsum_into(rt.transposed_subscripts(subscripts, 0), x, ct, y, z),
            rt.einsum_into(rt.transposed_subscripts(subscripts, 1), y, ct, x, z),
            rt.einsum_into(rt.transposed_subscripts(subscripts, 2), z, ct, x, y))


def _einsum_result(op: shapes.Operands):
    """As many dimensions as the output has indices (``...`` standing for the operands' longest)."""
    subscripts = shapes.constant(op.operand(0))
    if not isinstance(subscripts, str):
        return None
    ins, out = einsum_parts(subscripts)
    if "..." not in out:
        return len(out)
    ndims = [op.ndim(i + 1) for i in range(len(ins))]
    if None in ndims:
        return None
    return len(out) - 3 + max((n - len(s.replace("...", "")) for s, n in zip(ins, ndims) if "..." in s), default=0)


declare(np.einsum, family=shapes.CONTRACTION, result=_einsum_result, numba="overload: literal subscripts")
declare(rt.einsum_into, result=_same_as(1), numba="overload: literal subscripts")


# -- products of two operands -----------------------------------------------------


@defjvp(np.tensordot)
def tensordot(a, b, axes=2):
    return np.tensordot(a_dot, b, axes) + np.tensordot(a, b_dot, axes)


@deftranspose(np.tensordot)
def tensordot_transpose(a, b, axes=2):
    return rt.tensordot_transpose(ct, b, a, axes, 0), rt.tensordot_transpose(ct, a, b, axes, 1), None


@defjvp(rt.tensordot_transpose)
def tensordot_transpose_jvp(ct, other, like, axes, position):
    return rt.tensordot_transpose(ct_dot, other, like, axes, position) + rt.tensordot_transpose(
        ct, other_dot, like, axes, position)


@deftranspose(np.inner)
def inner_transpose(a, b):
    return rt.inner_transpose(ct, b, a, 0), rt.inner_transpose(ct, a, b, 1)


@defjvp(rt.inner_transpose)
def inner_transpose_jvp(ct, other, like, position):
    return rt.inner_transpose(ct_dot, other, like, position) + rt.inner_transpose(ct, other_dot, like, position)


@deftranspose(np.kron)
def kron_transpose(a, b):
    return rt.kron_transpose(ct, b, a, 0), rt.kron_transpose(ct, a, b, 1)


@defjvp(rt.kron_transpose)
def kron_transpose_jvp(ct, other, like, position):
    return rt.kron_transpose(ct_dot, other, like, position) + rt.kron_transpose(ct, other_dot, like, position)


@deftranspose(np.convolve)
def convolve_transpose(a, v, mode="full"):
    return rt.convolve_transpose(ct, v, a, mode), rt.convolve_transpose(ct, a, v, mode), None


@defjvp(rt.convolve_transpose)
def convolve_transpose_jvp(ct, other, like, mode="full"):
    return rt.convolve_transpose(ct_dot, other, like, mode) + rt.convolve_transpose(ct, other_dot, like, mode)


@defjvp(np.inner)
def inner(a, b):
    return np.inner(a_dot, b) + np.inner(a, b_dot)


@defjvp(np.cross)
def cross(a, b):
    return np.cross(a_dot, b) + np.cross(a, b_dot)


@deftranspose(np.cross, elementwise=True)
def cross_transpose(a, b):
    """Vectors along the last axis; the others broadcast as an elementwise operation's do (summed back down)."""
    return np.cross(b, ct), np.cross(ct, a)


@defjvp(np.kron)
def kron(a, b):
    return np.kron(a_dot, b) + np.kron(a, b_dot)


@defjvp(np.convolve)
def convolve(a, v, mode="full"):
    return np.convolve(a_dot, v, mode) + np.convolve(a, v_dot, mode)


declare(np.tensordot, family=shapes.CONTRACTION, numba="overload: axes an int")
declare(np.cross, family=shapes.CONTRACTION, result=shapes.broadcast)
declare(np.kron, family=shapes.CONTRACTION, result=shapes.broadcast)
declare(np.convolve, family=shapes.CONTRACTION, result=shapes.fixed(1), array=True)
declare(rt.tensordot_transpose, rt.inner_transpose, rt.kron_transpose, result=_same_as(2), array=True)
declare(rt.convolve_transpose, result=shapes.fixed(1), array=True)


# -- matrix helpers of the tangents ----------------------------------------------


@defjvp(rt.matrix_transpose)
def matrix_transpose(a):
    return rt.matrix_transpose(a_dot)


@deftranspose(rt.matrix_transpose)
def matrix_transpose_transpose(a):
    return rt.matrix_transpose(ct)


@defjvp(rt.triangle)
def triangle(a, lower=False, trans=0):
    return rt.triangle(a_dot, lower, trans)


@deftranspose(rt.triangle)
def triangle_transpose(a, lower=False, trans=0):
    return rt.triangle_adjoint(ct, lower, trans), None, None


@defjvp(rt.triangle_adjoint)
def triangle_adjoint(ct, lower=False, trans=0):
    return rt.triangle_adjoint(ct_dot, lower, trans)


@deftranspose(rt.triangle_adjoint)
def triangle_adjoint_transpose(ct, lower=False, trans=0):
    return rt.triangle(ct, lower, trans), None, None


@defjvp(rt.eigh_gaps)
def eigh_gaps(w):
    return -(ans * ans) * (np.expand_dims(w_dot, -2) - np.expand_dims(w_dot, -1))


declare(rt.matrix_transpose, result=shapes.same, view=True, numba="overload: 2-D and 3-D")
declare(rt.triangle, rt.triangle_adjoint, result=shapes.same, array=True, numba="overload: 2-D")
declare(rt.tril_half, rt.strictly_lower, result=shapes.fixed(2), array=True, cheap=True)
declare(rt.eigh_gaps, result=_plus(1), array=True)


# -- linear algebra -----------------------------------------------------------------


@defjvp(np.linalg.solve)
def solve(a, b):
    return np.linalg.solve(a, b_dot - a_dot @ ans)


@deftranspose(np.linalg.solve)
def solve_transpose(a, b):
    return None, np.linalg.solve(rt.matrix_transpose(a), ct)


@defjvp(np.linalg.inv)
def inv(a):
    return -(ans @ a_dot @ ans)


@defjvp(np.linalg.det)
def det(a):
    return ans * np.einsum("...ij,...ji->...", np.linalg.inv(a), a_dot)


@defjvp(np.linalg.slogdet)
def slogdet(a):
    return np.zeros_like(ans[0]), np.einsum("...ij,...ji->...", np.linalg.inv(a), a_dot)


@defjvp(np.linalg.cholesky)
def cholesky(a):
    return ans @ (rt.tril_half(a) * np.linalg.solve(ans, rt.matrix_transpose(np.linalg.solve(
        ans, 0.5 * (a_dot + rt.matrix_transpose(a_dot))))))


@defjvp(np.linalg.eigh)
def eigh(a):
    return (np.einsum("...ji,...jk,...ki->...i", ans[1], 0.5 * (a_dot + rt.matrix_transpose(a_dot)), ans[1]),
            ans[1] @ (rt.eigh_gaps(ans[0]) * (rt.matrix_transpose(ans[1]) @ (
                0.5 * (a_dot + rt.matrix_transpose(a_dot))) @ ans[1])))


@defjvp(np.linalg.qr)
def qr(a):
    # C = qᵀ a_dot r⁻¹ and L its strictly lower part: q_dot = q (L - Lᵀ - C) + a_dot r⁻¹, r_dot = (C - L + Lᵀ) r.
    return (ans[0] @ (rt.strictly_lower(a) * (rt.matrix_transpose(ans[0]) @ a_dot @ np.linalg.inv(ans[1]))
                      - rt.matrix_transpose(rt.strictly_lower(a) * (rt.matrix_transpose(ans[0]) @ a_dot
                                                                      @ np.linalg.inv(ans[1])))
                      - rt.matrix_transpose(ans[0]) @ a_dot @ np.linalg.inv(ans[1]))
            + a_dot @ np.linalg.inv(ans[1]),
            (rt.matrix_transpose(ans[0]) @ a_dot @ np.linalg.inv(ans[1])
             - rt.strictly_lower(a) * (rt.matrix_transpose(ans[0]) @ a_dot @ np.linalg.inv(ans[1]))
             + rt.matrix_transpose(rt.strictly_lower(a) * (rt.matrix_transpose(ans[0]) @ a_dot
                                                             @ np.linalg.inv(ans[1])))) @ ans[1])


@defjvp(np.linalg.svd, only={"compute_uv": False})
def svd(a, full_matrices=True, compute_uv=True):
    return rt.svd_values_jvp(a, a_dot)


@deftranspose(rt.svd_values_jvp)
def svd_values_jvp_transpose(a, a_dot):
    return None, rt.svd_values_transpose(a, ct)


@defjvp(scipy.linalg.solve_triangular)
def solve_triangular(a, b, trans=0, lower=False):
    return scipy.linalg.solve_triangular(a, b_dot - rt.triangle(a_dot, lower, trans) @ ans, trans=trans, lower=lower)


@deftranspose(scipy.linalg.solve_triangular)
def solve_triangular_transpose(a, b, trans=0, lower=False):
    return None, np.linalg.solve(rt.matrix_transpose(rt.triangle(a, lower, trans)), ct), None, None


declare(np.linalg.solve, result=_same_as(1), array=True, numba="overload: stacks")
declare(np.linalg.inv, np.linalg.cholesky, result=shapes.same, array=True, numba="overload: stacks")
declare(np.linalg.det, result=_plus(-2), numba="overload: stacks")
declare(np.linalg.slogdet, np.linalg.eigh, np.linalg.qr, numba="overload: stacks (slogdet, eigh)")
declare(np.linalg.svd, numba="overload: compute_uv=False")
declare(rt.svd_values_jvp, rt.svd_values_transpose)
declare(scipy.linalg.solve_triangular, result=_same_as(1), array=True, numba="overload: 2-D, by LU")


# -- examples -------------------------------------------------------------------------

SPD = "(x @ x.T + 3 * np.eye(3))"
STACKED_SPD = "(x @ np.transpose(x, (0, 2, 1)) + 3 * np.eye(3))"
add_examples(np.einsum,
             example("np.einsum('ij,jk->ik', x, y)", x=(2, 3), y=(3, 4)),
             example("np.einsum('ij,jk', x, y)", x=(2, 3), y=(3, 4)),
             example("np.einsum('ii->', x)", x=(3, 3)),
             example("np.einsum('ii->i', x)", x=(3, 3)),
             example("np.einsum('ij->j', x)", x=(2, 3)),
             example("np.einsum('i,i,i->', x, y, z)", x=(3,), y=(3,), z=(3,)),
             example("np.einsum('bij,bjk->bik', x, y)", x=(2, 2, 3), y=(2, 3, 4)),
             example("np.einsum('...ij,...jk->...ik', x, y)", x=(2, 2, 3), y=(3, 4)))
add_examples(np.matmul,
             example("x @ y", x=(2, 2, 3), y=(3, 4)),
             example("x @ y", x=(3,), y=(2, 3, 4)),
             example("x @ y", x=(2, 2, 3), y=(3,)),
             example("np.matmul(x, y)", x=(1, 2, 3), y=(2, 3, 4)), example("np.matmul(x, y)", x=(2, 2, 3), y=(3,)))
# Under Numba, ``axes`` as pairs of sequences is refused: their values are not known when compiling.
add_examples(np.tensordot, example("np.tensordot(x, y, 1)", x=(2, 3), y=(3, 4)),
             example("np.tensordot(x, y)", x=(2, 3, 4), y=(3, 4)),
             example("np.tensordot(x, y, axes=((0, 1), (1, 0)))", x=(2, 3), y=(3, 2), numba=False))
add_examples(np.inner, example("np.inner(x, y)", x=(2, 3), y=(4, 3)), example("np.inner(x, y)", x=(3,), y=(3,)))
add_examples(np.cross, example("np.cross(x, y)", x=(3,), y=(3,)), example("np.cross(x, y)", x=(4, 3), y=(3,)))
add_examples(np.kron, example("np.kron(x, y)", x=(2, 2), y=(2, 3)), example("np.kron(x, y)", x=(3,), y=(2,)))
add_examples(np.convolve, *(example(f"np.convolve(x, y, {mode!r})", x=(5,), y=(3,), numba=False)
                            for mode in ("full", "same", "valid")))
add_examples(np.linalg.solve,
             example(f"np.linalg.solve({SPD}, y)", x=(3, 3), y=(3,)),
             example(f"np.linalg.solve({SPD}, y)", x=(3, 3), y=(3, 2)),
             example(f"np.linalg.solve({STACKED_SPD}, y)", x=(2, 3, 3), y=(2, 3, 2)))
add_examples(np.linalg.inv, example(f"np.linalg.inv({SPD})", x=(3, 3)),
             example(f"np.linalg.inv({STACKED_SPD})", x=(2, 3, 3)))
add_examples(np.linalg.det, example(f"np.linalg.det({SPD})", x=(3, 3)))
add_examples(np.linalg.slogdet, example(f"np.linalg.slogdet({SPD})[1]", x=(3, 3)))
add_examples(np.linalg.cholesky, example(f"np.linalg.cholesky({SPD})", x=(3, 3)))
add_examples(np.linalg.eigh, example(f"np.linalg.eigh({SPD})[0]", x=(3, 3)),
             example(f"np.linalg.eigh({SPD})[1] ** 2", x=(3, 3)))
add_examples(np.linalg.qr, example(f"np.linalg.qr({SPD})[1]", x=(3, 3), numba=False))
add_examples(np.linalg.svd, example("np.linalg.svd(x, compute_uv=False)", x=(3, 2), second_order=False))
add_examples(scipy.linalg.solve_triangular,
             example(f"scipy.linalg.solve_triangular(np.linalg.cholesky({SPD}), y, lower=True)", x=(3, 3), y=(3,)),
             example(f"scipy.linalg.solve_triangular(np.linalg.cholesky({SPD}), y, trans=1, lower=True)",
                     x=(3, 3), y=(3, 2)),
             example(f"scipy.linalg.solve_triangular(np.linalg.cholesky({SPD}), y, trans=2, lower=True)",
                     x=(3, 3), y=(3,)),
             example("scipy.linalg.solve_triangular(x @ x.T + 3 * np.eye(3), y, trans='T')", x=(3, 3), y=(3,)))

# Masks shaped like their operand: constants of the derivative code, not values to differentiate.
defnondiff(rt.tril_half, rt.strictly_lower)
