"""vmap where an argument that is not mapped comes to hold batched values (a state carried through a loop
that a mapped parameter changes), in the function itself or in helpers it passes the state to, whose bodies
vmap vectorizes or runs one example at a time: each example's result is the function's own."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import s2s

from programs import load_module

FORCES = {"inline": "-k * x", "helper": "force(x, k)", "sum": "-k * x * np.sum(x ** 2)"}


@st.composite
def programs(draw):
    force = FORCES[draw(st.sampled_from(sorted(FORCES)))]
    step = ["v = v + 0.1 * " + force, "x = x + 0.1 * v"]
    where = draw(st.sampled_from(["inline", "body", "steps"]))
    helpers = "def force(x, k):\n    return -k * x - 0.1 * x ** 3\n\n\n"
    helpers += "def body(i, v, x, k):\n" + "".join(f"    {s}\n" for s in step) + "    return v, x\n\n\n"
    helpers += "def steps(a, b, v, x, k):\n    for i in range(a, b):\n        v, x = body(i, v, x, k)\n" \
               "    return v, x\n\n\n"
    loop = {"inline": ["for i in range(n):", *("    " + s for s in step)],
            "body": ["for i in range(n):", "    v, x = body(i, v, x, k)"],
            "steps": ["v, x = steps(0, n, v, x, k)"]}[where]
    program = "def program(x, v, k, n):\n" + "".join(f"    {s}\n" for s in loop) + \
        "    return np.sum(x ** 2) + np.sum(np.sin(v))\n"
    return f"import numpy as np\n\n\n{helpers}{program}"


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(source=programs(), mapped=st.sets(st.sampled_from([0, 1, 2]), min_size=1))
def test_unmapped_state_made_batched(source, mapped, tmp_path):
    program = load_module(tmp_path, source).program
    rng = np.random.default_rng(0)
    args = [rng.standard_normal(3), rng.standard_normal(3), 1.3]
    batched = [rng.standard_normal((2, 3)), rng.standard_normal((2, 3)), np.array([0.5, 1.0])]
    in_axes = tuple(0 if i in mapped else None for i in range(3)) + (None,)
    call = [batched[i] if i in mapped else args[i] for i in range(3)] + [4]
    got = s2s.vmap(program, in_axes=in_axes)(*call)
    expected = [program(*[batched[i][b] if i in mapped else args[i] for i in range(3)], 4) for b in range(2)]
    np.testing.assert_allclose(got, expected, rtol=1e-12, err_msg=source)
