"""The cuda target's cases, run under Numba's CUDA simulator by ``test_cuda_target`` in a process of their own.

``NUMBA_ENABLE_CUDASIM=1`` must be set before Numba's CUDA module is imported, so these run in a child
process; each case prints one line of JSON: its name and ``"ok"`` or what went wrong.
"""

from __future__ import annotations

import json
import os
import re
import sys
import traceback
from pathlib import Path

import corpus
import numpy as np

import s2s
from s2s.errors import DeviceError

N = 64
RNG = np.random.default_rng(0)
X, Y = RNG.uniform(0.2, 1.5, N), RNG.uniform(0.5, 2.0, N)
STEPS = 4
P, Q = RNG.uniform(-1.0, 1.0, (N, 3)), RNG.uniform(-1.0, 1.0, (N, 3))


def g(x, y):
    z = x * y + np.sin(x)
    return np.exp(-z) * z + np.sqrt(y) / x


def two(x, y):
    return x * np.cos(y), x + y * y


def spring(x, k, steps):
    v = 0.0
    for _ in range(steps):
        v = v - 0.1 * k * x
        x = x + 0.1 * v
    return x


def pendulum(x, k, steps):
    v = 0.0
    for _ in range(steps):
        v = v - 0.1 * k * np.sin(x)
        x = x + 0.1 * v
    return x


def walk(x, drift, threshold):
    """A walk to a threshold: a while loop, left early after 40 steps (its trip counts are saved)."""
    steps = 0
    while x < threshold:
        x = x + drift * (1.0 + 0.1 * np.sin(x))
        steps += 1
        if steps > 40:
            break
    return x * x


def triangle(x, y, n):
    """Nested loops, the inner one's length set by the outer one's index."""
    s = 0.0
    for i in range(n):
        for j in range(i):
            s = s + np.sin(x * s + y * j)
    return s


def damped(x, n):
    for _ in range(n):
        x = np.cos(x) * x
    return x


def calls_damped(x, y, n):
    """A helper with a loop, called once: its tapes are handed down from the kernel."""
    return damped(x * y, n) * y + damped(y, n)


def calls_damped_in_loop(x, y, n):
    for _ in range(n):
        x = damped(x, n)
    return x * y


def rate(u, a):
    return a * u - u * np.sin(u)


def heun(u, a, steps):
    """A right-hand side called twice per step of a loop (Heun's method): its residuals, a tuple per call,
    are saved on tapes of numbers, one per residual."""
    for _ in range(steps):
        k1 = rate(u, a)
        k2 = rate(u + 0.1 * k1, a)
        u = u + 0.05 * (k1 + k2)
    return u


def branch_helper(x, y):
    if x > 0.5:
        r = rate(x, y) * y
    else:
        r = y - x
    return r


def clipped(x, y, n):
    """Python's max and min of two numbers, and abs, in a loop (the CUDA target compiles none of them)."""
    s = 0.0
    for i in range(n):
        s = s + max(x * i, y) - min(x, y * i) + abs(x - y * i)
    return s


def early(x, y):
    if x > 0.8:
        return x * y
    return x * x * y


def cycled(x, n):
    """An integer state the backward pass needs: saved on a tape of integers."""
    m = 1
    for _ in range(n):
        m = m * 3 % 7
        x = x * m * 0.3 + np.sin(x)
    return x


def cycled_from(x, m, n):
    for _ in range(n):
        m = m * 3 % 7
        x = x * m * 0.3 + np.sin(x)
    return x


def allocates(x, y):
    a = np.zeros(3)
    a[0] = x
    return a[0] * y


def distance(p, q):
    d0, d1, d2 = p[0] - q[0], p[1] - q[1], p[2] - q[2]
    return np.sqrt(d0 * d0 + d1 * d1 + d2 * d2)


def unsupported(x, y):
    return np.median(x) * y


