"""The public API: JAX's jvp semantics, jit, source, and the seeds' documented values."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import samples
from derivatives import assert_close, central_difference

import s2s


def test_jvp_of_a_primitive_matches_the_seed():
    y, v = s2s.jvp(np.sin, (0.1,), (0.2,))
    assert y == pytest.approx(0.0998334, abs=1e-7)
    assert v == pytest.approx(0.1990008, abs=1e-7)


def test_jvp_of_math_primitive_stays_scalar():
    y, v = s2s.jvp(math.exp, (1.0,), (2.0,))
    assert isinstance(y, float) and v == pytest.approx(2 * math.e)


def test_seed_linearize_example_values():
    y, v = s2s.jvp(samples.seed_f, (2.0,), (3.0,))
    assert y == pytest.approx(3.2681944, abs=1e-6)  # the seed prints float32
    assert v == pytest.approx(-5.007528, abs=1e-6)
    assert s2s.jvp(samples.seed_f, (2.0,), (4.0,))[1] == pytest.approx(-6.676704, abs=1e-6)


def test_jvp_is_linear_in_the_tangent():
    x = np.linspace(0.1, 1.0, 3)
    t1, t2 = np.array([1.0, -2.0, 0.5]), np.array([0.3, 0.1, -1.0])
    f = samples.method_calls
    _, a = s2s.jvp(f, (x,), (t1,))
    _, b = s2s.jvp(f, (x,), (t2,))
    _, c = s2s.jvp(f, (x,), (2 * t1 - 3 * t2,))
    assert c == pytest.approx(2 * a - 3 * b)


@pytest.mark.parametrize("fun, args", [
    (samples.imported_alias, (0.3,)),
    (samples.uses_global_array, (np.array([0.1, 0.2, 0.3]),)),
    (samples.make_closure(1.5), (0.4,)),
    (samples.square_via_partial, (3.0,)),
    (samples.method_calls, (np.array([0.5, -1.0, 2.0]),)),
    (samples.conditional_expression, (-0.7,)),
    (samples.calls_decorated, (0.9,)),
    (samples.calls_writer, (1.3,)),
    (samples.overwrites_operand, (0.4, 1.7)),
    (samples.in_place_updates, (np.array([1.0, 2.0]), np.array([0.5, 3.0]))),
    (samples.lambdas()[0], (0.25,)),
    (samples.lambdas()[1], (0.25, 4.0)),
])
@pytest.mark.parametrize("backend", ["python", "numba"])
def test_front_end_forms_differentiate_correctly(fun, args, backend):
    rng = np.random.default_rng(1)
    tangents = tuple(rng.standard_normal(np.shape(a)) if np.ndim(a) else float(rng.standard_normal())
                     for a in args)
    target = s2s.jit(fun) if backend == "numba" else fun
    out, out_dot = s2s.jvp(target, args, tangents)
    assert_close(out, fun(*args), rtol=1e-12)
    assert_close(out_dot, central_difference(fun, args, tangents), rtol=1e-6)


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_rules_of_your_own_make_primitives(backend):
    fun = s2s.jit(samples.uses_cube) if backend == "numba" else samples.uses_cube
    y, dy = s2s.jvp(fun, (0.5,), (1.0,))
    assert y == pytest.approx(0.125 + math.erf(0.5))
    assert dy == pytest.approx(0.75 + 2 / math.sqrt(math.pi) * math.exp(-0.25))
    text = s2s.source(samples.uses_cube)
    assert "cube_by_rule(x)" in text and "def cube_by_rule" not in text


def test_integer_argument_takes_none_and_is_left_out_of_the_signature():
    y, dy = s2s.jvp(samples.integer_argument, (1.1, 3), (1.0, None))
    assert y == pytest.approx(1.1**4) and dy == pytest.approx(4 * 1.1**3)
    assert "def integer_argument_jvp(x, n, x_dot):" in s2s.source(samples.integer_argument)


def test_none_tangent_is_a_symbolic_zero():
    (p, s), (dp, ds) = s2s.jvp(samples.pair, (2.0, 3.0), (1.0, None))
    assert (p, s, dp, ds) == (6.0, 5.0, 3.0, 1.0)
    assert not re.search(r"\by_dot\b", s2s.source(samples.pair, argnums=0))


def test_tuple_arguments_and_outputs():
    out, out_dot = s2s.jvp(samples.tuple_argument, ((1.0, 2.0), 0.1), ((1.0, 0.0), None))
    assert out == pytest.approx((1.2, 1.9)) and out_dot == pytest.approx((1.0, -0.1))


def test_default_arguments_may_be_omitted():
    assert s2s.jvp(samples.with_default, (3.0,), (1.0,)) == (18.0, 12.0)


def test_output_that_does_not_depend_on_the_input_has_zero_tangent():
    assert s2s.jvp(samples.inactive_output, (1.0,), (1.0,)) == (3.0, 0.0)


def test_array_written_with_constants_and_inputs():
    out, out_dot = s2s.jvp(samples.mixed_activity, (2.0, np.ones(3)), (1.0, np.zeros(3)))
    assert_close(out_dot, [0.0, 1.0, 0.0], rtol=0)


def test_tangents_are_not_mutated():
    t = np.ones(2)
    s2s.jvp(samples.in_place_updates, (np.array([1.0, 2.0]), np.array([0.5, 3.0])), (t, t))
    assert np.all(t == 1.0)


def test_jit_decorator_and_call():
    assert samples.decorated_helper(3.0) == 9.0
    assert s2s.jit(samples.with_default)(3.0) == 18.0
    assert s2s.jit(samples.with_default)(3.0, scale=1.0) == 9.0
    assert s2s.jvp(samples.decorated_helper, (3.0,), (1.0,)) == (9.0, 6.0)


def test_jvp_of_jit_is_compiled():
    import numba

    built = s2s.building.build(s2s.building.key_of(samples.seed_f), "jvp", (True,), 1,
                                   s2s.backends.named("numba"))
    assert isinstance(built.call.dispatcher, numba.core.registry.CPUDispatcher)


def test_python_and_numba_copies_of_one_module_stay_apart():
    key = s2s.building.key_of(samples.calls_decorated)
    python = s2s.building.build(key, "jvp", (True,), 1, s2s.backends.named("python"))
    numba_ = s2s.building.build(key, "jvp", (True,), 1, s2s.backends.named("numba"))
    assert s2s.jvp(samples.calls_decorated, (0.5,), (1.0,)) == s2s.jvp(s2s.jit(samples.calls_decorated), (0.5,), (1.0,))
    assert type(python.call.__globals__["helper_scaled_jvp"]).__name__ == "function"
    assert type(numba_.call.dispatcher.py_func.__globals__["helper_scaled_jvp"]).__name__ == "CPUDispatcher"


def test_source_modes_and_argnums():
    text = s2s.source(samples.pair, mode="jvp", argnums=(1,))
    assert "def pair_jvp(x, y, y_dot):" in text
    assert "def pair(x, y):" in s2s.source(samples.pair, mode="primal")
    with pytest.raises(ValueError, match="unknown mode"):
        s2s.source(samples.pair, mode="nope")


def test_generated_code_names_its_source():
    text = s2s.source(samples.seed_f)
    assert "samples.py:" in text and "x_dot" in text and "0.0 *" not in text


@pytest.mark.parametrize("primals, tangents, error, match", [
    ((1.0,), (np.ones(3),), ValueError, "shape"),
    ((np.ones(2),), (np.ones(3),), ValueError, r"shape \(3,\)"),
    ((np.ones(2),), (np.ones(2, dtype=np.float32),), TypeError, "dtype float32"),
    ((2,), (1.0,), TypeError, "integer"),
    ((2.0,), (1,), TypeError, "float"),
    ((2.0,), (1.0, 1.0), TypeError, "2 tangents"),
    (2.0, (1.0,), TypeError, "tuples"),
    (("a",), (1.0,), TypeError, "str"),
])
def test_bad_tangents_are_refused(primals, tangents, error, match):
    with pytest.raises(error, match=match):
        s2s.jvp(samples.seed_f, primals, tangents)


def test_missing_primal_is_refused():
    with pytest.raises(TypeError, match="no primal given for the argument"):
        s2s.jvp(samples.pair, (1.0,), (1.0,))
