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
    _dipole_mlat,
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


# --- domain randomisation: hard negatives, calibration, randomised parameter sets -------

from xspecseg.synth import randomised_cses_params  # noqa: E402
from xspecseg.synth.cses import (  # noqa: E402
    _ADDED_FIELDS,
    _render,
    halforbit_geometry,
)

# the original generator (before domain randomisation) on the first file of `files`
GOLDEN_MEAN_LOG10_Z = -6.800334
GOLDEN_ROW_MEANS_Z = [  # rows 0, 97, 194, ...: mean log10 A133_P
    -6.555022239685059, -6.897953987121582, -6.740833759307861, -6.858237266540527,
    -6.76253080368042, -6.726126670837402, -6.621129035949707, -6.701757907867432,
    -7.019364356994629, -6.891643047332764, -6.794528484344482,
]  # fmt: skip
GOLDEN_TRUTH_Z = 7822
ALL_HARD_NEGATIVES = dict(
    chorus_rate=4.0,
    auroral_hiss_rate=4.0,
    whistler_storm_rate=3.0,
    extra_line_rate=8.0,
    plhr_rate=4.0,
    burst_rate=20.0,
    fill_rate=4.0,
)


def test_defaults_reproduce_original_generator(files):
    with h5py.File(files[0]) as f:
        z = np.log10(f["A133_P"][()])
        truth = int(((f["SYNTH_TRUTH"][()] & 4) != 0).sum())
        keys = set(json.loads(f.attrs["SYNTH_PARAMS"]))
    # values pinned from the generator before the randomisation fields existed
    np.testing.assert_allclose(z[::97].mean(axis=1), GOLDEN_ROW_MEANS_Z, atol=1e-4)
    assert abs(z.mean() - GOLDEN_MEAN_LOG10_Z) < 1e-5
    assert abs(truth - GOLDEN_TRUTH_Z) <= 20
    # the new fields stay out of SYNTH_PARAMS while at their defaults (same file bytes)
    assert not keys & _ADDED_FIELDS
    assert "halforbit" in keys and "seed" in keys


def test_new_fields_json_roundtrip():
    p = CsesParams(calibration_gain=0.01, fill_rows=(2.0, 5.0), day_fraction=0.3)
    d = json.loads(p.to_json())
    assert d["calibration_gain"] == 0.01 and d["fill_rows"] == [2.0, 5.0]
    assert "chorus_rate" not in d  # still at its default
    assert _ADDED_FIELDS <= set(CsesParams.__dataclass_fields__)
    assert CsesParams.from_json(p.to_json()) == p
    with pytest.raises(ValueError, match="calibration_gain"):
        cses_orbits(START, days=0.01, out_dir="unused", calibration_gain=0.0)


@pytest.fixture(scope="module")
def two_passes():
    """(descending = day side, ascending = night side) half-orbits of START."""
    p = CsesParams(rate_scale=0.0)
    t0 = int(np.datetime64(START, "ms").astype(np.int64))
    hs = _halforbits_starting(t0, t0 + 86_400_000, p)
    h_day = int(next(h for h in hs if h % 2 == 0))
    h_night = int(next(h for h in hs if h % 2 == 1))
    return {h: halforbit_geometry(h, p) for h in (h_day, h_night)}, h_day, h_night


def _excess(two_passes, h, **kw):
    """log10 ratio of the Z spectrum with ``kw`` over the plain one (exactly 0 where the
    added emission is absent: every hard negative has its own random stream)."""
    geoms = two_passes[0]
    base, _, _ = _render(7, h, CsesParams(rate_scale=0.0), geoms[h])
    spec, truth, _ = _render(7, h, CsesParams(rate_scale=0.0, **kw), geoms[h])
    assert not truth["Z"].any()
    return np.log10(spec["Z"].astype(float) / base["Z"].astype(float)), geoms[h]


def test_chorus_outside_plasmasphere_below_08_fce(two_passes):
    _, h_day, h_night = two_passes
    for h in (h_day, h_night):
        ex, g = _excess(two_passes, h, chorus_rate=8.0)
        rows, cols = np.nonzero(ex > 0.05)
        assert rows.size > 200
        dml = np.abs(_dipole_mlat(g.lat.to_numpy(), g.lon.to_numpy()))
        assert dml[rows].min() > 57.5  # L > 3.5: outside the plasmapause
        fce = 873_600.0 * np.cos(np.deg2rad(dml[rows])) ** 6
        # 0.8 f_ce of the row an element starts in; it may run into the next row, where
        # f_ce is a few per cent lower (poleward)
        assert np.all(cols * 25.0 <= 0.85 * fce + 50.0)


