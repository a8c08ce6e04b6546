"""Forward mode: a core-form function → its JVP, also in core form.

Each statement that defines an active variable is preceded by the statement
that defines its tangent, instantiated from the primitive's rule (followed by
it, when the rule needs the primitive's result).  Control flow is kept as
it is: forward mode walks the program in its own order.
"""

from __future__ import annotations

import operator
from collections import Counter

import gast
import numpy as np

from .. import analysis, core
from ..errors import NoRuleError, UnsupportedSyntaxError, UnsupportedTransformError, located
from ..frontend.resolve import spelling
from ..rules import registry
from ..rules.template import Zero, is_zero, materialize


def jvp(fn: core.Function, varied_params, program, name: str, known_kinds=None) -> tuple[core.Function, tuple]:
    """The JVP of ``fn`` with respect to ``varied_params`` (``known_kinds``: as ``analysis.kinds`` takes them).

    Returns the new function, whose parameters are ``fn``'s followed by the
    tangents of the parameters that matter, and a mask saying which
    parameters those are.
    """
    activity = analysis.activity(fn, varied_params, lambda obj, mask: _callee_jvp(program, fn, obj, mask)[1])
    pass_ = _JVP(fn, activity, program, known_kinds)
    tangent_params = [p for p in fn.params if p in varied_params and activity.active(p)]
    prologue = [core.at(core.assign(pass_.tangent_name(p), pass_.zero_of(core.name(p))), fn.lineno)
                for p in fn.params if activity.active(p) and p not in tangent_params]
    prologue += [core.at(s, fn.lineno) for p in tangent_params for s in pass_.split_parameter(p)]
    body = prologue + pass_.block(fn.body)
    result = core.Function(
        name=name, params=fn.params + [pass_.tangent_name(p) for p in tangent_params], body=body,
        callees=fn.callees, constants=fn.constants, filename=fn.filename,
        source_lines=fn.source_lines, temps=fn.temps | pass_.tangent_temps, lineno=fn.lineno,
        linear=set(pass_.tangents.values()), primal_of={t: p for p, t in pass_.tangents.items()})
    return result, tuple(p in tangent_params for p in fn.params)


#: Functions that make complex values or take them apart: s2s's rules are for real values only.
_COMPLEX_FUNCTIONS = (complex, np.complex64, np.complex128, np.clongdouble, np.real, np.imag, np.conjugate,
                      np.angle, np.real_if_close)

#: Functions whose result is real whatever their argument: a complex value stops there.
_REAL_FUNCTIONS = (abs, np.abs, np.real, np.imag, np.angle)


def _makes_complex(node, constants) -> str | None:
    """What in ``node`` (a core-form expression) makes or takes apart complex values, or None."""
    for sub in gast.walk(node):
        if isinstance(sub, gast.Constant) and isinstance(sub.value, complex):
            return f"the complex literal {sub.value!r}"
        if isinstance(sub, gast.Call) and registry.primitive_of(sub, constants) in _COMPLEX_FUNCTIONS:
            return core.dotted_name(sub.func) or "a complex function"
    return None


def complex_names(fn: core.Function) -> set:
    """The variables of ``fn`` that may hold complex values (made by literals and complex functions,
    or computed from such variables by anything but a function with real results)."""
    assigns = [(stmt.targets if isinstance(stmt, gast.Assign) else [stmt.target], stmt.value)
               for stmt in core.walk_statements(fn.body) if isinstance(stmt, (gast.Assign, gast.AugAssign))]
    names: set = set()
    while True:
        before = len(names)
        for targets, value in assigns:
            if isinstance(value, gast.Call) and registry.primitive_of(value, fn.constants) in _REAL_FUNCTIONS:
                continue
            if _makes_complex(value, fn.constants) or names & set(core.names_read(value)):
                names.update(n for t in targets for n in core.target_names(t))
        if len(names) == before:
            return names


#: Sums, whose result has the shape of the operands broadcast together.
_SUMS = (operator.add, operator.sub, np.add, np.subtract)

#: How a rule's ``ans`` is spelled until we know where the result lives (not an identifier).
_ANS = "<ans>"


