"""Pytrees: dicts, lists, tuples, namedtuples, dataclasses and registered containers as arguments and
results of every transform, with JAX's structures, checked against finite differences and the seeds."""

from __future__ import annotations

import dataclasses
import math
from collections import namedtuple

import numpy as np
import optree
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import s2s
from s2s import tree_util
from s2s.errors import UnsupportedSyntaxError

from derivatives import assert_close, central_difference, flat, random_like
from programs import load_module

Layer = namedtuple("Layer", "W b")


@dataclasses.dataclass
class Spring:
    k: float
    rest: np.ndarray


class Pair:
    """A user's container, registered as a tree."""

    def __init__(self, first, second):
        self.first, self.second = first, second

    def tree_flatten(self):
        return (self.first, self.second), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*children)


tree_util.register_pytree_node_class(Pair)


class Model:
    """A model whose parameters are attributes: its methods are differentiated as functions of them."""

    def __init__(self, W, b):
        self.W, self.b = W, b

    def loss(self, x):
        return np.sum(np.tanh(self.W @ x + self.b) ** 2)

    def tree_flatten(self):
        return (self.W, self.b), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*children)


tree_util.register_pytree_node_class(Model)


def rng():
    return np.random.default_rng(7)


def mlp_params():
    r = rng()
    return {"l1": {"W": r.standard_normal((4, 3)), "b": r.standard_normal(4)},
            "l2": {"W": r.standard_normal((2, 4)), "b": r.standard_normal(2)}}


# -- functions as users write them ---------------------------------------------------------------

def dense(p, x):
    return np.tanh(p["W"] @ x + p["b"])


def mlp_loss(params, x, y):
    h = dense(params["l1"], x)
    out = params["l2"]["W"] @ h + params["l2"]["b"]
    l2 = sum(np.sum(w ** 2) for w in params["l1"].values())
    return 0.5 * np.sum((out - y) ** 2) + 1e-2 * l2


def mlp_loss_with_metrics(params, x, y):
    h = dense(params["l1"], x)
    out = params["l2"]["W"] @ h + params["l2"]["b"]
    loss = 0.5 * np.sum((out - y) ** 2)
    return loss, {"error": out - y, "norm": np.sqrt(np.sum(h ** 2))}


def layers_loss(layers, x):
    for W, b in layers:
        x = np.tanh(W @ x + b)
    return np.sum(x ** 2)


def namedtuple_loss(layer, x):
    return np.sum(np.sin(layer.W @ x + layer.b))


def spring_energy(spring, x):
    return 0.5 * spring.k * np.sum((x - spring.rest) ** 2)


def pair_product(pair):
    return np.sum(pair.first * pair.second)


def loss_of(model, x):
    return model.loss(x)


def oscillator(state, dt, n):
    """A tree rebound in a loop: its leaves are loop-carried variables."""
    for _ in range(n):
        state = {"q": state["q"] + dt * state["p"], "p": state["p"] - dt * np.sin(state["q"])}
    return state


def oscillator_loss(state, dt):
    end = oscillator(state, dt, 20)
    return np.sum(end["q"] ** 2) + np.sum(end["p"] * end["q"])


def polar(x):
    return {"r": np.sqrt(x[0] ** 2 + x[1] ** 2), "angles": (math.atan2(x[1], x[0]), x[0] * x[1])}


def split_state(x):
    return {"head": x[:2], "tail": x[2:]}


def energy_of_split(x):
    parts = split_state(x)
    return np.sum(parts["head"] ** 2) + np.sum(np.cos(parts["tail"]))


def learn_scale(variables, x):
    """The seed's Flax ``learn_scale``, its variables passed as a dict of collections."""
    p = variables["params"]["scale"]
    return p * x


def power_dict(dct):
    return {"c": np.power(dct["a"], dct["b"])}


def foo_tree(tree_arg):
    x, (y, z) = tree_arg
    return np.dot(x, np.dot(y, z))


def foo_dict(dct, x):
    return dct["a"] + dct["b"] + x


def unknown_key(d, x):
    key = "a" if x > 0.0 else "b"
    return d[key] * x


