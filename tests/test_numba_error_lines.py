"""A Numba compile failure names the user's line where it failed, inside the helper, then its callers."""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest

import s2s
from s2s.errors import CompileError


def steps(x):
    y = x * 2.0
    return np.sum(np.heaviside(y, 0.5) * y)  # Numba has no np.heaviside


def calls_steps(x):
    z = np.sin(x)
    return steps(z) + 1.0


def switches_kind(x, n):
    acc = 0.0
    for i in range(n):
        if i > 2:
            acc = x  # a float, then an array: one variable, two types
    return np.sum(acc)


def calls_switches_kind(x):
    return switches_kind(x, 3) * 2.0


def line_of(fun, text) -> int:
    lines, first = inspect.getsourcelines(fun)
    return first + next(k for k, line in enumerate(lines) if text in line)


def told_lines(message) -> list[int]:
    return [int(n) for n in re.findall(r"test_numba_error_lines\.py:(\d+)", message)]


@pytest.mark.parametrize("transform", ["call", "grad"])
def test_unsupported_function_in_a_helper_names_the_helper_line(transform):
    fun = s2s.jit(calls_steps) if transform == "call" else s2s.grad(s2s.jit(calls_steps))
    with pytest.raises(CompileError, match="heaviside") as info:
        fun(np.ones(3))
    message = str(info.value)
    assert "from your source, test_numba_error_lines.py" in message
    lines = told_lines(message)
    assert lines[0] == line_of(steps, "np.heaviside")
    assert line_of(calls_steps, "steps(z)") in lines[1:]  # the call that led there comes after


def test_type_unification_failure_in_a_helper_names_the_helper_line():
    with pytest.raises(CompileError, match="Cannot unify") as info:
        s2s.jit(calls_switches_kind)(np.ones(3))
    lines = told_lines(str(info.value))
    assert lines[0] in (line_of(switches_kind, "acc = x"), line_of(switches_kind, "np.sum(acc)"))
    assert lines[-1] == line_of(calls_switches_kind, "switches_kind(x, 3)")
