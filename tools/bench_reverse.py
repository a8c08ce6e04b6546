"""Reverse-mode benchmark: compiled gradient vs compiled primal.

    python tools/bench_reverse.py            # print the results
    python tools/bench_reverse.py --write    # ... and rewrite the "Reverse mode" section of docs/performance.md
    python tools/bench_reverse.py --quick    # fewer repetitions (a smoke test; do not --write)

Everything runs in one process.  For each workload a warm-up call compiles the
primal and the gradient, and a check compares the gradient with a central
finite difference along a random direction (and with the hand-written gradient,
where there is one).  Runtimes are then taken with ``bench_forward``'s timer:
the variants of one workload are timed in interleaved rounds and the best round
is kept.  A workload that fails (s2s raises, or the check fails) is reported
with its error, the others still run, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# First: importing bench_forward points s2s's cache of generated modules at a fresh temporary directory
# (removed at exit) before s2s is imported.
import bench_forward  # noqa: E402
from bench_forward import copy_args, fmt_time, machine, table, time_calls  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402

import s2s  # noqa: E402

import bench_functions as B  # noqa: E402

RATIO_TARGET = 3.0
CHECK_RTOL = 1e-4
SECTION = "## Reverse mode"


# -- workloads -------------------------------------------------------------------------


def workloads():
    rng = np.random.default_rng(0)
    n_cells = 1000
    u0 = rng.uniform(0.2, 0.8, n_cells)  # the reaction term pulls u towards 1: stable
    z = rng.standard_normal((10_000, 50))
    x = np.concatenate([rng.normal(-2.0, 0.5, 4000), rng.normal(0.5, 1.0, 4000), rng.normal(3.0, 0.7, 2000)])
    rng.shuffle(x)
    logits = np.array([0.1, -0.3, 0.5, 0.0, -1.0])
    means = np.array([-2.0, -1.0, 0.0, 1.5, 3.0])
    log_sigmas = np.log(np.array([0.6, 0.8, 1.0, 0.9, 0.7]))
    return [
        dict(name="logistic map, 10^5 steps", fun=B.logistic_average,
             by_hand=B.logistic_average_grad_by_hand,
             args=(0.3, 3.2, 100_000), argnums=(0, 1), wrt="x0, r",
             tiny=(0.3, 3.2, 1)),
        dict(name="heat stencil, 1000 cells × 1000 steps", fun=B.heat_stencil,
             by_hand=B.heat_stencil_grad_by_hand,
             args=(u0, 0.2, 0.05, 1000), argnums=(0, 1), wrt="u0 (1000), alpha",
             tiny=(u0[:8].copy(), 0.2, 0.05, 1)),
        dict(name="Asian call, 10^4 paths × 50 steps", fun=B.asian_call,
             by_hand=B.asian_call_grad_by_hand,
             args=(100.0, 0.25, 0.03, 100.0, 1.0, z), argnums=(0, 1, 2), wrt="s0, sigma, rate",
             tiny=(100.0, 0.25, 0.03, 100.0, 1.0, z[:1, :1].copy())),
        dict(name="Gaussian mixture, 10^4 points × 5 components", fun=B.mixture_loglik,
             by_hand=B.mixture_loglik_grad_by_hand,
             args=(logits, means, log_sigmas, x), argnums=(0, 1, 2), wrt="logits, means, log_sigmas (5 each)",
             tiny=(logits, means, log_sigmas, x[:1].copy())),
    ]


# -- correctness -----------------------------------------------------------------------


def shifted(args, argnums, direction, step):
    out = list(args)
    for n, d in zip(argnums, direction):
        out[n] = args[n] + step * d
    return tuple(out)


def check_gradient(primal, grads, args, argnums, eps=1e-6, seed=1):
    """Relative error of the gradient along a random direction, against a central finite difference."""
    rng = np.random.default_rng(seed)
    direction = [rng.standard_normal(np.shape(args[n])) if np.ndim(args[n]) else float(rng.standard_normal())
                 for n in argnums]
    plus, minus = primal(*shifted(args, argnums, direction, eps)), primal(*shifted(args, argnums, direction, -eps))
    fd = (plus - minus) / (2 * eps)
    along = sum(float(np.sum(np.asarray(g) * d)) for g, d in zip(grads, direction))
    return abs(along - fd) / max(abs(fd), abs(along), 1e-300), along, fd


# -- timing ----------------------------------------------------------------------------


def bench_workload(w, quick=False):
    f, args, argnums = w["fun"], w["args"], w["argnums"]
    jitted = s2s.jit(f)
    plain = numba.njit(f)
    gradient = s2s.jit(s2s.grad(f, argnums=argnums))
    variants = {
        "s2s.jit primal": lambda: jitted(*args),
        "numba.njit primal": lambda: plain(*args),
        "s2s gradient": lambda: gradient(*args),
    }
    by_hand = w["by_hand"]
    if by_hand is not None:
        hand, hand_fast = numba.njit(by_hand), numba.njit(fastmath=True)(by_hand)
        variants["hand-written"] = lambda: hand(*args)
        variants["hand-written, fastmath"] = lambda: hand_fast(*args)

    # Warm-up: compile everything, and check the gradient.
    value = jitted(*args)
    assert np.isclose(plain(*args), value, rtol=1e-12), "s2s.jit and numba.njit disagree"
    grads = gradient(*copy_args(args))
    assert len(grads) == len(argnums)
    for n, g in zip(argnums, grads):
        assert np.shape(g) == np.shape(args[n]), f"gradient of argument {n} has shape {np.shape(g)}"
    error, along, fd = check_gradient(plain, grads, args, argnums)
    print(f"{w['name']}: gradient · direction {along:.12g}, central difference {fd:.12g}, "
          f"relative error {error:.1e}")
    if not error <= CHECK_RTOL:
        raise AssertionError(f"gradient check failed: relative error {error:.2e} > {CHECK_RTOL:g} "
                             f"(gradient · direction {along!r}, central difference {fd!r})")
    if by_hand is not None:
        for name in ("hand-written", "hand-written, fastmath"):
            for g, h in zip(grads, variants[name]()):
                assert np.allclose(g, h, rtol=1e-8, atol=1e-12 * np.max(np.abs(h))), \
                    f"s2s gradient and {name} gradient differ"

    # Where the gradient's time goes: the pullback of s2s.vjp runs the compiled backward pass alone.
    try:
        _, pullback = s2s.vjp(jitted, *args)
        pullback(1.0)
        variants["pullback"] = lambda: pullback(1.0)
    except Exception as e:  # a diagnostic only: the gradient itself has worked
        print(f"   (backward-pass timing unavailable: s2s.vjp raised {type(e).__name__}: {e})")

    best, median = time_calls(variants, rounds=3 if quick else 7, budget=0.05 if quick else 0.15)

    # Per-call overhead: the same calls on a one-step problem, where the compiled work is ~nothing.
    tiny = w["tiny"]
    overhead, _ = time_calls({
        "numba.njit primal": lambda: plain(*tiny),
        "s2s.jit primal": lambda: jitted(*tiny),
        "s2s gradient": lambda: gradient(*tiny),
    }, rounds=3 if quick else 5, budget=0.05)
    return dict(best=best, median=median, overhead=overhead, error=error)


# -- report ----------------------------------------------------------------------------


def run(quick=False):
    m = machine()
    print(f"Machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}, NumPy {m['numpy']}, "
          f"Numba {m['numba']}; {m['date']}\n")
    run_rows, check_rows, hand_rows, split_rows, overhead_rows, failures = [], [], [], [], [], []
    for w in workloads():
        try:
            r = bench_workload(w, quick)
        except Exception as e:
            print(f"\n{w['name']}: FAILED\n")
            traceback.print_exc()
            print()
            message = f"{type(e).__name__}: {e}".splitlines()[0]
            failures.append((w["name"], message))
            run_rows.append((w["name"], "—", "—", "—", f"≤ {RATIO_TARGET:g}", f"**failed**: `{message}`"))
            continue
        best, median, overhead = r["best"], r["median"], r["overhead"]
        p, g = best["s2s.jit primal"], best["s2s gradient"]
        ratio = g / p
        ok = "met" if ratio <= RATIO_TARGET else "**missed**"
        run_rows.append((w["name"], fmt_time(p), fmt_time(g), f"{ratio:.2f}", f"≤ {RATIO_TARGET:g}", ok))
        check_rows.append((w["name"], w["wrt"], f"{r['error']:.1e}"))
        line = (f"{w['name']}: s2s.jit primal {fmt_time(p)}, numba.njit primal {fmt_time(best['numba.njit primal'])}, "
                f"gradient {fmt_time(g)}, gradient/primal {ratio:.2f}")
        if "hand-written" in best:
            h, hf = best["hand-written"], best["hand-written, fastmath"]
            hand_rows.append((w["name"], fmt_time(g), fmt_time(h), f"{g / h:.2f}", f"{h / p:.2f}",
                              fmt_time(hf), f"{hf / p:.2f}"))
            line += f", hand-written {fmt_time(h)} ({h / p:.2f}), with fastmath {fmt_time(hf)} ({hf / p:.2f})"
        if "pullback" in best:
            bw = best["pullback"]
            fw = max(g - bw, 0.0)
            split_rows.append((w["name"], fmt_time(g), fmt_time(bw), f"{bw / p:.2f}", fmt_time(fw), f"{fw / p:.2f}"))
            line += f"; backward pass (pullback) {fmt_time(bw)} ({bw / p:.2f}), the rest {fmt_time(fw)} ({fw / p:.2f})"
        print(line + f"  (medians: primal {fmt_time(median['s2s.jit primal'])}, "
                     f"gradient {fmt_time(median['s2s gradient'])})")
        extra = overhead["s2s gradient"] - overhead["numba.njit primal"]
        overhead_rows.append((w["name"], fmt_time(overhead["numba.njit primal"]),
                              fmt_time(overhead["s2s.jit primal"]), fmt_time(overhead["s2s gradient"]),
                              f"{100 * extra / g:.1f} %"))
        print(f"   per-call cost on a 1-step problem: numba.njit {fmt_time(overhead['numba.njit primal'])}, "
              f"s2s.jit {fmt_time(overhead['s2s.jit primal'])}, gradient {fmt_time(overhead['s2s gradient'])}")
    return dict(machine=m, run_rows=run_rows, check_rows=check_rows, hand_rows=hand_rows, split_rows=split_rows,
                overhead_rows=overhead_rows, failures=failures, quick=quick)


#: Why the target is missed, per workload (keyed by the start of its name); shown only where it is missed.
#: From reading the generated code: ``s2s.source(f, mode="grad", argnums=..., args=...)``.
WHY = {
    "logistic": """\
