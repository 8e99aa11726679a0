"""The prediction chain through the command line, locally and on a real Dask cluster.

A scheduler and two workers are started as separate processes on 127.0.0.1, exactly as a
user would start them on a cluster; one test kills a worker in the middle of a run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

import xspecseg as xs
from xspecseg.cli import main
from xspecseg.testing import chunk_indices

BIN = Path(sys.executable).parent


def _flags(store) -> np.ndarray:
    """The store's chunk-complete flags, read as a concurrent reader would."""
    from xspecseg._store import FLAG

    return zarr.open_group(store, mode="r", use_consolidated=False)[FLAG][:]


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """A 4-day synthetic cube and a small U-net checkpoint for nights."""
    from xspecseg.models import get_model, save

    root = tmp_path_factory.mktemp("chain")
    cube = root / "cube.zarr"
    wave = xs.synth.ground_station(start="2013-01-01", days=4, seed=0, components=("H",))
    xs.write_cube(xs.build_cube(wave), cube, progress=False)
    model = get_model("unet", base_channels=8)
    config = {"night_window": [18.0, 6.0], "threshold": 0.5, "band": [0.0, 10.0]}
    save(model, root / "model", config=config)
    return root, cube, root / "model"


@pytest.fixture(scope="module")
def local_probability(chain):
    root, cube, model = chain
    out = root / "local.zarr"
    assert main(["predict", str(cube), "-o", str(out), "--model", str(model), "--workers", "1",
                 "--no-progress"]) == 0  # fmt: skip
    return xs.open_probability(out, incomplete="raise").values


def test_predict_events_stats_plot(chain, local_probability, tmp_path, capsys):
    root, cube, _ = chain
    assert local_probability.shape == (4 * 864, 410)
    night = local_probability[648:1296]  # 18:00 on day 1 to 06:00 on day 2 (+6 h)
    assert np.isfinite(night).all() and (night > 0).any()
    # 00-06 UT of the first day is the second half of a night: examined as a night with a gap
    assert np.isfinite(local_probability[:216]).all() and (local_probability[:216] > 0).any()
    assert (local_probability[216:648] == 0).all()  # daytime
    events = tmp_path / "events.nc"
    args = ["events", str(root / "local.zarr"), "--cube", str(cube), "-o", str(events),
            "--threshold", "0.3", "--min-pixels", "1"]  # fmt: skip
    assert main(args) == 0
    cat = xs.open_catalogue(events)
    assert cat.attrs["threshold"] == 0.3 and "event" in cat.dims
    n_all = cat.sizes["event"]
    assert n_all >= 2 and "max_impulsiveness" not in cat.attrs
    # a model recommending event cuts: they travel in the store's attrs and apply by default
    import shutil

    import zarr

    store = tmp_path / "cut.zarr"
    shutil.copytree(root / "local.zarr", store)
    grp = zarr.open_group(str(store), mode="r+")
    median_imp = float(np.nanmedian(cat.impulsiveness))
    grp["probability"].attrs.update(max_impulsiveness=median_imp, min_mean_probability=0.0)
    cut_args = ["events", str(store), "--cube", str(cube), "-o", str(tmp_path / "cut.nc"),
                "--threshold", "0.3", "--min-pixels", "1"]  # fmt: skip
    assert main(cut_args) == 0
    cut = xs.open_catalogue(tmp_path / "cut.nc")
    keep = ~(cat.impulsiveness.values > median_imp)
    assert cut.sizes["event"] == keep.sum() < n_all
    assert cut.attrs["max_impulsiveness"] == median_imp
    assert main([*cut_args[:5], str(tmp_path / "all.nc"), *cut_args[6:], "--no-event-cuts"]) == 0
    assert xs.open_catalogue(tmp_path / "all.nc").sizes["event"] == n_all
    assert main(["stats", str(events), "-o", str(tmp_path / "s.nc"), "--plots",
                 str(tmp_path / "plots")]) == 0  # fmt: skip
    assert (tmp_path / "plots" / "seasonal_counts.png").stat().st_size > 1000
    png = tmp_path / "q.png"
    assert main(["plot", str(cube), "--start", "2013-01-01T18:00", "--end", "2013-01-02T06:00",
                 "--probability", str(root / "local.zarr"), "-o", str(png)]) == 0  # fmt: skip
    assert png.stat().st_size > 1000
    capsys.readouterr()


