"""The one rule table every transform reads, keyed by primitive object.

A primitive is an operator (``operator.mul`` for ``*``), a NumPy or ``math``
function, a builtin, or ``operator.getitem`` for indexing.  Its entry holds
everything s2s knows about it: how to differentiate it (a JVP template) or that
it has no derivative (comparisons, ``floor``, ``len``, shapes); how cotangents
flow back through it if it is linear; its batching family and the number of
dimensions of its result (``shapes.py``); whether its result may share memory
with its first operand; whether it is cheap enough to recompute instead of
saving; its twin in the other of ``math`` and NumPy; and what stands in for it
under Numba where Numba lacks the signature.  Adding a primitive is one entry.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

import gast

from .. import core
from ..frontend.resolve import resolve_spelling, spelling
from . import shapes
from .template import Template, TransposeTemplate


@dataclass
class Rule:
    prim: object
    jvp: Template | None = None
    nondiff: bool = False
    #: For primitives linear in some operands: how cotangents flow back through them.
    transpose: TransposeTemplate | None = None
    #: How ``vmap`` batches it: one of ``shapes.FAMILIES`` (None: only the loop strategy).
    family: str | None = None
    #: The number of dimensions of its result from its operands' (see ``shapes``), or None if not plain.
    result: object = None
    #: Its result may share memory with its first operand (``np.reshape``, ``np.transpose``).
    view: bool = False
    #: Cheaper to recompute than to save on a tape (shapes, allocations).
    cheap: bool = False
    #: The same function in the other family: ``math.sin`` for ``np.sin`` and ``np.sin`` for ``math.sin``.
    twin: object = None
    #: What compiles in its place under Numba, where Numba lacks its signature (a function of ``runtime``).
    numba: object = None
    #: Its result is an array whatever its operands (``np.zeros``, ``np.stack``).
    array: bool = False
    #: Its first operand is a sequence of arrays (``np.stack([a, b])``).
    sequence: bool = False
    #: Calls the table-driven tests and the docs run (``examples.Example``).
    examples: list = field(default_factory=list)
    #: Its parameters that name axes of its first operand (``("axis",)``), by the JVP template's names:
    #: ``vmap`` shifts constant ones past the batch axis.
    axes: tuple = ()
    #: Its parameters that must have as many dimensions as its first operand (``take_along_axis``'s indices):
    #: unbatched, ``vmap`` gives them a leading axis of one, which broadcasts against the batch.
    matched: tuple = ()
    #: Its parameters holding one entry per axis of its first operand, with the entry that leaves an axis as it
    #: is (``{"reps": 1}``): given one constant entry per axis, ``vmap`` prepends that entry for the batch axis.
    per_axis: dict = field(default_factory=dict)

    @property
    def differentiable(self) -> list[str]:
        return self.jvp.differentiable if self.jvp else []

    def ndim(self, operands: shapes.Operands):
        """Dimensions of the result of one application, or None if the code does not make it plain."""
        return self.result(operands) if self.result else None


_RULES: dict = {}


def _entry(prim) -> Rule:
    return _RULES.setdefault(prim, Rule(prim))


def declare(*prims, family=None, result=None, view=False, cheap=False, numba=None, array=False, sequence=False,
            axes=(), matched=(), per_axis=None):
    """Record what s2s knows about ``prims`` besides their derivative (see ``Rule``).

    A family brings its usual result (elementwise: the operands' broadcast); ``result``
    overrides it.
    """
    for prim in prims:
        rule = _entry(prim)
        rule.family, rule.view, rule.cheap, rule.numba = family, view, cheap, numba
        rule.result = result or shapes.FAMILY_RESULTS.get(family)
        rule.array, rule.sequence, rule.axes, rule.matched = array, sequence, axes, matched
        rule.per_axis = per_axis or {}


def add_examples(prim, *cases):
    """Example applications of ``prim`` (``examples.example(...)``) for the table-driven tests and docs."""
    _entry(prim).examples.extend(cases)


def twins(array_fn, scalar_fn, *spellings):
    """Pair a NumPy function with its ``math`` twin (``np.sin``, ``math.sin``), both ways.

    Other scalar ``spellings`` (the builtin ``abs`` beside ``math.fabs``) map to the NumPy function only.
    """
    if scalar_fn is not None:
        _entry(array_fn).twin = scalar_fn
    for fn in (scalar_fn, *spellings):
        if fn is not None:
            _entry(fn).twin = array_fn


def family_of(prim) -> str | None:
    rule = lookup(prim)
    return rule.family if rule else None


def defjvp(*prims, only=None):
    """Register a JVP template for each primitive in ``prims`` (a decorator).

    The template is a function with the primitive's parameters whose body is
    one ``return`` of the tangent, written with ``<param>_dot`` for the
    tangent of each parameter and ``ans`` for the primitive's result.  Any
    callable can be a primitive: your own functions too, which s2s then calls
    as they are instead of transforming them.  ``only`` maps parameters to the
    one value the template is right for (``{"compute_uv": False}``): a call must
    pass it, as a literal, or s2s refuses to differentiate it.
    """

    def register(fn):
        template = Template(fn, only)
        for prim in prims:  # a transposition rule registered before stays
            set_jvp(prim, template)
        return fn

    return register


def set_jvp(prim, template: Template):
    """Give ``prim`` the JVP template ``template`` (one s2s wrote: ``custom_jvp``, ``custom_vjp``)."""
    rule = _entry(prim)
    rule.jvp, rule.nondiff = template, False


def set_transpose(prim, template: TransposeTemplate):
    _entry(prim).transpose = template


def deftranspose(*prims, elementwise=False):
    """Register a transposition template for each (linear) primitive in ``prims`` (a decorator).

    ``elementwise`` rules broadcast their operands: a contribution to a smaller
    operand is summed down to its shape.
    """

    def register(fn):
        template = TransposeTemplate(fn, elementwise)
        for prim in prims:
            set_transpose(prim, template)
        return fn

    return register


def defnondiff(*prims):
    """Mark primitives whose results carry no derivative."""
    for prim in prims:
        rule = _entry(prim)
        rule.jvp, rule.nondiff = None, True


def lookup(prim) -> Rule | None:
    try:
        return _RULES.get(prim)
    except TypeError:  # unhashable object
        return None


def lookup_spelled(dotted: str | None) -> Rule | None:
    """The rule of the primitive generated code spells ``dotted`` (``"np.sum"``), or None."""
    return lookup(resolve_spelling(dotted)) if dotted else None


def rules() -> list[Rule]:
    """Every entry of the table, in the order they were registered."""
    return list(_RULES.values())


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
    from . import (adjoints, arithmetic, arrays, elementwise, linalg, shaping, special,  # noqa: F401  (they register on import)
                   transposes)


_load_rule_modules()
