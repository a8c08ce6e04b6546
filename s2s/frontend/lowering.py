"""Python beyond core form, lowered to the statements the normalizer already handles.

Loops over tuples and lists of known length are unrolled; ``enumerate`` and
``zip`` become loops over an index; comprehensions and ``sum``/``min``/``max``
of sequences become unrolled expressions or loops that fill an array or
update an accumulator; lists built with ``append`` become tuples (known
length) or arrays filled in the loop; nested functions and lambdas are
inlined where they are called.  Every construct comes out as ordinary core
form, so every transform handles it without knowing it was there.
"""

from __future__ import annotations

from dataclasses import dataclass

import gast

from .. import core

#: Ranges of constant bounds up to this length are unrolled in comprehensions and loops over ``zip``.
_UNROLL_LIMIT = 32

_SCOPES = (gast.FunctionDef, gast.Lambda, gast.ListComp, gast.GeneratorExp, gast.SetComp, gast.DictComp)


@dataclass
class Items:
    """What a ``for`` iterates over: ``static`` elements, or ``count`` of them, the ``k``-th being ``item(k)``.

    ``direct`` is a loop of its own (``range(a, b, c)``): the loop variable is the element itself.
    """

    static: list | None = None
    count: gast.expr | None = None
    item: object = None
    direct: list | None = None


@dataclass
class Growing:
    """A list filled by ``append`` in a loop: an array allocated at the first append."""

    count: gast.expr
    position: gast.expr


def resolved(node):
    """A core-form atom tagged so that the normalizer reads it as is when it meets it again."""
    node = core.clone(node)
    for sub in gast.walk(node):
        if isinstance(sub, gast.Name):
            sub.resolved = True
    return node


def stored_names(body) -> set:
    """Names assigned in ``body``, not counting those of nested scopes (functions, lambdas, comprehensions)."""
    found = set()
    stack = list(body) if isinstance(body, list) else [body]
    while stack:
        node = stack.pop()
        if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Store):
            found.add(node.id)
        if not isinstance(node, _SCOPES):
            stack.extend(gast.iter_child_nodes(node))
    return found


def jumps(body) -> bool:
    """Whether ``break`` or ``continue`` of this loop level occurs in ``body``."""
    for stmt in body:
        if isinstance(stmt, (gast.Break, gast.Continue)):
            return True
        if isinstance(stmt, gast.If) and (jumps(stmt.body) or jumps(stmt.orelse)):
            return True
    return False


def appended_lists(body) -> dict:
    """List name → number of ``name.append(...)`` statements anywhere in ``body``."""
    counts: dict = {}
    for node in gast.walk(gast.Module(body=body, type_ignores=[])):
        name = append_target(node)
        if name:
            counts[name] = counts.get(name, 0) + 1
    return counts


def append_target(stmt) -> str | None:
    """``L`` for the statement ``L.append(e)``."""
    if isinstance(stmt, gast.Expr) and isinstance(stmt.value, gast.Call):
        func = stmt.value.func
        if isinstance(func, gast.Attribute) and func.attr == "append" and isinstance(func.value, gast.Name):
            return func.value.id
    return None


def binop(left, op, right):
    return gast.BinOp(left=left, op=op, right=right)


def _pair(parts):
    """The elements of ``zip`` or ``enumerate``: a tuple expression, or a tuple of trees."""
    return core.tuple_(parts) if all(isinstance(p, gast.AST) for p in parts) else tuple(parts)


def _constant_int(node):
    if core.is_constant(node):
        value = node.operand.value * -1 if isinstance(node, gast.UnaryOp) else node.value
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    return None


