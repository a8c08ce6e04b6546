"""Every example of the rule table under vmap, against a loop over the batch."""

from __future__ import annotations

import pytest
from primitive_cases import Group, check_vmap, params


@pytest.fixture(scope="module")
def directory(tmp_path_factory):
    return tmp_path_factory.mktemp("primitives")


@pytest.mark.parametrize("case", params("vmap"))
def test_vmap(case, directory):
    group = Group("f", [case], directory)
    check_vmap(group)
    if len(case.params) > 1:
        check_vmap(group, first_only=True)
