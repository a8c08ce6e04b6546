"""Derivatives that were refused or wrong: second order through products, cumulative products and norms,
products with exact zeros, np.roll by a shift held in a variable, solve_triangular's ``trans``.

Products and cumulative products are checked against JAX (first and second order), at operands with
exact zeros; the rest against central differences.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
import scipy.linalg
from derivatives import central_difference
from hypothesis import given, settings
from hypothesis import strategies as st
from programs import load_module, load_program

import s2s
from s2s import runtime as rt
from s2s.errors import NoRuleError

s2s.backends.named("numba")  # loaded: the runtime helpers called from numba.njit functions here are registered

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy


# -- products with exact zeros: every order, against JAX ------------------------------------------

#: Products and cumulative products along each kind of axis, as source.
PRODUCTS = ["np.prod(x)", "np.prod(x, axis=0)", "np.prod(x, axis=-1, keepdims=True)", "np.cumprod(x)",
            "np.cumprod(x, axis=0)", "np.cumprod(x, axis=-1)"]


def _twin(code, x):
    """The same call in JAX."""
    return eval(code, {"np": jnp, "x": x})


@st.composite
def with_zeros(draw):
    """A call, and an operand (1-D or 2-D) with zero, one or two exact zeros at drawn positions."""
    code = draw(st.sampled_from(PRODUCTS))
    shape = draw(st.sampled_from([(4,), (2, 3), (3, 2)]))
    size = int(np.prod(shape))
    x = np.array(draw(st.lists(st.floats(-2, 2).filter(lambda v: abs(v) > 0.1), min_size=size, max_size=size)))
    for k in draw(st.lists(st.integers(0, size - 1), max_size=2, unique=True)):
        x[k] = 0.0
    return code, x.reshape(shape)


_programs = {}


def program(code, tmp_path_factory):
    """``sum(sin(code))``: a scalar whose gradient's cotangents vary with ``x`` (so second order goes through
    the transposes' own derivatives)."""
    if code not in _programs:
        _programs[code] = load_program("x", [f"return np.sum(np.sin({code}))"], tmp_path_factory.mktemp("products"))
    return _programs[code]


