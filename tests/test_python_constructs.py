"""The Python of numerical code, lowered by the front end: every transform, against finite differences."""

from __future__ import annotations

import constructs
import numpy as np
import pytest
from derivatives import assert_close, central_difference, tangents_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from programs import load_program

import s2s
from s2s.errors import NoRuleError, S2SError

X = np.array([0.3, 0.5, 0.9, -0.4])
CASES = [
    (constructs.sum_of_squares, (X,)),
    (constructs.rows_of_comprehension, (X,)),
    (constructs.scalars_of_comprehension, (X,)),
    (constructs.over_tuples, (X, 1.5)),
    (constructs.enumerate_and_zip, (X, X[::-1] + 1.0)),
    (constructs.appended_rows, (X,)),
    (constructs.appended_in_straight_line, (X,)),
    (constructs.nested_functions, (X, 0.7)),
    (constructs.subscripted_targets, (X,)),
    (constructs.over_argument_tuple, (X, (0.5, 2.0, -1.0))),
    (constructs.Model().loss, (X[:3],)),
]
IDS = [getattr(f, "__name__", str(f)) for f, _ in CASES]


def _checks(fun, args, jit):
    transformed = s2s.jit(fun) if jit else fun
    tangents = tangents_for(args, (0,), seed=1)
    value, tangent = s2s.jvp(transformed, args, tangents)
    assert_close(value, fun(*args), rtol=1e-12)
    assert_close(tangent, central_difference(fun, args, tangents), rtol=1e-6)
    grad = s2s.grad(transformed)(*args)
    assert np.dot(grad, tangents[0]) == pytest.approx(float(tangent), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("fun, args", CASES, ids=IDS)
def test_python(fun, args):
    _checks(fun, args, jit=False)


@pytest.mark.parametrize("fun, args", CASES, ids=IDS)
def test_jit(fun, args):
    _checks(fun, args, jit=True)


@pytest.mark.parametrize("fun, args", [c for c in CASES if c[0] is not constructs.over_argument_tuple],
                         ids=[i for i in IDS if i != "over_argument_tuple"])
def test_vmap_of_grad(fun, args):
    batch = np.stack([args[0], 0.5 * args[0]])
    grads = s2s.vmap(s2s.grad(fun), in_axes=(0,) + (None,) * (len(args) - 1))(batch, *args[1:])
    for row, x in zip(grads, batch):
        np.testing.assert_allclose(row, s2s.grad(fun)(x, *args[1:]), rtol=1e-10)


def _cyclic_products(x):
    return np.array([np.sin(x[i]) * x[(i + 1) % len(x)] for i in range(len(x))])


def test_jacfwd_of_a_comprehension():
    eye = np.eye(len(X))
    expected = np.stack([central_difference(_cyclic_products, (X,), (eye[k],)) for k in range(len(X))], axis=1)
    np.testing.assert_allclose(s2s.jacfwd(_cyclic_products)(X), expected, rtol=1e-6, atol=1e-8)


@pytest.mark.xfail(strict=True, reason="known bug: the forward pass saves the array filled by the comprehension "
                                       "before the loop allocates it (UnboundLocalError)")
def test_jacrev_of_a_comprehension_returned_as_is():
    np.testing.assert_allclose(s2s.jacrev(_cyclic_products)(X), s2s.jacfwd(_cyclic_products)(X), rtol=1e-12)


def test_a_library_call_on_inputs_is_refused_with_its_line():
    with pytest.raises(NoRuleError, match=r"constructs.py:\d+"):
        s2s.grad(constructs.library_on_inputs)(3.0)


def test_a_filtered_array_comprehension_is_refused():
    def fun(x):
        return np.array([v for v in x if v > 0.0])

    with pytest.raises(S2SError, match="test_python_constructs.py"):
        s2s.grad(lambda x: np.sum(fun(x)))(X)


def test_appending_in_a_branch_is_refused():
    def fun(x):
        kept = []
        for v in x:
            if v > 0.0:
                kept.append(v)
        return np.sum(np.array(kept))

    with pytest.raises(S2SError, match="appending to kept"):
        s2s.grad(fun)(X)


# -- random unrolled loops and comprehensions --------------------------------------------------

ITERABLES = ("(x, y, z)", "[x * y, z]", "range(3)", "x_arr", "range(len(x_arr))")
BODIES = ("np.sin({v}) * x", "{v} * {v} + y", "np.exp(0.1 * {v}) * z", "x_arr[{i}] * {v}")


def _element(iterable, body):
    """An element expression of a loop over ``iterable``; ``i`` indexes ``x_arr`` whatever the iterable."""
    v = "v" if "range" not in iterable else "x_arr[v]"
    return body.format(v=v, i="i % 3")


def _program_lines(draw):
    lines, n = ["s = 0.0"], draw(st.integers(1, 4))
    for _ in range(n):
        iterable, body, form = (draw(st.sampled_from(ITERABLES)), draw(st.sampled_from(BODIES)),
                                draw(st.sampled_from(("loop", "sum", "array", "max", "append"))))
        element = _element(iterable, body)
        if form == "loop":
            lines += [f"for i, v in enumerate({iterable}):", f"    s += {element}"]
        elif form == "sum":
            lines.append(f"s += sum({element} for i, v in enumerate({iterable}))")
        elif form == "array":
            lines.append(f"s += np.sum(np.array([{element} for i, v in enumerate({iterable})]) ** 2)")
        elif form == "max":
            lines.append(f"s += max({element} for i, v in enumerate({iterable}))")
        else:
            lines += ["parts = []", f"for i, v in enumerate({iterable}):", f"    parts.append({element})",
                      "s += np.sum(np.array(parts))"]
    return lines + ["return s"]


programs = st.composite(lambda draw: _program_lines(draw))()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(programs, st.integers(0, 2**16))
def test_random_unrolled_loops_match_finite_differences(tmp_path, lines, seed):
    fun = load_program("x, y, z, x_arr", lines, tmp_path)
    rng = np.random.default_rng(seed)
    args = (*rng.uniform(-1, 1, 3), rng.uniform(-1, 1, 3))
    tangents = tangents_for(args, (0, 1, 2, 3), seed)
    value, tangent = s2s.jvp(fun, args, tangents)
    assert_close(value, fun(*args), rtol=1e-12)
    assert_close(tangent, central_difference(fun, args, tangents), rtol=1e-5, atol=1e-6)
    grads = s2s.grad(fun, argnums=(0, 1, 2, 3))(*args)
    dot = sum(np.sum(g * t) for g, t in zip(grads, tangents))
    assert dot == pytest.approx(float(tangent), rel=1e-9, abs=1e-10)


def test_a_bound_method_rebuilt_when_its_object_changes():
    """``self``'s attributes are constants of the generated code: a new value is new code, never a stale one."""

    class Model:
        def __init__(self, W):
            self.W = W

        def loss(self, x):
            return np.sum((self.W @ x) ** 2)

    model, x = Model(np.eye(2)), np.array([1.0, 2.0])
    np.testing.assert_allclose(s2s.grad(model.loss)(x), 2 * x)
    model.W = 2 * np.eye(2)
    np.testing.assert_allclose(s2s.grad(model.loss)(x), 8 * x)


@pytest.mark.parametrize("name", ["rt", "math", "scipy", "cuda"])
@pytest.mark.parametrize("as_parameter", [False, True], ids=["local", "parameter"])
def test_names_generated_code_gives_its_modules(name, as_parameter, tmp_path):
    """A parameter or local named as a module of generated code (``rt = r * t``) is renamed there: every
    transform runs, in Python and under Numba."""
    from programs import load_module

    first = f"{name} = w * 2.0" if not as_parameter else f"{name} = {name} * w"
    source = (f"import numpy as np\n\n\ndef f(x, {name if as_parameter else 'v'}, w=0.5):\n"
              f"    {first}\n    y = np.sin(x * {name}) + {name}\n    return np.sum(y ** 2)\n")
    f = load_module(tmp_path, source).f
    x, t = np.array([0.3, -0.4]), np.array([1.0, 0.5])
    args = (x, 0.7)
    expected = central_difference(f, args, (t, 0.0))[0]
    for grad in (s2s.grad(f), s2s.jit(s2s.grad(f))):
        assert np.vdot(grad(*args), t) == pytest.approx(expected, rel=1e-6)
    assert s2s.jvp(f, args, (t, 0.0))[1] == pytest.approx(expected, rel=1e-6)
    np.testing.assert_allclose(s2s.vmap(f, in_axes=(0, None))(np.stack([x, x]), 0.7), [f(*args)] * 2, rtol=1e-13)
