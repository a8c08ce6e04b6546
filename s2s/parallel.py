"""``pmap`` and the device queries, and the run of a mapped function stage by stage.

A CPU *device* is a core Numba's threads run on; ``pmap`` runs one example per device: the mapped
function, or each of its stages (``stages``: it is split at its collectives), as ``s2s.jit`` of
``s2s.vmap`` of it, whose batch loop is a parallel ``prange`` over the examples.  ``vmap`` with an
``axis_name`` runs the same stages without that limit, on whatever backend it is given.  Nested maps
(``pmap`` of ``pmap``) are *levels*, outermost first: a value between stages holds one leading axis
for each level it varies over, and collectives reduce the levels they name (``collectives``).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
from dataclasses import dataclass

import numpy as np
import optree

from . import backends, batch_axes, building, collectives, stages, tree_util
from .collectives import Level, Value
from .shipping import Shipped
from .transform_objects import Vmap, described


@dataclass(frozen=True)
class Device:
    """A device s2s runs examples on: ``platform`` ``"cpu"`` (a core) or ``"gpu"`` (a CUDA GPU)."""

    id: int
    platform: str
    device_kind: str
    process_index: int = 0

    def __repr__(self):
        return f"{self.platform.capitalize()}Device(id={self.id})"


def devices(backend=None) -> list[Device]:
    """The devices of ``backend`` (``"cpu"``, the default, or ``"cuda"``/``"gpu"``), as ``jax.devices``.

    CPU devices are the cores Numba's threads run on: ``$S2S_CPU_DEVICES`` if set (as JAX's
    ``--xla_force_host_platform_device_count``, to try code for more devices than the machine has),
    else ``$NUMBA_NUM_THREADS``, else the cores this process may use.
    """
    if backend in (None, "cpu"):
        count = os.environ.get("S2S_CPU_DEVICES") or os.environ.get("NUMBA_NUM_THREADS")
        count = int(count) if count else len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
            else os.cpu_count() or 1
        return [Device(i, "cpu", "cpu") for i in range(count)]
    if backend in ("cuda", "gpu"):
        from numba import cuda

        if not cuda.is_available():
            raise RuntimeError("no CUDA GPU is available (numba.cuda.is_available() is False)")
        names = [getattr(gpu, "name", b"CUDA simulator") for gpu in cuda.gpus]
        return [Device(i, "gpu", name.decode() if isinstance(name, bytes) else str(name))
                for i, name in enumerate(names)]
    raise ValueError(f"unknown backend {backend!r}: choose 'cpu' or 'cuda'")


def device_count(backend=None) -> int:
    """The number of devices of ``backend`` (``devices``)."""
    return len(devices(backend))


def local_device_count(backend=None) -> int:
    """The number of devices of ``backend`` this process drives: all of them (s2s runs in one process)."""
    return device_count(backend)


@dataclass(frozen=True)
class Axis:
    """One level of mapping as the user wrote it: its name, its in_axes (one entry per parameter) and
    out_axes, and whether its examples are devices (``pmap``'s) or not (``vmap``'s)."""

    name: object
    in_axes: object
    out_axes: object
    devices: bool = False


class Pmap(Shipped):
    """``s2s.pmap(fun, axis_name, ...)``: ``fun`` run on every device, one example per device."""

    __s2s_pmap__ = True
    #: What s2s says of a pmapped function called inside code it transforms (``grad`` of a function calling it).
    __s2s_outside__ = ("a pmapped function called inside code s2s transforms (grad through pmap): transform the "
                       "function pmap maps instead, as a data-parallel step calls s2s.grad inside it")

    def __init__(self, fun, axis_name, in_axes, out_axes, static_broadcasted_argnums, devices, backend):
        batch_axes.check_axes(in_axes, out_axes)
        if backend not in (None, "cpu", "python"):
            raise ValueError(f"pmap's backend is 'cpu' (compiled by Numba, the default) or 'python' (the generated "
                             f"code run as it is), got {backend!r}; for a GPU, "
                             "s2s.jit(s2s.vmap(f), target='cuda') runs one example per GPU thread")
        if devices is not None and not _is_client(devices) and any(d.platform != "cpu" for d in devices):
            raise ValueError("pmap runs on CPU devices (or a Dask client's workers); for a GPU, "
                             "s2s.jit(s2s.vmap(f), target='cuda') runs one example per GPU thread")
        static = (static_broadcasted_argnums,) if isinstance(static_broadcasted_argnums, int) \
            else tuple(static_broadcasted_argnums)
        self.fun, self.axis_name, self.in_axes, self.out_axes = fun, axis_name, in_axes, out_axes
        self.static_argnums, self.devices = static, devices
        self.backend = backends.PYTHON if backend == "python" else None
        functools.update_wrapper(self, building.innermost(fun), updated=())

    def __call__(self, *args, **kwargs):
        inner, axes = levels_of(self.fun)
        args, levels = bound(building.innermost(inner), [Axis(self.axis_name, self.in_axes, self.out_axes, True),
                                                         *axes], args, kwargs)
        static = tuple(n % len(args) for n in self.static_argnums)  # passed whole to every example
        levels[0] = dataclasses.replace(levels[0], in_axes=tuple(None if n in static else a
                                                                 for n, a in enumerate(levels[0].in_axes)))
        sizes = level_sizes(levels, args)
        if _is_client(self.devices):
            from . import cluster

            return cluster.pmap(inner, levels, sizes, args, self.devices, static)
        check_devices(inner, levels, sizes, self.devices)
        backend = self.backend or backends.named("numba")
        return run(inner, levels, sizes, args, backend, static=static)

    def __repr__(self):
        return f"s2s.pmap({described(self.fun)}, axis_name={self.axis_name!r})"


def check_devices(inner, levels, sizes, devices=None):
    """Each example of the ``pmap`` levels needs a device of its own (``vmap`` levels inside share them)."""
    needed = int(np.prod([size for level, size in zip(levels, sizes) if level.devices]))
    available = len(devices) if devices is not None else device_count()
    if devices is not None and needed != available:
        raise ValueError(f"pmap was given {available} devices, so its mapped axis must have {available} "
                         f"examples; it has {needed}")
    if needed > available:
        raise ValueError(f"pmap of {described(inner)} requires {needed} devices (one per example), but "
                         f"only {available} are available (s2s.device_count()); map the rest with s2s.vmap "
                         "inside, or set $S2S_CPU_DEVICES")


def _is_client(devices) -> bool:
    return type(devices).__name__ == "Client" and type(devices).__module__.startswith("distributed")


def levels_of(fun) -> tuple:
    """The function inside nested maps (``pmap`` of ``pmap``, ``vmap`` of either), and their levels, outermost
    first (none if ``fun`` is not a map)."""
    levels = []
    while isinstance(fun, (Pmap, Vmap)):
        levels.append(Axis(fun.axis_name, fun.in_axes, fun.out_axes, devices=isinstance(fun, Pmap)))
        fun = fun.fun
    return fun, levels


def by_levels(inner, levels) -> bool:
    """Whether maps must run level by level (``run``): the function calls collectives, or a level is ``pmap``'s."""
    return any(level.devices for level in levels) or stages.split(inner) is not None


