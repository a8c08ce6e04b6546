"""Jacobians and Hessians of outputs whose leaves depend on some of the differentiated arguments only:
the blocks of the others are zeros, shaped and nested as JAX gives them (``jacfwd``, ``jacrev`` and
``hessian``, with ``argnums`` tuples, dict arguments, and dict, list or single outputs), in Python and
under ``s2s.jit``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import s2s

from programs import load_module

jax.config.update("jax_enable_x64", True)

#: each input's factor in a leaf (a 2-vector): a leaf is the product of the factors of the inputs it reads
FACTORS = {"x": "np.sin(x[:2])", "y": "np.exp(y)", "s": "np.tanh(s)"}
INPUTS = {"x": np.array([0.3, -0.6, 0.9]), "y": np.array([0.2, -0.4]), "s": 0.7}
TRANSFORMS = {"jacfwd": (s2s.jacfwd, jax.jacfwd), "jacrev": (s2s.jacrev, jax.jacrev),
              "hessian": (s2s.hessian, jax.hessian)}


def _leaf(reads, scalar):
    factors = [FACTORS[n] for n in reads] or ["np.ones(2)"]
    value = "0.5 * " + " * ".join(factors)
    return f"np.sum({value})" if scalar else value


@st.composite
def programs(draw):
    """Source of ``program`` (its arguments positional, or one dict ``p``), and the argnums to take."""
    count = draw(st.integers(1, 3))
    leaves = [_leaf(draw(st.lists(st.sampled_from(sorted(FACTORS)), unique=True, max_size=3)), draw(st.booleans()))
              for _ in range(count)]
    output = draw(st.sampled_from(["dict", "list", "leaf"]))
    returned = leaves[0] if output == "leaf" else \
        "[" + ", ".join(leaves) + "]" if output == "list" else \
        "{" + ", ".join(f"'o{k}': {leaf}" for k, leaf in enumerate(leaves)) + "}"
    as_dict = draw(st.booleans())
    if as_dict:
        head, reads, argnums = "p", "    x, y, s = p['x'], p['y'], p['s']\n", 0
    else:
        head, reads = "x, y, s", ""
        argnums = tuple(sorted(draw(st.lists(st.integers(0, 2), unique=True, min_size=1, max_size=3))))
        if len(argnums) == 1 and draw(st.booleans()):
            argnums = argnums[0]
    source = f"import numpy as np\n\n\ndef program({head}):\n{reads}    return {returned}\n"
    return source, as_dict, argnums


def _check_agrees(got, want):
    assert jax.tree_util.tree_structure(got) == jax.tree_util.tree_structure(want), (got, want)
    for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        assert np.shape(g) == np.shape(w)
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-10, atol=1e-12)


def _compare(directory, source, as_dict, argnums, label, jit):
    program = load_module(directory, source).program
    reference = load_module(directory, source.replace("import numpy as np", "import jax.numpy as np")).program
    args = (dict(INPUTS),) if as_dict else tuple(INPUTS.values())
    ours, theirs = TRANSFORMS[label]
    transform = ours(program, argnums=argnums)
    _check_agrees((s2s.jit(transform) if jit else transform)(*args), theirs(reference, argnums=argnums)(*args))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=programs(), label=st.sampled_from(sorted(TRANSFORMS)))
def test_blocks_of_unread_arguments_are_zeros(case, label, tmp_path):
    _compare(tmp_path, *case, label, jit=False)


JITTED = [("def program(x, y, s):\n    return {'a': np.sin(x[:2]), 'b': np.sum(y) * np.tanh(s) * np.ones(2)}\n",
           False, (0, 1, 2)),
          ("def program(p):\n    return {'a': np.sin(p['x']), 'b': p['x'] * p['s']}\n", True, 0),
          ("def program(x, y, s):\n    return [np.exp(y), np.sum(x)]\n", False, (0, 1))]


@pytest.mark.parametrize("label", sorted(TRANSFORMS))
@pytest.mark.parametrize("body, as_dict, argnums", JITTED)
def test_blocks_of_unread_arguments_compiled(body, as_dict, argnums, label, tmp_path):
    _compare(tmp_path, "import numpy as np\n\n\n" + body, as_dict, argnums, label, jit=True)


def polar_pair(x):
    return np.sqrt(np.sum(x ** 2)), (np.arctan2(x[1], x[0]), x * 2.0)


@pytest.mark.parametrize("label", ["jacfwd", "jacrev", "hessian"])
@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
def test_jacobians_of_tuple_outputs_are_tuples(label, jit):
    x = np.array([0.6, 0.8])
    transform = getattr(s2s, label)(polar_pair)
    got = (s2s.jit(transform) if jit else transform)(x)
    want = getattr(jax, label)(lambda x: (jnp.sqrt(jnp.sum(x ** 2)), (jnp.arctan2(x[1], x[0]), x * 2.0)))(x)
    assert isinstance(got, tuple) and isinstance(got[1], tuple)
    for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)


def looped_energy(x, k):
    """A while loop: its gradient keeps tapes as lists, which no transform reads back."""
    total = 0.0
    i = 0
    while i < 3:
        total = total + np.sum(np.sin(k * x)) * k
        i = i + 1
    return total


def looped_energy_jax(x, k):
    return 3 * jnp.sum(jnp.sin(k * x)) * k


@pytest.mark.parametrize("rows, columns, jit", [(0, 1, False), (1, 0, False), ((0, 1), 1, False), (0, (0, 1), False),
                                               ((0, 1), (1,), False), ((0, 1), 1, True)])
def test_jacobians_of_gradients_along_other_arguments(rows, columns, jit):
    """``jacfwd(grad(f, a), argnums=b)``: blocks of the Hessian, nested as JAX nests them, for any ``a`` and ``b``."""
    jacobian = s2s.jacfwd(s2s.grad(looped_energy, argnums=rows), argnums=columns)
    x, k = np.array([0.3, -0.2]), 0.7
    got = (s2s.jit(jacobian) if jit else jacobian)(x, k)
    want = jax.jacfwd(jax.grad(looped_energy_jax, argnums=rows), argnums=columns)(x, k)
    assert jax.tree_util.tree_structure(got) == jax.tree_util.tree_structure(want)
    for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        assert np.shape(g) == np.shape(w)
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)
