"""Clean-up passes over generated core form.

Normalization names every intermediate value; after a transform most of those
temporaries are used exactly once, right below where they are defined.  The
passes here, in order:

* common subexpressions: a temporary computing what an earlier one already
  holds (``n - 1`` twice) reuses the earlier one;
* the inliner folds single-use temporaries back into the expression that uses
  them, so generated code reads like the source
  (``y = 3 * np.sin(x) + np.cos(x / 2)``) instead of one primitive per line.
  Values used twice stay named: that is where the code shares work.  Values
  returned together (``return out, out_dot``) stay named too, to keep
  returns short;
* dead temporaries, self-copies and no-op writes (``a[i] = a[i]``) go;
* expressions linear in tangents are regrouped as coefficient × tangent
  (see ``linear_forms``);
* signs are tidied: ``a + -b`` becomes ``a - b``.

Every move respects memory shared between arrays: a temporary that reads
``row`` (a view of ``a``) is not moved past a write into ``a``.
"""

from __future__ import annotations

from collections import Counter

import gast

from . import core
from .linear_forms import regroup_statement


def optimize(fn: core.Function) -> core.Function:
    aliases = core.alias_groups(fn.body)
    fn.body = _eliminate_common_subexpressions(fn, aliases)
    fn.body = _Inliner(fn, aliases).run()
    if fn.linear:
        for stmt in core.walk_statements(fn.body):
            regroup_statement(stmt, fn.linear)
    fn.body = [_Tidy().visit(stmt) for stmt in fn.body]
    fn.body = _DeadStores(fn).block(fn.body, set())[0]
    return fn


# -- effects ----------------------------------------------------------------------


#: Builtins that only compute.
_PURE_BUILTINS = frozenset({"abs", "bool", "divmod", "float", "int", "len", "max", "min", "pow", "range", "round"})


def impure(expr, fn) -> bool:
    """Calls whose evaluation must not move: user functions, unknown callables, random numbers, print, and
    generated functions other than those known to write into none of their arguments."""
    return any(spelled in fn.callees or spelled in fn.constants or spelled.startswith("np.random")
               or spelled in ("print", "") or "." not in spelled and spelled not in _PURE_BUILTINS
               and spelled not in fn.pure_calls for spelled in core.calls_in(expr))


class _Summary:
    """What the passes ask of a statement: computed once, not once per temporary."""

    def __init__(self, stmt, fn, aliases):
        self.own_reads = core.names_read(core.own_expression(stmt))
        self.names = core.names_in(stmt)
        nested = list(core.walk_statements([stmt]))
        rebound = set().union(*(core.written_names(s) for s in nested))
        mutated = core.mutated_names(nested)  # in place: every view of it changes too
        self.writes = rebound.union(*(aliases.get(n, {n}) for n in mutated))
        self.effects = any(impure(s, fn) for s in nested if isinstance(s, (gast.Expr, gast.Assign)))


def _temp_definition(stmt, fn):
    """``(t, value)`` if ``stmt`` defines the temporary ``t`` from a pure expression."""
    if (isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name)
            and stmt.targets[0].id in fn.temps and not impure(stmt.value, fn)):
        return stmt.targets[0].id, stmt.value
    return None


# -- common subexpressions ----------------------------------------------------------


def _eliminate_common_subexpressions(fn, aliases) -> list:
    """Within a block, ``t2 = e`` after ``t1 = e`` (nothing ``e`` reads written since) reuses ``t1``.

    Temporaries are assigned once, so every later use of ``t2`` can read ``t1``.
    """
    renames: dict = {}

    def block(body) -> list:
        available: dict = {}  # expression structure → (temporary, names whose writes invalidate it)
        out = []
        for stmt in body:
            if renames:
                stmt = core.substitute(stmt, renames)
            core.map_blocks(stmt, block)
            definition = _temp_definition(stmt, fn)
            key = core.structure(definition[1]) if definition and not core.is_atom(definition[1]) else None
            if key in available:
                renames[definition[0]] = available[key][0]
                continue
            summary = _Summary(stmt, fn, aliases)
            if summary.effects:
                available.clear()
            else:
                available = {k: v for k, v in available.items() if not v[1] & summary.writes}
            if key is not None:
                available[key] = (definition[0], set(core.names_read(definition[1])))
            out.append(stmt)
        return out

    return block(fn.body)


