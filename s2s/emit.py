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

from . import core, precision


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
    parts = [ast.unparse(gast.gast_to_ast(e)) for e in node.elts]  # nested tuples keep their parentheses
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
        header = f"def {fn.name}({', '.join(fn.params)}):"
        if len(header) <= WIDTH:
            self.line(header, 0, origin)
        else:
            self.line(f"def {fn.name}(", 0, origin)
            params = [[f"{p},"] for p in fn.params[:-1]] + [fn.params[-1:]]
            for part in _indented(_pack(params, WIDTH - 4)):
                self.line(part, 0, origin)
            self.line("):", 0, origin)
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
        for stmt, text in zip(stmts, texts):
            for part in wrap(stmt, text, WIDTH - 4 * indent):
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


#: Generated lines longer than this are broken, as a person would break them.
WIDTH = 100


def wrap(stmt, text: str, width: int) -> list[str]:
    """``text`` (the source of ``stmt``) as lines within ``width`` where it can be broken.

    A long sum is broken before its ``+``/``-`` signs, a long tuple, list or call after its
    commas, inside brackets: the layout a code formatter would give it.
    """
    if len(text) <= width or not isinstance(stmt, (gast.Assign, gast.AugAssign, gast.Return)):
        return [text]
    if isinstance(stmt, gast.Assign):
        head = f"{unparse(stmt.targets[0])} = "
    elif isinstance(stmt, gast.AugAssign):
        head = f"{unparse(stmt.target)} {_AUG_OPS[type(stmt.op)]}= "
    else:
        head = "return "
    bare_tuple = isinstance(stmt.value, gast.Tuple) and isinstance(stmt, (gast.Assign, gast.Return))
    lines = _layout(stmt.value, width - len(head), parenthesize=bare_tuple)
    return [head + lines[0]] + lines[1:]


_AUG_OPS = {gast.Add: "+", gast.Sub: "-", gast.Mult: "*", gast.Div: "/"}


def _layout(node, width, parenthesize=False) -> list[str]:
    """Lines of the expression ``node``: one if it fits in ``width``, else broken at its top level."""
    text = unparse(node)
    if parenthesize:
        text = f"({text})"
    if len(text) <= width:
        return [text]
    inner = width - 4
    if isinstance(node, gast.BinOp) and isinstance(node.op, (gast.Add, gast.Sub)):
        terms = []
        for sign, term in _sum_terms(node):
            lines = _layout(term, inner - len(sign), parenthesize=_is_sum(term) and sign != "")
            terms.append([sign + lines[0]] + lines[1:])
        return ["("] + _indented(_pack(terms, inner)) + [")"]
    if type(node) in _BRACKETS and node.elts:
        opening, closing = _BRACKETS[type(node)]
        return [opening] + _items(node.elts, inner) + [closing]
    if isinstance(node, gast.Call) and not node.keywords and node.args:
        only = node.args[0]
        if len(node.args) == 1 and type(only) in _BRACKETS and only.elts:  # hug the brackets: f([...])
            opening, closing = _BRACKETS[type(only)]
            return [f"{unparse(node.func)}({opening}"] + _items(only.elts, inner) + [f"{closing})"]
        return [f"{unparse(node.func)}("] + _items(node.args, inner) + [")"]
    return [text]


_BRACKETS = {gast.List: ("[", "]"), gast.Tuple: ("(", ")")}


def _items(nodes, width) -> list[str]:
    """Items inside brackets: all on one line if they fit there, else one per line."""
    texts = [unparse(n) for n in nodes]
    if len(", ".join(texts)) <= width:
        return _indented([", ".join(texts)])
    lines = []
    for node in nodes:
        item = _layout(node, width - 1)
        item[-1] += ","
        lines += _indented(item)
    return lines


def _pack(pieces, width) -> list[str]:
    """Pieces (each a list of lines) joined on one line while they fit in ``width``."""
    lines: list = []
    for piece in pieces:
        if lines and len(piece) == 1 and len(lines[-1]) + 1 + len(piece[0]) <= width:
            lines[-1] += " " + piece[0]
        else:
            lines += piece
    return lines


def _indented(lines) -> list[str]:
    return ["    " + line for line in lines]


def _is_sum(node) -> bool:
    return isinstance(node, gast.BinOp) and isinstance(node.op, (gast.Add, gast.Sub))


def _sum_terms(node) -> list[tuple[str, object]]:
    """``a + b - c`` as ``[("", a), ("+ ", b), ("- ", c)]``."""
    terms = []
    while _is_sum(node):
        terms.append(("+ " if isinstance(node.op, gast.Add) else "- ", node.right))
        node = node.left
    terms.append(("", node))
    return terms[::-1]


def render(functions, header: str, constants: dict, floats=None) -> Rendered:
    """The module holding ``functions``, headed by a docstring, imports and scalar constants.

    ``floats``: the float type of a specialization (``precision``), which its float constants take.
    """
    body = _Writer()
    for fn in functions:
        body.function(fn)
    used = set()
    for fn in functions:
        for stmt in core.walk_statements(fn.body):
            used |= core.names_in(stmt)
    scalars = [f"{k} = {precision.constant(v, floats)}" for k, v in constants.items() if is_literal(v)]
    if floats is not None and any(type(v) is float for v in constants.values()):
        used.add("np")
    lines = [*f'"""{header}"""'.splitlines(), ""]
    imports = [text for alias, text in (("math", "import math"), ("np", "import numpy as np"),
                                        ("scipy", "import scipy.linalg\nimport scipy.special"),
                                        ("rt", "from s2s import runtime as rt"),
                                        ("cuda", "from numba import cuda")) if alias in used]
    if imports:
        lines += imports + [""]
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
