"""geomag: AACGM-v2 latitude grouped by day equals aacgmv2 per row; seasons, hemispheres."""

from __future__ import annotations

import datetime as dt

import aacgmv2
import dask.array as da
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from xspecseg import geomag
from xspecseg.geomag import (
    GROUPING_TOLERANCE_DEG,
    add_geomag_variables,
    hemisphere_of,
    local_time,
    magnetic_latitude,
    season_of,
)


def _per_row(lat, lon, alt, times) -> np.ndarray:
    """aacgmv2 called directly, one row at a time at the row's own time."""
    out = []
    for a, b, c, t in zip(lat, lon, alt, times):
        when = pd.Timestamp(t).to_pydatetime()
        v = aacgmv2.convert_latlon(float(a), float(b), float(c), when, method_code="G2A")[0]
        out.append(v)
    return np.asarray(out, dtype=float)


def _random_track(n: int, seed: int):
    rng = np.random.default_rng(seed)
    lat = rng.uniform(-89, 89, n)
    lon = rng.uniform(-180, 180, n)
    alt = rng.uniform(0, 1900, n)
    start = np.datetime64("1995-01-01", "ns")
    span_days = int((np.datetime64("2029-12-01") - np.datetime64("1995-01-01")).astype(int))
    days = rng.integers(0, span_days, n).astype("timedelta64[D]").astype("timedelta64[ns]")
    ms = rng.integers(0, 86_400_000, n).astype("timedelta64[ms]").astype("timedelta64[ns]")
    return lat, lon, alt, start + days + ms


def test_grouped_equals_per_row_within_tolerance():
    lat, lon, alt, t = _random_track(300, seed=3)
    # several rows share a day so the grouping is exercised, at times far from noon
    t[:40] = np.datetime64("2022-03-01T00:00:01", "ns") + np.arange(40) * np.timedelta64(35, "m")
    got = magnetic_latitude(lat, lon, alt, t)
    ref = _per_row(lat, lon, alt, t)
    assert got.shape == (300,)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    assert np.isnan(ref).sum() < 30  # most points are away from the magnetic equator
    assert np.nanmax(np.abs(got - ref)) <= GROUPING_TOLERANCE_DEG


def test_finer_resolution_is_closer():
    lat, lon, alt, t = _random_track(60, seed=4)
    ref = _per_row(lat, lon, alt, t)
    day = np.nanmax(np.abs(magnetic_latitude(lat, lon, alt, t) - ref))
    hour = np.nanmax(np.abs(magnetic_latitude(lat, lon, alt, t, resolution="1h") - ref))
    assert hour <= day
    assert hour < GROUPING_TOLERANCE_DEG / 10


def test_fixed_station_converts_once_per_day(monkeypatch):
    calls = []
    real = aacgmv2.convert_latlon_arr

    def spy(lat, lon, h, when, method_code="G2A"):
        calls.append((np.size(lat), when))
        return real(lat, lon, h, when, method_code=method_code)

    monkeypatch.setattr(aacgmv2, "convert_latlon_arr", spy)
    times = np.datetime64("2013-01-01T18:00", "ns") + np.arange(0, 72) * np.timedelta64(1, "h")
    got = magnetic_latitude(55.31, -3.21, 0.25, times)
    assert got.shape == times.shape
    assert len(calls) == 4  # 2013-01-01 .. 2013-01-04
    assert all(n == 1 for n, _ in calls)
    assert [w.hour for _, w in calls] == [12] * 4  # the midpoint of each UTC day
    monkeypatch.setattr(aacgmv2, "convert_latlon_arr", real)
    ref = _per_row([55.31] * 72, [-3.21] * 72, [0.25] * 72, times)
    assert np.max(np.abs(got - ref)) <= GROUPING_TOLERANCE_DEG


def test_scalar_and_broadcast_shapes():
    t = np.datetime64("2020-06-01T12:00", "ns")
    assert magnetic_latitude(55.3, -3.2, 0.0, t).shape == ()
    lat = np.array([[60.0, 65.0], [70.0, 75.0]])
    out = magnetic_latitude(lat, 20.0, 300.0, t)
    assert out.shape == (2, 2)
    np.testing.assert_allclose(out.ravel(), magnetic_latitude(lat.ravel(), 20.0, 300.0, t))
    # strings and datetime objects are accepted as times
    a = magnetic_latitude(55.3, -3.2, 0.0, "2020-06-01T12:00")
    b = magnetic_latitude(55.3, -3.2, 0.0, dt.datetime(2020, 6, 1, 12))
    assert float(a) == float(b) == float(magnetic_latitude(55.3, -3.2, 0.0, t))


