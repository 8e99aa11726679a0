"""One writer per store: a second writer is refused, never interleaved.

The writers here run in one process: the first is paused from inside (a patched zarr
``resize`` or the store creation calls the second writer), so the test needs no timing.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

import xspecseg as xs
import xspecseg._store as store_mod
from xspecseg.testing import chunk_indices


def lock_file(store: Path) -> Path:
    return store.with_name(store.name + ".xspecseg-writer.lock")


def probability(n: int = 5000, chunk: int = 1000) -> xr.DataArray:
    t = np.datetime64("2020-01-01") + np.arange(n) * np.timedelta64(100, "s")
    return xr.DataArray(
        np.random.default_rng(1).random((n, 8)).astype(np.float32),
        dims=("time", "frequency"), coords={"time": t, "frequency": np.arange(8.0)},
        name="probability", attrs={"model": "m", "image_unit": "none"},
    ).chunk({"time": chunk})  # fmt: skip


def hold_lock(store: Path, pid: int, host: str | None = None) -> None:
    info = {"host": host or socket.gethostname(), "pid": pid, "start": "2020-01-01T00:00:00Z",
            "command": "xspecseg cube other"}  # fmt: skip
    lock_file(store).write_text(json.dumps(info))


def test_second_writer_is_refused_while_the_lock_is_held(tmp_path):
    store = tmp_path / "p.zarr"
    prob = probability()
    hold_lock(store, os.getpid())  # a live process: this one
    with pytest.raises(FileExistsError) as err:
        xs.write_probability(prob, store, progress=False)
    message = str(err.value)
    assert f"another writer (pid {os.getpid()}, host {socket.gethostname()})" in message
    assert "since 2020-01-01T00:00:00Z" in message and str(lock_file(store)) in message
    assert "break_lock=True" in message and "--break-lock" in message
    assert not store.exists()
    with pytest.warns(UserWarning, match="broke the lock"):
        assert chunk_indices(
            store, xs.write_probability(prob, store, progress=False, break_lock=True)
        ) == [0, 1, 2, 3, 4]
    assert not lock_file(store).exists()
    np.testing.assert_array_equal(xs.open_probability(store).values, prob.values)


def test_a_lock_of_another_host_is_never_guessed_dead(tmp_path):
    store = tmp_path / "p.zarr"
    hold_lock(store, 2**22 + 12345, host="some-other-host")
    with pytest.raises(FileExistsError, match="host some-other-host"):
        xs.write_probability(probability(), store, progress=False)


def test_lock_of_a_dead_writer_is_taken_over(tmp_path):
    store = tmp_path / "p.zarr"
    prob = probability()
    xs.write_probability(prob.isel(time=slice(0, 2000)), store, progress=False)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # reaped: its pid names no process
    hold_lock(store, dead.pid)
    with pytest.warns(UserWarning, match="dead writer"):
        assert chunk_indices(store, xs.write_probability(prob, store, progress=False)) == [2, 3, 4]
    assert not lock_file(store).exists()
    np.testing.assert_array_equal(xs.open_probability(store).values, prob.values)


def test_writer_paused_inside_an_append_excludes_a_second_one(tmp_path, monkeypatch):
    store = tmp_path / "p.zarr"
    prob = probability()
    xs.write_probability(prob.isel(time=slice(0, 2000)), store, progress=False)
    real_resize = zarr.Array.resize
    second: list[BaseException | None] = []

    def resize_then_second_writer(self, *args, **kwargs):
        real_resize(self, *args, **kwargs)
        if not second:  # the first writer has just grown an array of its append
            second.append(None)
            try:
                xs.write_probability(prob, store, progress=False)
            except FileExistsError as err:
                second[0] = err

    monkeypatch.setattr(zarr.Array, "resize", resize_then_second_writer)
    assert chunk_indices(store, xs.write_probability(prob, store, progress=False)) == [2, 3, 4]
    monkeypatch.undo()
    # unexcluded, the second writer shrank what the first had grown: days lost, flagged done
    back = xs.open_probability(store, incomplete="raise")
    np.testing.assert_array_equal(back.values, prob.values)
    assert isinstance(second[0], FileExistsError), "the second writer was not refused"
    assert f"pid {os.getpid()}" in str(second[0])
    assert not lock_file(store).exists()


def test_two_writers_creating_one_store(tmp_path, monkeypatch):
    store = tmp_path / "p.zarr"
    prob = probability()
    real_init = store_mod._init
    second: list[BaseException | None] = []

    def init_after_second_writer(*args, **kwargs):
        if not second:  # the first writer is about to create the store
            second.append(None)
            try:
                xs.write_probability(prob, store, progress=False)
            except FileExistsError as err:
                second[0] = err
        return real_init(*args, **kwargs)

    monkeypatch.setattr(store_mod, "_init", init_after_second_writer)
    assert chunk_indices(store, xs.write_probability(prob, store, progress=False)) == [
        0,
        1,
        2,
        3,
        4,
    ]
    monkeypatch.undo()
    assert isinstance(second[0], FileExistsError), "the second creator was not refused"
    np.testing.assert_array_equal(xs.open_probability(store).values, prob.values)


def test_lock_is_released_when_the_writer_fails(tmp_path):
    store = tmp_path / "p.zarr"
    prob = probability()
    xs.write_probability(prob.isel(time=slice(0, 2000)), store, progress=False)
    other = prob.assign_attrs(model="another")
    with pytest.raises(ValueError, match="model"):
        xs.write_probability(other, store, progress=False)
    assert not lock_file(store).exists()
    assert chunk_indices(store, xs.write_probability(prob, store, progress=False)) == [2, 3, 4]
