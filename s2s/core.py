"""The core form: the small vocabulary of statements every pass reads and writes.

Core form is a restricted gast AST (A-normal form).  A function body is a list
of statements, each one of:

* ``t = e``            where ``e`` is an atom, or one primitive applied to atoms
                       (``a + b``, ``np.sin(a)``, ``x[i, 1:n]``, ``x.shape``,
                       ``g(a, b)`` for a user function ``g``);
* ``a, b = e``         tuple unpacking of an atom or a call;
* ``x[idx] = a``       an index write;
* ``x += a``           an in-place update of a name (``+ - * /`` only), or of an
                       indexed part in generated code (``x_bar[i] += a``);
* ``g(a, b)``          a call kept for its effect (a user function that writes
                       into its array arguments);
* ``for i in range(a, b, c):``, ``while test:``, ``if a:``, ``return``,
  ``break``, ``continue``, ``pass``, ``raise``, ``assert``.

Atoms are names, constants, and tuples/lists of atoms.  Tests of ``while``
loops and boolean operators (``and``/``or``/``not``) keep their nested form:
they are never differentiated, and their short-circuit evaluation matters.

Every statement carries ``lineno``: the line of the user's source it came
from, so that generated code and error messages can point back to it.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field

import gast

#: The module names generated code reads (``np.sin``, ``math.exp``, ``scipy.special.erf``, ``rt.seed``).
MODULE_NAMES = frozenset({"np", "math", "scipy", "rt"})

# -- building nodes ---------------------------------------------------------


def name(id_: str, store: bool = False) -> gast.Name:
    ctx = gast.Store() if store else gast.Load()
    return gast.Name(id=id_, ctx=ctx, annotation=None, type_comment=None)


def const(value):
    """A constant; a negative number is ``-(number)`` so that ``(-0.5) ** 2`` unparses right."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and (value < 0 or str(value) == "-0.0"):
        return gast.UnaryOp(op=gast.USub(), operand=gast.Constant(value=-value, kind=None))
    return gast.Constant(value=value, kind=None)


def is_constant(node) -> bool:
    """A literal, negative numbers included."""
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub):
        node = node.operand
    return isinstance(node, gast.Constant)


def attr(dotted: str) -> gast.expr:
    """``"np.sin"`` as an expression."""
    head, *rest = dotted.split(".")
    node = name(head)
    for part in rest:
        node = gast.Attribute(value=node, attr=part, ctx=gast.Load())
    return node


def call(func: gast.expr, args=(), keywords=()) -> gast.Call:
    kws = [gast.keyword(arg=k, value=v) for k, v in keywords]
    return gast.Call(func=func, args=list(args), keywords=kws)


def tuple_(elts, store: bool = False) -> gast.Tuple:
    ctx = gast.Store() if store else gast.Load()
    return gast.Tuple(elts=list(elts), ctx=ctx)


def assign(target, value, lineno: int | None = None) -> gast.Assign:
    if isinstance(target, str):
        target = name(target, store=True)
    return at(gast.Assign(targets=[target], value=value, type_comment=None), lineno)


def at(node, lineno):
    """Stamp ``node`` with the user's source line it came from."""
    node.lineno = lineno
    return node


@dataclass
class Notes:
    """What one pass tells a later one about a statement (kept on it as ``stmt.notes``: see ``notes``).

    Partial evaluation writes them on the linear program's statements; transposition and the
    optimizer read them.
    """

    #: Tangent name → the primal name whose value has its shape (for zeros and sums down to a shape).
    witnesses: dict = field(default_factory=dict)
    #: The primal operands the statement's tangent came from (``x - m``'s is ``-m_dot``; ``x`` may broadcast).
    primal_operands: list = field(default_factory=list)
    #: The statement steps this tape counter (``k += 1``) or starts it (``k = 0``).
    counter: str | None = None
    counter_start: str | None = None
    #: Computed before a loop or branch for the linear statements inside it.
    prelude: bool = False
    #: (Transposition) the statement's operands may have different shapes: cotangents are summed down.
    broadcasting: bool = False
    #: (Partial evaluation) computed again where the linear code needs its values, never saved (checkpoint).
    recompute: bool = False
    #: The names a call of a generated function writes into in place (the user's function writes its arguments).
    writes: frozenset = frozenset()


