"""Second derivatives of the rule table's examples composed with nonlinear maps on both sides: the operands
are cubes of the inputs and the result goes through ``np.sin`` before it is summed.  A rule's own second
derivative is then differentiated along a tangent that depends on the inputs, which the examples alone (applied
to the inputs themselves) do not do: ``np.max(x ** 3)`` had a zero Hessian while ``np.max(x)``'s was right.

The class: derivative code of a rule (its JVP template, its transpose) read and differentiated again."""

from __future__ import annotations

import numpy as np
import pytest
from derivatives import central_difference, flat
from primitive_cases import function_source, load
from random_programs import ELEMENTWISE, REDUCTIONS, SHAPE, _applied

import s2s
from s2s.errors import S2SError

#: Every example, piecewise ones (abs, max, maximum) included: their pieces' second derivatives are the
#: composition's, away from the kinks (which random inputs do not meet).
EXAMPLES = ELEMENTWISE + [e for e, _ in REDUCTIONS]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.code)
def test_hessian_vector_products_of_compositions(tmp_path, example):
    body = [f"return np.sum(np.sin({_applied(example, ['(a ** 3)', '(b ** 3)'])}))"]
    program = load(tmp_path, function_source("program", ("a", "b"), body)).program
    rng = np.random.default_rng(0)
    args = (rng.uniform(-1, 1, SHAPE), rng.uniform(-1, 1, SHAPE))
    tangents = (rng.standard_normal(SHAPE), rng.standard_normal(SHAPE))
    gradient = s2s.grad(program, argnums=(0, 1))
    try:
        _, along = s2s.jvp(gradient, args, tangents)
    except S2SError:  # a clear refusal
        return
    differences = central_difference(gradient, args, tangents, eps=1e-6)
    scale = 1e-5 * (1.0 + np.abs(differences))
    assert np.all(np.abs(flat(along) - differences) <= scale), example.code
