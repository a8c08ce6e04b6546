"""``vmap``'s axes: ``in_axes`` checked against the arguments and spread over tuple arguments, and what
batching needs to know of each argument (its number of dimensions)."""

from __future__ import annotations

import numbers

import numpy as np
import optree

from . import analysis, tree_util
from .transforms.batch import flat_axes


def on_device(value) -> bool:
    """Whether ``value`` is an array in GPU memory (a Numba device array, or anything with the CUDA array interface)."""
    return hasattr(value, "__cuda_array_interface__") or getattr(value, "__cuda_ndarray__", False)


def spec_of(value):
    """What batching needs to know of an argument: an array's ``ndim`` (0: a scalar), a tuple of those
    for a tuple, None if not known."""
    if isinstance(value, tuple):
        return tuple(spec_of(v) for v in value)
    if isinstance(value, np.ndarray) or on_device(value):
        return len(value.shape)
    if isinstance(value, (numbers.Number, np.number)):
        return 0
    return None


def specs_of(args) -> tuple:
    return tuple(spec_of(a) for a in args)


def kinds_of(specs) -> tuple:
    return tuple(analysis.SCALAR if s == 0 else s if isinstance(s, int) else None for s in specs)


def ndims_of(specs) -> tuple:
    return tuple(s if isinstance(s, int) else None for s in specs)


def is_axes(axes) -> bool:
    """An int, None, or a tree of those (a prefix of the arguments' or outputs' trees)."""
    return all(a is None or isinstance(a, int) and not isinstance(a, bool)
               for a in optree.tree_leaves(axes, none_is_leaf=True, namespace=tree_util.NAMESPACE))


def check_axes(in_axes, out_axes):
    for axes, what in ((in_axes, "in_axes"), (out_axes, "out_axes")):
        if not is_axes(axes):
            raise TypeError(f"{what} must be an int, None, or a tuple (or other tree) of those, got {axes!r}")


def input_axes(in_axes, specs) -> tuple:
    """``in_axes`` with one entry per argument, nested like tuple arguments, negative axes counted from 0."""
    if isinstance(in_axes, tuple):
        if len(in_axes) > len(specs):
            raise ValueError(f"vmap in_axes has {len(in_axes)} entries but the function takes "
                             f"{len(specs)} positional arguments")
        in_axes += (None,) * (len(specs) - len(in_axes))  # parameters left to their defaults: passed whole
    else:
        in_axes = (in_axes,) * len(specs)
    axes = tuple(leaf_axes(a, s, f"argument {i}") for i, (a, s) in enumerate(zip(in_axes, specs)))
    if all(a is None for a in flat_axes(axes)):
        raise ValueError("vmap needs at least one argument with an axis to map over (in_axes not all None)")
    return axes


def leaf_axes(axis, spec, where):
    if isinstance(spec, tuple):
        if isinstance(axis, tuple):
            if len(axis) != len(spec):
                raise ValueError(f"vmap in_axes for {where} has {len(axis)} entries, but it is a tuple of "
                                 f"{len(spec)}")
            return tuple(leaf_axes(a, s, f"{where}[{i}]") for i, (a, s) in enumerate(zip(axis, spec)))
        return tuple(leaf_axes(axis, s, f"{where}[{i}]") for i, s in enumerate(spec))
    if isinstance(axis, tuple):
        raise ValueError(f"vmap in_axes gives a tuple for {where}, which is not a tuple")
    if axis is None or spec is None:
        return axis
    if not -spec <= axis < spec:
        raise ValueError(f"vmap in_axes {axis} is out of range for {where}, which has {spec} dimension(s)")
    return axis % spec


def per_example(specs, inputs) -> tuple:
    """The specs of one example's arguments: mapped arrays lose a dimension."""
    def one(spec, axis):
        if isinstance(spec, tuple):
            return tuple(one(s, a) for s, a in zip(spec, axis))
        return spec - 1 if isinstance(spec, int) and axis is not None else spec

    return tuple(one(s, a) for s, a in zip(specs, inputs))


def mapped_leaves(args, inputs, path="argument"):
    """(where, array, axis) for each mapped array among the arguments."""
    for i, (arg, axis) in enumerate(zip(args, inputs)):
        where = f"{path} {i}" if path == "argument" else f"{path}[{i}]"
        if isinstance(axis, tuple):
            yield from mapped_leaves(arg, axis, where)
        elif axis is not None:  # a device array as it is: NumPy would copy it (Numba's) or refuse (CuPy's)
            yield where, arg if on_device(arg) else np.asarray(arg), axis
