"""The public transforms, named and behaving like JAX's.

Each transform builds a :class:`~s2s.program.Program` for the function, renders
it to a module, loads it (and compiles it with Numba under ``s2s.jit``), and
caches the result per function, mode and argument pattern.
"""

from __future__ import annotations

import functools
import inspect
import numbers

import numpy as np
import optree

from . import analysis, core, precision, pytrees, static, tree_util
from .backends import numba_cpu
from .frontend.normalize import fingerprint, normalize
from .frontend.resolve import spelling
from .emit import render
from .modules import load
from .program import Program
from .transforms.batch import Axes, flat_axes, output_arity, uses_prange

MODES = ("primal", "jvp", "linearize", "transpose", "vjp", "grad")
#: Modes whose code a transform object generates (``s2s show --mode vmap``).
TRANSFORMS = ("vmap", "jacfwd", "jacrev", "hessian")


class Jitted:
    """A function whose generated code, and every transform's, is compiled by Numba."""

    def __init__(self, fun, static_argnums=(), static_argnames=()):
        self.__s2s_function__ = fun
        self.static = static.StaticArguments(fun, static_argnums, static_argnames) \
            if static_argnums != () or static_argnames != () else None
        functools.update_wrapper(self, fun, updated=())

    def __call__(self, *args, **kwargs):
        if self.static is not None:  # compiled for these static values (once per value)
            specialized, args = self.static.split(args, kwargs)
            return Jitted(specialized)(*args)
        if hasattr(self.__s2s_function__, "emit"):  # a transform: grad, vmap, jacfwd, …
            return self.__s2s_function__.call(args, kwargs, backend="numba")
        args = _bind(self.__s2s_function__, args, kwargs, real=False)
        if pytrees.involved(self.__s2s_function__, args):
            call = pytrees.flat_call(self.__s2s_function__, args)
            return call.output(Jitted(call.fun)(*call.leaves))
        built = _build(_key(self.__s2s_function__), "primal", None, len(args), "numba",
                       floats=precision.float_type(args))
        return built.call(*args, *built.defaults_after(len(args)))

    def __repr__(self):
        return f"s2s.jit({self.__s2s_function__!r})"


def jit(fun, static_argnums=(), static_argnames=()):
    """Compile ``fun`` with Numba in nopython mode; transforms of the result stay compiled.

    Works as a decorator.  If Numba cannot compile the generated code, calling
    the function raises :class:`s2s.errors.CompileError`.  ``static_argnums`` (ints) and
    ``static_argnames`` (names) mark parameters as compile-time constants: the code is
    specialised on their values, which must be hashable (see ``s2s.static``).
    """
    if hasattr(fun, "__s2s_jit__"):  # a wrapper that compiles what it wraps (s2s.vectorize)
        return fun.__s2s_jit__(static_argnums, static_argnames)
    if static_argnums == () and static_argnames == ():
        return fun if isinstance(fun, Jitted) else Jitted(fun)
    fun = _unwrap(fun)[0]
    if hasattr(fun, "emit"):
        raise TypeError(f"static arguments are for functions, not for {fun!r}: jit the function with its static "
                        "arguments, then transform it")
    return Jitted(fun, static_argnums, static_argnames)


def jvp(fun, primals, tangents):
    """Forward-mode Jacobian-vector product: ``(fun(*primals), J(primals) @ tangents)``.

    ``primals`` and ``tangents`` are tuples (or lists) with one entry per
    positional parameter; each tangent matches its primal's structure, shape
    and dtype.  ``None`` is a zero tangent, and the only one an integer primal
    takes.
    """
    fun, backend = _unwrap(fun)
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp expects primals and tangents as tuples (or lists), one entry per argument; "
                        f"got {type(primals).__name__} and {type(tangents).__name__}")
    if len(primals) != len(tangents):
        raise TypeError(f"jvp got {len(primals)} primals but {len(tangents)} tangents: they must match")
    if pytrees.involved(fun, primals):
        call = pytrees.flat_call(fun, primals)
        out, out_dot = jvp(_rewrap(call.fun, backend), call.leaves, pytrees.tangent_leaves(call, tangents))
        return call.output(out), call.output(out_dot)
    primals = _real_arguments(primals)
    tangents = tuple(_check_tangent(p, t, f"argument {i}") for i, (p, t) in enumerate(zip(primals, tangents)))
    varied = tuple(t is not None for t in tangents)
    if isinstance(fun, _Grad):
        return fun.call(primals, {}, backend), fun.derivative(primals, tangents, backend)
    fun, backend = _plain(fun, backend, primals, "jvp")
    built = _build(_key(fun), "jvp", varied, len(primals), backend, _kinds(primals),
                   floats=_floats(backend, primals))
    args = primals + built.defaults_after(len(primals))
    tangents += (None,) * (len(args) - len(tangents))
    return built.call(*args, *[t for t, m in zip(tangents, built.tangent_mask) if m])


def linearize(fun, *primals):
    """The value of ``fun`` at ``primals`` and a function computing its JVP there.

    Returns ``(primals_out, f_jvp)``; ``f_jvp(*tangents)`` runs only the linear part
    of the JVP, from values saved by the first call, so it costs no more than the
    tangent half of ``jvp`` each time (as ``jax.linearize``).
    """
    fun, backend = _unwrap(fun)
    if pytrees.involved(fun, primals):
        call = pytrees.flat_call(fun, primals)
        out, f_jvp = linearize(_rewrap(call.fun, backend), *call.leaves)
        return call.output(out), lambda *tangents: call.output(f_jvp(*pytrees.tangent_leaves(call, tangents)))
    primals = _real_arguments(primals)
    varied = tuple(not _all_integers(p) for p in primals)
    fun, backend = _plain(fun, backend, primals, "linearize")
    built = _build(_key(fun), "linearize", varied, len(primals), backend, _kinds(primals),
                   floats=_floats(backend, primals))
    args = primals + built.defaults_after(len(primals))
    out, residuals = built.forward(*args)

    def f_jvp(*tangents):
        if len(tangents) != len(primals):
            raise TypeError(f"f_jvp takes {len(primals)} tangents, one per primal; got {len(tangents)}")
        checked = [_check_tangent(p, t, f"argument {i}") for i, (p, t) in enumerate(zip(primals, tangents))]
        return built.linear(residuals, *built.tangent_arguments(args, checked))

    return out, f_jvp


