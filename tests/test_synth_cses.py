"""Synthetic CSES EFD VLF files: layout, geometry, truth and anomaly statistics."""

from __future__ import annotations

import datetime as dt
import json
import re

import aacgmv2
import h5py
import numpy as np
import pytest

from xspecseg.io.cses import read_cses
from xspecseg.synth.cses import (
    _SEASON_DAYS,
    CsesParams,
    _halforbits_starting,
    cses_anomaly_table,
    cses_orbits,
    cses_truth,
)

START = "2022-04-10"
RATE = 30.0  # raised so that a 0.14-day window surely holds anomalies
NAME = re.compile(r"^CSES_01_EFD_3_L02_A1_(\d{5})([01])_(\d{8}_\d{6})_(\d{8}_\d{6})_000\.h5$")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    out = tmp_path_factory.mktemp("cses")
    return cses_orbits(START, days=0.14, seed=5, out_dir=out, rate_scale=RATE)


@pytest.fixture(scope="module")
def sat(files):
    return read_cses(files, component="Z", log10=True).load()


def test_file_names_and_layout(files):
    assert len(files) >= 4
    for p in files:
        m = NAME.match(p.name)
        assert m, p.name
        with h5py.File(p) as f:
            n = f["UTC_TIME"].shape[0]
            assert 900 < n < 1100  # ~35 min of 2.048 s rows inside |lat| <= 65
            for k in ("A131_P", "A132_P", "A133_P"):
                assert f[k].shape == (n, 1024) and f[k].dtype == np.float32
            for k in ("UTC_TIME", "VERSE_TIME"):
                assert f[k].shape == (n, 1) and f[k].dtype == np.int64
            for k in ("GEO_LAT", "GEO_LON", "MAG_LAT", "MAG_LON", "ALTITUDE", "WORKMODE"):
                assert f[k].shape == (n, 1)
            assert f["FREQ"].shape == (1, 1024)
            np.testing.assert_allclose(f["FREQ"][0], np.arange(1024) * 25.0)
            for k in f:
                assert {"FillValue", "Units", "ValidRange"} <= set(f[k].attrs)
            assert int(f.attrs["ORBITNUM"]) == int(m[1])
            assert int(f.attrs["ORBITTYPE"]) == int(m[2])
            assert int(f.attrs["SAMPLERATE"]) == 51200
            params = json.loads(f.attrs["SYNTH_PARAMS"])
            assert params["seed"] == 5 and params["rate_scale"] == RATE
            t = f["UTC_TIME"][:, 0]
            assert str(t[0])[:8] + "_" + str(t[0])[8:14] == m[3]
            assert str(t[-1])[:8] + "_" + str(t[-1])[8:14] == m[4]


def test_times_decode_and_agree(files, sat):
    with h5py.File(files[0]) as f:
        verse = f["VERSE_TIME"][:, 0]
    first = sat.time.values[: verse.size]
    from_verse = np.datetime64("2009-01-01T00:00:00", "ms") + verse.astype("timedelta64[ms]")
    np.testing.assert_array_equal(first, from_verse.astype("datetime64[ns]"))
    steps = np.diff(sat.time.values[: verse.size]) / np.timedelta64(1, "ms")
    assert np.all(steps == 2048)
    assert np.all(np.diff(sat.time.values) > np.timedelta64(0))


