"""NumPy reductions, products, constructors, shape operations and indexing."""
# ruff: noqa: F821  (templates name tangents ``x_dot`` and the result ``ans``)

import operator

import numpy as np
import scipy.special

from .. import runtime as rt
from . import shapes
from .examples import POSITIVE, example
from .registry import add_examples, declare, defjvp, defnondiff


@defjvp(operator.getitem)
def getitem(x, index):
    return x_dot[index]


@defjvp(np.sum)
def sum_(a, axis=None, dtype=None, out=None, keepdims=None):
    return np.sum(a_dot, axis=axis, dtype=dtype, keepdims=keepdims)


@defjvp(np.mean)
def mean(a, axis=None, dtype=None, out=None, keepdims=None):
    return np.mean(a_dot, axis=axis, dtype=dtype, keepdims=keepdims)


@defjvp(np.prod)
def prod(a, axis=None, dtype=None, out=None, keepdims=None):
    return rt.prod_jvp(a, a_dot, axis=axis, keepdims=keepdims)


@defjvp(rt.prod_jvp)
def prod_jvp_jvp(a, t, axis=None, keepdims=None):
    """The tangent of np.prod's tangent (differentiated again): the products of all elements but two."""
    return rt.prod_jvp(a, t_dot, axis=axis, keepdims=keepdims) + \
        rt.weighted_sum(rt.prod_others_jvp(a, a_dot, axis), t, axis, keepdims)


@defjvp(rt.prod_jvp_transpose)
def prod_jvp_transpose_jvp(a, ct, axis=None, keepdims=None):
    return rt.prod_jvp_transpose(a, ct_dot, axis, keepdims) + \
        rt.expand(ct, a, axis, keepdims) * rt.prod_others_jvp(a, a_dot, axis)


@defjvp(rt.expand)
def expand(value, a, axis=None, keepdims=None):
    return rt.expand(value_dot, a, axis, keepdims)


@defjvp(np.max, np.amax, np.min, np.amin)
def extremum(a, axis=None, out=None, keepdims=None):
    return rt.extremum_jvp(a, a_dot, ans, axis=axis, keepdims=keepdims)


@defjvp(rt.extremum_jvp)
def extremum_jvp_jvp(a, a_dot, extremum, axis=None, keepdims=None):
    """The tangent of max/min's tangent (in generated code differentiated again): the same selection."""
    return rt.extremum_jvp(a, a_dot_dot, extremum, axis=axis, keepdims=keepdims)


@defjvp(np.var)
def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=None):
    return 2.0 * rt.weighted_sum(rt.centered(a, axis), a_dot, axis, keepdims) / (rt.reduced_count(a, axis) - ddof)


@defjvp(np.std)
def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=None):
    return rt.weighted_sum(rt.centered(a, axis), a_dot, axis, keepdims) / ((rt.reduced_count(a, axis) - ddof) * ans)


@defjvp(rt.centered)
def centered(a, axis=None):
    return rt.centered(a_dot, axis)


@defjvp(rt.group_sum)
def group_sum(v, axis=None):
    return rt.group_sum(v_dot, axis)


@defjvp(rt.weighted_sum)
def weighted_sum(w, v, axis=None, keepdims=None):
    return rt.weighted_sum(w_dot, v, axis, keepdims) + rt.weighted_sum(w, v_dot, axis, keepdims)


@defjvp(np.linalg.norm)
def norm(x, ord=None, axis=None, keepdims=None):
    return rt.weighted_sum(rt.norm_direction(x, ans, ord=ord, axis=axis, keepdims=keepdims), x_dot, axis, keepdims)


@defjvp(rt.norm_direction)
def norm_direction(x, norm, ord=None, axis=None, keepdims=None):
    return rt.norm_curvature(x, norm, ord=ord, axis=axis, keepdims=keepdims) * \
        (x_dot - x * rt.expand(norm_dot, x, axis, keepdims) / rt.expand(norm, x, axis, keepdims))


@defjvp(scipy.special.logsumexp)
def logsumexp(a, axis=None, keepdims=None):
    return rt.weighted_sum(scipy.special.softmax(a, axis=axis), a_dot, axis, keepdims)


@defjvp(scipy.special.softmax)
def softmax(x, axis=None):
    return ans * (x_dot - rt.group_sum(ans * x_dot, axis))


@defjvp(scipy.special.log_softmax)
def log_softmax(x, axis=None):
    return x_dot - rt.group_sum(np.exp(ans) * x_dot, axis)


@defjvp(np.cumsum)
def cumsum(a, axis=None):
    return np.cumsum(a_dot, axis=axis)


@defjvp(np.cumprod)
def cumprod(a, axis=None):
    return rt.cumprod_jvp(a, a_dot, axis)


