"""A program: the generated functions of one transform request, linked together.

Transforming ``f`` may need the JVP of a helper ``g`` that ``f`` calls, and
the primal of ``h`` that ``g`` calls in a branch.  A ``Program`` generates each
of those once, gives every function and constant one name in one module, and
hands the whole module to ``emit``: the module is self-contained, readable on
its own, and compiled as one unit.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import gast

from . import analysis, arguments, building, core, optimize
from .emit import render
from .errors import BatchingError, S2SError, UnsupportedTransformError, located
from .linear_forms import fold_tangent_temporaries, hoist_primal_calls
from .frontend.normalize import normalize
from .transforms import transpose as transposition
from .transforms.batch import Axes, batch_loop, grid_kernel, mapped_outputs, output_arity, vectorize
from .transforms.columns import unit_columns
from .transforms.control import single_exit
from .transforms.jvp import jvp
from .transforms.partial_eval import partial_eval, prune_residuals, split_user_calls
from .transforms.views import write_into_bases


@dataclass
class Linearized:
    """The generated halves of one function's linearization (and its adjoint, once asked for)."""

    forward: str
    linear: str
    #: which parameters get tangents (and cotangents)
    tangent_mask: tuple
    adjoint: str | None = None
    #: the forward function returns ``((output, auxiliary data), residuals)``
    has_aux: bool = False


