"""vmap and the Jacobians built on it: every corpus function batched by both strategies, in Python and
under Numba, against the stacked per-example results; Jacobians and Hessians against finite differences;
the seed's examples; the errors a user can run into."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from corpus import CASES, batch_args, example
from derivatives import central_difference, flat

import s2s
from s2s.errors import BatchingError

#: Corpus functions the vectorized strategy refuses (the loop strategy maps them), and why.
NOT_VECTORIZED = {
    "heat_rod_dirichlet": "a call or check made for its effect",  # a helper writing into batched arrays
    "projectile_range": "trip count depends on a mapped argument",
    "newton_sqrt": "trip count depends on a mapped argument",
    "power_iteration": "trip count depends on a mapped argument",
    "kepler_eccentric_anomaly": "a branch on a batched value",  # a loop that breaks on a batched test
    "first_passage_time": "a branch on a batched value",
    "positive_part_energy": "a branch on a batched value",
    "band_penalty": "a branch on a batched value",
    "bilinear_forms": "np.outer",
    "trapezoid_integral": "np.linspace",
    "coarse_grain": "np.full",
}
VECTORIZED = [c for c in CASES if c.name not in NOT_VECTORIZED]
NUMBA = [c for c in CASES if c.numba]


def _ids(cases):
    return [c.name for c in cases]


def assert_stacked(batched, case, args, in_axes):
    """``batched`` holds, along axis 0 of each output, what the case's function gives for each example."""
    outputs = batched if isinstance(batched, tuple) else (batched,)
    for b in range(len(args[in_axes.index(0)])):
        expected = case.fun(*example(args, in_axes, b))
        expected = expected if isinstance(expected, tuple) else (expected,)
        assert len(outputs) == len(expected)
        for out, exp in zip(outputs, expected):
            np.testing.assert_allclose(np.asarray(out)[b], exp, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_vmap_loop_matches_examples(case):
    args, in_axes = batch_args(case)
    assert_stacked(s2s.vmap(case.fun, in_axes, method="loop")(*args), case, args, in_axes)


@pytest.mark.parametrize("case", VECTORIZED, ids=_ids(VECTORIZED))
def test_vmap_vectorized_matches_examples(case):
    args, in_axes = batch_args(case)
    with warnings.catch_warnings():  # a select computes both sides, for every example
        warnings.simplefilter("ignore", RuntimeWarning)
        assert_stacked(s2s.vmap(case.fun, in_axes, method="vectorized")(*args), case, args, in_axes)
    generated = s2s.source(s2s.vmap(case.fun, in_axes), args=args)
    assert "for b in range(1, size)" not in generated, "the default picks the vectorized strategy"


@pytest.mark.parametrize("name, reason", NOT_VECTORIZED.items())
def test_vectorized_refusals_name_the_line(name, reason):
    case = next(c for c in CASES if c.name == name)
    args, in_axes = batch_args(case)
    with pytest.raises(BatchingError, match=reason) as error:
        s2s.vmap(case.fun, in_axes, method="vectorized")(*args)
    assert "corpus.py:" in str(error.value)
    assert_stacked(s2s.vmap(case.fun, in_axes)(*args), case, args, in_axes)  # the default falls back to the loop


@pytest.mark.parametrize("case", NUMBA, ids=_ids(NUMBA))
def test_jit_vmap_loop_matches_examples(case):
    args, in_axes = batch_args(case)
    batched = s2s.jit(s2s.vmap(case.fun, in_axes))
    assert_stacked(batched(*args), case, args, in_axes)


NUMBA_VECTORIZED = [c for c in VECTORIZED if c.numba]


@pytest.mark.parametrize("case", NUMBA_VECTORIZED, ids=_ids(NUMBA_VECTORIZED))
def test_jit_vmap_vectorized_matches_examples(case):
    args, in_axes = batch_args(case)
    batched = s2s.jit(s2s.vmap(case.fun, in_axes, method="vectorized"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Numba's note that '@' is faster on contiguous arrays
        assert_stacked(batched(*args), case, args, in_axes)


# -- Jacobians ---------------------------------------------------------------------------


def _array_output(case) -> bool:
    out = case.fun(*case.args)
    return isinstance(out, (float, np.floating)) or isinstance(out, np.ndarray) and out.dtype.kind == "f"


JACOBIAN = [c for c in CASES if _array_output(c)]


def fd_jacobian(fun, args, k):
    """The Jacobian of ``fun`` with respect to argument ``k``, by central differences: out.shape + x.shape."""
    x = args[k]
    columns = []
    for direction in np.eye(np.size(x)):
        tangents = [None] * len(args)
        tangents[k] = direction.reshape(np.shape(x)) if np.ndim(x) else float(direction[0])
        columns.append(central_difference(fun, args, tangents))
    out = np.asarray(fun(*args))
    return np.stack(columns, axis=-1).reshape(out.shape + np.shape(x))


@pytest.mark.parametrize("case", JACOBIAN, ids=_ids(JACOBIAN))
def test_jacobians_match_finite_differences(case):
    k = case.argnums[0]
    expected = fd_jacobian(case.fun, case.args, k)
    for transform in (s2s.jacfwd, s2s.jacrev):
        jac = transform(case.fun, argnums=k)(*case.args)
        assert np.shape(jac) == expected.shape
        np.testing.assert_allclose(flat(jac), flat(expected), rtol=max(case.rtol, 1e-5), atol=1e-5)


HESSIAN = ["scalar_expression", "rosenbrock", "logsumexp", "gmm_loglik", "rotate_rodrigues", "horner"]


@pytest.mark.parametrize("name", HESSIAN)
def test_hessians_match_finite_differences_of_jacobians(name):
    case = next(c for c in CASES if c.name == name)
    k = case.argnums[0]
    hess = s2s.hessian(case.fun, argnums=k)(*case.args)
    expected = fd_jacobian(s2s.jacrev(case.fun, argnums=k), case.args, k)
    assert np.shape(hess) == expected.shape
    np.testing.assert_allclose(flat(hess), flat(expected), rtol=1e-5, atol=1e-5)
    if np.ndim(hess) >= 2:
        np.testing.assert_allclose(np.swapaxes(hess, -1, -2), hess, atol=1e-8)


# -- the seed's examples -----------------------------------------------------------------


def vv(x, y):
    return np.vdot(x, y)


def seed_jac_f(x):
    return np.array([x[0], 5 * x[2], 4 * x[1] ** 2 - 2 * x[2], x[2] * np.sin(x[0])])


def seed_hess_g(x):
    return x[0] ** 3 - 2 * x[0] * x[1] - x[1] ** 6


def pair(x, y):
    return x + y, y * 2.0


SEED_JACOBIAN = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 5.0], [0.0, 16.0, -2.0], [1.6209, 0.0, 0.84147]])


