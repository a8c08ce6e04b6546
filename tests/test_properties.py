"""Property tests: random straight-line and loop programs, differentiated and checked by complex step.

Hypothesis writes small programs over three float variables, with reassignments,
in-place updates, branches and loops: the shapes that exercise operand
ordering, the inliner, common subexpressions and regrouping.  Each program is
written to a file (s2s reads source), and its JVP is compared with the
complex-step derivative ``Im f(x + i h t) / h``, exact to rounding; its VJP
with its JVP, by the dot-product test.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from programs import load_program

import s2s
from s2s.errors import S2SError

VARIABLES = ("x", "y", "z")
UNARY = ("np.sin({})", "np.cos({})", "np.exp(0.1 * {})", "np.tanh({})", "({}) ** 2", "-{}")
BINARY = ("{} + {}", "{} - {}", "{} * {}", "{} / (1.5 + ({}) ** 2)")


def expressions():
    leaves = st.sampled_from(VARIABLES + ("0.5", "2.0"))
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.tuples(st.sampled_from(UNARY), inner).map(lambda t: t[0].format(t[1])),
            st.tuples(st.sampled_from(BINARY), inner, inner).map(lambda t: t[0].format(f"({t[1]})", f"({t[2]})")),
        ),
        max_leaves=6,
    )


def statements(depth=0):
    target = st.sampled_from(VARIABLES)
    simple = st.one_of(
        st.tuples(target, expressions()).map(lambda t: [f"{t[0]} = {t[1]}"]),
        st.tuples(target, expressions()).map(lambda t: [f"{t[0]} += 0.3 * ({t[1]})"]),
        st.tuples(target, target).map(lambda t: [f"{t[0]}, {t[1]} = {t[1]}, {t[0]}"]),
    )
    if depth >= 1:
        return simple
    nested = st.lists(statements(depth + 1), min_size=1, max_size=3).map(lambda b: [s for part in b for s in part])
    return st.one_of(
        simple,
        nested.map(lambda body: ["for _ in range(3):"] + ["    " + s for s in body]),
        st.tuples(st.sampled_from(VARIABLES), nested, nested).map(
            lambda t: [f"if np.real({t[0]}) > 0.1:"] + ["    " + s for s in t[1]] + ["else:"] + ["    " + s for s in t[2]]),
    )


programs = st.lists(statements(), min_size=1, max_size=5).map(lambda b: [s for part in b for s in part])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(programs, st.tuples(*[st.floats(-1.0, 1.0)] * 3), st.tuples(*[st.floats(-1.0, 1.0)] * 3))
def test_jvp_of_random_programs_matches_complex_step(tmp_path, lines, point, direction):
    fun = load_program("x, y, z", lines + ["return x * y + z"], tmp_path)
    h = 1e-30
    expected = fun(*(p + 1j * h * d for p, d in zip(point, direction)))
    if not np.isfinite(expected):
        return
    value, tangent = s2s.jvp(fun, point, direction)
    np.testing.assert_allclose(value, expected.real, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tangent, expected.imag / h, rtol=1e-9, atol=1e-9)


# -- programs over arrays: index writes, slices, views, in-place updates ------------------------

SCALAR_EXPRESSIONS = ("y", "v[{i}]", "w[{j}]", "np.sin(v[{i}])", "v[{i}] * w[{j}]", "y * v[{i}]")


def array_statement():
    i = st.integers(0, 4)
    j = st.integers(0, 2)

    def scalar(template_i_j):
        template, i_, j_ = template_i_j
        return template.format(i=i_, j=j_)

    scalars = st.tuples(st.sampled_from(SCALAR_EXPRESSIONS), i, j).map(scalar)
    return st.one_of(
        st.tuples(i, scalars).map(lambda t: f"v[{t[0]}] = {t[1]}"),
        st.tuples(j, scalars).map(lambda t: f"w[{t[0]}] = 0.5 * {t[1]}"),  # writes through the view into v
        st.tuples(i, scalars).map(lambda t: f"v[{t[0]}] += {t[1]}"),
        st.just("v[1:4] = v[0:3] * y"),
        st.just("v[::2] += w[0:3:1] * 0.25"),
        st.just("w = v[1:4]"),
        st.just("v = v * y"),
        st.just("w = v[2:5]"),
        st.just("v += 0.1 * v[::-1]"),
        st.just("y = y + np.sum(w)"),
    )


array_programs = st.lists(
    st.one_of(array_statement().map(lambda s: [s]),
              st.lists(array_statement(), min_size=1, max_size=3).map(
                  lambda body: ["for _ in range(2):"] + ["    " + s for s in body])),
    min_size=1, max_size=6).map(lambda b: [s for part in b for s in part])


def array_program(tmp_path, lines, seed):
    """The program over ``v`` (a copy of ``x``) and its view ``w``, a point ``x`` and tangents for ``x`` and ``y``."""
    body = ["v = x.copy()", "w = v[1:4]"] + lines + ["return np.sum(v * v) + y * np.sum(w)"]
    fun = load_program("x, y", body, tmp_path)
    rng = np.random.default_rng(seed)
    return fun, rng, rng.uniform(-1, 1, 5), rng.standard_normal(5), float(rng.standard_normal())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(array_programs, st.floats(-1.0, 1.0), st.integers(0, 2**16))
def test_jvp_of_random_array_programs_matches_complex_step(tmp_path, lines, y, seed):
    fun, rng, x, x_dot, y_dot = array_program(tmp_path, lines, seed)
    h = 1e-30
    expected = fun(x + 1j * h * x_dot, y + 1j * h * y_dot)
    if not np.isfinite(expected):
        return
    value, tangent = s2s.jvp(fun, (x, y), (x_dot, y_dot))
    np.testing.assert_allclose(value, expected.real, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tangent, expected.imag / h, rtol=1e-9, atol=1e-9)


# -- reverse mode: the same programs, vjp against jvp ------------------------------------------


def assert_vjp_agrees_with_jvp(fun, primals, tangents, ct):
    """<ct, J t> from jvp equals <J^T ct, t> from vjp, or reverse mode refuses the program outright."""
    _, out_dot = s2s.jvp(fun, primals, tangents)
    try:
        _, f_vjp = s2s.vjp(fun, *primals)
    except S2SError:
        return  # a clear refusal (a view read after a write through another name), never a wrong number
    cts = f_vjp(ct)
    lhs = np.dot(np.ravel(ct), np.ravel(out_dot))
    rhs = sum(np.dot(np.ravel(c), np.ravel(t)) for c, t in zip(cts, tangents))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-9, atol=1e-9)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(programs, st.tuples(*[st.floats(-1.0, 1.0)] * 3), st.tuples(*[st.floats(-1.0, 1.0)] * 3),
       st.floats(-2.0, 2.0))
def test_vjp_of_random_programs_agrees_with_jvp(tmp_path, lines, point, direction, ct):
    fun = load_program("x, y, z", lines + ["return x * y + z"], tmp_path)
    if not np.isfinite(fun(*point)):
        return
    assert_vjp_agrees_with_jvp(fun, point, direction, ct)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(array_programs, st.floats(-1.0, 1.0), st.integers(0, 2**16))
def test_vjp_of_random_array_programs_agrees_with_jvp(tmp_path, lines, y, seed):
    fun, rng, x, x_dot, y_dot = array_program(tmp_path, lines, seed)
    assert_vjp_agrees_with_jvp(fun, (x, y), (x_dot, y_dot), float(rng.standard_normal()))
