"""Figures: spectrogram quick-looks with detections, distributions and event maps.

Every function draws with matplotlib's Agg backend (no display needed), returns the
:class:`matplotlib.figure.Figure` and, given ``path=``, also saves it as a PNG.

Examples
--------
>>> import numpy as np
>>> confusion_image(np.array([[1, 0], [1, 0]], bool), np.array([[1, 1], [0, 0]], bool))
array([[1, 3],
       [2, 0]], dtype=uint8)
"""

from __future__ import annotations

import os
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

__all__ = [
    "CONFUSION_COLOURS",
    "CONFUSION_LABELS",
    "confusion_image",
    "event_map",
    "frequency_histogram",
    "maglat_histogram",
    "quicklook",
    "seasonal_counts",
]

#: Codes of :func:`confusion_image`.
TN, TP, FP, FN = 0, 1, 2, 3
CONFUSION_LABELS = ("TN", "TP", "FP", "FN")
#: Colours of the codes: as in the IAR paper's Fig. 5 (black TP, red TN, white FN), plus
#: FP in a blue that stands apart from all three.
CONFUSION_COLOURS = ("#d62728", "#000000", "#1f77ff", "#ffffff")
SEASONS = ("DJF", "MAM", "JJA", "SON")


def _save(fig: Figure, path: str | os.PathLike | None) -> Figure:
    if path is not None:
        fig.savefig(os.fspath(path), dpi=fig.dpi, format="png")
    return fig


def confusion_image(pred: Any, truth: Any) -> np.ndarray:
    """Per-pixel confusion codes: 0 TN, 1 TP, 2 FP, 3 FN (``uint8``).

    Parameters
    ----------
    pred, truth : array-like of bool
        Detection and truth masks of the same shape.

    Examples
    --------
    >>> confusion_image([True, False, True, False], [True, True, False, False]).tolist()
    [1, 3, 2, 0]
    """
    p = np.asarray(pred, dtype=bool)
    t = np.asarray(truth, dtype=bool)
    if p.shape != t.shape:
        raise ValueError(f"pred {p.shape} and truth {t.shape} differ in shape")
    out = np.full(p.shape, TN, np.uint8)
    out[p & t] = TP
    out[p & ~t] = FP
    out[~p & t] = FN
    return out


def _as_tf(x: Any, component: str | None) -> xr.DataArray:
    """A (time, frequency) DataArray from a DataArray, a cube Dataset or a 3-D psd."""
    if isinstance(x, xr.Dataset):
        x = x["psd"]
    if "component" in x.dims:
        x = x.sel(component=component) if component is not None else x.isel(component=0)
    return x.transpose("time", "frequency")


def _mask(x: Any, threshold: float | None) -> np.ndarray:
    arr = x if isinstance(x, xr.DataArray) else xr.DataArray(np.asarray(x))
    if isinstance(x, xr.DataArray) and "time" in x.dims:
        arr = x.transpose("time", "frequency")
    vals = np.asarray(arr.values)
    if vals.dtype == bool:
        return vals
    thr = threshold if threshold is not None else float(arr.attrs.get("threshold", 0.5))
    with np.errstate(invalid="ignore"):
        return vals >= thr


def _extent(time: np.ndarray, freq: np.ndarray) -> tuple[float, float, float, float]:
    t = mdates.date2num(np.asarray(time).astype("datetime64[ns]").astype("datetime64[us]"))
    dt = float(np.median(np.diff(t))) if t.size > 1 else 1.0 / 864
    df = float(np.median(np.diff(freq))) if freq.size > 1 else 1.0
    return (t[0], t[-1] + dt, freq[0] - df / 2, freq[-1] + df / 2)


