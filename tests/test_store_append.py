"""An append killed at any write leaves a store that the next run repairs.

A kill -9 is simulated at the k-th write of the append, for every k: every zarr store
write or delete (metadata of a resize, a chunk, a flag, the attributes) and the journal
write count. From the kill on nothing more reaches the disk; zarr is patched to write
synchronously, so no write started before the kill lands after it. Then the writer is
run again and the store must equal one appended without interruption.
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import dask
import numpy as np
import pytest
import xarray as xr
import zarr
from zarr.storage import LocalStore
from zarr.storage._local import _put

import xspecseg as xs
import xspecseg._store as store_mod
from xspecseg.testing import SMALL_CUBE, random_waveform

SMALL = xs.CubeConfig(**SMALL_CUBE)


class Killed(Exception):
    """The simulated kill -9."""


@contextlib.contextmanager
def kill_at(k: int) -> Iterator[list[int]]:
    """Fail the k-th write and every later one; yields the count of writes attempted."""
    count = [0]

    def tick() -> None:
        count[0] += 1
        if count[0] >= k:
            raise Killed(f"killed at write {k}")

    async def set_(self, key, value):
        tick()
        _put(self.root / key, value)  # synchronous: done before the next write starts

    async def delete(self, key):
        tick()
        path = self.root / key
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)

    real_journal = getattr(store_mod, "_write_journal", None)

    def journal(*args, **kwargs):
        tick()
        return real_journal(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(LocalStore, "set", set_)
        mp.setattr(LocalStore, "delete", delete)
        if real_journal is not None:
            mp.setattr(store_mod, "_write_journal", journal)
        with zarr.config.set({"async.concurrency": 1}), dask.config.set(scheduler="synchronous"):
            yield count


def probability() -> xr.DataArray:
    t = np.datetime64("2020-01-01") + np.arange(1500) * np.timedelta64(100, "s")
    return xr.DataArray(
        np.random.default_rng(2).random((1500, 4)).astype(np.float32),
        dims=("time", "frequency"), coords={"time": t, "frequency": np.arange(4.0)},
        name="probability", attrs={"model": "m", "image_unit": "none"},
    ).chunk({"time": 500})  # fmt: skip


@pytest.fixture(scope="module")
def cube() -> xr.Dataset:
    wave = random_waveform(hours=48, sampling_rate=10.0, chunk_seconds=86400)
    return xs.build_cube(wave, SMALL).compute().chunk({"time": 144})


def check_every_kill(tmp_path: Path, first, rest, write, read) -> int:
    """Kill ``write(rest)`` at every write in turn; re-run it and compare with an append
    that was not interrupted. ``read(store)`` gives a DataArray along time. Returns the
    number of kill points."""
    base, clean = tmp_path / "base.zarr", tmp_path / "clean.zarr"
    write(first, base)
    shutil.copytree(base, clean)
    write(rest, clean)
    expected = read(clean).transpose("time", ...)
    n_first = read(base).sizes["time"]
    for k in itertools.count(1):
        store = tmp_path / f"k{k}.zarr"
        shutil.copytree(base, store)
        with kill_at(k) as count:
            try:
                write(rest, store)
            except Killed:
                pass
        if count[0] < k:  # the append finished before its k-th write: all points done
            shutil.rmtree(store)
            return k - 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:  # what a reader sees now: the old data intact, nothing wrong as valid
                partial = read(store).transpose("time", ...).values
            except ValueError as err:
                assert "interrupted" in str(err), err
            else:
                want = expected.values[: partial.shape[0]]
                np.testing.assert_array_equal(partial[:n_first], want[:n_first])
                good = np.isnan(partial) | (partial == want)
                assert good.all(), f"kill at write {k}: wrong values read as valid"
            write(rest, store)  # the documented repair: the same command again
        got = read(store, incomplete="raise").transpose("time", ...)
        np.testing.assert_array_equal(got.values, expected.values, err_msg=f"kill at {k}")
        np.testing.assert_array_equal(got["time"].values, expected["time"].values)
        shutil.rmtree(store)
    raise AssertionError("unreachable")


@pytest.mark.parametrize("journal", [True, False], ids=["journalled", "unjournalled"])
def test_probability_append_killed_at_every_write_is_repaired(tmp_path, monkeypatch, journal):
    if not journal:  # a store left by a writer without journal (xspecseg <= 0.1)
        monkeypatch.setattr(store_mod, "_write_journal", lambda *a, **k: None, raising=False)
    prob = probability()

    def write(p, store):
        return xs.write_probability(p, store, progress=False)

    n = check_every_kill(tmp_path, prob.isel(time=slice(0, 500)), prob, write,
                         xs.open_probability)  # fmt: skip
    assert n >= 10


def test_cube_append_killed_at_every_write_is_repaired(tmp_path, cube):
    def write(c, store):
        return xs.write_cube(c, store, progress=False)

    def read(store, **kw):
        return xs.open_cube(store, **kw).psd

    n = check_every_kill(tmp_path, cube.isel(time=slice(0, 144)), cube, write, read)
    assert n >= 10
