"""Float32 specializations: Python numbers in compiled code behave as NumPy's weak scalars.

NumPy keeps float32 where a float32 value meets a Python number (``x * 0.5``, ``1 - x``,
``total = 0.0; total += x[i]``); Numba types literals as int64 and float64 and promotes, so
float32 code would turn float64 halfway, and derivative code that meets both would not
type-check (``np.dot`` of a float32 and a float64 array).  For arguments whose floats are
float32, ``s2s.jit`` compiles a specialization of the generated code in which the numbers that
meet floats are spelled in float32 (``np.float32(0.5)``), and Python floats passed in become
float32: a result is float32 where NumPy would give float32.  Float64 code is left as it is.
"""

from __future__ import annotations

import copy
import dataclasses

import gast
import numpy as np

from . import analysis, core
from .rules import registry, shapes

FLOAT32 = "float32"

#: Operators whose integer operand NumPy makes a float of the other operand's type.
_ARITHMETIC = (gast.Add, gast.Sub, gast.Mult, gast.Div)
#: Calls whose result is a Python int in NumPy, and calls whose result is another integer.
_WEAK_CALLS = {"len", "int", "round", "np.size", "np.ndim", "rt.batch_size"}
_INTEGER_CALLS = {"np.argmax", "np.argmin", "np.searchsorted"}


def float_type(args) -> str | None:
    """``FLOAT32`` if the arguments' NumPy floats (arrays and scalars) are all float32, else None.

    Python floats do not count: like NumPy, the specialization takes them as weak.
    """
    found = set()
    todo = list(args)
    while todo:
        value = todo.pop()
        if type(value) is float or type(value) is int:  # most arguments: nothing to look at
            continue
        if isinstance(value, (tuple, list)):
            todo.extend(value)
        elif isinstance(value, (np.ndarray, np.floating)) and value.dtype.kind == "f":
            found.add(value.dtype)
    return FLOAT32 if found == {np.dtype(np.float32)} else None


def weak(value, floats):
    """An argument as the specialization for ``floats`` takes it: a Python float becomes a float32."""
    if floats is None:
        return value
    if type(value) is float:
        return np.float32(value)
    if isinstance(value, tuple):
        return tuple(weak(v, floats) for v in value)
    return value


def constant(value, floats) -> str:
    """A module constant's source: a float in the specialization's type."""
    if floats is not None and type(value) is float:
        return f"np.{floats}({value!r})"
    return repr(value)


def specialize(functions, floats):
    """Copies of ``functions`` whose numbers meeting floats are spelled as ``floats``; as they are for None."""
    if floats is None:
        return functions
    # A Python int saved for another function (``n = X.shape[0]`` on a tape) is one there too.
    saved = set().union(*(_names_of_kind(fn.body, WEAK, set()) for fn in functions))
    return [_Specializer(fn, floats, saved).function() for fn in functions]


#: How an integer value is typed: as a Python int (weak in NumPy: it takes the float's type), or otherwise.
WEAK, INTEGER = "weak", "integer"


class _Specializer:
    def __init__(self, fn, floats, saved):
        self.fn, self.floats = fn, floats
        self.body = copy.deepcopy(fn.body)
        self.weak = _names_of_kind(self.body, WEAK, set(), saved)
        self.shapes = {s.targets[0].id for s in core.walk_statements(self.body) if isinstance(s, gast.Assign)
                       and isinstance(s.targets[0], gast.Name) and _is_shape(s.value, set())}
        self.integers = _names_of_kind(self.body, INTEGER, self.weak, saved) | analysis.used_as_integers(self.body)

    def function(self):
        for stmt in core.walk_statements(self.body):
            self.statement(stmt)
        return dataclasses.replace(self.fn, body=self.body)

    def statement(self, stmt):
        if isinstance(stmt, gast.For):  # range bounds are integers
            return
        if isinstance(stmt, (gast.While, gast.If)):
            stmt.test = self.expr(stmt.test)
            return
        if isinstance(stmt, gast.AugAssign) and isinstance(stmt.op, _ARITHMETIC):
            stmt.value = self.operand(stmt.value, stmt.target, stmt.op)
            return
        if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name) and _is_number(stmt.value, int) \
                and self.kind(stmt.targets[0]) is None:  # ``total = 0`` that later holds floats
            stmt.value = self.cast(stmt.value)
            return
        for field in ("value", "test", "msg"):
            if getattr(stmt, field, None) is not None:
                setattr(stmt, field, self.expr(getattr(stmt, field)))
        if isinstance(stmt, gast.Assign):
            stmt.targets = [self.expr(t) for t in stmt.targets]  # literals in a written index stay

    def expr(self, node):
        """``node`` with its float literals, and the Python ints meeting floats, in the specialization's type."""
        if _is_number(node, float) or core.dotted_name(node) in analysis.SCALAR_CONSTANTS:  # 0.5, math.pi
            return self.cast(node)
        if isinstance(node, gast.Subscript):  # an index is integers (or slices of them)
            node.value = self.expr(node.value)
            return node
        if isinstance(node, gast.BinOp) and isinstance(node.op, _ARITHMETIC):
            node.left, node.right = (self.operand(node.left, node.right, node.op),
                                     self.operand(node.right, node.left, node.op))
            return node
        if isinstance(node, gast.Call):
            rule = registry.lookup_spelled(core.dotted_name(node.func))
            floats = rule is not None and rule.family == shapes.ELEMENTWISE \
                and any(self.kind(a) is None for a in node.args)
            node.args = [self.cast(a) if floats and _is_number(a, int) else self.expr(a) for a in node.args]
            for kw in node.keywords:
                kw.value = self.expr(kw.value)
            return node
        for field, value in gast.iter_fields(node):
            if isinstance(value, gast.AST):
                setattr(node, field, self.expr(value))
            elif isinstance(value, list):
                setattr(node, field, [self.expr(v) if isinstance(v, gast.AST) else v for v in value])
        return node

    def operand(self, node, other, op):
        """An operand of arithmetic: a Python int meeting a float (or a bool divided) takes the float type."""
        mine, theirs = self.kind(node), self.kind(other)
        if any(isinstance(n, gast.Tuple) or _is_shape(n, self.shapes) for n in (node, other)):
            return self.expr(node)
        if mine == WEAK and (theirs is None or theirs == INTEGER and isinstance(op, gast.Div)):
            return self.cast(node)
        return self.expr(node)

    def cast(self, node):
        """``node`` in the specialization's float type: a literal as ``np.float32(0.5)``."""
        if _is_number(node, (int, float)):
            number = node.operand.value if isinstance(node, gast.UnaryOp) else node.value
            value = -number if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub) else number
            node = gast.Constant(value=float(value), kind=None)
        return core.call(core.attr(f"np.{self.floats}"), [node])

    def kind(self, node):
        return _kind(node, self.weak, self.integers)


