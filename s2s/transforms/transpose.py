"""Transposition: a linear program → its adjoint, which sends cotangents from outputs back to inputs.

The linear functions that partial evaluation makes map input tangents to an
output tangent.  Their transpose maps an output cotangent to one cotangent
per input.  The program runs backwards: each straight-line stretch first
computes the primal values it needs (saved values read back, cheap values
computed again; partial evaluation gave each its own name), then transposes
its linear statements last to first; loops run their trips in reverse and
branches take the recorded decisions.

Each tangent ``x_dot`` has a cotangent ``x_bar``.  A cotangent nobody has
contributed to yet is a symbolic zero: its first contribution is an
assignment, the next ones add, and a statement whose result has a zero
cotangent contributes nothing.  Before a loop or a branch, the cotangents it
adds to become real zeros (``np.zeros_like`` of the primal value, obtained by
partial evaluation for that purpose).

Primitives transpose by their rules (``rules/transposes.py``).  A contribution
through a broadcasting operation is summed down to the operand's shape; an
index read ``x_dot[i]`` becomes a scatter-add into ``x_bar``; an assignment
``t_dot = e`` hands ``t_bar`` to the tangents in ``e`` and then ``t_bar`` is
zero again.  A user function's linear part transposes to its own adjoint.
"""

from __future__ import annotations

import operator
from collections import Counter

import gast
import numpy as np

from .. import analysis, core
from ..errors import NonLinearError, NoRuleError, S2SError
from ..rules import registry

SCALAR, ARRAY = analysis.SCALAR, analysis.ARRAY


def transpose(lin: core.Function, name: str, adjoint_of, called=True) -> core.Function:
    """The adjoint of the linear function ``lin`` (from ``partial_eval``).

    ``adjoint_of(lin_name)`` gives the adjoint of a callee's linear function and the
    positions of the tangent parameters it writes into (None if ``lin_name`` is not one).
    The result takes the residuals, the output cotangent and the cotangents of the
    tangent parameters ``lin`` writes into, and returns a tuple with one cotangent per
    tangent parameter of ``lin``.  For a function the user calls (not ``called`` by generated
    code), a parameter it writes into is no output: its cotangent after the call is zero.
    """
    return _Transposer(lin, adjoint_of).run(name, called)


def witnesses(stmt, kinds, primal_of) -> list:
    """Tangents whose primal values transposing ``stmt`` needs: shapes to sum down to or to fill with zeros."""
    linear = set(primal_of)

    def kind(t):
        return kinds.get(primal_of.get(t))

    found = []
    if isinstance(stmt, gast.Expr):  # a helper writing into tangents: their cotangents are handed in, real zeros
        found += [a.id for a in stmt.value.args if isinstance(a, gast.Name) and a.id in linear and kind(a.id) != SCALAR]
    if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Tuple) and \
            not isinstance(stmt.value, gast.Tuple):  # cotangents handed on as a tuple need real zeros
        found += [t for t in core.target_names(stmt.targets[0]) if kind(t) != SCALAR]
    # and so do those of the tangents a helper writes into, handed in
    found += [t for t in sorted(getattr(core.notes(stmt), "writes", None) or ()) if kind(t) != SCALAR]
    value = stmt.value if isinstance(stmt, (gast.Assign, gast.AugAssign, gast.Return, gast.Expr)) else None
    if value is None:
        return found
    # Decided here, on the names of the JVP program, and kept with the statement for transposition.
    broadcasting = core.notes(stmt).broadcasting = _broadcasting(stmt, value, kinds, primal_of)
    whole = _uncopied(value)
    if broadcasting and isinstance(whole, gast.Name) and whole.id in linear and kind(whole.id) != SCALAR:
        found.append(whole.id)  # x_dot += v_dot, x_dot[i] = v_dot, t_dot = v_dot of t = v + c: summed down to v
    for node in gast.walk(value):
        if not core.names_in(node) & linear:
            continue
        if isinstance(node, gast.Subscript) and isinstance(node.value, gast.Name) and node.value.id in linear:
            found.append(node.value.id)
        _mark_matrix_product(node, kinds, primal_of)
        template = _template(node, None)
        if template is None:
            continue
        for param, operand in template.bind(*registry.operands(node)).items():
            atoms = operand.elts if isinstance(operand, (gast.Tuple, gast.List)) else [operand]
            for atom in atoms:
                if isinstance(atom, gast.Name) and atom.id in linear:
                    if template.needs_primal(param) or template.elementwise and broadcasting and kind(atom.id) != SCALAR:
                        found.append(atom.id)
                elif set(core.names_read(atom)) & linear and (
                        template.needs_primal(param) or template.elementwise and broadcasting
                        and _reads_whole(atom)):  # an expression of tangents
                    found += [n for n in core.names_read(atom) if n in linear and kind(n) != SCALAR]
    return found