def vjp(fun, *primals, has_aux=False):
    """The value of ``fun`` at ``primals`` and a function pulling cotangents back through it.

    Returns ``(primals_out, f_vjp)`` (and the auxiliary data if ``has_aux``: then ``fun``
    returns ``(output, aux)`` and only the output is differentiated).  ``f_vjp(ct)`` takes a
    cotangent shaped like the output and returns a tuple with one cotangent per primal,
    ``None`` for integer primals.
    """
    fun, backend = _unwrap(fun)
    if pytrees.involved(fun, primals):
        return _tree_vjp(fun, backend, primals, has_aux)
    primals = _real_arguments(primals)
    varied = tuple(not _all_integers(p) for p in primals)
    fun, backend = _plain(fun, backend, primals, "vjp")
    built = _build(_key(fun), "vjp", varied, len(primals), backend, _kinds(primals), has_aux,
                   _floats(backend, primals))
    args = primals + built.defaults_after(len(primals))
    result, residuals = built.forward(*args)
    out, aux = result if has_aux else (result, None)

    def f_vjp(ct):
        ct = _check_cotangent(out, _tuples(ct))
        return built.cotangents_for(primals, built.adjoint(residuals, ct))

    return (out, f_vjp, aux) if has_aux else (out, f_vjp)


def _tree_vjp(fun, backend, primals, has_aux):
    """``vjp`` of a function of trees: the flattened function's, cotangents rebuilt as the primals' trees."""
    call = pytrees.flat_call(fun, primals, aux=has_aux)
    result = vjp(_rewrap(call.fun, backend), *call.leaves, has_aux=has_aux)
    out, flat_vjp = result[0], result[1]

    def f_vjp(ct):
        cts = flat_vjp(pytrees.flat_cotangent(call, ct))
        return tuple(call.rebuild(n, [cts[k] for k in span]) for n, span in enumerate(call.spans))

    if has_aux:
        return call.output(out), f_vjp, pytrees.aux_tree(call, result[2])
    return call.output(out), f_vjp


def _rewrap(fun, backend):
    """``fun`` compiled again where the function it stands for was under ``s2s.jit``."""
    return Jitted(fun) if backend == "numba" else fun


def linear_transpose(fun, *primals):
    """The transpose of ``fun``, which must be linear in its arguments.

    ``primals`` give the arguments' shapes and dtypes: arrays, scalars, or any object with
    ``shape`` and ``dtype`` attributes.  The result takes a cotangent shaped like ``fun``'s
    output and returns a tuple with one entry per primal, with the primals' dtypes.  A
    statement that is not linear in the arguments raises ``s2s.errors.NonLinearError``.
    """
    fun, backend = _unwrap(fun)
    stand_ins = tuple(_stand_in(p, f"argument {i}") for i, p in enumerate(primals))
    varied = (True,) * len(stand_ins)
    fun, backend = _plain(fun, backend, stand_ins, "linear_transpose")
    built = _build(_key(fun), "linear_transpose", varied, len(stand_ins), backend, _kinds(stand_ins),
                   floats=_floats(backend, stand_ins))
    out, residuals = built.forward(*stand_ins)

    def f_transpose(ct):
        ct = _check_cotangent(out, _tuples(ct))
        return built.cotangents_for(stand_ins, built.adjoint(residuals, ct))

    return f_transpose


class _Transform:
    """A transform that s2s generates code for as a whole (``grad``, ``vmap``, the Jacobians).

    ``emit`` adds its generated function to a program; so a transform of a transform is one module,
    compiled as one unit under ``s2s.jit``.
    """

    label = "transform"

    def __call__(self, *args, **kwargs):
        return self.call(args, kwargs, backend=None)

    def bind(self, args, kwargs) -> tuple:
        """Every positional argument, defaults included."""
        return _bind(_innermost(self), args, kwargs, defaults=True)

    def run(self, args, backend):
        """Build (once per pattern of arguments), then run, the generated function for ``args``."""
        backend = backend or _backend_of(self)
        built = _build(_key(self), "call", None, len(args), backend, _specs(args), floats=_floats(backend, args))
        return built.call(*args, *built.defaults_after(len(args)))

    @property
    def py_func(self):
        """The generated Python function, for any arguments: what a caller's transforms read."""
        nargs = len(normalize(_innermost(self)).params)
        return _build(_key(self), "call", None, nargs, "python", (None,) * nargs).call


def _check_argnums(argnums):
    if not isinstance(argnums, int) and not (isinstance(argnums, tuple) and argnums
                                             and all(isinstance(a, int) for a in argnums)):
        raise TypeError(f"argnums must be an int or a non-empty tuple of ints, got {argnums!r}")


def _argnums_in(argnums, nargs):
    """``argnums`` with negative positions counted from the end (an int stays an int)."""
    if isinstance(argnums, int):
        return argnums % nargs if -nargs <= argnums < nargs else argnums
    return tuple(n % nargs if -nargs <= n < nargs else n for n in argnums)


def _float_argnums(argnums, args, what) -> tuple:
    """``argnums`` as a tuple of non-negative positions, each checked to be a float argument."""
    nums = (argnums,) if isinstance(argnums, int) else argnums
    nums = tuple(n + len(args) if n < 0 else n for n in nums)
    for n in nums:
        if not 0 <= n < len(args):
            raise TypeError(f"argnums {argnums!r} is out of range for {len(args)} positional arguments")
        if not _is_numeric(args[n]):
            raise TypeError(f"{what} differentiates with respect to numbers, arrays and tuples of them; argument "
                            f"{n} is a {type(args[n]).__name__} (pass its arrays as arguments of their own)")
        if _any_integers(_tuples(args[n])):
            raise TypeError(f"{what} requires float arguments to differentiate, but argument {n} is "
                            f"{args[n]!r} (integer): pass it as a float, or leave it out of argnums")
    return nums


