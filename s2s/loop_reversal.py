"""The linearization of a checkpointed loop (``for i in s2s.checkpointed(range(...), snapshots=k)``).

Lifted (``frontend.lifting``), the loop is ``loop_<line>(start, stop, step, snapshots, *carried, *inputs)``,
calling ``loop_<line>_body`` once per trip.  Its forward half saves its arguments and runs the loop as
it is; its linear half is the loop's JVP; its adjoint is the *driver* of binomial checkpointing: it
asks ``revolve`` for one action at a time, runs steps forward with the body itself, saves and restores
the carried names (copies: the body may write into arrays), and takes one step back at a time with the
body's own forward and backward halves.  It holds at most ``k`` states and one step's residuals.
"""

from __future__ import annotations

import gast

from . import core
from .frontend.normalize import normalize
from .program import Linearized


def _function(source: str, lineno: int) -> core.Function:
    """``source`` (one ``def``) as a generated function, every statement at the user's line ``lineno``."""
    node = gast.parse(source).body[0]
    for stmt in core.walk_statements(node.body):
        core.at(stmt, lineno)
    return core.Function(name=node.name, params=[a.id for a in node.args.args], body=node.body, lineno=lineno)


def _tuple(names) -> str:
    return names[0] if len(names) == 1 else "(" + ", ".join(names) + ")"


def loop_linearization(program, loop, varied_mask, nargs) -> tuple[Linearized, dict]:
    """The names of the forward half, the linear half and the adjoint of a call of ``loop`` in ``program``,
    and the three functions, by name (none where nothing is varied)."""
    fn = normalize(loop, nargs)
    # The loop calls the body, which returns the carried names, the parameters after the bounds (the body's
    # outputs may be bound to names of their own first, where the loop reads a tree, passed as its leaves).
    steps, = [s for s in fn.body if isinstance(s, gast.For)]
    step = next(s for s in steps.body if isinstance(s, gast.Assign) and fn.is_user_call(s.value))
    body, call = fn.callees[step.value.func.id], step.value
    index, *args = [a.id for a in call.args]
    outputs = step.targets[0]
    carried = fn.params[4:4 + (len(outputs.elts) if isinstance(outputs, gast.Tuple) else 1)]
    start, stop, stride, snapshots = fn.params[:4]
    jvp_name, mask = program.jvp(loop, varied_mask, nargs)
    tangents = [p for p, m in zip(fn.params, mask) if m]
    forward, linear, adjoint = (program.namer.fresh(f"{fn.name}_{role}") for role in ("fwd", "lin", "bwd"))
    names = Linearized(forward, linear, mask, adjoint)
    if not tangents:
        return names, {}
    varied = {p for p, m in zip(fn.params, varied_mask) if m}
    body_names = program.linearize(body, (False, *(a in carried or a in varied for a in args)), len(call.args),
                                   for_transpose=True)
    body_varied = [a for a, m in zip(args, body_names.tangent_mask[1:]) if m]
    body_adjoint, written = program.adjoint_of(body_names.linear)

    local = core.Namer(set(fn.params) | program.namer.taken)
    residuals, ct, cts, schedule, k = (local.fresh(n) for n in ("residuals", "ct", "cts", "loop_schedule", "loop_k"))
    first, last, save, back, load = (local.fresh(f"loop_{n}") for n in ("first", "last", "save", "back", "load"))
    dots = {p: local.fresh(f"{p}_dot") for p in tangents}
    bars = {p: local.fresh(f"{p}_bar") for p in dict.fromkeys(carried + body_varied + tangents)}
    saved = {c: local.fresh(f"{c}_saved") for c in carried}
    params, state = ", ".join(fn.params), _tuple(carried)
    copies = [f"    {c} = rt.copy({c})" for c in carried]
    primal = program.primal(loop, nargs)
    step_args = ", ".join([f"{start} + {{at}} * {stride}", *args])
    body_primal = program.primal(body, len(call.args))

    initial = {c: local.fresh(f"{c}_initial") for c in carried}
    forward = [f"def {names.forward}({params}):", *(f"    {initial[c]} = rt.copy({c})" for c in carried),
               f"    return {primal}({params}), ({', '.join(initial.get(p, p) for p in fn.params)},)"]
    linear = [f"def {names.linear}({', '.join([residuals, *dots.values()])}):",
              f"    {params} = {residuals}", *copies,
              f"    return {jvp_name}({', '.join([*fn.params, *dots.values()])})[1]"]
    # The carried arrays the body writes into are its outputs too: what they hold after it has the output's cotangent.
    handed = "".join(f", rt.zeros_like({body_varied[i]})" for i in written)
    taken_back = [f"            {cts} = {body_adjoint}({body_names.forward}({step_args.format(at=back)})[1], "
                  f"{_tuple([bars[c] for c in carried])}{handed})"]
    for c in carried:
        got = body_varied.index(c) if c in body_varied else None
        taken_back.append(f"            {bars[c]} = " + (f"{cts}[{got}]" if got is not None else f"rt.zeros_like({c})"))
    taken_back += [f"            {bars[a]} += {cts}[{j}]" for j, a in enumerate(body_varied) if a not in carried]
    adjoint = [f"def {names.adjoint}({residuals}, {ct}):",
               f"    {params} = {residuals}",
               f"    {_tuple([bars[c] for c in carried])} = {ct}",
               *(f"    {bars[p]} = rt.zeros_like({p})" for p in bars if p not in carried),
               *copies,
               f"    {schedule} = rt.revolve(len(range({start}, {stop}, {stride})), {snapshots})",
               *(f"    {saved[c]} = [rt.copy({c})] * {snapshots}" for c in carried),
               f"    {first}, {last}, {save}, {back}, {load} = rt.revolve_next({schedule})",
               f"    while {first} >= 0:",
               f"        for {k} in range({first}, {last}):",
               f"            {state} = {body_primal}({step_args.format(at=k)})",
               f"        if {save} >= 0:",
               *(f"            {saved[c]}[{save}] = rt.copy({c})" for c in carried),
               f"        if {back} >= 0:", *taken_back,
               f"        if {load} >= 0:",
               *(f"            {c} = rt.copy({saved[c]}[{load}])" for c in carried),
               f"        {first}, {last}, {save}, {back}, {load} = rt.revolve_next({schedule})",
               f"    return ({', '.join(bars[p] for p in tangents)},)"]
    functions = {name: _function("\n".join(lines), fn.lineno) for name, lines in
                 ((names.forward, forward), (names.linear, linear), (names.adjoint, adjoint))}
    functions[names.linear].linear = set(dots.values())
    return names, functions
