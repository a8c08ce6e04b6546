"""``s2s.checkpointed``: a loop whose reverse-mode derivative holds a bounded number of its states, reversed in
the order of binomial checkpointing; the same derivatives as the loop written plainly, for any trip count and
budget."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import random_programs
import s2s
from s2s.errors import S2SError, UnsupportedSyntaxError
from s2s.revolve import revolve, revolve_next

from derivatives import central_difference
from primitive_cases import load


def force(x, k):
    return -k * x - 0.1 * x ** 3


def leapfrog(x, v, k, n, snapshots):
    dt = 0.05
    for _ in s2s.checkpointed(range(n), snapshots=snapshots):
        v = v + dt * force(x, k)
        x = x + dt * v
    return np.sum(x ** 2) + np.sum(np.sin(v))


def leapfrog_plain(x, v, k, n, snapshots):
    dt = 0.05
    for _ in range(n):
        v = v + dt * force(x, k)
        x = x + dt * v
    return np.sum(x ** 2) + np.sum(np.sin(v))


def history(x, n, snapshots):
    """A carried array written in place, read by index, with the index and a range that has a start and a step."""
    h = np.zeros(3 * n + 3)
    for i in s2s.checkpointed(range(2, 3 * n + 2, 3), snapshots=snapshots):
        h[i] = np.sum(np.tanh(x * i))
        x = x * 0.9 + 0.1 * h[i]
    return np.sum(h ** 2) + np.sum(x)


def history_plain(x, n, snapshots):
    h = np.zeros(3 * n + 3)
    for i in range(2, 3 * n + 2, 3):
        h[i] = np.sum(np.tanh(x * i))
        x = x * 0.9 + 0.1 * h[i]
    return np.sum(h ** 2) + np.sum(x)


X, V = np.array([1.0, 0.5, -0.3]), np.array([0.0, 0.2, 0.1])


def binomial(n, k):
    return math.comb(n, k) if k >= 0 else 0


def run(n, snapshots):
    """The schedule played out on states that are step numbers: checks each action is possible, returns the
    steps run forward, the most times one step runs, and the steps taken back in order."""
    plan, slots, state, runs, back = revolve(n, snapshots), {0: 0}, 0, [0] * n, []
    while True:
        first, last, save, step, load = revolve_next(plan)
        if first < 0:
            return sum(runs), max(runs, default=0), back
        assert state == first
        for k in range(first, last):
            runs[k] += 1
        state = last
        if save >= 0:
            assert 0 < save < snapshots  # slot 0 keeps the initial state
            slots[save] = state
        if step >= 0:
            assert state == step
            back.append(step)
        if load >= 0:
            state = slots[load]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 3000), st.integers(1, 40))
def test_schedule_is_binomial_checkpointing(n, snapshots):
    """Every step is taken back once, last first, from its own state, within the slots; the steps run forward
    are Griewank's minimum, ``r n - binomial(c + r, r - 1)`` for ``c`` states, each run at most ``r`` times."""
    forward, most, back = run(n, snapshots)
    assert back == list(range(n - 1, -1, -1))
    if n == 0:
        assert forward == 0
        return
    r = next(r for r in range(n + 1) if binomial(snapshots + r, r) >= n)
    assert forward == r * n - binomial(snapshots + r, r - 1)
    assert most <= r


def test_a_million_steps_in_eighty_states():
    forward, most, _ = run(10 ** 6, 80)
    assert most == 4 and forward < 4 * 10 ** 6


@settings(max_examples=15, deadline=None)
@given(st.tuples(st.integers(0, 300), st.integers(1, 40)))
def test_same_gradient_as_the_plain_loop(case):
    n, snapshots = case
    args = (X, V, 1.3, n, snapshots)
    got = s2s.grad(leapfrog, argnums=(0, 1, 2))(*args)
    want = s2s.grad(leapfrog_plain, argnums=(0, 1, 2))(*args)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert leapfrog(*args) == leapfrog_plain(*args)


@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
def test_gradient_matches_finite_differences(jit):
    args = (X, V, 1.3, 200, 5)  # each step run up to 4 times again
    grad = s2s.grad(leapfrog, argnums=(0, 2))
    gx, gk = (s2s.jit(grad) if jit else grad)(*args)
    tangent = np.array([0.3, -0.2, 0.5])
    expected = central_difference(leapfrog, args, (tangent, None, None, None, None))[0]
    assert np.vdot(gx, tangent) == pytest.approx(expected, rel=1e-6)
    assert gk == pytest.approx(central_difference(leapfrog, args, (None, None, 1.0, None, None))[0], rel=1e-6)