def test_auroral_hiss_high_latitude_broadband_funnel(two_passes):
    _, h_day, _ = two_passes
    ex, g = _excess(two_passes, h_day, auroral_hiss_rate=4.0)
    hit = ex > 0.3
    rows = np.flatnonzero(hit.any(axis=1))
    assert rows.size > 30  # minutes long
    mlat = np.abs(g.mlat.to_numpy())
    assert np.nanmin(mlat[rows]) >= 59.0
    width = hit[rows].sum(axis=1) * 25.0
    assert width.max() > 8000.0  # broadband
    low_cut = np.array([np.flatnonzero(hit[r])[0] * 25.0 for r in rows])
    assert low_cut.max() - low_cut.min() > 3000.0  # funnel: the lower cutoff moves


def test_compact_auroral_hiss_band_limited_and_short(two_passes):
    _, h_day, _ = two_passes
    kw = dict(auroral_hiss_rate=4.0, auroral_hiss_compact=1.0)
    ex, g = _excess(two_passes, h_day, **kw)
    hit = ex > 0.3
    rows = np.flatnonzero(hit.any(axis=1))
    assert rows.size > 5
    assert np.nanmin(np.abs(g.mlat.to_numpy())[rows]) >= 59.0
    cols = np.flatnonzero(hit.any(axis=0)) * 25.0
    assert cols.min() >= 1500.0  # a lower cutoff at 2-8 kHz (soft edges reach below)
    width = hit[rows].sum(axis=1) * 25.0
    assert np.median(width) < 6000.0  # band-limited, unlike the broadband patches
    # with no compact share the broadband patches are exactly those of before the field
    # (the shipped model's training data): sum and pixel count of the excess as the
    # generator of commit c4bc7d6 drew it
    base, _ = _excess(two_passes, h_day, auroral_hiss_rate=4.0)
    again, _ = _excess(two_passes, h_day, auroral_hiss_rate=4.0, auroral_hiss_compact=0.0)
    assert np.array_equal(base, again)
    assert base.sum() == pytest.approx(162305.2780478965, rel=1e-9)
    assert int((base > 0.3).sum()) == 81418


def test_lhr_noise_cutoff_follows_the_field_strength(two_passes):
    _, h_day, _ = two_passes
    ex, g = _excess(two_passes, h_day, lhr_probability=1.0, lhr_decades=(1.0, 1.0))
    hit = ex > 0.3
    rows = np.flatnonzero(hit.any(axis=1))
    assert rows.size > 100  # most of the pass below 45-65 deg
    mlat = np.abs(g.mlat.to_numpy())
    assert np.nanmax(mlat[rows]) <= 65.0
    cut = np.array([np.flatnonzero(hit[r])[0] * 25.0 for r in rows])
    assert cut.min() >= 2000.0
    dml = _dipole_mlat(g.lat.to_numpy(), g.lon.to_numpy())[rows]
    # the lower cutoff rises with the dipole field strength (poleward), up to wander
    assert np.corrcoef(np.sqrt(1 + 3 * np.sin(np.deg2rad(dml)) ** 2), cut)[0, 1] > 0.5
    none, _ = _excess(two_passes, h_day, lhr_probability=0.0)
    assert np.all(none == 0)


def test_broadband_auroral_hiss_may_end_inside_the_band(two_passes):
    _, h_day, _ = two_passes
    kw = dict(auroral_hiss_rate=4.0, auroral_hiss_f_up_hz=(7000.0, 8000.0))
    ex, _ = _excess(two_passes, h_day, **kw)
    hit = ex > 0.3
    assert hit.any() and not hit[:, int(10_400 / 25.0) :].any()


def test_whistler_storms_night_side_only(two_passes):
    _, h_day, h_night = two_passes
    ex_day, _ = _excess(two_passes, h_day, whistler_storm_rate=5.0)
    assert np.all(ex_day == 0)  # the day side gets none
    ex, g = _excess(two_passes, h_night, whistler_storm_rate=5.0)
    rows = np.flatnonzero((ex > 0.3).any(axis=1))
    assert rows.size > 40
    assert np.abs(g.lat.to_numpy()[rows]).max() < 62.0


