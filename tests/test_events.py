"""Tests of xspecseg.events: chunk-invariant labelling, per-event properties, IAR fringes."""

from __future__ import annotations

import itertools

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import ndimage as ndi

import xspecseg as xs
from xspecseg.events import extract_events
from xspecseg.geomag import season_of


def _prob(values, start="2013-01-01", step_s=100, freq=None, **attrs):
    values = np.asarray(values, dtype=np.float32)
    nt, nf = values.shape
    t = np.datetime64(start, "ns") + np.arange(nt) * np.timedelta64(step_s, "s")
    f = np.arange(nf, dtype=float) * 0.1 if freq is None else freq
    return xr.DataArray(
        values,
        dims=("time", "frequency"),
        coords={"time": t, "frequency": f},
        name="probability",
        attrs=attrs,
    )


def _blobs(seed=0, shape=(120, 40)):
    rng = np.random.default_rng(seed)
    p = ndi.gaussian_filter(rng.random(shape), 2.0)
    p = (p - p.min()) / (p.max() - p.min())
    p[rng.random(shape) < 0.01] = np.nan
    return p


def test_single_blob_properties():
    p = np.zeros((50, 40))
    p[10:20, 5:15] = 0.6
    p[14, 9] = 0.95
    psd = _prob(np.full((50, 40), 2.0))
    psd[14, 9] = 7.0
    cat = extract_events(_prob(p), psd=psd, threshold=0.5, fringes=False)
    assert cat.sizes["event"] == 1
    ev = cat.isel(event=0)
    assert int(ev.area_pixels) == 100
    assert float(ev.f_min) == pytest.approx(0.5)
    assert float(ev.f_max) == pytest.approx(1.4)
    assert float(ev.f_peak) == pytest.approx(0.9)
    assert ev.start_time.values == np.datetime64("2013-01-01T00:16:40")
    assert ev.peak_time.values == np.datetime64("2013-01-01T00:23:20")
    assert float(ev.max_probability) == pytest.approx(0.95)
    assert float(ev.mean_probability) == pytest.approx((99 * 0.6 + 0.95) / 100, rel=1e-6)
    assert float(ev.peak_psd) == 7.0
    assert str(ev.season.values) == "DJF"


def test_threshold_from_attrs_and_min_pixels():
    p = np.zeros((30, 20))
    p[2:6, 2:6] = 0.7  # 16 pixels
    p[10:20, 10:15] = 0.7  # 50 pixels
    assert extract_events(_prob(p, threshold=0.8)).sizes["event"] == 0
    cat = extract_events(_prob(p, threshold=0.6))
    assert cat.attrs["threshold"] == 0.6
    assert cat.area_pixels.values.tolist() == [50]  # min_pixels=20 drops the small one
    assert extract_events(_prob(p), min_pixels=1).sizes["event"] == 2


def test_connectivity_diagonal_across_chunk_border():
    p = np.zeros((20, 10))
    p[0:10, 3] = 1.0
    p[10:20, 4] = 1.0  # touches the first only by a corner, across rows 9/10
    prob = _prob(p)
    for chunks in (20, 10, 3):
        c2 = extract_events(prob.chunk(time=chunks), connectivity=2, min_pixels=1)
        c1 = extract_events(prob.chunk(time=chunks), connectivity=1, min_pixels=1)
        assert c2.sizes["event"] == 1
        assert c1.sizes["event"] == 2


def test_a_chunk_keeps_its_border_rows_sparse():
    # the partials of every chunk are held until the whole record is merged: dense border
    # rows were 16 kB of zeros for each CSES half-orbit (190 MB for a year)
    import pickle

    from xspecseg.events.core import _chunk_partials, _dense

    kwargs = dict(threshold=0.5, structure=np.ones((3, 3), bool), grow=0,
                  freq=np.arange(1024.0), fringe_opts=None)  # fmt: skip
    empty = _chunk_partials(np.zeros((1019, 1024)), None, 0, np.r_[True, [False] * 1018], 0,
                            **kwargs)  # fmt: skip
    assert len(pickle.dumps(empty)) < 2000
    p = np.zeros((6, 1024))
    p[:, [3, 700, 701]] = 0.9
    part = _chunk_partials(p, None, 0, np.r_[True, [False] * 5], 0, **kwargs)
    lab = ndi.label(p >= 0.5, np.ones((3, 3)))[0]
    for key, row in (("first", 0), ("last", -1)):
        np.testing.assert_array_equal(_dense(part[key], part["width"]), lab[row])


