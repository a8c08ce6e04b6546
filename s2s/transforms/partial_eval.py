"""Partial evaluation: a JVP program → its primal part and its linear part.

A JVP program interleaves primal statements and tangent statements.  Tangent
statements read primal values (the coefficients ``np.cos(x)`` of
``np.cos(x) * x_dot``, indices, branch decisions, loop bounds) but never feed
them.  Partial evaluation splits the program in two:

* the *forward* function runs the primal statements and returns the outputs
  with the *residuals*: the primal values the tangent statements need;
* the *linear* function takes the residuals and the input tangents and runs
  only the tangent statements, replaying the primal's control flow.

The linear function gets each primal value it reads in one of three ways:

* values that never change after they are computed (parameters, top-level
  values assigned once) are residuals passed as they are;
* cheap values computed in the same straight-line stretch of code (``1.0 - x``,
  ``x[i]``, ``n - 1``, ``len(x)``) are computed again from values it has;
* everything else is *saved* where the forward function computes it: onto a
  tape (a list) inside loops and branches, one entry per execution, as a
  residual at the top level.  The linear function reads tape entries back by
  a counter, one per straight-line stretch of code.

Values a loop body reads but never changes are obtained once, before the loop.
Branch decisions are saved like any other value; loops replay with their
recorded trip count when they can end early (``while``, ``break``).  The linear
function is free of ``break``/``continue``, so it can be transposed.

Within each straight-line stretch, every value the linear function obtains
has its own name (``x`` before the stretch rebinds it, ``x_1`` after), so that
transposition can compute them all before running the stretch backwards.
Statements are marked for transposition: ``restore`` (reads a tape entry by
counter), ``counter`` (advances a counter), ``prelude`` (computes what the
header of the following loop or branch needs).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import gast

from .. import analysis, core
from ..optimize import impure
from ..errors import NonLinearError
from ..rules import registry
from ..rules.template import simplify
from . import control

#: Calls whose results are cheaper to compute again than to save.

@dataclass
class Split:
    """The two halves of a JVP program."""

    forward: core.Function
    linear: core.Function


def partial_eval(jvp_fn: core.Function, fwd_name: str, lin_name: str, witnesses=None, nonlinear=None,
                 known_kinds=None, aux=None, remat=None) -> Split:
    """Split ``jvp_fn`` (single exit, user calls already split) into forward and linear functions.

    ``witnesses(stmt, kinds, primal_of)`` names the tangents whose primal values a later pass
    needs at ``stmt`` (transposition needs some, for shapes); ``nonlinear``, if given, is the set
    of names that depend on the inputs: the linear function may not read them
    (``linear_transpose`` of a function that is not linear).  ``known_kinds`` gives the kinds the
    caller knows (of the parameters, bound constants, results of helpers).  ``aux``: an atom the
    forward function returns beside the output, as ``(output, aux)``.  ``remat``: a checkpoint policy; the
    linear function computes again every value of a plain assignment the policy does not save, rather than
    reading it from the forward function's residuals.
    """
    return _Splitter(jvp_fn, witnesses, nonlinear, known_kinds, remat).run(fwd_name, lin_name, aux)


def split_user_calls(fn: core.Function, calls: dict, known_kinds=None) -> None:
    """Rewrite ``t, t_dot = g_jvp(args, tangents)`` as ``t, g_res = g_fwd(args)`` and ``t_dot = g_lin(g_res, tangents)``.

    ``calls`` maps the name of a callee's JVP to ``(fwd name, lin name, number of primal arguments,
    positions of the parameters the callee writes into, whether it is checkpointed)``: a checkpointed
    callee's forward call is marked ``recompute``, so its residuals are computed again, not saved.  The callee's residuals may hold its
    arguments: an array the caller writes into later is passed as a copy, so that what the callee
    saved stays as it was (unless the callee writes into it: then the writes must reach the array).
    """
    namer = fn.namer()
    kinds = analysis.kinds(fn, known_kinds)
    aliases = analysis.alias_groups(fn.body, kinds)
    for stmt in core.walk_statements(fn.body):  # the calls' own writes, for the copies below
        call = stmt.value if isinstance(stmt, (gast.Assign, gast.Expr)) else None
        if isinstance(call, gast.Call) and isinstance(call.func, gast.Name) and call.func.id in calls:
            core.notes(stmt).writes = _written_arguments(call, calls[call.func.id][3])
    written = {n for w in core.mutated_names(fn.body) for n in aliases.get(w, {w})}

    def protected(arg):
        if not (isinstance(arg, gast.Name) and arg.id in written) or kinds.get(arg.id) == analysis.SCALAR:
            return arg
        helper = "np.copy" if kinds.get(arg.id) == analysis.ARRAY else "rt.copy"
        return core.call(core.attr(helper), [arg])

    def block(body):
        out = []
        for stmt in body:
            core.map_blocks(stmt, block)
            call = stmt.value if isinstance(stmt, (gast.Assign, gast.Expr)) else None
            if not (isinstance(call, gast.Call) and isinstance(call.func, gast.Name) and call.func.id in calls):
                out.append(stmt)
                continue
            fwd, lin, nargs, writes, recompute = calls[call.func.id]
            res = namer.fresh(f"{fwd}_res")
            fn.temps.add(res)
            primal_args = [a if i in writes else protected(a) for i, a in enumerate(call.args[:nargs])]
            tangent_args = call.args[nargs:]
            lin_call = core.call(core.name(lin), [core.name(res)] + tangent_args)
            if isinstance(stmt, gast.Expr):  # the callee returns nothing: keep its residuals
                residuals = gast.Subscript(value=core.call(core.name(fwd), primal_args), slice=core.const(1),
                                           ctx=gast.Load())
                out.append(core.at(core.assign(res, residuals), stmt.lineno))
                core.notes(out[-1]).writes = _written_arguments(call, writes)
                out.append(core.at(gast.Expr(value=lin_call), stmt.lineno))
                continue
            primal_target, tangent_target = stmt.targets[0].elts
            forward = core.at(core.assign(core.tuple_([primal_target, core.name(res, True)], store=True),
                                          core.call(core.name(fwd), primal_args)), stmt.lineno)
            core.notes(forward).recompute = recompute
            core.notes(forward).writes = _written_arguments(call, writes)
            out.append(forward)
            out.append(core.at(core.assign(tangent_target, lin_call), stmt.lineno))
            core.notes(out[-1]).writes = frozenset(  # the tangents of the arguments written into
                t.id for t in tangent_args if isinstance(t, gast.Name) and fn.primal_of.get(t.id) in
                core.notes(forward).writes)
        return out

    fn.body = block(fn.body)


def _written_arguments(call, writes) -> frozenset:
    """The names a call passes at the positions ``writes`` of the parameters its callee writes into."""
    return frozenset(a.id for i, a in enumerate(call.args) if i in writes and isinstance(a, gast.Name))


# -- what statements do ------------------------------------------------------------


def _is_tangent(stmt, linear) -> bool:
    if isinstance(stmt, gast.Assign):
        names = core.target_names(stmt.targets[0])
        return bool(names) and set(names) <= linear
    if isinstance(stmt, gast.AugAssign):
        return stmt.target.id in linear
    if isinstance(stmt, gast.Expr):
        return bool(set(core.names_read(stmt.value)) & linear)
    return False


def _hoist_tests(body, namer, temps) -> list:
    """``if a and b:`` → ``cond = a and b`` then ``if cond:``: the decision becomes a value to save."""
    out = []
    for stmt in body:
        core.map_blocks(stmt, lambda b: _hoist_tests(b, namer, temps))
        if isinstance(stmt, gast.If) and not core.is_atom(stmt.test):
            cond = namer.fresh("cond")
            temps.add(cond)
            out.append(core.at(core.assign(cond, stmt.test), stmt.lineno))
            stmt.test = core.name(cond)
        out.append(stmt)
    return out


class _Splitter:
    def __init__(self, fn, witnesses, nonlinear, known_kinds, remat=None):
        self.fn, self.witnesses, self.nonlinear, self.remat = fn, witnesses, nonlinear, remat
        self.linear_names = set(fn.linear)
        self.namer = fn.namer()
        fn.body = _hoist_tests(fn.body, self.namer, fn.temps)
        self.kinds = analysis.kinds(fn, known_kinds)
        self.locals = set(fn.params)
        for stmt in core.walk_statements(fn.body):
            self.locals |= core.written_names(stmt)
        self.aliases = analysis.alias_groups(fn.body, self.kinds)
        self.mutated = self.mutated_in(fn.body)
        self.binding_counts: dict = {}  # how often each name is bound (loop targets included)
        for stmt in core.walk_statements(fn.body):
            for n in core.bound_names(stmt):
                self.binding_counts[n] = self.binding_counts.get(n, 0) + 1
        self.top_bound = {n for s in fn.body if not core.sub_blocks(s) for n in core.bound_names(s)}
        self.invariants = self._invariants()
        self.residuals: list = []        # (forward expression, name in the linear code)
        self.tapes: list = []            # created empty at the start of the forward function
        self.counters: dict = {}         # counter → a tape it counts the entries of
        self.lin_temps: set = set()

    # -- facts about names --------------------------------------------------------------

    def mutated_in(self, body) -> set:
        """Names whose memory ``body`` writes in place (with every name sharing it)."""
        written = core.mutated_names(body)
        for stmt in core.walk_statements(body):
            if isinstance(stmt, gast.Expr) and isinstance(stmt.value, gast.Call) and \
                    not _is_tangent(stmt, self.linear_names):  # a helper writing into its (primal) arguments
                written |= {a.id for a in stmt.value.args if isinstance(a, gast.Name)}
        return {n for w in written for n in self.aliases.get(w, {w})}

    def bound_once(self, name_) -> bool:
        """Is ``name_`` a parameter never bound again, or bound once, at the top level?"""
        return self.binding_counts.get(name_, 0) == (0 if name_ in self.fn.params else 1) and \
            (name_ in self.fn.params or name_ in self.top_bound)

    def written_in(self, body) -> set:
        """Names ``body`` rebinds or writes into."""
        rebound = set()
        for stmt in core.walk_statements(body):
            rebound |= core.written_names(stmt)
        return rebound | self.mutated_in(body)

    def _invariants(self) -> set:
        """Names with one value for the whole call: unmutated parameters never rebound, and
        unmutated names assigned once, at the top level (not under a checkpoint policy: those are computed
        again, unless it saves them)."""
        params = {p for p in self.fn.params if p not in self.binding_counts}
        once = {n for n in self.top_bound if self.binding_counts[n] == 1} - set(self.fn.params)  # bound again: 2 values
        if self.remat is not None:
            once = set()
        return (params | once) - self.mutated - self.linear_names

    def is_local(self, name_) -> bool:
        return name_ in self.locals and name_ not in self.linear_names

    def reads(self, node) -> list:
        return [n for n in dict.fromkeys(core.names_read(node)) if self.is_local(n)]

    def copy_of(self, name_):
        """What to save of ``name_``: a copy if its memory is written later in place."""
        if name_ not in self.mutated or self.kinds.get(name_) == analysis.SCALAR:
            return core.name(name_)
        helper = "np.copy" if self.kinds.get(name_) == analysis.ARRAY else "rt.copy"
        return core.call(core.attr(helper), [core.name(name_)])

    def tangents_outside(self, compound) -> set:
        """Tangent names used by statements outside ``compound`` (tangent parameters always are)."""
        found = set(self.fn.params) & self.linear_names

        def visit(body):
            for stmt in body:
                if stmt is compound:
                    continue
                found.update(core.names_in(core.own_expression(stmt)) & self.linear_names)
                for block in core.sub_blocks(stmt):
                    visit(block)

        visit(self.fn.body)
        return found

    def replicable(self, stmt) -> bool:
        """May the linear code compute ``stmt`` again: cheap, or, under a checkpoint policy, anything the policy
        does not save that computes only (no call of a function that writes, draws or prints)?"""
        if _replicable(stmt, self.kinds):
            return True
        return self.remat is not None and isinstance(stmt, gast.Assign) and \
            isinstance(stmt.targets[0], (gast.Name, gast.Tuple)) and not impure(stmt.value, self.fn) and \
            not self.remat.saves(stmt.value)

    def saved_by_policy(self, stmt) -> bool:
        """Is ``stmt``'s value one the checkpoint policy saves (so the linear code reads it back)?"""
        return self.remat is not None and isinstance(stmt, gast.Assign) and self.remat.saves(stmt.value)

    def check_linear(self, name_, stmt):
        if self.nonlinear is not None and name_ in self.nonlinear:
            raise NonLinearError(
                f"the function is not linear in its inputs: {name_!r} depends on them and scales, selects or "
                "bounds another value that does", self.fn.filename, stmt.lineno, self.fn.source_line(stmt.lineno))

    # -- the whole function ------------------------------------------------------------

    def run(self, fwd_name, lin_name, aux=None) -> Split:
        fn = self.fn
        top = _Context(self, parent=None, compound=None, loop_vars=set())
        param_witnesses = {}
        if self.witnesses is not None:
            top.start_segment()
            for t in fn.params:
                primal = fn.primal_of.get(t)
                if t in self.linear_names and self.kinds.get(primal) != analysis.SCALAR:
                    top.rest = fn.body
                    param_witnesses[t] = top.obtain(primal, fn, witness=True)
        fwd_body, lin_body = top.block(fn.body)
        out = top.returned if top.returned is not None else core.const(None)
        if aux is not None:
            out = core.tuple_([out, aux])
        tangent_params = [p for p in fn.params if p in self.linear_names]
        primal_params = [p for p in fn.params if p not in self.linear_names]
        lineno = fn.body[-1].lineno if fn.body else fn.lineno
        tapes = [core.at(core.assign(t, gast.List(elts=[], ctx=gast.Load())), fn.lineno) for t in self.tapes]
        fwd_ret = core.at(gast.Return(value=core.tuple_([out, core.tuple_([e for e, _ in self.residuals])])), lineno)
        forward = core.Function(
            name=fwd_name, params=primal_params, body=tapes + fwd_body + [fwd_ret], callees=fn.callees,
            constants=fn.constants, defaults=fn.defaults, filename=fn.filename, source_lines=fn.source_lines,
            temps=set(fn.temps), lineno=fn.lineno)
        res_name = self.namer.fresh("residuals")
        unpack = []
        if self.residuals:
            names = [core.name(n, True) for _, n in self.residuals]
            unpack = [core.at(core.assign(core.tuple_(names, store=True), core.name(res_name)), fn.lineno)]
        starts = []
        for counter in self.counters:
            start = core.at(core.assign(counter, core.const(0)), fn.lineno)
            core.notes(start).counter_start = counter
            starts.append(start)
        linear = core.Function(
            name=lin_name, params=[res_name] + tangent_params, body=unpack + starts + lin_body,
            callees=fn.callees, constants=fn.constants, filename=fn.filename, source_lines=fn.source_lines,
            temps=set(fn.temps) | self.lin_temps, lineno=fn.lineno,
            linear=set(self.linear_names), primal_of=dict(fn.primal_of))
        linear.kinds, linear.counters, linear.param_witnesses = self.kinds, dict(self.counters), param_witnesses
        for f in (forward, linear):
            _fill_lines(f.body, fn.lineno)
        return Split(forward, linear)


