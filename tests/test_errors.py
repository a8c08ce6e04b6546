"""Each refusal: the right error class, naming the file, the line and the construct."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import refused

import s2s
from s2s.errors import CompileError, NoRuleError, S2SError, SourceUnavailableError, UnsupportedSyntaxError


@pytest.mark.parametrize("fun, construct, line_text", [
    (refused.uses_with, "'with' statement", "with open"),
    (refused.uses_try, "'try' statement", "try:"),
    (refused.generator, "'yield'", "yield x"),
    (refused.uses_global, "'global' statement", "global STATE"),
    (refused.defines_class, "class definition", "class Box"),
    (refused.comprehension, "comprehension with filters", "[v * v for v in x if v > 0.0]"),
    (refused.generator_expression, "comprehension here", "squares = (v * v for v in x)"),
    (refused.nested_def, "plain parameters only", "return inner(x)"),
    (refused.inner_lambda, "lambda inside the function other than one bound to a name", "lambda y"),
    (refused.dict_read_by_unknown_key, "known only when the code runs", "return d[key]"),
    (refused.starred_call, "starred", "*args"),
    (refused.while_else, "'while ... else'", "while x > 1.0"),
    (refused.loops_over_reversed, "reversed", "reversed(x)"),
    (refused.python_list, "writing into the list values", "values[0] = x * 2"),
    (refused.in_place_numpy_call, "expression statement", "np.copyto"),
])
def test_unsupported_syntax_names_file_line_and_construct(fun, construct, line_text):
    with pytest.raises(UnsupportedSyntaxError) as info:
        s2s.jvp(fun, (np.ones(2),), (np.ones(2),))
    error = info.value
    assert construct in str(error)
    assert error.filename == "refused.py"
    source_lines, start = inspect.getsourcelines(fun)
    assert start <= error.lineno < start + len(source_lines)
    assert line_text in str(error)


def test_undefined_name():
    with pytest.raises(S2SError, match="'not_defined' is not defined"):
        s2s.source(refused.undefined_name)


def test_missing_rule_names_the_function_and_line():
    with pytest.raises(NoRuleError, match=r"refused.py:\d+: .*np.median") as info:
        s2s.jvp(refused.no_rule, (np.ones(3),), (np.ones(3),))
    assert "return np.median(x)" in str(info.value)


@pytest.mark.parametrize("fun, args, message", [
    (refused.keyword_the_rule_lacks, (np.ones(3),), "np.sum does not take the argument initial="),
])
def test_arguments_a_rule_does_not_cover_are_refused(fun, args, message):
    with pytest.raises(NoRuleError, match=message):
        s2s.jvp(fun, args, args)


def test_missing_rule_is_fine_where_nothing_is_differentiated():
    out, out_dot = s2s.jvp(refused.no_rule, (np.ones(3),), (None,))
    assert out == 1.0 and np.all(out_dot == 0.0)


def test_recursion_is_refused():
    with pytest.raises(S2SError, match="recursive"):
        s2s.jvp(refused.recursive, (2.0, 3), (1.0, None))


def test_source_must_be_readable():
    namespace = {}
    exec("def f(x):\n    return x * x\n", namespace)
    with pytest.raises(SourceUnavailableError, match="cannot read the source"):
        s2s.jvp(namespace["f"], (1.0,), (1.0,))


def test_numba_failure_names_generated_and_source_lines():
    x = np.ones((2, 3))
    with pytest.raises(CompileError) as info:
        s2s.jvp(s2s.jit(refused.numba_cannot), (x,), (x,))
    message = str(info.value)
    assert "np.heaviside(x, 0.5)" in message
    assert "generated line" in message and "refused.py:" in message


def test_non_function_is_refused():
    with pytest.raises(TypeError, match="Python functions"):
        s2s.jvp(3.0, (1.0,), (1.0,))


def _two_outputs(x, y):
    return x * y, x + y


@pytest.mark.parametrize("wrap", [lambda f: f, s2s.jit, s2s.vmap, lambda f: s2s.jit(s2s.vmap(f))],
                         ids=["python", "numba", "vmap", "numba vmap"])
def test_grad_of_a_function_returning_a_tuple_is_refused_in_its_words(wrap):
    """Compiled, the seed of the backward pass failed to type-check, in Numba's words; now every way says it."""
    x = np.linspace(0.0, 1.0, 3)
    with pytest.raises(TypeError, match="grad requires a function with a scalar output"):
        wrap(s2s.grad(_two_outputs))(x, x)
