"""``custom_jvp`` and ``custom_vjp``: derivative rules the user writes for their own functions, as in JAX.

The rule, not the body, defines the derivative in every transform.  s2s reads a rule's source and
turns it into an entry of the rule table (``rules.registry``) for the function, which then is a
primitive that generated code calls as it is:

- a ``custom_jvp`` rule becomes the function's JVP template: its tangent output, written in terms of
  the primals, their tangents and the primal output (``ans``).  It must be straight-line code and
  linear in the tangents (reverse mode transposes it); s2s checks both when the rule is defined.
- a ``custom_vjp`` function's JVP is an opaque function linear in the tangents, whose transpose is
  ``bwd(fwd(primals)[1], ct)``: reverse mode runs ``fwd`` again in the backward pass, from the primals
  it saves, rather than taping the residuals.  Forward mode has no rule, as in JAX.

Use these for your own functions; ``s2s.defjvp`` stays for giving a library function (NumPy, SciPy)
a rule.
"""

from __future__ import annotations

import functools
import inspect

import gast
from . import core
from .backends.deferred import when_loaded
from .errors import S2SError
from .frontend import resolve
from .frontend.parse import parse_function, short_filename
from .rules import registry
from .rules.template import Template, TransposeTemplate
from .shipping import Shipped


class _Custom(Shipped):
    """A function with a rule of the user's: callable as the function, a primitive of the rule table."""

    def __init__(self, fun, nondiff_argnums=()):
        functools.update_wrapper(self, fun)
        self.fun, self.nondiff_argnums = fun, tuple(nondiff_argnums)
        self.helpers = {}  # names the rule's templates use → the user's functions they call
        self.rule = None  # the method that defined the rule, and its arguments

    def __getstate__(self):
        """Pickled as the function and its rule's definition: the rule table is the process's own."""
        return self.fun, self.nondiff_argnums, self.rule

    def __setstate__(self, state):
        sources, (fun, nondiff_argnums, rule) = state
        self.__init__(fun, nondiff_argnums)
        self.rule = rule
        sources.restore(self)  # (the rule's functions among its own: restored before s2s reads them)
        if rule is not None:
            getattr(self, rule[0])(*rule[1])

    def __call__(self, *args, **kwargs):
        return self.fun(*args, **kwargs)

    @property
    def __s2s_primitive__(self):
        """What generated code calls (the function itself: compiled by Numba like any other)."""
        return self.fun

    @property
    def params(self) -> list:
        return list(inspect.signature(self.fun).parameters)


class custom_jvp(_Custom):
    """``fun`` with a JVP rule of the user's: ``defjvp(rule)`` or ``defjvps(*tangent_rules)``.

    ``rule(primals, tangents)`` returns ``(primal_out, tangent_out)``; ``nondiff_argnums`` name
    arguments the rule takes first, as they are, with no tangents.
    """

    def defjvp(self, jvp, symbolic_zeros=False):
        self.rule = ("defjvp", (jvp,))
        reader = _RuleReader(jvp, self)
        tangent = reader.jvp_rule(self.nondiff_argnums)
        self._register(jvp, tangent, reader)
        return jvp

    def defjvps(self, *tangent_rules):
        """One rule per argument, ``rule(tangent, primal_out, *primals)``: its contribution to the output
        tangent (None: the argument has none)."""
        if len(tangent_rules) != len(self.params):
            raise TypeError(f"defjvps takes one rule per argument of {self.__name__} ({len(self.params)}), "
                            f"got {len(tangent_rules)}")
        self.rule = ("defjvps", tangent_rules)
        parts, reader = [], None
        for param, rule in zip(self.params, tangent_rules):
            if rule is not None:
                reader = _RuleReader(rule, self)
                parts.append(reader.tangent_rule(param))
        tangent = functools.reduce(lambda a, b: gast.BinOp(left=a, op=gast.Add(), right=b), parts)
        self._register(tangent_rules[0], tangent, reader)

    def _register(self, rule, tangent, reader):
        reader.check_linear(tangent)
        self.helpers.update(reader.helpers)
        fdef = _definition(self.fun.__name__, self.params, tangent)
        registry.set_jvp(self.fun, Template(rule, fdef=fdef, env=reader.helpers))