#: Corpus functions whose cuda code is pinned in ``golden/cuda/<name>.py`` (``test_golden_cuda``), by the
#: transform it is pinned for; each also runs here, so what is pinned is code the target runs.
GOLDEN = {"scalar_expression": s2s.hessian, "bracket_tax": s2s.grad, "softplus": s2s.jacfwd,
          "log_scales": s2s.value_and_grad, "kepler_eccentric_anomaly": s2s.jacfwd, "relative_humidity": s2s.grad,
          "logistic_map": s2s.grad}


def golden_case(name):
    """``s2s.vmap`` of the pinned transform of the corpus function ``name``, and the batched arguments."""
    case = next(c for c in corpus.CASES if c.name == name)
    args, in_axes = corpus.batch_args(case)
    argnums = case.argnums if len(case.argnums) > 1 else case.argnums[0]
    return s2s.vmap(GOLDEN[name](case.fun, argnums=argnums), in_axes=in_axes), args


def golden_functions():
    for name in GOLDEN:
        fun, args = golden_case(name)
        against_cpu(fun, *args)()


def same(cuda_result, cpu_result):
    flat_a, flat_b = _leaves(cuda_result), _leaves(cpu_result)
    assert len(flat_a) == len(flat_b), (len(flat_a), len(flat_b))
    for a, b in zip(flat_a, flat_b):
        a = a.copy_to_host() if hasattr(a, "copy_to_host") else a
        assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
        np.testing.assert_allclose(a, b, rtol=1e-12 if a.dtype == np.float64 else 1e-5)


def _leaves(value):
    return [leaf for v in value for leaf in _leaves(v)] if isinstance(value, tuple) else [value]


def against_cpu(fun, *args):
    def check():
        same(s2s.jit(fun, target="cuda")(*args), s2s.jit(fun)(*args))
    return check


def refused(fun, args, *words):
    def check():
        try:
            s2s.jit(fun, target="cuda")(*args)
        except DeviceError as error:
            text = str(error)
            assert re.search(r"(cuda_cases|corpus)\.py:\d+", text), text
            assert all(w in text for w in words), text
            return
        raise AssertionError("not refused")
    return check


def tape_lengths():
    """The first call learns how long the tapes must be (the kernel runs again, with room); a later call that
    needs longer tapes learns again; every result is the CPU's."""
    fun = s2s.vmap(s2s.grad(pendulum, argnums=(0, 1)), in_axes=(0, 0, None))
    on_gpu = s2s.jit(fun, target="cuda")
    for steps in (3, 9, 2):
        same(on_gpu(X, Y, steps), s2s.jit(fun)(X, Y, steps))


def integer_argument_refused():
    """An integer computed from an integer argument cannot be saved on a tape of floats: refused, not rounded."""
    try:
        s2s.jit(s2s.vmap(s2s.grad(cycled_from), in_axes=(0, None, None)), target="cuda")(X, 1, 3)
    except TypeError as error:
        assert "device tapes do not hold" in str(error) and "forward mode" in str(error), str(error)
    else:
        raise AssertionError("not refused")


#: Statements of per-example scalar code that keep x and y in range, for ``random_loops``.
_STATEMENTS = [
    "x = x * 0.9 + 0.1 * np.sin(y * x)",
    "y = y + 0.05 * np.tanh(x) * y",
    "t = np.exp(-x * x) + 0.5\nx = x * t",
    "x = np.sqrt(1.0 + x * x) - 0.5 * y",
    "y = 0.5 * y + 0.3 * math.cos(x)",
    "if x > 0.6:\n    x = x * y\nelse:\n    y = y - 0.1 * x",
    "m = m * 3 % 7\nx = x + 0.01 * m * y",
    "x = x + 0.1 * rate(x, y)",
    "y = max(y, 0.5 * x) - 0.1 * abs(x - y)",
    "x = min(x, y) + 0.1 * np.abs(x - 0.3)",
]
_HELPER = ("def helper(u, v, n):\n    for _ in range(n):\n        u = u * np.cos(0.3 * v * u)\n    return u\n\n\n"
           "def rate(u, v):\n    return v * np.sin(u) - 0.5 * u * u\n")