def _uncopied(value):
    """``v_dot`` for ``rt.copy(v_dot)`` (a tangent made a value of its own, to be updated in place): what it
    copies may have been broadcast to the target's shape, as ``v_dot`` itself may."""
    return core.copied(value) or value


def _reads_whole(expr) -> bool:
    """Whether ``expr`` reshapes tangents (``np.expand_dims(w_dot, -1)``, ``rt.expand``), whose transpose
    takes a cotangent of exactly its shape: under a broadcasting elementwise operation that cotangent is
    first summed down to it (an elementwise operand sums itself down at its names)."""
    rule = registry.lookup(registry.primitive_of(expr, None)) if isinstance(expr, gast.Call) else None
    return rule is not None and rule.view and rule.transpose is not None


def _broadcasting(stmt, value, kinds, primal_of) -> bool:
    """Can values of different shapes meet in ``stmt``?  (Operands of two values that may be arrays;
    a tangent has its primal's shape, so ``x * x_dot`` is one.)  The operands are those of the tangent
    expression, the array it writes into, and those of the primal expression it is the tangent of (whose
    result, broadcast from all of them, is the tangent's shape)."""
    leaves = core.operand_names(value) + core.notes(stmt).primal_operands
    values = {primal_of.get(n, n) for n in leaves}
    if isinstance(stmt, gast.AugAssign):
        values.add(primal_of.get(stmt.target.id))
    arrays = sum(kinds.get(v) != SCALAR for v in values)
    if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Subscript):  # what x[i] holds
        target = stmt.targets[0]
        arrays += not kinds.element_is_scalar(primal_of.get(target.value.id), target.slice)
    return arrays >= 2


def _mark_matrix_product(node, kinds, primal_of):
    """Note on an ``@`` whether its operands are known to have two dimensions at most (then it
    transposes as ``np.dot``, whose rule needs no operand's shape; ``@``'s needs them, to sum over
    broadcast batch axes).  Decided on the JVP program's names, whose dimensions are known."""
    if registry.primitive_of(node, None) in (operator.matmul, np.matmul):
        def ndim(expr):  # an expression of tangents has the dimensions of the same one on the primals
            return kinds.ndim_of(core.substitute(expr, {t: primal_of[t] for t in core.names_read(expr) if t in primal_of}))
        node.matrices = all(n is not None and n <= 2 for n in map(ndim, registry.operands(node)[0][:2]))


def _template(node, constants):
    if not isinstance(node, (gast.BinOp, gast.UnaryOp, gast.Call)):
        return None
    prim = np.dot if getattr(node, "matrices", False) else registry.primitive_of(node, constants)
    rule = registry.lookup(prim)
    return rule.transpose if rule is not None else None


