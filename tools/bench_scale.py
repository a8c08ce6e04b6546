"""Scale-out: per-example derivatives on one core, on every core, and on a two-worker Dask ``LocalCluster``.

    python tools/bench_scale.py            # 10**6 examples
    python tools/bench_scale.py --small    # 10**4, a quick check

Two workloads of ``tools/bench_cuda.py`` (the spring integrator's gradient, reverse mode through a loop; the
reprojection residual's Jacobian, forward mode), each run, in one process, as ``s2s.jit(s2s.vmap(...))`` with
Numba held to one thread, the same with all of this machine's threads (its batch loop is a ``prange``:
what ``s2s.pmap(s2s.vmap(...))`` runs per device), and as ``s2s.vmap`` of Dask arrays on a ``LocalCluster``
of two single-threaded worker processes, in chunks.  Each result is compared with the one-core result.
Reported: the best time of a few runs (compiled and warm), examples per second, parallel efficiency
(speed-up over one core / cores used), and the cluster's cost per task, measured on chunks of a few examples.
"""

from __future__ import annotations

import argparse
import os
import platform

import numba
import numpy as np

import s2s
from bench_cuda import best_of, leaves, workloads


def run_cluster(transform, args, chunk):
    import dask
    import dask.array as da

    mapped = [da.from_array(a, chunks=chunk) for a in args]
    return dask.compute(*leaves(transform(*mapped)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="10**4 examples, one repeat")
    options = parser.parse_args(argv)
    n, repeats = (10 ** 4, 1) if options.small else (10 ** 6, 3)
    from distributed import Client, LocalCluster

    paths = [os.path.dirname(os.path.abspath(__file__)), os.environ.get("PYTHONPATH")]
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, paths))  # workers import the workloads' module
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    cores = numba.config.NUMBA_NUM_THREADS
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, numba {numba.__version__}, "
          f"{n} examples")
    print("| workload | 1 core | all cores | efficiency | 2-worker cluster | examples/s (all cores) |")
    print("| --- | --- | --- | --- | --- | --- |")
    rng = np.random.default_rng(0)
    for name, transform, args in workloads(n, rng)[:2]:
        compiled = s2s.jit(transform)
        reference = leaves(compiled(*args))
        numba.set_num_threads(1)
        one = best_of(lambda: compiled(*args), repeats)
        numba.set_num_threads(cores)
        every = best_of(lambda: compiled(*args), repeats)
        for got, want in zip(leaves(compiled(*args)), reference):
            np.testing.assert_allclose(got, want, rtol=1e-12)
        chunk = n // 8
        for got, want in zip(run_cluster(compiled, args, chunk), reference):  # (compiles on the workers)
            np.testing.assert_allclose(got, want, rtol=1e-12)
        on_cluster = best_of(lambda: run_cluster(compiled, args, chunk), repeats)
        print(f"| {name} | {one:.3f} s | {every:.3f} s | {one / every / cores:.0%} | {on_cluster:.3f} s "
              f"({n // chunk} chunks) | {n / every:.3g} |")
    tiny = [np.zeros(64) for _ in range(4)]
    transform = s2s.jit(workloads(1, rng)[0][1])
    run_cluster(transform, tiny, 8)
    per_task = best_of(lambda: run_cluster(transform, tiny, 8), repeats) / 8
    print(f"\nCluster cost per task (8 chunks of 8 examples): {per_task * 1e3:.1f} ms")
    client.close()
    cluster.close()


if __name__ == "__main__":
    main()