class _Grad(_Transform):
    """``s2s.grad(fun)`` / ``s2s.value_and_grad(fun)``: a function computing gradients."""

    label = "grad"

    def __init__(self, fun, argnums, has_aux, with_value):
        _check_argnums(argnums)
        self.fun, self.argnums, self.has_aux, self.with_value = fun, argnums, has_aux, with_value
        functools.update_wrapper(self, getattr(fun, "__s2s_function__", fun), updated=())

    def emit(self, program, specs, parallel=False) -> str:
        """The generated function returning the gradient alone (what ``vmap(grad(f))`` maps)."""
        if self.has_aux or self.with_value:
            raise TypeError("only grad(f) itself can be transformed further, not value_and_grad or has_aux=True")
        fun = _function_object(self.fun, specs)
        fn = normalize(fun, len(specs))
        nums = tuple(n % len(specs) for n in ((self.argnums,) if isinstance(self.argnums, int) else self.argnums))
        mask = tuple(i in nums for i in range(len(specs)))
        names = program.adjoint(fun, mask, len(specs), param_kinds=_kinds_of(specs))
        picks = [sorted(nums).index(n) for n in nums]
        return program.value_and_grad(names, fn.params, fn.lineno,
                                      picks[0] if isinstance(self.argnums, int) else tuple(picks))

    def call(self, args, kwargs, backend):
        fun, own_backend = _unwrap(self.fun)
        if isinstance(fun, _Grad):
            return self.second_order(fun, args, kwargs, backend or own_backend)
        args = _bind(_innermost(fun), args, kwargs)
        if pytrees.needed(args) and not hasattr(fun, "emit"):
            return self.of_trees(fun, args, backend or own_backend)
        if hasattr(fun, "emit"):
            fun = _function_object(fun, _specs(self.bind(args, {})))
        nums = _float_argnums(self.argnums, args, "grad")
        varied = tuple(i in nums for i in range(len(args)))
        backend = backend or own_backend
        built = _build(_key(fun), "grad", varied, len(args), backend, _kinds(args), self.has_aux,
                       _floats(backend, args))
        full = args + built.defaults_after(len(args))
        result, cts = built.value_and_grad(*full)
        out = result[0] if self.has_aux else result
        if not _is_real_scalar(out):
            raise TypeError(f"grad requires a function with a scalar float output, but it returned {out!r} "
                            "(use vjp or jacrev for other outputs)")
        grads = built.cotangents_for(args, cts)
        grads = grads[nums[0]] if isinstance(self.argnums, int) else tuple(grads[n] for n in nums)
        value = result if self.with_value else None
        if self.has_aux:
            return ((out, result[1]), grads) if self.with_value else (grads, result[1])
        return (value, grads) if self.with_value else grads

    def of_trees(self, fun, args, backend):
        """The gradient with respect to tree arguments: the flattened function's, with respect to their
        leaves, rebuilt as the arguments' trees."""
        call = pytrees.flat_call(fun, args, aux=self.has_aux)
        argnums = _argnums_in(self.argnums, len(args))
        leafnums = call.leaf_positions(argnums)
        if not leafnums:
            raise TypeError(f"grad with respect to argument(s) {self.argnums!r}, which hold no arrays or numbers")
        _float_argnums(leafnums, call.leaves, "grad")
        flat = _Grad(_rewrap(call.fun, backend), leafnums, self.has_aux, self.with_value)
        result = flat.call(call.leaves, {}, backend)
        if self.with_value:
            (value, grads) = result
            if self.has_aux:
                value = (value[0], pytrees.aux_tree(call, value[1]))
            return value, call.regroup(grads, argnums)
        if self.has_aux:
            return call.regroup(result[0], argnums), pytrees.aux_tree(call, result[1])
        return call.regroup(result, argnums)

    def derivative(self, primals, tangents, backend):
        """The derivative of this gradient along ``tangents`` (a Hessian-vector product).

        It is the gradient of ``<grad f, t> = jvp(f)``'s output tangent, with ``t`` held fixed:
        reverse mode over the generated JVP, which has no tapes to differentiate.
        """
        if self.has_aux or self.with_value:
            raise TypeError("differentiating grad(..., has_aux=True) or value_and_grad is not supported; "
                            "differentiate grad(f) itself")
        fun, own_backend = _unwrap(self.fun)
        if isinstance(fun, _Grad):
            raise TypeError("third and higher derivatives are not supported yet")
        varied = tuple(t is not None for t in tangents)
        built = _build(_key(fun), "jvp_tangent", varied, len(primals), "python")
        args = primals + built.defaults_after(len(primals))
        tangent_of = _Grad(built.call, self.argnums, has_aux=False, with_value=False)
        return tangent_of.call(args + built.tangent_arguments(args, tangents), {}, backend or own_backend)

    def second_order(self, inner, args, kwargs, backend):
        """``grad(grad(f, a), b)``: the derivative of ``grad(f, b)`` along argument ``a`` (second derivatives
        commute), so ``jvp(grad(f, b))`` in the direction of ``a``."""
        args = _bind(_innermost(inner), args, kwargs)
        if not isinstance(inner.argnums, int) or inner.has_aux or inner.with_value:
            raise TypeError("grad of a gradient needs grad(f, argnums=<int>), whose output is a scalar")
        direction = tuple(1.0 if i == inner.argnums else None for i in range(len(args)))
        outer = _Grad(inner.fun, self.argnums, has_aux=False, with_value=False)
        grads = outer.derivative(args, direction, backend)
        return (inner.call(args, {}, backend), grads) if self.with_value else grads

    def __repr__(self):
        kind = "value_and_grad" if self.with_value else "grad"
        return f"s2s.{kind}({self.fun!r}, argnums={self.argnums!r})"


def grad(fun, argnums=0, has_aux=False):
    """The gradient of a scalar-valued ``fun`` with respect to argument(s) ``argnums``.

    ``argnums`` is an int (one gradient) or a tuple of ints (a tuple of gradients); each
    gradient has its argument's shape and dtype.  With ``has_aux``, ``fun`` returns
    ``(output, aux)`` and the result is ``(gradient, aux)``.  Compile it all with
    ``s2s.jit(s2s.grad(f))``.
    """
    return _Grad(fun, argnums, has_aux, with_value=False)


