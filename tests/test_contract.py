"""The training/inference contract: input representation, model card, architecture and the
image units (one cutter for training and inference)."""

from __future__ import annotations

import itertools
import json
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import xspecseg as xs
from xspecseg.contract import (
    Architecture,
    InputRepresentation,
    ModelCard,
    _background,
    architecture_of,
    card_of,
)
from xspecseg.imageunits import (
    MIN_PARTIAL_NIGHT,
    halforbit_spans,
    night_images,
    night_spans,
    nights,
    orbit_spans,
    tile_geometry,
    tile_spans,
)
from xspecseg.models import get_model, load, save
from xspecseg.models.checkpoint import WEIGHTS_DIR, read_card
from xspecseg.training import cut_halforbits, cut_nights


def _image(seed=0, shape=(60, 40)):
    rng = np.random.default_rng(seed)
    f = np.linspace(0.1, 6.0, shape[1])
    psd = f**-1.7 * rng.chisquare(6, shape) / 6
    psd[20:30, 10:14] *= 5.0
    psd[5, :] = np.nan
    psd[:, 3] = np.nan
    psd[40, 7] = 0.0
    return psd, f


@settings(max_examples=25, deadline=None)
@given(
    gain=st.floats(1e-9, 1e9),
    slope=st.floats(-3.0, 3.0),
    shape=st.lists(st.floats(0.1, 10.0), min_size=40, max_size=40),
)
def test_relative_representation_ignores_gain_and_any_fixed_spectral_shape(gain, slope, shape):
    psd, f = _image()
    moved = psd * gain * f**slope * np.asarray(shape)[None, :]
    for row_background, smooth in (("level", None), ("tilt", None), ("level", (3, 5))):
        rep = InputRepresentation(
            "log-relative", center=0.1, scale=0.3, row_background=row_background, smooth=smooth
        )
        np.testing.assert_allclose(rep(moved), rep(psd), atol=1e-6)


def test_relative_representation_removes_a_level_that_changes_with_time():
    # a row-by-row level (storm hours, diurnal level) is removed up to the small change it
    # makes to each bin's background quantile
    psd, _ = _image()
    rep = InputRepresentation("log-relative", center=0.1, scale=0.3)
    level = 10.0 ** np.linspace(-1, 1, psd.shape[0])[:, None]
    fixed = InputRepresentation("log-fixed", center=0.1, scale=0.3)
    moved, ref = rep(psd * level), rep(psd)
    assert np.abs(moved - ref).mean() < 0.1 * np.abs(fixed(psd * level) - fixed(psd)).mean()


def test_tilt_row_background_removes_a_slope_that_changes_during_the_night():
    """A new day's background at 'midnight' (another slope from row 30 on): the level row
    background leaves the change of slope in both halves, the tilt one takes most of it
    out."""
    psd, f = _image(shape=(60, 40))
    steeper = np.where(np.arange(60)[:, None] >= 30, 30.0 * f[None, :] ** -1.5, 1.0)
    level = InputRepresentation("log-relative", center=0.1, scale=0.3)
    tilt = InputRepresentation("log-relative", center=0.1, scale=0.3, row_background="tilt")
    err = {
        name: np.nanmean(np.abs(rep(psd * steeper) - rep(psd)))
        for name, rep in (("level", level), ("tilt", tilt))
    }
    assert err["tilt"] < 0.35 * err["level"], err


