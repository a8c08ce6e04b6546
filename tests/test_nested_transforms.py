"""Transforms called inside the code s2s transforms, as JAX users write them: a jvp inside a vmapped
lambda, a gradient inside a function then differentiated (a gradient penalty, a physics-informed loss), a
vmap inside jitted code."""

from __future__ import annotations

import numpy as np
import pytest
import random_programs
from derivatives import central_difference
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from primitive_cases import function_source, load

import s2s
from s2s.errors import S2SError


def inner(w, x):
    return np.sum(np.sin(w * x))


def gradient_penalty(w, x):
    g = s2s.grad(inner)(w, x)
    return np.sum(g ** 2)


def f(k):
    return np.sin(k) * k


def derivatives(ks):
    return s2s.vmap(lambda k: s2s.jvp(f, (k,), (1.0,))[1])(ks)


def scaled_derivatives(ks, scale):
    return s2s.vmap(lambda k: scale * s2s.grad(f)(k))(ks)


def total_of_vmap(xs):
    return np.sum(s2s.vmap(f)(xs))


def jacobian_norm(x):
    return np.sum(s2s.jacfwd(np.sin)(x) ** 2)


KS = np.linspace(-1.0, 1.0, 5)


@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
def test_jvp_inside_a_vmapped_lambda(jit):
    fun = s2s.jit(derivatives) if jit else derivatives
    np.testing.assert_allclose(fun(KS), np.cos(KS) * KS + np.sin(KS), rtol=1e-14)


@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
def test_lambda_reading_a_local(jit):
    fun = s2s.jit(scaled_derivatives) if jit else scaled_derivatives
    np.testing.assert_allclose(fun(KS, 3.0), 3.0 * (np.cos(KS) * KS + np.sin(KS)), rtol=1e-14)


@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
def test_vmap_inside_jitted_and_differentiated_code(jit):
    assert (s2s.jit(total_of_vmap) if jit else total_of_vmap)(KS) == pytest.approx(np.sum(f(KS)))
    grad = s2s.grad(total_of_vmap)
    np.testing.assert_allclose((s2s.jit(grad) if jit else grad)(KS), np.cos(KS) * KS + np.sin(KS), rtol=1e-14)


def test_forward_mode_through_a_gradient_inside():
    w, x = np.array([0.5, 1.5]), np.array([1.0, -2.0])
    tangent = np.array([1.0, -0.5])
    _, along = s2s.jvp(gradient_penalty, (w, x), (tangent, np.zeros(2)))
    assert along == pytest.approx(central_difference(gradient_penalty, (w, x), (tangent, None))[0], rel=1e-7)
    hessian_row = s2s.jacfwd(gradient_penalty)(w, x)
    assert np.vdot(hessian_row, tangent) == pytest.approx(along, rel=1e-12)


@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
def test_reverse_mode_through_a_gradient_inside(jit):
    """A gradient penalty differentiated in reverse: the Hessian of ``inner`` along the penalty's cotangent."""
    w, x = np.array([0.5, 1.5]), np.array([1.0, -2.0])
    grads = (s2s.jit if jit else (lambda f: f))(s2s.grad(gradient_penalty, argnums=(0, 1)))(w, x)
    tangents = (np.array([1.0, -0.5]), np.array([0.3, 0.2]))
    along = sum(np.vdot(g, t) for g, t in zip(grads, tangents))
    assert along == pytest.approx(central_difference(gradient_penalty, (w, x), tangents)[0], rel=1e-7)
    assert along == pytest.approx(s2s.jvp(gradient_penalty, (w, x), tangents)[1], rel=1e-12)


def network(w, x):
    return w[2] * np.tanh(w[0] * x + w[1])


def physics_residual(w):
    """A physics-informed loss: the network's slope in x, at points in a loop, against a known one."""
    total = 0.0
    for i in range(5):
        x = 0.2 * i
        value, slope = s2s.value_and_grad(network, argnums=1)(w, x)
        total += (slope - np.cos(x)) ** 2 + 0.1 * value ** 2
    return total


