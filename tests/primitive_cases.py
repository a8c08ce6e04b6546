"""The rule table's examples as test cases: source to write, operands to draw, checks to run.

Shared by the table-driven tests (``test_primitives*.py``) and the random programs built from the
table (``random_programs.py``).  s2s reads source, so every function under test is written to a
file and imported from it.
"""

from __future__ import annotations

import ast
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from derivatives import central_difference, flat, random_like
from programs import load_module

import s2s
from s2s.rules import registry
from s2s.rules.examples import NORMAL, POSITIVE, UNIT, Example

_DOMAINS = {NORMAL: lambda rng, shape: rng.standard_normal(shape),
            POSITIVE: lambda rng, shape: rng.uniform(0.5, 2.0, shape),
            UNIT: lambda rng, shape: rng.uniform(-0.9, 0.9, shape)}


@dataclass(frozen=True)
class Case:
    """One example of one primitive."""

    prim: object
    example: Example

    @property
    def name(self) -> str:
        return registry.describe(self.prim)

    @property
    def params(self) -> list[str]:
        return sorted(self.example.shapes)

    @property
    def family(self) -> str:
        return registry.family_of(self.prim) or "other"

    def __str__(self):
        return f"{self.name}: {self.example.code}"

    def seed(self) -> int:
        return zlib.crc32(str(self).encode())


def cases() -> list[Case]:
    """Every example in the table, in registration order."""
    return [Case(rule.prim, ex) for rule in registry.rules() for ex in rule.examples]


def draw(example: Example, rng, dtype=np.float64) -> tuple:
    """Operands for ``example`` in its domain, in parameter order (a float for shape ``()``)."""
    values = []
    for name in sorted(example.shapes):
        shape = tuple(example.shapes[name])
        value = _DOMAINS[example.domain](rng, shape)
        values.append(float(value) if shape == () else value.astype(dtype))
    return tuple(values)


def renamed(code: str, names: dict) -> str:
    """``code`` with its operand names replaced (``x`` -> ``x3``)."""

    class Rename(ast.NodeTransformer):
        def visit_Name(self, node):
            node.id = names.get(node.id, node.id)
            return node

    return ast.unparse(Rename().visit(ast.parse(code, mode="eval")))


def scalarized(expression: str, weight: str, scalar: bool) -> str:
    """A number from an expression's value: its weighted sum."""
    return f"({expression}) * {weight}" if scalar else f"np.sum(({expression}) * {weight})"


def load(directory: Path, source: str):
    """``source`` (a module body, with ``math``, ``np``, SciPy's ``special`` and ``linalg`` and ``s2s`` imported)
    written to a new file and imported."""
    imports = "import math\n\nimport numpy as np\nimport scipy.linalg\nimport scipy.special\n\nimport s2s\n\n\n"
    return load_module(directory, imports + source)


def function_source(name: str, params, body: list[str]) -> str:
    return f"def {name}({', '.join(params)}):\n" + "".join(f"    {line}\n" for line in body) + "\n\n"


# -- groups: examples written as one function, so Numba compiles a whole family at once ---------