def quicklook(
    psd: xr.DataArray | xr.Dataset,
    detections: xr.DataArray | np.ndarray | None = None,
    truth: xr.DataArray | np.ndarray | None = None,
    *,
    threshold: float | None = None,
    component: str | None = None,
    title: str | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """Spectrogram (log10 PSD, time x frequency) with detections outlined.

    With ``truth`` a second panel shows every pixel's confusion category, coloured as in
    the IAR paper's Fig. 5 (black TP, red TN, white FN) with FP in blue, and a legend
    with the pixel counts.

    Parameters
    ----------
    psd : xr.DataArray or xr.Dataset
        ``(time, frequency)`` PSD, or a cube / ``(component, time, frequency)`` PSD from
        which ``component`` (default: the first) is drawn. It is loaded: slice first.
    detections : xr.DataArray or array, optional
        Boolean mask or probability on the same grid; probabilities are cut at
        ``threshold`` (default: its ``threshold`` attr, else 0.5). Outlined in white on
        the spectrogram.
    truth : xr.DataArray or array, optional
        Boolean truth mask on the same grid (outlined dashed in black, and the confusion
        panel).
    title : str, optional
        Figure title; default from the PSD's station/component attrs.
    vmin, vmax : float, optional
        Colour limits in log10 PSD; default the 10th and 99.7th percentiles.
    path : path, optional
        Save the figure there as PNG.

    Returns
    -------
    matplotlib.figure.Figure
        ``fig.confusion`` holds the code image drawn (``None`` without truth).

    Raises
    ------
    ValueError
        The PSD has no time step or no frequency bin (an empty selection).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> t = np.arange(100).astype("M8[m]").astype("M8[ns]")
    >>> psd = xr.DataArray(np.random.rand(100, 30) + 0.1, dims=("time", "frequency"),
    ...                    coords={"time": t, "frequency": np.linspace(0, 10, 30)})
    >>> fig = quicklook(psd, detections=psd > 0.9, truth=psd > 0.8)
    >>> fig.confusion.shape
    (100, 30)
    """
    spec = _as_tf(psd, component)
    if spec.sizes["time"] == 0 or spec.sizes["frequency"] == 0:
        raise ValueError(
            f"quicklook: nothing to draw: the PSD has {spec.sizes['time']} time step(s) and "
            f"{spec.sizes['frequency']} frequency bin(s); select a range that holds data"
        )
    time = np.asarray(spec["time"].values)
    freq = np.asarray(spec["frequency"].values, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = np.log10(np.where(spec.values > 0, spec.values, np.nan).astype(float))
    finite = logp[np.isfinite(logp)]
    # the band-pass cut below its corner is a few % of the bins and orders of magnitude
    # lower: a low percentile would spend the colour scale on it
    lo = vmin if vmin is not None else (np.percentile(finite, 10) if finite.size else 0)
    hi = vmax if vmax is not None else (np.percentile(finite, 99.7) if finite.size else 1)
    ext = _extent(time, freq)
    det = _mask(detections, threshold) if detections is not None else None
    tru = _mask(truth, 0.5) if truth is not None else None

    npan = 2 if tru is not None else 1
    fig, axes = plt.subplots(
        npan, 1, figsize=(12, 3.6 * npan), sharex=True, squeeze=False, constrained_layout=True
    )
    ax = axes[0, 0]
    im = ax.imshow(
        logp.T, origin="lower", aspect="auto", extent=ext, cmap="viridis", vmin=lo, vmax=hi
    )
    cb = fig.colorbar(im, ax=ax, pad=0.01)
    units = spec.attrs.get("units", "")
    cb.set_label(f"log10 PSD ({units})" if units else "log10 PSD")
    # contour on pixel centres so outlines fall on the pixel edges
    tc = np.linspace(ext[0], ext[1], time.size + 1)
    tc = 0.5 * (tc[:-1] + tc[1:])
    handles = []
    if tru is not None and tru.any():
        ax.contour(
            tc, freq, tru.T.astype(float), levels=[0.5], colors="k", linewidths=0.9, linestyles="--"
        )
        handles.append(plt.Line2D([], [], color="k", ls="--", label="truth"))
    if det is not None and det.any():
        ax.contour(tc, freq, det.T.astype(float), levels=[0.5], colors="w", linewidths=0.9)
        handles.append(plt.Line2D([], [], color="w", label="detection"))
    if handles:
        leg = ax.legend(handles=handles, loc="upper right", framealpha=0.6)
        leg.get_frame().set_facecolor("0.6")
    ax.set_ylabel("frequency (Hz)")
    fig.confusion = None  # type: ignore[attr-defined]
    if tru is not None:
        pred = det if det is not None else np.zeros_like(tru)
        code = confusion_image(pred, tru)
        fig.confusion = code  # type: ignore[attr-defined]
        ax2 = axes[1, 0]
        ax2.imshow(
            code.T,
            origin="lower",
            aspect="auto",
            extent=ext,
            cmap=ListedColormap(CONFUSION_COLOURS),
            vmin=-0.5,
            vmax=3.5,
            interpolation="nearest",
        )
        counts = np.bincount(code.ravel(), minlength=4)
        patches = [
            Patch(facecolor=CONFUSION_COLOURS[k], edgecolor="0.4", label=f"{lab} ({counts[k]})")
            for k, lab in enumerate(CONFUSION_LABELS)
        ]
        ax2.legend(handles=patches, loc="upper right", ncols=4, framealpha=0.8, fontsize=8)
        ax2.set_ylabel("frequency (Hz)")
        tp, fp, fn = counts[TP], counts[FP], counts[FN]
        iou = tp / (tp + fp + fn) if tp + fp + fn else float("nan")
        ax2.set_title(f"detection vs truth: IoU = {iou:.3f}", fontsize=10)
    last = axes[-1, 0]
    loc = mdates.AutoDateLocator()
    last.xaxis.set_major_locator(loc)
    last.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))
    last.set_xlabel("time (UTC)")
    if title is None:
        bits = [str(spec.attrs.get(k)) for k in ("station", "component") if k in spec.attrs]
        if "component" not in spec.attrs and "component" in spec.coords:
            bits.append(str(spec["component"].values))
        title = " ".join(bits) or "spectrogram"
    fig.suptitle(title)
    return _save(fig, path)


