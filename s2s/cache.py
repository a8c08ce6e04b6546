"""The cache of generated modules and of what Numba compiles from them, kept within a size limit.

Every generated module (and lifted loop or lambda) is a file in ``modules.cache_dir()``; Numba keeps the
code it compiles from a module beside it, in ``__pycache__``, in files named after the module.  A module
is touched each time a process loads it, so its file's modification time says when it was last used.
When a process writes a new module, at most every few minutes across processes (a stamp file says
when), the cache is trimmed to its limit: the least recently used modules go first, with their compiled
code.  A module used in the last few minutes is never removed (another process may be loading it); one
removed is written and compiled again when next needed.

The limit is ``$S2S_CACHE_MAX_MB`` megabytes (2048 by default).  ``s2s cache info`` and ``s2s cache clear``
show and empty the cache.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MB = 2048
#: Seconds between two trims of the cache, across the processes sharing it.
EVERY = 300
#: Modules used more recently than this many seconds ago are kept, whatever the limit.
GRACE = 600
_STAMP = ".trimmed"


def limit() -> int:
    """The cache's size limit, in bytes."""
    return int(float(os.environ.get("S2S_CACHE_MAX_MB", DEFAULT_MB)) * 2 ** 20)


@dataclass
class Entry:
    """One generated module: its files (the module and its compiled code), their size, and when it was last used."""

    stem: str
    files: list = field(default_factory=list)
    size: int = 0
    used: float = 0.0


def entries(directory: Path) -> list[Entry]:
    """The cache's modules, least recently used first."""
    found: dict[str, Entry] = {}
    for folder in (directory, directory / "__pycache__"):
        try:
            listing = list(os.scandir(folder))
        except FileNotFoundError:
            continue
        for item in listing:
            if not item.is_file() or item.name.startswith("."):
                continue
            try:
                stat = item.stat()
            except FileNotFoundError:  # removed by another process meanwhile
                continue
            entry = found.setdefault(item.name.split(".")[0], Entry(item.name.split(".")[0]))
            entry.files.append(Path(item.path))
            entry.size += stat.st_size
            if folder == directory:
                entry.used = max(entry.used, stat.st_mtime)
    return sorted(found.values(), key=lambda e: e.used)


def touch(path: Path) -> None:
    """Mark the module at ``path`` as used now."""
    try:
        os.utime(path)
    except OSError:  # removed meanwhile, or a read-only cache: nothing to mark
        pass


def trim(directory: Path, most: int | None = None, now: float | None = None) -> int:
    """Remove the least recently used modules until the cache holds at most ``most`` bytes (``limit()``), keeping
    those used in the last ``GRACE`` seconds; return how many were removed."""
    most = limit() if most is None else most
    now = time.time() if now is None else now
    found = entries(directory)
    total = sum(e.size for e in found)
    removed = 0
    for entry in found:
        if total <= most or entry.used > now - GRACE:
            break
        _remove(entry.files)
        total -= entry.size
        removed += 1
    return removed


def maybe_trim(directory: Path) -> None:
    """``trim``, if no process sharing the cache has in the last ``EVERY`` seconds."""
    stamp = directory / _STAMP
    try:
        if time.time() - stamp.stat().st_mtime < EVERY:
            return
    except FileNotFoundError:
        pass
    stamp.touch()
    trim(directory)


def info(directory: Path) -> dict:
    found = entries(directory)
    return {"directory": str(directory), "modules": len(found), "bytes": sum(e.size for e in found),
            "limit": limit()}


def clear(directory: Path) -> int:
    """Remove every module and its compiled code; return how many."""
    found = entries(directory)
    for entry in found:
        _remove(entry.files)
    return len(found)


def _remove(files) -> None:
    for path in files:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass
