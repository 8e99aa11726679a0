"""Bad inputs, table-driven: each gets a clear error or the documented repair.

The same table is in the docs (reliability page). Readers are also
fuzzed with hypothesis: whatever bytes a raw file holds, the reader either reads it or
says what is wrong; it never returns a wrong-length record silently.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xspecseg as xs
from xspecseg.testing import SMALL_CUBE, chunk_indices, random_waveform

SMALL = xs.CubeConfig(**SMALL_CUBE)
N_RAW = 921_600


def write_raw(d: Path, sensor: int, start: datetime, data: np.ndarray, n_info: int = N_RAW):
    stamp = start.strftime("%y%m%d%H%M")
    path = d / f"smplGRTU1_sensor_{sensor}_{stamp}"
    data.astype("<i2").tofile(path)
    ts = start.strftime("%d-%m-%Y %H:%M:%S.") + f"{start.microsecond // 1000:03d} UTC"
    (d / f"{path.name}_info.txt").write_text(
        f"file name: smpl_sensor_{sensor}_{stamp}\nsampling period (usec): 3906.000000\n"
        f"1st sample timestamp: {ts}\nnumber of samples: {n_info}\n"
    )
    return path


T0 = datetime(2015, 3, 1, 0, 49, 34, 658000, tzinfo=UTC)


# ----------------------------------------------------------------------------------------
# the cases: (name, builder(tmp_path) -> callable that must raise, expected message)
# ----------------------------------------------------------------------------------------
def sample_rate_mismatch(tmp: Path) -> Callable:
    wave = random_waveform(hours=1, sampling_rate=20.0)
    return lambda: xs.build_cube(wave, SMALL)


def truncated_raw_file(tmp: Path) -> Callable:
    write_raw(tmp, 0, T0, np.zeros(N_RAW - 10, np.int16))
    return lambda: xs.io.open_waveform(tmp, format="raw-int16")


def raw_rate_differs_between_files(tmp: Path) -> Callable:
    write_raw(tmp, 0, T0, np.zeros(N_RAW, np.int16))
    p = write_raw(tmp, 0, T0 + timedelta(seconds=3599.783), np.zeros(N_RAW, np.int16))
    info = Path(f"{p}_info.txt")
    info.write_text(info.read_text().replace("3906.000000", "3900.000000"))
    return lambda: xs.io.open_waveform(tmp, format="raw-int16")


def unknown_format(tmp: Path) -> Callable:
    (tmp / "record.xyz").write_text("not a waveform")
    return lambda: xs.io.open_waveform(tmp / "record.xyz")


def non_monotonic_times(tmp: Path) -> Callable:
    wave = random_waveform(hours=0.5, sampling_rate=10.0).compute()
    t = wave.time.values.copy()
    t[100], t[101] = t[101], t[100]
    bad = wave.assign_coords(time=t)
    bad.to_netcdf(tmp / "w.nc")
    return lambda: xs.io.open_waveform(tmp / "w.nc")


def wrong_cses_layout(tmp: Path) -> Callable:
    import h5py

    path = tmp / "CSES_01_EFD_3_L02_A1_123450_20211101_000000_20211101_003000_000.h5"
    with h5py.File(path, "w") as fh:
        fh.attrs["ORBITNUM"] = 12345
        fh.create_dataset("A133_P", data=np.zeros((10, 1024), np.float32))
    return lambda: xs.io.read_cses(path)


def not_a_cube_store(tmp: Path) -> Callable:
    (tmp / "x.zarr").mkdir()
    return lambda: xs.open_cube(tmp / "x.zarr")


def foreign_checkpoint(tmp: Path) -> Callable:
    d = tmp / "model"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"arch": "something else"}))
    (d / "model.safetensors").write_bytes(b"\x00" * 64)
    return lambda: xs.models.load(d)


def corrupt_checkpoint_weights(tmp: Path) -> Callable:
    from xspecseg.models import get_model, save

    save(get_model("unet", base_channels=4, depth=2), tmp / "m", config={})
    w = tmp / "m" / "model.safetensors"
    w.write_bytes(w.read_bytes()[: len(w.read_bytes()) // 2])
    return lambda: xs.models.load(tmp / "m")


def model_band_outside_cube(tmp: Path) -> Callable:
    from xspecseg.models import get_model

    model = get_model("unet", base_channels=4, depth=2)
    model.xspecseg_config = {"band": [0.5, 9.0]}
    psd = xr.DataArray(np.ones((100, 41), np.float32), dims=("time", "frequency"),
                       coords={"frequency": np.linspace(0, 4, 41)})  # fmt: skip
    return lambda: xs.predict(psd, model)


def model_resolution_differs(tmp: Path) -> Callable:
    from xspecseg.models import get_model

    model = get_model("unet", base_channels=4, depth=2)
    model.xspecseg_config = {"band": [0.0, 4.0], "frequency_bins": 246}
    psd = xr.DataArray(np.ones((100, 41), np.float32), dims=("time", "frequency"),
                       coords={"frequency": np.linspace(0, 4, 41)})  # fmt: skip
    return lambda: xs.predict(psd, model)


def appending_with_other_parameters(tmp: Path) -> Callable:
    wave = random_waveform(hours=24, sampling_rate=10.0, chunk_seconds=86400)
    xs.write_cube(xs.build_cube(wave, SMALL), tmp / "c.zarr", progress=False)
    other = xs.CubeConfig(**{**_fields(SMALL), "nperseg": 512, "noverlap": 256})
    return lambda: xs.write_cube(xs.build_cube(wave, other), tmp / "c.zarr", progress=False)


def _fields(cfg):
    import dataclasses

    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}


ERRORS = [
    ("sample-rate mismatch", sample_rate_mismatch, "sampling_rate=20.0 Hz does not match"),
    ("truncated raw file", truncated_raw_file, "truncated"),
    ("raw period differs between files", raw_rate_differs_between_files, "period"),
    ("unknown format", unknown_format, "format"),
    ("non-monotonic times", non_monotonic_times, "monoton|duplicate|irregular"),
    ("wrong CSES layout", wrong_cses_layout, "missing|UTC_TIME"),
    ("not a cube store", not_a_cube_store, "not an xspecseg cube store"),
    ("foreign checkpoint", foreign_checkpoint, "not an xspecseg model config"),
    ("corrupt checkpoint weights", corrupt_checkpoint_weights, "weights|safetensors|corrupt"),
    ("model band outside the cube", model_band_outside_cube, "the data cover"),
    ("model trained at another resolution", model_resolution_differs, "frequency bins"),
    ("append with other parameters", appending_with_other_parameters, "nperseg"),
]


@pytest.mark.parametrize(("name", "build", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_bad_input_gets_a_clear_error(tmp_path, name, build, message):
    action = build(tmp_path)
    with pytest.raises((ValueError, FileNotFoundError, TypeError), match=message):
        action()


# ----------------------------------------------------------------------------------------
# documented repairs
# ----------------------------------------------------------------------------------------
def test_gaps_and_nan_are_filtered_around_not_through(tmp_path):
    wave = random_waveform(hours=24, sampling_rate=10.0, chunk_seconds=86400).compute()
    x = wave.values.copy()
    x[:, 300_000:336_000] = np.nan  # an hour
    x[1, 500_000] = np.nan  # a single sample
    cube = xs.build_cube(wave.copy(data=x), SMALL).compute()
    vf = cube.valid_fraction.values
    assert (vf[:, 51:55] == 0).all() and np.isnan(cube.psd.values[:, 51:55]).all()
    assert (vf[0, :50] == 1).all() and vf[1, 83] < 1 and vf[0, 83] == 1
    assert np.isfinite(cube.psd.values[vf > 0]).all()


def test_overlapping_raw_files_keep_no_duplicate_sample(tmp_path):
    a = np.arange(N_RAW, dtype=np.int64) % 30_000
    write_raw(tmp_path, 0, T0, a.astype(np.int16))
    second = T0 + timedelta(seconds=3599.783)  # the station's real overlap (~56 samples)
    write_raw(tmp_path, 0, second, (a + 7).astype(np.int16))
    wave = xs.io.open_waveform(tmp_path)
    n_overlap = N_RAW - round(3599.783 * 256)
    assert wave.sizes["time"] == 2 * N_RAW - n_overlap
    v = np.round(wave.values[0] * 2**15 / 10).astype(np.int64)
    np.testing.assert_array_equal(
        v[N_RAW - n_overlap :], (a + 7) % 2**16 - (((a + 7) % 2**16) >= 2**15) * 2**16
    )


def test_corrupt_chunk_is_found_and_rewritten(tmp_path):
    store = tmp_path / "c.zarr"
    wave = random_waveform(hours=72, sampling_rate=10.0, chunk_seconds=86400)
    cube = xs.build_cube(wave, SMALL)
    xs.write_cube(cube, store, progress=False)
    chunk = store / "psd" / "c" / "1" / "1" / "0"
    chunk.write_bytes(b"garbage" + chunk.read_bytes()[:10])
    with pytest.raises(Exception):  # noqa: B017 - zarr's own decode error
        _ = xs.open_cube(store).psd.values
    assert xs.cube.verify_cube(store) == [np.datetime64("2020-01-02")]
    assert xs.cube.verify_cube(store, repair=True) == [np.datetime64("2020-01-02")]
    with pytest.warns(UserWarning, match="not completely written"):
        assert np.isnan(xs.open_cube(store).psd.values[:, 144:288]).all()
    assert xs.write_cube(cube, store, progress=False) == [np.datetime64("2020-01-02")]
    np.testing.assert_array_equal(xs.open_cube(store, incomplete="raise").psd.values,
                                  cube.psd.values)  # fmt: skip


def test_half_written_store_skeleton_is_ignored_and_replaced(tmp_path):
    store = tmp_path / "c.zarr"
    partial = tmp_path / "c.zarr.init-partial"
    partial.mkdir()
    (partial / "zarr.json").write_text("{truncated")
    wave = random_waveform(hours=24, sampling_rate=10.0, chunk_seconds=86400)
    cube = xs.build_cube(wave, SMALL)
    assert not store.exists()
    xs.write_cube(cube, store, progress=False)
    assert not partial.exists()
    np.testing.assert_array_equal(xs.open_cube(store).psd.values, cube.psd.values)


def test_interrupted_probability_write_loses_nothing(tmp_path):
    import xspecseg._store as store_mod

    prob = xr.DataArray(
        np.random.default_rng(0).random((3000, 20)).astype(np.float32),
        dims=("time", "frequency"),
        coords={"time": np.datetime64("2020-01-01") + np.arange(3000) * np.timedelta64(100, "s"),
                "frequency": np.arange(20.0)},
        name="probability", attrs={"model": "m", "image_unit": "none"},
    ).chunk({"time": 1000})  # fmt: skip
    path = tmp_path / "p.zarr"
    real = store_mod._write_chunk
    calls = []

    def fail_on_third(*args, **kwargs):
        calls.append(args[-1])
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    store_mod._write_chunk = fail_on_third
    try:
        with pytest.raises(KeyboardInterrupt):
            import dask

            with dask.config.set(scheduler="synchronous"):
                xs.write_probability(prob, path, progress=False)
    finally:
        store_mod._write_chunk = real
    with pytest.warns(UserWarning):
        partial = xs.open_probability(path).values
    done, lost = calls[:2], calls[2]
    for k in done:
        assert np.isfinite(partial[k * 1000 : (k + 1) * 1000]).all()
    assert np.isnan(partial[lost * 1000 : (lost + 1) * 1000]).all()
    assert chunk_indices(path, xs.write_probability(prob, path, progress=False)) == [lost]
    np.testing.assert_array_equal(xs.open_probability(path).values, prob.values)


def test_interrupted_catalogue_write_keeps_the_old_file(tmp_path, monkeypatch):
    cat = xs.empty_catalogue()
    path = tmp_path / "events.nc"
    xs.write_catalogue(cat, path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", boom)
    with pytest.raises(OSError, match="disk full"):
        xs.write_catalogue(cat, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["events.nc"]


def test_interrupted_stats_write_keeps_the_old_file(tmp_path, monkeypatch):
    from xspecseg import cli

    xs.write_catalogue(xs.empty_catalogue(), tmp_path / "events.nc")
    out = tmp_path / "stats.nc"
    argv = ["stats", str(tmp_path / "events.nc"), "-o", str(out)]
    assert cli.main(argv) == 0
    before = out.read_bytes()

    def torn(self, path, *args, **kwargs):
        Path(path).write_bytes(b"CDF\x01 half a file")  # the disk fills up mid-write
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", torn)
    with pytest.raises(OSError, match="disk full"):
        cli.cmd_stats(cli.build_parser().parse_args(argv))
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.nc", "stats.nc"]


# ----------------------------------------------------------------------------------------
# fuzzing the readers
# ----------------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(
    size=st.integers(0, 2 * N_RAW + 3),
    n_info=st.sampled_from([N_RAW, N_RAW - 1, 0, 5]),
    period=st.sampled_from(["3906.000000", "3906.25", "abc", ""]),
)
def test_fuzz_raw_reader_reads_or_explains(tmp_path, size, n_info, period):
    d = tmp_path / f"f{size}-{n_info}-{period}"
    d.mkdir()
    p = d / "smplGRTU1_sensor_0_1503010049"
    p.write_bytes(b"\x01" * size)
    Path(f"{p}_info.txt").write_text(
        f"sampling period (usec): {period}\n1st sample timestamp: 01-03-2015 00:49:34.658 UTC\n"
        f"number of samples: {n_info}\n"
    )
    try:
        wave = xs.io.open_waveform(d, format="raw-int16")
    except (ValueError, FileNotFoundError) as err:
        assert str(err)
        return
    assert size == 2 * N_RAW and n_info == N_RAW
    assert wave.sizes["time"] == N_RAW
    shutil.rmtree(d)


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(
    pieces=st.lists(st.tuples(st.integers(0, 400), st.integers(1, 300)), min_size=1, max_size=4),
    rate=st.sampled_from([10.0, 20.0]),
)
def test_fuzz_mseed_reader_places_every_sample(tmp_path, pieces, rate):
    from obspy import Stream, Trace, UTCDateTime

    d = tmp_path / f"m{abs(hash((tuple(pieces), rate)))}"
    d.mkdir()
    t0 = UTCDateTime(2013, 5, 13)
    stream = Stream()
    for k, (offset, n) in enumerate(pieces):
        data = np.arange(n, dtype=np.float64) + 1000 * k
        stream += Trace(data=data, header={"network": "BP", "station": "S", "channel": "BX",
                                           "sampling_rate": rate,
                                           "starttime": t0 + offset / rate})  # fmt: skip
    stream.write(str(d / "a.mseed"), format="MSEED")
    try:
        wave = xs.io.open_waveform(d / "a.mseed")
        values = wave.values[0]
    except ValueError as err:  # overlapping pieces with different values
        assert "overlap" in str(err).lower() or "conflict" in str(err).lower()
        return
    covered = np.zeros(max(o + n for o, n in pieces), bool)
    for o, n in pieces:
        covered[o : o + n] = True
    start = min(o for o, _ in pieces)
    assert np.isfinite(values).sum() == covered.sum()
    assert wave.sizes["time"] == covered.size - start