- **Logistic map.** Both passes are serial recurrences: each step of the primal waits for the previous `x`, each
  step of the backward pass for the previous `x_bar`, so their time is set by the chain of dependent floating-point
  operations per step.  The generated backward pass multiplies `x_bar` once per step by the step's derivative,
  computed off the chain from the taped `x`, as the hand-written one does.
""",
    "heat": """\
- **Heat stencil.** The forward pass saves a copy of `u` before every time step, as the hand-written gradient
  stores every state.  What costs is the backward pass, about seven primals (table above): it is the transpose of
  the stencil in scatter form, where each cell adds into `u_bar[i - 1]`, `u_bar[i]` and `u_bar[i + 1]`;
  those read-modify-writes carry a dependency from one cell to the next, so the loop does not vectorize, where the
  primal's gather loop does (0.3 ns per cell update).  The gradient with respect to `alpha` is also a sum over all
  cells and steps in one scalar, a serial chain of 10^6 additions that may not be reordered without fastmath.  The
  hand-written gradient gathers, and still misses the target (stored states, the `alpha` chain); reaching it would
  take transposing stencils into gather form, which s2s does not do.
""",
    "Asian": """\
- **Asian call.** The forward pass tapes both `s` and the factor `exp(drift + vol z)` at every step; the backward
  pass reuses the taped exponentials and is cheap.
