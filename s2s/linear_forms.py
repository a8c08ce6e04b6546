"""Regroup expressions that are linear in tangents as ``c1 * t1 + c2 * t2 + ...``.

Rules are written operation by operation, so a tangent expression follows the
shape of the primal one: the tangent of ``r * x * (1 - x)`` is
``(r_dot * x + r * x_dot) * (1 - x) - r * x * x_dot``.  In a loop, every
operation applied to ``x_dot`` lengthens the chain of dependent operations
from one iteration's tangent to the next; regrouped, the tangent is
``(r * (1 - x) - r * x) * x_dot + x * (1 - x) * r_dot``: the coefficients
depend only on primal values and are computed off that chain, and the chain
through ``x_dot`` is one multiplication and one addition.  This is how one
writes a derivative by hand, and it runs at the speed of one.

An expression is only regrouped when that costs no more operations on
tangents (which may be arrays), no more divisions, and at most one more
operation in all.
"""

from __future__ import annotations

from collections import Counter

import gast
import numpy as np

from . import core
from .rules import registry, shapes
from .rules.template import simplify


class _Term:
    """``sign * (product of factors) / (product of divisors) * atom``."""

    def __init__(self, atom):
        self.atom, self.factors, self.divisors, self.negative = atom, [], [], False

    def scaled(self, factor=None, divisor=None, negate=False):
        term = _Term(self.atom)
        term.factors = self.factors + ([factor] if factor is not None else [])
        term.divisors = self.divisors + ([divisor] if divisor is not None else [])
        term.negative = self.negative != negate
        return term

    def coefficient(self):
        """The coefficient as one expression (None for 1), sign included."""
        coef = _product(self.factors)
        if self.divisors:
            coef = gast.BinOp(left=coef or core.const(1.0), op=gast.Div(), right=_product(self.divisors))
        if self.negative and _is_boolean(coef):  # NumPy refuses -mask: the mask scaled by -1.0
            coef = gast.BinOp(left=coef, op=gast.Mult(), right=core.const(-1.0))
        elif self.negative:
            coef = gast.UnaryOp(op=gast.USub(), operand=coef or core.const(1.0))
        return coef


def _is_boolean(expr) -> bool:
    """Is ``expr`` a comparison or a logical operation (a boolean, or a mask of them)?"""
    return isinstance(expr, (gast.Compare, gast.BoolOp)) or \
        isinstance(expr, gast.UnaryOp) and isinstance(expr.op, gast.Not)


def _product(nodes):
    result = None
    for node in nodes:
        result = node if result is None else gast.BinOp(left=result, op=gast.Mult(), right=node)
    return result


class _NotLinear(Exception):
    pass


def _terms(expr, linear) -> list | None:
    """The terms of ``expr``, or None if it involves no linear name."""
    if not (core.names_in(expr) & linear):
        return None
    if isinstance(expr, gast.BinOp) and isinstance(expr.op, (gast.Add, gast.Sub)):
        left, right = _terms(expr.left, linear), _terms(expr.right, linear)
        if left is None or right is None:
            raise _NotLinear  # a primal term added to a tangent: not a linear form
        return left + [t.scaled(negate=isinstance(expr.op, gast.Sub)) for t in right]
    if isinstance(expr, gast.BinOp) and isinstance(expr.op, gast.Mult):
        left, right = _terms(expr.left, linear), _terms(expr.right, linear)
        if left is not None and right is not None:
            raise _NotLinear
        if left is None:
            return [t.scaled(factor=expr.left) for t in right]
        return [t.scaled(factor=expr.right) for t in left]
    if isinstance(expr, gast.BinOp) and isinstance(expr.op, gast.Div):
        if _terms(expr.right, linear) is not None:
            raise _NotLinear
        return [t.scaled(divisor=expr.right) for t in _terms(expr.left, linear)]
    if isinstance(expr, gast.UnaryOp) and isinstance(expr.op, gast.USub):
        return [t.scaled(negate=True) for t in _terms(expr.operand, linear)]
    return [_Term(expr)]  # a tangent, or an opaque linear piece (x_dot[i], np.sum(x_dot))