def test_invalid_inputs_give_nan_not_errors():
    t = np.datetime64("2020-06-01", "ns")
    lat = np.array([60.0, 60.0, 60.0, 95.0, np.nan, 60.0, 1.7, 60.0])
    alt = np.array([-1.0, 2500.0, 100.0, 100.0, 100.0, np.nan, 70.0, 100.0])
    times = np.array([t, t, np.datetime64("NaT", "ns"), t, t, t, t, t])
    lon = np.array([10.0, 10, 10, 10, 10, 10, -7.5, 10])
    out = magnetic_latitude(lat, lon, alt, times)
    assert np.isnan(out[:7]).all()  # index 6 is near the magnetic equator
    assert np.isfinite(out[7])


def test_date_outside_igrf_is_nan():
    times = np.array(["2035-01-01", "2020-01-01"], dtype="datetime64[ns]")
    out = magnetic_latitude(60.0, 10.0, 100.0, times)
    assert np.isnan(out[0]) and np.isfinite(out[1])


def test_trace_allows_high_altitude():
    t = np.datetime64("2020-06-01", "ns")
    assert np.isnan(magnetic_latitude(60.0, 10.0, 2500.0, t))
    assert np.isfinite(magnetic_latitude(60.0, 10.0, 2500.0, t, trace=True))


def test_xarray_in_xarray_out_lazy():
    lat, lon, alt, t = _random_track(50, seed=5)
    ds = xr.Dataset(
        {
            "lat": ("event", da.from_array(lat, chunks=20)),
            "lon": ("event", lon),
            "alt": ("event", alt),
            "t": ("event", t),
        }
    )
    out = magnetic_latitude(ds.lat, ds.lon, ds.alt, ds.t)
    assert isinstance(out, xr.DataArray) and out.name == "magnetic_latitude"
    assert isinstance(out.data, da.Array)
    assert out.attrs["units"] == "degrees_north" and "AACGM-v2" in out.attrs["long_name"]
    np.testing.assert_array_equal(out.values, magnetic_latitude(lat, lon, alt, t))


def test_season_of():
    months = pd.date_range("2021-01-01", periods=12, freq="MS") + pd.Timedelta(days=14)
    got = season_of(months.values)
    want = ["DJF", "DJF", "MAM", "MAM", "MAM", "JJA", "JJA", "JJA", "SON", "SON", "SON", "DJF"]
    assert got.tolist() == want
    assert season_of(np.array(["NaT"], dtype="datetime64[ns]")).tolist() == [""]
    da_ = xr.DataArray(months.values, dims="event")
    out = season_of(da_)
    assert isinstance(out, xr.DataArray) and out.values.tolist() == want
    # before 1970 too (negative datetime64 months)
    assert season_of(np.datetime64("1969-12-31", "ns")).item() == "DJF"


def test_hemisphere_of():
    assert hemisphere_of([10.0, -0.5, 0.0, np.nan]).tolist() == ["N", "S", "N", ""]
    t = np.datetime64("2020-06-01", "ns")
    # a point just north of the equator lies south of the AACGM-v2 equator
    assert hemisphere_of(1.0, -180.0, 0.0, t).item() == "N"
    assert hemisphere_of(1.0, -180.0, 0.0, t, magnetic=True).item() == "S"
    lat, lon, alt, tt = _random_track(40, seed=6)
    mag = hemisphere_of(lat, lon, alt, tt, magnetic=True)
    np.testing.assert_array_equal(mag, hemisphere_of(magnetic_latitude(lat, lon, alt, tt)))
    with pytest.raises(ValueError, match="needs lon"):
        hemisphere_of(1.0, magnetic=True)
    assert isinstance(hemisphere_of(xr.DataArray([1.0, -1.0])), xr.DataArray)


