"""Shape operations and masks under Numba, on drawn shapes: the overloads s2s supplies agree with NumPy,
and each transpose helper is the adjoint of its operation (dot-product test)."""

import numba
import numpy as np
from hypothesis import given, settings, strategies as st

from s2s import backends, runtime as rt

backends.named("numba")  # loaded: the runtime helpers called from numba.njit functions here are registered


@numba.njit
def _masked(x, m, v):
    y = x.copy()
    y[m] = v[:np.sum(m)]
    return x[m], y


@settings(max_examples=25, deadline=None)
@given(st.tuples(*[st.integers(1, 3)] * 3), st.integers(0, 2 ** 31))
def test_masks_of_several_dimensions_read_and_write_as_numpy(shape, seed):
    rng = np.random.default_rng(seed)
    x, m, v = rng.standard_normal(shape), rng.random(shape) > 0.5, rng.standard_normal(27)
    read, written = _masked(x, m, v)
    expected = x.copy()
    expected[m] = v[:m.sum()]
    np.testing.assert_array_equal(read, x[m])
    np.testing.assert_array_equal(written, expected)


@numba.njit
def _forward(x, reps, widths, shift, axes, axis, repeats):
    return (np.tile(x, reps), np.pad(x, widths), np.roll(x, shift, axes), np.repeat(x, repeats, axis),
            np.flip(x, axis), np.diff(x, 1, axis), np.sort(x, axis=axis))


@numba.njit
def _adjoints(cts, x, reps, widths, axis, repeats):
    return (rt.tile_transpose(cts[0], x, reps), rt.pad_transpose(cts[1], x, widths),
            rt.repeat_transpose(cts[2], x, repeats, axis), rt.diff_transpose(cts[3], 1, axis))


small = st.integers(0, 2)


@settings(max_examples=25, deadline=None)
@given(st.tuples(st.integers(1, 3), st.integers(2, 4)), st.tuples(st.integers(1, 3), st.integers(1, 3)),
       st.tuples(st.tuples(small, small), st.tuples(small, small)), st.tuples(st.integers(-5, 5), st.integers(-5, 5)),
       st.integers(-2, 1), st.integers(0, 3), st.integers(0, 2 ** 31))
def test_shape_operations_match_numpy_and_transpose(shape, reps, widths, shift, axis, repeats, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    outs = _forward(x, reps, widths, shift, (0, 1), axis, repeats)
    expected = (np.tile(x, reps), np.pad(x, widths), np.roll(x, shift, (0, 1)), np.repeat(x, repeats, axis),
                np.flip(x, axis), np.diff(x, 1, axis), np.sort(x, axis=axis))
    for out, want in zip(outs, expected):
        np.testing.assert_array_equal(out, want)
    linear = (outs[0], outs[1], outs[3], outs[5])
    cts = tuple(rng.standard_normal(y.shape) for y in linear)
    for ct, y, back in zip(cts, linear, _adjoints(cts, x, reps, widths, axis, repeats)):
        np.testing.assert_allclose(np.sum(ct * y), np.sum(back * x), rtol=1e-10, atol=1e-12)
