"""ADBench's objectives: J / objective for s2s, JAX and autograd, measured side by side in one process.

    python tools/bench_adbench.py            # print the results
    python tools/bench_adbench.py --write    # ... and rewrite the "ADBench" section of docs/performance.md
    python tools/bench_adbench.py --quick    # small problems, few repetitions (a smoke test; do not --write)

Needs JAX and autograd (``pip install '.[bench]'``).  The objectives are ported in ``adbench_models.py`` (its
docstring says where a port departs from ADBench's).  ADBench's metric is the time of the Jacobian over the time
of the objective, each tool against its own objective; the absolute times stand beside it.  As ADBench does,
the tools run interleaved, each call the best of several rounds; the first call of each (compile included) is
timed on its own.  Every tool's Jacobian is checked against s2s's before anything is timed.  Inputs are
generated at the sizes of ADBench's data files (which are not in this repository): GMM with 10,000 points,
d = 10, K = 25; BA with 49 cameras, 7,776 points and 31,843 observations; LSTM with 2 layers, 1,024 characters
and an alphabet of 14.  All in float64, on the CPU.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_forward  # noqa: E402, F401  (points s2s's cache at a fresh directory first)
from bench_forward import fmt_time, machine, table, time_calls, write_page  # noqa: E402

import numpy as np  # noqa: E402

import s2s  # noqa: E402

import adbench_models as A  # noqa: E402

SECTION = "## ADBench"
CHECK_RTOL = 1e-8


def as_peer(numpy_module):
    """``adbench_models`` executed again with ``np`` bound to ``numpy_module`` (``jax.numpy``, ``autograd.numpy``)."""
    namespace = {"__name__": "adbench_peer"}
    exec(compile(inspect.getsource(A), inspect.getsourcefile(A), "exec"), namespace)
    namespace["np"] = numpy_module
    return type("Peer", (), {k: staticmethod(v) if callable(v) else v for k, v in namespace.items()
                             if not k.startswith("__")})


# -- problems ----------------------------------------------------------------------------------------------------


def gmm_inputs(rng, n, d, k):
    alphas, means = rng.standard_normal(k), rng.standard_normal((k, d))
    icf = np.concatenate([rng.normal(0.0, 0.1, (k, d)), rng.normal(0.0, 0.3, (k, d * (d - 1) // 2))], axis=1)
    return alphas, means, icf, rng.standard_normal((n, d)), 1.0, 0


def ba_inputs(rng, cameras, points, observations):
    """Cameras and points gathered per observation (as every tool takes them), weights and features."""
    cams = np.concatenate([rng.normal(0.0, 0.1, (cameras, 3)), rng.normal(0.0, 1.0, (cameras, 3)),
                           rng.uniform(400.0, 600.0, (cameras, 1)), rng.normal(0.0, 1.0, (cameras, 2)),
                           rng.normal(0.0, 1e-3, (cameras, 1)), rng.normal(0.0, 1e-4, (cameras, 1))], axis=1)
    xyz = rng.normal(0.0, 1.0, (points, 3)) + np.array([0.0, 0.0, 10.0])
    which = rng.integers(0, cameras, observations), rng.integers(0, points, observations)
    return (cams[which[0]], xyz[which[1]], rng.uniform(0.5, 1.0, observations),
            rng.normal(0.0, 50.0, (observations, 2)))


def lstm_inputs(rng, characters, alphabet):
    return (rng.normal(0.0, 0.5, (2, 2, 4, alphabet)), rng.normal(0.0, 0.5, (3, alphabet)),
            rng.normal(0.0, 0.5, (2, 2, alphabet)), np.eye(alphabet)[rng.integers(0, alphabet, characters)])


def problems(quick):
    """(name, inputs, tools): each tool's objective and Jacobian, and its own inputs where they differ."""
    import autograd
    import autograd.numpy as anp
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    J, G = as_peer(jnp), as_peer(anp)
    rng = np.random.default_rng(0)
    found = []

    n, d, k = (1000, 10, 5) if quick else (10_000, 10, 25)
    args = gmm_inputs(rng, n, d, k)
    whole = args + (A.gmm_scatter(d),)
    found.append((f"GMM (n = {n}, d = {d}, K = {k})", whole, {
        "s2s, whole arrays": (s2s.jit(A.gmm_objective), s2s.jit(s2s.grad(A.gmm_objective, argnums=(0, 1, 2)))),
        "s2s, ADBench's loops": (s2s.jit(A.gmm_objective_loops),
                                 s2s.jit(s2s.grad(A.gmm_objective_loops, argnums=(0, 1, 2))), args),
        "JAX": (jax.jit(J.gmm_objective, static_argnums=(4, 5)),
                jax.jit(jax.grad(J.gmm_objective, argnums=(0, 1, 2)), static_argnums=(4, 5))),
        "autograd": (G.gmm_objective, autograd.grad(G.gmm_objective, (0, 1, 2))),
    }))

    cameras, points, observations = (10, 500, 2000) if quick else (49, 7776, 31843)
    args = ba_inputs(rng, cameras, points, observations)
    argnums = (0, 1, 2)
    smooth_jax = jax.vmap(J.ba_residual_smooth)
    found.append((f"BA ({cameras} cameras, {points} points, {observations} observations)", args, {
        "s2s, vmap(jacfwd)": (s2s.jit(s2s.vmap(A.ba_residual)),
                              s2s.jit(s2s.vmap(s2s.jacfwd(A.ba_residual, argnums=argnums)))),
        "s2s, vmap(jacrev)": (s2s.jit(s2s.vmap(A.ba_residual)),
                              s2s.jit(s2s.vmap(s2s.jacrev(A.ba_residual, argnums=argnums)))),
        "JAX, vmap(jacfwd)": (jax.jit(smooth_jax), jax.jit(jax.vmap(jax.jacfwd(J.ba_residual_smooth, argnums)))),
        "JAX, vmap(jacrev)": (jax.jit(smooth_jax), jax.jit(jax.vmap(jax.jacrev(J.ba_residual_smooth, argnums)))),
        "autograd": (G.ba_residuals, _autograd_blocks(G.ba_residuals)),
    }))

    characters, alphabet = (64, 14) if quick else (1024, 14)
    args = lstm_inputs(rng, characters, alphabet)
    scanned = _scanned_lstm(J)
    found.append((f"LSTM (2 layers, {characters} characters, alphabet {alphabet})", args, {
        "s2s": (s2s.jit(A.lstm_objective), s2s.jit(s2s.grad(A.lstm_objective, argnums=(0, 1)))),
        "JAX (lax.scan)": (jax.jit(scanned), jax.jit(jax.grad(scanned, argnums=(0, 1)))),
        "autograd": (G.lstm_objective, autograd.grad(G.lstm_objective, (0, 1))),
    }))
    return found


