"""Products and linear algebra in every transform: the rule table's examples, and functions as users write them."""

from __future__ import annotations

import tempfile

import numpy as np
import pytest
import scipy.linalg
from programs import load_module

import s2s
from s2s.rules import registry
from s2s.rules.examples import POSITIVE, UNIT
from tests.derivatives import assert_close, central_difference, flat, random_like

PRIMITIVES = [np.einsum, np.matmul, np.tensordot, np.inner, np.cross, np.kron, np.convolve, np.linalg.solve,
              np.linalg.inv, np.linalg.det, np.linalg.slogdet, np.linalg.cholesky, np.linalg.eigh, np.linalg.qr,
              np.linalg.svd, scipy.linalg.solve_triangular]
EXAMPLES = [(registry.describe(p), e) for p in PRIMITIVES for e in registry.lookup(p).examples]


_SOURCES = tempfile.mkdtemp()


def _function(code, names):
    """``def f(x, y): return <code>`` from a file (s2s reads the source)."""
    source = f"import numpy as np\nimport scipy.linalg\n\n\ndef f({', '.join(names)}):\n    return {code}\n"
    return load_module(_SOURCES, source).f


def _operands(example, rng):
    draw = {POSITIVE: lambda s: rng.uniform(0.5, 2.0, s), UNIT: lambda s: rng.uniform(-0.9, 0.9, s)}
    return tuple(draw.get(example.domain, rng.standard_normal)(shape) for shape in example.shapes.values())


def check_jvp_and_vjp(fun, args, seed=0):
    """jvp against central differences, vjp against jvp (⟨ct, J t⟩ = ⟨Jᵀ ct, t⟩)."""
    rng = np.random.default_rng(seed)
    tangents = tuple(random_like(a, rng) for a in args)
    out, out_dot = s2s.jvp(fun, args, tangents)
    assert_close(out_dot, central_difference(fun, args, tangents), rtol=1e-5, atol=1e-6)
    out2, pullback = s2s.vjp(fun, *args)
    ct = random_like(out2, rng)
    cts = pullback(ct)
    np.testing.assert_allclose(flat(ct) @ flat(out_dot), flat(cts) @ flat(tangents), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name, example", EXAMPLES, ids=[f"{n}:{e.code}:{e.shapes}" for n, e in EXAMPLES])
def test_examples_python(name, example):
    fun = _function(example.code, example.shapes)
    check_jvp_and_vjp(fun, _operands(example, np.random.default_rng(1)))
