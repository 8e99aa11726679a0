"""Library computations called from inside a user's Dask task stay in that task."""

from __future__ import annotations

import functools

import dask
import dask._task_spec
import dask.array as da
import numpy as np
import pytest
import xarray as xr
from dask.highlevelgraph import HighLevelGraph
from hypothesis import given, settings
from hypothesis import strategies as st

from xspecseg._compute import compute, fuse_private_inputs, in_worker, run_each, tasks_over


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
    assert not any("chunk-partials" in k for k in keys)  # the per-chunk layer's name
    # outside a worker nothing changes: the client (if any) or the local scheduler runs it
    assert compute(_prob().sum().data)[0] == pytest.approx(0.9 * 60 + 0.8 * 100, rel=1e-5)


def _culls(monkeypatch) -> list[str]:
    """Record every cull of a graph (a whole optimisation, or one of a single layer)."""
    calls: list[str] = []
    graph_cull, spec_cull = HighLevelGraph.cull, dask._task_spec.cull

    def counting_graph(self, keys):
        calls.append("graph")
        return graph_cull(self, keys)

    def counting_spec(*args, **kwargs):
        calls.append("layer")
        return spec_cull(*args, **kwargs)

    monkeypatch.setattr(HighLevelGraph, "cull", counting_graph)
    monkeypatch.setattr(dask._task_spec, "cull", counting_spec)
    return calls


def _combine(*blocks, scale):
    return scale * sum(b.sum() for b in blocks)


@pytest.mark.parametrize("nchunks", [3, 12])
def test_tasks_over_builds_its_graph_once_and_equals_per_chunk_delayed(monkeypatch, nchunks):
    x = da.arange(nchunks * 4, chunks=4) * 2 + 1
    blocks = x.to_delayed()
    reference = [
        dask.delayed(_combine)(*blocks[max(0, i - 1) : i + 1], scale=i) for i in range(nchunks)
    ]
    culls = _culls(monkeypatch)
    calls = {i: (functools.partial(_combine, scale=i), list(blocks[max(0, i - 1) : i + 1]))
             for i in range(nchunks)}  # fmt: skip
    # a later call may take an earlier one's result by its name in ``calls``
    calls["total"] = (functools.partial(_combine, scale=1), list(range(nchunks)))
    out = tasks_over("combine", calls)
    assert culls == []  # nothing optimised while the graph is built
    got = dask.compute(*out.values(), scheduler="sync")
    assert culls.count("graph") == 1  # one optimisation of the whole graph, whatever nchunks
    want = dask.compute(*reference, scheduler="sync")
    assert list(got[:-1]) == list(want)
    assert got[-1] == sum(want)


@pytest.mark.parametrize("what", ["probability", "events", "context"])
def test_writing_and_extracting_optimise_the_graph_a_fixed_number_of_times(monkeypatch,
                                                                           tmp_path, what):  # fmt: skip
    # a dask.delayed call per chunk optimised the graph of all the chunks for every chunk:
    # quadratic in the record (a year of CSES half-orbits stalled on the client)
    import xspecseg as xs

    counts = []
    for n in (2, 8):
        prob = _prob().isel(time=slice(0, 7 * n)).chunk(time=7).copy()
        prob.attrs.update(threshold=0.5, image_unit="none")
        culls = _culls(monkeypatch)
        if what == "probability":
            xs.write_probability(prob, tmp_path / f"p{n}.zarr", progress=False)
        else:
            # PSD chunks that differ from the probability's: rows joined across blocks
            psd = (prob + 1.0).chunk(time=5)
            xs.extract_events(prob, psd=psd, threshold=0.5, fringes=False,
                              context=what == "context")  # fmt: skip
        counts.append(len(culls))
        monkeypatch.undo()
    # the events' context is one more compute, over the units holding events
    assert counts[0] == counts[1] <= (18 if what == "context" else 12), counts


def _few_held(wait_s: float) -> bool:
    """Whether, within ``wait_s``, at most one earlier result is left on this worker."""
    import time

    from distributed import get_worker

    data = get_worker().data
    deadline = time.monotonic() + wait_s
    while sum(str(key).startswith("held-") for key in list(data)) > 1:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_results_leave_the_workers_as_they_finish():
    # dask.compute on a client keeps every result on its worker until the last task is
    # done: a worker's memory grew with the record (a year of CSES half-orbits)
    distributed = pytest.importorskip("distributed")
    tasks = [dask.delayed(_few_held, pure=False)(10.0, dask_key_name=f"held-{k}") for k in range(6)]
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,  # fmt: skip
        distributed.Client(cluster) as client,
    ):
        # one thread runs the tasks in turn: each finds the results before it fetched
        assert compute(*tasks, scheduler=client) == (True,) * 6
        # the same through the default client, and in order with plain values beside
        again = [dask.delayed(abs, pure=False)(-k) for k in range(4)]
        assert compute(again[2], 7, again[0], again[2], again[3]) == (2, 7, 0, 2, 3)
        assert compute([again[1], 5], {"k": again[3]}) == ([1, 5], {"k": 3})  # as dask's
        # the reference behaviour: dask.compute holds the results until the end
        held = [
            dask.delayed(_few_held, pure=False)(0.3, dask_key_name=f"held-{k}") for k in range(4)
        ]
        assert dask.compute(*held, scheduler=client).count(False) == 2


