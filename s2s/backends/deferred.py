"""Numba's part of the runtime modules, recorded without importing Numba.

Each runtime helper keeps its NumPy body, which plain Python runs, next to its Numba
overload.  Importing Numba takes seconds the plain-Python backend does not need, so the
runtime modules take ``overload`` and ``register_jitable`` from here: they record what they
decorate and return it unchanged (a ``register_jitable`` function stays plain Python).

The numba backend calls ``load`` when it is imported: the records become Numba's own
registrations, and each module that called ``numba_names`` gets Numba's objects bound to those
names (Numba reads the globals of the code it compiles by value, so they must be the real ones
before it compiles anything).  What is recorded after that is registered at once.
"""

from __future__ import annotations

import importlib

#: Numba's names that runtime modules use, and the module each comes from (``numba``: the package).
NUMBA_NAMES = {
    "numba": None,
    "types": "numba",
    "literal_unroll": "numba",
    "literally": "numba",
    "prange": "numba",
    "TypingError": "numba.core.errors",
    "tuple_setitem": "numba.cpython.unsafe.tuple",
    "as_dtype": "numba.np.numpy_support",
    "to_fixed_tuple": "numba.np.unsafe.ndarray",
}

_pending: list = []
_loaded = False


def when_loaded(action):
    """Call ``action()`` once Numba is loaded: now if it is, else when the numba backend loads it."""
    if _loaded:
        action()
    else:
        _pending.append(action)
    return action


def overload(target, **options):
    """``numba.extending.overload(target, **options)``, applied when Numba loads; the typing function is returned."""
    def record(typing):
        when_loaded(lambda: importlib.import_module("numba.extending").overload(target, **options)(typing))
        return typing
    return record


def register_jitable(fn):
    """``numba.extending.register_jitable``, applied when Numba loads; ``fn`` itself is returned, for Python."""
    when_loaded(lambda: importlib.import_module("numba.extending").register_jitable(fn))
    return fn


def numba_names(namespace: dict) -> None:
    """Bind Numba's objects, when it loads, to the names of ``NUMBA_NAMES`` that ``namespace`` (a module's
    globals) defines; until then they keep their stand-ins (``prange = range``)."""
    def bind():
        for name, source in NUMBA_NAMES.items():
            if name in namespace:
                namespace[name] = importlib.import_module("numba") if source is None else \
                    getattr(importlib.import_module(source), name)
    when_loaded(bind)


def load() -> None:
    """Apply every record (the numba backend calls this once, having imported Numba)."""
    global _loaded
    _loaded = True
    while _pending:
        _pending.pop(0)()
