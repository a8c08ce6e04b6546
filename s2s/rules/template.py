"""Rule templates: small Python functions whose body is the code to emit.

A template such as ::

    def sin(x):
        return np.cos(x) * x_dot

is parsed once.  Instantiating it substitutes the primitive's operands for its
parameters, their tangents for ``<param>_dot`` and the primitive's result for
``ans``.  A tangent that is known to be zero enters as a :class:`Zero` and is
simplified away (``Zero * y`` is ``Zero``, ``a + Zero`` is ``a``), so derivative
code never carries ``0.0 * ...`` noise.
"""

from __future__ import annotations

import ast
import inspect
import operator
import textwrap

import gast

from .. import core
from ..frontend.resolve import resolve_spelling, spelling
from .shapes import constant

class Zero(gast.expr):
    """A tangent (or cotangent) known to be zero; ``primal`` is the value it belongs to."""

    _fields = ()

    def __init__(self, primal=None):
        super().__init__()
        self.primal = primal


def is_zero(node) -> bool:
    return isinstance(node, Zero)


class Template:
    """A parsed rule template, ready to be instantiated at a call site."""

    def __init__(self, fn, only=None, fdef=None, env=None):
        """``fdef``: the template's definition where it is not ``fn``'s own source (rules s2s writes for
        ``custom_jvp``); ``env``: names it uses for objects the calling code binds (the user's functions)."""
        self.fn, self.only, self.env = fn, dict(only or {}), dict(env or {})
        fdef = fdef or _definition(fn)
        body = [s for s in fdef.body if not (isinstance(s, gast.Expr) and isinstance(s.value, gast.Constant))]
        if len(body) != 1 or not isinstance(body[0], gast.Return):
            raise ValueError(f"template {fn.__name__} must be a single return statement")
        self.expr = body[0].value
        self.params = [a.id for a in fdef.args.args]
        self.defaults = dict(zip(self.params[len(self.params) - len(fdef.args.defaults):],
                                 [constant(d) for d in fdef.args.defaults]))
        used = self.names = core.names_in(self.expr)
        for node in gast.walk(self.expr):
            if isinstance(node, gast.Call):
                node.tangent_slots = [i for i, a in enumerate(node.args)
                                      if any(n.endswith("_dot") for n in core.names_in(a))]
        self.differentiable = [p for p in self.params if f"{p}_dot" in used]

    def bind(self, args, keywords) -> dict:
        """Parameter name → operand node (absent parameters are left out)."""
        bound = dict(zip(self.params, args))
        for k, v in keywords.items():
            if k in self.params:
                bound[k] = v
        return bound

    def unsupported(self, args, keywords) -> str | None:
        """What in a call this template cannot account for (its rule would be wrong), or None."""
        if len(args) > len(self.params):
            return f"{len(args)} positional arguments"
        extra = [k for k in keywords if k not in self.params]
        if extra:
            return f"the argument {extra[0]}="
        bound = self.bind(args, keywords)
        for k, v in self.only.items():
            given = bound.get(k)
            if not (isinstance(given, gast.Constant) and given.value is v):
                return f"{k} other than the literal {v!r}"
        return None

    def instantiate(self, args, keywords, tangent_of, ans=None, scalar_family=False, constants=None):
        """The template's expression for these operands, simplified (``constants``: the calling code's bound
        names, where the template's ``env`` objects are found)."""
        bound = self.bind(args, keywords)
        mapping = _bound_names(self.env, constants)
        for p in self.params:
            if p in bound:
                mapping[p] = bound[p]
            elif self.defaults.get(p) is not None:
                mapping[p] = core.const(self.defaults[p])
            if f"{p}_dot" in self.names:
                mapping[f"{p}_dot"] = tangent_of(bound[p]) if p in bound else Zero()
        if ans is not None and "ans" not in self.params:  # (a parameter of that name is an operand)
            mapping["ans"] = ans
        absent = set(self.params) - set(mapping)
        expr = _Respell(self.fn.__globals__, scalar_family, absent).visit(core.clone(self.expr))
        mapping.update({p: core.const(None) for p in absent})  # where it could not be left out
        return simplify(core.substitute(expr, mapping))