class _Transposer:
    def __init__(self, lin, adjoint_of):
        self.fn, self.adjoint_of = lin, adjoint_of
        self.linear = set(lin.linear)
        self.primal_of = lin.primal_of
        self.kinds = analysis.Kinds(lin.kinds, ndims=getattr(lin.kinds, "ndims", {}))
        self.namer = lin.namer()
        self.bars: dict = {}
        self.live: set = set()     # tangents whose cotangent holds a value (the others are zero)
        self.shared: set = set()   # array cotangents that may share memory: never updated in place
        self.temps: set = set()
        # Cotangents of the tangent parameters are results: they live outside every loop and branch.
        params = set(lin.params) & self.linear
        self.outside = {k: v | params for k, v in _names_outside_compounds(lin.body, self.linear).items()}
        self.stmt = lin        # the statement being transposed (for messages and witnesses)

    # -- cotangents --------------------------------------------------------------------

    def kind(self, t):
        return self.kinds.get(self.primal_of.get(t))

    def bar(self, t) -> str:
        if t not in self.bars:
            primal = self.primal_of.get(t, t)
            self.bars[t] = self.namer.fresh(f"{primal}_bar")
            self.kinds[self.bars[t]] = self.kind(t)
            if primal in self.kinds.ndims:
                self.kinds.ndims[self.bars[t]] = self.kinds.ndims[primal]
            if t in self.fn.temps:
                self.temps.add(self.bars[t])
        return self.bars[t]

    def zero(self, t, witness=None):
        """A zero cotangent for ``t``: ``0.0`` for a scalar, else zeros shaped like ``witness``."""
        if self.kind(t) == SCALAR:
            return core.const(0.0)
        if witness is None:
            witness = core.notes(self.stmt).witnesses.get(t)
        if witness is None:
            raise S2SError(f"internal error: no shape for the cotangent of {t} at line {self.stmt.lineno}")
        helper = "np.zeros_like" if self.kind(t) == ARRAY else "rt.zeros_like"
        return core.call(core.attr(helper), [core.name(witness)])

    def add(self, t, value, out):
        """``t_bar += value`` (an assignment if ``t_bar`` is zero so far)."""
        b = self.bar(t)
        if t not in self.live:
            aliasing = core.view_source(value) is not None
            out.append(core.assign(b, value))
            self.live.add(t)
            (self.shared.add if aliasing and self.kind(t) != SCALAR else self.shared.discard)(b)
        elif self.kind(t) == SCALAR or b not in self.shared and core.view_source(value) != b:
            # (``b += b.T`` in place would read what it writes: Numba does not guard against that.)
            out.append(gast.AugAssign(target=core.name(b, True), op=gast.Add(), value=value))
        else:
            out.append(core.assign(b, gast.BinOp(left=core.name(b), op=gast.Add(), right=value)))
            self.shared.discard(b)

    def own(self, t, out):
        """Make ``t_bar`` a real array of its own, ready to be written in place."""
        b = self.bar(t)
        if t not in self.live:
            out.append(core.assign(b, self.zero(t)))
            self.live.add(t)
        elif b in self.shared:
            out.append(core.assign(b, core.call(core.attr("rt.copy"), [core.name(b)])))
        self.shared.discard(b)

    # -- expressions ---------------------------------------------------------------------

    def is_linear(self, node) -> bool:
        return bool(core.names_in(node) & self.linear)

    def expression(self, expr, ct, out):
        """Hand the cotangent ``ct`` of ``expr``'s value to the tangents ``expr`` is made of."""
        if not self.is_linear(expr):
            return
        if isinstance(expr, gast.Name):
            self.add(expr.id, ct, out)
            return
        if isinstance(expr, (gast.Tuple, gast.List)):
            ct = self.atom(ct, out, "ct")
            for i, elt in enumerate(expr.elts):
                self.expression(elt, gast.Subscript(value=ct, slice=core.const(i), ctx=gast.Load()), out)
            return
        if isinstance(expr, gast.Subscript) and isinstance(expr.value, gast.Name) and expr.value.id in self.linear:
            self.scatter(expr.value.id, expr.slice, ct, out)
            return
        template = _template(expr, self.fn.constants)
        if template is None:
            what = core.dotted_name(expr.func) if isinstance(expr, gast.Call) else type(expr).__name__
            raise NoRuleError(f"s2s has no transposition rule for {what}", self.fn.filename, self.stmt.lineno,
                              self.fn.source_line(self.stmt.lineno))
        bound = template.bind(*registry.operands(expr))
        linear_params = [p for p, node in bound.items() if self.is_linear(node)]
        operands = {p: node for p, node in bound.items() if p not in linear_params}
        for p in linear_params:
            entry = template.entries[template.params.index(p)]
            if core.names_in(entry) & set(linear_params) - {p} or \
                    (isinstance(entry, gast.Constant) and entry.value is None):
                raise NonLinearError("this statement is not linear in the inputs (it multiplies or divides "
                                     "by a value that depends on them)", self.fn.filename, self.stmt.lineno,
                                     self.fn.source_line(self.stmt.lineno))
        ct = self.atom(ct, out, "ct") if len(linear_params) > 1 or template.shared else ct
        shared = {}
        if template.shared:
            primals = {p: self.witness_of(bound[p]) for p in linear_params}
            for name, value in template.shared_values(operands, ct, primals, self.fn.constants, shared):
                shared[name] = self.keep(value, out, name)
        for p in linear_params:
            node = bound[p]
            if isinstance(node, (gast.Tuple, gast.List)):
                self.sequence(template, p, node, operands, ct, out)
                continue
            primal = None
            if template.needs_primal(p):
                primal = self.witness_of(node)
                if primal is None:
                    raise S2SError(f"{self.fn.filename}:{self.stmt.lineno}: s2s cannot tell the shape of a "
                                   f"tangent here, which transposing {registry.describe(registry.primitive_of(expr, self.fn.constants))} "
                                   f"needs\n    {self.fn.source_line(self.stmt.lineno)}")
            contribution = template.contribution(p, operands, ct, primal, constants=self.fn.constants,
                                                 shared=shared)
            if template.elementwise and isinstance(node, gast.Name):
                contribution = self.reduce(contribution, node.id)
            elif template.elementwise and self.broadcasting and _reads_whole(node):
                contribution = core.call(core.attr("rt.unbroadcast"), [contribution, self.witness_of(node)])
            self.expression(node, contribution, out)

    def sequence(self, template, p, node, operands, ct, out):
        """Transpose through a tuple of tangents: element ``i`` gets piece ``i`` of the contribution."""
        primal = core.tuple_(self.witness_of(e) or (core.clone(e) if not set(core.names_read(e)) & self.linear
                                                     else core.const(None)) for e in node.elts)  # (a zero is its own)
        uses_index = "index" in core.names_in(template.entries[template.params.index(p)])
        constants = self.fn.constants
        whole = None if uses_index else self.atom(template.contribution(p, operands, ct, primal, constants=constants),
                                                  out, "ct")
        for i, elt in enumerate(node.elts):
            piece = template.contribution(p, operands, ct, primal, index=i, constants=constants) if uses_index else \
                gast.Subscript(value=whole, slice=core.const(i), ctx=gast.Load())
            self.expression(elt, piece, out)

    def witness_of(self, node):
        """A primal value shaped like the tangent ``node``, or None.

        For an expression of tangents, the same expression on their primal values (it is linear in
        the tangents, whose shapes are their primals'): computed again, where a transposition needs it.
        """
        names = core.notes(self.stmt).witnesses
        if isinstance(node, gast.Name) and node.id in self.linear:
            return core.name(names[node.id]) if node.id in names else None
        mapping = {}
        for t in core.names_read(node):
            if t in self.linear and self.kind(t) == SCALAR:
                mapping[t] = core.const(0.0)
            elif t in self.linear:
                if t not in names:
                    return None
                mapping[t] = core.name(names[t])
        return core.substitute(node, mapping) if mapping else None

    def reduce(self, value, t):
        """``value`` summed down to the shape of ``t`` where broadcasting may have made it larger."""
        if self.kind(t) == SCALAR:
            if analysis.kind_of(value, self.kinds) == SCALAR:
                return value
            return core.call(core.attr("rt.total"), [value])
        if not self.broadcasting:
            return value
        return core.call(core.attr("rt.unbroadcast"), [value, self.witness_of(core.name(t))])

    def whole(self, ct, value):
        """The cotangent of a value that may have been broadcast to the shape of what it is written into
        (``x_dot += v_dot``, ``x_dot[i] = v_dot``, ``t_dot = v_dot`` of ``t = v + c``), summed down to its
        shape (``rt.copy(v_dot)`` too); an expression sums its own operands down."""
        value = _uncopied(value)
        return self.reduce(ct, value.id) if isinstance(value, gast.Name) and value.id in self.linear else ct

    def scatter(self, t, index, ct, out):
        """The transpose of reading ``t_dot[index]``: ``t_bar[index] += ct``.

        A number indexed (``s[None]``, ``s[...]``) only gains axes: its cotangent is the sum of ``ct``.
        """
        if self.kind(t) == SCALAR:
            self.add(t, core.call(core.attr("rt.total"), [ct]), out)
            return
        self.own(t, out)
        target = gast.Subscript(value=core.name(self.bar(t)), slice=core.load(index), ctx=gast.Store())
        if _plain_index(index, self.kinds):
            out.append(gast.AugAssign(target=target, op=gast.Add(), value=ct))
        else:
            out.append(gast.Expr(value=core.call(core.attr("rt.add_at"), [core.name(self.bar(t)), _index_value(index), ct])))

    def atom(self, expr, out, hint):
        """``expr`` as a name (bound to a new temporary when it is not one)."""
        if core.is_atom(expr):
            return expr
        return self.keep(expr, out, hint)

    def keep(self, expr, out, hint):
        """``expr``'s value in a new temporary (which later statements cannot change)."""
        t = self.namer.fresh(hint)
        self.temps.add(t)
        self.kinds[t] = analysis.kind_of(expr, self.kinds)
        out.append(core.assign(t, expr))
        return core.name(t)

    # -- statements ----------------------------------------------------------------------

    def adjoint(self, stmt) -> list:
        """The transpose of one linear statement."""
        self.stmt = stmt
        value = stmt.value
        self.broadcasting = core.notes(stmt).broadcasting
        out: list = []
        if isinstance(stmt, gast.Return):
            self.expression(value, core.name(self.ct_param), out)
        elif isinstance(stmt, gast.AugAssign):
            self.update(stmt, out)
        elif isinstance(stmt, gast.Expr) and self.is_call(value):  # a helper writing into its arguments
            self.call(value, [], out)
        elif isinstance(stmt, gast.Expr):
            raise S2SError(f"{self.fn.filename}:{stmt.lineno}: s2s cannot transpose this call\n    "
                           f"{self.fn.source_line(stmt.lineno)}")
        elif isinstance(stmt.targets[0], gast.Subscript):
            self.index_write(stmt, out)
        elif isinstance(stmt.targets[0], gast.Tuple):
            self.unpack(stmt, out)
        elif self.is_call(value):
            self.call(value, [stmt.targets[0].id], out)
        elif _accumulates(stmt) and not self.broadcasting:  # x_dot = x_dot + e is x_dot += e (if x keeps its shape)
            self.update(gast.AugAssign(target=core.name(stmt.targets[0].id, True), op=stmt.value.op,
                                       value=stmt.value.right, lineno=stmt.lineno), out)
        else:
            t = stmt.targets[0].id
            if t not in self.live:
                return []
            ct = core.name(self.bar(t))
            if t in core.names_in(value):  # x_dot = a * x_dot + ...: hand on the old cotangent
                ct = self.keep(ct, out, f"{self.bar(t)}_old")
            self.live.discard(t)
            self.expression(value, self.whole(ct, value), out)
        for s in out:
            core.at(s, stmt.lineno)
        return out

    def is_call(self, value) -> bool:
        return isinstance(value, gast.Call) and isinstance(value.func, gast.Name) and \
            self.adjoint_of(value.func.id) is not None

    def call(self, value, targets, out, target=None):
        """``t_dot = g_lin(residuals, a_dot, ...)`` → ``cts = g_adjoint(residuals, t_bar, ...)``.

        A tangent argument the callee writes into hands in its cotangent after the call and
        gets back its cotangent before it (the callee's adjoint adds to it what flows back); zero where
        the call rebinds its name (``h, x = step(h, x)``, ``h`` written and returned): the cotangent of
        what ``h`` holds after the call is the output's.
        """
        adjoint, written = self.adjoint_of(value.func.id)
        residuals, *args = value.args
        if not any(t in self.live for t in targets) and not any(args[i].id in self.live for i in written):
            return
        def cotangent(t):
            return core.name(self.bar(t)) if t in self.live else self.zero(t)

        def nested(node):  # (a, b), c = g(...): the cotangents nested as the results are
            return core.tuple_([nested(e) for e in node.elts]) if isinstance(node, gast.Tuple) else cotangent(node.id)

        if target is not None:
            ct = nested(target)
        else:
            cts = [cotangent(t) for t in targets]
            ct = cts[0] if len(cts) == 1 else core.tuple_(cts) if cts else core.const(0.0)
        handed = []
        for i in written:
            name = args[i].id
            if name in targets:  # rebound by the call: what it holds after is an output, handed in as that
                handed.append(self.zero(name))
                continue
            if name not in self.live:
                out.append(core.assign(self.bar(name), self.zero(name)))
                self.live.add(name)
            handed.append(core.name(self.bar(name)))
        result = self.keep(core.call(core.name(adjoint), [residuals, ct, *handed]), out, "cts")
        for t in targets:
            self.live.discard(t)
        for i, arg in enumerate(args):
            piece = gast.Subscript(value=result, slice=core.const(i), ctx=gast.Load())
            if i in written:  # the whole cotangent before the call
                out.append(core.assign(self.bar(arg.id), piece))
                self.shared.add(self.bar(arg.id))
                self.live.add(arg.id)
            else:
                self.expression(arg, piece, out)

    def unpack(self, stmt, out):
        targets = core.target_names(stmt.targets[0])
        value = stmt.value
        if self.is_call(value):
            self.call(value, targets, out, stmt.targets[0])
            return
        if isinstance(value, gast.Tuple):  # a parallel assignment: where a name is bound twice, the last one holds
            final = dict(zip(targets, value.elts))
            cts = {t: core.name(self.bar(t)) for t in final if t in self.live}
            if set(targets) & core.names_in(value):
                cts = {t: self.keep(ct, out, f"{self.bar(t)}_old") for t, ct in cts.items()}
            for t in targets:
                self.live.discard(t)
            for t, elt in final.items():
                if t in cts:
                    self.expression(elt, cts[t], out)
            return
        if any(t in self.live for t in targets):  # a, b = t_dot
            ct = core.tuple_(core.name(self.bar(t)) if t in self.live else self.zero(t) for t in targets)
            for t in targets:
                self.live.discard(t)
            self.expression(value, ct, out)

    def index_write(self, stmt, out):
        """``x_dot[i] = e``: ``e`` gets ``x_bar[i]`` (summed down to its shape), which is zero afterwards.

        The cotangent is taken out before ``x_bar[i]`` is cleared: a copy, unless it is one element.
        """
        target = stmt.targets[0]
        t = target.value.id
        if t not in self.live:
            return
        self.own(t, out)
        part = gast.Subscript(value=core.name(self.bar(t)), slice=core.load(target.slice), ctx=gast.Load())
        if not _plain_index(target.slice, self.kinds):  # where indices repeat, only the last write counts
            part = core.call(core.attr("rt.written_part"), [core.name(self.bar(t)), _index_value(target.slice)])
        elif not self.kinds.element_is_scalar(self.primal_of.get(t), target.slice):
            part = core.call(core.attr("rt.copy"), [part])
        ct = self.keep(part, out, f"{self.bar(t)}_part")
        out.append(core.assign(gast.Subscript(value=core.name(self.bar(t)), slice=core.load(target.slice),
                                              ctx=gast.Store()), core.const(0.0)))
        self.expression(stmt.value, self.whole(ct, stmt.value), out)

    def update(self, stmt, out):
        """``x_dot += e``, ``x_dot -= e``, ``x_dot *= c``, ``x_dot /= c``."""
        t = stmt.target.id
        if t not in self.live:
            return
        b = core.name(self.bar(t))
        if isinstance(stmt.op, (gast.Add, gast.Sub)):
            if t in core.names_in(stmt.value):  # x_dot += a * x_dot + ...: what flows on is the old cotangent
                b = self.keep(b, out, f"{self.bar(t)}_old")
            ct = b if isinstance(stmt.op, gast.Add) else gast.UnaryOp(op=gast.USub(), operand=b)
            self.expression(stmt.value, self.whole(ct, stmt.value), out)
            return
        if self.is_linear(stmt.value):
            raise NonLinearError("this statement is not linear in the inputs", self.fn.filename, stmt.lineno,
                                 self.fn.source_line(stmt.lineno))
        if self.kind(t) == SCALAR or self.bar(t) not in self.shared:
            out.append(gast.AugAssign(target=core.name(self.bar(t), True), op=stmt.op, value=stmt.value))
        else:
            out.append(core.assign(self.bar(t), gast.BinOp(left=b, op=stmt.op, right=stmt.value)))
            self.shared.discard(self.bar(t))

    # -- blocks ------------------------------------------------------------------------

    def block(self, body) -> list:
        """A block run backwards: stretches last to first, each computing its primal values first."""
        pieces, stretch, prelude, step = [], [], [], None
        for stmt in body:
            if core.sub_blocks(stmt):
                pieces.append((stretch, step, prelude, stmt))
                stretch, prelude, step = [], [], None
            elif core.notes(stmt).prelude:
                prelude.append(stmt)
            elif core.notes(stmt).counter:
                step = stmt
            else:
                stretch.append(stmt)
        pieces.append((stretch, step, prelude, None))
        out = []
        for stretch, step, prelude, compound in reversed(pieces):
            if step is not None:
                out.append(_decrement(step))
            if compound is not None:
                transposed = self.compound(compound)
                out += [_decrement(s) for s in prelude if core.notes(s).counter]
                out += _needed([s for s in prelude if not core.notes(s).counter], transposed)
                out += transposed
            linear = [s for s in stretch if self.writes_tangents(s)]
            out += [core.clone(s) for s in stretch if not self.writes_tangents(s)]
            for stmt in reversed(linear):
                out += self.adjoint(stmt)
        return out

    def writes_tangents(self, stmt) -> bool:
        if isinstance(stmt, gast.Return):
            return True
        if isinstance(stmt, gast.Expr):
            return self.is_linear(stmt)
        return bool(set(core.target_names(stmt.targets[0] if isinstance(stmt, gast.Assign) else stmt.target))
                    & self.linear) if isinstance(stmt, (gast.Assign, gast.AugAssign)) else False

    def compound(self, stmt) -> list:
        """A loop run backwards, or a branch: cotangents that cross it are real values on every path."""
        self.stmt = stmt
        crossing = sorted(_names_in_compound(stmt, self.linear) & self.outside[id(stmt)])
        read_inside = core.exposed_reads([stmt]) & self.linear
        out = []
        for t in crossing:
            if t not in self.live and t in read_inside:
                out.append(core.at(core.assign(self.bar(t), self.zero(t)), stmt.lineno))
                self.live.add(t)
                self.shared.discard(self.bar(t))
            elif t in self.live and self.bar(t) in self.shared and self.kind(t) != SCALAR:  # owned once, before it
                out.append(core.at(core.assign(self.bar(t), core.call(core.attr("rt.copy"),
                                                                      [core.name(self.bar(t))])), stmt.lineno))
                self.shared.discard(self.bar(t))
        entry_live = set(self.live)
        if isinstance(stmt, gast.For):
            body = self.branch(stmt.body, crossing, entry_live)
            new = gast.For(target=core.clone(stmt.target), iter=_reversed_range(stmt.iter), body=body,
                           orelse=[], type_comment=None)
        else:
            body = self.branch(stmt.body, crossing, entry_live)
            self.live = set(entry_live)
            orelse = self.branch(stmt.orelse, crossing, entry_live)
            orelse = [] if all(isinstance(s, gast.Pass) for s in orelse) else orelse
            new = gast.If(test=core.clone(stmt.test), body=body, orelse=orelse)
        self.live = entry_live | (self.live & set(crossing))
        out.append(core.at(new, stmt.lineno))
        return out

    def branch(self, body, crossing, entry_live) -> list:
        """One path through a compound; crossing cotangents live at its start are live at its end."""
        self.live = set(entry_live)
        out = self.block(body)
        for t in crossing:
            if t in entry_live and t not in self.live:
                b = self.bar(t)
                zero = core.const(0.0) if self.kind(t) == SCALAR else core.call(
                    core.attr("np.zeros_like" if self.kind(t) == ARRAY else "rt.zeros_like"), [core.name(b)])
                out.append(core.assign(b, zero))
                self.live.add(t)
                self.shared.discard(b)
        for s in out:
            if getattr(s, "lineno", None) is None:
                s.lineno = self.stmt.lineno
        return out or [gast.Pass()]

    # -- the function ------------------------------------------------------------------

    def run(self, name, called) -> core.Function:
        fn = self.fn
        residuals, *tangent_params = fn.params
        body = list(fn.body)
        head = []
        while body and (core.notes(body[0]).counter_start or
                        isinstance(body[0], gast.Assign) and core.names_read(body[0].value) == [residuals]):
            stmt = body.pop(0)
            if core.notes(stmt).counter_start:  # counted down from the number of entries
                counter = core.notes(stmt).counter_start
                stmt = core.at(core.assign(counter, core.call(core.name("len"), [core.name(fn.counters[counter][0])])),
                               stmt.lineno)
                core.notes(stmt).counter_start = counter
            head.append(core.clone(stmt))
        ret = body[-1] if body and isinstance(body[-1], gast.Return) else core.at(gast.Return(value=None), fn.lineno)
        returned = ret.value
        # Tangent parameters the function writes into: their cotangents after it come in as arguments
        # (or are zero, for the function the user calls).
        written = written_parameters(fn, self.adjoint_of)
        output = returned.id if isinstance(returned, gast.Name) and returned.id in self.linear else None
        if output is not None:
            self.ct_param = self.bar(output)
            if output in written and called:  # it returns a parameter it writes into: the two cotangents add up
                self.ct_param = self.namer.fresh("out_bar")
                head.append(core.at(core.assign(self.bar(output), gast.BinOp(
                    left=core.name(self.bar(output)), op=gast.Add(), right=core.name(self.ct_param))), fn.lineno))
            self.live.add(output)
            if self.kind(output) != SCALAR:  # the caller's array
                self.shared.add(self.ct_param)
            body = body[:-1]
        else:  # a function returning nothing takes a cotangent it does not use
            self.ct_param = self.namer.fresh("out_bar" if returned is not None else "unused")
            body = [s for s in body if s is not ret or returned is not None]
        for t in written:
            if not called and t != output:  # (the output's cotangent is the one given)
                head.append(core.at(core.assign(self.bar(t), self.zero(t, fn.param_witnesses.get(t))), fn.lineno))
            self.live.add(t)
            if not (called and t == output):  # (the sum above is an array of its own)
                self.shared.add(self.bar(t))
        if not called:
            written = []
        transposed = self.block(body)
        results = []
        for t in tangent_params:
            self.stmt = ret
            if t in self.live:
                results.append(core.name(self.bar(t)))
            else:
                witness = fn.param_witnesses.get(t)
                results.append(self.zero(t, witness))
        final = core.at(gast.Return(value=core.tuple_(results)), ret.lineno)
        adjoint = core.Function(
            name=name, params=[residuals, self.ct_param, *[self.bar(t) for t in written]], body=head + transposed + [final],
            callees=fn.callees, constants=fn.constants, filename=fn.filename, source_lines=fn.source_lines,
            temps=self.temps | (fn.temps - self.linear), lineno=fn.lineno, linear=set(self.bars.values()))
        adjoint.counters = fn.counters
        return adjoint