def test_tilt_row_background_by_hand():
    """Against a direct fit: per row, the lower quartile of 8 equal sub-bands, and the
    least-squares quadratic through them over the column index."""
    psd, _ = _image()
    psd = np.where(np.isfinite(psd) & (psd > 0), psd, 1.0)  # the fit with every sub-band
    rep = InputRepresentation(
        "log-relative", center=0.1, scale=0.3, passes=1, row_background="tilt"
    )
    lg = np.log10(psd)
    lg = lg - np.quantile(lg, 0.25, axis=0, keepdims=True)
    n = lg.shape[1]
    edges = np.linspace(0, n, 9).round().astype(int)
    cols = np.arange(n)
    for row in lg:
        qs = [np.quantile(row[a:b], 0.25) for a, b in itertools.pairwise(edges)]
        centres = [(a + b - 1) / 2 for a, b in itertools.pairwise(edges)]
        row -= np.polyval(np.polyfit(centres, qs, 2), cols)
    np.testing.assert_allclose(rep(psd), (lg - 0.1) / 0.3, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="row_background"):
        InputRepresentation("log-relative", row_background="slope")


def test_relative_representation_by_hand():
    psd, _ = _image()
    rep = InputRepresentation("log-relative", center=0.1, scale=0.3, clip=5.0)
    lg = np.log10(np.where(psd > 0, psd, np.nan))
    for _ in range(2):
        lg = lg - np.nanquantile(lg, 0.25, axis=0, keepdims=True)
        lg = lg - np.nanquantile(lg, 0.25, axis=1, keepdims=True)
    expect = np.clip((lg - 0.1) / 0.3, -5, 5)
    out = rep(psd)
    ok = np.isfinite(expect)
    np.testing.assert_allclose(out[ok], expect[ok], rtol=1e-6, atol=1e-6)
    assert (out[~ok] == 0.0).all() and out.dtype == np.float32
    # the bright patch stands out; a fixed representation would see the unit instead
    assert out[20:30, 10:14].mean() > out[50:, 20:].mean() + 1.0


def test_smoothed_representation_by_hand():
    """Each bin's lower quartile out, then the mean of the finite pixels of the centred
    3 x 5 window (pixels without data stay without), then the two quantile passes."""
    psd, _ = _image()
    rep = InputRepresentation("log-relative", center=0.1, scale=0.3, smooth=(3, 5))
    lg = np.log10(np.where(psd > 0, psd, np.nan))
    lg = lg - np.nanquantile(lg, 0.25, axis=0, keepdims=True)
    sm = np.full_like(lg, np.nan)
    for i, j in zip(*np.nonzero(np.isfinite(lg)), strict=True):
        sm[i, j] = np.nanmean(lg[max(i - 1, 0) : i + 2, max(j - 2, 0) : j + 3])
    for _ in range(2):
        sm = sm - np.nanquantile(sm, 0.25, axis=0, keepdims=True)
        sm = sm - np.nanquantile(sm, 0.25, axis=1, keepdims=True)
    expect = (sm - 0.1) / 0.3
    out = rep(psd)
    ok = np.isfinite(expect)
    np.testing.assert_allclose(out[ok], expect[ok], rtol=1e-6, atol=1e-6)
    assert (out[~ok] == 0.0).all()


def test_smoothing_takes_out_most_of_the_estimation_noise():
    """Chi-square noise of K averaged periodograms: with a 3 x 3 mean the background
    scatters three times less, and where the lower quartile puts the background's median
    moves far less with K, so the input hardly depends on how noisy the estimate was; a
    nucleus keeps its contrast."""
    rng = np.random.default_rng(1)
    f = np.linspace(25.0, 12500.0, 200)
    out = {}
    for smooth in (None, (3, 3)):
        rep = InputRepresentation("log-relative", smooth=smooth)
        for dof in (2, 32):
            psd = f**-1.5 * rng.gamma(dof, 1.0 / dof, (300, 200))
            psd[100:140, 80:120] *= 10.0
            x = rep.relative(psd)
            out[smooth, dof] = (np.std(x[200:]), np.median(x[200:]), np.median(x[105:135, 85:115]))
    for dof in (2, 32):
        assert out[(3, 3), dof][0] < 0.4 * out[None, dof][0]
        assert abs(out[(3, 3), dof][2] - out[(3, 3), dof][1] - 1.0) < 0.05  # one decade
    shift = {sm: out[sm, 2][1] - out[sm, 32][1] for sm in (None, (3, 3))}
    assert shift[(3, 3)] < 0.4 * shift[None], shift


