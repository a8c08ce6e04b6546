"""Example applications of primitives: what the table-driven tests and the docs' table run.

Each entry of the rule table lists a few calls on random operands, covering the options it
supports (``axis``, ``keepdims``, broadcasting).  A primitive added with examples is tested in
every transform, in Python and under Numba, without writing a new test.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: How operands are drawn: standard normal, in (0.5, 2) (logarithms, roots), in (-0.9, 0.9) (arcsin).
NORMAL, POSITIVE, UNIT = "normal", "positive", "unit"


@dataclass(frozen=True)
class Example:
    """``code`` applies the primitive to operands ``x``, ``y``, ``z`` with the given ``shapes`` (``()``: a number)."""

    code: str
    shapes: dict = field(default_factory=dict)
    domain: str = NORMAL
    #: Differentiable twice, everywhere near the drawn operands (not ``abs``, ``max``, ``sort``).
    second_order: bool = True
    #: Compiles under Numba (False only where the docs' table says so, with the reason).
    numba: bool = True


def example(code: str, domain: str = NORMAL, second_order: bool = True, numba: bool = True, **shapes) -> Example:
    """``example("np.sum(x, axis=1)", x=(3, 4))``."""
    return Example(code, shapes, domain, second_order, numba)