@pytest.mark.parametrize("snapshots", [100, 3, 1])
def test_carried_arrays_written_in_place(snapshots):
    args = (np.array([0.4, -0.7]), 30, snapshots)
    np.testing.assert_allclose(s2s.grad(history)(*args), s2s.grad(history_plain)(*args), rtol=1e-12)
    _, along = s2s.jvp(history, args, (np.array([1.0, 0.5]), None, None))
    assert along == pytest.approx(central_difference(history, args, (np.array([1.0, 0.5]), None, None))[0], rel=1e-6)


def test_forward_mode_and_batching_run_the_loop_as_it_is():
    args = (X, V, 1.3, 50, 12)
    _, along = s2s.jvp(leapfrog, args, (np.ones(3), np.zeros(3), 0.0, None, None))
    assert along == pytest.approx(np.sum(s2s.grad(leapfrog)(*args)), rel=1e-12)
    ks = np.array([1.0, 1.3])
    batched = s2s.vmap(leapfrog, in_axes=(None, None, 0, None, None))(X, V, ks, 50, 12)
    np.testing.assert_allclose(batched, [leapfrog(X, V, k, 50, 12) for k in ks], rtol=1e-12)


@pytest.mark.parametrize("snapshots", [0, -1, 2.0, True])
def test_a_budget_of_no_states_is_an_error(snapshots):
    with pytest.raises(ValueError, match="snapshots=1 or more"):
        s2s.checkpointed(range(3), snapshots=snapshots)


def no_budget(x, n):
    for _ in s2s.checkpointed(range(n), snapshots=0):
        x = np.sin(x)
    return x


@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
def test_a_budget_of_no_states_is_an_error_in_every_transform(jit):
    """A literal budget is checked when s2s reads the code, naming the line; one passed in, when the backward
    pass starts."""
    compile_ = s2s.jit if jit else (lambda f: f)
    for transform in (s2s.grad, lambda f: lambda *a: s2s.jvp(f, a, (1.0, None))):
        with pytest.raises(ValueError, match=r"test_checkpointed_loops.py:\d+: s2s.checkpointed needs snapshots=1"):
            transform(compile_(no_budget))(0.5, 3)
    with pytest.raises(ValueError, match="snapshots=1 or more"):
        compile_(no_budget)(0.5, 3)
    with pytest.raises(ValueError, match="snapshots=1 or more"):
        compile_(s2s.grad(leapfrog))(X, V, 1.3, 5, 0)


def recurrence(x, w, n, snapshots):
    """A counter carried as an int, a carried name the step overwrites, and one it writes into."""
    j = 0
    s = 0.0
    y = 0.0
    h = np.zeros(n + 1)
    for i in s2s.checkpointed(range(n), snapshots=snapshots):
        j = j + 1
        s = s + np.sin(x * j) + y * y
        y = w * i + np.cos(s)
        h[i + 1] = h[i] * 0.5 + y
    return s + y + np.sum(h ** 2)


def recurrence_plain(x, w, n, snapshots):
    j = 0
    s = 0.0
    y = 0.0
    h = np.zeros(n + 1)
    for i in range(n):
        j = j + 1
        s = s + np.sin(x * j) + y * y
        y = w * i + np.cos(s)
        h[i + 1] = h[i] * 0.5 + y
    return s + y + np.sum(h ** 2)


TRANSFORMS = {
    "grad": lambda f: s2s.grad(f, argnums=(0, 1)),
    "jacrev": lambda f: s2s.jacrev(f, argnums=(0, 1)),
    "hessian": lambda f: s2s.hessian(f, argnums=(0, 1)),
    "vmap of grad": lambda f: s2s.vmap(s2s.grad(f, argnums=(0, 1)), in_axes=(0, None, None, None)),
    "linearize": lambda f: lambda x, w, n, k: s2s.linearize(lambda x: f(x, w, n, k), x)[1](1.0),
}


@pytest.mark.parametrize("transform, jit", [(t, False) for t in TRANSFORMS] + [("grad", True), ("vmap of grad", True)])
def test_every_transform_as_the_plain_loop(transform, jit):
    compile_ = s2s.jit if jit else (lambda f: f)
    x = np.array([0.3, -0.2]) if transform == "vmap of grad" else 0.3
    got, want = (TRANSFORMS[transform](compile_(f))(x, 0.7, 9, 2) for f in (recurrence, recurrence_plain))
    for a, b in zip(s2s.tree_util.tree_leaves(got), s2s.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-12)


