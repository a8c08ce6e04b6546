"""The cache of generated and compiled code stays within its limit, least recently used out first, never removing
what was used a moment ago; ``s2s cache info`` and ``s2s cache clear`` show and empty it."""

from __future__ import annotations

import os
import time

import numpy as np

import s2s
from s2s import cache, cli
from s2s.modules import cache_dir


def module(directory, stem, used, size=1000):
    """A generated module and its compiled code (as Numba names its files), last used at ``used``."""
    compiled = directory / "__pycache__"
    compiled.mkdir(exist_ok=True)
    files = [directory / f"{stem}.py", compiled / f"{stem}.f-3.py311.nbi", compiled / f"{stem}.f-3.py311.1.nbc"]
    for path in files:
        path.write_bytes(b"x" * (size // 3))
    os.utime(files[0], (used, used))
    return files


def test_trimming_removes_the_least_recently_used_first(tmp_path):
    now = time.time()
    old, older, recent = (module(tmp_path, stem, used) for stem, used in
                          (("old", now - 3600), ("older", now - 7200), ("recent", now - 60)))
    assert [e.stem for e in cache.entries(tmp_path)] == ["older", "old", "recent"]
    assert cache.trim(tmp_path, most=2000, now=now) == 1  # one module over: the least recently used goes
    assert not any(p.exists() for p in older) and all(p.exists() for p in old + recent)
    assert cache.trim(tmp_path, most=0, now=now) == 1  # used a minute ago: kept, whatever the limit
    assert all(p.exists() for p in recent)


def test_trimming_is_throttled_across_processes(tmp_path):
    now = time.time()
    module(tmp_path, "stale", now - 7200)
    (tmp_path / ".trimmed").touch()  # another process trimmed a moment ago
    os.environ["S2S_CACHE_MAX_MB"] = "0"
    try:
        cache.maybe_trim(tmp_path)
        assert (tmp_path / "stale.py").exists()
        os.utime(tmp_path / ".trimmed", (now - 2 * cache.EVERY, now - 2 * cache.EVERY))
        cache.maybe_trim(tmp_path)
        assert not (tmp_path / "stale.py").exists()
    finally:
        del os.environ["S2S_CACHE_MAX_MB"]


def bowl(x):
    return np.sum(np.sin(x) ** 2)


def cup(x):
    return np.sum(np.cos(x) ** 2)


def test_cache_info_and_clear(tmp_path, monkeypatch, capsys):
    """Generated modules are written into the cache, touched when loaded, counted by ``s2s cache info`` and
    removed by ``s2s cache clear``; code generated again afterwards runs."""
    monkeypatch.setenv("S2S_CACHE_DIR", str(tmp_path))
    x = np.array([0.3, 0.5])
    np.testing.assert_allclose(s2s.grad(bowl)(x), np.sin(2 * x), rtol=1e-13)
    assert cli.main(["cache", "info"]) == 0
    assert f"{cache_dir()}: 1 generated modules" in capsys.readouterr().out
    assert cli.main(["cache", "clear"]) == 0
    assert "removed 1 generated modules" in capsys.readouterr().out
    assert cache.info(cache_dir())["modules"] == 0
    np.testing.assert_allclose(s2s.grad(cup)(x), -np.sin(2 * x), rtol=1e-13)
    assert cache.info(cache_dir())["modules"] == 1