@defjvp(rt.cumprod_jvp)
def cumprod_jvp(a, t, axis=None):
    return rt.cumprod_jvp(a, t_dot, axis) + rt.cumprod_hvp(a, t, a_dot, axis)


@defjvp(rt.cumprod_jvp_transpose)
def cumprod_jvp_transpose(a, w, axis=None):
    return rt.cumprod_jvp_transpose(a, w_dot, axis) + rt.cumprod_hvp_transpose(a, w, a_dot, axis)


@defjvp(np.dot)
def dot(a, b):
    return np.dot(a_dot, b) + np.dot(a, b_dot)


@defjvp(np.vdot)
def vdot(a, b):
    return np.vdot(a_dot, b) + np.vdot(a, b_dot)


@defjvp(np.outer)
def outer(a, b):
    return np.outer(a_dot, b) + np.outer(a, b_dot)


@defjvp(np.array)
def array(x, dtype=None):
    return np.array(x_dot, dtype=dtype)


@defjvp(np.asarray)
def asarray(x, dtype=None):
    return np.asarray(x_dot, dtype=dtype)


@defjvp(np.copy, rt.copy)
def copy(a):
    return np.copy(a_dot)


@defjvp(np.full)
def full(shape, fill_value, dtype=None):
    return np.full(shape, fill_value_dot, dtype=dtype)


@defjvp(np.full_like)
def full_like(a, fill_value, dtype=None):
    return np.full_like(a, fill_value_dot, dtype=dtype)


@defjvp(np.linspace)
def linspace(start, stop, num=50):
    return np.linspace(start_dot, stop_dot, num)


@defjvp(np.reshape)
def reshape(a, shape):
    return np.reshape(a_dot, shape)


@defjvp(np.transpose)
def transpose(a, axes=None):
    return np.transpose(a_dot, axes)


@defjvp(np.ravel)
def ravel(a):
    return np.ravel(a_dot)


@defjvp(np.concatenate)
def concatenate(arrays, axis=0):
    return np.concatenate(arrays_dot, axis=axis)


@defjvp(np.stack)
def stack(arrays, axis=0):
    return np.stack(arrays_dot, axis=axis)


@defjvp(np.expand_dims)
def expand_dims(a, axis):
    return np.expand_dims(a_dot, axis)


@defjvp(np.squeeze)
def squeeze(a, axis=None):
    return np.squeeze(a_dot, axis=axis)


defnondiff(rt.zeros_like, rt.seed, rt.reduced_count)
defnondiff(np.zeros, np.ones, np.empty, np.zeros_like, np.ones_like, np.empty_like, np.arange,
           np.eye, np.identity, np.shape, np.size, np.ndim, np.argmax, np.argmin, np.argsort,
           np.any, np.all, np.count_nonzero)


@defjvp(rt.moveaxis)
def moveaxis(a, source, destination):
    return rt.moveaxis(a_dot, source, destination)


@defjvp(rt.batch_broadcast)
def batch_broadcast(value, size):
    return rt.batch_broadcast(value_dot, size)


@defjvp(rt.unflatten_last)
def unflatten_last(jac, x):
    return rt.unflatten_last(jac_dot, x)


@defjvp(rt.unflatten_first)
def unflatten_first(jac, out):
    return rt.unflatten_first(jac_dot, out)


defnondiff(rt.batch_empty, rt.batch_size, rt.basis, rt.jacobian_zeros)
# s2s.stop_gradient: the value passes through (batched ones too); its derivative is zero in every transform.
defnondiff(rt.stop_gradient)
declare(rt.stop_gradient, family=shapes.ELEMENTWISE, result=shapes.same, view=True, cheap=True)


# s2s.checkpoint_name: the value passes through, named for a checkpoint policy; so does its tangent.
@defjvp(rt.checkpoint_name)
def checkpoint_name(x, name=None):
    return x_dot


declare(rt.checkpoint_name, family=shapes.ELEMENTWISE, result=shapes.same, view=True)


declare(operator.getitem, family=shapes.GATHER)
declare(np.sum, family=shapes.REDUCTION, numba="overload: keepdims, tuple axes")
declare(np.mean, np.prod, np.max, np.amax, np.min, np.amin, family=shapes.REDUCTION,
        numba="overload: axis, keepdims, tuple axes")
declare(np.var, np.std, family=shapes.REDUCTION, numba="overload: axis, ddof, keepdims, tuple axes")
declare(np.linalg.norm, family=shapes.REDUCTION, result=shapes.reduced_at(2),
        numba="overload: axis, keepdims (vector norms along axes)")