@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
def test_reverse_mode_through_value_and_grad_inside_a_loop(jit):
    w = np.array([0.7, -0.3, 1.2])
    grads = (s2s.jit if jit else (lambda f: f))(s2s.grad(physics_residual))(w)
    t = np.array([0.4, 1.0, -0.6])
    assert np.vdot(grads, t) == pytest.approx(central_difference(physics_residual, (w,), (t,))[0], rel=1e-7)


def loss_of_gradient_with_constant(a):
    """The gradient with respect to an argument that is not differentiated here (``b`` is a constant)."""
    b = np.array([1.0, 2.0, 3.0])
    return np.sum(s2s.grad(inner, argnums=1)(a, b) ** 3)


def test_reverse_mode_through_a_gradient_with_respect_to_a_constant():
    a = np.array([0.3, -0.2, 0.5])
    t = np.array([1.0, 0.5, -2.0])
    along = np.vdot(s2s.grad(loss_of_gradient_with_constant)(a), t)
    assert along == pytest.approx(central_difference(loss_of_gradient_with_constant, (a,), (t,))[0], rel=1e-7)


@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(random_programs.without("v ="),
       st.sampled_from([0, 2, (0, 1), (1, 2)]), st.booleans(), st.booleans(), st.integers(0, 2**16))
def test_reverse_mode_through_gradients_of_random_programs(tmp_path, lines, argnums, with_value, indexed, seed):
    """grad of a function of the gradient of a random program (argnums, value_and_grad, and whether the result
    is unpacked or kept whole and indexed, drawn): against central differences of the function, and against
    its jvp (the dot-product test).  Programs writing through views are left out: reverse mode refuses them."""
    nums = (argnums,) if isinstance(argnums, int) else argnums
    call = f"s2s.{'value_and_grad' if with_value else 'grad'}(program, argnums={argnums!r})(a, b, s)"
    if indexed:
        body = [f"result = {call}"]
        value, grads = ("result[0]", "result[1]") if with_value else (None, "result")
        picked = {n: grads if isinstance(argnums, int) else f"{grads}[{k}]" for k, n in enumerate(nums)}
    else:
        names = f"g{argnums}" if isinstance(argnums, int) else "(" + ", ".join(f"g{n}" for n in nums) + ")"
        body = [f"value, {names} = {call}" if with_value else f"{names} = {call}"]
        value, picked = ("value" if with_value else None), {n: f"g{n}" for n in nums}
    body.append("return " + " + ".join(f"np.sum(np.sin({picked[n]}))" for n in nums) +
                (f" + {value}" if with_value else ""))
    module = load(tmp_path, "import s2s\n\n\n" + random_programs.source(lines) +
                  function_source("loss", ("a", "b", "s"), body))
    args, tangents, _ = random_programs.point(seed)
    try:
        value = module.loss(*args)
        grads = s2s.grad(module.loss, argnums=(0, 1, 2))(*args)
    except S2SError:  # a clear refusal of the program itself
        return
    if not np.isfinite(value) or abs(value) > 1e4:
        return
    along = sum(float(np.vdot(g, t)) for g, t in zip(grads, tangents))
    assert along == pytest.approx(s2s.jvp(module.loss, args, tangents)[1], rel=1e-9, abs=1e-9)
    coarse, fine = (central_difference(module.loss, args, tangents, eps=eps)[0] for eps in (1e-6, 1e-7))
    if coarse == pytest.approx(fine, rel=1e-4, abs=1e-4):  # else the loss varies too fast for the oracle
        assert along == pytest.approx(fine, rel=1e-4, abs=1e-4)


