"""A parsed user function → core form (see ``s2s.core``).

Nested expressions are split into one primitive per statement, with
temporaries named after what they hold (``sin_x``, ``x_over_2``); method calls
become NumPy calls (``x.sum()`` → ``np.sum(x)``); every free name is resolved.
Anything outside the supported subset is refused here, with the file, line
and construct named, so that later passes never meet it.
"""

from __future__ import annotations

import ast
import copy
import functools
import inspect
import operator
import types

import gast
import numpy as np

from .. import core, tree_util
from ..static import Specialized
from ..errors import SourceError, UnsupportedSyntaxError
from ..rules import registry
from . import lifting, lowering, resolve
from .lowering import Lowering, jumps, stored_names
from .parse import parse_function, short_filename
from .trees import Flattened, TreeLowering, flattened, in_leaves, is_container, is_plain_sequence, tuple_display

#: Array methods that are spelled as NumPy functions in core form.
_METHODS = {"sum", "mean", "prod", "max", "min", "std", "var", "cumsum", "cumprod", "copy", "ravel", "dot",
            "clip", "squeeze", "argmax", "argmin", "any", "all"}
_METHOD_ALIASES = {"flatten": "ravel"}
#: Draws of a random Generator: refused with a pointer to the np.random functions s2s supports.
_GENERATOR_METHODS = {n for n in dir(np.random.Generator) if not n.startswith("_")} - _METHODS
#: Parameters after the first that are spelled as keywords: Numba's typing fails on ``np.argsort(a, axis)``
#: with an internal error, while ``np.argsort(a, axis=axis)`` reaches s2s's overload.
_AS_KEYWORDS = {"np.argsort": ("axis",)}
_VALUE_ATTRIBUTES = {"shape", "ndim", "size", "dtype"}
#: Attributes and methods of complex numbers: s2s's values are real.
_COMPLEX_PARTS = {"real", "imag", "conj", "conjugate"}
_IN_PLACE_OPS = (gast.Add, gast.Sub, gast.Mult, gast.Div)
_OP_WORDS = {gast.Add: "plus", gast.Sub: "minus", gast.Mult: "times", gast.Div: "over",
             gast.Pow: "pow", gast.FloorDiv: "div", gast.Mod: "mod", gast.MatMult: "at", gast.BitAnd: "and",
             gast.BitOr: "or"}
_COMPARE_WORDS = {gast.Lt: "lt", gast.LtE: "le", gast.Gt: "gt", gast.GtE: "ge", gast.Eq: "eq",
                  gast.NotEq: "ne"}
_NUMBER_WORDS = {0: "zero", 1: "one", 2: "two", 3: "three", 4: "four", 0.5: "half", 10: "ten"}
_OP_NOUNS = {gast.Add: "total", gast.Sub: "diff", gast.Mult: "product", gast.Div: "ratio",
             gast.Pow: "power", gast.FloorDiv: "quotient", gast.Mod: "remainder", gast.MatMult: "matprod",
             gast.BitAnd: "both", gast.BitOr: "either"}

_REFUSED = {
    gast.With: "a 'with' statement", gast.AsyncWith: "an 'async with' statement",
    gast.Try: "a 'try' statement", gast.ClassDef: "a class definition",
    gast.AsyncFunctionDef: "an async function", gast.Global: "a 'global' statement",
    gast.Nonlocal: "a 'nonlocal' statement", gast.Import: "an import inside the function",
    gast.ImportFrom: "an import inside the function", gast.Delete: "a 'del' statement",
    gast.AsyncFor: "an 'async for' loop",
    gast.SetComp: "a set comprehension", gast.DictComp: "a dict comprehension", gast.Yield: "'yield' (generators)",
    gast.YieldFrom: "'yield from' (generators)", gast.Await: "'await'",
    gast.Set: "a set", gast.Starred: "starred arguments", gast.NamedExpr: "an assignment expression (:=)",
    gast.JoinedStr: "an f-string",
}


#: NumPy functions making an array of a sequence's elements, and those joining the elements along an axis.
_MAKING = ("np.array", "np.asarray", "np.stack")
_JOINING = ("np.concatenate", "np.vstack", "np.hstack", "np.dstack", "np.column_stack", "np.row_stack")


def refuse(what: str, node, fn) -> UnsupportedSyntaxError:
    lineno = getattr(node, "lineno", None)
    return UnsupportedSyntaxError(
        f"s2s does not support {what}", fn.filename, lineno, fn.source_line(lineno))


@functools.lru_cache(maxsize=256)
def _normalize_cached(fun, fingerprint):
    return _Normalizer(fun).run()


def normalize(fun, nargs: int | None = None) -> core.Function:
    """Core form of ``fun`` (cached while its closure holds the same values).

    ``fun`` may be a user function, a ``functools.partial`` of one, or a
    primitive such as ``np.sin`` (then ``nargs`` says how many arguments it gets).
    """
    if getattr(fun, "__s2s_checkpoint__", False):  # s2s.checkpoint(f): f's code (its calls are marked)
        return normalize(fun.__s2s_function__, nargs)
    if isinstance(fun, (Flattened, Specialized)):
        return _normalize_cached(fun, fingerprint(fun.fun))
    if isinstance(fun, functools.partial):
        return _partial_wrapper(fun)
    if hasattr(fun, "__s2s_primitive__"):
        return _custom_wrapper(fun)
    if resolve.spelling(fun) is not None:
        return _primitive_wrapper(fun, nargs if nargs is not None else 1)
    if isinstance(fun, types.MethodType) and resolve.user_function(fun.__func__) is not None:
        return _normalize_cached(fun, fingerprint(fun))
    user = resolve.user_function(fun)
    if user is None:
        raise TypeError(f"s2s transforms Python functions; got {fun!r}")
    return _normalize_cached(user, closure_fingerprint(user))


def _primitive_wrapper(prim, nargs) -> core.Function:
    """``def sin(x): return np.sin(x)``: a primitive is a function like any other."""
    params = ["x"] if nargs == 1 else ["x", "y"] if nargs == 2 else [f"x{i}" for i in range(nargs)]
    spelled = resolve.spelling(prim)
    body = _returning(core.call(core.attr(spelled), [core.name(p) for p in params]))
    return core.Function(name=spelled.split(".")[-1], params=params, body=body, filename="<s2s>",
                         temps={"out"})


def _custom_wrapper(custom) -> core.Function:
    """``def f(x): return f(x)`` for a function with a rule of the user's: its rule, not its body, is read."""
    params = list(inspect.signature(custom.fun).parameters)
    fn = core.Function(name=custom.__name__, params=params, body=[], filename="<s2s>", temps={"out"},
                       constants={custom.__name__: custom.__s2s_primitive__, **custom.helpers})
    fn.body = _returning(core.call(core.name(custom.__name__), [core.name(p) for p in params]))
    return fn


def _returning(value) -> list:
    """``out = value; return out``: core form returns atoms."""
    return [core.at(core.assign("out", value), 0), core.at(gast.Return(value=core.name("out")), 0)]


def _partial_wrapper(p: functools.partial) -> core.Function:
    """``partial(f, a)`` as ``def f_partial(x): return f(a, x)``, bound values as constants."""
    fn = core.Function(name=f"{getattr(p.func, '__name__', 'f')}_partial", params=[], body=[],
                       filename="<s2s>")

    def value(pname, obj):
        if isinstance(obj, (int, float, bool)) or obj is None:
            return core.const(obj)
        fn.constants[pname] = obj
        return core.name(pname)

    params = inspect.signature(p.func).parameters
    required = [k for k, v in params.items() if v.default is inspect.Parameter.empty
                and v.kind in (v.POSITIONAL_ONLY, v.POSITIONAL_OR_KEYWORD)]
    fn.params = [k for k in required[len(p.args):] if k not in p.keywords]
    spelled = resolve.spelling(p.func)
    if spelled:  # a primitive: keep its keywords
        callee = core.attr(spelled)
        args = [value(k, v) for k, v in zip(list(params), p.args)] + [core.name(k) for k in fn.params]
        keywords = [(k, value(k, v)) for k, v in p.keywords.items()]
    else:  # a user function: every argument in parameter order
        callee = core.name(getattr(p.func, "__name__", "f"))
        fn.callees[callee.id] = p.func
        bound = dict(zip(params, p.args)) | dict(p.keywords)
        args = [value(k, bound[k]) if k in bound else core.name(k) if k in fn.params
                else value(k, params[k].default) for k in params]
        keywords = []
    fn.body = _returning(core.call(callee, args, keywords))
    fn.temps = {"out"}
    return fn