def _indented(lines):
    return ["    " + line for line in lines]


def _loop_programs():
    from hypothesis import strategies as st
    simple = st.lists(st.sampled_from(_STATEMENTS), min_size=1, max_size=3).map(
        lambda parts: [line for part in parts for line in part.split("\n")])

    def blocks(inner):
        return st.one_of(
            simple,
            inner.map(lambda body: ["for i in range(n):", *_indented(body)]),
            inner.map(lambda body: ["for i in range(n):", *_indented(["for j in range(i):", *_indented(body)])]),
            inner.map(lambda body: ["for i in range(n):", *_indented(body), "    if x > 1.2:", "        break"]),
            inner.map(lambda body: ["k = 0", "while x < 1.5 and k < n:", *_indented(body), "    k += 1"]),
            st.just(["x = helper(x, y, n)"]),
        )
    return st.lists(st.recursive(simple, blocks, max_leaves=4), min_size=1, max_size=3).map(
        lambda parts: [line for part in parts for line in part])


def random_loops():
    """Random per-example programs of loops (nested, left early, while), branches, integer state and helpers
    with loops: their gradients on the device (through tapes in device memory) are the CPU's, or refused."""
    import tempfile

    from hypothesis import given, settings
    from programs import load_module

    folder = tempfile.mkdtemp()
    x, y = X[:8], Y[:8]

    @settings(max_examples=int(os.environ.get("S2S_CUDA_EXAMPLES", 40)), deadline=None, database=None)
    @given(_loop_programs())
    def check(lines):
        body = ["m = 1", *lines, "return x * y + x"]
        source = f"import math\n\nimport numpy as np\n\n\n{_HELPER}\n\ndef program(x, y, n):\n" + \
            "\n".join(_indented(body)) + "\n"
        program = load_module(folder, source).program
        with np.errstate(all="ignore"):
            try:  # programs whose values grow past what math takes are not this test's business
                values = [program(a, b, 3) for a, b in zip(x, y)]
            except (ValueError, OverflowError):
                return
        if not np.all(np.abs(values) < 1e6):
            return
        fun = s2s.vmap(s2s.grad(program, argnums=(0, 1)), in_axes=(0, 0, None))
        try:
            found = s2s.jit(fun, target="cuda")(x, y, 3)
        except DeviceError as error:
            assert "helper with tapes of its own" in str(error), (source, str(error))
            return
        expected = fun(x, y, 3)
        for a, b in zip(found, expected):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=source)

    check()


def on_device():
    from numba import cuda
    out = s2s.jit(s2s.vmap(s2s.grad(g)), target="cuda")(cuda.to_device(X), cuda.to_device(Y))
    assert hasattr(out, "copy_to_host"), type(out)  # stays on the device
    np.testing.assert_allclose(out.copy_to_host(), s2s.jit(s2s.vmap(s2s.grad(g)))(X, Y), rtol=1e-12)


class Foreign:
    """Another library's device array (CuPy's) as the launcher sees it: ``__cuda_array_interface__``, a shape and
    a dtype.  It wraps a simulator device array, since the simulator's arrays have no such interface."""

    def __init__(self, wrapped):
        self.wrapped, self.shape, self.dtype = wrapped, wrapped.shape, wrapped.dtype

    @property
    def __cuda_array_interface__(self):
        return {"shape": self.shape, "typestr": self.dtype.str, "data": (0, False), "version": 3}


def foreign_arrays():
    """Objects with ``__cuda_array_interface__`` are viewed as Numba device arrays (``cuda.as_cuda_array``),
    and the outputs stay on the device.  The simulator has no ``as_cuda_array``: a stand-in unwraps ``Foreign``."""
    from numba import cuda
    viewed = []
    cuda.as_cuda_array = lambda obj: viewed.append(obj) or obj.wrapped
    try:
        x, y = Foreign(cuda.to_device(X)), Foreign(cuda.to_device(Y))
        out = s2s.jit(s2s.vmap(s2s.grad(g, argnums=(0, 1))), target="cuda")(x, y)
    finally:
        del cuda.as_cuda_array
    assert viewed == [x, y], viewed
    assert all(hasattr(o, "copy_to_host") for o in out), [type(o) for o in out]  # stays on the device
    same(out, s2s.jit(s2s.vmap(s2s.grad(g, argnums=(0, 1))))(X, Y))


