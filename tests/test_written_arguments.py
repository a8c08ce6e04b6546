"""The user's functions that write into array arguments in place (``h[i] = v``, ``h += v``, or through a
function they pass ``h`` to), called as a statement or with results, returning ``h`` or not, in straight-line
code or loops, where ``h`` is differentiated or starts as zeros: every derivative agrees with finite
differences and with the others (dot-product test), and the Hessian (reverse mode over forward mode) with
finite differences of the gradient.

The class: the arguments a call writes into change as its results do (activity, tapes, cotangents)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import s2s

from derivatives import central_difference, flat
from programs import load_module

WRITES = ["h[{i}] = np.sum(np.tanh(x * {c}))", "h[{i}] = h[{j}] * x[0] + {c}",
          "h[{i}] += np.sin(x[1]) * h[{j}]", "h += {c} * x[{k}] * h", "deeper(h, x, {i})"]


@st.composite
def programs(draw):
    """``program(x, y)`` calling ``helper(h, x)``, which writes into ``h``."""
    writes = draw(st.lists(st.sampled_from(WRITES), min_size=1, max_size=3))
    body = [w.format(i=draw(st.integers(0, 3)), j=draw(st.integers(0, 3)), k=draw(st.integers(0, 1)),
                     c=draw(st.sampled_from(["0.5", "1.5", "-0.7"]))) for w in writes]
    if draw(st.booleans()):
        body.append("x = x * 0.9 + 0.1 * h[1]")
    if draw(st.booleans()):  # writes into a copy: the caller's array stays as it was
        body.insert(0, "h = h.copy()")
    returns = draw(st.sampled_from(["h, x", "x", "0.0", None, "h", "h as g"]))
    helper = "def helper(h, x):\n" + "".join(f"    {line}\n" for line in body) + \
        (f"    return {returns.split(' as ')[0]}\n" if returns else "    return\n")
    # (returning h itself, the array it writes into: rebound by the call, or bound to a second name)
    call = {"h, x": ["h, x = helper(h, x)"], "x": ["x = helper(h, x)"], "0.0": ["c = helper(h, x)"],  # c: a constant
            None: ["helper(h, x)"], "h": ["h = helper(h, x)"], "h as g": ["g = helper(h, x)", "x = x + 0.3 * g[2]"]}
    start = draw(st.sampled_from(["h = np.zeros(4)", "h = np.concatenate((y, x))"]))
    loop = draw(st.booleans())
    lines = [start, "for _ in range(3):", *(f"    {c}" for c in call[returns])] if loop else [start, *call[returns]]
    program = "def program(x, y):\n" + "".join(f"    {line}\n" for line in lines) + \
        "    return np.sum(h ** 2) + np.sum(np.cos(x))\n"
    deeper = "def deeper(h, x, i):\n    h[i] = h[i] * np.cos(x[0])\n"
    return f"import numpy as np\n\n\n{deeper}\n\n{helper}\n\n{program}", returns


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=programs(), seed=st.integers(0, 2 ** 16))
def test_written_arguments(drawn, seed, tmp_path):
    source, _ = drawn
    program = load_module(tmp_path, source).program
    rng = np.random.default_rng(seed)
    args = (0.5 * rng.standard_normal(2), 0.5 * rng.standard_normal(2))
    tangents = (rng.standard_normal(2), rng.standard_normal(2))
    expected = central_difference(program, args, tangents)[0]
    grads = s2s.grad(program, argnums=(0, 1))(*args)
    along = sum(np.vdot(g, t) for g, t in zip(grads, tangents))
    assert along == pytest.approx(expected, rel=1e-6, abs=1e-8), source
    _, out_dot = s2s.jvp(program, args, tangents)
    assert out_dot == pytest.approx(along, rel=1e-10, abs=1e-12), source


@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=programs(), seed=st.integers(0, 2 ** 16))
def test_written_arguments_second_order(drawn, seed, tmp_path):
    source, _ = drawn
    program = load_module(tmp_path, source).program
    rng = np.random.default_rng(seed)
    args = (0.5 * rng.standard_normal(2), 0.5 * rng.standard_normal(2))
    t = rng.standard_normal(2)
    gradient = s2s.grad(program)
    expected = central_difference(lambda x: gradient(x, args[1]), args[:1], (t,))
    np.testing.assert_allclose(s2s.hessian(program)(*args) @ t, expected, rtol=1e-6, atol=1e-8, err_msg=source)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=programs().filter(lambda d: d[1] in ("h, x", "x", "h", "h as g")), seed=st.integers(0, 2 ** 16))
def test_functions_that_write_into_their_arguments(drawn, seed, tmp_path):
    """The helper itself, transformed as the user's function: its vjp (the cotangent of an array it writes
    into and returns is the output's) against its jvp and finite differences (each call on fresh copies)."""
    source, _ = drawn
    helper = load_module(tmp_path, source).helper
    rng = np.random.default_rng(seed)
    h, x = rng.standard_normal(4), 0.5 * rng.standard_normal(2)
    t = (rng.standard_normal(4), rng.standard_normal(2))
    _, out_dot = s2s.jvp(helper, (h.copy(), x.copy()), t)
    expected = central_difference(lambda h, x: helper(h.copy(), x.copy()), (h, x), t)
    np.testing.assert_allclose(flat(out_dot), expected, rtol=1e-6, atol=1e-8, err_msg=source)
    out, f_vjp = s2s.vjp(helper, h.copy(), x.copy())
    ct = tuple(rng.standard_normal(np.shape(o)) for o in out) if isinstance(out, tuple) else \
        rng.standard_normal(out.shape)
    along = np.vdot(flat(ct), flat(out_dot))
    assert along == pytest.approx(sum(np.vdot(c, d) for c, d in zip(f_vjp(ct), t)), rel=1e-10, abs=1e-12), source