def test_jacobian_of_a_primitive_inside():
    x = np.array([0.2, 0.7])
    assert jacobian_norm(x) == pytest.approx(np.sum(np.cos(x) ** 2))
    np.testing.assert_allclose(s2s.grad(jacobian_norm)(x), -2.0 * np.cos(x) * np.sin(x), rtol=1e-12)


def energy(q, k):
    return 0.5 * k * np.sum(q ** 2) + 0.25 * np.sum(q ** 4)


def force_loss(k, q):
    return np.sum(s2s.grad(energy)(q, k) ** 2)


@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
def test_compiled_jacobian_through_a_gradient_inside(jit):
    q = np.array([0.5, -1.0])
    jacobian = s2s.jacfwd(force_loss, argnums=1)
    expected = central_difference(lambda v: force_loss(1.7, v), (q,), (np.eye(2)[0],))[0]
    assert (s2s.jit(jacobian) if jit else jacobian)(1.7, q)[0] == pytest.approx(expected, rel=1e-7)


def per_example_gradients(w, xs):
    """A transform of a transform of a lambda reading a local: the per-example gradients of a model."""
    g = s2s.vmap(s2s.grad(lambda x: np.tanh(w * x) * x))(xs)
    return np.sum(g ** 2)


def slopes_of_a_lambda(ks, w):
    return s2s.vmap(lambda k: s2s.jvp(lambda z: np.sin(z * w), (k,), (1.0,))[1])(ks)


@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
def test_transforms_of_lambdas_reading_locals(jit):
    wrap = s2s.jit if jit else (lambda fun: fun)
    xs, ks = np.array([0.1, -0.5, 1.2]), np.array([0.1, 0.5, 1.0])
    w = 0.7
    expected = np.sum((w * xs * (1 - np.tanh(w * xs) ** 2) + np.tanh(w * xs)) ** 2)
    assert wrap(per_example_gradients)(w, xs) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(wrap(slopes_of_a_lambda)(ks, w), w * np.cos(ks * w), rtol=1e-12)
    along = s2s.jacfwd(per_example_gradients)(w, xs)
    assert along == pytest.approx(central_difference(per_example_gradients, (w, xs), (1.0, None))[0], rel=1e-6)


def test_reverse_mode_through_a_transform_inside_names_the_line():
    with pytest.raises(TypeError, match=r"test_nested_transforms.py:\d+: reverse mode .*<the lambda at"):
        s2s.grad(per_example_gradients)(0.7, np.array([0.1, 0.2]))


def slope_squared(w, x):
    """The tangent of a jvp read by index, then differentiated in reverse mode."""
    return s2s.jvp(inner, (w, x), (np.zeros_like(w), np.ones_like(x)))[1] ** 2


@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
def test_gradient_through_the_tangent_of_a_jvp_read_by_index(jit):
    w, x = np.array([0.5, -1.0]), np.array([0.3, 0.8])
    got = (s2s.jit if jit else (lambda f: f))(s2s.grad(slope_squared))(w, x)
    t = np.array([1.0, 0.4])
    assert np.vdot(got, t) == pytest.approx(central_difference(slope_squared, (w, x), (t, None))[0], rel=1e-6)


def field(p, x):
    return np.sum(p["w"] * np.tanh(p["a"] * x))


def loss_of_mapped_tree(p, xs):
    """vmap inside, of a function of a dict of parameters held constant across the batch."""
    return np.sum(s2s.vmap(field, in_axes=(None, 0))(p, xs) ** 2)


def loss_of_slopes(p, xs):
    """jvp inside, of a lambda closing over the dict."""
    total = 0.0
    for i in range(xs.shape[0]):
        total = total + s2s.jvp(lambda s: field(p, s), (xs[i],), (1.0,))[1] ** 2
    return total


