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
