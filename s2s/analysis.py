"""Analyses over core form: activity and value kinds.

*Activity* decides which variables get derivative code.  A variable is
*varied* if it depends on a differentiated input, *useful* if its value
reaches an output through differentiable operations, and *active* if both.
The analysis is per name and flow-insensitive (a name that is ever active
gets a tangent at each of its definitions), which keeps loops simple: a
variable that only becomes varied in a later iteration is still handled.

*Kinds* tell scalars from arrays where the source makes it plain, so that a
zero tangent can be written ``0.0`` instead of a generic helper call.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import gast
import numpy as np

from . import core
from .rules import registry, shapes


@dataclass
class Activity:
    varied: set
    useful: set

    def active(self, name_: str) -> bool:
        return name_ in self.varied and name_ in self.useful


def differentiable_inputs(expr, fn: core.Function) -> set[str]:
    """Names whose tangents flow into the value of ``expr``."""
    if core.is_atom(expr):
        return set(core.names_read(expr))
    if fn.is_user_call(expr):
        return set(core.names_read(expr)) - {expr.func.id}
    rule = registry.lookup(registry.primitive_of(expr, fn.constants))
    args, keywords = registry.operands(expr)
    if rule is None or rule.jvp is None and not rule.nondiff:  # no rule: depends on everything; refused if needed
        return set().union(*(core.names_read(a) for a in [*args, *keywords.values()])) - _callee(expr)
    if rule.nondiff:
        return set()
    bound = rule.jvp.bind(args, keywords)
    return {n for p in rule.differentiable if p in bound for n in core.names_read(bound[p])}


def _callee(expr) -> set:
    return {expr.func.id} if isinstance(expr, gast.Call) and isinstance(expr.func, gast.Name) else set()


def activity(fn: core.Function, varied_params, callee_useful) -> Activity:
    """Activity of every name in ``fn``.

    ``callee_useful(obj, varied_mask)`` says which arguments of a call to the
    user function ``obj`` carry tangents into its result.
    """
    statements = list(core.walk_statements(fn.body))
    write_backs = _write_backs(fn)
    flows = [flow for stmt in statements for flow in _flows(stmt, fn)] + write_backs
    varied = _forward(flows, set(varied_params))

    # Outputs: returned values, and parameters the function writes into (the caller sees those).
    useful = written_parameters(fn)
    for stmt in statements:
        if isinstance(stmt, gast.Return) and stmt.value is not None:
            useful |= set(core.names_read(stmt.value))
    flows = [flow for stmt in statements for flow in _flows(stmt, fn, varied, callee_useful)] + write_backs
    return Activity(varied, _backward(flows, useful))


def _forward(flows, reached: set) -> set:
    """Close ``reached`` under flows ``(target, inputs)``: a target is reached if any of its inputs is."""
    changed = True
    while changed:
        changed = False
        for target, inputs in flows:
            if target not in reached and inputs & reached:
                reached.add(target)
                changed = True
    return reached


def _backward(flows, reached: set) -> set:
    """Close ``reached`` against flows: the inputs of a reached target are reached."""
    changed = True
    while changed:
        changed = False
        for target, inputs in flows:
            if target in reached and not inputs <= reached:
                reached |= inputs
                changed = True
    return reached


def varied_mask(call, varied) -> tuple:
    """For each argument of a call: does it depend on a differentiated input?"""
    return tuple(bool(set(core.names_read(a)) & varied) for a in call.args)


def _write_backs(fn) -> list:
    """A view written into in place writes into what it views: ``row = a[i]; row[j] = v`` changes ``a``.

    Both names then carry each other's tangents (they share memory).
    """
    mutated = core.mutated_names(fn.body)
    flows = []
    for name_, group in core.alias_groups(fn.body).items():
        if group & mutated:
            flows += [(name_, group - {name_})]
    return flows


def _flows(stmt, fn, varied=None, callee_useful=None):
    """(target, input names) pairs: the target's tangent depends on those inputs."""
    if isinstance(stmt, gast.Assign):
        target, value = stmt.targets[0], stmt.value
        if isinstance(target, gast.Subscript):
            base = core.target_names(target)[0]
            return [(base, set(core.names_read(value)))]
        names = core.target_names(target)
        if fn.is_user_call(value):  # the arguments it writes into change as its results do
            everything = set(core.names_read(value)) - _callee(value)
            written = [(n, everything) for n in written_arguments(value, fn)]
        else:
            written = []
        if callee_useful is not None and fn.is_user_call(value):
            obj = fn.callees[value.func.id]
            mask = varied_mask(value, varied)
            useful_args = callee_useful(obj, mask)
            inputs = {n for a, u in zip(value.args, useful_args) if u for n in core.names_read(a)}
            return [(n, inputs) for n in names] + written
        elif isinstance(target, gast.Tuple) and isinstance(value, gast.Tuple):
            return [(n, set(core.names_read(v))) for n, v in zip(names, value.elts)]
        else:
            inputs = differentiable_inputs(value, fn)
        return [(n, inputs) for n in names] + written
    if isinstance(stmt, gast.AugAssign):
        name_ = core.target_names(stmt.target)[0]
        return [(name_, set(core.names_read(stmt.value)) | {name_})]
    if isinstance(stmt, gast.Expr) and fn.is_user_call(stmt.value):
        args = set(core.names_read(stmt.value)) - {stmt.value.func.id}
        return [(n, args) for n in args]
    return []


