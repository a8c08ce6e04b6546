"""Checkpoint benchmark: peak memory and time of the gradient of a long integrator, with and without
``s2s.checkpoint``.

    python tools/bench_checkpoint.py            # print the results
    python tools/bench_checkpoint.py --write    # ... and rewrite the "Checkpoint" section of docs/performance.md

Each variant runs in a process of its own (so that peak memory is its own): one call to compile, one
timed call, and the process's peak resident memory over that of the same variant run for one segment
of steps (which compiles the same code: what remains is what the long run keeps).  The variants: plain (every step's values taped), each step checkpointed (its
input taped), and two levels (segments of sqrt(N) steps checkpointed: sqrt(N) inputs taped, and one
segment's steps while its backward pass runs).  All are compiled with ``s2s.jit``; the gradients are
compared with the plain one.
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
'''

RUN = '''
import json, resource, sys, time
import numpy as np
sys.path.insert(0, {directory!r})
import program
x, k, n, m = np.linspace(0.1, 1.0, {width}), 0.7, {steps}, {segment}
variant = {variant!r}
fun = getattr(program, variant)
args = (x, k, n, m) if variant == "two_levels" else (x, k, n)
grad = __import__("s2s").jit(__import__("s2s").grad(fun, argnums=(0, 1)))
grad(*args)
start = time.perf_counter()
g = grad(*args)
seconds = time.perf_counter() - start
np.save({directory!r} + "/" + variant + f"_{{n}}.npy", g[0])
print(json.dumps({{"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
'''


def measure(directory: Path, variant: str, steps: int) -> dict:
    code = RUN.format(directory=str(directory), width=WIDTH, steps=steps, segment=SEGMENT, variant=variant)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(directory: Path) -> dict:
    import numpy as np

    (directory / "program.py").write_text(PROGRAM)
    results = {}
    for variant in ("plain", "each_step", "two_levels"):
        results[variant] = measure(directory, variant, STEPS)
        results[variant]["peak_mb"] -= measure(directory, variant, SEGMENT)["peak_mb"]
    reference = np.load(directory / f"plain_{STEPS}.npy")
    for variant in ("each_step", "two_levels"):
        found = np.load(directory / f"{variant}_{STEPS}.npy")
        results[variant]["max_difference"] = float(np.max(np.abs(found - reference)))
    return results


def section(results: dict) -> str:
    from bench_forward import machine, table

    m = machine()
    rows = []
    names = {"plain": "plain (every step taped)", "each_step": "each step checkpointed",
             "two_levels": f"segments of {SEGMENT} steps checkpointed"}
    for variant, label in names.items():
        r = results[variant]
        rows.append([label, f"{r['peak_mb']:.0f} MB", f"{r['seconds']:.2f} s",
                     "reference" if variant == "plain" else f"{r['max_difference']:.1e}"])
    return f"""{SECTION}

Gradient of an integrator of {STEPS:,} steps on a state of {WIDTH} floats (`s2s.jit(s2s.grad(...))`),
each variant in a process of its own: peak resident memory above that of the same code run for
{SEGMENT} steps (the compiler's own memory cancels out), and the time of one call after compiling.
One state is {WIDTH * 8 // 1024} KiB; {STEPS:,} of them are {STEPS * WIDTH * 8 / 2**20:.0f} MiB. Measured on {m['cpu']} ({m['cores']} cores) by
`python tools/bench_checkpoint.py --write`.

{table(["variant", "peak memory", "time", "largest difference from plain"], rows)}

Checkpointing each step tapes its input instead of its intermediates; checkpointing segments of
{SEGMENT} steps tapes {STEPS // SEGMENT} segment inputs, and one segment's steps at a time in the
backward pass, for one more forward run of the integrator. Binomial schedules (revolve), which bound
memory by a budget the user gives, are not built yet.
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
