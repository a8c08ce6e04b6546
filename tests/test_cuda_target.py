"""The cuda target under Numba's CUDA simulator: every derivative equals the CPU backend's, and code the
device cannot run is refused naming the user's line.

The simulator is chosen by ``NUMBA_ENABLE_CUDASIM=1`` before Numba's CUDA module is imported, which
this process must not do (the rest of the suite shares it): the cases (``cuda_cases``) run once, in a
child process, and each test reads its case's outcome.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import cuda_cases

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def outcomes() -> dict:
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1", "PYTHONPATH": os.pathsep.join(
        [str(ROOT), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, str(Path(cuda_cases.__file__))], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=540)
    found = dict(json.loads(line) for line in run.stdout.splitlines() if line.startswith("["))
    assert found, f"the cases did not run:\n{run.stdout}\n{run.stderr}"
    return found


@pytest.mark.parametrize("case", list(cuda_cases.CASES))
def test_case(outcomes, case):
    assert outcomes.get(case) == "ok", outcomes.get(case, "the case did not report")

