"""Batching (``vmap``): a per-example function → one that runs it over a batch.

Two strategies produce functions with the same signature and results:

* ``batch_loop`` writes the loop over the batch that calls the per-example
  function.  It applies to any function; under ``s2s.jit`` the loop is Numba's
  ``prange``, so examples run in parallel.
* ``vectorize`` rewrites the per-example function itself, so that each value
  that depends on a mapped argument carries the batch as its first axis and
  each NumPy operation runs for the whole batch at once.  It applies when
  every such statement has a batching rule (``_Vectorizer.value``), no loop
  bound or ``while`` test depends on batched values, and a branch on a batched
  test can become a select (``np.where``): both sides only compute values.

Both begin by moving each mapped axis to the front (``rt.moveaxis``) and end by
moving each output's batch axis to where ``out_axes`` puts it.
"""

from __future__ import annotations

import ast
import dataclasses
from collections import Counter
from dataclasses import dataclass

import gast
import numpy as np

from .. import analysis, core
from ..frontend.resolve import spelling
from ..rules import registry, shapes
from ..errors import BatchingError, DeviceError
from .control import single_exit


@dataclass(frozen=True)
class Axes:
    """Where the batch runs: ``inputs`` has one entry per parameter (an int, None, or a tuple of those
    for a tuple parameter); ``outputs`` one per output (``arity`` of them; None: a single output)."""

    inputs: tuple
    outputs: tuple
    arity: int | None


def uses_prange(fn: core.Function) -> bool:
    """Does ``fn`` hold a parallel batch loop (Numba compiles it with ``parallel=True``)?"""
    return any(isinstance(s, gast.For) and core.dotted_name(s.iter.func) == "rt.prange"
               for s in core.walk_statements(fn.body) if isinstance(getattr(s, "iter", None), gast.Call))


def output_arity(fn: core.Function) -> int | None:
    """How many values ``fn`` returns when every ``return`` is a tuple of the same length; None otherwise."""
    lengths = {len(s.value.elts) if isinstance(s.value, gast.Tuple) else None
               for s in core.walk_statements(fn.body) if isinstance(s, gast.Return)}
    return lengths.pop() if len(lengths) == 1 else None


def outputs_of(fn: core.Function, arity) -> list:
    """The returned expressions of ``fn`` (its last statement is its only ``return``)."""
    value = fn.body[-1].value
    return list(value.elts) if arity is not None else [value]


class _Frame:
    """What both strategies share: the prologue that finds the batch, and the epilogue that places it."""

    def __init__(self, fn: core.Function, axes: Axes, namer: core.Namer):
        self.fn, self.axes, self.namer = fn, axes, namer
        self.size = namer.fresh("size")

    def leaves(self):
        """(expression, axis) for each array the parameters hold: parameters, or elements of tuple ones."""
        found = []
        for p, axis in zip(self.fn.params, self.axes.inputs):
            map_leaves(core.name(p), axis, lambda e, a: found.append((e, a)))
        return found

    def prologue(self) -> list:
        """Mapped axes moved to the front; ``size`` = the batch's size."""
        out = []
        for p, axis in zip(self.fn.params, self.axes.inputs):
            if any(a not in (None, 0) for a in flat_axes(axis)):
                out.append(core.assign(p, map_leaves(core.name(p), axis, _to_front)))
        mapped = [e for e, axis in self.leaves() if axis is not None]
        if not mapped:
            raise BatchingError("vmap needs at least one mapped argument (in_axes not None)")
        sizes = [gast.Subscript(value=gast.Attribute(value=e, attr="shape", ctx=gast.Load()),
                                slice=core.const(0), ctx=gast.Load()) for e in mapped]
        size = sizes[0] if len(sizes) == 1 else core.call(core.attr("rt.batch_size"), [core.tuple_(sizes)])
        out.append(core.assign(self.size, size))
        return [core.at(s, self.fn.lineno) for s in out]

    def placed(self, value, axis):
        """A batched output (batch axis first) moved to ``axis``."""
        if axis == 0:
            return value
        return core.call(core.attr("rt.moveaxis"), [value, core.const(0), core.const(axis)])

    def result(self, values, lineno) -> gast.Return:
        value = core.tuple_(values) if self.axes.arity is not None else values[0]
        return core.at(gast.Return(value=value), lineno)


# -- the loop strategy -------------------------------------------------------------


