"""The public transforms, named and behaving like JAX's.

The functions users call, with their docstrings.  The transform objects (``transform_objects``), the
build cache (``building``), the argument checks (``arguments``) and ``vmap``'s axes (``batch_axes``)
have modules of their own.
"""

from __future__ import annotations

from . import (analysis, arguments, backends, batch_axes, building, parallel, pytrees, stages,
               transform_objects)
from .arguments import param_kinds
from .backends import PYTHON
from .building import build, key_of
from .frontend.normalize import normalize

#: ``jit``'s targets that name a backend other than their own (``s2s.backends``).
_BACKENDS = {"cpu": "numba"}

MODES = ("primal", "jvp", "linearize", "transpose", "vjp", "grad")
#: Modes whose code a transform object generates (``s2s show --mode vmap``).
TRANSFORMS = ("vmap", "jacfwd", "jacrev", "hessian")


def jit(fun, static_argnums=(), static_argnames=(), target="cpu"):
    """Compile ``fun`` with Numba in nopython mode; transforms of the result stay compiled.

    Works as a decorator.  If Numba cannot compile the generated code, calling
    the function raises :class:`s2s.errors.CompileError`.  ``static_argnums`` (ints) and
    ``static_argnames`` (names) mark parameters as compile-time constants: the code is
    specialised on their values, which must be hashable (see ``s2s.static``).
    ``target``: ``"cpu"`` (batch loops in parallel over the cores) or ``"cuda"``, for
    ``s2s.vmap`` of per-example code: a kernel running one example per GPU thread (``docs/cuda.md``).
    """
    backend = backends.named(_BACKENDS.get(target, target))
    if backend.device:
        if not isinstance(building.unwrap(fun)[0], transform_objects.Vmap) or static_argnums or static_argnames:
            raise TypeError(f"the {target} target compiles s2s.vmap of per-example code (one thread per example), "
                            f"not {fun!r}: jit s2s.vmap(f), s2s.vmap(s2s.grad(f)), s2s.vmap(s2s.jacfwd(f)), …")
        return building.Jitted(building.unwrap(fun)[0], backend)
    if hasattr(fun, "__s2s_pmap__"):  # pmap compiles what it maps already
        return fun
    if hasattr(fun, "__s2s_jit__"):  # a wrapper that compiles what it wraps (s2s.vectorize)
        return fun.__s2s_jit__(static_argnums, static_argnames)
    if static_argnums == () and static_argnames == ():
        return fun if isinstance(fun, building.Jitted) else building.Jitted(fun, backend)
    fun = building.unwrap(fun)[0]
    if hasattr(fun, "emit"):
        raise TypeError(f"static arguments are for functions, not for {fun!r}: jit the function with its static "
                        "arguments, then transform it")
    return building.Jitted(fun, backend, static_argnums, static_argnames)


