"""Collectives: operations across the examples of a named mapped axis (``pmap``, or ``vmap`` with ``axis_name``).

``y = x / s2s.psum(x, "i")`` reads every example's ``x``, so no example can compute it alone.  s2s
splits the mapped function at its collectives (``stages``): each stage runs for every example, and
between stages the collective combines the stage's values over the examples, here.  A value between
stages holds, in front of each example's shape, one axis per mapped level it varies over (outermost
first); a collective reduces or gathers the levels it names and returns a value that no longer varies
over them.  Called outside a mapped function, a collective has no axis to work over and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import tree_util


def _unbound(name):
    def collective(*args, **options):
        axis_name = options.get("axis_name", args[0] if name == "axis_index" else args[1] if len(args) > 1 else None)
        raise NameError(f"unbound axis name: {axis_name!r}. s2s.{name} works inside a function mapped by "
                        "s2s.pmap, or s2s.vmap with that axis_name")
    collective.__name__ = collective.__qualname__ = name
    collective.__s2s_collective__ = name
    collective.__s2s_outside__ = (  # what s2s says of it inside code it transforms (a helper, a function mapped there)
        f"s2s.{name} here: collectives run where s2s.pmap, or s2s.vmap with an axis_name, is called from Python, "
        "at the top level of the function it maps (not in a helper, nor in a function transformed inside it)")
    collective.__doc__ = _DOCS[name]
    return collective


_DOCS = {
    "psum": "``psum(x, axis_name)``: the sum of ``x`` (an array, a scalar or a tree of them) over the examples.",
    "pmean": "``pmean(x, axis_name)``: the mean of ``x`` over the examples.",
    "pmax": "``pmax(x, axis_name)``: the elementwise maximum of ``x`` over the examples.",
    "pmin": "``pmin(x, axis_name)``: the elementwise minimum of ``x`` over the examples.",
    "all_gather": "``all_gather(x, axis_name, *, axis=0, tiled=False)``: every example's ``x``, stacked along a "
                  "new axis ``axis`` (concatenated along it with ``tiled``).",
    "axis_index": "``axis_index(axis_name)``: the index of this example along the mapped axis.",
}

psum, pmean, pmax, pmin, all_gather, axis_index = (_unbound(name) for name in _DOCS)

#: Each collective's keyword options and their defaults (anything else is refused where it is written).
OPTIONS = {"psum": {}, "pmean": {}, "pmax": {}, "pmin": {}, "all_gather": {"axis": 0, "tiled": False},
           "axis_index": {}}


def name_of(obj) -> str | None:
    """``"psum"`` for ``s2s.psum``, …; None for anything else."""
    return getattr(obj, "__s2s_collective__", None)


@dataclass(frozen=True)
class Level:
    """One mapped axis: its name and its number of examples."""

    name: object
    size: int


@dataclass
class Value:
    """A value between stages: ``array`` holds one leading axis per level in ``levels`` (a subset of the
    mapped levels, in their order), then one example's shape."""

    array: object
    levels: tuple


def combine(kind: str, value: Value | None, names: tuple, levels: tuple, options: dict) -> Value:
    """The collective ``kind`` over the levels named ``names`` of ``value`` (None for ``axis_index``)."""
    over = [level for level in levels if level.name in names]
    if kind == "axis_index":
        (level,) = over
        return Value(np.arange(level.size), (level,))
    kept = tuple(level for level in value.levels if level not in over)
    if kind == "all_gather":
        options = {**OPTIONS[kind], **options}
        return Value(tree_util.tree_map(lambda x: _gather(x, value.levels, over, **options), value.array), kept)
    return Value(tree_util.tree_map(lambda x: _reduce(kind, x, value.levels, over), value.array), kept)


def _reduce(kind, x, held, over):
    dims = tuple(held.index(level) for level in over if level in held)
    if kind == "pmean":
        return np.mean(x, axis=dims)
    if kind == "psum":  # an example that does not vary over a level is summed once per example of it
        return np.sum(x, axis=dims) * int(np.prod([level.size for level in over if level not in held]))
    return (np.max if kind == "pmax" else np.min)(x, axis=dims)


def _gather(x, held, over, axis, tiled):
    if len(over) != 1:
        raise ValueError("s2s.all_gather over several axis names is not supported: gather one at a time")
    (level,) = over
    if level not in held:
        x, held = np.broadcast_to(x, (level.size,) + x.shape), (level,) + tuple(held)
    kept = len(held) - 1
    example_ndim = x.ndim - len(held)
    if not -example_ndim - 1 <= axis <= example_ndim:
        raise ValueError(f"all_gather axis {axis} is out of range for values of {example_ndim} dimension(s)")
    target = kept + axis % (example_ndim + 1)
    gathered = np.moveaxis(x, held.index(level), target)
    if tiled:
        if example_ndim == 0:
            raise ValueError("all_gather with tiled=True needs values of at least one dimension")
        gathered = gathered.reshape(gathered.shape[:target] + (-1,) + gathered.shape[target + 2:])
    return gathered