class Program:
    def __init__(self):
        self.functions: list[core.Function] = []
        self.constants: dict = {}
        self.names: dict = {}          # (mode, object, mask) → generated name
        self.signatures: dict = {}     # (object, mask) → tangent mask of its JVP
        self.pending_primals: dict = {}  # generated name → object, emitted on demand
        self.namer = core.Namer(set(core.MODULE_NAMES))
        self._in_progress: set = set()
        self._linear_parts: dict = {}  # linear function name → (its core form before clean-up, Linearized)
        self.pending_linear: dict = {}  # linear function name → its cleaned-up form, emitted on demand
        self.core_forms: dict = {}  # generated name → its core form before clean-up (one primitive a statement)
        #: batch by loops unless told otherwise (compiled code: Numba makes loops fast, and parallel)
        self.prefer_loops = False
        #: per-example code runs as CUDA device functions: a batch is a kernel, and the Jacobians of scalars are
        #: derivatives along 1.0 (no basis arrays, which device code cannot allocate)
        self.device = False
        self.launches: dict = {}  # kernel name → how to launch it (``batch.Launch``)

    # -- requests from the API and from transforms -------------------------------

    def primal(self, obj, nargs=None) -> str:
        """Name of the generated primal of ``obj`` (the normalized function itself)."""
        name = self.primal_name(obj, nargs)
        if name in self.pending_primals:
            del self.pending_primals[name]
            if _plain_gradient(obj):  # generated here, not read back from its generated code (which keeps tapes)
                obj.emit(self, (None,) * (nargs or len(normalize(building.innermost(obj)).params)), name=name)
                return name
            fn = self.link(normalize(obj, nargs))
            fn.name = name
            self._add(fn)
        return name

    def jvp(self, obj, varied_mask, nargs=None, param_kinds=None) -> tuple[str, tuple]:
        """Name and tangent mask of the generated JVP of ``obj`` w.r.t. the varied parameters
        (``param_kinds``: the parameters' kinds where the arguments are known)."""
        key = ("jvp", obj, tuple(varied_mask), param_kinds)
        if key not in self.names and _plain_gradient(obj):
            self._gradient_jvp(key, obj, varied_mask, nargs or len(varied_mask))
        if key not in self.names:
            if key in self._in_progress:
                raise S2SError(f"s2s does not differentiate recursive functions ({getattr(obj, '__name__', obj)})")
            self._in_progress.add(key)
            fn = self.link(normalize(obj, nargs))
            varied = {p for p, m in zip(fn.params, varied_mask) if m}
            name = self.namer.fresh(f"{fn.name}_jvp")
            kinds = dict(zip(fn.params, param_kinds or ()))
            result, mask = jvp(fn, varied, self, name, {**helper_kinds(fn, kinds)[1], **kinds})
            self._in_progress.discard(key)
            self.names[key] = name
            self.signatures[(obj, tuple(varied_mask))] = mask
            self._add(result)
        return self.names[key], self.signatures[(obj, tuple(varied_mask))]

    def linearize(self, obj, varied_mask, nargs=None, for_transpose=False, check_linear=False,
                  param_kinds=None, has_aux=False, remat=None) -> Linearized:
        """The forward and linear functions of ``obj`` w.r.t. the varied parameters (see ``partial_eval``).

        ``for_transpose`` keeps what transposition needs (shapes of cotangents);
        ``check_linear`` raises ``NonLinearError`` if ``obj`` is not linear in them; ``param_kinds``
        (a tuple, one kind per parameter) says which arguments are scalars and which arrays;
        ``has_aux``: ``obj`` returns ``(output, auxiliary data)`` and only the output is differentiated;
        ``remat``: a checkpoint policy, saying which of its values the forward function saves (the linear
        function computes the others again).
        """
        key = ("linearize", obj, tuple(varied_mask), for_transpose, check_linear, has_aux, param_kinds, remat)
        if key not in self.names:
            if key in self._in_progress:
                raise S2SError(f"s2s does not differentiate recursive functions ({getattr(obj, '__name__', obj)})")
            self._in_progress.add(key)
            fn = single_exit(self.link(normalize(obj, nargs)))
            kinds = {name: analysis.kind_of_value(value) for name, value in fn.constants.items()}
            kinds.update(zip(fn.params, param_kinds or ()))
            write_into_bases(fn, kinds)
            aux = _split_aux(fn) if has_aux else None
            varied = {p for p, m in zip(fn.params, varied_mask) if m}
            callees = _Callees(self, fn, kinds, for_transpose, check_linear)
            kinds = {**callees.result_kinds, **kinds}
            blocked = analysis.activity(fn, varied, callees.jvp_useful_args).varied if check_linear else None
            jvp_fn, mask = jvp(fn, varied, callees, f"{fn.name}_jvp", kinds)
            split_user_calls(jvp_fn, callees.calls, kinds)
            fold_tangent_temporaries(jvp_fn)
            if not check_linear:  # the check reads the tangent statements' own operands
                hoist_primal_calls(jvp_fn)
            names = Linearized(self.namer.fresh(f"{fn.name}_fwd"), self.namer.fresh(f"{fn.name}_lin"), mask,
                               has_aux=has_aux)
            witnesses = transposition.witnesses if for_transpose else None
            split = partial_eval(jvp_fn, names.forward, names.linear, witnesses, blocked, kinds, aux, remat)
            self._in_progress.discard(key)
            self.names[key] = names
            self._linear_parts[names.linear] = (_copy(split.linear), names)
            self._add(split.forward)
            self.pending_linear[names.linear] = self._optimized(split.linear)
        return self.names[key]

    def adjoint(self, obj, varied_mask, nargs=None, check_linear=False, param_kinds=None,
                has_aux=False) -> Linearized:
        """The linearization of ``obj`` with its adjoint (the transpose of its linear function)."""
        names = self.linearize(obj, varied_mask, nargs, True, check_linear, param_kinds, has_aux)
        self.adjoint_of(names.linear, called=False)
        return names

    def role(self, name) -> str | None:
        """``"forward"``, ``"linear"`` or ``"adjoint"`` for a part of a linearization in this program, else None."""
        for _, names in self._linear_parts.values():
            for role in ("forward", "linear", "adjoint"):
                if getattr(names, role) == name:
                    return role
        return None

    def adjoint_of(self, linear_name, called=True):
        """The adjoint of a generated linear function (generated on first request), and the positions of
        the tangent parameters the linear function writes into; None if ``linear_name`` is not one."""
        if linear_name not in self._linear_parts:
            return None
        lin, names = self._linear_parts[linear_name]
        if names.adjoint is None:
            names.adjoint = self.namer.fresh(linear_name.removesuffix("_lin") + "_bwd")
            self._add(transposition.transpose(lin, names.adjoint, self.adjoint_of, called))
        tangents = lin.params[1:]
        return names.adjoint, [tangents.index(t) for t in transposition.written_parameters(lin, self.adjoint_of)]

    _STATE = ("functions", "names", "pending_primals", "pending_linear", "core_forms")

    def _snapshot(self) -> dict:
        return {field: getattr(self, field).copy() for field in self._STATE}

    def _restore(self, saved):
        for field, value in saved.items():
            setattr(self, field, value)

    def generates(self, name) -> bool:
        """Is ``name`` one of this program's functions (emitted, or to be on demand)?"""
        return name in self.pending_primals or name in self.pending_linear or \
            any(f.name == name for f in self.functions)

    def function(self, name) -> core.Function:
        """The core form of a function of this program (a pending primal or linear function made now)."""
        if name in self.pending_primals:
            self.primal(self.pending_primals[name])
        if name in self.pending_linear:
            self.functions.append(self.pending_linear.pop(name))
        if name in self._linear_parts:
            return self._linear_parts[name][0]
        return self.core_forms.get(name) or next(f for f in self.functions if f.name == name)

    def output_arity(self, name) -> int | None:
        return output_arity(self.function(name))

    def batch(self, name, axes: Axes, method=None, param_ndims=None, parallel=False) -> str:
        """The batched version of the generated function ``name`` (see ``transforms.batch``).

        ``method`` is ``"vectorized"``, ``"loop"``, or None: vectorized where it applies, else the loop.
        ``param_ndims`` gives each parameter's dimensions in one example, where known; ``parallel``
        makes the batch loop a ``prange``.
        """
        key = ("batch", name, axes, method, param_ndims, parallel)
        if key not in self.names:
            fn = self.function(name)
            batched = self.namer.fresh(f"{name}_vmap")
            result = None
            if method == "vectorized" or method is None and not self.prefer_loops:
                saved = self._snapshot()
                try:
                    result = vectorize(fn, batched, axes, param_ndims, self, method)
                except BatchingError:
                    if method == "vectorized":
                        raise
                    self._restore(saved)  # what the attempt generated for callees
            if result is None:
                result = batch_loop(fn, batched, name, axes, parallel, mapped_outputs(fn, axes))
            self.names[key] = batched
            self._add(result)
        return self.names[key]

    def kernel(self, name, axes: Axes, ndims, user) -> str:
        """A CUDA kernel running the generated function ``name`` (whose parameters have ``ndims`` dimensions)
        once per thread, for the user's function ``user`` (see ``batch.grid_kernel``)."""
        kernel, launch = grid_kernel(self.function(name), self.namer.fresh(f"{name}_kernel"), name, axes, ndims,
                                     user)
        self.launches[kernel.name] = launch
        self._add(kernel)
        return kernel.name

    # -- linking -------------------------------------------------------------------

    def link(self, fn: core.Function) -> core.Function:
        """A private copy of ``fn`` whose free names are this program's names."""
        fn = dataclasses.replace(fn, body=core.clone(fn.body), temps=set(fn.temps),
                                 callees=dict(fn.callees), constants=dict(fn.constants))
        self.namer.taken |= fn.namer().taken - set(fn.callees) - set(fn.constants)
        renames = {}
        for ref, obj in fn.constants.items():
            renames[ref] = self._constant_name(ref, obj)
        callees = {}
        for ref, obj in fn.callees.items():
            renames[ref] = self.primal_name(obj)
            callees[renames[ref]] = obj
        fn.body = [core.substitute(s, renames) for s in fn.body]
        fn.callees = callees
        fn.constants = {renames[k]: v for k, v in fn.constants.items()}
        return fn

    def _constant_name(self, ref, obj) -> str:
        for existing, value in self.constants.items():
            if value is obj:
                return existing
        name = self.namer.fresh(ref)
        self.constants[name] = obj
        return name

    def primal_name(self, obj, nargs=None) -> str:
        """The name of ``obj``'s generated primal, generated when the program is finished if code calls it."""
        key = ("primal", obj)
        if key not in self.names:
            hint = f"{normalize(building.innermost(obj)).name}_{obj.label}" if _plain_gradient(obj) else \
                normalize(obj, nargs).name
            name = self.namer.fresh(hint)
            self.names[key] = name
            self.pending_primals[name] = obj
        return self.names[key]

    def _add(self, fn):
        self.core_forms[fn.name] = _copy(fn)
        self.functions.append(self._optimized(fn))

    def _optimized(self, fn):
        fn.pure_calls = self._pure_functions()
        return optimize.optimize(fn)

    def _pure_functions(self) -> frozenset:
        """The generated functions that write into none of their arguments, themselves or through others."""
        forms = {**self.core_forms, **{name: lin for name, (lin, _) in self._linear_parts.items()}}
        writers = set()
        changed = True
        while changed:
            changed = False
            for name, f in forms.items():
                written = analysis.written_parameters(f) | core.mutated_names(f.body) | {  # (through views too)
                    a.id for stmt in core.walk_statements(f.body) for call in gast.walk(stmt)
                    if isinstance(call, gast.Call) and core.dotted_name(call.func) in writers
                    for a in call.args if isinstance(a, gast.Name)}
                if name not in writers and written & set(f.params):
                    writers.add(name)
                    changed = True
        return frozenset(forms) - writers

    # -- output ----------------------------------------------------------------------

    def finish(self, *roots):
        """Generate the primals and add the linear functions that the code (or ``roots``) calls."""
        while True:
            used = set(roots)
            for fn in self.functions:
                for stmt in core.walk_statements(fn.body):
                    used |= core.names_in(stmt)
            todo = [n for n in self.pending_primals if n in used]
            linear = [n for n in self.pending_linear if n in used]
            if not todo and not linear:
                self._keep_reachable(roots)
                return self
            for name in todo:
                self.primal(self.pending_primals[name])
            for name in linear:
                self.functions.append(self.pending_linear.pop(name))

    def _keep_reachable(self, roots):
        """Drop the functions that neither the roots nor the functions they call reach (made on the way to
        others, say the parts of a Hessian-vector product whose linear half is not emitted)."""
        by_name = {f.name: f for f in self.functions}
        reached, todo = set(), [*roots, *self.launches]
        while todo:
            name = todo.pop()
            if name in by_name and name not in reached:
                reached.add(name)
                todo += [n for stmt in core.walk_statements(by_name[name].body) for n in core.names_in(stmt)]
        self.functions = [f for f in self.functions if f.name in reached]

    def prune(self):
        """Forward functions whose linear half is not emitted keep only the residuals their adjoints read."""
        by_name = {f.name: f for f in self.functions}
        batched = {key[1] for key in self.names if key[0] == "batch"}  # their copies read the residuals too
        for _, names in self._linear_parts.values():
            if names.adjoint in by_name and names.linear not in by_name and names.forward in by_name \
                    and names.adjoint not in batched:
                forward = by_name[names.forward]
                prune_residuals(forward, by_name[names.adjoint])
                self._optimized(forward)

    def tangent_output(self, jvp_name, params, lineno) -> str:
        """A function returning only the output tangent of a JVP: what reverse mode differentiates for
        second derivatives (the gradient of <grad f, t> is the derivative of grad f along t)."""
        name = self.namer.fresh(f"{jvp_name}_tangent")
        local = core.Namer(set(params) | self.namer.taken)
        out, out_dot = local.fresh("out"), local.fresh("out_dot")
        body = [core.assign(core.tuple_([core.name(out, True), core.name(out_dot, True)], store=True),
                            core.call(core.name(jvp_name), [core.name(p) for p in params])),
                gast.Return(value=core.name(out_dot))]
        for stmt in body:
            core.at(stmt, lineno)
        self.functions.append(core.Function(name=name, params=list(params), body=body, lineno=lineno))
        return name

    def _gradient_jvp(self, key, grad, varied_mask, nargs):
        """The JVP of a call of ``grad(f)`` in the code: the gradient, and its linear half along the tangents."""
        names = self.gradient_call(grad, varied_mask, nargs)
        if not any(names.tangent_mask):
            return
        forward, linear = self.core_forms[names.forward], self._linear_parts[names.linear][0]
        primal, residuals = forward.body[-1].value.elts
        name = self.namer.fresh(f"{names.forward.removesuffix('_fwd')}_jvp")
        params = forward.params + linear.params[1:]
        tangent = core.call(core.name(names.linear), [residuals] + [core.name(p) for p in linear.params[1:]])
        body = [core.at(gast.Return(value=core.tuple_([core.clone(primal), tangent])), forward.lineno)]
        self._add(core.Function(name=name, params=params, body=body, lineno=forward.lineno))
        self.names[key] = name
        self.signatures[(grad, tuple(varied_mask))] = names.tangent_mask

    def gradient_call(self, grad, varied_mask, nargs) -> Linearized:
        """The linearization of a call of ``grad(f)`` or ``value_and_grad(f)`` in differentiated code
        (``gradient_calls``)."""
        from .gradient_calls import gradient_linearization

        return self._made_here(("gradient call", grad, tuple(varied_mask)),
                               lambda: gradient_linearization(self, grad, varied_mask, nargs))

    def checkpointed_loop(self, loop, varied_mask, nargs) -> Linearized:
        """The linearization of a call of a checkpointed loop, whose adjoint reverses it within its budget of
        saved states (``loop_reversal``)."""
        from .loop_reversal import loop_linearization

        return self._made_here(("checkpointed loop", loop, tuple(varied_mask)),
                               lambda: loop_linearization(self, loop, varied_mask, nargs))

    def _made_here(self, key, make) -> Linearized:
        """A linearization whose halves are made by hand (``make()``: their names, and the functions by name,
        none where nothing is varied), once per ``key``: the forward half and the adjoint are added, the linear
        half on demand."""
        if key not in self.names:
            names, made = make()
            self.names[key] = names
            if made:
                self._linear_parts[names.linear] = (_copy(made[names.linear]), names)
                self._add(made[names.forward])
                self._add(made[names.adjoint])
                self.pending_linear[names.linear] = made[names.linear]
        return self.names[key]

    def value_and_grad(self, names: Linearized, params, lineno, picks=None, with_value=False, name=None) -> str:
        """A function returning the value and the gradient in one call (one compiled call under Numba).

        Its cotangent seed is ``rt.seed(out)``: 1.0 for a scalar output, an error for any other.
        With ``picks`` (one or a tuple of: a position among the cotangents, or the name of a parameter the
        output does not depend on, whose cotangent is zeros), it is the function ``grad`` returns instead: those
        cotangents alone (``with_value``: after the value).
        """
        suffix = "_value_and_grad" if picks is None or with_value else "_grad"
        name = name or self.namer.fresh(names.forward.removesuffix("_fwd") + suffix)
        local = core.Namer(set(params) | self.namer.taken)
        out, residuals, seed = local.fresh("out"), local.fresh("residuals"), local.fresh("seed")
        adjoint = core.call(core.name(names.adjoint), [core.name(residuals), core.name(seed)])
        body = [core.assign(core.tuple_([core.name(out, True), core.name(residuals, True)], store=True),
                            core.call(core.name(names.forward), [core.name(p) for p in params])),
                core.assign(seed, core.call(core.attr("rt.seed"), [_output(core.name(out), names.has_aux)]))]
        if picks is None:
            body.append(gast.Return(value=core.tuple_([core.name(out), adjoint])))
        else:
            varied = [p for p, m in zip(params, names.tangent_mask) if m]
            bars = [local.fresh(f"{p}_bar") for p in varied]
            body.append(core.assign(core.tuple_([core.name(b, True) for b in bars], store=True), adjoint))
            chosen = []
            for i in (picks if isinstance(picks, tuple) else (picks,)):
                if not isinstance(i, int):  # zeros shaped like the parameter, bound as every cotangent is
                    bars.append(local.fresh(f"{i}_bar"))
                    body.append(core.assign(bars[-1], core.call(core.attr("rt.zeros_like"), [core.name(i)])))
                chosen.append(core.name(bars[i] if isinstance(i, int) else bars[-1]))
            chosen = core.tuple_(chosen) if isinstance(picks, tuple) else chosen[0]
            body.append(gast.Return(value=core.tuple_([core.name(out), chosen]) if with_value else chosen))
        for stmt in body:
            core.at(stmt, lineno)
        self.functions.append(core.Function(name=name, params=list(params), body=body, lineno=lineno))
        return name

    def jacfwd(self, obj, argnums, params, lineno, param_ndims=None, param_kinds=None, method=None) -> str:
        """``jacfwd``: ``vmap`` of the JVP over the standard basis of each argument in ``argnums``.

        The basis runs along the Jacobian's last axis, which then takes the argument's shape:
        each Jacobian is shaped ``out.shape + x.shape``.  Vectorized, the JVP computes the primal
        once for the whole basis.  A loop (compiled code) would compute it once per direction, so
        there the function is linearized first: its forward half runs once, its linear half once
        per direction.  The Jacobian with respect to an argument the output does not depend on is
        zeros (its JVP takes no tangent for it).
        """
        nums = _nums(argnums)
        ndims = param_ndims or (None,) * len(params)
        local = core.Namer(set(params) | self.namer.taken)
        body, jacobians = [], []
        # (code that takes a gradient inside has a backward pass, which is not linearized again)
        linearize_first = self.prefer_loops and not calls(obj, len(params))
        out = None
        if linearize_first:
            names = self.linearize(obj, tuple(i in nums for i in range(len(params))), len(params),
                                   param_kinds=param_kinds)
            active = [n for n in nums if names.tangent_mask[n]]
            out, residuals = local.fresh("out"), local.fresh("residuals")
            body.append(core.assign(core.tuple_([core.name(out, True), core.name(residuals, True)], store=True),
                                    core.call(core.name(names.forward), [core.name(p) for p in params])))
            zeros = {}  # the tangent that is zero while another argument's basis runs, made when first needed
        for k in nums:
            x = core.name(params[k])
            basis, jac = local.fresh(f"{params[k]}_basis"), local.fresh(f"jac_{params[k]}")
            if not linearize_first:
                jvp_name, mask = self.jvp(obj, tuple(i == k for i in range(len(params))), len(params), param_kinds)
            if not (names.tangent_mask if linearize_first else mask)[k]:
                out = out or self._primal_output(obj, params, local, body)
                body.append(core.assign(jac, core.call(core.attr("rt.jacobian_zeros"), [core.name(out), x])))
                jacobians.append(jac)
                continue
            if linearize_first and ndims[k] == 1:
                columns = self._unit_columns(names, active.index(k), f"{getattr(obj, '__name__', 'f')}_column_"
                                             f"{params[k]}")
                if columns is not None:
                    body.append(core.assign(jac, core.call(core.attr("rt.jacobian_zeros"),
                                                           [core.name(out), core.clone(x)])))
                    for c, column in columns.items():
                        view = gast.Subscript(value=core.name(jac), slice=core.tuple_(
                            [gast.Constant(value=Ellipsis, kind=None), core.const(c)]), ctx=gast.Load())
                        body.append(gast.Expr(value=core.call(core.name(column), [core.name(residuals), view])))
                    jacobians.append(jac)
                    continue
            if linearize_first:
                for n in active:
                    if n != k and n not in zeros:
                        zeros[n] = local.fresh(f"{params[n]}_zero")
                        body.append(core.assign(zeros[n], core.call(core.attr("rt.zeros_like"),
                                                                    [core.name(params[n])])))
                axes = Axes(inputs=(None,) + tuple(0 if n == k else None for n in active), outputs=(-1,), arity=None)
                batched = self.batch(names.linear, axes, method)
                args = [core.name(residuals)] + [core.name(basis if n == k else zeros[n]) for n in active]
            else:
                column = self.tangent_output(jvp_name, [*params, local.fresh(f"{params[k]}_dot")], lineno)
                axes = Axes(inputs=(None,) * len(params) + (0,), outputs=(-1,), arity=None)
                batched = self.batch(column, axes, method, (*ndims, ndims[k]))
                args = [*map(core.name, params), core.name(basis)]
            body += [core.assign(basis, core.call(core.attr("rt.basis"), [x])),
                     core.assign(jac, core.call(core.name(batched), args)),
                     core.assign(jac, core.call(core.attr("rt.unflatten_last"), [core.name(jac), core.clone(x)]))]
            jacobians.append(jac)
        return self._wrapper(f"{getattr(obj, '__name__', 'f')}_jacfwd", params, body, jacobians, argnums, lineno)

    def _primal_output(self, obj, params, local, body) -> str:
        """The name of ``obj``'s output, computed by a call appended to ``body``: what a Jacobian of zeros is
        shaped after."""
        out = local.fresh("out")
        body.append(core.assign(out, core.call(core.name(self.primal_name(obj, len(params))),
                                               [core.name(p) for p in params])))
        return out

    def _unit_columns(self, names: Linearized, position, hint) -> dict | None:
        """The column functions of one tangent parameter of a linear function (see ``transforms.columns``),
        added to the program; None where the linear function is not made of them."""
        lin = self._linear_parts[names.linear][0]
        columns = unit_columns(lin, lin.params[1 + position], hint)
        if columns is None:
            return None
        found = {}
        for c, fn in columns.items():
            if fn is not None:
                fn.name = self.namer.fresh(fn.name)
                self._add(fn)
                found[c] = fn.name
        return found

    def jacrev(self, obj, argnums, params, lineno, param_kinds=None, method=None) -> str:
        """``jacrev``: the forward half once, then ``vmap`` of the adjoint over the output's standard basis.

        The basis runs along the first axis, which then takes the output's shape.  The Jacobian with
        respect to an argument the output does not depend on is zeros (the adjoint has no cotangent for it).
        """
        nums = _nums(argnums)
        names = self.adjoint(obj, tuple(i in nums for i in range(len(params))), len(params),
                             param_kinds=param_kinds)
        active = [n for n in nums if names.tangent_mask[n]]
        local = core.Namer(set(params) | self.namer.taken)
        out, residuals, basis = local.fresh("out"), local.fresh("residuals"), local.fresh("out_basis")
        rows = {k: local.fresh(f"jac_{params[k]}") for k in nums}
        body = [core.assign(core.tuple_([core.name(out, True), core.name(residuals, True)], store=True),
                            core.call(core.name(names.forward), [core.name(p) for p in params]))]
        if active:
            axes = Axes(inputs=(None, 0), outputs=(0,) * len(active), arity=len(active))
            batched = self.batch(names.adjoint, axes, method)
            body += [core.assign(basis, core.call(core.attr("rt.basis"), [core.name(out)])),
                     core.assign(core.tuple_([core.name(rows[k], True) for k in active], store=True),
                                 core.call(core.name(batched), [core.name(residuals), core.name(basis)]))]
        body += [core.assign(rows[k], core.call(core.attr("rt.unflatten_first"), [core.name(rows[k]), core.name(out)])
                             if k in active else
                             core.call(core.attr("rt.jacobian_zeros"), [core.name(out), core.name(params[k])]))
                 for k in nums]
        return self._wrapper(f"{getattr(obj, '__name__', 'f')}_jacrev", params, body, list(rows.values()), argnums,
                             lineno)

    def hessian(self, obj, tangent_function, argnums, params, lineno, param_kinds=None, param_ndims=None,
                columns=None) -> str:
        """``hessian`` = ``jacfwd(jacrev(f))``, computed as ``jacrev`` of ``f``'s output tangent, batched over
        the basis of the tangent (second derivatives commute): ``H[a][b] = d²f / dx_a dx_b``, ``a`` in ``argnums``
        and ``b`` in ``columns`` (``argnums`` if None: ``jacfwd(grad(f, a), b)`` takes others).

        ``tangent_function(k)`` is the generated function ``(*params, t) → f's output tangent along t``,
        ``t`` a tangent of parameter ``k``, or None where ``f``'s output does not depend on parameter ``k``:
        then the blocks ``H[a][k]`` are zeros.
        """
        columns = argnums if columns is None else columns
        nums = _nums(argnums)
        kinds = param_kinds or (None,) * len(params)
        ndims = param_ndims or (None,) * len(params)
        local = core.Namer(set(params) | self.namer.taken)
        body, blocks, out = [], {}, None
        for b in _nums(columns):
            tangent = tangent_function(b)
            names = [local.fresh(f"hess_{params[a]}_{params[b]}") for a in nums]
            blocks.update(((a, b), n) for a, n in zip(nums, names))
            if tangent is None:
                out = out or self._primal_output(obj, params, local, body)
                body += [core.assign(n, core.call(core.attr("rt.jacobian_zeros"), [
                    core.call(core.attr("rt.jacobian_zeros"), [core.name(out), core.name(params[a])]),
                    core.name(params[b])])) for a, n in zip(nums, names)]
                continue
            inner = self.jacrev(tangent, argnums, [*params, f"{params[b]}_dot"], lineno, (*kinds, kinds[b]))
            arity = None if isinstance(argnums, int) else len(nums)
            axes = Axes(inputs=(None,) * len(params) + (0,), outputs=(-1,) * len(nums), arity=arity)
            batched = self.batch(inner, axes, None, (*ndims, ndims[b]))
            basis = local.fresh(f"{params[b]}_basis")
            target = core.name(names[0], True) if arity is None else \
                core.tuple_([core.name(n, True) for n in names], store=True)
            body += [core.assign(basis, core.call(core.attr("rt.basis"), [core.name(params[b])])),
                     core.assign(target, core.call(core.name(batched), [*map(core.name, params), core.name(basis)]))]
            body += [core.assign(n, core.call(core.attr("rt.unflatten_last"), [core.name(n), core.name(params[b])]))
                     for n in names]
        rows = [blocks[a, columns] if isinstance(columns, int) else
                core.tuple_([core.name(blocks[a, b]) for b in _nums(columns)]) for a in nums]
        return self._wrapper(f"{getattr(obj, '__name__', 'f')}_hessian", params, body, rows, argnums, lineno)

    def scalar_jacobian(self, label, obj, argnums, params, lineno, param_kinds=None, tangent_function=None) -> str:
        """``jacfwd``, ``jacrev`` or ``hessian`` of a function of scalars as device code computes it: each
        entry a derivative along 1.0, with no basis arrays.

        ``jacfwd``: the output tangent of the JVP along each argument; ``jacrev``: the gradient (of a scalar
        output); ``hessian``: the gradient of the output tangent along each argument (``tangent_function``
        as for ``hessian``).
        """
        nums = _nums(argnums)
        kinds = param_kinds or (None,) * len(params)
        local = core.Namer(set(params) | self.namer.taken)
        body, found = [], {}

        def gradient(fun, fun_params, fun_kinds, args, column):
            """The derivatives ``found[n, column]``: 0.0 for the arguments the output does not depend on."""
            if fun is not None:
                varied = tuple(i in nums for i in range(len(fun_params)))
                names = self.adjoint(fun, varied, len(fun_params), param_kinds=fun_kinds)
                active = [n for n in nums if names.tangent_mask[n]]
            prefix = "jac" if column is None else "hess"
            for n in nums:
                suffix = "" if column is None else f"_{params[column]}"
                found[n, column] = local.fresh(f"{prefix}_{params[n]}{suffix}")
                if fun is None or n not in active:
                    body.append(core.assign(found[n, column], core.const(0.0)))
            if fun is not None and active:
                callee = self.value_and_grad(names, fun_params, lineno, tuple(range(len(active))))
                body.append(core.assign(core.tuple_([core.name(found[n, column], True) for n in active], store=True),
                                        core.call(core.name(callee), args)))

        one = core.const(1.0)
        if label == "jacrev":
            gradient(obj, params, kinds, list(map(core.name, params)), None)
        for k in nums if label != "jacrev" else ():
            dot = local.fresh(f"{params[k]}_dot")
            if label == "hessian":
                gradient(tangent_function(k), [*params, dot], (*kinds, kinds[k]), [*map(core.name, params), one], k)
                continue
            jvp_name, mask = self.jvp(obj, tuple(i == k for i in range(len(params))), len(params), kinds)
            found[k, None] = local.fresh(f"jac_{params[k]}")
            if not mask[k]:
                body.append(core.assign(found[k, None], core.const(0.0)))
                continue
            column = self.tangent_output(jvp_name, [*params, dot], lineno)
            body.append(core.assign(found[k, None], core.call(core.name(column), [*map(core.name, params), one])))
        if label == "hessian" and isinstance(argnums, int):
            rows = [found[argnums, argnums]]
        elif label == "hessian":
            rows = [core.tuple_([core.name(found[a, b]) for b in nums]) for a in nums]
        else:
            rows = [found[n, None] for n in nums]
        return self._wrapper(f"{getattr(obj, '__name__', 'f')}_{label}", params, body, rows, argnums, lineno)

    def _wrapper(self, hint, params, body, results, argnums, lineno) -> str:
        """A generated function of ``params`` running ``body`` and returning ``results`` (one per argnum)."""
        name = self.namer.fresh(hint)
        results = [core.name(r) if isinstance(r, str) else r for r in results]
        value = results[0] if isinstance(argnums, int) else core.tuple_(results)
        body = body + [gast.Return(value=value)]
        for stmt in body:
            core.at(stmt, lineno)
        self.functions.append(core.Function(name=name, params=list(params), body=body, lineno=lineno))
        return name

    def render(self, header):
        return render(self.functions, header, self.constants)


