"""pmap, the device queries and the collectives, on the seed's examples and against whole-batch NumPy.

Most cases run the generated code in Python (``backend="python"``, or plain ``vmap`` with an axis name),
which takes the same stages as Numba; a few compile, where what Numba adds (the parallel batch loop) is
the point.
"""

from __future__ import annotations

import sys
from functools import partial

import numpy as np
import pytest

import s2s
from s2s.errors import UnsupportedSyntaxError


@pytest.fixture
def eight_devices(monkeypatch):
    """Eight CPU devices, as the seed's examples assume (JAX's forced host device count)."""
    monkeypatch.setenv("S2S_CPU_DEVICES", "8")


def normalized(x):
    return x / s2s.psum(x, axis_name="i")


def test_devices(eight_devices, monkeypatch):
    assert s2s.device_count() == s2s.local_device_count() == 8
    assert [d.id for d in s2s.devices()] == list(range(8))
    assert {d.platform for d in s2s.devices("cpu")} == {"cpu"}
    monkeypatch.delenv("S2S_CPU_DEVICES")
    monkeypatch.setenv("NUMBA_NUM_THREADS", "3")
    assert s2s.device_count() == 3
    with pytest.raises(ValueError, match="unknown backend"):
        s2s.devices("tpu")


def test_seed_examples(eight_devices):
    square = s2s.pmap(lambda x: x ** 2, backend="python")
    np.testing.assert_array_equal(square(np.arange(8)), np.arange(8) ** 2)
    x = np.arange(3 * 2 * 2.).reshape((3, 2, 2))
    y = x ** 2
    np.testing.assert_allclose(s2s.pmap(np.dot, backend="python")(x, y), [a @ b for a, b in zip(x, y)])
    with pytest.raises(ValueError, match="requires 9 devices.*only 8"):
        square(np.arange(9))
    out = s2s.pmap(lambda x, y: (x + y, y * 2.), in_axes=(0, None), backend="python")(np.arange(2.), 4.)
    np.testing.assert_array_equal(out[0], [4., 5.])
    np.testing.assert_array_equal(out[1], [8., 8.])
    out = s2s.pmap(normalized, axis_name="i", backend="python")(np.arange(4.))
    np.testing.assert_allclose(out, [0, 1 / 6, 2 / 6, 3 / 6])


def test_seed_nested_axis_names(eight_devices):
    @partial(s2s.pmap, axis_name="rows", backend="python")
    @partial(s2s.pmap, axis_name="cols", backend="python")
    def normalize(x):
        row_normed = x / s2s.psum(x, "rows")
        col_normed = x / s2s.psum(x, "cols")
        doubly_normed = x / s2s.psum(x, ("rows", "cols"))
        return row_normed, col_normed, doubly_normed

    x = np.arange(8.).reshape((4, 2))
    row_normed, col_normed, doubly_normed = normalize(x)
    np.testing.assert_allclose(row_normed, x / x.sum(0))
    np.testing.assert_allclose(col_normed, x / x.sum(1, keepdims=True))
    np.testing.assert_allclose(doubly_normed, x / x.sum())
    with pytest.raises(ValueError, match="requires 10 devices"):
        normalize(np.ones((5, 2)))


def test_seed_devices_argument(eight_devices):
    f1 = s2s.pmap(normalized, axis_name="i", devices=s2s.devices()[:6], backend="python")
    np.testing.assert_allclose(f1(np.arange(6.)), np.arange(6.) / 15)
    f2 = s2s.pmap(lambda x: s2s.psum(x ** 2, axis_name="i"), axis_name="i", devices=s2s.devices()[6:],
                  backend="python")
    np.testing.assert_allclose(f2(np.array([2., 3.])), [13., 13.])
    with pytest.raises(ValueError, match="given 2 devices"):
        f2(np.arange(3.))


def loss(w, x, y):
    r = np.tanh(x @ w) - y
    return np.mean(r * r)


def train_step(w, x, y, rate):
    g = s2s.grad(loss)(w, x, y)
    g = s2s.pmean(g, "batch")
    return w - rate * g