def batch_loop(fn: core.Function, name: str, callee: str, axes: Axes, parallel: bool, mapped_outputs) -> core.Function:
    """``def name(params)``: a loop over the batch calling ``callee`` (``fn``'s generated name) per example.

    ``mapped_outputs`` says which outputs depend on a mapped argument; an unmapped one with
    ``out_axes`` None is taken from the first example.
    """
    namer = core.Namer(set(fn.params) | {callee} | core.MODULE_NAMES)
    frame = _Frame(fn, axes, namer)
    body = frame.prologue()
    count = axes.arity or 1
    outputs = outputs_of(one_return(fn, axes.arity), axes.arity)
    hints = [_hint(e, i, axes.arity) for i, e in enumerate(outputs)]
    # An output that is itself a tuple (a JVP's primals and tangents of a helper returning several values)
    # is batched element by element.
    widths = [len(e.elts) if isinstance(e, gast.Tuple) else None for e in outputs]

    def names(suffix):
        return [[namer.fresh(f"{h}_{j}_{suffix}") for j in range(w)] if w is not None else [namer.fresh(f"{h}_{suffix}")]
                for h, w in zip(hints, widths)]

    def shaped(i, parts):
        return core.tuple_(parts) if widths[i] is not None else parts[0]

    firsts, stacked, index = names("first"), names("batch"), namer.fresh("b")
    for i, axis in enumerate(axes.outputs):
        if axis is None and mapped_outputs[i]:
            raise BatchingError(f"vmap was given out_axes=None for output {i}, but it depends on a mapped argument "
                                "(only an unmapped output can be returned without a batch axis)")

    written = analysis.written_parameters(fn)

    def call_at(position):
        args = [_example(core.name(p), axis, position, copied=p in written) for p, axis in zip(fn.params, axes.inputs)]
        return core.call(core.name(callee), args)

    def unpack(targets, value):
        parts = [shaped(i, [core.name(t, True) for t in leaves]) for i, leaves in enumerate(targets)]
        for part in parts:
            if isinstance(part, gast.Tuple):
                part.ctx = gast.Store()
        target = core.tuple_(parts, store=True) if axes.arity else parts[0]
        return core.assign(target, value)

    body.append(unpack(firsts, call_at(core.const(0))))
    kept = [(i, j) for i in range(count) if axes.outputs[i] is not None for j in range(len(firsts[i]))]
    for i, j in kept:
        body.append(core.assign(stacked[i][j], core.call(core.attr("rt.batch_empty"),
                                                         [core.name(firsts[i][j]), core.name(frame.size)])))
        body.append(core.assign(_at(stacked[i][j], core.const(0)), core.name(firsts[i][j])))
    each = names(index)
    loop_body = [unpack(each, call_at(core.name(index)))]
    loop_body += [core.assign(_at(stacked[i][j], core.name(index)), core.name(each[i][j])) for i, j in kept]
    loop = gast.For(target=core.name(index, True),
                    iter=core.call(core.attr("rt.prange") if parallel else core.name("range"),
                                   [core.const(1), core.name(frame.size)]),
                    body=loop_body, orelse=[], type_comment=None)
    body.append(loop)
    values = [shaped(i, [frame.placed(core.name(b), axes.outputs[i]) for b in stacked[i]])
              if axes.outputs[i] is not None else shaped(i, [core.name(f) for f in firsts[i]]) for i in range(count)]
    body.append(frame.result(values, fn.lineno))
    for stmt in core.walk_statements(body):
        core.at(stmt, fn.lineno)
    return core.Function(name=name, params=list(fn.params), body=body, lineno=fn.lineno, filename=fn.filename,
                         source_lines=fn.source_lines, defaults=dict(fn.defaults))


@dataclass(frozen=True)
class Launch:
    """What launching a kernel of ``grid_kernel`` needs: the axis of each argument (0 or None), and the outputs'
    structure: ``widths`` has one entry per output, None for an array, ``n`` for a tuple of ``n`` arrays
    (``arity`` None: a single output).  ``tapes``: (slot, dtype) of each tape array the kernel takes after its
    outputs, then the ``slots`` lengths it records (``device_tapes``)."""

    inputs: tuple
    widths: tuple
    arity: int | None
    tapes: tuple = ()
    slots: int = 0


def grid_kernel(fn: core.Function, name: str, callee: str, axes: Axes, ndims,
                user: core.Function) -> tuple[core.Function, Launch]:
    """``def name(params, outputs)``: a CUDA kernel whose thread ``b`` runs ``callee`` on example ``b``.

    A kernel returns nothing: it writes each output leaf (an element of a tuple output too) into an
    array the launcher allocated, one scalar per example, one more parameter each, in order.  Mapped
    arguments have their batch axis first (``in_axes`` 0); the launcher runs at least as many threads as
    examples.  ``ndims``: the dimensions of ``fn``'s parameters in one example (None where not known);
    ``user``: the user's function, which a refusal names.
    """
    if any(a not in (None, 0) for a in flat_axes(axes.inputs)) or any(a != 0 for a in axes.outputs):
        raise BatchingError("the cuda target maps axis 0 of each argument (in_axes 0 or None) and puts the "
                            "batch first in each output (out_axes 0)", fn.filename, fn.lineno)
    namer = core.Namer(set(fn.params) | {callee, "cuda"} | core.MODULE_NAMES)
    outputs = outputs_of(one_return(fn, axes.arity), axes.arity)
    _refuse_array_outputs(fn, outputs, ndims, user)
    hints = [_hint(e, i, axes.arity) for i, e in enumerate(outputs)]
    widths = [len(e.elts) if isinstance(e, gast.Tuple) else None for e in outputs]
    leaves = [[_hint(part, j, w) if isinstance(part, gast.Name) else f"{h}_{j}" for j, part in enumerate(e.elts)]
              if w is not None else [h] for h, w, e in zip(hints, widths, outputs)]
    stacked = [[namer.fresh(f"{leaf}_batch") for leaf in group] for group in leaves]
    each = [[namer.fresh(f"{leaf}_b") for leaf in group] for group in leaves]
    index = namer.fresh("b")
    parts = [core.tuple_([core.name(t, True) for t in group], store=True) if w is not None
             else core.name(group[0], True) for group, w in zip(each, widths)]
    target = core.tuple_(parts, store=True) if axes.arity else parts[0]
    args = [_example(core.name(p), axis, core.name(index)) for p, axis in zip(fn.params, axes.inputs)]
    inside = [core.assign(target, core.call(core.name(callee), args))]
    inside += [core.assign(_at(s, core.name(index)), core.name(e))
               for group_s, group_e in zip(stacked, each) for s, e in zip(group_s, group_e)]
    first = core.name(stacked[0][0])
    size = gast.Subscript(value=gast.Attribute(value=first, attr="shape", ctx=gast.Load()), slice=core.const(0),
                          ctx=gast.Load())
    body = [core.assign(index, core.call(core.attr("cuda.grid"), [core.const(1)])),
            gast.If(test=gast.Compare(left=core.name(index), ops=[gast.Lt()], comparators=[size]),
                    body=inside, orelse=[])]
    for stmt in core.walk_statements(body):
        core.at(stmt, fn.lineno)
    kernel = core.Function(name=name, params=[*fn.params, *(s for group in stacked for s in group)], body=body,
                           lineno=fn.lineno, filename=fn.filename, source_lines=fn.source_lines)
    return kernel, Launch(axes.inputs, tuple(widths), axes.arity)