def notes(stmt) -> Notes:
    """The statement's notes, made empty the first time they are asked for."""
    if not hasattr(stmt, "notes"):
        stmt.notes = Notes()
    return stmt.notes


def clone(node):
    """A deep copy of a syntax tree (with the notes passes attach), faster than ``copy.deepcopy``."""
    if isinstance(node, list):
        return [clone(n) for n in node]
    if isinstance(node, Notes):
        return Notes(dict(node.witnesses), list(node.primal_operands), node.counter, node.counter_start,
                     node.prelude, node.broadcasting)
    if not isinstance(node, gast.AST):
        return node
    new = node.__class__.__new__(node.__class__)
    new.__dict__.update({k: clone(v) for k, v in node.__dict__.items()})
    return new


def store(node):
    """A copy of a load-context target expression in store context."""
    node = clone(node)
    for sub in gast.walk(node):
        if hasattr(sub, "ctx"):
            sub.ctx = gast.Store()
    if isinstance(node, gast.Subscript):
        node.slice = load(node.slice)
        node.value = load(node.value)
    return node


def load(node):
    node = clone(node)
    for sub in gast.walk(node):
        if hasattr(sub, "ctx"):
            sub.ctx = gast.Load()
    return node


def dotted_name(node) -> str | None:
    """``np.linalg.norm`` for an attribute chain on a name, else None."""
    parts = []
    while isinstance(node, gast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, gast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


# -- reading nodes ----------------------------------------------------------


def copied(expr):
    """The name ``np.copy(x)`` or ``rt.copy(x)`` copies (its ``gast.Name``), or None for any other expression."""
    if isinstance(expr, gast.Call) and dotted_name(expr.func) in ("np.copy", "rt.copy") and len(expr.args) == 1 \
            and isinstance(expr.args[0], gast.Name):
        return expr.args[0]
    return None


def is_atom(node) -> bool:
    if isinstance(node, gast.Name) or is_constant(node):
        return True
    if isinstance(node, (gast.Tuple, gast.List)):
        return all(is_atom(e) for e in node.elts)
    return False


def names_in(node) -> set[str]:
    """Every name the expression (or statement) reads or writes."""
    found: list = []
    _collect_names(node, found, loads_only=False)
    return set(found)


def names_read(node) -> list[str]:
    """The names an expression (or statement) reads, once per occurrence."""
    found: list = []
    _collect_names(node, found, loads_only=True)
    return found


def operand_names(node) -> list[str]:
    """The names an expression reads as values: not the functions it calls (``np`` in ``np.sin(x)``)."""
    if isinstance(node, gast.Call):
        return [n for part in [*node.args, *(k.value for k in node.keywords)] for n in operand_names(part)]
    if isinstance(node, gast.Name):
        return [node.id] if not isinstance(node.ctx, gast.Store) else []
    if isinstance(node, gast.AST):
        return [n for field_name in node._fields for n in operand_names(getattr(node, field_name, None))]
    if isinstance(node, list):
        return [n for child in node for n in operand_names(child)]
    return []


def _collect_names(node, found, loads_only):
    # A hand-written walk: passes ask this question of every statement, often.
    if isinstance(node, gast.Name):
        if not (loads_only and isinstance(node.ctx, gast.Store)):
            found.append(node.id)
    elif isinstance(node, list):
        for child in node:
            _collect_names(child, found, loads_only)
    elif isinstance(node, gast.AST):
        for field_name in node._fields:
            child = getattr(node, field_name, None)
            if child is not None and not isinstance(child, (str, int, float)):
                _collect_names(child, found, loads_only)


def target_names(target) -> list[str]:
    """Names (re)bound or written into by an assignment target."""
    if isinstance(target, gast.Name):
        return [target.id]
    if isinstance(target, gast.Subscript):
        return target_names(target.value)
    if isinstance(target, (gast.Tuple, gast.List)):
        return [n for e in target.elts for n in target_names(e)]
    return []


def bound_names(stmt) -> list[str]:
    """Names a statement binds anew: ``x = ...``, ``a, b = ...``, ``x += ...``, a loop's target (not ``x[i] = ...``)."""
    bound = stmt.targets[0] if isinstance(stmt, gast.Assign) else getattr(stmt, "target", None)
    return target_names(bound) if isinstance(bound, (gast.Name, gast.Tuple)) else []


def own_expression(stmt):
    """The part of a statement it evaluates itself, not its nested blocks: a loop's range, a test, or all of it."""
    if isinstance(stmt, gast.For):
        return stmt.iter
    if isinstance(stmt, (gast.While, gast.If)):
        return stmt.test
    return stmt


def own_reads(stmt) -> set[str]:
    """Names whose values a statement reads itself (an in-place update reads its target)."""
    found = set(names_read(own_expression(stmt)))
    if isinstance(stmt, gast.AugAssign):
        found.update(target_names(stmt.target))
    return found


def values_read(body) -> set[str]:
    """Names whose values the statements of ``body`` read, nested ones included."""
    return set().union(*(own_reads(stmt) for stmt in walk_statements(body)))


def exposed_reads(body) -> set[str]:
    """Names ``body`` may read before assigning them: what it needs from the code before it.

    A name assigned on every path (a plain ``x = ...`` at this level) is not exposed after
    that; in-place updates and assignments inside branches or loops do not count as such.
    """
    assigned: set = set()
    exposed: set = set()
    for stmt in body:
        exposed |= own_reads(stmt) - assigned
        for block in sub_blocks(stmt):
            exposed |= exposed_reads(block) - assigned
        if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], (gast.Name, gast.Tuple)):
            assigned.update(target_names(stmt.targets[0]))
    return exposed


