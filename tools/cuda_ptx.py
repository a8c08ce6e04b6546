"""Compile the cuda target's kernels to PTX with NVVM, on a machine without a GPU.

Numba's simulator (what CI runs) executes the generated kernels as Python, so it does not check that the
CUDA target can type and compile them.  This compiles each kernel of the cuda cases (``tests/cuda_cases.py``)
and of ``tools/bench_cuda.py`` for a real device instead, stopping short of loading it::

    pip install nvidia-cuda-nvcc-cu12          # NVVM and libdevice; no GPU or driver needed
    CUDA_HOME=$(python -c "import nvidia.cuda_nvcc, os; print(os.path.dirname(nvidia.cuda_nvcc.__file__))") \\
        python tools/cuda_ptx.py

Each case prints ``ok`` or Numba's error.  A kernel compiled here can still fail on a device only where the
driver rejects the PTX (a compute capability below ``--cc``).
"""

from __future__ import annotations

import argparse
import sys
import traceback
import types
from pathlib import Path

import numpy as np
from numba import cuda, typeof
from numba.cuda import dispatcher as numba_dispatcher

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import bench_cuda  # noqa: E402
import cuda_cases  # noqa: E402
from s2s.backends import cuda as cuda_backend  # noqa: E402


class _Unlaunched(np.ndarray):
    """An output the kernel was compiled for but did not write."""

    def copy_to_host(self):
        return self


def compiling_launcher(cc):
    """``Launcher._launched`` that compiles the kernel for the arguments' types instead of running it."""

    def launched(self, _cuda, size, args):
        tapes = [np.empty((1, size), np.float32 if dtype == "float" and self.floats else
                          np.float64 if dtype == "float" else dtype) for _, dtype in self.launch.tapes]
        sizes = [np.zeros(self.launch.slots, np.int64)] if self.launch.tapes else []
        signature = tuple(typeof(a) for a in [*args, *tapes, *sizes])
        cuda.compile_ptx(self.kernel.py_func, signature, cc=cc)
        return True
    return launched


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cc", default="8.0", help="the compute capability to compile for (default 8.0)")
    parser.add_argument("cases", nargs="*", help="the checks to compile (default: all of them)")
    options = parser.parse_args()
    cc = tuple(int(part) for part in options.cc.split("."))
    cuda_backend.Launcher._launched = compiling_launcher(cc)
    numba_dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=cc)  # (device functions)
    cuda_backend._as_kernel_argument = lambda value, _cuda: value
    cuda.device_array = lambda shape, dtype: np.empty(shape, dtype).view(_Unlaunched)
    cuda_cases.same = lambda *results: None  # nothing ran: nothing to compare
    checks = {n: check for n, check in cuda_cases.CASES.items() if check.__qualname__.startswith("against_cpu")}
    checks["golden"] = cuda_cases.golden_functions
    for label, transform, args in bench_cuda.workloads(64, np.random.default_rng(0)):
        checks[f"bench_cuda: {label}"] = cuda_cases.against_cpu(transform, *args)
    names = options.cases or list(checks)
    failed = 0
    for name in names:
        try:
            checks[name]()
            print(f"{name}: ok", flush=True)
        except Exception:
            failed += 1
            print(f"{name}: FAILED\n{traceback.format_exc()}", flush=True)
    print(f"{len(names) - failed} of {len(names)} compiled")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
