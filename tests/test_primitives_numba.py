"""Every example of the rule table under Numba: one module per family, each checked in every transform."""

from __future__ import annotations

import os

import pytest
from primitive_cases import Group, cases, check_jvp, check_second_order, check_vjp, check_vmap, known

FAMILIES = sorted({case.family for case in cases()})

#: Families whose second derivatives (jvp of grad, reverse mode over the JVP) Numba compiles in seconds from a
#: cold cache. The others take minutes each on this project's 2-core CI machine (the shape family's module
#: 7 min): they are checked with S2S_SLOW_CHECKS=1, and skipped, saying so, otherwise.
QUICK_SECOND_ORDER = {"scalar"}

#: Batched under Numba, the elementwise family's module alone takes four minutes to compile on that machine, the
#: contraction and shape families' two each: checked with S2S_SLOW_CHECKS=1 (their vmap rules are checked in
#: Python by test_primitives_batched, and compiled batches of such code by test_batching).
SLOW_VMAP = {"elementwise", "contraction", "shape"}


@pytest.fixture(scope="module")
def families(tmp_path_factory):
    directory = tmp_path_factory.mktemp("primitives")
    return {family: Group(f"family_{family}", [c for c in cases() if c.family == family and c.example.numba
                                               and not known(c, "numba") and not known(c, "second_order")], directory)
            for family in FAMILIES}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("check", [check_jvp, check_vjp, check_second_order, check_vmap], ids=lambda c: c.__name__)
def test_numba(family, check, families):
    if check is check_second_order and family not in QUICK_SECOND_ORDER and not os.environ.get("S2S_SLOW_CHECKS"):
        pytest.skip(f"compiling the {family} family's second derivatives takes minutes: run with S2S_SLOW_CHECKS=1")
    if check is check_vmap and family in SLOW_VMAP and not os.environ.get("S2S_SLOW_CHECKS"):
        pytest.skip(f"compiling the {family} family's batched code takes minutes: run with S2S_SLOW_CHECKS=1")
    check(families[family], jit=True)