def changes_structure(state, n):
    for _ in range(n):
        state = {"inner": state}
    return state


def nests_unrolled(state):
    for _ in range(2):
        state = (state, state)
    return state


# -- checks --------------------------------------------------------------------------------------

def check_grad_tree(fun, args, argnums=0, jit=False):
    """grad's tree, leaf by leaf, against central differences along random tangent trees."""
    grad = s2s.grad(fun, argnums=argnums)
    grads = (s2s.jit(grad) if jit else grad)(*args)
    nums = (argnums,) if isinstance(argnums, int) else argnums
    grads = (grads,) if isinstance(argnums, int) else grads
    for n, g in zip(nums, grads):
        assert tree_util.tree_structure(g) == tree_util.tree_structure(args[n])
        tangent = random_like(args[n], rng())
        tangents = [tangent if i == n else None for i in range(len(args))]
        expected = central_difference(fun, args, tangents)
        np.testing.assert_allclose(np.vdot(flat(g), flat(tangent)), expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
def test_grad_of_dict_params(jit):
    r = rng()
    check_grad_tree(mlp_loss, (mlp_params(), r.standard_normal(3), r.standard_normal(2)), jit=jit)


def test_grads_keep_container_types():
    r = rng()
    layers = [Layer(r.standard_normal((3, 3)), r.standard_normal(3)) for _ in range(2)]
    x = r.standard_normal(3)
    check_grad_tree(layers_loss, (layers, x))
    grads = s2s.grad(layers_loss)(layers, x)
    assert type(grads) is list and all(type(g) is Layer for g in grads)
    check_grad_tree(namedtuple_loss, (layers[0], x))
    spring = Spring(2.0, r.standard_normal(3))
    check_grad_tree(spring_energy, (spring, x), argnums=(0, 1))
    assert type(s2s.grad(spring_energy)(spring, x)) is Spring
    pair = Pair(r.standard_normal(2), r.standard_normal(2))
    g = s2s.grad(pair_product)(pair)
    assert type(g) is Pair
    np.testing.assert_allclose(g.first, pair.second)
    np.testing.assert_allclose(g.second, pair.first)


@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
def test_has_aux_tree_and_value(jit):
    r = rng()
    args = (mlp_params(), r.standard_normal(3), r.standard_normal(2))
    value_and_grad = s2s.value_and_grad(mlp_loss_with_metrics, has_aux=True)
    (loss, metrics), grads = (s2s.jit(value_and_grad) if jit else value_and_grad)(*args)
    expected_loss, expected_metrics = mlp_loss_with_metrics(*args)
    assert loss == pytest.approx(expected_loss)
    assert set(metrics) == {"error", "norm"}
    np.testing.assert_allclose(metrics["error"], expected_metrics["error"])
    grads_only, aux = s2s.grad(mlp_loss_with_metrics, has_aux=True)(*args)
    assert_close(grads_only, grads, rtol=1e-12)
    assert aux["norm"] == pytest.approx(expected_metrics["norm"])


@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
def test_tree_rebound_in_a_loop(jit):
    state = {"q": np.array([0.3, -0.2]), "p": np.array([0.1, 0.4])}
    fun = s2s.jit(oscillator) if jit else oscillator
    out, out_dot = s2s.jvp(fun, (state, 0.1, 20), ({"q": np.ones(2), "p": np.zeros(2)}, None, None))
    assert set(out) == {"q", "p"}
    up = oscillator({"q": state["q"] + 1e-6, "p": state["p"]}, 0.1, 20)
    down = oscillator({"q": state["q"] - 1e-6, "p": state["p"]}, 0.1, 20)
    for key in out:
        np.testing.assert_allclose(out_dot[key], (up[key] - down[key]) / 2e-6, rtol=1e-6)
    check_grad_tree(oscillator_loss, (state, 0.1), argnums=(0, 1), jit=jit)


def test_tree_outputs_in_jvp_vjp_linearize():
    x = np.array([0.6, 0.8])
    out, out_dot = s2s.jvp(polar, (x,), (np.array([1.0, 0.0]),))
    assert tree_util.tree_structure(out) == tree_util.tree_structure(polar(x))
    assert out_dot["r"] == pytest.approx(0.6)
    out, f_vjp = s2s.vjp(polar, x)
    ct = {"r": 1.0, "angles": (0.0, 2.0)}
    (x_bar,) = f_vjp(ct)
    np.testing.assert_allclose(x_bar, np.array([0.6, 0.8]) + 2.0 * np.array([0.8, 0.6]))
    tangent = np.array([0.3, -0.1])
    _, f_jvp = s2s.linearize(polar, x)
    along = f_jvp(tangent)
    np.testing.assert_allclose(flat(along), central_difference(lambda v: polar(v), (x,), (tangent,)), rtol=1e-6)
    # the dot-product test: <ct, J t> = <J^T ct, t>
    assert np.vdot(flat(ct), flat(along)) == pytest.approx(np.vdot(x_bar, tangent))


def test_helpers_take_and_return_trees():
    x = np.array([0.1, 0.2, 0.3, 0.4])
    tangent = np.array([1.0, -1.0, 0.5, 2.0])
    _, along = s2s.jvp(energy_of_split, (x,), (tangent,))
    assert along == pytest.approx(central_difference(energy_of_split, (x,), (tangent,))[0], rel=1e-6)
    assert np.vdot(s2s.grad(energy_of_split)(x), tangent) == pytest.approx(along)
    assert np.vdot(s2s.jit(s2s.grad(energy_of_split))(x), tangent) == pytest.approx(along)


@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
def test_methods_and_models_as_trees(jit):
    r = rng()
    model, x = Model(r.standard_normal((2, 2)), r.standard_normal(2)), r.standard_normal(2)

    def run(transform):
        return s2s.jit(transform) if jit else transform

    tangent = r.standard_normal(2)
    expected = central_difference(model.loss, (x,), (tangent,))[0]
    assert np.vdot(run(s2s.grad(model.loss))(x), tangent) == pytest.approx(expected, rel=1e-6)
    for fun in (Model.loss, loss_of):
        grads = run(s2s.grad(fun))(model, x)
        assert type(grads) is Model
        check_grad_tree(fun, (model, x))


# -- the seeds' examples -------------------------------------------------------------------------

@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
def test_seed_hessian_of_dicts(jit):
    hessian = s2s.hessian(power_dict)
    h = (s2s.jit(hessian) if jit else hessian)({"a": np.arange(2.0) + 1.0, "b": np.arange(2.0) + 2.0})
    expected = {"c": {"a": {"a": [[[2.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 12.0]]],
                            "b": [[[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 12.317766]]]},
                      "b": {"a": [[[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 12.317766]]],
                            "b": [[[0.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 3.843624]]]}}}
    assert tree_util.tree_structure(h) == tree_util.tree_structure(
        tree_util.tree_map(np.asarray, expected, is_leaf=lambda v: isinstance(v, list)))
    for path in (("a", "a"), ("a", "b"), ("b", "a"), ("b", "b")):
        np.testing.assert_allclose(h["c"][path[0]][path[1]], expected["c"][path[0]][path[1]], rtol=1e-6)


def test_seed_vmap_tree_in_axes():
    A, B, C, D, K = 2, 3, 4, 5, 6
    tree = (np.ones((A, B)), (np.ones((B, C)), np.ones((C, D))))
    np.testing.assert_allclose(foo_tree(tree), np.full((A, D), 12.0))
    batched = (np.ones((K, A, B)), (np.ones((B, K, C)), np.ones((C, D, K))))
    assert s2s.vmap(foo_tree, in_axes=((0, (1, 2)),))(batched).shape == (K, A, D)
    out = s2s.vmap(foo_dict, in_axes=({"a": None, "b": 0}, None))({"a": 0.0, "b": np.arange(5.0)}, 1.0)
    np.testing.assert_allclose(out, [1.0, 2.0, 3.0, 4.0, 5.0])


def test_seed_learn_scale_variable_tangents():
    """Flax's lifted jvp: only the 'params' collection gets a tangent; 'stats' is left out (zero)."""
    x = np.array([1.0, -2.0, 3.0])
    variables = {"params": {"scale": 0.0}, "stats": {"count": 3.0}}
    vars_t = tree_util.tree_map(np.ones_like, variables["params"])
    y, out_t = s2s.jvp(learn_scale, (variables, x), ({"params": vars_t}, np.zeros_like(x)))
    np.testing.assert_allclose(y, np.zeros(3))
    np.testing.assert_allclose(out_t, x)
    _, out_t = s2s.jvp(learn_scale, (variables, x), ({"params": None, "stats": None}, np.ones_like(x)))
    np.testing.assert_allclose(out_t, np.zeros(3))


# -- vmap and Jacobians of trees ---------------------------------------------------------------

@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
def test_per_example_gradients_of_dict_params(jit):
    r = rng()
    params, xs, ys = mlp_params(), r.standard_normal((5, 3)), r.standard_normal((5, 2))
    per_example = s2s.vmap(s2s.grad(mlp_loss), in_axes=(None, 0, 0))
    grads = (s2s.jit(per_example) if jit else per_example)(params, xs, ys)
    for i in range(5):
        assert_close(tree_util.tree_map(lambda g: g[i], grads), s2s.grad(mlp_loss)(params, xs[i], ys[i]), rtol=1e-10)


def test_per_example_values_and_gradients_of_dict_params():
    r = rng()
    params, xs, ys = mlp_params(), r.standard_normal((5, 3)), r.standard_normal((5, 2))
    values, grads = s2s.vmap(s2s.value_and_grad(mlp_loss), in_axes=(None, 0, 0))(params, xs, ys)
    for i in range(5):
        value, grad = s2s.value_and_grad(mlp_loss)(params, xs[i], ys[i])
        assert values[i] == pytest.approx(value, rel=1e-12)
        assert_close(tree_util.tree_map(lambda g: g[i], grads), grad, rtol=1e-10)


def test_jacobians_of_trees_match_each_other():
    x = np.array([0.6, 0.8])
    forward, reverse = s2s.jacfwd(polar)(x), s2s.jacrev(polar)(x)
    assert tree_util.tree_structure(forward) == tree_util.tree_structure(polar(x))
    assert_close(forward, reverse, rtol=1e-12)
    np.testing.assert_allclose(forward["r"], x / np.linalg.norm(x))


# -- refusals ------------------------------------------------------------------------------------

def test_key_known_only_at_run_time_is_refused():
    with pytest.raises(UnsupportedSyntaxError, match="known only when the code runs") as info:
        s2s.grad(unknown_key, argnums=1)({"a": 1.0, "b": 2.0}, 0.5)
    assert info.value.filename == "test_pytrees.py"


def test_rebinding_to_another_structure_is_refused():
    with pytest.raises(UnsupportedSyntaxError, match="another structure"):
        s2s.jvp(changes_structure, ({"inner": 1.0}, 3), ({"inner": 1.0}, None))


def test_structure_may_change_where_loops_are_unrolled():
    out, out_dot = s2s.jvp(nests_unrolled, ((1.0, 2.0),), ((1.0, 0.0),))
    assert out == (((1.0, 2.0), (1.0, 2.0)), ((1.0, 2.0), (1.0, 2.0)))
    assert out_dot == (((1.0, 0.0), (1.0, 0.0)), ((1.0, 0.0), (1.0, 0.0)))


def test_tangent_with_extra_keys_is_refused():
    with pytest.raises(TypeError, match="keys its primal lacks"):
        s2s.jvp(learn_scale, ({"params": {"scale": 1.0}}, 1.0), ({"params": {"scale": 1.0, "bias": 1.0}}, 0.0))


# -- random trees --------------------------------------------------------------------------------

def _trees(leaf):
    return st.recursive(leaf, lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3),
        st.lists(children, min_size=1, max_size=3).map(tuple),
        st.dictionaries(st.sampled_from(["a", "b", "c", "w_1"]), children, min_size=1, max_size=3),
        st.tuples(children, children).map(lambda p: Layer(*p))), max_leaves=6)


