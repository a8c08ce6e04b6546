"""The transforms s2s generates code for as a whole: ``grad``, ``vmap`` and the Jacobians.

Each is an object with ``call`` (run it on arguments) and ``emit`` (add its generated function to a
program), so that a transform of a transform is one module, compiled as one unit under ``s2s.jit``.
"""

from __future__ import annotations

import functools
import inspect
import types

from . import arguments, batch_axes, building, pytrees, shipping, tree_util
from .arguments import param_kinds
from .backends import PYTHON
from .building import build, key_of
from .errors import CompileError, UnsupportedTransformError
from .frontend.normalize import normalize
from .frontend.trees import flattened, returned_tuples
from .transforms.batch import Axes, output_arity


class Transform(shipping.Shipped):
    """A transform that s2s generates code for as a whole (``grad``, ``vmap``, the Jacobians).

    ``emit`` adds its generated function to a program; so a transform of a transform is one module,
    compiled as one unit under ``s2s.jit``.
    """

    label = "transform"

    def __call__(self, *args, **kwargs):
        return self.call(args, kwargs, backend=None)

    def bind(self, args, kwargs) -> tuple:
        """Every positional argument, defaults included."""
        return arguments.bind(building.innermost(self), args, kwargs, defaults=True)

    def run(self, args, backend):
        """Build (once per pattern of arguments), then run, the generated function for ``args``."""
        backend = backend or building.backend_of(self)
        built = build(key_of(self), "call", None, len(args), backend, batch_axes.specs_of(args),
                      floats=backend.float_type(args))
        return built.call(*args, *built.defaults_after(len(args)))

    @property
    def py_func(self):
        """The generated Python function, for any arguments: what a caller's transforms read."""
        nargs = len(normalize(building.innermost(self)).params)
        return build(key_of(self), "call", None, nargs, PYTHON, (None,) * nargs).call


class Grad(Transform):
    """``s2s.grad(fun)`` / ``s2s.value_and_grad(fun)``: a function computing gradients."""

    label = "grad"

    def __init__(self, fun, argnums, has_aux, with_value):
        arguments.check_argnums(argnums)
        self.fun, self.argnums, self.has_aux, self.with_value = fun, argnums, has_aux, with_value
        functools.update_wrapper(self, getattr(fun, "__s2s_function__", fun), updated=())

    def emit(self, program, specs, parallel=False, name=None) -> str:
        """The generated function returning the gradient (after the value, for ``value_and_grad``): what
        ``vmap(grad(f))`` maps (``name``: the one to give it)."""
        if self.has_aux:
            raise TypeError("only grad(f) and value_and_grad(f) can be transformed further, not has_aux=True")
        fun = function_object(self.fun, specs)
        fn = normalize(fun, len(specs))
        building.refuse_tuple_output(fn)
        nums = tuple(n % len(specs) for n in ((self.argnums,) if isinstance(self.argnums, int) else self.argnums))
        mask = tuple(i in nums for i in range(len(specs)))
        names = program.adjoint(fun, mask, len(specs), param_kinds=batch_axes.kinds_of(specs))
        varied = [i for i, m in enumerate(names.tangent_mask) if m]  # (an argument the output ignores is not)
        picks = [varied.index(n) if n in varied else fn.params[n] for n in nums]
        return program.value_and_grad(names, fn.params, fn.lineno,
                                      picks[0] if isinstance(self.argnums, int) else tuple(picks), self.with_value,
                                      name)

    def call(self, args, kwargs, backend):
        if has_static(self.fun):  # grad(jit(f, static_argnums=...)): f specialised
            inner, rest, argnums = _without_static(self.fun, self.argnums, args, kwargs)
            return Grad(inner, argnums, self.has_aux, self.with_value).call(rest, {}, backend)
        fun, own_backend = building.unwrap(self.fun)
        if isinstance(fun, Grad):
            return self.second_order(fun, args, kwargs, backend or own_backend)
        args = arguments.bind(building.innermost(fun), args, kwargs)
        if (pytrees.needed(args) or _differentiates_a_tuple(self.argnums, args)) and not hasattr(fun, "emit"):
            return self.of_trees(fun, args, backend or own_backend)
        if hasattr(fun, "emit"):
            fun = function_object(fun, batch_axes.specs_of(self.bind(args, {})))
        nums = arguments.float_argnums(self.argnums, args, "grad")
        varied = tuple(i in nums for i in range(len(args)))
        backend = backend or own_backend
        built = build(key_of(fun), "grad", varied, len(args), backend, param_kinds(args), self.has_aux,
                      backend.float_type(args))
        full = args + built.defaults_after(len(args))
        try:
            result, cts = built.value_and_grad(*full)
        except CompileError:  # compiled, a tuple output fails in its seed, in Numba's words: say it in ours
            if not self.has_aux and not hasattr(fun, "emit"):
                building.refuse_tuple_output(normalize(fun, len(args)))
            raise
        out = result[0] if self.has_aux else result
        if not arguments.is_real_scalar(out):
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
        argnums = arguments.argnums_in(self.argnums, len(args))
        leafnums = call.leaf_positions(argnums)
        if not leafnums:
            raise TypeError(f"grad with respect to argument(s) {self.argnums!r}, which hold no arrays or numbers")
        arguments.float_argnums(leafnums, call.leaves, "grad")
        flat = Grad(building.rewrap(call.fun, backend), leafnums, self.has_aux, self.with_value)
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
        fun, own_backend = building.unwrap(self.fun)
        if isinstance(fun, Grad):
            raise TypeError("third and higher derivatives are not supported yet")
        varied = tuple(t is not None for t in tangents)
        built = build(key_of(fun), "jvp_tangent", varied, len(primals), PYTHON)
        args = primals + built.defaults_after(len(primals))
        tangent_of = Grad(built.call, self.argnums, has_aux=False, with_value=False)
        return tangent_of.call(args + built.tangent_arguments(args, tangents), {}, backend or own_backend)

    def second_order(self, inner, args, kwargs, backend):
        """``grad(grad(f, a), b)``: the derivative of ``grad(f, b)`` along argument ``a`` (second derivatives
        commute), so ``jvp(grad(f, b))`` in the direction of ``a``."""
        args = arguments.bind(building.innermost(inner), args, kwargs)
        if not isinstance(inner.argnums, int) or inner.has_aux or inner.with_value:
            raise TypeError("grad of a gradient needs grad(f, argnums=<int>), whose output is a scalar")
        direction = tuple(1.0 if i == inner.argnums else None for i in range(len(args)))
        outer = Grad(inner.fun, self.argnums, has_aux=False, with_value=False)
        grads = outer.derivative(args, direction, backend)
        return (inner.call(args, {}, backend), grads) if self.with_value else grads

    def __repr__(self):
        kind = "value_and_grad" if self.with_value else "grad"
        return f"s2s.{kind}({described(self.fun)}, argnums={self.argnums!r})"


