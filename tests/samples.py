"""Small functions the API, front-end and error tests transform (s2s reads source from files)."""

import functools
import math

import numpy as np
from numpy import cos as cosine

import s2s

RATE = 0.5
WEIGHTS = np.array([1.0, 2.0, 3.0])


def seed_f(x):
    return 3.0 * np.sin(x) + np.cos(x / 2.0)


def with_default(x, scale=2.0):
    return scale * x * x


def imported_alias(x):
    return cosine(x) * RATE


def uses_global_array(x):
    return np.dot(WEIGHTS, x)


def make_closure(a):
    def inner(x):
        return a * math.sin(x)

    return inner


def power(x, p):
    return x**p


square_via_partial = functools.partial(power, p=2.0)


def method_calls(x):
    return x.sum() + x.T.dot(x) + x.reshape(3, 1).max()


def conditional_expression(x):
    y = x if x > 0 else -x
    return y * y


def integer_argument(x, n):
    y = x
    for _ in range(n):
        y = y * x
    return y


def pair(x, y):
    return x * y, x + y


def tuple_argument(state, dt):
    x, v = state
    return x + dt * v, v - dt * x


def helper_scaled(x):
    return 2.0 * x


@s2s.jit
def decorated_helper(x):
    return x * x


def calls_decorated(x):
    return decorated_helper(x) + helper_scaled(x)


def writes_into(out, x):
    for i in range(len(out)):
        out[i] = x * i


def calls_writer(x):
    out = np.zeros(4)
    writes_into(out, x)
    return np.sum(out)


def overwrites_operand(x, y):
    y = x / y
    x = np.exp(x)
    return x * y


def in_place_updates(x, y):
    x = x + 0.0
    x *= y
    x /= y * y
    x -= y
    return x


def inactive_output(x):
    return 3.0


def mixed_activity(x, y):
    z = np.zeros(3)
    z[0] = 1.0
    z[1] = x
    return z * y


def lambdas():
    return (lambda x: x * 2.0), (lambda x, y: x * y)


def two_lambdas_on_one_line():
    return (lambda x: x + 1.0), (lambda x: x * 3.0)


def loops_over_rows(m):
    total = 0.0
    for row in m:
        total += np.sum(row * row)
    return total


def nested_expression(x, y):
    return math.sqrt(x * x + y * y) / (1.0 + x)


def cube_by_rule(x):
    return x * x * x


@s2s.defjvp(cube_by_rule)
def cube_by_rule_jvp(x):
    return 3.0 * x * x * x_dot  # noqa: F821 (bound when the template is instantiated)


def uses_cube(x):
    return cube_by_rule(x) + math.erf(x)


# -- reverse mode -----------------------------------------------------------------


def half_difference(x, y):
    return 0.5 * x - 0.5 * y


def sin_cos(x, y):
    return np.sin(x), np.cos(y)


MATRIX = np.arange(12.0).reshape(3, 4)


def matrix_map(x):
    return MATRIX @ x


def doubled(x):
    return 2.0 * x


def product_sin(x, y):
    return math.sin(x * y)


def sum_of_squares(x):
    return np.sum(x * x)


def loss_with_aux(x):
    return x * x, x ** 3


def squared_then_sine(x):
    return math.sin(x * x)


def calls_branching_helper(x):
    if x > 0:
        return squared_then_sine(x)
    return -x


def rosenbrock(x):
    total = 0.0
    for i in range(len(x) - 1):
        total += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return total


def set_left(u, left):
    u[0] = left


def fills_boundary(u, left):
    v = u.copy()
    set_left(v, left)
    return v


def reads_stale_view(x):
    v = x.copy()
    w = v[0:1]
    v[0] = 5.0 * v[1]
    return np.sum(w * x)


def self_scaled_update(x, y, z):
    z += 0.3 * (z + np.sin(x))
    return x * y + z


def stale_view_after_loop(x, y):
    v = x.copy()
    w = v[1:4]
    for _ in range(2):
        w = v[1:4]
        v[1:4] = v[0:3] * y
    return np.sum(v * v) + y * np.sum(w)
