"""Every example of the rule table, in every transform: jvp and vjp here; second order and float32 in
``test_primitives_higher.py``, vmap in ``test_primitives_batched.py``, Numba in
``test_primitives_numba.py`` (files of their own, so that the test runners share them out).

The examples live next to each primitive's rules (``registry.add_examples``); a primitive added
with examples is tested without a new test.  In Python each example is its own test; under
Numba each family's examples are one function (one output per example), so a family costs one
compile per transform, and a failure still names the example.
"""

from __future__ import annotations

import pytest
from primitive_cases import Group, check_jvp, check_vjp, params

from s2s.frontend.resolve import spelling
from s2s.rules import registry


@pytest.fixture(scope="module")
def directory(tmp_path_factory):
    return tmp_path_factory.mktemp("primitives")


@pytest.mark.parametrize("case", params("jvp"))
def test_jvp(case, directory):
    check_jvp(Group("f", [case], directory))


@pytest.mark.parametrize("case", params("vjp"))
def test_vjp(case, directory):
    check_vjp(Group("f", [case], directory))


# -- coverage: a differentiable public primitive without examples is untested -------------------


def test_every_differentiable_primitive_has_examples():
    public = [rule for rule in registry.rules() if spelling(rule.prim) and not spelling(rule.prim).startswith("rt.")]
    missing = [registry.describe(rule.prim) for rule in public if rule.jvp and not rule.examples]
    assert not missing, f"primitives with a JVP rule and no examples (add them with add_examples): {missing}"