def jvp(fun, primals, tangents):
    """Forward-mode Jacobian-vector product: ``(fun(*primals), J(primals) @ tangents)``.

    ``primals`` and ``tangents`` are tuples (or lists) with one entry per
    positional parameter; each tangent matches its primal's structure, shape
    and dtype.  ``None`` is a zero tangent, and the only one an integer primal
    takes.
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp expects primals and tangents as tuples (or lists), one entry per argument; "
                        f"got {type(primals).__name__} and {type(tangents).__name__}")
    if len(primals) != len(tangents):
        raise TypeError(f"jvp got {len(primals)} primals but {len(tangents)} tangents: they must match")
    if transform_objects.has_static(fun):  # f specialised on its static arguments, whose tangents are ignored
        fun, primals, static = transform_objects.specialized_call(fun, tuple(primals))
        tangents = _without(tangents, static)
    fun, backend = building.unwrap(fun)
    if pytrees.involved(fun, primals):
        call = pytrees.flat_call(fun, primals)
        out, out_dot = jvp(building.rewrap(call.fun, backend), call.leaves, pytrees.tangent_leaves(call, tangents))
        return call.output(out), call.output(out_dot)
    primals = arguments.real_arguments(primals)
    tangents = tuple(arguments.check_tangent(p, t, f"argument {i}") for i, (p, t) in enumerate(zip(primals, tangents)))
    varied = tuple(t is not None for t in tangents)
    if isinstance(fun, transform_objects.Grad):  # compiled where anything it transforms is under s2s.jit
        backend = building.backend_of(fun, backend)
        return fun.call(primals, {}, backend), fun.derivative(primals, tangents, backend)
    fun, backend = transform_objects.plain(fun, backend, primals, "jvp")
    built = build(key_of(fun), "jvp", varied, len(primals), backend, param_kinds(primals),
                  floats=backend.float_type(primals))
    args = primals + built.defaults_after(len(primals))
    tangents += (None,) * (len(args) - len(tangents))
    return built.call(*args, *[t for t, m in zip(tangents, built.tangent_mask) if m])


def linearize(fun, *primals):
    """The value of ``fun`` at ``primals`` and a function computing its JVP there.

    Returns ``(primals_out, f_jvp)``; ``f_jvp(*tangents)`` runs only the linear part
    of the JVP, from values saved by the first call, so it costs no more than the
    tangent half of ``jvp`` each time (as ``jax.linearize``).
    """
    if transform_objects.has_static(fun):  # f specialised on its static arguments, whose tangents are ignored
        specialized, rest, static = transform_objects.specialized_call(fun, primals)
        out, f_jvp = linearize(specialized, *rest)
        return out, lambda *tangents: f_jvp(*_without(tangents, static))
    fun, backend = building.unwrap(fun)
    if pytrees.involved(fun, primals):
        call = pytrees.flat_call(fun, primals)
        out, f_jvp = linearize(building.rewrap(call.fun, backend), *call.leaves)
        return call.output(out), lambda *tangents: call.output(f_jvp(*pytrees.tangent_leaves(call, tangents)))
    primals = arguments.real_arguments(primals)
    varied = tuple(not arguments.all_integers(p) for p in primals)
    fun, backend = transform_objects.plain(fun, backend, primals, "linearize")
    built = build(key_of(fun), "linearize", varied, len(primals), backend, param_kinds(primals),
                  floats=backend.float_type(primals))
    args = primals + built.defaults_after(len(primals))
    out, residuals = built.forward(*args)

    def f_jvp(*tangents):
        if len(tangents) != len(primals):
            raise TypeError(f"f_jvp takes {len(primals)} tangents, one per primal; got {len(tangents)}")
        checked = [arguments.check_tangent(p, t, f"argument {i}") for i, (p, t) in enumerate(zip(primals, tangents))]
        return built.linear(residuals, *built.tangent_arguments(args, checked))

    return out, f_jvp


def vjp(fun, *primals, has_aux=False):
    """The value of ``fun`` at ``primals`` and a function pulling cotangents back through it.

    Returns ``(primals_out, f_vjp)`` (and the auxiliary data if ``has_aux``: then ``fun``
    returns ``(output, aux)`` and only the output is differentiated).  ``f_vjp(ct)`` takes a
    cotangent shaped like the output and returns a tuple with one cotangent per primal,
    ``None`` for integer primals.
    """
    if transform_objects.has_static(fun):  # f specialised on its static arguments, whose cotangents are None
        specialized, rest, static = transform_objects.specialized_call(fun, primals)
        out, f_vjp, *aux = vjp(specialized, *rest, has_aux=has_aux)
        return (out, lambda ct: _with_none(f_vjp(ct), static, len(primals)), *aux)
    fun, backend = building.unwrap(fun)
    if pytrees.involved(fun, primals) or any(type(p) is tuple for p in primals):  # cotangents as the trees
        return tree_vjp(fun, backend, primals, has_aux)
    primals = arguments.real_arguments(primals)
    varied = tuple(not arguments.all_integers(p) for p in primals)
    fun, backend = transform_objects.plain(fun, backend, primals, "vjp")
    built = build(key_of(fun), "vjp", varied, len(primals), backend, param_kinds(primals), has_aux,
                  backend.float_type(primals))
    args = primals + built.defaults_after(len(primals))
    result, residuals = built.forward(*args)
    out, aux = result if has_aux else (result, None)

    def f_vjp(ct):
        ct = arguments.check_cotangent(out, arguments.tuples(ct))
        return built.cotangents_for(primals, built.adjoint(residuals, ct))

    return (out, f_vjp, aux) if has_aux else (out, f_vjp)


def _without(values, positions) -> tuple:
    return tuple(v for i, v in enumerate(values) if i not in positions)


def _with_none(values, positions, count) -> tuple:
    """``values``, with ``None`` put at ``positions`` (of ``count`` in all)."""
    rest = iter(values)
    return tuple(None if i in positions else next(rest) for i in range(count))


def tree_vjp(fun, backend, primals, has_aux):
    """``vjp`` of a function of trees: the flattened function's, cotangents rebuilt as the primals' trees."""
    call = pytrees.flat_call(fun, primals, aux=has_aux)
    result = vjp(building.rewrap(call.fun, backend), *call.leaves, has_aux=has_aux)
    out, flat_vjp = result[0], result[1]

    def f_vjp(ct):
        cts = flat_vjp(pytrees.flat_cotangent(call, ct))
        return tuple(call.rebuild(n, [cts[k] for k in span]) for n, span in enumerate(call.spans))

    if has_aux:
        return call.output(out), f_vjp, pytrees.aux_tree(call, result[2])
    return call.output(out), f_vjp


def linear_transpose(fun, *primals):
    """The transpose of ``fun``, which must be linear in its arguments.

    ``primals`` give the arguments' shapes and dtypes: arrays, scalars, or any object with
    ``shape`` and ``dtype`` attributes.  The result takes a cotangent shaped like ``fun``'s
    output and returns a tuple with one entry per primal, with the primals' dtypes.  A
    statement that is not linear in the arguments raises ``s2s.errors.NonLinearError``.
    """
    fun, backend = building.unwrap(fun)
    stand_ins = tuple(arguments.stand_in(p, f"argument {i}") for i, p in enumerate(primals))
    varied = (True,) * len(stand_ins)
    fun, backend = transform_objects.plain(fun, backend, stand_ins, "linear_transpose")
    built = build(key_of(fun), "linear_transpose", varied, len(stand_ins), backend, param_kinds(stand_ins),
                  floats=backend.float_type(stand_ins))
    out, residuals = built.forward(*stand_ins)

    def f_transpose(ct):
        ct = arguments.check_cotangent(out, arguments.tuples(ct))
        return built.cotangents_for(stand_ins, built.adjoint(residuals, ct))

    return f_transpose


def grad(fun, argnums=0, has_aux=False):
    """The gradient of a scalar-valued ``fun`` with respect to argument(s) ``argnums``.

    ``argnums`` is an int (one gradient) or a tuple of ints (a tuple of gradients); each
    gradient has its argument's shape and dtype.  With ``has_aux``, ``fun`` returns
    ``(output, aux)`` and the result is ``(gradient, aux)``.  Compile it all with
    ``s2s.jit(s2s.grad(f))``.
    """
    return transform_objects.Grad(fun, argnums, has_aux, with_value=False)


def value_and_grad(fun, argnums=0, has_aux=False):
    """Like ``grad``, but returns ``(value, gradient)`` (``((value, aux), gradient)`` with ``has_aux``)."""
    return transform_objects.Grad(fun, argnums, has_aux, with_value=True)


def vmap(fun, in_axes=0, out_axes=0, axis_name=None, *, method=None):
    """Map ``fun`` over an axis of its arguments, as ``jax.vmap``.

    ``in_axes``: the axis of each positional argument to map over (an int, ``None`` for an
    argument passed whole to every example, or a tuple with one entry per argument, nested for
    tuple arguments).  ``out_axes``: where each output's batch axis goes (``None`` for an output
    that does not depend on the mapped arguments).  ``method``: ``"vectorized"`` (each NumPy
    operation runs on the whole batch), ``"loop"`` (a loop over the examples; a parallel
    ``prange`` under ``s2s.jit``), or None: vectorized where it applies, otherwise the loop, and
    the loop under ``s2s.jit``.  ``axis_name`` names the mapped axis for the collectives ``fun`` calls
    (``s2s.psum(x, axis_name)``, …), as in ``pmap``.
    """
    return transform_objects.Vmap(fun, in_axes, out_axes, method, axis_name)


def pmap(fun, axis_name=None, *, in_axes=0, out_axes=0, static_broadcasted_argnums=(), devices=None, backend=None):
    """Run ``fun`` on every device, one example per device, as ``jax.pmap``.

    The mapped axis's size may not exceed the number of devices (``s2s.device_count()``: the CPU cores
    Numba's threads run on).  ``in_axes``/``out_axes`` as ``vmap``'s; ``axis_name`` names the mapped axis
    for collectives (``s2s.psum``, ``pmean``, ``pmax``, ``pmin``, ``all_gather``, ``axis_index``) inside
    ``fun``, which s2s splits there into stages; ``static_broadcasted_argnums`` are compile-time
    constants, passed whole to every example.  ``devices``: a list of ``s2s.devices()`` (the mapped axis
    then has exactly that many examples), or a ``distributed.Client``, whose workers then run the
    examples.  ``backend``: ``"cpu"`` (compiled by Numba, the default) or ``"python"`` (the generated
    code run as it is, to read and step through).
    """
    return parallel.Pmap(fun, axis_name, in_axes, out_axes, static_broadcasted_argnums, devices, backend)


pmap.__s2s_outside__ = parallel.Pmap.__s2s_outside__


def jacfwd(fun, argnums=0):
    """The Jacobian of ``fun`` by forward mode: ``vmap`` of ``jvp`` over the basis of each argument.

    Shaped ``out.shape + x.shape``; a tuple of Jacobians when ``argnums`` is a tuple.
    """
    return transform_objects.Jacobian(fun, argnums, "jacfwd")


def jacrev(fun, argnums=0):
    """The Jacobian of ``fun`` by reverse mode: ``vmap`` of the ``vjp`` over the output's basis."""
    return transform_objects.Jacobian(fun, argnums, "jacrev")