def value_and_grad(fun, argnums=0, has_aux=False):
    """Like ``grad``, but returns ``(value, gradient)`` (``((value, aux), gradient)`` with ``has_aux``)."""
    return _Grad(fun, argnums, has_aux, with_value=True)


class _Vmap(_Transform):
    """``s2s.vmap(fun, in_axes, out_axes)``: ``fun`` mapped over an axis of its arguments."""

    label = "vmap"

    def __init__(self, fun, in_axes, out_axes, method):
        for axes, what in ((in_axes, "in_axes"), (out_axes, "out_axes")):
            if not _is_axes(axes):
                raise TypeError(f"{what} must be an int, None, or a tuple (or other tree) of those, got {axes!r}")
        if method not in (None, "vectorized", "loop"):
            raise ValueError(f"method must be 'vectorized', 'loop' or None (the default choice), got {method!r}")
        self.fun, self.in_axes, self.out_axes, self.method = fun, _tuples(in_axes), _tuples(out_axes), method
        functools.update_wrapper(self, _innermost(fun), updated=())

    def call(self, args, kwargs, backend):
        signature = inspect.signature(_innermost(self))
        bound = signature.bind(*args, **kwargs)
        given = set(bound.arguments)
        full = self.bind(args, kwargs)
        if isinstance(self.in_axes, tuple) and len(self.in_axes) not in (len(args), len(full)):
            raise ValueError(f"vmap in_axes has {len(self.in_axes)} entries but the function was given "
                             f"{len(args)} positional arguments")
        # As in JAX: arguments passed by keyword are mapped over their axis 0; defaults are passed whole.
        named = [0 if p in given else None for p in list(signature.parameters)[:len(full)]]
        stated = self.in_axes if isinstance(self.in_axes, tuple) else (self.in_axes,) * len(args)
        axes = stated + tuple(named[len(stated):])
        if pytrees.needed(full) or pytrees.involved(_unwrap(self.fun)[0], full):
            return self.of_trees(full, axes, backend)
        variant = self._for_axes(axes)
        inputs = _input_axes(variant.in_axes, _specs(full))
        sizes = [(path, leaf.shape[axis]) for path, leaf, axis in _mapped_leaves(full, inputs)]
        if len({size for _, size in sizes}) > 1:
            raise ValueError("vmap got inconsistent sizes for the mapped axes: "
                             + ", ".join(f"{path} has size {size}" for path, size in sizes))
        if sizes[0][1] == 0:
            raise ValueError("vmap over an empty batch is not supported: the output's shape comes from "
                             "the first example")
        return variant.run(full, backend)

    def of_trees(self, args, in_axes, backend):
        """``vmap`` over tree arguments: the flattened function's, one axis per leaf, outputs rebuilt."""
        fun, own_backend = _unwrap(self.fun)
        if hasattr(fun, "emit"):
            if isinstance(fun, _Grad) and not (fun.has_aux or fun.with_value):
                call = pytrees.flat_call(_innermost(fun), args)
                argnums = _argnums_in(fun.argnums, len(args))
                inner = _Grad(_rewrap(call.fun, own_backend), call.leaf_positions(argnums), False, False)
                flat = _Vmap(inner, pytrees.leaf_axes(call, in_axes), self.out_axes, self.method)
                return call.regroup(flat.call(call.leaves, {}, backend), argnums)
            raise TypeError(f"vmap of {fun!r} over trees (dicts, lists, namedtuples) is not supported: vmap the "
                            "function itself, or grad of it, or pass arrays")
        call = pytrees.flat_call(fun, args)
        flat = _Vmap(_rewrap(call.fun, own_backend), pytrees.leaf_axes(call, in_axes),
                     pytrees.leaf_out_axes(call, self.out_axes), self.method)
        return call.output(flat.call(call.leaves, {}, backend))

    def _for_axes(self, in_axes) -> _Vmap:
        """This vmap with one entry of ``in_axes`` per parameter (one object per pattern: built once)."""
        if in_axes == self.in_axes:
            return self
        variants = self.__dict__.setdefault("_variants", {})
        if in_axes not in variants:
            variants[in_axes] = _Vmap(self.fun, in_axes, self.out_axes, self.method)
        return variants[in_axes]

    def emit(self, program, specs, parallel=False) -> str:
        inputs = _input_axes(self.in_axes, specs)
        example = _per_example(specs, inputs)
        inner = _emit(self.fun, program, example)
        arity = program.output_arity(inner)
        outputs = self.out_axes if isinstance(self.out_axes, tuple) else (self.out_axes,) * (arity or 1)
        if len(outputs) != (arity or 1) or any(isinstance(a, tuple) for a in outputs):
            raise ValueError(f"out_axes {self.out_axes!r} does not match the function's outputs "
                             f"({arity or 1} of them)")
        return program.batch(inner, Axes(inputs, outputs, arity), self.method, _ndims_of(example), parallel)

    def __repr__(self):
        return f"s2s.vmap({self.fun!r}, in_axes={self.in_axes!r}, out_axes={self.out_axes!r})"


def vmap(fun, in_axes=0, out_axes=0, method=None):
    """Map ``fun`` over an axis of its arguments, as ``jax.vmap``.

    ``in_axes``: the axis of each positional argument to map over (an int, ``None`` for an
    argument passed whole to every example, or a tuple with one entry per argument, nested for
    tuple arguments).  ``out_axes``: where each output's batch axis goes (``None`` for an output
    that does not depend on the mapped arguments).  ``method``: ``"vectorized"`` (each NumPy
    operation runs on the whole batch), ``"loop"`` (a loop over the examples; a parallel
    ``prange`` under ``s2s.jit``), or None: vectorized where it applies, otherwise the loop, and
    the loop under ``s2s.jit``.
    """
    return _Vmap(fun, in_axes, out_axes, method)


