"""Tests of xspecseg.io: format inference, raw-int16, miniSEED, netCDF/zarr, laziness."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dask
import numpy as np
import obspy
import pytest
import xarray as xr

import xspecseg.io.mseed as mseed_mod
import xspecseg.io.raw as raw_mod
import xspecseg.io.waveform as waveform_mod
from xspecseg import _timeaxis
from xspecseg.io import open_waveform, sierra_nevada_calibration, write_waveform

N = raw_mod.SAMPLES_PER_FILE
P_NS = 3_906_250  # 256 Hz
T0 = datetime(2015, 3, 1, 0, 49, 34, 658000, tzinfo=UTC)


# ------------------------------------------------------------------ raw-int16 helpers


def _write_raw(
    d: Path,
    sensor: int,
    start: datetime,
    data: np.ndarray,
    period_us: float = 3906.0,
    n_info: int | None = None,
    info: bool = True,
) -> Path:
    stamp = start.strftime("%y%m%d%H%M")
    path = d / f"smplGRTU1_sensor_{sensor}_{stamp}"
    data.astype("<i2").tofile(path)
    if info:
        ts = start.strftime("%d-%m-%Y %H:%M:%S.") + f"{start.microsecond // 1000:03d} UTC"
        (d / (path.name + "_info.txt")).write_text(
            f"file name: smpl_sensor_{sensor}_{stamp}\n"
            f"sampling period (usec): {period_us:.6f}\nsampling gain: 0\nsampling polarity: 0\n"
            f"1st sample timestamp: {ts}\nnumber of samples: {n_info or N}\n"
        )
    return path


def _ns(t: datetime) -> int:
    return int((t - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1)) * 1000


@pytest.fixture
def raw_day(tmp_path):
    """Three NS files (overlap, then a 1 s gap) and two EW files."""
    rng = np.random.default_rng(0)
    starts = [T0, T0 + timedelta(seconds=3599.783), T0 + timedelta(seconds=3599.783 + 3601)]
    data = {}
    for s, count in ((0, 3), (1, 2)):
        for k in range(count):
            x = rng.integers(-32768, 32767, N, dtype=np.int16)
            data[(s, k)] = x
            _write_raw(tmp_path, s, starts[k], x)
    offs = [round((_ns(t) - _ns(T0)) / P_NS) for t in starts]
    return tmp_path, data, offs


def test_raw_placement_overlap_and_gap(raw_day):
    d, data, offs = raw_day
    assert offs[1] == 921_544  # 3599.783 s at 256 Hz: a 56-sample overlap
    assert offs[2] - (offs[1] + N) == 256  # 1 s gap
    wave = open_waveform(d)
    assert wave.name == "waveform"
    assert wave.dims == ("component", "time")
    assert list(wave.component.values) == ["NS", "EW"]
    assert wave.dtype == np.float32
    assert wave.sizes["time"] == offs[2] + N
    assert wave.attrs["sampling_rate"] == 256.0
    assert wave.attrs["units"] == "V"
    assert wave.attrs["saturation_volts"] == 9.99
    assert np.datetime64(wave.attrs["start_time"]) == np.datetime64(_ns(T0), "ns")
    v = wave.values
    scale = 10 / 2**15
    ns = v[0]
    # the first file loses its overlapping tail; the second file starts at its own timestamp
    np.testing.assert_array_equal(ns[: offs[1]], data[(0, 0)][: offs[1]] * scale)
    np.testing.assert_array_equal(ns[offs[1] : offs[1] + N], data[(0, 1)] * scale)
    assert np.isnan(ns[offs[1] + N : offs[2]]).all()
    np.testing.assert_array_equal(ns[offs[2] :], data[(0, 2)] * scale)
    # no duplicated samples: every file sample appears at most once, total count adds up
    assert np.isfinite(ns).sum() == offs[1] + 2 * N
    # EW has no third file: NaN there
    assert np.isnan(v[1, offs[1] + N :]).all()
    np.testing.assert_array_equal(v[1, offs[1] : offs[1] + N], data[(1, 1)] * scale)
    t = wave.time.values
    assert t[offs[1]] == np.datetime64(_ns(T0), "ns") + np.timedelta64(offs[1] * P_NS, "ns")
    assert (
        abs(int(t[offs[1]].astype(np.int64)) - _ns(T0 + timedelta(seconds=3599.783))) <= P_NS // 2
    )
    assert (np.diff(t.astype(np.int64)) == P_NS).all()


def test_raw_open_reads_no_data(raw_day, monkeypatch):
    d, _, _offs = raw_day
    calls = []
    orig = raw_mod._read_int16

    def counting(path, start, count):
        calls.append((path, start, count))
        return orig(path, start, count)

    monkeypatch.setattr(raw_mod, "_read_int16", counting)
    wave = open_waveform(d, chunks=100_000)
    assert calls == []
    # one block reads only the file piece it needs
    wave.isel(component=0, time=slice(0, 10)).compute()
    assert len(calls) == 1
    assert calls[0][1:] == (0, 100_000)


def test_raw_chunking_is_irrelevant(raw_day):
    d, _, _ = raw_day
    a = open_waveform(d, chunks=65_536).values
    b = open_waveform(d).values
    np.testing.assert_array_equal(a, b)


def test_raw_errors(tmp_path):
    x = np.zeros(N, np.int16)
    (tmp_path / "trunc").mkdir()
    p = _write_raw(tmp_path / "trunc", 0, T0, x[:-10])
    with pytest.raises(ValueError, match=rf"{p.name}.*truncated"):
        open_waveform(tmp_path / "trunc")
    (tmp_path / "noinfo").mkdir()
    p = _write_raw(tmp_path / "noinfo", 0, T0, x, info=False)
    with pytest.raises(FileNotFoundError, match=r"_info\.txt"):
        open_waveform([p])
    (tmp_path / "period").mkdir()
    _write_raw(tmp_path / "period", 0, T0, x)
    _write_raw(tmp_path / "period", 0, T0 + timedelta(hours=1), x, period_us=4000.0)
    with pytest.raises(ValueError, match="different sampling periods"):
        open_waveform(tmp_path / "period")
    (tmp_path / "count").mkdir()
    _write_raw(tmp_path / "count", 0, T0, x, n_info=N - 5)
    with pytest.raises(ValueError, match="truncated or corrupt"):
        open_waveform(tmp_path / "count")


def test_raw_sensors_with_different_ranges(tmp_path):
    x = np.ones(N, np.int16)
    _write_raw(tmp_path, 0, T0, x)
    _write_raw(tmp_path, 1, T0 + timedelta(hours=1), 2 * x)
    wave = open_waveform(sorted(tmp_path.glob("*_info.txt")))  # sidecars stand for their files
    off = round(3600e9 / P_NS)
    assert wave.sizes["time"] == off + N
    v = wave.values
    assert np.isnan(v[1, :off]).all() and np.isnan(v[0, N:]).all()
    assert (v[0, :N] == np.float32(10 / 2**15)).all()


def test_calibration():
    f = np.array([6.0, 7.8, 14.0, 25.0])
    s = sierra_nevada_calibration(f)
    cap = 40e-12 + 0.65 * 55e-12 + 2e-12
    f0 = 1 / (2 * np.pi * np.sqrt(cap * 298e3))
    d = 320e3 / 2 * np.sqrt(cap / 298e3)
    ref = 1e12 / (2500 * 1.9e6) * np.sqrt((1 - (f / f0) ** 2) ** 2 + (2 * d * f / f0) ** 2) / f
    np.testing.assert_allclose(s, ref, rtol=1e-12)
    assert s.shape == (4,)
    import pickle

    assert pickle.loads(pickle.dumps(sierra_nevada_calibration)) is sierra_nevada_calibration


# ------------------------------------------------------------------ miniSEED

MS_T0 = obspy.UTCDateTime("2013-05-13T04:00:00")


def _trace(start_s: float, data, channel="BX", station="STA", rate=10.0):
    return obspy.Trace(
        np.asarray(data, dtype=np.float64),
        header={
            "network": "XX",
            "station": station,
            "location": "",
            "channel": channel,
            "sampling_rate": rate,
            "starttime": MS_T0 + start_s,
        },
    )


def _write_ms(path: Path, *traces) -> Path:
    obspy.Stream(list(traces)).write(str(path), format="MSEED")
    return path


def test_mseed_gap_overlap_two_traces_order(tmp_path):
    a = np.arange(100.0)
    f1 = _write_ms(tmp_path / "a.mseed", _trace(0, a))
    # gap: samples 100..149 missing
    f2 = _write_ms(tmp_path / "b.mseed", _trace(15.0, np.arange(150.0, 200.0)))
    # overlap that agrees with file a (samples 90..99) and continues to 109
    f3 = _write_ms(tmp_path / "c.mseed", _trace(9.0, np.arange(90.0, 110.0)))
    # two traces in one file for the other component, with a gap between them
    f4 = _write_ms(tmp_path / "d.mseed", _trace(0, -a[:50], "BY"), _trace(10.0, -a[:40], "BY"))
    wave = open_waveform([f4, f2, f3, f1], units="nT")  # out of order on purpose
    assert list(wave.component.values) == ["BX", "BY"]
    assert wave.sizes["time"] == 200
    assert wave.attrs["units"] == "nT" and wave.attrs["station"] == "XX.STA"
    assert np.datetime64(wave.attrs["start_time"]) == np.datetime64(MS_T0.ns, "ns")
    bx, by = wave.values
    np.testing.assert_array_equal(bx[:110], np.arange(110.0))
    assert np.isnan(bx[110:150]).all()
    np.testing.assert_array_equal(bx[150:], np.arange(150.0, 200.0))
    np.testing.assert_array_equal(by[:50], -a[:50])
    assert np.isnan(by[50:100]).all()
    np.testing.assert_array_equal(by[100:140], -a[:40])
    assert np.isnan(by[140:]).all()
    same = open_waveform(sorted(tmp_path.glob("*.mseed")), units="nT")
    xr.testing.assert_identical(wave, same)


def test_mseed_subsample_rounding(tmp_path):
    f1 = _write_ms(tmp_path / "a.mseed", _trace(0, np.arange(10.0)))
    f2 = _write_ms(tmp_path / "b.mseed", _trace(2.04, [7.0]))  # rounds to sample 20
    f3 = _write_ms(tmp_path / "c.mseed", _trace(2.96, [8.0]))  # rounds to sample 30
    v = open_waveform([f1, f2, f3]).values[0]
    assert v.size == 31
    assert v[20] == 7.0 and v[30] == 8.0 and np.isnan(v[[19, 21, 29]]).all()


def test_mseed_conflicting_overlap(tmp_path):
    f1 = _write_ms(tmp_path / "a.mseed", _trace(0, np.arange(100.0)))
    f2 = _write_ms(tmp_path / "b.mseed", _trace(9.0, np.arange(20.0)))
    wave = open_waveform([f1, f2])  # opening reads no samples, so the check runs on compute
    with pytest.raises(ValueError, match=r"conflicting overlapping samples: b\.mseed and a\.mseed"):
        wave.compute()


def test_mseed_errors(tmp_path):
    f1 = _write_ms(tmp_path / "a.mseed", _trace(0, np.arange(10.0)))
    f2 = _write_ms(tmp_path / "b.mseed", _trace(10, np.arange(10.0), rate=20.0))
    with pytest.raises(ValueError, match=r"sampling-rate mismatch.*a\.mseed.*b\.mseed"):
        open_waveform([f1, f2])
    f3 = _write_ms(tmp_path / "c.mseed", _trace(0, np.arange(10.0), station="OTHER"))
    with pytest.raises(ValueError, match=r"several stations.*c\.mseed"):
        open_waveform([f1, f3])


def test_mseed_lazy_and_detected_without_extension(tmp_path, monkeypatch):
    f = _write_ms(
        tmp_path / "record.dat", _trace(0, np.arange(30.0)), _trace(0, np.arange(30.0), "BY")
    )
    reads = []
    orig = mseed_mod._obspy_read

    def counting(path, *args, **kw):
        if not kw.get("headonly"):
            reads.append(path)
        return orig(path, *args, **kw)

    monkeypatch.setattr(mseed_mod, "_obspy_read", counting)
    wave = open_waveform(f)
    assert reads == []
    v = wave.values
    assert reads == [str(f)]  # one read of the file serves both components
    np.testing.assert_array_equal(v, [np.arange(30.0)] * 2)


# ------------------------------------------------------------------ dispatch errors


def test_dispatch_errors(tmp_path):
    with pytest.raises(ValueError, match="empty path list"):
        open_waveform([])
    with pytest.raises(FileNotFoundError, match="nothere"):
        open_waveform(tmp_path / "nothere.mseed")
    with pytest.raises(FileNotFoundError, match="matches no file"):
        open_waveform(str(tmp_path / "*.xyz"))
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a waveform at all" * 10)
    with pytest.raises(
        ValueError, match=r"junk\.bin.*known formats: raw-int16, mseed, netcdf, zarr"
    ):
        open_waveform(junk)
    with pytest.raises(ValueError, match="unknown format 'wav'"):
        open_waveform(junk, format="wav")


# ------------------------------------------------------------------ netCDF / zarr


def _small_wave(n=1000, fs=100.0, start="2020-01-01T00:00:00") -> xr.DataArray:
    rng = np.random.default_rng(1)
    data = rng.standard_normal((2, n)).astype(np.float32)
    data[1, 10:20] = np.nan
    coords = _timeaxis.regular_time_coords(np.datetime64(start, "ns"), n, fs, (n,), ["H", "D"])
    return xr.DataArray(
        data,
        coords=coords,
        dims=("component", "time"),
        name="waveform",
        attrs={
            "sampling_rate": fs,
            "units": "nT",
            "station": "ESK",
            "latitude": 55.3,
            "longitude": -3.2,
            "altitude_km": 0.24,
            "start_time": start,
        },
    ).chunk({"time": 300})


@pytest.mark.parametrize("ext", [".zarr", ".nc"])
def test_roundtrip(tmp_path, ext):
    wave = _small_wave()
    out = write_waveform(wave, tmp_path / f"w{ext}")
    assert out.exists() and not Path(str(out) + ".partial").exists()
    back = open_waveform(out)
    assert back.chunks is not None
    np.testing.assert_array_equal(back.values, wave.values)
    np.testing.assert_array_equal(back.time.values, wave.time.values)
    assert list(back.component.values) == ["H", "D"]
    for k in ("sampling_rate", "units", "station", "latitude", "longitude", "altitude_km"):
        assert back.attrs[k] == wave.attrs[k]
    assert np.datetime64(back.attrs["start_time"]) == np.datetime64("2020-01-01T00:00:00")
    with pytest.raises(FileExistsError):
        write_waveform(wave, out)
    write_waveform(wave * 2, out, overwrite=True)
    np.testing.assert_array_equal(open_waveform(out).values, (wave * 2).values)


@pytest.mark.parametrize("ext", [".zarr", ".nc"])
def test_write_waveform_computes_on_the_client_given(tmp_path, ext):
    """``client=`` steers execution as in the other writers (a recording ``get`` function
    stands in for a Client, which dask calls the same way)."""
    wave = _small_wave()
    calls = []

    def recorder(dsk, keys, **kwargs):
        calls.append(keys)
        return dask.get(dsk, keys, **kwargs)

    out = write_waveform(wave, tmp_path / f"w{ext}", client=recorder)
    assert calls
    np.testing.assert_array_equal(open_waveform(out).values, wave.values)


def test_roundtrip_from_mseed(tmp_path):
    f1 = _write_ms(tmp_path / "a.mseed", _trace(0, np.arange(100.0)))
    f2 = _write_ms(tmp_path / "b.mseed", _trace(15.0, np.arange(50.0)))
    wave = open_waveform([f1, f2])
    back = open_waveform(write_waveform(wave, tmp_path / "m.zarr"))
    np.testing.assert_array_equal(back.values, wave.values)
    assert back.dtype == np.float64


def test_half_written_zarr_is_not_the_store(tmp_path, monkeypatch):
    wave = _small_wave()

    def boom(self, store, *a, **kw):
        Path(store).mkdir()
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_zarr", boom)
    with pytest.raises(OSError, match="disk full"):
        write_waveform(wave, tmp_path / "w.zarr")
    assert not (tmp_path / "w.zarr").exists()
    assert (tmp_path / "w.zarr.partial").exists()


def _write_ds(path: Path, times, data=None, attrs=None, dims=("component", "time")):
    n = len(times)
    data = np.zeros((1, n), np.float32) if data is None else data
    ds = xr.Dataset(
        {"waveform": (dims, data, {"sampling_rate": 100.0} if attrs is None else attrs)},
        coords={"time": np.asarray(times, dtype="datetime64[ns]"), "component": ["Z"]},
    )
    ds.to_netcdf(path)
    return path


def test_netcdf_time_errors(tmp_path):
    base = np.datetime64("2020-01-01", "ns") + np.arange(10) * np.timedelta64(10_000_000, "ns")
    bad = base.copy()
    bad[5] = bad[3]
    with pytest.raises(ValueError, match=r"nm\.nc.*non-monotonic or duplicate"):
        open_waveform(_write_ds(tmp_path / "nm.nc", bad))
    dup = base.copy()
    dup[5] = dup[4]
    with pytest.raises(ValueError, match="non-monotonic or duplicate"):
        open_waveform(_write_ds(tmp_path / "dup.nc", dup))
    irr = base.copy()
    irr[5:] += np.timedelta64(1, "ms")
    with pytest.raises(ValueError, match="irregular"):
        open_waveform(_write_ds(tmp_path / "irr.nc", irr))
    with pytest.raises(ValueError, match="sampling_rate"):
        open_waveform(_write_ds(tmp_path / "nofs.nc", base, attrs={}))
    ds = xr.Dataset({"x": (("time",), np.zeros(10))}, coords={"time": base})
    ds.to_netcdf(tmp_path / "dims.nc")
    with pytest.raises(ValueError, match=r"dims\.nc.*component, time"):
        open_waveform(tmp_path / "dims.nc")


def test_netcdf_rate_mismatch_between_files(tmp_path):
    a = _small_wave(100, 100.0, "2020-01-01T00:00:00")
    b = _small_wave(100, 50.0, "2020-01-01T00:00:01")
    pa = write_waveform(a, tmp_path / "a.nc")
    pb = write_waveform(b, tmp_path / "b.nc")
    with pytest.raises(ValueError, match=r"sampling-rate mismatch.*a\.nc.*b\.nc"):
        open_waveform([pa, pb])


def test_long_record_time_checked_lazily(tmp_path, monkeypatch):
    # pretend the record is "long": no index, ends checked at open, chunks on compute
    monkeypatch.setattr(waveform_mod, "INDEX_MAX_SAMPLES", 100)
    monkeypatch.setattr(_timeaxis, "INDEX_MAX_SAMPLES", 100)
    wave = _small_wave(1000)
    ok = open_waveform(write_waveform(wave, tmp_path / "ok.zarr"))
    assert "time" not in ok.indexes
    np.testing.assert_array_equal(ok.values, wave.values)
    t = wave.time.values.copy()
    t[400], t[401] = t[401], t[400]  # ends fine, middle swapped
    ds = xr.Dataset(
        {"waveform": (("component", "time"), wave.values, wave.attrs)},
        coords={"time": t, "component": np.array(["H", "D"], dtype=object)},
    )
    ds.to_zarr(
        tmp_path / "bad.zarr",
        zarr_format=3,
        consolidated=False,
        encoding={"waveform": {"chunks": (1, 250)}, "time": {"chunks": (250,)}},
    )
    bad = open_waveform(tmp_path / "bad.zarr")
    bad.isel(time=slice(0, 250)).compute()  # a good chunk computes
    with pytest.raises(ValueError, match="non-monotonic or duplicate times"):
        bad.compute()
    t2 = wave.time.values.copy()
    t2[-1] += np.timedelta64(1, "ms")
    ds["time"] = t2
    ds.to_zarr(tmp_path / "bad2.zarr", zarr_format=3, consolidated=False)
    with pytest.raises(ValueError, match="irregular"):
        open_waveform(tmp_path / "bad2.zarr")


@pytest.mark.parametrize(
    ("encoding", "fmt"),
    [
        ({"units": "milliseconds since 2020-01-01", "dtype": "int64"}, "zarr"),
        # an epoch with an offset and a unit finer than the period: checked as stored
        ({"units": "microseconds since 2019-12-31T23:00:00-01:00", "dtype": "int64"}, "zarr"),
        ({"units": "nanoseconds since 1970-01-01", "dtype": "int64"}, "nc"),
        # stored values that are not integer counts: checked after decoding
        ({"units": "seconds since 2020-01-01", "dtype": "float64"}, "zarr"),
        ({"units": "seconds since 2020-01-01", "dtype": "int64"}, "nc"),
    ],
)
def test_long_record_time_checked_in_any_encoding(tmp_path, monkeypatch, encoding, fmt):
    """Stored CF times are checked against the regular axis whatever their unit and epoch;
    a shifted sample is reported at its decoded time."""
    monkeypatch.setattr(waveform_mod, "INDEX_MAX_SAMPLES", 100)
    monkeypatch.setattr(_timeaxis, "INDEX_MAX_SAMPLES", 100)
    fs = 0.5 if encoding["units"].startswith("seconds") else 100.0
    wave = _small_wave(1000, fs)

    def store(times, name):
        ds = xr.Dataset(
            {"waveform": (("component", "time"), wave.values, wave.attrs)},
            coords={"time": times, "component": np.array(["H", "D"], dtype=object)},
        )
        path = tmp_path / f"{name}.{fmt}"
        enc = {"time": dict(encoding)}
        if fmt == "zarr":
            enc["waveform"] = {"chunks": (1, 250)}
            enc["time"]["chunks"] = (250,)
            ds.to_zarr(path, zarr_format=3, consolidated=False, encoding=enc)
        else:
            ds.to_netcdf(path, engine="netcdf4", encoding=enc)
        return path

    t = wave.time.values.copy()
    ok = open_waveform(store(t, "ok"))
    np.testing.assert_array_equal(ok.time.values, t)
    np.testing.assert_array_equal(ok.values, wave.values)
    t[600] += np.timedelta64(round(0.5e9 / fs), "ns")  # half a period late
    bad = open_waveform(store(t, "bad"))
    with pytest.raises(ValueError, match=rf"irregular times: sample 600 is at {t[600]}"):
        bad.compute()


def test_zarr_waveform_store_chunks_are_checksummed(tmp_path):
    """A flipped bit in a stored chunk of samples or time stamps fails the read instead of
    reading as plausible values; the time stamps' regular steps pack small."""
    wave = _small_wave(400_000)
    # chunks longer than the period of the stamps' low bytes (131072 samples at 100 Hz)
    path = write_waveform(wave.chunk({"time": 200_000}), tmp_path / "w.zarr")
    assert xr.open_zarr(path).waveform.encoding["compressors"][-1].__class__.__name__ == (
        "Crc32cCodec"
    )
    stamps = sum(f.stat().st_size for f in (path / "time").rglob("*") if f.is_file())
    assert stamps < 0.1 * wave.sizes["time"] * 8
    for chunk in (path / "waveform" / "c" / "1" / "0", path / "time" / "c" / "0"):
        good = chunk.read_bytes()
        bad = bytearray(good)
        bad[len(bad) // 2] ^= 1 << 3
        chunk.write_bytes(bytes(bad))
        with pytest.raises(ValueError, match=r"(?i)checksum|crc"):
            open_waveform(path).compute()
        chunk.write_bytes(good)
    np.testing.assert_array_equal(open_waveform(path).values, wave.values)


# ------------------------------------------------------------------ real data


def _info_start_ns(info: Path) -> int:
    for line in info.read_text().splitlines():
        if line.startswith("1st sample timestamp"):
            stamp = line.split(":", 1)[1].strip().removesuffix(" UTC")
            return _ns(datetime.strptime(stamp, "%d-%m-%Y %H:%M:%S.%f").replace(tzinfo=UTC))
    raise AssertionError(info)


@pytest.mark.realdata
def test_real_sierra_nevada_day(shared_data):
    day = shared_data / "sierra_nevada_elf" / "2015-03-01"
    wave = open_waveform(day)
    assert list(wave.component.values) == ["NS", "EW"]
    assert wave.attrs["sampling_rate"] == 256.0
    names = (day / "ficheros1").read_text().split()
    starts = [_info_start_ns(day / f"{n}_info.txt") for n in names]
    t0 = min(starts)
    offs = [round((s - t0) / P_NS) for s in starts]
    dropped = sum(N - (b - a) for a, b in itertools.pairwise(offs))
    assert 24 * 50 < dropped < 24 * 60  # ~56 samples an hour
    assert wave.sizes["time"] == len(names) * N - dropped
    hours = wave.sizes["time"] / 256 / 3600
    assert 23.9 < hours < 24.1
    k = 5
    keep = offs[k + 1] - offs[k]
    got = wave.sel(component="EW").isel(time=slice(offs[k], offs[k] + keep)).values
    # float before scaling: int16 * 10 would wrap around in numpy
    ref = np.fromfile(day / names[k], dtype="<i2")[:keep].astype(np.float64) * 10 / 2**15
    np.testing.assert_array_equal(got, ref)
    t = int(wave.time.isel(time=offs[k]).values.astype(np.int64))
    assert abs(t - starts[k]) <= P_NS // 2


@pytest.mark.realdata
def test_real_mtpy_adelaide_bp05(shared_data):
    files = sorted((shared_data / "mtpy_adelaide").glob("BP05_*.mseed"))
    wave = open_waveform(files, units="nT")
    assert list(wave.component.values) == ["BX", "BY"]
    assert wave.attrs["sampling_rate"] == 10.0
    v = wave.values
    t0 = min(obspy.read(str(f), headonly=True)[0].stats.starttime.ns for f in files)
    covered = np.zeros(v.shape, bool)
    for f in files:
        for tr in obspy.read(str(f)):
            c = ["BX", "BY"].index(tr.stats.channel)
            off = (tr.stats.starttime.ns - t0) // 100_000_000
            np.testing.assert_array_equal(v[c, off : off + tr.stats.npts], tr.data)
            covered[c, off : off + tr.stats.npts] = True
    assert np.isnan(v[~covered]).all()
    assert (~covered).sum() > 0
    assert np.isfinite(v[covered]).all()


# ------------------------------------------------------------------ hostile files


def _plant_pickle(path: Path, marker: Path) -> Path:
    """A file that obspy's format detection would unpickle, creating ``marker`` if it does.

    obspy treats any file whose first 100 bytes mention ``obspy.core.stream`` as a pickled
    Stream and unpickles it; the payload here opens ``marker`` for writing.
    """
    import pickle

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path.write_bytes(b"S'obspy.core.stream'\n0" + pickle.dumps(Payload(), protocol=0))
    return path


def test_planted_pickle_is_live(tmp_path):
    # the hostile file really runs code when obspy is left to guess (the reference)
    marker = tmp_path / "ran"
    f = _plant_pickle(tmp_path / "x.bin", marker)
    with pytest.raises(Exception):  # noqa: B017 - only the side effect matters
        obspy.read(str(f))
    assert marker.exists()


@pytest.mark.parametrize(
    ("name", "how"),
    [
        ("record.mseed", "file"),
        ("record.mseed", "file-mseed"),
        ("record.dat", "file"),
        ("record.dat", "file-mseed"),
        ("notes.bin", "dir"),
        ("notes.bin", "dir-mseed"),
        ("notes.bin", "dir-raw"),
        ("notes.bin", "glob"),
        ("notes.bin", "cli-dir"),
        ("notes.bin", "cli-dir-raw"),
    ],
)
def test_no_data_file_runs_code(tmp_path, name, how):
    from xspecseg.cli import main

    marker = tmp_path / "ran"
    folder = tmp_path / "records"
    folder.mkdir()
    _write_ms(folder / "good.mseed", _trace(0, np.arange(30.0)))
    hostile = _plant_pickle(folder / name, marker)
    fmt = {"mseed": "mseed", "raw": "raw-int16"}.get(how.rsplit("-", 1)[-1])
    target = {"file": hostile, "glob": folder / "*"}.get(how.split("-")[0], folder)
    if how.startswith("cli"):
        args = ["cube", str(target), "-o", str(tmp_path / "c.zarr"), "--workers", "1"]
        main([*args, "--no-progress"] + (["--format", fmt] if fmt else []))
    else:
        try:
            open_waveform(target, format=fmt).compute()
        except (ValueError, FileNotFoundError):
            pass
    assert not marker.exists()


def test_a_synthetic_waveform_store_opens_cleanly_with_plain_xarray(tmp_path):
    """Consolidated metadata and no fixed-width unicode: ``xr.open_zarr`` warns of neither."""
    import json
    import subprocess
    import sys

    from xspecseg.cli import main

    store = tmp_path / "wave.zarr"
    argv = ["-q", "synth", "ground", "--days", "1", "-o", str(store), "--no-progress"]
    assert main(argv) == 0
    assert "consolidated_metadata" in json.loads((store / "zarr.json").read_text())
    for name in ("component", "time", "waveform"):
        meta = json.loads((store / name / "zarr.json").read_text())
        assert "fixed_length_utf32" not in json.dumps(meta["data_type"]), name
    code = (
        "import sys, xarray as xr; ds = xr.open_zarr(sys.argv[1]); "
        "assert ds.waveform.shape == (2, 8_640_000), ds; print(list(ds.component.values))"
    )
    run = subprocess.run(
        [sys.executable, "-W", "error", "-c", code, str(store)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "['H', 'D']"
    assert open_waveform(store).sizes["time"] == 8_640_000


# ------------------------------------------------------------------ one path rule


def test_path_rule_takes_existing_names_literally_and_refuses_empty_folders(tmp_path):
    from xspecseg.io._paths import expand_paths

    odd = tmp_path / "a[1].nc"  # an existing name is never read as a pattern
    odd.write_text("")
    assert expand_paths(odd, reader="r", members=lambda d: d.iterdir()) == [str(odd)]
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no files"):
        open_waveform(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match=r"holds no CSES_01_EFD_\*\.h5 files"):
        from xspecseg.io import read_cses

        read_cses(tmp_path / "empty")
    with pytest.raises(ValueError, match="read_cses: empty path list"):
        read_cses([])