@pytest.mark.parametrize("chunks", [1, 7, 13, (50, 1, 30, 39), 64])
def test_chunking_does_not_change_catalogue(chunks):
    p = _prob(_blobs(1), station="X", latitude=-40.0, longitude=10.0)
    psd = p.copy(data=np.exp(_blobs(2)).astype(np.float32))
    ref = extract_events(p, psd=psd, threshold=0.55, min_pixels=5, fringes=False)
    assert ref.sizes["event"] >= 3
    got = extract_events(
        p.chunk(time=chunks), psd=psd.chunk(time=17), threshold=0.55, min_pixels=5, fringes=False
    )
    xr.testing.assert_identical(got, ref)
    assert set(ref.hemisphere.values) == {"S"}
    assert "magnetic_latitude" in ref
    assert np.isfinite(ref.impulsiveness).sum() >= 3  # chunk-invariant like the rest


def test_client_runs_the_computation_and_changes_nothing():
    """``client=`` steers execution as in the store writers: the graph goes to that
    client (a recording ``get`` function here), and the catalogue is the default's."""
    p = _prob(_blobs(1)).chunk(time=13)
    psd = p.copy(data=np.exp(_blobs(2)).astype(np.float32))

    calls = []

    def recorder(dsk, keys, **kwargs):  # a scheduler's get, as a Client provides
        calls.append(keys)
        return dask.get(dsk, keys, **kwargs)

    ref = extract_events(p, psd=psd, threshold=0.55, min_pixels=5, fringes=False)
    got = extract_events(
        p, psd=psd, threshold=0.55, min_pixels=5, fringes=False, client=recorder,
        compute_kwargs={"scheduler": "threads"},
    )  # fmt: skip
    assert calls
    xr.testing.assert_identical(got, ref)


def _impulsiveness_reference(prob, psd, threshold):
    """Per connected region: median |second difference| of its row-mean log10 PSD."""
    lab, n = ndi.label(prob >= threshold, np.ones((3, 3)))
    out = {}
    for k in range(1, n + 1):
        rows = np.flatnonzero((lab == k).any(axis=1))
        r = np.array([np.log10(psd[t][lab[t] == k]).mean() for t in rows])
        ok = (np.diff(rows)[1:] == 1) & (np.diff(rows)[:-1] == 1)
        d2 = np.abs(r[1:-1] - (r[:-2] + r[2:]) / 2)[ok]
        out[int(np.flatnonzero(lab.ravel() == k)[0])] = np.median(d2) if d2.size else np.nan
    return [out[k] for k in sorted(out)]  # in the catalogue's (first pixel) order


def test_impulsiveness_against_reference_and_the_filter():
    rng = np.random.default_rng(5)
    nt, nf = 200, 60
    psd = 10.0 ** (0.02 * rng.standard_normal((nt, nf)))
    prob = np.zeros((nt, nf))
    t = np.arange(nt)[:, None]
    # a smooth nucleus: a Gaussian bump in time
    prob[20:60, 10:25] = 0.9
    psd[20:60, 10:25] *= 10.0 ** (0.8 * np.exp(-(((t[20:60] - 40) / 10.0) ** 2)))
    # a whistler storm: every other row bright
    prob[100:140, 30:50] = 0.9
    psd[100:140:2, 30:50] *= 20.0
    # a short, impulsive region of two rows cannot be judged
    prob[170:172, 5:40] = 0.9
    pa, sa = _prob(prob), _prob(psd.astype(np.float32))
    cat = extract_events(pa, psd=sa, threshold=0.5, fringes=False)
    ref = _impulsiveness_reference(prob, psd.astype(np.float32), 0.5)
    np.testing.assert_allclose(cat.impulsiveness.values, ref, rtol=1e-5)
    smooth, storm, short = cat.impulsiveness.values
    assert smooth < 0.03 < 0.5 < storm and np.isnan(short)
    # the cut: explicit, or the model's from the probability attrs; NaN is kept
    cut = extract_events(pa, psd=sa, threshold=0.5, fringes=False, max_impulsiveness=0.1)
    assert cut.area_pixels.values.tolist() == [600, 70]
    assert cut.attrs["max_impulsiveness"] == 0.1
    pa.attrs["max_impulsiveness"] = 0.1
    xr.testing.assert_identical(extract_events(pa, psd=sa, threshold=0.5, fringes=False), cut)
    # without psd the model's cut cannot apply: nothing is dropped; an explicit one fails
    assert extract_events(pa, threshold=0.5).sizes["event"] == 3
    with pytest.raises(ValueError, match="needs psd"):
        extract_events(pa, threshold=0.5, max_impulsiveness=0.1)