# -- inlining ---------------------------------------------------------------------------


class _Inliner:
    def __init__(self, fn, aliases):
        self.fn, self.aliases = fn, aliases
        self.uses = Counter()
        for stmt in core.walk_statements(fn.body):
            self.uses.update(core.names_read(core.own_expression(stmt)))

    def run(self):
        return self.dead_code(self.block(self.fn.body))

    def block(self, body) -> list:
        body = list(body)
        for stmt in body:
            core.map_blocks(stmt, self.block)
        summaries = [_Summary(s, self.fn, self.aliases) for s in body]
        i = len(body) - 1
        while i >= 0:
            if self.try_inline(body, summaries, i):
                del body[i], summaries[i]
            i -= 1
        return body

    def try_inline(self, body, summaries, i) -> bool:
        definition = _temp_definition(body[i], self.fn)
        if definition is None:
            return False
        t, value = definition
        if self.uses[t] != 1 and not _trivial(value):
            return False
        reads = set(core.names_read(value))
        found, users = 0, []
        for j in range(i + 1, len(body)):
            later, summary = body[j], summaries[j]
            if t in summary.own_reads and not isinstance(later, gast.While):
                if isinstance(later, gast.Return) and isinstance(later.value, gast.Tuple):
                    return False  # `return out, out_dot` reads better than one long line
                found += summary.own_reads.count(t)
                users.append(j)
                if found == self.uses[t]:
                    for user in users:
                        _replace_in_own_expressions(body[user], t, value)
                        summaries[user] = _Summary(body[user], self.fn, self.aliases)
                    self.uses.update({n: found - 1 for n in core.names_read(value)})  # now read that often
                    return True
            elif t in summary.names:  # used inside a nested block: keep it where it is
                return False
            if summary.writes & reads or summary.effects:
                return False
        return False

    def dead_code(self, body) -> list:
        out = []
        for stmt in body:
            core.map_blocks(stmt, self.dead_code)
            definition = _temp_definition(stmt, self.fn)
            if definition and self.uses[definition[0]] == 0:
                continue
            if _is_no_op(stmt):
                continue
            out.append(stmt)
        return out


def _trivial(expr) -> bool:
    """Cheap enough to repeat at every use, and clearer repeated: ``x``, ``-k``, ``i + 1``, ``k[1]``."""
    if isinstance(expr, gast.Name):
        return True
    if isinstance(expr, gast.UnaryOp):
        return isinstance(expr.operand, (gast.Name, gast.Constant))
    if isinstance(expr, gast.Subscript):
        return isinstance(expr.value, gast.Name) and (isinstance(expr.slice, gast.Name) or core.is_constant(expr.slice))
    return (isinstance(expr, gast.BinOp) and isinstance(expr.op, (gast.Add, gast.Sub))
            and isinstance(expr.left, gast.Name) and isinstance(expr.right, gast.Constant)
            and isinstance(expr.right.value, int))


def _is_no_op(stmt) -> bool:
    """``x = x`` and ``a[i] = a[i]``."""
    return (isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], (gast.Name, gast.Subscript))
            and core.structure(core.load(stmt.targets[0])) == core.structure(stmt.value))


def _replace_in_own_expressions(stmt, t, value):
    if isinstance(stmt, gast.For):
        stmt.iter = core.substitute(stmt.iter, {t: value})
    elif isinstance(stmt, (gast.While, gast.If)):
        stmt.test = core.substitute(stmt.test, {t: value})
    else:
        for field_name in stmt._fields:
            child = getattr(stmt, field_name)
            if isinstance(child, gast.AST):
                setattr(stmt, field_name, core.substitute(child, {t: value}))
            elif isinstance(child, list):
                setattr(stmt, field_name, [core.substitute(c, {t: value}) if isinstance(c, gast.AST) else c
                                           for c in child])


# -- dead stores ---------------------------------------------------------------------------


