"""Writes through views, for reverse mode: ``row = a[i]; row[j] = v`` becomes ``a[i, j] = v``.

Forward mode follows memory shared between arrays (a tangent written through a
view changes the tangent of the array it views).  Cotangents flow the other
way and cannot share memory like that, so reverse mode needs every write to
name the array it changes.  A view taken with integer indices composes with
the index written through it (basic indexing: ``a[i][j]`` is ``a[i, j]``), so
such writes are rewritten; any other write into memory shared with another
name is refused, with the line named.
"""

from __future__ import annotations

import gast

from .. import analysis, core
from ..errors import UnsupportedSyntaxError


def write_into_bases(fn: core.Function, param_kinds=None) -> core.Function:
    """``fn`` with writes through integer-indexed views made writes into the viewed arrays."""
    kinds = analysis.kinds(fn, param_kinds)
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
    transposition treats it; a view must also be read only in the block where
    it is taken (after it, in order), so that "after" is plain.
    """
    groups = core.alias_groups(fn.body)
    written = _memory_written(fn.body, kinds)
    views = {}
    for block in _blocks(fn.body):
        for i, stmt in enumerate(block):
            if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name) and \
                    core.view_source(stmt.value) is not None and groups[stmt.targets[0].id] & written:
                views[stmt.targets[0].id] = (block, i)
    for view, (block, i) in views.items():
        group = groups[view]
        changed = None
        for later in block[i + 1:]:
            if view in core.values_read([later]) and changed is not None:
                _refuse(fn, view, group, changed)
            if _memory_written([later], kinds) & group:
                changed = later
        after = {id(s) for s in core.walk_statements(block[i + 1:])}
        outside = [s for s in core.walk_statements(fn.body) if id(s) not in after and view in _own_reads(s)]
        if outside:
            _refuse(fn, view, group, outside[0])


def _memory_written(body, kinds) -> set:
    """Names whose memory ``body`` writes: index writes, and in-place updates of what may be an array."""
    return {n for n in core.mutated_names(body)
            if not any(isinstance(s, gast.AugAssign) and isinstance(s.target, gast.Name) and s.target.id == n
                       for s in core.walk_statements(body)) or kinds.get(n) != analysis.SCALAR}


def _own_reads(stmt) -> set:
    if core.sub_blocks(stmt):
        return set(core.names_read(stmt.iter if isinstance(stmt, gast.For) else stmt.test))
    return core.values_read([stmt])


def _refuse(fn, view, group, stmt):
    others = ", ".join(sorted(group - {view}))
    raise UnsupportedSyntaxError(
        f"reverse mode does not support reading {view!r}, which shares memory with {others}, here: that "
        "memory may have been written since it was taken (copy it, or index the array itself)",
        fn.filename, stmt.lineno, fn.source_line(stmt.lineno))


def _blocks(body):
    yield body
    for stmt in core.walk_statements(body):
        yield from core.sub_blocks(stmt)
