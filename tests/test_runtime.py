"""The runtime helpers that transposed (reverse-mode) code calls, in Python and compiled by Numba.

A transpose helper maps a cotangent ``ct`` of a linear map ``L`` back to its
input, so it must satisfy the dot-product identity
``vdot(ct, L(x)) == vdot(helper(ct, ...), x)`` for random ``x`` and ``ct``; the
other helpers are compared with a direct NumPy computation.  Every case Numba
supports is then called from a ``numba.njit`` function and must give what
Python gives; the cases it does not support must be refused when compiling.
"""

from __future__ import annotations

import functools

import numba
import numpy as np
import pytest

from s2s import backends, runtime as rt

backends.named("numba")  # loaded: the runtime helpers called from numba.njit functions here are registered

RNG = np.random.default_rng(0)


def rand(shape):
    """Random normal values: a float for shape ``()``, else an array of that shape."""
    return float(RNG.standard_normal()) if shape == () else RNG.standard_normal(shape)


@functools.cache
def jit(helper):
    """A function compiled in nopython mode that calls ``helper`` with its arguments."""
    return numba.njit(lambda *args: helper(*args))


def assert_same(actual, expected):
    assert np.shape(actual) == np.shape(expected)
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12)


def assert_adjoint(linear, x, ct, back):
    """``back`` is the transpose of ``linear`` applied to ``ct``, checked at ``x``."""
    assert np.shape(back) == np.shape(x)
    np.testing.assert_allclose(np.vdot(ct, linear(x)), np.vdot(back, x), rtol=1e-12)


def zeros(shape):
    return 0.0 if shape == () else np.zeros(shape)


# ----------------------------------------------------------------- copy, total, unbroadcast

@pytest.mark.parametrize("x", [np.arange(6.0).reshape(2, 3), np.arange(6.0).reshape(2, 3).T, 2.5, 3])
def test_copy(x):
    for result in rt.copy(x), jit(rt.copy)(x):
        assert_same(result, x)
        if isinstance(x, np.ndarray):
            assert not np.shares_memory(result, x)


@pytest.mark.parametrize("x", [rand((2, 3)), rand((4,)), 1.5, 2])
def test_total(x):
    assert_same(rt.total(x), np.sum(x))
    assert_same(jit(rt.total)(x), rt.total(x))


UNBROADCAST = [((3,), ()), ((2, 3), ()), ((2, 3), (3,)), ((2, 3), (1, 3)), ((2, 3), (2, 1)),
               ((4, 2, 3), (2, 1)), ((4, 2, 3), (1,)), ((2, 3), (2, 3))]


@pytest.mark.parametrize("value_shape, like_shape", UNBROADCAST)
def test_unbroadcast(value_shape, like_shape):
    value, like = rand(value_shape), rand(like_shape)
    back = rt.unbroadcast(value, like)
    assert_adjoint(lambda x: np.broadcast_to(x, value_shape), like, value, back)
    assert_same(jit(rt.unbroadcast)(value, like), back)


def test_unbroadcast_keeps_equal_shapes():
    value = rand((2, 3))
    assert rt.unbroadcast(value, rand((2, 3))) is value


@pytest.mark.parametrize("like", [np.ones((2, 3)), np.ones(4, dtype=np.int64)])
def test_unbroadcast_spreads_a_scalar(like):
    for result in rt.unbroadcast(2.5, like), jit(rt.unbroadcast)(2.5, like):
        assert result.dtype == np.float64
        assert_same(result, np.full(like.shape, 2.5))


# ----------------------------------------------------------------- reductions and reshuffles

REDUCE = [((), None), ((4,), None), ((2, 3), None), ((4,), 0), ((2, 3), 0), ((2, 3), 1), ((2, 3), -1),
          ((2, 3, 4), 1)]


@pytest.mark.parametrize("primal, helper", [(np.sum, rt.sum_transpose), (np.mean, rt.mean_transpose)])
@pytest.mark.parametrize("shape, axis", REDUCE)
def test_reduction_transpose(primal, helper, shape, axis):
    a = rand(shape)
    ct = rand(np.shape(primal(a, axis)))
    back = helper(ct, a, axis)
    assert_adjoint(lambda x: primal(x, axis), a, ct, back)
    assert_same(jit(helper)(ct, a, axis), back)


@pytest.mark.parametrize("shape, axis", [((4,), None), ((2, 3), None), ((2, 3), 0), ((2, 3), -1)])
def test_cumsum_transpose(shape, axis):
    a = rand(shape)
    ct = rand(np.cumsum(a, axis).shape)
    back = rt.cumsum_transpose(ct, a, axis)
    assert_adjoint(lambda x: np.cumsum(x, axis), a, ct, back)
    assert_same(jit(rt.cumsum_transpose)(ct, a, axis), back)


@pytest.mark.parametrize("shape, axes", [((2, 3), None), ((2, 3, 4), None), ((2, 3, 4), (1, 2, 0)),
                                         ((2, 3, 4), (2, 0, 1)), ((2, 3, 4), (0, -1, 1))])
def test_transpose_transpose(shape, axes):
    a = rand(shape)
    ct = rand(np.transpose(a, axes).shape)
    back = rt.transpose_transpose(ct, axes)
    assert_adjoint(lambda x: np.transpose(x, axes), a, ct, back)
    assert_same(jit(rt.transpose_transpose)(ct, axes), back)


# ----------------------------------------------------------------- products

DOT = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4))]