@pytest.mark.parametrize("compiled", [False, True], ids=["python", "numba"])
def test_seed_matrix_products(compiled):
    wrap = s2s.jit if compiled else (lambda f: f)
    rng = np.random.default_rng(0)
    a, b, c = 3, 4, 5
    mv = s2s.vmap(vv, (0, None), 0)
    mm = wrap(s2s.vmap(mv, (None, 1), 1))
    x, y = rng.standard_normal((b, a)), rng.standard_normal((a, c))
    np.testing.assert_allclose(mm(x, y), x @ y, rtol=1e-12)
    mv1 = wrap(s2s.vmap(vv, (0, 0), 0))
    x2 = rng.standard_normal((b, a))
    np.testing.assert_allclose(mv1(x, x2), np.sum(x * x2, axis=1), rtol=1e-12)
    mv2 = s2s.vmap(vv, (0, 1), 0)
    np.testing.assert_allclose(wrap(mv2)(x, x2.T), np.sum(x * x2, axis=1), rtol=1e-12)
    mm2 = wrap(s2s.vmap(mv2, (1, 1), 0))
    x3, y3 = rng.standard_normal((b, c, a)), rng.standard_normal((a, c, b))
    np.testing.assert_allclose(mm2(x3, y3), np.einsum("bca,acb->cb", x3, y3), rtol=1e-12)


def test_seed_out_axes():
    mapped, unmapped = s2s.vmap(pair, in_axes=(0, None), out_axes=(0, None))(np.arange(2.0), 4.0)
    np.testing.assert_array_equal(mapped, [4.0, 5.0])
    assert unmapped == 8.0
    mapped, broadcast = s2s.vmap(pair, in_axes=(0, None), out_axes=0)(np.arange(2.0), 4.0)
    np.testing.assert_array_equal(broadcast, [8.0, 8.0])


@pytest.mark.parametrize("compiled", [False, True], ids=["python", "numba"])
def test_seed_jacobians_and_hessian(compiled):
    wrap = s2s.jit if compiled else (lambda f: f)
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(wrap(s2s.jacfwd(seed_jac_f))(x), SEED_JACOBIAN, atol=5e-5)
    np.testing.assert_allclose(wrap(s2s.jacrev(seed_jac_f))(x), SEED_JACOBIAN, atol=5e-5)
    np.testing.assert_allclose(wrap(s2s.hessian(seed_hess_g))(np.array([1.0, 2.0])), [[6.0, -2.0], [-2.0, -480.0]])


