"""Writes through views, for reverse mode: ``row = a[i]; row[j] = v`` becomes ``a[i, j] = v``.

Forward mode follows memory shared between arrays (a tangent written through a
view changes the tangent of the array it views).  Cotangents flow the other
way and cannot share memory like that, so reverse mode needs every write to
name the array it changes, and every view to be read before the memory it
shares is written.  A view taken with integer indices composes with the index
written through it (basic indexing: ``a[i][j]`` is ``a[i, j]``), so such writes
are rewritten; other writes through views, and reads of views that may be
stale, are refused with the line named.
"""

from __future__ import annotations

import gast

from .. import analysis, core
from ..errors import UnsupportedSyntaxError


def write_into_bases(fn: core.Function, known_kinds=None) -> core.Function:
    """``fn`` with writes through integer-indexed views made writes into the viewed arrays."""
    kinds = analysis.kinds(fn, known_kinds)
    counts: dict = {}  # how often each name is bound (not written into)
    for stmt in core.walk_statements(fn.body):
        for n in core.bound_names(stmt):
            counts[n] = counts.get(n, 0) + 1
    views = {}
    for stmt in core.walk_statements(fn.body):
        if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name) and \
                isinstance(stmt.value, gast.Subscript) and isinstance(stmt.value.value, gast.Name) and \
                counts.get(stmt.targets[0].id) == 1 and _integer_index(stmt.value.slice, kinds):
            views[stmt.targets[0].id] = stmt.value
    for stmt in core.walk_statements(fn.body):
        target = stmt.targets[0] if isinstance(stmt, gast.Assign) else None
        if isinstance(target, gast.Subscript) and isinstance(target.value, gast.Name) and target.value.id in views:
            view = views[target.value.id]
            stmt.targets[0] = gast.Subscript(value=core.name(view.value.id), slice=_joined(view.slice, target.slice),
                                             ctx=gast.Store())
    _refuse_shared_writes(fn, kinds)
    return fn


def _integer_index(index, kinds) -> bool:
    parts = index.elts if isinstance(index, gast.Tuple) else [index]
    return all(isinstance(p, gast.Constant) and type(p.value) is int or
               isinstance(p, gast.Name) and kinds.get(p.id) == analysis.SCALAR for p in parts)


def _joined(first, second):
    parts = (first.elts if isinstance(first, gast.Tuple) else [first]) + \
        (second.elts if isinstance(second, gast.Tuple) else [second])
    return core.tuple_(core.load(p) for p in parts)


def _refuse_shared_writes(fn, kinds):
    """Refuse code where a view is read after the memory it shares was written.

    Until then a view holds the same values as a copy would, which is how
    transposition treats it.  A view is checked where it can be read: after it in its
    block, in the next trip of the loop it is taken in (from the top of the body),
    and after that loop.  Binding its source anew (``new = np.empty_like(u)`` after
    ``u = new``) ends the sharing.  A read anywhere else is refused.
    """
    groups = analysis.alias_groups(fn.body, kinds)
    for block, parents in _blocks(fn.body, []):
        for i, stmt in enumerate(block):
            if not (isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name)):
                continue
            view, source = stmt.targets[0].id, core.view_source(stmt.value)
            if source is None or _is_scalar(stmt, kinds) or not groups[view] & _memory_written(fn.body, kinds):
                continue
            covered, changed = _check_reads(fn, view, groups[view], source, block[i + 1:], kinds, None)
            for holder, holder_block, j in parents:  # the next trip of an enclosing loop, and after it
                if isinstance(holder, (gast.For, gast.While)):  # both go on from the end of the body
                    covered |= _check_reads(fn, view, groups[view], source, block[:i], kinds, changed)[0]
                    covered |= _check_reads(fn, view, groups[view], source, holder_block[j + 1:], kinds,
                                            changed)[0]
                    break
            reachable = _reachable(fn.body, stmt, parents)
            for other in core.walk_statements(fn.body):
                if id(other) in reachable and id(other) not in covered and view in core.own_reads(other):
                    _refuse(fn, view, groups[view], other)