def _vmap_against_each_call(helper, mapped, seed, source):
    """vmap of the helper over ``x``, ``h`` unmapped: each example is the helper's call on a fresh copy of ``h``."""
    rng = np.random.default_rng(seed)
    h, xs = rng.standard_normal(4), 0.5 * rng.standard_normal((3, 2))
    expected = [helper(h.copy(), x.copy()) for x in xs]
    got = mapped(h.copy(), xs.copy())
    if isinstance(got, tuple):
        for k, part in enumerate(got):
            np.testing.assert_allclose(part, np.stack([e[k] for e in expected]), rtol=1e-13, err_msg=source)
    else:
        np.testing.assert_allclose(got, np.stack(expected), rtol=1e-13, err_msg=source)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=programs().filter(lambda d: d[1] in ("h, x", "x", "h", "h as g")), seed=st.integers(0, 2 ** 16))
def test_vmap_gives_each_example_its_own_unmapped_argument(drawn, seed, tmp_path):
    """The class: examples of vmap sharing an unmapped argument the function writes into (they would add up,
    or race in a parallel loop)."""
    source, _ = drawn
    helper = load_module(tmp_path, source).helper
    _vmap_against_each_call(helper, s2s.vmap(helper, in_axes=(None, 0)), seed, source)


@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=programs().filter(lambda d: d[1] in ("h, x", "h")), seed=st.integers(0, 2 ** 16))
def test_compiled_vmap_gives_each_example_its_own_unmapped_argument(drawn, seed, tmp_path):
    """The same under s2s.jit, where the examples run in parallel (prange)."""
    source, _ = drawn
    helper = load_module(tmp_path, source).helper
    _vmap_against_each_call(helper, s2s.jit(s2s.vmap(helper, in_axes=(None, 0))), seed, source)


@st.composite
def view_programs(draw):
    """The programs above, their helper also writing into ``h`` through a view of it (``row = h[i:]``), which
    forward mode and vmap follow (reverse mode refuses such writes, naming the line)."""
    source, returns = draw(programs())
    i, c = draw(st.integers(0, 2)), draw(st.sampled_from(["0.5", "-0.7"]))
    view = f"    row = h[{i}:]\n    row[0] = row[0] * np.cos(x[0]) + {c} * x[1]\n"
    head, rest = source.split("def helper(h, x):\n")
    body, tail = rest.split("\n\n\n", 1)
    lines = body.splitlines(keepends=True)
    if draw(st.booleans()):  # the view its only write
        lines = [line for line in lines if line.lstrip().startswith(("return", "x = "))]
    return f"{head}def helper(h, x):\n{view}{''.join(lines)}\n\n\n{tail}", returns


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=view_programs(), seed=st.integers(0, 2 ** 16))
def test_writes_through_a_view_of_an_argument(drawn, seed, tmp_path):
    """The class: a helper writing into its argument through a view; the caller's array changes as it does."""
    source, returns = drawn
    module = load_module(tmp_path, source)
    rng = np.random.default_rng(seed)
    args = (0.5 * rng.standard_normal(2), 0.5 * rng.standard_normal(2))
    tangents = (rng.standard_normal(2), rng.standard_normal(2))
    _, out_dot = s2s.jvp(module.program, args, tangents)
    assert out_dot == pytest.approx(central_difference(module.program, args, tangents)[0], rel=1e-6, abs=1e-8), \
        source
    if returns in ("h, x", "x", "h", "h as g"):
        _vmap_against_each_call(module.helper, s2s.vmap(module.helper, in_axes=(None, 0)), seed, source)