def test_data_parallel_gradient_is_exact(eight_devices):
    """A data-parallel step (each device's gradient, averaged by pmean) is the whole batch's, compiled."""
    rng = np.random.default_rng(0)
    w, x, y = rng.normal(size=3), rng.normal(size=(4, 16, 3)), rng.normal(size=(4, 16))
    step = s2s.pmap(train_step, axis_name="batch", in_axes=(None, 0, 0, None))
    new = step(w, x, y, 0.1)
    whole = w - 0.1 * s2s.grad(loss)(w, x.reshape(64, 3), y.reshape(64))
    assert new.shape == (4, 3)
    np.testing.assert_allclose(new, np.broadcast_to(whole, (4, 3)), rtol=1e-13, atol=1e-15)
    per_device = s2s.pmap(s2s.grad(loss), in_axes=(None, 0, 0))(w, x, y)
    np.testing.assert_allclose(per_device, [s2s.grad(loss)(w, a, b) for a, b in zip(x, y)], rtol=1e-13)


def scaled(x, k):
    return k * x + s2s.axis_index("i")


def test_static_broadcasted_argnums_and_out_axes(eight_devices):
    f = s2s.pmap(scaled, axis_name="i", static_broadcasted_argnums=1, backend="python")
    np.testing.assert_array_equal(f(np.ones(3), 2), [2., 3., 4.])
    g = s2s.pmap(lambda x: x * 2, out_axes=1, backend="python")
    np.testing.assert_array_equal(g(np.ones((3, 2))), 2 * np.ones((2, 3)))


def gathered(x):
    everyone = s2s.all_gather(x, "i")
    tiled = s2s.all_gather(x, "i", axis=0, tiled=True)
    return everyone, tiled, s2s.pmax(x, "i") - s2s.pmin(x, "i"), s2s.axis_index("i")


def test_collectives_against_numpy():
    x = np.random.default_rng(1).normal(size=(5, 3))
    everyone, tiled, spread, index = s2s.vmap(gathered, axis_name="i")(x)
    np.testing.assert_array_equal(everyone, np.broadcast_to(x, (5, 5, 3)))
    np.testing.assert_array_equal(tiled, np.broadcast_to(x.reshape(-1), (5, 15)))
    np.testing.assert_array_equal(spread, np.broadcast_to(x.max(0) - x.min(0), (5, 3)))
    np.testing.assert_array_equal(index, np.arange(5))
    centered = s2s.vmap(lambda v: v - s2s.pmean(v, "i"), axis_name="i", in_axes=1, out_axes=1)(x.T)
    np.testing.assert_allclose(centered, (x - x.mean(0)).T)


def broadcast_psum(x, c):
    return s2s.psum(c, "i") + 0 * x


def test_psum_of_a_value_every_example_shares():
    """As in JAX: the sum over the examples of a value they share is that value times their number."""
    out = s2s.vmap(broadcast_psum, axis_name="i", in_axes=(0, None))(np.zeros(4), 2.5)
    np.testing.assert_array_equal(out, [10., 10., 10., 10.])


def in_a_loop(x):
    for _ in range(2):
        x = x / s2s.psum(x, "i")
    return x


def in_a_helper(x):
    return normalized(x) * 2


def early_return(x):
    if x.sum() > 0:
        return x
    return s2s.psum(x, "i")


def unbound(x):
    return x / s2s.psum(x, "j")


def test_refusals_name_the_line():
    with pytest.raises(UnsupportedSyntaxError, match=r"test_pmap.py:\d+.*collective in a loop"):
        s2s.vmap(in_a_loop, axis_name="i")(np.ones(3))
    with pytest.raises(UnsupportedSyntaxError, match="collectives run where s2s.pmap"):
        s2s.vmap(in_a_helper, axis_name="i")(np.ones(3))
    with pytest.raises(UnsupportedSyntaxError, match=r"test_pmap.py:\d+.*a return before a collective"):
        s2s.vmap(early_return, axis_name="i")(np.ones((3, 2)))
    with pytest.raises(UnsupportedSyntaxError, match="collectives run where s2s.pmap"):
        s2s.grad(lambda x: normalized(x).sum())(np.ones(3))
    with pytest.raises(NameError, match=r"test_pmap.py:\d+: unbound axis name 'j' in s2s.psum; .* are 'i'"):
        s2s.vmap(unbound, axis_name="i")(np.ones(3))
    with pytest.raises(NameError, match="unbound axis name: 'i'"):
        normalized(np.ones(3))
    with pytest.raises(NameError, match="unbound axis name: 'k'"):
        s2s.axis_index("k")