@pytest.mark.parametrize("bad", [(3,), (2, 3), (0, 3), (3, 101), (3.0, 3), (True, 3), "3x3", 3])
def test_smooth_must_be_two_odd_sizes(bad):
    with pytest.raises(ValueError, match="smooth must be"):
        InputRepresentation("log-relative", smooth=bad)


def test_fit_and_serialisation_roundtrip():
    imgs = [_image(s)[0] for s in range(3)]
    rep = InputRepresentation.fit(imgs)
    assert rep.method == "log-relative" and rep.scale > 0
    back = InputRepresentation.from_dict(json.loads(json.dumps(rep.to_dict())))
    assert back == rep
    tilt = InputRepresentation.fit(imgs, row_background="tilt")
    assert InputRepresentation.from_dict(json.loads(json.dumps(tilt.to_dict()))) == tilt
    # the default is not written: a level representation keeps the JSON of the versions
    # before the option (stores compare it when resumed), and such JSON reads back
    assert "row_background" not in rep.to_dict() and tilt.to_dict()["row_background"] == "tilt"
    assert InputRepresentation.from_dict(rep.to_dict()).row_background == "level"
    smooth = InputRepresentation.fit(imgs, smooth=(3, 3))
    assert smooth.scale < rep.scale  # fitted on the smoothed values
    assert smooth.to_dict()["smooth"] == [3, 3] and "smooth" not in rep.to_dict()
    assert InputRepresentation.from_dict(json.loads(json.dumps(smooth.to_dict()))) == smooth
    with pytest.raises(ValueError, match="log-relative representation only"):
        InputRepresentation("log-fixed", smooth=(3, 3))
    with pytest.raises(ValueError, match="unknown input representation"):
        InputRepresentation("zscore")
    with pytest.raises(ValueError, match="unknown input-representation keys"):
        InputRepresentation.from_dict({"method": "log-relative", "centre": 1.0})


@pytest.mark.parametrize("name", ["iar-default", "cses-default"])
def test_cards_of_shipped_configs(name):
    cfg = json.loads((WEIGHTS_DIR / name / "config.json").read_text())
    card = ModelCard.from_config(cfg)
    assert card.architecture == cfg["name"] and card.threshold == cfg["threshold"]
    assert card.image_unit == ("night" if name == "iar-default" else "half_orbit")
    assert card.band == tuple(cfg["band"])
    again = ModelCard.from_config(card.to_config())
    assert again == card


def test_old_normalisation_migrates_to_fixed_representation():
    card = ModelCard.from_config(
        {
            "name": "unet",
            "kwargs": {},
            "normalisation": {"median": -0.5, "scale": 0.4, "fill": 0.0, "log10": True},
            "image_kind": "halforbit",
        }
    )
    assert card.representation == InputRepresentation("log-fixed", center=-0.5, scale=0.4)
    assert card.image_unit == "half_orbit"


# -- through predict -------------------------------------------------------------------------


def _relative_model(component="H+D", method="log-relative"):
    torch.manual_seed(0)
    net = get_model("unet", base_channels=4, depth=2).eval()
    rep = InputRepresentation(method, center=0.2, scale=0.25)
    net.xspecseg_config = {
        "name": "unet",
        "kwargs": {},
        "night_window": ["18:00", "06:00"],
        "image_unit": "night",
        "component": component,
        "band": [0.0, 6.0],
        "representation": rep.to_dict(),
    }
    return net


@pytest.fixture(scope="module")
def cube():
    wave = xs.synth.ground_station(start="2013-01-01", days=2, seed=3)
    return xs.build_cube(wave, xs.CubeConfig.preset("iar")).compute()


def _prob(cube, model, psd=None):
    ds = cube if psd is None else cube.assign(psd=psd)
    return xs.predict(ds, model).compute().values