def written_parameters(fn: core.Function) -> set[str]:
    """The parameters ``fn`` writes into in place: itself, through a view of them (``row = h[1:]; row[0] = v``),
    or through the user's functions it passes them to."""
    written = core.mutated_names(fn.body)
    for stmt in core.walk_statements(fn.body):
        if isinstance(stmt, (gast.Assign, gast.Expr)) and fn.is_user_call(stmt.value):
            written |= set(written_arguments(stmt.value, fn))
    groups = core.alias_groups(fn.body)
    return {p for p in fn.params if groups.get(p, {p}) & written and not copied_first(fn, p)}


def copied_first(fn: core.Function, param) -> bool:
    """Is ``param = np.copy(param)`` the first statement that mentions ``param``?  Then what it writes into
    is its own copy, never the caller's array."""
    for stmt in fn.body:
        if param in core.names_in(stmt):
            source = core.copied(stmt.value) if isinstance(stmt, gast.Assign) else None
            return source is not None and source.id == param and isinstance(stmt.targets[0], gast.Name) and \
                stmt.targets[0].id == param
    return False


def written_arguments(call, fn: core.Function) -> list[str]:
    """The names a call of the user's function passes where it writes into them in place."""
    from .building import innermost
    from .frontend.normalize import normalize

    obj = fn.callees[call.func.id]
    # A transform (grad, vmap) runs its function's code on the same arguments: it writes what that writes.
    callee = normalize(innermost(obj) if hasattr(obj, "emit") else obj, len(call.args))
    if callee is fn:  # recursion: refused where the program is built
        return []
    written = written_parameters(callee)
    return [a.id for a, p in zip(call.args, callee.params) if isinstance(a, gast.Name) and p in written]


def integer_params(fn: core.Function) -> set[str]:
    """Parameters the source uses as integers: in ``range`` bounds and array indices."""
    return used_as_integers(fn.body) & set(fn.params)


def used_as_integers(body) -> set[str]:
    """Names used as integers: in ``range`` bounds and array indices.

    Integer use flows back through arithmetic: ``x[i + 1]`` uses ``i`` as an integer.
    """
    used = set()
    statements = list(core.walk_statements(body))
    for stmt in statements:
        if isinstance(stmt, gast.For):
            used |= set(core.names_read(stmt.iter))
        if not core.sub_blocks(stmt):
            for node in gast.walk(stmt):
                if isinstance(node, gast.Subscript):
                    used |= set(core.names_read(node.slice))
    arithmetic = [(s.targets[0].id, set(core.names_read(s.value))) for s in statements
                  if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name)
                  and isinstance(s.value, (gast.BinOp, gast.UnaryOp, gast.Name))]
    return _backward(arithmetic, used)


# -- kinds --------------------------------------------------------------------

SCALAR, ARRAY = "scalar", "array"
SHAPE = "shape"  # a tuple of integers (``x.shape``)

SCALAR_CONSTANTS = {"math.pi", "math.e", "math.tau", "math.inf", "np.pi", "np.e", "np.inf"}


def _rule_of_call(expr):
    return registry.lookup_spelled(core.dotted_name(expr.func)) if isinstance(expr, gast.Call) else None


