"""The front end: user functions → core form (one primitive per statement, names resolved)."""

from __future__ import annotations

import gast
import numpy as np
import samples

import s2s
from s2s import core
from s2s.frontend.normalize import normalize
from s2s.rules import registry


def statements(fn):
    return list(core.walk_statements(fn.body))


def test_core_form_has_one_primitive_per_statement():
    fn = normalize(samples.nested_expression)
    for stmt in statements(fn):
        if isinstance(stmt, gast.Assign):
            args, keywords = registry.operands(stmt.value)
            assert all(core.is_atom(a) for a in [*args, *keywords.values()])
    returns = [s for s in statements(fn) if isinstance(s, gast.Return)]
    assert len(returns) == 1 and core.is_atom(returns[0].value)


def test_temporaries_are_named_after_what_they_hold():
    fn = normalize(samples.nested_expression)
    assert {"x_times_x", "y_times_y", "1_0_plus_x"} & fn.temps or "x_times_x" in fn.temps


def test_statements_keep_their_source_lines():
    fn = normalize(samples.nested_expression)
    first = samples.nested_expression.__code__.co_firstlineno
    assert {s.lineno for s in statements(fn)} == {first + 1}


def test_names_resolve_to_canonical_spellings():
    fn = normalize(samples.imported_alias)
    text = s2s.source(samples.imported_alias, mode="primal")
    assert "np.cos(x)" in text  # imported as `from numpy import cos as cosine`
    assert fn.constants == {"RATE": 0.5}
    assert "RATE = 0.5" in text


def test_closure_values_are_constants_and_new_values_give_new_code():
    double, triple = samples.make_closure(2.0), samples.make_closure(3.0)
    assert s2s.jvp(double, (0.0,), (1.0,))[1] == 2.0
    assert s2s.jvp(triple, (0.0,), (1.0,))[1] == 3.0


def test_array_constants_are_bound_not_printed():
    text = s2s.source(samples.uses_global_array, mode="primal")
    assert "# WEIGHTS: ndarray of shape (3,)" in text


def test_methods_become_numpy_functions():
    text = s2s.source(samples.method_calls, mode="primal")
    for spelled in ("np.sum(x)", "np.transpose(x)", "np.dot(", "np.reshape(x, (3, 1))", "np.max("):
        assert spelled in text


def test_conditional_expression_becomes_an_if_statement():
    text = s2s.source(samples.conditional_expression, mode="primal")
    assert "if x > 0:" in text and "y = -x" in text


def test_for_over_an_array_becomes_a_range_loop():
    text = s2s.source(samples.loops_over_rows, mode="primal")
    assert "for i_row in range(len(m)):" in text and "row = m[i_row]" in text
    m = np.arange(6.0).reshape(2, 3)
    assert s2s.jvp(samples.loops_over_rows, (m,), (np.ones_like(m),))[1] == 2 * np.sum(m)


def test_lambdas_on_one_line_are_told_apart():
    add_one, times_three = samples.two_lambdas_on_one_line()
    assert s2s.jvp(add_one, (1.0,), (1.0,)) == (2.0, 1.0)
    assert s2s.jvp(times_three, (1.0,), (1.0,)) == (3.0, 3.0)


def test_partial_binds_constants():
    fn = normalize(samples.square_via_partial)
    assert fn.params == ["x"]
    assert s2s.jvp(samples.square_via_partial, (3.0,), (1.0,)) == (9.0, 6.0)


def test_primitives_are_functions_too():
    fn = normalize(np.arctan2, nargs=2)
    assert fn.params == ["x", "y"]
    y, t = s2s.jvp(np.arctan2, (1.0, 2.0), (1.0, 0.0))
    assert t == 2.0 / 5.0


def test_user_calls_are_kept_as_separate_functions():
    text = s2s.source(samples.calls_decorated)
    assert "def decorated_helper_jvp(x, x_dot):" in text
    assert "def helper_scaled_jvp(x, x_dot):" in text