declare(scipy.special.logsumexp, family=shapes.REDUCTION, numba="overload")
declare(scipy.special.softmax, scipy.special.log_softmax, result=shapes.same, array=True, numba="overload")
declare(rt.centered, rt.group_sum, rt.prod_others_jvp, result=shapes.same, array=True)
declare(rt.weighted_sum, result=shapes.reduced_at(2))
declare(np.dot, family=shapes.CONTRACTION, result=shapes.dot)
declare(np.vdot, family=shapes.CONTRACTION, result=shapes.fixed(0))
declare(np.inner, family=shapes.CONTRACTION, result=shapes.inner, numba="overload: arrays")
declare(np.outer, family=shapes.CONTRACTION, result=shapes.fixed(2), array=True)
declare(np.cumsum, np.cumprod, result=shapes.cumulative, array=True, numba="overload: axis")
# Of one array, a conversion is a copy: elementwise, so batched values pass through.
declare(np.array, family=shapes.ELEMENTWISE, result=shapes.stacked(1), array=True, sequence=True,
        numba="overload: of an array (a copy)")
declare(np.asarray, family=shapes.ELEMENTWISE, result=shapes.stacked(1), array=True, sequence=True, view=True)
declare(np.stack, family=shapes.SHAPE, result=shapes.stacked(1), array=True, sequence=True)
declare(np.concatenate, family=shapes.SHAPE, result=shapes.stacked(0), array=True, sequence=True)
declare(np.copy, family=shapes.ELEMENTWISE, result=shapes.same, array=True)

declare(np.transpose, family=shapes.SHAPE, result=shapes.same, view=True)
declare(np.reshape, family=shapes.SHAPE, result=shapes.from_shape(1, "newshape"), array=True, view=True)
declare(np.ravel, family=shapes.SHAPE, result=shapes.fixed(1), array=True, view=True)
declare(np.squeeze, family=shapes.SHAPE, view=True, numba="overload: axis")
declare(np.expand_dims, family=shapes.SHAPE, view=True)
declare(np.zeros_like, np.ones_like, np.empty_like, family=shapes.ELEMENTWISE, result=shapes.same, array=True,
        cheap=True)
declare(np.full_like, family=shapes.MAKER, result=shapes.same, array=True)
declare(np.zeros, np.ones, np.empty, family=shapes.MAKER, result=shapes.from_shape(0), array=True, cheap=True)
declare(np.full, family=shapes.MAKER, result=shapes.from_shape(0), array=True)
declare(np.eye, np.identity, family=shapes.MAKER, result=shapes.fixed(2), array=True, cheap=True)
declare(np.arange, family=shapes.MAKER, result=shapes.fixed(1), array=True, cheap=True)
declare(np.linspace, family=shapes.MAKER, result=shapes.fixed(1), array=True)
declare(np.shape, family=shapes.QUERY, result=shapes.fixed(1), cheap=True)
declare(np.size, np.ndim, family=shapes.QUERY, cheap=True)
# Cotangent helpers that may return their first operand, or a view of it: never updated in place.
declare(rt.unbroadcast, rt.transpose_transpose, rt.moveaxis, rt.expand, view=True)

add_examples(operator.getitem, example("x[1]", x=(3, 4)), example("x[1:, ::2]", x=(3, 4)),
             example("x[-1, 2]", x=(3, 4)), example("x[np.array([2, 0])]", x=(3,)), example("x[::-1] * x", x=(4,)))
add_examples(np.dot, example("np.dot(x, y)", x=(3,), y=(3,)), example("np.dot(x, y)", x=(2, 3), y=(3, 4)),
             example("np.dot(x, y)", x=(2, 3), y=(3,)))
add_examples(np.vdot, example("np.vdot(x, y)", x=(3,), y=(3,)))
add_examples(np.outer, example("np.outer(x, y)", x=(3,), y=(2,)))
add_examples(np.array, example("np.array([x, y])", x=(), y=()), example("np.array(x)", x=(3,)))
add_examples(np.asarray, example("np.asarray(x) * 2.0", x=(3,)))
add_examples(np.copy, example("np.copy(x)", x=(2, 3)))
add_examples(rt.checkpoint_name, example("s2s.checkpoint_name(np.sin(x), 'h') * x", x=(3,)))
add_examples(np.full, example("np.full((2, 3), x)", x=()))
add_examples(np.full_like, example("np.full_like(y, x)", x=(), y=(3,)))
add_examples(np.linspace, example("np.linspace(x, y, 5)", x=(), y=()))
add_examples(np.reshape, example("np.reshape(x, (3, 2))", x=(2, 3)), example("np.reshape(x, (-1,))", x=(2, 3)))
add_examples(np.transpose, example("np.transpose(x)", x=(2, 3)), example("np.transpose(x, (1, 2, 0))", x=(2, 3, 4)))
add_examples(np.ravel, example("np.ravel(x)", x=(2, 3)))
add_examples(np.concatenate, example("np.concatenate((x, y))", x=(2,), y=(3,)),
             example("np.concatenate((x, y), axis=1)", x=(2, 3), y=(2, 1)))