class Lowering:
    """Methods of the normalizer that lower the constructs above (mixed into ``_Normalizer``)."""

    # -- names ----------------------------------------------------------------

    def local(self, hint) -> str:
        """A fresh local variable."""
        t = self.temp(hint)
        self.locals.add(t)
        return t

    def fresh_atom(self, expr, out, hint=None):
        """``expr`` as an atom that the user's code read again will see as is."""
        return resolved(self.atom(expr, out, hint))

    def kept(self, expr, out, hint=None):
        """``expr`` as an atom holding its value now, even where the name it reads is bound again later: an
        element of a list (``rows.append(g)`` in an unrolled loop, ``[a, b]`` before ``a`` changes)."""
        atom = self.fresh_atom(expr, out, hint)
        if isinstance(atom, gast.Name) and self.rebound(atom.id):
            return resolved(self._to_temp(core.name(atom.id), out, hint or atom.id))
        return atom

    # -- what a loop iterates over ---------------------------------------------

    def is_static(self, it) -> bool:
        """Whether the number of elements of ``it`` is known here (then loops over it are unrolled)."""
        if isinstance(it, (gast.Tuple, gast.List)):
            return not any(isinstance(e, gast.Starred) for e in it.elts)
        if isinstance(it, gast.Name) and it.id in self.lists and isinstance(self.lists[it.id], list):
            return True
        if isinstance(self.static_tree(it), (tuple, list, dict)):
            return True
        if isinstance(it, (gast.ListComp, gast.GeneratorExp)):
            return not any(g.ifs for g in it.generators) and all(self.is_static(g.iter) for g in it.generators)
        if isinstance(it, gast.Call) and not it.keywords:
            if self._resolves_to(it.func, range):
                bounds = [_constant_int(a) for a in it.args]
                return None not in bounds and 0 < len(bounds) <= 3 and len(range(*bounds)) <= _UNROLL_LIMIT
            if self._resolves_to(it.func, enumerate):
                return bool(it.args) and self.is_static(it.args[0])
            if self._resolves_to(it.func, zip):
                return any(self.is_static(a) for a in it.args)
        return False

    def items(self, it, out) -> Items:
        """The elements of the iterable ``it``, emitting what computes it once."""
        if self.is_static(it):
            return Items(static=self.static_items(it, out))
        if isinstance(it, gast.Call) and not it.keywords and self._resolves_to(it.func, range):
            if not 1 <= len(it.args) <= 3:
                raise self.refuse("range() with these arguments", it)
            bounds = [self.fresh_atom(a, out) for a in it.args]
            return Items(count=self._range_count(bounds, it), item=lambda k: self._range_item(bounds, k),
                         direct=bounds)
        if isinstance(it, gast.Call) and self._resolves_to(it.func, enumerate):
            inner, start = self._enumerate_parts(it, out)
            return Items(count=inner.count, item=lambda k: core.tuple_([self._plus(k, start), inner.item(k)]))
        if isinstance(it, gast.Call) and self._resolves_to(it.func, zip):
            parts = self._zip_parts(it, out)
            count = parts[0].count
            for part in parts[1:]:
                count = self.fresh_atom(core.call(core.name("min"), [count, part.count]), out, "n")
            return Items(count=count, item=lambda k: core.tuple_([p.item(k) for p in parts]))
        if isinstance(it, gast.Call) and core.dotted_name(it.func) == "reversed":
            raise self.refuse("looping over reversed() (loop over range(...))", it)
        if isinstance(it, (gast.ListComp, gast.GeneratorExp)):
            raise self.refuse("looping over a comprehension of unknown length (loop over its source)", it)
        seq = self.fresh_atom(it, out)
        count = self.fresh_atom(core.call(core.name("len"), [seq]), out, f"n_{self._hint(seq)}")
        return Items(count=count, item=lambda k: gast.Subscript(value=seq, slice=k, ctx=gast.Load()))

    def static_items(self, it, out) -> list:
        """The elements of an iterable of known length, each an expression the user's code may read
        (or a tree: an element of a tree iterated over)."""
        tree = self.static_tree(it)
        if isinstance(tree, dict):
            return [core.const(k) for k in tree]
        if isinstance(tree, (tuple, list)):
            return list(tree)
        if isinstance(it, (gast.Tuple, gast.List)):
            return list(it.elts)
        if isinstance(it, gast.Name):
            return [resolved(e) for e in self.lists[it.id]]
        if isinstance(it, (gast.ListComp, gast.GeneratorExp)):
            return [resolved(a) for a in self.unrolled(it, out, self.fresh_atom)]
        if self._resolves_to(it.func, range):
            return [core.const(v) for v in range(*[_constant_int(a) for a in it.args])]
        if self._resolves_to(it.func, enumerate):
            start = self._enumerate_start(it)
            inner = self.static_items(it.args[0], out)
            return [_pair([self._plus(core.const(k), start), e]) for k, e in enumerate(inner)]
        parts = [self.static_items(a, out) if self.is_static(a) else self.items(a, out) for a in it.args]
        length = min(len(p) for p in parts if isinstance(p, list))
        return [_pair([p[k] if isinstance(p, list) else p.item(core.const(k)) for p in parts])
                for k in range(length)]

    def _enumerate_start(self, it):
        if len(it.args) > 2 or len(it.args) == 0:
            raise self.refuse("enumerate() with these arguments", it)
        return it.args[1] if len(it.args) == 2 else None

    def _enumerate_parts(self, it, out):
        start = self._enumerate_start(it)
        if start is not None:
            start = self.fresh_atom(start, out, "start")
        return self.items(it.args[0], out), start

    def _zip_parts(self, it, out):
        if it.keywords or not it.args:
            raise self.refuse("zip() with these arguments", it)
        return [self.items(a, out) for a in it.args]

    def _plus(self, k, start):
        return k if start is None else binop(k, gast.Add(), start)

    @staticmethod
    def _range_item(bounds, k):
        """The ``k``-th element of ``range(*bounds)``."""
        if len(bounds) == 1:
            return k
        step = binop(k, gast.Mult(), bounds[2]) if len(bounds) == 3 else k
        return binop(bounds[0], gast.Add(), step)

    def _range_count(self, bounds, it):
        """The length of ``range(*bounds)`` (a positive constant step when there is one)."""
        if len(bounds) == 1:
            return bounds[0]
        span = binop(bounds[1], gast.Sub(), bounds[0])
        if len(bounds) == 3:
            step = _constant_int(bounds[2])
            if step is None or step <= 0:
                return None
            span = binop(binop(span, gast.Add(), core.const(step - 1)), gast.FloorDiv(), core.const(step))
        return core.call(core.name("max"), [span, core.const(0)])

    # -- loops -----------------------------------------------------------------

    def lower_for(self, s) -> list:
        """``for target in iterable``: unrolled over a known number of elements, else a loop over an index."""
        out = []
        items = self.items(s.iter, out)
        if items.static is not None:
            if jumps(s.body):
                raise self.refuse("break or continue in a loop over a tuple or list (it is unrolled)", s)
            for value in self._snapshot(items.static, stored_names(s.body) | stored_names(s.target), out):
                out.extend(self.bind(s.target, value, s.lineno))
                out.extend(self.stmts(s.body))
            self.lineno = s.lineno
            return out
        index = self._loop_index(s.target, items)
        if items.direct is not None:
            bounds, position = items.direct, self._position(items.direct, core.name(index))
        else:
            bounds, position = [self._atom_of(items.count, out, "n")], core.name(index)
        count = items.count
        growing = self._growing_lists(s, count, position, out)
        body = []
        if items.direct is None or not (isinstance(s.target, gast.Name) and s.target.id == index):
            element = core.name(index) if items.direct is not None else items.item(resolved(core.name(index)))
            body = self.bind(s.target, element, s.lineno, skip=index)
        body += self.block(s.body)
        for name in growing:
            self.lists[name] = "array"
        self.lineno = s.lineno
        loop = gast.For(target=core.name(index, store=True),
                        iter=core.call(core.name("range"), [core.load(b) for b in bounds]),
                        body=body or [gast.Pass()], orelse=[], type_comment=None)
        self.emit(out, loop)
        return out

    def _atom_of(self, expr, out, hint):
        return expr if core.is_atom(expr) else self.fresh_atom(expr, out, hint)

    def _loop_index(self, target, items) -> str:
        """The loop variable: the user's own where it is the index itself (``i`` in ``range``, ``enumerate``)."""
        if items.direct is not None and isinstance(target, gast.Name):
            return target.id
        first = target.elts[0] if isinstance(target, gast.Tuple) and target.elts else None
        probe = items.item(core.name("k"))
        if isinstance(first, gast.Name) and isinstance(probe, gast.Tuple) and core.structure(probe.elts[0]) \
                == core.structure(core.name("k")):
            return first.id
        hint = target.id if isinstance(target, gast.Name) else "k"
        return self.local(f"i_{hint}")

    def _position(self, bounds, index):
        """How many elements of ``range(*bounds)`` come before ``index``."""
        if len(bounds) == 1:
            return index
        offset = binop(index, gast.Sub(), bounds[0])
        return binop(offset, gast.FloorDiv(), bounds[2]) if len(bounds) == 3 else offset

    def _snapshot(self, values, written, out):
        """Tuple elements are evaluated before the loop: copies of those the loop may rebind (``written``)."""
        result = []
        for v in values:
            if not isinstance(v, gast.AST) or core.is_constant(v) or getattr(v, "resolved", False):
                result.append(v)
            elif core.names_in(v) & written or not isinstance(v, gast.Name):
                result.append(self.fresh_atom(v, out, self._hint(v) if isinstance(v, gast.Name) else None))
            else:
                result.append(v)
        return result

    def bind(self, target, value, lineno, skip=None) -> list:
        """``target = value``, element by element where both are tuples."""
        if not isinstance(value, gast.AST):  # a tree
            out = []
            self.bind_tree(target, value, out)
            return out
        if isinstance(target, gast.Tuple) and isinstance(value, gast.Tuple) and len(target.elts) == len(value.elts):
            return [s for t, v in zip(target.elts, value.elts) for s in self.bind(t, v, lineno, skip)]
        if isinstance(target, gast.Name) and target.id == skip:
            return []
        return self.stmt(core.at(gast.Assign(targets=[target], value=value, type_comment=None), lineno))

    def _growing_lists(self, s, count, position, out) -> list:
        """Lists this loop appends to once per trip: they become arrays, allocated at the first append."""
        growing = []
        for name, n in appended_lists(s.body).items():
            if self.lists.get(name) != [] or n != 1 or not any(append_target(b) == name for b in s.body):
                continue
            if jumps(s.body) or count is None:
                raise self.refuse(f"appending to {name} in a loop whose number of trips is unknown here", s)
            count_atom = self._atom_of(count, out, f"n_{name}")
            self.emit(out, gast.Assert(test=gast.Compare(left=core.load(count_atom), ops=[gast.Gt()],
                                                         comparators=[core.const(0)]),
                                       msg=core.const(f"s2s makes {name} an array: it needs one element or more")))
            self.lists[name] = Growing(count_atom, position)
            self.growing_depth[name] = self.depth + 1
            growing.append(name)
        return growing

    # -- lists built with append -----------------------------------------------

    def append(self, name, value, out):
        """``name.append(value)``: one more element of a tuple, or a row of an array being filled."""
        state = self.lists.get(name)
        if isinstance(state, Growing) and self.depth == self.growing_depth.get(name):
            element = self.atom(value, out, f"{name}_item")
            first = gast.Compare(left=core.load(state.position), ops=[gast.Eq()], comparators=[core.const(0)])
            first = self._to_temp(first, out, "first")
            shape = self._to_temp(core.call(core.attr("np.shape"), [element]), out, f"shape_{name}")
            full = self._to_temp(binop(core.tuple_([core.load(state.count)]), gast.Add(), shape), out, "shape")
            allocate = core.at(core.assign(name, core.call(core.attr("np.empty"), [full])), self.lineno)
            self.emit(out, gast.If(test=first, body=[allocate], orelse=[]))
            position = self.atom(state.position, out, "position")
            self.emit(out, core.assign(gast.Subscript(value=core.name(name), slice=position, ctx=gast.Store()),
                                       element))
            return out
        if not isinstance(state, list) or self.depth != self.list_depth.get(name):
            raise self.refuse(f"appending to {name} here (s2s turns a list into a tuple or an array: append "
                              "in straight-line code, in loops over tuples, or once per trip of a for loop)")
        state.append(self.kept(value, out, f"{name}_{len(state)}"))
        return out

    # -- comprehensions and reductions of sequences ----------------------------

    def unrolled(self, comp, out, atom) -> list:
        """The elements of a comprehension over iterables of known length, each made an atom by ``atom``."""
        elements = []
        comp = self.scoped(comp)

        def expand(generators):
            if not generators:
                elements.append(atom(comp.elt, out))
                return
            gen = generators[0]
            for value in self._snapshot(self.static_items(gen.iter, out), stored_names(gen.target), out):
                out.extend(self.bind(gen.target, value, self.lineno))
                expand(generators[1:])

        expand(comp.generators)
        return elements

    def scoped(self, comp):
        """The comprehension with its variables renamed apart from the function's own."""
        mapping = {n: self.local(n) for g in comp.generators for n in stored_names(g.target)}
        return core.substitute(comp, mapping)

    def reduce_sequence(self, op, seq, out, start=None):
        """``sum``, ``min`` or ``max`` of the elements of ``seq`` (a comprehension, list, tuple or array)."""
        comp = seq if isinstance(seq, (gast.ListComp, gast.GeneratorExp)) else None
        if comp is None or self.is_static(comp):
            if comp is not None:
                values = self.unrolled(comp, out, self.fresh_atom)
            elif self.is_static(seq):
                values = [self.fresh_atom(v, out) for v in self.static_items(seq, out)]
            else:
                values = None
            if values is not None:
                return self._fold(op, ([start] if start is not None else []) + values, seq, out)
            var = self.local("v")
            comp = gast.GeneratorExp(elt=core.name(var), generators=[gast.comprehension(
                target=core.name(var, store=True), iter=seq, ifs=[], is_async=0)])
        comp = self.scoped(comp)
        if op == "sum":
            acc = self.local("total")
            self.emit(out, core.assign(acc, self.atom(start, out) if start is not None else core.const(0.0)))
            body = [self._assign(acc, binop(resolved(core.name(acc)), gast.Add(), comp.elt))]
        else:
            if start is not None or len(comp.generators) != 1 or comp.generators[0].ifs:
                raise self.refuse(f"{op}() of a comprehension with a default, filters or several loops", seq)
            acc, element, first = self.local(op + "imum"), self.local("element"), self.local("first")
            self.emit(out, core.assign(first, core.const(True)))
            pick = core.call(core.name(op), [resolved(core.name(acc)), resolved(core.name(element))])
            body = [self._assign(element, comp.elt),
                    core.at(gast.If(test=resolved(core.name(first)),
                                    body=[self._assign(acc, resolved(core.name(element))),
                                          self._assign(first, core.const(False))],
                                    orelse=[self._assign(acc, pick)]), self.lineno)]
        for gen in reversed(comp.generators):
            for cond in reversed(gen.ifs):
                body = [core.at(gast.If(test=cond, body=body, orelse=[]), self.lineno)]
            body = [core.at(gast.For(target=gen.target, iter=gen.iter, body=body, orelse=[], type_comment=None),
                            self.lineno)]
        out.extend(self.stmts(body))
        return core.name(acc)

    def _assign(self, name, value):
        return core.at(gast.Assign(targets=[core.name(name, store=True)], value=value, type_comment=None),
                       self.lineno)

    def _fold(self, op, values, node, out):
        if not values:
            if op == "sum":
                return core.const(0)
            raise self.refuse(f"{op}() of an empty sequence", node)
        acc = values[0]
        for v in values[1:]:
            value = binop(acc, gast.Add(), v) if op == "sum" else core.call(core.name(op), [acc, v])
            acc = self._to_temp(value, out, "total" if op == "sum" else op + "imum")
        return acc

    def array_of(self, comp, out, as_tuple):
        """The first argument of ``np.array``/``np.stack`` given as a comprehension."""
        if self.is_static(comp):
            elements = self.unrolled(comp, out, self.array_element)
            return core.tuple_(elements) if as_tuple else gast.List(elts=elements, ctx=gast.Load())
        if len(comp.generators) != 1 or comp.generators[0].ifs:
            raise self.refuse("an array of a comprehension with filters or several loops over sequences of "
                              "unknown length (its length is not known)", comp)
        comp = self.scoped(comp)
        gen, rows = comp.generators[0], self.local("rows")
        append = gast.Expr(value=gast.Call(func=gast.Attribute(value=core.name(rows), attr="append",
                                                                ctx=gast.Load()),
                                           args=[comp.elt], keywords=[]))
        self.lists[rows], self.list_depth[rows] = [], self.depth
        loop = gast.For(target=gen.target, iter=gen.iter, body=[core.at(append, self.lineno)], orelse=[],
                        type_comment=None)
        out.extend(self.stmt(core.at(loop, self.lineno)))
        return core.name(rows)

    def array_element(self, elt, out):
        """An element of an array being built: nested lists stay lists (``np.array`` reads them as rows)."""
        if isinstance(elt, (gast.List, gast.Tuple)):
            return gast.List(elts=[self.array_element(e, out) for e in elt.elts], ctx=gast.Load())
        if isinstance(elt, (gast.ListComp, gast.GeneratorExp)) and self.is_static(elt):
            return gast.List(elts=self.unrolled(elt, out, self.array_element), ctx=gast.Load())
        if isinstance(elt, (gast.ListComp, gast.GeneratorExp)):
            return self.fresh_atom(core.call(core.attr("np.array"), [elt]), out, "row")
        return self.fresh_atom(elt, out)

    def reduction(self, op, expr, out):
        """Builtin ``sum``/``min``/``max`` of a sequence or of three values or more, else None."""
        keywords = {k.arg: k.value for k in expr.keywords}
        if set(keywords) - {"start"} or (keywords and op != "sum"):
            raise self.refuse(f"{op}() with these keywords", expr)
        args = list(expr.args)
        if op == "sum" and 1 <= len(args) <= 2 and "start" in keywords:
            args.append(keywords["start"])
        if op == "sum" and 1 <= len(args) <= 2:
            return self.reduce_sequence(op, args[0], out, args[1] if len(args) == 2 else None)
        if len(args) == 1:
            return self.reduce_sequence(op, args[0], out)
        if len(args) >= 3 and op != "sum":
            return self._fold(op, [self.fresh_atom(a, out) for a in args], expr, out)
        return None

    # -- nested functions --------------------------------------------------------

    def inline(self, name, expr, out):
        """A call to a nested function or lambda: its body, on fresh names, in place of the call."""
        node = self.inner[name]
        args = node.args
        if args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs or args.defaults:
            raise self.refuse(f"calling {name}: s2s inlines nested functions with plain parameters only "
                              "(no defaults, *args, **kwargs)", expr)
        if name in self.inlining:
            raise self.refuse(f"the recursive nested function {name}", expr)
        params = [a.id for a in args.args]
        given = [self.fresh_atom(a, out, p) for a, p in zip(expr.args, params)]
        keywords = {k.arg: self.fresh_atom(k.value, out, k.arg) for k in expr.keywords}
        if len(expr.args) > len(params) or set(keywords) != set(params[len(given):]):
            raise self.refuse(f"this call of {name} (give each parameter once)", expr)
        values = given + [keywords[p] for p in params[len(given):]]
        if isinstance(node, gast.Lambda):
            body = [core.at(gast.Return(value=node.body), node.lineno)]
        else:
            body = node.body
        returns = [n for stmt in body for n in _walk_scope(stmt) if isinstance(n, gast.Return)]
        if returns and (returns[-1] is not body[-1] or len(returns) > 1):
            raise self.refuse(f"a return before the end of the nested function {name} (s2s inlines it)",
                              returns[0])
        mapping = {n: self.local(n) for n in set(params) | stored_names(body)}
        body = core.substitute(body, mapping)
        for p, v in zip(params, values):
            self.emit(out, core.assign(mapping[p], v))
        self.inlining.append(name)
        saved = self.lineno
        try:
            result = body.pop() if returns else None
            out.extend(self.stmts(body))
            self.lineno = getattr(result, "lineno", self.lineno)
            value = self.value(result.value, out) if result is not None and result.value is not None \
                else core.const(None)
        finally:
            self.inlining.pop()
            self.lineno = saved
        return value


def _walk_scope(node):
    """The nodes of ``node`` outside nested scopes."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        if not isinstance(n, _SCOPES):
            stack.extend(gast.iter_child_nodes(n))