def device_functions():
    """``s2s.cuda.device`` of transforms, called from kernels of one's own (``cuda_kernels``): each result the CPU's."""
    import cuda_kernels
    out = np.zeros((N, 9))
    cuda_kernels.derivatives[1, N](X, Y, STEPS, out)
    value, grads = s2s.jit(s2s.vmap(s2s.value_and_grad(g, argnums=(0, 1))))(X, Y)
    (hxx, hxy), (hyx, hyy) = s2s.jit(s2s.vmap(s2s.hessian(g, argnums=(0, 1))))(X, Y)
    along = s2s.jit(s2s.vmap(s2s.jacfwd(pendulum, argnums=(0, 1)), in_axes=(0, 0, None)))(X, Y, STEPS)
    np.testing.assert_allclose(out, np.stack([value, *grads, hxx, hxy, hyx, hyy, *along], axis=1), rtol=1e-12)
    same_transform = s2s.value_and_grad(cuda_kernels.g, argnums=(0, 1))
    assert s2s.cuda.device(same_transform) is cuda_kernels.value_and_grad  # built once


def device_float32():
    """``dtype=np.float32`` specializes the device function as ``s2s.jit`` does for float32 arguments."""
    import cuda_kernels
    x, y, out = X.astype(np.float32), Y.astype(np.float32), np.zeros(N, np.float32)
    cuda_kernels.gradients32[1, N](x, y, out)
    np.testing.assert_allclose(out, s2s.jit(s2s.vmap(s2s.grad(g)))(x, y), rtol=1e-5)


def device_refused():
    """What a device cannot run is refused when the device function is made, naming the user's line."""
    try:
        s2s.cuda.device(s2s.grad(allocates))
    except DeviceError as error:
        assert re.search(r"cuda_cases\.py:\d+", str(error)) and "np.zeros allocates" in str(error), str(error)
    else:
        raise AssertionError("allocation not refused")
    try:  # made for scalars, its gradient would sum p's components: refused
        s2s.cuda.device(s2s.grad(distance))
    except DeviceError as error:
        assert "indexes p, q" in str(error) and re.search(r"cuda_cases\.py:\d+", str(error)), str(error)
    else:
        raise AssertionError("indexed arguments not refused")
    try:  # a tape's device memory comes from s2s's launcher, which a kernel of one's own does not have
        s2s.cuda.device(s2s.grad(pendulum))
    except DeviceError as error:
        assert "tape" in str(error) and "forward mode" in str(error), str(error)
    else:
        raise AssertionError("a tape accepted in a device function")
    for fun, words in ((s2s.vmap(s2s.grad(g)), "one example"), (s2s.grad(g), "float64 or float32")):
        try:
            s2s.cuda.device(fun, dtype=np.int64 if "float" in words else np.float64)
        except TypeError as error:
            assert words in str(error), str(error)
        else:
            raise AssertionError(f"{fun} accepted")


def printed():
    text = s2s.source(s2s.jit(s2s.vmap(s2s.grad(g)), target="cuda"), args=(X, Y))
    assert "def g_grad_kernel(x, y, x_bar_batch):" in text and "b = cuda.grid(1)" in text, text
    assert "x_bar_b = g_grad(x[b], y[b])" in text and "def g_fwd(x, y):" in text, text
    assert text == s2s.source(s2s.vmap(s2s.grad(g)), target="cuda", args=(X, Y))


def shown_by_the_cli():
    """``s2s show FILE.py:FUNC --mode grad --target cuda`` prints what ``s2s.source`` does."""
    import contextlib
    import io

    from s2s import cli
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["show", f"{__file__}:g", "--mode", "grad", "--target", "cuda"]) == 0
    assert "def g_grad_kernel(x, y, x_bar_batch):" in out.getvalue(), out.getvalue()
    assert out.getvalue() == s2s.source(s2s.vmap(s2s.grad(g)), target="cuda", args=(X[:1], Y[:1]))