class _Callees:
    """What the jvp pass asks about a user function it calls, answered for reverse mode.

    The JVP of the caller calls a stand-in named after the callee's forward function;
    ``split_user_calls`` replaces each such call by the forward and linear halves (the forward half
    marked to be computed again, for a checkpointed callee).
    """

    def __init__(self, program, caller, seeds, for_transpose, check_linear):
        self.program, self.caller, self.for_transpose, self.check_linear = program, caller, for_transpose, check_linear
        self.calls: dict = {}  # stand-in → (forward, linear, number of primal arguments)
        self.arg_kinds, self.result_kinds = helper_kinds(caller, seeds)

    def jvp(self, obj, varied_mask, nargs=None):
        from .transform_objects import refuse_backward_pass

        try:
            if _plain_gradient(obj):
                names = self.program.gradient_call(obj, varied_mask, nargs or len(varied_mask))
                self.calls[names.forward] = (names.forward, names.linear, len(varied_mask), set(), False)
                return names.forward, names.tangent_mask
            if hasattr(obj, "emit"):  # a transform called in the code: its backward pass is not taped again
                refuse_backward_pass(obj, "reverse mode (grad, vjp, jacrev) of code that calls")
        except UnsupportedTransformError as error:
            raise located(error, self.caller, obj) from None
        callee = normalize(obj, len(varied_mask))
        writes = {i for i, p in enumerate(callee.params) if p in analysis.written_parameters(callee)}
        if getattr(obj, "__s2s_loop__", False):
            names = self.program.checkpointed_loop(obj, varied_mask, len(varied_mask))
            self.calls[names.forward] = (names.forward, names.linear, len(varied_mask), writes, False)
            return names.forward, names.tangent_mask
        # A checkpointed function has the same halves as the function: only its calls differ, under a name
        # of their own here (partial evaluation computes their forward half again instead of saving it).
        checkpointed = getattr(obj, "__s2s_checkpoint__", False)
        policy = obj.policy if checkpointed else None  # with one, the callee's own linear half computes again
        recompute = checkpointed and policy is None
        fun = obj.__s2s_function__ if checkpointed else obj
        names = self.program.linearize(fun, varied_mask, nargs, self.for_transpose, self.check_linear,
                                       self.arg_kinds.get(obj), remat=policy)
        stand_in = f"{names.forward}_checkpointed" if recompute else names.forward
        self.calls[stand_in] = (names.forward, names.linear, len(varied_mask), writes, recompute)
        return stand_in, names.tangent_mask

    def jvp_useful_args(self, obj, varied_mask) -> tuple:
        return self.jvp(obj, varied_mask)[1]