class Vmap(Transform):
    """``s2s.vmap(fun, in_axes, out_axes)``: ``fun`` mapped over an axis of its arguments."""

    label = "vmap"

    def __init__(self, fun, in_axes, out_axes, method, axis_name=None):
        batch_axes.check_axes(in_axes, out_axes)
        if method not in (None, "vectorized", "loop"):
            raise ValueError(f"method must be 'vectorized', 'loop' or None (the default choice), got {method!r}")
        self.fun, self.method, self.axis_name = fun, method, axis_name
        self.in_axes, self.out_axes = arguments.tuples(in_axes), arguments.tuples(out_axes)
        functools.update_wrapper(self, building.innermost(fun), updated=())

    def call(self, args, kwargs, backend):
        from . import cluster, parallel

        inner, levels = parallel.levels_of(self)
        if parallel.by_levels(inner, levels) or cluster.involved((args, kwargs)):  # collectives, pmap, Dask arrays
            args, levels = parallel.bound(building.innermost(inner), levels, args, kwargs)
            sizes = parallel.level_sizes(levels, args)
            if cluster.involved(args):
                return cluster.vmap(inner, levels, sizes, args, backend)
            parallel.check_devices(inner, levels, sizes)
            return parallel.run(inner, levels, sizes, args, backend)
        signature = inspect.signature(building.innermost(self))
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
        if has_static(self.fun):  # vmap(jit(f, static_argnums=...)): f specialised, its static arguments unmapped
            inner, rest, static = specialized_call(self.fun, args, kwargs)
            if any(axes[i] is not None for i in static):
                raise ValueError(f"vmap in_axes maps static argument(s) {', '.join(map(str, static))} of "
                                 f"{self.__name__}: a static argument is one value for the whole batch (give None)")
            kept = tuple(a for i, a in enumerate(axes) if i not in static)
            return Vmap(inner, kept, self.out_axes, self.method).call(rest, {}, backend)
        if pytrees.needed(full, tuples=True) or pytrees.involved(building.unwrap(self.fun)[0], full):
            return self.of_trees(full, axes, backend)
        variant = self._for_axes(axes)
        inputs = batch_axes.input_axes(variant.in_axes, batch_axes.specs_of(full))
        sizes = [(path, leaf.shape[axis]) for path, leaf, axis in batch_axes.mapped_leaves(full, inputs)]
        if len({size for _, size in sizes}) > 1:
            raise ValueError("vmap got inconsistent sizes for the mapped axes: "
                             + ", ".join(f"{path} has size {size}" for path, size in sizes))
        if sizes[0][1] == 0:
            raise ValueError("vmap over an empty batch is not supported: the output's shape comes from "
                             "the first example")
        return variant.run(full, backend)

    def of_trees(self, args, in_axes, backend):
        """``vmap`` over tree arguments: the flattened function's, one axis per leaf, outputs rebuilt."""
        fun, own_backend = building.unwrap(self.fun)
        if hasattr(fun, "emit"):
            if isinstance(fun, Grad) and not fun.has_aux:
                call = pytrees.flat_call(building.innermost(fun), args)
                argnums = arguments.argnums_in(fun.argnums, len(args))
                inner = Grad(building.rewrap(call.fun, own_backend), call.leaf_positions(argnums), False,
                             fun.with_value)
                flat = Vmap(inner, pytrees.leaf_axes(call, in_axes), self.out_axes, self.method)
                result = flat.call(call.leaves, {}, backend)
                if fun.with_value:  # per-example values, and gradients as the arguments' trees
                    return result[0], call.regroup(result[1], argnums)
                return call.regroup(result, argnums)
            raise TypeError(f"vmap of {fun!r} over trees (dicts, lists, namedtuples) is not supported: vmap the "
                            "function itself, or grad of it, or pass arrays")
        call = pytrees.flat_call(fun, args)
        flat = Vmap(building.rewrap(call.fun, own_backend), pytrees.leaf_axes(call, in_axes),
                    pytrees.leaf_out_axes(call, self.out_axes), self.method)
        return call.output(flat.call(call.leaves, {}, backend))

    def _for_axes(self, in_axes) -> Vmap:
        """This vmap with one entry of ``in_axes`` per parameter (one object per pattern: built once)."""
        if in_axes == self.in_axes:
            return self
        variants = self.__dict__.setdefault("_variants", {})
        if in_axes not in variants:
            variants[in_axes] = Vmap(self.fun, in_axes, self.out_axes, self.method)
        return variants[in_axes]

    def emit(self, program, specs, parallel=False) -> str:
        inputs = batch_axes.input_axes(self.in_axes, specs)
        example = batch_axes.per_example(specs, inputs)
        inner = emitted_name(self.fun, program, example)
        arity = program.output_arity(inner)
        outputs = self.out_axes if isinstance(self.out_axes, tuple) else (self.out_axes,) * (arity or 1)
        if len(outputs) != (arity or 1) or any(isinstance(a, tuple) for a in outputs):
            raise ValueError(f"out_axes {self.out_axes!r} does not match the function's outputs "
                             f"({arity or 1} of them)")
        if parallel and program.device:  # the outermost vmap, on the device: one thread per example
            user = normalize(building.innermost(self.fun), len(specs))  # where a refusal points
            return program.kernel(inner, Axes(inputs, outputs, arity), batch_axes.ndims_of(example), user)
        return program.batch(inner, Axes(inputs, outputs, arity), self.method, batch_axes.ndims_of(example), parallel)

    def __repr__(self):
        return f"s2s.vmap({described(self.fun)}, in_axes={self.in_axes!r}, out_axes={self.out_axes!r})"