class _Context:
    """One block being split, and where it sits (``parent``: the context of the statement holding it).

    The block is walked in stretches of straight-line code; for the current stretch,
    ``versions`` counts the rebindings of each name, ``defs`` holds the primal statement
    behind each (name, version), ``fwd_out``/``lin_out`` collect its forward and linear
    statements and ``have`` maps each (name, version) the linear code has to its name there.
    """

    def __init__(self, splitter, parent, compound, loop_vars):
        self.s, self.parent, self.compound, self.loop_vars = splitter, parent, compound, loop_vars
        self.in_compound = parent is not None
        self.changed_inside = splitter.written_in([compound]) | loop_vars if compound is not None else set()
        # Names bound anew inside may change their shapes; writing into them does not.
        self.rebound_inside = {n for s in core.walk_statements([compound]) for n in core.bound_names(s)} | loop_vars \
            if compound is not None else set()
        self.returned = None
        self.segment_open = False

    # -- stretches -------------------------------------------------------------------

    def start_segment(self):
        self.versions: dict = {}
        self.bindings: dict = {}      # name → its version where it was last bound anew (its shape may change there)
        self.defs: dict = {}
        self.have: dict = {}
        self.lin_names: dict = {}     # shared by the stretch and the preludes that follow it
        self.fwd_out: list = []
        self.lin_out: list = []
        self.captures: list = []
        self.shapes_only: set = set()  # captures wanted only for their shapes: saved without a copy
        self.counter = None
        self.preludes: dict = {}      # id(compound) → (linear statements, have)
        self.segment_open = True

    def version(self, name_) -> int:
        return self.versions.get(name_, 0)

    def lin_name(self, key) -> str:
        """The first version of a name the linear code needs in a stretch keeps the name; later ones get new names."""
        if key not in self.lin_names:
            name_, v = key
            if name_ in self.lin_names.values():
                self.lin_names[key] = self.s.namer.fresh(name_)
                self.s.lin_temps.add(self.lin_names[key])
                if name_ in self.s.kinds:
                    self.s.kinds[self.lin_names[key]] = self.s.kinds[name_]
            else:
                self.lin_names[key] = name_
        return self.lin_names[key]

    def rename(self, node, have):
        """``node`` with each primal name spelled as the linear code has its current version."""
        mapping = {}
        for n in core.names_in(node):
            spelled = have.get((n, self.version(n)))
            if spelled is not None and spelled != n:
                mapping[n] = spelled
        return core.substitute(node, mapping) if mapping else node

    # -- obtaining primal values ---------------------------------------------------------

    def obtain(self, name_, stmt, have=None, out=None, witness=False):
        """Make the current version of ``name_`` available to the linear code; return its name there.

        A ``witness`` is wanted for its shape only: writes into the array do not change that.
        """
        have = self.have if have is None else have
        out = self.lin_out if out is None else out
        if witness:
            return self._shape(name_, have, out)
        return self._obtain((name_, self.version(name_)), have, out, stmt)

    def _shape(self, name_, have, out):
        """A value with ``name_``'s current shape: obtained where the name was last bound, not copied."""
        key = (name_, "shape", self.bindings.get(name_, 0))
        if key not in have:
            if name_ in self.s.invariants or name_ in self.loop_vars:
                have[key] = self._obtain((name_, 0), have, out)
            elif self.parent is not None and name_ not in self.rebound_inside:
                have[key] = self.parent.obtain_for_prelude(name_, self.compound, witness=True)
            elif not self.in_compound and self.s.bound_once(name_) and self.s.remat is None:
                have[key] = self.s.namer.fresh(name_)
                self.s.lin_temps.add(have[key])
                self.s.kinds[have[key]] = self.s.kinds.get(name_)
                self.s.residuals.append((core.name(name_), have[key]))
            else:
                current = (name_, self.version(name_))
                if current not in have:
                    self.shapes_only.add(current)
                have[key] = self._obtain(current, have, out, value=False)
        return have[key]

    def _obtain(self, key, have, out, stmt=None, value=True):
        """``stmt``: the statement the value is for, if it must not depend on the inputs (see ``check_linear``);
        ``value``: the value itself is needed, not only its shape."""
        if value:
            self.shapes_only.discard(key)
        if key in have:
            return have[key]
        name_, v = key
        if stmt is not None:
            self.s.check_linear(name_, stmt)
        if self._binds(key) and core.notes(self.defs[key].stmt).recompute:  # a checkpointed call's: again
            self._replicate(self.defs[key], have, out, stmt)
        elif name_ in self.s.invariants or v == 0 and name_ in self.loop_vars:
            if name_ in self.s.invariants and all(n != name_ for _, n in self.s.residuals):
                self.s.residuals.append((core.name(name_), name_))
            have[key] = name_
        elif v == 0 and self.parent is not None and name_ not in self.changed_inside:
            have[key] = self.parent.obtain_for_prelude(name_, self.compound)
        elif self._binds(key) and self.s.saved_by_policy(self.defs[key].stmt):
            have[key] = self._capture(key, out)
        elif self._cheap(key, have):
            self._replicate(self.defs[key], have, out, stmt)
        else:
            have[key] = self._capture(key, out)
        return have[key]

    def _cheap(self, key, have) -> bool:
        """Can the linear code have ``key`` without saving anything new at this level?"""
        if key in have:
            return True
        name_, v = key
        if name_ in self.s.invariants:
            return True
        if v == 0:
            return name_ in self.loop_vars or \
                (self.parent is not None and name_ not in self.changed_inside)
        if not self._binds(key):
            return False
        stmt = self.defs[key].stmt
        return self.s.saved_by_policy(stmt) or \
            self.s.replicable(stmt) and all(self._cheap(k, have) for k in self.defs[key].reads.items())

    def _binds(self, key) -> bool:
        """Whether ``key`` is bound by an assignment (that the linear code may run again), not written into by one."""
        definition = self.defs.get(key)
        return definition is not None and isinstance(definition.stmt, gast.Assign) and \
            key[0] in core.target_names(definition.stmt.targets[0])

    def _replicate(self, definition, have, out, user):
        """Compute a cheap primal statement again in the linear code."""
        stmt = definition.stmt
        operands = {m: self._obtain((m, vm), have, out, user) for m, vm in definition.reads.items()}
        value = core.substitute(core.clone(stmt.value), {m: n for m, n in operands.items() if m != n})
        renames = {t: self.lin_name((t, definition.defines[t])) for t in core.target_names(stmt.targets[0])}
        target = core.substitute(core.clone(stmt.targets[0]), {t: n for t, n in renames.items() if t != n})
        out.append(core.at(core.assign(target, value), stmt.lineno))
        for t, n in renames.items():
            have[(t, definition.defines[t])] = n

    def _capture(self, key, out) -> str:
        """Save ``key`` in the forward code; read it back in the linear code."""
        if not self.in_compound:
            # Residuals are bound when the linear function starts: a name of its own, which no
            # statement of the linear function (a value computed again, read back) can rebind.
            self.lin_names[key] = self.s.namer.fresh(key[0])
            self.s.lin_temps.add(self.lin_names[key])
            if key[0] in self.s.kinds:
                self.s.kinds[self.lin_names[key]] = self.s.kinds[key[0]]
            self.s.residuals.append((self._top_level_save(key), self.lin_names[key]))
            return self.lin_names[key]
        out.append(_Restore(key))
        if key not in self.captures:
            self.captures.append(key)
        return self.lin_name(key)

    def _top_level_save(self, key):
        """The forward function's name for ``key``, holding it until it returns (copied if it would change)."""
        name_, _ = key
        position = self._push_position(key)
        later = self.s.written_in(self.fwd_out[position:] + self.rest)
        if name_ not in later:
            return core.name(name_)
        saved = self.s.namer.fresh(f"{name_}_saved")
        self.s.fn.temps.add(saved)
        self.fwd_out.insert(position, core.assign(saved, self.s.copy_of(name_)))
        for d in self.defs.values():
            if d.position >= position:
                d.position += 1
        return core.name(saved)

    def _push_position(self, key) -> int:
        """The last place in this stretch's forward code that still holds ``key``: before it changes, or the end."""
        rebinding = self.defs.get((key[0], key[1] + 1))
        if rebinding is not None:
            return rebinding.position
        jumps = self.fwd_out and isinstance(self.fwd_out[-1], control.JUMPS)
        return len(self.fwd_out) - 1 if jumps else len(self.fwd_out)

    def obtain_for_prelude(self, name_, compound, witness=False):
        """``name_`` obtained just before ``compound`` (for its header or its body), in its prelude."""
        out, have = self.preludes.setdefault(id(compound), ([], {}))
        return self.obtain(name_, compound, have=have, out=out, witness=witness)

    # -- statements --------------------------------------------------------------------

    def block(self, body) -> tuple[list, list]:
        """Split a block into its forward statements and its linear statements."""
        fwd, lin = [], []
        for i, stmt in enumerate(body):
            self.rest = body[i:]
            if not self.segment_open:
                self.start_segment()
            self._statement(stmt, fwd, lin)
        if self.segment_open:
            self.rest = []
            fwd += self.finish_segment()
            jump = self.lin_out[-1:] if self.lin_out and isinstance(self.lin_out[-1], control.JUMPS) else []
            lin += self.lin_out[:len(self.lin_out) - len(jump)] + self._advance() + jump
            self.segment_open = False
        return fwd, lin

    def _statement(self, stmt, fwd, lin):
        if isinstance(stmt, gast.Return):
            self.return_statement(stmt)
        elif core.sub_blocks(stmt):
            f, l_ = self.compound_statement(stmt)
            fwd += f
            lin += l_
        elif _is_tangent(stmt, self.s.linear_names):
            self.tangent_statement(stmt)
        else:
            self.primal_statement(stmt)
            if isinstance(stmt, control.JUMPS):  # the linear code replays the jump, until it is removed
                self.lin_out.append(core.clone(stmt))

    def primal_statement(self, stmt):
        reads = {n: self.version(n) for n in self.s.reads(stmt)}
        if isinstance(stmt, gast.AugAssign):
            reads[stmt.target.id] = self.version(stmt.target.id)
        written = core.written_names(stmt) | self.s.mutated_in([stmt])
        definition = _Def(stmt, reads, len(self.fwd_out), {})
        self.fwd_out.append(stmt)
        for n in written:
            self.versions[n] = self.version(n) + 1
            self.defs[(n, self.versions[n])] = definition
            definition.defines[n] = self.versions[n]
        for n in core.bound_names(stmt):
            self.bindings[n] = self.versions[n]

    def tangent_statement(self, stmt):
        shapes = _shape_only_reads(stmt)  # np.zeros_like(x): a zero tangent needs x's shape, not its value
        for n in self.s.reads(stmt):
            if n not in shapes:
                self.obtain(n, stmt)
        shape_names = {n: self.obtain(n, stmt, witness=True) for n in shapes if self.s.is_local(n)}
        witness_names = {t: self.obtain(p, stmt, witness=True) for t, p in self._witnesses(stmt)}
        lin = self.rename(core.clone(stmt), self.have)
        lin = core.substitute(lin, {n: w for n, w in shape_names.items() if n != w})
        core.notes(lin).witnesses = witness_names
        self.lin_out.append(lin)

    def _witnesses(self, stmt) -> list:
        """(tangent, its primal) for the tangents whose primal values transposition needs at ``stmt``."""
        if self.s.witnesses is None:
            return []
        found = dict.fromkeys(self.s.witnesses(stmt, self.s.kinds, self.s.fn.primal_of))
        return [(t, self.s.fn.primal_of[t]) for t in found if self.s.is_local(self.s.fn.primal_of.get(t, ""))]

    def return_statement(self, stmt):
        out, out_dot = stmt.value.elts
        self.returned = out
        for n in self.s.reads(out_dot):
            self.obtain(n, stmt)
        self.lin_out.append(core.at(gast.Return(value=self.rename(core.load(out_dot), self.have)), stmt.lineno))

    def compound_statement(self, stmt) -> tuple[list, list]:
        """A loop or branch: what its header and its body need is obtained just before it, in its prelude."""
        out, have = self.preludes.setdefault(id(stmt), ([], {}))
        lin_stmt = gast.For(target=core.clone(stmt.target), iter=stmt.iter, body=[], orelse=[], type_comment=None) \
            if isinstance(stmt, gast.For) else gast.If(test=getattr(stmt, "test", None), body=[], orelse=[])
        core.at(lin_stmt, stmt.lineno)
        if isinstance(stmt, gast.If) and isinstance(stmt.test, gast.Name) and self.s.is_local(stmt.test.id):
            lin_stmt.test = core.name(self.obtain_for_prelude(stmt.test.id, stmt))
        elif isinstance(stmt, gast.For):
            for n in self.s.reads(stmt.iter):
                self.obtain_for_prelude(n, stmt)
            lin_stmt.iter = self.rename(core.clone(stmt.iter), have)
        witness_names = core.notes(lin_stmt).witnesses = {}
        if self.s.witnesses is not None:
            for t in self._live_in_tangents(stmt):
                primal = self.s.fn.primal_of.get(t)
                if primal and self.s.is_local(primal) and self.s.kinds.get(primal) != analysis.SCALAR:
                    witness_names[t] = self.obtain_for_prelude(primal, stmt, witness=True)
        loop_vars = self.loop_vars | ({stmt.target.id} if isinstance(stmt, gast.For) else set())
        fwd_body, lin_body = _Context(self.s, self, stmt, loop_vars).block(stmt.body)
        fwd_else, lin_else = _Context(self.s, self, stmt, self.loop_vars).block(stmt.orelse)
        fwd_stmt = copy.copy(stmt)
        fwd_stmt.body, fwd_stmt.orelse = fwd_body or [gast.Pass()], fwd_else
        lin_stmt.body, lin_stmt.orelse = lin_body, lin_else
        before, after = [], []
        if isinstance(stmt, gast.While) or (isinstance(stmt, gast.For) and control.has_jumps(stmt.body)):
            lin_stmt = self._replay(stmt, fwd_stmt, lin_stmt, before, after)
            core.notes(lin_stmt).witnesses = witness_names
        fwd = self.finish_segment() + before + [fwd_stmt] + after
        for s in out:
            core.notes(s).prelude = True
        lin = self.lin_out + out + self._advance()
        lin.append(core.at(lin_stmt, stmt.lineno))
        self.segment_open = False
        return fwd, lin

    def _replay(self, stmt, fwd_stmt, lin_stmt, before, after):
        """A loop that can end early replays as many trips as the primal made (counted in the forward code)."""
        trips = self.s.namer.fresh("trips")
        self.s.fn.temps.add(trips)
        lineno = stmt.lineno
        before.append(core.at(core.assign(trips, core.const(0)), lineno))
        fwd_stmt.body.insert(0, core.at(gast.AugAssign(target=core.name(trips, True), op=gast.Add(),
                                                       value=core.const(1)), lineno))
        out, _ = self.preludes[id(stmt)]
        if self.in_compound:  # saved after the loop, read back before the replay: a tape of its own
            tape = self.s.namer.fresh(f"{trips}_tape")
            counter = self.s.namer.fresh("k")
            self.s.tapes.append(tape)
            self.s.residuals.append((core.name(tape), tape))
            self.s.counters[counter] = [tape]
            after.append(core.at(_append(tape, core.name(trips)), lineno))
            out += [core.at(core.assign(trips, _entry(tape, counter)), lineno), _step(counter)]
        else:
            self.s.residuals.append((core.name(trips), trips))
        body = control.without_jumps(lin_stmt.body)
        if isinstance(stmt, gast.While):
            target = core.name(self.s.namer.fresh("step"), True)
            return gast.For(target=target, iter=core.call(core.name("range"), [core.name(trips)]), body=body,
                            orelse=[], type_comment=None)
        args = list(lin_stmt.iter.args)
        start, step = (core.const(0), core.const(1)) if len(args) == 1 else (args[0], args[2] if len(args) == 3 else core.const(1))
        stop = simplify(gast.BinOp(left=start, op=gast.Add(),
                                   right=gast.BinOp(left=core.name(trips), op=gast.Mult(), right=step)))
        lin_stmt.iter = core.call(core.name("range"), [stop] if len(args) == 1 else [start, stop, step])
        lin_stmt.body = body
        return lin_stmt

    def _live_in_tangents(self, stmt) -> list:
        """Tangents read inside ``stmt`` and used outside it: transposed, it adds to their cotangents."""
        return sorted(core.exposed_reads([stmt]) & self.s.linear_names & self.s.tangents_outside(stmt))

    # -- saving -----------------------------------------------------------------------

    def finish_segment(self) -> list:
        """This stretch's forward code with its saves in place (each value on a tape of its own, as late as it
        can be saved); its restores resolved.  The tapes of a stretch share one counter."""
        self.segment_open = False
        if not self.captures:
            return self.fwd_out
        self.counter = self.s.namer.fresh("k")
        tapes = {}
        for key in sorted(self.captures, key=self._push_position, reverse=True):
            tape = self.s.namer.fresh(f"{key[0]}_tape")
            self.s.tapes.append(tape)
            self.s.residuals.append((core.name(tape), tape))
            value = core.name(key[0]) if key in self.shapes_only else self.s.copy_of(key[0])
            self.fwd_out.insert(self._push_position(key), _append(tape, value))
            tapes[key] = tape
        self.s.counters[self.counter] = list(tapes.values())
        for out in [self.lin_out] + [p for p, _ in self.preludes.values()]:
            out[:] = [self._restore(s, tapes) if isinstance(s, _Restore) else s for s in out]
        return self.fwd_out

    def _restore(self, marker, tapes):
        return core.assign(self.lin_name(marker.key), _entry(tapes[marker.key], self.counter))

    def _advance(self) -> list:
        return [] if self.counter is None else [_step(self.counter)]