def _reachable(body, stmt, parents) -> set:
    """Statements (as ids) that may run after ``stmt``: those after it in the code, and any inside a loop
    holding it."""
    order = [id(s) for s in core.walk_statements(body)]
    after = set(order[order.index(id(stmt)) + 1:])
    for holder, _, _ in parents:
        if isinstance(holder, (gast.For, gast.While)):
            after |= {id(s) for s in core.walk_statements([holder])}
    return after


def _check_reads(fn, view, group, source, stmts, kinds, changed) -> tuple[set, object]:
    """Walk ``stmts`` in order, from where ``view`` shares ``source``'s memory: refuse a write through the
    view while it shares, and a read of it once a write into the shared memory may have made it stale
    (``changed``: the statement that wrote it, if one before ``stmts`` did).  Return the statements
    checked (as ids), and the write that has made the view stale at their end (None if none has, or the
    name holds something else by then)."""
    checked, sharing = set(), True
    for stmt in stmts:
        nested = list(core.walk_statements([stmt]))
        reads = any(view in core.own_reads(s) for s in nested)
        if changed is not None and reads:
            _refuse(fn, view, group, changed)
        if core.sub_blocks(stmt) and sharing and reads and _memory_written([stmt], kinds) & group:
            _refuse(fn, view, group, stmt)  # a loop (or branch) both reading it and writing what it shares
        checked |= {id(s) for s in nested}
        bound = set(core.bound_names(stmt)) if isinstance(stmt, (gast.Assign, gast.For)) else set()
        if view in bound:  # the name holds something else from here
            changed = None
            break
        written = _memory_written([stmt], kinds)
        if sharing and view in written:
            raise UnsupportedSyntaxError(
                f"reverse mode does not support writing through {view!r}, which shares memory with "
                f"{source!r}: write into the array itself (or into a copy)", fn.filename, stmt.lineno,
                fn.source_line(stmt.lineno))
        if source in bound:  # shared no longer; stale if it was written before
            if changed is None:
                break
            sharing = False
        elif sharing and written & group:
            changed = stmt
    return checked | {id(s) for s in core.walk_statements(stmts)}, changed


def _is_scalar(stmt, kinds) -> bool:
    """Does ``stmt`` bind a scalar (``x[i]`` of a 1-D ``x``, ``n = x.shape[1]``)?  A copy, not a view."""
    return analysis.SCALAR in (analysis.kind_of(stmt.value, kinds), kinds.get(stmt.targets[0].id))


def _memory_written(body, kinds) -> set:
    """Names whose memory ``body`` writes: index writes, in-place updates of what may be an array, and
    the arrays given to the user's functions called for their effect (they may write into them)."""
    written = {n for n in core.mutated_names(body)
               if not any(isinstance(s, gast.AugAssign) and isinstance(s.target, gast.Name) and s.target.id == n
                          for s in core.walk_statements(body)) or kinds.get(n) != analysis.SCALAR}
    for stmt in core.walk_statements(body):
        if isinstance(stmt, gast.Expr) and isinstance(stmt.value, gast.Call):
            written |= {a.id for a in stmt.value.args if isinstance(a, gast.Name)}
    return written


def _refuse(fn, view, group, stmt):
    others = ", ".join(sorted(group - {view}))
    raise UnsupportedSyntaxError(
        f"reverse mode does not support reading {view!r}, which shares memory with {others}, here: that "
        "memory may have been written since it was taken (copy it, or index the array itself)",
        fn.filename, stmt.lineno, fn.source_line(stmt.lineno))


def _blocks(body, parents):
    """Every block, with the statements holding it (innermost first) and where they stand in their blocks."""
    yield body, parents
    for j, stmt in enumerate(body):
        for block in core.sub_blocks(stmt):
            yield from _blocks(block, [(stmt, body, j)] + parents)