class Group:
    """Cases written as one function ``value`` (one output per case) and one number ``scalar``.

    Each case's operands are renamed apart (``x`` of case 3 is ``x3``); a failure names the case
    whose output, or whose operands' derivative, is wrong.
    """

    def __init__(self, name: str, cases: list[Case], directory: Path):
        self.cases, self.name = cases, name
        self.params = [[f"{p}{k}" for p in case.params] for k, case in enumerate(cases)]
        self.codes = [renamed(case.example.code, dict(zip(case.params, names)))
                      for case, names in zip(cases, self.params)]
        self.second = [k for k, case in enumerate(cases) if case.example.second_order]
        self.directory = directory
        self._module = None

    @property
    def flat_params(self) -> list[str]:
        return [p for names in self.params for p in names]

    def owner(self) -> list[int]:
        """The case each parameter belongs to."""
        return [k for k, names in enumerate(self.params) for _ in names]

    def draw(self, dtype=np.float64) -> tuple:
        return tuple(v for case in self.cases for v in draw(case.example, np.random.default_rng(case.seed()), dtype))

    def source(self, scalar_outputs: list[bool]) -> str:
        lines = [f"r{k} = {code}  # {case.name}" for k, (case, code) in enumerate(zip(self.cases, self.codes))]
        single = len(self.cases) == 1
        value = function_source(self.name, self.flat_params, lines + [
            "return r0" if single else f"return ({', '.join(f'r{k}' for k in range(len(self.cases)))},)"])
        weights = [f"w{k}" for k in self.second]
        total = " + ".join(scalarized(f"r{k}", f"w{k}", scalar_outputs[k]) for k in self.second) or "0.0"
        second = [line for k, line in enumerate(lines) if k in self.second]
        scalar = function_source(f"{self.name}_scalar", [p for k in self.second for p in self.params[k]] + weights,
                                 second + [f"return {total}"])
        return value + scalar

    def module(self):
        """The two functions, written and imported once (their outputs' kinds come from a plain run)."""
        if self._module is None:
            probe = load(self.directory, function_source(self.name, self.flat_params, [
                f"return ({', '.join(self.codes)},)"]))
            outputs = getattr(probe, self.name)(*self.draw())
            self._module = load(self.directory, self.source([np.ndim(o) == 0 for o in outputs]))
        return self._module

    def functions(self, jit=False):
        module = self.module()
        value, scalar = getattr(module, self.name), getattr(module, f"{self.name}_scalar")
        return (s2s.jit(value), s2s.jit(scalar)) if jit else (value, scalar)

    def outputs(self, value) -> list:
        return [value] if len(self.cases) == 1 else list(value)

    def by_case(self, per_param) -> list[list]:
        grouped = [[] for _ in self.cases]
        for k, v in zip(self.owner(), per_param):
            grouped[k].append(v)
        return grouped

    def fail(self, problems: list[tuple[int, str]]):
        if problems:
            raise AssertionError("\n".join(f"{self.cases[k]}  ->  {what}" for k, what in problems)
                                 + f"\n(in {self.name}, in {self.directory})")


def _mismatch(actual, expected, rtol, atol) -> str | None:
    actual, expected = flat(actual), flat(expected)
    if actual.shape != expected.shape:
        return f"shape {actual.shape} != {expected.shape}"
    err = np.abs(actual - expected)
    if np.all(err <= atol + rtol * np.abs(expected)):
        return None
    return f"max abs err {err.max():.3g}: got {actual[:6]} expected {expected[:6]}"


def _widened(values) -> tuple:
    return tuple(v.astype(np.float64) if isinstance(v, np.ndarray) else v for v in values)


def _split(group: Group, vector, like_outputs) -> list:
    """A flat vector cut into one piece per case, sized like ``like_outputs``."""
    sizes = np.cumsum([flat(o).size for o in like_outputs])[:-1]
    return np.split(vector, sizes)


def check_jvp(group: Group, jit=False, dtype=np.float64, rtol=1e-5, atol=1e-6):
    """jvp's value and tangent against the plain function's value and central differences (in float64)."""
    fun, _ = group.functions(jit)
    plain, _ = group.functions()
    args = group.draw(dtype)
    tangents = random_like(args, np.random.default_rng(1))
    value, tangent = s2s.jvp(fun, args, tangents)
    wide, wide_tangents = _widened(args), _widened(tangents)
    expected = group.outputs(plain(*wide))
    differences = _split(group, central_difference(plain, wide, wide_tangents), expected)
    if any(np.result_type(e) == np.float32 for e in expected):  # rounding to float32 needs a wider step
        coarse = _split(group, central_difference(plain, wide, wide_tangents, eps=1e-3), expected)
        differences = [c if np.result_type(e) == np.float32 else d for c, d, e in zip(coarse, differences, expected)]
    problems = []
    for k, (v, t, e, d) in enumerate(zip(group.outputs(value), group.outputs(tangent), expected, differences)):
        exact = dtype == np.float64 and np.result_type(e) != np.float32
        if dtype != np.float64 and (np.result_type(v) != dtype or np.result_type(t) != dtype):
            problems.append((k, f"dtypes {np.result_type(v)} and {np.result_type(t)} from {np.dtype(dtype)} operands"))
        for what, got, want, tol in (("value", v, e, 1e-10 if exact else 1e-5),
                                     ("jvp vs central differences", t, d, rtol if exact else 1e-3)):
            why = _mismatch(got, want, tol, atol if exact else 1e-4)
            if why:
                problems.append((k, f"{what}: {why}"))
    group.fail(problems)


