"""Random programs built from the rule table's examples, for the CI test and tools/fuzz.py.

A program works on two arrays ``a`` and ``b`` (3 x 4) and a number ``s``: straight-line updates
applying the table's elementwise and reduction examples, in-place writes (``a[i] = ...``,
``a[i] += ...``), a view written through (``v = a[1:]``), names rebound from their own
reductions (``a = a - np.max(a)``), loops and branches.  Its value is a number, so jvp, grad and
the dot-product test all apply.
"""

from __future__ import annotations

import numpy as np
import scipy.special
from derivatives import central_difference, flat
from hypothesis import strategies as st
from primitive_cases import cases, function_source, load, renamed

import s2s
from s2s.errors import S2SError
from s2s.rules import shapes
from s2s.rules.examples import POSITIVE, UNIT

SHAPE = (3, 4)
#: Operands kept in each example's domain, whatever the program computed before.
_IN_DOMAIN = {POSITIVE: "(1.0 + {} ** 2)", UNIT: "(0.9 * np.tanh({}))"}


def _applied(example, names) -> str:
    """The example's code applied to the program's arrays ``names`` (in its domain)."""
    wrap = _IN_DOMAIN.get(example.domain, "{}")
    operands = sorted(example.shapes)
    return renamed(example.code, {p: wrap.format(names[i % len(names)]) for i, p in enumerate(operands)})


def _pools():
    """Elementwise examples over arrays, and reduction examples of one array (with what their result is)."""
    elementwise, reductions = [], []
    for case in cases():
        ex = case.example
        if not ex.numba or not all(ex.shapes.values()):
            continue
        if case.family == shapes.ELEMENTWISE:
            elementwise.append(ex)
        elif case.family == shapes.REDUCTION and list(ex.shapes) == ["x"] and len(ex.shapes["x"]) == len(SHAPE) \
                and "keepdims" not in ex.code:
            try:
                ndim = np.ndim(eval(_applied(ex, ["a"]), {"np": np, "scipy": scipy, "a": np.ones(SHAPE)}))
            except (ValueError, np.exceptions.AxisError):  # an axis this shape lacks
                continue
            reductions.append((ex, ndim))
    return elementwise, reductions


ELEMENTWISE, REDUCTIONS = _pools()
ARRAYS = ("a", "b")


def _update(target_and_expression):
    target, expression = target_and_expression
    return f"{target} = {expression}"


def statement():
    arrays = st.sampled_from(ARRAYS)
    index = st.tuples(st.integers(0, SHAPE[0] - 1), st.integers(0, SHAPE[1] - 1))
    elementwise = st.tuples(arrays, st.sampled_from(ELEMENTWISE), st.permutations(ARRAYS)).map(
        lambda t: f"{t[0]} = {_applied(t[1], list(t[2]))}")
    reduced = st.tuples(arrays, st.sampled_from(REDUCTIONS)).map(lambda t: _reduction(t[0], *t[1]))
    return st.one_of(
        elementwise, elementwise, reduced,
        st.tuples(arrays, index, arrays).map(lambda t: f"{t[0]}[{t[1][0]}, {t[1][1]}] = s * {t[2]}[0, 1]"),
        st.tuples(arrays, st.integers(0, SHAPE[0] - 1), arrays).map(lambda t: f"{t[0]}[{t[1]}] += 0.5 * {t[2]}[1]"),
        st.tuples(arrays, arrays).map(lambda t: f"v = {t[0]}[1:]\nv[0] = 0.5 * {t[1]}[0]\nv += 0.25 * v"),
        st.just("s = s * 0.5 + 0.1 * np.sum(a * b)"),
    )


def _reduction(target, example, ndim) -> str:
    """A reduction of ``target``: rebinding it (``a = a - np.max(a)``) or accumulated into ``s``."""
    value = _applied(example, [target])
    if ndim == 0:
        return f"{target} = {target} - {value}"
    if ndim == 1 and ("axis=0" in example.code or "axis=-2" in example.code):
        return f"{target} = {target} - 0.5 * {value}"
    return f"s = s + 0.1 * np.sum({value})"


def _lines(text_or_lines):
    return [line for item in text_or_lines for line in item.split("\n")]


def block(depth=0):
    simple = st.lists(statement(), min_size=1, max_size=3).map(_lines)
    if depth >= 1:
        return simple
    inner = block(depth + 1)
    return st.one_of(
        simple,
        inner.map(lambda body: ["for _ in range(2):"] + ["    " + s for s in body]),
        st.tuples(inner, inner).map(
            lambda t: ["if s > 0.0:"] + ["    " + s for s in t[0]] + ["else:"] + ["    " + s for s in t[1]]),
    )


programs = st.lists(block(), min_size=1, max_size=4).map(lambda parts: [s for p in parts for s in p])


def without(*starts):
    """The programs with no line starting with one of ``starts`` (``"v ="``: writes through a view, which
    reverse mode refuses)."""
    return programs.filter(lambda lines: not any(line.strip().startswith(starts) for line in lines))


def source(lines) -> str:
    body = ["a = a.copy()", "b = b.copy()", *lines, "return np.sum(a * a) + s * np.sum(b) + s"]
    return function_source("program", ("a", "b", "s"), body)


def point(seed):
    rng = np.random.default_rng(seed)
    args = (rng.uniform(-1, 1, SHAPE), rng.uniform(-1, 1, SHAPE), float(rng.uniform(-1, 1)))
    tangents = (rng.standard_normal(SHAPE), rng.standard_normal(SHAPE), float(rng.standard_normal()))
    return args, tangents, float(rng.standard_normal())


def check(lines, seed, directory, jit=False):
    """jvp and grad against central differences, vjp against jvp; a clear refusal is allowed."""
    program = load(directory, source(lines)).program
    args, tangents, ct = point(seed)
    value = program(*args)
    if not np.isfinite(value) or abs(value) > 1e6:
        return
    fun = s2s.jit(program) if jit else program
    try:
        out, tangent = s2s.jvp(fun, args, tangents)
        _, f_vjp = s2s.vjp(fun, *args)
        gradient = s2s.grad(fun, argnums=(0, 1, 2))(*args)
    except S2SError:
        return
    differences = central_difference(program, args, tangents)
    scale = 1e-5 * (1.0 + np.abs(differences))
    if abs(value - program(*args)) > 1e-9 * (1 + abs(value)) or np.abs(out - value) > 1e-9 * (1 + abs(value)):
        raise AssertionError(f"value {out!r} != {value!r}")
    if not np.all(np.abs(flat(tangent) - differences) <= scale):
        raise AssertionError(f"jvp {tangent!r} but central differences {differences[0]!r}")
    along = sum(np.vdot(g, t) for g, t in zip(gradient, tangents))
    if not np.all(np.abs(along - differences) <= scale):
        raise AssertionError(f"<grad, t> = {along!r} but central differences {differences[0]!r}")
    cts = f_vjp(ct)
    lhs, rhs = ct * float(tangent), sum(float(np.vdot(c, t)) for c, t in zip(cts, tangents))
    if abs(lhs - rhs) > 1e-8 * (1.0 + abs(lhs)):
        raise AssertionError(f"dot-product test: <ct, J t> = {lhs!r} but <J^T ct, t> = {rhs!r}")


def same_gradient(reference, other, args, rtol=1e-10, atol=1e-12):
    """``other``'s gradient is ``reference``'s to rounding (a clear refusal of ``reference`` is allowed)."""
    try:
        want = s2s.grad(reference, argnums=(0, 1, 2))(*args)
    except S2SError:
        return
    got = s2s.grad(other, argnums=(0, 1, 2))(*args)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