add_examples(np.stack, example("np.stack((x, y))", x=(3,), y=(3,)), example("np.stack((x, y), axis=1)", x=(2, 3), y=(2, 3)))
add_examples(np.expand_dims, example("np.expand_dims(x, 0)", x=(3,)), example("np.expand_dims(x, -1)", x=(2, 3)))
# Without ``axis``, which axes go depends on the sizes, and Numba must know the result's dimensions when compiling.
add_examples(np.squeeze, example("np.squeeze(x)", x=(1, 3), numba=False), example("np.squeeze(x, axis=1)", x=(2, 1)),
             example("np.squeeze(x, axis=(0, 2))", x=(1, 3, 1)))
add_examples(np.sum, example("np.sum(x)", x=(3, 4)), example("np.sum(x, axis=-1, keepdims=True)", x=(2, 3, 4)),
             example("np.sum(x, axis=(0, 2))", x=(2, 3, 4)))
add_examples(np.mean, example("np.mean(x, axis=1)", x=(3, 4)), example("np.mean(x, axis=(0, 1), keepdims=True)", x=(2, 3, 4)))
add_examples(np.prod, example("np.prod(x)", x=(4,)), example("np.prod(x, axis=-1, keepdims=True)", x=(2, 3)),
             example("np.prod(x, axis=(0, 1))", x=(2, 3, 2)),
             # exact at zeros: one zero in a product, and two (whose second derivative is all that is left)
             example("np.prod(x * (np.arange(3) != 1), axis=1)", x=(2, 3)),
             example("np.prod(x * (np.arange(4) % 2 == 1))", x=(4,)))
for _extremum in (np.max, np.amax, np.min, np.amin):
    add_examples(_extremum, example(f"np.{_extremum.__name__}(x, axis=1)", x=(3, 4), second_order=False),
                 example(f"np.{_extremum.__name__}(x, axis=(0, 2), keepdims=True)", x=(2, 3, 4), second_order=False))
add_examples(np.var, example("np.var(x)", x=(3, 4)), example("np.var(x, axis=-1, ddof=1, keepdims=True)", x=(3, 4)),
             example("np.var(x, axis=(0, 2))", x=(2, 3, 4)))
add_examples(np.std, example("np.std(x, axis=0)", x=(3, 4), domain=POSITIVE),
             example("np.std(x, axis=(0, 1), ddof=1, keepdims=True)", x=(2, 3, 4)))
add_examples(np.cumsum, example("np.cumsum(x)", x=(3, 4)), example("np.cumsum(x, axis=-1)", x=(3, 4)))
add_examples(np.cumprod, example("np.cumprod(x, axis=0)", x=(3, 4)), example("np.cumprod(x)", x=(5,)),
             example("np.cumprod(x, axis=-1)", x=(2, 2, 3)), example("np.cumprod(x)", x=(2, 3)),
             # exact at zeros (no division by the input)
             example("np.cumprod(x * (np.arange(5) % 2 == 0))", x=(5,)),
             example("np.cumprod(x * (np.arange(3) != 1), axis=1)", x=(2, 3)))
add_examples(np.linalg.norm, example("np.linalg.norm(x)", x=(5,)), example("np.linalg.norm(x, 1)", x=(5,)),
             example("np.linalg.norm(x, np.inf)", x=(5,)), example("np.linalg.norm(x, 3)", x=(5,)),
             # (Numba's own norm takes 'fro' when compiling, then refuses it when run; an overload cannot come first)
             example("np.linalg.norm(x, 'fro')", x=(3, 4), numba=False),
             example("np.linalg.norm(x, axis=-1, keepdims=True)", x=(3, 4)),
             example("np.linalg.norm(x, axis=0)", x=(3, 4)))
add_examples(scipy.special.logsumexp, example("scipy.special.logsumexp(x)", x=(3, 4)),
             example("scipy.special.logsumexp(x, axis=-1, keepdims=True)", x=(3, 4)),
             example("scipy.special.logsumexp(x, axis=(0, 1))", x=(2, 3, 4)))
add_examples(scipy.special.softmax, example("scipy.special.softmax(x, axis=-1)", x=(3, 4)))
add_examples(scipy.special.log_softmax, example("scipy.special.log_softmax(x, axis=0)", x=(3, 4)))
