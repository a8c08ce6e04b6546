"""Shape operations and gathers: each moves, copies or picks elements, so each is linear.

A JVP applies the same operation to the tangent; the transpose sends the cotangent
back to where each element came from (summing copies, dropping padding, adding
gathered elements back at their indices).
"""
# ruff: noqa: F821  (templates name tangents ``x_dot``, the cotangent ``ct`` and positions ``index``)

import numpy as np

from .. import runtime as rt
from . import shapes
from .examples import example
from .registry import add_examples, declare, defjvp, deftranspose

# -- JVPs: the operation applied to the tangent ----------------------------------------


@defjvp(np.swapaxes)
def swapaxes(a, axis1, axis2):
    return np.swapaxes(a_dot, axis1, axis2)


@defjvp(np.moveaxis)
def moveaxis(a, source, destination):
    return np.moveaxis(a_dot, source, destination)


@defjvp(np.flip)
def flip(m, axis=None):
    return np.flip(m_dot, axis)


@defjvp(np.roll)
def roll(a, shift, axis=None):
    return np.roll(a_dot, shift, axis)


@defjvp(np.tile)
def tile(A, reps):
    return np.tile(A_dot, reps)


@defjvp(np.repeat)
def repeat(a, repeats, axis=None):
    return np.repeat(a_dot, repeats, axis)


@defjvp(np.pad)
def pad(array, pad_width):
    return np.pad(array_dot, pad_width)


@defjvp(np.broadcast_to)
def broadcast_to(array, shape):
    return np.broadcast_to(array_dot, shape)


@defjvp(np.diff)
def diff(a, n=1, axis=-1):
    return np.diff(a_dot, n, axis)


@defjvp(np.tril)
def tril(m, k=0):
    return np.tril(m_dot, k)


@defjvp(np.triu)
def triu(m, k=0):
    return np.triu(m_dot, k)


@defjvp(np.diag)
def diag(v, k=0):
    return np.diag(v_dot, k)


@defjvp(np.trace)
def trace(a, offset=0):
    return np.trace(a_dot, offset)


@defjvp(np.take)
def take(a, indices, axis=None):
    return np.take(a_dot, indices, axis)


@defjvp(np.take_along_axis)
def take_along_axis(arr, indices, axis):
    return np.take_along_axis(arr_dot, indices, axis)


@defjvp(np.sort)
def sort(a, axis=-1):
    """The tangent permuted as the values are (ties keep argsort's order)."""
    return np.take_along_axis(a_dot, np.argsort(a, axis=axis), axis)


@defjvp(np.split)
def split(ary, indices_or_sections, axis=0):
    return np.split(ary_dot, indices_or_sections, axis)


@defjvp(np.array_split)
def array_split(ary, indices_or_sections, axis=0):
    return np.array_split(ary_dot, indices_or_sections, axis)


@defjvp(np.hstack)
def hstack(tup):
    return np.hstack(tup_dot)


@defjvp(np.vstack)
def vstack(tup):
    return np.vstack(tup_dot)


# -- transposes: the cotangent sent back to where each element came from ---------------


@deftranspose(np.swapaxes)
def swapaxes_t(a, axis1, axis2):
    return np.swapaxes(ct, axis1, axis2), None, None


@deftranspose(np.flip)
def flip_t(m, axis=None):
    return np.flip(ct, axis), None


@deftranspose(np.tril)
def tril_t(m, k=0):
    return np.tril(ct, k), None


@deftranspose(np.triu)
def triu_t(m, k=0):
    return np.triu(ct, k), None


@deftranspose(np.moveaxis)
def moveaxis_t(a, source, destination):
    return np.moveaxis(ct, destination, source), None, None


@deftranspose(np.roll)
def roll_t(a, shift, axis=None):
    return np.roll(ct, rt.negated(shift), axis), None, None


@deftranspose(np.tile)
def tile_t(A, reps):
    return rt.tile_transpose(ct, A, reps), None


@deftranspose(np.repeat)
def repeat_t(a, repeats, axis=None):
    return rt.repeat_transpose(ct, a, repeats, axis), None, None


@deftranspose(np.pad)
def pad_t(array, pad_width):
    return rt.pad_transpose(ct, array, pad_width), None


@deftranspose(np.broadcast_to)
def broadcast_to_t(array, shape):
    return rt.unbroadcast(ct, array), None


@deftranspose(np.diff)
def diff_t(a, n=1, axis=-1):
    return rt.diff_transpose(ct, n, axis), None, None


@deftranspose(np.diag)
def diag_t(v, k=0):
    return rt.diag_transpose(ct, v, k), None


@deftranspose(np.trace)
def trace_t(a, offset=0):
    return rt.trace_transpose(ct, a, offset), None


@deftranspose(np.take)
def take_t(a, indices, axis=None):
    return rt.take_transpose(ct, a, indices, axis), None, None


@deftranspose(np.take_along_axis)
def take_along_axis_t(arr, indices, axis):
    return rt.take_along_axis_transpose(ct, arr, indices, axis), None, None


@deftranspose(np.split, np.array_split)
def split_t(ary, indices_or_sections, axis=0):
    return rt.split_transpose(ct, axis), None, None


@deftranspose(np.hstack)
def hstack_t(tup):
    return rt.hstack_piece(ct, tup, index)


