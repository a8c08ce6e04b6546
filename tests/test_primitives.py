"""Every example of the rule table, in every transform: jvp, vjp, second order, vmap; Python and Numba.

The examples live next to each primitive's rules (``registry.add_examples``); a primitive added
with examples is tested here without a new test.  In Python each example is its own test; under
Numba each family's examples are one function (one output per example), so a family costs one
compile per transform, and a failure still names the example.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from primitive_cases import Group, cases, check_jvp, check_second_order, check_vjp, check_vmap

from s2s.frontend.resolve import spelling
from s2s.rules import registry, shapes

CASES = cases()
FAMILIES = sorted({case.family for case in CASES})
#: float32 runs for arrays through the families that compute with them.
FLOAT32 = [c for c in CASES if c.family in (shapes.ELEMENTWISE, shapes.REDUCTION, shapes.CONTRACTION)
           and all(c.example.shapes.values())]

#: Known failures: (example code, check) -> the bug.  Strict: a fixed bug fails its xfail.
KNOWN = {
    ("np.float32(x)", "numba"): "the tangent rounded to float32 misses the dot-product test's float64 tolerance",
}


def known(case, check) -> str | None:
    return KNOWN.get((case.example.code, check))


def params(check, selected=None):
    """The cases for ``check``, known failures marked strict xfail."""
    return [pytest.param(case, id=str(case),
                         marks=[pytest.mark.xfail(strict=True, reason=known(case, check))] if known(case, check) else [])
            for case in (CASES if selected is None else selected)]


@pytest.fixture(scope="module")
def directory(tmp_path_factory):
    return tmp_path_factory.mktemp("primitives")


@pytest.mark.parametrize("case", params("jvp"))
def test_jvp(case, directory):
    check_jvp(Group("f", [case], directory))


@pytest.mark.parametrize("case", params("vjp"))
def test_vjp(case, directory):
    check_vjp(Group("f", [case], directory))


@pytest.mark.parametrize("case", params("second_order", [c for c in CASES if c.example.second_order]))
def test_second_order(case, directory):
    check_second_order(Group("f", [case], directory))


@pytest.mark.parametrize("case", params("vmap"))
def test_vmap(case, directory):
    group = Group("f", [case], directory)
    check_vmap(group)
    if len(case.params) > 1:
        check_vmap(group, first_only=True)


@pytest.mark.parametrize("case", params("float32", FLOAT32))
def test_float32(case, directory):
    group = Group("f", [case], directory)
    check_jvp(group, dtype=np.float32)
    check_vjp(group, dtype=np.float32)


# -- under Numba: one module per family -----------------------------------------------------------


@pytest.fixture(scope="module")
def families(directory):
    return {family: Group(f"family_{family}", [c for c in CASES if c.family == family and c.example.numba
                                               and not known(c, "numba") and not known(c, "second_order")], directory)
            for family in FAMILIES}


#: Families whose second derivatives (jvp of grad, reverse mode over the JVP) Numba compiles in seconds. The
#: others take minutes on this project's 2-core CI machine (the shape family's module 7 min): they are checked
#: with S2S_SLOW_CHECKS=1, and skipped, saying so, otherwise.
QUICK_SECOND_ORDER = {"scalar", "contraction", "gather", "maker"}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("check", [check_jvp, check_vjp, check_second_order, check_vmap], ids=lambda c: c.__name__)
def test_numba(family, check, families):
    if check is check_second_order and family not in QUICK_SECOND_ORDER and not os.environ.get("S2S_SLOW_CHECKS"):
        pytest.skip(f"compiling the {family} family's second derivatives takes minutes: run with S2S_SLOW_CHECKS=1")
    check(families[family], jit=True)


# -- coverage: a differentiable public primitive without examples is untested -------------------


def test_every_differentiable_primitive_has_examples():
    public = [rule for rule in registry.rules() if spelling(rule.prim) and not spelling(rule.prim).startswith("rt.")]
    missing = [registry.describe(rule.prim) for rule in public if rule.jvp and not rule.examples]
    assert not missing, f"primitives with a JVP rule and no examples (add them with add_examples): {missing}"
