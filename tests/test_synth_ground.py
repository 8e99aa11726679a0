"""Synthetic ground-station generator: determinism, laziness, truth and disturbances."""

from __future__ import annotations

import json

import dask
import numpy as np
import pytest
import scipy.signal
import xarray as xr
from dask.callbacks import Callback

import xspecseg as xs
from xspecseg import synth
from xspecseg.synth import ground

DAY = 8_640_000  # samples a day at 100 Hz

# a quiet bed where only what a test switches on is present
QUIET = dict(manmade_probability=0.0, gap_probability=0.0, pc1_rate=0.0, lightning_rate=0.0)


def scipy_cube(wave: xr.DataArray) -> xr.Dataset:
    """The IAR-preset cube with plain scipy: the reference a user would write."""
    cfg = xs.CubeConfig.preset("iar")
    sos = scipy.signal.butter(cfg.order, cfg.band, "band", fs=cfg.sampling_rate, output="sos")
    x = np.asarray(wave.values, dtype=np.float64)
    nb = x.shape[1] // cfg.block_samples
    fsl = cfg.frequency_slice()
    out = []
    for c in range(x.shape[0]):
        y = scipy.signal.sosfiltfilt(sos, np.nan_to_num(x[c]))
        blocks = y[: nb * cfg.block_samples].reshape(nb, cfg.block_samples)
        _, p = scipy.signal.welch(
            blocks, fs=cfg.sampling_rate, nperseg=cfg.nperseg, noverlap=cfg.noverlap
        )
        out.append(p[:, fsl].astype(np.float32))
    t0 = np.datetime64(wave.attrs["start_time"], "ns")
    times = t0 + np.arange(nb) * np.timedelta64(round(cfg.block_seconds * 1e9), "ns")
    return xr.Dataset(
        {"psd": (("component", "time", "frequency"), np.stack(out))},
        coords={"component": wave.component.values, "time": times, "frequency": cfg.frequencies()},
        attrs={**wave.attrs, **cfg.to_attrs()},
    )


def make_cube(wave: xr.DataArray) -> xr.Dataset:
    """``xs.build_cube`` where the package has it, else the scipy reference."""
    try:
        build = xs.build_cube
    except (ImportError, AttributeError):
        return scipy_cube(wave)
    return build(wave, xs.CubeConfig.preset("iar")).compute()


class _Counter(Callback):
    def __init__(self):
        super().__init__()
        self.n = 0

    def _pretask(self, key, dask, state):
        self.n += 1


def test_day_is_bit_identical_alone_or_in_a_window():
    kw = dict(seed=5, components=("H", "D"), gap_probability=0.5, manmade_probability=0.5)
    window = synth.ground_station("2013-02-13", days=3, **kw)
    alone = synth.ground_station("2013-02-14", days=1, **kw)
    a = window.isel(time=slice(DAY, 2 * DAY)).values
    b = alone.values
    assert a.dtype == np.float32 and a.shape == (2, DAY)
    np.testing.assert_array_equal(a, b)  # NaN-aware, exact
    # components are independent noise, not copies
    assert not np.array_equal(a[0], a[1])
    # another seed is another record
    other = synth.ground_station("2013-02-14", days=1, seed=6, components=("H",))
    assert not np.array_equal(other.values[0], b[0])


def test_components_keep_their_stream_whatever_the_order():
    d = synth.ground_station("2013-02-14", days=1, seed=2, components=("D",), **QUIET)
    hd = synth.ground_station("2013-02-14", days=1, seed=2, components=("H", "D"), **QUIET)
    np.testing.assert_array_equal(d.values[0], hd.values[1])


def test_year_is_lazy_one_task_per_day():
    counter = _Counter()
    with counter:
        wave = synth.ground_station("2013-01-01", days=365, seed=0)
        assert wave.data.numblocks == (1, 365)
        assert len(dict(wave.data.__dask_graph__())) == 365
        assert wave.sizes["time"] == 365 * DAY
    assert counter.n == 0
    attrs = wave.attrs
    assert attrs["units"] == "pT" and attrs["sampling_rate"] == 100.0
    assert attrs["altitude_km"] == 0.24 and attrs["station"] == "ESK"
    assert attrs["start_time"].startswith("2013-01-01T00:00:00")
    sp = json.loads(attrs["synth_params"])
    assert sp["seed"] == 0 and sp["iar_rate_winter"] == ground.GroundParams().iar_rate_winter


def test_arguments_are_checked():
    with pytest.raises(TypeError, match="unknown"):
        synth.ground_station(days=1, no_such_parameter=1)
    with pytest.raises(ValueError, match="midnight"):
        synth.ground_station("2013-01-01T06:00", days=1)


def test_background_psd_matches_the_model():
    p = dict(QUIET, iar=False, background_day_sigma=0.0)
    wave = synth.ground_station("2013-06-14", days=1, seed=3, components=("H",), **p)
    x = wave.values[0, 12 * 360_000 : 13 * 360_000].astype(float)  # 12-13 UT
    f, pxx = scipy.signal.welch(x, fs=100.0, nperseg=4096)
    t = np.array([np.datetime64("2013-06-14T12:30", "s").astype(np.int64).astype(float)])
    base, _ = ground._model_psd(3, t, f, ground.GroundParams(**p), None)
    band = (f > 0.5) & (f < 30)
    ratio = pxx[band] / base[0, band]
    assert 0.93 < np.median(ratio) < 1.07
    # Schumann's first mode is a bump over its surroundings
    i = lambda fq: np.argmin(abs(f - fq))  # noqa: E731
    assert pxx[i(7.8) - 5 : i(7.8) + 5].mean() > 2 * pxx[i(4.5) - 5 : i(4.5) + 5].mean()


@pytest.fixture(scope="module")
def night_pair():
    """The night of 2013-02-14 with forced IARs, and the same record without them."""
    kw = dict(QUIET, iar_rate_winter=1.0, iar_rate_summer=1.0)
    with_iar = synth.ground_station("2013-02-14", days=2, seed=11, components=("H",), **kw)
    without = synth.ground_station(
        "2013-02-14", days=2, seed=11, components=("H",), iar=False, **kw
    )
    return make_cube(with_iar), make_cube(without)