@pytest.mark.parametrize("fun", [loss_of_mapped_tree, loss_of_slopes])
@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
def test_transforms_inside_of_functions_of_trees(fun, jit):
    p = {"w": np.array([1.0, -0.5]), "a": np.array([0.3, 2.0])}
    xs = np.array([0.1, 0.4, 0.9])
    grads = (s2s.jit if jit else (lambda f: f))(s2s.grad(fun))(p, xs)
    t = {"w": np.array([1.0, 0.3]), "a": np.array([-0.5, 0.2])}
    along = np.vdot(grads["w"], t["w"]) + np.vdot(grads["a"], t["a"])
    assert along == pytest.approx(central_difference(fun, (p, xs), (t, None))[0], rel=1e-6)


def regression_loss(p, x, y):
    pred = np.tanh(x @ p["W"] + p["b"])
    return np.mean((pred - y) ** 2)


def train(p, x, y, steps):
    """Gradient descent on a dict of parameters, the gradient taken inside: a training loop, whole."""
    for _ in range(steps):
        g = s2s.grad(regression_loss)(p, x, y)
        p = {"W": p["W"] - 0.1 * g["W"], "b": p["b"] - 0.1 * g["b"]}
    return regression_loss(p, x, y)


def layered_loss(layers, x):
    for layer in layers:
        x = np.tanh(layer[0] @ x + layer[1])
    return np.sum(x ** 2)


def penalised(layers, x):
    """value_and_grad inside, with respect to a list of (W, b) tuples and an array together."""
    value, (g_layers, g_x) = s2s.value_and_grad(layered_loss, argnums=(0, 1))(layers, x)
    return value + np.sum(g_layers[1][0] ** 2) + 0.5 * np.sum(g_x ** 2)


def scaled_gradient(p, x, y):
    """grad inside, of a lambda over the tree reading a local."""
    scale = 2.0
    g = s2s.grad(lambda q: scale * regression_loss(q, x, y))(p)
    return np.sum(g["b"] ** 2) + np.sum(g["W"])


RNG = np.random.default_rng(3)
PARAMS = {"W": RNG.standard_normal((3, 2)), "b": RNG.standard_normal(2)}
XS, YS = RNG.standard_normal((5, 3)), RNG.standard_normal((5, 2))
LAYERS = [(RNG.standard_normal((2, 2)), RNG.standard_normal(2)), (RNG.standard_normal((2, 2)), RNG.standard_normal(2))]


@pytest.mark.parametrize("fun, args", [(train, (PARAMS, XS, YS, 3)), (penalised, (LAYERS, XS[0, :2])),
                                       (scaled_gradient, (PARAMS, XS, YS))],
                         ids=["training_loop", "value_and_grad_of_list_and_array", "lambda"])
def test_gradients_of_trees_inside(fun, args):
    """Compiled as a whole, as in Python; and differentiated again (a meta-gradient through the training
    loop), against central differences."""
    assert s2s.jit(fun)(*args) == pytest.approx(fun(*args), rel=1e-12)
    grads = s2s.grad(fun)(*args)
    rng = np.random.default_rng(0)
    t = s2s.tree_util.tree_map(lambda leaf: rng.standard_normal(np.shape(leaf)), args[0])
    along = sum(np.vdot(g, d) for g, d in zip(s2s.tree_util.tree_leaves(grads), s2s.tree_util.tree_leaves(t)))
    tangents = (t,) + (None,) * (len(args) - 1)
    assert along == pytest.approx(central_difference(fun, args, tangents)[0], rel=1e-6)


def critic(params, x):
    W, b, v = params[0], params[1], params[2]
    return np.sum(v * np.tanh(W @ x + b))


def penalty_of_an_array_argument(W, b, v, x):
    """The gradient with respect to an array, beside a tuple of parameters held constant by it."""
    params = (W, b, v)
    g = s2s.grad(critic, argnums=1)(params, x)
    return critic(params, x) + 10.0 * (np.sqrt(np.sum(g ** 2)) - 1.0) ** 2


