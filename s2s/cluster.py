"""Mapped functions on a Dask cluster: ``vmap`` of Dask arrays, and ``pmap`` over a ``distributed.Client``.

The outermost mapped axis is split along its chunks; each chunk is a task that runs the function (or a
stage of it, ``stages``) as ``vmap`` on that chunk, compiled on the worker from its own cache.  Outputs
come back as Dask arrays, one chunk per task; collectives between stages are Dask reductions of them
(``collectives.combine`` calls NumPy's functions, which Dask arrays implement).  Dask is an optional
extra (``pip install 's2s[dask]'``), imported only here.
"""

from __future__ import annotations

import optree

from . import backends, tree_util
from .parallel import Local, run


def is_dask(value) -> bool:
    """Whether ``value`` is a Dask array (without importing Dask where it has not been)."""
    return type(value).__module__.startswith("dask.array")


def involved(args) -> bool:
    return any(is_dask(leaf) for leaf in optree.tree_leaves(args, namespace=tree_util.NAMESPACE))


class Chunked:
    """Runs a stage as one task per chunk of the outermost level's examples (``chunks`` of them in each)."""

    def __init__(self, backend, chunks=None):
        self.backend, self.chunks = backend, chunks

    def map(self, stage, args, level_axes, static=()):
        import dask
        import dask.array as da

        if not level_axes:  # a stage that varies with no example: run once, here
            return Local(self.backend).map(stage, [_computed(a) for a in args], [], static)
        outer, inner = level_axes[0], level_axes[1:]
        if any(not (axis is None or isinstance(axis, int)) for axis in outer):
            raise TypeError("vmap and pmap on Dask map arrays, not trees of them: give each array as an argument")
        mapped = [da.moveaxis(da.asarray(a), axis, 0) if axis is not None else a for a, axis in zip(args, outer)]
        first = next(i for i, axis in enumerate(outer) if axis is not None)
        chunks = self.chunks or mapped[first].chunks[0]
        mapped = [m.rechunk({0: chunks}) if axis is not None else m for m, axis in zip(mapped, outer)]
        axes = [tuple(0 if axis is not None else None for axis in outer), *inner]
        first_example = [m[:1].compute() if axis is not None else _computed(m) for m, axis in zip(mapped, outer)]
        sample = Local(self.backend).map(stage, first_example, axes, static)  # the outputs' structure, shapes, types
        leaves, structure = optree.tree_flatten(sample, namespace=tree_util.NAMESPACE)
        task = dask.delayed(_chunk, pure=True)
        pieces = []
        for i, size in enumerate(mapped[first].chunks[0]):
            blocks = [m.blocks[i] if axis is not None else m for m, axis in zip(mapped, outer)]
            done = task(stage, self.backend.name, axes, static, *blocks)
            pieces.append([da.from_delayed(done[k], shape=(size,) + leaf.shape[1:], dtype=leaf.dtype)
                           for k, leaf in enumerate(leaves)])
        return optree.tree_unflatten(structure, [da.concatenate([p[k] for p in pieces]) for k in range(len(leaves))])


def _computed(value):
    return value.compute() if is_dask(value) else value


def _chunk(stage, backend, axes, static, *blocks):
    """A task: ``stage`` mapped over one chunk's examples, on a worker; its outputs' leaves."""
    return optree.tree_leaves(Local(backends.named(backend)).map(stage, blocks, axes, static),
                              namespace=tree_util.NAMESPACE)


def vmap(fun, levels, sizes, args, backend):
    """``vmap`` of Dask arrays: Dask arrays out, computed when the caller asks."""
    return run(fun, levels, sizes, args, backend, Chunked(backend or backends.PYTHON))


def pmap(fun, levels, sizes, args, client, static=()):
    """``pmap`` over a client's workers: one example per task, compiled by Numba; NumPy arrays out."""
    workers = len(client.scheduler_info()["workers"])
    if sizes[0] > workers:
        raise ValueError(f"pmap over a Dask client requires {sizes[0]} workers (one per example), but the client "
                         f"has {workers}; map the rest with s2s.vmap inside")
    out = run(fun, levels, sizes, args, backends.named("numba"), Chunked(backends.named("numba"), chunks=1),
              static)
    leaves, structure = optree.tree_flatten(out, namespace=tree_util.NAMESPACE)
    return optree.tree_unflatten(structure, client.gather(client.compute(leaves)))