def second_name(x):
    z = np.zeros(3)
    w = z
    s = s2s.psum(x, "i")
    w[0] = s[0]
    return z


def second_name_before(x):
    z = np.zeros(3)
    w = z
    w[0] = x[0]
    return z + s2s.psum(x, "i")


def test_writes_through_a_second_name_across_a_collective():
    """Each stage keeps its own copy of a local: a write through a second name after a collective is refused
    (it would not reach the first); before the collective, it is as written."""
    with pytest.raises(UnsupportedSyntaxError, match=r"test_pmap.py:\d+.*writing into w .* share memory with z"):
        s2s.vmap(second_name, axis_name="i")(np.ones((2, 3)))
    x = np.arange(6.).reshape(2, 3)
    np.testing.assert_array_equal(s2s.vmap(second_name_before, axis_name="i")(x),
                                  x.sum(0) + np.array([[0., 0, 0], [3, 0, 0]]))


def centered_in_j(x):
    return x - s2s.pmean(x, "j")


def centered_in_i(x):
    return x - s2s.pmean(x, "i")


def test_maps_of_maps(eight_devices):
    """Only pmap's examples need devices of their own; an unnamed map around or inside a named one works, and
    vmap of pmap too."""
    y = np.arange(20.).reshape(4, 5)
    per_row = y - y.mean(1, keepdims=True)
    np.testing.assert_allclose(s2s.pmap(s2s.vmap(centered_in_j, axis_name="j"), axis_name="i", backend="python")(y),
                               per_row)
    np.testing.assert_allclose(s2s.vmap(s2s.vmap(centered_in_j, axis_name="j"))(y), per_row)
    np.testing.assert_allclose(s2s.pmap(s2s.vmap(centered_in_i), axis_name="i", backend="python")(y), y - y.mean(0))
    doubled = s2s.vmap(s2s.pmap(lambda v: v * 2, backend="python"))(np.ones((3, 8, 1)))
    np.testing.assert_array_equal(doubled, 2 * np.ones((3, 8, 1)))
    with pytest.raises(ValueError, match="requires 9 devices"):
        s2s.vmap(s2s.pmap(lambda v: v * 2, backend="python"), in_axes=1)(np.ones((9, 3)))


def through_pmap(w):
    return np.sum(s2s.pmap(lambda v: v * v, backend="python")(w))


def test_grad_through_pmap_is_refused():
    with pytest.raises(UnsupportedSyntaxError, match=r"test_pmap.py:\d+.*grad through pmap"):
        s2s.grad(through_pmap)(np.arange(1., 9.))


def bumped(x):
    s = s2s.psum(x, "i")
    s[0] += 1.0
    return s + 0.0 * x


def halves(x, scale=2.0):
    whole, rest = np.divmod(x, 2.0)
    return scale * s2s.psum(whole, "i") + rest


def written_later(x):
    total = s2s.psum(x, "i")
    total[1:] = x[1:]
    return np.sin(x) + total * s2s.pmean(x, "i")


def test_stage_values_examples_write_into():
    """Each example writes into its own copy of a collective's result (they share one array), also in parallel
    under Numba; a stage hands on what it writes into in place; tuple unpacking and defaults."""
    x = np.arange(8.).reshape(4, 2)
    np.testing.assert_array_equal(s2s.vmap(bumped, axis_name="i")(x), np.broadcast_to([13., 16.], (4, 2)))
    np.testing.assert_array_equal(s2s.jit(s2s.vmap(bumped, axis_name="i"))(x), np.broadcast_to([13., 16.], (4, 2)))
    whole, rest = np.divmod(x, 2.0)
    np.testing.assert_array_equal(s2s.vmap(halves, axis_name="i")(x), 2 * whole.sum(0) + rest)
    total = np.broadcast_to(x.sum(0), x.shape).copy()
    total[:, 1:] = x[:, 1:]
    np.testing.assert_allclose(s2s.vmap(written_later, axis_name="i")(x), np.sin(x) + total * x.mean(0))


