"""A lambda passed to a transform inside transformed code, lifted into a function of its own.

``s2s.vmap(lambda k: f(k, w))(ks)`` needs the lambda as a function object when s2s reads the
enclosing code, before anything runs: it is written out as ``def lambda_12(k, w): return f(k, w)``,
the enclosing function's locals it reads (``w``) becoming parameters after its own, and its globals
(and closure values) the enclosing function's.
"""

from __future__ import annotations

import ast
import functools
import hashlib

import gast

from .. import core


def free_locals(node, params, locals_) -> list:
    """The enclosing function's locals the lambda reads, in a fixed order."""
    return sorted(core.names_in(node.body) & set(locals_) - set(params))


@functools.lru_cache(maxsize=None)
def _lift(source: str, name: str, fun):
    from ..modules import cache_dir

    path = cache_dir() / f"lifted_{hashlib.sha256(source.encode()).hexdigest()[:20]}.py"
    if not path.exists():
        path.write_text(source)
    env = dict(fun.__globals__)
    for var, cell in zip(fun.__code__.co_freevars, fun.__closure__ or ()):
        env[var] = cell.cell_contents
    exec(compile(source, str(path), "exec"), env)
    return env[name]


def lifted(node: gast.Lambda, fun, free: list, lineno: int):
    """``node`` (a lambda in ``fun``'s source) as ``def lambda_<line>(params, *free): return body``."""
    params = [a.id for a in node.args.args] + list(free)
    name = f"lambda_{lineno}"
    body = ast.unparse(gast.gast_to_ast(core.clone(node.body)))
    return _lift(f"def {name}({', '.join(params)}):\n    return {body}\n", name, fun)