def _plain_gradient(obj) -> bool:
    """Is ``obj`` ``grad(f)`` or ``value_and_grad(f)`` of a function ``f`` (no auxiliary output, not a transform)?"""
    from .transform_objects import Grad

    return isinstance(obj, Grad) and not obj.has_aux and not hasattr(building.unwrap(obj.fun)[0], "emit")


def _arg_kind(arg, known):
    """What the callee's ``kinds`` takes for an argument: an array's dimensions where known, else its kind."""
    if isinstance(arg, gast.Name) and arg.id in known.ndims:
        return known.ndims[arg.id]
    return analysis.kind_of(arg, known)


def helper_kinds(caller: core.Function, seeds: dict) -> tuple[dict, dict]:
    """Kinds of the helpers ``caller`` calls: their arguments' (callee → a kind per argument, where every
    call agrees) and their results' (name the caller binds → its kind, where plain)."""
    arg_kinds: dict = {}
    result_kinds: dict = {}
    for _ in range(3):  # results feed arguments of later calls (an integrator's stages): a few rounds settle
        known = analysis.kinds(caller, {**result_kinds, **seeds})
        arg_kinds, results = {}, {}
        for stmt in core.walk_statements(caller.body):
            value = getattr(stmt, "value", None)
            if caller.is_user_call(value):
                obj = caller.callees[value.func.id]
                here = tuple(_arg_kind(a, known) for a in value.args)
                seen = arg_kinds.setdefault(obj, here)
                arg_kinds[obj] = tuple(k if k == h else None for k, h in zip(seen, here))
                if isinstance(stmt, gast.Assign):
                    results.update(_result_kinds(obj, here, stmt.targets[0]))
        if results == result_kinds:
            break
        result_kinds = results
    return arg_kinds, result_kinds


