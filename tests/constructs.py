"""Numerical functions written with the Python of benchmark code: comprehensions, nested functions, lists."""

import numpy as np
import scipy.special


def sum_of_squares(x):
    n = len(x)
    return sum(x[i] ** 2 for i in range(n)) + max(abs(v) for v in x)


def rows_of_comprehension(x):
    return np.sum(np.array([np.sin(x[i]) * x for i in range(len(x))]) ** 2)


def scalars_of_comprehension(x):
    return np.sum(np.array([np.exp(v) * x[0] for v in x]))


def over_tuples(x, a):
    p, q = x[0], x[1]
    scaled = [a * v for v in (p, q)]
    s = 0.0
    for v in (p, q, x[2]):
        s += v * v
    for v in [p, q]:
        s += np.sin(v)
    return sum(scaled) + s + sum([p, q]) + max(p, q, x[2]) + min(v * a for v in (p, q))


def enumerate_and_zip(x, y):
    s = 0.0
    for i, (u, w) in enumerate(zip(x, y)):
        s += i * u * w
    for i, v in enumerate(x):
        s += v ** 3
    for u, k in zip(x, range(2)):
        s += k * np.cos(u)
    return s


def appended_rows(x):
    rows = []
    for i in range(len(x)):
        r = np.cos(x) * x[i]
        rows.append(r)
    m = np.array(rows)
    return np.sum(m * m)


def appended_in_straight_line(x):
    parts = []
    parts.append(x[0] * x[1])
    for v in (x[1], x[2]):
        parts.append(np.sin(v))
    return np.sum(np.array(parts) ** 2) + sum(parts)


def nested_functions(x, c):
    def sq(v):
        w = v * c
        return w * w

    shift = lambda t: np.sin(t) + c  # noqa: E731
    return sq(x[0]) + shift(x[1]) * sq(x[2])


def subscripted_targets(x):
    s = np.zeros(4)
    s[0], s[1] = np.sin(x[0]), x[1] * x[2]
    s[2], s[3] = s[1], s[0]
    a, b = x[3], s[0]
    s[0], a = a, s[0]
    return np.sum(s * x) + a * b


def library_on_constants(x, a):
    c = scipy.special.multigammaln(a, 3)
    return c * np.sum(x * x)


def library_on_inputs(x):
    return scipy.special.multigammaln(x, 3)


def over_argument_tuple(x, weights):
    s = 0.0
    for w in weights:
        s += w * np.sum(x * x)
    return s + sum(weights) * x[0]


class Model:
    def __init__(self):
        self.W = np.array([[1.0, 2.0, 0.0], [3.0, 0.5, -1.0]])
        self.n = 2

    def loss(self, x):
        y = self.W @ x
        return np.sum(y ** 2) / self.n
