"""Checkpoint benchmark: peak memory and time of the gradient of a long integrator, with and without
``s2s.checkpoint``.

    python tools/bench_checkpoint.py            # print the results
    python tools/bench_checkpoint.py --write    # ... and rewrite the "Checkpoint" section of docs/performance.md

Each variant runs in a process of its own (so that peak memory is its own): one call to compile, one
timed call, and the process's peak resident memory over that of the same variant run for one segment
of steps (which compiles the same code: what remains is what the long run keeps).  The variants: plain (every step's values taped), each step checkpointed (its
input taped), and two levels (segments of sqrt(N) steps checkpointed: sqrt(N) inputs taped, and one
segment's steps while its backward pass runs), and ``s2s.checkpointed`` loops with a budget of snapshots
(binomial checkpointing).  A second run takes a million steps on a small state, plain and budgeted.
All are compiled with ``s2s.jit``; the gradients are compared with the plain one.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

SECTION = "## Checkpoint"
STEPS, WIDTH = 40_000, 256
SEGMENT = 200  # steps per checkpointed segment: sqrt(STEPS)
LONG, NARROW = 1_000_000, 16  # the million-step run
TIGHT, LOOSE, TINY = 50, 400, 10  # snapshot budgets

PROGRAM = '''
import numpy as np
import s2s


def step(x, k):
    return x + 0.01 * np.tanh(k * x) * np.sin(x)


def plain(x, k, n):
    for _ in range(n):
        x = step(x, k)
    return np.sum(x ** 2)


def each_step(x, k, n):
    for _ in range(n):
        x = s2s.checkpoint(step)(x, k)
    return np.sum(x ** 2)


def segment(x, k, m):
    for _ in range(m):
        x = step(x, k)
    return x


def two_levels(x, k, n, m):
    for _ in range(n // m):
        x = s2s.checkpoint(segment)(x, k, m)
    return np.sum(x ** 2)


def budgeted(x, k, n, snapshots):
    for _ in s2s.checkpointed(range(n), snapshots=snapshots):
        x = step(x, k)
    return np.sum(x ** 2)
'''

RUN = '''
import json, resource, sys, time
import numpy as np
sys.path.insert(0, {directory!r})
import program
x, k, n, m = np.linspace(0.1, 1.0, {width}), 0.7, {steps}, {segment}
variant, snapshots = {variant!r}, {snapshots!r}
fun = getattr(program, variant)
args = (x, k, n, m) if variant == "two_levels" else (x, k, n, snapshots) if snapshots else (x, k, n)
grad = __import__("s2s").jit(__import__("s2s").grad(fun, argnums=(0, 1)))
grad(*args)
start = time.perf_counter()
g = grad(*args)
seconds = time.perf_counter() - start
np.save({directory!r} + "/" + {name!r} + f"_{{n}}.npy", g[0])
print(json.dumps({{"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
'''


#: name → (function, snapshots, steps, width, label)
VARIANTS = {
    "plain": ("plain", None, STEPS, WIDTH, "plain (every step taped)"),
    "each_step": ("each_step", None, STEPS, WIDTH, "each step checkpointed"),
    "two_levels": ("two_levels", None, STEPS, WIDTH, f"segments of {SEGMENT} steps checkpointed"),
    "loose": ("budgeted", LOOSE, STEPS, WIDTH, f"`s2s.checkpointed`, {LOOSE} snapshots"),
    "tight": ("budgeted", TIGHT, STEPS, WIDTH, f"`s2s.checkpointed`, {TIGHT} snapshots"),
    "tiny": ("budgeted", TINY, STEPS, WIDTH, f"`s2s.checkpointed`, {TINY} snapshots"),
    "long_plain": ("plain", None, LONG, NARROW, "plain (every step taped)"),
    "long_tight": ("budgeted", TIGHT * 2, LONG, NARROW, f"`s2s.checkpointed`, {TIGHT * 2} snapshots"),
}


def measure(directory: Path, name: str, steps: int) -> dict:
    variant, snapshots, _, width, _ = VARIANTS[name]
    code = RUN.format(directory=str(directory), width=width, steps=steps, segment=SEGMENT, variant=variant,
                      snapshots=snapshots, name=name)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(directory: Path) -> dict:
    import numpy as np

    (directory / "program.py").write_text(PROGRAM)
    results = {}
    for name, (_, _, steps, _, _) in VARIANTS.items():
        measure(directory, name, SEGMENT)  # compiled into the cache first: no run below pays for compiling
        results[name] = measure(directory, name, steps)
        results[name]["peak_mb"] -= measure(directory, name, SEGMENT)["peak_mb"]
    for name, (_, _, steps, _, _) in VARIANTS.items():
        reference = np.load(directory / f"{'long_plain' if steps == LONG else 'plain'}_{steps}.npy")
        found = np.load(directory / f"{name}_{steps}.npy")
        results[name]["max_difference"] = float(np.max(np.abs(found - reference)))
    return results


def section(results: dict) -> str:
    from bench_forward import machine, table

    from s2s.revolve import revolve, revolve_next

    m = machine()

    def memory(mb):
        return f"{mb:.0f} MB" if mb >= 1 else "< 1 MB"

    def rows(steps):
        return [[label, memory(results[name]['peak_mb']), f"{results[name]['seconds']:.2f} s",
                 "reference" if variant == "plain" else f"{results[name]['max_difference']:.1e}"]
                for name, (variant, _, n, _, label) in VARIANTS.items() if n == steps]

    def reruns(steps, snapshots):
        """How many times the backward pass runs the steps again, in all (in forward sweeps of the loop)."""
        plan, total = revolve(steps, snapshots), 0
        while True:
            first, last, *_ = revolve_next(plan)
            if first < 0:
                return f"{total / steps:.1f}"
            total += last - first

    header = ["variant", "peak memory", "time", "largest difference from plain"]
    return f"""{SECTION}

Gradient of an integrator of {STEPS:,} steps on a state of {WIDTH} floats (`s2s.jit(s2s.grad(...))`),
each variant in a process of its own, its code compiled beforehand: peak resident memory above that of
the same code run for {SEGMENT} steps, and the time of one call.
One state is {WIDTH * 8 // 1024} KiB; {STEPS:,} of them are {STEPS * WIDTH * 8 / 2**20:.0f} MiB. Measured on {m['cpu']} ({m['cores']} cores) by
`python tools/bench_checkpoint.py --write`.

{table(header, rows(STEPS))}

Checkpointing each step tapes its input instead of its intermediates; checkpointing segments of
{SEGMENT} steps tapes {STEPS // SEGMENT} segment inputs, and one segment's steps at a time in the
backward pass, for one more forward run of the integrator. `s2s.checkpointed(range(n), snapshots=k)`
runs the steps again in the order of binomial checkpointing, holding at most `k` states: here
{reruns(STEPS, LOOSE)} more forward runs of the integrator for {LOOSE} snapshots, {reruns(STEPS, TIGHT)} for \
{TIGHT}, {reruns(STEPS, TINY)} for {TINY}, and {reruns(LONG, 2 * TIGHT)} for the million steps below (each \
step, in the backward pass, also runs once more for its own residuals).

A million steps on a state of {NARROW} floats:

{table(header, rows(LONG))}
"""


def main(argv=None):
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the Checkpoint section of docs/performance.md")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        text = section(run(Path(directory)))
    print(text)
    if options.write:
        import bench_forward

        bench_forward.write_page(text, SECTION)


if __name__ == "__main__":
    main()