@pytest.mark.parametrize("gain", [1e-6, 1e6])
def test_probabilities_do_not_depend_on_the_unit(cube, gain):
    # a record times g has a PSD times g**2
    model = _relative_model()
    ref = _prob(cube, model)
    moved = _prob(cube, model, cube.psd * gain**2)
    assert np.nanmax(ref) > 0
    np.testing.assert_allclose(moved, ref, atol=1e-5)


def test_probabilities_do_not_depend_on_a_spectral_tilt(cube):
    model = _relative_model()
    f = np.maximum(cube.frequency, cube.frequency[1])
    ref = _prob(cube, model)
    np.testing.assert_allclose(_prob(cube, model, cube.psd / f), ref, atol=1e-5)


@pytest.mark.parametrize("components", [["H"], ["D"], ["H", "D"]])
def test_one_component_stations_give_finite_probabilities(cube, components):
    model = _relative_model()
    prob = xs.predict(cube.sel(component=components), model)
    assert prob.attrs["component"] == "+".join(components)
    values = prob.compute().values
    has_data = np.isfinite(cube.psd.sel(component=components).sum("component", skipna=False))
    assert np.isfinite(values[has_data.values]).all()
    assert values.max() > 0


def test_a_day_without_d_warns_and_uses_h(cube):
    model = _relative_model()
    psd = cube.psd.copy()
    day2 = cube.time >= np.datetime64("2013-01-02")
    psd.loc[{"component": "D", "time": day2}] = np.nan
    with pytest.warns(UserWarning, match="component D has no data between 2013-01-02"):
        prob = _prob(cube, model, psd)
    only_h = _prob(cube.sel(component=["H"]), model)
    night = xs.infer.night_spans(cube.time.values, ("18:00", "06:00"))
    # the night that lies wholly in day 2 is the H-only model input (level-free)
    rows = np.flatnonzero(day2.values)
    for s, e in night:
        if s >= rows[0]:
            np.testing.assert_allclose(prob[s:e], only_h[s:e], atol=1e-5)
    assert np.isfinite(prob[rows]).all() or np.isnan(cube.psd.sel(component="H")[rows]).any()


def test_relative_model_cannot_be_tiled(cube):
    with pytest.raises(ValueError, match="cannot be tiled"):
        xs.predict(cube, _relative_model(), image_unit="none")


def test_fixed_models_keep_refusing_a_lone_component(cube):
    # a model that reads absolute levels would see half the level of the sum it learned
    h = xs.select_component(cube, "H")
    with pytest.raises(ValueError, match="summed PSD"):
        xs.predict(h, _relative_model(method="log-fixed"))


@pytest.mark.parametrize("name", ["iar-default", "cses-default"])
def test_shipped_models_read_relative_input(name):
    from xspecseg.models import load

    card = ModelCard.from_config(load(name).xspecseg_config)
    assert card.representation.method == "log-relative"
    # a model run as an ensemble (of one, with another row background) names its members'
    trained = [m["provenance"] for m in card.provenance.get("members", [])] or [card.provenance]
    assert all(p["data_train"]["domain"] == "randomised" for p in trained)


def test_metadata_flows_from_a_cube(cube):
    prob = xs.predict(cube, _relative_model())
    for key in ("station", "latitude", "longitude"):
        assert prob.attrs[key] == cube.attrs[key]
    assert isinstance(prob, xr.DataArray)


# -- image units: one cutter for training and inference --------------------------------------


def _pandas_nights(time, complete_only=True):
    """The 18:00-06:00 UT windows of a time axis, by pandas: (evening, first row, stop)."""
    t = pd.DatetimeIndex(time)
    step = t[1] - t[0]
    out = []
    first, last = t[0].normalize() - pd.Timedelta(days=1), t[-1].normalize()
    for evening in pd.date_range(first, last, freq="D"):
        w0 = evening + pd.Timedelta(hours=18)
        w1 = evening + pd.Timedelta(days=1, hours=6)
        rows = np.flatnonzero((t >= w0) & (t < w1))
        if rows.size and (not complete_only or (t[0] <= w0 and t[-1] + step >= w1)):
            out.append((evening.strftime("%Y-%m-%d"), int(rows[0]), int(rows[-1]) + 1))
    return out