def hessian(fun, argnums=0):
    """The Hessian of ``fun``, ``jacfwd(jacrev(fun))``: shaped ``out.shape + x.shape + x.shape``."""
    return transform_objects.Jacobian(fun, argnums, "hessian")


def source(fun, mode: str = "jvp", argnums=None, args=None, in_axes=0, target=None) -> str:
    """The generated Python source of ``fun`` transformed by ``mode``.

    ``argnums`` (an int or a tuple) picks the differentiated arguments; by
    default all of them are, except those the source uses as integers (loop
    bounds, indices), and argument 0 for ``jacfwd``, ``jacrev`` and ``hessian``.
    Reverse modes and ``vmap`` specialise code to which arguments are scalars
    and which arrays: ``args`` (example arguments, batched ones for ``vmap``)
    says so; without them, code that works for either is shown, and ``vmap``
    shows the loop strategy.  ``in_axes`` is ``vmap``'s.  ``fun`` may itself be
    a transform (``s2s.vmap(f)``, ``s2s.grad(f)``, …): then ``mode`` is ignored
    and its code is shown, as ``s2s.jit`` compiles it for ``s2s.jit(transform)``
    (batch loops, parallel, and compiled Jacobians' columns).  Tree arguments
    (dicts, namedtuples…) show the code for their leaves (``params_W1``).
    ``target`` shows the code as ``s2s.jit(fun, target=target)`` compiles it (``"cuda"``: the
    kernel and its device functions); ``s2s.source(s2s.jit(fun, target=...))`` does the same.  The code of
    ``s2s.jit(f, static_argnums=...)`` is ``f``'s specialised on the static values in ``args``.
    """
    if transform_objects.has_static(fun) and args is not None:
        jitted, given = fun, tuple(args)
        fun, args, _ = transform_objects.specialized_call(jitted, given)
        argnums = argnums if argnums is None else jitted.static.argnums_without(argnums, len(given))
    fun, backend = building.unwrap(fun)
    if target is not None:
        backend = backends.named(_BACKENDS.get(target, target))
    if mode not in MODES + TRANSFORMS:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES + TRANSFORMS)}")
    if mode in TRANSFORMS and not hasattr(fun, "emit"):
        fun = vmap(fun, in_axes) if mode == "vmap" else \
            transform_objects.Jacobian(fun, 0 if argnums is None else argnums, mode)
    inner, levels = parallel.levels_of(fun)
    if levels and stages.split(inner) is not None:  # a map with collectives: the stages it runs, in order
        return stages.shown(inner)
    if isinstance(fun, transform_objects.Vmap) and args is not None and pytrees.needed(args, tuples=True) \
            and not hasattr(building.unwrap(fun.fun)[0], "emit"):  # as vmap calls it: on the trees' leaves
        call = pytrees.flat_call(building.unwrap(fun.fun)[0], args)
        axes = fun.in_axes if isinstance(fun.in_axes, tuple) else (fun.in_axes,) * len(args)
        fun = transform_objects.Vmap(call.fun, pytrees.leaf_axes(call, axes), pytrees.leaf_out_axes(call, fun.out_axes),
                                     fun.method)
        args = call.leaves
    if hasattr(fun, "emit") and args is not None and pytrees.needed(args):
        if not isinstance(fun, transform_objects.Grad):
            raise TypeError(f"s2s.source of {fun!r} with tree arguments is not supported: show s2s.source(f, mode, "
                            "args=...) of the function itself, which shows the code for their leaves")
        call = pytrees.flat_call(building.unwrap(fun.fun)[0], args, aux=fun.has_aux)  # as grad calls it: on leaves
        fun = transform_objects.Grad(call.fun, call.leaf_positions(arguments.argnums_in(fun.argnums, len(args))),
                                     fun.has_aux, fun.with_value)
        args = call.leaves
    if hasattr(fun, "emit"):
        nparams = len(normalize(building.innermost(fun)).params)
        specs = batch_axes.specs_of(tuple(arguments.tuples(a) for a in args)) if args is not None else (None,) * nparams
        if mode == "vmap" or isinstance(fun, transform_objects.Vmap):
            batch_axes.input_axes(fun.in_axes, specs)  # checked here: code is built without calling it
        floats = backend.float_type(args) if args is not None else None
        return build(key_of(fun), "call", None, nparams, backend, specs, floats=floats, only_source=True).source
    if args is not None and pytrees.needed(args):  # the code for the trees' leaves
        call = pytrees.flat_call(fun, args)
        fun, args = call.fun, call.leaves
        argnums = None if argnums is None else call.leaf_positions(arguments.argnums_in(argnums, len(call.treedefs)))
    fn = normalize(fun)
    nparams = len(fn.params)
    if argnums is None:  # every argument but those the source uses as integers
        integers = analysis.integer_params(fn)
        varied = tuple(p not in integers for p in fn.params)
    else:
        nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
        varied = tuple(i in nums for i in range(nparams))
    kinds = None if args is None else \
        param_kinds(tuple(arguments.tuples(a) for a in args)) + (None,) * (nparams - len(args))
    return build(key_of(fun), mode, varied if mode != "primal" else None, nparams, PYTHON, kinds,
                 only_source=True).source