_LEAVES = st.one_of(st.just("scalar"), st.integers(1, 3).map(lambda n: ("vector", n)))


def _paths(tree, root) -> list:
    """How users read each leaf of ``tree`` held in ``root``: ``t[0]["a"].W``."""
    accessors = optree.tree_flatten_with_accessor(tree, namespace=tree_util.NAMESPACE)[0]
    return [root + "".join(f".{e.field}" if hasattr(e, "field") else f"[{e.key!r}]" if hasattr(e, "key")
                           else f"[{e.index}]" for e in accessor) for accessor in accessors]


def _weighted_sines(tree, root) -> str:
    return " + ".join(f"{k + 1.5} * np.sum(np.sin({path} * x))" for k, path in enumerate(_paths(tree, root)))


def _source_for(tree, through_helper=False) -> str:
    """``def program(t, x)``: a weighted sum of every leaf's sine, each read by its path as users write it,
    in the function itself or in a helper it returns the result of (a tree passed on, a call returned)."""
    body = _weighted_sines(tree, "t")
    if through_helper:
        return (f"import numpy as np\n\n\ndef helper(t, x):\n    return {{'value': {body}}}\n\n\n"
                "def program(t, x):\n    return helper(t, x)['value']\n")
    return f"import numpy as np\n\n\ndef program(t, x):\n    return {body}\n"


