"""Properties of the compiled code itself: the JVP of allocation-free scalar code is allocation-free.

(Allocation-free code is also what a CUDA device function needs.)  The
generated source is compiled here without Numba's cache, because Numba does
not show the machine code of cached functions.
"""

from __future__ import annotations

import functools
import inspect
import numbers
import types

import numba
import pytest
from corpus import CASES
from derivatives import assert_close, tangents_for

import s2s


def _scalar(value) -> bool:
    if isinstance(value, tuple):
        return all(_scalar(v) for v in value)
    return isinstance(value, numbers.Number)


SCALAR_CASES = [c for c in CASES if c.numba and all(_scalar(a) for a in c.args)]
s2s.backends.named("numba")  # loaded: the runtime's overloads, which the generated code calls, registered with Numba


def compile_fresh(case, mode):
    """The generated module, every function compiled by Numba without its disk cache; the main one."""
    namespace: dict = {}
    exec(compile(s2s.source(case.fun, mode=mode, argnums=case.argnums), "<generated>", "exec"), namespace)
    generated = [k for k, v in namespace.items()
                 if isinstance(v, types.FunctionType) and v.__code__.co_filename == "<generated>"]
    for name in generated:
        namespace[name] = numba.njit(namespace[name])
    return namespace[case.name if mode == "primal" else f"{case.name}_jvp"]


def allocates(dispatcher) -> bool:
    return "NRT_MemInfo_alloc" in "".join(dispatcher.inspect_llvm().values())


def test_there_are_scalar_cases():
    assert len(SCALAR_CASES) >= 10


@functools.lru_cache(maxsize=None)
def compiled(case_index):
    """(primal, JVP) of a scalar case, compiled fresh and run once; the JVP checked against s2s.jvp."""
    case = SCALAR_CASES[case_index]
    main = compile_fresh(case, "jvp")
    signature = inspect.signature(case.fun).parameters
    args = case.args + tuple(p.default for p in list(signature.values())[len(case.args):])
    tangents = tangents_for(case.args, case.argnums)
    by_name = dict(zip(signature, tangents))
    params = main.py_func.__code__.co_varnames[:main.py_func.__code__.co_argcount]
    extra = [by_name[p[:-len("_dot")]] for p in params[len(args):]]
    assert_close(main(*args, *extra), s2s.jvp(case.fun, case.args, tangents), rtol=1e-12)
    primal = compile_fresh(case, "primal")
    primal(*args)
    return primal, main


@pytest.mark.parametrize("index", range(len(SCALAR_CASES)), ids=[c.name for c in SCALAR_CASES])
def test_jvp_of_scalar_code_allocates_only_if_the_primal_does(index):
    primal, jvp = compiled(index)
    assert allocates(primal) or not allocates(jvp), "the JVP allocates where the primal does not"


def test_most_scalar_cases_are_allocation_free():
    free = [i for i in range(len(SCALAR_CASES)) if not allocates(compiled(i)[1])]
    assert len(free) >= 10