def test_truth_pixels_carry_the_injected_power(night_pair):
    cube, bare = night_pair
    truth = synth.iar_truth(cube)
    assert truth.dtype == bool and truth.dims == ("time", "frequency")
    np.testing.assert_array_equal(truth.time.values, cube.time.values)
    np.testing.assert_array_equal(truth.frequency.values, cube.frequency.values)
    n = int(truth.sum())
    assert n > 2000  # a night of several fringes
    # the IAR-free record shares the noise realisation: the ratio isolates the IARs
    ratio = (cube.psd.sel(component="H") / bare.psd.sel(component="H")).values
    inside = ratio[truth.values]
    hour = (truth.time.dt.hour + truth.time.dt.minute / 60).values
    night = (hour >= 18) | (hour < 6)
    outside = ratio[night[:, None] & ~truth.values & (truth.frequency.values > 0.6)[None, :]]
    assert np.median(inside) > 1.4
    assert np.mean(inside > 1.15) > 0.95
    assert np.median(outside) < 1.1
    # no truth outside the night window, and the daytime is untouched by the generator
    assert not truth.values[~night].any()
    np.testing.assert_allclose(ratio[~night], 1.0, rtol=1e-3)
    # a bare cube has no truth
    assert not synth.iar_truth(bare).any()


