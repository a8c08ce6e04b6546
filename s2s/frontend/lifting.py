"""A lambda passed to a transform inside transformed code, or a checkpointed loop, lifted into a function
of its own.

``s2s.vmap(lambda k: f(k, w))(ks)`` needs the lambda as a function object when s2s reads the
enclosing code, before anything runs: it is written out as ``def lambda_12(k, w): return f(k, w)``,
the enclosing function's locals it reads (``w``) becoming parameters after its own, and its globals
(and closure values) the enclosing function's.  The lifted code's lines are remembered as the user's
lines they came from, so what s2s says about them, and the generated code's comments, name those.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import linecache
import os

import gast

from .. import core
from .parse import remember_origins


def free_locals(node, params, locals_) -> list:
    """The enclosing function's locals the lambda reads, in a fixed order."""
    return sorted(core.names_in(node.body) & set(locals_) - set(params))


def _lift(source: str, name: str, fun, lines: tuple):
    """``source`` run as a module of its own (a file in the cache) in ``fun``'s globals and closure, and its
    function ``name``; ``lines`` gives, for each of its lines, the line of ``fun``'s file it came from (so that
    s2s's messages and generated code name the user's lines)."""
    return _lift_cached(source, name, fun, lines)


@functools.lru_cache(maxsize=None)
def _lift_cached(source: str, name: str, fun, lines: tuple):
    from ..modules import cache_dir, write_once

    path = cache_dir() / f"lifted_{hashlib.sha256(source.encode()).hexdigest()[:20]}.py"
    write_once(path, source)
    filename = fun.__code__.co_filename
    user_lines = linecache.getlines(filename, fun.__globals__)
    remember_origins(path, {i: (filename, line, user_lines[line - 1].rstrip("\n"))
                            for i, line in enumerate(lines, 1) if 0 < line <= len(user_lines)})
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
    lifted_fun = _lift(f"def {name}({', '.join(params)}):\n    return {body}\n", name, fun, (lineno, lineno))
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
    body, body_lines = _body_source(node, fun)
    origin = f"# The loop at {fun.__code__.co_filename}:{lineno}, lifted by s2s.checkpointed."
    text = [origin, "", "", f"def {stem}_body({index}, {rest}):", *("    " + ln for ln in body),
            f"    return {state}", "", "",
            f"def {stem}(loop_start, loop_stop, loop_step, loop_snapshots, {rest}):",
            f"    for {index} in range(loop_start, loop_stop, loop_step):",
            f"        {state} = {stem}_body({index}, {rest})",
            f"    return {state}", ""]
    lines = (lineno,) * 4 + tuple(body_lines) + (lineno,) * (len(text) - 4 - len(body_lines))
    return checkpointed_loop(_lift("\n".join(text), stem, fun, lines))


def _body_source(node: gast.For, fun) -> tuple[list, list]:
    """The loop body's lines as the user wrote them, out of its indentation, and the line each is in the user's
    file; where they cannot be taken as they are, the body as s2s prints it, every line at the loop's."""
    first, last = node.body[0].lineno, getattr(node, "end_lineno", None)
    user_lines = linecache.getlines(fun.__code__.co_filename, fun.__globals__)
    if last is not None and node.lineno < first and last <= len(user_lines):
        text = [ln.rstrip("\n") for ln in user_lines[first - 1:last]]
        indent = text[0][:len(text[0]) - len(text[0].lstrip())]
        if all(ln.startswith(indent) or not ln.strip() for ln in text):
            return [ln[len(indent):] for ln in text], list(range(first, last + 1))
    body = ast.unparse(ast.Module(body=[gast.gast_to_ast(core.clone(s)) for s in node.body], type_ignores=[]))
    return body.splitlines(), [node.lineno] * len(body.splitlines())