def _axis(start, hours, step_s=100):
    n = int(hours * 3600 // step_s)
    return np.datetime64(start, "ns") + np.arange(n) * np.timedelta64(step_s, "s")


def _with_gap(t, a, b):
    return t[(t < np.datetime64(a)) | (t >= np.datetime64(b))]


_AXES = {
    "three whole days": _axis("2013-01-01T00:00", 72),
    "starts in a night": _axis("2013-01-01T20:00", 50),
    "ends in a night": _axis("2013-01-01T12:00", 40),
    "a gap across midnight": _with_gap(
        _axis("2013-01-01T00:00", 72), "2013-01-02T22:00", "2013-01-03T02:30"
    ),
    "a gap over a whole window": _with_gap(
        _axis("2013-01-01T00:00", 96), "2013-01-02T17:00", "2013-01-03T07:00"
    ),
    # European clocks change on these nights; UT windows do not
    "spring daylight-saving night": _axis("2021-03-26T00:00", 96),
    "autumn daylight-saving night": _axis("2021-10-29T00:00", 96),
    "window edges on the record's ends": _axis("2013-01-01T18:00", 12),
    "one row short of a night": _axis("2013-01-01T18:00", 12)[:-1],
    "ten-second rows": _axis("2013-01-01T17:59:30", 14, step_s=10),
}


def _ground_cube(time):
    psd = np.ones((2, time.size, 3), np.float32)
    return xr.Dataset(
        {"psd": (("component", "time", "frequency"), psd)},
        coords={"component": ["H", "D"], "time": time, "frequency": [0.0, 1.0, 2.0]},
    )


@pytest.mark.parametrize("name", list(_AXES))
def test_nights_are_the_18_to_06_ut_windows(name):
    time = _AXES[name]
    expect = _pandas_nights(time)
    assert night_spans(time, ("18:00", "06:00")) == [(s, e) for _, s, e in expect]
    assert night_spans(time, (18.0, 6.0)) == [(s, e) for _, s, e in expect]
    partial = [(str(n.evening), *n.rows) for n in nights(time, complete_only=False)]
    assert partial == _pandas_nights(time, complete_only=False)
    # training cuts the same images, one per component, named by their evening
    images = cut_nights(_ground_cube(time), band=None)
    got = [(im.attrs["night"], im.attrs["component"], im["time"].values[0], im.sizes["time"])
           for im in images]  # fmt: skip
    want = [(ev, c, time[s], e - s) for ev, s, e in expect for c in ("H", "D")]
    assert got == want
    # and inference cuts them for a model whose card names nights
    card = ModelCard("unet", image_unit="night", night_window=("18:00", "06:00"))
    assert card.image_spans(_ground_cube(time)) == [(s, e) for _, s, e in expect]


@pytest.mark.parametrize("name", list(_AXES))
def test_night_images_add_the_nights_cut_short_by_the_record(name):
    time = _AXES[name]
    t = pd.DatetimeIndex(time)
    step = t[1] - t[0]
    full = int(np.ceil(pd.Timedelta(hours=12) / step))
    want = []
    for evening, s, e in _pandas_nights(time, complete_only=False):
        grid = pd.Timestamp(evening) + pd.Timedelta(hours=18) + step * np.arange(full)
        before, after = int((grid < t[0]).sum()), int((grid > t[-1]).sum())
        if before == after == 0 or e - s >= MIN_PARTIAL_NIGHT * full:
            want.append((s, e, before, after))
    assert night_images(time) == want
    # the complete ones are night_spans'
    assert [(s, e) for s, e, b, a in want if b == a == 0] == night_spans(time)


def test_utc_nights_keep_their_length_over_daylight_saving_changes():
    for name in ("spring daylight-saving night", "autumn daylight-saving night"):
        spans = night_spans(_AXES[name])
        assert len(spans) == 3 and all(e - s == 432 for s, e in spans)


def test_a_window_within_one_day_and_a_whole_day():
    t = _axis("2013-01-01T00:00", 48, step_s=3600)
    assert night_spans(t, ("01:30", "05:00")) == [(2, 5), (26, 29)]
    assert night_spans(t, ("12:00", "12:00")) == [(12, 36)]


def _pandas_runs(orbit, direction):
    df = pd.DataFrame({"orbit": orbit, "direction": direction})
    run = (df != df.shift()).any(axis=1).cumsum()
    return [(int(g.index[0]), int(g.index[-1]) + 1) for _, g in df.groupby(run, sort=False)]


@settings(max_examples=300, deadline=None)
@given(
    data=st.data(),
    rows=st.integers(1, 5),
    cols=st.integers(1, 30),
    q=st.one_of(st.sampled_from([0.0, 0.25, 0.5, 1.0]), st.floats(0.0, 1.0)),
)
def test_background_with_gaps_is_numpys_nanquantile_bit_for_bit(data, rows, cols, q):
    values = st.one_of(
        st.floats(-1e6, 1e6, allow_nan=False),
        st.sampled_from([np.nan, np.inf, -np.inf, 0.0, 1.5]),  # gaps and ties
    )
    x = np.array(data.draw(st.lists(values, min_size=rows * cols, max_size=rows * cols)))
    x = x.reshape(rows, cols)
    for axis in (0, 1):
        got = _background(x, q, axis=axis)
        lines = np.moveaxis(np.where(np.isfinite(x), x, np.nan), axis, -1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN lines: NaN
            want = np.expand_dims(np.nanquantile(lines, q, axis=-1), axis)
        np.testing.assert_array_equal(got, want)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 3), st.booleans(), st.integers(1, 6)), max_size=8))