def test_mean_probability_cut_matches_a_pandas_selection():
    p = _blobs(7)
    prob = _prob(p)
    full = extract_events(prob, threshold=0.5, min_pixels=3)
    assert full.sizes["event"] >= 3
    cut_at = float(np.median(full.mean_probability))
    df = full.to_dataframe()
    expected = df[df.mean_probability >= cut_at]
    got = extract_events(prob, threshold=0.5, min_pixels=3, min_mean_probability=cut_at)
    assert got.area_pixels.values.tolist() == expected.area_pixels.tolist()
    assert got.attrs["min_mean_probability"] == cut_at
    prob.attrs["min_mean_probability"] = cut_at  # the model's recommendation, via predict
    assert extract_events(prob, threshold=0.5, min_pixels=3).sizes["event"] == len(expected)


def test_shape_cuts_match_a_pandas_selection():
    from xspecseg.events import select_events

    prob = _prob(_blobs(11, shape=(200, 60)), freq=np.arange(60) * 25.0)
    full = extract_events(prob, threshold=0.5, min_pixels=3)
    assert full.sizes["event"] >= 4
    df = full.to_dataframe()
    bw = df.f_max - df.f_min
    dur = (df.end_time - df.start_time).dt.total_seconds()
    min_bw, max_dur = float(bw.median()), float(dur.median())
    expected = df[(bw >= min_bw) & (dur <= max_dur)]
    assert 0 < len(expected) < len(df)
    got = extract_events(
        prob, threshold=0.5, min_pixels=3, min_bandwidth=min_bw, max_duration=max_dur
    )
    assert got.area_pixels.values.tolist() == expected.area_pixels.tolist()
    assert got.event.values.tolist() == list(range(len(expected)))
    assert (got.attrs["min_bandwidth"], got.attrs["max_duration"]) == (min_bw, max_dur)
    # the same cuts on the catalogue afterwards; the model's, via the probability attrs
    xr.testing.assert_identical(
        select_events(full, min_bandwidth=min_bw, max_duration=max_dur), got
    )
    prob.attrs.update(min_bandwidth=min_bw, max_duration=max_dur)
    xr.testing.assert_identical(extract_events(prob, threshold=0.5, min_pixels=3), got)
    none = extract_events(prob, threshold=0.5, min_pixels=3, min_bandwidth=None, max_duration=None)
    assert none.sizes["event"] == len(df) and "min_bandwidth" not in none.attrs


def test_select_events_records_the_stricter_cut_and_is_idempotent():
    from xspecseg.events import select_events

    cat = extract_events(_prob(_blobs(3)), threshold=0.5, min_pixels=3)
    mp = np.sort(cat.mean_probability.values)
    lo, hi = float(mp[1]), float(mp[-2])
    once = select_events(cat, min_mean_probability=hi)
    xr.testing.assert_identical(select_events(once, min_mean_probability=hi), once)
    # a looser cut after a stricter one changes nothing, the attrs keep the stricter
    xr.testing.assert_identical(select_events(once, min_mean_probability=lo), once)
    assert once.attrs["min_mean_probability"] == hi
    with pytest.raises(ValueError, match="impulsiveness"):
        select_events(cat, max_impulsiveness=0.1)  # made without psd
    with pytest.raises(ValueError, match="not an event catalogue"):
        select_events(xr.Dataset({"x": ("time", [1.0])}), min_bandwidth=1.0)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    cuts=st.lists(st.integers(1, 59), max_size=6, unique=True),
    conn=st.sampled_from([1, 2]),
)
def test_matches_whole_image_labelling(seed, cuts, conn):
    rng = np.random.default_rng(seed)
    p = ndi.gaussian_filter(rng.random((60, 15)), 1.0)
    p = p > np.quantile(p, 0.6)
    lab, n = ndi.label(p, ndi.generate_binary_structure(2, conn))
    edges = [0, *sorted(cuts), 60]
    chunks = tuple(b - a for a, b in itertools.pairwise(edges))
    prob = _prob(p.astype(np.float32)).chunk(time=chunks)
    cat = extract_events(prob, min_pixels=1, connectivity=conn)
    assert cat.sizes["event"] == n
    assert sorted(cat.area_pixels.values.tolist()) == sorted(np.bincount(lab.ravel())[1:])
    xr.testing.assert_identical(
        cat, extract_events(prob.compute(), min_pixels=1, connectivity=conn)
    )