class _Jacobian(_Transform):
    """``s2s.jacfwd``, ``s2s.jacrev`` and ``s2s.hessian``: dense Jacobians and Hessians."""

    def __init__(self, fun, argnums, label):
        _check_argnums(argnums)
        self.fun, self.argnums, self.label = fun, argnums, label
        functools.update_wrapper(self, _innermost(fun), updated=())

    def call(self, args, kwargs, backend):
        args = self.bind(args, kwargs)
        if pytrees.involved(_unwrap(self.fun)[0], args):
            return self.of_trees(args, backend)
        _float_argnums(self.argnums, args, self.label)
        return self.run(args, backend)

    def of_trees(self, args, backend):
        """The Jacobian (Hessian) of a function of trees, nested as JAX nests it: the output's structure
        outside, each argument's inside (twice for a Hessian)."""
        fun, own_backend = _unwrap(self.fun)
        call = pytrees.flat_call(fun, args)
        argnums = _argnums_in(self.argnums, len(args))
        leafnums = call.leaf_positions(argnums)
        _float_argnums(leafnums, call.leaves, self.label)

        def blocks(flat_call):
            found = _Jacobian(_rewrap(flat_call.fun, own_backend), leafnums, self.label).call(call.leaves, {}, backend)
            if self.label == "hessian":
                return call.regroup([call.regroup(row, argnums) for row in found], argnums)
            return call.regroup(found, argnums)

        out_tree = call.out_tree
        if out_tree is None:
            return blocks(call)
        return out_tree.unflatten([blocks(call.picking(k)) for k in range(out_tree.num_leaves)])

    def emit(self, program, specs, parallel=False) -> str:
        inner = _unwrap(self.fun)[0]
        if self.label == "jacfwd" and isinstance(inner, _Grad) and inner.argnums == self.argnums \
                and isinstance(self.argnums, int) and not (inner.has_aux or inner.with_value):
            # The Jacobian of a gradient is the Hessian: computed so, nothing of the backward pass is differentiated.
            return _Jacobian(inner.fun, self.argnums, "hessian").emit(program, specs, parallel)
        if self.label != "jacfwd":
            _refuse_backward_pass(inner, self.label)
        fun = _function_object(self.fun, specs)
        fn = normalize(fun, len(specs))
        if output_arity(fn) is not None:
            raise TypeError(f"{self.label} of {fn.name}, which returns a tuple: take the {self.label} of one "
                            "output at a time, or return one array (np.concatenate)")
        argnums = self.argnums % len(specs) if isinstance(self.argnums, int) else \
            tuple(n % len(specs) for n in self.argnums)
        if self.label == "jacfwd":
            return program.jacfwd(fun, argnums, fn.params, fn.lineno, _ndims_of(specs), _kinds_of(specs))
        if self.label == "jacrev":
            return program.jacrev(fun, argnums, fn.params, fn.lineno, _kinds_of(specs))

        def tangent_function(k):
            mask = tuple(i == k for i in range(len(specs)))
            return _build(_key(fun), "jvp_tangent", mask, len(specs), "python").call

        return program.hessian(tangent_function, argnums, fn.params, fn.lineno, _kinds_of(specs), _ndims_of(specs))

    def __repr__(self):
        return f"s2s.{self.label}({self.fun!r}, argnums={self.argnums!r})"


def jacfwd(fun, argnums=0):
    """The Jacobian of ``fun`` by forward mode: ``vmap`` of ``jvp`` over the basis of each argument.

    Shaped ``out.shape + x.shape``; a tuple of Jacobians when ``argnums`` is a tuple.
    """
    return _Jacobian(fun, argnums, "jacfwd")


def jacrev(fun, argnums=0):
    """The Jacobian of ``fun`` by reverse mode: ``vmap`` of the ``vjp`` over the output's basis."""
    return _Jacobian(fun, argnums, "jacrev")


def hessian(fun, argnums=0):
    """The Hessian of ``fun``, ``jacfwd(jacrev(fun))``: shaped ``out.shape + x.shape + x.shape``."""
    return _Jacobian(fun, argnums, "hessian")