class custom_vjp(_Custom):
    """``fun`` with a VJP rule of the user's: ``defvjp(fwd, bwd)``, with JAX's signatures.

    ``fwd(*primals)`` returns ``(primal_out, residuals)``; ``bwd(residuals, ct)`` returns one cotangent
    per argument, as a tuple.  With ``nondiff_argnums``, ``bwd`` takes those arguments first and returns
    cotangents for the others only.
    """

    def defvjp(self, fwd, bwd, symbolic_zeros=False):
        self.rule = ("defvjp", (fwd, bwd))
        params, name = self.params, self.__name__
        diff = [p for i, p in enumerate(params) if i not in self.nondiff_argnums]
        nondiff = [core.name(params[i]) for i in self.nondiff_argnums]
        linear = _forward_mode_refused(name)
        self.helpers = {f"{name}_tangent": linear, f"{name}_fwd": fwd, f"{name}_bwd": bwd}
        dots = [f"{p}_dot" for p in diff]
        call = core.call(core.name(f"{name}_tangent"), [core.name(p) for p in params + dots])
        registry.set_jvp(self.fun, Template(fwd, fdef=_definition(name, params, call), env=self.helpers))
        # fwd runs again, once, for the residuals bwd takes; bwd once, for every argument's cotangent.
        residuals = gast.Subscript(value=core.call(core.name(f"{name}_fwd"), [core.name(p) for p in params]),
                                   slice=core.const(1), ctx=gast.Load())
        cotangents = core.call(core.name(f"{name}_bwd"), [*nondiff, core.name(f"{name}_residuals"), core.name("ct")])
        entries = [core.const(None)] * len(params) + [
            gast.Subscript(value=core.name(f"{name}_cts"), slice=core.const(i), ctx=gast.Load())
            for i in range(len(diff))]
        transpose = _definition(f"{name}_tangent", params + dots, core.tuple_(entries))
        shared = ((f"{name}_residuals", residuals), (f"{name}_cts", cotangents))
        registry.set_transpose(linear, TransposeTemplate(bwd, fdef=transpose, env=self.helpers, shared=shared))


def _forward_mode_refused(name):
    """The tangent of a ``custom_vjp`` function's output: it has only a transpose, so forward mode
    (``jvp``, ``linearize``'s ``f_jvp``) raises, as JAX's does."""
    message = f"can't apply forward-mode autodiff (jvp) to the custom_vjp function {name}: use grad or vjp"

    def tangent(*args):
        raise TypeError(message)

    tangent.__name__ = f"{name}_tangent"
    return tangent


def _definition(name, params, expr):
    """``def name(params): return expr``, as a template's definition."""
    args = gast.arguments(args=[core.name(p) for p in params], posonlyargs=[], vararg=None, kwonlyargs=[],
                          kw_defaults=[], kwarg=None, defaults=[])
    return gast.FunctionDef(name=name, args=args, body=[gast.Return(value=expr)], decorator_list=[],
                            returns=None, type_comment=None, type_params=[])