@deftranspose(np.vstack)
def vstack_t(tup):
    return rt.vstack_piece(ct, tup, index)


# -- what each is, for batching, kinds and aliasing ------------------------------------


declare(np.swapaxes, family=shapes.SHAPE, result=shapes.same, view=True, axes=("axis1", "axis2"))
declare(np.moveaxis, family=shapes.SHAPE, result=shapes.same, view=True, axes=("source", "destination"))
declare(np.broadcast_to, family=shapes.SHAPE, result=shapes.from_shape(1, "shape"), array=True, view=True)
declare(np.flip, family=shapes.SHAPE, result=shapes.same, view=True, axes=("axis",), numba="overload: axis")
declare(np.roll, np.sort, family=shapes.SHAPE, result=shapes.same, array=True, axes=("axis",),
        numba="overload: axis (roll: tuples of shifts and axes)")
declare(np.tril, np.triu, family=shapes.SHAPE, result=shapes.same, array=True)
declare(np.tile, family=shapes.SHAPE, result=shapes.tiled, array=True, per_axis={"reps": 1},
        numba="overload: reps an int or a tuple")
declare(np.repeat, family=shapes.SHAPE, result=shapes.flat_unless_axis(2), array=True, axes=("axis",),
        numba="overload: axis")
declare(np.pad, family=shapes.SHAPE, result=shapes.same, array=True, per_axis={"pad_width": (0, 0)},
        numba="overload: constant mode, pad_width an int, a pair or a pair per axis")
declare(np.diff, family=shapes.SHAPE, result=shapes.same, array=True, axes=("axis",), numba="overload: axis")
declare(np.diag, family=shapes.SHAPE, result=shapes.diag, array=True)
declare(np.trace, family=shapes.SHAPE, result=shapes.traced)
declare(np.take, family=shapes.GATHER, result=shapes.taken, array=True, axes=("axis",))
declare(np.take_along_axis, family=shapes.GATHER, result=shapes.same, array=True, axes=("axis",),
        matched=("indices",))
declare(np.split, np.array_split, family=shapes.SHAPE, result=None)
declare(np.hstack, family=shapes.SHAPE, result=shapes.at_least(1), array=True, sequence=True)
declare(np.vstack, family=shapes.SHAPE, result=shapes.at_least(2), array=True, sequence=True)

add_examples(np.swapaxes, example("np.swapaxes(x, 0, 2)", x=(2, 3, 4)))
add_examples(np.moveaxis, example("np.moveaxis(x, 0, -1)", x=(2, 3, 4)))
add_examples(np.flip, example("np.flip(x)", x=(3, 2)), example("np.flip(x, axis=0)", x=(3, 2)))
add_examples(np.roll, example("np.roll(x, 2)", x=(5,)), example("np.roll(x, -1, axis=1)", x=(2, 3)),
             example("np.roll(x, (1, -2), axis=(0, 1))", x=(2, 3)))
add_examples(np.tile, example("np.tile(x, (2, 1))", x=(2, 3)), example("np.tile(x, 3)", x=(2,)))
add_examples(np.repeat, example("np.repeat(x, 2)", x=(2, 3)), example("np.repeat(x, 2, axis=0)", x=(2, 3)))
add_examples(np.pad, example("np.pad(x, ((1, 2), (0, 1)))", x=(2, 3)), example("np.pad(x, 2)", x=(3,)))
add_examples(np.broadcast_to, example("np.broadcast_to(x, (3, 4))", x=(4,)))
add_examples(np.diff, example("np.diff(x)", x=(5,)), example("np.diff(x, n=2, axis=0)", x=(5, 2)))
add_examples(np.tril, example("np.tril(x, -1)", x=(3, 3)))
add_examples(np.triu, example("np.triu(x, 1)", x=(3, 4)))
add_examples(np.diag, example("np.diag(x, 1)", x=(3,)), example("np.diag(x, -1)", x=(3, 3)))
add_examples(np.trace, example("np.trace(x)", x=(3, 3)), example("np.trace(x, 1)", x=(3, 4)))
add_examples(np.take, example("np.take(x, [2, 0, 2])", x=(2, 3)), example("np.take(x, [1, 1], axis=-1)", x=(2, 3)))
add_examples(np.take_along_axis, example("np.take_along_axis(x, np.array([[0, 2], [1, 1]]), axis=1)", x=(2, 3)))
add_examples(np.sort, example("np.sort(x)", x=(5,), second_order=False),
             example("np.sort(x, axis=0)", x=(4, 2), second_order=False))
add_examples(np.split, example("np.split(x, 2)[1]", x=(4,)), example("np.split(x, 3, axis=1)[0]", x=(2, 6)),
             example("np.split(x, [1, 3])[2]", x=(5,)), example("np.split(x, 2)[0] * np.split(x, 2)[1]", x=(4,)))
add_examples(np.array_split, example("np.array_split(x, 3)[2]", x=(7,)),
             example("np.array_split(x, 3, axis=1)[0].T @ np.array_split(x, 3, axis=1)[2]", x=(3, 5)))
add_examples(np.hstack, example("np.hstack([x, y])", x=(2, 3), y=(2, 2)), example("np.hstack([x, y])", x=(3,), y=(2,)))
add_examples(np.vstack, example("np.vstack([x, y])", x=(2, 3), y=(1, 3)), example("np.vstack([x, y])", x=(3,), y=(3,)))