def _refuse_array_outputs(fn, outputs, ndims, user) -> None:
    """With an array in each example, refuse unless every output is a scalar the analysis sees: a kernel writes
    one number per example and output, and derivatives of array arguments are arrays made per example."""
    arrays = [p for p, n in zip(fn.params, ndims) if n]
    if not arrays:
        return
    kinds = analysis.kinds(fn, {p: analysis.SCALAR if n == 0 else n for p, n in zip(fn.params, ndims)})
    leaves = [leaf for e in outputs for leaf in (e.elts if isinstance(e, gast.Tuple) else [e])]
    if not all(isinstance(leaf, gast.Name) and kinds.get(leaf.id) == analysis.SCALAR for leaf in leaves):
        raise DeviceError(f"the cuda target runs per-example code of scalars; here {', '.join(arrays)} "
                          f"{'is an array' if len(arrays) == 1 else 'are arrays'} in each example and an output "
                          "may be an array, which a kernel cannot write per example (and the derivative of an "
                          "array argument is an array made per example, which device code cannot allocate): "
                          "pass the components as scalars (f(px, py, pz, …))", user.filename, user.lineno,
                          user.source_line(user.lineno))


def _hint(expr, i, arity) -> str:
    if isinstance(expr, gast.Name) and not expr.id.startswith("result"):
        return expr.id
    return "out" if arity is None else f"out_{i}"


def map_leaves(expr, axis, leaf):
    """``leaf(expression, axis)`` for each array in ``expr``: ``expr`` itself, or for a tuple ``axis``,
    each element ``expr[i]`` (recursively), rebuilt as a tuple."""
    if isinstance(axis, tuple):
        return core.tuple_([map_leaves(gast.Subscript(value=core.clone(expr), slice=core.const(i), ctx=gast.Load()),
                                       a, leaf) for i, a in enumerate(axis)])
    return leaf(expr, axis)


def flat_axes(axis) -> list:
    """The ints and Nones of a (nested) axis specification."""
    return [leaf for a in axis for leaf in flat_axes(a)] if isinstance(axis, tuple) else [axis]


def _to_front(expr, axis):
    if axis in (None, 0):
        return expr
    return core.call(core.attr("rt.moveaxis"), [expr, core.const(axis), core.const(0)])


def _example(expr, axis, position, copied=False):
    """The argument one example gets: ``x[b]`` of a mapped ``x``, ``x`` itself of an unmapped one (a copy of its
    own, ``copied``, where the function writes into it: examples are independent, and may run in parallel)."""
    def one(e, a):
        if a is not None:
            return gast.Subscript(value=e, slice=core.clone(position), ctx=gast.Load())
        return core.call(core.attr("rt.copy"), [e]) if copied else e

    return map_leaves(expr, axis, one)


def _at(array, index):
    return gast.Subscript(value=core.name(array), slice=index, ctx=gast.Store())


def _copy(fn: core.Function) -> core.Function:
    return dataclasses.replace(fn, body=core.clone(fn.body), temps=set(fn.temps))


# -- what depends on the batch ---------------------------------------------------------

#: Reading these of a batched value gives the same answer for every example.
_SHAPE_ATTRIBUTES = {"shape", "ndim", "size", "dtype"}


def _reads(node) -> set:
    """Names whose values (not only their shapes) ``node`` reads."""
    found = set()

    def visit(n):
        if isinstance(n, gast.Attribute) and n.attr in _SHAPE_ATTRIBUTES:
            return
        if isinstance(n, gast.Call) and _family(n) == shapes.QUERY:
            return
        if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load):
            found.add(n.id)
        for child in gast.iter_child_nodes(n):
            visit(child)

    visit(node)
    return found


def _written(stmt) -> set:
    """Names a simple statement binds or writes into (the arrays a call statement is given, too)."""
    if isinstance(stmt, gast.Expr):
        return {n for a in getattr(stmt.value, "args", []) for n in core.names_read(a)}
    return core.written_names(stmt) | set(core.bound_names(stmt))


def dependents(fn: core.Function, seeds) -> set:
    """Names whose values depend on ``seeds``, through data or through the branches and loops they steer.

    A write into an array is a write into every array sharing its memory (``K[i][j] = v`` writes ``K``).
    """
    found = set(seeds)
    aliases = core.alias_groups(fn.body)

    def block(body, steered) -> bool:
        grew = False
        for stmt in body:
            if isinstance(stmt, (gast.If, gast.While, gast.For)):
                test = stmt.iter if isinstance(stmt, gast.For) else stmt.test
                inner = steered or bool(_reads(test) & found)
                if isinstance(stmt, gast.For) and inner and stmt.target.id not in found:
                    found.add(stmt.target.id)
                    grew = True
                grew |= block(stmt.body, inner) | block(stmt.orelse, inner)
            elif not isinstance(stmt, gast.Return) and (steered or _reads(stmt) & found):
                written = _written(stmt)
                new = written.union(*(aliases.get(n, ()) for n in core.mutated_names([stmt]) & written)) - found
                found.update(new)
                grew |= bool(new)
        return grew

    while block(fn.body, False):
        pass
    return found


def _mapped_params(fn, axes) -> set:
    return {p for p, axis in zip(fn.params, axes.inputs) if any(a is not None for a in flat_axes(axis))}


def mapped_outputs(fn: core.Function, axes: Axes) -> list:
    """For each output of ``fn``: does it depend on a mapped argument?"""
    fn = one_return(fn, axes.arity)
    depend = dependents(fn, _mapped_params(fn, axes))
    return [bool(_reads(out) & depend) for out in outputs_of(fn, axes.arity)]


