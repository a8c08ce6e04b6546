"""A mapped function split at its collectives into stages, source to source.

``def f(x): s = x.sum(); return x / s2s.psum(s, "i")`` cannot run one example at a time: the
``psum`` needs every example's ``s``.  It is rewritten as two functions of its own,

    def f_stage_0(x):                        def f_stage_1(x, psum_1):
        s = x.sum()                              return x / psum_1
        psum_1_operand = s
        return psum_1_operand,

each an ordinary function that every transform and backend of s2s handles (``vmap`` runs it over the
examples, in parallel under Numba, on Dask's workers), with the collective combining the examples'
``psum_1_operand`` between them (``collectives.combine``).  A stage takes the function's parameters it
reads and the locals live into it, and returns the locals live out of it, then the operand of the
collective that ends it (``axis_index`` ends none: each example's index is known before any stage
runs).  Collectives may appear at the function's top level, in any statement (each
is computed, operand first, just before its statement), but not in loops, branches, helpers or
short-circuiting expressions, where a stage could not end; there s2s refuses the code, naming the line.
"""

from __future__ import annotations

import ast
import functools
import inspect
from dataclasses import dataclass

import gast

from . import collectives, core, shipping
from .errors import UnsupportedSyntaxError
from .frontend import lifting, resolve
from .frontend.parse import parse_function, short_filename


@dataclass(frozen=True)
class Collective:
    """``result = kind(operand, names, **options)``, between two stages."""

    kind: str
    result: str
    operand: str | None  # None for axis_index
    names: tuple
    options: tuple  # (keyword, value) pairs
    where: str  # the user's file and line, for messages


@dataclass(frozen=True)
class Stage:
    """A stage: its function, the names it takes (the mapped function's parameters, and locals earlier
    stages returned or collectives computed), and the locals it returns for later stages (before its
    collective's operand)."""

    function: object
    takes: tuple
    returns: tuple
    then: Collective | None  # the collective after it (None: the last stage, returning the function's output)
    origin: tuple | None = None  # (the mapped function, this stage's index), where it was split from one
    given: tuple = ()  # the ``axis_index`` collectives, known before any stage runs (on the first stage)

    def __reduce__(self):
        """A stage pickles as the mapped function and its place in it, split again where it is unpickled (a Dask
        worker: a split stage's function lives in a file of this machine's cache), with the source s2s reads."""
        fun, index = self.origin or (self.function, None)
        return _unpickled, (fun, index, self.takes, shipping.Sources(fun))


def _unpickled(fun, index, takes, sources) -> Stage:
    sources.restore(fun)
    return split(fun)[index] if index is not None else Stage(fun, takes, (), None)


@functools.lru_cache(maxsize=None)
def split(fun) -> tuple[Stage, ...] | None:
    """``fun``'s stages, or None if it calls no collective (or is not a function whose source s2s reads)."""
    if not hasattr(fun, "__code__") or not _calls_collectives(fun):
        return None
    parsed = parse_function(fun)
    node = core.clone(parsed.node)  # the parsed tree is cached: rewrite a copy
    body = node.body if isinstance(node, gast.FunctionDef) else [core.at(gast.Return(value=node.body), node.lineno)]
    params = [a.id for a in node.args.args]
    splitter = _Splitter(fun, parsed, params)
    segments, boundaries = splitter.segments(body)
    root, members = _memory_groups(segments)
    splitter.check_aliases(segments, params, root)
    known = set(params) | {c.result for c in splitter.indices}  # the names given a value before a stage runs
    stages = []
    for k, (segment, then) in enumerate(zip(segments, boundaries + [None])):
        reads = _read(segment)
        later = set().union(*(_read(s) for s in segments[k + 1:]))
        takes = tuple(p for p in params if p in reads) + tuple(sorted((known & reads) - set(params)))
        # what it binds, or writes into in place, that later stages read
        returns = tuple(sorted(splitter.changed(segment, root, members) & later & (known | _bound(segment))))
        stages.append(Stage(_lifted(fun, parsed, f"{_stem(fun, node)}_stage_{k}", takes, segment, returns, then),
                            takes, returns, then, (fun, k), tuple(splitter.indices) if k == 0 else ()))
        known |= _bound(segment) | ({then.result} if then else set())
    return tuple(stages)


