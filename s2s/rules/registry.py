"""The one rule table every transform reads, keyed by primitive object.

A primitive is an operator (``operator.mul`` for ``*``), a NumPy or ``math``
function, a builtin, or ``operator.getitem`` for indexing.  Its rule says how
to differentiate it (a JVP template) or that it has no derivative (its result
never carries a tangent: comparisons, ``floor``, ``len``, shapes).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import gast

from .. import core
from ..frontend.resolve import resolve_spelling, spelling
from .template import Template, TransposeTemplate


@dataclass
class Rule:
    prim: object
    jvp: Template | None = None
    nondiff: bool = False
    #: For primitives linear in some operands: how cotangents flow back through them.
    transpose: TransposeTemplate | None = None

    @property
    def differentiable(self) -> list[str]:
        return self.jvp.differentiable if self.jvp else []


_RULES: dict = {}


def defjvp(*prims):
    """Register a JVP template for each primitive in ``prims`` (a decorator).

    The template is a function with the primitive's parameters whose body is
    one ``return`` of the tangent, written with ``<param>_dot`` for the
    tangent of each parameter and ``ans`` for the primitive's result.  Any
    callable can be a primitive: your own functions too, which s2s then calls
    as they are instead of transforming them.
    """

    def register(fn):
        template = Template(fn)
        for prim in prims:  # a transposition rule registered before stays
            rule = _RULES.setdefault(prim, Rule(prim))
            rule.jvp, rule.nondiff = template, False
        return fn

    return register


def deftranspose(*prims, elementwise=False):
    """Register a transposition template for each (linear) primitive in ``prims`` (a decorator).

    ``elementwise`` rules broadcast their operands: a contribution to a smaller
    operand is summed down to its shape.
    """

    def register(fn):
        template = TransposeTemplate(fn, elementwise)
        for prim in prims:
            rule = _RULES.setdefault(prim, Rule(prim))
            rule.transpose = template
        return fn

    return register


def defnondiff(*prims):
    """Mark primitives whose results carry no derivative."""
    for prim in prims:
        _RULES[prim] = Rule(prim, nondiff=True)


def lookup(prim) -> Rule | None:
    try:
        return _RULES.get(prim)
    except TypeError:  # unhashable object
        return None


# -- which primitive a core expression applies --------------------------------

BINOPS = {gast.Add: operator.add, gast.Sub: operator.sub, gast.Mult: operator.mul,
          gast.Div: operator.truediv, gast.FloorDiv: operator.floordiv, gast.Mod: operator.mod,
          gast.Pow: operator.pow, gast.MatMult: operator.matmul, gast.BitAnd: operator.and_,
          gast.BitOr: operator.or_}
UNARYOPS = {gast.USub: operator.neg, gast.UAdd: operator.pos, gast.Not: operator.not_}
COMPARE = operator.lt  # every comparison: none has a derivative
BOOLOP = operator.and_


def primitive_of(expr, constants=None):
    """The primitive object a core-form expression applies, or None for atoms and user calls.

    ``constants`` are the function's bound names: a call to one of them with a
    registered rule (a primitive of the user's) is a primitive application too.
    """
    if isinstance(expr, gast.BinOp):
        return BINOPS[type(expr.op)]
    if isinstance(expr, gast.UnaryOp):
        return UNARYOPS[type(expr.op)]
    if isinstance(expr, gast.Compare):
        return COMPARE
    if isinstance(expr, gast.BoolOp):
        return BOOLOP
    if isinstance(expr, gast.Subscript):
        return operator.getitem
    if isinstance(expr, gast.Attribute):
        return getattr
    if isinstance(expr, gast.Call):
        if constants and isinstance(expr.func, gast.Name) and expr.func.id in constants:
            return constants[expr.func.id]
        dotted = core.dotted_name(expr.func)
        return resolve_spelling(dotted) if dotted else None
    return None


def operands(expr) -> tuple[list, dict]:
    """Positional and keyword operands of a primitive application."""
    if isinstance(expr, gast.BinOp):
        return [expr.left, expr.right], {}
    if isinstance(expr, gast.UnaryOp):
        return [expr.operand], {}
    if isinstance(expr, gast.Subscript):
        return [expr.value, expr.slice], {}
    if isinstance(expr, gast.Call):
        return list(expr.args), {k.arg: k.value for k in expr.keywords}
    if isinstance(expr, gast.Compare):
        return [expr.left, *expr.comparators], {}
    if isinstance(expr, gast.BoolOp):
        return list(expr.values), {}
    if isinstance(expr, gast.Attribute):
        return [expr.value], {}
    return [], {}


def describe(prim) -> str:
    return spelling(prim) or getattr(prim, "__name__", repr(prim))


def _load_rule_modules():
    from . import arithmetic, arrays, elementwise, transposes  # noqa: F401  (they register on import)


_load_rule_modules()