def _operations(expr) -> tuple[int, int]:
    """(arithmetic operations, divisions) in ``expr``, outside opaque calls."""
    ops = divisions = 0
    for node in gast.walk(expr):
        if isinstance(node, (gast.BinOp, gast.UnaryOp)):
            ops += 1
            divisions += isinstance(getattr(node, "op", None), gast.Div)
    return ops, divisions


def _tangent_operations(expr, linear) -> int:
    """Arithmetic operations in ``expr`` whose operands carry tangents (array operations, maybe)."""
    if not (core.names_in(expr) & linear):
        return 0
    if isinstance(expr, gast.BinOp) and isinstance(expr.op, (gast.Add, gast.Sub, gast.Mult, gast.Div)):
        return 1 + _tangent_operations(expr.left, linear) + _tangent_operations(expr.right, linear)
    if isinstance(expr, gast.UnaryOp):
        return 1 + _tangent_operations(expr.operand, linear)
    return 0


def regroup(expr, linear: set):
    """``expr`` as a sum of coefficient × tangent, when that is no more work; else ``expr``."""
    try:
        terms = _terms(expr, linear)
    except _NotLinear:
        return expr
    if terms is None or len(terms) == 1 and not terms[0].factors:
        return expr
    merged: dict = {}
    for term in terms:
        merged.setdefault(core.structure(term.atom), []).append(term)
    pieces = []
    for same in merged.values():
        coefficients = [t.coefficient() for t in same]
        if len(same) == 1:
            coefficient = coefficients[0]
        else:
            coefficient = None
            for c in coefficients:
                c = c or core.const(1.0)
                coefficient = c if coefficient is None else gast.BinOp(left=coefficient, op=gast.Add(), right=c)
        pieces.append((coefficient, same[0].atom))
    tangent_cost = sum(c is not None for c, _ in pieces) + len(pieces) - 1
    if tangent_cost > _tangent_operations(expr, linear):
        return expr
    result = None
    for coefficient, atom in pieces:
        term = atom if coefficient is None else gast.BinOp(left=coefficient, op=gast.Mult(), right=atom)
        result = term if result is None else gast.BinOp(left=result, op=gast.Add(), right=term)
    result = simplify(result)
    (ops, divisions), (old_ops, old_divisions) = _operations(result), _operations(expr)
    if ops > old_ops + 1 or divisions > old_divisions:
        return expr  # the coefficients would cost more than the shorter chain saves
    return result


def regroup_statement(stmt, linear: set):
    """Regroup the value of a statement that defines or updates a linear name."""
    if isinstance(stmt, gast.Assign) and set(core.target_names(stmt.targets[0])) <= linear \
            and not isinstance(stmt.targets[0], gast.Tuple):
        stmt.value = regroup(stmt.value, linear)
    elif isinstance(stmt, gast.AugAssign) and set(core.target_names(stmt.target)) <= linear:
        stmt.value = regroup(stmt.value, linear)
    return stmt


_ARITHMETIC = (gast.Add, gast.Sub, gast.Mult, gast.Div, gast.USub, gast.UAdd)


def _arithmetic_use(expr, t) -> bool:
    """Is every use of ``t`` in ``expr`` reached through arithmetic only (no call, index or reduction)?"""
    if isinstance(expr, gast.Name):
        return True
    if isinstance(expr, gast.BinOp) and isinstance(expr.op, _ARITHMETIC):
        return all(_arithmetic_use(e, t) for e in (expr.left, expr.right) if t in core.names_read(e))
    if isinstance(expr, gast.UnaryOp) and isinstance(expr.op, _ARITHMETIC):
        return _arithmetic_use(expr.operand, t)
    return False


def _arithmetic_in(expr, linear) -> bool:
    """Is ``expr`` arithmetic on tangents (with any coefficients), so that each tangent keeps a known shape?"""
    if not core.names_in(expr) & linear or isinstance(expr, gast.Name):
        return True
    if isinstance(expr, gast.BinOp) and isinstance(expr.op, _ARITHMETIC):
        return _arithmetic_in(expr.left, linear) and _arithmetic_in(expr.right, linear)
    if isinstance(expr, gast.UnaryOp) and isinstance(expr.op, _ARITHMETIC):
        return _arithmetic_in(expr.operand, linear)
    return False


