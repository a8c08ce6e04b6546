"""stop_gradient, eval_shape, jit's static arguments and vectorize: the seed's examples with JAX's values, and
derivatives against central differences, in Python and under s2s.jit."""

from __future__ import annotations

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import s2s
from s2s import stop_gradient
from tests.derivatives import assert_close, central_difference

jax.config.update("jax_enable_x64", True)

BACKENDS = [pytest.param(lambda f: f, id="python"), pytest.param(s2s.jit, id="numba")]
RNG = np.random.default_rng(0)


# -- stop_gradient ----------------------------------------------------------------------


def loss(y, target):
    return np.sum((y - s2s.stop_gradient(target)) ** 2)


def damped(x):
    """Only the first factor carries a derivative."""
    return np.sum(x * stop_gradient(np.sin(x)))


@pytest.mark.parametrize("wrap", BACKENDS)
def test_stop_gradient_grad_matches_jax(wrap):
    y, t = RNG.normal(size=4), RNG.normal(size=4)
    got = wrap(s2s.grad(loss, argnums=(0, 1)))(y, t)
    want = jax.grad(lambda y, t: jnp.sum((y - jax.lax.stop_gradient(t)) ** 2), argnums=(0, 1))(y, t)
    assert_close(got[0], np.asarray(want[0]), rtol=1e-12)
    assert np.array_equal(got[1], np.zeros(4))


@pytest.mark.parametrize("wrap", BACKENDS)
def test_stop_gradient_in_every_transform(wrap):
    x, t = RNG.normal(size=3), RNG.normal(size=3)
    assert_close(wrap(s2s.grad(damped))(x), np.sin(x), rtol=1e-12)
    out, out_dot = s2s.jvp(wrap(damped), (x,), (t,))
    assert_close(out_dot, np.sum(t * np.sin(x)), rtol=1e-12)
    _, f_vjp = s2s.vjp(wrap(damped), x)
    assert_close(f_vjp(1.0)[0], np.sin(x), rtol=1e-12)
    assert np.array_equal(wrap(s2s.hessian(damped))(x), np.zeros((3, 3)))
    assert_close(wrap(s2s.jacrev(lambda x: x * stop_gradient(x)))(x), np.diag(x), rtol=1e-12)
    assert_close(wrap(s2s.jacfwd(lambda x: x * stop_gradient(x)))(x), np.diag(x), rtol=1e-12)
    batch = RNG.normal(size=(5, 3))
    assert_close(wrap(s2s.vmap(s2s.grad(damped)))(batch), np.sin(batch), rtol=1e-12)


@pytest.mark.parametrize("wrap", BACKENDS)
def test_stop_gradient_against_differences_of_the_stopped_function(wrap):
    """The derivative is that of the function with the stopped value held at its value here."""
    x, t = RNG.normal(size=3), RNG.normal(size=3)
    held = np.sin(x)
    expected = central_difference(lambda x: np.sum(x * held), (x,), (t,))
    _, got = s2s.jvp(wrap(damped), (x,), (t,))
    assert_close(got, expected, rtol=1e-7)


def target_network_loss(params, x):
    """A frozen copy of the parameters (a tree) against the live ones."""
    frozen = s2s.stop_gradient(params)
    return np.sum((frozen["W"] @ x) * (params["W"] @ x) + frozen["b"] * params["b"])


@pytest.mark.parametrize("wrap", BACKENDS)
def test_stop_gradient_of_a_tree_inside_transformed_code(wrap):
    params, x = {"W": RNG.normal(size=(2, 3)), "b": RNG.normal(size=2)}, RNG.normal(size=3)
    got = wrap(s2s.grad(target_network_loss))(params, x)
    assert_close(got["W"], np.outer(params["W"] @ x, x), rtol=1e-12)
    assert_close(got["b"], params["b"], rtol=1e-12)


def test_stop_gradient_direct_calls_take_trees():
    tree = {"a": np.ones(2), "b": [1.0, (2.0, np.zeros(3))]}
    out = s2s.stop_gradient(tree)
    assert out.keys() == tree.keys() and out["b"][0] == 1.0 and out["b"][1][1] is tree["b"][1][1]
    x = np.ones(3)
    assert s2s.stop_gradient(x) is x


