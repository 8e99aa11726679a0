"""Tests of xspecseg.plot: every figure is written and returned; confusion colours."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from xspecseg import plot


@pytest.fixture(autouse=True)
def _close():
    yield
    matplotlib.pyplot.close("all")


def _png_ok(path, fig):
    assert isinstance(fig, Figure)
    assert path.exists() and path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_confusion_image_codes_and_colours():
    pred = np.array([[1, 1, 0, 0]], bool)
    truth = np.array([[1, 0, 1, 0]], bool)
    code = plot.confusion_image(pred, truth)
    assert code.tolist() == [[plot.TP, plot.FP, plot.FN, plot.TN]]
    colours = dict(zip(plot.CONFUSION_LABELS, plot.CONFUSION_COLOURS))
    # the IAR paper's Fig. 5: black TP, red TN, white FN; FP distinct from all three
    assert to_rgb(colours["TP"]) == (0, 0, 0)
    assert to_rgb(colours["FN"]) == (1, 1, 1)
    r, g, b = to_rgb(colours["TN"])
    assert r > 0.7 and g < 0.3 and b < 0.3
    assert len({to_rgb(c) for c in plot.CONFUSION_COLOURS}) == 4
    with pytest.raises(ValueError):
        plot.confusion_image(pred, truth[:, :2])


def test_quicklook(tmp_path):
    rng = np.random.default_rng(0)
    t = np.datetime64("2013-01-05T18", "ns") + np.arange(200) * np.timedelta64(100, "s")
    f = np.linspace(0, 10, 60)
    psd = xr.DataArray(
        rng.lognormal(size=(1, 200, 60)).astype("float32"),
        dims=("component", "time", "frequency"),
        coords={"component": ["H"], "time": t, "frequency": f},
        attrs={"units": "pT2 Hz-1", "station": "ESK"},
    )
    truth = xr.zeros_like(psd.isel(component=0), dtype=bool)
    truth[50:150, 10:20] = True
    prob = xr.zeros_like(psd.isel(component=0))
    prob[60:160, 12:25] = 0.8
    prob.attrs["threshold"] = 0.7
    path = tmp_path / "ql.png"
    fig = plot.quicklook(psd, detections=prob, truth=truth, component="H", path=path)
    _png_ok(path, fig)
    code = fig.confusion
    assert code[100, 15] == plot.TP
    assert code[55, 15] == plot.FN
    assert code[155, 22] == plot.FP
    assert code[0, 0] == plot.TN
    # the drawn image is that array, coloured by the confusion colour map
    img = fig.axes[1].get_images()[0]  # panels first, then the colour bar
    np.testing.assert_array_equal(np.asarray(img.get_array()), code.T)
    assert [to_rgb(c) for c in img.get_cmap().colors] == [to_rgb(c) for c in plot.CONFUSION_COLOURS]
    p2 = tmp_path / "ql_plain.png"
    fig2 = plot.quicklook(psd.isel(component=0), detections=prob > 0.5, path=p2)
    _png_ok(p2, fig2)
    assert fig2.confusion is None


def test_seasonal_counts(tmp_path):
    ds = xr.Dataset(
        {"count": (("hemisphere", "season"), [[10, 40, 30, 35], [5, 30, 25, 20]])},
        coords={"hemisphere": ["N", "S"], "season": ["DJF", "JJA", "MAM", "SON"]},
    )
    path = tmp_path / "s.png"
    fig = plot.seasonal_counts(ds, path=path)
    _png_ok(path, fig)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["DJF", "MAM", "JJA", "SON"]


def test_histograms(tmp_path):
    cat = (
        pd.DataFrame(
            {
                "magnetic_latitude": np.r_[np.linspace(58, 80, 30), -np.linspace(58, 75, 10)],
                "f_peak": np.linspace(100, 12_000, 40),
            }
        )
        .to_xarray()
        .rename(index="event")
    )
    ml = cat.groupby_bins("magnetic_latitude", np.arange(-90, 91, 5)).count()
    ml = ml.rename(f_peak="count")
    fq = (
        cat.groupby_bins("f_peak", np.arange(0, 12_501, 500))
        .count()
        .rename(magnetic_latitude="count")
    )
    p1, p2 = tmp_path / "ml.png", tmp_path / "f.png"
    _png_ok(p1, plot.maglat_histogram(ml, path=p1))
    fig = plot.frequency_histogram(fq, path=p2)
    _png_ok(p2, fig)
    assert "kHz" in fig.axes[0].get_xlabel()
    # a second dim (e.g. hemisphere) is drawn as grouped bars
    two = xr.concat([ml["count"], ml["count"]], dim=xr.DataArray(["N", "S"], dims="hemisphere"))
    p3 = tmp_path / "ml2.png"
    _png_ok(p3, plot.maglat_histogram(two.to_dataset(name="count"), path=p3))


def test_event_map(tmp_path):
    cat = xr.Dataset(
        {
            "latitude": ("event", [55.3, -60.0, 45.0]),
            "longitude": ("event", [-3.2, 150.0, 350.0]),
            "magnetic_latitude": ("event", [52.0, -65.0, 48.0]),
        }
    )
    path = tmp_path / "map.png"
    fig = plot.event_map(cat, path=path)
    _png_ok(path, fig)
    assert fig.map_kind in {"plain lat/lon", "cartopy Miller projection"}
    assert any("map:" in t.get_text() for t in fig.texts)


def test_quicklook_of_an_empty_selection_says_so():
    t = np.datetime64("2013-01-05T18", "ns") + np.arange(20) * np.timedelta64(100, "s")
    psd = xr.DataArray(
        np.ones((20, 5), np.float32),
        dims=("time", "frequency"),
        coords={"time": t, "frequency": np.arange(5.0)},
    )
    with pytest.raises(ValueError, match=r"nothing to draw: the PSD has 0 time step"):
        plot.quicklook(psd.sel(time=slice("2020-01-01", None)))


# ----------------------------------------------------------------------------------------
# titles, count axes, normalised colours, the CSES half-orbit
# ----------------------------------------------------------------------------------------
def _integer_ticks(ax):
    from matplotlib.ticker import MaxNLocator

    assert isinstance(ax.yaxis.get_major_locator(), MaxNLocator)
    ticks = ax.get_yticks()
    np.testing.assert_array_equal(ticks, np.round(ticks))


def _small_catalogue():
    t = np.datetime64("2013-01-05T18", "ns") + np.array([0, 3600, 7200]) * np.timedelta64(1, "s")
    return xr.Dataset(
        {
            "peak_time": ("event", t),
            "latitude": ("event", [55.3, 55.3, 55.3]),
            "longitude": ("event", [-3.2, -3.2, -3.2]),
            "magnetic_latitude": ("event", [52.0, 52.0, 52.0]),
            "f_peak": ("event", [1.2, 2.6, 2.7]),
            "hemisphere": ("event", ["N", "N", "N"]),
        },
        attrs={"station": "ESK", "component": "H"},
    )


def test_distribution_figures_have_context_titles_and_integer_counts():
    from xspecseg import stats

    cat = _small_catalogue()
    figs = [
        plot.seasonal_counts(stats.seasonal_distribution(cat)),
        plot.maglat_histogram(stats.maglat_distribution(cat, [40, 50, 60])),
        plot.frequency_histogram(stats.frequency_distribution(cat, [0, 1, 2, 3])),
        plot.event_map(cat),
    ]
    for fig in figs:
        title = fig.axes[0].get_title()
        assert "ESK H" in title and "2013-01-05 18:00 to 20:00 UTC" in title, title
    for fig in figs[:3]:
        _integer_ticks(fig.axes[0])
    assert "(3 events)" in figs[3].axes[0].get_title()
    mine = plot.seasonal_counts(stats.seasonal_distribution(cat), title="mine")
    assert mine.axes[0].get_title() == "mine"


def test_figures_from_the_stats_dataset_use_its_bounds():
    from xspecseg import stats

    cat = _small_catalogue()
    ds = stats.distributions(cat)
    fig = plot.frequency_histogram(ds)
    bars = fig.axes[0].patches
    edges = ds.f_peak_bins_bounds.values
    np.testing.assert_allclose([b.get_x() for b in bars], edges[:, 0])
    np.testing.assert_allclose([b.get_x() + b.get_width() for b in bars], edges[:, 1])
    np.testing.assert_array_equal([b.get_height() for b in bars], ds.frequency_count.values)
    assert fig.axes[0].get_xlabel() == "peak frequency (Hz)"
    fig = plot.maglat_histogram(ds)
    assert len(fig.axes[0].patches) == ds.sizes["magnetic_latitude_bins"]
    fig = plot.seasonal_counts(ds)
    heights = [b.get_height() for b in fig.axes[0].patches]
    assert sum(heights) == 3 and "ESK H" in fig.axes[0].get_title()


def _psd(nt=200, nf=60, seed=0, **attrs):
    rng = np.random.default_rng(seed)
    t = np.datetime64("2013-01-05T18", "ns") + np.arange(nt) * np.timedelta64(100, "s")
    # rows of very different power: a steep background
    vals = rng.lognormal(size=(nt, nf)) * np.logspace(3, -3, nf)[None, :]
    return xr.DataArray(
        vals,
        dims=("time", "frequency"),
        coords={"time": t, "frequency": np.linspace(0, 10, nf)},
        attrs={"units": "pT2 Hz-1", **attrs},
    )


def test_quicklook_title_and_frequency_normalisation():
    psd = _psd(station="ESK", component="H")
    fig = plot.quicklook(psd)
    assert fig._suptitle.get_text() == "ESK H, 2013-01-05 18:00 to 23:31 UTC"
    fig = plot.quicklook(psd, normalise="frequency")
    drawn = np.asarray(fig.axes[0].get_images()[0].get_array()).T
    logp = np.log10(psd.values)
    want = logp - np.median(logp, axis=0)[None, :]
    np.testing.assert_allclose(drawn, want)
    np.testing.assert_allclose(np.median(drawn, axis=0), 0, atol=1e-12)
    assert "median" in fig.axes[1].get_ylabel()  # the colour bar says so
    with pytest.raises(ValueError, match="normalise"):
        plot.quicklook(psd, normalise="time")


def _halforbit(log10=False):
    nt, nf = 600, 128
    t = np.datetime64("2022-04-10T03:00", "ns") + np.arange(nt) * np.timedelta64(2, "s")
    rng = np.random.default_rng(3)
    vals = rng.lognormal(size=(nt, nf)) * 1e-6
    if log10:
        vals = np.log10(vals)
    return xr.Dataset(
        {"psd": (("time", "frequency"), vals, {"units": "log10(mV2 m-2 Hz-1)" if log10 else ""})},
        coords={
            "time": t,
            "frequency": np.arange(nf) * 200.0,
            "latitude": ("time", np.linspace(-65, 65, nt)),
            "magnetic_latitude": ("time", np.linspace(-60, 70, nt)),
            "orbit": ("time", np.full(nt, 23456)),
            "orbit_direction": ("time", np.full(nt, "ascending")),
        },
        attrs={
            "platform": "CSES-01",
            "instrument": "EFD VLF",
            "component": "Z",
            "log10": int(log10),
        },
    )


def test_plot_halforbit_boxes_events_and_labels_the_pass(tmp_path):
    sat = _halforbit()
    t = sat.time.values
    cat = xr.Dataset(
        {
            "start_time": ("event", [t[100], t[400], t[0] - np.timedelta64(1, "h")]),
            "end_time": ("event", [t[130], t[450], t[0] - np.timedelta64(50, "m")]),
            "f_min": ("event", [2000.0, 10_000.0, 1000.0]),
            "f_max": ("event", [6000.0, 12_000.0, 2000.0]),
        }
    )
    det = xr.zeros_like(sat.psd, dtype=bool)
    det[100:131, 10:31] = True
    path = tmp_path / "orbit.png"
    fig = plot.plot_halforbit(sat, cat, detections=det, path=path)
    _png_ok(path, fig)
    ax = fig.axes[0]
    boxes = fig.event_boxes
    assert len(boxes) == 2  # the third event is an hour before the pass
    assert all(b in ax.patches for b in boxes)
    import matplotlib.dates as mdates

    dt = np.timedelta64(2, "s")
    for box, k in zip(boxes, [0, 1], strict=True):
        x0 = mdates.num2date(box.get_x()).replace(tzinfo=None)
        x1 = mdates.num2date(box.get_x() + box.get_width()).replace(tzinfo=None)
        assert abs(np.datetime64(x0, "ns") - cat.start_time.values[k]) < np.timedelta64(1, "ms")
        assert abs(np.datetime64(x1, "ns") - (cat.end_time.values[k] + dt)) < np.timedelta64(
            1, "ms"
        )
        # kHz, to the outer edges of the first and last bins (200 Hz wide)
        assert box.get_y() == pytest.approx(cat.f_min.values[k] / 1000 - 0.1)
        assert box.get_y() + box.get_height() == pytest.approx(cat.f_max.values[k] / 1000 + 0.1)
    title = ax.get_title()
    for bit in ("CSES-01", "Z", "orbit 23456 ascending", "2022-04-10 03:00 to 03:19 UTC"):
        assert bit in title, title
    assert "2 event(s)" in title
    assert ax.get_ylabel() == "frequency (kHz)"
    top = [a for a in ax.child_axes]
    labels = [t.get_text() for t in top[0].get_xticklabels()]
    assert labels[0].startswith("-60°") and any(lab.startswith("0°") for lab in labels)
    assert ax.collections  # the detection outline


def test_plot_halforbit_log10_input_and_normalisation():
    raw, logged = _halforbit(), _halforbit(log10=True)
    a = plot.plot_halforbit(raw)
    b = plot.plot_halforbit(logged)
    img_a = np.asarray(a.axes[0].get_images()[0].get_array())
    img_b = np.asarray(b.axes[0].get_images()[0].get_array())
    np.testing.assert_allclose(img_a, img_b)  # log10 values are not logged twice
    n = plot.plot_halforbit(logged, normalise="frequency", fmax=12_000)
    img = np.asarray(n.axes[0].get_images()[0].get_array()).T
    sel = logged.psd.sel(frequency=slice(None, 12_000)).values
    np.testing.assert_allclose(img, sel - np.median(sel, axis=0)[None, :])
    assert n.axes[0].get_ylim()[1] == pytest.approx(12.1)
    assert plot.plot_halforbit(raw, xr.Dataset({"start_time": ("event", [])})).event_boxes == []