def penalty_of_a_lambda(W, b, v, x):
    """The same, the gradient of a lambda reading the tuple."""
    params = (W, b, v)
    g = s2s.grad(lambda z: critic(params, z))(x)
    return critic(params, x) + 10.0 * (np.sqrt(np.sum(g ** 2)) - 1.0) ** 2


@pytest.mark.parametrize("fun", [penalty_of_an_array_argument, penalty_of_a_lambda])
def test_gradient_penalties_beside_a_tuple_of_parameters(fun):
    rng = np.random.default_rng(0)
    args = (0.5 * rng.standard_normal((3, 2)), 0.3 * rng.standard_normal(3), rng.standard_normal(3),
            rng.standard_normal(2))
    assert fun(*args) == pytest.approx(penalty_of_an_array_argument(*args), rel=1e-14)
    t = rng.standard_normal((3, 2))
    along = np.vdot(s2s.grad(fun)(*args), t)
    assert along == pytest.approx(central_difference(fun, args, (t, None, None, None))[0], rel=1e-6)


def energy_and_position(x, th):
    return np.sum(th * np.log(1.0 + x ** 2)), x * 2.0


def loss_with_auxiliary_data(th, x):
    g, aux = s2s.grad(energy_and_position, has_aux=True)(x, th)
    return np.sum(g ** 2) + np.sum(aux)


def test_gradients_with_auxiliary_data_inside_are_refused_naming_the_line():
    th, x = np.array([0.7, 1.1]), np.array([0.3, -0.8])
    for transform in (s2s.grad, s2s.jacfwd):
        with pytest.raises(S2SError, match=r"test_nested_transforms.py:\d+: .*has_aux=True inside transformed code"):
            transform(loss_with_auxiliary_data)(th, x)


def stiffness_energy(u, kappa):
    k = 0
    total = 0.0
    while k < u.shape[0]:
        total = total + kappa * u[k] ** 2 + np.exp(-kappa * u[k])
        if u[k] > 0.0:
            total = total + 0.1 * u[k] ** 3
        k = k + 1
    return total


def force_norm(kappa, u):
    """The gradient of a function with a while loop and a branch (tapes the gradient's code keeps as lists)."""
    return np.sum(s2s.grad(stiffness_energy)(u, kappa) ** 2)


def test_gradients_of_loops_and_branches_inside():
    u = np.array([0.3, -0.8, 0.5, 1.1])
    slope = central_difference(force_norm, (0.7, u), (1.0, None))[0]
    assert s2s.grad(force_norm)(0.7, u) == pytest.approx(slope, rel=1e-7)
    assert s2s.jvp(force_norm, (0.7, u), (1.0, np.zeros(4)))[1] == pytest.approx(slope, rel=1e-7)


def potential(x, c):
    return np.exp(c * x) + x ** 4 - c * x


def slope(x, c):
    return s2s.grad(potential)(x, c)


def newton_step(c, x):
    """A Newton step on the potential's slope: its own derivative (d/dc) is a third derivative of the potential."""
    return x - slope(x, c) / s2s.grad(slope)(x, c)


def test_third_derivatives_through_gradients_inside_gradients_are_refused():
    """Refused naming the line of the call (or the function, at the top level), in every transform."""
    for derivative in (lambda: s2s.grad(newton_step)(0.7, 0.4), lambda: s2s.jvp(newton_step, (0.7, 0.4), (1.0, 0.0))):
        with pytest.raises(s2s.errors.UnsupportedTransformError,
                           match=r"test_nested_transforms.py:\d+: slope takes a gradient in its code.*third"):
            derivative()
    with pytest.raises(s2s.errors.UnsupportedTransformError, match="slope takes a gradient in its code"):
        s2s.hessian(slope)(0.4, 0.7)
    assert s2s.grad(slope)(0.4, 0.7) == pytest.approx(central_difference(slope, (0.4, 0.7), (1.0, 0.0))[0], rel=1e-6)
