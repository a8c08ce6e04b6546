"""Backends as objects: the registry, plain Python without Numba, and the numba backend's registrations."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import s2s
from s2s import backends, building

ROOT = Path(__file__).resolve().parents[1]


def run_script(tmp_path, code: str) -> subprocess.CompletedProcess:
    """``code`` run in a fresh interpreter (from a file: s2s reads its functions' source), this s2s first."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "S2S_CACHE_DIR": str(tmp_path / "cache"),
                               "PATH": "/usr/bin:/bin"})


def test_plain_python_never_imports_numba(tmp_path):
    done = run_script(tmp_path, """
        import sys
        import numpy as np
        import s2s

        def f(x):
            return np.sum(np.sin(x) ** 2) * x[0]

        assert s2s.grad(lambda x: x * x)(3.0) == 6.0
        x = np.arange(1.0, 4.0)
        s2s.vjp(f, x)[1](1.0)
        s2s.vmap(s2s.grad(f))(np.ones((2, 3)))
        s2s.jacrev(f)(x), s2s.hessian(f)(x)
        s2s.source(s2s.vmap(f), args=(np.ones((2, 3)),))

        def h(x):
            return np.sin(x) * x

        s2s.source(s2s.vmap(s2s.grad(h)), target="cuda", args=(x,))  # rendering cuda code needs no Numba
        assert "numba" not in sys.modules, "plain Python imported Numba"
        print("ok")
    """)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_the_numba_backend_registers_the_runtime_when_it_loads(tmp_path):
    done = run_script(tmp_path, """
        import sys
        import numpy as np
        import s2s
        from s2s import runtime

        def f(x):
            return np.sum(np.mean(np.tile(x, 2) ** 2, axis=0))

        x = np.arange(6.0).reshape(2, 3)
        expected = s2s.grad(f)(x)
        assert "numba" not in sys.modules and runtime.prange is range
        assert np.allclose(s2s.jit(s2s.grad(f))(x), expected)
        import numba
        assert runtime.prange is numba.prange and runtime.types is numba.types
        print("ok")
    """)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def cube(x):
    return x ** 3


def test_backends_are_named_once_and_stand_for_themselves():
    numba = backends.named("numba")
    assert backends.named("python") is backends.PYTHON and backends.named("numba") is numba
    assert (numba.prefers_loops, numba.parallel) == (True, True)
    assert (backends.PYTHON.prefers_loops, backends.PYTHON.parallel) == (False, False)
    assert building.unwrap(s2s.jit(cube))[1] is numba
    assert building.backend_of(s2s.grad(s2s.jit(cube))) is numba
    assert building.backend_of(s2s.grad(cube)) is backends.PYTHON
    with pytest.raises(ValueError, match="unknown backend 'fortran'"):
        backends.named("fortran")


def test_source_only_builds_nothing():
    built = building.build(building.key_of(cube), "jvp", (True,), 1, backends.named("numba"), only_source=True)
    assert "def cube_jvp" in built.source and not hasattr(built, "call")


def test_the_whole_corpus_runs_in_plain_python_without_numba(tmp_path):
    """Every corpus function's VJP and JVP in a process that never loads Numba: the runtime's NumPy
    bodies must not lean on Numba's names (literal_unroll once did, and crashed there)."""
    done = run_script(tmp_path, f"""
import sys
sys.path.insert(0, {str(ROOT / "tests")!r})
import numpy as np
import s2s
import corpus
from derivatives import random_like
for case in corpus.CASES:
    out, f_vjp = s2s.vjp(case.fun, *case.args)
    f_vjp(random_like(out, np.random.default_rng(1)))
    tangents = tuple(random_like(a, np.random.default_rng(0)) if i in case.argnums else None
                     for i, a in enumerate(case.args))
    s2s.jvp(case.fun, case.args, tangents)
assert "numba" not in sys.modules, "numba was imported"
print("ok", len(corpus.CASES))
""")
    assert done.returncode == 0 and done.stdout.startswith("ok"), done.stderr[-3000:]
