"""Damage to committed chunks is found: a flipped bit, a deleted chunk.

Chunks carry a CRC32C checksum, and every chunk of a committed day is written (an
all-NaN day too), so ``verify_cube``/``verify_probability`` report a bit flip and a missing
chunk; ``repair=True`` and the same write again restore the store. Stores written before
(without checksums) are still read and verified.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

import xspecseg as xs
import xspecseg._store as store_mod
from xspecseg.infer import verify_probability
from xspecseg.testing import chunk_indices, random_waveform

SMALL = xs.CubeConfig(sampling_rate=10.0, block_seconds=600.0, nperseg=1024, noverlap=512,
                      band=(0.1, 2.0), fmax=4.0)  # fmt: skip
DAY2 = np.datetime64("2020-01-02")


@pytest.fixture(scope="module")
def cube() -> xr.Dataset:
    wave = random_waveform(hours=72, sampling_rate=10.0, chunk_seconds=86400)
    return xs.build_cube(wave, SMALL).compute().chunk({"time": 144})


def flip_bit(path: Path, byte: int, bit: int = 3) -> None:
    data = bytearray(path.read_bytes())
    data[byte] ^= 1 << bit
    path.write_bytes(bytes(data))


def psd_chunk(store: Path, day: int, component: int = 0) -> Path:
    return store / "psd" / "c" / str(component) / str(day) / "0"


@pytest.mark.parametrize("where", [0.25, 0.5, 0.9])
def test_flipped_bit_in_a_committed_chunk_is_found(tmp_path, cube, where):
    store = tmp_path / "c.zarr"
    xs.write_cube(cube, store, progress=False)
    chunk = psd_chunk(store, 1)
    flip_bit(chunk, int(chunk.stat().st_size * where))
    assert xs.cube.verify_cube(store) == [DAY2]
    assert xs.cube.verify_cube(store, repair=True) == [DAY2]
    assert xs.write_cube(cube, store, progress=False) == [DAY2]
    assert xs.cube.verify_cube(store) == []
    np.testing.assert_array_equal(xs.open_cube(store, incomplete="raise").psd.values,
                                  cube.psd.values)  # fmt: skip


@pytest.mark.parametrize("array", ["psd", "valid_fraction"])
def test_deleted_committed_chunk_is_found(tmp_path, cube, array):
    store = tmp_path / "c.zarr"
    xs.write_cube(cube, store, progress=False)
    chunk = store / array / "c" / "1" / "1"
    chunk = chunk / "0" if array == "psd" else chunk
    chunk.unlink()
    assert xs.cube.verify_cube(store) == [DAY2]
    assert xs.cube.verify_cube(store, repair=True) == [DAY2]
    assert xs.write_cube(cube, store, progress=False) == [DAY2]
    np.testing.assert_array_equal(xs.open_cube(store, incomplete="raise").psd.values,
                                  cube.psd.values)  # fmt: skip


def test_day_without_data_is_not_reported_missing(tmp_path, cube):
    store = tmp_path / "c.zarr"
    empty = cube.copy(deep=True)
    empty["psd"][:, 144:288] = np.nan  # all fill value: zarr would skip writing it
    xs.write_cube(empty, store, progress=False)
    assert xs.cube.verify_cube(store) == []


def test_store_without_checksums_is_still_read_and_verified(tmp_path, cube, monkeypatch):
    from zarr.codecs import ZstdCodec

    store = tmp_path / "c.zarr"
    monkeypatch.setattr(store_mod, "_checksummed", lambda: (ZstdCodec(),))
    xs.write_cube(cube, store, progress=False)
    monkeypatch.undo()
    codecs = zarr.open_group(store)["psd"].metadata.codecs
    assert "Crc32c" not in str(codecs)
    np.testing.assert_array_equal(xs.open_cube(store).psd.values, cube.psd.values)
    # without checksums an absent chunk may be a day of fill values: not reported
    psd_chunk(store, 1).unlink()
    assert xs.cube.verify_cube(store) == []
    chunk = psd_chunk(store, 2)
    chunk.write_bytes(b"garbage" + chunk.read_bytes()[:10])
    assert xs.cube.verify_cube(store) == [np.datetime64("2020-01-03")]


def test_probability_store_is_verified_and_repaired(tmp_path):
    t = np.datetime64("2020-01-01") + np.arange(1500) * np.timedelta64(100, "s")
    prob = xr.DataArray(
        np.random.default_rng(4).random((1500, 8)).astype(np.float32),
        dims=("time", "frequency"), coords={"time": t, "frequency": np.arange(8.0)},
        name="probability", attrs={"model": "m", "image_unit": "none"},
    ).chunk({"time": 500})  # fmt: skip
    store = tmp_path / "p.zarr"
    xs.write_probability(prob, store, progress=False)
    assert chunk_indices(store, verify_probability(store)) == []
    flip_bit(store / "probability" / "c" / "1" / "0", 40)
    (store / "probability" / "c" / "2" / "0").unlink()
    assert chunk_indices(store, verify_probability(store)) == [1, 2]
    assert chunk_indices(store, verify_probability(store, repair=True)) == [1, 2]
    with pytest.warns(UserWarning, match="not completely written"):
        assert np.isnan(xs.open_probability(store).values[500:]).all()
    assert chunk_indices(store, xs.write_probability(prob, store, progress=False)) == [1, 2]
    np.testing.assert_array_equal(xs.open_probability(store).values, prob.values)


def test_a_zstd_store_of_an_earlier_version_keeps_its_codec_when_appended_to(
    tmp_path, cube, monkeypatch
):
    """Stores written with zstd + CRC32C (earlier versions) read, append and verify as
    before; new stores are written with Blosc-LZ4 + CRC32C."""
    from zarr.codecs import Crc32cCodec, ZstdCodec

    old, new = tmp_path / "old.zarr", tmp_path / "new.zarr"
    first = cube.isel(time=slice(0, 2 * 144))  # two of the three days
    monkeypatch.setattr(store_mod, "_checksummed", lambda: (ZstdCodec(), Crc32cCodec()))
    xs.write_cube(first, old, progress=False)
    monkeypatch.undo()
    xs.write_cube(cube, old, progress=False)  # appends the rest with this version
    xs.write_cube(cube, new, progress=False)
    assert "Zstd" in str(zarr.open_group(old)["psd"].metadata.codecs)
    assert "Blosc" in str(zarr.open_group(new)["psd"].metadata.codecs)
    for store in (old, new):
        assert "Crc32c" in str(zarr.open_group(store)["psd"].metadata.codecs)
        np.testing.assert_array_equal(
            xs.open_cube(store, incomplete="raise").psd.values, cube.psd.values
        )
        assert xs.cube.verify_cube(store) == []
    chunk = psd_chunk(old, 2)
    chunk.write_bytes(chunk.read_bytes()[:-1] + b"x")
    assert xs.cube.verify_cube(old) == [np.datetime64("2020-01-03")]
