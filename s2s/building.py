"""Generated code built, cached and run: one ``Built`` per function, mode, backend and argument pattern.

A ``Built`` makes a :class:`~s2s.program.Program` for the function, renders it to a module, loads it
and has its backend (``s2s.backends``) compile it: for ``s2s.jit``, whose wrapper ``Jitted`` is here too.
"""

from __future__ import annotations

import functools

from . import arguments, core, device_math, device_tapes, precision, pytrees, static
from .backends import PYTHON
from .emit import render
from .frontend.normalize import fingerprint, normalize
from .modules import load
from .program import Program
from .shipping import Shipped
from .transforms.batch import output_arity


class Jitted(Shipped):
    """A function whose generated code, and every transform's, is compiled by ``backend``."""

    def __init__(self, fun, backend, static_argnums=(), static_argnames=()):
        self.__s2s_function__, self.backend = fun, backend
        self.static = static.StaticArguments(fun, static_argnums, static_argnames) \
            if static_argnums != () or static_argnames != () else None
        functools.update_wrapper(self, fun, updated=())

    def __call__(self, *args, **kwargs):
        if self.static is not None:  # compiled for these static values (once per value)
            specialized, args = self.static.split(args, kwargs)
            return Jitted(specialized, self.backend)(*args)
        if hasattr(self.__s2s_function__, "emit"):  # a transform: grad, vmap, jacfwd, …
            return self.__s2s_function__.call(args, kwargs, backend=self.backend)
        args = arguments.bind(self.__s2s_function__, args, kwargs, real=False)
        key = key_of(self.__s2s_function__)
        if pytrees.involved(self.__s2s_function__, args, key[1]):
            call = pytrees.flat_call(self.__s2s_function__, args)
            return call.output(Jitted(call.fun, self.backend)(*call.leaves))
        built = build(key, "primal", None, len(args), self.backend, floats=self.backend.float_type(args))
        return built.call(*args, *built.defaults_after(len(args)))

    def __repr__(self):
        return f"s2s.jit({self.__s2s_function__!r})"


def rewrap(fun, backend):
    """``fun`` compiled again where the function it stands for was under ``s2s.jit``."""
    return fun if backend is PYTHON else Jitted(fun, backend)


#: Modes that need the adjoint (``linear_transpose``: the API's, which checks that the function is linear).
REVERSE = ("transpose", "linear_transpose", "vjp", "grad")


#: The generated functions each reverse mode shows and runs (the last one is its main function).
ROLES = {"linearize": ("forward", "linear"), "transpose": ("linear", "adjoint"), "vjp": ("forward", "adjoint"),
         "linear_transpose": ("forward", "adjoint"), "grad": ("forward", "adjoint", "value_and_grad")}