def test_half_orbits_are_runs_of_orbit_and_direction(runs):
    orbit = np.repeat([r[0] for r in runs], [r[2] for r in runs]).astype(np.int64)
    names = np.array(["descending", "ascending"])
    direction = np.repeat(names[[int(r[1]) for r in runs]], [r[2] for r in runs])
    spans = halforbit_spans(orbit, direction)
    assert spans == (_pandas_runs(orbit, direction) if orbit.size else [])
    if not orbit.size:
        return
    time = np.datetime64("2021-11-01", "ns") + np.arange(orbit.size) * np.timedelta64(2, "s")
    sat = xr.Dataset(
        {"psd": (("time", "frequency"), np.ones((orbit.size, 2), np.float32))},
        coords={"time": time, "frequency": [0.0, 25.0], "orbit": ("time", orbit),
                "orbit_direction": ("time", direction)},
    )  # fmt: skip
    assert orbit_spans(sat.psd) == spans
    assert ModelCard("odm_unet", image_unit="half_orbit").image_spans(sat) == spans
    cut = cut_halforbits(sat, band=None)
    assert [(int(np.searchsorted(time, im["time"].values[0])), im.sizes["time"]) for im in cut] == [
        (s, e - s) for s, e in spans
    ]


@settings(max_examples=50, deadline=None)
@given(
    total=st.integers(1, 300),
    tile=st.integers(1, 64),
    halo=st.integers(0, 40),
    cuts=st.lists(st.integers(0, 300), max_size=4),
)
def test_tiles_cover_every_row_once_whatever_the_chunking(total, tile, halo, cuts):
    whole = tile_spans(0, total, total, tile, halo)
    owned = np.concatenate([np.arange(t.t0, t.t1) for t in whole])
    np.testing.assert_array_equal(owned, np.arange(total))
    for t in whole:
        assert t.lo == max(0, t.t0 - halo) and t.hi == min(total, t.t0 + tile + halo)
    edges = sorted({0, total, *(min(c, total) for c in cuts)})
    for a, b in itertools.pairwise(edges):
        # a chunk's tiles are the whole axis's tiles that own a row of the chunk
        assert tile_spans(a, b, total, tile, halo) == [t for t in whole if t.t1 > a and t.t0 < b]