class _JVP:
    def __init__(self, fn, activity, program, known_kinds):
        self.fn, self.activity, self.program = fn, activity, program
        constants = {name: analysis.kind_of_value(value) for name, value in fn.constants.items()}
        self.known_kinds = known_kinds or {}
        self.kinds = analysis.kinds(fn, {**constants, **self.known_kinds})
        self.complex_names = complex_names(fn)
        self.mutated = core.mutated_names(fn.body)
        self.namer = fn.namer()
        self.tangents: dict = {}
        self.tangent_temps: set = set()
        self.elements: dict = {}  # a tuple-valued name → the names of its elements (see ``split``)
        self.sites = Counter(n for s in core.walk_statements(fn.body) for n in _written(s))

    # -- tangents of values ----------------------------------------------------

    def tangent_name(self, primal: str) -> str:
        if primal not in self.tangents:
            self.tangents[primal] = self.namer.fresh(f"{primal}_dot")
            if primal in self.fn.temps:
                self.tangent_temps.add(self.tangents[primal])
        return self.tangents[primal]

    def tangent_of(self, atom):
        """The tangent of an atom, or a ``Zero`` standing for it."""
        if isinstance(atom, gast.Name) and atom.id in self.elements:
            return core.tuple_(core.name(self.tangent_name(e)) for e in self.elements[atom.id])
        if isinstance(atom, gast.Name) and self.activity.active(atom.id):
            return core.name(self.tangent_name(atom.id))
        if isinstance(atom, (gast.Tuple, gast.List)):
            return type(atom)(elts=[self.tangent_of(e) for e in atom.elts], ctx=gast.Load())
        return Zero(atom)

    def zero_of(self, primal, value=None):
        """A concrete zero tangent for the value ``primal`` (defined by ``value``, when that tells more)."""
        if primal is None or core.is_constant(primal):
            return core.const(0.0)
        if value is not None and analysis.kind_of(value, self.kinds) == analysis.SCALAR:
            return core.const(0.0)
        if isinstance(primal, (gast.Tuple, gast.List)):
            return core.tuple_(self.zero_of(e) for e in primal.elts)
        kind = self.kinds.get(primal.id) if isinstance(primal, gast.Name) else None
        if kind == analysis.SCALAR:
            return core.const(0.0)
        helper = "np.zeros_like" if kind == analysis.ARRAY else "rt.zeros_like"
        return core.call(core.attr(helper), [core.load(primal)])

    def concrete(self, tangent):
        if is_zero(tangent):
            return self.zero_of(tangent.primal)
        return materialize(tangent, self.zero_of)

    # -- statements -------------------------------------------------------------

    def block(self, body) -> list:
        out = []
        for stmt in body:
            new = self.statement(stmt)
            for s in new:
                if getattr(s, "lineno", None) is None:
                    s.lineno = getattr(stmt, "lineno", None)  # (a generated ``pass`` has none)
            out.extend(new)
        return out

    def statement(self, stmt) -> list:
        if isinstance(stmt, (gast.Assign, gast.AugAssign)):
            self.refuse_complex(stmt)
        if isinstance(stmt, gast.Assign):
            target = stmt.targets[0]
            if isinstance(target, gast.Subscript):
                return self.index_write(stmt)
            if isinstance(target, gast.Tuple):
                return self.unpack(stmt)
            return self.assign(stmt)
        if isinstance(stmt, gast.AugAssign):
            return self.update(stmt)
        if isinstance(stmt, gast.Expr) and self.fn.is_user_call(stmt.value):
            call = self.user_call(stmt.value)
            return [gast.Expr(value=call)] if call is not None else [stmt]
        if isinstance(stmt, gast.Return):
            return [self.return_(stmt)]
        return [core.map_blocks(stmt, self.block)]

    def assign(self, stmt):
        t, value = stmt.targets[0].id, stmt.value
        if not self.changes_active([t], value):
            return [stmt]
        t_dot = core.name(self.tangent_name(t), store=True)
        if core.is_atom(value):
            tangent = self.concrete(self.tangent_of(value))
            return [stmt, *self.split(t, tangent)] if self.splits(t, value, tangent) else \
                [stmt, core.assign(t_dot, tangent)]
        if self.fn.is_user_call(value):
            call = self.user_call(value)
            if call is None:
                return [stmt, core.assign(t_dot, self.zero_of(core.name(t)))]
            return [core.assign(core.tuple_([core.name(t, True), t_dot], store=True), call)]
        tangent = self.rule_tangent(value, stmt)
        if is_zero(tangent):
            return [stmt, core.assign(t_dot, self.zero_of(core.name(t), value))]
        tangent = self.unshared(self.concrete(tangent), t, value)
        if self.splits(t, value, tangent):
            return [stmt, *self.split(t, core.substitute(tangent, {_ANS: t}))]
        reads = set(core.names_read(tangent))

        def tangent_statement(expr):
            # Kept with it: the primal's operands, which the tangent may not all read (``x - m`` has tangent
            # ``-m_dot`` where ``x`` is constant), so that transposition knows what was broadcast.
            new = core.assign(t_dot, expr)
            core.notes(new).primal_operands = core.operand_names(value)
            return new

        if _ANS not in reads:
            # The tangent needs only operands: it goes first, before the primal can overwrite any of
            # them, which also lets the values it uses be folded into it.
            return [tangent_statement(tangent), stmt]
        if t not in core.names_read(value) or t not in reads:
            # It needs the result, and no operand that the result overwrites: result first.
            return [stmt, tangent_statement(core.substitute(tangent, {_ANS: t}))]
        # It reads both the result and the operand the result overwrites.
        fresh = self.namer.fresh(f"{t}_new")
        self.fn.temps.add(fresh)
        return [core.assign(fresh, value), tangent_statement(core.substitute(tangent, {_ANS: fresh})),
                core.assign(t, core.name(fresh))]

    def splits(self, t, value, tangent) -> bool:
        """Is ``t`` a tuple (its tangent one) bound at one place, so that its elements can have names of their own?"""
        return isinstance(tangent, gast.Tuple) and self.sites[t] == 1 and t not in core.names_read(value) \
            and t not in self.fn.params

    def split_parameter(self, p) -> list:
        """``p_0, p_1 = p`` and ``p_0_dot, p_1_dot = p_dot`` for a parameter known to be a tuple of numbers
        and arrays, and never rebound: its elements read by index (``params[0]``) are then values of their
        own, whose cotangents make up ``p``'s, a tuple (no tuple is updated in place)."""
        kinds = self.known_kinds.get(p)
        indexed = any(isinstance(n, gast.Subscript) and isinstance(n.value, gast.Name) and n.value.id == p
                      for s in core.walk_statements(self.fn.body) for n in gast.walk(core.own_expression(s)))
        if not isinstance(kinds, tuple) or self.sites[p] or not indexed:  # (unpacked whole, it needs no split)
            return []
        names = [self.namer.fresh(f"{p}_{i}") for i in range(len(kinds))]
        for name_, kind in zip(names, kinds):
            self.fn.temps.add(name_)
            if isinstance(kind, int):
                self.kinds[name_], self.kinds.ndims[name_] = analysis.ARRAY, kind
            elif kind is not None:
                self.kinds[name_] = kind
        dots = [self.tangent_name(n) for n in names]
        self.elements[p] = names
        return [core.assign(core.tuple_([core.name(n, True) for n in names], store=True), core.name(p)),
                core.assign(core.tuple_([core.name(d, True) for d in dots], store=True),
                            core.name(self.tangent_name(p)))]

    def split(self, t, tangent) -> list:
        """``t_0 = t[0]; t_0_dot = <its tangent>; ...``: element ``i`` of a tuple and its tangent get names.

        Reads ``t[i]`` then take the tangent ``t_i_dot`` (see ``tangent_of``), so no tangent (and no
        cotangent) is a tuple that transposition would have to update element by element.
        """
        out, names = [], [self.namer.fresh(f"{t}_{i}") for i in range(len(tangent.elts))]
        for i, (name_, elt) in enumerate(zip(names, tangent.elts)):
            self.fn.temps.add(name_)
            read = gast.Subscript(value=core.name(t), slice=core.const(i), ctx=gast.Load())
            out += [core.assign(name_, read), core.assign(core.name(self.tangent_name(name_), True), elt)]
        self.elements[t] = names
        return out

    def unshared(self, tangent, t, value):
        """``tangent``, copied where it would be another tangent's memory (``+a``'s tangent is ``a_dot``)
        while the primal result is new memory, and one of the two is later written in place."""
        source = core.view_source(tangent)
        if source is None or core.view_source(value) is not None:
            return tangent
        primal = self.primal_of_tangent(source)
        if not {t, primal} & self.mutated:
            return tangent
        return core.call(core.attr("rt.copy"), [tangent])

    def primal_of_tangent(self, tangent_name):
        return next((p for p, d in self.tangents.items() if d == tangent_name), tangent_name)

    def refuse_complex(self, stmt):
        """An error if ``stmt`` gives a differentiated variable a complex value (a complex literal, or a
        function making or taking apart complex values): the rules would give a wrong derivative."""
        targets = stmt.targets if isinstance(stmt, gast.Assign) else [stmt.target]
        if not any(self.activity.active(n) for t in targets for n in core.target_names(t)):
            return
        what = _makes_complex(stmt.value, self.fn.constants)
        if what is None:
            read = sorted(self.complex_names & set(core.names_read(stmt.value)))
            named = [n for n in read if n not in self.fn.temps]
            what = (f"{named[0]}, which may be complex," if named else "a value computed from a complex one") \
                if read else None
        if what is not None:
            raise UnsupportedSyntaxError(
                f"s2s does not support complex values, and {what} is in differentiated code "
                "(write the computation with real and imaginary parts as separate floats)",
                self.fn.filename, stmt.lineno, self.fn.source_line(stmt.lineno))

    def rule_tangent(self, value, stmt):
        """The rule's tangent for ``value``; the primitive's result is spelled ``_ANS``."""
        prim = registry.primitive_of(value, self.fn.constants)
        rule = registry.lookup(prim)
        what = core.dotted_name(value.func) if isinstance(value, gast.Call) else registry.describe(prim)
        if rule is None or (rule.jvp is None and not rule.nondiff):
            advice = "register one with s2s.defjvp, or make the value not depend on the inputs"
            if (what or "").startswith("rt."):  # in s2s's own derivative code, read again to differentiate it
                advice = "this line's derivative calls it, so s2s cannot differentiate the line once more"
            raise NoRuleError(f"s2s has no derivative rule for {what}, and its result is differentiated ({advice})",
                              self.fn.filename, stmt.lineno, self.fn.source_line(stmt.lineno))
        if rule.nondiff:
            return Zero()
        args, keywords = registry.operands(value)
        problem = rule.jvp.unsupported(args, keywords)
        if problem:
            raise NoRuleError(f"s2s's derivative rule for {what} does not take {problem}",
                              self.fn.filename, stmt.lineno, self.fn.source_line(stmt.lineno))
        family = (spelling(prim) or "").startswith("math.")
        tangent = rule.jvp.instantiate(args, keywords, self.tangent_of, ans=core.name(_ANS),
                                       scalar_family=family, constants=self.fn.constants)
        return self.broadcast(tangent, prim, args)

    def broadcast(self, tangent, prim, args):
        """``tangent`` with the result's shape, where it is the tangent of one operand of a sum and the other
        operand, whose tangent is zero, may have more dimensions (``np.sum(x) + y`` varying ``x`` alone):
        a tangent always has its primal's shape, which transposition and batching rely on."""
        if prim not in _SUMS or len(args) != 2 or is_zero(tangent):
            return tangent
        dots = [self.tangent_of(a) for a in args]
        if is_zero(dots[0]) == is_zero(dots[1]):
            return tangent
        active, other = args if is_zero(dots[1]) else args[::-1]
        if not self.may_outrank(other, active):
            return tangent
        return gast.BinOp(left=tangent, op=gast.Mult(), right=core.call(core.attr("np.ones_like"), [core.load(other)]))

    def may_outrank(self, a, b) -> bool:
        """May ``a`` have more dimensions than ``b``?  Where the kinds tell: ``b`` a scalar and ``a`` not known
        to be one, or both of known dimensions.  (Where they do not, the operands are taken to agree: a
        broadcast there on every sum would cost each array sum a multiplication.)"""
        dims = analysis.dimensions(self.kinds)
        ndim_a, ndim_b = (analysis.ndim_of(n, dims) for n in (a, b))
        if ndim_a == 0:
            return False
        if ndim_b == 0:
            return True
        return ndim_a is not None and ndim_b is not None and ndim_a > ndim_b

    def index_write(self, stmt):
        target = stmt.targets[0]
        base = core.target_names(target)[0]
        if not self.activity.active(base):
            return [stmt]
        tangent = self.tangent_of(stmt.value)
        tangent = core.const(0.0) if is_zero(tangent) else self.concrete(tangent)
        sub = gast.Subscript(value=core.name(self.tangent_name(base)), slice=core.load(target.slice),
                             ctx=gast.Store())
        return [stmt, core.assign(sub, tangent)]

    def unpack(self, stmt):
        names = core.target_names(stmt.targets[0])
        value = stmt.value
        if not self.changes_active(names, value):
            return [stmt]
        dots = self.tangent_target(stmt.targets[0])
        if self.fn.is_user_call(value):
            call = self.user_call(value)
            if call is not None:
                return [core.assign(core.tuple_([stmt.targets[0], dots], store=True), call)]
        elif isinstance(value, gast.Tuple):
            tangents = core.tuple_(self.concrete(self.tangent_of(e)) for e in value.elts)
            return [core.assign(dots, tangents), stmt]  # reads old values, like the primal
        elif isinstance(value, gast.Name) and self.activity.active(value.id):
            return [stmt, core.assign(dots, self.concrete(self.tangent_of(value)))]
        zeros = [core.assign(core.name(self.tangent_name(n), True), self.zero_of(core.name(n)))
                 for n in names if self.activity.active(n)]
        return [stmt, *zeros]

    def update(self, stmt):
        """``x op= v``: in place, like the primal, so aliasing arrays stay aliased."""
        x = stmt.target.id
        if not self.activity.active(x):
            return [stmt]
        x_dot = self.tangent_name(x)
        v, v_dot = stmt.value, self.tangent_of(stmt.value)
        v_dot = None if is_zero(v_dot) else self.concrete(v_dot)

        def aug(op, value):
            return gast.AugAssign(target=core.name(x_dot, True), op=op, value=value)

        if isinstance(stmt.op, (gast.Add, gast.Sub)):
            return [stmt] + ([aug(stmt.op, v_dot)] if v_dot is not None else [])
        if isinstance(stmt.op, gast.Mult):  # d(x * v) = x_dot * v + x * v_dot, before x changes
            extra = [aug(gast.Add(), gast.BinOp(left=core.name(x), op=gast.Mult(), right=v_dot))] if v_dot else []
            return [aug(gast.Mult(), core.load(v)), *extra, stmt]
        # d(x / v) = (x_dot - (x / v) * v_dot) / v, after x changes
        extra = [aug(gast.Sub(), gast.BinOp(left=core.name(x), op=gast.Mult(), right=v_dot))] if v_dot else []
        return [stmt, *extra, aug(gast.Div(), core.load(v))]

    def changes_active(self, names, value) -> bool:
        """Does a statement binding ``names`` to ``value`` change an active value: a name, or an argument a call
        of the user's function writes into (whatever it returns)?"""
        written = analysis.written_arguments(value, self.fn) if self.fn.is_user_call(value) else []
        return any(self.activity.active(n) for n in [*names, *written])

    def tangent_target(self, target):
        """The tangents' names for the names ``target`` binds, nested as it is (``(a, b), c``)."""
        if isinstance(target, gast.Tuple):
            return core.tuple_([self.tangent_target(e) for e in target.elts], store=True)
        return core.name(self.tangent_name(target.id), True)

    def user_call(self, call):
        """``g_jvp(args..., tangents...)`` for a call to a user function, or None if nothing varies."""
        obj = self.fn.callees[call.func.id]
        mask = analysis.varied_mask(call, self.activity.varied)
        if not any(mask):
            return None
        name_, tangent_mask = _callee_jvp(self.program, self.fn, obj, mask)
        tangents = [self.concrete(self.tangent_of(a)) for a, m in zip(call.args, tangent_mask) if m]
        return core.call(core.name(name_), [core.load(a) for a in call.args] + tangents)

    def return_(self, stmt):
        if stmt.value is None:
            return stmt
        tangent = self.concrete(self.tangent_of(stmt.value))
        return core.at(gast.Return(value=core.tuple_([stmt.value, tangent])), stmt.lineno)


def _callee_jvp(program, caller, obj, mask) -> tuple:
    """The name and tangent mask of the JVP of ``obj``, which ``caller`` calls (a refusal names that line)."""
    try:
        return program.jvp(obj, mask)
    except UnsupportedTransformError as error:
        raise located(error, caller, obj) from None


def _written(stmt) -> list:
    """The names a statement binds (not counting writes into elements)."""
    if isinstance(stmt, gast.Assign):
        return [n for t in stmt.targets if not isinstance(t, gast.Subscript) for n in core.target_names(t)]
    if isinstance(stmt, gast.AugAssign) and isinstance(stmt.target, gast.Name):
        return [stmt.target.id]
    if isinstance(stmt, gast.For):
        return core.target_names(stmt.target)
    return []
