"""Values kept in containers (lists built with append or displays, tuples, dicts) inside loops that s2s
unrolls, where the names they were read from are bound again later: each element keeps the value it had
when it was stored, as in Python. Checked on the generated forward code's value and on gradients."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import s2s

from derivatives import central_difference
from programs import load_module

STORES = {
    "append": ("rows = []", "    rows.append(g)", "np.sum(np.stack(rows) * weights[:len(rows), None])"),
    "display": ("rows = [x]", "    rows = [g, rows[0]]", "np.sum(rows[0] * rows[1])"),
    "tuple": ("prev = (x,)", "    s = s + np.sum(prev[0] * g)\n    prev = (g,)", "s + np.sum(prev[0])"),
    "dict": ("d = {'a': x}", "    s = s + np.sum(d['a'] ** 2)\n    d = {'a': g * 0.5}", "s + np.sum(d['a'])"),
}


@st.composite
def programs(draw):
    store = STORES[draw(st.sampled_from(sorted(STORES)))]
    trips = draw(st.integers(1, 3))
    value = draw(st.sampled_from(["x * i", "np.sin(x) + i", "x * g + i"]))
    loop = draw(st.sampled_from([f"range({trips})", "(" + ", ".join(["0.5", "1.0", "2.0"][:trips]) + ",)"]))
    body = [f"g = {value}", *(line.strip() for line in store[1].splitlines())]
    return ("import numpy as np\n\n\ndef program(x):\n    weights = np.array([1.0, 2.0, 3.0])\n"
            f"    s = 0.0\n    g = x\n    {store[0]}\n    for i in {loop}:\n" + "".join(f"        {b}\n" for b in body)
            + f"    return {store[2]}\n")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(source=programs())
def test_values_kept_in_containers_in_unrolled_loops(source, tmp_path):
    program = load_module(tmp_path, source).program
    x, t = np.array([0.3, -0.7]), np.array([1.0, 0.4])
    value, f_vjp = s2s.vjp(program, x)
    assert value == pytest.approx(program(x), rel=1e-12), source
    (grad,) = f_vjp(1.0)
    assert np.vdot(grad, t) == pytest.approx(central_difference(program, (x,), (t,))[0], rel=1e-6, abs=1e-9), source