def fingerprint(fun):
    """What the generated code of ``fun`` depends on besides its source: closure values, a method's object."""
    if isinstance(fun, (Flattened, Specialized)):
        return fingerprint(fun.fun)
    if isinstance(fun, types.MethodType):
        owner = getattr(fun.__self__, "__dict__", {})
        return closure_fingerprint(fun.__func__) + tuple((k, _value_key(v)) for k, v in owner.items())
    inner = resolve.user_function(fun)
    return closure_fingerprint(inner) if inner is not None else ()


def _value_key(value):
    if isinstance(value, tuple):  # a tuple of arrays too (a model's parameters a lambda reads)
        return tuple(_value_key(v) for v in value)
    return value if isinstance(value, (int, float, complex, str, bool)) else id(value)


def closure_fingerprint(fun):
    """Closure values are constants of the generated code: new values, new code."""
    cells = []
    for cell in fun.__closure__ or ():
        try:
            value = cell.cell_contents
        except ValueError:
            value = None
        cells.append(_value_key(value))
    return tuple(cells)


#: The names generated code gives the modules it reads.
_MODULES = core.MODULE_NAMES | {"cuda"}


def _without_reserved_names(node):
    """The function ``node`` with its parameters and locals named as a module of generated code (``rt = r * t``,
    ``math = ...``) renamed (``rt_1``), and the renaming."""
    body = [node.body] if isinstance(node, gast.Lambda) else node.body
    clash = sorted(({a.id for a in node.args.args} | stored_names(body)) & _MODULES)
    if not clash:
        return node, {}
    namer = core.Namer({n.id for n in gast.walk(node) if isinstance(n, gast.Name)} | _MODULES)
    renamed = {name: namer.fresh(name) for name in clash}
    node = copy.deepcopy(node)  # the parsed tree is cached
    for name in gast.walk(node):
        if isinstance(name, gast.Name) and name.id in renamed:
            name.id = renamed[name.id]
    return node, renamed