class _DeadStores:
    """Drop assignments whose value no later statement reads (liveness over loops and branches).

    Generated code computes values for every path (a primal value a branch might
    need, a zero a loop might add to); the ones no path reads go here.
    """

    def __init__(self, fn):
        self.fn = fn

    def block(self, body, live) -> tuple[list, set]:
        """``body`` without dead stores, and the names live at its start, given those live at its end."""
        kept = []
        live = set(live)
        for stmt in reversed(body):
            if isinstance(stmt, gast.For):
                stmt.body, live = self.loop(stmt.body, live)
                live |= set(core.names_read(stmt.iter))
            elif isinstance(stmt, gast.While):
                stmt.body, live = self.loop(stmt.body, live | set(core.names_read(stmt.test)))
                live |= set(core.names_read(stmt.test))
            elif isinstance(stmt, gast.If):
                stmt.body, live_body = self.block(stmt.body, live)
                stmt.orelse, live_else = self.block(stmt.orelse, live)
                live = live_body | live_else | set(core.names_read(stmt.test))
                stmt.body = stmt.body or [gast.Pass()]
            elif self.dead(stmt, live):
                continue
            else:
                _pick_the_live_one(stmt, live)
                if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], (gast.Name, gast.Tuple)):
                    live -= set(core.target_names(stmt.targets[0]))
                live |= core.values_read([stmt])
            kept.append(stmt)
        return kept[::-1], live

    def loop(self, body, live_after) -> tuple[list, set]:
        """A loop body: what is live at its end is what is live after the loop or at its next start."""
        live_start: set = set()
        while True:
            _, start = self.block(core.clone(body), live_after | live_start)
            if start <= live_start:
                break
            live_start |= start
        body, start = self.block(body, live_after | live_start)
        return body or [gast.Pass()], live_after | start

    def dead(self, stmt, live) -> bool:
        if core.notes(stmt).counter:  # a tape counter's step
            return core.notes(stmt).counter not in live
        return isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], (gast.Name, gast.Tuple)) and \
            not set(core.target_names(stmt.targets[0])) & live and not impure(stmt.value, self.fn)


def _pick_the_live_one(stmt, live):
    """``a, b = g(x)`` with only ``b`` read later: ``b = g(x)[1]`` (no name bound for nothing)."""
    if not (isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Tuple)
            and isinstance(stmt.value, gast.Call) and all(isinstance(e, gast.Name) for e in stmt.targets[0].elts)):
        return
    used = [i for i, e in enumerate(stmt.targets[0].elts) if e.id in live]
    if len(used) == 1 and len(stmt.targets[0].elts) > 1:
        stmt.value = gast.Subscript(value=stmt.value, slice=core.const(used[0]), ctx=gast.Load())
        stmt.targets[0] = core.name(stmt.targets[0].elts[used[0]].id, True)


# -- signs --------------------------------------------------------------------------------


class _Tidy(gast.NodeTransformer):
    """``a + -b`` → ``a - b`` and ``a - -b`` → ``a + b`` (exact in floating point); ``s[1:][0]`` → ``s[1]``
    (an example's shape, in batched code)."""

    def visit_Subscript(self, node):
        self.generic_visit(node)
        inner = node.value
        if isinstance(inner, gast.Subscript) and isinstance(inner.slice, gast.Slice) \
                and inner.slice.upper is None and inner.slice.step is None \
                and all(isinstance(n, gast.Constant) and type(n.value) is int and n.value >= 0
                        for n in (inner.slice.lower, node.slice)):
            return gast.Subscript(value=inner.value, slice=core.const(inner.slice.lower.value + node.slice.value),
                                  ctx=node.ctx)
        return node

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, (gast.Add, gast.Sub)):
            stripped = _strip_negation(node.right)
            if stripped is not None:
                node.op = gast.Sub() if isinstance(node.op, gast.Add) else gast.Add()
                node.right = stripped
        return node


def _strip_negation(node):
    """``u`` for ``-u``, ``u * v`` for ``-u * v``; None if ``node`` is not negated."""
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub):
        return node.operand
    if isinstance(node, gast.BinOp) and isinstance(node.op, (gast.Mult, gast.Div, gast.MatMult)):
        left = _strip_negation(node.left)
        if left is not None:
            return gast.BinOp(left=left, op=node.op, right=node.right)
        right = _strip_negation(node.right)
        if right is not None:
            return gast.BinOp(left=node.left, op=node.op, right=right)
    return None
