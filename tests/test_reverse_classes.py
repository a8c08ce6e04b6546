"""Reverse mode on three classes of programs it once got wrong or refused.

1. A name rebound from a reduction of itself (``x = x - np.max(x)``, ``X -= np.mean(X, axis=0)``):
   softmax with the maximum subtracted, centering, layer norms.
2. Broadcasting whose result is bound to a name, or written in place (``xc = x - m`` with only ``m``
   differentiated, ``u += b``, ``y[0:3] = v``): every cotangent must be summed down to the shape of
   the value it flows to.
3. Scalars taken out of arrays or shapes (``n = x.shape[1]``, ``v = a[i]``) and later updated, or
   read after the array is written: integers and elements are copies, never views.

Hypothesis writes programs of each class; each is checked against central finite differences
(``grad``) and against forward mode (``vjp`` by the dot-product test), and a few under ``s2s.jit``.
"""

from __future__ import annotations

import numpy as np
import pytest
from derivatives import central_difference, flat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from programs import load_program

import s2s

SETTINGS = dict(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def check_reverse(fun, args, argnums, seed=0):
    """grad against central differences, jvp against them too, and vjp against jvp (dot-product test)."""
    rng = np.random.default_rng(seed)
    tangents = tuple(rng.standard_normal(np.shape(a)) if i in argnums else None for i, a in enumerate(args))
    expected = central_difference(fun, args, tangents)
    jvp_tangents = tuple(t if t is not None else np.zeros_like(a) for a, t in zip(args, tangents))
    _, out_dot = s2s.jvp(fun, args, jvp_tangents)
    np.testing.assert_allclose(flat(out_dot), expected, rtol=1e-5, atol=1e-6)
    grads = s2s.grad(fun, argnums=tuple(argnums))(*args)
    for i, g in zip(argnums, grads):
        assert np.shape(g) == np.shape(args[i])
    along = sum(np.sum(g * tangents[i]) for i, g in zip(argnums, grads))
    np.testing.assert_allclose(along, expected, rtol=1e-5, atol=1e-6)
    ct = float(rng.standard_normal())
    _, f_vjp = s2s.vjp(fun, *args)
    cts = f_vjp(ct)
    np.testing.assert_allclose(sum(np.sum(cts[i] * tangents[i]) for i in argnums), ct * flat(out_dot)[0],
                               rtol=1e-9, atol=1e-9)
    return grads


# -- 1. a name rebound from a reduction of itself ----------------------------------------------

REDUCTIONS_ANY = ("np.max({x})", "np.min({x})", "np.mean({x})", "np.sum({x})", "{x}.mean()")
REDUCTIONS_2D = ("np.mean({x}, axis=0)", "np.max({x}, axis=0)", "np.max({x}, axis=-1)[:, None]",
                 "np.mean({x}, axis=1)[:, None]", "np.sum({x}, axis=-1)[..., None]", "{x}.max(axis=1)[:, None]")
REBINDINGS = ("{x} = {x} - {r}", "{x} -= {r}", "{x} = {r} - {x}", "{x} = {x} * (1.0 + 0.1 * {r})",
              "{x} = {x} / (2.0 + {r} ** 2)", "{x} += 0.5 * {r}")
TAILS = ("np.sum(np.exp({x}) * w)", "np.sum(np.exp({x})) + np.sum({x} * w)", "np.sum({x} ** 3 * w)",
         "np.log(np.sum(np.exp({x}))) + np.sum({x} * w)")


@st.composite
def rebound_reductions(draw):
    two_d = draw(st.booleans())
    shape = (draw(st.integers(2, 4)), draw(st.integers(2, 4))) if two_d else (draw(st.integers(2, 5)),)
    reductions = REDUCTIONS_ANY + (REDUCTIONS_2D if two_d else ())
    steps = draw(st.lists(st.tuples(st.sampled_from(REBINDINGS), st.sampled_from(reductions)), min_size=1,
                          max_size=3))
    in_loop = draw(st.booleans())
    lines = ["x = x * 1.0"]  # in-place rebinding below must not write into the caller's array
    body = [rebind.format(x="x", r=reduction.format(x="x")) for rebind, reduction in steps]
    lines += ["for _ in range(2):"] + ["    " + s for s in body] if in_loop else body
    lines.append("return " + draw(st.sampled_from(TAILS)).format(x="x"))
    return shape, lines


@settings(**SETTINGS)
@given(rebound_reductions(), st.integers(0, 2**16))
def test_rebound_reductions(tmp_path, program, seed):
    shape, lines = program
    fun = load_program("x, w", lines, tmp_path)
    rng = np.random.default_rng(seed)
    x, w = rng.uniform(-1, 1, shape), rng.standard_normal(shape)
    if not np.isfinite(fun(x, w)):
        return
    check_reverse(fun, (x, w), [0], seed)


# -- 2. broadcasting bound to names and written in place ---------------------------------------

@st.composite
def broadcast_shapes(draw):
    """Two shapes that broadcast together: the second a suffix of the first's dimensions with some set to 1
    (none left: a scalar), then some of the first's set to 1 where the second's are not; in either order."""
    full = draw(st.lists(st.integers(2, 3), min_size=1, max_size=3))
    kept = draw(st.integers(0, len(full)))
    other = [1 if draw(st.booleans()) else n for n in full[len(full) - kept:]]
    lead = len(full) - kept
    full = full[:lead] + [1 if o != 1 and draw(st.booleans()) else n for n, o in zip(full[lead:], other)]
    if not other and draw(st.booleans()):
        other = None  # a Python float
    pair = (tuple(full), other if other is None else tuple(other))
    return pair if draw(st.booleans()) else pair[::-1]


def fits(shape, into) -> bool:
    """Can a value of ``shape`` be written into an array part shaped ``into``?"""
    try:
        return np.broadcast_shapes(shape, into) == into
    except ValueError:
        return False


def shape_of(shape):
    return () if shape is None else shape


UNARY = ("{}", "np.sin({})", "np.exp(0.2 * {})", "({}) ** 2", "-{}", "0.5 * {}", "np.tanh({})")
BINARY = ("+", "-", "*")


@st.composite
def broadcast_programs(draw):
    """Statements over ``a`` and ``b`` (parameters of broadcast-compatible shapes): each binds a new name
    to an elementwise expression of two earlier ones, rebinds one, or updates one in place."""
    a_shape, b_shape = draw(broadcast_shapes())
    shapes = {"a": shape_of(a_shape), "b": shape_of(b_shape)}
    owned: list = []  # names the program made (in-place updates go only there)
    lines = []
    for k in range(draw(st.integers(1, 5))):
        names = sorted(shapes)
        p, q = draw(st.sampled_from(names)), draw(st.sampled_from(names))
        f, g = draw(st.sampled_from(UNARY)), draw(st.sampled_from(UNARY))
        op = draw(st.sampled_from(BINARY))
        result = np.broadcast_shapes(shapes[p], shapes[q])
        expression = f"{f.format(p)} {op} {g.format(q)}"
        kind = draw(st.sampled_from(("new", "rebind", "inplace", "slice")))
        if kind == "inplace" and p in owned and fits(shapes[q], shapes[p]):
            lines.append(f"{p} {op}= {g.format(q)}")
        elif kind == "rebind" and p in owned:
            lines.append(f"{p} = {expression}")
            shapes[p] = result
        elif kind == "slice" and p in owned and shapes[p] and fits(shapes[q], (shapes[p][0] - 1,) + shapes[p][1:]):
            lines.append(f"{p}[1:] = {g.format(q)}")  # the value broadcast into a part of the array
        else:
            name = f"t{k}"
            lines.append(f"{name} = {expression}")
            shapes[name] = result
            owned.append(name)
    lines.append("return " + " + ".join(f"np.sum(np.sin({n}))" for n in sorted(shapes)))
    return a_shape, b_shape, lines


@settings(**SETTINGS)
@given(broadcast_programs(), st.sampled_from([[0], [1], [0, 1]]), st.integers(0, 2**16))
def test_broadcasting_bound_to_names(tmp_path, program, argnums, seed):
    a_shape, b_shape, lines = program
    fun = load_program("a, b", lines, tmp_path)
    rng = np.random.default_rng(seed)
    a, b = (float(rng.uniform(-1, 1)) if shape is None else rng.uniform(-1, 1, shape) for shape in (a_shape, b_shape))
    if not np.isfinite(fun(a, b)):
        return
    check_reverse(fun, (a, b), argnums, seed)


# -- 3. scalars read out of arrays and shapes share no memory ---------------------------------

ALIAS_PROGRAMS = {
    "shape_counter": ["n = x.shape[1]", "total = 0.0", "for i in range(x.shape[0]):",
                      "    total += np.sum(x[i]) * n", "    n += 1", "return total"],
    "shape_countdown": ["n = x.shape[0]", "k = 0", "total = 0.0", "while k < n:", "    total += x[k, 0] ** 2",
                        "    k += 1", "n -= 1", "return total * n"],
    "len_update": ["m = len(x)", "m += 2", "return np.sum(x) * m"],
    "element_then_writes": ["a = np.exp(x)", "v = a[1, 0]", "for j in range(a.shape[0]):",
                            "    a[j, 0] = a[j, 1] * v", "return np.sum(a) + v"],
    "element_then_row_writes": ["a = np.sin(x)", "v = a[0, 1]", "a[0] = a[1] * v", "return np.sum(a * v)"],
    "element_updated": ["a = x * 1.0", "s = a[1, 1]", "t = s", "t += 1.0", "a[0, 0] = t",
                        "return np.sum(a * s)"],
}


@settings(**SETTINGS)
@given(st.sampled_from(sorted(ALIAS_PROGRAMS)), st.integers(2, 4), st.integers(2, 4), st.integers(0, 2**16))
def test_scalars_are_copies(tmp_path, name, rows, cols, seed):
    fun = load_program("x", ALIAS_PROGRAMS[name], tmp_path)
    x = np.random.default_rng(seed).uniform(-1, 1, (rows, cols))
    check_reverse(fun, (x,), [0], seed)


# -- the same, compiled -------------------------------------------------------------------------

COMPILED = {
    "log_softmax": ("s", ["s = s - np.max(s)", "return np.log(np.sum(np.exp(s))) - s[0]"], (5,)),
    "center_columns": ("X", ["X = X * 1.0", "X -= np.sum(X, axis=0) / X.shape[0]", "return np.sum(X ** 3)"],
                       (4, 3)),
    "center_rows": ("X", ["X = X - np.sum(X, axis=1)[:, None]", "return np.sum(np.exp(X) * X)"], (3, 4)),
    "shape_counter": ("x", ALIAS_PROGRAMS["shape_counter"], (3, 4)),
}


@pytest.mark.parametrize("name", sorted(COMPILED))
def test_compiled_gradient(tmp_path, name):
    param, lines, shape = COMPILED[name]
    fun = load_program(param, lines, tmp_path)
    x = np.random.default_rng(1).uniform(-1, 1, shape)
    expected = check_reverse(fun, (x,), [0])[0]
    np.testing.assert_allclose(s2s.jit(s2s.grad(fun))(x), expected, rtol=1e-10, atol=1e-12)


def test_compiled_broadcast_of_one_argument(tmp_path):
    fun = load_program("x, m", ["xc = x - m", "return np.sum(xc ** 2)"], tmp_path)
    rng = np.random.default_rng(2)
    x, m = rng.standard_normal((4, 1, 2)), rng.standard_normal((3, 2))
    expected = check_reverse(fun, (x, m), [1])[0]
    np.testing.assert_allclose(s2s.jit(s2s.grad(fun, argnums=1))(x, m), expected, rtol=1e-10)


def broadcast_then_updated(a, b):
    """A value broadcast from b (a is not differentiated), then updated in place: its tangent is a copy."""
    t = -a + 0.5 * b
    t -= np.tanh(b)
    return np.sum(np.sin(t))


def test_broadcast_value_updated_in_place():
    a, b = np.full((2, 2), 0.7), np.array([[0.3, -0.4]])
    check_reverse(broadcast_then_updated, (a, b), [1], 0)
