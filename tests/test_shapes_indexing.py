"""Indexing and shape operations in every transform: jvp against central differences, vjp against jvp
(dot-product test), vmap against a Python loop, second order, in Python and under ``s2s.jit``."""

import numpy as np
import pytest

import s2s
from tests.derivatives import assert_close, central_difference, flat, tangents_for

RNG = np.random.default_rng(7)


def normal(*shape):
    return RNG.standard_normal(shape)


# -- indexing ---------------------------------------------------------------------------------

def newaxis(x):
    return x[None, :, np.newaxis] * x[:, None]


def ellipsis(x):
    return x[..., 1] * 2.0


def reversed_steps(x):
    return x[::-1] * x[5:1:-2].sum()


def index_list(x):
    return x[[2, 0, 1, 2]] ** 2


def index_array(x, idx):
    return x[idx] * x[idx]


def index_pairs(x, i, j):
    return x[i, j] ** 2


def index_columns(x, idx):
    return x[:, idx] * 3.0


def mask_compare(x):
    return np.sum(x[x > 0] ** 2)


def mask_array(x, m):
    return x[m] * 2.0


def write_at(x, idx, v):
    y = x * 1.0
    y[idx] = v * v
    return y


def write_mask(x):
    y = x * x
    y[x > 0] = 0.0
    return y


def add_at_indices(x, idx, v):
    y = x * 1.0
    y[idx] += v
    return y


def take(x):
    return np.take(x, [2, 0, 2], axis=1) * np.take(x, [1, 1, 4])


def take_along(x, idx):
    return np.take_along_axis(x, idx, axis=1) ** 2


# -- shape operations ---------------------------------------------------------------------------

def reshape(x):
    return np.reshape(x, (-1, 2)) * x.reshape(2, -1).T.reshape(3, 2)


def transpose(x):
    return np.transpose(x, (1, 0, 2)) * np.swapaxes(x, 0, 1) + np.moveaxis(x, 0, -1).sum()


def expand_squeeze(x):
    return np.squeeze(np.expand_dims(x, 1), axis=1) * x


def joined(x, y):
    return np.concatenate([x, y], axis=1).sum() * np.stack([x[:, :2], y], axis=-1) + np.hstack([x, y]).sum()


def vstacked(x, y):
    return np.vstack([x, y]) ** 2


def split(x):
    a, b = np.split(x, 2)
    return a * b


def array_split(x):
    parts = np.array_split(x, 3, axis=1)
    return parts[0][:, 1:] * parts[2] + parts[1]


def flip_roll(x):
    return np.flip(x, axis=0) * np.roll(x, 1, axis=1) + np.roll(x, -2)


def tile_repeat(x):
    return np.tile(x, (2, 1)) * np.repeat(x, 2, axis=0) + np.repeat(x, 3)[:12].reshape(4, 3)


def pad(x):
    return np.pad(x * x, ((1, 2), (0, 1)))


def broadcast_to(x):
    return np.broadcast_to(x, (3, 4)) * x[0]


def diff(x):
    return np.diff(x, n=2, axis=0) * np.diff(x, axis=0)[:3] + np.diff(x)[0].sum()


def triangles(x):
    return np.tril(x, -1) * x + np.triu(x * x, 1)


def diag(x):
    return np.diag(np.diag(x, -1) ** 2, 1) + np.trace(x) * x


def sort(x):
    return np.sort(x, axis=0) * np.sort(x)


