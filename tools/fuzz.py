"""Long runs of the random programs of tests/random_programs.py; prints each failing program as source.

    python tools/fuzz.py 2000 --seed 1          # 2000 programs in Python
    python tools/fuzz.py 50 --seed 1 --numba    # under s2s.jit
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from random_programs import check, programs, source  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("examples", type=int, nargs="?", default=200, help="how many programs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--numba", action="store_true", help="run them under s2s.jit")
    options = parser.parse_args(argv)
    directory = Path(tempfile.mkdtemp(prefix="s2s_fuzz_"))
    failures = []

    @settings(max_examples=options.examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(programs, st.integers(0, 2**16))
    def run(lines, point_seed):
        try:
            check(lines, point_seed, directory, jit=options.numba)
        except Exception as error:  # every failure is reported, then the run goes on
            failures.append((lines, point_seed, error))
            print(f"# FAILED (point seed {point_seed}): {type(error).__name__}: {str(error).splitlines()[0][:300]}")
            print(source(lines), flush=True)

    seed(options.seed)(run)()
    print(f"{len(failures)} failing programs of {options.examples}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