@pytest.mark.parametrize("a_shape, b_shape", DOT)
def test_dot_transposes(a_shape, b_shape):
    a, b = rand(a_shape), rand(b_shape)
    ct = rand(np.shape(np.dot(a, b)))
    left, right = rt.dot_left_transpose(ct, b), rt.dot_right_transpose(a, ct)
    assert_adjoint(lambda x: np.dot(x, b), a, ct, left)
    assert_adjoint(lambda x: np.dot(a, x), b, ct, right)
    assert_same(jit(rt.dot_left_transpose)(ct, b), left)
    assert_same(jit(rt.dot_right_transpose)(a, ct), right)


# ----------------------------------------------------------------- pieces of concatenate and stack

CONCATENATE = [([(2,), (3,), (1,)], 0), ([(2, 3), (1, 3), (4, 3)], 0), ([(2, 1), (2, 3)], 1), ([(2, 1), (2, 3)], -1)]


@pytest.mark.parametrize("shapes, axis", CONCATENATE)
def test_concatenate_piece(shapes, axis):
    arrays = tuple(rand(shape) for shape in shapes)
    ct = rand(np.concatenate(arrays, axis).shape)
    for index in range(len(arrays)):
        def linear(x):  # the piece at ``index`` alone: the others are constants
            return np.concatenate([x if i == index else zeros(shape) for i, shape in enumerate(shapes)], axis)
        back = rt.concatenate_piece(ct, arrays, index, axis)
        assert_adjoint(linear, arrays[index], ct, back)
        assert_same(jit(rt.concatenate_piece)(ct, arrays, index, axis), back)


def test_concatenate_piece_of_mixed_arrays():
    arrays = (rand((2, 3)), rand((3, 4)).T, rand((1, 3)))  # the second is not C-contiguous
    ct = rand((7, 3))
    for index in range(3):
        back = rt.concatenate_piece(ct, arrays, index)
        assert not np.shares_memory(back, ct)
        assert_same(jit(rt.concatenate_piece)(ct, arrays, index), back)


@pytest.mark.parametrize("shape, count, axis", [((), 3, 0), ((4,), 3, 0), ((4,), 3, 1), ((2, 3), 2, 2),
                                                ((2, 3), 2, -1)])
def test_stack_piece(shape, count, axis):
    ct = rand(np.stack([zeros(shape)] * count, axis).shape)
    for index in range(count):
        def linear(x):
            return np.stack([x if i == index else zeros(shape) for i in range(count)], axis)
        back = rt.stack_piece(ct, index, axis)
        assert_adjoint(linear, rand(shape), ct, back)
        assert_same(jit(rt.stack_piece)(ct, index, axis), back)


# ----------------------------------------------------------------- transposes of the JVP helpers

PRIMAL = np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]])  # ties for max and min, and a zero for prod
AXES = [(PRIMAL[0], None), (PRIMAL, None), (PRIMAL, 0), (PRIMAL, 1), (PRIMAL, -1)]


@pytest.mark.parametrize("a, axis", AXES)
def test_prod_jvp_transpose(a, axis):
    ct = rand(np.shape(np.prod(a, axis)))
    back = rt.prod_jvp_transpose(a, ct, axis)
    assert_adjoint(lambda x: rt.prod_jvp(a, x, axis), rand(a.shape), ct, back)
    if axis is None:
        assert_same(jit(rt.prod_jvp_transpose)(a, ct, axis), back)


@pytest.mark.parametrize("extremum", [np.max, np.min])
@pytest.mark.parametrize("a, axis", AXES)
def test_extremum_jvp_transpose(extremum, a, axis):
    ans = extremum(a, axis)
    ct = rand(np.shape(ans))
    back = rt.extremum_jvp_transpose(a, ct, ans, axis)
    assert_adjoint(lambda x: rt.extremum_jvp(a, x, ans, axis), rand(a.shape), ct, back)
    if axis is None:
        assert_same(jit(rt.extremum_jvp_transpose)(a, ct, ans, axis), back)


# ----------------------------------------------------------------- scatter-add

@pytest.mark.parametrize("target, index, value", [
    (np.zeros(5), np.array([0, 3, 3, -1, 0, 3]), np.arange(6.0)),
    (np.zeros(5), np.array([4, 1, 4]), 2.5),
    (np.zeros(5), 2, 1.5),
    (np.zeros((3, 2)), 1, np.array([1.0, 2.0])),
])
def test_add_at(target, index, value):
    expected = target.copy()
    np.add.at(expected, index, value)
    python, compiled = target.copy(), target.copy()
    assert rt.add_at(python, index, value) is None
    jit(rt.add_at)(compiled, index, value)
    assert_same(python, expected)
    assert_same(compiled, expected)


# ----------------------------------------------------------------- axis left out, and what Numba refuses

@pytest.mark.parametrize("helper, args", [
    (rt.sum_transpose, (1.5, rand((4,)))),
    (rt.mean_transpose, (1.5, rand((2, 3)))),
    (rt.cumsum_transpose, (rand((6,)), rand((2, 3)))),
    (rt.transpose_transpose, (rand((2, 3)),)),
    (rt.prod_jvp_transpose, (PRIMAL, 1.5)),
    (rt.extremum_jvp_transpose, (PRIMAL, 1.5, 3.0)),
])
def test_numba_axis_left_out(helper, args):
    assert_same(jit(helper)(*args), helper(*args))


@pytest.mark.parametrize("helper, args", [
    (rt.dot_left_transpose, (rand((2, 4)), rand((2, 3, 4)))),
    (rt.add_at, (np.zeros(5), np.array([[0, 1]]), 1.0)),
])
def test_numba_refuses(helper, args):
    with pytest.raises(numba.core.errors.TypingError):
        jit(helper)(*args)