class _Normalizer(Lowering, TreeLowering):
    def __init__(self, fun):
        flattened = fun if isinstance(fun, Flattened) else None
        fun = fun.fun if flattened else fun
        # Static arguments of s2s.jit, and a bound method's object (named by its first parameter): constants.
        self.bound = {}
        if isinstance(fun, Specialized):
            fun, self.bound = fun.fun, dict(fun.values)
        if isinstance(fun, types.MethodType):
            fun, owner = fun.__func__, fun.__self__
            self.bound[parse_function(fun).node.args.args[0].id] = owner
        self.fun = fun
        parsed = parse_function(fun)
        self.node, self.renamed = _without_reserved_names(parsed.node)
        self.bound = {self.renamed.get(k, k): v for k, v in self.bound.items()}
        self.fn = core.Function(
            name=fun.__name__ if fun.__name__ != "<lambda>" else "lambda_",
            params=[], body=[], filename=short_filename(parsed.filename),
            source_lines=parsed.lines, lineno=self.node.lineno)
        self.locals = self._local_names()
        self.namer = core.Namer(self.locals | core.MODULE_NAMES | self._global_names())
        self.lineno = self.node.lineno
        self.temps = set()
        self.nested = False  # inside a test or boolean operator: keep expressions nested
        self.inner = {}  # nested function (or lambda bound to a name) → its definition, inlined where called
        self.inlining = []  # the nested functions being inlined, innermost last
        self.lists = {}  # list name → its elements (atoms), or its Growing array, or "array" once filled
        self.list_depth = {}  # list name → the block depth where it was made
        self.growing_depth = {}  # list name → the depth of the loop body that fills it
        self.depth = 0  # how deep in branches and loops the statement being normalized is
        self.param_trees = self.setup_trees(flattened)

    # -- entry point ---------------------------------------------------------

    def run(self) -> core.Function:
        args = self.node.args
        for bad, what in ((args.vararg, "*args"), (args.kwarg, "**kwargs"),
                          (args.kwonlyargs, "keyword-only parameters"),
                          (args.posonlyargs, "positional-only parameters")):
            if bad:
                raise refuse(what, self.node, self.fn)
        self.fn.params = []
        for param in (a.id for a in args.args if a.id not in self.bound):
            treedef = self.param_trees.get(param)
            self.fn.params += [param] if treedef is None else self.leaf_params(param, treedef)
        defaults = inspect.signature(self.fun).parameters
        self.fn.defaults = {self.renamed.get(k, k): p.default for k, p in defaults.items()
                            if p.default is not inspect.Parameter.empty and k not in self.trees
                            and k not in self.bound}
        if isinstance(self.node, gast.Lambda):
            ret = gast.Return(value=self.node.body)
            ret.lineno = self.node.lineno
            self.fn.body = self.stmt(ret)
        else:
            self.fn.body = self.stmts(self.node.body)
        self.fn.temps = self.temps
        return self.fn

    def _local_names(self) -> set:
        names = {a.id for a in self.node.args.args} - set(self.bound)
        body = [self.node.body] if isinstance(self.node, gast.Lambda) else self.node.body
        return names | stored_names(body)

    def _global_names(self) -> set:
        return {n.id for n in gast.walk(self.node) if isinstance(n, gast.Name)}

    def temp(self, hint) -> str:
        t = self.namer.fresh(hint)
        self.temps.add(t)
        return t

    def emit(self, out, stmt):
        out.append(core.at(stmt, self.lineno))

    def refuse(self, what, node=None):
        node = node if node is not None else core.at(gast.Pass(), self.lineno)
        return refuse(what, node, self.fn)

    # -- statements ----------------------------------------------------------

    def stmts(self, body) -> list:
        out = []
        for stmt in body:
            out.extend(self.stmt(stmt))
        return out

    def stmt(self, s) -> list:
        self.lineno = getattr(s, "lineno", self.lineno)
        if type(s) in _REFUSED:
            raise self.refuse(_REFUSED[type(s)], s)
        self._check_expressions(s)
        method = getattr(self, f"stmt_{type(s).__name__}", None)
        if method is None:
            raise self.refuse(f"the statement {type(s).__name__}", s)
        return method(s)

    def _check_expressions(self, s):
        for child in gast.iter_child_nodes(s):
            if isinstance(child, gast.stmt):
                continue
            for n in gast.walk(child):
                if type(n) in _REFUSED and not (isinstance(n, gast.JoinedStr) and isinstance(s, (gast.Raise, gast.Assert))):
                    raise self.refuse(_REFUSED[type(n)], s)

    def stmt_FunctionDef(self, s):
        if s.decorator_list:
            raise self.refuse("a decorated nested function", s)
        self.inner[s.name] = s
        return []

    def stmt_Assign(self, s):
        rebound = stored_names(s.targets)
        if len(s.targets) == 1 and isinstance(s.targets[0], gast.Name) \
                and rebound & core.names_in(s.value) & {n for n, v in self.lists.items() if isinstance(v, list)}:
            # rows = np.stack(rows), rows = [g, rows[0]]: the value reads the list the name holds before it is
            # bound again, so it is computed first, under a name of its own.
            held = self.local(s.targets[0].id)
            out = self.stmt_Assign(core.at(gast.Assign(targets=[core.name(held, True)], value=s.value,
                                                       type_comment=None), s.lineno))
            if isinstance(self.lists.get(held), list):
                self.lists[s.targets[0].id] = self.lists.pop(held)
                self.list_depth[s.targets[0].id] = self.depth
                return out
            return out + self.stmt_Assign(core.at(gast.Assign(targets=s.targets, value=core.name(held),
                                                              type_comment=None), s.lineno))
        out = []
        for bound in rebound:
            self.lists.pop(bound, None)
            self.known_keys.pop(bound, None)
        target = s.targets[0]
        if len(s.targets) == 1 and (self.is_tree_expr(s.value) or self.names_sequence(target, s.value)) \
                and not self.unpacks_directly(target, s.value):
            self.bind_tree(target, self.tree_value(s.value, out), out)
            return out
        for bound in stored_names(s.targets):
            if bound in self.trees:
                raise self.refuse(f"rebinding the tree {bound} to a value that is not a tree", s)
        if isinstance(target, gast.Name) and isinstance(s.value, gast.Constant) \
                and isinstance(s.value.value, (str, int)):
            self.known_keys[target.id] = s.value.value  # a key to read trees with (an unrolled loop's)
        if len(s.targets) == 1 and isinstance(target, gast.Name):
            if isinstance(s.value, gast.Lambda):
                self.inner[target.id] = s.value
                return []
            if isinstance(s.value, gast.List) or (isinstance(s.value, gast.ListComp) and self.is_static(s.value)):
                self.lists[target.id] = [self.kept(e, out, f"{target.id}_{k}")
                                         for k, e in enumerate(s.value.elts)] if isinstance(s.value, gast.List) \
                    else self.unrolled(s.value, out, self.fresh_atom)
                self.list_depth[target.id] = self.depth
                return out
        if len(s.targets) > 1:
            value = self.atom(s.value, out)
            for target in s.targets:
                out.extend(self._assign_to(target, value))
            return out
        target = s.targets[0]
        if isinstance(target, gast.Name):
            if isinstance(s.value, gast.IfExp):
                self.if_expression(s.value, out, target.id)
                return out
            self.emit(out, core.assign(core.name(target.id, store=True), self.value(s.value, out, target.id)))
            return out
        if isinstance(target, gast.Tuple) and all(isinstance(e, gast.Name) for e in target.elts):
            if isinstance(s.value, gast.Tuple):
                value = core.tuple_(self.atom(e, out, t.id) for e, t in zip(s.value.elts, target.elts))
            else:
                value = self.call_(s.value, out) if self.unpacks_directly(target, s.value) else \
                    self.value(s.value, out, "_".join(e.id for e in target.elts))
                if not (core.is_atom(value) or self.fn.is_user_call(value)):
                    value = self._to_temp(value, out, "packed")
            self.emit(out, core.assign(core.store(target), value))
            return out
        value = self.atom(s.value, out)
        self._assign_to(target, value, out)
        return out

    def _assign_to(self, target, value, out=None):
        out = [] if out is None else out
        if isinstance(target, gast.Name):
            self.emit(out, core.assign(core.name(target.id, store=True), value))
        elif isinstance(target, (gast.Tuple, gast.List)):
            self._unpack(target, value, out)
        elif isinstance(target, gast.Subscript):
            if isinstance(target.value, gast.Name) and target.value.id in self.lists:
                raise self.refuse(f"writing into the list {target.value.id} (s2s makes it a tuple or an array; "
                                  "build an array with np.zeros and write into that)", target)
            base = self.atom(target.value, out)
            index = self.index(target.slice, out)
            sub = gast.Subscript(value=base, slice=index, ctx=gast.Store())
            self.emit(out, core.assign(sub, value))
        else:
            raise self.refuse("assigning to this kind of target (use names, tuples of names or x[...])", target)
        return out

    def _unpack(self, target, value, out):
        """``a[i], b = value``: the values first (copies of names the targets rebind), then each target in turn."""
        if not (isinstance(value, gast.Tuple) and len(value.elts) == len(target.elts)):
            parts = [self.temp(f"part_{k}") for k in range(len(target.elts))]
            self.emit(out, core.assign(core.tuple_([core.name(p, store=True) for p in parts], store=True), value))
            value = core.tuple_([core.name(p) for p in parts])
        rebound = stored_names(target)
        values = [self._to_temp(v, out, f"old_{v.id}") if isinstance(v, gast.Name) and v.id in rebound else v
                  for v in value.elts]
        for t, v in zip(target.elts, values):
            self._assign_to(t, v, out)
        return out

    def stmt_AnnAssign(self, s):
        if s.value is None:
            return []
        return self.stmt_Assign(core.at(gast.Assign(targets=[s.target], value=s.value, type_comment=None), s.lineno))

    def stmt_AugAssign(self, s):
        out = []
        target, op = s.target, s.op
        if isinstance(target, gast.Name) and target.id in self.lists:
            raise self.refuse(f"extending the list {target.id} in place (append to it instead)", s)
        if isinstance(target, gast.Name):
            value = self.atom(s.value, out)
            if isinstance(op, _IN_PLACE_OPS) and target.id not in core.names_in(value):
                self.emit(out, gast.AugAssign(target=core.name(target.id, store=True), op=op, value=value))
            else:
                rhs = gast.BinOp(left=core.name(target.id), op=op, right=value)
                self.emit(out, core.assign(target.id, rhs))
            return out
        if isinstance(target, gast.Subscript):
            base = self.atom(target.value, out)
            index = self.index(target.slice, out)
            read = gast.Subscript(value=base, slice=index, ctx=gast.Load())
            old = self._to_temp(read, out, self._hint(read))
            value = self.atom(s.value, out)
            new = self._to_temp(gast.BinOp(left=old, op=op, right=value), out, "updated")
            self.emit(out, core.assign(gast.Subscript(value=core.load(base), slice=core.load(index),
                                                      ctx=gast.Store()), new))
            return out
        raise self.refuse("augmented assignment to this kind of target", s)

    def stmt_Expr(self, s):
        value = s.value
        if isinstance(value, gast.Constant):  # docstring or bare literal
            return []
        out = []
        appended = lowering.append_target(s)
        if appended in self.lists:
            if len(value.args) != 1 or value.keywords:
                raise self.refuse("append() with these arguments", s)
            return self.append(appended, value.args[0], out)
        if isinstance(value, gast.Call):
            normalized = self.value(value, out, "result")
            if isinstance(normalized, gast.Tuple):  # a call of a function returning a tuple, bound to names in out
                return out
            if self.fn.is_user_call(normalized) or core.dotted_name(normalized.func) == "print":
                self.emit(out, gast.Expr(value=normalized))
                return out
        raise self.refuse(
            "an expression statement other than a call to your own function or print "
            "(an in-place NumPy call or method would change arrays behind the derivative's back)", s)

    def stmt_If(self, s):
        known = self.known_truth(s.test)
        if known is not None:  # decided here (an unrolled loop's index): the branch taken, as straight-line code
            return self.stmts(s.body if known else s.orelse)
        out = []
        test = self.value(s.test, out, "cond")
        if not (core.is_atom(test) or isinstance(test, gast.BoolOp)):
            test = self._to_temp(test, out, "cond")
        node = gast.If(test=test, body=self.block(s.body) or [gast.Pass()], orelse=self.block(s.orelse))
        self.lineno = s.lineno
        self.emit(out, node)
        return out

    def known_truth(self, test):
        """The truth of a test whose value is known here, from literals, static arguments, global constants and
        the constants an unrolled loop bound (``if i < n_layers - 1`` in ``for i in range(3)``); None where the
        code decides it."""
        try:
            return bool(self.known_value(test))
        except LookupError:
            return None

    def known_value(self, node):
        if isinstance(node, gast.Constant) and isinstance(node.value, (int, float, str, bool)):
            return node.value
        if isinstance(node, gast.Name) and node.id in self.known_keys:
            return self.known_keys[node.id]
        if isinstance(node, gast.Name) and node.id not in self.locals:  # a static argument, a global constant
            value = self.lookup_quietly(node.id)
            if isinstance(value, (int, float, str, bool)):
                return value
        if isinstance(node, gast.UnaryOp) and type(node.op) in _KNOWN_UNARY:
            return _KNOWN_UNARY[type(node.op)](self.known_value(node.operand))
        if isinstance(node, gast.BinOp) and type(node.op) in _KNOWN_BINARY:
            return _KNOWN_BINARY[type(node.op)](self.known_value(node.left), self.known_value(node.right))
        if isinstance(node, gast.BoolOp):
            values = [self.known_value(v) for v in node.values]
            return all(values) if isinstance(node.op, gast.And) else any(values)
        if isinstance(node, gast.Call) and isinstance(node.func, gast.Name) and len(node.args) == 1 \
                and node.func.id not in self.locals and self.lookup_quietly(node.func.id) is len:
            tree = self.static_tree(node.args[0])  # len(layers) of a tree, or of a list the code built
            found = tree if is_container(tree) else self.listed(node.args[0])
            if found is not None:
                return len(found)
        if isinstance(node, gast.Compare) and all(type(op) in _KNOWN_BINARY for op in node.ops):
            left, result = self.known_value(node.left), True
            for op, right in zip(node.ops, node.comparators):
                right = self.known_value(right)
                result = result and _KNOWN_BINARY[type(op)](left, right)
                left = right
            return result
        raise LookupError(node)

    def stmt_For(self, s):
        if s.orelse:
            raise self.refuse("'for ... else'", s)
        if isinstance(s.iter, gast.Call) and _is_api(self.static_object(s.iter.func), "checkpointed"):
            return self.checkpointed_loop(s)
        return self.lower_for(s)

    def checkpointed_loop(self, s):
        """``for i in s2s.checkpointed(range(...), snapshots=k): body`` as a call of the loop lifted into
        functions of its own (``lifting.lifted_loop``), which take and return the names it carries."""
        call = s.iter
        steps = call.args[0] if call.args else None
        snapshots = [k.value for k in call.keywords if k.arg == "snapshots"]
        if len(call.args) != 1 or len(call.keywords) != 1 or not snapshots or not (
                isinstance(steps, gast.Call) and self._resolves_to(steps.func, range) and 1 <= len(steps.args) <= 3):
            raise self.refuse("s2s.checkpointed other than as s2s.checkpointed(range(...), snapshots=k)", call)
        if not isinstance(s.target, gast.Name):
            raise self.refuse("a checkpointed loop whose index is not one name", s)
        if isinstance(snapshots[0], gast.Constant):
            from ..checkpoint import check_budget

            try:
                check_budget(snapshots[0].value)
            except ValueError as error:  # named where the loop is
                raise ValueError(f"{self.fn.filename}:{call.lineno}: {error}\n    "
                                 f"{self.fn.source_line(call.lineno)}") from None
        if jumps(s.body) or any(isinstance(n, (gast.Return, gast.Yield)) for n in gast.walk(gast.Module(s.body, []))):
            raise self.refuse("break, continue or return in a checkpointed loop", s)
        before = {a.id for a in self.node.args.args} | {
            n.id for n in gast.walk(self.node) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)
            and getattr(n, "lineno", s.lineno) < s.lineno}
        after = {n.id for n in gast.walk(self.node) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)
                 and getattr(n, "lineno", 0) > getattr(s, "end_lineno", s.lineno)}
        written = stored_names(s.body) | {n.value.id for n in gast.walk(gast.Module(s.body, []))
                                          if isinstance(n, gast.Subscript) and isinstance(n.ctx, gast.Store)
                                          and isinstance(n.value, gast.Name)}
        index = s.target.id
        made_inside = sorted((written - before - {index}) & after | ({index} & after))
        if made_inside:
            raise self.refuse(f"a checkpointed loop that defines {', '.join(made_inside)}, read after it: "
                              "give it a value before the loop", s)
        carried = sorted(written & before - {index})
        inputs = sorted(core.names_in(gast.Module(s.body, [])) & before - set(carried) - {index})
        if not carried:
            raise self.refuse("a checkpointed loop that changes nothing it carries to later trips", s)
        unfit = [n for n in carried if n in self.trees] + \
            [n for n in carried + inputs if n.startswith(("loop_", "s2s_")) or n in self.lists]
        if unfit:
            raise self.refuse(f"a checkpointed loop that carries or reads {', '.join(unfit)} (it carries arrays "
                              "and numbers, reads those and trees, named other than loop_… and s2s_…)", s)
        loop = lifting.lifted_loop(s, self.fun, carried, inputs, s.lineno)
        bounds = list(steps.args) if len(steps.args) > 1 else [core.const(0), steps.args[0]]
        bounds += [core.const(1)] if len(bounds) == 2 else []
        out = []
        args = [*bounds, snapshots[0], *(core.name(n) for n in carried + inputs)]
        call = gast.Call(loop, args, [])
        if any(n in self.trees for n in inputs):  # a tree it reads (the model's parameters): passed as leaves
            result = self.tree_call(loop, [self.leaf_or_tree(a, out) for a in args], {}, call, out)
            for name, value in zip(carried, result if isinstance(result, tuple) else [result]):
                self.emit(out, core.assign(core.name(name, True), value))
            return out
        result = self.user_call(self.reference(loop, loop.__name__), loop, call, out)
        targets = [core.name(n, True) for n in carried]
        self.emit(out, core.assign(targets[0] if len(targets) == 1 else core.tuple_(targets, store=True), result))
        return out

    def block(self, body) -> list:
        """The statements of a branch or a loop body (lists made outside may not grow there)."""
        self.depth += 1
        try:
            return self.stmts(body)
        finally:
            self.depth -= 1

    def stmt_While(self, s):
        if s.orelse:
            raise self.refuse("'while ... else'", s)
        test = self.canonical(s.test)
        body = self.block(s.body)
        self.lineno = s.lineno
        out = []
        self.emit(out, gast.While(test=test, body=body or [gast.Pass()], orelse=[]))
        return out

    def stmt_Return(self, s):
        out = []
        if s.value is None:  # a bare return returns None, as falling off the end does
            value = core.const(None)
        elif not self.inlining and (self.is_tree_expr(s.value) or isinstance(s.value, gast.List)
                                    or self.flattened is not None and (self.flattened.aux
                                                                       or self.flattened.pick is not None)):
            # (a list display returned is a tree of its elements, as JAX has it: jacrev gives a list of blocks)
            value = self.return_tree(s.value, out)
        elif isinstance(s.value, gast.Tuple):
            value = core.tuple_(self.atom(e, out) for e in s.value.elts)
        else:
            value = self.atom(s.value, out, "out")
        self.emit(out, gast.Return(value=value))
        return out

    def stmt_Pass(self, s):
        return []

    def stmt_Break(self, s):
        return [core.at(gast.Break(), s.lineno)]

    def stmt_Continue(self, s):
        return [core.at(gast.Continue(), s.lineno)]

    def stmt_Raise(self, s):
        if s.cause is not None:
            raise self.refuse("'raise ... from'", s)
        return [core.at(gast.Raise(exc=self.canonical(s.exc) if s.exc else None, cause=None), s.lineno)]

    def stmt_Assert(self, s):
        msg = self.canonical(s.msg) if s.msg is not None else None
        return [core.at(gast.Assert(test=self.canonical(s.test), msg=msg), s.lineno)]

    # -- expressions ---------------------------------------------------------

    def atom(self, expr, out, hint=None):
        """``expr`` as an atom, emitting the statements that compute it (named ``hint`` or after it)."""
        value = self.value(expr, out, hint)
        if core.is_atom(value) or self.nested:
            return value
        return self._to_temp(value, out, hint or self._hint(value))

    def _to_temp(self, value, out, hint):
        t = self.temp(hint)
        self.emit(out, core.assign(t, value))
        return core.name(t)

    def value(self, expr, out, hint="t"):
        """``expr`` as one primitive applied to atoms (or an atom)."""
        if not isinstance(expr, (gast.Constant, gast.Name, gast.BinOp)) and self.is_tree_expr(expr) \
                or isinstance(expr, gast.Name) and expr.id in self.trees:
            tree = self.tree_value(expr, out)
            if is_plain_sequence(tree):  # a display bound to a name, read whole: np.zeros(shape)
                return tuple_display(tree)
            if is_container(tree):
                raise self.refuse("a tree (a dict, list, tuple or other container) used as a value here: read "
                                  "its leaves (params['W'], p.W, state[0]), or pass it to your own function", expr)
            return tree
        if isinstance(expr, gast.Constant):
            return core.const(expr.value)
        if isinstance(expr, gast.Name):
            return self.name(expr)
        if isinstance(expr, gast.UnaryOp):
            if isinstance(expr.op, gast.Not) and not self.nested:
                return self.canonical(expr)
            if isinstance(expr.op, gast.USub) and isinstance(expr.operand, gast.Constant) \
                    and isinstance(expr.operand.value, (int, float)):
                return core.const(-expr.operand.value)
            return gast.UnaryOp(op=expr.op, operand=self.atom(expr.operand, out))
        if isinstance(expr, gast.BinOp):
            return gast.BinOp(left=self.atom(expr.left, out), op=expr.op, right=self.atom(expr.right, out))
        if isinstance(expr, gast.Compare):
            return gast.Compare(left=self.atom(expr.left, out), ops=expr.ops,
                                comparators=[self.atom(c, out) for c in expr.comparators])
        if isinstance(expr, gast.BoolOp):
            if not self.nested:
                return self.canonical(expr)
            return gast.BoolOp(op=expr.op, values=[self.value(v, out) for v in expr.values])
        if isinstance(expr, gast.IfExp):
            if self.nested:
                return gast.IfExp(test=self.value(expr.test, out), body=self.value(expr.body, out),
                                  orelse=self.value(expr.orelse, out))
            return self.if_expression(expr, out)
        if isinstance(expr, gast.Tuple):
            return core.tuple_(self.atom(e, out) for e in expr.elts)
        if isinstance(expr, (gast.ListComp, gast.GeneratorExp)):
            if self.nested or not self.is_static(expr):
                raise self.refuse("a comprehension here (s2s lowers those passed to np.array, np.stack, sum, "
                                  "min or max, and those over tuples, lists or constant ranges)", expr)
            return core.tuple_(self.unrolled(expr, out, self.atom))
        if isinstance(expr, gast.Lambda):
            raise self.refuse("a lambda inside the function other than one bound to a name", expr)
        if isinstance(expr, gast.List):
            raise self.refuse("a Python list here (lists may only be passed to np.array, "
                              "np.concatenate or np.stack; use a tuple or an array)", expr)
        if isinstance(expr, gast.Subscript):
            return gast.Subscript(value=self.atom(expr.value, out),
                                  slice=self.index(expr.slice, out), ctx=gast.Load())
        if isinstance(expr, gast.Attribute):
            return self.attribute(expr, out)
        if isinstance(expr, gast.Call):
            return self.call_(expr, out)
        raise self.refuse(f"the expression {type(expr).__name__}", expr)

    def index(self, index, out):
        if isinstance(index, gast.Slice):
            parts = [self.atom(p, out) if p is not None else None
                     for p in (index.lower, index.upper, index.step)]
            return gast.Slice(lower=parts[0], upper=parts[1], step=parts[2])
        if isinstance(index, gast.Tuple):
            return core.tuple_(self.index(e, out) for e in index.elts)
        if isinstance(index, gast.List):
            return self.index_array(index, out)
        return self.atom(index, out)

    def index_array(self, node, out):
        """A list of indices (``x[[2, 0]]``, ``np.take(x, [2, 0])``) as the array NumPy makes of it."""
        return self.atom(core.call(core.attr("np.array"), [self.sequence(node, out, tuple_=False)]), out)

    def if_expression(self, expr, out, target=None):
        """``a if c else b`` becomes an if statement, so only one side is evaluated.

        Assigned to a name, both branches assign that name; elsewhere, a temporary.
        """
        t = target or self.temp("choice")
        test = self.atom(expr.test, out)
        body, orelse = [], []
        self.emit(body, core.assign(t, self.value(expr.body, body, t)))
        self.emit(orelse, core.assign(t, self.value(expr.orelse, orelse, t)))
        self.emit(out, gast.If(test=test, body=body, orelse=orelse))
        return core.name(t)

    def name(self, node):
        if getattr(node, "resolved", False):
            return core.name(node.id)
        if node.id in self.inner:
            raise self.refuse(f"using the nested function {node.id} other than by calling it", node)
        state = self.lists.get(node.id)
        if isinstance(state, list):
            if self.depth < self.list_depth[node.id]:
                raise self.refuse(f"reading the list {node.id} outside the branch or loop that made it", node)
            return core.tuple_(core.load(e) for e in state)
        if isinstance(state, lowering.Growing):
            raise self.refuse(f"reading the list {node.id} while the loop fills it", node)
        if node.id in self.locals:
            return core.name(node.id)
        return self.reference(self.lookup(node.id), node.id)

    def lookup(self, global_name):
        if global_name in self.bound:
            return self.bound[global_name]
        obj = resolve.lookup(self.fun, global_name)
        if resolve.is_missing(obj):
            raise SourceError(f"name {global_name!r} is not defined", self.fn.filename, self.lineno,
                              self.fn.source_line(self.lineno))
        return obj

    def reference(self, obj, hint, called_as_is=False):
        """A free name's object as generated code refers to it (``called_as_is``: a function not transformed)."""
        if hasattr(obj, "__s2s_primitive__"):  # a function with a rule of the user's, and what the rule calls
            for name, helper in obj.helpers.items():
                self.reference(helper, name, called_as_is=True)
            obj = obj.__s2s_primitive__
        if resolve.module_alias(obj):
            raise self.refuse(f"using the module {obj.__name__} as a value")
        if getattr(obj, "__s2s_outside__", None):
            raise self.refuse(obj.__s2s_outside__)
        spelled = resolve.spelling(obj)
        if spelled:
            return core.attr(spelled)
        table = self.fn.callees if _is_callee(obj) and not called_as_is else self.fn.constants
        for existing, value in table.items():
            if value is obj:
                return core.name(existing)
        taken = self.locals | set(self.fn.callees) | set(self.fn.constants)
        ref = hint if hint not in taken else self.namer.fresh(hint)
        self.namer.taken.add(ref)
        table[ref] = obj
        return core.name(ref)

    def attribute(self, expr, out):
        dotted = core.dotted_name(expr)
        root = dotted.split(".")[0] if dotted else None
        if dotted and getattr(_root(expr), "resolved", False):
            return core.load(expr)
        if root is None or root in self.locals:
            base = self.atom(expr.value, out)
            if expr.attr in _VALUE_ATTRIBUTES:
                return gast.Attribute(value=base, attr=expr.attr, ctx=gast.Load())
            if expr.attr == "T":
                return core.call(core.attr("np.transpose"), [base])
            if expr.attr in _COMPLEX_PARTS:
                raise self.refuse(f"the attribute .{expr.attr}: s2s does not support complex values", expr)
            raise self.refuse(f"the attribute .{expr.attr} of an array", expr)
        owner = obj = self.lookup(root)
        for part in dotted.split(".")[1:]:
            if not hasattr(obj, part):
                raise self.refuse(f"{dotted} (it does not exist)", expr)
            owner, obj = obj, getattr(obj, part)
        alias = resolve.module_alias(owner)
        if alias and obj is None:  # np.newaxis
            return core.const(None)
        if alias and not isinstance(obj, types.ModuleType):
            return core.attr(f"{alias}.{expr.attr}")  # as written: np.abs, np.pi, math.e
        return self.reference(obj, expr.attr)

    def call_(self, expr, out):
        if any(isinstance(a, gast.Starred) for a in expr.args) or any(k.arg is None for k in expr.keywords):
            raise self.refuse("*args or **kwargs in a call", expr)
        func = expr.func
        if isinstance(func, gast.Call) and _is_transform_factory(self.static_object(func.func)):
            return self.transform_call(func, expr, out)
        if _is_api(self.static_object(func), "jvp"):
            return self.jvp_call(expr, out)
        if isinstance(func, gast.Attribute) and not self._is_module_path(func):
            return self.method_call(func, expr, out)
        if isinstance(func, gast.Name) and func.id in self.inner:
            return self.inline(func.id, expr, out)
        for op in (sum, min, max):
            if self._resolves_to(func, op) and not self.nested:
                reduced = self.reduction(op.__name__, expr, out)
                if reduced is not None:
                    return reduced
        callee = self.value(func, out, "f")
        target = self._object_of(callee)
        if target is not None and _is_callee(target):
            specialized = self.specialized_call(target, expr)
            if specialized is not None:  # the helper's code, with the functions it is passed (its static arguments)
                target, expr = specialized
                callee = self.reference(target, target.__name__)
            return self.user_call(callee, target, expr, out)
        spelled = core.dotted_name(callee)
        if spelled in _MAKING + _JOINING and expr.args:
            first = expr.args[0]
            if isinstance(first, (gast.ListComp, gast.GeneratorExp)) and spelled in _MAKING:
                first = self.array_of(first, out, as_tuple=spelled == "np.stack")
                if isinstance(first, gast.Name):
                    return first  # a fresh array filled in a loop
            elif isinstance(first, gast.Name) and self.lists.get(first.id) == "array":  # a list filled as an array
                filled = self.filled_array(spelled, first, expr, out)
                if filled is not None:
                    return filled
            elif isinstance(first, gast.Name) and isinstance(self.lists.get(first.id), list) and spelled in _MAKING:
                first = self.name(first)
                if spelled != "np.stack":
                    first = gast.List(elts=first.elts, ctx=gast.Load())
            expr = gast.Call(func=expr.func, args=[first, *expr.args[1:]], keywords=expr.keywords)
        rule = registry.lookup_spelled(spelled)
        sequence_arg = bool(rule and rule.sequence)
        args = [self.sequence(a, out, tuple_=spelled != "np.array" and spelled != "np.asarray")
                if sequence_arg and i == 0 and isinstance(a, (gast.List, gast.Tuple))
                else self.index_array(a, out) if rule and isinstance(a, gast.List) else self.atom(a, out)
                for i, a in enumerate(expr.args)]
        keywords = [(k.arg, self.atom(k.value, out)) for k in expr.keywords]
        if spelled == "np.where" and len(args) == 1:  # NumPy's own spelling of it: not elementwise
            callee = core.attr("np.nonzero")
        if spelled == "np.matmul" and len(args) == 2 and not keywords:
            # The operator: Numba types np.matmul as a ufunc (so it fuses it into elementwise array expressions)
            # and has no implementation of it, while ``@`` takes s2s's overload for stacks of matrices.
            return gast.BinOp(left=args[0], op=gast.MatMult(), right=args[1])
        named = _AS_KEYWORDS.get(spelled, ())
        if 1 < len(args) <= 1 + len(named):
            keywords = [*zip(named, args[1:]), *keywords]
            args = args[:1]
        return core.call(callee, args, keywords)

    def filled_array(self, spelled, first, expr, out):
        """``np.stack(xs, axis)``, ``np.array(xs)`` of a list ``xs`` filled in a loop, which is an array whose
        first axis runs over the list: a copy of it, that axis moved to ``axis``; None where other arguments
        (``dtype=``) leave the call to take the array as it is."""
        axis = expr.args[1] if len(expr.args) > 1 else next((k.value for k in expr.keywords if k.arg == "axis"),
                                                             None)
        if spelled == "np.stack" and axis is not None:
            if len(expr.args) > 2 or any(k.arg != "axis" for k in expr.keywords):
                raise self.refuse("np.stack of a list filled in a loop with arguments other than the axis", expr)
            moved = core.call(core.attr("np.moveaxis"), [self.name(first), core.const(0), self.atom(axis, out)])
            return core.call(core.attr("np.copy"), [self.atom(moved, out)])
        if spelled in _JOINING:
            raise self.refuse(f"{spelled} of a list filled in a loop (s2s keeps it as one array, its elements "
                              "along a new first axis): use np.stack(xs, axis=...), then reshape", expr)
        if len(expr.args) == 1 and not expr.keywords:
            return core.call(core.attr("np.copy"), [self.name(first)])
        return None

    def transform_call(self, make, expr, out):
        """``s2s.grad(f, argnums=1)(args)``, ``s2s.vmap(f)(xs)``, ``s2s.checkpoint(f)(x)``: the transform is made
        here, once (``f`` and the options must be known: names of functions, lambdas, transforms of those,
        literals), and called as a helper."""
        target, free, _ = self.made_transform(make)
        call = gast.Call(func=expr.func, args=[*expr.args, *(core.name(n) for n in free)], keywords=expr.keywords)
        if getattr(target, "__s2s_checkpoint__", False) and self.passes_trees(call):  # its leaves, checkpointed
            return self.tree_call(target, [self.leaf_or_tree(a, out) for a in call.args],
                                  {k.arg: self.leaf_or_tree(k.value, out) for k in call.keywords}, call, out)
        if self.passes_trees(call) and not call.keywords and _is_api_object(target, "grad"):
            return self.grad_of_trees(target, call, out)
        if self.passes_trees(call) and not call.keywords:
            return self.vmap_of_trees(target, call, out)
        return self.user_call(self.reference(target, getattr(target, "__name__", "f")), target, call, out)

    def grad_of_trees(self, target, call, out):
        """``s2s.grad(loss)(params, x)`` with ``params`` a tree (a training step's gradient): the gradient of
        ``loss`` flattened, with respect to the leaves of the arguments in ``argnums``, regrouped here as their
        trees (so ``g["W"]`` reads a name)."""
        from .. import arguments
        from ..transform_objects import Grad

        values = [self.leaf_or_tree(a, out) for a in call.args]
        treedefs, leaves, widths = in_leaves(values)
        argnums = arguments.argnums_in(target.argnums, len(values))
        nums = (argnums,) if isinstance(argnums, int) else argnums
        starts = [sum(widths[:i]) for i in range(len(values))]
        leafnums = tuple(starts[a] + k for a in nums for k in range(widths[a]))
        if isinstance(argnums, int) and treedefs[argnums] is None:  # an array: its gradient alone, not a tuple
            leafnums = leafnums[0]
        inner = Grad(flattened(target.fun, treedefs), leafnums, has_aux=False, with_value=target.with_value)
        result = core.call(self.reference(inner, f"{target.fun.__name__}_grad"), [self.atom(a, out) for a in leaves])

        def regrouped(a):  # the gradient of argument a, as its tree
            names = [self.local(n) for n in tree_util.leaf_names(
                f"{target.fun.__name__}_grad", values[a] if treedefs[a] is not None else 0.0)]
            return names, treedefs[a].unflatten([core.name(n) for n in names]) if treedefs[a] else core.name(names[0])

        parts = [regrouped(a) for a in nums]
        grad_names = [core.name(n, True) for names, _ in parts for n in names]
        grads = parts[0][1] if isinstance(argnums, int) else tuple(tree for _, tree in parts)
        target_ = grad_names[0] if isinstance(leafnums, int) else core.tuple_(grad_names, store=True)
        if target.with_value:
            value = self.local(f"{target.fun.__name__}_value")
            target_ = core.tuple_([core.name(value, True), target_], store=True)
            grads = (core.name(value), grads)
        self.emit(out, core.assign(target_, result))
        return grads

    def vmap_of_trees(self, target, call, out):
        """``s2s.vmap(u, in_axes=(None, 0))(params, xs)`` with ``params`` a tree: the vmap of ``u`` flattened,
        each leaf mapped as its argument is (an int or None per argument)."""
        from .. import api

        values = [self.leaf_or_tree(a, out) for a in call.args]
        treedefs, leaves, widths = in_leaves(values)
        axes = getattr(target, "in_axes", None)
        axes = axes if isinstance(axes, tuple) else (axes,) * len(values)
        if not _is_api_object(target, "vmap") or len(axes) != len(values) \
                or not all(a is None or isinstance(a, int) for a in axes):
            raise self.refuse("a transform of trees here other than s2s.vmap with one int or None in in_axes per "
                              "argument (pass arrays, or transform a function that reads the tree)", call)
        inner = flattened(target.fun, treedefs)
        if normalize(inner).out_tree is not None:
            raise self.refuse("s2s.vmap here of a function returning a tree", call)
        mapped = api.vmap(inner, tuple(a for a, w in zip(axes, widths) for _ in range(w)), target.out_axes)
        return core.call(self.reference(mapped, f"{target.fun.__name__}_vmap"), [self.atom(a, out) for a in leaves])

    def made_transform(self, make):
        """The transform ``make`` stands for, the locals a lambda in it reads (passed after its arguments) and
        how many arguments it takes before those (None: a function named here, which reads none)."""
        factory = self.static_object(make.func)
        options = [self.literal(a) for a in make.args[1:]]
        keywords = dict((k.arg, self.literal(k.value)) for k in make.keywords)
        inner = make.args[0] if make.args else None
        free, nparams = [], None
        if isinstance(inner, gast.Lambda):  # lifted, the locals it reads passed along
            fun, free = self.lifted_lambda(inner)
            nparams = len(inner.args.args)
        elif isinstance(inner, gast.Call) and _is_transform_factory(self.static_object(inner.func)):
            fun, free, nparams = self.made_transform(inner)  # s2s.vmap(s2s.grad(lambda x: ...))
        else:
            fun = self.static_object(inner) if inner is not None else None
        if free and _is_api(factory, "vmap"):
            _broadcast_lifted(options, keywords, nparams, len(free))
        if fun is None or not callable(fun):
            raise self.refuse("a transform (s2s.grad, s2s.vmap, ...) of something other than a function named "
                              "here, a lambda or a transform of one", make)
        target = _made(factory, fun, _frozen(options), _frozen(sorted(keywords.items())))
        if _is_api_object(target, "grad") and target.has_aux:
            raise self.refuse("s2s.grad or s2s.value_and_grad with has_aux=True inside transformed code (call the "
                              "function itself for its auxiliary data)", make)
        if not _is_callee(target):
            raise self.refuse("this transform of a function s2s does not transform", make)
        return target, free, nparams

    def lifted_lambda(self, node):
        """A lambda as a function of its own (``lifting``), and the locals it reads, its last parameters."""
        free = lifting.free_locals(node, [a.id for a in node.args.args], self.locals)
        return lifting.lifted(node, self.fun, free, self.lineno), free

    def jvp_call(self, expr, out):
        """``s2s.jvp(f, (x,), (t,))`` inside transformed code: a call of ``f``'s generated JVP."""
        from .. import building
        from ..backends import PYTHON

        if len(expr.args) != 3 or expr.keywords or not all(isinstance(a, (gast.Tuple, gast.List))
                                                           for a in expr.args[1:]):
            raise self.refuse("s2s.jvp here other than as s2s.jvp(f, (primals, ...), (tangents, ...))", expr)
        fun, primals, tangents = self.static_object(expr.args[0]), expr.args[1].elts, expr.args[2].elts
        if isinstance(expr.args[0], gast.Lambda):  # the locals it reads: primals without tangents
            fun, free = self.lifted_lambda(expr.args[0])
            primals = [*primals, *(core.name(n) for n in free)]
            tangents = [*tangents, *(core.const(None) for _ in free)]
        if fun is None or len(primals) != len(tangents):
            raise self.refuse("s2s.jvp of something other than a function named here, with one tangent per "
                              "primal", expr)
        varied = tuple(not (isinstance(t, gast.Constant) and t.value is None) for t in tangents)
        name = f"{getattr(fun, '__name__', 'f')}_jvp"
        treedefs, leaves, widths = in_leaves([self.leaf_or_tree(p, out) if self.is_tree_expr(p) else p
                                              for p in primals])
        if any(t is not None for t in treedefs):  # trees it reads without tangents (a model's parameters): leaves
            if any(t is not None and m for t, m in zip(treedefs, varied)):
                raise self.refuse("s2s.jvp here with a tangent for a tree (give tangents for arrays and numbers; "
                                  "the trees it reads are held constant)", expr)
            fun, primals = flattened(fun, treedefs), leaves
            varied = tuple(m for m, w in zip(varied, widths) for _ in range(w))
            tangents = [t for t, w in zip(tangents, widths) for _ in range(w)]
        built = building.build(building.key_of(fun), "jvp", varied, len(primals), PYTHON)
        given = [p for p in primals] + [t for t, m in zip(tangents, built.tangent_mask) if m]
        callee = self.reference(built.call, name)
        return core.call(callee, [self.atom(a, out) for a in given])

    def literal(self, node):
        """The value of a literal option (an int, a tuple of ints, None, a string), or a checkpoint policy."""
        from ..checkpoint import POLICY_FACTORIES, Policy

        try:
            return ast.literal_eval(gast.gast_to_ast(node))
        except ValueError:
            if isinstance(self.static_object(node), Policy):  # s2s.checkpoint_policies.dots_saveable
                return self.static_object(node)
            if isinstance(node, gast.Call) and not node.keywords and \
                    any(self.static_object(node.func) is f for f in POLICY_FACTORIES):  # save_only_these_names("h")
                return self.static_object(node.func)(*(self.literal(a) for a in node.args))
            if isinstance(node, gast.Name) and node.id in self.locals:
                raise self.refuse(f"an option of a transform held in the local variable {node.id} (s2s reads options "
                                  "where it reads the code: write the option in the call, or give it a name at "
                                  "module level)", node) from None
            raise self.refuse("an option of a transform that is not a literal", node) from None

    def static_object(self, node):
        """The object a global name or dotted path (``s2s.checkpoint``, a closure's ``f2``) stands for, or None."""
        dotted = core.dotted_name(node)
        if dotted is None or dotted.split(".")[0] in self.locals:
            return None
        obj = self.lookup_quietly(dotted.split(".")[0])
        for part in dotted.split(".")[1:]:
            obj = getattr(obj, part, None)
        return obj

    def sequence(self, node, out, tuple_):
        elts = [self.sequence(e, out, tuple_) if isinstance(e, (gast.List, gast.Tuple)) else self.atom(e, out)
                for e in node.elts]
        return core.tuple_(elts) if tuple_ else gast.List(elts=elts, ctx=gast.Load())

    def method_call(self, func, expr, out):
        method = _METHOD_ALIASES.get(func.attr, func.attr)
        base = self.atom(func.value, out)
        args = [self.atom(a, out) for a in expr.args]
        keywords = [(k.arg, self.atom(k.value, out)) for k in expr.keywords]
        if method in _METHODS:
            return core.call(core.attr(f"np.{method}"), [base, *args], keywords)
        if method == "astype" and len(args) == 1 and not keywords:  # a copy converted: elementwise, like np.asarray
            return core.call(core.attr("np.asarray"), [base], [("dtype", args[0])])
        if method in ("reshape", "transpose"):
            if len(args) > 1:
                args = [core.tuple_(args)]
            return core.call(core.attr(f"np.{method}"), [base, *args], keywords)
        if func.attr in _GENERATOR_METHODS:
            raise self.refuse(f"the method .{func.attr}() of a random Generator (draw with np.random.{func.attr}"
                              f" after np.random.seed outside the function, or pass the draws in)", expr)
        if method in _COMPLEX_PARTS:
            raise self.refuse(f"the method .{func.attr}(): s2s does not support complex values", expr)
        raise self.refuse(f"the method .{func.attr}()", expr)

    def specialized_call(self, target, expr):
        """A call of the user's function ``target`` passing functions (``dense(x, W, np.tanh)``), or of
        ``s2s.jit(f, static_argnums=...)``, as the function specialised on those arguments and the call of it
        with the others; None where it passes none.  A static argument's value must be known here."""
        fun = resolve.user_function(target)
        if fun is None or isinstance(target, (functools.partial, types.MethodType)) or \
                getattr(target, "__s2s_checkpoint__", False):
            return None
        signature = inspect.signature(fun)
        try:
            bound = signature.bind(*expr.args, **{k.arg: k.value for k in expr.keywords})
        except TypeError:
            return None  # (reported as the bad call it is)
        static = set(getattr(getattr(target, "static", None), "names", ()))
        values = {}
        for pname, node in bound.arguments.items():
            obj = self.static_object(node)
            if callable(obj) and not isinstance(obj, type) or pname in static:
                values[pname] = obj if callable(obj) else self.static_value(node, f"static argument {pname}")
        if not values:
            return None
        rest = [k for k in bound.arguments if k not in values]
        keywords = [gast.keyword(arg=k, value=bound.arguments[k]) for k in rest]
        call = gast.Call(func=expr.func, args=[], keywords=keywords)
        return Specialized(fun, values), core.at(call, getattr(expr, "lineno", self.lineno))

    def static_value(self, node, what):
        """The value of ``node`` where s2s reads the code (a literal, a constant, a static argument)."""
        try:
            return ast.literal_eval(gast.gast_to_ast(node))
        except ValueError:
            try:
                return self.known_value(node)
            except LookupError:
                raise self.refuse(f"a {what} whose value is not known where s2s reads the code", node) from None

    def user_call(self, callee, target, expr, out):
        """A call to the user's own function, with arguments in its parameter order."""
        fun = target.func if isinstance(target, functools.partial) else \
            target if isinstance(target, (types.MethodType, Specialized)) else resolve.user_function(target)
        args = [self.atom(a, out) for a in expr.args]
        keywords = {k.arg: self.atom(k.value, out) for k in expr.keywords}
        if isinstance(target, functools.partial):
            return core.call(callee, args, list(keywords.items()))
        try:
            bound = inspect.signature(fun).bind(*args, **keywords)
        except TypeError as e:
            raise SourceError(f"bad call to {fun.__name__}: {e}", self.fn.filename, self.lineno,
                              self.fn.source_line(self.lineno)) from None
        params = inspect.signature(fun).parameters
        full = []
        for pname, param in params.items():
            if pname in bound.arguments:
                full.append(bound.arguments[pname])
            else:
                full.append(self._default(param.default, pname))
        return core.call(callee, full)

    def _default(self, value, pname):
        if isinstance(value, (int, float, bool)) or value is None:
            return core.const(value)
        return self.reference(value, pname)

    def canonical(self, expr):
        """``expr`` with names resolved but its nesting kept (tests, boolean operators)."""
        saved, self.nested = self.nested, True
        try:
            return self.value(expr, _Sink(self, expr))
        finally:
            self.nested = saved

    # -- helpers -------------------------------------------------------------

    def _object_of(self, callee):
        if isinstance(callee, gast.Name):
            return self.fn.callees.get(callee.id) or self.fn.constants.get(callee.id)
        dotted = core.dotted_name(callee)
        return resolve.resolve_spelling(dotted) if dotted else None

    def _is_module_path(self, node) -> bool:
        """A dotted name rooted at a global (``np.sin``, ``cfg.alpha``), not a method of a local."""
        dotted = core.dotted_name(node)
        return dotted is not None and dotted.split(".")[0] not in self.locals

    def _resolves_to(self, func, obj) -> bool:
        return isinstance(func, gast.Name) and func.id not in self.locals \
            and resolve.lookup(self.fun, func.id) is obj

    def _hint(self, node) -> str:
        """A name for the temporary holding ``node``: what it is, in a word or two."""
        if isinstance(node, gast.Name):
            return node.id
        if core.is_constant(node):
            return _const_word(node)
        if isinstance(node, gast.Call):
            fname = (core.dotted_name(node.func) or "f").split(".")[-1]
            if node.args and isinstance(node.args[0], gast.Name) and len(node.args[0].id) <= 8:
                return f"{fname}_{node.args[0].id}"
            return fname
        if isinstance(node, gast.BinOp):
            left = _const_word(node.left, leading=True) if core.is_constant(node.left) else self._hint(node.left)
            hint = f"{left}_{_OP_WORDS[type(node.op)]}_{self._hint(node.right)}"
            simple = all(core.is_constant(n) or (isinstance(n, gast.Name) and n.id not in self.temps)
                         for n in (node.left, node.right))
            return hint if simple and len(hint) <= 16 else _OP_NOUNS[type(node.op)]
        if isinstance(node, gast.Subscript):
            base = self._hint(node.value)
            if isinstance(node.slice, (gast.Name, gast.Constant)):
                return f"{base}_{self._hint(node.slice)}"
            return f"{base}_part"
        if isinstance(node, gast.Attribute):
            return f"{self._hint(node.value)}_{node.attr}"
        if isinstance(node, gast.UnaryOp) and isinstance(node.operand, gast.Name):
            return f"neg_{node.operand.id}"
        if isinstance(node, gast.Compare) and len(node.ops) == 1:
            word = _COMPARE_WORDS.get(type(node.ops[0]), "vs")
            hint = f"{self._hint(node.left)}_{word}_{self._hint(node.comparators[0])}"
            return hint if len(hint) <= 16 else "test"
        return "value"