class Built:
    """A transformed program, rendered (and loaded, and compiled): what a cache entry holds."""

    def __init__(self, obj, fn, mode, backend, varied, kinds=None, has_aux=False, floats=None, only_source=False):
        if backend.device and mode != "device" and (mode != "call" or obj.label != "vmap"):
            raise TypeError(f"the {backend.name} target runs s2s.vmap of per-example code (one thread per example), "
                            f"not {obj!r} as {mode}: jit s2s.vmap(f), s2s.vmap(s2s.grad(f)), …")
        program = Program()
        self.tangent_mask, entries = (), {}
        padded = tuple(varied or ()) + (False,) * (len(fn.params) - len(varied or ()))
        if mode in ("call", "device"):  # code generated as the backend prefers it
            program.prefer_loops, program.device = backend.prefers_loops, backend.device
        if mode == "primal":
            self.main = entries["call"] = program.primal(obj, len(fn.params))
        elif mode == "call":  # a transform object builds its own functions
            self.main = entries["call"] = obj.emit(program, kinds, parallel=backend.parallel)
        elif mode == "device":  # the per-example function alone, for kernels of one's own (``s2s.cuda.device``)
            self.main = entries["call"] = obj.emit(program, kinds) if hasattr(obj, "emit") else \
                program.primal(obj, len(fn.params))
        elif mode in ("jvp", "jvp_tangent"):
            self.main, self.tangent_mask = program.jvp(obj, padded, len(fn.params), kinds)
            if mode == "jvp_tangent":  # (primals, tangents) → the output tangent alone
                namer = core.Namer(fn.params)
                tangents = [namer.fresh(f"{p}_dot") for p, m in zip(fn.params, self.tangent_mask) if m]
                self.main = program.tangent_output(self.main, [*fn.params, *tangents], fn.lineno)
            entries["call"] = self.main
        else:
            names = (program.adjoint if mode in REVERSE else program.linearize)(
                obj, padded, len(fn.params), check_linear=mode == "linear_transpose", param_kinds=kinds,
                has_aux=has_aux)
            self.tangent_mask = names.tangent_mask
            roles = {"forward": names.forward, "linear": names.linear, "adjoint": names.adjoint}
            if mode == "grad":
                roles["value_and_grad"] = program.value_and_grad(names, fn.params, fn.lineno)
            entries = {r: roles[r] for r in ROLES[mode]}
            self.main = entries[ROLES[mode][-1]]
        program.finish(*entries.values())
        program.prune()
        if program.device:
            device_math.spell(program)
        if program.launches:
            device_tapes.lower(program)
        self.params, self.defaults = fn.params, fn.defaults
        functions = program.functions
        if mode == "transpose":  # the linear functions, then their transposes; not the forward functions
            functions = [f for role in ("linear", "adjoint") for f in functions if program.role(f.name) == role]
        label = getattr(obj, "label", "primal") if mode in ("call", "device") else mode
        header = f"{label} of {fn.name}, generated by s2s. Edit the source, not this file."
        if floats is not None:
            header = f"{label} of {fn.name} for {floats} arguments, generated by s2s. Edit the source, not this file."
        rendered = render(precision.specialize(functions, floats), backend.header(header, self.main, program),
                          program.constants, floats)
        self.source = rendered.source
        if only_source:
            return
        namespace, path = load(rendered, program.constants, self.main, backend.name)
        for role, call in backend.compile(namespace, path, program, rendered, entries, floats).items():
            setattr(self, role, backend.forward(call) if role == "forward" else call)

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
        return tuple(arguments.zeros_like(a) if t is None else t
                     for a, t, m in zip(args, given, self.tangent_mask) if m)

    def cotangents_for(self, primals, cts) -> tuple:
        """One cotangent per primal, with its dtype: ``None`` for integers, zeros where nothing flows back."""
        cts = iter(cts)
        out = []
        for primal, active in zip(primals, self.tangent_mask):
            ct = next(cts) if active else None
            out.append(None if arguments.all_integers(primal) else arguments.cast_like(primal, ct))
        return tuple(out)


def refuse_tuple_output(fn) -> None:
    """``grad`` of ``fn``, which returns a tuple: refused in s2s's words (compiled, its seed fails to type-check
    in Numba's)."""
    if output_arity(fn) is not None:
        raise TypeError(f"grad requires a function with a scalar output, and {fn.name} returns a tuple of "
                        f"{output_arity(fn)} (use vjp or jacrev for other outputs)")


def key_of(fun):
    if hasattr(fun, "emit"):  # a transform: what it transforms is fixed when it is made
        return (fun, ())
    return (fun, fingerprint(fun))


@functools.lru_cache(maxsize=512)
def build(key, mode, varied, nargs, backend, kinds=None, has_aux=False, floats=None, only_source=False) -> Built:
    """The ``Built`` for these arguments (made once); ``only_source``: rendered, as ``backend`` has it, not loaded."""
    return Built(key[0], normalize(innermost(key[0]), nargs), mode, backend, varied, kinds, has_aux, floats,
                 only_source)


def unwrap(fun):
    """``fun`` without its ``s2s.jit``, and the backend that was to run it."""
    if isinstance(fun, Jitted):
        return fun.__s2s_function__, fun.backend
    return fun, PYTHON


def backend_of(fun, given=PYTHON):
    """The backend that runs ``fun`` when called under ``given``: ``given`` if it is not plain Python, else that of
    the ``s2s.jit`` around ``fun`` or a function it transforms (plain Python if none)."""
    if given is not PYTHON:
        return given
    while True:
        if isinstance(fun, Jitted):
            return fun.backend
        if not hasattr(fun, "emit"):
            return PYTHON
        fun = fun.fun


def innermost(fun):
    """The user's function under any transforms."""
    while True:
        fun = unwrap(fun)[0]
        if not hasattr(fun, "emit"):
            return fun
        fun = fun.fun