def bound(fun, levels, args, kwargs) -> tuple:
    """Every positional argument of the call, defaults included, and the levels with an entry of in_axes for each:
    as in JAX, arguments passed by keyword are mapped over their axis 0, and defaults passed whole."""
    signature = inspect.signature(fun)
    call = signature.bind(*args, **kwargs)
    given = set(call.arguments)
    call.apply_defaults()
    rest = tuple(0 if name in given else None for name in list(signature.parameters)[len(args):len(call.args)])
    return call.args, [dataclasses.replace(level, in_axes=_entries(level.in_axes, len(args), "in_axes") + rest)
                       for level in levels]


def _entries(axes, nargs, what) -> tuple:
    if not isinstance(axes, (tuple, list)):
        return (axes,) * nargs
    if len(axes) != nargs:
        raise ValueError(f"{what} has {len(axes)} entries but the function was given {nargs} arguments")
    return tuple(axes)


def level_sizes(levels, args) -> list[int]:
    """Each level's number of examples, from the arguments it maps (every level must map one; its in_axes have an
    entry per argument, ``bound``)."""
    shapes = [None] * len(args)  # each argument's leaves' shapes, less the axes of the levels outside
    sizes = []
    for level in levels:
        found = {}  # size → the arguments mapped with it
        for i, axis in enumerate(level.in_axes):
            pairs = _leaf_axes(axis, args[i])
            if shapes[i] is None:
                shapes[i] = [list(np.shape(leaf)) for leaf, _ in pairs]
            for k, (_, leaf_axis) in enumerate(pairs):
                if leaf_axis is None:
                    continue
                shape = shapes[i][k]
                if not -len(shape) <= leaf_axis < len(shape):
                    raise ValueError(f"in_axes {leaf_axis} is out of range for argument {i}, which has "
                                     f"{len(shape)} dimension(s) there")
                found.setdefault(shape.pop(leaf_axis), []).append(i)
        if not found:
            raise ValueError("a map needs at least one argument with an axis to map over (in_axes not all None)")
        if len(found) > 1:
            raise ValueError("a map got inconsistent sizes for the mapped axes: " + "; ".join(
                f"argument{'s' * (len(at) > 1)} {', '.join(map(str, sorted(set(at))))} of size {size}"
                for size, at in found.items()))
        (size,) = found
        if size == 0:
            raise ValueError("a map over an empty axis is not supported: the output's shape comes from the first "
                             "example")
        sizes.append(size)
    return sizes