def test_local_time():
    t = pd.to_datetime(["2013-01-01T23:00", "2013-06-01T01:30", "2013-06-01T12:00"])
    lon = np.array([-3.0, 30.0, -180.0])
    got = local_time(t.values, lon)
    ut = (t - t.normalize()).total_seconds().to_numpy() / 3600
    np.testing.assert_allclose(got, np.mod(ut + lon / 15, 24))
    np.testing.assert_allclose(got, [22.8, 3.5, 0.0])
    assert np.all((got >= 0) & (got < 24))
    # a station longitude broadcasts; NaT gives NaN
    assert np.isnan(local_time(np.array(["NaT"], dtype="datetime64[ns]"), 10.0)[0])
    out = local_time(xr.DataArray(t.values, dims="event"), 15.0)
    assert isinstance(out, xr.DataArray)
    np.testing.assert_allclose(out.values, np.mod(ut + 1, 24))


def test_add_geomag_variables_satellite_and_station():
    lat, lon, _, t = _random_track(30, seed=7)
    cat = xr.Dataset(
        {"peak_time": ("event", t), "latitude": ("event", lat), "longitude": ("event", lon)}
    )
    out = add_geomag_variables(cat, altitude_km=507.0)
    np.testing.assert_array_equal(
        out.magnetic_latitude.values, magnetic_latitude(lat, lon, 507.0, t)
    )
    assert out.season.values.tolist() == season_of(t).tolist()
    assert out.hemisphere.values.tolist() == hemisphere_of(lat).tolist()
    mag = add_geomag_variables(cat, altitude_km=507.0, hemisphere_by="magnetic")
    assert mag.hemisphere.values.tolist() == hemisphere_of(mag.magnetic_latitude.values).tolist()

    station = xr.Dataset(
        {"peak_time": ("event", t[:5])},
        attrs={"latitude": 55.31, "longitude": -3.21, "altitude_km": 0.25},
    )
    out = add_geomag_variables(station)
    assert out.magnetic_latitude.dims == ("event",)
    np.testing.assert_array_equal(
        out.magnetic_latitude.values, magnetic_latitude(55.31, -3.21, 0.25, t[:5])
    )
    assert set(out.hemisphere.values.tolist()) == {"N"}


def test_empty_inputs():
    empty_t = np.array([], dtype="datetime64[ns]")
    assert magnetic_latitude(np.array([]), np.array([]), 0.0, empty_t).shape == (0,)
    assert season_of(empty_t).shape == (0,)
    assert local_time(empty_t, 0.0).shape == (0,)


def test_bad_resolution():
    with pytest.raises(ValueError, match="positive"):
        magnetic_latitude(60.0, 0.0, 0.0, np.datetime64("2020-01-01"), resolution="0s")


def test_module_documents_tolerance():
    assert str(GROUPING_TOLERANCE_DEG) in geomag.__doc__


def test_conversions_in_parallel_threads_equal_serial_ones():
    """aacgmv2 keeps the last date's coefficients in C globals: threads must not mix them."""
    import datetime as dt
    from concurrent.futures import ThreadPoolExecutor

    from xspecseg.geomag import _convert_group

    rng = np.random.default_rng(0)
    lat, lon = rng.uniform(-80, 80, 200), rng.uniform(-180, 180, 200)
    alt = np.full(200, 500.0)
    days = [dt.datetime(2005 + k % 15, 1 + k % 12, 1 + k % 27, k % 24) for k in range(48)]
    serial = [_convert_group(lat, lon, alt, d, False) for d in days]
    for _ in range(3):  # without the lock, ~2 of 48 groups came out wrong per round
        with ThreadPoolExecutor(8) as ex:
            parallel = list(ex.map(lambda d: _convert_group(lat, lon, alt, d, False), days))
        for d, a, b in zip(days, serial, parallel):
            np.testing.assert_array_equal(a, b, err_msg=str(d))


def test_aacgm_convert_is_the_conversion_magnetic_latitude_groups():
    lat, lon, alt = np.array([55.31, -70.0]), np.array([-3.21, 40.0]), np.array([0.0, 500.0])
    when = dt.datetime(2013, 1, 1, 12)
    mlat, mlon = geomag.aacgm_convert(lat, lon, alt, when)
    ref, ref_lon, _ = aacgmv2.convert_latlon_arr(lat, lon, alt, when, method_code="G2A")
    np.testing.assert_allclose(mlat, ref)
    np.testing.assert_allclose(mlon, ref_lon)
    t = np.datetime64("2013-01-01T03:00", "ns")  # the day's midpoint is `when`
    np.testing.assert_allclose(magnetic_latitude(lat, lon, alt, t), mlat)
