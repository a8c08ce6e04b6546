"""checkpoint (remat): the same derivatives, with a checkpointed function's intermediates computed again
in the backward pass instead of saved."""

from __future__ import annotations

import math

import numpy as np
import pytest
import random_programs
from derivatives import central_difference
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from primitive_cases import function_source, load

import s2s
from s2s.checkpoint import Policy
from s2s.errors import S2SError


@s2s.checkpoint
def g(x):
    y = np.sin(x)
    z = np.sin(y)
    return z


def step(x, w):
    h = np.tanh(w * x)
    return x + 0.1 * np.sin(h) * h


def integrate(x, w, n):
    for _ in range(n):
        x = s2s.checkpoint(step)(x, w)
    return np.sum(x ** 2)


def integrate_plain(x, w, n):
    for _ in range(n):
        x = step(x, w)
    return np.sum(x ** 2)


def sin_of(x):
    return np.sin(x)


def cos_of(x):
    return np.cos(x)


def tanh_of(x):
    return np.tanh(x)


def recursive_checkpoint(funs):
    """The seed's recursive composition: lambdas that close over functions, checkpointed where called."""
    if len(funs) == 1:
        return funs[0]
    elif len(funs) == 2:
        f1, f2 = funs
        return lambda x: f1(f2(x))
    else:
        f1 = recursive_checkpoint(funs[:len(funs) // 2])
        f2 = recursive_checkpoint(funs[len(funs) // 2:])
        return lambda x: f1(s2s.checkpoint(f2)(x))


def composed(x):
    return sin_of(cos_of(tanh_of(sin_of(cos_of(x)))))


X = np.linspace(0.1, 1.0, 4)


def test_seed_example():
    # The seed prints 0.25563914 (float32); the derivative cos(sin(2)) cos(2) is negative.
    assert s2s.grad(g)(2.0) == pytest.approx(math.cos(math.sin(2.0)) * math.cos(2.0), rel=1e-14)
    assert s2s.jvp(g, (2.0,), (1.0,))[1] == pytest.approx(math.cos(math.sin(2.0)) * math.cos(2.0), rel=1e-14)


@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
def test_checkpointed_loop_gives_the_same_gradient(jit):
    grad = s2s.grad(integrate, argnums=(0, 1))
    x_bar, w_bar = (s2s.jit(grad) if jit else grad)(X, 0.7, 20)
    expected = s2s.grad(integrate_plain, argnums=(0, 1))(X, 0.7, 20)
    np.testing.assert_allclose(x_bar, expected[0], rtol=1e-13)
    assert w_bar == pytest.approx(expected[1], rel=1e-13)
    tangent = np.array([0.3, -1.0, 0.5, 2.0])
    assert np.vdot(x_bar, tangent) == pytest.approx(
        central_difference(integrate, (X, 0.7, 20), (tangent, None, None))[0], rel=1e-7)


def test_a_checkpointed_step_saves_its_input_only():
    """The forward pass tapes the step's input (one array per trip), none of the step's own values."""
    text = s2s.source(integrate, mode="grad", argnums=(0, 1), args=(X, 0.7, 20))
    forward = text[text.index("def integrate_fwd"):text.index("def step_bwd")]
    assert forward.count(".append(") == 1 and "x_tape.append(x)" in forward
    plain = s2s.source(integrate_plain, mode="grad", argnums=(0, 1), args=(X, 0.7, 20))
    assert "step_fwd_res_tape.append(" in plain


def test_recursive_checkpoint():
    fun = recursive_checkpoint([sin_of, cos_of, tanh_of, sin_of, cos_of])
    assert s2s.grad(fun)(0.3) == pytest.approx(s2s.grad(composed)(0.3), rel=1e-14)
    _, f_vjp = s2s.vjp(fun, 0.3)
    assert f_vjp(1.0)[0] == pytest.approx(s2s.grad(composed)(0.3), rel=1e-14)


def dense(h, W):
    z = W @ h
    a = np.tanh(z)
    return 0.5 * a + h


POLICIES = [None, "nothing_saveable", "dots_saveable", "checkpoint_dots", "dots_with_no_batch_dims_saveable",
            "everything_saveable"]


def network_under(policy, step=dense):
    """A network of ``step``s, each checkpointed under ``policy`` (a policy, its name, or None)."""
    chosen = policy if isinstance(policy, Policy) else getattr(s2s.checkpoint_policies, policy or "nothing_saveable")

    def network(h, W, n):
        for _ in range(n):
            h = s2s.checkpoint(step, policy=chosen)(h, W)
        return np.sum(h ** 2)
    return network


def plain_network(step):
    def network(h, W, n):
        for _ in range(n):
            h = step(h, W)
        return np.sum(h ** 2)
    return network


network_plain = plain_network(dense)


H, W = np.array([0.3, -0.5, 0.8]), np.array([[0.5, -0.2, 0.1], [0.3, 0.4, -0.6], [-0.1, 0.2, 0.7]])


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
def test_every_policy_gives_the_same_gradient(policy, jit):
    grad = s2s.grad(network_under(policy), argnums=(0, 1))
    got = (s2s.jit(grad) if jit else grad)(H, W, 4)
    want = s2s.grad(network_plain, argnums=(0, 1))(H, W, 4)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("policy, saved", [("dots_saveable", ["h", "W", "z"]),
                                           ("dots_with_no_batch_dims_saveable", ["h", "W"]),
                                           (None, None)])
def test_a_policy_saves_what_it_names(policy, saved):
    """Under dots_saveable the step's forward function saves its inputs and its product, and its backward
    function computes the tanh again; with no policy, the whole step is computed again in the backward pass."""
    text = s2s.source(network_under(policy), mode="grad", argnums=(0, 1), args=(H, W, 4))
    if saved is None:
        assert "dense_fwd(h, W)" in text[text.index("def network_bwd"):]
        return
    forward = text[text.index("def dense_fwd"):]
    returned = forward[forward.index("return out, (") + len("return out, ("):].split(")")[0]
    assert [r.strip() for r in returned.split(",") if r.strip()] == saved
    backward = text[text.index("def dense_bwd"):]
    assert "np.tanh(" in backward


def test_policies_of_ones_own_are_refused():
    with pytest.raises(TypeError, match="checkpoint_policies"):
        s2s.checkpoint(step, policy=lambda *a: True)


def named_dense(h, W):
    z = s2s.checkpoint_name(W @ h, "z")
    return s2s.checkpoint_name(np.tanh(z) + 0.1 * z, "out")


#: policy → (the names it takes, what the step's forward function saves under it)
NAMED = {"save_only_these_names": (["z"], ["h", "W", "z"]),
         "save_any_names_but_these": (["out"], ["h", "W", "z"]),
         "save_anything_except_these_names": (["z"], ["h", "W", "tanh_z", "W_at_h"]),
         "save_from_both_policies": ((), ["h", "W", "W_at_h"])}


def named_policy(name):
    cp = s2s.checkpoint_policies
    if name == "save_from_both_policies":
        return cp.save_from_both_policies(cp.dots_saveable, cp.save_only_these_names("out"))
    return getattr(cp, name)(*NAMED[name][0])


@pytest.mark.parametrize("name, jit", [(n, False) for n in NAMED] + [("save_only_these_names", True)])
def test_policies_of_names(name, jit):
    """``s2s.checkpoint_name`` names values, which JAX's policies of names save or not: the gradient is the
    plain one, and the step's forward function saves its inputs and what the policy saves of what it needs."""
    named_network = network_under(named_policy(name), named_dense)
    grad = s2s.grad(named_network, argnums=(0, 1))
    got = (s2s.jit(grad) if jit else grad)(H, W, 3)
    want = s2s.grad(plain_network(named_dense), argnums=(0, 1))(H, W, 3)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-15)
    text = s2s.source(named_network, mode="grad", argnums=(0, 1), args=(H, W, 3))
    forward = text[text.index("def named_dense_fwd"):]
    returned = forward[forward.index("return out, (") + len("return out, ("):].split(")")[0]
    assert [r.strip() for r in returned.split(",") if r.strip()] == NAMED[name][1]


def test_a_policy_made_inside_the_code():
    def network(h, W):
        for _ in range(3):
            h = s2s.checkpoint(named_dense, policy=s2s.checkpoint_policies.save_only_these_names("z"))(h, W)
        return np.sum(h ** 2)

    np.testing.assert_allclose(s2s.grad(network)(H, W), s2s.grad(plain_network(named_dense))(H, W, 3), rtol=1e-13)


def _named(lines):
    """The program with the value of each of its assignments to ``a`` and ``b`` named, ``n0`` or ``n1`` in turn."""
    named = []
    for k, line in enumerate(lines):
        target, _, value = line.partition(" = ")
        named.append(f'{target} = s2s.checkpoint_name({value}, "n{k % 2}")' if target.strip() in ("a", "b")
                     and value else line)
    return named


@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(random_programs.without("v ="),
       st.sampled_from(["dots_saveable", "nothing_saveable", 'save_only_these_names("n0")',
                        'save_any_names_but_these("n1")', 'save_anything_except_these_names("n0")']),
       st.integers(0, 2**16))
def test_policies_on_random_programs(tmp_path, lines, policy, seed):
    """A random program, its values named, checkpointed under a policy: the linear code computes again what
    the policy does not save, and the gradient is the plain one to rounding."""
    lines = _named(lines)
    body = [f"return s2s.checkpoint(program, policy=s2s.checkpoint_policies.{policy})(a, b, s)"]
    module = load(tmp_path, "import s2s\n\n\n" + random_programs.source(lines) +
                  function_source("checkpointed", ("a", "b", "s"), body))
    random_programs.same_gradient(module.program, module.checkpointed, random_programs.point(seed)[0])


def layer(p, x):
    return np.tanh(p["W"] @ x + p["b"])


def two_layers(p, x):
    """Straight-line checkpointed calls, each taking a tree."""
    x = s2s.checkpoint(layer)(p, x)
    x = s2s.checkpoint(layer)(p, x)
    return np.sum(x ** 2)


def two_layers_plain(p, x):
    return np.sum(layer(p, layer(p, x)) ** 2)


PARAMS = {"W": np.array([[0.5, -0.3], [0.2, 0.8]]), "b": np.array([0.1, -0.2])}


@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
def test_checkpointed_calls_taking_trees(jit):
    grad = s2s.grad(two_layers, argnums=(0, 1))
    got = (s2s.jit(grad) if jit else grad)(PARAMS, np.array([1.0, -0.5]))
    want = s2s.grad(two_layers_plain, argnums=(0, 1))(PARAMS, np.array([1.0, -0.5]))
    np.testing.assert_allclose(got[0]["W"], want[0]["W"], rtol=1e-13)
    np.testing.assert_allclose(got[0]["b"], want[0]["b"], rtol=1e-13)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-13)


def test_straight_line_checkpointed_calls_save_no_residuals():
    text = s2s.source(two_layers, mode="grad", args=(PARAMS, np.array([1.0, -0.5])))
    forward = text[text.index("def two_layers_fwd"):text.index("def layer_bwd")]
    returned = forward[forward.index("return"):]
    assert "layer_fwd_res" not in returned


def test_a_policy_in_a_local_variable_is_refused_saying_what_to_do():
    def network(h, W):
        policy = s2s.checkpoint_policies.save_only_these_names("z")
        return np.sum(s2s.checkpoint(named_dense, policy=policy)(h, W))

    with pytest.raises(S2SError, match=r"test_checkpoint.py:\d+: .*local variable policy .*module level"):
        s2s.grad(network)(H, W)