""",
    "Gaussian": """\
- **Gaussian mixture.** The forward pass tapes the exponentials and the scalars each component's term needs; the
  hand-written gradient needs no tape at all: the responsibilities give it in one pass, cheaper than the primal.
""",
}


def section(r) -> str:
    m = r["machine"]
    runs = r["run_rows"]
    missed = [row[0] for row in runs if "missed" in row[-1]]
    failed = [name for name, _ in r["failures"]]
    verdict = "Gradient / primal ≤ 3: target " + (f"**missed** for: {'; '.join(missed)}" if missed
                                                   else "met for every workload that ran") + "."
    if failed:
        verdict += f"  **Failed** (s2s raised or the gradient check failed): {'; '.join(failed)}."
    chosen = [text for key, text in WHY.items() if any(name.startswith(key) for name in missed)]
    why = ("Why the target is missed where it is:\n\n" + "".join(chosen) + "\n") if chosen else ""
    rounds = "3 interleaved rounds of ≥ 0.05 s" if r["quick"] else "7 interleaved rounds of ≥ 0.15 s"
    hand = split = ""
    if r["hand_rows"]:
        hand = f"""
A hand-written reverse-mode gradient compiled with `numba.njit` (in `tools/bench_functions.py`: the primal's loop,
its states stored in an array, then a backward sweep; one pass through the responsibilities for the mixture)
separates the cost of the mathematics from the cost of the code s2s generates.  The last two columns compile the
same hand-written code with `fastmath=True`, which lets LLVM reorder floating-point sums (s2s does not use it):