# -- eval_shape -------------------------------------------------------------------------


class MyArgArray:
    def __init__(self, shape, dtype):
        self.shape, self.dtype = shape, dtype


def test_eval_shape_seed_example_without_flops():
    f = lambda A, x: np.tanh(np.dot(A, x))  # noqa: E731
    A, x = MyArgArray((2000, 3000), np.float32), MyArgArray((3000, 1000), np.float32)
    start = time.perf_counter()
    out = s2s.eval_shape(f, A, x)
    assert time.perf_counter() - start < 0.1  # the product itself takes ~0.3 s on this machine
    want = jax.eval_shape(lambda A, x: jnp.tanh(jnp.dot(A, x)), jax.ShapeDtypeStruct(A.shape, A.dtype),
                          jax.ShapeDtypeStruct(x.shape, x.dtype))
    assert (out.shape, out.dtype) == (want.shape, want.dtype) == ((2000, 1000), np.float32)
    assert s2s.eval_shape(lambda A, x: A @ x, A, x) == s2s.ShapeDtypeStruct((2000, 1000), np.float32)


@pytest.mark.parametrize("f, shapes", [
    (lambda a, b: a @ b, [(5, 2, 3), (3,)]),
    (lambda a, b: a @ b, [(3,), (4, 3, 2)]),
    (lambda a, b: np.matmul(a, b), [(4, 1, 2, 3), (5, 3, 2)]),
    (lambda a, b: np.dot(a, b), [(2, 3, 4), (5, 4, 6)]),
    (lambda a, b: np.dot(a, b), [(4,), (4,)]),
    (lambda a, b: np.sum(np.exp(a) * b, axis=0, keepdims=True), [(3, 4), (4,)]),
    (lambda a, b: (np.zeros_like(a, dtype=np.int32), np.full_like(b, 2.0), a.T, a[0], np.concatenate([a, a])),
     [(3, 4), (4,)]),
])
def test_eval_shape_is_what_calling_it_gives(f, shapes):
    """eval_shape's definition: the shapes and dtypes of fun(*args) on real arrays (small ones here)."""
    got = s2s.eval_shape(f, *[s2s.ShapeDtypeStruct(s, np.float32) for s in shapes])
    want = f(*[RNG.normal(size=s).astype(np.float32) for s in shapes])
    got, want = s2s.tree_util.tree_leaves(got), s2s.tree_util.tree_leaves(want)
    assert [(g.shape, g.dtype) for g in got] == [(np.shape(w), np.result_type(w)) for w in want]


def test_eval_shape_of_transforms_and_trees():
    S = s2s.ShapeDtypeStruct

    def mse(w, b, x):
        return np.mean(np.tanh(x @ w + b) ** 2)

    grads = s2s.eval_shape(s2s.grad(mse, argnums=(0, 1)), S((3, 4), np.float32), S((4,), np.float32),
                           S((10, 3), np.float32))
    assert grads == (S((3, 4), np.float32), S((4,), np.float32))
    assert s2s.eval_shape(s2s.jit(s2s.grad(mse)), S((3, 4), float), S((4,), float), S((10, 3), float)) \
        == S((3, 4), float)
    assert s2s.eval_shape(s2s.vmap(mse, in_axes=(None, None, 0)), S((3, 4), float), S((4,), float),
                          S((7, 10, 3), float)) == S((7,), float)
    out = s2s.eval_shape(lambda d: {"a": d["x"].T, "b": [d["x"][0]]}, {"x": S((2, 5), np.int32)})
    assert out == {"a": S((5, 2), np.int32), "b": [S((5,), np.int32)]}


def test_eval_shape_raises_the_functions_shape_errors():
    with pytest.raises(ValueError):
        s2s.eval_shape(lambda a, b: a @ b, s2s.ShapeDtypeStruct((2, 3), float), s2s.ShapeDtypeStruct((2,), float))
    with pytest.raises(ValueError):
        s2s.eval_shape(lambda a, b: a + b, s2s.ShapeDtypeStruct((2, 3), float), s2s.ShapeDtypeStruct((2,), float))