def _display(tree, leaves) -> str:
    """A display that builds a tree shaped like ``tree`` from the expressions ``leaves`` (in order)."""
    if isinstance(tree, dict):
        return "{" + ", ".join(f"{k!r}: {_display(v, leaves)}" for k, v in tree.items()) + "}"
    if isinstance(tree, Layer):
        return f"Layer({_display(tree.W, leaves)}, {_display(tree.b, leaves)})"
    if isinstance(tree, (list, tuple)):
        inner = ", ".join(_display(v, leaves) for v in tree)
        return f"[{inner}]" if isinstance(tree, list) else f"({inner},)"
    return next(leaves)


def _source_building(tree, through_helper) -> str:
    """``def program(t, x)`` that builds a tree of its own from ``t``'s leaves (a display bound to a name),
    then reads it by paths, there or in a helper it is passed to."""
    built = _display(tree, iter(f"np.cos({path})" for path in _paths(tree, "t")))
    body = _weighted_sines(tree, "u")
    head = "import numpy as np\nfrom collections import namedtuple\n\nLayer = namedtuple('Layer', 'W b')\n\n\n"
    if through_helper:
        return (f"{head}def helper(u, x):\n    return {body}\n\n\n"
                f"def program(t, x):\n    u = {built}\n    return helper(u, x)\n")
    return f"{head}def program(t, x):\n    u = {built}\n    return {body}\n"


