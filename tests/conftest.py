"""Fixtures that test files share."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture(scope="module")
def dask_client():
    """A client of a local Dask cluster of two worker processes, one thread each, for one test file: s2s's
    objects shipped to other processes, as a user's are.  No dashboard; the scheduler's HTTP server on a free port
    (not 8787: clusters of test files running at once would contend for it)."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None,
                                       scheduler_kwargs={"dashboard_address": ":0"}, silence_logs=logging.ERROR)
    with cluster, distributed.Client(cluster) as client:
        yield client
