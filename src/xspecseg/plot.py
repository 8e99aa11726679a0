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
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import xarray as xr

from ._optional import needs_extra
from .stats import describe

with needs_extra("plot"):
    import matplotlib

    matplotlib.use("Agg", force=False)

    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch, Rectangle
    from matplotlib.ticker import MaxNLocator

__all__ = [
    "CONFUSION_COLOURS",
    "CONFUSION_LABELS",
    "confusion_image",
    "event_map",
    "frequency_histogram",
    "maglat_histogram",
    "plot_halforbit",
    "quicklook",
    "seasonal_counts",
    "training_curves_figure",
]

#: Codes of :func:`confusion_image`.
TN, TP, FP, FN = 0, 1, 2, 3
#: Labels of the codes, in code order.
CONFUSION_LABELS = ("TN", "TP", "FP", "FN")
#: Colours of the codes: as in the IAR paper's Fig. 5 (black TP, red TN, white FN), plus
#: FP in a blue that stands apart from all three.
CONFUSION_COLOURS = ("#d62728", "#000000", "#1f77ff", "#ffffff")
SEASONS = ("DJF", "MAM", "JJA", "SON")


def _save(fig: Figure, path: str | os.PathLike | None) -> Figure:
    if path is not None:
        fig.savefig(os.fspath(path), dpi=fig.dpi, format="png")
    return fig


def _period(start: Any, end: Any) -> str:
    """``start`` to ``end`` in UTC, to the day for spans of days, else to the minute."""
    a, b = np.datetime64(start, "m"), np.datetime64(end, "m")
    if b - a >= np.timedelta64(2, "D"):
        return f"{np.datetime64(a, 'D')} to {np.datetime64(b, 'D')}"
    day_a, day_b = str(np.datetime64(a, "D")), str(np.datetime64(b, "D"))
    hm_a, hm_b = str(a)[11:16], str(b)[11:16]
    if day_a == day_b:
        return f"{day_a} {hm_a} to {hm_b} UTC"
    return f"{day_a} {hm_a} to {day_b} {hm_b} UTC"


def _context(attrs: Mapping[str, Any]) -> str:
    """Station, component and period from attrs (those of :func:`xspecseg.stats.describe`)."""
    who = " ".join(str(attrs[k]) for k in ("station", "component") if attrs.get(k))
    start, end = attrs.get("time_coverage_start"), attrs.get("time_coverage_end")
    when = _period(str(start).rstrip("Z"), str(end).rstrip("Z")) if start and end else ""
    return ", ".join(x for x in (who, when) if x)


def _titled(base: str, attrs: Mapping[str, Any]) -> str:
    context = _context(attrs)
    return f"{base}\n{context}" if context else base


def _log_psd(spec: xr.DataArray) -> np.ndarray:
    """log10 of the PSD as float; values already in log10 (``read_cses(log10=True)``) kept."""
    vals = np.asarray(spec.values, dtype=float)
    if int(spec.attrs.get("log10", 0)) or str(spec.attrs.get("units", "")).startswith("log10"):
        return vals
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(np.where(vals > 0, vals, np.nan))


def _normalised(logp: np.ndarray, normalise: str | None) -> np.ndarray:
    if normalise is None:
        return logp
    if normalise != "frequency":
        raise ValueError(f"normalise must be None or 'frequency', got {normalise!r}")
    # each frequency row relative to its own median: bands of very different power
    # (the 1/f background, the VLF transmitters) become comparable
    finite = np.isfinite(logp).any(axis=0)
    med = np.full(logp.shape[1], np.nan)
    med[finite] = np.nanmedian(logp[:, finite], axis=0)
    return logp - med[None, :]