def _random_tree(shape, r):
    return tree_util.tree_map(lambda s: float(r.standard_normal()) if s == "scalar" else r.standard_normal(s[1]),
                              shape, is_leaf=lambda s: s == "scalar" or isinstance(s, tuple) and s[:1] == ("vector",))


def _check_tree_gradient(program, tree, r):
    """grad's tree is the argument's, and agrees with finite differences and with the jvp (dot-product test)."""
    x = 0.7
    grads = s2s.grad(program)(tree, x)
    assert tree_util.tree_structure(grads) == tree_util.tree_structure(tree)
    tangent = random_like(tree, r)
    expected = central_difference(program, (tree, x), (tangent, None))[0]
    assert np.vdot(flat(grads), flat(tangent)) == pytest.approx(expected, rel=1e-6, abs=1e-8)
    _, along = s2s.jvp(program, (tree, x), (tangent, 0.0))
    assert along == pytest.approx(np.vdot(flat(grads), flat(tangent)), rel=1e-10, abs=1e-12)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=_trees(_LEAVES), seed=st.integers(0, 2 ** 16), through_helper=st.booleans())
def test_random_trees_gradients(shape, seed, through_helper, tmp_path):
    """Any nesting of dicts, lists, tuples and namedtuples as an argument, read leaf by leaf."""
    r = np.random.default_rng(seed)
    tree = _random_tree(shape, r)
    _check_tree_gradient(load_module(tmp_path, _source_for(tree, through_helper)).program, tree, r)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=_trees(_LEAVES), seed=st.integers(0, 2 ** 16), through_helper=st.booleans())
