"""Structured control flow for reverse mode: one exit per function, no jumps in linear code.

Transposition runs a program backwards, so it needs to know, for each block,
which statements ran.  Two rewrites give it that:

* ``single_exit`` rewrites a function whose ``return`` statements sit inside
  branches or loops into one that assigns ``result`` and returns once, at the
  end.  A return inside a loop sets a flag and breaks out; the statements after
  the loop run only if the flag is not set.
* ``without_jumps`` removes ``break`` and ``continue`` from the body of a loop
  whose trip count is recorded: the statements after ``if c: ...; break`` move
  into the ``else`` branch, which is what ran.  The recorded trip count ends
  the loop where the ``break`` did.
"""

from __future__ import annotations

import gast

from .. import core

JUMPS = (gast.Break, gast.Continue)


def single_exit(fn: core.Function) -> core.Function:
    """``fn`` with a single ``return``, at the end of its body (``fn`` itself if it has one already)."""
    body = fn.body
    if all(s is body[-1] for s in core.walk_statements(body) if isinstance(s, gast.Return)):
        return fn
    namer = fn.namer()
    rewriter = _SingleExit(namer.fresh("result"), namer.fresh("returned"))
    new_body = rewriter.block(core.clone(body), in_loop=False)
    prologue = [core.at(core.assign(rewriter.flag, core.const(False)), fn.lineno)] if rewriter.flag_used else []
    last_line = body[-1].lineno if body else fn.lineno
    ret = core.at(gast.Return(value=core.name(rewriter.result)), last_line)
    fn.body = prologue + new_body + [ret]
    fn.temps = fn.temps | {rewriter.result}
    return fn


def _contains(stmt, kinds, into_loops) -> bool:
    """Does ``stmt`` hold a statement of ``kinds``, looking into nested loops only if ``into_loops``?"""
    if isinstance(stmt, kinds):
        return True
    if isinstance(stmt, (gast.For, gast.While)) and not into_loops:
        return False
    return any(_contains(s, kinds, into_loops) for b in core.sub_blocks(stmt) for s in b)


def _always_leaves(block, kinds) -> bool:
    """Does every path through ``block`` end in a statement of ``kinds``?"""
    if not block:
        return False
    last = block[-1]
    if isinstance(last, kinds):
        return True
    return isinstance(last, gast.If) and bool(last.orelse) and \
        _always_leaves(last.body, kinds) and _always_leaves(last.orelse, kinds)


def _branch_with_rest(branch, rest, kinds, rewrite):
    """A branch followed by what comes after its ``if``, unless the branch always leaves."""
    if _always_leaves(branch, kinds):
        return rewrite(branch)
    return rewrite(branch + core.clone(rest))


class _SingleExit:
    def __init__(self, result, flag):
        self.result, self.flag, self.flag_used = result, flag, False

    def block(self, body, in_loop) -> list:
        out = []
        for i, stmt in enumerate(body):
            rest = body[i + 1:]
            if isinstance(stmt, gast.Return):
                value = stmt.value if stmt.value is not None else core.const(None)
                out.append(core.at(core.assign(self.result, value), stmt.lineno))
                if in_loop:
                    self.flag_used = True
                    out += [core.at(core.assign(self.flag, core.const(True)), stmt.lineno),
                            core.at(gast.Break(), stmt.lineno)]
                return out
            if isinstance(stmt, (gast.For, gast.While)) and _contains(stmt, gast.Return, True):
                stmt.body = self.block(stmt.body, in_loop=True)
                out.append(stmt)
                if in_loop:  # leave the enclosing loop too
                    out.append(core.at(gast.If(test=core.name(self.flag), body=[core.at(gast.Break(), stmt.lineno)],
                                               orelse=[]), stmt.lineno))
                    continue
                remaining = self.block(rest, in_loop)
                if remaining:
                    test = gast.UnaryOp(op=gast.Not(), operand=core.name(self.flag))
                    out.append(core.at(gast.If(test=test, body=remaining, orelse=[]), stmt.lineno))
                return out
            if isinstance(stmt, gast.If) and _contains(stmt, gast.Return, True):
                def rewrite(b):
                    return self.block(b, in_loop)

                stmt.body = _branch_with_rest(stmt.body, rest, gast.Return, rewrite)
                stmt.orelse = _branch_with_rest(stmt.orelse, rest, gast.Return, rewrite)
                out.append(stmt)
                return out
            out.append(stmt)
        return out


def has_jumps(body) -> bool:
    """Does a loop body ``break`` or ``continue`` (its own loop, not an inner one)?"""
    return any(_contains(s, JUMPS, False) for s in body)


def without_jumps(body) -> list:
    """A loop body with its own ``break``/``continue`` removed (see the module docstring)."""
    out = []
    for i, stmt in enumerate(body):
        if isinstance(stmt, JUMPS):
            return out
        if isinstance(stmt, gast.If) and _contains(stmt, JUMPS, False):
            rest = body[i + 1:]
            stmt.body = _branch_with_rest(stmt.body, rest, JUMPS, without_jumps)
            stmt.orelse = _branch_with_rest(stmt.orelse, rest, JUMPS, without_jumps)
            out.append(stmt)
            return out
        out.append(stmt)
    return out
