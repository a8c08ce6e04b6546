"""Tapes of reverse-mode loops in device code: per-thread columns of device memory, sized by the launcher.

On the CPU a loop's forward pass appends the values its backward pass needs to Python lists.  Device code
cannot grow a list, so in a program with a CUDA kernel each tape becomes a column of a 2-D device array
(thread ``b`` owns column ``b``, so the threads of a warp write neighbouring addresses), which the kernel
hands down the calls to the forward function that fills it:

* ``T = []`` becomes a count, ``T_size = 0``; ``T.append(v)`` becomes ``T_size = rt.push(T, T_size, v)``,
  which writes while the column has room and counts on regardless;
* the forward function hands on the entries it wrote, ``T[:T_size]``, which the backward pass reads as it read
  the list.  A column too short records the length it needed in ``tape_sizes``, and the launcher runs the
  kernel again with room for the longest: the first call learns the lengths, later calls reuse them;
* in a run whose tapes overflowed (its results are discarded) the backward pass reads only entries that were
  written, since its counters stop at 0: the run stays in bounds and ends;
* a tape of a helper's residuals (the helper called in a loop or a branch) is first split into tapes of
  numbers, one per residual.

Columns hold int64 where every value saved is an integer in the code (trip counts of loops that end early,
integer arithmetic), else the float type the code is specialized for (floats and branch decisions); an integer
the code does not show as one (an integer argument's), or a float64 in float32 code, is refused when the kernel
is compiled (``rt.push``).  The launcher allocates them (``Launch.tapes``), so a device function for kernels of
one's own (``s2s.cuda.device``) cannot hold a tape and is refused as before.
"""

from __future__ import annotations

import dataclasses

import gast

from . import core
from .errors import DeviceError


def lower(program) -> None:
    """Give the tapes of ``program``'s device code columns of device memory (see the module's docstring)."""
    functions = {fn.name: fn for fn in program.functions}
    sizes = program.namer.fresh("tape_sizes")  # where overflowing tapes record the lengths they needed
    slots: list = []  # the dtype of each tape, numbered across the program (``tape_sizes`` has one entry each)
    filled: dict = {}  # function name → [(tape, slot)] of the tapes it fills
    _split_tuple_tapes(program.functions, functions)
    for fn in program.functions:
        found = _tapes(fn)
        if found:
            filled[fn.name] = [(tape, len(slots) + i) for i, tape in enumerate(found)]
            _lower_forward(fn, found, len(slots), sizes)
            slots += found.values()
    if not filled:
        return
    for fn in program.functions:
        _clamp_counters(fn)
    done: dict = {}

    def columns_of(name):
        """[(parameter, slot)]: the columns ``name`` takes (then ``tape_sizes``), for its tapes and its callees'."""
        if name not in done:
            fn = functions[name]
            done[name] = filled.get(name, []) + _thread_columns(fn, columns_of, functions, sizes,
                                                                name in program.launches)
            if done[name]:
                fn.params = [*fn.params, *(p for p, _ in done[name]), sizes]
        return done[name]

    for fn in program.functions:
        columns_of(fn.name)
    for kernel, launch in program.launches.items():
        program.launches[kernel] = dataclasses.replace(
            launch, tapes=tuple((slot, slots[slot]) for _, slot in columns_of(kernel)), slots=len(slots))


def _split_tuple_tapes(program_functions, functions) -> None:
    """A tape of a helper's residuals (a tuple of numbers per entry, where the helper is called in a loop or a
    branch) becomes a tuple of tapes of numbers, one per residual: ``T.append(res)`` becomes ``T_0.append(res[0])``,
    ..., the forward function hands on ``(T_0, T_1, ...)`` as ``T``, and its readers take ``T[k]`` as
    ``(T[0][k], T[1][k], ...)``."""
    split: dict = {}  # tape → the structure of its entries (``_structure``)
    for fn in program_functions:
        bound = _helper_residuals(fn, functions)
        made = _made_lists(fn)
        mine = {}
        for stmt in core.walk_statements(fn.body):
            tape = _appended_to(stmt)
            value = stmt.value.args[0] if tape in made else None
            if isinstance(value, gast.Name) and value.id in bound:
                structure = _structure(functions[bound[value.id]], functions)
                if structure is not None:
                    mine[tape] = structure
        if mine:
            _split_in_forward(fn, mine)
            split.update(mine)
    if split:
        for fn in program_functions:
            _TupleEntries(split).visit(gast.Module(body=fn.body, type_ignores=[]))