class TransposeTemplate:
    """A transposition rule: one cotangent contribution per parameter, written with ``ct``.

    ::

        def mul(x, y):
            return ct * y, x * ct

    Only the entries of the parameters that carry tangents are used.  There, the
    parameter's own name stands for its primal value (a shape to match); the
    other parameters stand for their operands.  ``index`` is the position of an
    element when the parameter is a tuple of tangents (``np.concatenate``).
    """

    def __init__(self, fn, elementwise=False, fdef=None, env=None, shared=()):
        self.fn, self.elementwise, self.env = fn, elementwise, dict(env or {})
        #: (name, expression) pairs the entries read by name: computed once per transposed statement, in order
        #: (``custom_vjp``: the residuals, then every cotangent at once).
        self.shared = tuple(shared)
        fdef = fdef or _definition(fn)
        body = [s for s in fdef.body if not (isinstance(s, gast.Expr) and isinstance(s.value, gast.Constant))]
        if len(body) != 1 or not isinstance(body[0], gast.Return):
            raise ValueError(f"transpose template {fn.__name__} must be a single return statement")
        value = body[0].value
        self.entries = value.elts if isinstance(value, gast.Tuple) else [value]
        self.params = [a.id for a in fdef.args.args]
        self.defaults = dict(zip(self.params[len(self.params) - len(fdef.args.defaults):],
                                 [constant(d) for d in fdef.args.defaults]))

    def bind(self, args, keywords) -> dict:
        return Template.bind(self, args, keywords)

    def needs_primal(self, param) -> bool:
        """Does the entry of a parameter carrying tangents mention its primal value?"""
        entry = self.entries[self.params.index(param)]
        return param in core.names_in(entry)

    def contribution(self, param, operands: dict, ct, primal=None, index=None, constants=None, shared=None):
        """The cotangent contribution to ``param``; ``operands`` are the bound operands of the others,
        ``shared`` the names the calling code gave the ``shared`` values."""
        entry = self.entries[self.params.index(param)]
        if isinstance(entry, gast.Constant) and entry.value is None:
            return None
        mapping = {**self._mapping(operands, ct, {param: primal}, constants), **(shared or {})}
        if index is not None:
            mapping["index"] = core.const(index)
        return self._instantiated(entry, mapping, operands, {param})

    def shared_values(self, operands: dict, ct, primals: dict, constants, named):
        """Each ``shared`` value instantiated, for the calling code to bind to a name and add to ``named``
        (which the later ones, and the entries, read); ``primals`` are the linear parameters' primal values."""
        for name, value in self.shared:
            mapping = {**self._mapping(operands, ct, primals, constants), **named}
            yield name, self._instantiated(value, mapping, operands, set(primals))

    def _mapping(self, operands, ct, primals, constants) -> dict:
        mapping = {"ct": ct, **_bound_names(self.env, constants)}
        for p in self.params:
            if p in primals:
                if primals[p] is not None:
                    mapping[p] = primals[p]
            elif p in operands:
                mapping[p] = operands[p]
            else:
                mapping[p] = core.const(self.defaults.get(p))
        return mapping

    def _instantiated(self, expr, mapping, operands, linear):
        absent = {p for p in self.params if p not in operands and p not in linear and self.defaults.get(p) is None}
        expr = _Respell(self.fn.__globals__, False, absent).visit(core.clone(expr))
        return simplify(core.substitute(expr, mapping))


def _definition(fn):
    return gast.parse(textwrap.dedent(inspect.getsource(fn))).body[0]


def _bound_names(env, constants) -> dict:
    """Template name → the calling code's name for the same object (``env``'s objects are among its
    ``constants``: the front end binds them where it meets a call of a function with a rule of the user's)."""
    mapping = {}
    for name, obj in env.items():
        found = [k for k, v in (constants or {}).items() if v is obj]
        if not found:
            raise RuntimeError(f"s2s internal error: {name} of a derivative rule is not bound in the calling code")
        mapping[name] = core.name(found[0])
    return mapping


def _math_twin(obj) -> str | None:
    """``"math.cos"`` for ``np.cos``: scalar rules call the ``math`` twin, so scalar code stays scalar."""
    from .registry import lookup  # (the registry is built from templates)

    rule = lookup(obj)
    twin = spelling(rule.twin) if rule and rule.twin is not None else None
    return twin if twin and twin.startswith("math.") else None


class _Respell(gast.NodeTransformer):
    """Spell template references as generated code does; drop keywords of absent parameters."""

    def __init__(self, env, scalar_family, absent):
        self.env, self.scalar_family, self.absent = env, scalar_family, absent

    def visit_Attribute(self, node):
        dotted = core.dotted_name(node)
        if dotted and dotted.split(".")[0] in ("np", "math"):
            obj = self.env[dotted.split(".")[0]]
            for part in dotted.split(".")[1:]:
                obj = getattr(obj, part)
            twin = _math_twin(obj) if self.scalar_family else None
            return core.attr(twin or dotted)
        return self.generic_visit(node)

    def visit_Call(self, node):
        def absent(arg):
            return isinstance(arg, gast.Name) and arg.id in self.absent

        node.keywords = [k for k in node.keywords if not absent(k.value)]
        while node.args and absent(node.args[-1]):
            node.args.pop()
        return self.generic_visit(node)


# -- simplification ---------------------------------------------------------