class LoopbackCluster:
    """``dask scheduler`` + ``dask worker`` processes on 127.0.0.1."""

    def _address(self, deadline: float) -> str:
        # the scheduler creates its file before it has written it: wait for valid JSON
        while True:
            try:
                return json.loads(self.file.read_text())["address"]
            except (FileNotFoundError, json.JSONDecodeError, KeyError):
                if time.time() > deadline:
                    raise
                time.sleep(0.2)

    def __init__(self, root: Path, workers: int = 2):
        self.file = root / "scheduler.json"
        env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
        self.scheduler = subprocess.Popen(
            [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
             "--no-dashboard", "--scheduler-file", str(self.file)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
        )  # fmt: skip
        self.address = self._address(deadline=time.time() + 120)
        self.workers = [
            subprocess.Popen(
                [
                    str(BIN / "dask"),
                    "worker",
                    self.address,
                    "--nworkers",
                    "1",
                    "--nthreads",
                    "1",
                    "--host",
                    "127.0.0.1",
                    "--no-dashboard",
                    "--memory-limit",
                    "3GiB",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
            )
            for _ in range(workers)
        ]
        from distributed import Client

        with Client(self.address, timeout=60) as client:
            client.wait_for_workers(workers, timeout=120)

    def close(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            if proc.poll() is None:
                proc.terminate()
        for proc in [*self.workers, self.scheduler]:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.mark.slow
def test_predict_on_a_loopback_cluster_equals_local(chain, local_probability, tmp_path):
    _, cube, model = chain
    cluster = LoopbackCluster(tmp_path)
    try:
        out = tmp_path / "remote.zarr"
        code = main(["predict", str(cube), "-o", str(out), "--model", str(model),
                     "--scheduler", cluster.address, "--no-progress"])  # fmt: skip
        assert code == 0
    finally:
        cluster.close()
    remote = xs.open_probability(out, incomplete="raise").values
    np.testing.assert_allclose(remote, local_probability, atol=1e-6)


@pytest.mark.slow
def test_killing_a_worker_mid_run_loses_nothing(chain, local_probability, tmp_path):
    _, cube, model = chain
    cluster = LoopbackCluster(tmp_path)
    out = tmp_path / "killed.zarr"
    try:
        run = subprocess.Popen(
            [str(BIN / "xspecseg"), "predict", str(cube), "-o", str(out), "--model", str(model),
             "--scheduler", cluster.address, "--no-progress", "--batch-size", "1"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        # kill a worker as soon as the run has committed its first chunk
        deadline = time.time() + 240
        done = 0
        while time.time() < deadline and run.poll() is None:
            try:
                done = int(np.sum(_flags(out)))
            except Exception:  # the store is not created yet
                done = 0
            if done >= 1:
                break
            time.sleep(0.05)
        # usually 1 of 4 chunks is done here; on a loaded machine the run may get further,
        # which weakens but does not invalidate the check below
        assert done >= 1 or run.poll() is not None, "the run committed nothing in 240 s"
        victim = cluster.workers[0]
        victim.send_signal(signal.SIGKILL)
        _, stderr = run.communicate(timeout=300)
        assert run.returncode == 0, stderr
    finally:
        cluster.close()
    assert victim.poll() is not None
    back = xs.open_probability(out, incomplete="raise").values
    np.testing.assert_allclose(back, local_probability, atol=1e-6)


# -- where the work runs ----------------------------------------------------------------------


def test_where_the_work_runs():
    from xspecseg.cluster import SMALL_JOB_DAYS, choose

    assert choose(None, None, days=SMALL_JOB_DAYS) == "threads"
    assert choose(None, None, days=SMALL_JOB_DAYS + 0.5) == "local-cluster"
    assert choose(None, 1, days=10 * SMALL_JOB_DAYS) == "synchronous"
    assert choose(None, 2, days=1) == "local-cluster"
    assert choose("tcp://127.0.0.1:8786", 4, days=1) == "scheduler"
    with pytest.raises(ValueError, match="--workers must be at least 1"):
        choose(None, 0, days=1)


def test_without_the_cluster_extra_a_large_job_runs_in_this_process(monkeypatch, caplog):
    import logging

    from xspecseg._optional import MissingExtraError
    from xspecseg.cluster import SMALL_JOB_DAYS, choose, compute_on

    # distributed not importable, as without the cluster extra
    monkeypatch.setitem(sys.modules, "distributed", None)
    days = SMALL_JOB_DAYS + 3
    assert choose(None, None, days=days) == "threads"
    assert choose(None, 1, days=days) == "synchronous"
    with caplog.at_level(logging.INFO, logger="xspecseg"), compute_on(days=days) as client:
        assert client is None
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "running in this process on Dask's threaded scheduler" in said
    assert f"{days:g} day(s) > {SMALL_JOB_DAYS}" in said and "'cluster' extra" in said
    # asked for explicitly: the error names the extra, before any cluster is announced
    caplog.clear()
    for scheduler, workers in [(None, 2), ("tcp://127.0.0.1:8786", None)]:
        with (
            pytest.raises(MissingExtraError, match=r"pip install 'xspecseg\[cluster\]'"),
            compute_on(scheduler, workers, days=1),
        ):
            raise AssertionError("ran without distributed")
    assert not caplog.records


def test_in_process_writes_keep_the_lock_and_commit_each_chunk(tmp_path, monkeypatch):
    """On Dask's threads, each chunk's task commits its chunk while the caller holds the lock."""
    import threading

    import xarray as xr

    import xspecseg._store as store_mod
    from xspecseg.cluster import compute_on

    store = tmp_path / "prob.zarr"
    lock = store.with_name(store.name + ".xspecseg-writer.lock")
    real = store_mod._write_chunk
    seen = []

    def watched(blocks, path, names, axes, t0, index, **kwargs):
        out = real(blocks, path, names, axes, t0, index, **kwargs)
        flag = int(_flags(path)[index])
        seen.append((index, flag, lock.exists(), os.getpid(), threading.get_ident()))
        return out

    monkeypatch.setattr(store_mod, "_write_chunk", watched)
    t = np.datetime64("2020-01-01") + np.arange(4000) * np.timedelta64(100, "s")
    prob = xr.DataArray(
        np.random.default_rng(0).random((4000, 8)).astype(np.float32),
        dims=("time", "frequency"), coords={"time": t, "frequency": np.arange(8.0)},
        name="probability", attrs={"model": "m", "image_unit": "none"},
    ).chunk({"time": 1000})  # fmt: skip
    with compute_on(None, None, days=1) as client:
        assert client is None
        written = xs.write_probability(prob, store, progress=False)
    assert chunk_indices(store, written) == [0, 1, 2, 3]
    assert sorted(i for i, *_ in seen) == [0, 1, 2, 3]
    assert all(flag == 1 and locked for _, flag, locked, _, _ in seen)
    assert {pid for *_, pid, _ in seen} == {os.getpid()}
    assert not lock.exists()
    np.testing.assert_array_equal(xs.open_probability(store, incomplete="raise").values,
                                  prob.values)  # fmt: skip


class _Task:
    def __init__(self, key: str, state: str, *dependencies: _Task):
        self.key, self.state, self.dependencies = key, state, set(dependencies)


class _FakeClient:
    """A client whose scheduler knows one graph: its states are set by the test."""

    id = "client-1"

    def __init__(self):
        self.read = [_Task(f"read-{i}", "waiting") for i in range(3)]
        self.store = _Task("store", "waiting", *self.read)
        self.wants = set()

    def run_on_scheduler(self, function, **kwargs):
        clients = {self.id: type("ClientState", (), {"wants_what": self.wants})()}
        return function(type("Scheduler", (), {"clients": clients})(), **kwargs)


def test_progress_counts_the_tasks_of_the_clients_graph(capsys):
    """On a cluster the bar counts the tasks behind the client's one result (a write)."""
    from xspecseg.cluster import progress

    client = _FakeClient()
    with progress(client, desc="writing the store"):
        client.wants.add(client.store)
        for ts in client.read:
            ts.state = "memory"
        client.store.state = "processing"
    err = capsys.readouterr().err
    assert "writing the store" in err and "4/4" in err
    client = _FakeClient()
    with pytest.raises(RuntimeError), progress(client, desc="failing"):
        client.wants.add(client.store)
        raise RuntimeError("the work failed")
    assert "4/4" not in capsys.readouterr().err  # a failed run does not claim completion


def _profiling(dask_worker) -> tuple[bool, bool]:
    import dask

    return (
        "profile" in dask_worker.periodic_callbacks,
        bool(dask.config.get("distributed.worker.profile.enabled")),
    )


def test_local_cluster_workers_get_the_malloc_settings(monkeypatch):
    from distributed import Client

    from xspecseg.cluster import WORKER_MALLOC_ENV, local_cluster, worker_io_threads

    def env() -> dict:
        return {k: os.environ.get(k) for k in WORKER_MALLOC_ENV}

    # what any other LocalCluster started in this process leaves in its environment
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    monkeypatch.setenv("DASK_XSPECSEG__IO_THREADS", "3")
    with local_cluster(1, io_threads=1) as cluster, Client(cluster) as client:
        (seen,) = client.run(env).values()
        (io,) = client.run(worker_io_threads).values()
        (info,) = client.scheduler_info()["workers"].values()
        (sampling,) = client.run(_profiling).values()
    assert seen == WORKER_MALLOC_ENV
    # no stack sampler whose trees of the last 1000 seconds a worker keeps
    assert sampling == (False, False)
    assert io == 1 and info["nthreads"] == 2
    # and this process's environment is as it was
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "65536"
    assert os.environ["DASK_XSPECSEG__IO_THREADS"] == "3"
    # buffers of a few MB stay on the heap; freed memory above the trim threshold goes back
    assert 4 * 2**20 <= int(seen["MALLOC_MMAP_THRESHOLD_"]) <= int(seen["MALLOC_TRIM_THRESHOLD_"])