# -- the vectorized strategy -----------------------------------------------------------

def _family(call) -> str | None:
    rule = registry.lookup_spelled(core.dotted_name(call.func))
    return rule.family if rule else None


def _on_arrays(spelled) -> str | None:
    """The NumPy function that applies a ``math`` function or builtin to every example at once."""
    rule = registry.lookup_spelled(spelled)
    if rule is None or rule.family != shapes.SCALAR or rule.twin is None:
        return None
    return spelling(rule.twin)


def vectorize(fn: core.Function, name: str, axes: Axes, param_ndims, program, method) -> core.Function:
    """``fn`` rewritten so that batched values carry the batch as their first axis; ``BatchingError``
    (naming the line) where a statement cannot be."""
    return _Vectorizer(one_return(fn, axes.arity), axes, param_ndims, program, method).run(name)


def one_return(fn: core.Function, arity) -> core.Function:
    """A copy of ``fn`` returning once, at its end, a name per output (``return out_0, out_1``)."""
    fn = single_exit(_copy(fn))
    ret = fn.body[-1]
    if arity is not None and not isinstance(ret.value, gast.Tuple):  # ``return result`` of a tuple
        namer = fn.namer()
        parts = [namer.fresh(f"out_{i}") for i in range(arity)]
        fn.body.insert(-1, core.at(core.assign(core.tuple_([core.name(p, True) for p in parts], store=True),
                                               ret.value), ret.lineno))
        ret.value = core.tuple_([core.name(p) for p in parts])
    return _atomic_return(fn)


def _atomic_return(fn: core.Function) -> core.Function:
    """``return np.dot(x, y)`` → ``out = np.dot(x, y); return out``: each output is then a statement's."""
    ret = fn.body[-1]
    namer = fn.namer()
    values = ret.value.elts if isinstance(ret.value, gast.Tuple) else [ret.value]
    atoms = []
    for value in values:
        if core.is_atom(value):
            atoms.append(value)
            continue
        out = namer.fresh("out")
        fn.body.insert(-1, core.at(core.assign(out, value), ret.lineno))
        atoms.append(core.name(out))
    ret.value = core.tuple_(atoms) if isinstance(ret.value, gast.Tuple) else atoms[0]
    return fn