def source(fun, mode: str = "jvp", argnums=None, args=None, in_axes=0) -> str:
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
    """
    fun, backend = _unwrap(fun)
    if mode not in MODES + TRANSFORMS:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES + TRANSFORMS)}")
    if mode in TRANSFORMS and not hasattr(fun, "emit"):
        fun = vmap(fun, in_axes) if mode == "vmap" else _Jacobian(fun, 0 if argnums is None else argnums, mode)
    if hasattr(fun, "emit"):
        nparams = len(normalize(_innermost(fun)).params)
        specs = _specs(tuple(_tuples(a) for a in args)) if args is not None else (None,) * nparams
        if mode == "vmap" or isinstance(fun, _Vmap):
            _input_axes(fun.in_axes, specs)  # checked here: code is built without calling it
        floats = _floats(backend, args) if args is not None else None
        return _build(_key(fun), "call", None, nparams, f"{backend} source", specs, floats=floats).source
    if args is not None and pytrees.needed(args):  # the code for the trees' leaves
        call = pytrees.flat_call(fun, args)
        fun, args = call.fun, call.leaves
        argnums = None if argnums is None else call.leaf_positions(_argnums_in(argnums, len(call.treedefs)))
    fn = normalize(fun)
    nparams = len(fn.params)
    if argnums is None:  # every argument but those the source uses as integers
        integers = analysis.integer_params(fn)
        varied = tuple(p not in integers for p in fn.params)
    else:
        nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
        varied = tuple(i in nums for i in range(nparams))
    kinds = _kinds(tuple(_tuples(a) for a in args)) + (None,) * (nparams - len(args)) if args is not None else None
    return _build(_key(fun), mode, varied if mode != "primal" else None, nparams, "source", kinds).source


# -- building and caching --------------------------------------------------------


#: Modes that need the adjoint (``linear_transpose``: the API's, which checks that the function is linear).
_REVERSE = ("transpose", "linear_transpose", "vjp", "grad")
#: The generated functions each reverse mode shows and runs (the last one is its main function).
_ROLES = {"linearize": ("forward", "linear"), "transpose": ("linear", "adjoint"), "vjp": ("forward", "adjoint"),
          "linear_transpose": ("forward", "adjoint"), "grad": ("forward", "adjoint", "value_and_grad")}


class _Built:
    """A transformed program, rendered (and loaded, and compiled): what a cache entry holds."""

    def __init__(self, obj, fn, mode, backend, varied, kinds=None, has_aux=False, floats=None):
        program = Program()
        self.tangent_mask, entries = (), {}
        padded = tuple(varied or ()) + (False,) * (len(fn.params) - len(varied or ()))
        if mode == "primal":
            self.main = entries["call"] = program.primal(obj, len(fn.params))
        elif mode == "call":  # a transform object builds its own functions
            compiled = backend in ("numba", "numba source")  # "… source": only the code, as that backend has it
            program.prefer_loops = compiled
            self.main = entries["call"] = obj.emit(program, kinds, parallel=compiled)
        elif mode in ("jvp", "jvp_tangent"):
            self.main, self.tangent_mask = program.jvp(obj, padded, len(fn.params), kinds)
            if mode == "jvp_tangent":  # (primals, tangents) → the output tangent alone
                namer = core.Namer(fn.params)
                tangents = [namer.fresh(f"{p}_dot") for p, m in zip(fn.params, self.tangent_mask) if m]
                self.main = program.tangent_output(self.main, [*fn.params, *tangents], fn.lineno)
            entries["call"] = self.main
        else:
            names = (program.adjoint if mode in _REVERSE else program.linearize)(
                obj, padded, len(fn.params), check_linear=mode == "linear_transpose", param_kinds=kinds,
                has_aux=has_aux)
            self.tangent_mask = names.tangent_mask
            roles = {"forward": names.forward, "linear": names.linear, "adjoint": names.adjoint}
            if mode == "grad":
                roles["value_and_grad"] = program.value_and_grad(names, fn.params, fn.lineno)
            entries = {r: roles[r] for r in _ROLES[mode]}
            self.main = entries[_ROLES[mode][-1]]
        program.finish(*entries.values())
        program.prune()
        self.params, self.defaults = fn.params, fn.defaults
        functions = program.functions
        if mode == "transpose":  # the linear functions, then their transposes; not the forward functions
            functions = [f for role in ("linear", "adjoint") for f in functions if program.role(f.name) == role]
        label = obj.label if mode == "call" else mode
        header = f"{label} of {fn.name}, generated by s2s. Edit the source, not this file."
        if floats is not None:
            header = f"{label} of {fn.name} for {floats} arguments, generated by s2s. Edit the source, not this file."
        rendered = render(precision.specialize(functions, floats), header, program.constants, floats)
        self.source = rendered.source
        if backend.endswith("source"):
            return
        namespace, path = load(rendered, program.constants, self.main, backend)
        if backend == "numba":
            names = [f.name for f in program.functions]
            parallel = {f.name for f in program.functions if uses_prange(f)}
            calls = numba_cpu.compile_module(namespace, names, rendered.origins, path, entries.values(),
                                             program.constants, parallel, floats)
            for role, name in entries.items():
                setattr(self, role, calls[name])
            if "forward" in entries:
                compiled = self.forward
                self.forward = lambda *a: _with_arrays(compiled, a)
        else:
            for role, name in entries.items():
                setattr(self, role, namespace[name])

    def defaults_after(self, given: int) -> tuple:
        """Default values of the parameters after the first ``given`` (JAX needs them all given)."""
        if given > len(self.params):
            raise TypeError(f"{self.main} takes {len(self.params)} arguments but {given} primals were given")
        missing = [p for p in self.params[given:] if p not in self.defaults]
        if missing:
            raise TypeError(f"no primal given for the argument(s) {', '.join(missing)}")
        return tuple(self.defaults[p] for p in self.params[given:])

    def tangent_arguments(self, args, tangents) -> tuple:
        """The tangents the generated function takes (one per tangent parameter): zeros where none is given."""
        given = list(tangents) + [None] * (len(args) - len(tangents))
        return tuple(_zeros_like(a) if t is None else t for a, t, m in zip(args, given, self.tangent_mask) if m)

    def cotangents_for(self, primals, cts) -> tuple:
        """One cotangent per primal, with its dtype: ``None`` for integers, zeros where nothing flows back."""
        cts = iter(cts)
        out = []
        for primal, active in zip(primals, self.tangent_mask):
            ct = next(cts) if active else None
            out.append(None if _all_integers(primal) else _cast_like(primal, ct))
        return tuple(out)


def _with_arrays(forward, args):
    result, residuals = forward(*args)
    return result, numba_cpu.tapes_as_arrays(residuals, forward, args)


def _key(fun):
    if hasattr(fun, "emit"):  # a transform: what it transforms is fixed when it is made
        return (fun, ())
    return (fun, fingerprint(fun))


@functools.lru_cache(maxsize=512)
def _build(key, mode, varied, nargs, backend, kinds=None, has_aux=False, floats=None) -> _Built:
    return _Built(key[0], normalize(_innermost(key[0]), nargs), mode, backend, varied, kinds, has_aux, floats)


def _floats(backend, args):
    """The float type compiled code is specialized for (``precision``): float32 arguments under Numba."""
    return precision.float_type(args) if backend.startswith("numba") else None


def _unwrap(fun):
    if isinstance(fun, Jitted):
        return fun.__s2s_function__, "numba"
    return fun, "python"


def _plain(fun, backend, args, mode):
    """``fun`` as a function the transforms read: a transform (``vmap``, ``jacfwd``, …) becomes its generated
    code for ``args``, and runs compiled if anything in it was under ``s2s.jit``.

    Code with a backward pass saves values on tapes, which are not differentiated again: the
    derivatives of ``grad``, ``jacrev`` and ``hessian`` are available as ``jvp(grad(f))``,
    ``hessian`` and ``jacfwd(grad(f))`` instead.
    """
    if not hasattr(fun, "emit"):
        return fun, backend
    _refuse_backward_pass(fun, mode)
    return _function_object(fun, _specs(args)), "numba" if backend == "numba" else _backend_of(fun)


def _refuse_backward_pass(fun, mode):
    """A ``TypeError`` if the code of the transform ``fun`` has a backward pass (``grad``, ``jacrev``, ``hessian``)."""
    inner = fun
    while hasattr(inner, "emit"):
        if isinstance(inner, _Grad) or getattr(inner, "label", None) in ("jacrev", "hessian"):
            raise TypeError(f"{mode} of {inner!r} is not supported: its code has a backward pass, whose saved "
                            "values are not differentiated again (for second derivatives use jvp(grad(f)), "
                            "jacfwd(grad(f)) or hessian(f))")
        inner = _unwrap(inner.fun)[0]


def _backend_of(fun) -> str:
    """``numba`` if ``fun`` or a function it transforms is under ``s2s.jit``."""
    while True:
        if isinstance(fun, Jitted):
            return "numba"
        if not hasattr(fun, "emit"):
            return "python"
        fun = fun.fun


def _innermost(fun):
    """The user's function under any transforms."""
    while True:
        fun = _unwrap(fun)[0]
        if not hasattr(fun, "emit"):
            return fun
        fun = fun.fun


