"""Pytrees in the source, resolved at transform time, so generated code (and Numba) sees only leaves.

A parameter that is a tree (``params`` a dict of arrays) becomes one parameter per leaf
(``params_W1``, ``params_b1``).  While normalizing, a tree is a real container of the user's type
whose leaves are atoms of core form (``{"W1": params_W1, …}``): ``params["W1"]``, ``p.W``,
``state[0]``, ``len(layers)``, ``for k in ks`` and ``d.items()`` are then looked up in it, so
constant keys and attributes cost nothing at run time.  A tree bound to a name keeps one variable
per leaf; a returned tree is flattened into a tuple of leaves, and its structure recorded on the
function (``core.Function.out_tree``) for the caller to rebuild.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import inspect

import gast

from .. import core, tree_util

#: What ``tree_of`` returns for an expression that is not rooted at a tree.
NOT_TREE = object()
_DICT_VIEWS = ("keys", "values", "items")


@dataclasses.dataclass(frozen=True)
class Flattened:
    """``fun`` with its tree parameters given leaf by leaf.

    ``treedefs[i]`` is parameter ``i``'s structure (None: passed as it is).  With ``aux``, ``fun``
    returns ``(output, aux)``, and the generated function returns the output's leaves and a tuple of
    aux's leaves, so that ``has_aux`` still finds two values.  With ``pick``, it returns only that leaf
    of its output (Jacobians of a tree, one output leaf at a time).
    """

    fun: object
    treedefs: tuple
    aux: bool = False
    pick: int | None = None

    @property
    def __name__(self):
        return getattr(self.fun, "__name__", "f")

    @property
    def __signature__(self):
        from .normalize import normalize

        return inspect.Signature([inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD)
                                  for p in normalize(self).params])

    def __call__(self, *leaves):
        """``fun`` itself, called with the trees these leaves make, its output's leaves returned."""
        leaves, args = list(leaves), []
        for treedef in self.treedefs:
            count = 1 if treedef is None else treedef.num_leaves
            part, leaves = leaves[:count], leaves[count:]
            args.append(part[0] if treedef is None else treedef.unflatten(part))
        result = self.fun(*args, *leaves)
        if self.aux:
            return _flat_output(result[0]), tuple(tree_util.tree_leaves(result[1]))
        flat = _flat_output(result)
        return flat[self.pick] if self.pick is not None else flat


def _flat_output(value):
    """An output as the generated function returns it: a leaf as it is, a tree as a tuple of its leaves
    (its one leaf alone)."""
    if not tree_util.is_container(value):
        return value
    return tree_util.returned(tree_util.tree_leaves(value))


def is_container(value) -> bool:
    """A tree being normalized with structure of its own (not an atom of core form)."""
    return not isinstance(value, gast.AST) and value is not NOT_TREE


def is_plain_sequence(tree) -> bool:
    """Tuples and lists (of tuples and lists) of atoms: what a display bound to a name holds."""
    return type(tree) in (tuple, list) and all(is_plain_sequence(e) if is_container(e) else True for e in tree)


def tuple_display(tree):
    """The plain sequence ``tree`` as a tuple expression of core form, to use it whole as a value
    (``np.zeros(shape)``, ``np.array(rows)``)."""
    return core.tuple_(tuple_display(e) if is_container(e) else core.load(e) for e in tree)


def _constructs_tree(obj) -> bool:
    """A class whose instances are containers: namedtuples, dataclasses, registered classes."""
    if not isinstance(obj, type):
        return False
    if issubclass(obj, tuple) and hasattr(obj, "_fields") or dataclasses.is_dataclass(obj):
        return True
    return obj in tree_util.REGISTERED