# -- jit's static arguments -------------------------------------------------------------


def repeated(x, n, mode="sum"):
    acc = x
    for _ in range(n):
        acc = np.sin(acc)
    if mode == "sum":
        return np.sum(acc)
    return np.max(acc)


def test_static_arguments_drive_loops_branches_and_shapes():
    x = RNG.normal(size=3)
    f = s2s.jit(repeated, static_argnums=1, static_argnames="mode")
    assert f(x, 3) == pytest.approx(repeated(x, 3), rel=1e-14)
    assert f(x, 2, mode="max") == pytest.approx(repeated(x, 2, "max"), rel=1e-14)
    assert f(x, n=4, mode="max") == pytest.approx(repeated(x, 4, "max"), rel=1e-14)

    @functools.partial(s2s.jit, static_argnums=(1, 2))
    def apply(x, act, shape):
        return np.zeros(shape) + np.sum(act(x))

    assert_close(apply(x, np.tanh, (2, 3)), np.full((2, 3), np.sum(np.tanh(x))), rtol=1e-14)
    assert_close(apply(x, np.cos, 4), np.full(4, np.sum(np.cos(x))), rtol=1e-14)


def test_static_arguments_specialise_and_cache_by_value():
    f = s2s.jit(repeated, static_argnums=(1,))
    x = np.ones(2)
    f(x, 2)
    info = s2s.building.build.cache_info()
    f(x, 2)
    assert s2s.building.build.cache_info().misses == info.misses  # the same value: no new compile
    f(x, 5)
    assert s2s.building.build.cache_info().misses > info.misses


def test_static_arguments_must_be_hashable():
    f = s2s.jit(repeated, static_argnums=1)
    with pytest.raises(TypeError, match="hashable"):
        f(np.ones(2), [1])
    with pytest.raises(ValueError, match="static_argnums"):
        s2s.jit(repeated, static_argnums=5)


@pytest.mark.parametrize("transform", ["grad", "jvp"])
def test_transforms_of_jitted_functions_with_static_arguments(transform):
    x, t = RNG.normal(size=3), RNG.normal(size=3)
    f = s2s.jit(repeated, static_argnums=1)
    expected = central_difference(lambda x: repeated(x, 3), (x,), (t,))
    if transform == "grad":
        got = s2s.grad(f)(x, 3) @ t
    else:
        got = s2s.jvp(f, (x, 3), (t, None))[1]
    assert_close(got, expected, rtol=1e-7)


def activated(x, act, w):
    return np.sum(act(w * x))


def test_gradients_and_jacobians_of_functions_as_static_arguments():
    """A function passed as a static argument is a constant of the code the transforms read (as JAX's
    grad(jit(f, static_argnums=1))); argnums count every argument, static ones included."""
    x = RNG.normal(size=3)
    f = s2s.jit(activated, static_argnums=1)
    np.testing.assert_allclose(s2s.grad(f)(x, np.tanh, 0.5), 0.5 * (1.0 - np.tanh(0.5 * x) ** 2), rtol=1e-13)
    assert s2s.grad(f, argnums=2)(x, np.tanh, 0.5) == pytest.approx(np.sum(x * (1.0 - np.tanh(0.5 * x) ** 2)))
    dx, dw = s2s.grad(f, argnums=(0, 2))(x, np.sin, 0.5)
    np.testing.assert_allclose(dx, 0.5 * np.cos(0.5 * x), rtol=1e-13)
    np.testing.assert_allclose(s2s.jacfwd(f)(x, np.sin, 0.5), dx, rtol=1e-13)
    with pytest.raises(ValueError, match="static"):
        s2s.grad(f, argnums=1)(x, np.tanh, 0.5)