_FOLD = {gast.Add: operator.add, gast.Sub: operator.sub, gast.Mult: operator.mul,
         gast.Div: operator.truediv, gast.Pow: operator.pow}


def _const(node):
    if isinstance(node, gast.Constant) and type(node.value) in (int, float):
        return node.value
    if (isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub)
            and isinstance(node.operand, gast.Constant) and type(node.operand.value) in (int, float)):
        return -node.operand.value
    return None


def _is_int_zero(node) -> bool:
    """The integer ``0`` (adding it changes nothing; adding ``0.0`` may change a dtype)."""
    return isinstance(node, gast.Constant) and type(node.value) is int and node.value == 0


class _Simplify(gast.NodeTransformer):
    """Prune zeros and fold the constant arithmetic that templates leave behind."""

    def visit_BinOp(self, node):
        self.generic_visit(node)
        left, right, op = node.left, node.right, node.op
        if isinstance(op, gast.Add):
            if is_zero(left):
                return right
            if is_zero(right):
                return left
        if isinstance(op, gast.Sub):
            if is_zero(right):
                return left
            if is_zero(left):
                return self.visit_UnaryOp(gast.UnaryOp(op=gast.USub(), operand=right))
        if isinstance(op, (gast.Mult, gast.MatMult)) and (is_zero(left) or is_zero(right)):
            return Zero()
        if isinstance(op, (gast.Div, gast.FloorDiv, gast.Mod)) and is_zero(left):
            return Zero()
        lc, rc = _const(left), _const(right)
        if lc is not None and rc is not None and type(op) in _FOLD:
            try:
                return core.const(_FOLD[type(op)](lc, rc))
            except (ZeroDivisionError, OverflowError):
                return node
        if isinstance(op, gast.Add) and _is_int_zero(left):
            return right
        if isinstance(op, (gast.Add, gast.Sub)) and _is_int_zero(right):
            return left
        if isinstance(op, gast.Mult) and lc == 1:
            return right
        if isinstance(op, (gast.Mult, gast.Div, gast.Pow)) and rc == 1:
            return left
        if isinstance(op, gast.Mult) and lc == -1:
            return self.visit_UnaryOp(gast.UnaryOp(op=gast.USub(), operand=right))
        return node

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, (gast.USub, gast.UAdd)) and is_zero(node.operand):
            return Zero()
        if isinstance(node.op, gast.USub) and isinstance(node.operand, gast.UnaryOp) \
                and isinstance(node.operand.op, gast.USub):
            return node.operand.operand
        c = _const(node.operand)
        if isinstance(node.op, gast.USub) and c is not None:
            return core.const(-c)
        return node

    def visit_Call(self, node):
        # A template is linear in the tangents, so a call whose tangent
        # arguments are all zero is zero.
        self.generic_visit(node)
        slots = getattr(node, "tangent_slots", None)
        if slots and all(is_zero(node.args[i]) for i in slots):
            return Zero()
        return _folded(node)

    def visit_Subscript(self, node):
        self.generic_visit(node)
        if is_zero(node.value):
            return Zero()
        if isinstance(node.value, gast.Tuple) and isinstance(node.slice, gast.Constant) \
                and type(node.slice.value) is int and -len(node.value.elts) <= node.slice.value < len(node.value.elts):
            return node.value.elts[node.slice.value]  # an element of a tuple of tangents
        return node

    def _all_zero(self, node):
        self.generic_visit(node)
        return Zero() if node.elts and all(is_zero(e) for e in node.elts) else node

    visit_Tuple = visit_List = _all_zero

    def visit_IfExp(self, node):
        self.generic_visit(node)
        return Zero() if is_zero(node.body) and is_zero(node.orelse) else node


def _folded(call):
    """A call to a helper marked ``fold`` (string work on einsum subscripts, negated shifts) on literals: its
    value, now.

    Generated code then spells the derived value as a literal, as Numba needs einsum's subscripts.
    """
    dotted = core.dotted_name(call.func)
    fn = resolve_spelling(dotted) if dotted else None
    if not getattr(fn, "fold", False) or call.keywords:
        return call
    try:
        args = [ast.literal_eval(gast.gast_to_ast(a)) for a in call.args]
    except ValueError:  # not all literals: the helper runs with the generated code
        return call
    value = fn(*args)
    return core.tuple_([core.const(v) for v in value]) if isinstance(value, tuple) else core.const(value)


def simplify(expr):
    return _Simplify().visit(expr)


def materialize(expr, zero_of):
    """Replace the zeros left inside ``expr`` by concrete values, ``zero_of(primal)``."""

    class _Fill(gast.NodeTransformer):
        def visit_Zero(self, node):
            return zero_of(node.primal)

    return _Fill().visit(expr)