def _is_number(node, kind) -> bool:
    """A literal number of ``kind`` (``int`` or ``float``; not a bool), negative ones included."""
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, (gast.USub, gast.UAdd)):
        node = node.operand
    return isinstance(node, gast.Constant) and isinstance(node.value, kind) and not isinstance(node.value, bool)


def _is_shape(node, shapes) -> bool:
    return isinstance(node, gast.Attribute) and node.attr == "shape" or isinstance(node, gast.Name) and node.id in shapes


def _kind(node, weak, integers):
    """``WEAK`` for a value that is a Python int in NumPy (a literal, a length, a loop counter), ``INTEGER``
    for another integer or a bool, None for a float or what the code does not show."""
    if isinstance(node, gast.Constant):
        return INTEGER if isinstance(node.value, bool) else WEAK if isinstance(node.value, int) else None
    if isinstance(node, gast.Name):
        return WEAK if node.id in weak else INTEGER if node.id in integers else None
    if isinstance(node, gast.BinOp):
        if isinstance(node.op, (gast.Div, gast.MatMult)):
            return None
        kinds = {_kind(node.left, weak, integers), _kind(node.right, weak, integers)}
        return None if None in kinds else WEAK if kinds == {WEAK} else INTEGER
    if isinstance(node, gast.UnaryOp):
        return INTEGER if isinstance(node.op, gast.Not) else _kind(node.operand, weak, integers)
    if isinstance(node, (gast.Compare, gast.BoolOp)):
        return INTEGER
    if isinstance(node, gast.Attribute):  # a shape is a tuple of Python ints
        return WEAK if node.attr in ("size", "ndim", "shape") else None
    if isinstance(node, gast.Subscript):  # an element of a shape
        return WEAK if _kind(node.value, weak, integers) == WEAK else None
    if isinstance(node, gast.Call):
        dotted = core.dotted_name(node.func)
        if dotted in ("min", "max", "abs"):
            kinds = {_kind(a, weak, integers) for a in node.args}
            return None if None in kinds else WEAK if kinds == {WEAK} else INTEGER
        return WEAK if dotted in _WEAK_CALLS else INTEGER if dotted in _INTEGER_CALLS else None
    return None


def _names_of_kind(body, kind, weak, saved=frozenset()) -> set:
    """Names every definition of which is of ``kind`` (``INTEGER``: of either integer kind).

    A name unpacked from a tuple is a Python int if it is one of the ``saved`` (residuals are
    unpacked under the names they were saved from).
    """
    definitions: dict = {}
    for stmt in core.walk_statements(body):
        if isinstance(stmt, gast.For):
            definitions.setdefault(stmt.target.id, []).append(gast.Constant(value=0, kind=None))
        elif isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name):
            definitions.setdefault(stmt.targets[0].id, []).append(stmt.value)
        elif isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Tuple):
            shape = isinstance(stmt.value, gast.Attribute) and stmt.value.attr == "shape"
            for target in stmt.targets[0].elts:
                if isinstance(target, gast.Name):
                    definitions.setdefault(target.id, []).append(
                        gast.Constant(value=0 if shape or target.id in saved else None, kind=None))
        elif isinstance(stmt, gast.AugAssign) and isinstance(stmt.target, gast.Name):
            definitions.setdefault(stmt.target.id, []).append(
                gast.BinOp(left=stmt.target, op=stmt.op, right=stmt.value))
    found = set(definitions)
    changed = True
    while changed:  # the largest set consistent with every definition (a counter's ``k -= 1`` keeps it one)
        changed = False
        for name_ in list(found):
            kinds = {_kind(v, found if kind == WEAK else weak, found) for v in definitions[name_]}
            if None in kinds or kind == WEAK and kinds != {WEAK}:
                found.discard(name_)
                changed = True
    return found
