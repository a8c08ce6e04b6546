"""Functions s2s must refuse, each with the construct named in its error."""

import numpy as np

STATE = 0.0


def uses_with(x):
    with open("data") as fh:
        fh.read()
    return x


def uses_try(x):
    try:
        y = 1.0 / x
    except ZeroDivisionError:
        y = 0.0
    return y


def generator(x):
    yield x


def uses_global(x):
    global STATE
    STATE = x
    return x


def defines_class(x):
    class Box:
        pass

    return x


def comprehension(x):
    return np.sum(np.array([v * v for v in x if v > 0.0]))


def generator_expression(x):
    squares = (v * v for v in x)
    return np.sum(squares)


def nested_def(x):
    def inner(y, k=2.0):
        return y * k

    return inner(x)


def inner_lambda(x):
    return (lambda y: y * 2)(x)


def dict_read_by_unknown_key(x):
    d = {"a": x, "b": 2.0 * x}
    key = "a" if x[0] > 0.0 else "b"
    return d[key]


def starred_call(x):
    args = (x, x)
    return np.maximum(*args)


def while_else(x):
    while x > 1.0:
        x = x / 2
    else:
        x = x + 1
    return x


def loops_over_reversed(x):
    s = 0.0
    for v in reversed(x):
        s += v
    return s


def python_list(x):
    values = [x, x]
    values[0] = x * 2
    return values[0]


def in_place_numpy_call(x):
    y = np.zeros(3)
    np.copyto(y, x)
    return y


def undefined_name(x):
    return x * not_defined  # noqa: F821


def no_rule(x):
    return np.median(x)


def recursive(x, n):
    if n == 0:
        return x
    return recursive(x * x, n - 1)


def numba_cannot(x):
    return np.heaviside(x, 0.5) * x


def keyword_the_rule_lacks(x):
    return np.sum(x * x, initial=1.0)
