"""The cuda target's benchmark: per-example derivatives, one GPU thread per example, against the CPU's ``prange``.

    python tools/bench_cuda.py           # 10**6 examples each, on a CUDA GPU
    NUMBA_ENABLE_CUDASIM=1 python tools/bench_cuda.py --small   # a check under Numba's simulator

Four workloads of per-example scalar code: the gradient of a damped spring stepped in a loop with respect
to its initial state (reverse mode; the update is linear in the state, so the backward pass needs no tape),
the Jacobian of a reprojection residual with respect to the camera (forward mode, straight-line code), and
the delta and vega of an Asian option along one simulated path per example, in forward mode and in reverse
mode (whose backward pass reads the path's prices from a tape in device memory, one column per thread).
Each result is compared with the CPU backend's first.
The GPU time is the kernel's (its outputs allocated on the device), with the arguments already there; the
achieved bandwidth counts each argument read and each output written once (not a tape's traffic), against
the device's peak (memory clock × bus width × 2). The CPU time is ``s2s.jit(vmap(...))``: its batch loop
over all cores (``prange``), measured in the same run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from numba import config, cuda

import s2s

SPRING_STEPS = 200
PATH_STEPS = 64


def spring(x, v, k, damping):
    """Position after SPRING_STEPS steps of a damped spring (semi-implicit Euler, dt = 0.01)."""
    for _ in range(SPRING_STEPS):
        v = v - 0.01 * (k * x + damping * v)
        x = x + 0.01 * v
    return 0.5 * x * x


def reprojection(theta, tx, tz, focal, px, py, pz, observed):
    """The horizontal residual of a point seen by a camera turned by theta about the vertical axis."""
    c, s = np.cos(theta), np.sin(theta)
    xc = c * px + s * pz + tx
    zc = -s * px + c * pz + tz
    radial = 1.0 + 1e-3 * (xc * xc + py * py) / (zc * zc)
    return focal * radial * xc / zc - observed


def asian(s0, sigma, seed):
    """The discounted payoff of an arithmetic-average call along one path (rate 2 %, strike 100, a year)."""
    dt = 1.0 / PATH_STEPS
    price, total = s0, 0.0
    for i in range(PATH_STEPS):
        u1 = (seed * 0.6180339887 + i * 0.7548776662) % 1.0 * 0.998 + 0.001
        u2 = (seed * 0.5698402910 + i * 0.3141592654) % 1.0
        z = np.sqrt(-2.0 * np.log(u1)) * np.cos(6.283185307179586 * u2)
        price = price * np.exp((0.02 - 0.5 * sigma * sigma) * dt + sigma * np.sqrt(dt) * z)
        total = total + price
    return np.exp(-0.02) * np.maximum(total / PATH_STEPS - 100.0, 0.0)


def workloads(n, rng):
    """(name, transform, arguments) of each workload, for ``n`` examples."""
    return [
        ("spring gradient (reverse)", s2s.vmap(s2s.grad(spring, argnums=(0, 1))),
         (rng.uniform(-1, 1, n), rng.uniform(-1, 1, n), rng.uniform(1, 4, n), rng.uniform(0.01, 0.2, n))),
        ("reprojection Jacobian (forward)", s2s.vmap(s2s.jacfwd(reprojection, argnums=(0, 1, 2, 3))),
         (rng.normal(0, 0.1, n), rng.normal(0, 1, n), rng.uniform(5, 8, n), rng.uniform(400, 600, n),
          rng.normal(0, 1, n), rng.normal(0, 1, n), rng.normal(0, 1, n), rng.normal(0, 100, n))),
        ("Asian option delta, vega (forward)", s2s.vmap(s2s.jacfwd(asian, argnums=(0, 1))),
         (rng.uniform(90, 110, n), rng.uniform(0.1, 0.4, n), np.arange(n, dtype=np.float64))),
        ("Asian option delta, vega (reverse, tape)", s2s.vmap(s2s.grad(asian, argnums=(0, 1))),
         (rng.uniform(90, 110, n), rng.uniform(0.1, 0.4, n), np.arange(n, dtype=np.float64))),
    ]


def leaves(value):
    return [leaf for v in value for leaf in leaves(v)] if isinstance(value, tuple) else [value]


def best_of(call, repeats):
    """The least wall time of ``repeats`` calls (seconds); ``call`` waits for its own results."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def peak_bandwidth():
    """The device's peak memory bandwidth in bytes per second, or None where it does not say (the simulator)."""
    try:
        device = cuda.get_current_device()
        return 2.0 * device.MEMORY_CLOCK_RATE * 1e3 * device.GLOBAL_MEMORY_BUS_WIDTH / 8
    except Exception:
        return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="128 examples, one repeat: a check under the simulator")
    parser.add_argument("--examples", type=int, default=None, help="examples per workload (default 10**6)")
    options = parser.parse_args(argv)
    n = options.examples or (128 if options.small else 10**6)
    repeats = 1 if options.small else 5
    peak = peak_bandwidth()
    name = "Numba's CUDA simulator" if config.ENABLE_CUDASIM else cuda.get_current_device().name
    print(f"{n} examples per workload; GPU: {name}; peak bandwidth: "
          + (f"{peak / 1e9:.0f} GB/s" if peak else "not known"))
    print(f"{'workload':38} {'GPU time':>10} {'examples/s':>12} {'GB/s':>8} {'% peak':>7} {'CPU time':>10} "
          f"{'speed-up':>9}")
    for label, transform, args in workloads(n, np.random.default_rng(0)):
        on_gpu, on_cpu = s2s.jit(transform, target="cuda"), s2s.jit(transform)
        expected = leaves(on_cpu(*args))
        found = leaves(on_gpu(*args))
        for a, b in zip(found, expected):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
        device_args = [cuda.to_device(a) for a in args]

        def kernel():
            on_gpu(*device_args)
            cuda.synchronize()

        gpu = best_of(kernel, repeats)
        cpu = best_of(lambda: on_cpu(*args), repeats)
        moved = sum(a.nbytes for a in args) + sum(b.nbytes for b in expected)
        rate = moved / gpu
        share = f"{100 * rate / peak:6.1f}%" if peak else f"{'n/a':>7}"
        print(f"{label:38} {gpu * 1e3:8.2f}ms {n / gpu:12.3g} {rate / 1e9:8.2f} {share} {cpu * 1e3:8.2f}ms "
              f"{cpu / gpu:8.2f}x")


if __name__ == "__main__":
    main()
