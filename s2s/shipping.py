"""Pickling s2s's objects with the source s2s reads for them, so that they run where that source is not.

s2s generates code from the source of the user's functions, read through ``linecache`` from the files
their code objects name.  A function pickled by value (as cloudpickle pickles one of ``__main__``, of a
notebook, of a module it is told to, or one that its module does not hold under its name: for a Dask
worker, a process pool) arrives where its file may be missing or edited since, and cloudpickle renames
its file ``<dynamic-code>``.  So an s2s object (``s2s.jit``'s ``Jitted``, a transform, a function with a
rule of the user's) pickles, beside its state, the lines of the files of the user's functions reachable
from it that pickle by value, and which file each one's code came from.  Where it is unpickled, those
functions' code names its file again, and the lines are registered in ``linecache`` for each file that
machine does not read the same itself: s2s there reads the same source and generates the same code,
compiled from that machine's own cache.  Nothing generated or compiled is pickled.

A function that pickles by name is imported where it is unpickled, from that machine's file: nothing is
shipped for it.  An s2s object that its module holds under its name (a decorated function) pickles by
that name too, as a function does.
"""

from __future__ import annotations

import functools
import hashlib
import linecache
import os
import sys
import types

from .frontend import resolve

#: The directory of s2s's own modules, whose functions are never the user's.
_OWN = os.path.dirname(os.path.abspath(__file__)) + os.sep


class Shipped:
    """Pickled by value as ``(Sources(self), self.__getstate__())``, or by name (see the module).

    Its state is its attributes but for caches: those named with one leading underscore, rebuilt where
    it is used.  A subclass with a state of its own restores its sources in its ``__setstate__``.
    """

    def __reduce_ex__(self, protocol):
        if _by_reference(self):
            return self.__qualname__
        return _new, (type(self),), (Sources(self), self.__getstate__())

    def __getstate__(self):
        return {k: v for k, v in vars(self).items() if not k.startswith("_") or k.startswith("__")}

    def __setstate__(self, state):
        sources, attributes = state
        vars(self).update(attributes)
        sources.restore(self)


def _new(cls):
    return cls.__new__(cls)


class Sources:
    """The lines of the files of the user's functions that pickle by value with an object, and which of
    those files each function's code comes from (by ``_key``)."""

    def __init__(self, obj):
        self.files, self.origins = {}, {}
        for fun in _by_value(obj):
            filename = fun.__code__.co_filename
            lines = linecache.getlines(filename, fun.__globals__)
            if lines:
                self.files[filename], self.origins[_key(fun.__code__)] = lines, filename

    def restore(self, obj) -> None:
        """Once ``obj`` is unpickled: its functions' code names their files, whose lines s2s reads (registered
        in ``linecache`` with no modification time, which ``checkcache`` keeps, where they differ from the file
        here)."""
        for filename, lines in self.files.items():
            linecache.checkcache(filename)  # (a file edited since this process read it is read again)
            if linecache.getlines(filename) != lines:
                linecache.cache[filename] = (sum(map(len, lines)), None, lines, filename)
        for fun in _by_value(obj):
            filename = self.origins.get(_key(fun.__code__))
            if filename is not None and fun.__code__.co_filename != filename:
                fun.__code__ = _from_file(fun.__code__, filename)


def _by_value(obj):
    """The user's functions reachable from ``obj`` that pickle by value: through s2s's objects' attributes,
    containers and partials, and the globals, closure cells and attributes of modules that each such
    function's code names."""
    seen, todo = set(), [obj]
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, (tuple, list, set, frozenset)):
            todo.extend(obj)
        elif isinstance(obj, dict):
            todo.extend(obj.values())
        elif isinstance(obj, functools.partial):
            todo.extend([obj.func, *obj.args, *obj.keywords.values()])
        elif isinstance(obj, types.MethodType):
            todo.append(obj.__func__)
        elif _by_reference(obj):
            continue
        elif type(obj).__module__.partition(".")[0] == __package__:  # an s2s object (not its py_func: that builds)
            todo.extend(vars(obj).values())
        elif (fun := resolve.user_function(obj)) is not None and not resolve.is_library(fun) \
                and not fun.__code__.co_filename.startswith(_OWN):
            yield fun
            todo.extend(_named(fun))


def _named(fun) -> list:
    """The values ``fun``'s code (nested functions and comprehensions included) may read: the globals it
    names, what it names of those that are modules (``model.loss``), and its closure cells."""
    names, codes = set(), [fun.__code__]
    while codes:
        code = codes.pop()
        names.update(code.co_names)
        codes.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    names = sorted(names)  # (the same order in every process: the same pickle)
    values = [fun.__globals__[n] for n in names if n in fun.__globals__]
    modules = [v for v in values if isinstance(v, types.ModuleType) and not resolve.is_library(v)]
    values += [vars(m)[n] for m in modules for n in names if n in vars(m)]
    return values + [_contents(cell) for cell in fun.__closure__ or ()]


def _contents(cell):
    try:
        return cell.cell_contents
    except ValueError:  # a cell not filled yet
        return None


def _key(code) -> str:
    """What pickling keeps of a code object but its file, as a digest: its name, first line, bytecode and
    table of positions."""
    head = f"{code.co_qualname}:{code.co_firstlineno}:".encode()
    return hashlib.blake2b(head + code.co_code + code.co_linetable, digest_size=16).hexdigest()


def _from_file(code, filename):
    """``code``, and the code objects it holds (nested functions, lambdas), read from ``filename``."""
    consts = tuple(_from_file(c, filename) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)


def _by_reference(obj) -> bool:
    """Whether ``obj`` pickles by name (as cloudpickle decides for a function): it is what its module holds
    under its qualified name, and the module is imported by name where it is unpickled (not ``__main__``, nor
    one cloudpickle is told to pickle by value)."""
    module = sys.modules.get(getattr(obj, "__module__", None) or "")
    qualname = getattr(obj, "__qualname__", None)
    if module is None or not isinstance(qualname, str) or module.__name__ == "__main__" \
            or _pickled_by_value(module.__name__):
        return False
    found = module
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return found is obj


def _pickled_by_value(module_name: str) -> bool:
    """Whether cloudpickle is told to pickle the module (or a package it is in) by value."""
    cloudpickle = sys.modules.get("cloudpickle")
    registered = cloudpickle.list_registry_pickle_by_value() if cloudpickle is not None else ()
    return any(module_name == m or module_name.startswith(m + ".") for m in registered)