class _RuleReader:
    """A rule's source as one tangent expression: straight-line assignments substituted into what it
    returns, its parameters renamed to the function's, global names resolved."""

    def __init__(self, rule, custom):
        self.rule, self.custom = rule, custom
        parsed = parse_function(rule)
        self.node, self.filename, self.lines = parsed.node, short_filename(parsed.filename), parsed.lines
        self.helpers = {}
        self.sequences = {}  # the rule's primals and tangents parameters → the elements they hold

    def error(self, message, node):
        lineno = getattr(node, "lineno", self.node.lineno)
        return S2SError(f"{self.filename}:{lineno}: {message}\n    {self.lines.get(lineno, '').strip()}")

    def jvp_rule(self, nondiff) -> gast.expr:
        """The tangent output of ``rule(*nondiff_args, primals, tangents)``."""
        params = self.custom.params
        names = [a.id for a in self.node.args.args]
        if len(names) != len(nondiff) + 2:
            raise self.error(f"a custom_jvp rule takes {len(nondiff) + 2} parameters "
                             "(the nondiff arguments, primals, tangents)", self.node)
        env = {n: core.name(params[i]) for n, i in zip(names, nondiff)}
        primals, tangents = names[len(nondiff):]
        diff = [p for i, p in enumerate(params) if i not in nondiff]
        sequences = self.sequences = {primals: [core.name(p) for p in diff],
                                      tangents: [core.name(f"{p}_dot") for p in diff]}
        body = [s for s in self.node.body if not (isinstance(s, gast.Expr) and isinstance(s.value, gast.Constant))]
        for stmt in body[:-1]:
            if not isinstance(stmt, gast.Assign) or len(stmt.targets) != 1:
                raise self.error("s2s reads custom_jvp rules as straight-line assignments and one return", stmt)
            self.assign(stmt.targets[0], stmt.value, env, sequences)
        last = body[-1] if body else self.node
        if not (isinstance(last, gast.Return) and isinstance(last.value, gast.Tuple) and len(last.value.elts) == 2):
            raise self.error("a custom_jvp rule ends with 'return primal_out, tangent_out'", last)
        primal_out = self.substitute(last.value.elts[0], env)
        tangent = self.substitute(last.value.elts[1], env)
        return self.resolve(_ans_for(tangent, primal_out, self.custom, params))

    def tangent_rule(self, param) -> gast.expr:
        """The contribution of ``rule(tangent, primal_out, *primals)`` (a def or a lambda) for ``param``."""
        names = [a.id for a in self.node.args.args]
        params = self.custom.params
        if len(names) != len(params) + 2:
            raise self.error(f"a defjvps rule takes {len(params) + 2} parameters (the tangent, the primal "
                             "output, the primals)", self.node)
        env = {names[0]: core.name(f"{param}_dot"), names[1]: core.name("ans"),
               **{n: core.name(p) for n, p in zip(names[2:], params)}}
        if isinstance(self.node, gast.Lambda):
            expr = self.node.body
        else:
            body = [s for s in self.node.body if not (isinstance(s, gast.Expr) and isinstance(s.value, gast.Constant))]
            for stmt in body[:-1]:
                if not isinstance(stmt, gast.Assign) or len(stmt.targets) != 1:
                    raise self.error("s2s reads defjvps rules as straight-line assignments and one return", stmt)
                self.assign(stmt.targets[0], stmt.value, env, {})
            expr = body[-1].value
        return self.resolve(self.substitute(expr, env))

    def assign(self, target, value, env, sequences):
        if isinstance(value, gast.Name) and value.id in sequences:
            elements = sequences[value.id]
            if isinstance(target, (gast.Tuple, gast.List)):
                if len(target.elts) != len(elements):
                    raise self.error(f"unpacking {value.id} into {len(target.elts)} names; it holds {len(elements)}",
                                     target)
                for t, e in zip(target.elts, elements):
                    env[t.id] = e
                return
        if isinstance(value, gast.Subscript) and isinstance(value.value, gast.Name) \
                and value.value.id in sequences and isinstance(value.slice, gast.Constant):
            value = sequences[value.value.id][value.slice.value]
        if isinstance(target, (gast.Tuple, gast.List)) and isinstance(value, gast.Tuple):
            for t, v in zip(target.elts, value.elts):
                self.assign(t, v, env, sequences)
            return
        if not isinstance(target, gast.Name):
            raise self.error("s2s reads rules whose assignments bind names (or unpack primals and tangents)",
                             target)
        env[target.id] = self.substitute(value, env)

    def substitute(self, expr, env):
        """``expr`` with the rule's names replaced, ``primals[i]`` and ``tangents[i]`` included."""
        sequences = self.sequences

        class Elements(gast.NodeTransformer):
            def visit_Subscript(self, node):
                if isinstance(node.value, gast.Name) and node.value.id in sequences \
                        and isinstance(node.slice, gast.Constant) and isinstance(node.slice.value, int):
                    return core.clone(sequences[node.value.id][node.slice.value])
                return self.generic_visit(node)

        return core.substitute(Elements().visit(core.clone(expr)), env)

    def resolve(self, expr):
        """Global names as generated code spells them: NumPy and ``math`` as such, numbers as literals,
        the user's functions as helpers bound where the rule is used."""
        own = set(self.custom.params) | {f"{p}_dot" for p in self.custom.params} | {"ans"}

        class Resolve(gast.NodeTransformer):
            def visit_Attribute(inner, node):
                return node if core.dotted_name(node) else inner.generic_visit(node)

            def visit_Name(inner, node):
                if node.id in own:
                    return node
                obj = resolve.lookup(self.rule, node.id)
                if resolve.is_missing(obj):
                    raise self.error(f"name {node.id!r} is not defined", node)
                if isinstance(obj, (int, float)) and not isinstance(obj, bool):
                    return core.const(obj)
                if resolve.module_alias(obj):
                    return core.name(resolve.module_alias(obj))
                spelled = resolve.spelling(obj)
                if spelled:
                    return core.attr(spelled)
                if callable(obj):
                    target = getattr(obj, "__s2s_primitive__", obj)
                    self.helpers[node.id] = target
                    return node
                raise self.error(f"the rule reads {node.id}, which is neither a number nor a function", node)

        return Resolve().visit(expr)

    def check_linear(self, tangent):
        """Refuse a rule that is not linear in the tangents: reverse mode transposes it."""
        dots = {f"{p}_dot" for p in self.custom.params}
        problem = _nonlinear(tangent, dots, self.helpers)
        if problem is not None:
            raise self.error(f"the rule's tangent is not linear in the tangents ({problem}): reverse mode "
                             "needs a linear tangent", self.node)