def test_extra_lines_constant_frequency(two_passes):
    _, h_day, _ = two_passes
    ex, _ = _excess(two_passes, h_day, extra_line_rate=10.0)
    hit = ex > 0.1
    cols = np.flatnonzero(hit.sum(axis=0) > 40)  # lines: long runs in one bin
    assert cols.size >= 3
    assert (hit.sum(axis=0) > 0).sum() < 80  # and nothing else
    assert (cols * 25.0 < 12_500).any()  # some inside the anomalies' band


def test_plhr_mid_latitude_low_khz(two_passes):
    _, h_day, h_night = two_passes
    for h in (h_day, h_night):
        ex, g = _excess(two_passes, h, plhr_rate=6.0)
        rows, cols = np.nonzero(ex > 0.05)
        assert rows.size > 50
        lat = np.abs(g.lat.to_numpy()[rows])
        assert lat.min() >= 20.0 and lat.max() <= 62.0
        f = cols * 25.0
        assert f.min() >= 400.0 and f.max() <= 6100.0
        # a comb, not a band: per affected row, many bins between the lines stay clear
        r0 = np.bincount(rows).argmax()
        band = ex[r0, cols[rows == r0].min() : cols[rows == r0].max() + 1]
        assert np.mean(band <= 0.05) > 0.2


def test_bursts_short_and_broadband(two_passes):
    _, h_day, _ = two_passes
    ex, _ = _excess(two_passes, h_day, burst_rate=20.0)
    hit = ex > 0.3
    rows = np.flatnonzero(hit.any(axis=1))
    assert 5 <= rows.size <= 3 * 40
    assert np.median(hit[rows].sum(axis=1)) * 25.0 > 5000.0


@pytest.fixture(scope="module")
def hard_files(tmp_path_factory):
    out = tmp_path_factory.mktemp("cses_hard")

    def write(name, **kw):
        kw = {"rate_scale": RATE, **kw}
        return cses_orbits(START, days=0.07, seed=5, out_dir=out / name, **kw)

    return write


def test_hard_negatives_never_in_truth(hard_files):
    plain = read_cses(hard_files("plain"), log10=True).load()
    hard = read_cses(hard_files("hard", **ALL_HARD_NEGATIVES), log10=True).load()
    assert not np.array_equal(np.isnan(plain.psd.values), np.isnan(hard.psd.values))
    t0, t1 = cses_truth(plain).values, cses_truth(hard).values
    assert t1.sum() > 100
    assert not np.any(t1 & ~t0)  # hard negatives only ever take truth away
    off = read_cses(hard_files("off", rate_scale=0.0, **ALL_HARD_NEGATIVES)).load()
    assert not cses_truth(off).values.any()
    assert (np.log10(off.psd) - plain.psd).max() > 1.0  # and they are there


def test_fill_rows_become_nan_with_false_truth(hard_files):
    plain = read_cses(hard_files("plain")).load()
    gaps = read_cses(hard_files("gaps", fill_rate=5.0)).load()
    nan = np.isnan(gaps.psd.values)
    rows = nan.any(axis=1)
    assert rows.sum() >= 3 and np.all(nan[rows])  # whole rows
    assert not cses_truth(gaps).values[rows].any()
    np.testing.assert_array_equal(gaps.psd.values[~rows], plain.psd.values[~rows])
    np.testing.assert_array_equal(gaps.truth.values[~rows], plain.truth.values[~rows])


def test_calibration_gain_multiplies_psd_exactly(hard_files):
    one = read_cses(hard_files("g1", fill_rate=3.0)).load()
    big = read_cses(hard_files("g1024", fill_rate=3.0, calibration_gain=1024.0)).load()
    # a power of two commutes with float32 rounding and bit-grooming: exact
    np.testing.assert_array_equal(big.psd.values, 1024.0 * one.psd.values)
    np.testing.assert_array_equal(big.truth.values, one.truth.values)
    small = read_cses(hard_files("g1e-3", fill_rate=3.0, calibration_gain=1e-3, keep_bits=23))
    full = read_cses(hard_files("g1k23", fill_rate=3.0, keep_bits=23)).load()
    np.testing.assert_allclose(small.psd.values, 1e-3 * full.psd.values, rtol=3e-7)
    assert np.isnan(small.psd.values).sum() == np.isnan(full.psd.values).sum() > 0