def test_no_truth_inside_a_recording_gap():
    # seed 5 schedules gaps at 01:00-03:00 UT on the IAR night of 2013-02-14
    kw = dict(QUIET, gap_probability=1.0, iar_rate_winter=1.0, iar_rate_summer=1.0)
    cube = make_cube(synth.ground_station("2013-02-14", days=2, seed=5, components=("H",), **kw))
    gaps = synth.disturbances("2013-02-14", days=2, seed=5, **kw).gap_mask.values.ravel()
    hour = ((cube.time.values - np.datetime64("2013-02-14")) // np.timedelta64(1, "h")).astype(int)
    in_gap = gaps[hour] & gaps[np.minimum(hour + 1, gaps.size - 1)]  # wholly inside a gap hour
    assert in_gap.sum() >= 36
    grid_only = xr.Dataset(
        coords={"time": cube.time, "frequency": cube.frequency}, attrs=cube.attrs
    )
    expected = synth.iar_truth(grid_only).values  # the generator's fringes, blind to gaps
    assert expected[in_gap].sum() > 500  # the fringes cross the gap
    truth = synth.iar_truth(cube).values
    no_data = cube.psd.isnull().all("component").values
    assert no_data[in_gap].all()
    assert not truth[no_data].any()
    np.testing.assert_array_equal(truth[~no_data], expected[~no_data])
    # a training image of that night: no label on the gap's (NaN) pixels
    from xspecseg.training import from_cube

    imgs = from_cube(cube, labels="truth")
    for x, m in zip(imgs.images, imgs.masks):
        assert m.any() and not m[~np.isfinite(x)].any()


def test_truth_follows_the_nights_fringe_spacing(night_pair):
    cube, _ = night_pair
    truth = synth.iar_truth(cube)
    info = synth.iar_truth_nights(
        "2013-02-14", days=1, seed=11, iar_rate_winter=1.0, iar_rate_summer=1.0
    )
    assert bool(info.has_iar[0])
    # at midnight, distances between truth bands equal the night's Δf
    col = truth.sel(time="2013-02-15T00:00").values[0]
    f = truth.frequency.values
    edges = np.flatnonzero(np.diff(col.astype(int)) == 1)
    centres = []
    for e in edges:
        run = np.flatnonzero(col[e + 1 :] == 0)
        centres.append(f[e + 1 : e + 1 + (run[0] if run.size else 1)].mean())
    spacing = np.median(np.diff(centres))
    t = np.array([np.datetime64("2013-02-15T00:00", "s").astype(np.int64).astype(float)])
    p = ground.GroundParams(**QUIET, iar_rate_winter=1.0, iar_rate_summer=1.0)
    night = ground._night(11, int(np.datetime64("2013-02-14", "D").astype(int)), p)
    df, _ = ground._night_df_f0(night, t, p)
    assert len(centres) >= 3
    assert abs(spacing - df[0]) < 0.05


def test_negative_controls_and_seasonal_occurrence():
    p = ground.GroundParams()
    nights = synth.iar_truth_nights("2013-01-01", days=3 * 365, seed=0)
    assert nights.sizes["night"] == 3 * 365
    has = nights.has_iar.values
    assert 0 < has.sum() < has.size  # negative-control nights exist
    by = {}
    for s in ("DJF", "MAM", "JJA", "SON"):
        m = nights.season.values == s
        rate = nights.rate.values[m]
        obs, exp = has[m].sum(), rate.sum()
        sd = np.sqrt(np.sum(rate * (1 - rate)))
        assert abs(obs - exp) < 4 * sd, (s, obs, exp, sd)
        by[s] = has[m].mean()
    assert by["DJF"] > by["JJA"] + 0.3
    assert p.iar_rate_summer <= nights.rate.min() + 1e-9
    assert nights.rate.max() <= p.iar_rate_winter + 1e-9
    # Δf is larger in winter, and within the configured range
    df = nights.delta_f.values
    assert df[nights.season.values == "DJF"].mean() > df[nights.season.values == "JJA"].mean()
    assert (nights.delta_f_min >= p.iar_delta_f_range[0]).all()
    assert (nights.delta_f_max <= p.iar_delta_f_range[1]).all()
    assert ((nights.n_fringes >= 3) & (nights.n_fringes <= 12)).all()
    # the night window: IARs start after 18 UT and end by 06 UT the next day
    assert (nights.start_time.dt.hour >= 18).all() and (nights.end_time.dt.hour < 6).all()
    # the truth-only path is per-night deterministic too
    again = synth.iar_truth_nights("2014-01-01", days=10, seed=0)
    xr.testing.assert_equal(again.drop_attrs(), nights.sel(night=again.night).drop_attrs())


def test_disturbances_are_present_when_enabled():
    kw = dict(
        seed=4,
        components=("H",),
        manmade_probability=1.0,
        manmade_pulsing_fraction=0.0,  # continuous: clean lines
        gap_probability=1.0,
        lightning_rate=3000.0,
        pc1_rate=0.0,
    )
    wave = synth.ground_station("2013-05-25", days=1, **kw)
    x = wave.values[0]
    sched = synth.disturbances(
        "2013-05-25", days=1, **{k: v for k, v in kw.items() if k != "components"}
    )
    # whole missing hours, exactly those scheduled
    hours_nan = np.isnan(x).reshape(24, -1)
    assert hours_nan.any()
    np.testing.assert_array_equal(hours_nan.all(1), sched.gap_mask.values[0])
    np.testing.assert_array_equal(hours_nan.any(1), hours_nan.all(1))
    # saturated samples, clipped at the level in attrs
    sat = wave.attrs["saturation"]
    assert np.nanmax(np.abs(x)) == np.float32(sat)
    assert (np.abs(x) == np.float32(sat)).sum() > 0
    # 1 Hz harmonics while the source is on
    ev = ground._day(
        4,
        int(np.datetime64("2013-05-25", "D").astype(int)),
        ground.GroundParams(**{k: v for k, v in kw.items() if k not in ("seed", "components")}),
    )
    assert sched.manmade.values[0] == "continuous"
    a, b = ev.manmade_on[0]
    seg = x[round(a * 100) : round(b * 100)]
    seg = seg[~np.isnan(seg)][: 600 * 100]
    assert seg.size > 4096 * 4
    f, pxx = scipy.signal.welch(seg, fs=100.0, nperseg=4096)
    for k in range(1, 10):
        i = np.argmin(abs(f - k))
        line = pxx[i - 1 : i + 2].max()
        floor = np.median(pxx[i + 5 : i + 30])
        assert line > 5 * floor, (k, line, floor)


def test_pulsing_makes_broadband_stripes():
    kw = dict(QUIET, manmade_probability=1.0, manmade_pulsing_fraction=1.0, iar=False)
    wave = synth.ground_station("2013-05-25", days=1, seed=1, components=("H",), **kw)
    ev = ground._day(
        1, int(np.datetime64("2013-05-25", "D").astype(int)), ground.GroundParams(**kw)
    )
    assert len(ev.manmade_on) > 3
    x = wave.values[0].astype(float)
    on = np.zeros(x.size, bool)
    for a, b in ev.manmade_on:
        on[round(a * 100) : round(b * 100)] = True
    # on-samples carry more power than off-samples across the band
    sos = scipy.signal.butter(4, [3.2, 7.0], "band", fs=100.0, output="sos")
    y = scipy.signal.sosfiltfilt(sos, x)
    assert np.var(y[on]) > 2 * np.var(y[~on])


def test_iar_truth_needs_synth_params():
    grid = xr.Dataset(coords={"time": np.array(["2013-01-01"], "M8[ns]"), "frequency": [1.0]})
    with pytest.raises(ValueError, match="synth_params"):
        synth.iar_truth(grid)


def test_dask_computes_only_the_days_asked_for():
    wave = synth.ground_station("2013-01-01", days=30, seed=0, components=("H",))
    counter = _Counter()
    with counter, dask.config.set(scheduler="synchronous"):
        _ = wave.isel(time=slice(5 * DAY, 5 * DAY + 10)).values
    assert counter.n <= 3  # the day's task and the slice, not 30 days


# -- domain randomisation and hard negatives -------------------------------------------------

SEC = 100  # samples a second


def _day_num(date: str) -> int:
    return int(np.datetime64(date, "D").astype(np.int64))


def _wave(date: str, seed: int, days: int = 1, comps=("H",), **kw) -> np.ndarray:
    return synth.ground_station(date, days=days, seed=seed, components=comps, **kw).values


def _band_power(x: np.ndarray, lo: float, hi: float) -> float:
    f, pxx = scipy.signal.welch(x, fs=100.0, nperseg=4096)
    return float(pxx[(f >= lo) & (f <= hi)].mean())


def test_default_record_is_unchanged():
    # values computed with the generator before the optional ingredients existed: the
    # defaults must keep every bit (cached data and published seeds stay valid)
    wave = synth.ground_station("2013-12-12", days=1, seed=1, components=("H", "D"))
    x = wave.values
    idx = [7, 785460, 1570914, 2356368, 3141822, 3927276, 4712729]
    vals = {
        "H": [1.4261739, -2.6813378, -1.2615443, -1.5202496, 0.23713163, -2.7403042, 0.45598507],
        "D": [0.55191493, 0.98490071, -1.4623389, 7.0680251, 0.54503947, 1.2370836, 0.52354228],
    }
    np.testing.assert_allclose(x[0, idx], vals["H"], rtol=2e-6)
    np.testing.assert_allclose(x[1, idx], vals["D"], rtol=2e-6)
    hourly = (x.astype(np.float64).reshape(2, 24, -1) ** 2).mean(-1)
    np.testing.assert_allclose(
        hourly[0, [0, 6, 12, 18, 23]],
        [5.2205846256, 8.6521560104, 9.3441811312, 8.1096613175, 6.3615253901],
        rtol=1e-7,
    )
    np.testing.assert_allclose(
        hourly[1, [0, 6, 12, 18, 23]],
        [5.2734476295, 8.6527305007, 9.3116279054, 8.0758579592, 6.4454599747],
        rtol=1e-7,
    )
    t = np.arange("2013-12-12", "2013-12-14", np.timedelta64(100, "s"), dtype="M8[ns]")
    grid = xr.Dataset(
        coords={"time": t, "frequency": np.linspace(0, 10, 410)},
        attrs={**wave.attrs, "block_seconds": 100.0, "nperseg": 4096},
    )
    truth = synth.iar_truth(grid).values
    ti, fi = np.nonzero(truth)
    assert (truth.sum(), ti.sum(), fi.sum()) == (14368, 13938420, 1291632)


def test_steep_night_background_follows_the_model():
    p = dict(QUIET, iar=False, background_day_sigma=0.0, background_slope_diurnal=1.0)
    x = _wave("2013-06-14", 3, **p)[0].astype(float)
    params = ground.GroundParams(**p)
    t0 = _day_num("2013-06-14") * 86400.0
    tilt = {}
    for h in (0, 12):
        seg = x[h * 3600 * SEC : (h + 1) * 3600 * SEC]
        f, pxx = scipy.signal.welch(seg, fs=100.0, nperseg=4096)
        base, _ = ground._model_psd(3, np.array([t0 + h * 3600 + 1800]), f, params, None)
        band = (f > 0.5) & (f < 30)
        assert 0.9 < np.median(pxx[band] / base[0, band]) < 1.1
        lo, hi = (f > 0.55) & (f < 0.7), (f > 3.5) & (f < 5.0)
        tilt[h] = pxx[lo].mean() / pxx[hi].mean()
    # slope 2.6 at midnight, 0.6 at noon: the low band rises far above the upper one
    assert tilt[0] > 10 * tilt[12]


def test_night_pc1_rising_tones_raise_0p5_to_2_hz_at_night_only():
    kw = dict(QUIET, iar=False)
    ev = ground._day(1, _day_num("2013-01-10"), ground.GroundParams(**kw, pc1_night_rate=2.0))
    assert len(ev.pc1_night) >= 1 and ev.pc1 == ()
    for t0, _t1, fb, rise, _, sweep, *_ in ev.pc1_night:
        assert t0 / 3600 < 7 or t0 / 3600 >= 18  # a night event
        assert 0.5 <= fb and fb + rise + sweep <= 2.0
    with_pc1 = _wave("2013-01-10", 1, **kw, pc1_night_rate=2.0)[0].astype(float)
    without = _wave("2013-01-10", 1, **kw)[0].astype(float)
    # the same noise realisation elsewhere: the daytime is untouched
    np.testing.assert_array_equal(
        with_pc1[10 * 3600 * SEC : 16 * 3600 * SEC], without[10 * 3600 * SEC : 16 * 3600 * SEC]
    )
    t0, t1, fb, rise, _, sweep, *_ = ev.pc1_night[0]
    mid = 0.5 * (t0 + t1)
    i0, i1 = round((mid - 900) * SEC), round((mid + 900) * SEC)
    lo, hi = fb + 0.3 * rise, fb + 0.7 * rise + sweep  # where the tones are at mid-event
    assert _band_power(with_pc1[i0:i1], lo, hi) > 1.5 * _band_power(without[i0:i1], lo, hi)
    r_hi = _band_power(with_pc1[i0:i1], 3.0, 6.0) / _band_power(without[i0:i1], 3.0, 6.0)
    assert abs(r_hi - 1) < 0.02
    sched = synth.disturbances("2013-01-10", days=1, seed=1, **kw, pc1_night_rate=2.0)
    assert int(sched.pc1_night_events[0]) == len(ev.pc1_night)


def test_sferic_bursts_are_broadband_night_stripes():
    kw = dict(QUIET, iar=False, saturation=None)
    p = ground.GroundParams(**kw, sferic_burst_rate=4.0)
    ev = ground._day(1, _day_num("2013-01-10"), p)
    assert len(ev.sferic_bursts) >= 2
    with_b = _wave("2013-01-10", 1, **kw, sferic_burst_rate=4.0)[0].astype(float)
    without = _wave("2013-01-10", 1, **kw)[0].astype(float)
    inside = np.zeros(with_b.size, bool)
    for a, b in ev.sferic_bursts:
        assert a / 3600 < 6 or a / 3600 >= 18
        inside[round(a * SEC) : round(b * SEC) + 16] = True
    diff = with_b != without
    assert diff.any() and not diff[~inside].any()
    # broadband: more power in the low and in the upper IAR band during the bursts
    sos = scipy.signal.butter(4, [1.0, 3.0], "band", fs=100.0, output="sos")
    sos2 = scipy.signal.butter(4, [4.0, 8.0], "band", fs=100.0, output="sos")
    for s in (sos, sos2):
        y1, y0 = scipy.signal.sosfiltfilt(s, with_b), scipy.signal.sosfiltfilt(s, without)
        assert np.var(y1[inside]) > 2 * np.var(y0[inside])
    assert int(
        synth.disturbances("2013-01-10", days=1, seed=1, **kw, sferic_burst_rate=4.0).sferic_bursts[
            0
        ]
    ) == len(ev.sferic_bursts)


def test_storm_hours_raise_broadband_power_and_suppress_iars():
    # seed 0: the night of 2013-01-10 has storm hours from about 23:00 to 01:40 UT
    kw = dict(QUIET, iar=False, saturation=None)
    night = synth.iar_truth_nights("2013-01-10", days=1, seed=0, storm_probability=1.0)
    assert bool(night.storm[0])
    s0 = (night.storm_start.values[0] - np.datetime64("2013-01-10")) / np.timedelta64(1, "s")
    assert 18 * 3600 < s0 < 23.5 * 3600
    storm = _wave("2013-01-10", 0, **kw, storm_probability=1.0)[0].astype(float)
    quiet = _wave("2013-01-10", 0, **kw)[0].astype(float)
    np.testing.assert_array_equal(storm[: 16 * 3600 * SEC], quiet[: 16 * 3600 * SEC])
    seg = slice(round((s0 + 1200) * SEC), 24 * 3600 * SEC)
    for lo, hi in ((0.5, 1.5), (1.5, 3.0), (3.0, 6.0)):
        assert _band_power(storm[seg], lo, hi) > 2 * _band_power(quiet[seg], lo, hi), (lo, hi)
    dist = synth.disturbances("2013-01-10", days=2, seed=0, storm_probability=1.0)
    assert dist.storm_mask.values[0, 23] and dist.storm_mask.values[1, 0]
    assert not dist.storm_mask.values[0, 8:17].any()
    # truth: no IAR while the storm is fully on, and the storm noise is never truth
    t = np.arange("2013-01-10", "2013-01-12", np.timedelta64(100, "s"), dtype="M8[ns]")
    kw_iar = dict(QUIET, iar_rate_winter=1.0, iar_rate_summer=1.0)

    def truth(**extra):
        attrs = synth.ground_station("2013-01-10", days=2, seed=0, **kw_iar, **extra).attrs
        grid = xr.Dataset(
            coords={"time": t, "frequency": np.linspace(0, 10, 410)},
            attrs={**attrs, "block_seconds": 100.0, "nperseg": 4096},
        )
        return synth.iar_truth(grid).values

    calm, stormy = truth(), truth(storm_probability=1.0)
    p = ground.GroundParams(**kw_iar, storm_probability=1.0)
    s = ground._night(0, _day_num("2013-01-10"), p).storm
    tc = t.astype(np.int64) / 1e9 + 50.0
    full = ground._storm_env(s, tc) == 1.0
    assert full.sum() > 36 and calm[full].sum() > 100
    assert not stormy[full].any()
    assert not (stormy & ~calm).any()


def test_missing_component_is_nan_for_the_whole_day():
    kw = dict(QUIET, missing_component_probability=1.0)
    wave = synth.ground_station("2013-01-10", days=1, seed=2, components=("H", "D"), **kw)
    x = wave.values
    gone = np.isnan(x).all(1)
    assert gone.sum() == 1 and np.isfinite(x[~gone]).all()
    sched = synth.disturbances("2013-01-10", days=1, seed=2, components=("H", "D"), **kw)
    assert sched.missing_component.values[0] == ("H", "D")[int(np.flatnonzero(gone)[0])]
    # the other component is the very record it would have been
    other = ("H", "D")[int(np.flatnonzero(~gone)[0])]
    plain = _wave("2013-01-10", 2, comps=(other,), **QUIET)[0]
    np.testing.assert_array_equal(x[~gone][0], plain)
    # truth is per (time, frequency): unaffected
    t = np.arange("2013-01-10", "2013-01-11", np.timedelta64(100, "s"), dtype="M8[ns]")
    grids = [
        xr.Dataset(
            coords={"time": t, "frequency": np.linspace(0, 10, 100)},
            attrs={**w.attrs, "block_seconds": 100.0, "nperseg": 4096},
        )
        for w in (wave, synth.ground_station("2013-01-10", days=1, seed=2, **QUIET))
    ]
    np.testing.assert_array_equal(synth.iar_truth(grids[0]), synth.iar_truth(grids[1]))
    assert (synth.disturbances("2013-01-10", days=5, seed=2, **QUIET).missing_component == "").all()


HARD_NEGATIVES = dict(
    pc1_rate=2.0,
    pc1_night_rate=3.0,
    sferic_burst_rate=10.0,
    storm_probability=1.0,
    manmade_probability=1.0,
    manmade_night_fraction=1.0,
    manmade_frequency_range=(0.5, 5.0),
    lightning_rate=2000.0,
    background_slope_diurnal=1.0,
    gap_probability=0.3,
    missing_component_probability=0.3,
)


def test_hard_negatives_are_never_truth():
    # no IARs: every hard negative on, and a real cube of the night: nothing is truth
    wave = synth.ground_station(
        "2013-01-10", days=1, seed=8, components=("H",), iar=False, **HARD_NEGATIVES
    )
    assert not synth.iar_truth(make_cube(wave)).any()
    # with IARs: the negatives only ever remove truth (they add non-IAR power), never add it
    t = np.arange("2013-01-08", "2013-01-12", np.timedelta64(100, "s"), dtype="M8[ns]")
    kw = dict(iar_rate_winter=1.0, iar_rate_summer=1.0)

    def truth(**extra):
        attrs = synth.ground_station("2013-01-08", days=4, seed=8, **kw, **extra).attrs
        grid = xr.Dataset(
            coords={"time": t, "frequency": np.linspace(0, 10, 410)},
            attrs={**attrs, "block_seconds": 100.0, "nperseg": 4096},
        )
        return synth.iar_truth(grid).values

    neg = {k: v for k, v in HARD_NEGATIVES.items() if k != "background_slope_diurnal"}
    plain, busy = truth(), truth(**neg)
    assert busy.sum() > 1000
    assert not (busy & ~plain).any()
    assert busy.sum() < plain.sum()


def test_manmade_lines_at_a_drawn_fundamental_at_night():
    kw = dict(
        QUIET,
        iar=False,
        manmade_probability=1.0,
        manmade_pulsing_fraction=0.0,
        manmade_frequency_range=(0.5, 5.0),
        manmade_night_fraction=1.0,
        manmade_harmonic_fmax=10.0,
        manmade_amplitude=1.0,
    )
    sched = synth.disturbances("2013-03-01", days=20, seed=3, **kw)
    f0 = sched.manmade_frequency.values
    assert ((f0 >= 0.49) & (f0 <= 5.1)).all() and np.ptp(f0) > 1.0
    np.testing.assert_allclose(100.0 / f0, np.round(100.0 / f0))  # whole-sample periods
    first_on = sched.manmade_mask.values.argmax(1)
    assert ((first_on >= 18) | (first_on < 4)).all()
    ev = ground._day(3, _day_num("2013-03-01"), ground.GroundParams(**kw))
    x = _wave("2013-03-01", 3, **kw)[0].astype(float)
    a, b = ev.manmade_on[0]
    f, pxx = scipy.signal.welch(x[round(a * SEC) : round(b * SEC)], fs=100.0, nperseg=8192)
    fund = float(f0[0])
    harmonics = np.arange(1, 40) * fund
    for k, fh in enumerate(harmonics[harmonics < 30.0], start=1):
        i = np.argmin(abs(f - fh))
        line = pxx[i - 1 : i + 2].max() / np.median(pxx[i + 6 : i + 30])
        assert (line > 5) == (fh <= 10.0), (k, fh, line)


def test_fringes_up_to_10_hz_and_faint_fringes():
    kw = dict(
        QUIET,
        iar_rate_winter=1.0,
        iar_rate_summer=1.0,
        iar_fmax=10.0,
        iar_fringes=(10, 10),
        iar_delta_f_winter=1.2,
        iar_delta_f_summer=1.2,
        iar_delta_f_range=(0.3, 1.5),
    )
    t = np.arange("2013-01-10T18", "2013-01-11T06", np.timedelta64(100, "s"), dtype="M8[ns]")

    def grid(**extra):
        attrs = synth.ground_station("2013-01-10", days=2, seed=4, **kw, **extra).attrs
        return xr.Dataset(
            coords={"time": t, "frequency": np.linspace(0, 12, 492)},
            attrs={**attrs, "block_seconds": 100.0, "nperseg": 4096},
        )

    bright = synth.iar_truth(grid(iar_contrast=(2.0, 2.0)))
    assert bright.sel(frequency=slice(8.5, 10.0)).any()  # beyond the first Schumann mode
    assert not bright.sel(frequency=slice(10.6, 12)).any()
    # faint fringes: the IAR PSD peaks at 0.3 x background, a peak-to-trough ratio near 1.3
    p = ground.GroundParams(**kw, iar_contrast=(0.3, 0.3))
    night = ground._night(4, _day_num("2013-01-10"), p)
    tc = t.astype(np.int64) / 1e9 + 50.0
    rel = ground._iar_relative(night, tc, np.linspace(0, 12, 1201), p)
    assert 0.25 < rel.max() <= 0.3 + 1e-9
    assert not synth.iar_truth(grid(iar_contrast=(0.3, 0.3))).any()  # below the 0.5 default
    assert synth.iar_truth(grid(iar_contrast=(0.3, 0.3)), threshold=0.15).any()


def test_partial_nights_and_delta_f_random_walk():
    kw = dict(iar_rate_winter=1.0, iar_rate_summer=1.0)
    full = synth.iar_truth_nights("2013-01-01", days=40, seed=5, **kw)
    part = synth.iar_truth_nights("2013-01-01", days=40, seed=5, **kw, iar_partial_probability=1.0)
    d_full = (full.end_time - full.start_time).values / np.timedelta64(1, "s")
    d_part = (part.end_time - part.start_time).values / np.timedelta64(1, "s")
    np.testing.assert_allclose(d_part / d_full, np.clip(d_part / d_full, 0.25, 0.6), atol=1e-9)
    assert (part.start_time >= full.start_time).all() and (part.end_time <= full.end_time).all()
    h = part.start_time.dt.hour.values
    assert ((h >= 18) | (h < 6)).all()
    # the random walk: a non-linear, night-specific Δf(t), kept in range
    walk = synth.iar_truth_nights("2013-01-01", days=40, seed=5, **kw, iar_delta_f_walk=0.1)
    lo, hi = ground.GroundParams().iar_delta_f_range
    assert (walk.delta_f_min >= lo).all() and (walk.delta_f_max <= hi).all()
    p0 = ground.GroundParams(**kw)
    p1 = ground.GroundParams(**kw, iar_delta_f_walk=0.1)
    dev = []
    for e in range(_day_num("2013-01-01"), _day_num("2013-01-01") + 40):
        n0, n1 = ground._night(5, e, p0), ground._night(5, e, p1)
        tt = np.linspace(n0.t0, n0.t1, 200)
        d0, d1 = ground._night_df_f0(n0, tt, p0)[0], ground._night_df_f0(n1, tt, p1)[0]
        ok = (d0 > lo + 1e-6) & (d0 < hi - 1e-6) & (d1 > lo + 1e-6) & (d1 < hi - 1e-6)
        dev.append(np.std((d1 - d0)[ok] / n0.df_mid) if ok.sum() > 20 else np.nan)
    assert 0.04 < np.nanmedian(dev) < 0.2


def test_delta_f_drift_exponent_widens_the_night_drift_and_keeps_its_shape():
    kw = dict(iar_rate_winter=1.0, iar_rate_summer=1.0, iar_delta_f_range=(0.05, 5.0))
    p1, p2 = ground.GroundParams(**kw), ground.GroundParams(**kw, iar_delta_f_drift=2.0)
    span1, span2 = [], []
    for e in range(_day_num("2013-01-01"), _day_num("2013-01-01") + 30):
        n1, n2 = ground._night(5, e, p1), ground._night(5, e, p2)
        assert repr(n1) == repr(n2)  # the exponent draws nothing: every other property stays
        tt = np.linspace(n1.t0, n1.t1, 300)
        d1, d2 = ground._night_df_f0(n1, tt, p1)[0], ground._night_df_f0(n2, tt, p2)[0]
        # by hand: Δf / Δf_mid is squared, so where Δf peaks in the night stays
        np.testing.assert_allclose(d2 / n2.df_mid, (d1 / n1.df_mid) ** 2, rtol=1e-12)
        span1.append(d1.max() / d1.min())
        span2.append(d2.max() / d2.min())
    np.testing.assert_allclose(np.log(span2), 2 * np.log(span1), rtol=1e-9)
    assert np.median(span2) > 1.5
    with pytest.raises(ValueError, match="iar_delta_f_drift"):
        ground.GroundParams(iar_delta_f_drift=0.0)
    # the default is the drift drawn before the exponent existed
    assert ground.GroundParams().iar_delta_f_drift == 1.0


def test_day_is_bit_identical_alone_or_in_a_window_with_every_option():
    # seed 0: storm hours cross the midnight of 2013-01-10/11
    kw = dict(
        HARD_NEGATIVES,
        seed=0,
        components=("H",),
        iar_rate_winter=1.0,
        iar_partial_probability=0.5,
        iar_delta_f_walk=0.1,
        sferic_burst_scale=30.0,
    )
    window = synth.ground_station("2013-01-10", days=2, **kw).values
    alone = synth.ground_station("2013-01-11", days=1, **kw).values
    np.testing.assert_array_equal(window[:, DAY:], alone)
    # continuous across midnight: no step in the local variance
    x = window[0, DAY - 3000 : DAY + 3000].astype(float)
    if np.isfinite(x).all():
        assert np.std(x[:3000]) < 3 * np.std(x[3000:]) and np.std(x[3000:]) < 3 * np.std(x[:3000])


def test_randomised_params_are_deterministic_and_in_range():
    d = ground.GroundParams()
    ranges = []
    for seed in range(200):
        over = synth.randomised_ground_params(seed)
        assert over == synth.randomised_ground_params(seed)
        p = ground.GroundParams(**over)  # valid
        # JSON-able, and what iar_truth rebuilds from synth_params is the same world
        assert ground.GroundParams(**json.loads(json.dumps(over))) == p
        k = p.background_amplitude
        assert 1e-3 <= k <= 1e3
        # every absolute quantity follows the station's unit: amplitudes x k, PSDs x k**2
        for name in ("manmade_amplitude", "lightning_scale", "sferic_burst_scale"):
            assert 0.09 <= getattr(p, name) / (getattr(d, name) * k) <= 10.0, name
        for name in ("background_floor", "manmade_broadband_psd"):
            assert 0.09 <= getattr(p, name) / (getattr(d, name) * k * k) <= 10.0, name
        sch = np.array(p.schumann_psd) / (np.array(d.schumann_psd) * k * k)
        assert np.allclose(sch, sch[0]) and 0.19 <= sch[0] <= 5.0
        assert p.saturation is None or 30 * k <= p.saturation <= 500 * k
        assert 0.5 <= p.background_slope <= 3.0 and abs(p.background_slope_diurnal) <= 1.0
        for sign in (1, -1):
            assert 0.3 - 1e-9 <= p.background_slope + sign * p.background_slope_diurnal <= 3.5
        assert 2 <= p.iar_fringes[0] <= p.iar_fringes[1] <= 10
        assert p.iar_delta_f_range == (0.3, 1.5)
        assert 0.3 <= p.iar_delta_f_summer <= p.iar_delta_f_winter <= 1.5
        assert 0.3 <= p.iar_contrast[0] <= p.iar_contrast[1] <= 2.0  # peak-to-trough 1.3-3
        assert 0.06 <= p.iar_width[0] <= p.iar_width[1] <= 0.2
        assert 5.0 <= p.iar_fmax <= 10.0
        assert 0.0 <= p.iar_rate_summer <= p.iar_rate_winter <= 1.0
        assert 0.0 <= p.iar_partial_probability <= 0.5
        lo, hi = p.manmade_frequency_range
        assert 0.5 <= lo <= hi <= 5.0
        assert 0 <= p.missing_component_probability <= 0.2 and 0 <= p.gap_probability <= 0.2
        assert 2.0 <= p.storm_level[0] <= p.storm_level[1] <= 100.0
        ranges.append(
            (
                np.log10(k),
                p.pc1_night_rate > 0,
                p.sferic_burst_rate > 0,
                p.storm_probability > 0,
                p.background_slope,
                p.iar_fringes[1],
                p.iar_fmax,
                p.saturation is None,
            )
        )
    r = np.array(ranges, float)
    assert r[:, 0].min() < -2.5 and r[:, 0].max() > 2.5  # many decades
    for col in (1, 2, 3, 7):  # hard negatives (and no clipping) common, but not always
        assert 0.3 < r[:, col].mean() < 0.9
    assert r[:, 4].min() < 0.7 and r[:, 4].max() > 2.8
    assert r[:, 5].max() == 10 and r[:, 6].max() > 9.5
    assert synth.randomised_ground_params(0) != synth.randomised_ground_params(1)


def test_randomised_day_is_finite_and_scales_with_the_level():
    levels = []
    for seed in (0, 1, 2):
        over = synth.randomised_ground_params(seed)
        wave = synth.ground_station("2013-01-10", days=1, seed=seed, components=("H",), **over)
        x = wave.values[0]
        sched = synth.disturbances("2013-01-10", days=1, seed=seed, components=("H",), **over)
        if sched.missing_component.values[0] == "H":
            assert np.isnan(x).all()
            continue
        gap = np.repeat(sched.gap_mask.values[0], 3600 * SEC)
        assert np.isfinite(x[~gap]).all() and np.isnan(x[gap]).all()
        ok = ~sched.gap_mask.values[0, 8:16]
        day = x[8 * 3600 * SEC : 16 * 3600 * SEC].reshape(8, -1)[ok].ravel().astype(float)
        f, pxx = scipy.signal.welch(day, fs=100.0, nperseg=4096)
        level = np.median(pxx[(f > 0.8) & (f < 1.25)]) / over["background_amplitude"] ** 2
        levels.append(level)
        assert 0.2 < level < 5.0, (seed, level)
    assert len(levels) >= 2
    # exactly linear in the unit: 10x every absolute amplitude (100x every PSD) -> 10x the record
    over = synth.randomised_ground_params(1)
    amp = (
        "background_amplitude",
        "manmade_amplitude",
        "lightning_scale",
        "sferic_burst_scale",
        "saturation",
    )
    psd = ("background_floor", "manmade_broadband_psd")
    big = {k: (v * 10 if k in amp and v is not None else v) for k, v in over.items()}
    big.update({k: over[k] * 100 for k in psd})
    big["schumann_psd"] = tuple(100 * a for a in over["schumann_psd"])
    a = synth.ground_station("2013-01-10", days=1, seed=1, components=("H",), **over)
    b = synth.ground_station("2013-01-10", days=1, seed=1, components=("H",), **big)
    xa, xb = a.values[0, : 6 * 3600 * SEC], b.values[0, : 6 * 3600 * SEC]
    np.testing.assert_allclose(xb, 10 * xa, rtol=1e-4, atol=1e-5 * np.nanstd(xb))


def _tilt(x: np.ndarray, h0: float) -> float:
    """Log ratio of the 0.55-0.7 Hz to the 3.5-5 Hz power in the 20 minutes from UT hour h0."""
    i = round(h0 * 3600 * SEC)
    f, pxx = scipy.signal.welch(x[i : i + 1200 * SEC], fs=100.0, nperseg=4096)
    lo, hi = (f > 0.55) & (f < 0.7), (f > 3.5) & (f < 5.0)
    return float(np.log10(pxx[lo].mean() / pxx[hi].mean()))


def test_daily_slope_changes_at_midnight_in_a_step_or_from_noon_to_noon():
    p = dict(QUIET, iar=False, background_day_sigma=0.0, background_slope_day_sd=0.5)
    # seed 7: the index falls by 0.7 from 2013-06-14 to the next day
    # the model: one index per day, held from 00 to 24 UT or moving between noons
    t0 = _day_num("2013-06-14") * 86400.0
    t = t0 + np.array([-7200.0, -1.0, 0.0, 7200.0, 43200.0])
    f = np.array([0.6, 4.0])
    for change in ("step", "smooth"):
        params = ground.GroundParams(**p, background_day_change=change)
        b = ground._background_shape(f, params, t, 7)
        k = np.log10(b[:, 0] / b[:, 1]) / np.log10(4.0 / 0.6)  # about the local index
        if change == "step":
            assert k[0] == k[1] and k[2] == k[3] == k[4] and abs(k[1] - k[2]) > 0.01
        else:
            assert abs(k[1] - k[2]) < 1e-4 and len(set(np.round(k, 6))) > 2
    # the record follows: in steps, 22-23 UT of one day and 01-02 of the next differ by
    # the drawn change of the index, as the model says
    params = ground.GroundParams(**p, background_day_change="step")
    x = _wave("2013-06-14", 7, days=2, **p, background_day_change="step")[0].astype(float)
    got = _tilt(x, 22.5) - _tilt(x, 25.0)
    b = ground._background_shape(np.array([0.6, 4.0]), params, t0 + np.array([81900, 90000.0]), 7)
    want = np.log10(b[0, 0] / b[0, 1]) - np.log10(b[1, 0] / b[1, 1])
    assert abs(want) > 0.3 and abs(got - want) < 0.1 + 0.2 * abs(want)
    # off by default, and the record then equals the one without the option
    assert ground.GroundParams().background_slope_day_sd == 0.0
    np.testing.assert_array_equal(
        _wave("2013-06-14", 3, **dict(p, background_slope_day_sd=0.0)),
        _wave(
            "2013-06-14", 3, **dict(p, background_slope_day_sd=0.0, background_day_change="step")
        ),
    )
    with pytest.raises(ValueError, match="background_day_change"):
        ground.GroundParams(background_day_change="jump")
    with pytest.raises(ValueError, match="background_slope_day_sd"):
        ground.GroundParams(background_slope_day_sd=-1.0)


def test_step_level_changes_at_midnight_only():
    p = dict(QUIET, iar=False, background_day_sigma=0.3, background_diurnal_depth=0.0)
    t0 = _day_num("2013-06-14") * 86400.0
    t = t0 + np.array([3600.0, 43200.0, 86399.0, 86400.0])
    env = ground._background_env(t, 3, ground.GroundParams(**p, background_day_change="step"))
    assert env[0] == env[1] == env[2] and env[2] != env[3]
    smooth = ground._background_env(t, 3, ground.GroundParams(**p))
    assert abs(smooth[2] / smooth[3] - 1) < 1e-4


def test_night_fading_dims_all_fringes_together_and_is_truth_consistent():
    kw = dict(QUIET, iar_rate_winter=1.0, iar_rate_summer=1.0)
    p0 = ground.GroundParams(**kw)
    p1 = ground.GroundParams(**kw, iar_fade=(0.9, 0.9), iar_fade_minutes=(30.0, 60.0))
    e = _day_num("2013-01-05")
    n0, n1 = ground._night(5, e, p0), ground._night(5, e, p1)
    assert n0.fade is None and n1.fade is not None
    t = np.linspace(n0.t0, n0.t1, 400)
    f = np.linspace(0.3, 8.0, 200)
    r0, r1 = ground._iar_relative(n0, t, f, p0), ground._iar_relative(n1, t, f, p1)
    ratio = r1.max(axis=1) / np.where(r0.max(axis=1) > 1e-3, r0.max(axis=1), np.nan)
    ok = np.isfinite(ratio)
    # one factor per time for every frequency, between 1 - depth and 1 (atol: a fringe
    # fainter than 1e-4 of the background is left out)
    np.testing.assert_allclose(r1[ok], r0[ok] * ratio[ok, None], rtol=1e-9, atol=1e-4)
    assert ratio[ok].min() < 0.3 and ratio[ok].max() <= 1.0 + 1e-12
    assert ratio[ok].min() >= 0.1 - 1e-12
    # faded parts leave the truth
    wave0 = synth.ground_station("2013-01-05", days=2, seed=5, components=("H",), **kw)
    wave1 = synth.ground_station(
        "2013-01-05", days=2, seed=5, components=("H",), **kw, iar_fade=(0.9, 0.9)
    )
    t0, t1 = synth.iar_truth(make_cube(wave0)).values, synth.iar_truth(make_cube(wave1)).values
    assert t0.sum() > 0 and t1.sum() < 0.8 * t0.sum() and not (t1 & ~t0).any()
    with pytest.raises(ValueError, match="iar_fade"):
        ground.GroundParams(iar_fade=(0.5, 1.5))


def test_band_nights_hold_more_fringes_as_the_spacing_shrinks():
    kw = dict(
        QUIET,
        iar_rate_winter=1.0,
        iar_rate_summer=1.0,
        iar_delta_f_drift=2.0,
        iar_delta_f_range=(0.3, 1.5),
        iar_fmax=10.0,
    )
    fixed, banded = ground.GroundParams(**kw), ground.GroundParams(**kw, iar_band_probability=1.0)
    f = np.linspace(0.3, 11.0, 4000)
    checked = 0
    for e in range(_day_num("2013-01-01"), _day_num("2013-01-01") + 20):
        n0, n1 = ground._night(5, e, fixed), ground._night(5, e, banded)
        assert n0.band is None and n1.band is not None
        # the band draws from its own stream: the night's other properties stay
        assert (n0.df_mid, n0.contrast, n0.width, n0.t0) == (
            n1.df_mid,
            n1.contrast,
            n1.width,
            n1.t0,
        )
        tt = np.linspace(n1.t0 + 0.2 * (n1.t1 - n1.t0), n1.t1 - 0.2 * (n1.t1 - n1.t0), 50)
        df, f0 = ground._night_df_f0(n1, tt, banded)
        # at the middle spacing the band holds the count drawn for a fixed night
        lo, hi = n1.band
        mid = round((hi - lo) / n1.df_mid)
        assert mid == n0.n.size or lo == banded.iar_fmin
        rel = ground._iar_relative(n1, tt, f, banded)
        # no fringe power outside the band (beyond a quarter spacing and the fringe's width)
        for k in (np.argmin(df), np.argmax(df)):
            reach = 0.25 * df[k] + 4 * n1.width * df[k]
            outside = (f < lo - reach) | (f > hi + reach)
            assert (rel[k, outside] <= 1e-3 * max(rel[k].max(), 1e-300)).all()
        i, j = np.argmin(df), np.argmax(df)
        if df[j] / df[i] > 1.5:
            # harmonics inside the band at the smallest and at the largest spacing
            fn = f0[:, None] + n1.n[None, :] * df[:, None]
            count = ((fn > lo) & (fn < hi)).sum(axis=1)
            assert count[i] > count[j]
            assert count[i] / max(count[j], 1) == pytest.approx(df[j] / df[i], rel=0.5)
            checked += 1
    assert checked >= 3
    # the night table counts the fringes inside the band, not the harmonics drawn
    tab = synth.iar_truth_nights("2013-01-01", days=20, seed=5, **kw, iar_band_probability=1.0)
    for k, e in enumerate(range(_day_num("2013-01-01"), _day_num("2013-01-01") + 20)):
        lo, hi = ground._night(5, e, banded).band
        assert abs(int(tab.n_fringes[k]) - (hi - lo) / float(tab.delta_f[k])) <= 1.5
        assert lo <= float(tab.f_lowest[k]) <= lo + float(tab.delta_f_max[k])
    with pytest.raises(ValueError, match="iar_band_probability"):
        ground.GroundParams(iar_band_probability=2.0)


def test_lorentzian_nights_fill_their_troughs_at_the_drawn_peak_to_trough_ratio():
    kw = dict(QUIET, iar_rate_winter=1.0, iar_rate_summer=1.0, iar_fringes=(12, 12))
    kw.update(iar_fmax=10.0, iar_contrast=(0.3, 1.5))
    gauss = ground.GroundParams(**kw)
    lor = ground.GroundParams(**kw, iar_lorentzian_probability=1.0)
    f = np.linspace(0.3, 12.0, 6000)
    checked = 0
    for e in range(_day_num("2013-01-01"), _day_num("2013-01-01") + 8):
        n0, n1 = ground._night(5, e, gauss), ground._night(5, e, lor)
        assert n0.lorentzian == 0 and 0.05 <= n1.lorentzian <= 0.25
        # the profile draws from its own stream: the night's other properties stay
        assert (n0.df_mid, n0.contrast, n0.width, n0.t0) == (
            n1.df_mid,
            n1.contrast,
            n1.width,
            n1.t0,
        )
        # the closed form of the crest amplitude against a direct sum of the Lorentzian comb
        a = n1.lorentzian
        amp = ground._crest_amplitude(n1)
        ratio = (1.0 + amp * _comb(0.0, a)) / (1.0 + amp * _comb(0.5, a))
        # rel: the direct sum stops 200,000 fringes either side
        assert ratio == pytest.approx(min(1.0 + n1.contrast, 0.8 / _tanh2(np.pi * a)), rel=1e-5)
        # in the spectrum: troughs between bright fringes hold IAR power, Gaussian ones none
        tt = np.array([0.5 * (n1.t0 + n1.t1)])
        df, f0 = ground._night_df_f0(n1, tt, lor)
        r1, r0 = ground._iar_relative(n1, tt, f, lor)[0], ground._iar_relative(n0, tt, f, gauss)[0]
        mid = f0[0] + (n1.n[5] + 0.5) * df[0]
        j = np.argmin(abs(f - mid))
        if r1.max() > 0.1:
            assert r1[j] > 0.2 * _tanh2(np.pi * a) * r1.max() and r0[j] < 1e-3 * max(r0.max(), 1e-9)
            # the tails are not cut at iar_fmax + 1 Hz, as the Gaussian's are: no step
            assert r1.min() > 0 and np.abs(np.diff(np.log(r1))[f[1:] > 5.0]).max() < 0.05
            checked += 1
    assert checked >= 4
    with pytest.raises(ValueError, match="iar_lorentzian_width"):
        ground.GroundParams(iar_lorentzian_width=(0.0, 0.1))
    with pytest.raises(ValueError, match="iar_lorentzian_probability"):
        ground.GroundParams(iar_lorentzian_probability=1.5)


def _tanh2(x: float) -> float:
    return float(np.tanh(x) ** 2)


def _comb(x: float, a: float) -> float:
    """Lorentzians of half width ``a`` at every integer, summed at ``x``."""
    k = np.arange(-200_000, 200_001)
    return float((1.0 / (1.0 + ((x - k) / a) ** 2)).sum())
