"""NumPy's scalar functions as CUDA device code spells them: ``math``, operators and builtins.

Device code is per-example scalar code, so each NumPy call in it is a function of numbers.  Numba's CUDA
target types few of NumPy's functions (``np.exp`` and ``np.sqrt`` are not among them, though the simulator
runs them), and all of ``math``'s that it maps to libdevice; so in a program for the device each call with a
scalar equivalent is spelled with it; so are Python's ``max`` and ``min`` of two numbers, which the CUDA target
does not compile either.  Functions without one stay as they are: those the CUDA target types (``np.minimum``,
the casts and constants), and the rest, which ``backends.cuda.check_device`` refuses.
"""

from __future__ import annotations

import gast

from . import core

#: ``np.<name>(x[, y])`` → its spelling for the device (no template names an argument twice: an expression
#: would be computed twice).
SPELLED = {
    **{name: f"math.{name}(x)" for name in """sin cos tan sinh cosh tanh exp expm1 log log2 log10 log1p sqrt floor
                                               ceil trunc fabs isnan isinf isfinite""".split()},
    **{name: f"math.{name}(x, y)" for name in ("hypot", "copysign", "fmod")},
    "arcsin": "math.asin(x)", "arccos": "math.acos(x)", "arctan": "math.atan(x)", "arctan2": "math.atan2(x, y)",
    "arcsinh": "math.asinh(x)", "arccosh": "math.acosh(x)", "arctanh": "math.atanh(x)",
    "deg2rad": "math.radians(x)", "rad2deg": "math.degrees(x)", "radians": "math.radians(x)",
    "degrees": "math.degrees(x)", "abs": "abs(x)", "absolute": "abs(x)", "negative": "-x", "positive": "+x",
    "power": "x ** y", "float_power": "x ** y", "square": "x ** 2", "reciprocal": "1.0 / x", "exp2": "2.0 ** x",
    "mod": "x % y", "remainder": "x % y", "sign": "rt.sign(x)",
}
#: Python's builtins of two numbers that the CUDA target does not compile, and their spelling.
BUILTINS = {"max": "rt.larger(x, y)", "min": "rt.smaller(x, y)"}
_TEMPLATES = {name: gast.parse(text).body[0].value for name, text in {**SPELLED, **BUILTINS}.items()}


def spell(program) -> None:
    """Spell the NumPy calls of ``program``'s functions as device code has them, in place."""
    for fn in program.functions:
        _Spelling().visit(gast.Module(body=fn.body, type_ignores=[]))


class _Spelling(gast.NodeTransformer):
    def visit_Call(self, node):
        self.generic_visit(node)
        spelled = core.dotted_name(node.func) or ""
        name = spelled[3:] if spelled.startswith("np.") else spelled if spelled in BUILTINS else None
        template = _TEMPLATES.get(name)
        if template is None or node.keywords or len(node.args) != _arity(template):
            return node
        return _Filled(dict(zip("xy", node.args))).visit(core.clone(template))


def _arity(template) -> int:
    return 2 if "y" in core.names_read(template) else 1


class _Filled(gast.NodeTransformer):
    """A template with its parameters ``x`` and ``y`` replaced by the call's arguments."""

    def __init__(self, args):
        self.args = args

    def visit_Name(self, node):
        return core.clone(self.args[node.id]) if node.id in self.args else node
