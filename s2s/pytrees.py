"""Trees at the API boundary: arguments flattened into leaves on the way in, results rebuilt on the way out.

The transforms run on the function with its tree parameters given leaf by leaf
(``frontend.trees.Flattened``), so they only ever see numbers and arrays; this module maps
between the user's trees and those leaves: argument positions to leaf positions, tangents and
cotangents (partial ones included) to leaves, ``in_axes``/``out_axes`` prefixes to one axis per leaf,
and leaves back to trees of the user's container types.
"""

from __future__ import annotations

import dataclasses
import functools

import optree

from . import tree_util
from .frontend.normalize import fingerprint as normalize_fingerprint, normalize
from .frontend.trees import Flattened, flattened


def needed(args, tuples=False) -> bool:
    """Whether any argument is a tree that the transforms do not take as it is (anything but a number, an
    array, or a flat tuple of those; ``tuples``: but a number or an array, for ``vmap``, whose batches of
    a tuple's leaves are a tuple of batches, as JAX has them)."""
    return any(_is_tree(a) or tuples and type(a) is tuple for a in args)


def involved(fun, args, fingerprint=None) -> bool:
    """Whether calling ``fun`` (a plain function, not a transform) on ``args`` takes or returns trees
    (``fingerprint``: ``fun``'s, where the caller has it already)."""
    if hasattr(fun, "emit") or isinstance(fun, Flattened):
        return False
    return needed(args) or _returns_tree(fun, normalize_fingerprint(fun) if fingerprint is None else fingerprint,
                                         len(args))


@functools.lru_cache(maxsize=512)
def _returns_tree(fun, fingerprint, nargs) -> bool:
    """Whether ``fun`` returns a tree: read from its code once per closure (a call asks, each time)."""
    return normalize(fun, nargs).out_tree is not None


def _is_tree(value) -> bool:
    if value is None:  # (an argument left to its default None is passed as it is)
        return False
    if type(value) is tuple:
        return any(tree_util.is_container(v) for v in value)
    return tree_util.is_container(value)


@dataclasses.dataclass
class FlatCall:
    """A call ``fun(*args)`` as a call of its flattened function on leaves."""

    fun: object  # the Flattened function
    leaves: tuple
    treedefs: tuple  # per argument: its structure, or None for a leaf passed as it is
    spans: tuple  # per argument: the positions of its leaves

    def leaf_positions(self, argnums) -> tuple:
        """The leaf positions of the arguments ``argnums`` (an int or a tuple)."""
        nums = (argnums,) if isinstance(argnums, int) else argnums
        return tuple(k for n in nums for k in self.spans[n])

    def regroup(self, values, argnums):
        """Per-leaf ``values`` (one per leaf position of ``argnums``) as one tree per argument, shaped like
        ``leaf_positions``'s: a tree for an int ``argnums``, a tuple of trees for a tuple."""
        values, trees = list(values), []
        for n in ((argnums,) if isinstance(argnums, int) else argnums):
            part, values = values[:len(self.spans[n])], values[len(self.spans[n]):]
            trees.append(self.rebuild(n, part))
        return trees[0] if isinstance(argnums, int) else tuple(trees)

    def rebuild(self, n, leaves):
        """Argument ``n``'s tree with ``leaves`` (its leaf alone if it is not a tree)."""
        treedef = self.treedefs[n]
        return leaves[0] if treedef is None else treedef.unflatten(leaves)

    @property
    def out_tree(self):
        """The structure of the output (without aux), or None where it is not a tree."""
        tree = normalize(self.fun).out_tree
        if tree is not None and self.fun.aux:
            tree = tree.children()[0]
        return None if tree is None or tree.is_leaf() else tree

    def output(self, result):
        """The function's result (a tuple of leaves where it returns a tree) as the user's tree."""
        out_tree = self.out_tree
        if out_tree is None:
            return result
        return out_tree.unflatten([result] if out_tree.num_leaves == 1 else list(result))

    def picking(self, k) -> FlatCall:
        """This call of the function that returns only output leaf ``k`` (a Jacobian's row block)."""
        return dataclasses.replace(self, fun=flattened(self.fun.fun, self.fun.treedefs, pick=k))