def _weighted(*inputs, k):
    return k + sum((i + 1) * v for i, v in enumerate(inputs))


@st.composite
def _dags(draw):
    """A random graph of tasks (each a weighted sum of earlier ones, some of them data
    nodes) and a random set of wanted keys among them."""
    n = draw(st.integers(1, 14))
    dsk = {}
    for i in range(n):
        deps = draw(st.lists(st.integers(0, i - 1), max_size=3)) if i else []
        if not deps and draw(st.booleans()):
            dsk[f"n{i}"] = dask._task_spec.DataNode(f"n{i}", i + 1)
        else:
            refs = [dask._task_spec.TaskRef(f"n{d}") for d in deps]
            dsk[f"n{i}"] = dask._task_spec.Task(f"n{i}", functools.partial(_weighted, k=i),
                                                *refs)  # fmt: skip
    keys = draw(st.lists(st.sampled_from(sorted(dsk)), min_size=1, unique=True))
    return dsk, keys


@settings(max_examples=150, deadline=None)
@given(_dags(), st.booleans())
def test_fused_graph_gives_every_wanted_key_the_same_value(case, deep):
    dsk, keys = case
    fused = fuse_private_inputs(dsk, keys, deep=deep)
    assert dask.get(fused, keys) == dask.get(dsk, keys)
    assert set(keys) <= set(fused) <= set(dsk)
    deps = {k: set(v.dependencies) for k, v in dsk.items()}
    users = {k: sum(k in d for d in deps.values()) for k in dsk}
    for gone in set(dsk) - set(fused):
        (user,) = [k for k in dsk if gone in deps[k]]
        assert gone not in keys
        if deep:
            # absorbed: used by nothing but a wanted task, through other absorbed tasks
            while user not in keys:
                assert user not in fused
                (user,) = [k for k in dsk if user in deps[k]]
        else:
            # absorbed: a private input of a wanted task, whose own inputs stay shared
            assert user in keys
            assert all(users[d] > 1 for d in deps[gone])
    if deep:
        # nothing is left that leads to one wanted task alone: a task left with a single
        # dependent has one that was left too and is not wanted
        for k in set(fused) - set(keys):
            if users[k] == 1:
                (user,) = [u for u in dsk if k in deps[u]]
                assert user not in keys and user in fused
    # every task left refers only to tasks left
    for node in fused.values():
        assert set(node.dependencies) <= set(fused)


def _write_chunk_or_fail(i):
    if i == 2:
        raise ValueError("chunk 2 cannot be written")
    return i


def test_run_each_runs_every_task_and_raises_the_first_error():
    distributed = pytest.importorskip("distributed")
    with distributed.Client(processes=False, n_workers=1, dashboard_address=None) as client:
        done = []
        run_each([dask.delayed(abs)(-k) for k in range(4)], client,
                 on_done=done.append)  # fmt: skip
        assert sorted(done) == [0, 1, 2, 3]  # each task's place in the list, once
        with pytest.raises(ValueError, match="chunk 2"):
            run_each([dask.delayed(_write_chunk_or_fail)(k) for k in range(4)], client)


@pytest.mark.parametrize("selected", [False, True])
def test_inference_to_a_store_moves_few_tasks_per_day(tmp_path, selected):
    """The days an image group reads (two getters, the sum and the times of each, and the
    slices of a selection) are one task, and so are the joins and writes of several
    output chunks: 6.5 tasks per night went through the scheduler before, as much CPU as
    a tenth of the network on one core. The stored values are the same as a computation
    without a cluster."""
    distributed = pytest.importorskip("distributed")
    pytest.importorskip("torch")
    import xspecseg as xs
    from xspecseg.testing import random_waveform

    days = 3
    wave = random_waveform(hours=24 * days, seed=4)
    xs.write_cube(xs.build_cube(wave, xs.CubeConfig.preset("iar")), tmp_path / "c.zarr",
                  progress=False)  # fmt: skip
    psd = xs.select_component(xs.open_cube(tmp_path / "c.zarr"), "H+D")
    if selected:  # a slice of each day's chunk per step, as a user's selection adds
        psd = psd.isel(frequency=slice(0, 300)).sel(time=slice("2020-01-01", None))
    with pytest.warns(UserWarning, match="cut short"):
        local = xs.predict(psd, "iar-default", batch_size=2).compute(scheduler="sync")
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=1,
                            dashboard_address=None) as client:  # fmt: skip
        with pytest.warns(UserWarning, match="cut short"):
            prob = xs.predict(psd, "iar-default", batch_size=2)
        xs.write_probability(prob, tmp_path / "p.zarr", progress=False, client=client)
        ran = client.run_on_scheduler(
            lambda dask_scheduler: {
                str(key)
                for key, _, finish, *_ in dask_scheduler.transition_log
                if finish == "memory"
            }
        )
    # a read per group's two days, one write for the three days, the network one task
    # per two nights (4 nights here), the store's array handle and the model once each.
    # With a read and a write task a day: 10; unfused: 22.
    assert len(ran) == 7, sorted(ran)
    assert sum(k.startswith("('image-groups-") for k in ran) == 2, sorted(ran)
    assert sum(k.startswith("('write-") for k in ran) == 1, sorted(ran)
    stored = xs.open_probability(tmp_path / "p.zarr").values
    np.testing.assert_allclose(stored, local.values, rtol=0, atol=0)