class _Vectorizer:
    def __init__(self, fn, axes, param_ndims, program, method):
        self.fn, self.axes, self.program, self.method = fn, axes, program, method
        self.namer = fn.namer()
        self.frame = _Frame(fn, axes, self.namer)
        mapped = _mapped_params(fn, axes)
        for p, axis in zip(fn.params, axes.inputs):
            if p in mapped and isinstance(axis, tuple):
                raise self.refusal(fn.lineno, f"the tuple argument {p!r} (the loop strategy maps tuples)")
        self.batched = dependents(fn, mapped)
        # Unmapped parameters that later hold batched values (``x = step(x, k)`` in a loop): batched from the
        # start, so that every value a name holds has the batch axis.
        self.widened = [p for p in fn.params if p in self.batched and p not in mapped]
        self.outputs: set = set()  # names of helpers' tuples of outputs
        self.ndims = self._example_ndims(param_ndims or (None,) * len(fn.params))
        self.reads = Counter(n for s in core.walk_statements(fn.body) for n in core.names_read(core.own_expression(s)))

    def _example_ndims(self, param_ndims) -> dict:
        """Dimensions of each name's value in one example (0: a number), where every definition agrees.

        Optimistic first (a definition not yet known is passed over, so loop-carried values settle),
        then checked: a name any of whose definitions disagrees, or cannot be told, is dropped, until
        what is left is consistent.
        """
        known = {name: _value_ndim(v) for name, v in self.fn.constants.items()}
        known.update(zip(self.fn.params, param_ndims))
        known = {k: v for k, v in known.items() if v is not None}
        definitions = list(self._definitions())
        for _ in range(6):
            before = dict(known)
            for target, nd in ((t, self._defined_ndim(v, i, known)) for t, v, i in definitions):
                if nd is not None:
                    known.setdefault(target, nd)
            if known == before:
                break
        while True:
            wrong = {t for t, v, i in definitions if t in known and self._defined_ndim(v, i, known) != known[t]}
            if not wrong:
                return known
            for t in wrong:
                del known[t]

    def _definitions(self):
        """(name, value, position) for each name a statement binds: position in a tuple, or None."""
        for stmt in core.walk_statements(self.fn.body):
            if isinstance(stmt, gast.For):
                yield stmt.target.id, core.const(0), None
            elif isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name):
                yield stmt.targets[0].id, stmt.value, None
            elif isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Tuple):
                for i, t in enumerate(stmt.targets[0].elts):
                    if isinstance(t, gast.Name):
                        yield t.id, stmt.value, i

    def _defined_ndim(self, value, position, known):
        if self.is_user_call(value):
            callee = self.program.function(value.func.id)
            found = _result_ndims(callee, tuple(analysis.ndim_of(a, known) for a in value.args))
            if position is None:
                return found[0] if len(found) == 1 else None
            return found[position] if position < len(found) else None
        if position is not None:  # unpacked: a tuple's element, or a row of an array (a shape's entry)
            if isinstance(value, gast.Tuple):
                return analysis.ndim_of(value.elts[position], known)
            whole = analysis.ndim_of(value, known)
            return whole - 1 if whole else None
        return analysis.ndim_of(value, known)

    def is_user_call(self, expr) -> bool:
        return isinstance(expr, gast.Call) and isinstance(expr.func, gast.Name) and \
            (self.fn.is_user_call(expr) or self.program.generates(expr.func.id))

    def refusal(self, lineno, what) -> BatchingError:
        return BatchingError(f"vmap cannot vectorize {what}", self.fn.filename, lineno, self.fn.source_line(lineno))

    def run(self, name) -> core.Function:
        *body, ret = self.fn.body
        widen = [core.at(core.assign(p, self.broadcast(core.name(p))), self.fn.lineno) for p in self.widened]
        body = self.frame.prologue() + widen + self.block(body)
        values = []
        for out, axis in zip(outputs_of(self.fn, self.axes.arity), self.axes.outputs):
            if self.is_batched(out):
                if axis is None:
                    raise BatchingError(f"vmap was given out_axes=None for an output that depends on a mapped "
                                        f"argument: {ast_text(out)}", self.fn.filename, ret.lineno,
                                        self.fn.source_line(ret.lineno))
                values.append(self.frame.placed(out, axis))
            else:
                values.append(out if axis is None else self.frame.placed(self.broadcast(out), axis))
        body.append(self.frame.result(values, ret.lineno))
        for stmt in core.walk_statements(body):
            if not hasattr(stmt, "lineno"):
                core.at(stmt, ret.lineno)
        return core.Function(name=name, params=list(self.fn.params), body=body, lineno=self.fn.lineno,
                             filename=self.fn.filename, source_lines=self.fn.source_lines,
                             defaults=dict(self.fn.defaults), temps=set(self.fn.temps))

    # -- statements --------------------------------------------------------------------

    def is_batched(self, node) -> bool:
        return bool(_reads(node) & self.batched)

    def block(self, body) -> list:
        return [out for stmt in body for out in self.statement(stmt)]

    def statement(self, stmt) -> list:
        shapes = _ExampleShapes(self.batched)
        if isinstance(stmt, (gast.If, gast.While)):
            stmt.test = shapes.visit(stmt.test)
        elif isinstance(stmt, gast.For):
            stmt.iter = shapes.visit(stmt.iter)
        else:
            stmt = shapes.visit(stmt)
        if isinstance(stmt, gast.If) and self.is_batched(stmt.test):
            return self.block(self.select(stmt))
        if isinstance(stmt, (gast.For, gast.While)):
            test = stmt.iter if isinstance(stmt, gast.For) else stmt.test
            if self.is_batched(test):
                raise self.refusal(stmt.lineno, "a loop whose trip count depends on a mapped argument")
        if core.sub_blocks(stmt):
            return [core.map_blocks(stmt, self.block)]
        if isinstance(stmt, (gast.Expr, gast.Assert, gast.Raise)) and self.is_batched(stmt):
            raise self.refusal(stmt.lineno, "a call or check made for its effect on batched values")
        if isinstance(stmt, gast.Assign):
            done = self.assignment(stmt)
            return done if isinstance(done, list) else [done]
        if isinstance(stmt, gast.AugAssign) and isinstance(stmt.target, gast.Name) \
                and stmt.target.id in self.batched:
            # In place on what is one number per example would write into the array it came from.
            if self.ndim(stmt.target, stmt) == 0:
                value = gast.BinOp(left=core.name(stmt.target.id), op=stmt.op, right=stmt.value)
                return [self.assignment(core.at(core.assign(stmt.target.id, value), stmt.lineno))]
        if isinstance(stmt, gast.AugAssign):
            if self.is_batched(stmt.value):
                stmt.value = self.aligned([stmt.value], stmt, slot=stmt.target)[0]
            if isinstance(stmt.target, gast.Subscript):
                stmt.target = self.batch_index(stmt.target, stmt, gast.Store())
            return [stmt]
        return [stmt]

    def assignment(self, stmt):
        target, value = stmt.targets[0], stmt.value
        if isinstance(target, gast.Subscript):
            if self.is_batched(value):
                value = self.aligned([value], stmt, slot=target)[0]
            stmt.targets = [self.batch_index(target, stmt, gast.Store())]
            stmt.value = value
            return stmt
        bound = set(core.target_names(target))
        if not self.is_batched(value):
            if bound & self.batched:
                if isinstance(target, gast.Tuple) and isinstance(value, gast.Tuple) and \
                        len(target.elts) == len(value.elts) and not bound & set(core.names_read(value)):
                    return self.block([core.at(core.assign(t, v), stmt.lineno)
                                       for t, v in zip(target.elts, value.elts)])
                if not isinstance(target, gast.Name):
                    raise self.refusal(stmt.lineno, "unpacking unbatched values into batched names")
                stmt.value = self.broadcast(value)
            return stmt
        self.batched |= bound
        if isinstance(target, gast.Name) and self.is_user_call(value) and \
                self.program.output_arity(value.func.id) is not None:
            self.outputs.add(target.id)  # a tuple of batched outputs: indexing it picks one
        stmt.value = self.value(value, stmt)
        return stmt

    def select(self, stmt) -> list:
        """``if c: a = …`` on a batched ``c``: both branches computed, each result picked by ``np.where``."""
        test = stmt.test
        out = []
        if not isinstance(test, gast.Name):
            cond = self.namer.fresh("cond")
            self.fn.temps.add(cond)
            out.append(core.at(core.assign(cond, test), stmt.lineno))
            test = core.name(cond)
        picked = {}
        for branch, word in ((stmt.body, "if"), (stmt.orelse, "else")):
            renames = {}
            for s in self._plain_assignments(branch):
                s = core.substitute(s, renames)
                old = s.targets[0].id
                renames[old] = renames.get(old) or self.namer.fresh(f"{old}_{word}")
                if old in self.fn.temps:
                    self.fn.temps.add(renames[old])
                if old in self.ndims:
                    self.ndims[renames[old]] = self.ndims[old]
                s.targets = [core.name(renames[old], True)]
                out.append(s)
            for old, new in renames.items():
                picked.setdefault(old, {})[word] = new
        inside = Counter(n for branch in (stmt.body, stmt.orelse) for s in core.walk_statements(branch)
                         for n in core.names_read(core.own_expression(s)))
        for old, sides in picked.items():
            if self.reads[old] == inside[old]:  # read only inside the branches (a temporary of one of them)
                continue
            where = core.call(core.attr("np.where"), [core.clone(test), core.name(sides.get("if", old)),
                                                      core.name(sides.get("else", old))])
            out.append(core.at(core.assign(old, where), stmt.lineno))
        return out

    def _plain_assignments(self, branch) -> list:
        """A branch as plain assignments (inner branches made selects), or a refusal."""
        flat = []
        for s in branch:
            if isinstance(s, gast.If):
                flat += self._plain_assignments(self.select(s))
            elif isinstance(s, gast.AugAssign) and isinstance(s.target, gast.Name):
                value = gast.BinOp(left=core.name(s.target.id), op=s.op, right=s.value)
                flat.append(core.at(core.assign(s.target.id, value), s.lineno))
            elif isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name) and not self.is_user_call(s.value):
                flat.append(s)
            elif not isinstance(s, gast.Pass):
                raise self.refusal(s.lineno, "a branch on a batched value that does more than compute values "
                                             "(both sides of a select run for every example)")
        return flat

    # -- expressions -------------------------------------------------------------------

    def broadcast(self, value):
        return core.call(core.attr("rt.batch_broadcast"), [value, core.name(self.frame.size)])

    def ndim(self, expr, stmt) -> int:
        found = analysis.ndim_of(expr, self.ndims)
        if found is None:
            raise self.refusal(stmt.lineno, f"{ast_text(expr)}: its number of dimensions is not known")
        return found

    def aligned(self, operands, stmt, slot=None) -> list:
        """Batched operands given the axes they lack after the batch axis, so they broadcast per example."""
        ndims = [self.ndim(o, stmt) for o in operands]
        top = max(ndims) if slot is None else self.ndim(gast.Subscript(value=slot.value, slice=slot.slice,
                                                                       ctx=gast.Load()) if isinstance(slot, gast.Subscript) else slot, stmt)
        return [_expanded(o, top - d) if self.is_batched(o) and d < top else o for o, d in zip(operands, ndims)]

    def value(self, expr, stmt):
        if core.is_atom(expr) and not isinstance(expr, gast.Tuple):
            return expr
        if not all(_simple(child) for child in gast.iter_child_nodes(expr)):
            raise self.refusal(stmt.lineno, f"{ast_text(expr)}: a nested expression")
        if isinstance(expr, gast.Tuple):
            return core.tuple_([e if self.is_batched(e) else self.broadcast(e) for e in expr.elts])
        if isinstance(expr, gast.BinOp) and isinstance(expr.op, gast.MatMult):
            return self.dot(expr.left, expr.right, stmt)
        if isinstance(expr, gast.BinOp):
            expr.left, expr.right = self.aligned([expr.left, expr.right], stmt)
            return expr
        if isinstance(expr, gast.UnaryOp):
            return expr
        if isinstance(expr, gast.Compare):
            expr.left, *expr.comparators = self.aligned([expr.left, *expr.comparators], stmt)
            return expr
        if isinstance(expr, gast.Subscript) and isinstance(expr.value, gast.Name) and expr.value.id in self.outputs:
            return expr  # one of a helper's outputs, batched as a whole
        if isinstance(expr, gast.Subscript):
            return self.batch_index(expr, stmt, gast.Load())
        if isinstance(expr, gast.Call):
            return self.call(expr, stmt)
        raise self.refusal(stmt.lineno, f"{ast_text(expr)} on batched values")

    def call(self, expr, stmt):
        if self.is_user_call(expr):
            return self.user_call(expr, stmt)
        spelled = core.dotted_name(expr.func) or ""
        if any(self.is_batched(k.value) for k in expr.keywords):
            raise self.refusal(stmt.lineno, f"{spelled} with a batched keyword argument")
        if _on_arrays(spelled):
            spelled = _on_arrays(spelled)
            expr.func = core.attr(spelled)
        rule = registry.lookup_spelled(spelled)
        family = rule.family if rule else None
        if rule and rule.sequence and len(expr.args) == 1 and isinstance(expr.args[0], (gast.Tuple, gast.List)):
            return self.stack(expr, spelled, stmt)
        if family == shapes.ELEMENTWISE:
            expr.args = self.aligned(expr.args, stmt)
            return expr
        if family == shapes.REDUCTION and len(expr.args) == 1:
            return self.reduce(expr, stmt)
        if spelled in ("np.dot", "np.matmul") and len(expr.args) == 2 or \
                spelled == "np.vdot" and all(self.ndim(a, stmt) == 1 for a in expr.args):
            return self.dot(*expr.args, stmt)
        if spelled == "np.transpose" and len(expr.args) == 1:  # one example's axes reversed, the batch's kept
            d = self.ndim(expr.args[0], stmt)
            expr.args.append(core.tuple_([core.const(0), *(core.const(i) for i in range(d, 0, -1))]))
            return expr
        if spelled == "np.reshape" and len(expr.args) == 2 and not self.is_batched(expr.args[1]):
            shape = expr.args[1]
            sizes = shape.elts if isinstance(shape, gast.Tuple) else [shape] if self.ndim(shape, stmt) == 0 else None
            if sizes is None:
                raise self.refusal(stmt.lineno, f"{ast_text(expr)}: a reshape to a shape that is not spelled out")
            expr.args[1] = core.tuple_([core.name(self.frame.size), *sizes])
            return expr
        if rule and (rule.axes or rule.per_axis) and rule.jvp:
            return self.along_axes(expr, rule, spelled, stmt)
        raise self.refusal(stmt.lineno, f"a call to {spelled or ast_text(expr.func)} on batched values")

    def along_axes(self, expr, rule, spelled, stmt):
        """A call on its first operand alone, along constant axes (``rule.axes``): each axis moved one on,
        past the batch axis; an absent axis with an int default given one.  (``axis=None`` flattens the
        batch too, so that stays on the loop strategy.)"""
        if not expr.args or any(self.is_batched(a) for a in expr.args[1:]):
            raise self.refusal(stmt.lineno, f"{spelled} with batched operands besides the first")
        d = self.ndim(expr.args[0], stmt)
        keywords = {k.arg: k for k in expr.keywords}

        def given(name):
            position = rule.jvp.params.index(name)
            return keywords[name].value if name in keywords else \
                expr.args[position] if position < len(expr.args) else None

        def replace(name, node):
            position = rule.jvp.params.index(name)
            if name in keywords:
                keywords[name].value = node
            elif position < len(expr.args):
                expr.args[position] = node
            else:
                expr.keywords.append(gast.keyword(arg=name, value=node))

        for name in rule.axes:
            value = shapes.constant(given(name)) if given(name) is not None else rule.jvp.defaults.get(name)
            axes = value if isinstance(value, tuple) else (value,)
            if not axes or not all(isinstance(a, int) and -d <= a < d for a in axes):
                raise self.refusal(stmt.lineno, f"{ast_text(expr)}: {name} is not a constant axis")
            moved = [core.const(a % d + 1) for a in axes]
            replace(name, core.tuple_(moved) if isinstance(value, tuple) else moved[0])
        for name, same in rule.per_axis.items():
            value = shapes.constant(given(name)) if given(name) is not None else None
            if not (isinstance(value, tuple) and len(value) == d
                    and all(type(v) is type(same) and np.ndim(v) == np.ndim(same) for v in value)):
                raise self.refusal(stmt.lineno, f"{ast_text(expr)}: {name} is not a constant entry per axis")
            replace(name, _literal((same, *value)))
        for name in rule.matched:
            if given(name) is not None:
                replace(name, _leading(given(name)))
        return expr

    def reduce(self, expr, stmt):
        d = self.ndim(expr.args[0], stmt)
        axis = next((k for k in expr.keywords if k.arg == "axis"), None)
        if axis is None:
            if d == 0:
                return expr.args[0]
            reduced = core.const(1) if d == 1 else core.tuple_([core.const(i) for i in range(1, d + 1)])
            expr.keywords = [*expr.keywords, gast.keyword(arg="axis", value=reduced)]
            return expr
        axes = shapes.constant(axis.value)
        if not all(isinstance(a, int) for a in (axes if isinstance(axes, tuple) else (axes,))):
            raise self.refusal(stmt.lineno, f"{ast_text(expr)}: a reduction over axes that are not constants")
        if isinstance(axes, tuple):  # one example's axes, after the batch axis
            axis.value = core.tuple_([core.const(a % d + 1) for a in axes])
        else:
            axis.value = core.const(axes % d + 1)
        return expr

    def dot(self, a, b, stmt):
        da, db = self.ndim(a, stmt), self.ndim(b, stmt)
        ba, bb = self.is_batched(a), self.is_batched(b)
        if da == 0 or db == 0:
            a, b = self.aligned([a, b], stmt)
            return gast.BinOp(left=a, op=gast.Mult(), right=b)
        if da > 2 or db > 2:
            raise self.refusal(stmt.lineno, "a matrix product of arrays with more than two dimensions")
        matmul = gast.BinOp(left=a, op=gast.MatMult(), right=b)
        if ba and not bb or bb and db == 2 and not ba or da == db == 2:
            return matmul
        if bb and not ba:  # b is a vector per example: b @ aᵀ
            other = a if da == 1 else core.call(core.attr("np.transpose"), [a])
            return gast.BinOp(left=b, op=gast.MatMult(), right=other)
        if da == db == 1:
            product = gast.BinOp(left=a, op=gast.Mult(), right=b)
            return core.call(core.attr("np.sum"), [product], [("axis", core.const(1))])
        if da == 2:  # (m, k) @ (k,) per example
            column = gast.BinOp(left=a, op=gast.MatMult(), right=_expanded(b, 1, after=True))
            return gast.Subscript(value=column, slice=core.tuple_([gast.Slice(lower=None, upper=None, step=None)] * 2
                                                                   + [core.const(0)]), ctx=gast.Load())
        row = gast.BinOp(left=_expanded(a, 1), op=gast.MatMult(), right=b)  # (k,) @ (k, n) per example
        return gast.Subscript(value=row, slice=core.tuple_([gast.Slice(lower=None, upper=None, step=None),
                                                             core.const(0)]), ctx=gast.Load())

    def stack(self, expr, spelled, stmt):
        """``np.array([a, b])`` of batched values: stacked along axis 1, unbatched ones broadcast first."""
        parts = expr.args[0].elts
        if spelled == "np.concatenate" or spelled == "np.stack":
            axis = next((k for k in expr.keywords if k.arg == "axis"), None)
            if axis is not None and not isinstance(axis.value, gast.Constant):
                raise self.refusal(stmt.lineno, f"{spelled} along an axis that is not a constant")
            position = (axis.value.value if axis is not None else 0)
            if position < 0:
                raise self.refusal(stmt.lineno, f"{spelled} along a negative axis")
        elif spelled not in ("np.array", "np.asarray"):
            raise self.refusal(stmt.lineno, f"{spelled} of batched values")
        else:
            position = 0
            if expr.keywords:
                raise self.refusal(stmt.lineno, f"{spelled} with keyword arguments")
        ndims = [self.ndim(p, stmt) for p in parts]
        if len(set(ndims)) != 1:
            raise self.refusal(stmt.lineno, f"{spelled} of values with different numbers of dimensions")
        joined = [p if self.is_batched(p) else self.broadcast(p) for p in parts]
        function = "np.concatenate" if spelled == "np.concatenate" else "np.stack"
        return core.call(core.attr(function), [core.tuple_(joined)], [("axis", core.const(position + 1))])

    def batch_index(self, expr, stmt, ctx):
        """``x[i]`` of a batched ``x`` is ``x[:, i]``; of an unbatched ``x`` with batched integers, ``x[i]``."""
        parts = list(expr.slice.elts) if isinstance(expr.slice, gast.Tuple) else [expr.slice]
        if not self.is_batched(expr.value):
            if isinstance(ctx, gast.Store):
                raise self.refusal(stmt.lineno, "a write at batched indices")
            if any(isinstance(p, gast.Slice) for p in parts):
                raise self.refusal(stmt.lineno, "slicing with batched bounds")
            return expr
        if self.is_batched(expr.slice):
            raise self.refusal(stmt.lineno, "indexing a batched array with batched indices")
        every = gast.Slice(lower=None, upper=None, step=None)
        return gast.Subscript(value=expr.value, slice=core.tuple_([every, *parts]), ctx=ctx)

    def user_call(self, expr, stmt):
        """A helper called with batched arguments: its batched version (by the same strategy, if forced)."""
        if any(isinstance(a, gast.Tuple) for a in expr.args):
            raise self.refusal(stmt.lineno, "a helper called with a tuple of batched values")
        callee = expr.func.id
        arity = self.program.output_arity(callee)
        axes = Axes(inputs=tuple(0 if self.is_batched(a) else None for a in expr.args),
                    outputs=(0,) * (arity or 1), arity=arity)
        ndims = tuple(analysis.ndim_of(a, self.ndims) for a in expr.args)
        expr.func = core.name(self.program.batch(callee, axes, self.method, ndims))
        return expr


