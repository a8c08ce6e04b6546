"""``s2s.checkpointed``: a loop whose reverse-mode derivative holds a bounded number of its states, cut into
nested checkpointed pieces; the same derivatives as the loop written plainly, for any trip count and budget."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import s2s
from s2s.checkpoint import LEVELS, schedule
from s2s.errors import UnsupportedSyntaxError

from derivatives import central_difference


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


def budgets(most=400):
    """(steps, snapshots) pairs, enough snapshots for the steps, for every number of levels of pieces."""
    return st.tuples(st.integers(0, most), st.integers(20, 60))


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 10 ** 6), st.integers(80, 400))
def test_schedule_fits_the_budget_and_covers_the_steps(n, snapshots):
    levels, size = schedule(n, snapshots)
    assert 0 <= levels <= LEVELS
    if levels:
        assert size ** (levels + 1) >= n
        assert (n + size ** levels - 1) // size ** levels + levels * size <= snapshots
    else:
        assert n <= snapshots


@settings(max_examples=15, deadline=None)
@given(budgets())
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
    args = (X, V, 1.3, 200, 20)  # two levels of pieces
    assert schedule(200, 20)[0] == 2
    grad = s2s.grad(leapfrog, argnums=(0, 2))
    gx, gk = (s2s.jit(grad) if jit else grad)(*args)
    tangent = np.array([0.3, -0.2, 0.5])
    expected = central_difference(leapfrog, args, (tangent, None, None, None, None))[0]
    assert np.vdot(gx, tangent) == pytest.approx(expected, rel=1e-6)
    assert gk == pytest.approx(central_difference(leapfrog, args, (None, None, 1.0, None, None))[0], rel=1e-6)


@pytest.mark.parametrize("snapshots", [100, 12, 10])
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


def test_too_few_snapshots_is_an_error():
    with pytest.raises(ValueError, match="too few"):
        s2s.grad(leapfrog)(X, V, 1.3, 10_000, 5)
    with pytest.raises(ValueError, match="snapshots=2 or more"):
        s2s.checkpointed(range(3), snapshots=1)


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
