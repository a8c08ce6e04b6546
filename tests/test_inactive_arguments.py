"""Gradients with respect to arguments the output does not depend on, and Hessians of conditional expressions.

The classes: ``grad(f, argnums)`` batched by ``vmap``, where an argument asked for is unused, only compared or
only counts (its cotangent is zeros, as in JAX: it crashed while the batched function was built), and second
derivatives of code with ``a if c else b`` (the Hessian crashed in the forward-mode pass).  Each is checked
against the per-example gradient, and the Hessian against central differences of the gradient.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from programs import load_module

import s2s

#: Bodies of f(x, c), by how they use c.
BODIES = {
    "unused": "return x * 2.0 + np.sin(x)",
    "compared": "if x < c:\n        x = x * x\n    return x",
    "counted": "s = 0.0\n    for i in range(3):\n        s = s + x * i\n    return s if c > 0 else -s",
    "used": "return x * c * c + np.cos(x)",
    "conditional": "a = x * c - 0.5\n    a = a if a > 0.0 else -a\n    return a * x",
}


@st.composite
def cases(draw):
    body = draw(st.sampled_from(sorted(BODIES)))
    argnums = draw(st.sampled_from([0, 1, (0, 1), (1, 0), (1,)]))
    return body, argnums, draw(st.booleans()), draw(st.booleans())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases())
def test_batched_gradients_of_arguments_the_output_ignores(case, tmp_path):
    body, argnums, with_value, jit = case
    f = load_module(tmp_path, f"import numpy as np\n\n\ndef f(x, c):\n    {BODIES[body]}\n").f
    x, c = np.array([0.1, 0.4, 0.7, 1.3]), np.array([0.5, 0.5, -0.2, 0.9])
    transform = (s2s.value_and_grad if with_value else s2s.grad)(f, argnums=argnums)
    batched = s2s.vmap(transform)
    found = (s2s.jit(batched) if jit else batched)(x, c)
    each = [transform(a, b) for a, b in zip(x, c)]
    expected = _stacked(each)
    for a, b in zip(_leaves(found), _leaves(expected)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15, err_msg=f"{body} {argnums}")


@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
def test_hessian_of_a_conditional_expression(jit, tmp_path):
    f = load_module(tmp_path, f"import numpy as np\n\n\ndef f(x, c):\n    {BODIES['conditional']}\n").f
    hessian, grad = s2s.hessian(f, argnums=(0, 1)), s2s.grad(f, argnums=(0, 1))
    for x, c in [(0.3, 0.9), (0.9, 0.9), (1.5, -0.4)]:
        found = np.array((s2s.jit(hessian) if jit else hessian)(x, c))
        eps = 1e-6
        columns = [(np.array(grad(x + eps, c)) - np.array(grad(x - eps, c))) / (2 * eps),
                   (np.array(grad(x, c + eps)) - np.array(grad(x, c - eps))) / (2 * eps)]
        np.testing.assert_allclose(found, np.stack(columns, axis=1), rtol=1e-6, atol=1e-8)


def _stacked(each):
    if isinstance(each[0], tuple):
        return tuple(_stacked([e[i] for e in each]) for i in range(len(each[0])))
    return np.array(each)


def _leaves(value):
    return [leaf for v in value for leaf in _leaves(v)] if isinstance(value, tuple) else [np.asarray(value)]