def test_random_trees_built_inside(shape, seed, through_helper, tmp_path):
    """Any nesting of dicts, lists, tuples and namedtuples built by a display inside the function, read leaf
    by leaf there or in a helper it is passed to."""
    r = np.random.default_rng(seed)
    tree = _random_tree(shape, r)
    _check_tree_gradient(load_module(tmp_path, _source_building(tree, through_helper)).program, tree, r)


def test_source_of_a_gradient_with_tree_arguments_shows_the_leaves():
    params, x, y = mlp_params(), np.ones(3), np.ones(2)
    text = s2s.source(s2s.grad(mlp_loss), args=(params, x, y))
    assert "def mlp_loss_fwd(params_l1_W, params_l1_b, params_l2_W, params_l2_b, x, y)" in text
    code = [line for line in text.splitlines() if not line.strip().startswith("#")]
    assert not any("params[" in line for line in code)
    with pytest.raises(TypeError, match="with tree arguments is not supported"):
        s2s.source(s2s.jacfwd(mlp_loss), args=(params, x, y))


def as_list(x):
    return [np.sin(x), x * 2.0]


def test_list_outputs():
    x = np.array([0.1, 0.2])
    out, out_dot = s2s.jvp(as_list, (x,), (np.ones(2),))
    assert isinstance(out, list) and isinstance(out_dot, list)
    np.testing.assert_allclose(out_dot[0], np.cos(x))
    np.testing.assert_allclose(out_dot[1], 2.0)
    batched = s2s.jit(s2s.vmap(as_list))(np.ones((3, 2)))
    assert isinstance(batched, list) and batched[1].shape == (3, 2)
    jac = s2s.jacrev(as_list)(x)
    assert isinstance(jac, list)
    np.testing.assert_allclose(jac[0], np.diag(np.cos(x)))


def weighted(x, w):
    total = 0.0
    for v in w:
        total = total + v * np.sum(x ** 2)
    return total


@pytest.mark.parametrize("weights", [(0.5, 1.5), [0.5, 1.5]], ids=["tuple", "list"])
def test_differentiated_tuples_of_numbers_are_trees(weights):
    """A tuple of numbers iterated over, differentiated: its cotangent is a tuple (JAX's), as a list's is a list."""
    x = np.array([1.0, 2.0])
    grads = s2s.grad(weighted, argnums=(0, 1))(x, weights)
    assert type(grads[1]) is type(weights) and grads[1] == pytest.approx([5.0, 5.0])
    np.testing.assert_allclose(grads[0], 2.0 * sum(weights) * x)
    cts = s2s.vjp(weighted, x, weights)[1](1.0)
    assert type(cts[1]) is type(weights) and cts[1] == pytest.approx([5.0, 5.0])
    rows = s2s.jacrev(weighted, argnums=1)(x, weights)
    assert type(rows) is type(weights) and [float(r) for r in rows] == pytest.approx([5.0, 5.0])


def test_functions_of_trees_called_through_their_module(tmp_path, monkeypatch):
    """``model.loss({"W": W, "b": b}, x)``, ``loss`` reached through its module: a call of the user's function
    taking a tree, as ``loss(...)`` after ``from model import loss`` is."""
    (tmp_path / "tree_model.py").write_text(
        "import numpy as np\n\n\ndef loss(params, x):\n"
        "    return np.sum(np.tanh(params['W'] @ x + params['b']) ** 2)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    caller = load_module(tmp_path, "import numpy as np\nimport tree_model\n\n"
                                   "W = np.array([[0.5, -0.2], [0.3, 0.4]])\nx = np.array([0.7, -1.1])\n\n\n"
                                   "def through_module(b):\n    return tree_model.loss({'W': W, 'b': b}, x)\n")
    b, t = np.array([0.1, -0.3]), np.array([1.0, 0.5])
    expected = central_difference(caller.through_module, (b,), (t,))[0]
    assert np.vdot(s2s.grad(caller.through_module)(b), t) == pytest.approx(expected, rel=1e-6)
