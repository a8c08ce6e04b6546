"""Source text of a user function → its gast definition, with absolute line numbers.

The whole file is parsed (once per file version) and the definition found by
its first line, so nested functions, decorated functions and lambdas in the
middle of an expression all work the same way.  A function s2s generated (read
again to differentiate it twice) is read as the user's lines it came from, so
what is said about it names the user's file and line.
"""

from __future__ import annotations

import copy
import functools
import linecache
import os
from dataclasses import dataclass

import gast

from ..errors import SourceUnavailableError


@dataclass
class ParsedFunction:
    node: gast.FunctionDef | gast.Lambda
    filename: str
    lines: dict  # line number → source text, for the function's lines


#: Generated module file -> its lines' origins, ``{line: (filename, lineno, text)}`` (see ``emit.Rendered``).
_GENERATED: dict = {}


def remember_origins(path, origins: dict):
    """Record where the lines of the generated module at ``path`` came from."""
    _GENERATED[str(path)] = origins


def parse_function(fun) -> ParsedFunction:
    code = fun.__code__
    filename = code.co_filename
    lines = linecache.getlines(filename, fun.__globals__)
    if not lines:
        raise SourceUnavailableError(
            f"cannot read the source of {fun.__qualname__!r} (defined in {filename}): "
            "s2s transforms functions whose source is in a file or notebook cell"
        )
    tree = _parse_lines(filename, tuple(lines))
    node = _find(tree, code)
    if node is None:
        raise SourceUnavailableError(
            f"cannot find the definition of {fun.__qualname__!r} in {filename} "
            f"at line {code.co_firstlineno}: was the file edited since it was imported?"
        )
    last = max(getattr(n, "end_lineno", 0) or 0 for n in gast.walk(node))
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    text = {i: lines[i - 1].rstrip("\n") for i in range(first, min(last, len(lines)) + 1)}
    if filename in _GENERATED:
        return _as_origins(ParsedFunction(node, filename, text), _GENERATED[filename])
    return ParsedFunction(node, filename, text)


def _as_origins(parsed: ParsedFunction, origins: dict) -> ParsedFunction:
    """A generated function renumbered with the user's lines it came from (as it is, if they span files)."""
    found = [origins[i] for i in parsed.lines if i in origins]
    if len({file for file, _, _ in found}) != 1:
        return parsed
    node = copy.deepcopy(parsed.node)  # the parsed tree is cached: renumber a copy
    for sub in gast.walk(node):
        for attr in ("lineno", "end_lineno"):
            origin = origins.get(getattr(sub, attr, None))
            if origin is not None:
                setattr(sub, attr, origin[1])
    return ParsedFunction(node, found[0][0], {lineno: text for _, lineno, text in found})


@functools.lru_cache(maxsize=64)
def _parse_lines(filename: str, lines: tuple) -> gast.Module:
    return gast.parse("".join(lines), filename=filename)


def _find(tree, code):
    """The FunctionDef or Lambda whose code object is ``code``."""
    first = code.co_firstlineno
    if code.co_name == "<lambda>":
        lambdas = [n for n in gast.walk(tree) if isinstance(n, gast.Lambda) and n.lineno == first]
        params = list(code.co_varnames[: code.co_argcount])
        lambdas = [n for n in lambdas if [a.id for a in n.args.args] == params] or lambdas
        if len(lambdas) > 1:
            lambdas = [n for n in lambdas if n.body.col_offset == _body_column(code)] or lambdas[:1]
        return lambdas[0] if lambdas else None
    for n in gast.walk(tree):
        if isinstance(n, gast.FunctionDef) and n.name == code.co_name:
            starts = {n.lineno} | {d.lineno for d in n.decorator_list}
            if first in starts:
                return n
    return None


def _body_column(code):
    """Leftmost column of the lambda body's instructions (to tell lambdas on one line apart)."""
    cols = [c for (line, _, c, end) in code.co_positions()
            if c is not None and end is not None and end > c and line == code.co_firstlineno]
    return min(cols) if cols else None


def short_filename(filename: str) -> str:
    return os.path.basename(filename)
