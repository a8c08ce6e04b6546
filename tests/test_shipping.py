"""s2s's objects pickled, and run where the user's source is not: another process, a Dask worker (``s2s.shipping``).

The user's functions live in a module written to a temporary directory, so that a test can pickle them by
value (as cloudpickle pickles ``__main__`` and notebooks) and then delete or edit the file.
"""

from __future__ import annotations

import importlib.util
import linecache
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import s2s

cloudpickle = pytest.importorskip("cloudpickle")

USER = textwrap.dedent('''\
    import numpy as np

    import s2s


    def scale(x):
        return 2.0 * x


    def energy(w, x):
        return np.sum(np.sin(scale(w) * x) ** 2)


    @s2s.custom_vjp
    def softplus(x):
        return np.log1p(np.exp(x))


    def softplus_fwd(x):
        return softplus(x), x


    def softplus_bwd(x, ct):
        return (ct / (1.0 + np.exp(-x)),)


    softplus.defvjp(softplus_fwd, softplus_bwd)


    def loss(w):
        return np.sum(softplus(w) * scale(w))
''')

W = np.array([0.3, -0.7, 1.1])
X = np.array([0.5, 2.0, -1.5])
XS = np.linspace(-1.0, 1.0, 12).reshape(4, 3)


def energy_grad(w, x):
    """The gradient of ``USER``'s ``energy`` with respect to ``w``, by hand."""
    return 2 * x * np.sin(4 * w * x)


def loss_grad(w):
    """The gradient of ``USER``'s ``loss``, by hand."""
    return 2 * w / (1 + np.exp(-w)) + 2 * np.log1p(np.exp(w))


