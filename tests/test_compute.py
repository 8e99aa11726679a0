"""Library computations called from inside a user's Dask task stay in that task."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from xspecseg._compute import compute, in_worker


def _prob():
    p = np.zeros((60, 20), np.float32)
    p[5:15, 2:8] = 0.9
    p[30:50, 10:15] = 0.8
    t = np.datetime64("2022-01-01", "ns") + np.arange(60) * np.timedelta64(2, "s")
    return xr.DataArray(p, dims=("time", "frequency"), coords={"time": t,
                        "frequency": np.arange(20.0)}).chunk(time=7)  # fmt: skip


def _events_in_task():
    from xspecseg.events import extract_events

    return in_worker(), int(extract_events(_prob(), threshold=0.5).sizes["event"])


def test_extract_events_inside_a_worker_task_does_not_resubmit():
    distributed = pytest.importorskip("distributed")
    assert not in_worker()
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,  # fmt: skip
        distributed.Client(cluster) as client,
    ):
        inside, n = client.submit(_events_in_task, pure=False).result()
        keys = client.run_on_scheduler(
            lambda dask_scheduler: [str(t[0]) for t in dask_scheduler.transition_log]
        )
    assert inside and n == 2
    # only the submitted task went through the scheduler, not the per-chunk graph
    assert any("_events_in_task" in k for k in keys)
    assert not any("_chunk_partials" in k for k in keys)
    # outside a worker nothing changes: the client (if any) or the local scheduler runs it
    assert compute(_prob().sum().data)[0] == pytest.approx(0.9 * 60 + 0.8 * 100, rel=1e-5)