def written_names(stmt) -> set[str]:
    """Names a simple statement rebinds or writes into."""
    if isinstance(stmt, gast.Assign):
        return {n for t in stmt.targets for n in target_names(t)}
    if isinstance(stmt, gast.AugAssign):
        return set(target_names(stmt.target))
    if isinstance(stmt, gast.For):
        return set(target_names(stmt.target))
    return set()


def view_source(value) -> str | None:
    """The name whose memory ``value`` may share: ``x`` for ``x``, ``x[1:]``, ``np.reshape(x.T, s)``.

    Calls whose rule says ``view`` (their result may be their first operand's memory) are looked through.
    """
    from .rules import registry  # (the rule table is built on core form)

    while isinstance(value, gast.Call) and value.args:
        rule = registry.lookup_spelled(dotted_name(value.func))
        if not (rule and rule.view):
            return None
        value = value.args[0]
    if isinstance(value, gast.Attribute) and value.attr == "T":
        value = value.value
    if isinstance(value, gast.Subscript):
        value = value.value
    return value.id if isinstance(value, gast.Name) else None


def mutated_names(body) -> set[str]:
    """Names written into in place (``x[i] = v``, ``x += v``, a call noted as writing them) anywhere in ``body``."""
    mutated = set()
    for stmt in walk_statements(body):
        if hasattr(stmt, "notes"):
            mutated |= stmt.notes.writes
        if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Subscript):
            mutated |= set(target_names(stmt.targets[0]))
        elif isinstance(stmt, gast.AugAssign):
            mutated |= set(target_names(stmt.target))
    return mutated


def alias_groups(body, is_scalar=None) -> dict[str, set]:
    """Name → the names that may share its memory (views and plain copies), itself included.

    ``is_scalar(expr)`` says which values are known to be scalars (``x.shape[1]``, ``a[i]`` of a 1-D
    ``a``): a scalar is a copy, never a view, so binding one shares nothing.
    """
    groups: dict = {}
    for stmt in walk_statements(body):
        if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name):
            source = view_source(stmt.value)
            if source is not None and not (is_scalar and (is_scalar(stmt.value) or is_scalar(stmt.targets[0]))):
                target = stmt.targets[0].id
                merged = groups.get(target, {target}) | groups.get(source, {source})
                for n in merged:
                    groups[n] = merged
    return groups


def sub_blocks(stmt) -> list[list]:
    """The statement lists nested in a compound statement."""
    if isinstance(stmt, (gast.For, gast.While, gast.If)):
        return [stmt.body, stmt.orelse]
    return []


def map_blocks(stmt, transform):
    """Replace the statement lists nested in a compound statement by ``transform`` of each."""
    if sub_blocks(stmt):
        stmt.body, stmt.orelse = transform(stmt.body), transform(stmt.orelse)
    return stmt