# -- composition -------------------------------------------------------------------------


def loss(w, x, y):
    return (np.dot(w, x) - y) ** 2


BATCHED_LOSS = s2s.vmap(loss, (None, 0, 0))


def per_example_losses(w, X, Y):
    return BATCHED_LOSS(w, X, Y)


def mean_loss(w, X, Y):
    return np.mean(BATCHED_LOSS(w, X, Y))


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    return rng.standard_normal(3), rng.standard_normal((6, 3)), rng.standard_normal(6)


@pytest.mark.parametrize("compiled", [False, True], ids=["python", "numba"])
def test_per_example_gradients_and_jacobians(data, compiled):
    w, X, Y = data
    wrap = s2s.jit if compiled else (lambda f: f)
    grads = wrap(s2s.vmap(s2s.grad(loss), (None, 0, 0)))(w, X, Y)
    np.testing.assert_allclose(grads, [s2s.grad(loss)(w, x, y) for x, y in zip(X, Y)], rtol=1e-12)
    jacs = wrap(s2s.vmap(s2s.jacfwd(loss, argnums=(0, 1)), (None, 0, 0)))(w, X, Y)
    assert jacs[0].shape == (6, 3) and jacs[1].shape == (6, 3)
    np.testing.assert_allclose(jacs[0], grads, rtol=1e-12)


def test_grad_of_a_function_calling_a_vmapped_one(data):
    w, X, Y = data
    expected = np.mean([s2s.grad(loss)(w, x, y) for x, y in zip(X, Y)], axis=0)
    np.testing.assert_allclose(s2s.grad(mean_loss)(w, X, Y), expected, rtol=1e-12)
    np.testing.assert_allclose(s2s.jit(s2s.grad(mean_loss))(w, X, Y), expected, rtol=1e-12)


def test_jacobian_of_a_vmapped_function(data):
    w, X, Y = data
    jac = s2s.jacfwd(per_example_losses)(w, X, Y)
    np.testing.assert_allclose(jac, s2s.vmap(s2s.grad(loss), (None, 0, 0))(w, X, Y), rtol=1e-12)


def test_jit_batch_loop_is_parallel(data):
    w, X, Y = data
    assert "rt.prange" not in s2s.source(s2s.vmap(loss, (None, 0, 0), method="loop"), args=(w, X, Y))
    batched = s2s.jit(s2s.vmap(loss, (None, 0, 0)))
    assert "rt.prange(1, size)" in s2s.source(batched, args=(w, X, Y))
    from s2s import backends, batch_axes, building

    batched(w, X, Y)
    built = building.build(building.key_of(batched.__s2s_function__), "call", None, 3, backends.named("numba"),
                           batch_axes.specs_of((w, X, Y)))
    assert built.call.dispatcher.targetoptions.get("parallel") is True


# -- errors --------------------------------------------------------------------------------


def test_mismatched_batch_sizes_name_the_arguments():
    with pytest.raises(ValueError, match=r"argument 0 has size 3, argument 1 has size 4"):
        s2s.vmap(vv)(np.ones((3, 2)), np.ones((4, 2)))


@pytest.mark.parametrize("in_axes, message", [((0, 0, 0), "in_axes has 3 entries"),
                                              ((2, None), "out of range for argument 0"),
                                              ((None, None), "at least one argument"),
                                              ((0, "x"), "must be an int, None, or a tuple")])
def test_bad_in_axes(in_axes, message):
    with pytest.raises((ValueError, TypeError), match=message):
        s2s.vmap(vv, in_axes)(np.ones((3, 2)), np.ones(2))


def test_out_axes_none_for_a_mapped_output():
    with pytest.raises(BatchingError, match="out_axes=None"):
        s2s.vmap(pair, (0, None), out_axes=(None, None))(np.arange(2.0), 4.0)
    with pytest.raises(BatchingError, match="out_axes=None"):
        s2s.vmap(pair, (0, None), out_axes=(None, None), method="loop")(np.arange(2.0), 4.0)


def test_jacobian_of_integer_argument_is_refused():
    with pytest.raises(TypeError, match="jacfwd requires float arguments"):
        s2s.jacfwd(seed_jac_f)(np.array([1, 2, 3]))


def scaled(x, scale=2.0):
    return x * scale