def _made_lists(fn) -> list:
    return [s.targets[0].id for s in fn.body if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name)
            and isinstance(s.value, gast.List) and not s.value.elts]


def _helper_residuals(fn, functions) -> dict:
    """Name → the generated function whose residuals ``fn`` binds to it (``y, g_res = g_fwd(x)``)."""
    found = {}
    for stmt in core.walk_statements(fn.body):
        if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Tuple) and \
                len(stmt.targets[0].elts) == 2 and isinstance(stmt.targets[0].elts[1], gast.Name) and \
                isinstance(stmt.value, gast.Call) and isinstance(stmt.value.func, gast.Name) and \
                stmt.value.func.id in functions:
            found[stmt.targets[0].elts[1].id] = stmt.value.func.id
    return found


def _structure(helper, functions):
    """The structure of ``helper``'s residuals: a tuple with, per residual, None (a number) or the structure of
    a further helper's residuals; None where they are not a tuple of those (a helper with tapes of its own,
    which is refused where it is called)."""
    ret = helper.body[-1]
    residuals = ret.value.elts[1] if isinstance(ret, gast.Return) and isinstance(ret.value, gast.Tuple) and \
        len(ret.value.elts) == 2 else None
    if not isinstance(residuals, gast.Tuple) or _made_lists(helper):
        return None
    nested = _helper_residuals(helper, functions)
    parts = tuple(_structure(functions[nested[e.id]], functions) if isinstance(e, gast.Name) and e.id in nested
                  else () for e in residuals.elts)
    if any(p is None for p in parts):
        return None
    return tuple(p if p != () else None for p in parts)


def _leaves(structure, path=()):
    """The index paths of a structure's numbers, in order."""
    for i, part in enumerate(structure):
        yield from (_leaves(part, (*path, i)) if part is not None else [(*path, i)])


def _indexed(expr, path):
    for i in path:
        expr = gast.Subscript(value=expr, slice=core.const(i), ctx=gast.Load())
    return expr


def _split_in_forward(fn, split: dict) -> None:
    namer = fn.namer()
    names = {tape: [namer.fresh(f"{tape}_{i}") for i, _ in enumerate(_leaves(structure))]
             for tape, structure in split.items()}

    def lowered(body):
        out = []
        for stmt in body:
            core.map_blocks(stmt, lowered)
            tape = _appended_to(stmt)
            made = isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name) and \
                stmt.targets[0].id in split and isinstance(stmt.value, gast.List)
            if tape in split:
                value = stmt.value.args[0]
                out += [core.at(_append(column, _indexed(core.clone(value), path)), stmt.lineno)
                        for column, path in zip(names[tape], _leaves(split[tape]))]
            elif made:
                out += [core.at(core.assign(column, gast.List(elts=[], ctx=gast.Load())), stmt.lineno)
                        for column in names[stmt.targets[0].id]]
            else:
                out.append(stmt)
        return out

    ret = fn.body[-1]
    fn.body = lowered(fn.body[:-1])

    class Columns(gast.NodeTransformer):
        def visit_Name(self, node):
            if node.id in names and isinstance(node.ctx, gast.Load):
                return core.tuple_([core.name(c) for c in names[node.id]])
            return node

    fn.body.append(Columns().visit(ret))


class _TupleEntries(gast.NodeTransformer):
    """Readers of a split tape ``T``: ``T[k]`` is ``(T[0][k], T[1][k], ...)``, ``len(T)`` is ``len(T[0])``."""

    def __init__(self, split):
        self.split = split

    def visit_Subscript(self, node):
        self.generic_visit(node)
        if isinstance(node.value, gast.Name) and node.value.id in self.split and isinstance(node.ctx, gast.Load):
            return self._entry(node.value.id, node.slice, self.split[node.value.id], iter(range(10**9)))
        return node

    def _entry(self, tape, index, structure, counter):
        return core.tuple_([
            self._entry(tape, index, part, counter) if part is not None else
            gast.Subscript(value=gast.Subscript(value=core.name(tape), slice=core.const(next(counter)),
                                                ctx=gast.Load()), slice=core.clone(index), ctx=gast.Load())
            for part in structure])

    def visit_Call(self, node):
        self.generic_visit(node)
        if core.dotted_name(node.func) == "len" and len(node.args) == 1 and isinstance(node.args[0], gast.Name) \
                and node.args[0].id in self.split:
            node.args = [gast.Subscript(value=node.args[0], slice=core.const(0), ctx=gast.Load())]
        return node