def _emit(fun, program, specs) -> str:
    """The name of ``fun``'s function in ``program``: a transform's generated one, or the user's primal."""
    fun = _unwrap(fun)[0]
    if hasattr(fun, "emit"):
        return fun.emit(program, specs)
    return program.primal(fun, len(specs))


def _function_object(fun, specs):
    """A plain Python function computing ``fun``: the user's own, or a transform's generated one."""
    fun = _unwrap(fun)[0]
    if hasattr(fun, "emit"):
        return _build(_key(fun), "call", None, len(specs), "python", specs).call
    return fun


# -- batch axes ---------------------------------------------------------------------


def _spec(value):
    """What batching needs to know of an argument: an array's ``ndim`` (0: a scalar), a tuple of those
    for a tuple, None if not known."""
    if isinstance(value, tuple):
        return tuple(_spec(v) for v in value)
    if isinstance(value, np.ndarray):
        return value.ndim
    if isinstance(value, (numbers.Number, np.number)):
        return 0
    return None


def _specs(args) -> tuple:
    return tuple(_spec(a) for a in args)


def _kinds_of(specs) -> tuple:
    return tuple(analysis.SCALAR if s == 0 else s if isinstance(s, int) else None for s in specs)


def _ndims_of(specs) -> tuple:
    return tuple(s if isinstance(s, int) else None for s in specs)


def _is_axes(axes) -> bool:
    """An int, None, or a tree of those (a prefix of the arguments' or outputs' trees)."""
    return all(a is None or isinstance(a, int) and not isinstance(a, bool)
               for a in optree.tree_leaves(axes, none_is_leaf=True, namespace=tree_util.NAMESPACE))


def _input_axes(in_axes, specs) -> tuple:
    """``in_axes`` with one entry per argument, nested like tuple arguments, negative axes counted from 0."""
    if isinstance(in_axes, tuple):
        if len(in_axes) > len(specs):
            raise ValueError(f"vmap in_axes has {len(in_axes)} entries but the function takes "
                             f"{len(specs)} positional arguments")
        in_axes += (None,) * (len(specs) - len(in_axes))  # parameters left to their defaults: passed whole
    else:
        in_axes = (in_axes,) * len(specs)
    axes = tuple(_leaf_axes(a, s, f"argument {i}") for i, (a, s) in enumerate(zip(in_axes, specs)))
    if all(a is None for a in flat_axes(axes)):
        raise ValueError("vmap needs at least one argument with an axis to map over (in_axes not all None)")
    return axes


def _leaf_axes(axis, spec, where):
    if isinstance(spec, tuple):
        if isinstance(axis, tuple):
            if len(axis) != len(spec):
                raise ValueError(f"vmap in_axes for {where} has {len(axis)} entries, but it is a tuple of "
                                 f"{len(spec)}")
            return tuple(_leaf_axes(a, s, f"{where}[{i}]") for i, (a, s) in enumerate(zip(axis, spec)))
        return tuple(_leaf_axes(axis, s, f"{where}[{i}]") for i, s in enumerate(spec))
    if isinstance(axis, tuple):
        raise ValueError(f"vmap in_axes gives a tuple for {where}, which is not a tuple")
    if axis is None or spec is None:
        return axis
    if not -spec <= axis < spec:
        raise ValueError(f"vmap in_axes {axis} is out of range for {where}, which has {spec} dimension(s)")
    return axis % spec


def _per_example(specs, inputs) -> tuple:
    """The specs of one example's arguments: mapped arrays lose a dimension."""
    def one(spec, axis):
        if isinstance(spec, tuple):
            return tuple(one(s, a) for s, a in zip(spec, axis))
        return spec - 1 if isinstance(spec, int) and axis is not None else spec

    return tuple(one(s, a) for s, a in zip(specs, inputs))


def _mapped_leaves(args, inputs, path="argument"):
    """(where, array, axis) for each mapped array among the arguments."""
    for i, (arg, axis) in enumerate(zip(args, inputs)):
        where = f"{path} {i}" if path == "argument" else f"{path}[{i}]"
        if isinstance(axis, tuple):
            yield from _mapped_leaves(arg, axis, where)
        elif axis is not None:
            yield where, np.asarray(arg), axis


# -- argument checking ----------------------------------------------------------


def _bind(fun, args, kwargs, defaults=False, real=True) -> tuple:
    """The positional arguments of the call ``fun(*args, **kwargs)``, bound as Python binds them.

    With keywords, or with ``defaults``, every parameter is given: the defaults of those
    skipped included, so a keyword after a skipped default reaches its own parameter.
    Without, the arguments as given (the generated code's callers add the defaults after them).
    Complex arguments are refused, unless ``real`` is false (the primal alone, which has no rules).
    """
    if (kwargs or defaults) and spelling(fun) is None:  # (a NumPy function's own defaults are its business)
        bound = inspect.signature(fun).bind(*args, **kwargs)
        bound.apply_defaults()
        args = bound.args
    return _real_arguments(args) if real else tuple(_tuples(a) for a in args)


def _real_arguments(args) -> tuple:
    """``args`` (lists as tuples), refused if any is complex: s2s's rules are for real values."""
    args = tuple(_tuples(a) for a in args)
    for i, arg in enumerate(args):
        if _any_complex(arg):
            raise TypeError(f"s2s does not support complex values, and argument {i} is complex "
                            "(pass real and imaginary parts as separate float arguments)")
    return args


def _is_numeric(value) -> bool:
    """A number, an array, or a (nested) tuple or list of those: what derivatives are taken with respect to."""
    if isinstance(value, (tuple, list)):
        return all(_is_numeric(v) for v in value)
    return isinstance(value, (numbers.Number, np.number, np.ndarray))