@settings(max_examples=60, deadline=None)
@given(with_zeros())
def test_products_at_zeros_match_jax(tmp_path_factory, case):
    code, x = case
    f = program(code, tmp_path_factory)
    g = lambda x: jnp.sum(jnp.sin(_twin(code, x)))  # noqa: E731
    t = np.random.default_rng(0).standard_normal(x.shape)
    tangent = s2s.jvp(f, (x,), (t,))[1]
    np.testing.assert_allclose(tangent, jax.jvp(g, (x,), (t,))[1], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(s2s.grad(f)(x), jax.grad(g)(x), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(s2s.jvp(s2s.grad(f), (x,), (t,))[1], jax.jvp(jax.grad(g), (x,), (t,))[1],
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(s2s.hessian(f)(x), jax.hessian(g)(x), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("code", ["np.prod(x, axis=0)", "np.cumprod(x, axis=-1)", "np.cumprod(x)"])
def test_products_at_zeros_under_numba(code, tmp_path_factory):
    f = program(code, tmp_path_factory)
    g = lambda x: jnp.sum(jnp.sin(_twin(code, x)))  # noqa: E731
    x = np.array([[0.5, 0.0, -1.5], [0.0, 2.0, 0.0]])
    t = np.random.default_rng(1).standard_normal(x.shape)
    np.testing.assert_allclose(s2s.jit(s2s.grad(f))(x), jax.grad(g)(x), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(s2s.jvp(s2s.jit(s2s.grad(f)), (x,), (t,))[1], jax.jvp(jax.grad(g), (x,), (t,))[1], rtol=1e-9, atol=1e-12)


# -- the runtime helpers of cumulative products, in Python and under Numba -------------------------


@numba.njit
def _cumprod_helpers(a, t, b, ct):
    return (rt.cumprod_jvp(a, t, 0), rt.cumprod_hvp(a, t, b, 0), rt.cumprod_jvp_transpose(a, ct, 0),
            rt.cumprod_hvp_transpose(a, ct, b, 0), rt.prod_others_jvp(a, t, 0))


def test_cumprod_helpers_agree_under_numba():
    rng = np.random.default_rng(2)
    a, t, b, ct = (rng.standard_normal((4, 2)) for _ in range(4))
    a[1, 0] = a[2, 1] = 0.0
    python = (rt.cumprod_jvp(a, t, 0), rt.cumprod_hvp(a, t, b, 0), rt.cumprod_jvp_transpose(a, ct, 0),
              rt.cumprod_hvp_transpose(a, ct, b, 0), rt.prod_others_jvp(a, t, 0))
    for got, want in zip(_cumprod_helpers(a, t, b, ct), python):
        np.testing.assert_allclose(got, want, rtol=1e-14)
    # each is the derivative (or transpose) of another
    eps = 1e-6
    np.testing.assert_allclose(python[1], (rt.cumprod_jvp(a + eps * b, t, 0) - rt.cumprod_jvp(a - eps * b, t, 0))
                               / (2 * eps), rtol=1e-6, atol=1e-8)
    assert np.isclose(np.sum(ct * python[0]), np.sum(python[2] * t))
    assert np.isclose(np.sum(ct * python[1]), np.sum(python[3] * t))


# -- np.roll by a shift held in a variable -----------------------------------------------------------


@st.composite
def rolls(draw):
    """A shift and axes, held in variables (ints or tuples), and the shape they roll."""
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim)))
    count = draw(st.integers(1, ndim))
    axes = tuple(draw(st.permutations(range(ndim)))[:count])
    shifts = tuple(draw(st.lists(st.integers(-5, 5), min_size=count, max_size=count)))
    if count == 1 and draw(st.booleans()):
        return shape, shifts[0], axes[0]
    return shape, shifts, axes


@settings(max_examples=40, deadline=None)
@given(rolls())
def test_roll_by_a_variable_shift(tmp_path_factory, case):
    shape, shift, axis = case
    f = load_program("x, w", [f"s = {shift!r}", f"a = {axis!r}", "return np.sum(np.roll(x, s, axis=a) * w)"],
                     tmp_path_factory.mktemp("roll"))
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal(shape), rng.standard_normal(shape)
    np.testing.assert_allclose(s2s.grad(f)(x, w), np.roll(w, np.negative(shift), axis=axis), rtol=1e-14)


def test_roll_by_a_variable_shift_under_numba(tmp_path):
    f = load_program("x, w", ["s = (1, -2)", "return np.sum(np.roll(x, s, axis=(0, 1)) * w)"], tmp_path)
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    np.testing.assert_allclose(s2s.jit(s2s.grad(f))(x, w), np.roll(w, (-1, 2), axis=(0, 1)), rtol=1e-14)


# -- solve_triangular's trans: Python and Numba read it alike -------------------------------------


@numba.njit
def _triangle(a, lower, trans):
    return rt.triangle(a, lower, trans)


@pytest.mark.parametrize("lower", [False, True])
@pytest.mark.parametrize("trans", [0, 1, 2])
def test_triangle_is_what_solve_triangular_reads(trans, lower):
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((3, 3)) + 3 * np.eye(3), rng.standard_normal(3)
    python = rt.triangle(a, lower, trans)
    np.testing.assert_allclose(np.linalg.solve(python, b), scipy.linalg.solve_triangular(a, b, trans=trans, lower=lower))
    np.testing.assert_array_equal(_triangle(a, lower, trans), python)


@pytest.mark.parametrize("trans", [0, "N", 1, "T", 2, "C"])
def test_solve_triangular_derivative_for_each_trans(trans, tmp_path):
    f = load_module(tmp_path, "import numpy as np\nimport scipy.linalg\n\n\ndef f(a, b):\n"
                    f"    return np.sum(np.sin(scipy.linalg.solve_triangular(a, b, trans={trans!r})))\n").f
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((3, 3)) + 3 * np.eye(3), rng.standard_normal(3)
    ta, tb = rng.standard_normal((3, 3)), rng.standard_normal(3)
    tangent = s2s.jvp(f, (a, b), (ta, tb))[1]
    np.testing.assert_allclose(tangent, central_difference(f, (a, b), (ta, tb))[0], rtol=1e-6)


# -- a derivative s2s cannot take twice is refused at the user's line ------------------------------


def test_second_order_refusal_names_the_users_line(tmp_path):
    f = load_program("x", ["s = np.linalg.svd(x, compute_uv=False)", "return np.sum(s)"], tmp_path)
    x = np.random.default_rng(7).standard_normal((3, 2))
    for second in (lambda: s2s.hessian(f)(x), lambda: s2s.jvp(s2s.grad(f), (x,), (x,))):
        with pytest.raises(NoRuleError) as refused:
            second()
        assert refused.value.filename.startswith("program_") and refused.value.lineno == 5
        assert "np.linalg.svd(x, compute_uv=False)" in str(refused.value)