def test_noise_dof_is_the_scatter_of_averaged_periodograms(hard_files):
    from scipy.special import polygamma

    quiet = read_cses(hard_files("n-0", keep_bits=23, noise_decades=0.0)).load()
    k4 = read_cses(hard_files("n-k4", keep_bits=23, noise_dof=(4.0, 4.0))).load()
    np.testing.assert_array_equal(k4.truth.values, quiet.truth.values)  # the same world
    # the noise is a factor on the power, Gamma(K, 1/K), whose log has variance
    # trigamma(K) (each record also carries a 0.03-decade factor per row, removed with
    # each row's mean)
    r = np.log(k4.psd.values / quiet.psd.values)
    r = r - r.mean(axis=-1, keepdims=True)
    assert abs(r.var() / float(polygamma(1, 4.0)) - 1.0) < 0.02
    assert ((r - r.mean()) ** 3).mean() < -0.1 * r.std() ** 3  # skewed toward low power
    with pytest.raises(ValueError, match="noise_dof"):
        cses_anomaly_table(START, days=1, seed=1, noise_dof=(0.5, 4.0))
    with pytest.raises(ValueError, match="noise_dof"):
        cses_anomaly_table(START, days=1, seed=1, noise_dof=4.0)


def test_day_fraction_steers_anomalies_to_a_side():
    day = cses_anomaly_table(START, days=20, seed=3, rate_scale=5, day_fraction=1.0)
    night = cses_anomaly_table(START, days=20, seed=3, rate_scale=5, day_fraction=0.0)
    assert len(day) > 20 and len(night) > 20
    assert np.mean(day.orbit_direction == "descending") > 0.9
    assert np.mean(night.orbit_direction == "ascending") > 0.9


def test_compact_anomalies():
    kw = dict(freq_sigma_hz=(100.0, 300.0), duration_s=(10.0, 60.0), rate_scale=10)
    tab = cses_anomaly_table(START, days=10, seed=4, **kw)
    assert len(tab) > 10
    assert tab.sigma_f.between(0, 300.0).all() and tab.duration_s.between(9.99, 60.01).all()


def test_randomised_params_deterministic_and_in_range():
    assert randomised_cses_params(11) == randomised_cses_params(11)
    assert randomised_cses_params(11) != randomised_cses_params(12)
    sets = [randomised_cses_params(s) for s in range(200)]
    gains = np.array([k["calibration_gain"] for k in sets])
    assert gains.min() >= 1e-3 and gains.max() <= 1e3
    assert gains.min() < 1e-2 and gains.max() > 1e2  # spans several decades
    for k in sets:
        p = CsesParams(**k)  # every set is a valid parameter set
        assert CsesParams.from_json(p.to_json()) == p
        assert 0.8 <= k["bg_slope"] <= 2.4 and 300 <= k["bg_knee_hz"] <= 1500
        assert 0.0 <= k["bg_aurora_decades"] <= 1.0 and -0.2 <= k["bg_day_decades"] <= 0.5
        assert 0.2 <= k["day_fraction"] <= 0.8
        lo, hi = k["freq_sigma_hz"]
        assert 100 <= lo <= hi <= 1500
        lo, hi = k["duration_s"]
        assert 8 <= lo <= hi <= 240
        lo, hi = k["contrast_decades"]
        assert 0.25 <= lo < hi <= 2.5
        assert 4500 <= k["freq_mean_hz"] <= 7500
        # the shipped model's training sets: no field added after it was trained
        assert not {"auroral_hiss_compact", "auroral_hiss_f_up_hz", "lhr_probability"} & set(k)
        for name in ("chorus", "auroral_hiss", "extra_line", "plhr", "burst"):
            lo, hi = k[f"{name}_decades"]
            assert 0.2 <= lo < hi <= 2.7
    for name, hi in (("auroral_hiss_rate", 8.0), ("burst_rate", 40.0), ("fill_rate", 5.0)):
        r = np.array([k[name] for k in sets])
        assert r.max() <= hi and r.max() > hi / 3  # high rates occur
        assert 0.05 < np.mean(r == 0) < 0.4  # and sets without


def test_generator_and_reader_share_the_product_constants(files):
    from xspecseg.io import cses_format
    from xspecseg.synth import cses as synth_cses

    assert synth_cses.N_FREQ is cses_format.N_FREQ
    assert synth_cses.SPECTRUM_NAMES is cses_format.SPECTRUM_NAMES
    assert all(cses_format.NAME_RE.match(f.name) for f in files)