class TreeLowering:
    """Methods of the normalizer that resolve trees (mixed into ``_Normalizer``)."""

    def setup_trees(self, flattened):
        """The leaf parameters of ``flattened``'s tree parameters; user names' binding counts (for aliases)."""
        self.trees = {}  # name → the tree it holds (a container whose leaves are atoms)
        self.known_keys = {}  # name → the constant key an unrolled loop bound it to
        self.stores = collections.Counter(n.id for n in gast.walk(self.node)
                                          if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store))
        # Names every binding of which is a display of one kind and length (tuples, or lists never appended to
        # or written into): trees whose leaves change.
        displays = collections.defaultdict(set)  # name → the (kind, length) of each display bound to it
        for n in gast.walk(self.node):
            if isinstance(n, gast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], gast.Name):
                kind = (type(n.value), len(n.value.elts)) if isinstance(n.value, (gast.Tuple, gast.List)) else None
                displays[n.targets[0].id].add(kind)
        assigned = collections.Counter(n.targets[0].id for n in gast.walk(self.node) if isinstance(n, gast.Assign)
                                       and len(n.targets) == 1 and isinstance(n.targets[0], gast.Name))
        changed = {n.func.value.id for n in gast.walk(self.node) if isinstance(n, gast.Call)
                   and isinstance(n.func, gast.Attribute) and isinstance(n.func.value, gast.Name)} | {
            n.value.id for n in gast.walk(self.node) if isinstance(n, gast.Subscript)
            and isinstance(n.ctx, gast.Store) and isinstance(n.value, gast.Name)}
        self.display_names = {name for name, kinds in displays.items() if len(kinds) == 1 and None not in kinds
                              and self.stores[name] == assigned[name]} - changed
        # Names bound in a loop hold a new value each trip (unrolled loops included).
        self.looped = {n.id for loop in gast.walk(self.node) if isinstance(loop, (gast.For, gast.While))
                       for n in gast.walk(loop) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}
        self.flattened = flattened
        if flattened is None:
            return {}
        params = [a.id for a in self.node.args.args if a.id not in self.bound]
        return dict(zip(params, flattened.treedefs))

    def leaf_params(self, param, treedef) -> list:
        """``param``'s leaves as parameters of their own, named after their paths."""
        names = [self.namer.fresh(n) for n in tree_util.leaf_names(param, tree_util.skeleton(treedef))]
        self.locals |= set(names)
        self.trees[param] = treedef.unflatten([core.name(n) for n in names])
        return names

    # -- recognising trees (no code emitted) -----------------------------------

    def static_tree(self, expr):
        """The tree (or its leaf) that ``expr`` reads, where no code computes it; else ``NOT_TREE``."""
        if isinstance(expr, gast.Name):
            return self.trees.get(expr.id, NOT_TREE)
        if isinstance(expr, (gast.Subscript, gast.Attribute)):
            base = self.static_tree(expr.value)
            if not is_container(base):
                return NOT_TREE
            return self.child(base, expr)
        if isinstance(expr, gast.Call) and isinstance(expr.func, gast.Attribute) and not expr.args \
                and expr.func.attr in _DICT_VIEWS:
            base = self.static_tree(expr.func.value)
            if isinstance(base, dict):
                return self.dict_view(base, expr.func.attr)
        return NOT_TREE

    def is_tree_expr(self, expr) -> bool:
        """Whether ``expr`` makes a tree or reads one (a tree's leaf included)."""
        if self.makes_container(expr) or self.method_of_tree(expr) is not None or self.stops_tree(expr):
            return True
        if isinstance(expr, (gast.Subscript, gast.Attribute)) and self.makes_container(expr.value):
            return True  # an entry of a tree made here: helper(t)["value"]
        if isinstance(expr, gast.Call) and isinstance(expr.func, gast.Name) and expr.func.id not in self.locals \
                and len(expr.args) == 1 and self.lookup_quietly(expr.func.id) is len:
            return is_container(self.static_tree(expr.args[0]))
        return self.static_tree(expr) is not NOT_TREE

    def makes_container(self, expr) -> bool:
        """Whether ``expr``'s value is a tree with structure: a dict display, a namedtuple, a tree read whole, a
        call of the user's function taking or returning trees, a tuple or list holding one of those."""
        if isinstance(expr, gast.Dict) or self.is_jvp_call(expr) or self.is_grad_of_trees(expr):
            return True
        if isinstance(expr, (gast.Tuple, gast.List)):  # (nested tuples of values alone stay tuples)
            return any(self.makes_container(e) for e in expr.elts)
        if isinstance(expr, gast.Call) and core.dotted_name(expr.func) is not None:  # f(...), module.f(...)
            obj = self.static_object(expr.func)
            if obj is dict or _constructs_tree(obj):
                return True
            if obj is not None and self.user_callee(obj):
                return self.passes_trees(expr) or self.returns_tree(obj) or self.returns_tuple(obj)
        return is_container(self.static_tree(expr))

    def rebound(self, name) -> bool:
        """Whether the user's code binds ``name`` more than once (in a loop, each trip binds it again)."""
        return self.stores[name] > 1 or name in self.looped

    def names_sequence(self, target, value) -> bool:
        """``pairs = ((x, 2.0), (y, x))``: a tuple display (or a display of nested lists) bound once to a name,
        or a name every binding of which is a display of one kind and length, is a tree, so that its entries
        are read at transform time and it reaches the user's functions as leaves (a tuple passed whole
        would need a cotangent of its own, which tuples cannot hold)."""
        if not (isinstance(target, gast.Name) and isinstance(value, (gast.Tuple, gast.List)) and value.elts) \
                or target.id in {a.id for a in self.node.args.args}:
            return False
        if target.id in self.trees:  # bound again: the same structure, new leaves
            return True
        if target.id in self.display_names and self.stores[target.id] > 1:
            return True
        nested = isinstance(value, gast.List) and any(isinstance(e, (gast.List, gast.Tuple)) for e in value.elts)
        return (isinstance(value, gast.Tuple) or nested) and self.stores[target.id] <= 1 \
            and target.id not in core.names_read(value)

    def is_jvp_call(self, expr) -> bool:
        """``s2s.jvp(f, primals, tangents)``: its (output, tangent) pair is a tree, so ``[1]`` reads a name."""
        from .normalize import _is_api

        return isinstance(expr, gast.Call) and _is_api(self.static_object(expr.func), "jvp")

    def is_grad_of_trees(self, expr) -> bool:
        """``s2s.grad(loss)(params, x)`` with trees among the arguments, or a call whose result is a tuple
        (``value_and_grad``, ``argnums=(0, 1)``): its result is a tree, whose entries ``g[1]`` reads as names."""
        from .normalize import _is_api

        if not (isinstance(expr, gast.Call) and isinstance(expr.func, gast.Call)):
            return False
        make = expr.func
        maker = next((n for n in ("grad", "value_and_grad") if _is_api(self.static_object(make.func), n)), None)
        options = {k.arg: k.value for k in make.keywords}
        if maker is None or "has_aux" in options:
            return False
        argnums = options.get("argnums", make.args[1] if len(make.args) > 1 else None)
        return self.passes_trees(expr) or maker == "value_and_grad" or isinstance(argnums, gast.Tuple)

    def stops_tree(self, expr) -> bool:
        """``s2s.stop_gradient(tree)``: a tree of the leaves, each without a derivative."""
        from ..runtime import stop_gradient

        return isinstance(expr, gast.Call) and len(expr.args) == 1 and not expr.keywords \
            and self.static_object(expr.func) is stop_gradient and is_container(self.static_tree(expr.args[0]))

    def method_of_tree(self, expr):
        """The function behind ``tree.method(...)`` (or ``tree(...)``) where ``tree`` is a container of the user's
        class, or None."""
        if not isinstance(expr, gast.Call):
            return None
        called = isinstance(expr.func, gast.Attribute)
        tree = self.static_tree(expr.func.value if called else expr.func)
        if not is_container(tree) or isinstance(tree, (dict, list, tuple)):
            return None
        method = getattr(type(tree), expr.func.attr if called else "__call__", None)  # net(x): __call__
        return method if method is not None and self.user_callee(method) else None

    def lookup_quietly(self, name):
        try:
            return self.lookup(name)
        except Exception:  # noqa: BLE001 - an undefined name is reported where it is used
            return None

    def user_callee(self, obj) -> bool:
        from .normalize import _is_callee

        return _is_callee(obj) and not isinstance(obj, functools.partial)

    def passes_trees(self, call) -> bool:
        return any(self.makes_container(a) or isinstance(a, (gast.Tuple, gast.List)) or self.listed(a) is not None
                   for a in [*call.args, *(k.value for k in call.keywords)])

    def listed(self, expr):
        """The elements of the list a name holds (a display, appended to in straight-line code), or None:
        passed to the user's function, it is a tree, whose leaves are these elements."""
        if isinstance(expr, gast.Name) and isinstance(self.lists.get(expr.id), list) \
                and self.depth >= self.list_depth[expr.id]:
            return list(self.lists[expr.id])
        return None

    def unpacks_directly(self, target, value) -> bool:
        """``a, b = helper(x)``: the helper's values, a plain tuple of them, bound to names as they are."""
        if not (isinstance(target, gast.Tuple) and all(isinstance(e, gast.Name) for e in target.elts)
                and isinstance(value, gast.Call) and isinstance(value.func, gast.Name)
                and value.func.id not in self.locals):
            return False
        obj = self.lookup_quietly(value.func.id)
        return obj is not None and self.user_callee(obj) and not self.passes_trees(value) \
            and not self.returns_tree(obj)

    def returns_tuple(self, obj) -> bool:
        """Whether the user's function ``obj`` returns a tuple of a fixed length (its elements then get names
        where it is called, so that ``helper(x)[1]`` reads one of them)."""
        if obj is self.fun or getattr(obj, "__func__", None) is self.fun:
            return False
        from ..transforms.batch import output_arity
        from .normalize import normalize

        return output_arity(normalize(obj)) is not None

    def returns_tree(self, obj) -> bool:
        """Whether the user's function ``obj`` returns a tree (its core form says, once normalized)."""
        if obj is self.fun or getattr(obj, "__func__", None) is self.fun:
            return False  # recursion is refused where the program is built
        from .normalize import normalize

        return normalize(obj).out_tree is not None

    # -- reading trees ----------------------------------------------------------

    def child(self, tree, expr):
        """``tree[key]`` or ``tree.attr`` for the subscript or attribute ``expr``, the key known here."""
        if isinstance(expr, gast.Attribute):
            if isinstance(tree, dict) or not hasattr(tree, expr.attr):
                raise self.refuse(f"the attribute .{expr.attr}: this tree has none", expr)
            return getattr(tree, expr.attr)
        key = self.constant_key(expr.slice)
        if key is NOT_TREE:
            raise self.refuse("an index into a tree (a dict, list or tuple argument) that is known only when the "
                              "code runs: use a constant key, or loop over the tree itself "
                              "(for layer in layers, for k, v in d.items())", expr)
        try:
            found = tree[key]
        except (KeyError, IndexError, TypeError):
            raise self.refuse(f"the entry [{key!r}]: this tree has none", expr) from None
        return type(found)(found) if isinstance(found, list) and isinstance(key, slice) else found

    def constant_key(self, node):
        if isinstance(node, gast.Constant):
            return node.value
        if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub) \
                and isinstance(node.operand, gast.Constant):
            return -node.operand.value
        if isinstance(node, gast.Name) and node.id in self.known_keys:
            return self.known_keys[node.id]
        if isinstance(node, gast.Slice):
            parts = [None if p is None else self.constant_key(p) for p in (node.lower, node.upper, node.step)]
            return NOT_TREE if NOT_TREE in parts else slice(*parts)
        return NOT_TREE

    @staticmethod
    def dict_view(tree: dict, view: str) -> list:
        if view == "keys":
            return [core.const(k) for k in tree]
        if view == "values":
            return list(tree.values())
        return [(core.const(k), v) for k, v in tree.items()]

    def tree_value(self, expr, out):
        """The tree ``expr`` makes or reads (a container, or an atom where it reads a leaf), emitting code
        for the leaves it computes."""
        found = self.static_tree(expr)
        if found is not NOT_TREE:
            return found
        if isinstance(expr, gast.Dict):
            if any(k is None for k in expr.keys):
                raise self.refuse("** in a dict display", expr)
            keys = [self.constant_key(k) for k in expr.keys]
            if NOT_TREE in keys:
                raise self.refuse("a dict with keys known only when the code runs (use constant keys)", expr)
            return {k: self.leaf_or_tree(v, out) for k, v in zip(keys, expr.values)}
        if isinstance(expr, (gast.Tuple, gast.List)):
            elements = [self.leaf_or_tree(e, out) for e in expr.elts]
            return tuple(elements) if isinstance(expr, gast.Tuple) else elements
        if isinstance(expr, (gast.Subscript, gast.Attribute)):
            base = self.tree_value(expr.value, out)
            return self.child(base, expr)
        if self.is_jvp_call(expr):
            names = [self.local("out"), self.local("out_dot")]
            self.emit(out, core.assign(core.tuple_([core.name(n, True) for n in names], store=True),
                                       self.jvp_call(expr, out)))
            return tuple(core.name(n) for n in names)
        if self.is_grad_of_trees(expr):
            target, free, _ = self.made_transform(expr.func)
            call = gast.Call(func=expr.func, args=[*expr.args, *(core.name(n) for n in free)], keywords=expr.keywords)
            return self.grad_of_trees(target, call, out)
        if self.stops_tree(expr):
            return tree_util.tree_map(lambda leaf: self._to_temp(core.call(core.attr("rt.stop_gradient"), [leaf]),
                                                                 out, "stopped"), self.static_tree(expr.args[0]))
        method = self.method_of_tree(expr)
        if method is not None:  # model.loss(x): the class's function, model its first argument
            tree = self.static_tree(expr.func.value if isinstance(expr.func, gast.Attribute) else expr.func)
            args = [self.leaf_or_tree(a, out) for a in expr.args]
            keywords = {k.arg: self.leaf_or_tree(k.value, out) for k in expr.keywords}
            return self.tree_call(method, [tree, *args], keywords, expr, out)
        obj = self.lookup(expr.func.id) if isinstance(expr.func, gast.Name) else self.static_object(expr.func)
        if obj is len:
            return core.const(len(self.static_tree(expr.args[0])))
        args = [self.leaf_or_tree(a, out) for a in expr.args]
        keywords = {k.arg: self.leaf_or_tree(k.value, out) for k in expr.keywords}
        if obj is dict or _constructs_tree(obj):
            return obj(*args, **keywords)
        return self.tree_call(obj, args, keywords, expr, out)

    def leaf_or_tree(self, expr, out):
        """``expr`` as a part of a tree: a tree, or an atom."""
        if self.listed(expr) is not None:
            return self.listed(expr)
        if isinstance(expr, (gast.Tuple, gast.List)) or self.is_tree_expr(expr):
            tree = self.tree_value(expr, out)
            return tree if is_container(tree) or core.is_atom(tree) else self._to_temp(tree, out, "part")
        return self.fresh_atom(expr, out)

    # -- binding, calling and returning trees --------------------------------------

    def bind_tree(self, target, tree, out):
        """``target = tree``: names bound to leaves or trees, tuples of targets unpacked."""
        if isinstance(target, (gast.Tuple, gast.List)):
            if not isinstance(tree, (tuple, list)) or len(tree) != len(target.elts):
                raise self.refuse("unpacking a tree into a different number of names", target)
            for t, part in zip(target.elts, tree):
                self.bind_tree(t, part, out)
            return
        if not isinstance(target, gast.Name):
            raise self.refuse("storing a tree other than in a name", target)
        name = target.id
        if not is_container(tree):
            if name in self.trees:
                raise self.refuse(f"rebinding the tree {name} to a value that is not a tree", target)
            if core.is_atom(tree):
                out.extend(self.stmt(core.at(gast.Assign(targets=[target], value=tree, type_comment=None),
                                             self.lineno)))
            else:  # a call of a flattened function, already in core form
                self.emit(out, core.assign(core.name(name, True), tree))
            return
        self.known_keys.pop(name, None)
        leaves, treedef = tree_util.tree_flatten(tree)
        if not self.rebound(name) and name not in self.trees and all(
                core.is_constant(a) or isinstance(a, gast.Name) and not self.rebound(a.id) for a in leaves):
            self.trees[name] = tree  # bound once, to values never rebound: the name stands for the tree
            return
        old = self.trees.get(name)
        if old is None:
            names = [self.local(n) for n in tree_util.leaf_names(name, tree)]
            self.trees[name] = treedef.unflatten([core.name(n) for n in names])
        else:
            old_leaves, old_def = tree_util.tree_flatten(old)
            if old_def != treedef:
                raise self.refuse(f"rebinding the tree {name} to one of another structure "
                                  f"({old_def} before, {treedef} now)", target)
            names = [leaf.id for leaf in old_leaves]
        self.emit(out, core.assign(core.tuple_([core.name(n, True) for n in names], store=True),
                                   core.tuple_([core.load(a) for a in leaves])))

    def tree_call(self, obj, args, keywords, expr, out):
        """A call to the user's function with trees among its arguments or as its result: the callee takes
        and returns leaves (``Flattened``)."""
        fun = obj
        try:
            bound = inspect.signature(fun).bind(*args, **keywords)
        except TypeError as e:
            raise self.refuse(f"this call of {getattr(fun, '__name__', fun)} ({e})", expr) from None
        values = []
        for pname, param in inspect.signature(fun).parameters.items():
            values.append(bound.arguments[pname] if pname in bound.arguments else self._default(param.default, pname))
        treedefs, leaves, _ = in_leaves(values)
        callee = fun
        if any(t is not None for t in treedefs):
            callee = flattened(fun, treedefs)
            if getattr(fun, "__s2s_checkpoint__", False):  # s2s.checkpoint(f)(tree): the flattened f, checkpointed
                callee = fun.like(callee)
        from .normalize import normalize

        result = core.call(self.reference(callee, fun.__name__), leaves)
        callee_fn = normalize(callee)
        out_tree, nested = callee_fn.out_tree, None
        if out_tree is None:  # tuples of values, returned as they are: unpacked as nested as they are
            nested = returned_tuples(callee_fn)
            if nested is None:
                return result
            out_tree = tree_util.tree_structure(nested)
        names = [self.local(n) for n in tree_util.leaf_names(f"{fun.__name__}_out", tree_util.skeleton(out_tree))]
        if nested is not None:
            target = _stored(out_tree.unflatten([core.name(n, True) for n in names]))
        else:
            targets = [core.name(n, True) for n in names]
            target = targets[0] if len(targets) == 1 else core.tuple_(targets, store=True)
        self.emit(out, core.assign(target, result))
        return out_tree.unflatten([core.name(n) for n in names])

    def return_tree(self, value, out):
        """``return tree`` as ``return (leaf, leaf, …)``, the structure recorded on the function."""
        tree = self.tree_value(value, out)
        if not is_container(tree):  # a leaf: returned as an atom, as core form returns
            return core.load(tree) if core.is_atom(tree) else self._to_temp(tree, out, "out")
        if self.flattened is not None and self.flattened.aux:
            if not isinstance(tree, tuple) or len(tree) != 2:
                raise self.refuse("returning something other than (output, aux) with has_aux=True", value)
            out_leaves, out_def = tree_util.tree_flatten(tree[0])
            aux_leaves, aux_def = tree_util.tree_flatten(tree[1])
            output = out_leaves[0] if out_def.is_leaf() else core.tuple_(out_leaves)
            structure = tree_util.tree_structure((tree[0] if not out_def.is_leaf() else 0.0, tree[1]))
            result = core.tuple_([output, core.tuple_(aux_leaves)])
        else:
            leaves, structure = tree_util.tree_flatten(tree)
            pick = None if self.flattened is None else self.flattened.pick
            result = leaves[pick] if pick is not None else leaves[0] if len(leaves) == 1 else core.tuple_(leaves)
        if self.fn.out_tree is not None and self.fn.out_tree != structure:
            raise self.refuse(f"returning trees of different structures ({self.fn.out_tree} and {structure})",
                              value)
        self.fn.out_tree = structure
        return result