def _colour_label(spec: xr.DataArray, normalise: str | None) -> str:
    units = str(spec.attrs.get("units", ""))
    if units.startswith("log10(") and units.endswith(")"):
        units = units[6:-1]
    if normalise == "frequency":
        return "log10 PSD minus its median per frequency"
    return f"log10 PSD ({units})" if units else "log10 PSD"


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
        # the Dataset's attrs (component, log10, platform...) describe its psd too
        x = x["psd"].assign_attrs({**x.attrs, **x["psd"].attrs})
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
    normalise: Literal["frequency"] | None = None,
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
        Figure title; default the PSD's station and component (attrs or coord) and the
        period drawn.
    vmin, vmax : float, optional
        Colour limits in log10 PSD; default the 10th and 99.7th percentiles.
    normalise : {"frequency"}, optional
        Colour each frequency row relative to its median over the time drawn (log10 PSD
        minus that median), so that weak bands show as well as strong ones.
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
    logp = _normalised(_log_psd(spec), normalise)
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
    cb.set_label(_colour_label(spec, normalise))
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
        title = _spectrogram_title(spec, "spectrogram")
    fig.suptitle(title)
    return _save(fig, path)


def _spectrogram_title(spec: xr.DataArray, fallback: str) -> str:
    """Station (or platform), component and period of a (time, frequency) PSD."""
    bits = [str(spec.attrs[k]) for k in ("station", "platform", "instrument") if k in spec.attrs]
    if "component" in spec.attrs:
        bits.append(str(spec.attrs["component"]))
    elif "component" in spec.coords and spec["component"].ndim == 0:
        bits.append(str(spec["component"].values))
    t = np.asarray(spec["time"].values).astype("datetime64[ns]")
    t = t[~np.isnat(t)]
    when = _period(t.min(), t.max()) if t.size else ""
    who = " ".join(bits) or fallback
    return f"{who}, {when}" if when else who


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


def _counts(ds: xr.Dataset | xr.DataArray, part: str) -> xr.DataArray:
    """The counts to draw: a DataArray, a Dataset's ``count`` or ``<part>_count``."""
    if isinstance(ds, xr.DataArray):
        return ds
    for name in ("count", f"{part}_count"):
        if name in ds:
            # the Dataset's attrs say what was counted (station, period...)
            return ds[name].assign_attrs({**ds.attrs, **ds[name].attrs})
    raise ValueError(f"expected a variable 'count' or '{part}_count', got {list(ds.data_vars)}")


def _edges_of(ds: xr.Dataset | xr.DataArray, cnt: xr.DataArray, dim: str) -> tuple:
    """Bin edges of ``dim``: its CF ``bounds`` variable when there is one."""
    bounds = cnt[dim].attrs.get("bounds")
    if isinstance(ds, xr.Dataset) and bounds in ds:
        b = np.asarray(ds[bounds].transpose(dim, ...).values, float)
        return b[:, 0], b[:, 1]
    return _bin_edges(cnt[dim].values)


def _binned(
    ds: xr.Dataset | xr.DataArray,
    part: str,
    dim: str,
    xlabel: str,
    title: str,
    path: str | os.PathLike | None,
    scale: float = 1.0,
) -> Figure:
    cnt = _counts(ds, part)
    if dim not in cnt.dims:
        raise ValueError(f"expected a `count` over {dim!r}, got dims {cnt.dims}")
    left, right = _edges_of(ds, cnt, dim)
    left, right = left / scale, right / scale
    others = [d for d in cnt.dims if d != dim]
    cnt = cnt.transpose(dim, *others)
    if len(others) > 1:  # sum what a bar chart cannot show
        cnt = cnt.sum(others[1:], keep_attrs=True)
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
    # counts are whole numbers: no 2.5-event ticks on a small catalogue
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    return _save(fig, path)