@dataclass
class _Def:
    """A primal statement of the current stretch, the versions of the names it read and of those it defines."""

    stmt: object
    reads: dict
    position: int  # index in the stretch's forward code
    defines: dict


def _replicable(stmt, kinds) -> bool:
    """Is ``stmt`` cheap to compute again (rather than save)?"""
    if not isinstance(stmt, gast.Assign) or isinstance(stmt.targets[0], gast.Subscript):
        return False
    value = stmt.value
    if core.is_atom(value) or isinstance(value, (gast.Compare, gast.BoolOp, gast.Subscript, gast.Attribute)):
        return True
    if isinstance(value, (gast.BinOp, gast.UnaryOp)):
        return not isinstance(value.op, gast.MatMult) and analysis.kind_of(value, kinds) != analysis.ARRAY
    if isinstance(value, gast.Call):
        rule = registry.lookup_spelled(core.dotted_name(value.func))
        return bool(rule and rule.cheap)
    return False


def prune_residuals(forward: core.Function, consumer: core.Function):
    """Drop the residuals ``consumer`` (the only function that reads them) never uses, and their tapes."""
    unpack = consumer.body[0] if consumer.body and isinstance(consumer.body[0], gast.Assign) and \
        core.names_read(consumer.body[0].value) == [consumer.params[0]] else None
    if unpack is None:
        return
    used = set()
    starts = [s for s in consumer.body if core.notes(s).counter_start]
    for stmt in core.walk_statements(consumer.body[1:]):
        if stmt in starts:
            continue
        used |= core.own_reads(stmt)
    for start in starts:  # a counter starts at the length of one of its tapes that is still there
        kept = [t for t in consumer.counters.get(core.notes(start).counter_start, []) if t in used]
        if kept:
            start.value = core.call(core.name("len"), [core.name(kept[0])])
        else:
            consumer.body.remove(start)
    names = core.target_names(unpack.targets[0])
    ret = forward.body[-1]
    out, saved = ret.value.elts
    keep = [i for i, n in enumerate(names) if n in used]
    dropped = {saved.elts[i].id for i in range(len(names)) if i not in keep and isinstance(saved.elts[i], gast.Name)}
    ret.value = core.tuple_([out, core.tuple_([saved.elts[i] for i in keep])])
    if keep:
        unpack.targets[0] = core.tuple_([core.name(names[i], True) for i in keep], store=True)
    else:
        consumer.body.remove(unpack)

    def without_tapes(body):
        kept = []
        for stmt in body:
            core.map_blocks(stmt, without_tapes)
            call = stmt.value if isinstance(stmt, gast.Expr) else None
            appends_to = core.dotted_name(call.func).split(".")[0] if isinstance(call, gast.Call) and \
                isinstance(call.func, gast.Attribute) else None
            if appends_to in dropped:
                continue
            kept.append(stmt)
        return kept

    forward.body = without_tapes(forward.body)


