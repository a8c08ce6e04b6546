"""Clean-up passes over generated core form.

Normalization names every intermediate value; after a transform most of those
temporaries are used exactly once, right below where they are defined.  The
inliner folds them back into the expression that uses them, so that the
generated code reads like the source (``y = 3 * np.sin(x) + np.cos(x / 2)``)
instead of one primitive per line.  Values used twice stay named: that is
where the code shares work.
"""

from __future__ import annotations

from collections import Counter

import gast

from . import core


def optimize(fn: core.Function) -> core.Function:
    fn.body = _Inliner(fn).run()
    fn.body = [_Tidy().visit(stmt) for stmt in fn.body]
    return fn


class _Tidy(gast.NodeTransformer):
    """``a + -b`` → ``a - b`` and ``a - -b`` → ``a + b`` (exact in floating point)."""

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
    return None


def _trivial(expr) -> bool:
    """Cheap enough to repeat at every use: a negated name."""
    return isinstance(expr, gast.UnaryOp) and isinstance(expr.operand, (gast.Name, gast.Constant))


def _impure(expr, fn) -> bool:
    for node in gast.walk(expr):
        if isinstance(node, gast.Call):
            spelled = core.dotted_name(node.func) or ""
            if spelled in fn.callees or spelled in fn.constants or spelled.startswith("np.random"):
                return True
            if spelled == "print":
                return True
    return False


class _Inliner:
    def __init__(self, fn):
        self.fn = fn
        self.uses = Counter()
        for stmt in core.walk_statements(fn.body):
            self.uses.update(core.names_read(_own_expressions(stmt)))

    def run(self):
        body = self.block(self.fn.body)
        return self.dead_code(body)

    def block(self, body) -> list:
        body = list(body)
        for stmt in body:
            for attr in ("body", "orelse"):
                if hasattr(stmt, attr) and core.sub_blocks(stmt):
                    setattr(stmt, attr, self.block(getattr(stmt, attr)))
        i = len(body) - 1
        while i >= 0:
            if self.try_inline(body, i):
                del body[i]
            i -= 1
        return body

    def try_inline(self, body, i) -> bool:
        stmt = body[i]
        if not (isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name)):
            return False
        t = stmt.targets[0].id
        if t not in self.fn.temps or _impure(stmt.value, self.fn):
            return False
        if self.uses[t] != 1 and not _trivial(stmt.value):
            return False
        reads = set(core.names_read(stmt.value))
        found, users = 0, []
        for later in body[i + 1:]:
            own = core.names_read(_own_expressions(later))
            if t in own and not isinstance(later, gast.While):
                found += own.count(t)
                users.append(later)
                if found == self.uses[t]:
                    for user in users:
                        _replace_in_own_expressions(user, t, stmt.value)
                    return True
            elif t in core.names_in(later):  # used inside a nested block: keep it where it is
                return False
            if _writes(later, self.fn) & reads or _has_effects(later, self.fn):
                return False
        return False

    def dead_code(self, body) -> list:
        out = []
        for stmt in body:
            for attr in ("body", "orelse"):
                if core.sub_blocks(stmt):
                    setattr(stmt, attr, self.dead_code(getattr(stmt, attr)))
            if (isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name)
                    and stmt.targets[0].id in self.fn.temps and self.uses[stmt.targets[0].id] == 0
                    and not _impure(stmt.value, self.fn)):
                continue
            if _is_self_copy(stmt):
                continue
            out.append(stmt)
        return out


def _is_self_copy(stmt) -> bool:
    return (isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name)
            and isinstance(stmt.value, gast.Name) and stmt.value.id == stmt.targets[0].id)


def _own_expressions(stmt):
    """The parts of a statement evaluated by the statement itself (not its nested blocks)."""
    if isinstance(stmt, gast.For):
        return stmt.iter
    if isinstance(stmt, (gast.While, gast.If)):
        return stmt.test
    return stmt


def _replace_in_own_expressions(stmt, t, value):
    if isinstance(stmt, gast.For):
        stmt.iter = core.substitute(stmt.iter, {t: value})
    elif isinstance(stmt, (gast.While, gast.If)):
        stmt.test = core.substitute(stmt.test, {t: value})
    else:
        for field in stmt._fields:
            child = getattr(stmt, field)
            if isinstance(child, gast.AST):
                setattr(stmt, field, core.substitute(child, {t: value}))
            elif isinstance(child, list):
                setattr(stmt, field, [core.substitute(c, {t: value}) if isinstance(c, gast.AST) else c
                                      for c in child])


def _writes(stmt, fn) -> set:
    written = set()
    for s in core.walk_statements([stmt]):
        written |= core.written_names(s)
    return written


def _has_effects(stmt, fn) -> bool:
    """A call to a user function may write into any array it is given."""
    return any(_impure(s, fn) for s in core.walk_statements([stmt])
               if isinstance(s, (gast.Expr, gast.Assign)))