def kinds(fn: core.Function, known=None) -> dict:
    """Name → ``SCALAR`` or ``ARRAY`` where every definition agrees; absent if unknown.

    ``known`` gives kinds the caller knows (of parameters, from the arguments; of bound
    constants; of helpers' results): ``SCALAR``, ``ARRAY``, or the number of dimensions of an
    array, which tells the kinds of its elements and rows (``x[i]`` of a 1-D ``x`` is a scalar).
    """
    found: dict = {}
    ndims: dict = {}
    for p, kind in (known or {}).items():
        if isinstance(kind, int):
            found[p], ndims[p] = ARRAY, kind
        elif kind is not None:
            found[p] = kind
    conflicting: set = set()
    for _ in range(3):
        for stmt in core.walk_statements(fn.body):
            if isinstance(stmt, gast.For):
                _note(found, conflicting, stmt.target.id, SCALAR)
            if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name):
                target, kind = stmt.targets[0].id, kind_of(stmt.value, found)
                ndim = ndim_of(stmt.value, _dimensions(found, ndims)) if kind != SHAPE else None
                if ndim is not None:
                    kind = SCALAR if ndim == 0 else ARRAY
                    if ndim:
                        ndims[target] = ndim
                if kind is None and target in (known or {}):  # what the caller knows (a helper's result) stands
                    continue
                _note(found, conflicting, target, kind)
            elif isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Tuple):
                for target, kind in zip(stmt.targets[0].elts, _element_kinds(stmt.value, found)):
                    if isinstance(target, gast.Name):
                        _note(found, conflicting, target.id, kind)
    return Kinds({k: v for k, v in found.items() if k not in conflicting and v is not None},
                 ndims={k: v for k, v in ndims.items() if k not in conflicting})


def _dimensions(found, ndims) -> dict:
    """Name → number of dimensions, from kinds (a scalar has none, a shape one) and the arrays' known ``ndims``."""
    dims = {k: 0 if v == SCALAR else 1 for k, v in found.items() if v in (SCALAR, SHAPE)}
    dims.update((k, tuple(_kind_ndim(e) for e in v)) for k, v in found.items() if isinstance(v, tuple))
    return {**dims, **ndims}


def _kind_ndim(kind):
    """The number of dimensions a kind tells: an array's given ``ndim``, 0 for a scalar, else None."""
    return kind if isinstance(kind, int) else 0 if kind == SCALAR else None


def dimensions(kinds) -> dict:
    """Name → number of dimensions, from the kinds (and their ``ndims`` where known) of a function."""
    return _dimensions(kinds, getattr(kinds, "ndims", {}))


def alias_groups(body, kinds) -> dict[str, set]:
    """``core.alias_groups`` knowing which names and element reads hold scalars (which share no memory)."""
    return core.alias_groups(body, lambda expr: kind_of(expr, kinds) == SCALAR)


class Kinds(dict):
    """Name → kind, with ``ndims``: the number of dimensions of the arrays where the code makes it plain."""

    def __init__(self, *args, ndims=None):
        super().__init__(*args)
        self.ndims = dict(ndims or {})

    def ndim_of(self, expr):
        """The number of dimensions of ``expr``'s value where the code makes it plain, or None."""
        return ndim_of(expr, _dimensions(self, self.ndims))

    def element_is_scalar(self, base, index) -> bool:
        """Is ``base[index]`` one element (no dimensions left)?"""
        read = gast.Subscript(value=core.name(base), slice=index, ctx=gast.Load())
        return ndim_of(read, _dimensions(self, self.ndims)) == 0


def kind_of_value(value):
    """What ``kinds`` takes for a parameter, from its value: ``SCALAR``, an array's ``ndim``, a tuple of
    those for a tuple of numbers and arrays, or None."""
    if isinstance(value, tuple) and value and all(isinstance(v, (np.ndarray, int, float, np.number)) for v in value):
        return tuple(kind_of_value(v) for v in value)
    if isinstance(value, np.ndarray):
        return value.ndim if value.ndim else None
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return SCALAR
    return None