def test_geometry_direction_latitude_local_time(sat):
    assert float(np.abs(sat.latitude).max()) <= 65.0 + 1e-4
    assert float(np.abs(sat.latitude).max()) > 64.5
    seen = set()
    for o in np.unique(sat.orbit.values):
        for d in ("ascending", "descending"):
            sel = (sat.orbit.values == o) & (sat.orbit_direction.values == d)
            if sel.sum() < 10:
                continue
            seen.add(d)
            lat = sat.latitude.values[sel]
            dlat = np.diff(lat)
            assert np.all(dlat > 0) if d == "ascending" else np.all(dlat < 0)
            i = int(np.argmin(np.abs(lat)))
            t = sat.time.values[sel][i]
            ut = (t - t.astype("datetime64[D]")) / np.timedelta64(1, "h")
            lt = (ut + sat.longitude.values[sel][i] / 15.0) % 24.0
            want = 2.0 if d == "ascending" else 14.0
            assert abs((lt - want + 12) % 24 - 12) < 1.0
            # and within a couple of hours over the whole recorded pass
            lts = (
                (sat.time.values[sel] - sat.time.values[sel].astype("datetime64[D]"))
                / np.timedelta64(1, "h")
                + sat.longitude.values[sel] / 15.0
            ) % 24.0
            assert np.all(np.abs((lts - want + 12) % 24 - 12) < 1.5)
    assert seen == {"ascending", "descending"}


def test_orbits_per_day():
    p = CsesParams()
    t0 = int(np.datetime64("2021-11-01", "ms").astype(np.int64))
    n = _halforbits_starting(t0, t0 + 10 * 86_400_000, p).size
    assert abs(n / 2 / 10 - 15.2) < 0.1


def test_mag_lat_is_aacgm(files):
    with h5py.File(files[1]) as f:
        lat = f["GEO_LAT"][:, 0].astype(float)
        lon = f["GEO_LON"][:, 0].astype(float)
        alt = f["ALTITUDE"][:, 0].astype(float)
        mlat = f["MAG_LAT"][:, 0].astype(float)
        fill = float(f["MAG_LAT"].attrs["FillValue"])
        utc = f["UTC_TIME"][:, 0]
    mlat[mlat == fill] = np.nan
    from xspecseg.io.cses import decode_utc_time

    times = decode_utc_time(utc)
    for i in np.linspace(0, lat.size - 1, 25).astype(int):
        when = times[i].astype("datetime64[us]").item()
        assert isinstance(when, dt.datetime)
        ref = aacgmv2.convert_latlon_arr(lat[i : i + 1], lon[i : i + 1], alt[i], when)[0][0]
        if np.isnan(ref):  # AACGM is undefined near the magnetic equator
            assert np.isnan(mlat[i])
        else:
            # float32 storage (~4e-6 deg) + one AACGM epoch per UTC day (< 3e-4 deg)
            assert abs(mlat[i] - ref) < 1e-3


def test_truth_bright_and_in_band(sat):
    truth = cses_truth(sat)
    assert truth.dtype == bool and truth.dims == ("time", "frequency")
    tv = truth.values
    assert tv.sum() > 500
    rows = tv.any(axis=1)
    mlat = np.abs(sat.magnetic_latitude.values[rows])
    assert np.all((mlat >= 58.0) & (mlat <= 80.0))
    psd = sat.psd.values
    # the local background: the same frequency bins in rows without truth
    background = np.nanmedian(np.where(rows[:, None], np.nan, psd), axis=0)
    excess = psd - background[None, :]
    assert np.mean(excess[tv] > 0) > 0.97
    assert np.median(excess[tv]) > 0.5  # decades
    # anomalies sit mostly in 0-12.5 kHz
    f = np.broadcast_to(sat.frequency.values, tv.shape)[tv]
    assert np.mean(f <= 12_500) > 0.95


def test_table_matches_files(files, sat):
    tab = cses_anomaly_table(START, days=1, seed=5, rate_scale=RATE)
    t_end = sat.time.values[-1]
    inside = tab[(tab.time >= sat.time.values[0]) & (tab.time <= t_end)]
    assert len(inside) >= 1
    truth = cses_truth(sat)
    for r in inside.itertuples():
        row = sat.sel(time=r.time)
        assert abs(float(row.magnetic_latitude) - r.magnetic_latitude) < 1e-3
        assert abs(float(row.latitude) - r.latitude) < 1e-3
        assert int(row.orbit) == r.orbit and str(row.orbit_direction.values) == r.orbit_direction
        hit = truth.sel(time=r.time).sel(frequency=slice(r.f_center - 500, r.f_center + 500))
        assert bool(hit.any())


