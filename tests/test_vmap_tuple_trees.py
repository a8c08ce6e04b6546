"""``vmap`` of a function (or of its gradient) whose parameters come in a tuple, a list or a dict, passed whole
or mapped: a tuple is a tree as the others are (its gradient and a tuple returned come back as a tuple of
batches), agreeing with JAX."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import s2s

jax.config.update("jax_enable_x64", True)


def _loss(params, x):
    W, b = params
    return np.sum(np.tanh(W @ x + b))


def _loss_of_dict(params, x):
    return np.sum(np.tanh(params["W"] @ x + params["b"]))


def _passed_on(params, x):
    return params


def _jax_loss(params, x):
    W, b = (params["W"], params["b"]) if isinstance(params, dict) else params
    return jnp.sum(jnp.tanh(W @ x + b))


def _pack(W, b, kind):
    return {"W": W, "b": b} if kind == "dict" else [W, b] if kind == "list" else (W, b)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["tuple", "list", "dict"]), mapped=st.booleans(), of_grad=st.booleans(),
       returns_params=st.booleans(), jit=st.sampled_from([False, False, True]))
def test_vmap_over_tuple_parameters(kind, mapped, of_grad, returns_params, jit):
    rng = np.random.default_rng(0)
    W, b, xs = rng.normal(size=(2, 2)), rng.normal(size=2), rng.normal(size=(3, 2))
    params = _pack(np.stack([W] * 3) + 0.1 * rng.normal(size=(3, 2, 2)), np.stack([b] * 3), kind) if mapped \
        else _pack(W, b, kind)
    passed_on = returns_params and not of_grad
    ours = _passed_on if passed_on else _loss_of_dict if kind == "dict" else _loss
    theirs = _passed_on if passed_on else _jax_loss
    if of_grad:
        ours, theirs = s2s.grad(ours), jax.grad(theirs)
    in_axes = (0 if mapped else None, 0)
    mapped_ours = s2s.vmap(ours, in_axes=in_axes)
    got = (s2s.jit(mapped_ours) if jit else mapped_ours)(params, xs)
    want = jax.vmap(theirs, in_axes=in_axes, out_axes=0 if mapped or not returns_params or of_grad else None)(
        params, xs)
    if returns_params and not of_grad and not mapped:  # passed whole, returned whole: JAX's out_axes=0 adds the axis
        want = jax.tree_util.tree_map(lambda leaf: np.broadcast_to(leaf, (3,) + leaf.shape), want)
    assert jax.tree_util.tree_structure(got) == jax.tree_util.tree_structure(want), (got, want)
    for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-10, atol=1e-12)