def test_nan_is_never_an_event():
    p = np.full((30, 10), np.nan)
    cat = extract_events(_prob(p).chunk(time=7), min_pixels=1)
    assert cat.sizes["event"] == 0
    assert "season" in cat and "start_time" in cat


def test_satellite_coords_and_orbit_break():
    p = np.zeros((40, 20))
    p[15:25, 5:10] = 0.9  # crosses the orbit change at row 20
    p[22, 7] = 1.0
    prob = _prob(p, step_s=2, freq=np.arange(20) * 25.0, component="Z")
    lat = np.linspace(60, 70, 40)
    prob = prob.assign_coords(
        latitude=("time", lat),
        longitude=("time", np.linspace(100, 110, 40)),
        magnetic_latitude=("time", lat + 3),
        orbit=("time", np.r_[np.full(20, 7), np.full(20, 8)]),
        orbit_direction=("time", np.r_[["descending"] * 20, ["ascending"] * 20]),
    )
    cat = extract_events(prob.chunk(time=9), min_pixels=1)
    assert cat.sizes["event"] == 2
    assert cat.orbit.values.tolist() == [7, 8]
    ev = cat.isel(event=1)
    assert float(ev.latitude) == pytest.approx(lat[22])
    assert float(ev.magnetic_latitude) == pytest.approx(lat[22] + 3)
    assert str(ev.orbit_direction.values) == "ascending"
    assert str(ev.hemisphere.values) == "N"
    assert set(cat.component.values) == {"Z"}
    assert "delta_f" not in cat  # no psd: no fringes
    merged = extract_events(prob.drop_vars("orbit"), min_pixels=1)
    assert merged.sizes["event"] == 1


def test_season_of_month_edges():
    t = np.array(["2013-12-31", "2013-03-01", "2013-08-31", "2013-11-30"], "M8[ns]")
    assert np.asarray(season_of(t)).tolist() == ["DJF", "MAM", "JJA", "SON"]


@pytest.fixture(scope="module")
def iar_cube():
    # two days holding the whole night of 5-6 January (seed 0) and part of the night before
    wave = xs.synth.ground_station("2013-01-05", days=2, seed=0, components=("H",))
    cube = xs.build_cube(wave).persist()
    return cube, xs.synth.iar_truth(cube)


def test_iar_delta_f_on_truth(iar_cube):
    cube, truth = iar_cube
    prob = truth.astype("float32").chunk(time=864)
    prob.attrs["component"] = "H"
    cat = extract_events(prob, psd=cube.psd, min_pixels=200)
    assert "delta_f" in cat and cat.fringe_frequency.dims == ("event", "fringe")
    nights = xs.synth.iar_truth_nights("2013-01-04", days=3, seed=0)
    checked = 0
    for k in range(cat.sizes["event"]):
        ev = cat.isel(event=k)
        evening = (ev.peak_time.values - np.timedelta64(12, "h")).astype("M8[D]")
        night = nights.sel(night=evening)
        # compare only nights wholly inside the window: the truth's Δf is the median over
        # the night and drifts, so a cut night has another median
        inside = (
            ev.start_time.values > cube.time.values[0]
            and ev.end_time.values < (cube.time.values[-1])
        )
        if not (bool(night.has_iar) and inside):
            continue
        assert abs(float(ev.delta_f) - float(night.delta_f)) < 0.05
        ff = ev.fringe_frequency.values[np.isfinite(ev.fringe_frequency.values)]
        assert ff.size >= 2
        assert np.all((ff > 0.3) & (ff < 6.5))
        checked += 1
    assert checked >= 1
    # a chunking that cuts the night gives the same catalogue, fringes included
    odd = extract_events(prob.chunk(time=(500, 700, 1, 527)), psd=cube.psd, min_pixels=200)
    xr.testing.assert_identical(odd, cat)