def test_every_transform_of_functions_as_static_arguments():
    """jvp, linearize, vjp and vmap of ``jit(f, static_argnums=1)`` specialise ``f`` on the function it is passed:
    tangents of static arguments are ignored, their cotangents are None, and vmap maps none of them."""
    x, t = RNG.normal(size=3), RNG.normal(size=3)
    f = s2s.jit(activated, static_argnums=1)
    slope = 0.5 * (1.0 - np.tanh(0.5 * x) ** 2)
    value, tangent = s2s.jvp(f, (x, np.tanh, 0.5), (t, None, 0.0))
    assert value == pytest.approx(activated(x, np.tanh, 0.5), rel=1e-14)
    assert tangent == pytest.approx(slope @ t, rel=1e-13)
    _, f_jvp = s2s.linearize(f, x, np.tanh, 0.5)
    assert f_jvp(t, None, 0.0) == pytest.approx(slope @ t, rel=1e-13)
    _, f_vjp = s2s.vjp(f, x, np.tanh, 0.5)
    dx, dact, dw = f_vjp(1.0)
    np.testing.assert_allclose(dx, slope, rtol=1e-13)
    assert dact is None and dw == pytest.approx(np.sum(x * (1.0 - np.tanh(0.5 * x) ** 2)), rel=1e-13)
    xs = RNG.normal(size=(4, 3))
    for vmapped in (s2s.vmap(f, in_axes=(0, None, None)), s2s.jit(s2s.vmap(f, in_axes=(0, None, None)))):
        np.testing.assert_allclose(vmapped(xs, np.sin, 0.5), [activated(r, np.sin, 0.5) for r in xs], rtol=1e-13)
    with pytest.raises(ValueError, match="static argument"):
        s2s.vmap(f)(xs, np.sin, np.ones(4))


def test_static_arguments_match_jax():
    def f(x, n):
        return np.sum(x ** n)

    x = RNG.normal(size=4)
    got = s2s.jit(f, static_argnums=1)(x, 3)
    want = jax.jit(lambda x, n: jnp.sum(x ** n), static_argnums=1)(x, 3)
    assert got == pytest.approx(float(want), rel=1e-13)


# -- vectorize --------------------------------------------------------------------------


@functools.partial(s2s.vectorize, signature="(k),(k)->(k)")
def cross_product(a, b):
    assert a.shape == b.shape and a.ndim == b.ndim == 1
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


@functools.partial(s2s.vectorize, signature="(n,m),(m)->(n)")
def matrix_vector_product(matrix, vector):
    assert matrix.ndim == 2 and matrix.shape[1:] == vector.shape
    return matrix @ vector


def jax_matrix_vector_product(matrix, vector):
    return jnp.vectorize(lambda m, v: m @ v, signature="(n,m),(m)->(n)")(matrix, vector)


@pytest.mark.parametrize("shapes, want", [
    (((3,), (3,)), (3,)), (((2, 3), (3,)), (2, 3)), (((1, 2, 3), (2, 1, 3)), (2, 2, 3))])
def test_vectorize_seed_cross_product(shapes, want):
    a, b = RNG.normal(size=shapes[0]), RNG.normal(size=shapes[1])
    got = cross_product(a, b)
    assert got.shape == want
    assert_close(got, np.asarray(jnp.cross(a, b)), rtol=1e-12)


@pytest.mark.parametrize("shapes, want", [(((2, 3), (3,)), (2,)), (((2, 3), (4, 3)), (4, 2)),
                                          (((5, 1, 2, 3), (4, 3)), (5, 4, 2))])
def test_vectorize_seed_matrix_vector_product(shapes, want):
    m, v = RNG.normal(size=shapes[0]), RNG.normal(size=shapes[1])
    got = matrix_vector_product(m, v)
    assert got.shape == want
    assert_close(got, np.asarray(jax_matrix_vector_product(m, v)), rtol=1e-12)
    assert_close(s2s.jit(matrix_vector_product)(m, v), got, rtol=1e-12)


def test_vectorize_refuses_too_few_core_dimensions():
    with pytest.raises(ValueError, match=r"input with shape \(3,\) does not have enough dimensions for all core "
                                         r"dimensions \('n', 'm'\)"):
        matrix_vector_product(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="inconsistent size for core dimension 'm'"):
        matrix_vector_product(np.ones((2, 3)), np.ones(4))