def _leaf_axes(axis, arg) -> list:
    """(leaf, axis) for each leaf of the argument ``arg``, given its in_axes entry (a prefix of its tree)."""
    leaves = optree.tree_leaves(arg, namespace=tree_util.NAMESPACE)
    if axis is None or isinstance(axis, int):
        return [(leaf, axis) for leaf in leaves]
    prefixes = optree.tree_broadcast_prefix(axis, arg, none_is_leaf=True, namespace=tree_util.NAMESPACE)
    return list(zip(leaves, optree.tree_leaves(prefixes, none_is_leaf=True, namespace=tree_util.NAMESPACE)))


class Local:
    """Runs a stage on this machine: ``vmap`` of it per level, compiled by ``backend`` (a parallel batch loop
    under Numba)."""

    def __init__(self, backend):
        self.backend = backend

    def map(self, stage, args, level_axes, static=()):
        backend, level_axes = self.backend or backends.PYTHON, tuple(level_axes)
        try:
            mapped = _mapped(stage.function, level_axes, static, backend)
        except TypeError:  # (axes of tree arguments, dicts: built for this call alone)
            mapped = _mapped.__wrapped__(stage.function, level_axes, static, backend)
        return mapped(*args)


@functools.lru_cache(maxsize=256)
def _mapped(function, level_axes, static, backend):
    """``function`` mapped over the levels' axes, once per pattern of axes: the objects s2s builds its code for
    (and caches it by) are the same at every call."""
    function = building.Jitted(function, backend, static) if static else function
    for axes in reversed(level_axes):
        function = Vmap(function, axes, 0, None)
    return function if static and not level_axes else building.rewrap(function, backend)


