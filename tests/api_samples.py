"""Functions that use the API beyond the corpus (trees, rules of one's own, checkpoint), whose generated
code ``tests/test_golden.py`` pins in ``golden/api/``."""

from __future__ import annotations

import numpy as np

import s2s


def dense(layer, x):
    return np.tanh(layer["W"] @ x + layer["b"])


def mlp_loss(params, x, y):
    h = dense(params["hidden"], x)
    out = params["out"]["W"] @ h + params["out"]["b"]
    return 0.5 * np.sum((out - y) ** 2)


@s2s.custom_jvp
def log1pexp(x):
    return np.log(1.0 + np.exp(x))


@log1pexp.defjvp
def log1pexp_jvp(primals, tangents):
    x, = primals
    x_dot, = tangents
    return log1pexp(x), (1.0 - 1.0 / (1.0 + np.exp(x))) * x_dot


def softplus_loss(x):
    return np.sum(log1pexp(x) ** 2)


@s2s.custom_vjp
def clip_gradient(x, lo, hi):
    return x


def clip_fwd(x, lo, hi):
    return x, (lo, hi)


def clip_bwd(res, g):
    lo, hi = res
    return (np.clip(g, lo, hi), 0.0, 0.0)


clip_gradient.defvjp(clip_fwd, clip_bwd)


def clipped_loss(x):
    return np.sum(clip_gradient(3.0 * x, -0.5, 0.5) ** 2)


def step(x, w):
    h = np.tanh(w * x)
    return x + 0.1 * np.sin(h) * h


def checkpointed_integrator(x, w, n):
    for _ in range(n):
        x = s2s.checkpoint(step)(x, w)
    return np.sum(x ** 2)


def residual_layer(h, W):
    z = W @ h
    return 0.5 * np.tanh(z) + h


def network_saving_products(h, W, n):
    """Each layer computed again in the backward pass, but for its matrix product, which it saves."""
    for _ in range(n):
        h = s2s.checkpoint(residual_layer, policy=s2s.checkpoint_policies.dots_saveable)(h, W)
    return np.sum(h ** 2)


def _params():
    rng = np.random.default_rng(0)
    return {"hidden": {"W": rng.standard_normal((3, 2)), "b": np.zeros(3)},
            "out": {"W": rng.standard_normal((1, 3)), "b": np.zeros(1)}}


#: name → (function, arguments, argnums), each pinned in grad mode.
def network(w, x):
    return w[2] * np.tanh(w[0] * x + w[1])


def physics_loss(w, xs):
    """A gradient inside a loss: the network's slope in x, against a known one."""
    total = 0.0
    for i in range(xs.shape[0]):
        total += (s2s.grad(network, argnums=1)(w, xs[i]) - np.cos(xs[i])) ** 2
    return total


SAMPLES = {
    "dict_params": (mlp_loss, (_params(), np.ones(2), np.ones(1)), 0),
    "custom_jvp": (softplus_loss, (np.ones(3),), 0),
    "custom_vjp": (clipped_loss, (np.ones(3),), 0),
    "checkpoint": (checkpointed_integrator, (np.ones(3), 0.7, 10), (0, 1)),
    "gradient_inside": (physics_loss, (np.ones(3), np.linspace(0.0, 1.0, 4)), 0),
    "checkpoint_policy": (network_saving_products, (np.ones(3), np.eye(3), 4), (0, 1)),
}