CASES = [
    (newaxis, lambda: (normal(4),)),
    (ellipsis, lambda: (normal(2, 3, 4),)),
    (reversed_steps, lambda: (normal(7),)),
    (index_list, lambda: (normal(4),)),
    (index_array, lambda: (normal(4), np.array([3, 0, 3]))),
    (index_pairs, lambda: (normal(3, 4), np.array([0, 2, 2]), np.array([1, 3, 1]))),
    (index_columns, lambda: (normal(3, 4), np.array([1, 1, 0]))),
    (mask_compare, lambda: (normal(6),)),
    (mask_array, lambda: (normal(4), np.array([True, False, True, True]))),
    (write_at, lambda: (normal(5), np.array([1, 3, 1]), normal(3))),
    (write_mask, lambda: (normal(6),)),
    (add_at_indices, lambda: (normal(5), np.array([1, 1, 3]), normal(3))),
    (take, lambda: (normal(2, 3),)),
    (take_along, lambda: (normal(2, 3), np.array([[0, 2, 2], [1, 1, 0]]))),
    (reshape, lambda: (normal(2, 3),)),
    (transpose, lambda: (normal(2, 2, 2),)),
    (expand_squeeze, lambda: (normal(2, 3),)),
    (joined, lambda: (normal(2, 3), normal(2, 2))),
    (vstacked, lambda: (normal(2, 3), normal(1, 3))),
    (split, lambda: (normal(6),)),
    (array_split, lambda: (normal(2, 7),)),
    (flip_roll, lambda: (normal(3, 4),)),
    (tile_repeat, lambda: (normal(2, 3),)),
    (pad, lambda: (normal(2, 3),)),
    (broadcast_to, lambda: (normal(4),)),
    (diff, lambda: (normal(5, 4),)),
    (triangles, lambda: (normal(3, 4),)),
    (diag, lambda: (normal(3, 3),)),
    (sort, lambda: (normal(4, 3),)),
]
IDS = [f.__name__ for f, _ in CASES]


def floats(args):
    return tuple(i for i, a in enumerate(args) if a.dtype == float)


@pytest.mark.parametrize("fun, make", CASES, ids=IDS)
def test_jvp_matches_central_differences(fun, make):
    args = make()
    tangents = tangents_for(args, floats(args))
    out, tangent = s2s.jvp(fun, args, tangents)
    assert_close(out, fun(*args), rtol=1e-12)
    assert_close(tangent, central_difference(fun, args, tangents), rtol=1e-6)


@pytest.mark.parametrize("fun, make", CASES, ids=IDS)
def test_vjp_is_the_transpose_of_jvp(fun, make):
    args = make()
    tangents = tangents_for(args, floats(args), seed=1)
    _, tangent = s2s.jvp(fun, args, tangents)
    out, pullback = s2s.vjp(fun, *args)
    ct = RNG.standard_normal(np.shape(out))
    cts = pullback(ct)
    lhs = np.dot(flat(ct), flat(tangent))
    rhs = sum(np.dot(flat(c), flat(t)) for c, t in zip(cts, tangents) if t is not None)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-10)


@pytest.mark.parametrize("fun, make", CASES, ids=IDS)
def test_vmap_matches_a_loop(fun, make):
    args = make()
    mapped = floats(args)
    batched = [np.stack([a, 2.0 * a - 0.5, -a]) if i in mapped else a for i, a in enumerate(args)]
    in_axes = tuple(0 if i in mapped else None for i in range(len(args)))
    looped = np.stack([fun(*[b[k] if i in mapped else b for i, b in enumerate(batched)]) for k in range(3)])
    assert_close(s2s.vmap(fun, in_axes=in_axes)(*batched), looped, rtol=1e-12)


def test_repeated_indices_follow_numpy():
    """``y[idx] += v`` with repeated indices adds once (NumPy does not accumulate): only the last v counts."""
    x, idx, v = normal(5), np.array([1, 1, 3]), normal(3)
    _, (x_bar, v_bar) = s2s.value_and_grad(lambda x, v: np.sum(add_at_indices(x, idx, v) * np.arange(5.0)),
                                            argnums=(0, 1))(x, v)
    np.testing.assert_allclose(x_bar, np.arange(5.0))
    np.testing.assert_allclose(v_bar, [0.0, 1.0, 3.0])