def _shape_only_reads(stmt) -> set:
    """Names ``stmt`` reads only as the argument of ``np.zeros_like``/``rt.zeros_like`` (for their shapes)."""
    inside, elsewhere = [], []

    def visit(node, shaped):
        if isinstance(node, gast.Call) and core.dotted_name(node.func) in ("np.zeros_like", "rt.zeros_like"):
            shaped = True
        if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Load):
            (inside if shaped else elsewhere).append(node.id)
        for child in gast.iter_child_nodes(node):
            visit(child, shaped)

    visit(stmt, False)
    return set(inside) - set(elsewhere)


def _fill_lines(body, default):
    """Statements this pass made take the source line of the statement they serve: the next one."""
    following = default
    for stmt in reversed(body):
        if getattr(stmt, "lineno", None) is None:
            stmt.lineno = following
        following = stmt.lineno
        for block in core.sub_blocks(stmt):
            _fill_lines(block, stmt.lineno)


def _append(tape, value):
    return gast.Expr(value=core.call(gast.Attribute(value=core.name(tape), attr="append", ctx=gast.Load()), [value]))


def _entry(tape, counter):
    return gast.Subscript(value=core.name(tape), slice=core.name(counter), ctx=gast.Load())


def _step(counter):
    step = gast.AugAssign(target=core.name(counter, True), op=gast.Add(), value=core.const(1))
    core.notes(step).counter = counter
    return step


class _Restore(gast.stmt):
    """Placeholder for reading a saved value back, resolved when its stretch ends."""

    _fields = ()

    def __init__(self, key):
        super().__init__()
        self.key = key