def test_tile_geometry_rounds_to_the_downsampling():
    assert tile_geometry(16, 275) == (512, 288)
    assert tile_geometry(16, None, tile=100, halo=0) == (112, 0)
    assert tile_geometry(1, None) == (512, 1024)


# -- the card and the architecture a model carries --------------------------------------------


def test_a_built_model_carries_its_architecture_and_no_card():
    net = get_model("unet", base_channels=4, depth=2)
    arch = architecture_of(net)
    assert arch is net.xspecseg_architecture
    assert (arch.name, arch.downsampling, arch.local) == ("unet", 4, True)
    assert arch.to_info() == net.xspecseg_info
    assert card_of(net) is None
    net.xspecseg_config = {"band": [0.0, 6.0]}  # a card for a model in memory
    assert card_of(net).band == (0.0, 6.0)


def test_architecture_of_older_and_bare_models():
    class Legacy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.xspecseg_info = {"downsampling": 8, "receptive_field": 31, "local": False}

    class Declared(torch.nn.Module):
        xspecseg_architecture = Architecture(downsampling=2, receptive_field=9)

    assert architecture_of(Legacy()) == Architecture(
        downsampling=8, receptive_field=31, global_context=True
    )
    assert architecture_of(Declared()).downsampling == 2
    assert architecture_of(torch.nn.Conv2d(1, 1, 3)) == Architecture()


def test_a_loaded_model_carries_the_card_of_its_config(tmp_path):
    torch.manual_seed(0)
    cfg = {"night_window": ["18:00", "06:00"], "threshold": 0.6, "band": [0.0, 6.0]}
    save(get_model("unet", base_channels=2, depth=1), tmp_path / "m", config=cfg)
    net = load(tmp_path / "m")
    assert card_of(net) is net.xspecseg_card
    assert (
        net.xspecseg_card == read_card(tmp_path / "m") == ModelCard.from_config(net.xspecseg_config)
    )
    assert (net.xspecseg_card.architecture, net.xspecseg_card.threshold) == ("unet", 0.6)
    # the card and the dict must not tell two stories
    net.xspecseg_config = {**net.xspecseg_config, "threshold": 0.9}
    with pytest.raises(ValueError, match="disagree"):
        card_of(net)
    del net.xspecseg_card
    assert card_of(net).threshold == 0.9


def test_predict_reads_only_the_card_on_the_client(tmp_path, monkeypatch):
    from xspecseg.models import checkpoint

    torch.manual_seed(0)
    cfg = {"night_window": ["18:00", "06:00"], "band": [0.0, 6.0]}
    save(get_model("unet", base_channels=2, depth=1), tmp_path / "m", config=cfg)
    time = _axis("2013-01-01T00:00", 48)
    rng = np.random.default_rng(0)
    psd = xr.DataArray(
        rng.random((time.size, 13)).astype(np.float32) + 0.1,
        dims=("time", "frequency"),
        coords={"time": time, "frequency": np.arange(13) * 0.5},
    ).chunk({"time": 864})
    reads = []
    read_weights = checkpoint._read_weights
    monkeypatch.setattr(
        checkpoint, "_read_weights", lambda *a: reads.append(a[0]) or read_weights(*a)
    )
    prob = xs.predict(psd, tmp_path / "m")
    assert reads == [], "the client loaded the weights to build the graph"
    assert prob.attrs["image_unit"] == "night" and prob.attrs["model_architecture"] == "unet"
    values = prob.compute(scheduler="synchronous").values
    assert len(reads) == 1  # the worker (here, this process) loads them, once
    in_memory = xs.predict(psd, load(tmp_path / "m")).compute(scheduler="synchronous").values
    np.testing.assert_allclose(values, in_memory, atol=1e-6)