def test_vectorize_without_signature_and_excluded():
    f = s2s.vectorize(lambda x, y: x * np.sin(y))
    x, y = RNG.normal(size=(2, 3)), RNG.normal(size=3)
    assert_close(f(x, y), x * np.sin(y), rtol=1e-14)
    g = s2s.vectorize(lambda x, p: x ** p, excluded={1})
    assert_close(g(x, 2), x ** 2, rtol=1e-14)
    assert_close(g(x, p=3), x ** 3, rtol=1e-14)


@pytest.mark.parametrize("wrap", BACKENDS)
def test_vectorize_of_a_gradient_against_differences(wrap):
    def energy(x, y):
        return np.sum(np.sin(x) * y) + np.sum(x ** 2) * y[0]

    per_row = wrap(s2s.vectorize(s2s.grad(energy), signature="(n),(n)->(n)"))
    x, y = RNG.normal(size=(4, 3)), RNG.normal(size=3)
    got = per_row(x, y)
    for i in range(4):
        for j in range(3):
            e = np.zeros(3)
            e[j] = 1.0
            assert_close(got[i, j], central_difference(lambda r: energy(r, y), (x[i],), (e,)), rtol=1e-7)
    want = jnp.vectorize(jax.grad(lambda x, y: jnp.sum(jnp.sin(x) * y) + jnp.sum(x ** 2) * y[0]),
                         signature="(n),(n)->(n)")(x, y)
    assert_close(got, np.asarray(want), rtol=1e-12)


def penalty(x, w, mode):
    if mode == "l2":
        return w * np.sum(x ** 2)
    return w * np.sum(np.log(np.cosh(x)))  # only this branch runs for "smooth"


@pytest.mark.parametrize("mode", ["l2", "smooth"])
def test_static_arguments_decide_branches_where_s2s_reads_the_code(mode):
    """A static string choosing a branch: only the branch taken is generated (so no tape of the other, which
    Numba could not type), under grad of the jitted function as under its calls."""
    x = RNG.normal(size=4)
    f = s2s.jit(penalty, static_argnums=2)
    expected = 2.0 * 1.5 * x if mode == "l2" else 1.5 * np.tanh(x)
    np.testing.assert_allclose(s2s.grad(f)(x, 1.5, mode), expected, rtol=1e-13)
    np.testing.assert_allclose(s2s.grad(f, argnums=1)(x, 1.5, mode), f(x, 1.0, mode), rtol=1e-13)
    code = [ln for ln in s2s.source(f, "grad", args=(x, 1.5, "l2")).splitlines() if not ln.strip().startswith("#")]
    assert not any("cosh" in ln for ln in code)


def dense(x, W, act, depth):
    for _ in range(depth):
        x = act(W @ x)
    return x


dense_static = s2s.jit(dense, static_argnums=(2, 3))


def softsign(z):
    return z / (1.0 + np.abs(z))


def network_loss(x, W):
    """Helpers passed functions inside differentiated code: the jitted one with static arguments, and a plain one
    passed an activation of the user's."""
    return np.sum(dense_static(x, W, np.tanh, 2)) + np.sum(dense(x, W, softsign, 1) ** 2)


@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
def test_helpers_passed_functions_inside_transformed_code(jit):
    """A call passing a function (or a jitted function's static arguments) is a call of the helper specialised on
    it, as JAX traces through the function it is passed."""
    x, W = np.array([0.1, 0.2, -0.3]), np.array([[0.3, -0.2, 0.1], [0.2, 0.4, 0.0], [-0.1, 0.3, 0.5]])
    t = RNG.normal(size=(3, 3))
    grad = s2s.grad(network_loss, argnums=1)
    expected = central_difference(network_loss, (x, W), (None, t))[0]
    assert np.vdot((s2s.jit(grad) if jit else grad)(x, W), t) == pytest.approx(expected, rel=1e-6)
    assert s2s.jvp(network_loss, (x, W), (np.zeros(3), t))[1] == pytest.approx(expected, rel=1e-6)
