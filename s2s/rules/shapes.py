"""Batching families, and the number of dimensions of a primitive's result.

Each rule names its family (how ``vmap`` batches it) and a *result* function:
given the operands of one application, the number of dimensions of its value
(0 for a number), or None where the code does not make it plain.  Kinds
(scalar or array), per-example dimensions in batching and zero witnesses all
read this one answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import gast

#: Applies to each element of broadcast operands (ufuncs, ``np.where``, ``np.clip``).
ELEMENTWISE = "elementwise"
#: Combines the elements along ``axis`` (all of them by default); ``keepdims`` keeps the axes.
REDUCTION = "reduction"
#: Sums products over shared axes (``np.dot``, ``@``, ``np.outer``).
CONTRACTION = "contraction"
#: Moves or copies elements without arithmetic (``np.reshape``, ``np.stack``, ``np.copy``).
SHAPE = "shape"
#: Reads or writes elements at indices (``x[i]``, ``np.take``).
GATHER = "gather"
#: Makes a new array from a shape or a like-shaped array (``np.zeros``, ``np.zeros_like``, ``np.arange``).
MAKER = "maker"
#: Reads only its operand's shape (``len``, ``np.shape``): the same answer for every example.
QUERY = "query"
#: Works on numbers: ``math`` functions and numeric builtins.
SCALAR = "scalar"

FAMILIES = (ELEMENTWISE, REDUCTION, CONTRACTION, SHAPE, GATHER, MAKER, QUERY, SCALAR)


@dataclass
class Operands:
    """One application, as result functions see it."""

    args: list
    keywords: dict
    #: The number of dimensions of any expression of the program (None where unknown).
    ndim_of: Callable

    def ndim(self, position: int, keyword: str | None = None):
        node = self.operand(position, keyword)
        return None if node is None else self.ndim_of(node)

    def operand(self, position: int, keyword: str | None = None):
        if keyword in self.keywords:
            return self.keywords[keyword]
        return self.args[position] if position < len(self.args) else None


def constant(node):
    """The Python value of a literal operand (``1``, ``-1``, ``(0, 2)``, ``True``), or None."""
    if isinstance(node, gast.Constant):
        return node.value
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub) and isinstance(node.operand, gast.Constant):
        return -node.operand.value
    if isinstance(node, gast.Tuple):
        values = [constant(e) for e in node.elts]
        return None if None in values else tuple(values)
    return None


# -- result functions -----------------------------------------------------------------


def broadcast(op: Operands):
    """The most dimensions among the operands (NumPy's broadcasting)."""
    found = [op.ndim_of(a) for a in op.args]
    return None if not found or None in found else max(found)


def same(op: Operands):
    """As many dimensions as the first operand."""
    return op.ndim(0)


def fixed(n: int):
    def result(op: Operands):
        return n

    return result


def reduced_at(position: int):
    """A reduction whose ``axis`` is operand ``position`` (``np.sum(a, axis)``: 1; ``np.linalg.norm(x, ord, axis)``: 2).

    ``keepdims`` counts only as a keyword: with more positional operands than up to
    ``axis``, the dimensions are not plain.
    """

    def result(op: Operands):
        if len(op.args) > position + 1:
            return None
        keepdims = constant(op.keywords["keepdims"]) if "keepdims" in op.keywords else False
        axis_node = op.operand(position, "axis")
        axis = None if axis_node is None else constant(axis_node)
        if axis is None and axis_node is not None and not isinstance(axis_node, gast.Constant):
            return None  # an axis computed at run time
        if keepdims not in (True, False):
            return None
        n = op.ndim(0)
        if keepdims:
            return n
        if axis is None:
            return 0
        return None if n is None else n - (len(axis) if isinstance(axis, tuple) else 1)

    return result


#: ``np.sum(a, axis, dtype, out, keepdims)`` and its kin.
reduced = reduced_at(1)


def matrix_product(left, right):
    """Dimensions of ``np.dot``/``@`` of operands with ``left`` and ``right`` dimensions (2-D at most)."""
    if left is None or right is None:
        return None
    if 0 in (left, right):
        return max(left, right)
    return left + right - 2 if left <= 2 and right <= 2 else None


def dot(op: Operands):
    return matrix_product(op.ndim(0), op.ndim(1))


def inner(op: Operands):
    """``np.inner``: the last axes of both operands contract."""
    left, right = op.ndim(0), op.ndim(1)
    if left is None or right is None:
        return None
    return max(left, right) if 0 in (left, right) else left + right - 2


def from_shape(position: int, keyword: str = "shape"):
    """As many dimensions as the shape operand has entries (``np.zeros((n, m))``: 2, ``np.zeros(n)``: 1)."""

    def result(op: Operands):
        shape = op.operand(position, keyword)
        if isinstance(shape, gast.Tuple):
            return len(shape.elts)
        return 1 if shape is not None and op.ndim_of(shape) == 0 else None

    return result


def stacked(added: int):
    """``np.stack``/``np.array`` (``added`` 1) or ``np.concatenate`` (0) of a literal sequence."""

    def result(op: Operands):
        seq = op.operand(0)
        if not isinstance(seq, (gast.List, gast.Tuple)):
            return op.ndim(0)
        parts = [op.ndim_of(e) for e in seq.elts]
        return None if None in parts or not parts else max(parts) + added

    return result


def cumulative(op: Operands):
    """``np.cumsum(a)`` is flat; along an axis it keeps the shape."""
    return op.ndim(0) if op.operand(1, "axis") is not None else 1


#: The result a family brings unless a rule says otherwise.
FAMILY_RESULTS = {ELEMENTWISE: broadcast, REDUCTION: reduced, SCALAR: fixed(0), QUERY: fixed(0)}


def flat_unless_axis(position: int):
    """``np.repeat(a, r)`` is flat; along an axis it keeps ``a``'s dimensions."""

    def result(op: Operands):
        axis = op.operand(position, "axis")
        if axis is None or isinstance(axis, gast.Constant) and axis.value is None:
            return 1
        return op.ndim(0)

    return result


def tiled(op: Operands):
    """``np.tile(a, reps)``: the more of ``a``'s dimensions and ``reps``' entries."""
    reps, n = op.operand(1, "reps"), op.ndim(0)
    count = len(reps.elts) if isinstance(reps, gast.Tuple) else 1 if reps is not None and op.ndim_of(reps) == 0 \
        else None
    return None if count is None or n is None else max(n, count)


def diag(op: Operands):
    """``np.diag``: a vector's matrix, or a matrix's diagonal."""
    return {1: 2, 2: 1}.get(op.ndim(0))


def traced(op: Operands):
    """``np.trace``: two axes fewer."""
    n = op.ndim(0)
    return None if n is None else n - 2


def taken(op: Operands):
    """``np.take(a, indices, axis)``: the indices' dimensions in place of ``axis`` (of the flat ``a`` by default)."""
    axis = op.operand(2, "axis")
    picked = op.ndim(1, "indices")
    if axis is None or isinstance(axis, gast.Constant) and axis.value is None:
        return picked
    n = op.ndim(0)
    return None if n is None or picked is None else n - 1 + picked


def at_least(least: int):
    """``np.hstack`` (1) or ``np.vstack`` (2) of a literal sequence: joined, with at least ``least`` dimensions."""
    joined = stacked(0)

    def result(op: Operands):
        n = joined(op)
        return None if n is None else max(n, least)

    return result