def shown(fun) -> str:
    """``fun``'s stage functions as s2s runs them (each ``vmap``-ed over the examples), and the collectives that
    combine the examples' values between them, as comments."""
    stages = split(fun)
    parts = [f"# {c.result} = s2s.axis_index({c.names[0]!r}): each example's index along its axis ({c.where})"
             for c in stages[0].given]
    for stage in stages:
        parts.append(inspect.getsource(stage.function).rstrip("\n"))
        if stage.then is not None:
            c = stage.then
            names = repr(c.names[0]) if len(c.names) == 1 else repr(c.names)
            options = "".join(f", {k}={v!r}" for k, v in c.options)
            parts.append(f"# {c.result} = s2s.{c.kind}({c.operand}, {names}{options}), combining every example's "
                         f"value ({c.where})")
    return "\n\n\n".join(parts) + "\n"


def _calls_collectives(fun) -> bool:
    """A cheap look before parsing: does ``fun``'s code name a collective (``psum``, ``s2s.psum``…)?"""
    code = fun.__code__
    objects = [resolve.lookup(fun, n) for n in set(code.co_names) | set(code.co_freevars)]
    attributes = set(code.co_names) & set(collectives.OPTIONS)
    return any(collectives.name_of(obj) or any(collectives.name_of(getattr(obj, a, None)) for a in attributes)
               for obj in objects)