class _ExampleShapes(gast.NodeTransformer):
    """Shapes read of batched arrays are one example's: ``x.shape`` → ``x.shape[1:]``, ``len(x)`` → ``x.shape[1]``."""

    def __init__(self, batched):
        self.batched = batched

    def _of_batched(self, node) -> bool:
        return isinstance(node, gast.Name) and node.id in self.batched

    def visit_Attribute(self, node):
        if not self._of_batched(node.value) or node.attr not in ("shape", "ndim", "size"):
            return self.generic_visit(node)
        if node.attr == "shape":
            return gast.Subscript(value=node, slice=gast.Slice(lower=core.const(1), upper=None, step=None),
                                  ctx=gast.Load())
        if node.attr == "ndim":
            return gast.BinOp(left=node, op=gast.Sub(), right=core.const(1))
        first = gast.Subscript(value=node.value, slice=core.const(0), ctx=gast.Load())
        return gast.Attribute(value=first, attr="size", ctx=gast.Load())

    def visit_Subscript(self, node):
        """``x.shape[0]`` → ``x.shape[1]`` rather than ``x.shape[1:][0]``."""
        shape = node.value
        if isinstance(shape, gast.Attribute) and shape.attr == "shape" and self._of_batched(shape.value) \
                and isinstance(node.slice, gast.Constant) and isinstance(node.slice.value, int) \
                and node.slice.value >= 0:
            return gast.Subscript(value=shape, slice=core.const(node.slice.value + 1), ctx=gast.Load())
        return self.generic_visit(node)

    def visit_Call(self, node):
        spelled = core.dotted_name(node.func)
        if spelled in ("len", "np.shape") and len(node.args) == 1 and self._of_batched(node.args[0]):
            shape = gast.Attribute(value=node.args[0], attr="shape", ctx=gast.Load())
            index = core.const(1) if spelled == "len" else gast.Slice(lower=core.const(1), upper=None, step=None)
            return gast.Subscript(value=shape, slice=index, ctx=gast.Load())
        return self.generic_visit(node)