def _autograd_blocks(residuals):
    """Each observation's 2 x 15 Jacobian blocks from two reverse passes of the whole-array residuals: an
    observation's residual reads only its own camera, point and weight, so the gradient of the sum of
    component ``r`` is row ``r`` of every block."""
    import autograd

    rows = [autograd.grad(lambda c, p, w, f, r=r: residuals(c, p, w, f)[:, r].sum(), (0, 1, 2)) for r in (0, 1)]

    def blocks(cams, points, weights, features):
        found = [row(cams, points, weights, features) for row in rows]
        return tuple(np.stack([found[0][i], found[1][i]], axis=1) for i in range(3))
    return blocks


def _scanned_lstm(J):
    """The LSTM objective for JAX: ``adbench_models.lstm_step`` over the sequence with ``lax.scan``."""
    import jax.numpy as jnp
    from jax import lax

    def objective(main_params, extra_params, state, sequence):
        def step(carry, pair):
            normalized, *carry = J.lstm_step(main_params, extra_params, *carry, pair[0])
            return tuple(carry), jnp.sum(pair[1] * normalized)

        first = (state[0, 0], state[0, 1], state[1, 0], state[1, 1])
        _, totals = lax.scan(step, first, (sequence[:-1], sequence[1:]))
        return -jnp.sum(totals) / ((sequence.shape[0] - 1) * sequence.shape[1])
    return objective


# -- measuring ---------------------------------------------------------------------------------------------------


def ready(value):
    """``value`` with JAX's asynchronous results waited for, as NumPy arrays."""
    import jax
    leaves = jax.tree_util.tree_leaves(jax.block_until_ready(value))
    return [np.asarray(leaf) for leaf in leaves]


def first_call(call):
    t0 = time.perf_counter()
    value = ready(call())
    return value, time.perf_counter() - t0


