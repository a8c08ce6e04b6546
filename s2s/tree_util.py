"""Pytrees: nested containers of arrays and numbers, as ``jax.tree_util``.

Tuples, lists, dicts, namedtuples, dataclasses and ``None`` are containers, and so is any class
registered with :func:`register_pytree_node`; everything else is a leaf.  The work is optree's
(its C++ tree library, with JAX's semantics), in s2s's own registry namespace, so registering a class
here does not change how other libraries see it.  Unlike JAX, a plain ``dataclasses.dataclass`` is a
container of its fields without registration.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import optree

__all__ = ["register_pytree_node", "register_pytree_node_class", "register_dataclass", "tree_flatten",
           "tree_unflatten", "tree_leaves", "tree_structure", "tree_map", "PyTreeDef"]

NAMESPACE = "s2s"
PyTreeDef = optree.PyTreeSpec
#: The classes registered here (the front end reads calls of them as trees being made).
REGISTERED = set()


def register_pytree_node(nodetype, flatten_func, unflatten_func):
    """Make ``nodetype`` a container: ``flatten_func(node) -> (children, aux_data)`` and
    ``unflatten_func(aux_data, children) -> node``, as in JAX."""
    optree.register_pytree_node(nodetype, flatten_func, unflatten_func, namespace=NAMESPACE)
    REGISTERED.add(nodetype)
    return nodetype


def register_pytree_node_class(cls):
    """Class decorator: ``cls.tree_flatten(self)`` and ``cls.tree_unflatten(aux_data, children)``."""
    return register_pytree_node(cls, lambda node: node.tree_flatten(), cls.tree_unflatten)


def register_dataclass(cls):
    """Make the dataclass ``cls`` a container of its fields (plain dataclasses are already)."""
    names = tuple(f.name for f in dataclasses.fields(cls))
    optree.register_pytree_node(cls, lambda node: ([getattr(node, n) for n in names], None, names),
                                lambda _, children: cls(**dict(zip(names, children))), namespace=NAMESPACE)
    REGISTERED.add(cls)
    return cls


def _register_dataclasses(tree):
    """Register the plain dataclasses found in ``tree`` (once each), so that they flatten into their fields."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if dataclasses.is_dataclass(node) and not isinstance(node, type):
            if optree.tree_structure(node, namespace=NAMESPACE).is_leaf():
                register_dataclass(type(node))
            stack.extend(getattr(node, f.name) for f in dataclasses.fields(node))
        elif isinstance(node, (list, tuple)):
            stack.extend(node)
        elif isinstance(node, dict):
            stack.extend(node.values())


def tree_flatten(tree, is_leaf=None):
    """``(leaves, treedef)``: the leaves left to right (dicts by sorted key), and the structure."""
    _register_dataclasses(tree)
    return optree.tree_flatten(tree, is_leaf=is_leaf, namespace=NAMESPACE)


def tree_unflatten(treedef, leaves):
    """The tree with ``treedef``'s structure and ``leaves``."""
    return optree.tree_unflatten(treedef, leaves)


def tree_leaves(tree, is_leaf=None):
    return tree_flatten(tree, is_leaf)[0]


def tree_structure(tree, is_leaf=None):
    return tree_flatten(tree, is_leaf)[1]


def tree_map(f, tree, *rest, is_leaf=None):
    """``f`` applied leaf by leaf to ``tree`` and the trees ``rest`` of the same structure."""
    _register_dataclasses((tree, *rest))
    return optree.tree_map(f, tree, *rest, is_leaf=is_leaf, namespace=NAMESPACE)


def skeleton(treedef):
    """A tree of ``treedef``'s structure with placeholder leaves (to name its leaves or match a prefix to it)."""
    return treedef.unflatten([0.0] * treedef.num_leaves)


def returned(leaves):
    """Leaves as a generated function returns a tree's: its one leaf alone, several as a tuple."""
    return leaves[0] if len(leaves) == 1 else tuple(leaves)


def is_container(value) -> bool:
    """Whether ``value`` is a tree with structure of its own, not a leaf."""
    if type(value) in _LEAVES or isinstance(value, np.generic):  # most arguments: answered without optree
        return False
    return not tree_structure(value).is_leaf()


#: Types whose values are leaves, whatever is registered (NumPy's scalars are too).
_LEAVES = frozenset({float, int, bool, complex, np.ndarray})


def leaf_names(prefix: str, tree) -> list:
    """Readable names for the leaves of ``tree``: ``params_W1``, ``layers_0_b``, ``state_x`` (``prefix`` alone
    for a leaf)."""
    _register_dataclasses(tree)
    accessors = optree.tree_flatten_with_accessor(tree, namespace=NAMESPACE)[0]
    names = []
    for accessor in accessors:
        parts = [prefix] + [_entry_word(entry) for entry in accessor]
        names.append(re.sub(r"\W+", "_", "_".join(parts)).strip("_") or prefix)
    return names


def _entry_word(entry) -> str:
    for attribute in ("field", "name", "key", "index", "entry"):
        if hasattr(entry, attribute):
            return str(getattr(entry, attribute))
    return "leaf"