@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(random_programs.without("v ="), st.integers(0, 5), st.integers(1, 3), st.integers(0, 2 ** 16))
def test_random_loop_bodies(tmp_path, lines, n, snapshots, seed):
    """A random body (in-place writes, branches, inner loops, reductions) in a checkpointed loop: the
    gradient is the plain loop's to rounding."""
    loops = {name: [f"for i in {steps}:", *("    " + line for line in lines)]
             for name, steps in (("checkpointed", f"s2s.checkpointed(range({n}), snapshots={snapshots})"),
                                 ("plain", f"range({n})"))}
    module = load(tmp_path, "import s2s\n\n\n" + "".join(
        random_programs.source(body).replace("def program(", f"def {name}(") for name, body in loops.items()))
    args, _, _ = random_programs.point(seed)
    value = module.plain(*args)
    if not np.isfinite(value) or abs(value) > 1e6:
        return
    random_programs.same_gradient(module.plain, module.checkpointed, args, rtol=1e-9, atol=1e-11)


def defines_inside(x, n):
    for i in s2s.checkpointed(range(n), snapshots=10):
        y = x * 2.0
        x = y + 1.0
    return x + y


def breaks(x, n):
    for i in s2s.checkpointed(range(n), snapshots=10):
        x = x * 2.0
        if x > 10.0:
            break
    return x


def not_a_range(x, xs):
    for v in s2s.checkpointed(xs, snapshots=10):
        x = x * v
    return x


@pytest.mark.parametrize("fun, message", [
    (defines_inside, "defines y, read after it"),
    (breaks, "break, continue or return"),
    (not_a_range, r"s2s.checkpointed\(range\(...\), snapshots=k\)")])
def test_loops_it_cannot_cut_are_refused_naming_the_line(fun, message):
    with pytest.raises(UnsupportedSyntaxError, match=message) as info:
        s2s.grad(fun)(1.0, 5)
    assert "test_checkpointed_loops.py" in str(info.value)


def complex_inside(x, n):
    for _ in s2s.checkpointed(range(n), snapshots=2):
        x = np.sin(x)
        x = x + np.real(x * 1j)
    return x


def test_what_is_refused_inside_the_loop_names_the_users_line():
    """The lifted loop's lines are the user's: a refusal names the file and line of the loop body."""
    line = complex_inside.__code__.co_firstlineno + 3
    with pytest.raises(S2SError, match=rf"test_checkpointed_loops.py:{line}: .*complex") as info:
        s2s.grad(complex_inside)(0.5, 3)
    assert "x = x + np.real(x * 1j)" in str(info.value)


def relax(params, x, n):
    """Parameters in a dict, read inside the checkpointed loop."""
    for _ in s2s.checkpointed(range(n), snapshots=12):
        x = x + 0.1 * np.tanh(params["W"] @ x + params["b"])
    return np.sum(x ** 2)


def test_trees_read_inside_the_loop():
    params = {"W": np.array([[0.5, -0.3], [0.2, 0.7]]), "b": np.array([0.1, -0.2])}
    x = np.array([1.0, -0.5])
    grads = s2s.grad(relax)(params, x, 30)
    t = {"W": np.array([[1.0, 0.0], [0.5, -1.0]]), "b": np.array([0.3, 0.2])}
    expected = central_difference(relax, (params, x, 30), (t, None, None))[0]
    assert np.vdot(grads["W"], t["W"]) + np.vdot(grads["b"], t["b"]) == pytest.approx(expected, rel=1e-6)


def epidemic(params, s, n):
    """Parameters in a dict, read by a loop that carries several names (the body's outputs bound one by one)."""
    infected, recovered = 1.0 - s, 0.0
    for _ in s2s.checkpointed(range(n), snapshots=3):
        new = params["beta"] * s * infected * 0.1
        s, infected, recovered = s - new, infected + new - params["gamma"] * infected * 0.1, \
            recovered + params["gamma"] * infected * 0.1
    return recovered + 2.0 * infected


def epidemic_plain(params, s, n):
    infected, recovered = 1.0 - s, 0.0
    for _ in range(n):
        new = params["beta"] * s * infected * 0.1
        s, infected, recovered = s - new, infected + new - params["gamma"] * infected * 0.1, \
            recovered + params["gamma"] * infected * 0.1
    return recovered + 2.0 * infected


@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
def test_trees_read_by_a_loop_carrying_several_names(jit):
    params = {"beta": 0.6, "gamma": 0.2}
    grad = s2s.grad(epidemic, argnums=(0, 1))
    (g_params, g_s), (w_params, w_s) = (s2s.jit(grad) if jit else grad)(params, 0.99, 40), \
        s2s.grad(epidemic_plain, argnums=(0, 1))(params, 0.99, 40)
    assert g_s == pytest.approx(w_s, rel=1e-12)
    assert g_params == pytest.approx(w_params, rel=1e-12)