def test_catalogue_carries_the_model_provenance_and_the_cuts_applied(tmp_path):
    from xspecseg.catalogue import open_catalogue, write_catalogue

    p = np.zeros((60, 40))
    p[10:20, 5:15] = 0.9
    p[30:50, 20:22] = 0.9  # narrow: dropped by the bandwidth cut
    identity = {
        "model": "cses-default",
        "model_architecture": "odm_unet",
        "model_sha256": "0123456789abcdef",
        "representation": '{"method": "log10_standardise"}',
        "image_unit": "halforbit",
        "xspecseg_version": "0.0.9",
        "station": "CSES",
    }
    prob = _prob(p, threshold=0.6, min_bandwidth=0.5, **identity)
    cat = extract_events(prob)
    for key, value in identity.items():
        if key == "xspecseg_version":  # the catalogue's own is that of its writer
            assert cat.attrs["inference_xspecseg_version"] == value
        else:
            assert cat.attrs[key] == value, key
    assert cat.attrs["threshold"] == 0.6
    assert cat.attrs["min_bandwidth"] == 0.5 and cat.sizes["event"] == 1
    # cuts not applied leave no attribute (max_impulsiveness would need the PSD)
    assert not {"max_impulsiveness", "min_mean_probability", "max_duration"} & set(cat.attrs)
    got = open_catalogue(write_catalogue(cat, tmp_path / "events.nc"))
    for key in (*identity, "inference_xspecseg_version", "threshold", "min_bandwidth"):
        if key != "xspecseg_version":
            assert got.attrs[key] == cat.attrs[key], key
    assert got.attrs["xspecseg_version"] == xs.__version__


def test_select_events_after_a_flagged_merge_records_one_cut():
    from xspecseg.catalogue import merge_catalogues

    def cat(durations, cut):
        t0 = np.datetime64("2022-04-10T03:00", "ns")
        start = t0 + np.arange(len(durations)) * np.timedelta64(1, "h")
        end = start + (np.asarray(durations) * 1e9).astype("timedelta64[ns]")
        return xr.Dataset(
            {"start_time": ("event", start), "end_time": ("event", end)},
            attrs={"model": "cses-default", "max_duration": cut},
        )

    merged = merge_catalogues([cat([10, 100], 120.0), cat([10, 170], 180.0)], mixed="flag")
    assert merged.attrs["max_duration"] == "120.0; 180.0"
    loose = xs.select_events(merged, max_duration=200.0)
    # 180 s holds for every event, not the 200 s asked for
    assert loose.attrs["max_duration"] == 180.0 and "mixed_provenance" not in loose.attrs
    tight = xs.select_events(merged, max_duration=150.0)
    assert tight.attrs["max_duration"] == 150.0 and tight.sizes["event"] == 3


def _comb_night(spacing=0.6, rows=40, seed=0):
    """A band of 1-5 Hz with fringes of ``spacing`` Hz over a 1/f^2 background."""
    rng = np.random.default_rng(seed)
    freq = np.arange(1, 400) * 0.025
    fringes = 10 ** (0.3 * np.cos(2 * np.pi * freq / spacing))
    psd = freq**-2 * fringes * rng.chisquare(8, (rows, freq.size)) / 8
    prob = np.zeros(psd.shape, np.float32)
    prob[5:-5, (freq >= 1) & (freq <= 5)] = 1.0
    return _prob(prob, freq=freq), _prob(psd, freq=freq)


def test_fringe_options_select_and_tune_the_fringe_analysis():
    from xspecseg.events import FringeOptions

    prob, psd = _comb_night(spacing=0.6)
    default = extract_events(prob, psd=psd, fringes=True, min_pixels=10)
    assert float(default.delta_f[0]) == pytest.approx(0.6, abs=0.02)
    xr.testing.assert_identical(
        extract_events(prob, psd=psd, fringes=FringeOptions(), min_pixels=10), default
    )
    # "auto" on a band below 20 Hz with a PSD is the default analysis, False none
    xr.testing.assert_identical(extract_events(prob, psd=psd, min_pixels=10), default)
    assert "delta_f" not in extract_events(prob, psd=psd, fringes=False, min_pixels=10)
    # the options are used: a searched range below the true spacing cannot find it
    narrow = extract_events(prob, psd=psd, fringes=FringeOptions(spacing=(0.3, 0.5)), min_pixels=10)
    assert float(narrow.delta_f[0]) < 0.5 and narrow.attrs["fringes"] == 1
    with pytest.raises(ValueError, match="needs psd"):
        extract_events(prob, fringes=FringeOptions())
    with pytest.raises(ValueError, match="fringes must be"):
        extract_events(prob, psd=psd, fringes="yes")
    with pytest.raises(ValueError, match="spacing"):
        FringeOptions(spacing=(1.5, 0.3))