def test_defaults_are_shared_and_keywords_mapped():
    x = np.arange(3.0)
    np.testing.assert_array_equal(s2s.vmap(scaled)(x), 2.0 * x)
    np.testing.assert_array_equal(s2s.vmap(scaled)(x, scale=np.array([1.0, 2.0, 3.0])), x * [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(s2s.vmap(scaled, in_axes=(0, None))(x, 3.0), 3.0 * x)


def test_jacobian_of_a_tuple_output_is_a_tuple():
    blocks = s2s.jacfwd(pair)(1.0, 2.0)
    assert isinstance(blocks, tuple) and len(blocks) == 2
    with pytest.raises(TypeError, match="returns a tuple"):  # batched, it is one output at a time
        s2s.vmap(s2s.jacfwd(pair))(np.ones(2), np.ones(2))


def loop_energy(x):
    total = 0.0
    for i in range(x.shape[0]):
        total += np.sin(x[i]) * x[i] * x[0]
    return total


@pytest.mark.parametrize("second", [lambda f: s2s.jacfwd(s2s.grad(f)), lambda f: s2s.jacfwd(s2s.jacfwd(f)),
                                    lambda f: s2s.jacrev(s2s.jacfwd(f))],
                         ids=["jacfwd(grad)", "jacfwd(jacfwd)", "jacrev(jacfwd)"])
def test_second_derivatives_compose(second):
    x = np.array([1.0, 2.0, 0.5])
    np.testing.assert_allclose(second(loop_energy)(x), s2s.hessian(loop_energy)(x), rtol=1e-12, atol=1e-14)


def test_derivatives_of_a_vmapped_function():
    x = np.linspace(0.0, 1.0, 4)
    batched = s2s.vmap(pair, (0, None))
    (out, _), (out_dot, _) = s2s.jvp(batched, (x, 2.0), (np.ones(4), 0.0))
    np.testing.assert_allclose(out_dot, np.ones(4))
    _, pullback = s2s.vjp(s2s.vmap(seed_hess_g), np.stack([x[:2], x[2:]]))
    np.testing.assert_allclose(pullback(np.array([1.0, 0.0]))[0][0], s2s.grad(seed_hess_g)(x[:2]))


@pytest.mark.parametrize("transform", [s2s.vjp, s2s.linearize])
def test_reverse_mode_of_a_backward_pass_is_refused(transform):
    with pytest.raises(TypeError, match="has a backward pass"):
        transform(s2s.vmap(s2s.grad(seed_hess_g)), np.ones((2, 2)))
    with pytest.raises(TypeError, match="has a backward pass"):
        s2s.jacrev(s2s.grad(seed_hess_g))(np.ones(2))


#: Compiled Jacobians take another route than Python's (jacfwd linearizes, batches run as loops): checked on
#: functions with loops, branches, helpers and arrays (a sample: each compiles a module).
COMPILED_JACOBIAN = ["logistic_map", "kalman_filter_1d", "heat_rod_slices", "convolve_stencil", "gmm_loglik",
                     "bracket_tax", "horner", "rotate_rodrigues", "first_passage_time", "back_substitution",
                     "matrix_rows_cols", "relative_humidity"]


@pytest.mark.parametrize("name", COMPILED_JACOBIAN)
def test_compiled_jacobians_match_python(name):
    case = next(c for c in CASES if c.name == name)
    k = case.argnums[0]
    expected = s2s.jacfwd(case.fun, argnums=k)(*case.args)
    for transform in (s2s.jacfwd, s2s.jacrev):
        np.testing.assert_allclose(s2s.jit(transform(case.fun, argnums=k))(*case.args), expected,
                                   rtol=1e-10, atol=1e-12)


def pinhole(camera, point):
    """A small camera model read element by element (camera[3] is never read: its column is zero)."""
    x = point[0] * math.cos(camera[0]) - point[1] * math.sin(camera[0]) + camera[1]
    z = point[2] + camera[2]
    return np.array([camera[4] * x / z, camera[4] * point[1] / z])


def test_compiled_jacfwd_writes_columns_of_unit_directions():
    camera, point = np.array([0.3, 0.1, 4.0, 9.0, 2.0]), np.array([0.5, -0.2, 1.0])
    compiled = s2s.jit(s2s.jacfwd(pinhole, argnums=(0, 1)))
    for got, expected, k in zip(compiled(camera, point), s2s.jacfwd(pinhole, argnums=(0, 1))(camera, point), (0, 1)):
        np.testing.assert_allclose(got, expected, rtol=1e-13)
        np.testing.assert_allclose(got, fd_jacobian(pinhole, (camera, point), k), rtol=1e-6, atol=1e-8)
    assert not compiled(camera, point)[0][:, 3].any()
    generated = s2s.source(compiled, args=(camera, point))
    assert "def pinhole_column_camera_0(residuals, column):" in generated
    assert "pinhole_column_camera_3" not in generated
    assert "pinhole_column" not in s2s.source(s2s.jacfwd(pinhole, argnums=(0, 1)), args=(camera, point))