def gpu_devices():
    """``s2s.devices("cuda")`` lists the GPUs (the simulator's one); pmap runs on CPU devices and says so."""
    gpus = s2s.devices("cuda")
    assert len(gpus) == s2s.device_count("gpu") >= 1 and {d.platform for d in gpus} == {"gpu"}, gpus
    try:
        s2s.pmap(g, devices=gpus)
    except ValueError as error:
        assert "target='cuda'" in str(error), str(error)
    else:
        raise AssertionError("pmap on GPUs accepted")


def not_a_vmap():
    for fun in (g, s2s.grad(g)):
        try:
            s2s.jit(fun, target="cuda")
        except TypeError as error:
            assert "s2s.vmap" in str(error)
        else:
            raise AssertionError(f"{fun} accepted")


def docs_examples():
    """The ```py blocks of docs/cuda.md run as one script; each ```text block is in what they print."""
    import contextlib
    import io
    import runpy
    import tempfile
    page = (Path(__file__).resolve().parent.parent / "docs" / "cuda.md").read_text()
    out = io.StringIO()
    with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(out):
        script = Path(folder) / "example.py"
        script.write_text("\n\n".join(re.findall(r"^```py\n(.*?)^```", page, re.S | re.M)))
        runpy.run_path(str(script), run_name="__main__")
    for shown in re.findall(r"^```text\n(.*?)^```", page, re.S | re.M):
        assert shown in out.getvalue(), (shown, out.getvalue())