def written_parameters(lin, adjoint_of) -> list:
    """The tangent parameters a linear function writes into (a helper setting boundary values, say): itself,
    or through the linear functions it passes them to (``adjoint_of`` says which of theirs those write)."""
    written = core.mutated_names(lin.body)
    for stmt in core.walk_statements(lin.body):
        value = getattr(stmt, "value", None)
        if isinstance(value, gast.Call) and isinstance(value.func, gast.Name):
            found = adjoint_of(value.func.id)
            if found is not None:
                written |= {value.args[1:][i].id for i in found[1]}
    return [t for t in lin.params[1:] if t in written and not analysis.copied_first(lin, t)]


def _needed(prelude, consumers) -> list:
    """The prelude statements whose values ``consumers`` use (directly or through each other)."""
    needed = core.exposed_reads(consumers)
    kept = []
    for stmt in reversed(prelude):
        if core.written_names(stmt) & needed:
            kept.append(core.clone(stmt))
            needed.update(core.names_read(stmt))
    return kept[::-1]


def _decrement(step):
    counter = core.notes(step).counter
    stmt = core.at(gast.AugAssign(target=core.name(counter, True), op=gast.Sub(), value=core.const(1)),
                   getattr(step, "lineno", None))
    core.notes(stmt).counter = counter
    return stmt


