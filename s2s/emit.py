"""Core form → Python source, one readable module per transformed program.

Statements are unparsed one at a time with the standard library's
``ast.unparse`` so that each block can be headed by a comment naming the
user's source line it came from, and so that every generated line maps back
to a source line (for ``CompileError`` messages and debuggers).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

import gast

from . import core


@dataclass
class Rendered:
    source: str
    #: generated line number → (user file, user line, user source text)
    origins: dict = field(default_factory=dict)


def unparse(node) -> str:
    """Source of a node; tuples on either side of ``=`` and after ``return`` go without parentheses."""
    if isinstance(node, gast.Assign) and isinstance(node.value, gast.Tuple) and node.value.elts:
        return f"{unparse(node.targets[0])} = {_bare_tuple(node.value)}"
    if isinstance(node, gast.Return) and isinstance(node.value, gast.Tuple) and node.value.elts:
        return f"return {_bare_tuple(node.value)}"
    if isinstance(node, gast.Tuple) and isinstance(node.ctx, gast.Store) and node.elts:
        return _bare_tuple(node)
    return ast.unparse(gast.gast_to_ast(node))


def _bare_tuple(node) -> str:
    parts = [unparse(e) for e in node.elts]
    return parts[0] + "," if len(parts) == 1 else ", ".join(parts)


class _Writer:
    def __init__(self):
        self.lines: list[str] = []
        self.origins: dict = {}

    def line(self, text, indent, origin=None):
        self.lines.append("    " * indent + text)
        if origin is not None:
            self.origins[len(self.lines)] = origin

    def function(self, fn: core.Function):
        if self.lines:
            self.lines += ["", ""]
        origin = (fn.filename, fn.lineno, fn.source_line(fn.lineno))
        self.line(f"def {fn.name}({', '.join(fn.params)}):", 0, origin)
        self.block(fn, fn.body, 1)

    def block(self, fn, body, indent, commented=None):
        """Emit ``body``; ``commented`` is the source line whose comment already heads it."""
        group_line, group = None, []
        for stmt in body + [None]:
            lineno = getattr(stmt, "lineno", None)
            simple = stmt is not None and not core.sub_blocks(stmt)
            if group and (not simple or lineno != group_line):
                commented = self.group(fn, group_line, group, indent, commented)
                group = []
            if stmt is None:
                break
            if simple:
                group_line = lineno
                group.append(stmt)
            else:
                commented = self.compound(fn, stmt, indent, commented)
        if not body:
            self.line("pass", indent)

    def comment(self, fn, lineno, texts, indent, commented):
        """Head a block with its source line, unless the code says the same or it already is headed."""
        source = fn.source_line(lineno)
        if source and lineno != commented and texts != [source]:
            self.line(f"# {fn.filename}:{lineno}: {source}", indent)
            return lineno
        return commented

    def group(self, fn, lineno, stmts, indent, commented):
        texts = [unparse(s) for s in stmts]
        commented = self.comment(fn, lineno, texts, indent, commented)
        origin = (fn.filename, lineno, fn.source_line(lineno))
        for text in texts:
            for part in text.splitlines():
                self.line(part, indent, origin)
        return commented

    def compound(self, fn, stmt, indent, commented, keyword="if"):
        origin = (fn.filename, stmt.lineno, fn.source_line(stmt.lineno))
        if isinstance(stmt, gast.For):
            header = f"for {unparse(stmt.target)} in {unparse(stmt.iter)}:"
        elif isinstance(stmt, gast.While):
            header = f"while {unparse(stmt.test)}:"
        else:
            header = f"{keyword} {unparse(stmt.test)}:"
        if keyword == "if":
            commented = self.comment(fn, stmt.lineno, [header], indent, commented)
        self.line(header, indent, origin)
        self.block(fn, stmt.body, indent + 1, commented)
        if isinstance(stmt, gast.If) and stmt.orelse:
            only = stmt.orelse[0]
            if len(stmt.orelse) == 1 and isinstance(only, gast.If):
                self.compound(fn, only, indent, commented, keyword="elif")
            else:
                self.line("else:", indent)
                self.block(fn, stmt.orelse, indent + 1, commented)
        return commented


def render(functions, header: str, constants: dict) -> Rendered:
    """The module holding ``functions``, headed by a docstring, imports and scalar constants."""
    body = _Writer()
    for fn in functions:
        body.function(fn)
    used = set()
    for fn in functions:
        for stmt in core.walk_statements(fn.body):
            used |= core.names_in(stmt)
    lines = [f'"""{header}"""', ""]
    imports = [text for alias, text in (("math", "import math"), ("np", "import numpy as np"),
                                        ("rt", "from s2s import runtime as rt")) if alias in used]
    if imports:
        lines += imports + [""]
    scalars = [f"{k} = {v!r}" for k, v in constants.items() if is_literal(v)]
    others = [f"# {k}: {_describe(v)}, bound when the module is loaded"
              for k, v in constants.items() if not is_literal(v)]
    if scalars or others:
        lines += scalars + others + [""]
    lines += [""]
    offset = len(lines)
    source = "\n".join(lines + body.lines) + "\n"
    origins = {offset + k: v for k, v in body.origins.items()}
    return Rendered(source, origins)


def is_literal(value) -> bool:
    """Values written into generated source as literals (the rest are bound when it loads)."""
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, (int, float)) and type(value) in (int, float):
        return value == value and abs(value) != float("inf")
    if isinstance(value, tuple):
        return all(is_literal(v) for v in value)
    return False


def _describe(value) -> str:
    shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
    if shape is not None and dtype is not None:
        return f"{type(value).__name__} of shape {shape} and dtype {dtype}"
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{getattr(value, '__module__', None) or '?'}.{value.__qualname__}"
    return type(value).__name__