def _result_kinds(obj, arg_kinds, target) -> dict:
    """Kinds of what ``target`` binds from a call to ``obj`` with arguments of ``arg_kinds``, where they are plain."""
    if _plain_gradient(obj):  # a gradient is shaped as its argument (its code is not read back)
        nums = arguments.argnums_in(obj.argnums, len(arg_kinds))
        grads = arg_kinds[nums] if isinstance(nums, int) else tuple(arg_kinds[n] for n in nums)
        return _bound_kinds(target, (analysis.SCALAR, grads) if obj.with_value else grads)
    callee = normalize(obj, len(arg_kinds))
    kinds = analysis.kinds(callee, dict(zip(callee.params, arg_kinds)))
    results = [s.value for s in core.walk_statements(callee.body) if isinstance(s, gast.Return) and s.value is not None]
    found: dict = {}
    for value in results:
        pairs = zip(target.elts, value.elts) if isinstance(target, gast.Tuple) and isinstance(value, gast.Tuple) \
            else [(target, value)] if isinstance(target, gast.Name) else []
        for t, v in pairs:
            if isinstance(t, gast.Name):
                kind = _arg_kind(v, kinds)
                found[t.id] = kind if found.get(t.id, kind) == kind else None
    return {k: v for k, v in found.items() if v is not None}