def run(quick=False):
    results = []
    for name, args, tools in problems(quick):
        print(f"\n{name}", flush=True)
        reference, rows, calls = None, [], {}
        for tool, (objective, jacobian, *own) in tools.items():
            inputs = own[0] if own else args
            value, objective_compile = first_call(lambda: objective(*inputs))
            found, jacobian_compile = first_call(lambda: jacobian(*inputs))
            if reference is None:
                reference = found
            error = max(float(np.max(np.abs(a - b)) / (1e-12 + np.max(np.abs(b)))) for a, b in zip(found, reference))
            if error > CHECK_RTOL:
                raise SystemExit(f"{name}: {tool}'s Jacobian differs from s2s's by {error:.1e}")
            calls[f"{tool} objective"] = lambda objective=objective, inputs=inputs: ready(objective(*inputs))
            calls[f"{tool} Jacobian"] = lambda jacobian=jacobian, inputs=inputs: ready(jacobian(*inputs))
            rows.append(dict(tool=tool, compile_objective=objective_compile, compile_jacobian=jacobian_compile,
                             error=error))
            print(f"  {tool}: first calls {objective_compile:.1f} s and {jacobian_compile:.1f} s, "
                  f"agreement {error:.0e}", flush=True)
        best, _ = time_calls(calls, rounds=2 if quick else 5, budget=0.05 if quick else 0.3)
        for row in rows:
            row["objective"], row["jacobian"] = best[f"{row['tool']} objective"], best[f"{row['tool']} Jacobian"]
            print(f"  {row['tool']}: objective {fmt_time(row['objective'])}, Jacobian {fmt_time(row['jacobian'])}, "
                  f"J / objective {row['jacobian'] / row['objective']:.1f}", flush=True)
        results.append((name, rows))
    return results


def section(results) -> str:
    import autograd  # noqa: F401
    import jax

    info = machine()
    parts = [SECTION, "", textwrap.fill(
        "ADBench's GMM, BA and LSTM objectives (`tools/adbench_models.py`, which says where a port departs from "
        "ADBench's), for s2s (`s2s.jit`), JAX (`jax.jit`) and autograd, on inputs of the sizes of ADBench's data "
        "files; J / objective is each tool's Jacobian time over its own objective's time, ADBench's metric.  "
        "Regenerate with `python tools/bench_adbench.py --write`.", 115),
        f"Machine: {info['cpu']}, {info['cores']} cores; NumPy {np.__version__}, Numba {info['numba']}, "
        f"JAX {jax.__version__}; {info['date']}.  Repeated runs of the s2s Jacobians vary by up to a factor of 2 "
        "here.", ""]
    summary = []
    for name, rows in results:
        parts += [f"### {name}", "", table(
            ("tool", "objective", "Jacobian", "J / objective", "first call: objective", "first call: Jacobian",
             "max rel. diff from s2s"),
            [(r["tool"], fmt_time(r["objective"]), fmt_time(r["jacobian"]), f"{r['jacobian'] / r['objective']:.1f}",
              f"{r['compile_objective']:.1f} s", f"{r['compile_jacobian']:.1f} s", f"{r['error']:.0e}")
             for r in rows]), ""]
        ours = min((r for r in rows if r["tool"].startswith("s2s")), key=lambda r: r["jacobian"])
        theirs = min((r for r in rows if r["tool"].startswith("JAX")), key=lambda r: r["jacobian"])
        summary.append(textwrap.fill(
            f"- {name.split(' (')[0]}: s2s's fastest Jacobian ({ours['tool']}) takes "
            f"{ours['jacobian'] / theirs['jacobian']:.1f}× the time of JAX's fastest, at J / objective "
            f"{ours['jacobian'] / ours['objective']:.1f} against {theirs['jacobian'] / theirs['objective']:.1f}; "
            f"its first call takes {ours['compile_jacobian']:.0f} s against {theirs['compile_jacobian']:.1f} s.",
            115, subsequent_indent="  "))
    heading = "Against the targets (J / objective and Jacobian time no worse than JAX's, first call ≤ 2 s):"
    return "\n".join(parts + [heading, ""] + summary + ["", WHY])


#: Why the targets are missed, read from the generated code (the same on every run).
WHY = """\
Why, from the generated code:

- **Allocation per operation.** Every NumPy operation of the generated code makes a new array, in the forward
  pass, its saved values and the backward pass alike: per component on 10,000 × 10 arrays in GMM's whole-array
  port, per observation on 2-, 3- and 11-vectors in BA, per step on vectors of 14 in the LSTM.  XLA fuses such
  chains into loops that allocate once; Numba runs them one at a time.  BA's per-observation Jacobian is the
  extreme: a few hundred flops per observation, each small array a heap allocation, and the reverse pass
  allocating a cotangent for every input of every operation.
- **Compile time.** The first call compiles the generated module with Numba: the forward function, the backward
  function and the batch loop, each through LLVM, where JAX compiles one fused program.  Numba's cache makes
  later processes start fast, but a first call of 20 to 40 s is far from 2 s.
- **ADBench's loop code** (GMM) compiles in a few seconds and its objective is close to the whole-array port's,
  but its gradient saves a tape entry per inner-loop step.
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the ADBench section of docs/performance.md")
    parser.add_argument("--quick", action="store_true", help="small problems, few repetitions (do not --write)")
    options = parser.parse_args(argv)
    text = section(run(quick=options.quick))
    print("\n" + text)
    if options.write:
        write_page(text, SECTION)


if __name__ == "__main__":
    main()