def test_gather_cotangents_add_up_at_repeated_indices():
    x = normal(4)
    grad = s2s.grad(lambda x: np.sum(index_array(x, np.array([3, 0, 3]))))(x)
    np.testing.assert_allclose(grad, [2 * x[0], 0.0, 0.0, 4 * x[3]])


def second(x):
    return np.sum(np.roll(x, 1) * np.flip(x) * np.pad(x, (1, 1))[1:-1] * np.take(x, [0, 2, 1, 3]))


def test_hessian_matches_differences_of_the_gradient():
    x = normal(4)
    hessian = s2s.hessian(second)(x)
    g = s2s.grad(second)
    eps = 1e-6
    columns = [(g(x + eps * e) - g(x - eps * e)) / (2 * eps) for e in np.eye(4)]
    np.testing.assert_allclose(hessian, np.stack(columns, axis=1), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(s2s.jacfwd(g)(x), hessian, rtol=1e-10)


# -- user-style functions, in Python and compiled -----------------------------------------------

def stencil(u):
    """A periodic Laplacian energy, with rolled arrays."""
    lap = np.roll(u, 1) - 2.0 * u + np.roll(u, -1)
    return np.sum(lap ** 2) + np.sum(np.diff(u) ** 2)


def image(img):
    """Padding, then overlapping slices (a 3-point blur) and a crop."""
    padded = np.pad(img, ((1, 1), (1, 1)))
    blur = padded[1:-1, :-2] + padded[1:-1, 1:-1] + padded[1:-1, 2:]
    return np.sum(np.tanh(blur[::-1, 1:]) ** 2)


def masked_loss(pred, y):
    mask = y > 0.0
    return np.sum((pred - y)[mask] ** 2)


def embedding(table, tokens):
    rows = table[tokens]
    return np.sum(np.tanh(rows) * np.arange(3.0))


USER = [
    (stencil, lambda: (normal(8),)),
    (image, lambda: (normal(4, 5),)),
    (masked_loss, lambda: (normal(6), normal(6))),
    (embedding, lambda: (normal(5, 3), np.array([4, 0, 4, 2]))),
]


@pytest.mark.parametrize("fun, make", USER, ids=[f.__name__ for f, _ in USER])
def test_user_functions_in_python_and_compiled(fun, make):
    args = make()
    tangents = tangents_for(args, (0,))
    expected = central_difference(fun, args, tangents)
    grad = s2s.grad(fun)(*args)
    assert_close(np.dot(flat(grad), flat(tangents[0])), expected, rtol=1e-6)
    compiled = s2s.jit(s2s.grad(fun))(*args)
    assert_close(compiled, grad, rtol=1e-10)


# -- every shape operation's gradient compiled (several per function: Numba compiles are slow) -------

WEIGHTS = np.cos(np.arange(1.0, 200.0))


def energy(y):
    """A scalar that weighs every element of ``y`` differently, so that any misplaced cotangent shows."""
    return np.sum(np.ravel(y) * WEIGHTS[:y.size])


def moved(x):
    return (energy(np.swapaxes(x, 0, 1)) + energy(np.moveaxis(x, 0, -1)) + energy(np.flip(x, axis=-1))
            + energy(np.flip(x)) + energy(np.roll(x, -1, axis=1)) + energy(np.roll(x, (1, 2), (0, 1)))
            + energy(np.roll(x, 5)) + energy(np.tril(x, -1)) + energy(np.triu(x, 1))
            + energy(np.broadcast_to(x[0], (2, 4))))


def copied(x):
    return (energy(np.tile(x, (2, 1))) + energy(np.tile(x[0], 3)) + energy(np.repeat(x, 2, axis=0))
            + energy(np.repeat(x, 3)) + energy(np.pad(x, ((1, 2), (0, 1)))) + energy(np.pad(x[1], 2))
            + energy(np.diff(x, n=2, axis=0)) + energy(np.diff(x)))


def gathered(x):
    return (energy(np.take(x, [2, 0, 2])) + energy(np.take(x, [1, 1], axis=-1))
            + energy(np.take_along_axis(x, np.array([[0, 2], [1, 1], [3, 0]]), axis=1))
            + energy(np.sort(x, axis=0)) + energy(np.sort(x)) + energy(np.diag(x[0], 1))
            + energy(np.diag(x[:, :3], -1)) + np.trace(x) * 0.7 + np.trace(x, 1) * 1.3
            + energy(np.squeeze(x[None], axis=0)))


def joined_pieces(x):
    a, b = np.split(x, 2, axis=1)
    parts = np.array_split(x, 3)
    return (energy(a * b) + energy(parts[1] * parts[2]) + energy(np.hstack([x, x[:, :2]]))
            + energy(np.hstack([x[0], x[1, :2]])) + energy(np.vstack([x, x[:2]])) + energy(np.vstack([x[0], x[2]])))


def masked_matrix(x):
    y = x * x
    y[x > 0.5] = 0.0
    return energy(y) + np.sum(x[x < 0.0] ** 2)


COMPILED = [moved, copied, gathered, joined_pieces, masked_matrix]


@pytest.mark.parametrize("fun", COMPILED, ids=[f.__name__ for f in COMPILED])
def test_gradients_compiled_match_python_and_differences(fun):
    x = normal(3, 4)
    tangents = tangents_for((x,), (0,))
    grad = s2s.grad(fun)(x)
    assert_close(np.dot(flat(grad), flat(tangents[0])), central_difference(fun, (x,), tangents), rtol=1e-6)
    assert_close(s2s.jit(s2s.grad(fun))(x), grad, rtol=1e-10)


# -- vmap's vectorized strategy: axes of shape operations moved past the batch axis -----------------

def along_axes(x):
    return (np.flip(x, axis=-1) * np.roll(x, (1, -1), (0, 1)) + np.sort(x) + np.sort(x, axis=0)
            + np.swapaxes(np.moveaxis(x, 0, 1), 0, 1) + np.take(x, [2, 0, 1, 3], axis=-1)
            + np.repeat(x, 2, axis=0)[::2] + np.diff(np.concatenate([x, x[:, :1]], axis=1)) + np.diff(x, axis=0).sum()
            + np.take_along_axis(x, np.array([[0, 2, 1, 1]]), axis=0) + np.pad(x, ((1, 0), (0, 2)))[:3, :4]
            + np.tile(x, (1, 2))[:, 2:6])


def test_vmap_vectorizes_constant_axes():
    x = np.stack([normal(3, 4) for _ in range(5)])
    looped = np.stack([along_axes(e) for e in x])
    assert_close(s2s.vmap(along_axes, method="vectorized")(x), looped, rtol=1e-12)
    assert_close(s2s.vmap(along_axes, in_axes=1, method="vectorized")(np.moveaxis(x, 0, 1)), looped, rtol=1e-12)


@pytest.mark.parametrize("code", [lambda x: np.flip(x), lambda x: np.roll(x, 1), lambda x: np.repeat(x, 2),
                                  lambda x: np.pad(x, 1), lambda x: np.tile(x, 2)],
                         ids=["flip", "roll", "repeat", "pad", "tile"])
def test_vmap_loops_where_axes_are_not_spelled_out(code):
    x = normal(5, 3)
    assert_close(s2s.vmap(code)(x), np.stack([code(e) for e in x]), rtol=1e-12)


def argsorted(x):
    return np.sum(np.take_along_axis(x, np.argsort(x, 0), 0) * np.arange(3.0)[:, None])


def test_argsort_with_a_positional_axis_compiles():
    """Numba's typing fails inside on ``np.argsort(x, 0)``: the front end spells the axis as a keyword."""
    x = normal(3, 2)
    assert_close(s2s.jit(s2s.grad(argsorted))(x), s2s.grad(argsorted)(x), rtol=1e-12)