def seasonal_counts(
    ds: xr.Dataset | xr.DataArray,
    *,
    path: str | os.PathLike | None = None,
    title: str | None = None,
) -> Figure:
    """Grouped bar chart of event counts by season and hemisphere.

    Parameters
    ----------
    ds : xr.Dataset or xr.DataArray
        Output of :func:`xspecseg.stats.seasonal_distribution` (``count``) or of
        :func:`xspecseg.stats.distributions` (``seasonal_count``): counts over
        ``(season, hemisphere)`` (either order). Seasons are drawn DJF, MAM, JJA, SON.
    path : path, optional
        Save the figure there as PNG.
    title : str, optional
        Default "events by season and hemisphere", with the station, component and
        period of the counted events (the attrs :func:`xspecseg.stats.describe` gives).

    Examples
    --------
    >>> import xarray as xr
    >>> ds = xr.Dataset({"count": (("season", "hemisphere"), [[1, 2], [3, 4], [5, 6], [7, 8]])},
    ...                 coords={"season": ["DJF", "MAM", "JJA", "SON"], "hemisphere": ["N", "S"]})
    >>> seasonal_counts(ds).axes[0].get_xlabel()
    'season'
    """
    cnt = _counts(ds, "seasonal")
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
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if hemis != [""]:
        ax.legend(title="hemisphere")
    ax.set_title(
        title if title is not None else _titled("events by season and hemisphere", cnt.attrs)
    )
    return _save(fig, path)


def maglat_histogram(
    ds: xr.Dataset | xr.DataArray,
    *,
    path: str | os.PathLike | None = None,
    title: str | None = None,
) -> Figure:
    """Histogram of events over magnetic latitude.

    Parameters
    ----------
    ds : xr.Dataset or xr.DataArray
        Output of :func:`xspecseg.stats.maglat_distribution` (``count`` over
        ``magnetic_latitude_bins``: pandas Intervals as from ``groupby_bins``, their
        strings, or bin centres) or of :func:`xspecseg.stats.distributions`
        (``maglat_count``, bin edges from its CF bounds); one further dim (e.g.
        season) is drawn as grouped bars, more are summed.
    path : path, optional
        Save the figure there as PNG.
    title : str, optional
        Default "events by magnetic latitude" with the station, component and period.

    Examples
    --------
    >>> import numpy as np, pandas as pd, xarray as xr
    >>> bins = pd.interval_range(50, 80, freq=5)
    >>> ds = xr.Dataset({"count": ("magnetic_latitude_bins", np.arange(6))},
    ...                 coords={"magnetic_latitude_bins": np.array(bins)})
    >>> maglat_histogram(ds).axes[0].get_xlabel()
    'magnetic latitude (deg)'
    """
    base = "events by magnetic latitude"
    title = title if title is not None else _titled(base, _counts(ds, "maglat").attrs)
    return _binned(ds, "maglat", "magnetic_latitude_bins", "magnetic latitude (deg)", title, path)


def frequency_histogram(
    ds: xr.Dataset | xr.DataArray,
    *,
    path: str | os.PathLike | None = None,
    title: str | None = None,
) -> Figure:
    """Histogram of events over peak frequency (counts over ``f_peak_bins``).

    Accepts :func:`xspecseg.stats.frequency_distribution`'s ``count`` or
    :func:`xspecseg.stats.distributions`' ``frequency_count``. Frequencies are drawn in kHz
    when the bins reach 1 kHz (VLF), else in Hz. The default title carries the station,
    component and period.

    Examples
    --------
    >>> import numpy as np, pandas as pd, xarray as xr
    >>> bins = pd.interval_range(0, 12500, freq=2500)
    >>> ds = xr.Dataset({"count": ("f_peak_bins", np.arange(5))},
    ...                 coords={"f_peak_bins": np.array(bins)})
    >>> frequency_histogram(ds).axes[0].get_xlabel()
    'peak frequency (kHz)'
    """
    cnt = _counts(ds, "frequency")
    _, right = _edges_of(ds, cnt, "f_peak_bins") if "f_peak_bins" in cnt.dims else (0, [0])
    khz = np.size(right) > 0 and np.nanmax(right) >= 1000
    unit = "kHz" if khz else "Hz"
    title = title if title is not None else _titled("events by peak frequency", cnt.attrs)
    return _binned(
        ds,
        "frequency",
        "f_peak_bins",
        f"peak frequency ({unit})",
        title,
        path,
        scale=1000.0 if khz else 1.0,
    )