def run(fun, levels, sizes, args, backend, runner=None, static=()):
    """``fun`` (the innermost function) mapped over ``levels``: stage by stage where it calls collectives.
    ``static``: the positions of arguments each stage is specialised on (``s2s.jit``'s static arguments)."""
    runner = runner or Local(backend)
    mapped = [Level(level.name, size) for level, size in zip(levels, sizes)]
    names = list(inspect.signature(building.innermost(fun)).parameters)[:len(args)]
    split = stages.split(fun) or (stages.Stage(fun, tuple(names), (), None),)
    static = {names[n] for n in static}
    for collective in [stage.then for stage in split[:-1]] + list(split[0].given):
        missing = [n for n in collective.names if n not in {level.name for level in levels}]
        if missing:
            named = ", ".join(repr(level.name) for level in levels if level.name is not None)
            raise NameError(f"{collective.where}: unbound axis name {missing[0]!r} in s2s.{collective.kind}; " +
                            (f"the mapped axes' names here are {named}" if named else "no map here has an axis_name"))
    env = {}  # name → (value, its axis at each level: the user's in_axes, or 0 for the levels a Value varies over)
    for i, name in enumerate(names):
        env[name] = (args[i], tuple(level.in_axes[i] for level in levels))
    for collective in split[0].given:
        env[collective.result] = _entry(collectives.combine("axis_index", None, collective.names, tuple(mapped), {}),
                                        mapped)

    def stage_run(stage) -> tuple:
        """The stage's outputs, and the levels they vary over (those any of its inputs does)."""
        taken = [env[name] for name in stage.takes]
        active = [k for k in range(len(levels)) if any(not _unmapped(axes[k]) for _, axes in taken)]
        level_axes = [tuple(axes[k] for _, axes in taken) for k in active]
        outputs = runner.map(stage, [value for value, _ in taken], level_axes,
                             tuple(i for i, name in enumerate(stage.takes) if name in static))
        return outputs, tuple(mapped[k] for k in active)

    for stage in split[:-1]:
        outputs, held = stage_run(stage)
        for name, value in zip(stage.returns, outputs):
            env[name] = _entry(Value(value, held), mapped)
        collective = stage.then
        env[collective.result] = _entry(collectives.combine(collective.kind, Value(outputs[-1], held), collective.names,
                                                            tuple(mapped), dict(collective.options)), mapped)
    outputs, held = stage_run(split[-1])
    return _placed(outputs, held, mapped, levels)


def _unmapped(axis) -> bool:
    return all(a is None for a in optree.tree_leaves(axis, none_is_leaf=True, namespace=tree_util.NAMESPACE))


def _entry(value: Value, mapped) -> tuple:
    return value.array, tuple(0 if level in value.levels else None for level in mapped)


def _placed(outputs, held, mapped, levels):
    """The last stage's outputs (one leading axis per level in ``held``) with each level's axis where its
    out_axes puts it, innermost level first (as nested maps place them)."""
    def place(leaf, out_axes_per_level):
        leaf = leaf if hasattr(leaf, "ndim") else np.asarray(leaf)  # (a Dask array stays one)
        front = list(held)  # the levels whose axes are still in front, in order
        for level, axis in reversed(list(zip(mapped, out_axes_per_level))):
            outer = len(front) - (level in front)
            if level in front:
                if axis is None:
                    raise ValueError(f"an output varies over the mapped axis {level.name!r}, but its out_axes is "
                                     "None")
                leaf = np.moveaxis(leaf, outer, outer + axis % (leaf.ndim - outer))
                front.remove(level)
            elif axis is not None:  # the same for every example of the level
                at = outer + axis % (leaf.ndim - outer + 1)
                leaf = np.expand_dims(leaf, at)
                leaf = np.broadcast_to(leaf, leaf.shape[:at] + (level.size,) + leaf.shape[at + 1:])
        return leaf

    leaves, structure = optree.tree_flatten(outputs, namespace=tree_util.NAMESPACE)
    per_level = [optree.tree_leaves(optree.tree_broadcast_prefix(level.out_axes, outputs, none_is_leaf=True,
                                                                 namespace=tree_util.NAMESPACE),
                                    none_is_leaf=True, namespace=tree_util.NAMESPACE) for level in levels]
    return optree.tree_unflatten(structure, [place(leaf, [axes[i] for axes in per_level])
                                             for i, leaf in enumerate(leaves)])