def test_the_cut_table_holds_every_cut_a_model_card_may_carry():
    from xspecseg import contract
    from xspecseg.events import EVENT_CUT_KEYS, event_bandwidth, event_duration
    from xspecseg.events.cuts import CUTS

    assert EVENT_CUT_KEYS is contract.EVENT_CUT_KEYS
    assert tuple(CUTS) == EVENT_CUT_KEYS
    cat = extract_events(_prob(_blobs(11, shape=(200, 60))), threshold=0.5, min_pixels=3)
    df = cat.to_dataframe()
    np.testing.assert_array_equal(event_bandwidth(cat), df.f_max - df.f_min)
    np.testing.assert_array_equal(
        event_duration(cat), (df.end_time - df.start_time).dt.total_seconds()
    )


@pytest.mark.parametrize("seed", range(5))
def test_every_aggregation_combines_to_its_whole_image_value(seed):
    """chunk_reduce on two row blocks, combined, equals chunk_reduce on the whole image."""
    from xspecseg.events.aggregations import (
        AGGREGATIONS,
        chunk_reduce,
        combine,
        pixel_columns,
    )

    rng = np.random.default_rng(seed)
    nt, nf, n = 12, 9, 4
    lab = rng.integers(0, n + 1, (nt, nf))
    prob = rng.choice([0.6, 0.7, 0.8], (nt, nf))  # ties: the earliest pixel must win
    psd = rng.random((nt, nf))
    whole = chunk_reduce(pixel_columns(lab, prob, psd, 0), n)
    cut = int(rng.integers(1, nt))
    top = chunk_reduce(pixel_columns(lab[:cut], prob[:cut], psd[:cut], 0), n)
    bottom = chunk_reduce(pixel_columns(lab[cut:], prob[cut:], psd[cut:], cut), n)
    # label k of either block is event k: nodes 0..n-1, the bottom's labels joined to them
    got = combine([top, bottom], np.r_[np.arange(n), np.arange(n)], 2 * n)
    names = {a.name for a in AGGREGATIONS} | {c[0] for a in AGGREGATIONS for c in a.carry}
    for name in sorted(names):
        if name == "psum":  # a float sum in another order
            np.testing.assert_allclose(got[name][:n], whole[name], rtol=1e-12)
        else:
            np.testing.assert_array_equal(got[name][:n], whole[name], err_msg=name)
        assert got[name].dtype == whole[name].dtype, name


@pytest.mark.parametrize("kind", ["numpy-string", "object"])
def test_string_track_coordinates_from_a_store_give_a_valid_catalogue(kind, tmp_path):
    """A probability store hands back ``orbit_direction`` as variable-length strings
    (numpy's StringDType, or objects): the catalogue holds fixed-width str and validates."""
    p = np.zeros((40, 20))
    p[5:12, 5:10] = 0.9
    prob = _prob(p, step_s=2, freq=np.arange(20) * 25.0, component="Z")
    dirs = np.array(["descending"] * 20 + ["ascending"] * 20, dtype=object)
    if kind == "numpy-string":
        dirs = dirs.astype(np.dtypes.StringDType())
    prob = prob.assign_coords(
        orbit=("time", np.r_[np.full(20, 7), np.full(20, 8)]), orbit_direction=("time", dirs)
    )
    cat = extract_events(prob, min_pixels=1)
    assert cat.orbit_direction.dtype.kind == "U"
    assert cat.orbit_direction.values.tolist() == ["descending"]
    xs.catalogue.validate_catalogue(cat)
    xs.write_catalogue(cat, tmp_path / "c.nc")
    assert xs.open_catalogue(tmp_path / "c.nc").orbit_direction.values.tolist() == ["descending"]


def test_the_psd_is_cut_into_chunks_once_not_once_per_chunk(monkeypatch):
    # cutting the PSD array per probability chunk optimised a graph over all its blocks
    # for each chunk: quadratic in the record (a month of CSES half-orbits took minutes)
    calls = []
    original = da.Array.to_delayed

    def counting(self, *args, **kwargs):
        calls.append(self.numblocks)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(da.Array, "to_delayed", counting)
    p = _prob(_blobs(1))
    psd = p.copy(data=np.exp(_blobs(2)).astype(np.float32))
    ref = extract_events(p, psd=psd, threshold=0.55, min_pixels=5, fringes=False)
    for chunks in (7, 1):
        calls.clear()
        got = extract_events(p.chunk(time=chunks), psd=psd.chunk(time=5), threshold=0.55,
                             min_pixels=5, fringes=False)  # fmt: skip
        xr.testing.assert_identical(got, ref)
        assert len(calls) == 2, calls  # the probability's blocks and the PSD's, once each