def check_vjp(group: Group, jit=False, dtype=np.float64):
    """The dot-product test, case by case: <ct, J t> from jvp equals <J^T ct, t> from vjp."""
    fun, _ = group.functions(jit)
    args = group.draw(dtype)
    rng = np.random.default_rng(2)
    tangents = random_like(args, rng)
    value, tangent = s2s.jvp(fun, args, tangents)
    out, f_vjp = s2s.vjp(fun, *args)
    ct = random_like(out, rng)
    cts = f_vjp(ct)
    problems = []
    for k, (c, t, pairs) in enumerate(zip(group.outputs(ct), group.outputs(tangent),
                                          group.by_case(list(zip(cts, tangents))))):
        tol = 1e-9 if dtype == np.float64 and np.result_type(t) != np.float32 else 1e-4
        lhs = float(np.dot(flat(c), flat(t)))
        rhs = float(sum(np.dot(flat(a), flat(b)) for a, b in pairs))
        if abs(lhs - rhs) > tol * (np.linalg.norm(flat(c)) * np.linalg.norm(flat(t)) + 1.0):
            problems.append((k, f"dot-product test: <ct, J t> = {lhs!r} but <J^T ct, t> = {rhs!r}"))
        for (a, b) in pairs:
            if dtype != np.float64 and isinstance(b, np.ndarray) and np.result_type(a) != dtype:
                problems.append((k, f"cotangent dtype {np.result_type(a)} for {np.dtype(dtype)} operand"))
    group.fail(problems)


def check_second_order(group: Group, jit=False, rtol=1e-5, atol=1e-6):
    """jvp of the gradient of the weighted sum against central differences of the gradient."""
    if not group.second:
        return
    _, scalar = group.functions(jit)
    _, plain = group.functions()
    args = group.draw()
    operands = tuple(a for a, k in zip(args, group.owner()) if k in group.second)
    value = group.outputs(group.functions()[0](*args))
    rng = np.random.default_rng(3)
    weights = tuple(random_like(value[k], rng) for k in group.second)
    argnums = tuple(range(len(operands)))
    tangents = random_like(operands, rng) + (None,) * len(weights)
    _, tangent = s2s.jvp(s2s.grad(scalar, argnums=argnums), operands + weights, tangents)
    reference = s2s.grad(plain, argnums=argnums)
    differences = central_difference(reference, operands + weights, tangents)
    owners = [k for k in group.second for _ in group.params[k]]
    sizes = np.cumsum([flat(o).size for o in operands])[:-1]
    problems = []
    for k, got, want in zip(owners, tangent, np.split(differences, sizes)):
        why = _mismatch(got, want, rtol, atol)
        if why:
            problems.append((k, f"jvp of grad vs central differences of grad: {why}"))
    group.fail(sorted(set(problems)))


def check_vmap(group: Group, jit=False, first_only=False, size=3):
    """vmap against a loop over a batch of ``size`` (``first_only``: only each case's first operand mapped)."""
    fun, _ = group.functions(jit)
    plain, _ = group.functions()
    args = group.draw()
    mapped = [not first_only or names.index(p) == 0 for names in group.params for p in names]
    batched = tuple(_batch(a, size) if m else a for a, m in zip(args, mapped))
    in_axes = tuple(0 if m else None for m in mapped)
    result = group.outputs(s2s.vmap(fun, in_axes=in_axes)(*batched))
    rows = [group.outputs(plain(*[a[i] if m else a for a, m in zip(batched, mapped)])) for i in range(size)]
    problems = []
    for k, got in enumerate(result):
        why = _mismatch(got, np.stack([np.asarray(r[k]) for r in rows]), 1e-10, 1e-12)
        if why:
            problems.append((k, f"vmap(in_axes={in_axes}): {why}"))
    group.fail(problems)


def _batch(value, size):
    """``size`` values near ``value`` stacked on a new axis 0 (small relative changes keep the domain)."""
    base = np.asarray(value)
    return np.stack([base * (1.0 + 0.05 * k) for k in range(size)]).astype(base.dtype)


# -- what the test files share -----------------------------------------------------------------

#: Known failures: (example code, check) -> the bug.  Strict: a fixed bug fails its xfail.
KNOWN = {
    ("np.float32(x)", "numba"): "the tangent rounded to float32 misses the dot-product test's float64 tolerance",
}


def known(case, check) -> str | None:
    return KNOWN.get((case.example.code, check))


def params(check, selected=None):
    """The cases for ``check``, known failures marked strict xfail."""
    return [pytest.param(case, id=str(case),
                         marks=[pytest.mark.xfail(strict=True, reason=known(case, check))] if known(case, check) else [])
            for case in (cases() if selected is None else selected)]