def _latitude_ticks(time_num: np.ndarray, lat: np.ndarray, mlat: np.ndarray | None) -> tuple:
    """Tick positions where a pass crosses multiples of 20 degrees, and their labels."""
    pos, labels = [], []
    for target in range(-80, 81, 20):
        # each crossing of the target latitude between two samples
        d = lat - target
        for i in np.flatnonzero(np.isfinite(d[:-1]) & (np.sign(d[:-1]) != np.sign(d[1:]))):
            pos.append(time_num[i])
            text = f"{target}°"
            if mlat is not None and np.isfinite(mlat[i]):
                text += f"\n{mlat[i]:.0f}°"
            labels.append(text)
    return pos, labels


def plot_halforbit(
    sat: xr.Dataset | xr.DataArray,
    catalogue: xr.Dataset | None = None,
    detections: xr.DataArray | np.ndarray | None = None,
    *,
    threshold: float | None = None,
    normalise: Literal["frequency"] | None = None,
    fmax: float | None = None,
    title: str | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """Spectrogram of a CSES half-orbit with its catalogued events boxed.

    Log10 PSD over UTC time and frequency in kHz; the top axis marks where the pass
    crosses every 20 degrees of geographic latitude (and the magnetic latitude there).
    Each event of ``catalogue`` overlapping the time drawn is a white box from its
    ``start_time`` to ``end_time`` and ``f_min`` to ``f_max`` (to the far edges of those
    rows and bins); ``detections`` are outlined in white as in :func:`quicklook`.

    Parameters
    ----------
    sat : xr.Dataset or xr.DataArray
        :func:`xspecseg.io.read_cses`'s Dataset (or its ``psd``), one half-orbit: select
        it first (``sat.where(sat.orbit == n, drop=True)`` or a time slice); it is loaded.
        Values already in log10 (``log10=True``) are drawn as they are.
    catalogue : xr.Dataset, optional
        Events with ``start_time``, ``end_time``, ``f_min``, ``f_max``.
    detections : xr.DataArray or array, optional
        Boolean mask or probability on the same grid, cut at ``threshold`` (default its
        ``threshold`` attr, else 0.5).
    normalise : {"frequency"}, optional
        Colour each frequency row relative to its median over the pass (see
        :func:`quicklook`): the weak upper band shows as well as the strong lower one.
    fmax : float, optional
        Highest frequency drawn (Hz); default the whole band.
    title : str, optional
        Default: platform, instrument, component, orbit and direction, period and number
        of events boxed.
    vmin, vmax : float, optional
        Colour limits; default the 1st and 99.7th percentiles.
    path : path, optional
        Save the figure there as PNG.

    Returns
    -------
    matplotlib.figure.Figure
        ``fig.event_boxes`` lists the :class:`matplotlib.patches.Rectangle` of each event
        drawn.

    Raises
    ------
    ValueError
        Nothing to draw (no time step or no frequency bin).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> t = np.datetime64("2022-04-10T03:00", "ns") + np.arange(300) * np.timedelta64(2, "s")
    >>> sat = xr.Dataset(
    ...     {"psd": (("time", "frequency"), np.random.rand(300, 64) + 0.1)},
    ...     coords={"time": t, "frequency": np.arange(64) * 400.0,
    ...             "latitude": ("time", np.linspace(-60, 60, 300)),
    ...             "orbit": ("time", np.full(300, 23456)),
    ...             "orbit_direction": ("time", np.full(300, "ascending"))},
    ...     attrs={"platform": "CSES-01", "component": "Z"})
    >>> cat = xr.Dataset({"start_time": ("event", t[[100]]), "end_time": ("event", t[[130]]),
    ...                   "f_min": ("event", [2000.0]), "f_max": ("event", [6000.0])})
    >>> len(plot_halforbit(sat, cat).event_boxes)
    1
    """
    spec = _as_tf(sat, None)
    if fmax is not None:
        spec = spec.sel(frequency=slice(None, float(fmax)))
    if spec.sizes["time"] == 0 or spec.sizes["frequency"] == 0:
        raise ValueError(
            f"plot_halforbit: nothing to draw: {spec.sizes['time']} time step(s) and "
            f"{spec.sizes['frequency']} frequency bin(s)"
        )
    time = np.asarray(spec["time"].values).astype("datetime64[ns]")
    freq = np.asarray(spec["frequency"].values, dtype=float)
    logp = _normalised(_log_psd(spec), normalise)
    finite = logp[np.isfinite(logp)]
    lo = vmin if vmin is not None else (np.percentile(finite, 1) if finite.size else 0)
    hi = vmax if vmax is not None else (np.percentile(finite, 99.7) if finite.size else 1)
    ext = _extent(time, freq / 1000.0)
    fig, ax = plt.subplots(figsize=(13, 4.8), constrained_layout=True)
    im = ax.imshow(
        logp.T, origin="lower", aspect="auto", extent=ext, cmap="jet", vmin=lo, vmax=hi,
        interpolation="nearest",
    )  # fmt: skip
    fig.colorbar(im, ax=ax, pad=0.01, label=_colour_label(spec, normalise))
    dt = (ext[1] - ext[0]) / time.size
    dfk = (ext[3] - ext[2]) / freq.size
    if detections is not None:
        det = _mask(detections, threshold)
        if det.shape == (time.size, freq.size) and det.any():
            tc = ext[0] + dt * (np.arange(time.size) + 0.5)
            ax.contour(tc, freq / 1000.0, det.T.astype(float), levels=[0.5], colors="w",
                       linewidths=0.9)  # fmt: skip
    boxes = []
    if catalogue is not None and catalogue.sizes.get("event", 0):
        start = np.asarray(catalogue["start_time"].values).astype("datetime64[ns]")
        end = np.asarray(catalogue["end_time"].values).astype("datetime64[ns]")
        inside = ~np.isnat(start) & ~np.isnat(end) & (end >= time[0]) & (start <= time[-1])
        f_lo = np.asarray(catalogue["f_min"].values, float) / 1000.0
        f_hi = np.asarray(catalogue["f_max"].values, float) / 1000.0
        t_lo = mdates.date2num(start.astype("datetime64[us]"))
        t_hi = mdates.date2num(end.astype("datetime64[us]")) + dt
        for k in np.flatnonzero(inside):
            # bin centres of the first/last row and bin -> the far pixel edges
            box = Rectangle(
                (t_lo[k], f_lo[k] + ext[2] - freq[0] / 1000.0),
                t_hi[k] - t_lo[k],
                f_hi[k] - f_lo[k] + dfk,
                fill=False,
                edgecolor="w",
                linewidth=1.2,
            )
            ax.add_patch(box)
            boxes.append(box)
    # an event running past the pass must not widen the axis beyond the spectrogram
    ax.set_xlim(ext[0], ext[1])
    ax.set_ylim(ext[2], ext[3])
    ax.set_ylabel("frequency (kHz)")
    loc = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))
    ax.set_xlabel("time (UTC)")
    if "latitude" in spec.coords:
        mlat = spec["magnetic_latitude"].values if "magnetic_latitude" in spec.coords else None
        tnum = mdates.date2num(time.astype("datetime64[us]"))
        pos, labels = _latitude_ticks(tnum, np.asarray(spec["latitude"].values, float), mlat)
        top = ax.secondary_xaxis("top")
        top.set_xticks(pos, labels, fontsize=8)
        top.set_xlabel(
            "geographic / magnetic latitude" if mlat is not None else "geographic latitude"
        )
    if title is None:
        title = _spectrogram_title(spec, "CSES half-orbit")
        if "orbit" in spec.coords:
            orbits = np.unique(np.asarray(spec["orbit"].values))
            title += ", orbit " + "/".join(str(int(o)) for o in orbits)
        if "orbit_direction" in spec.coords:
            title += " " + "/".join(np.unique(np.asarray(spec["orbit_direction"].values, str)))
        if catalogue is not None:
            title += f"; {len(boxes)} event(s)"
    ax.set_title(title, fontsize=10)
    fig.event_boxes = boxes  # type: ignore[attr-defined]
    return _save(fig, path)


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
    title: str | None = None,
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
    title : str, optional
        Default "event positions (N events)" with the station, component and period.

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
    if title is None:
        title = _titled(f"event positions ({lat.size} events)", describe(cat))
    ax.set_title(title)
    fig.text(
        0.01, 0.01, f"map: {kind}" + ("" if cp else " (no coastlines)"), fontsize=8, color="0.3"
    )
    fig.map_kind = kind  # type: ignore[attr-defined]
    return _save(fig, path)