def test_deterministic_per_orbit(files, tmp_path):
    name = files[2].name
    orbit = int(name[21:26])
    again = cses_orbits(
        "2022-04-09", days=2, seed=5, out_dir=tmp_path, rate_scale=RATE, orbits=[orbit]
    )
    assert name in [p.name for p in again]
    with h5py.File(files[2]) as a, h5py.File(tmp_path / name) as b:
        for k in ("A133_P", "A131_P", "SYNTH_TRUTH", "MAG_LAT", "UTC_TIME"):
            np.testing.assert_array_equal(a[k][()], b[k][()])
    other = cses_orbits("2022-04-09", days=2, seed=6, out_dir=tmp_path / "s6", orbits=[orbit])
    with h5py.File(files[2]) as a, h5py.File(other[0]) as b:
        assert not np.array_equal(a["A133_P"][:10], b["A133_P"][:10])


def test_cube_attrs_and_params_roundtrip(sat):
    sp = json.loads(sat.attrs["synth_params"])
    assert sp["seed"] == 5
    p = CsesParams.from_json(sat.attrs["synth_params"])
    assert p.rate_scale == RATE and p.mlat_band == (58.0, 80.0)
    assert CsesParams.from_json(p.to_json()) == p


def test_truth_needs_synthetic_cube(sat):
    with pytest.raises(ValueError, match="no `truth`"):
        cses_truth(sat.drop_vars("truth"))


def _ci_ok(count: int, expected: float, overdispersion: float, z: float = 4.0) -> bool:
    return abs(count - expected) <= z * np.sqrt(expected * overdispersion)


def test_year_statistics_match_configuration():
    scale = 4.0
    p = CsesParams(rate_scale=scale)
    tab = cses_anomaly_table("2021-11-01", days=365, seed=11, rate_scale=scale)
    m = p.regions_per_orbit
    # groups of 1 + Poisson(m - 1) anomalies: variance / mean of the compound Poisson count
    over = (1 + 3 * (m - 1) + (m - 1) ** 2) / m
    days_in = {"DJF": 90, "MAM": 92, "JJA": 92, "SON": 91}  # Nov 2021 - Oct 2022
    counts = tab.season.value_counts()
    for s, per_year in p.season_counts.items():
        expected = scale * per_year * days_in[s] / _SEASON_DAYS[s]
        assert _ci_ok(int(counts.get(s, 0)), expected, over), (s, counts.get(s), expected)
    n = len(tab)
    assert _ci_ok(n, scale * 453, over)
    north = int((tab.hemisphere == "N").sum())
    sd = np.sqrt(n * 0.59 * 0.41 * over)
    assert abs(north - 0.59 * n) < 4 * sd
    # hemisphere agrees with the sign of the (geographic and magnetic) latitude
    assert np.all((tab.latitude > 0) == (tab.hemisphere == "N"))
    assert np.all(np.sign(tab.magnetic_latitude) == np.sign(tab.latitude))
    mlat = tab.magnetic_latitude.abs()
    assert mlat.between(58, 80).all()
    assert tab.latitude.abs().between(40, 65).all()
    assert (tab.f_center <= 12_500).all() and abs(tab.f_center.median() - 6200) < 300
    assert tab.duration_s.between(19.9, 180.1).all()
    # several regions can share a half-orbit, as in the paper (453 on 402)
    assert tab.groupby(["orbit", "orbit_direction"]).ngroups < n


def test_table_is_window_independent():
    a = cses_anomaly_table("2022-01-01", days=20, seed=2, rate_scale=5)
    b = cses_anomaly_table("2022-01-10", days=3, seed=2, rate_scale=5)
    sel = a[(a.time >= "2022-01-10") & (a.time < "2022-01-13")]
    # half-orbits belong to the day they start in: compare on those starting inside
    assert set(b.time) <= set(a.time)
    assert len(set(sel.time) ^ set(b.time)) <= 2