class Jacobian(Transform):
    """``s2s.jacfwd``, ``s2s.jacrev`` and ``s2s.hessian``: dense Jacobians and Hessians."""

    def __init__(self, fun, argnums, label):
        arguments.check_argnums(argnums)
        self.fun, self.argnums, self.label = fun, argnums, label
        functools.update_wrapper(self, building.innermost(fun), updated=())

    def call(self, args, kwargs, backend):
        if has_static(self.fun):  # jacfwd(jit(f, static_argnums=...)): f specialised
            inner, rest, argnums = _without_static(self.fun, self.argnums, args, kwargs)
            return Jacobian(inner, argnums, self.label).call(rest, {}, backend)
        args = self.bind(args, kwargs)
        fun, own_backend = building.unwrap(self.fun)
        if pytrees.involved(fun, args) or _differentiates_a_tuple(self.argnums, args):
            return self.of_trees(args, backend)
        returned = None if hasattr(fun, "emit") else returned_tuples(normalize(fun, len(args)))
        if returned is not None:  # a tuple of outputs: a tuple of Jacobians, one output at a time, as JAX has it
            structure = tree_util.tree_structure(returned)
            return structure.unflatten([
                Jacobian(building.rewrap(flattened(fun, (None,) * len(args), pick=k), own_backend), self.argnums,
                         self.label).call(args, {}, backend) for k in range(structure.num_leaves)])
        arguments.float_argnums(self.argnums, args, self.label)
        return self.run(args, backend)

    def of_trees(self, args, backend):
        """The Jacobian (Hessian) of a function of trees, nested as JAX nests it: the output's structure
        outside, each argument's inside (twice for a Hessian)."""
        fun, own_backend = building.unwrap(self.fun)
        call = pytrees.flat_call(fun, args)
        argnums = arguments.argnums_in(self.argnums, len(args))
        leafnums = call.leaf_positions(argnums)
        arguments.float_argnums(leafnums, call.leaves, self.label)

        def blocks(flat_call):
            flat = Jacobian(building.rewrap(flat_call.fun, own_backend), leafnums, self.label)
            found = flat.call(call.leaves, {}, backend)
            if self.label == "hessian":
                return call.regroup([call.regroup(row, argnums) for row in found], argnums)
            return call.regroup(found, argnums)

        out_tree = call.out_tree
        if out_tree is None:
            return blocks(call)
        return out_tree.unflatten([blocks(call.picking(k)) for k in range(out_tree.num_leaves)])

    def emit(self, program, specs, parallel=False, columns=None) -> str:
        """The generated function (``columns``, for a Hessian: the arguments its blocks' columns are derivatives
        along, when not ``argnums``)."""
        inner = building.unwrap(self.fun)[0]
        if self.label == "jacfwd" and isinstance(inner, Grad) and not (inner.has_aux or inner.with_value):
            # The Jacobian of a gradient is blocks of the Hessian: computed so, nothing of the backward pass is
            # differentiated.
            return Jacobian(inner.fun, inner.argnums, "hessian").emit(program, specs, parallel, columns=self.argnums)
        if self.label != "jacfwd":
            refuse_backward_pass(inner, f"{self.label} of")
        fun = function_object(self.fun, specs)
        fn = normalize(fun, len(specs))
        if output_arity(fn) is not None:
            raise TypeError(f"{self.label} of {fn.name}, which returns a tuple: take the {self.label} of one "
                            "output at a time, or return one array (np.concatenate)")
        argnums = _positions(self.argnums, len(specs))
        ndims, kinds = batch_axes.ndims_of(specs), batch_axes.kinds_of(specs)
        tangents = functools.partial(tangent_function, fun, specs)
        nums = (argnums,) if isinstance(argnums, int) else argnums
        if program.device and all(ndims[n] == 0 for n in nums):
            return program.scalar_jacobian(self.label, fun, argnums, fn.params, fn.lineno, kinds, tangents)
        if self.label == "jacfwd":
            return program.jacfwd(fun, argnums, fn.params, fn.lineno, ndims, kinds)
        if self.label == "jacrev":
            return program.jacrev(fun, argnums, fn.params, fn.lineno, kinds)
        return program.hessian(fun, tangents, argnums, fn.params, fn.lineno, kinds, ndims,
                               argnums if columns is None else _positions(columns, len(specs)))

    def __repr__(self):
        return f"s2s.{self.label}({described(self.fun)}, argnums={self.argnums!r})"


