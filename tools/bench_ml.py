"""ML-style gradients: ``s2s.jit(s2s.grad(f))`` against ``jax.jit(jax.grad(f))`` on the CPU.

    python tools/bench_ml.py            # print the results
    python tools/bench_ml.py --write    # ... and rewrite the "ML-style gradients" section of docs/performance.md
    python tools/bench_ml.py --quick    # fewer repetitions (a smoke test; do not --write)

Needs JAX (``pip install '.[bench]'``).  Both run the same source (``ml_models.py``;
JAX's copy is re-executed with ``np`` bound to ``jax.numpy``), in float64, in one
process.  The first call of each (compile included) is timed on its own; the
gradients are checked against each other; runtimes are then taken with
``bench_forward``'s interleaved timer (best round).
"""

from __future__ import annotations

import argparse
import inspect
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_forward  # noqa: E402, F401  (points s2s's cache at a fresh directory first)
from bench_forward import fmt_time, machine, table, time_calls, write_page  # noqa: E402

import numpy as np  # noqa: E402

import s2s  # noqa: E402

import ml_models as M  # noqa: E402

SECTION = "## ML-style gradients"
CHECK_RTOL = 1e-8


def workloads():
    rng = np.random.default_rng(0)
    n, d_in, d_hidden, k = 256, 784, 128, 10
    labels = np.eye(k)[rng.integers(0, k, n)]
    seq, d = 128, 64
    m, p = 10_000, 100
    X_logit = rng.standard_normal((m, p))
    return [
        dict(name=f"MLP + softmax cross-entropy ({n}×{d_in} → {d_hidden} → {k})", fun=M.mlp_cross_entropy,
             args=(rng.standard_normal((d_in, d_hidden)) * 0.05, np.zeros(d_hidden),
                   rng.standard_normal((d_hidden, k)) * 0.1, np.zeros(k), rng.standard_normal((n, d_in)), labels),
             argnums=(0, 1, 2, 3)),
        dict(name="layer norm (256×512)", fun=M.layer_norm_loss,
             args=(rng.standard_normal(512), rng.standard_normal(512), rng.standard_normal((256, 512)),
                   rng.standard_normal((256, 512))),
             argnums=(0, 1, 2)),
        dict(name=f"single-head attention (sequence {seq}, width {d})", fun=M.attention_loss,
             args=tuple(rng.standard_normal((d, d)) / np.sqrt(d) for _ in range(3))
             + (rng.standard_normal((seq, d)), rng.standard_normal((seq, d))),
             argnums=(0, 1, 2)),
        dict(name=f"logistic regression ({m}×{p})", fun=M.logistic_loss,
             args=(rng.standard_normal(p) * 0.1, 0.0, X_logit, (rng.random(m) < 0.5).astype(float)),
             argnums=(0, 1)),
    ]


def as_jax(fun):
    """``fun`` re-executed from its source with ``np`` bound to ``jax.numpy``."""
    import jax.numpy as jnp

    namespace = {"np": jnp}
    exec(compile(inspect.getsource(fun), inspect.getsourcefile(fun), "exec"), namespace)
    return namespace[fun.__name__]


def first_call(call):
    t0 = time.perf_counter()
    value = call()
    return value, time.perf_counter() - t0


def run(quick=False):
    import jax

    jax.config.update("jax_enable_x64", True)
    results = []
    for w in workloads():
        ours = s2s.jit(s2s.grad(w["fun"], argnums=w["argnums"]))
        theirs = jax.jit(jax.grad(as_jax(w["fun"]), argnums=w["argnums"]))
        jargs = tuple(jax.numpy.asarray(a) for a in w["args"])
        g_ours, compile_ours = first_call(lambda: ours(*w["args"]))
        g_theirs, compile_theirs = first_call(lambda: jax.block_until_ready(theirs(*jargs)))
        error = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)) / (1e-12 + np.max(np.abs(np.asarray(b))))))
                    for a, b in zip(g_ours, g_theirs))
        best, _ = time_calls({"s2s": lambda: ours(*w["args"]),
                              "jax": lambda: jax.block_until_ready(theirs(*jargs))},
                             rounds=3 if quick else 9)
        results.append(dict(name=w["name"], s2s=best["s2s"], jax=best["jax"], error=error,
                            compile_s2s=compile_ours, compile_jax=compile_theirs))
        print(f"{w['name']}: s2s {fmt_time(best['s2s'])}, jax {fmt_time(best['jax'])}, "
              f"ratio {best['s2s'] / best['jax']:.2f}, agreement {error:.1e}", flush=True)
        if error > CHECK_RTOL:
            raise SystemExit(f"{w['name']}: the gradients differ by {error:.1e}")
    return results


def section(results) -> str:
    import jax

    info = machine()
    rows = [(r["name"], fmt_time(r["s2s"]), fmt_time(r["jax"]), f"{r['s2s'] / r['jax']:.2f}",
             f"{r['compile_s2s']:.1f} s", f"{r['compile_jax']:.1f} s", f"{r['error']:.0e}") for r in results]
    return "\n".join([
        SECTION, "",
        "`s2s.jit(s2s.grad(f))` against `jax.jit(jax.grad(f))` on the same NumPy source "
        "(`tools/ml_models.py`), float64, one process; `python tools/bench_ml.py --write` rewrites this section.",
        f"Machine: {info['cpu']}, {info['cores']} cores; NumPy {np.__version__}, Numba {info['numba']}, "
        f"JAX {jax.__version__}; {info['date']}.", "",
        table(("workload", "s2s", "JAX", "s2s / JAX", "first call, s2s", "first call, JAX", "max rel. diff"), rows),
        "",
    ])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the ML-style section of docs/performance.md")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke test; do not --write)")
    args = parser.parse_args(argv)
    text = section(run(quick=args.quick))
    print("\n" + text)
    if args.write:
        write_page(text, SECTION)


if __name__ == "__main__":
    main()