def _ans_for(tangent, primal_out, custom, params):
    """``tangent`` with the primal output (as the rule computes it, or a call of the function itself) read
    as ``ans``: the result generated code already has."""
    computed = core.structure(primal_out) if not core.is_atom(primal_out) else None

    def is_output(node) -> bool:
        if computed is not None and core.structure(node) == computed:
            return True
        return isinstance(node, gast.Call) and isinstance(node.func, gast.Name) \
            and resolve.lookup(custom.fun, node.func.id) is custom and not node.keywords \
            and [getattr(a, "id", None) for a in node.args] == params

    class Ans(gast.NodeTransformer):
        def visit(self, node):
            if isinstance(node, gast.expr) and is_output(node):
                return core.name("ans")
            return super().visit(node)

    return Ans().visit(tangent)


def _nonlinear(expr, dots, helpers) -> str | None:
    """What makes ``expr`` non-linear in the names ``dots`` (None where it is linear, or free of them)."""
    def has(node):
        return bool(core.names_in(node) & dots)

    def check(node):
        if not has(node):
            return None
        if isinstance(node, gast.Name):
            return None
        if isinstance(node, gast.BinOp):
            left, right = has(node.left), has(node.right)
            if isinstance(node.op, (gast.Add, gast.Sub)):
                if left != right:
                    return "a tangent plus a value that is not one"
                return check(node.left) or check(node.right)
            if isinstance(node.op, (gast.Mult, gast.MatMult)):
                if left and right:
                    return "a product of tangents"
                return check(node.left if left else node.right)
            if isinstance(node.op, gast.Div) and not right:
                return check(node.left)
            return f"the operator {type(node.op).__name__} on a tangent"
        if isinstance(node, gast.UnaryOp) and isinstance(node.op, (gast.USub, gast.UAdd)):
            return check(node.operand)
        if isinstance(node, gast.Subscript) and not has(node.slice):
            return check(node.value)
        if isinstance(node, gast.IfExp) and not has(node.test):
            return check(node.body) or check(node.orelse)
        if isinstance(node, (gast.Tuple, gast.List)):
            return next((p for p in map(check, node.elts) if p), None)
        if isinstance(node, gast.Call):
            dotted = core.dotted_name(node.func)
            prim = resolve.resolve_spelling(dotted) if dotted else None
            rule = registry.lookup(prim) if prim is not None else None
            if rule is None or rule.transpose is None:
                return f"{dotted or 'a call'} applied to a tangent (it has no transposition rule)"
            return next((p for p in map(check, node.args) if p), None)
        return f"{type(node).__name__} of a tangent"

    return check(expr)


@when_loaded
def _typeof_custom():
    """Inside code Numba compiles (a rule's helpers call the function), the function is its own compiled self."""
    from numba.core import types
    from numba.extending import typeof_impl

    typeof_impl.register(_Custom)(lambda value, context: types.Dispatcher(_compiled(value.fun)))


@functools.lru_cache(maxsize=None)
def _compiled(fun):
    from .backends.numba_cpu import compiled_function

    return compiled_function(fun)