{table(("workload", "s2s gradient", "hand-written", "s2s / hand-written", "hand-written / primal",
        "hand-written, fastmath", "fastmath / primal"), r['hand_rows'])}
"""
    if r["split_rows"]:
        split = f"""
Where the gradient's time goes.  The gradient is a forward pass, which computes the value and records what the
backward pass needs (the tape), then the backward pass.  The pullback returned by `s2s.vjp(s2s.jit(f), *args)`
runs the compiled backward pass alone, on the same tape; the rest of the gradient's time is the forward pass with
its taping (and the entry point's per-call cost, last table).  Both as multiples of the primal:

{table(("workload", "s2s gradient", "backward pass (pullback)", "/ primal", "the rest: forward pass, taping",
        "/ primal"), r['split_rows'])}
"""
    return f"""{SECTION}

Measured {m['date']} on {m['cpu']} ({m['cores']} cores available), {m['os']};
Python {m['python']}, NumPy {m['numpy']}, Numba {m['numba']}.
Regenerate with `python tools/bench_reverse.py --write`; the workloads are in `tools/bench_functions.py`.
Repeated runs vary by up to about ±10 % per time (so up to ±20 % on a ratio).

{verdict}

### Runtime: compiled gradient vs compiled primal

All in one process, after a warm-up call that compiles everything.  "s2s.jit primal" is `s2s.jit(f)(*args)`;
"s2s gradient" is `s2s.jit(s2s.grad(f, argnums=...))(*args)`, which returns the gradients only.  Times are per
call, the best of {rounds} each.

{table(("workload", "s2s.jit primal", "s2s gradient", "gradient / primal", "target", "met?"), runs)}

The workloads (all loops, as written in `tools/bench_functions.py`): `logistic_average`, the time average of the
logistic map at r = 3.2; `heat_stencil`, an explicit 1-D heat equation with a logistic reaction term, returning
the mean square of the final field; `asian_call`, an arithmetic-average Asian call over pre-drawn normals
`z[path, step]` (the payoff is path-dependent and has a kink); `mixture_loglik`, the log-likelihood of a 1-D
Gaussian mixture with the weights a softmax of logits and a hand-written logsumexp over the components.  Each
gradient was checked once against a central finite difference (step 1e-6) along a random direction; the check
fails above a relative error of {CHECK_RTOL:g}:

{table(("workload", "gradient with respect to", "relative error"), r['check_rows'])}
{hand}{split}
Per-call cost of the Python entry points on one-step versions of the same workloads (8 cells for the stencil, one
path of one step, one data point), where the compiled work is negligible; the last column is what the gradient's
entry point adds over `numba.njit`, as a share of the gradient time in the first table:

{table(("workload", "numba.njit primal", "s2s.jit primal", "s2s gradient", "overhead / gradient time"),
       r['overhead_rows'])}

{why}""".rstrip("\n") + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the Reverse mode section of docs/performance.md")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke test; do not --write)")
    args = parser.parse_args(argv)
    results = run(quick=args.quick)
    text = section(results)
    print("\n" + text)
    if results["failures"]:
        print("FAILED: " + "; ".join(f"{name}: {message}" for name, message in results["failures"]))
        if args.write:
            print(f"not writing {bench_forward.PAGE.relative_to(bench_forward.ROOT)}: some workloads failed")
        return 1
    if args.write:
        bench_forward.write_page(text, SECTION)
    return 0


if __name__ == "__main__":
    sys.exit(main())