def _any_complex(value) -> bool:
    if isinstance(value, tuple):
        return any(_any_complex(v) for v in value)
    if isinstance(value, np.ndarray):
        return value.dtype.kind == "c"
    return isinstance(value, (complex, np.complexfloating))


def _tuples(value):
    """Lists become tuples (generated code, like Numba, indexes tuples); trees are left to ``pytrees``."""
    if isinstance(value, (list, tuple)) and not pytrees.needed((value,)):
        return tuple(_tuples(v) for v in value)
    return value


def _is_integer(value) -> bool:
    kind = type(value)
    if kind is float:  # the common cases first: this runs on every call
        return False
    if kind is np.ndarray:
        return value.dtype.kind not in "fc"
    return kind is int or isinstance(value, (bool, np.bool_, numbers.Integral))


def _check_tangent(primal, tangent, where):
    """The tangent to pass for ``primal``, checked against it; None for a zero tangent."""
    if isinstance(primal, tuple):
        if tangent is None:
            return None
        tangent = _tuples(tangent)
        if not isinstance(tangent, tuple) or len(tangent) != len(primal):
            raise TypeError(f"the tangent of {where} must be a tuple of {len(primal)} entries like its primal")
        parts = [_check_tangent(p, t, f"{where}[{i}]") for i, (p, t) in enumerate(zip(primal, tangent))]
        return tuple(_zeros_like(p) if t is None else t for p, t in zip(primal, parts))
    if _is_integer(primal):
        if tangent is not None:
            raise TypeError(f"{where} is an integer, so its tangent must be None (integers are not differentiated)")
        return None
    if tangent is None:
        return None
    if isinstance(primal, np.ndarray):
        t = np.asarray(tangent)
        if t.shape != primal.shape:
            raise ValueError(f"the tangent of {where} has shape {t.shape}, but its primal has shape {primal.shape}")
        if t.dtype != primal.dtype:
            raise TypeError(f"the tangent of {where} has dtype {t.dtype}, but its primal has dtype {primal.dtype}")
        return np.array(t, copy=True)
    if type(primal) is float and type(tangent) is float:
        return tangent
    if isinstance(primal, numbers.Real):
        if isinstance(tangent, np.ndarray) and tangent.shape != ():
            raise ValueError(f"the tangent of {where} has shape {tangent.shape}, but its primal is a scalar")
        if _is_integer(tangent) or not isinstance(tangent, (numbers.Real, np.ndarray)):
            raise TypeError(f"the tangent of {where} must be a float like its primal, got {tangent!r}")
        return tangent
    raise TypeError(f"{where} is a {type(primal).__name__}: s2s differentiates floats, float arrays and tuples of them")


def _zeros_like(primal):
    if isinstance(primal, tuple):
        return tuple(_zeros_like(p) for p in primal)
    return np.zeros_like(primal) if isinstance(primal, np.ndarray) else 0.0


def _all_integers(value) -> bool:
    if isinstance(value, tuple):
        return bool(value) and all(_all_integers(v) for v in value)
    return _is_integer(value)


def _any_integers(value) -> bool:
    if isinstance(value, tuple):
        return any(_any_integers(v) for v in value)
    return _is_integer(value)


def _kinds(args) -> tuple:
    return tuple(analysis.kind_of_value(a) for a in args)


def _is_real_scalar(value) -> bool:
    if isinstance(value, np.ndarray):
        return value.shape == () and value.dtype.kind == "f"
    return isinstance(value, (float, np.floating))


def _stand_in(primal, where):
    """A value with ``primal``'s shape and dtype (for ``linear_transpose``, whose primals may be descriptions)."""
    if isinstance(primal, (tuple, list)):
        return tuple(_stand_in(p, f"{where}[{i}]") for i, p in enumerate(primal))
    if isinstance(primal, (int, float, np.ndarray, np.number)) and not isinstance(primal, bool):
        dtype = np.result_type(primal)
        shape = np.shape(primal)
    elif hasattr(primal, "shape") and hasattr(primal, "dtype"):
        dtype, shape = np.dtype(primal.dtype), tuple(primal.shape)
    else:
        raise TypeError(f"{where}: linear_transpose needs arrays, scalars or objects with shape and dtype, "
                        f"got {primal!r}")
    if dtype.kind != "f":
        raise TypeError(f"{where} has dtype {dtype}: linear_transpose transposes functions of floats")
    if shape == ():
        return float(0.0) if dtype == np.float64 and isinstance(primal, float) else dtype.type(0.0)
    return np.zeros(shape, dtype)


def _check_cotangent(out, ct):
    """``ct`` checked against the output it is the cotangent of (structure, shape, dtype kind)."""
    if isinstance(out, tuple):
        if not isinstance(ct, tuple) or len(ct) != len(out):
            raise TypeError(f"the cotangent must be a tuple of {len(out)} entries like the output")
        return tuple(_check_cotangent(o, c) for o, c in zip(out, ct))
    if _any_complex(ct):
        raise TypeError("s2s does not support complex values, and the cotangent is complex")
    if isinstance(out, np.ndarray):
        c = np.asarray(ct, dtype=out.dtype if out.dtype.kind == "f" else float)
        if c.shape != out.shape:
            raise ValueError(f"the cotangent has shape {c.shape}, but the output has shape {out.shape}")
        return c
    if isinstance(ct, np.ndarray) and ct.shape != ():
        raise ValueError(f"the cotangent has shape {ct.shape}, but the output is a scalar")
    if not isinstance(ct, (numbers.Real, np.ndarray)) or isinstance(ct, bool):
        raise TypeError(f"the cotangent must be a float like the output, got {ct!r}")
    return float(ct)


def _cast_like(primal, ct):
    """``ct`` as the cotangent of ``primal``: its structure, shape and dtype (zeros for ``None``)."""
    if isinstance(primal, tuple):
        parts = ct if isinstance(ct, tuple) else (None,) * len(primal)
        return tuple(_cast_like(p, c) for p, c in zip(primal, parts))
    if ct is None:
        return _zeros_like(primal)
    if isinstance(primal, np.ndarray):
        return np.asarray(ct, dtype=primal.dtype).reshape(primal.shape)
    if isinstance(primal, np.number):
        return primal.dtype.type(ct)
    return float(ct)
