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
import os

import gast

from .. import core


def free_locals(node, params, locals_) -> list:
    """The enclosing function's locals the lambda reads, in a fixed order."""
    return sorted(core.names_in(node.body) & set(locals_) - set(params))


def _lift(source: str, name: str, fun, extra=None):
    return _lift_cached(source, name, fun, tuple(sorted((extra or {}).items())))


@functools.lru_cache(maxsize=None)
def _lift_cached(source: str, name: str, fun, extra: tuple):
    from ..modules import cache_dir

    path = cache_dir() / f"lifted_{hashlib.sha256(source.encode()).hexdigest()[:20]}.py"
    if not path.exists():
        path.write_text(source)
    env = dict(fun.__globals__)
    for var, cell in zip(fun.__code__.co_freevars, fun.__closure__ or ()):
        env[var] = cell.cell_contents
    env.update(extra)
    exec(compile(source, str(path), "exec"), env)
    return env[name]


def lifted(node: gast.Lambda, fun, free: list, lineno: int):
    """``node`` (a lambda in ``fun``'s source) as ``def lambda_<line>(params, *free): return body``."""
    params = [a.id for a in node.args.args] + list(free)
    name = f"lambda_{lineno}"
    body = ast.unparse(gast.gast_to_ast(core.clone(node.body)))
    lifted_fun = _lift(f"def {name}({', '.join(params)}):\n    return {body}\n", name, fun)
    lifted_fun.__qualname__ = f"<the lambda at {os.path.basename(fun.__code__.co_filename)}:{lineno}>"
    return lifted_fun


def lifted_loop(node: gast.For, fun, carried: list, inputs: list, lineno: int):
    """The loop ``node`` of ``fun`` (``for i in s2s.checkpointed(range(...), snapshots=...)``) as functions of
    their own: its body, ``loop_<line>_body(i, *carried, *inputs)``, a function of the index, the names it
    carries from trip to trip and the locals it reads, returning the carried names; and the loop,
    ``loop_<line>(start, stop, step, snapshots, *carried, *inputs)``, calling it, marked for its backward
    pass to follow a binomial schedule (``checkpoint.CheckpointedLoop``)."""
    from ..checkpoint import checkpointed_loop

    stem = f"loop_{lineno}"
    state = ", ".join(carried)
    rest = ", ".join([*carried, *inputs])
    index = node.target.id
    body = ast.unparse(ast.Module(body=[gast.gast_to_ast(core.clone(s)) for s in node.body], type_ignores=[]))
    origin = f"# The loop at {fun.__code__.co_filename}:{lineno}, lifted by s2s.checkpointed."
    source = "\n".join([
        origin, "", "",
        f"def {stem}_body({index}, {rest}):", *("    " + ln for ln in body.splitlines()), f"    return {state}", "", "",
        f"def {stem}(loop_start, loop_stop, loop_step, loop_snapshots, {rest}):",
        f"    for {index} in range(loop_start, loop_stop, loop_step):",
        f"        {state} = {stem}_body({index}, {rest})",
        f"    return {state}", ""])
    return checkpointed_loop(_lift(source, stem, fun))