@pytest.fixture
def user_module(tmp_path):
    """``USER``, written to a file and imported as the module ``shipped_user`` (for the test's length)."""
    path = tmp_path / "shipped_user.py"
    path.write_text(USER)
    spec = importlib.util.spec_from_file_location("shipped_user", path)
    module = sys.modules["shipped_user"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    if "shipped_user" in cloudpickle.list_registry_pickle_by_value():
        cloudpickle.unregister_pickle_by_value(module)
    sys.modules.pop("shipped_user", None)


def through(custom):
    """The gradient of a function that calls ``custom``: its rule's."""
    return s2s.grad(lambda v: np.sum(custom(v) * v))


def cases(m) -> dict:
    """What is pickled, by name, and how it is called."""
    return {"grad": (s2s.grad(m.energy), lambda g: g(W, X)),
            "jit_grad": (s2s.jit(s2s.grad(m.energy)), lambda g: g(W, X)),
            "jit_vmap_grad": (s2s.jit(s2s.vmap(s2s.grad(m.energy), in_axes=(None, 0))), lambda g: g(W, XS)),
            "custom_vjp": (m.softplus, lambda f: through(f)(W)),
            "grad_through_custom_vjp": (s2s.grad(m.loss), lambda g: g(W))}


@pytest.mark.parametrize("how", ["pickle", "cloudpickle", "cloudpickle_by_value"])
@pytest.mark.parametrize("case", ["grad", "jit_grad", "jit_vmap_grad", "custom_vjp", "grad_through_custom_vjp"])
def test_round_trip_gives_the_same_results(user_module, how, case):
    obj, call = cases(user_module)[case]
    if how == "cloudpickle_by_value":
        cloudpickle.register_pickle_by_value(user_module)
    loaded = pickle.loads((pickle if how == "pickle" else cloudpickle).dumps(obj))
    if case == "custom_vjp" and how != "cloudpickle_by_value":
        assert loaded is obj  # a decorated function pickles by name, as a function does
    else:
        assert type(loaded) is type(obj) and loaded is not obj
    np.testing.assert_array_equal(call(loaded), call(obj))


def test_backends_and_caches_are_not_pickled(user_module):
    jitted = s2s.jit(s2s.grad(user_module.energy))
    assert pickle.loads(pickle.dumps(jitted)).backend is jitted.backend is s2s.backends.named("numba")
    mapped = s2s.vmap(user_module.energy, in_axes=0)
    mapped(np.ones((2, 3)), np.ones((2, 3)))  # made a variant for one axis per argument: a cache
    assert "_variants" in vars(mapped)
    assert "_variants" not in vars(pickle.loads(pickle.dumps(mapped)))


def test_lines_are_registered_only_where_the_file_differs(user_module):
    cloudpickle.register_pickle_by_value(user_module)
    path = user_module.__file__
    data = cloudpickle.dumps(s2s.grad(user_module.energy))
    linecache.clearcache()
    np.testing.assert_allclose(cloudpickle.loads(data)(W, X), energy_grad(W, X))
    assert linecache.cache[path][1] is not None  # read from the file, which is the same
    with open(path, "w") as f:
        f.write("# edited\n" + USER.replace("np.sin", "np.cos"))
    np.testing.assert_allclose(cloudpickle.loads(data)(W, X), energy_grad(W, X))
    assert linecache.cache[path][1] is None and "".join(linecache.cache[path][2]) == USER


_CALL = """
import pickle, sys
with open(sys.argv[1], "rb") as f:
    calls = pickle.load(f)
with open(sys.argv[2], "wb") as f:
    pickle.dump([fun(*args) for fun, args in calls], f)
"""


def called_elsewhere(data: bytes, tmp_path) -> list:
    """The results of ``[fun(*args) for fun, args in pickle.loads(data)]``, in a fresh Python process."""
    (tmp_path / "calls.pkl").write_bytes(data)
    done = subprocess.run([sys.executable, "-c", _CALL, tmp_path / "calls.pkl", tmp_path / "results.pkl"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return pickle.loads((tmp_path / "results.pkl").read_bytes())


def test_a_fresh_process_runs_them_without_the_file(user_module, tmp_path):
    cloudpickle.register_pickle_by_value(user_module)
    data = cloudpickle.dumps([(s2s.grad(user_module.energy), (W, X)), (s2s.grad(user_module.loss), (W,)),
                              (s2s.vmap(s2s.grad(user_module.energy), in_axes=(None, 0)), (W, XS))])
    (tmp_path / "shipped_user.py").unlink()
    linecache.clearcache()
    grad, of_loss, mapped = called_elsewhere(data, tmp_path)
    np.testing.assert_allclose(grad, energy_grad(W, X))
    np.testing.assert_allclose(of_loss, loss_grad(W))
    np.testing.assert_allclose(mapped, energy_grad(W, XS))


def test_a_fresh_process_compiles_them_from_the_source_they_were_made_of(user_module, tmp_path):
    cloudpickle.register_pickle_by_value(user_module)
    data = cloudpickle.dumps([(s2s.jit(s2s.grad(user_module.loss)), (W,)),
                              (s2s.jit(s2s.vmap(s2s.grad(user_module.energy), in_axes=(None, 0))), (W, XS))])
    (tmp_path / "shipped_user.py").write_text("# edited\n" + USER.replace("np.sin", "np.cos"))
    of_loss, mapped = called_elsewhere(data, tmp_path)
    np.testing.assert_allclose(of_loss, loss_grad(W))
    np.testing.assert_allclose(mapped, energy_grad(W, XS))


def test_dask_workers_run_them_without_the_file(dask_client, user_module, tmp_path):
    grad = s2s.jit(s2s.grad(user_module.energy))
    ws = [W + k / 4 for k in range(6)]
    expected = [grad(w, X) for w in ws]
    # Distributed pickles a task with pickle where it can: by name, which a module that cannot be imported (as
    # __main__ cannot) refuses; then with cloudpickle, by value.
    del sys.modules["shipped_user"]
    (tmp_path / "shipped_user.py").unlink()  # (its lines stay in this process's linecache, which pickling reads)
    np.testing.assert_array_equal(dask_client.submit(grad, ws[0], X).result(timeout=120), expected[0])
    futures = dask_client.map(grad, ws, [X] * len(ws))
    for future, want in zip(futures, expected, strict=True):
        np.testing.assert_array_equal(future.result(timeout=120), want)