def test_pmap_objects_pickle(eight_devices):
    cloudpickle = pytest.importorskip("cloudpickle")
    step = cloudpickle.loads(cloudpickle.dumps(s2s.pmap(halves, axis_name="i", backend="python")))
    x = np.arange(8.).reshape(4, 2)
    np.testing.assert_array_equal(step(x), s2s.vmap(halves, axis_name="i")(x))


def test_pmap_rejects_other_backends():
    with pytest.raises(ValueError, match="target='cuda'"):
        s2s.pmap(normalized, backend="gpu")


def test_on_a_dask_cluster(dask_client):
    """vmap of Dask arrays (collectives as Dask reductions) and pmap over the client's workers, exact against
    the same computed in this process."""
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(2)
    w, x, y = rng.normal(size=3), rng.normal(size=(2, 8, 3)), rng.normal(size=(2, 8))
    examples, targets = da.from_array(x.reshape(16, 3), chunks=(5, 3)), da.from_array(y.reshape(16), chunks=5)
    per_example = s2s.vmap(s2s.grad(loss), in_axes=(None, 0, 0))
    lazy = per_example(w, examples, targets)
    assert type(lazy).__module__.startswith("dask") and lazy.numblocks == (4, 1)
    np.testing.assert_allclose(lazy.compute(), per_example(w, x.reshape(16, 3), y.reshape(16)), rtol=1e-14)
    centered = s2s.vmap(lambda v: v - s2s.pmean(v, "i"), axis_name="i")(examples)
    np.testing.assert_allclose(centered.compute(), x.reshape(16, 3) - x.reshape(16, 3).mean(0), atol=1e-15)
    step = s2s.pmap(train_step, axis_name="batch", in_axes=(None, 0, 0, None), devices=dask_client)
    whole = w - 0.1 * s2s.grad(loss)(w, x.reshape(16, 3), y.reshape(16))
    np.testing.assert_allclose(step(w, x, y, 0.1), np.broadcast_to(whole, (2, 3)), rtol=1e-13)
    with pytest.raises(ValueError, match="requires 3 workers"):
        step(w, np.ones((3, 8, 3)), np.ones((3, 8)), 0.1)


WORKER_CODE = '''
import numpy as np
import s2s


def double(x):
    return 2.0 * x


def standardized(x):
    return (x - s2s.pmean(x, "i")) / s2s.pmax(np.abs(x), "i")
'''


def test_functions_pickled_by_value_run_on_workers(dask_client, tmp_path, monkeypatch):
    """Functions of a script (pickled by value, as ``__main__``'s are: their module is not importable where they
    are unpickled) run on the workers, whole or split into stages: their source travels with them."""
    da = pytest.importorskip("dask.array")
    (tmp_path / "by_value_module.py").write_text(WORKER_CODE)
    monkeypatch.syspath_prepend(str(tmp_path))
    import by_value_module

    monkeypatch.delitem(sys.modules, "by_value_module")
    x = np.random.default_rng(3).normal(size=(10, 2))
    chunks = da.from_array(x, chunks=(4, 2))
    doubled = dask_client.compute(s2s.vmap(by_value_module.double)(chunks)).result(timeout=120)
    np.testing.assert_array_equal(doubled, 2 * x)
    standardized = s2s.vmap(by_value_module.standardized, axis_name="i")(chunks)
    np.testing.assert_allclose(dask_client.compute(standardized).result(timeout=120),
                               (x - x.mean(0)) / np.abs(x).max(0), rtol=1e-14)


def test_source_shows_the_stages():
    """``s2s.source`` (and ``s2s show --mode vmap``) of a function with collectives prints the stages it runs."""
    text = s2s.source(s2s.pmap(train_step, axis_name="batch"))
    assert "def train_step_stage_0(w, x, y):\n    g = s2s.grad(loss)(w, x, y)\n    pmean_1_operand = g\n" in text
    assert "# pmean_1 = s2s.pmean(pmean_1_operand, 'batch'), combining every example's value (test_pmap.py:" in text
    assert "def train_step_stage_1(w, rate, g, pmean_1):\n    g = pmean_1\n    return w - rate * g" in text
    shown = s2s.source(gathered, mode="vmap")
    assert shown.startswith("# axis_index_5 = s2s.axis_index('i'): each example's index along its axis")
    assert "s2s.all_gather(all_gather_2_operand, 'i', axis=0, tiled=True)" in shown