def fold_tangent_temporaries(fn) -> None:
    """Fold each tangent temporary used once into the statement that uses it, then regroup.

    Only within straight-line code, and only where nothing between the two
    statements rebinds or writes into a name the folded expression reads.  A JVP
    program then has one tangent statement per source statement, in regrouped form,
    which is what partial evaluation and transposition work best from.
    """
    linear_temps = fn.linear & fn.temps
    aliases = core.alias_groups(fn.body)
    uses = Counter()
    for stmt in core.walk_statements(fn.body):
        uses.update(core.names_read(core.own_expression(stmt)))

    def block(body):
        body = list(body)
        for stmt in body:
            core.map_blocks(stmt, block)
        i = len(body) - 1
        while i >= 0:
            stmt = body[i]
            if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name) \
                    and stmt.targets[0].id in linear_temps and uses[stmt.targets[0].id] == 1 \
                    and _fold_forward(body, i):
                del body[i]
            i -= 1
        for stmt in body:
            regroup_statement(stmt, fn.linear)
        return body

    def _fold_forward(body, i) -> bool:
        t, value = body[i].targets[0].id, body[i].value
        reads = set(core.names_read(value))
        for later in body[i + 1:]:
            if core.sub_blocks(later):
                return False
            if t in core.names_read(later):
                if not isinstance(later, (gast.Assign, gast.AugAssign)) or not _arithmetic_use(later.value, t) \
                        or not _arithmetic_in(value, fn.linear):
                    return False
                later.value = core.substitute(later.value, {t: value})
                core.notes(later).witnesses = {**core.notes(body[i]).witnesses, **core.notes(later).witnesses}
                # What the result was broadcast from: t's operands in place of t (an arithmetic tangent is
                # an elementwise primal's, whose result has their broadcast shape).
                primal = fn.primal_of.get(t)
                core.notes(later).primal_operands = core.notes(body[i]).primal_operands + \
                    [n for n in core.notes(later).primal_operands if n != primal]
                return True
            written = core.written_names(later) | {n for m in core.mutated_names([later]) for n in aliases.get(m, {m})}
            if written & reads:  # a view of an array written here is written too
                return False
        return False

    fn.body = block(fn.body)


def hoist_primal_calls(fn) -> None:
    """Compute the NumPy ufuncs and ``math`` functions that top-level tangent expressions call on primal values
    first.

    ``c_dot = -math.sin(theta) * theta_dot`` becomes ``sin_theta = math.sin(theta)`` then
    ``c_dot = -sin_theta * theta_dot``.  Partial evaluation then saves the value (the optimizer shares
    it with the primal's own ``math.sin(theta)``) instead of computing it again in the linear part each
    time that part runs: once per column of a Jacobian, once per cotangent of ``vjp``.  Statements in
    loops are left alone: there, saving costs a tape entry per step.
    """
    namer = fn.namer()
    body = []
    for stmt in fn.body:
        if isinstance(stmt, gast.Assign) and set(core.target_names(stmt.targets[0])) & fn.linear:
            hoisted = _PrimalCalls(fn, namer)
            stmt.value = hoisted.visit(stmt.value)
            body += [core.at(s, stmt.lineno) for s in hoisted.found]
        body.append(stmt)
    fn.body = body


class _PrimalCalls(gast.NodeTransformer):
    def __init__(self, fn, namer):
        self.fn, self.namer, self.found = fn, namer, []

    def visit_Call(self, node):
        spelled = core.dotted_name(node.func) or ""
        reads = set(n for a in [*node.args, *(k.value for k in node.keywords)] for n in core.names_read(a))
        rule = registry.lookup_spelled(spelled)
        costly = rule is not None and (rule.family == shapes.SCALAR and not rule.cheap
                                       or rule.family == shapes.ELEMENTWISE and isinstance(rule.prim, np.ufunc))
        if not costly or not reads or reads & self.fn.linear:
            return self.generic_visit(node)
        first = core.names_read(node.args[0]) if node.args else []
        temp = self.namer.fresh(core.sanitize("_".join([spelled.rpartition(".")[2], *first[:1]])))
        self.fn.temps.add(temp)
        self.found.append(core.assign(temp, node))
        return core.name(temp)
