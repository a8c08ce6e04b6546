"""A call of ``grad(f)`` or ``value_and_grad(f)`` inside differentiated code, linearized by hand.

A gradient's derivative is a Hessian: ``H t``, the gradient of ``f``'s tangent along ``t`` (reverse mode over
``f``'s JVP, which has no tapes to differentiate again).  The Hessian is symmetric, so its transpose is such a
gradient too.  The forward half saves the arguments; the linear half and the adjoint each call one gradient of
a tangent of ``f`` (the adjoint adds the value's cotangent times ``f``'s gradient, for ``value_and_grad``).
"""

from __future__ import annotations

import gast

from . import core
from .frontend.normalize import normalize
from .program import Linearized
from .transform_objects import Grad, function_object, tangent_along


def gradient_linearization(program, grad, varied_mask, nargs) -> tuple[Linearized, dict]:
    """The names of the forward half, the linear half and the adjoint of a call of ``grad`` in ``program``, and
    the three functions, by name (none where nothing is varied)."""
    specs = (None,) * nargs
    fun = function_object(grad.fun, specs)
    fn = normalize(fun, nargs)
    params, lineno = fn.params, fn.lineno
    nums = tuple(n % nargs for n in ((grad.argnums,) if isinstance(grad.argnums, int) else grad.argnums))
    along, mask = tangent_along(fun, specs, tuple(varied_mask))
    varied = [i for i, m in enumerate(mask) if m]
    hint = f"{fn.name}_value_and_grad" if grad.with_value else f"{fn.name}_grad"
    names = Linearized(program.namer.fresh(f"{hint}_fwd"), program.namer.fresh(f"{hint}_lin"), mask)
    if not varied:
        return names, {}
    names.adjoint = program.namer.fresh(f"{hint}_bwd")
    local = core.Namer(set(params) | program.namer.taken)
    residuals, ct, value_bar, grads_bar = (local.fresh(n) for n in ("residuals", "ct", "value_bar", "grads_bar"))
    dots = [local.fresh(f"{params[i]}_dot") for i in varied]
    primals = [core.name(p) for p in params]
    unpack = core.assign(core.tuple_([core.name(p, True) for p in params], store=True), core.name(residuals))

    def gradient(of, argnums, nparams, with_value=False):
        return core.name(Grad(of, argnums, has_aux=False, with_value=with_value).emit(program, (None,) * nparams))

    # Linear: the derivative of (the value and) the gradient along the tangents.
    tangent_of = gradient(along, grad.argnums, nargs + len(dots), grad.with_value)
    linear = [unpack, gast.Return(value=core.call(tangent_of, primals + [core.name(d) for d in dots]))]
    # Adjoint: H applied to the gradient's cotangent, the tangent of f along it differentiated in reverse.
    adjoint = [unpack]
    if grad.with_value:
        adjoint.append(core.assign(core.tuple_([core.name(value_bar, True), core.name(grads_bar, True)],
                                               store=True), core.name(ct)))
    seeds = core.name(grads_bar if grad.with_value else ct)
    along_output, output_mask = tangent_along(fun, specs, tuple(i in nums for i in range(nargs)))
    directions = [seeds if isinstance(grad.argnums, int) else
                  gast.Subscript(value=seeds, slice=core.const(nums.index(i)), ctx=gast.Load())
                  for i in range(nargs) if output_mask[i]]
    bars = [local.fresh(f"{params[i]}_bar") for i in varied]
    hessian_along = gradient(along_output, tuple(varied), nargs + len(directions))
    adjoint.append(core.assign(core.tuple_([core.name(b, True) for b in bars], store=True),
                               core.call(hessian_along, primals + directions)))
    cts = [core.name(b) for b in bars]
    if grad.with_value:  # d(value)/d(argument) is the gradient
        grads = [local.fresh(f"{params[i]}_grad") for i in varied]
        adjoint.append(core.assign(core.tuple_([core.name(g, True) for g in grads], store=True),
                                   core.call(gradient(fun, tuple(varied), nargs), primals)))
        cts = [gast.BinOp(left=gast.BinOp(left=core.name(value_bar), op=gast.Mult(), right=core.name(g)),
                          op=gast.Add(), right=b) for g, b in zip(grads, cts)]
    adjoint.append(gast.Return(value=core.tuple_(cts)))
    primal = core.call(core.name(program.primal_name(grad, nargs)), primals)
    forward = [gast.Return(value=core.tuple_([primal, core.tuple_(primals)]))]
    functions = {names.forward: (list(params), forward), names.linear: ([residuals] + dots, linear),
                 names.adjoint: ([residuals, ct], adjoint)}
    made = {}
    for name, (fn_params, body) in functions.items():
        for stmt in body:
            core.at(stmt, lineno)
        made[name] = core.Function(name=name, params=fn_params, body=body, lineno=lineno,
                                   linear=set(dots) if name == names.linear else set())
    return names, made