def in_leaves(values) -> tuple:
    """Arguments (trees or atoms) as leaves: each one's structure (None: an atom), all the leaves in order,
    and how many each gives (to repeat a per-argument option, an axis or a tangent, once per leaf)."""
    treedefs = tuple(tree_util.tree_structure(v) if is_container(v) else None for v in values)
    parts = [tree_util.tree_leaves(v) if t is not None else [v] for v, t in zip(values, treedefs)]
    return treedefs, [leaf for part in parts for leaf in part], [len(part) for part in parts]


def returned_tuples(fn):
    """The nesting of tuples every ``return`` of ``fn`` has (``((0, 0), 0)`` for ``return (a, b), c``), or None."""
    def shape(node):
        return tuple(shape(e) for e in node.elts) if isinstance(node, gast.Tuple) else 0

    shapes = {shape(s.value) for s in core.walk_statements(fn.body) if isinstance(s, gast.Return)}
    found = shapes.pop() if len(shapes) == 1 else None
    return found if isinstance(found, tuple) else None


def _stored(tree):
    """A nested tuple of names as the target of an assignment."""
    return core.tuple_([_stored(e) if isinstance(e, tuple) else e for e in tree], store=True)


@functools.lru_cache(maxsize=None)
def flattened(fun, treedefs, aux=False, pick=None) -> Flattened:
    """One ``Flattened`` object per function and structure, so that a callee is one function of the program
    (a checkpointed function's own: a caller checkpoints the flattened one)."""
    if getattr(fun, "__s2s_checkpoint__", False):
        fun = fun.__s2s_function__
    return Flattened(fun, treedefs, aux, pick)