def _bin_edges(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left and right edges of bins given as pandas Intervals, their strings, or centres."""
    v = list(values)
    if v and hasattr(v[0], "left"):
        return np.array([x.left for x in v], float), np.array([x.right for x in v], float)
    if v and isinstance(v[0], str):
        parts = [x.strip("()[] ").split(",") for x in v]
        return np.array([float(a) for a, _ in parts]), np.array([float(b) for _, b in parts])
    c = np.asarray(v, dtype=float)
    if c.size == 0:
        return c, c
    w = np.diff(c).min() if c.size > 1 else 1.0
    return c - w / 2, c + w / 2


def _binned(
    ds: xr.Dataset | xr.DataArray,
    dim: str,
    xlabel: str,
    title: str,
    path: str | os.PathLike | None,
    scale: float = 1.0,
) -> Figure:
    cnt = ds["count"] if isinstance(ds, xr.Dataset) else ds
    if dim not in cnt.dims:
        raise ValueError(f"expected a `count` over {dim!r}, got dims {cnt.dims}")
    left, right = _bin_edges(cnt[dim].values)
    left, right = left / scale, right / scale
    others = [d for d in cnt.dims if d != dim]
    cnt = cnt.transpose(dim, *others)
    if len(others) > 1:  # sum what a bar chart cannot show
        cnt = cnt.sum(others[1:])
        others = others[:1]
    fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    if not others:
        ax.bar(
            left,
            np.asarray(cnt.values, float),
            width=right - left,
            align="edge",
            color="C0",
            edgecolor="k",
            linewidth=0.5,
        )
    else:
        other = others[0]
        labels = [str(x) for x in cnt[other].values] if other in cnt.coords else None
        n = cnt.sizes[other]
        width = (right - left) / max(n, 1)
        for k in range(n):
            ax.bar(
                left + k * width,
                np.asarray(cnt.isel({other: k}).values, float),
                width=width,
                align="edge",
                color=f"C{k}",
                edgecolor="k",
                linewidth=0.5,
                label=labels[k] if labels else f"{other} {k}",
            )
        ax.legend(title=other)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("events")
    ax.set_title(title)
    return _save(fig, path)


def seasonal_counts(
    ds: xr.Dataset | xr.DataArray,
    *,
    path: str | os.PathLike | None = None,
    title: str = "events by season and hemisphere",
) -> Figure:
    """Grouped bar chart of event counts by season and hemisphere.

    Parameters
    ----------
    ds : xr.Dataset or xr.DataArray
        Output of :func:`xspecseg.stats.seasonal_distribution`: ``count`` over
        ``(season, hemisphere)`` (either order). Seasons are drawn DJF, MAM, JJA, SON.
    path : path, optional
        Save the figure there as PNG.

    Examples
    --------
    >>> import xarray as xr
    >>> ds = xr.Dataset({"count": (("season", "hemisphere"), [[1, 2], [3, 4], [5, 6], [7, 8]])},
    ...                 coords={"season": ["DJF", "MAM", "JJA", "SON"], "hemisphere": ["N", "S"]})
    >>> seasonal_counts(ds).axes[0].get_xlabel()
    'season'
    """
    cnt = ds["count"] if isinstance(ds, xr.Dataset) else ds
    seasons = [s for s in SEASONS if s in cnt["season"].values] + [
        s for s in map(str, cnt["season"].values) if s not in SEASONS
    ]
    cnt = cnt.sel(season=seasons)
    hemis = list(map(str, cnt["hemisphere"].values)) if "hemisphere" in cnt.dims else [""]
    fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    x = np.arange(len(seasons))
    w = 0.8 / len(hemis)
    colours = {"N": "#1f77b4", "S": "#ff7f0e"}
    for k, h in enumerate(hemis):
        vals = np.asarray(cnt.sel(hemisphere=h).values if h else cnt.values, float)
        bars = ax.bar(
            x - 0.4 + (k + 0.5) * w,
            vals,
            width=w,
            label=h or None,
            color=colours.get(h, f"C{k}"),
            edgecolor="k",
            linewidth=0.5,
        )
        ax.bar_label(bars, labels=[f"{v:g}" for v in vals], fontsize=8)
    ax.set_xticks(x, seasons)
    ax.set_xlabel("season")
    ax.set_ylabel("events")
    if hemis != [""]:
        ax.legend(title="hemisphere")
    ax.set_title(title)
    return _save(fig, path)


def maglat_histogram(
    ds: xr.Dataset | xr.DataArray,
    *,
    path: str | os.PathLike | None = None,
    title: str = "events by magnetic latitude",
) -> Figure:
    """Histogram of events over magnetic latitude.

    Parameters
    ----------
    ds : xr.Dataset or xr.DataArray
        Output of :func:`xspecseg.stats.maglat_distribution`: ``count`` over
        ``magnetic_latitude_bins`` (pandas Intervals as from ``groupby_bins``, their
        strings, or bin centres); one further dim (e.g. hemisphere) is drawn as grouped
        bars, more are summed.
    path : path, optional
        Save the figure there as PNG.

    Examples
    --------
    >>> import numpy as np, pandas as pd, xarray as xr
    >>> bins = pd.interval_range(50, 80, freq=5)
    >>> ds = xr.Dataset({"count": ("magnetic_latitude_bins", np.arange(6))},
    ...                 coords={"magnetic_latitude_bins": np.array(bins)})
    >>> maglat_histogram(ds).axes[0].get_xlabel()
    'magnetic latitude (deg)'
    """
    return _binned(ds, "magnetic_latitude_bins", "magnetic latitude (deg)", title, path)


def frequency_histogram(
    ds: xr.Dataset | xr.DataArray,
    *,
    path: str | os.PathLike | None = None,
    title: str = "events by peak frequency",
) -> Figure:
    """Histogram of events over peak frequency (``count`` over ``f_peak_bins``).

    Frequencies are drawn in kHz when the bins reach 1 kHz (VLF), else in Hz.

    Examples
    --------
    >>> import numpy as np, pandas as pd, xarray as xr
    >>> bins = pd.interval_range(0, 12500, freq=2500)
    >>> ds = xr.Dataset({"count": ("f_peak_bins", np.arange(5))},
    ...                 coords={"f_peak_bins": np.array(bins)})
    >>> frequency_histogram(ds).axes[0].get_xlabel()
    'peak frequency (kHz)'
    """
    cnt = ds["count"] if isinstance(ds, xr.Dataset) else ds
    _, right = _bin_edges(cnt["f_peak_bins"].values) if "f_peak_bins" in cnt.dims else (0, [0])
    khz = np.size(right) > 0 and np.nanmax(right) >= 1000
    unit = "kHz" if khz else "Hz"
    return _binned(
        ds, "f_peak_bins", f"peak frequency ({unit})", title, path, scale=1000.0 if khz else 1.0
    )


def _cartopy_offline() -> Any:
    """cartopy's module when it imports and has Natural Earth coastlines on disk, else None."""
    try:
        import cartopy  # type: ignore[import-not-found]
    except Exception:
        return None
    rel = os.path.join("shapefiles", "natural_earth", "physical", "ne_110m_coastline.shp")
    for key in ("pre_existing_data_dir", "data_dir"):
        base = cartopy.config.get(key) or ""
        if base and os.path.exists(os.path.join(base, rel)):
            return cartopy
    return None


def event_map(
    cat: xr.Dataset,
    *,
    colour_by: str = "magnetic_latitude",
    path: str | os.PathLike | None = None,
    title: str = "event positions",
) -> Figure:
    """World map of event positions (``latitude``/``longitude`` of the catalogue).

    Uses cartopy with a Miller projection and coastlines when cartopy is installed and its
    Natural Earth coastlines are already on disk (no download is ever attempted);
    otherwise a plain longitude/latitude scatter without coastlines. A note in the figure
    says which was used.

    Parameters
    ----------
    cat : xr.Dataset
        Catalogue with ``latitude`` and ``longitude`` (dim ``event``).
    colour_by : str
        Catalogue variable that colours the points when present and numeric (default
        ``magnetic_latitude``); else all points are one colour.
    path : path, optional
        Save the figure there as PNG.

    Examples
    --------
    >>> import xarray as xr
    >>> cat = xr.Dataset({"latitude": ("event", [60.0, -55.0]),
    ...                   "longitude": ("event", [20.0, 150.0])})
    >>> fig = event_map(cat)
    >>> fig.map_kind
    'plain lat/lon'
    """
    lat = np.asarray(cat["latitude"].values, float)
    lon = np.asarray(cat["longitude"].values, float)
    lon = (lon + 180.0) % 360.0 - 180.0
    col = None
    if colour_by in cat and np.issubdtype(cat[colour_by].dtype, np.number):
        col = np.asarray(cat[colour_by].values, float)
    cp = _cartopy_offline()
    if cp is not None:
        import cartopy.crs as ccrs  # type: ignore[import-not-found]

        fig = plt.figure(figsize=(10, 5.5), constrained_layout=True)
        ax = fig.add_subplot(1, 1, 1, projection=ccrs.Miller())
        ax.set_global()
        ax.coastlines(linewidth=0.5)
        kw: dict[str, Any] = {"transform": ccrs.PlateCarree()}
        kind = "cartopy Miller projection"
    else:
        fig, ax = plt.subplots(figsize=(10, 5.5), constrained_layout=True)
        ax.set_xlim(-180, 180)
        ax.set_ylim(-90, 90)
        ax.set_xticks(np.arange(-180, 181, 60))
        ax.set_yticks(np.arange(-90, 91, 30))
        ax.grid(True, lw=0.3, color="0.7")
        ax.set_xlabel("longitude (deg E)")
        ax.set_ylabel("latitude (deg N)")
        ax.set_aspect("equal")
        kw = {}
        kind = "plain lat/lon"
    if col is not None and np.isfinite(col).any():
        sc = ax.scatter(
            lon, lat, c=col, s=14, cmap="coolwarm", edgecolors="k", linewidths=0.3, **kw
        )
        fig.colorbar(sc, ax=ax, shrink=0.7, label=colour_by.replace("_", " "))
    else:
        ax.scatter(lon, lat, s=14, color="C3", edgecolors="k", linewidths=0.3, **kw)
    ax.set_title(f"{title} ({lat.size} events)")
    fig.text(
        0.01, 0.01, f"map: {kind}" + ("" if cp else " (no coastlines)"), fontsize=8, color="0.3"
    )
    fig.map_kind = kind  # type: ignore[attr-defined]
    return _save(fig, path)
