"""The columns of a Jacobian one by one: a linear function specialized to each unit tangent.

``jacfwd`` runs the linear part of a function once per direction of the input's
basis.  A basis direction is one 1 among zeros, so most of what the linear
part computes for it is zero: the tangent of the camera's focal length does
not flow through the rotation at all.  For a linear function that reads the
tangent's elements at constant positions (``camera_dot[6]``) in straight-line
code, ``unit_columns`` writes one function per position, with that element 1
and every other tangent a symbolic zero, pruned as the transforms prune zeros.
Each function writes its column's nonzero entries into the Jacobian in place.
What remains is about the work a hand-derived Jacobian does.
"""

from __future__ import annotations

import gast

from .. import core
from ..rules.template import Zero, is_zero, simplify


def unit_columns(lin: core.Function, param: str, name: str) -> dict | None:
    """For each position ``c`` the linear function reads ``param`` (a tangent parameter) at: a function
    ``(residuals, column)`` writing the Jacobian's column for ``param[c]`` into ``column``, or None
    where that column is zero.  None (the caller batches the whole linear function instead) unless the
    body is straight-line code that reads ``param`` only at constant positions and returns ``np.array``
    of a list, and every zero prunes away.
    """
    residuals, *tangents = lin.params
    if not lin.body or not isinstance(lin.body[-1], gast.Return) or \
            not all(isinstance(s, gast.Assign) for s in lin.body[:-1]):
        return None
    body, output = _body_and_output(lin.body)
    if output is None:
        return None
    positions = _positions(body + [gast.Expr(value=output)], param)
    if positions is None:
        return None
    columns = {}
    for c in sorted(positions):
        column = _specialized(lin, body, output, param, c, set(tangents) - {param}, f"{name}_{c}")
        if column is False:
            return None
        columns[c] = column
    return columns


def _array_literal(value) -> bool:
    return isinstance(value, gast.Call) and core.dotted_name(value.func) in ("np.array", "np.asarray") \
        and len(value.args) == 1 and not value.keywords and isinstance(value.args[0], (gast.List, gast.Tuple))


def _body_and_output(body):
    """The statements before the output, and the output's ``np.array([...])`` (returned, or assigned to the
    name returned); None if the output is not such a literal."""
    *body, ret = body
    value = ret.value
    if isinstance(value, gast.Name):
        defining = [i for i, s in enumerate(body) if value.id in core.target_names(s.targets[0])]
        reads = sum(n.id == value.id for s in body for n in gast.walk(s.value) if isinstance(n, gast.Name))
        if len(defining) != 1 or reads:
            return body, None
        value = body.pop(defining[0]).value
    return body, (value if _array_literal(value) else None)


def _positions(body, param) -> set | None:
    """The constant positions ``param[c]`` is read at; None if it is read any other way."""
    found, reads, indexed = set(), 0, 0
    for node in (n for stmt in body for n in gast.walk(stmt)):
        if isinstance(node, gast.Subscript) and isinstance(node.value, gast.Name) and node.value.id == param:
            if not (isinstance(node.slice, gast.Constant) and type(node.slice.value) is int and node.slice.value >= 0):
                return None
            found.add(node.slice.value)
            indexed += 1
        if isinstance(node, gast.Name) and node.id == param:
            reads += 1
    return found if reads == indexed else None


class _Unit(gast.NodeTransformer):
    """``param[c]`` → 1.0, ``param[k]`` → zero, other tangents and known zeros → zero, known constants → their
    values."""

    def __init__(self, param, position, zeros, constants):
        self.param, self.position, self.zeros, self.constants = param, position, zeros, constants

    def visit_Subscript(self, node):
        if isinstance(node.value, gast.Name) and node.value.id == self.param:
            return core.const(1.0) if node.slice.value == self.position else Zero()
        return self.generic_visit(node)

    def visit_Name(self, node):
        if isinstance(node.ctx, gast.Load) and node.id in self.zeros:
            return Zero()
        if isinstance(node.ctx, gast.Load) and node.id in self.constants:
            return core.const(self.constants[node.id])
        return node


def _specialized(lin, statements, output, param, position, other_tangents, name):
    """The column function for ``param[position]``; None for a zero column; False if a zero does not prune."""
    residuals = lin.params[0]
    zeros, constants = set(other_tangents), {}
    unit = _Unit(param, position, zeros, constants)
    body = []
    for stmt in statements:
        value = simplify(unit.visit(core.clone(stmt.value)))
        target = stmt.targets[0]
        pairs = list(zip(target.elts, value.elts)) if isinstance(target, gast.Tuple) and \
            isinstance(value, gast.Tuple) and len(target.elts) == len(value.elts) else [(target, value)]
        for t, v in pairs:
            if is_zero(v) and isinstance(t, gast.Name):
                zeros.add(t.id)
            elif is_zero(v) and isinstance(t, gast.Tuple):
                zeros.update(core.target_names(t))
            elif _has_zero(v):
                return False
            elif isinstance(t, gast.Name) and isinstance(v, gast.Constant) and t.id not in lin.params:
                constants[t.id] = v.value
            else:
                body.append(core.at(core.assign(core.clone(t), v), stmt.lineno))
    lineno = lin.body[-1].lineno
    elements = simplify(unit.visit(core.clone(output.args[0])))
    elements = [] if is_zero(elements) else elements.elts
    writes = []
    for i, element in enumerate(elements):
        if is_zero(element):
            continue  # the Jacobian starts as zeros
        if _has_zero(element):
            return False
        target = gast.Subscript(value=core.name("column"), slice=core.const(i), ctx=gast.Store())
        writes.append(core.at(core.assign(target, element), lineno))
    if not writes:
        return None
    fn = core.Function(name=name, params=[residuals, "column"], body=body + writes, lineno=lin.lineno,
                       filename=lin.filename, source_lines=lin.source_lines, temps=set(lin.temps))
    return fn


def _has_zero(node) -> bool:
    return any(is_zero(n) for n in gast.walk(node))