def _bound_kinds(target, kinds) -> dict:
    """The kinds of the names ``target`` binds from a result with ``kinds`` (nested as the result is)."""
    if isinstance(target, gast.Name):
        return {} if isinstance(kinds, tuple) else {target.id: kinds}
    if isinstance(target, gast.Tuple) and isinstance(kinds, tuple) and len(kinds) == len(target.elts):
        return {k: v for t, kind in zip(target.elts, kinds) for k, v in _bound_kinds(t, kind).items()}
    return {}


def calls(obj, nargs, transform=lambda fun: True) -> bool:
    """Whether ``obj``, or a helper it calls, calls a transform (``s2s.grad(f)(x)`` in its code) of which
    ``transform(fun)`` is true."""
    seen, todo = set(), [(obj, nargs)]
    while todo:
        fun, n = todo.pop()
        if id(fun) in seen:
            continue
        seen.add(id(fun))
        if hasattr(fun, "emit"):
            if transform(fun):
                return True
            continue
        fn = normalize(fun, n)
        todo += [(callee, None) for callee in fn.callees.values()]
    return False


def _nums(argnums) -> tuple:
    return (argnums,) if isinstance(argnums, int) else tuple(argnums)


def _copy(fn: core.Function) -> core.Function:
    """A copy of a generated function, with the facts passes attached to it, safe from later clean-up."""
    copied = dataclasses.replace(fn, body=core.clone(fn.body), temps=set(fn.temps))
    for fact in ("kinds", "counters", "param_witnesses"):  # what partial evaluation tells transposition
        if hasattr(fn, fact):
            setattr(copied, fact, getattr(fn, fact))
    return copied


def _split_aux(fn: core.Function):
    """``return out, aux`` → ``return out``; the auxiliary value (an atom), which the forward function returns too."""
    ret = fn.body[-1]
    value = ret.value
    if isinstance(value, gast.Tuple) and len(value.elts) == 2:
        ret.value, aux = value.elts
        return aux
    namer = fn.namer()
    out, aux = namer.fresh("out"), namer.fresh("aux")
    fn.temps |= {out, aux}
    unpack = core.at(core.assign(core.tuple_([core.name(out, True), core.name(aux, True)], store=True), value),
                     ret.lineno)
    fn.body[-1:] = [unpack, core.at(gast.Return(value=core.name(out)), ret.lineno)]
    return core.name(aux)


def _output(result, has_aux):
    return gast.Subscript(value=result, slice=core.const(0), ctx=gast.Load()) if has_aux else result
