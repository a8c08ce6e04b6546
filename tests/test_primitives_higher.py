"""Every example of the rule table: second order (jvp of grad against differences of grad), and float32."""

from __future__ import annotations

import numpy as np
import pytest
from primitive_cases import Group, cases, check_jvp, check_second_order, check_vjp, params

from s2s.rules import shapes

#: float32 runs for arrays through the families that compute with them.
FLOAT32 = [c for c in cases() if c.family in (shapes.ELEMENTWISE, shapes.REDUCTION, shapes.CONTRACTION)
           and all(c.example.shapes.values())]


@pytest.fixture(scope="module")
def directory(tmp_path_factory):
    return tmp_path_factory.mktemp("primitives")


@pytest.mark.parametrize("case", params("second_order", [c for c in cases() if c.example.second_order]))
def test_second_order(case, directory):
    check_second_order(Group("f", [case], directory))


@pytest.mark.parametrize("case", params("float32", FLOAT32))
def test_float32(case, directory):
    group = Group("f", [case], directory)
    check_jvp(group, dtype=np.float32)
    check_vjp(group, dtype=np.float32)