def flat_call(fun, args, aux=False) -> FlatCall:
    """``fun(*args)`` with every tree argument flattened (plain numbers and arrays kept as they are)."""
    leaves, treedefs, spans = [], [], []
    for arg in args:
        if tree_util.is_container(arg):
            parts, treedef = tree_util.tree_flatten(arg)
        else:
            parts, treedef = [arg], None
        spans.append(tuple(range(len(leaves), len(leaves) + len(parts))))
        leaves += parts
        treedefs.append(treedef)
    return FlatCall(flattened(fun, tuple(treedefs), aux), tuple(leaves), tuple(treedefs), tuple(spans))


def aux_tree(call: FlatCall, aux_leaves):
    """``has_aux``'s aux (returned as a tuple of leaves) as the user's tree."""
    out_tree = normalize(call.fun).out_tree
    return out_tree.children()[1].unflatten(list(aux_leaves)) if out_tree is not None else aux_leaves


def tangent_leaves(call: FlatCall, tangents) -> list:
    """One tangent per leaf (None: zero) from tangent trees shaped like the primals.

    As Flax's ``variable_tangents``: a dict key left out of a tangent, or None in place of a subtree,
    is a zero tangent.
    """
    out = []
    for n, tangent in enumerate(tangents):
        treedef = call.treedefs[n]
        if treedef is None:
            out.append(tangent)
            continue
        primal = treedef.unflatten(list(call.leaves[i] for i in call.spans[n]))
        out += _fill(primal, tangent, f"the tangent of argument {n}")
    return out


def _fill(primal, tangent, where) -> list:
    """The leaves of ``tangent`` matched to ``primal``'s, None where a subtree is left out."""
    count = len(tree_util.tree_leaves(primal))
    if tangent is None:
        return [None] * count
    if not tree_util.is_container(primal):
        return [tangent]
    if isinstance(primal, dict):
        if not isinstance(tangent, dict):
            raise TypeError(f"{where} must be a dict like its primal, got {type(tangent).__name__}")
        extra = set(tangent) - set(primal)
        if extra:
            raise TypeError(f"{where} has keys its primal lacks: {sorted(map(str, extra))}")
        return [leaf for key in sorted(primal) for leaf in _fill(primal[key], tangent.get(key), f"{where}[{key!r}]")]
    if isinstance(primal, (list, tuple)) and type(tangent) is type(primal) and len(tangent) == len(primal):
        return [leaf for i, (p, t) in enumerate(zip(primal, tangent)) for leaf in _fill(p, t, f"{where}[{i}]")]
    try:
        return tree_util.tree_structure(primal).flatten_up_to(tangent)
    except ValueError as e:
        raise TypeError(f"{where} does not have its primal's structure: {e}") from None


def flat_cotangent(call: FlatCall, ct):
    """An output cotangent tree as the flattened function's (a tuple of leaves where it returns a tree)."""
    out_tree = call.out_tree
    if out_tree is None:
        return ct
    try:
        return tree_util.returned(out_tree.flatten_up_to(ct))
    except ValueError as e:
        raise TypeError(f"the cotangent does not have the output's structure: {e}") from None


def leaf_axes(call: FlatCall, in_axes) -> tuple:
    """``vmap``'s ``in_axes`` (an int, None, or a tuple with a prefix of each argument's tree) as one axis
    per leaf."""
    per_arg = in_axes if isinstance(in_axes, (tuple, list)) else (in_axes,) * len(call.treedefs)
    if len(per_arg) != len(call.treedefs):
        raise ValueError(f"vmap in_axes has {len(per_arg)} entries but the function was given "
                         f"{len(call.treedefs)} positional arguments")
    axes = []
    for n, axis in enumerate(per_arg):
        treedef = call.treedefs[n]
        if treedef is None:
            axes.append(axis)
            continue
        axes += _broadcast(axis, tree_util.skeleton(treedef), f"in_axes for argument {n}")
    return tuple(axes)


def _broadcast(prefix, tree, where) -> list:
    """``prefix``'s entries, one per leaf of ``tree`` (None broadcast as an axis, not a subtree)."""
    options = dict(none_is_leaf=True, namespace=tree_util.NAMESPACE)
    try:
        return optree.tree_leaves(optree.tree_broadcast_prefix(prefix, tree, **options), **options)
    except ValueError as e:
        raise ValueError(f"vmap {where} is not a prefix of the argument's structure: {e}") from None


def leaf_out_axes(call: FlatCall, out_axes):
    """``out_axes`` as one entry per output leaf (as it is where the output is not a tree)."""
    out_tree = call.out_tree
    if out_tree is None:
        return out_axes
    return tree_util.returned(_broadcast(out_axes, tree_util.skeleton(out_tree), "out_axes"))