def walk_statements(body):
    """Every statement of a body, nested ones included, in source order."""
    for stmt in body:
        yield stmt
        for block in sub_blocks(stmt):
            yield from walk_statements(block)


def substitute(node, mapping: dict):
    """A copy of ``node`` with names replaced by expressions (or renamed)."""
    if isinstance(node, gast.Name) and node.id in mapping:
        new = mapping[node.id]
        if isinstance(new, str):
            return gast.Name(id=new, ctx=node.ctx, annotation=None, type_comment=None)
        return clone(new)
    if isinstance(node, list):
        return [substitute(n, mapping) for n in node]
    if not isinstance(node, gast.AST):
        return node
    copied = node.__class__.__new__(node.__class__)
    copied.__dict__.update({k: substitute(v, mapping) for k, v in node.__dict__.items()})
    return copied


def structure(node):
    """A hashable key equal for structurally equal trees (cheaper than unparsing them)."""
    if isinstance(node, list):
        return tuple(structure(n) for n in node)
    if isinstance(node, gast.AST):
        return (type(node).__name__,) + tuple(structure(getattr(node, f, None)) for f in node._fields)
    return type(node), node  # 1 and 1.0 are different constants


def calls_in(node) -> list[str]:
    """Spellings of the functions called in an expression or statement (``np.sin``, ``helper``)."""
    found: list = []
    _collect_calls(node, found)
    return found


def _collect_calls(node, found):
    if isinstance(node, list):
        for child in node:
            _collect_calls(child, found)
    elif isinstance(node, gast.AST):
        if isinstance(node, gast.Call):
            found.append(dotted_name(node.func) or "")
        for field_name in node._fields:
            child = getattr(node, field_name, None)
            if child is not None and not isinstance(child, (str, int, float)):
                _collect_calls(child, found)


# -- functions in core form -------------------------------------------------


class Namer:
    """Hands out fresh, readable names that clash with no name in use."""

    def __init__(self, taken=()):
        self.taken = set(taken)

    def fresh(self, hint: str) -> str:
        base = sanitize(hint)
        candidate, n = base, 0
        while candidate in self.taken or keyword.iskeyword(candidate):
            n += 1
            candidate = f"{base}_{n}"
        self.taken.add(candidate)
        return candidate


def sanitize(hint: str) -> str:
    hint = re.sub(r"\W+", "_", hint).strip("_") or "t"
    if hint[0].isdigit():
        hint = "v" + hint
    return hint


@dataclass
class Function:
    """A user function in core form, with what it needs to be emitted again.

    The free names of the body that are not modules map to the objects they
    stand for: ``callees`` are the user's other functions (transformed in
    turn), ``constants`` are values from globals and closures (bound in the
    generated module).
    """

    name: str
    params: list[str]
    body: list
    callees: dict = field(default_factory=dict)
    constants: dict = field(default_factory=dict)
    defaults: dict = field(default_factory=dict)
    filename: str = "<unknown>"
    source_lines: dict = field(default_factory=dict)
    temps: set = field(default_factory=set)
    lineno: int = 0
    #: Names the code uses only linearly (tangents): ``optimize`` may regroup their expressions.
    linear: set = field(default_factory=set)
    #: Tangent name → the primal name it is the tangent of (set by the transforms that make tangents).
    primal_of: dict = field(default_factory=dict)
    #: The structure of the tree the function returns, flattened to a tuple of leaves (None: not a tree).
    out_tree: object = None
    #: Generated functions it calls that write into none of their arguments (``optimize`` may move those).
    pure_calls: frozenset = frozenset()

    def namer(self) -> Namer:
        taken = set(self.params) | set(self.callees) | set(self.constants) | MODULE_NAMES
        for stmt in walk_statements(self.body):
            taken |= names_in(stmt)
        return Namer(taken)

    def is_user_call(self, expr) -> bool:
        return (isinstance(expr, gast.Call) and isinstance(expr.func, gast.Name)
                and expr.func.id in self.callees)

    def line_calling(self, obj) -> int:
        """The line of the first call of the user's function ``obj`` (the function's own line if none)."""
        return next((s.lineno for s in walk_statements(self.body) if self.is_user_call(getattr(s, "value", None))
                     and self.callees[s.value.func.id] is obj), self.lineno)

    def source_line(self, lineno) -> str:
        return self.source_lines.get(lineno, "").strip()