CASES = {
    "gpu_devices": gpu_devices,
    "primal": against_cpu(s2s.vmap(g), X, Y),
    "primal_tuple": against_cpu(s2s.vmap(two), X, Y),
    "grad": against_cpu(s2s.vmap(s2s.grad(g)), X, Y),
    "grad_argnums": against_cpu(s2s.vmap(s2s.grad(g, argnums=(1, 0))), X, Y),
    "value_and_grad": against_cpu(s2s.vmap(s2s.value_and_grad(g, argnums=(0, 1))), X, Y),
    "jacfwd": against_cpu(s2s.vmap(s2s.jacfwd(g, argnums=(0, 1))), X, Y),
    "jacrev": against_cpu(s2s.vmap(s2s.jacrev(g, argnums=1)), X, Y),
    "hessian": against_cpu(s2s.vmap(s2s.hessian(g, argnums=(0, 1))), X, Y),
    "jacfwd_of_grad": against_cpu(s2s.vmap(s2s.jacfwd(s2s.grad(g))), X, Y),
    "broadcast_scalar": against_cpu(s2s.vmap(s2s.grad(g), in_axes=(0, None)), X, 1.5),
    "float32": against_cpu(s2s.vmap(s2s.grad(g)), X.astype(np.float32), Y.astype(np.float32)),
    "loop_jacfwd": against_cpu(s2s.vmap(s2s.jacfwd(spring, argnums=(0, 1)), in_axes=(0, 0, None)), X, Y, STEPS),
    "loop_grad_without_tape": against_cpu(s2s.vmap(s2s.grad(spring), in_axes=(0, 0, None)), X, Y, STEPS),
    "loop_jacfwd_nonlinear": against_cpu(s2s.vmap(s2s.jacfwd(pendulum), in_axes=(0, 0, None)), X, Y, STEPS),
    "loop_grad": against_cpu(s2s.vmap(s2s.grad(pendulum, argnums=(0, 1)), in_axes=(0, 0, None)), X, Y, STEPS),
    "loop_value_and_grad": against_cpu(s2s.vmap(s2s.value_and_grad(pendulum, argnums=(0, 1)),
                                                in_axes=(0, 0, None)), X, Y, STEPS),
    "loop_jacrev": against_cpu(s2s.vmap(s2s.jacrev(pendulum, argnums=(0, 1)), in_axes=(0, 0, None)), X, Y, STEPS),
    "loop_hessian": against_cpu(s2s.vmap(s2s.hessian(pendulum, argnums=(0, 1)), in_axes=(0, 0, None)), X, Y, STEPS),
    "loop_grad_float32": against_cpu(s2s.vmap(s2s.grad(pendulum, argnums=(0, 1)), in_axes=(0, 0, None)),
                                     X.astype(np.float32), Y.astype(np.float32), STEPS),
    "branch_grad": against_cpu(s2s.vmap(s2s.grad(corpus.softplus)), X * 20 - 10),
    "early_exit_grad": against_cpu(s2s.vmap(s2s.grad(walk, argnums=(0, 1)), in_axes=(0, 0, None)), X, Y * 0.1, 2.5),
    "nested_loops_grad": against_cpu(s2s.vmap(s2s.grad(triangle, argnums=(0, 1)), in_axes=(0, 0, None)), X, Y, 4),
    "helper_loop_grad": against_cpu(s2s.vmap(s2s.grad(calls_damped, argnums=(0, 1)), in_axes=(0, 0, None)),
                                    X, Y, STEPS),
    "helper_loop_hessian": against_cpu(s2s.vmap(s2s.hessian(calls_damped, argnums=(0, 1)), in_axes=(0, 0, None)),
                                       X, Y, STEPS),
    "integer_tape_grad": against_cpu(s2s.vmap(s2s.grad(cycled), in_axes=(0, None)), X, STEPS),
    "helper_in_loop_grad": against_cpu(s2s.vmap(s2s.grad(heun, argnums=(0, 1)), in_axes=(0, 0, None)), X, Y, STEPS),
    "helper_in_loop_hessian": against_cpu(s2s.vmap(s2s.hessian(heun, argnums=(0, 1)), in_axes=(0, 0, None)),
                                          X, Y, STEPS),
    "helper_in_branch_grad": against_cpu(s2s.vmap(s2s.grad(branch_helper, argnums=(0, 1))), X, Y),
    "builtins_grad": against_cpu(s2s.vmap(s2s.grad(clipped, argnums=(0, 1)), in_axes=(0, 0, None)), X, Y, STEPS),
    "builtins_jacfwd": against_cpu(s2s.vmap(s2s.jacfwd(clipped, argnums=(0, 1)), in_axes=(0, 0, None)), X, Y, STEPS),
    "early_return_hessian": against_cpu(s2s.vmap(s2s.hessian(early, argnums=(0, 1))), X, Y),
    "tape_lengths": tape_lengths,
    "random_loops": random_loops,
    "integer_argument_refused": integer_argument_refused,
    "helper_in_loop_refused": refused(s2s.vmap(s2s.grad(calls_damped_in_loop), in_axes=(0, 0, None)), (X, Y, 2),
                                      "helper with tapes of its own", "x = damped(x, n)"),
    "indexed_arrays": against_cpu(s2s.vmap(distance), P, Q),
    "array_gradient_refused": refused(s2s.vmap(s2s.grad(distance)), (P, Q), "p, q are arrays in each example",
                                      "pass the components as scalars"),
    "allocation_refused": refused(s2s.vmap(allocates), (X, Y), "np.zeros allocates", "a = np.zeros(3)"),
    "numpy_refused": refused(s2s.vmap(unsupported), (X, Y), "np.median is not available", "return np.median(x)"),
    "device_arrays": on_device,
    "foreign_arrays": foreign_arrays,
    "device_functions": device_functions,
    "device_float32": device_float32,
    "device_refused": device_refused,
    "golden": golden_functions,
    "source": printed,
    "cli": shown_by_the_cli,
    "not_a_vmap": not_a_vmap,
    "docs": docs_examples,
}

if __name__ == "__main__":
    for name in sys.argv[1:] or CASES:
        try:
            CASES[name]()
            outcome = "ok"
        except Exception:
            outcome = traceback.format_exc()
        print(json.dumps([name, outcome]), flush=True)