def _append(tape, value):
    return gast.Expr(value=core.call(gast.Attribute(value=core.name(tape), attr="append", ctx=gast.Load()), [value]))


def _tapes(fn) -> dict:
    """Tape → the dtype of its column, for the tapes ``fn`` fills: lists made empty at its top level, then
    only appended to and returned."""
    made = _made_lists(fn)
    pushed = {}
    for stmt in core.walk_statements(fn.body):
        tape = _appended_to(stmt)
        if tape in made:
            pushed.setdefault(tape, []).append(stmt.value.args[0])
    integers = _integers(fn)
    return {tape: "int64" if all(_integer(v, integers) for v in values) else "float"
            for tape, values in pushed.items()}


def _appended_to(stmt) -> str | None:
    call = stmt.value if isinstance(stmt, gast.Expr) else None
    if isinstance(call, gast.Call) and isinstance(call.func, gast.Attribute) and call.func.attr == "append" \
            and isinstance(call.func.value, gast.Name):
        return call.func.value.id
    return None


def _integers(fn) -> set:
    """Names that hold integers wherever ``fn`` binds them: to integer constants, ``len``, loop indices over a
    ``range``, and integer arithmetic of those (``trips += 1``, ``m = m * 3 % 7``)."""
    bindings: dict = {p: [None] for p in fn.params}  # an argument may be of any type
    for stmt in core.walk_statements(fn.body):
        if isinstance(stmt, gast.For):
            ranged = isinstance(stmt.iter, gast.Call) and core.dotted_name(stmt.iter.func) == "range"
            bindings.setdefault(stmt.target.id, []).append(core.const(0) if ranged else None)
        elif isinstance(stmt, gast.Assign):
            for target in stmt.targets:
                for n in core.target_names(target):
                    bindings.setdefault(n, []).append(stmt.value if isinstance(target, gast.Name) else None)
        elif isinstance(stmt, gast.AugAssign) and isinstance(stmt.target, gast.Name):
            step = gast.BinOp(left=stmt.target, op=stmt.op, right=stmt.value)
            bindings.setdefault(stmt.target.id, []).append(step)
    found = set(bindings)
    while True:
        kept = {n for n in found if all(v is not None and _integer(v, found) for v in bindings[n])}
        if kept == found:
            return found
        found = kept


def _integer(expr, names) -> bool:
    if isinstance(expr, gast.Constant):
        return type(expr.value) is int
    if isinstance(expr, gast.Name):
        return expr.id in names
    if isinstance(expr, gast.BinOp):
        return isinstance(expr.op, (gast.Add, gast.Sub, gast.Mult, gast.FloorDiv, gast.Mod)) and \
            _integer(expr.left, names) and _integer(expr.right, names)
    if isinstance(expr, gast.UnaryOp):
        return isinstance(expr.op, gast.USub) and _integer(expr.operand, names)
    return isinstance(expr, gast.Call) and core.dotted_name(expr.func) in ("len", "int")


def _lower_forward(fn, tapes: dict, first_slot: int, sizes_name: str) -> None:
    """Counts for lists, pushes for appends, the entries written handed on, overflows recorded."""
    sizes = {tape: fn.namer().fresh(f"{tape}_size") for tape in tapes}

    def lowered(body):
        out = []
        for stmt in body:
            core.map_blocks(stmt, lowered)
            tape = _appended_to(stmt)
            if tape in tapes:
                push = core.call(core.attr("rt.push"), [core.name(tape), core.name(sizes[tape]), stmt.value.args[0]])
                stmt = core.at(core.assign(sizes[tape], push), stmt.lineno)
            elif stmt in made:
                stmt = core.at(core.assign(sizes[stmt.targets[0].id], core.const(0)), stmt.lineno)
            out.append(stmt)
        return out

    made = [s for s in fn.body if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name)
            and s.targets[0].id in tapes and isinstance(s.value, gast.List)]
    ret = fn.body[-1]
    fn.body = lowered(fn.body[:-1])
    for i, tape in enumerate(tapes):
        size = core.name(sizes[tape])
        length = core.call(core.name("len"), [core.name(tape)])
        overflowed = gast.Compare(left=size, ops=[gast.Gt()], comparators=[length])
        record = core.call(core.attr("cuda.atomic.max"), [core.name(sizes_name), core.const(first_slot + i), size])
        fn.body.append(core.at(gast.If(test=overflowed, body=[gast.Expr(value=record)], orelse=[]), ret.lineno))
    fn.body.append(_written_entries(ret, {t: sizes[t] for t in tapes}))