def _positions(argnums, nargs):
    """``argnums`` (an int or a tuple) as positions from the start."""
    return argnums % nargs if isinstance(argnums, int) else tuple(n % nargs for n in argnums)


def _without_static(jitted, argnums, args, kwargs) -> tuple:
    """A transform of ``jit(f, static_argnums=...)`` called: ``f`` specialised on the static values (jitted as
    it was), the other arguments, and ``argnums`` among those."""
    specialized, rest, _ = specialized_call(jitted, args, kwargs)
    return specialized, rest, jitted.static.argnums_without(argnums, len(args) + len(kwargs))


def specialized_call(jitted, args, kwargs=None) -> tuple:
    """``jit(f, static_argnums=...)`` called with ``args``: ``f`` specialised on the static values (jitted as it
    was), the other arguments, and the positions of the static ones among those passed."""
    kwargs = kwargs or {}
    specialized, rest = jitted.static.split(args, kwargs)  # (binds them: a bad call is reported there)
    return building.Jitted(specialized, jitted.backend), rest, jitted.static.positions(len(args) + len(kwargs))


def has_static(fun) -> bool:
    """Is ``fun`` ``jit(f, static_argnums=...)`` (or ``static_argnames``)?"""
    return getattr(fun, "static", None) is not None


def _differentiates_a_tuple(argnums, args) -> bool:
    """Is one of the arguments ``argnums`` picks a tuple?  Its cotangent is a tuple, as JAX gives it: the
    argument is a tree of numbers (passed as it is otherwise, as Numba takes tuples)."""
    nums = arguments.argnums_in(argnums, len(args))
    return any(type(args[n]) is tuple for n in ((nums,) if isinstance(nums, int) else nums) if 0 <= n < len(args))