def _simple(node) -> bool:
    """An operand the rules can rewrite: an atom, an index or keyword of atoms, an operator, or a context."""
    if isinstance(node, (gast.expr_context, gast.operator, gast.unaryop, gast.cmpop)):
        return True
    if isinstance(node, gast.keyword):
        return core.is_atom(node.value)
    if isinstance(node, gast.Slice):
        return all(p is None or core.is_atom(p) for p in (node.lower, node.upper, node.step))
    if isinstance(node, (gast.Tuple, gast.List)):
        return all(_simple(e) for e in node.elts)
    return core.is_atom(node) or isinstance(node, gast.Attribute) and core.dotted_name(node) is not None


def _value_ndim(value):
    return np.ndim(value) if isinstance(value, (np.ndarray, int, float, np.number)) else None


def _result_ndims(fn: core.Function, arg_ndims) -> list:
    """Dimensions of what ``fn`` returns for arguments of ``arg_ndims`` (None where not known)."""
    arity = output_arity(fn)
    fn = one_return(fn, arity)
    known: dict = dict(zip(fn.params, arg_ndims))
    for _ in range(3):
        for stmt in core.walk_statements(fn.body):
            if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name):
                known[stmt.targets[0].id] = analysis.ndim_of(stmt.value, known)
    return [analysis.ndim_of(out, known) for out in outputs_of(fn, arity)]


def _expanded(expr, count, after=False):
    """``x[:, None]`` (``count`` new axes after the batch axis), or ``x[..., None]`` with ``after``."""
    lead = gast.Constant(value=Ellipsis, kind=None) if after else gast.Slice(lower=None, upper=None, step=None)
    return gast.Subscript(value=expr, slice=core.tuple_([lead] + [core.const(None)] * count), ctx=gast.Load())


def _literal(value):
    """A constant, tuples of constants included."""
    return core.tuple_([_literal(v) for v in value]) if isinstance(value, tuple) else core.const(value)


def _leading(expr):
    """``x[None]``: a leading axis of one, to broadcast against the batch axis."""
    return gast.Subscript(value=expr, slice=core.const(None), ctx=gast.Load())


def ast_text(node) -> str:
    return ast.unparse(gast.gast_to_ast(node))