def training_curves_figure(
    curves: xr.Dataset,
    *,
    path: str | os.PathLike | None = None,
    title: str | None = None,
) -> Figure:
    """Training loss, validation loss and validation IoU against epoch for every run.

    One colour per run, one line per seed, so that a reader sees whether every curve has
    flattened and how far the seeds of one architecture spread. The training loss (a
    panel of its own when ``curves`` has ``train_loss``) averages every training image,
    so it shows convergence where a small validation set leaves its curves noisy. Loss
    axes are logarithmic (when every loss is positive), so that one diverging run leaves
    the others readable.

    Parameters
    ----------
    curves : xr.Dataset
        :func:`xspecseg.training.compare.training_curves` (dims ``run``, ``seed``,
        ``epoch``; ``val_loss``, ``val_best_iou``, optionally ``train_loss``).
    path : path, optional
        Save the figure there as PNG.
    title : str, optional
        Default "validation curves" with the number of runs and seeds.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> c = xr.Dataset({v: (("run", "seed", "epoch"), np.random.rand(2, 2, 5))
    ...                 for v in ("val_loss", "val_best_iou")},
    ...                coords={"run": ["unet", "smp-Unet"], "seed": [0, 1],
    ...                        "epoch": np.arange(1, 6)})
    >>> [ax.get_ylabel() for ax in training_curves_figure(c).axes]
    ['validation loss', 'validation IoU (best threshold)']
    >>> c["train_loss"] = c.val_loss * 0.9
    >>> [ax.get_ylabel() for ax in training_curves_figure(c).axes]
    ['training loss', 'validation loss', 'validation IoU (best threshold)']
    """
    names = {
        "train_loss": "training loss",
        "val_loss": "validation loss",
        "val_best_iou": "validation IoU (best threshold)",
    }
    variables = [v for v in names if v in curves]
    fig = Figure(figsize=(6 * len(variables), 4.6), layout="constrained")
    axes = list(fig.subplots(1, len(variables)))
    n_run = curves.sizes["run"]
    cmap = matplotlib.colormaps["tab10" if n_run <= 10 else "tab20"]
    styles = ("-", "--", ":", "-.")
    epoch = curves.epoch.values
    for i, run in enumerate(curves.run.values):
        # tab20 pairs a dark and a light shade: take the darks first, then the lights
        colour = cmap(i % cmap.N if n_run <= 10 else (2 * i) % 20 + (2 * i) // 20)
        for j, seed in enumerate(curves.seed.values):
            for ax, var in zip(axes, variables):
                y = curves[var].sel(run=run, seed=seed).values
                if np.isfinite(y).any():
                    ax.plot(epoch, y, styles[j % len(styles)], color=colour,
                            label=str(run) if j == 0 else None)  # fmt: skip
    for ax, var in zip(axes, variables):
        ax.set_ylabel(names[var])
        loss = curves[var].values
        if var.endswith("loss") and np.isfinite(loss).any() and np.nanmin(loss) > 0:
            # a run that diverges must not flatten every other curve into the axis
            ax.set_yscale("log")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=8, ncols=2, loc="best")
    n_seed = curves.sizes["seed"]
    fig.suptitle(
        title
        if title is not None
        else f"training curves: {curves.sizes['run']} run(s) x {n_seed} seed(s) "
        f"({', '.join(styles[: min(n_seed, len(styles))])} by seed)"
    )
    return _save(fig, path)