def _accumulates(stmt) -> bool:
    """``t = t + e`` or ``t = t - e`` with ``t`` not in ``e``."""
    value, t = stmt.value, stmt.targets[0].id
    return isinstance(value, gast.BinOp) and isinstance(value.op, (gast.Add, gast.Sub)) and \
        isinstance(value.left, gast.Name) and value.left.id == t and t not in core.names_in(value.right)


def _plain_index(index, kinds) -> bool:
    """An index that names each element once (``+=`` through it is a scatter-add): ints and slices."""
    if isinstance(index, gast.Tuple):
        return all(_plain_index(e, kinds) for e in index.elts)
    if isinstance(index, gast.Slice) or core.is_constant(index):
        return True
    if isinstance(index, gast.Name):
        return kinds.get(index.id) == SCALAR
    return isinstance(index, (gast.BinOp, gast.UnaryOp))


def _index_value(index):
    """An index as a value a helper can be passed: ``x[:, i]``'s is ``(slice(None, None, None), i)``."""
    if isinstance(index, gast.Tuple):
        return core.tuple_(_index_value(e) for e in index.elts)
    if isinstance(index, gast.Slice):
        return core.call(core.name("slice"), [core.load(p) if p is not None else core.const(None)
                                              for p in (index.lower, index.upper, index.step)])
    return core.load(index)