def ndim_of(expr, known: dict):
    """The number of dimensions of ``expr``'s value where the code makes it plain (0 for a number), or None.

    ``known`` maps names to their numbers of dimensions.  Calls ask the rule table (``shapes``).
    """
    if isinstance(expr, gast.Name):
        found = known.get(expr.id)
        return None if isinstance(found, tuple) else found  # (a tuple's elements: see _index_ndim)
    if isinstance(expr, gast.Constant):
        return 0 if isinstance(expr.value, (int, float, bool)) else None
    if isinstance(expr, gast.Attribute):
        if core.dotted_name(expr) in SCALAR_CONSTANTS or expr.attr in ("ndim", "size"):
            return 0
        if expr.attr == "shape":  # a tuple of numbers: indexed like a vector
            return 1
        return ndim_of(expr.value, known) if expr.attr == "T" else None
    if isinstance(expr, gast.UnaryOp):
        return ndim_of(expr.operand, known)
    if isinstance(expr, gast.BinOp):
        left, right = ndim_of(expr.left, known), ndim_of(expr.right, known)
        if left is None or right is None:
            return None
        return shapes.matrix_product(left, right) if isinstance(expr.op, gast.MatMult) else max(left, right)
    if isinstance(expr, gast.Compare):
        found = [ndim_of(e, known) for e in [expr.left, *expr.comparators]]
        return None if None in found else max(found)
    if isinstance(expr, gast.Subscript):
        return _index_ndim(expr, known)
    rule = _rule_of_call(expr)
    if rule is not None:
        return rule.ndim(shapes.Operands(list(expr.args), {k.arg: k.value for k in expr.keywords},
                                         lambda node: ndim_of(node, known)))
    return None


def _index_ndim(expr, known):
    """Dimensions left by indexing (``x[i, 1:]`` of a 2-D ``x``: 1; ``x[:, None]``: one more)."""
    elements = known.get(expr.value.id) if isinstance(expr.value, gast.Name) else None
    if isinstance(elements, tuple):  # an element of a tuple of known kinds
        index = shapes.constant(expr.slice)
        return elements[index] if isinstance(index, int) and -len(elements) <= index < len(elements) else None
    base = ndim_of(expr.value, known)
    if base is None:
        return None
    parts = expr.slice.elts if isinstance(expr.slice, gast.Tuple) else [expr.slice]
    left = base
    for part in parts:
        if isinstance(part, gast.Slice) or isinstance(part, gast.Constant) and part.value is Ellipsis:
            continue
        if isinstance(part, gast.Constant) and part.value is None:
            left += 1
            continue
        nd = ndim_of(part, known)
        if nd is None:
            return None
        left += nd - 1
    return left if left >= 0 else None


def _note(found, conflicting, name_, kind):
    if name_ in found and found[name_] != kind:
        conflicting.add(name_)
    found[name_] = kind


def _element_kinds(value, known):
    """Kinds of the elements a tuple assignment unpacks: ``n, m = x.shape`` gives scalars."""
    if isinstance(value, gast.Tuple):
        return [kind_of(e, known) for e in value.elts]
    if kind_of(value, known) == SHAPE:
        return itertools.repeat(SCALAR)
    return []


def kind_of(expr, known: dict):
    if isinstance(expr, gast.Constant):
        return SCALAR if isinstance(expr.value, (int, float)) else None
    if isinstance(expr, gast.Name):
        return known.get(expr.id)
    if isinstance(expr, gast.Attribute) and core.dotted_name(expr) in SCALAR_CONSTANTS:
        return SCALAR
    if isinstance(expr, gast.Attribute) and expr.attr in ("ndim", "size"):
        return SCALAR
    if isinstance(expr, gast.Attribute) and expr.attr == "shape":
        return SHAPE
    if isinstance(expr, gast.BinOp):
        left, right = kind_of(expr.left, known), kind_of(expr.right, known)
        if isinstance(expr.op, gast.MatMult):  # a vector @ a vector is a scalar
            return None
        if ARRAY in (left, right):
            return ARRAY
        return SCALAR if left == right == SCALAR else None
    if isinstance(expr, gast.UnaryOp):
        return kind_of(expr.operand, known)
    if isinstance(expr, gast.Compare):
        operands = {kind_of(e, known) for e in [expr.left, *expr.comparators]}
        return ARRAY if ARRAY in operands else SCALAR if operands == {SCALAR} else None
    if isinstance(expr, gast.Subscript) and isinstance(expr.value, gast.Name) and isinstance(known, Kinds):
        return SCALAR if known.element_is_scalar(expr.value.id, expr.slice) else None
    rule = _rule_of_call(expr)
    if rule is not None:
        if rule.array:
            return ARRAY
        operands = shapes.Operands(list(expr.args), {k.arg: k.value for k in expr.keywords},
                                   lambda node: 0 if kind_of(node, known) == SCALAR else None)
        if rule.ndim(operands) == 0:
            return SCALAR
        if rule.family == shapes.ELEMENTWISE and ARRAY in {kind_of(a, known) for a in expr.args}:
            return ARRAY
    return None