class _Splitter:
    """Hoists each collective of a top-level statement out, just before it, and cuts the body there."""

    def __init__(self, fun, parsed, params):
        self.fun, self.parsed = fun, parsed
        self.taken = set(params) | {n.id for n in gast.walk(parsed.node) if isinstance(n, gast.Name)}
        self.count = 0
        self.indices = []  # axis_index's collectives: they need no stage of their own

    def segments(self, body) -> tuple[list, list]:
        segments, boundaries, current = [], [], []
        for stmt in body:
            if isinstance(stmt, (gast.For, gast.While, gast.If, gast.With, gast.Try, gast.FunctionDef)):
                self.refuse_inside(stmt, "in a loop, a branch, a with or try block, or a nested function")
                current.append(stmt)
                continue
            for hoisted, collective in self.hoist(stmt):
                if collective.kind == "axis_index":
                    self.indices.append(collective)
                    continue
                current.extend(hoisted)
                segments.append(current)
                boundaries.append(collective)
                current = []
            current.append(stmt)
        segments.append(current)
        for segment in segments[:-1]:
            for sub in gast.walk(gast.Module(body=segment, type_ignores=[])):
                if isinstance(sub, gast.Return):
                    raise self.error("a return before a collective (each stage runs to its end)", sub)
        return segments, boundaries

    def check_aliases(self, segments, params, root):
        """Refuse a write after a collective into memory that two names share across it: each stage returns its
        locals as arrays of their own, so such names no longer share memory in the next stage."""
        bound = set(params)
        for k, segment in enumerate(segments[:-1]):
            bound |= _bound(segment)
            later = [s for seg in segments[k + 1:] for s in seg]
            across = {}
            for name in (bound & _read(later)) | (bound & _bound(later)):
                across.setdefault(root(name), []).append(name)
            shared = {r for r, names in across.items() if len(names) > 1}
            for stmt in core.walk_statements(later):
                for name, node in self.writes(stmt):
                    if root(name) in shared:
                        others = ", ".join(sorted(set(across[root(name)]) - {name}))
                        raise self.error(f"writing into {name} after a collective while it may share memory with "
                                         f"{others} (the stages each collective splits the function into keep their "
                                         "own copies): write into one name, or copy", node)

    def writes(self, stmt):
        """(name, node) for each array ``stmt`` may write into: ``x[i] = v``, ``x += v``, ``x.fill(v)``,
        ``np.copyto(x, v)``, or a call of the user's function that writes into that argument."""
        yield from _assigned_writes(stmt)
        for call in (n for n in gast.walk(stmt) if isinstance(n, gast.Call)):
            if isinstance(call.func, gast.Attribute) and call.func.attr in _WRITING_METHODS:
                written = [call.func.value]
            elif core.dotted_name(call.func) in _WRITING_FUNCTIONS:
                written = call.args[:1]
            else:
                written = [a for a, p in zip(call.args, self.written_params(self.target(call.func)))
                           if p]
            for arg in written:
                name = _shares_memory_with(arg)
                if name is not None:
                    yield name, stmt

    def written_params(self, obj) -> list:
        """For each parameter of the user's function ``obj``, whether it writes into it (none for others)."""
        fun = resolve.user_function(obj) if obj is not None else None
        if fun is None or resolve.is_library(fun) or not hasattr(fun, "__code__"):
            return []
        from .analysis import written_parameters
        from .frontend.normalize import normalize

        fn = normalize(fun)
        written = written_parameters(fn)
        return [p in written for p in fn.params]

    def changed(self, segment, root, members) -> set:
        """The names ``segment`` binds or writes into (through any name sharing their memory)."""
        written = {root(name) for stmt in core.walk_statements(segment) for name, _ in self.writes(stmt)}
        return _bound(segment) | {m for r in written for m in members(r)}

    def hoist(self, stmt) -> list:
        """[(statements computing the operand, collective)] for each collective in ``stmt``, innermost first;
        ``stmt`` now reads each one's result."""
        for kind_of_node in (gast.Lambda, gast.IfExp, gast.BoolOp, gast.ListComp, gast.GeneratorExp,
                             gast.DictComp, gast.SetComp):
            for sub in gast.walk(stmt):
                if isinstance(sub, kind_of_node):
                    self.refuse_inside(sub, "in a lambda, a conditional expression, 'and'/'or' or a comprehension")
        found = []
        splitter = self

        class Hoist(gast.NodeTransformer):
            def visit_Call(self, node):
                self.generic_visit(node)
                kind = collectives.name_of(splitter.target(node.func))
                if kind is None:
                    return node
                found.append(splitter.collective(kind, node))
                return core.name(found[-1][1].result)

        Hoist().visit(stmt)
        return found

    def collective(self, kind, call):
        self.count += 1
        result = self.fresh(f"{kind}_{self.count}")
        args = list(call.args)
        keywords = {k.arg: k.value for k in call.keywords}
        operand_node = None if kind == "axis_index" else (args.pop(0) if args else keywords.pop("x", None))
        if kind != "axis_index" and operand_node is None:
            raise self.error(f"s2s.{kind} without a value to combine", call)
        names = args.pop(0) if args else keywords.pop("axis_name", None)
        if names is None or args:
            raise self.error(f"s2s.{kind} with other than its value, axis_name and keyword options", call)
        unknown = set(keywords) - set(collectives.OPTIONS[kind])
        if unknown:
            raise self.error(f"s2s.{kind}'s option {sorted(unknown)[0]!r}", call)
        names = self.literal(names, call)
        names = names if isinstance(names, tuple) else (names,)
        options = tuple((k, self.literal(v, call)) for k, v in sorted(keywords.items()))
        hoisted = []
        operand = None
        if operand_node is not None:
            operand = self.fresh(f"{result}_operand")
            hoisted.append(core.at(core.assign(core.name(operand, store=True), operand_node), call.lineno))
        where = f"{short_filename(self.parsed.filename)}:{call.lineno}"
        return hoisted, Collective(kind, result, operand, names, options, where)

    def target(self, func):
        """The object a call's function names, where it is a name or a dotted name (else None)."""
        if isinstance(func, gast.Name):
            obj = resolve.lookup(self.fun, func.id)
            return None if resolve.is_missing(obj) else obj
        if isinstance(func, gast.Attribute):
            return getattr(self.target(func.value), func.attr, None)
        return None

    def literal(self, node, call):
        try:
            return ast.literal_eval(gast.gast_to_ast(core.clone(node)))
        except ValueError:
            raise self.error("an axis name or option that is not written out (a string, a number, a tuple)",
                             call) from None

    def refuse_inside(self, node, where):
        for sub in gast.walk(node):
            if isinstance(sub, gast.Call) and collectives.name_of(self.target(sub.func)):
                raise self.error(f"a collective {where}: call it at the function's top level", sub)

    def fresh(self, hint):
        name, k = hint, 1
        while name in self.taken:
            k += 1
            name = f"{hint}_{k}"
        self.taken.add(name)
        return name

    def error(self, what, node):
        lineno = getattr(node, "lineno", None)
        return UnsupportedSyntaxError(f"s2s does not support {what}", short_filename(self.parsed.filename), lineno,
                                      self.parsed.lines.get(lineno))