#: The transforms that code s2s transforms may make and call (``s2s.grad(f)(x)``).
_TRANSFORM_FACTORIES = ("grad", "value_and_grad", "vmap", "jacfwd", "jacrev", "hessian", "jit", "checkpoint",
                        "remat")


def _is_api_object(obj, label) -> bool:
    """A transform object made by ``s2s.<label>`` (``vmap``)."""
    return getattr(obj, "label", None) == label and hasattr(obj, "emit")


def _is_api(obj, name) -> bool:
    import s2s

    return obj is not None and obj is getattr(s2s, name, None)


def _is_transform_factory(obj) -> bool:
    return any(_is_api(obj, name) for name in _TRANSFORM_FACTORIES)


def _broadcast_lifted(options, keywords, nparams, nfree):
    """``vmap``'s ``in_axes`` for a lifted lambda: the locals it reads are passed whole to every example."""
    in_axes = options[0] if options else keywords.get("in_axes", 0)
    in_axes = tuple(in_axes) if isinstance(in_axes, (tuple, list)) else (in_axes,) * nparams
    if options:
        options[0] = in_axes + (None,) * nfree
    else:
        keywords["in_axes"] = in_axes + (None,) * nfree


_KNOWN_UNARY = {gast.Not: operator.not_, gast.USub: operator.neg}
_KNOWN_BINARY = {gast.Add: operator.add, gast.Sub: operator.sub, gast.Mult: operator.mul,
                 gast.FloorDiv: operator.floordiv, gast.Mod: operator.mod, gast.Lt: operator.lt,
                 gast.LtE: operator.le, gast.Gt: operator.gt, gast.GtE: operator.ge, gast.Eq: operator.eq,
                 gast.NotEq: operator.ne}