def _reversed_range(iter_):
    """``range(a, b, c)`` with its values in the opposite order."""
    args = iter_.args
    start, stop, step = (core.const(0), args[0], None) if len(args) == 1 else \
        (args[0], args[1], args[2] if len(args) == 3 else None)
    one = step is None or (isinstance(step, gast.Constant) and step.value == 1)
    from ..rules.template import simplify
    if one:
        last = gast.BinOp(left=core.clone(stop), op=gast.Sub(), right=core.const(1))
        end = gast.BinOp(left=core.clone(start), op=gast.Sub(), right=core.const(1))
        return core.call(core.name("range"), [simplify(last), simplify(end), core.const(-1)])
    count = core.call(core.name("len"), [core.call(core.name("range"), [start, stop, step])])
    last = gast.BinOp(left=core.clone(start), op=gast.Add(),
                      right=gast.BinOp(left=gast.BinOp(left=count, op=gast.Sub(), right=core.const(1)),
                                       op=gast.Mult(), right=core.clone(step)))
    end = gast.BinOp(left=core.clone(start), op=gast.Sub(), right=core.clone(step))
    return core.call(core.name("range"), [simplify(last), simplify(end),
                                          simplify(gast.UnaryOp(op=gast.USub(), operand=core.clone(step)))])


def _own_names(stmt, linear) -> Counter:
    return Counter(n for n in core.names_read(core.own_expression(stmt)) + _written(stmt) if n in linear)


def _written(stmt) -> list:
    if core.sub_blocks(stmt):
        return []
    return list(core.written_names(stmt))


def _names_in_compound(stmt, linear) -> set:
    names = set()
    for s in core.walk_statements([stmt]):
        names |= set(_own_names(s, linear))
    return names


def _names_outside_compounds(body, linear) -> dict:
    """For each compound statement: the linear names used by statements outside it."""
    total = Counter()
    for s in core.walk_statements(body):
        total.update(_own_names(s, linear))
    outside = {}
    for s in core.walk_statements(body):
        if core.sub_blocks(s):
            inside = Counter()
            for nested in core.walk_statements([s]):
                inside.update(_own_names(nested, linear))
            outside[id(s)] = {n for n in total if total[n] > inside[n]}
    return outside