def _stem(fun, node) -> str:
    return fun.__name__ if isinstance(node, gast.FunctionDef) else f"lambda_{node.lineno}"


def _lifted(fun, parsed, name, params, segment, returns, then):
    """A stage as a function of its own, each line remembered as the user's line it came from."""
    text, lines = [f"def {name}({', '.join(params)}):"], [parsed.node.lineno]
    for stmt in segment:
        for line in ast.unparse(gast.gast_to_ast(core.clone(stmt))).splitlines():
            text.append("    " + line)
            lines.append(stmt.lineno)
    if then is not None:
        outputs = [*returns, then.operand]
        text.append(f"    return {outputs[0]}," if len(outputs) == 1 else f"    return {', '.join(outputs)}")
        lines.append(lines[-1])
    elif not segment or not isinstance(segment[-1], gast.Return):
        text.append("    return None")
        lines.append(lines[-1])
    return lifting._lift("\n".join(text) + "\n", name, fun, tuple(lines))


#: Methods whose result may be a view of the array they are called on.
_VIEW_METHODS = {"reshape", "view", "ravel", "transpose", "swapaxes", "squeeze", "diagonal", "flatten"}
#: Methods that write into the array they are called on.
_WRITING_METHODS = {"fill", "sort", "put", "itemset", "resize", "partition", "setfield"}
#: NumPy's functions that write into their first argument.
_WRITING_FUNCTIONS = {"np.copyto", "np.put", "np.place", "np.putmask", "np.fill_diagonal"}


def _shares_memory_with(value) -> str | None:
    """The name whose memory ``value`` may be (``x``, ``x[1]``, ``x.T``, ``x.reshape(...)``, ``np.reshape(x)``)."""
    if isinstance(value, gast.Call) and isinstance(value.func, gast.Attribute) and value.func.attr in _VIEW_METHODS:
        return _shares_memory_with(value.func.value)
    if isinstance(value, (gast.Subscript, gast.Attribute)):
        return _shares_memory_with(value.value)
    return value.id if isinstance(value, gast.Name) else core.view_source(value)


def _bindings(target, value):
    """(name, the name whose memory it may share) for each name ``target = value`` binds to a view or a second
    name (``a, b = z, z[1]`` binds both to ``z``'s memory; ``a, b = f(z)``, to nothing known)."""
    if isinstance(target, (gast.Tuple, gast.List)):
        if isinstance(value, (gast.Tuple, gast.List)) and len(value.elts) == len(target.elts):
            for t, v in zip(target.elts, value.elts):
                yield from _bindings(t, v)
        return
    source = _shares_memory_with(value)
    if isinstance(target, gast.Name) and source is not None:
        yield target.id, source


def _memory_groups(segments) -> tuple:
    """``root(name)``, the same for names that may share memory (``w = z``, ``row = z[1]``), and ``members(root)``."""
    group = {}

    def root(name):
        while group.get(name, name) != name:
            name = group[name]
        return name

    names = set()
    for stmt in core.walk_statements([s for segment in segments for s in segment]):
        if isinstance(stmt, gast.Assign):
            for target in stmt.targets:
                for name, source in _bindings(target, stmt.value):
                    names |= {name, source}
                    if root(name) != root(source):
                        group[root(name)] = root(source)
    return root, lambda r: {n for n in names if root(n) == r} | {r}


def _assigned_writes(stmt):
    """(name, node) for each array an assignment writes into: ``x[i] = v``, ``x += v``."""
    targets = stmt.targets if isinstance(stmt, gast.Assign) else [stmt.target] if isinstance(stmt, gast.AugAssign) \
        else []
    for target in targets:
        if isinstance(target, gast.Subscript) or isinstance(stmt, gast.AugAssign):
            name = _shares_memory_with(target)
            if name is not None:
                yield name, stmt


def _bound(segment) -> set:
    return {n.id for s in segment for n in gast.walk(s) if isinstance(n, gast.Name)
            and isinstance(n.ctx, gast.Store)}


def _read(segment) -> set:
    return {n.id for s in segment for n in gast.walk(s) if isinstance(n, gast.Name)
            and isinstance(n.ctx, gast.Load)}