def _frozen(value):
    """Options as a hashable key (lists as tuples)."""
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value


@functools.lru_cache(maxsize=None)
def _made(factory, fun, options, keywords):
    """One transform object per factory, function and options, so that every call of it is one helper."""
    return factory(fun, *options, **dict(keywords))


def _root(node):
    while isinstance(node, gast.Attribute):
        node = node.value
    return node


def _is_callee(obj) -> bool:
    """A function s2s transforms with its caller: the user's own (functions, partials, bound methods).

    A function with a rule of its own is a primitive; a library's function (installed packages, the
    standard library) runs as it is, and only a differentiated argument makes s2s refuse it.
    """
    if isinstance(obj, types.MethodType):
        obj = obj.__func__
    if getattr(obj, "__s2s_checkpoint__", False):
        obj = obj.__s2s_function__
    plain = obj.func if isinstance(obj, functools.partial) else obj
    if getattr(obj, "__s2s_outside__", None):  # refused where it is named (``reference``)
        return False
    if isinstance(obj, (Flattened, Specialized)):
        return True
    return (resolve.user_function(obj) is not None or isinstance(obj, functools.partial)) \
        and registry.lookup(obj) is None and not resolve.is_library(plain)


def _const_word(node, leading=False) -> str:
    """How a constant reads in a name: ``2`` in ``x_over_2``; ``two``, ``minus_half`` at the start of one."""
    negative = isinstance(node, gast.UnaryOp)
    value = node.operand.value if negative else node.value
    if leading:
        word = _NUMBER_WORDS.get(value, "c")
        return f"minus_{word}" if negative else word
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = ("m" if negative else "") + str(value).replace(".", "_")
    return text if len(text) <= 6 else "c"


class _Sink(list):
    """Statement sink for canonical expressions: nothing may be emitted into it."""

    def __init__(self, normalizer, node):
        super().__init__()
        self.normalizer, self.node = normalizer, node

    def append(self, stmt):
        raise self.normalizer.refuse(
            "a nested expression inside this condition (compute it in a statement before the loop "
            "or the condition)", self.node)
