"""Every corpus function in reverse mode, in Python and under Numba.

* vjp against jvp by the dot-product test: <ct, J t> = <J^T ct, t> for random t and ct;
* linearize against jvp (same value, same tangent, re-run without re-linearizing);
* grad against central finite differences, for the functions with a scalar output;
* linear_transpose of the functions that are linear, against their vjp.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from corpus import CASES
from derivatives import assert_close, central_difference, flat, random_like, tangents_for

import s2s
from s2s.errors import NonLinearError

#: Cases reverse mode refuses, and why (each is a documented limitation).
UNSUPPORTED: dict = {}

REVERSE = [c for c in CASES if c.name not in UNSUPPORTED]
NUMBA = [c for c in REVERSE if c.numba]


def _scalar_output(case) -> bool:
    out = case.fun(*case.args)
    return isinstance(out, float) or (isinstance(out, np.ndarray) and out.shape == ())


def dot_product_test(target, case):
    """<ct, J t> from jvp equals <J^T ct, t> from vjp."""
    tangents = tangents_for(case.args, case.argnums)
    out, out_dot = s2s.jvp(target, case.args, tangents)
    ct = random_like(out, np.random.default_rng(1))
    out_v, f_vjp = s2s.vjp(target, *case.args)
    cts = f_vjp(ct)
    assert_close(out_v, out, rtol=1e-10, atol=1e-12)
    assert len(cts) == len(case.args)
    lhs = np.dot(flat(ct), flat(out_dot))
    rhs = sum(np.dot(flat(c), flat(t)) for c, t in zip(cts, tangents) if t is not None)
    assert lhs == pytest.approx(rhs, rel=1e-8, abs=1e-10)
    return cts


@pytest.mark.parametrize("case", REVERSE, ids=lambda c: c.name)
def test_vjp_agrees_with_jvp(case):
    cts = dot_product_test(case.fun, case)
    for arg, ct in zip(case.args, cts):  # cotangents are shaped and typed like their primals; None for integers
        if isinstance(arg, np.ndarray) and arg.dtype.kind == "f":
            assert ct.shape == arg.shape and ct.dtype == arg.dtype
        elif isinstance(arg, (int, np.ndarray)):
            assert ct is None


@pytest.mark.parametrize("case", REVERSE, ids=lambda c: c.name)
def test_linearize_agrees_with_jvp(case):
    out, f_jvp = s2s.linearize(case.fun, *case.args)
    for seed in (0, 1):  # the same linearization, run twice
        tangents = tangents_for(case.args, case.argnums, seed=seed)
        expected_out, expected_dot = s2s.jvp(case.fun, case.args, tangents)
        assert_close(out, expected_out, rtol=1e-12, atol=1e-12)
        assert_close(f_jvp(*tangents), expected_dot, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("case", [c for c in REVERSE if _scalar_output(c)], ids=lambda c: c.name)
def test_grad_matches_finite_differences(case):
    grads = s2s.grad(case.fun, argnums=case.argnums)(*case.args)
    for i, g in zip(case.argnums, grads):
        for seed in range(2):
            tangent = tangents_for(case.args, (i,), seed=seed)
            expected = central_difference(case.fun, case.args, tangent)
            assert_close(np.dot(flat(g), flat(tangent[i])), expected, rtol=max(case.rtol, 1e-5), atol=1e-6)


@pytest.mark.parametrize("case", NUMBA, ids=lambda c: c.name)
def test_numba_vjp_agrees_with_jvp_and_python(case):
    cts = dot_product_test(s2s.jit(case.fun), case)
    expected = s2s.vjp(case.fun, *case.args)[1](random_like(case.fun(*case.args), np.random.default_rng(1)))
    for c, e in zip(cts, expected):
        if e is not None:
            assert_close(c, e, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("case", NUMBA, ids=lambda c: c.name)
def test_numba_linearize_agrees_with_python(case):
    tangents = tangents_for(case.args, case.argnums)
    out, f_jvp = s2s.linearize(s2s.jit(case.fun), *case.args)
    expected_out, expected_dot = s2s.jvp(case.fun, case.args, tangents)
    assert_close(out, expected_out, rtol=1e-10, atol=1e-12)
    assert_close(f_jvp(*tangents), expected_dot, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("case", [c for c in NUMBA if _scalar_output(c)], ids=lambda c: c.name)
def test_jit_of_grad_matches_python(case):
    compiled = s2s.jit(s2s.grad(case.fun, argnums=case.argnums))(*case.args)
    expected = s2s.grad(case.fun, argnums=case.argnums)(*case.args)
    for c, e in zip(compiled, expected):
        assert_close(c, e, rtol=1e-9, atol=1e-12)


def test_reverse_mode_covers_the_corpus():
    assert len(REVERSE) == len(CASES)
    assert len([c for c in REVERSE if _scalar_output(c)]) >= 30


#: Corpus functions linear in their first argument (the others held fixed).
LINEAR_IN_FIRST = ["running_sums", "convolve_stencil", "wave_1d", "horner", "horner_ascending",
                   "horner_with_derivative", "moving_average", "tensor3_contract"]


def _first_argument_only(case):
    names = case.fun.__code__.co_varnames
    return functools.partial(case.fun, **{names[i]: a for i, a in enumerate(case.args) if i > 0})


@pytest.mark.parametrize("backend", ["python", "numba"])
@pytest.mark.parametrize("name", LINEAR_IN_FIRST)
def test_linear_transpose_of_linear_functions_is_their_vjp(name, backend):
    case = next(c for c in CASES if c.name == name)
    f = _first_argument_only(case)
    target = s2s.jit(f) if backend == "numba" else f
    out, f_vjp = s2s.vjp(target, case.args[0])
    ct = random_like(out, np.random.default_rng(2))
    (transposed,) = s2s.linear_transpose(target, case.args[0])(ct)
    (expected,) = f_vjp(ct)
    assert_close(transposed, expected, rtol=1e-10, atol=1e-12)


def test_linear_transpose_refuses_the_others():
    case = next(c for c in CASES if c.name == "logistic_map")
    with pytest.raises(NonLinearError, match="corpus.py"):
        s2s.linear_transpose(_first_argument_only(case), case.args[0])


#: Scalar-output functions whose second derivatives are not checked here, and why.
NO_SECOND_ORDER = {
    "column_statistics": "second derivatives of np.prod have no rule yet (NoRuleError)",
    "whole_array_reductions": "second derivatives of np.prod have no rule yet (NoRuleError)",
    "power_iteration": "its trip count depends on a tolerance, so finite differences of the gradient jump",
}


@pytest.mark.parametrize("case", [c for c in REVERSE if _scalar_output(c) and c.name not in NO_SECOND_ORDER],
                         ids=lambda c: c.name)
def test_jvp_of_grad_matches_finite_differences_of_grad(case):
    g = s2s.grad(case.fun, argnums=case.argnums)
    tangents = tangents_for(case.args, case.argnums, seed=3)
    _, hv = s2s.jvp(g, case.args, tangents)
    assert_close(hv, central_difference(g, case.args, tangents, eps=1e-5), rtol=1e-4, atol=1e-6)
