"""Generated modules on disk: written once into the cache, then executed.

A generated module is a real file, so tracebacks and debuggers show its
lines, and Numba can cache what it compiles from it.  The file name is a hash
of the source and of the constants bound into it: same code, same file.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import sys
import types
from pathlib import Path

import platformdirs

from . import cache
from .emit import Rendered
from .frontend.parse import remember_origins


def cache_dir() -> Path:
    """Where generated modules live: ``$S2S_CACHE_DIR`` or the user cache directory."""
    root = os.environ.get("S2S_CACHE_DIR") or platformdirs.user_cache_dir("s2s")
    path = Path(root) / "generated"
    path.mkdir(parents=True, exist_ok=True)
    return path


#: Bumped when the way modules are loaded changes, so that old compiled caches are not reused.
CACHE_FORMAT = 4


@functools.lru_cache(maxsize=1)
def _runtime_digest() -> bytes:
    """The runtime's source: Numba's cache of a generated module holds the runtime helpers it inlined,
    so a changed runtime (a new s2s) must not reuse it."""
    digest = hashlib.sha256()
    for path in sorted([*Path(__file__).parent.glob("runtime*.py"), Path(__file__).parent / "reductions.py"]):
        digest.update(path.read_bytes())
    return digest.digest()


def _fingerprint(rendered: Rendered, constants: dict) -> str:
    digest = hashlib.sha256(f"{CACHE_FORMAT}\n{rendered.source}".encode())
    digest.update(_runtime_digest())
    for key in sorted(constants):
        digest.update(key.encode())
        try:
            digest.update(pickle.dumps(constants[key]))
        except Exception:  # unpicklable (a function): its identity is all we have
            digest.update(repr(id(constants[key])).encode())
    return digest.hexdigest()[:20]


def write_once(path: Path, source: str) -> None:
    """Write ``source`` at ``path`` in the cache unless it is there (whole, however many processes race), and
    keep the cache within its limit; mark it used if it is there."""
    if path.exists():
        cache.touch(path)
        return
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(source)
    os.replace(tmp, path)
    cache.maybe_trim(path.parent)


def load(rendered: Rendered, constants: dict, stem: str, backend: str) -> tuple[dict, Path]:
    """Execute the module (once per process and backend); return its namespace and its file.

    Each backend gets its own module object, so that compiling one module's functions for Numba
    never changes what the plain-Python copy of the same code calls.
    """
    path = cache_dir() / f"{stem}_{_fingerprint(rendered, constants)}.py"
    write_once(path, rendered.source)
    remember_origins(path, rendered.origins)
    name = f"s2s_generated_{backend}_{path.stem}"
    module = sys.modules.get(name)
    if module is None:
        # A registered module: Numba re-imports it by name when it loads cached code.
        module = types.ModuleType(name)
        module.__file__ = str(path)
        module.__dict__.update(constants)
        exec(compile(rendered.source, str(path), "exec"), module.__dict__)
        sys.modules[name] = module
    return module.__dict__, path
