"""Lists filled by ``append`` in a loop whose length is read from the data, then made an array.

s2s keeps such a list as an array whose first axis runs over the list, allocated at the first append.  The
class: whatever takes the list afterwards (``np.stack`` with an axis given by position or keyword,
``np.array``, ``np.concatenate``, the stacking shorthands, indexing) must see the list's elements along the
axis it asks for.  ``np.stack(rows, axis=1)`` was once taken for a copy of the rows, a wrong value and a
wrong gradient.  Each program is checked against plain Python (value) and central differences (gradient), in
Python and compiled.  Joining the elements along an existing axis (``np.concatenate``, ``np.hstack``, …) is
refused, naming the line: it once crashed inside the generated backward pass.
"""

from __future__ import annotations

import numpy as np
import pytest
from derivatives import central_difference
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from programs import load_module

import s2s
from s2s.errors import UnsupportedSyntaxError

#: How the list ``rows`` (of 1-D arrays of 3) is taken afterwards.
TAKEN = ["np.stack(rows)", "np.stack(rows, axis=1)", "np.stack(rows, 1)", "np.stack(rows, axis=-1)",
         "np.stack(rows, axis=0)", "np.array(rows)", "np.asarray(rows)", "np.array(rows, dtype=np.float64)",
         "np.stack(rows)[1:]", "np.stack(rows, axis=1)[::-1]", "rows[2] + np.sum(rows)"]
#: Joining the elements: refused.
JOINED = ["np.concatenate(rows)", "np.concatenate(rows, axis=0)", "np.vstack(rows)", "np.hstack(rows)",
          "np.column_stack(rows)"]
#: The element appended at step ``i``.
ELEMENTS = ["x * w[i]", "np.sin(x) + w[i] * x", "x[::-1] * w[i] + x"]


@st.composite
def programs(draw):
    taken, element = draw(st.sampled_from(TAKEN + JOINED)), draw(st.sampled_from(ELEMENTS))
    weights = "np.linspace(0.5, 1.5, np.size(a)).reshape(np.shape(a))"
    return ("import numpy as np\n\n\ndef program(x, w):\n"
            "    rows = []\n"
            "    for i in range(w.shape[0]):\n"
            f"        rows.append({element})\n"
            f"    a = {taken}\n"
            f"    return np.sum(a * {weights} * np.sin(a))\n")


@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(source=programs())
def test_lists_filled_in_loops_then_made_arrays(source, jit, tmp_path):
    program = load_module(tmp_path, source).program
    x, w = np.array([0.3, -0.7, 1.1]), np.array([0.5, 1.5, -2.0, 0.25])
    fun = s2s.jit(program) if jit else program
    if any(f"a = {joined}\n" in source for joined in JOINED):
        with pytest.raises(UnsupportedSyntaxError, match=r"program_\d+\.py:8: .* of a list filled in a loop"):
            s2s.value_and_grad(fun, argnums=(0, 1))(x, w)
        return
    value, grads = s2s.value_and_grad(fun, argnums=(0, 1))(x, w)
    assert value == pytest.approx(program(x, w), rel=1e-12), source
    rng = np.random.default_rng(0)
    tangents = (rng.standard_normal(3), rng.standard_normal(4))
    along = sum(np.vdot(g, t) for g, t in zip(grads, tangents))
    assert along == pytest.approx(central_difference(program, (x, w), tangents)[0], rel=1e-6, abs=1e-9), source
