"""A program: the generated functions of one transform request, linked together.

Transforming ``f`` may need the JVP of a helper ``g`` that ``f`` calls, and
the primal of ``h`` that ``g`` calls in a branch.  A ``Program`` generates each
of those once, gives every function and constant one name in one module, and
hands the whole module to ``emit``: the module is self-contained, readable on
its own, and compiled as one unit.
"""

from __future__ import annotations

import dataclasses

from . import core, optimize
from .emit import render
from .errors import S2SError
from .frontend.normalize import normalize
from .transforms.jvp import jvp


class Program:
    def __init__(self):
        self.functions: list[core.Function] = []
        self.constants: dict = {}
        self.names: dict = {}          # (mode, object, mask) → generated name
        self.signatures: dict = {}     # (object, mask) → tangent mask of its JVP
        self.pending_primals: dict = {}  # generated name → object, emitted on demand
        self.namer = core.Namer({"np", "math", "rt"})
        self._in_progress: set = set()

    # -- requests from the API and from transforms -------------------------------

    def primal(self, obj, nargs=None) -> str:
        """Name of the generated primal of ``obj`` (the normalized function itself)."""
        name = self._primal_name(obj, nargs)
        if name in self.pending_primals:
            del self.pending_primals[name]
            fn = self.link(normalize(obj, nargs))
            fn.name = name
            self._add(fn)
        return name

    def jvp(self, obj, varied_mask, nargs=None) -> tuple[str, tuple]:
        """Name and tangent mask of the generated JVP of ``obj`` w.r.t. the varied parameters."""
        key = ("jvp", obj, tuple(varied_mask))
        if key not in self.names:
            if key in self._in_progress:
                raise S2SError(f"s2s does not differentiate recursive functions ({getattr(obj, '__name__', obj)})")
            self._in_progress.add(key)
            fn = self.link(normalize(obj, nargs))
            varied = {p for p, m in zip(fn.params, varied_mask) if m}
            name = self.namer.fresh(f"{fn.name}_jvp")
            result, mask = jvp(fn, varied, self, name)
            self._in_progress.discard(key)
            self.names[key] = name
            self.signatures[(obj, tuple(varied_mask))] = mask
            self._add(result)
        return self.names[key], self.signatures[(obj, tuple(varied_mask))]

    def jvp_useful_args(self, obj, varied_mask) -> tuple:
        """Which arguments of a call to ``obj`` carry tangents into its result."""
        return self.jvp(obj, varied_mask)[1]

    # -- linking -------------------------------------------------------------------

    def link(self, fn: core.Function) -> core.Function:
        """A private copy of ``fn`` whose free names are this program's names."""
        fn = dataclasses.replace(fn, body=core.clone(fn.body), temps=set(fn.temps),
                                 callees=dict(fn.callees), constants=dict(fn.constants))
        self.namer.taken |= fn.namer().taken - set(fn.callees) - set(fn.constants)
        renames = {}
        for ref, obj in fn.constants.items():
            renames[ref] = self._constant_name(ref, obj)
        callees = {}
        for ref, obj in fn.callees.items():
            renames[ref] = self._primal_name(obj)
            callees[renames[ref]] = obj
        fn.body = [core.substitute(s, renames) for s in fn.body]
        fn.callees = callees
        fn.constants = {renames[k]: v for k, v in fn.constants.items()}
        return fn

    def _constant_name(self, ref, obj) -> str:
        for existing, value in self.constants.items():
            if value is obj:
                return existing
        name = self.namer.fresh(ref)
        self.constants[name] = obj
        return name

    def _primal_name(self, obj, nargs=None) -> str:
        key = ("primal", obj)
        if key not in self.names:
            name = self.namer.fresh(normalize(obj, nargs).name)
            self.names[key] = name
            self.pending_primals[name] = obj
        return self.names[key]

    def _add(self, fn):
        self.functions.append(optimize.optimize(fn))

    # -- output ----------------------------------------------------------------------

    def finish(self):
        """Generate the primals that linked code calls but nobody asked for yet."""
        while True:
            used = set()
            for fn in self.functions:
                for stmt in core.walk_statements(fn.body):
                    used |= core.names_in(stmt)
            todo = [n for n in self.pending_primals if n in used]
            if not todo:
                return self
            for name in todo:
                self.primal(self.pending_primals[name])

    def render(self, header):
        return render(self.functions, header, self.constants)
