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
