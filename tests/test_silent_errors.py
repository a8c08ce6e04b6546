"""Programs where s2s once returned a wrong number without a word, or generated code that crashed.

Each class of them: keyword arguments after a skipped default, complex values, Jacobians of
outputs that add terms of lower rank, second derivatives through helpers, and the backward
pass of N-D ``matmul``, tuple index updates and ``np.newaxis``.  Derivatives are checked
against finite differences and against each other, in Python and under ``s2s.jit``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from derivatives import central_difference, flat
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from programs import load_program as load

import s2s
from s2s.errors import S2SError

# -- keyword arguments: bound as Python binds them, for every transform ------------------------


def scaled_sum(x, scale=1.0, shift=0.5, n=3):
    s = 0.0
    for _ in range(n):
        s = s + scale * np.sum(x * x) + shift * np.sum(x)
    return s


def scaled_sum_rows(x, scale=1.0, shift=0.5, n=3):
    return x * (scale * n) + shift


DEFAULTS = {"scale": 1.0, "shift": 0.5, "n": 3}
X = np.array([0.3, -1.2, 0.7])


def transforms(jit):
    """(name, transform of scaled_sum, its value from the full positional arguments)."""
    wrap = s2s.jit if jit else (lambda f: f)
    return [
        ("grad", wrap(s2s.grad(scaled_sum)), lambda *a: s2s.grad(scaled_sum)(*a)),
        ("value_and_grad", wrap(s2s.value_and_grad(scaled_sum)), lambda *a: s2s.value_and_grad(scaled_sum)(*a)),
        ("jacfwd", wrap(s2s.jacfwd(scaled_sum_rows)), lambda x, *a: (a[0] * a[2]) * np.eye(len(x))),
        ("jacrev", wrap(s2s.jacrev(scaled_sum_rows)), lambda x, *a: (a[0] * a[2]) * np.eye(len(x))),
        ("hessian", wrap(s2s.hessian(scaled_sum)), lambda x, *a: 2 * a[0] * a[2] * np.eye(len(x))),
        ("vmap", wrap(s2s.vmap(scaled_sum, in_axes=(0, None, None, None))),
         lambda x, *a: np.array([scaled_sum(r, *a) for r in x])),
        ("grad of grad", wrap(s2s.grad(s2s.grad(lambda_free_quartic, argnums=0), argnums=0)),
         lambda x, *a: 12 * a[0] * x ** 2 * a[2]),
    ]


def lambda_free_quartic(x, scale=1.0, shift=0.5, n=3):
    return scale * n * x ** 4 + shift * x


def argument_for(name):
    if name == "vmap":
        return np.stack([X, 2 * X])
    if name == "grad of grad":
        return 0.8
    return X


keyword_calls = st.tuples(
    st.integers(0, 3),  # how many of (scale, shift, n) come positionally
    st.permutations(["scale", "shift", "n"]),
    st.lists(st.booleans(), min_size=3, max_size=3),  # which of the rest are passed by keyword
    st.floats(0.5, 2.0), st.floats(-1.0, 1.0), st.integers(1, 4))


@pytest.mark.parametrize("jit", [False, True], ids=["python", "jit"])
@settings(max_examples=15, deadline=None)
@given(keyword_calls)
def test_keywords_after_skipped_defaults_reach_their_parameters(jit, call):
    npos, order, passed, scale, shift, n = call
    values = {"scale": scale, "shift": shift, "n": n}
    names = ["scale", "shift", "n"]
    positional = [values[k] for k in names[:npos]]
    keywords = {k: values[k] for k in order if k not in names[:npos] and passed[names.index(k)]}
    full = [values[k] if k in names[:npos] or k in keywords else DEFAULTS[k] for k in names]
    for name, transform, expected in transforms(jit):
        x = argument_for(name)
        got = transform(x, *positional, **keywords)
        want = expected(x, *full)
        np.testing.assert_allclose(flat(got), flat(want), rtol=1e-10, err_msg=f"{name} {positional} {keywords}")


def test_jit_of_the_primal_binds_keywords():
    assert s2s.jit(scaled_sum)(X, n=2) == pytest.approx(scaled_sum(X, n=2))
    assert s2s.jit(scaled_sum)(X, n=1, scale=3.0) == pytest.approx(scaled_sum(X, 3.0, 0.5, 1))


@pytest.mark.parametrize("jit", [False, True], ids=["python", "jit"])
def test_keyword_errors_are_pythons(jit):
    wrap = s2s.jit if jit else (lambda f: f)
    for name, transform, _ in transforms(jit) + [("primal", wrap(scaled_sum), None)]:
        x = argument_for(name)
        with pytest.raises(TypeError, match="unexpected keyword argument 'm'"):
            transform(x, m=2)
        with pytest.raises(TypeError, match="multiple values for argument 'scale'"):
            transform(x, 2.0, scale=2.0)


# -- complex values: refused, never a number -------------------------------------------------

COMPLEX_BODIES = [
    "return abs((x + 1j * y) ** 2)",
    "return np.real(np.exp(1j * x)) + y",
    "return abs(complex(x, y))",
    "return abs(np.complex128(x) * y)",
    "z = x * (1.0 + 2.0j)\n    return z.imag + y",
    "z = x * (1.0 + 2.0j)\n    return np.conj(z) * y",
    "return np.angle(x) + y",
    "return x * y * 1j",
    "c = y * 2j\n    s = 0.0\n    for _ in range(2):\n        s = s + abs(x + c)\n    return s",
]


@pytest.mark.parametrize("body", COMPLEX_BODIES)
def test_complex_values_are_refused_where_they_are_written(tmp_path, body):
    fun = load("x, y", body.split("\n    "), tmp_path)
    calls = [lambda: s2s.jvp(fun, (0.7, 0.3), (1.0, 1.0)), lambda: s2s.grad(fun)(0.7, 0.3),
             lambda: s2s.grad(fun, argnums=(0, 1))(0.7, 0.3), lambda: s2s.vjp(fun, 0.7, 0.3)]
    for call in calls:
        with pytest.raises(S2SError, match="complex values") as error:
            call()
        assert str(error.value).startswith(f"{Path(fun.__code__.co_filename).name}:{error.value.lineno}: ")
        assert error.value.lineno >= 5  # a line of the body, not the def


def test_complex_values_outside_differentiated_code_are_kept(tmp_path):
    fun = load("x, k", ["c = abs(k * 1j + 1.0)", "if np.real(x) > 0.0:", "    x = x * c", "return x * x"], tmp_path)
    expected = 2 * 0.7 * 2.0  # c = sqrt(2): (x c)^2 = 2 x^2
    assert s2s.grad(fun)(0.7, 1.0) == pytest.approx(expected)
    assert s2s.jvp(fun, (0.7, 1.0), (1.0, None))[1] == pytest.approx(expected)


@pytest.mark.parametrize("value", [1 + 1j, np.complex128(2.0), np.ones(3, complex), (1.0, np.ones(2, complex))])
def test_complex_arguments_are_refused_at_call_time(value):
    def square(x):
        return x * x

    for call in [lambda: s2s.grad(square)(value), lambda: s2s.jit(s2s.grad(square))(value),
                 lambda: s2s.jvp(square, (value,), (value,)), lambda: s2s.vjp(square, value),
                 lambda: s2s.linearize(square, value), lambda: s2s.jacfwd(square)(value),
                 lambda: s2s.jacrev(square)(value), lambda: s2s.hessian(square)(value),
                 lambda: s2s.vmap(square)(value)]:
        with pytest.raises(TypeError, match="complex values"):
            call()


def test_a_complex_cotangent_is_refused():
    def sine(x):
        return np.sin(x)

    _, f_vjp = s2s.vjp(sine, np.ones(3))
    with pytest.raises(TypeError, match="complex values"):
        f_vjp(np.ones(3, complex))


# -- Jacobians of outputs that add terms of lower rank ----------------------------------------

SCALAR_TERMS = ("3.0 * np.sum(x)", "x[0] * s", "np.dot(x, y)", "s", "np.sum(x * y) ** 2", "np.max(y) * s")
VECTOR_TERMS = ("y[::-1]", "x * s", "np.sin(x)", "y", "x * y", "np.cumsum(y)")
OUTPUTS = ("z", "z[1:] * 2.0", "z * z", "np.sum(z * z)")

mixed_rank_sums = st.tuples(
    st.lists(st.sampled_from(SCALAR_TERMS + VECTOR_TERMS), max_size=3), st.sampled_from(VECTOR_TERMS),
    st.integers(0, 3), st.sampled_from(("+", "-")), st.sampled_from(OUTPUTS), st.sampled_from((0, 1, 2)))


def mixed_rank_program(tmp_path, terms, vector, position, sign, output, argnum):
    terms = list(terms)
    terms.insert(min(position, len(terms)), vector)  # at least one term has the output's rank
    total = f" {sign} ".join(terms)
    # A Jacobian with respect to an argument the output does not read crashes (a known, separate bug).
    assume(re.search(rf"\b{'xys'[argnum]}\b", total))
    return load("x, y, s", [f"z = {total}", f"return {output}"], tmp_path)


MIXED_ARGS = (np.array([0.3, -1.2, 0.7]), np.array([0.5, 0.2, -0.4]), 0.6)


def assert_jacobians_agree(fun, argnum, jit):
    wrap = s2s.jit if jit else (lambda f: f)
    forward = wrap(s2s.jacfwd(fun, argnums=argnum))(*MIXED_ARGS)
    reverse = wrap(s2s.jacrev(fun, argnums=argnum))(*MIXED_ARGS)
    out = fun(*MIXED_ARGS)
    arg = MIXED_ARGS[argnum]
    assert np.shape(forward) == np.shape(out) + np.shape(arg)
    np.testing.assert_allclose(forward, reverse, rtol=1e-9, atol=1e-9)
    columns = []
    for k in range(np.size(arg)):
        direction = np.eye(np.size(arg))[k].reshape(np.shape(arg)) if np.ndim(arg) else 1.0
        tangents = tuple(direction if i == argnum else None for i in range(3))
        columns.append(central_difference(fun, MIXED_ARGS, tangents).reshape(np.shape(out)))
    np.testing.assert_allclose(forward, np.stack(columns, axis=-1).reshape(np.shape(forward)), rtol=1e-5, atol=1e-6)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mixed_rank_sums)
def test_jacobians_of_sums_of_mixed_ranks(tmp_path, program):
    assert_jacobians_agree(mixed_rank_program(tmp_path, *program), program[-1], jit=False)


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mixed_rank_sums)
def test_jacobians_of_sums_of_mixed_ranks_compiled(tmp_path, program):
    assert_jacobians_agree(mixed_rank_program(tmp_path, *program), program[-1], jit=True)


def test_jacobian_of_a_broadcast_scalar_tangent():
    def f(x, y):
        return 3.0 * np.sum(x) + y[::-1]

    x, y = np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.2, 0.1])
    for jacobian in (s2s.jacfwd(f), s2s.jit(s2s.jacfwd(f)), s2s.jacrev(f)):
        np.testing.assert_allclose(jacobian(x, y), np.full((3, 3), 3.0))
    assert s2s.jvp(f, (x, y), (np.ones(3), None))[1].shape == (3,)


def test_gradient_through_a_broadcast_scalar():
    def f(x, y):
        z = np.sum(x) + y
        return np.sum(z * z)

    x, y = np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.2, 0.1])
    expected = np.full(3, 2 * np.sum(np.sum(x) + y))
    np.testing.assert_allclose(s2s.grad(f)(x, y), expected)
    np.testing.assert_allclose(s2s.jit(s2s.grad(f))(x, y), expected)


def test_a_cotangent_handed_on_whole_is_not_updated_in_place():
    def f(x, y):
        z = y + y[::-1] + np.dot(x, y)  # y_bar starts as z_bar itself, then more is added to it
        return z[1:] * 2.0

    x, y = np.array([0.3, -1.2, 0.7]), np.array([0.5, 0.2, -0.4])
    expected = 2.0 * (np.eye(3) + np.eye(3)[::-1] + x)[1:]
    for jacobian in (s2s.jacrev(f, 1), s2s.jacfwd(f, 1), s2s.jit(s2s.jacrev(f, 1))):
        np.testing.assert_allclose(jacobian(x, y), expected)


def test_a_tangent_is_not_another_tangents_memory_when_the_primal_is_new():
    """``b = +a`` is a new array; its tangent must not be ``a``'s, which a later write into ``a`` changes."""

    def f(a):
        a = a.copy()
        b = +a
        a[0] = 0.0
        return np.sum(b) + np.sum(a)

    x, t = np.array([0.0, 1.0, 2.0]), np.ones(3)
    assert s2s.jvp(f, (x,), (t,))[1] == pytest.approx(5.0)
    assert s2s.jvp(s2s.jit(f), (x,), (t,))[1] == pytest.approx(5.0)