def tangent_function(fun, specs, k):
    """The generated function ``(*params, t) → fun's output tangent along t``, ``t`` a tangent of parameter ``k``;
    None where ``fun``'s output does not depend on parameter ``k`` (its tangent is zero)."""
    call, mask = tangent_along(fun, specs, tuple(i == k for i in range(len(specs))))
    return call if mask[k] else None


def tangent_along(fun, specs, mask) -> tuple:
    """The generated function ``(*params, *tangents) → fun's output tangent``, with tangents of the parameters
    in ``mask`` that ``fun``'s output depends on, and the mask of those.  Its callers differentiate it in
    reverse (a Hessian-vector product): refused where ``fun`` takes a gradient itself."""
    from .program import calls

    if calls(fun, len(specs), lambda inner: isinstance(inner, Grad)):
        raise UnsupportedTransformError(
            f"{described(fun)} takes a gradient in its code, and s2s does not differentiate that gradient twice "
            "more: a third derivative through a gradient inside a gradient is not supported (take the derivatives "
            "of the inner function at the top level, with s2s.jacfwd and s2s.hessian)")
    built = build(key_of(fun), "jvp_tangent", mask, len(specs), PYTHON)
    return built.call, built.tangent_mask


def plain(fun, backend, args, mode):
    """``fun`` as a function the transforms read: a transform (``vmap``, ``jacfwd``, …) becomes its generated
    code for ``args``, and runs compiled if anything in it was under ``s2s.jit``.

    Code with a backward pass saves values on tapes, which are not differentiated again: the
    derivatives of ``grad``, ``jacrev`` and ``hessian`` are available as ``jvp(grad(f))``,
    ``hessian`` and ``jacfwd(grad(f))`` instead.
    """
    if not hasattr(fun, "emit"):
        return fun, backend
    refuse_backward_pass(fun, f"{mode} of")
    return function_object(fun, batch_axes.specs_of(args)), building.backend_of(fun, backend)


def described(fun) -> str:
    """``fun`` as messages name it: a function by its qualified name (a lambda s2s lifted, by where it is)."""
    return fun.__qualname__ if isinstance(fun, types.FunctionType) else repr(fun)


def refuse_backward_pass(fun, what):
    """A ``TypeError`` if the code of the transform ``fun`` has a backward pass (``grad``, ``jacrev``, ``hessian``);
    ``what`` says what was asked of it (``"vjp of"``)."""
    inner = fun
    while hasattr(inner, "emit"):
        if isinstance(inner, Grad) or getattr(inner, "label", None) in ("jacrev", "hessian"):
            raise UnsupportedTransformError(
                f"{what} {inner!r} is not supported: its code has a backward pass, whose saved values are not "
                "differentiated again (for second derivatives use jvp(grad(f)), jacfwd(grad(f)) or hessian(f))")
        inner = building.unwrap(inner.fun)[0]


def emitted_name(fun, program, specs) -> str:
    """The name of ``fun``'s function in ``program``: a transform's generated one, or the user's primal."""
    fun = building.unwrap(fun)[0]
    if hasattr(fun, "emit"):
        return fun.emit(program, specs)
    return program.primal(fun, len(specs))


def function_object(fun, specs):
    """A plain Python function computing ``fun``: the user's own, or a transform's generated one."""
    fun = building.unwrap(fun)[0]
    if hasattr(fun, "emit"):
        return build(key_of(fun), "call", None, len(specs), PYTHON, specs).call
    return fun