def _written_entries(ret, sizes: dict):
    """The return statement with each tape read as the entries written to it, ``T[:T_size]``."""

    class Entries(gast.NodeTransformer):
        def visit_Name(self, node):
            if node.id in sizes and isinstance(node.ctx, gast.Load):
                return gast.Subscript(value=node, slice=gast.Slice(lower=None, upper=core.name(sizes[node.id]),
                                                                   step=None), ctx=gast.Load())
            return node

    return Entries().visit(ret)


def _clamp_counters(fn) -> None:
    """A backward pass's tape counters stop at 0 (``k = k - 1 if k > 0 else 0``): a run whose tapes overflowed
    reads entries that are there.  In a run whose tapes fit, a counter never steps below 0 anyway.  (Numba's CUDA
    target does not compile ``max`` of two numbers.)"""

    def clamped(body):
        out = []
        for stmt in body:
            core.map_blocks(stmt, clamped)
            counter = core.notes(stmt).counter if isinstance(stmt, gast.AugAssign) else None
            if counter is not None:
                if not isinstance(stmt.op, gast.Sub):
                    raise DeviceError("device code reads a tape from its start, which the cuda target does not do",
                                      fn.filename, stmt.lineno, fn.source_line(stmt.lineno))
                step = gast.BinOp(left=core.name(counter), op=gast.Sub(), right=stmt.value)
                above = gast.Compare(left=core.name(counter), ops=[gast.Gt()], comparators=[core.const(0)])
                stmt = core.at(core.assign(counter, gast.IfExp(test=above, body=step, orelse=core.const(0))),
                               stmt.lineno)
                core.notes(stmt).counter = counter
            out.append(stmt)
        return out

    fn.body = clamped(fn.body)


def _thread_columns(fn, columns_of, functions, sizes: str, kernel: bool) -> list:
    """The columns ``fn`` takes to pass on to the functions it calls that hold tapes, each call its own; a
    kernel takes 2-D arrays and passes each thread its column."""
    namer = fn.namer()
    taken: list = []
    inside = {id(s) for compound in core.walk_statements(fn.body) for block in core.sub_blocks(compound)
              for s in core.walk_statements(block)}
    for stmt in core.walk_statements(fn.body):
        for call in _calls(stmt):
            callee = call.func.id if isinstance(call.func, gast.Name) else None
            if callee not in functions or callee == fn.name or not columns_of(callee):
                continue
            if id(stmt) in inside and not kernel:  # its residuals, tapes among them, would go on a tape of its caller's
                raise DeviceError("reverse mode of a helper with tapes of its own (a loop), called in a loop or a "
                                  "branch, keeps the helper's tapes for every call, which the cuda target does not "
                                  "do yet: call it outside the loop or branch, or use forward mode (jvp, jacfwd)",
                                  fn.filename, stmt.lineno, fn.source_line(stmt.lineno))
            for param, slot in columns_of(callee):
                mine = namer.fresh(param)
                taken.append((mine, slot))
                call.args.append(_column(mine, fn.body[0].targets[0].id) if kernel else core.name(mine))
            call.args.append(core.name(sizes))
    return taken


def _calls(stmt) -> list:
    """The calls a statement makes itself (not those of the statements nested in it)."""
    own = [stmt.test] if isinstance(stmt, (gast.If, gast.While)) else [stmt.iter] if isinstance(stmt, gast.For) \
        else [stmt]
    return [node for part in own for node in gast.walk(part) if isinstance(node, gast.Call)]


def _column(name, thread):
    """``name[:, b]``: the column of a 2-D tape array that the kernel's thread ``b`` owns."""
    whole = gast.Slice(lower=None, upper=None, step=None)
    return gast.Subscript(value=core.name(name), slice=gast.Tuple(elts=[whole, core.name(thread)], ctx=gast.Load()),
                          ctx=gast.Load())
