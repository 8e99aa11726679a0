"""Probability cube -> event catalogue, chunk by chunk.

:func:`extract_events` thresholds a (lazy) probability cube, finds connected regions and
reduces each to one row of the catalogue described in the docs' concepts page. It never holds more
than one time-chunk of the cube (plus small per-event summaries) in memory:

1. every time-chunk is thresholded and labelled on its own (``scipy.ndimage.label``), one
   Dask task per chunk, and reduced to *partial* statistics per chunk-local label (pixel
   count, probability sum and maximum with its position, first/last row, frequency
   extent, PSD at the maximum, per-row fringe peaks) plus the label rows on its two time
   borders;
2. labels that touch across a chunk border (same rule as inside a chunk: the
   ``connectivity`` structure) are merged with a union-find over ``(chunk, label)``;
3. the partials of each merged event are combined. Every combination rule (sums, minima,
   maxima, the maximum with its tie-break) is associative, so the catalogue is identical
   whatever the chunking of the input.

Examples
--------
>>> import numpy as np, xarray as xr
>>> p = np.zeros((50, 40), np.float32); p[10:20, 5:15] = 0.9
>>> prob = xr.DataArray(p, dims=("time", "frequency"), name="probability",
...     coords={"time": np.arange(50).astype("M8[m]").astype("M8[ns]"),
...             "frequency": np.arange(40.0)})
>>> cat = extract_events(prob.chunk(time=7), threshold=0.5)
>>> int(cat.sizes["event"]), int(cat.area_pixels[0])
(1, 100)
"""

from __future__ import annotations

import itertools
from typing import Any, Literal

import dask
import dask.array as da
import numpy as np
import xarray as xr
from scipy import ndimage as ndi

from . import geomag
from ._compute import compute

__all__ = ["extract_events", "impulsiveness", "select_events"]

#: ``fringes="auto"`` analyses fringes when the frequency axis stays below this (Hz):
#: ground search-coil IAR cubes, not VLF satellite spectra.
IAR_MAX_FREQUENCY = 20.0
_BIG = np.iinfo(np.int64).max
#: event cuts a model may recommend in its config (passed on by predict as attrs)
EVENT_CUT_KEYS = ("max_impulsiveness", "min_mean_probability", "min_bandwidth", "max_duration")


# ----------------------------------------------------------------------------------------
# per-chunk work
# ----------------------------------------------------------------------------------------
def _label_chunk(
    grown: np.ndarray, breaks: np.ndarray, structure: np.ndarray
) -> tuple[np.ndarray, int]:
    """Label ``grown`` with rows split where ``breaks`` is True (no link to the row above)."""
    lab = np.zeros(grown.shape, dtype=np.int64)
    starts = np.flatnonzero(breaks[1:]) + 1
    edges = [0, *starts.tolist(), grown.shape[0]]
    n = 0
    for a, b in itertools.pairwise(edges):
        if b <= a:
            continue
        sub, k = ndi.label(grown[a:b], structure=structure)
        lab[a:b] = np.where(sub > 0, sub + n, 0)
        n += int(k)
    return lab, n


def _fringe_residual(psd_rows: np.ndarray, df_hz: float, opts: dict[str, float]) -> np.ndarray:
    """log10 PSD minus a running median over ``background`` Hz, smoothed in f and t."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = np.log10(np.where(psd_rows > 0, psd_rows, np.nan))
    bad = ~np.isfinite(logp)
    logp = np.where(bad, np.nanmedian(logp) if not bad.all() else 0.0, logp)
    # a median over more than one fringe spacing follows the 1/f background and the
    # Schumann bump but not the fringes, which fill well under half of the window
    w = max(3, round(opts["background"] / df_hz) | 1)
    bg = ndi.median_filter(logp, size=(1, w), mode="nearest")
    res = np.where(bad, 0.0, logp - bg)
    sig = opts["smooth"] / df_hz
    if sig > 0:
        res = ndi.gaussian_filter1d(res, sig, axis=1, mode="nearest")
    if opts["time_smooth"] > 0:
        # fringes drift little over a few blocks while the Welch noise is independent
        # from block to block; the caller supplies the rows this kernel reaches
        res = ndi.gaussian_filter1d(res, opts["time_smooth"], axis=0, mode="nearest", truncate=4.0)
    res[bad] = np.nan
    return res


def _row_log_sums(
    psd: np.ndarray, lbl: np.ndarray, rows: np.ndarray, idx: np.ndarray, row0: int
) -> dict[str, np.ndarray]:
    """Per (label, row): sum and count of log10 PSD over the label's pixels in the row."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lg = np.log10(psd.ravel()[idx])
    ok = np.isfinite(lg)
    key = np.stack([lbl[ok], rows[ok] + row0], axis=1)
    if not key.size:
        empty = np.zeros(0, np.int64)
        return {"rl_label": empty, "rl_row": empty, "rl_sum": np.zeros(0), "rl_n": empty}
    uniq, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.ravel()
    return {
        "rl_label": uniq[:, 0],
        "rl_row": uniq[:, 1],
        "rl_sum": np.bincount(inv, weights=lg[ok], minlength=len(uniq)),
        "rl_n": np.bincount(inv, minlength=len(uniq)),
    }


def impulsiveness(rows: np.ndarray, row_mean_log_psd: np.ndarray) -> float:
    """Median absolute second time-difference of an event's row-mean log10 PSD (decades).

    A nucleus-shaped anomaly or an IAR brightens smoothly from row to row, so its row
    means follow a smooth curve and this is of the order of the estimation noise (~0.03
    decades for CSES rows); lightning whistlers arrive as single-row bursts, and a region
    drawn over a whistler storm jumps by tenths of a decade from row to row. Only runs
    of three consecutive rows count; NaN for events without one.

    Examples
    --------
    >>> rows = np.arange(7)
    >>> round(impulsiveness(rows, 0.1 * rows), 6)  # a straight ramp is not impulsive
    0.0
    >>> impulsiveness(rows, np.array([0, 1, 0, 1, 0, 1, 0.0]))
    1.0
    """
    rows = np.asarray(rows)
    r = np.asarray(row_mean_log_psd, dtype=np.float64)
    if rows.size < 3:
        return float("nan")
    run = (rows[2:] - rows[1:-1] == 1) & (rows[1:-1] - rows[:-2] == 1)
    if not run.any():
        return float("nan")
    d2 = np.abs(r[1:-1] - 0.5 * (r[:-2] + r[2:]))[run]
    return float(np.median(d2))


def _time_halo(opts: dict[str, float] | None) -> int:
    """Rows of context the time smoothing of the fringe residual needs on each side."""
    if opts is None or opts["time_smooth"] <= 0:
        return 0
    return int(4.0 * opts["time_smooth"] + 0.5)  # gaussian_filter1d's radius, truncate=4


def _chunk_partials(
    prob: np.ndarray,
    psd_ext: np.ndarray | None,
    left: int,
    breaks: np.ndarray,
    row0: int,
    *,
    threshold: float,
    structure: np.ndarray,
    grow: int,
    freq: np.ndarray,
    fringe_opts: dict[str, float] | None,
) -> dict[str, Any]:
    """Label one time-chunk and reduce it to per-label partial statistics."""
    prob = np.asarray(prob, dtype=np.float64)
    psd = None
    if psd_ext is not None:
        psd_ext = np.asarray(psd_ext, dtype=np.float64)
        psd = psd_ext[left : left + prob.shape[0]]
    with np.errstate(invalid="ignore"):
        mask = prob >= threshold  # NaN (no data) is never an event
    if grow > 0:
        # joining along frequency only keeps rows independent, so the grown mask (and the
        # labels) do not depend on where chunks are cut
        grown = ndi.binary_dilation(mask, structure=np.ones((1, 2 * grow + 1), bool))
    else:
        grown = mask
    lab, n = _label_chunk(grown, breaks, structure)
    out: dict[str, Any] = {
        "n": n,
        "first": lab[0].copy() if lab.shape[0] else np.zeros(0, np.int64),
        "last": lab[-1].copy() if lab.shape[0] else np.zeros(0, np.int64),
        "first_break": bool(breaks[0]) if breaks.size else True,
    }
    nf = prob.shape[1]
    flat = np.where(mask, lab, 0).ravel()
    idx = np.flatnonzero(flat)  # C order: by row, then by frequency
    lbl = flat[idx]
    rows, cols = np.divmod(idx, nf)
    m = n + 1
    count = np.bincount(lbl, minlength=m)
    pvals = prob.ravel()[idx]
    psum = np.bincount(lbl, weights=pvals, minlength=m)
    # first pixel in (time, frequency) order: the lexicographic minimum, used to sort
    # events and as the event's identity; the last row gives the end time
    first_pix = np.full(m, _BIG, np.int64)
    last_row = np.full(m, -1, np.int64)
    uniq, first_i = np.unique(lbl, return_index=True)
    first_pix[uniq] = idx[first_i] + row0 * nf
    uniq_r, last_i = np.unique(lbl[::-1], return_index=True)
    last_row[uniq_r] = rows[::-1][last_i] + row0
    fmin = np.full(m, _BIG, np.int64)
    fmax = np.full(m, -1, np.int64)
    np.minimum.at(fmin, lbl, cols)
    np.maximum.at(fmax, lbl, cols)
    # the maximum with a tie-break on the earliest (time, frequency) pixel, the same rule
    # as np.argmax on the whole image, so ties resolve the same for every chunking
    pmax = np.full(m, -np.inf)
    ppos = np.full(m, _BIG, np.int64)
    order = np.lexsort((idx, -pvals, lbl))
    if order.size:
        ls = lbl[order]
        head = np.r_[True, ls[1:] != ls[:-1]]
        sel = order[head]
        pmax[lbl[sel]] = pvals[sel]
        ppos[lbl[sel]] = idx[sel] + row0 * nf
    peak_psd = np.full(m, np.nan)
    if psd is not None and order.size:
        peak_psd[lbl[sel]] = psd.ravel()[idx[sel]]
    out.update(
        count=count,
        psum=psum,
        first_pix=first_pix,
        last_row=last_row,
        fmin=fmin,
        fmax=fmax,
        pmax=pmax,
        ppos=ppos,
        peak_psd=peak_psd,
    )
    if psd is not None:
        out.update(_row_log_sums(psd, lbl, rows, idx, row0))
    if fringe_opts is not None and psd_ext is not None and idx.size:
        out["fringes"] = _chunk_fringes(
            psd_ext, left, np.where(mask, lab, 0), row0, freq, fringe_opts
        )
    else:
        out["fringes"] = {}
    return out


def _chunk_fringes(
    psd_ext: np.ndarray,
    left: int,
    lab: np.ndarray,
    row0: int,
    freq: np.ndarray,
    opts: dict[str, float],
) -> dict[int, list[tuple[int, float, float, float, float]]]:
    """Per label and row: ``(row, spacing, tooth, f_lo, f_hi)`` of the fringe comb.

    The detrended log PSD between the label's lowest and highest pixel of the row (the
    gaps between separately detected fringes included) is linearly detrended, and its
    "spacing spectrum" ``C(d) = sum_f r(f) exp(-2 pi i f / d)`` is evaluated for
    ``d`` from ``min_spacing`` to ``max_spacing`` (and at most half the span). The
    maximum of ``|C|`` is the row's spacing; the phase of ``C`` there gives where the
    comb's teeth lie (``tooth``: the one nearest the middle of the span). A fit of the
    whole comb uses every pixel, so it stays robust where single peaks are lost in the
    noise of a 3-4 segment Welch estimate.
    """
    df_hz = float(np.median(np.diff(freq))) if freq.size > 1 else 1.0
    rows = np.flatnonzero(lab.any(axis=1))
    # residual over the event rows plus the smoothing's reach (within the halo rows)
    h = _time_halo(opts)
    a = max(0, int(rows[0]) + left - h)
    b = min(psd_ext.shape[0], int(rows[-1]) + left + h + 1)
    res = _fringe_residual(psd_ext[a:b], df_hz, opts)[rows + left - a]
    dgrid = np.arange(opts["min_spacing"], opts["max_spacing"] + 1e-9, opts["spacing_step"])
    kern = np.exp(-2j * np.pi * freq[None, :] / dgrid[:, None])  # (spacing, frequency)
    found: dict[int, list[tuple[int, float, float, float, float]]] = {}
    for k, r in enumerate(rows):
        line = res[k]
        labs = lab[r]
        for lb in np.unique(labs[labs > 0]):
            cols = np.flatnonzero(labs == lb)
            lo, hi = int(cols[0]), int(cols[-1])
            span = freq[hi] - freq[lo]
            ok_d = dgrid <= span  # at least one whole spacing inside the span
            seg = line[lo : hi + 1]
            if ok_d.sum() < 3 or not np.isfinite(seg).all():
                continue
            x = freq[lo : hi + 1]
            seg = seg - np.polyval(np.polyfit(x, seg, 1), x)
            c = kern[ok_d, lo : hi + 1] @ seg
            pw = np.abs(c)
            j = int(np.argmax(pw))
            d = float(dgrid[ok_d][j])
            if 0 < j < pw.size - 1:  # parabolic refinement between grid points
                y0, y1, y2 = pw[j - 1], pw[j], pw[j + 1]
                den = y0 - 2 * y1 + y2
                if den < 0:
                    d += 0.5 * (y0 - y2) / den * opts["spacing_step"]
            # r ~ cos(2 pi (f - f0) / d)  =>  C(d) ~ exp(-2 pi i f0 / d)
            f0 = (-np.angle(c[j]) * d / (2 * np.pi)) % d
            mid = 0.5 * (freq[lo] + freq[hi])
            tooth = f0 + d * np.round((mid - f0) / d)
            found.setdefault(int(lb), []).append(
                (int(r + row0), d, float(tooth), float(freq[lo]), float(freq[hi]))
            )
    return found


# ----------------------------------------------------------------------------------------
# merging and reduction
# ----------------------------------------------------------------------------------------
class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = np.arange(n)

    def find(self, a: int) -> int:
        p = self.parent
        root = a
        while p[root] != root:
            root = p[root]
        while p[a] != root:  # path compression
            p[a], a = root, p[a]
        return int(root)

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _event_impulsiveness(
    parts: list[dict[str, Any]], offsets: np.ndarray, root: np.ndarray, keep: np.ndarray
) -> np.ndarray:
    """:func:`impulsiveness` of each kept event from the chunks' per-row log sums."""
    ev = np.concatenate(
        [root[offsets[i] + p["rl_label"] - 1] for i, p in enumerate(parts)] or [[]]
    ).astype(np.int64)
    row = np.concatenate([p["rl_row"] for p in parts] or [[]]).astype(np.int64)
    total = np.concatenate([p["rl_sum"] for p in parts] or [[]])
    n = np.concatenate([p["rl_n"] for p in parts] or [[]])
    out = np.full(keep.size, np.nan)
    if not ev.size:
        return out
    # a row lies in one chunk, but merged labels of one chunk can share a row
    key = np.stack([ev, row], axis=1)
    uniq, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.ravel()
    mean = np.bincount(inv, weights=total, minlength=len(uniq)) / np.bincount(
        inv, weights=n, minlength=len(uniq)
    )
    starts = np.searchsorted(uniq[:, 0], keep, side="left")
    stops = np.searchsorted(uniq[:, 0], keep, side="right")
    for k, (a, b) in enumerate(zip(starts, stops)):
        out[k] = impulsiveness(uniq[a:b, 1], mean[a:b])
    return out


def _border_pairs(last: np.ndarray, first: np.ndarray, connectivity: int) -> np.ndarray:
    """(label above, label below) pairs of pixels adjacent across a chunk border."""
    shifts = (0,) if connectivity == 1 else (-1, 0, 1)
    pairs = []
    nf = last.size
    for s in shifts:
        a = last[max(0, -s) : nf - max(0, s)]
        b = first[max(0, s) : nf - max(0, -s)]
        ok = (a > 0) & (b > 0)
        if ok.any():
            pairs.append(np.stack([a[ok], b[ok]], axis=1))
    if not pairs:
        return np.zeros((0, 2), np.int64)
    return np.unique(np.concatenate(pairs), axis=0)


def _fringe_summary(
    rows: list[tuple[int, float, float, float, float]], peak_row: int, nrows: int
) -> tuple[float, np.ndarray]:
    """Δf and representative fringe frequencies of one event from its per-row combs.

    Δf is the median over rows of the row's comb spacing. The fringe frequencies are the
    teeth of the comb around the peak time: over the ``nrows`` rows nearest the
    probability peak, the median spacing, the circular mean of the tooth phases and the
    median span; every tooth inside that span is one fringe. Only rows whose span holds
    three fringes or more (span >= 2 Δf) are used when there are any. Rows near one time keep
    fringes that drift through the night from smearing into each other.
    """
    if not rows:
        return np.nan, np.zeros(0)
    arr = np.array(sorted(rows), dtype=float)
    dfv = float(np.median(arr[:, 1]))
    # rows where the comb spans three fringes or more give a trustworthy local spacing
    wide = arr[arr[:, 4] - arr[:, 3] >= 2 * dfv]
    pool = wide if wide.shape[0] else arr
    near = pool[np.argsort(np.abs(pool[:, 0] - peak_row), kind="stable")[:nrows]]
    d = float(np.median(near[:, 1]))
    ang = np.angle(np.mean(np.exp(2j * np.pi * near[:, 2] / d)))
    f0 = (ang * d / (2 * np.pi)) % d
    lo, hi = float(np.median(near[:, 3])), float(np.median(near[:, 4]))
    k = np.arange(np.ceil((lo - f0) / d - 0.25), np.floor((hi - f0) / d + 0.25) + 1)
    return dfv, f0 + k * d


# ----------------------------------------------------------------------------------------
# metadata helpers
# ----------------------------------------------------------------------------------------
def _station_maglat(lat: float, lon: float, alt_km: float, time: np.datetime64) -> float:
    return float(np.asarray(geomag.magnetic_latitude(lat, lon, alt_km, time)).ravel()[0])


def _select_psd(
    psd: xr.DataArray | xr.Dataset, probability: xr.DataArray, component: str | None
) -> tuple[xr.DataArray, str | None]:
    if isinstance(psd, xr.Dataset):
        psd = psd["psd"]
    comp = component or probability.attrs.get("component")
    if comp is None and "component" in probability.coords and probability["component"].ndim == 0:
        comp = str(probability["component"].values)
    if "component" in psd.dims:
        if comp is not None:
            from .cube import select_component

            psd = select_component(psd, comp)
        elif psd.sizes["component"] == 1:
            psd = psd.isel(component=0)
            comp = str(psd["component"].values)
        else:
            raise ValueError(
                "psd has several components: pass component= or set probability.attrs['component']"
            )
    psd = psd.transpose("time", "frequency")
    for dim in ("time", "frequency"):
        if psd.sizes[dim] != probability.sizes[dim] or not np.array_equal(
            psd[dim].values, probability[dim].values
        ):
            raise ValueError(f"psd and probability differ along {dim!r}: same grid needed")
    return psd, comp


def _row_breaks(probability: xr.DataArray, max_gap: Any) -> np.ndarray:
    """True where a row is not connected to the row before it (orbit change, time gap)."""
    nt = probability.sizes["time"]
    brk = np.zeros(nt, bool)
    if nt == 0:
        return brk
    brk[0] = True
    if "orbit" in probability.coords and probability["orbit"].dims == ("time",):
        orb = np.asarray(probability["orbit"].values)
        brk[1:] |= orb[1:] != orb[:-1]
    t = np.asarray(probability["time"].values).astype("datetime64[ns]").astype(np.int64)
    if nt > 1:
        step = np.diff(t)
        if max_gap == "auto":
            gap = 5 * float(np.median(step))
        elif max_gap is None:
            gap = np.inf
        else:
            gap = float(np.timedelta64(max_gap).astype("timedelta64[ns]").astype(np.int64))
        brk[1:] |= step > gap
    return brk


# ----------------------------------------------------------------------------------------
# public
# ----------------------------------------------------------------------------------------
def extract_events(
    probability: xr.DataArray,
    psd: xr.DataArray | xr.Dataset | None = None,
    threshold: float | None = None,
    min_pixels: int = 20,
    connectivity: int = 2,
    fringes: bool | Literal["auto"] = "auto",
    *,
    component: str | None = None,
    merge_frequency: float | Literal["auto"] | None = "auto",
    max_gap: Any = "auto",
    fringe_background: float = 1.5,
    fringe_smooth: float = 0.05,
    fringe_time_smooth: float = 1.5,
    fringe_spacing: tuple[float, float] = (0.2, 1.5),
    fringe_rows: int = 9,
    max_impulsiveness: float | Literal["model"] | None = "model",
    min_mean_probability: float | Literal["model"] | None = "model",
    min_bandwidth: float | Literal["model"] | None = "model",
    max_duration: float | Literal["model"] | None = "model",
    compute_kwargs: dict[str, Any] | None = None,
) -> xr.Dataset:
    """Connected regions of a probability cube as an event catalogue.

    Works on lazy, chunked cubes chunk by chunk (see the module docstring); the result
    does not depend on the chunking.

    Parameters
    ----------
    probability : xr.DataArray
        Dims ``(time, frequency)``, values in [0, 1], NaN where there is no data.
        Dask-backed arrays are processed one time-chunk per task (a chunking along
        frequency is undone per time-chunk); numpy arrays as one chunk. Satellite cubes
        carry ``latitude``, ``longitude``, ``magnetic_latitude``, ``orbit`` and
        ``orbit_direction`` coords on ``time``; ground cubes the station's ``latitude``,
        ``longitude`` (and ``altitude_km``) as attrs.
    psd : xr.DataArray or xr.Dataset, optional
        PSD on the same grid, ``(time, frequency)`` or a ``(component, time, frequency)``
        cube (or the cube Dataset) from which ``component`` is taken. Gives ``peak_psd``
        and the fringes.
    threshold : float, optional
        Pixels with ``probability >= threshold`` belong to events. Default:
        ``probability.attrs["threshold"]`` (the model's recommended cut) when present,
        else 0.5.
    min_pixels : int
        Events with fewer pixels above the threshold are dropped.
    connectivity : {1, 2}
        1: pixels touching by an edge are connected; 2: also by a corner.
    fringes : bool or "auto"
        Analyse IAR fringes (``delta_f``, ``fringe_frequency``). ``"auto"``: when ``psd``
        is given and the highest frequency is below 20 Hz.
    component : str, optional
        Component to take from a multi-component ``psd``; default
        ``probability.attrs["component"]``.
    merge_frequency : float, "auto" or None
        Regions whose pixels in the same time row are at most this many Hz apart form one
        event (the above-threshold pixels stay the event's pixels; only the grouping
        changes). IAR detections are often one region per fringe; this groups the
        fringes of a night into one event. ``"auto"``: 1.5 Hz (the widest IAR spacing
        reported) when fringes are analysed, else no grouping.
    max_gap : timedelta-like, "auto" or None
        Rows further apart in time than this are not connected (``"auto"``: five times the
        median time step; None: never split). Rows of different ``orbit`` are never
        connected either, so an event does not run from one half-orbit into the next.
    fringe_background, fringe_smooth : float
        Width (Hz) of the running median subtracted from log10 PSD and the Gaussian
        smoothing (sd, Hz) of the residual before peak picking.
    fringe_min_spacing, fringe_prominence : float
        Minimum distance of two fringe peaks (Hz) and their minimum prominence in the
        detrended log10 PSD (decades).
    fringe_rows : int
        Number of rows near the peak whose peaks are pooled for ``fringe_frequency``.
    max_impulsiveness : float, "model" or None
        Drop events whose ``impulsiveness`` (see :func:`impulsiveness`) exceeds this:
        regions a network drew over bursts of lightning whistlers, which jump by tenths
        of a decade from row to row where anomalies change smoothly. ``"model"``: the
        model's recommended cut (``probability.attrs["max_impulsiveness"]``, set by
        ``xspecseg tune-events``) when there is one and ``psd`` is given, else no cut.
        A number needs ``psd``.
    min_mean_probability : float, "model" or None
        Drop events whose ``mean_probability`` is below this. ``"model"``: the model's
        recommended cut (``probability.attrs["min_mean_probability"]``) when there is
        one, else no cut.
    min_bandwidth, max_duration : float, "model" or None
        Drop events narrower than ``min_bandwidth`` Hz (``f_max - f_min``) or longer than
        ``max_duration`` s (``end_time - start_time``): regions whose shape is not that of
        the events the model was trained on (for CSES: hiss edges and bands running for
        minutes along the band limits, where anomalies are nuclei some kHz wide and under
        three minutes long). ``"model"``: the model's recommended cut when there is one.
        The recommended cuts are tuned on the model's training data so that 95 % of the
        true events pass each (``xspecseg tune-events``); every cut applied is recorded
        in the catalogue's attrs. :func:`select_events` applies the same cuts to a
        catalogue afterwards.
    compute_kwargs : dict, optional
        Passed to ``dask.compute`` (e.g. ``scheduler="threads"``). Inside a Dask worker
        task the default is to compute in that task (``scheduler="synchronous"``).

    Returns
    -------
    xr.Dataset
        Dim ``event``, ordered by the event's first pixel (time, then frequency):

        - ``start_time``, ``end_time``: time coordinates (block starts) of the first and
          last rows holding the event;
        - ``peak_time``, ``f_peak``: the pixel of maximum probability (ties: the earliest,
          then the lowest frequency);
        - ``f_min``, ``f_max``: lowest and highest frequency bin of its pixels;
        - ``area_pixels``, ``mean_probability``, ``max_probability``;
        - ``peak_psd``: the PSD at the probability peak pixel (NaN without ``psd``), not
          the maximum PSD inside the event, which for a wide-band event is just the
          low-frequency end of a falling spectrum;
        - ``component`` when known; ``latitude``, ``longitude``, ``magnetic_latitude`` at
          ``peak_time`` (satellite: from the coords; ground: the station's, magnetic
          latitude from :func:`xspecseg.geomag.magnetic_latitude` once per call);
          ``season`` (DJF/MAM/JJA/SON of ``peak_time``);
          ``hemisphere`` (N/S of the geographic latitude); ``orbit``,
          ``orbit_direction`` for satellites;
        - with ``psd``: ``impulsiveness`` (:func:`impulsiveness` of the event's
          row-mean log10 PSD);
        - with fringes: ``delta_f`` (median over rows of the median spacing of adjacent
          fringe peaks), ``n_fringes`` and ``fringe_frequency`` (event, fringe),
          NaN-padded (see below).

    Notes
    -----
    Fringes: each row of an event's time span is detrended (log10 PSD minus a running
    median over ``fringe_background`` Hz, smoothed by ``fringe_smooth`` Hz) and its peaks
    (``scipy.signal.find_peaks`` with ``fringe_min_spacing`` and ``fringe_prominence``)
    lying on the event's pixels are that row's fringes. ``delta_f`` is the median over
    rows of the median adjacent spacing. ``fringe_frequency`` pools the peaks of the
    ``fringe_rows`` rows nearest ``peak_time``, clusters them (a gap above Δf/2 separates
    clusters) and reports the median of each cluster present in at least a third of
    those rows: the fringes around the peak time (they drift through the night).

    Examples
    --------
    >>> import xspecseg as xs
    >>> cube = xs.build_cube(xs.synth.ground_station("2013-01-03", days=1,
    ...                                             components=("H",)))
    >>> truth = xs.synth.iar_truth(cube).astype("float32")
    >>> cat = extract_events(truth, psd=cube.psd, component="H")  # doctest: +SKIP
    >>> float(cat.delta_f.max()) > 0.2  # doctest: +SKIP
    True
    """
    if not isinstance(probability, xr.DataArray):
        raise TypeError("probability must be an xarray.DataArray (time, frequency)")
    if set(probability.dims) != {"time", "frequency"}:
        raise ValueError(f"probability must have dims (time, frequency), got {probability.dims}")
    probability = probability.transpose("time", "frequency")
    if connectivity not in (1, 2):
        raise ValueError("connectivity must be 1 or 2")
    if threshold is None:
        threshold = float(probability.attrs.get("threshold", 0.5))
    threshold = float(threshold)

    comp = component or probability.attrs.get("component")
    psd_da = None
    if psd is not None:
        psd_da, comp = _select_psd(psd, probability, component)
    freq = np.asarray(probability["frequency"].values, dtype=np.float64)
    if fringes == "auto":
        fringes = psd_da is not None and freq.size > 0 and float(freq.max()) < IAR_MAX_FREQUENCY
    fringes = bool(fringes)
    if fringes and psd_da is None:
        raise ValueError("fringes=True needs psd")
    if max_impulsiveness == "model":
        cut = probability.attrs.get("max_impulsiveness")
        max_impulsiveness = float(cut) if cut is not None and psd_da is not None else None
    elif max_impulsiveness is not None:
        max_impulsiveness = float(max_impulsiveness)
        if psd_da is None:
            raise ValueError("max_impulsiveness needs psd (the event's PSD rows)")
    cuts: dict[str, float | None] = {"max_impulsiveness": max_impulsiveness}
    for key, value in (
        ("min_mean_probability", min_mean_probability),
        ("min_bandwidth", min_bandwidth),
        ("max_duration", max_duration),
    ):
        if value == "model":
            value = probability.attrs.get(key)
        cuts[key] = None if value is None else float(value)
    if merge_frequency == "auto":
        merge_frequency = 1.5 if fringes else None
    df_hz = float(np.median(np.diff(freq))) if freq.size > 1 else 1.0
    grow = 0
    if merge_frequency:
        gap_bins = float(merge_frequency) / df_hz
        grow = max(0, int(np.ceil((gap_bins - 1) / 2)))

    # dask layout: whole frequency axis per block, the probability's time chunks
    data = probability.data
    if not isinstance(data, da.Array):
        data = da.from_array(np.asarray(data), chunks=(max(1, data.shape[0]), -1))
    data = data.rechunk({1: -1})
    pdata = None
    if psd_da is not None:
        pdata = psd_da.data
        if not isinstance(pdata, da.Array):
            pdata = da.from_array(np.asarray(pdata), chunks=-1)
    breaks = _row_breaks(probability, max_gap)
    structure = ndi.generate_binary_structure(2, connectivity)
    fopts = (
        {
            "background": float(fringe_background),
            "smooth": float(fringe_smooth),
            "min_spacing": float(fringe_spacing[0]),
            "max_spacing": float(fringe_spacing[1]),
            "spacing_step": 0.005,
            "time_smooth": float(fringe_time_smooth),
        }
        if fringes
        else None
    )

    bounds = np.cumsum((0, *data.chunks[0]))
    pblocks = data.to_delayed().ravel()
    halo = _time_halo(fopts)
    nt = data.shape[0]
    tasks = []
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        if b == a:
            continue  # empty chunks hold nothing and must not break border adjacency
        sblock, left = None, 0
        if pdata is not None:
            # the chunk's PSD rows plus the halo the fringe time smoothing reaches
            lo, hi = (max(0, a - halo), min(nt, b + halo)) if fopts else (a, b)
            sblock = pdata[lo:hi].rechunk(-1).to_delayed().ravel()[0]
            left = int(a - lo)
        tasks.append(
            dask.delayed(_chunk_partials, pure=True)(
                pblocks[i],
                sblock,
                left,
                breaks[a:b],
                int(a),
                threshold=threshold,
                structure=structure,
                grow=grow,
                freq=freq,
                fringe_opts=fopts,
            )
        )
    parts = list(compute(*tasks, **(compute_kwargs or {})))

    # union-find over (chunk, label): node = offset[chunk] + label - 1
    offsets = np.cumsum([0, *[p["n"] for p in parts]])
    uf = _UnionFind(int(offsets[-1]))
    for i in range(1, len(parts)):
        if parts[i]["first_break"]:
            continue
        for la, lb in _border_pairs(parts[i - 1]["last"], parts[i]["first"], connectivity):
            uf.union(int(offsets[i - 1] + la - 1), int(offsets[i] + lb - 1))
    nodes = int(offsets[-1])
    root = np.array([uf.find(k) for k in range(nodes)], dtype=np.int64)

    def gather(key: str) -> np.ndarray:
        if not parts:
            return np.zeros(0)
        return np.concatenate([p[key][1:] for p in parts])

    count = np.bincount(root, weights=gather("count"), minlength=nodes).astype(np.int64)
    psum = np.bincount(root, weights=gather("psum"), minlength=nodes)
    first_pix = np.full(nodes, _BIG, np.int64)
    np.minimum.at(first_pix, root, gather("first_pix").astype(np.int64))
    last_row = np.full(nodes, -1, np.int64)
    np.maximum.at(last_row, root, gather("last_row").astype(np.int64))
    fmin = np.full(nodes, _BIG, np.int64)
    np.minimum.at(fmin, root, gather("fmin").astype(np.int64))
    fmax = np.full(nodes, -1, np.int64)
    np.maximum.at(fmax, root, gather("fmax").astype(np.int64))
    pm, pp, ps = gather("pmax"), gather("ppos").astype(np.int64), gather("peak_psd")
    order = np.lexsort((pp, -pm, root))
    pmax = np.full(nodes, -np.inf)
    ppos = np.full(nodes, _BIG, np.int64)
    peak_psd = np.full(nodes, np.nan)
    if order.size:
        rs = root[order]
        head = order[np.r_[True, rs[1:] != rs[:-1]]]
        pmax[root[head]], ppos[root[head]], peak_psd[root[head]] = pm[head], pp[head], ps[head]

    keep = np.flatnonzero((count >= max(1, int(min_pixels))) & (np.arange(nodes) == root))
    keep = keep[np.argsort(first_pix[keep], kind="stable")]
    imp = None
    if psd_da is not None:
        imp = _event_impulsiveness(parts, offsets, root, keep)
    nf = freq.size
    times = np.asarray(probability["time"].values).astype("datetime64[ns]")
    first_row = first_pix[keep] // max(nf, 1)
    peak_row, peak_col = np.divmod(ppos[keep], max(nf, 1))

    ds = xr.Dataset(
        {
            "start_time": ("event", times[first_row]),
            "end_time": ("event", times[last_row[keep]]),
            "peak_time": ("event", times[peak_row]),
            "f_min": ("event", freq[fmin[keep]], {"units": "Hz"}),
            "f_max": ("event", freq[fmax[keep]], {"units": "Hz"}),
            "f_peak": ("event", freq[peak_col], {"units": "Hz"}),
            "area_pixels": ("event", count[keep]),
            "mean_probability": ("event", psum[keep] / np.maximum(count[keep], 1)),
            "max_probability": ("event", pmax[keep]),
            "peak_psd": (
                "event",
                peak_psd[keep],
                {"long_name": "PSD at the probability peak"}
                | (
                    {"units": psd_da.attrs["units"]}
                    if psd_da is not None and "units" in psd_da.attrs
                    else {}
                ),
            ),
        },
        coords={"event": np.arange(keep.size)},
    )
    if imp is not None:
        ds["impulsiveness"] = (
            "event",
            imp,
            {
                "long_name": "median absolute second time-difference of the event's "
                "row-mean log10 PSD",
                "units": "1",
            },
        )
    if fringes:
        rows_of: dict[int, list[tuple[int, np.ndarray]]] = {}
        for i, p in enumerate(parts):
            for lb, rws in p["fringes"].items():
                rows_of.setdefault(int(root[offsets[i] + lb - 1]), []).extend(rws)
        dfs, frs = [], []
        for k, ev in enumerate(keep):
            d, fr = _fringe_summary(rows_of.get(int(ev), []), int(peak_row[k]), fringe_rows)
            dfs.append(d)
            frs.append(fr)
        nfr = max([f.size for f in frs], default=0)
        ff = np.full((keep.size, nfr), np.nan)
        for k, fr in enumerate(frs):
            ff[k, : fr.size] = fr
        ds["delta_f"] = ("event", np.asarray(dfs, float), {"units": "Hz"})
        ds["n_fringes"] = ("event", np.array([f.size for f in frs], np.int64))
        ds["fringe_frequency"] = (("event", "fringe"), ff, {"units": "Hz"})
    _add_position(ds, probability, peak_row, comp)
    ds.attrs.update(
        {
            "threshold": threshold,
            "min_pixels": int(min_pixels),
            "connectivity": int(connectivity),
            "merge_frequency": float(merge_frequency or 0.0),
            "fringes": int(fringes),
        }
    )
    for key in ("model", "station", "component", "xspecseg_version"):
        if key in probability.attrs:
            ds.attrs[key] = probability.attrs[key]
    return select_events(ds, **cuts)


def _event_bandwidth(cat: xr.Dataset) -> np.ndarray:
    return np.asarray(cat["f_max"].values, float) - np.asarray(cat["f_min"].values, float)


def _event_duration_s(cat: xr.Dataset) -> np.ndarray:
    span = np.asarray(cat["end_time"].values) - np.asarray(cat["start_time"].values)
    return span.astype("timedelta64[ns]").astype(np.int64) / 1e9


#: cut -> (catalogue variable or derived property, True for an upper bound)
_CUTS = {
    "max_impulsiveness": ("impulsiveness", True),
    "min_mean_probability": ("mean_probability", False),
    "min_bandwidth": (_event_bandwidth, False),
    "max_duration": (_event_duration_s, True),
}


def select_events(
    catalogue: xr.Dataset,
    *,
    max_impulsiveness: float | None = None,
    min_mean_probability: float | None = None,
    min_bandwidth: float | None = None,
    max_duration: float | None = None,
) -> xr.Dataset:
    """The events of a catalogue that pass event cuts (None: no cut).

    The cuts of :func:`extract_events` applied to a catalogue after the fact, e.g. to
    bring catalogues made with older cuts to a model's current ones. Each cut applied
    is recorded in ``attrs`` (where one is there already, the stricter of the two:
    applying a cut twice, or a looser one after a stricter, changes nothing).

    Parameters
    ----------
    catalogue : xr.Dataset
        Dim ``event`` with ``start_time``, ``end_time``, ``f_min``, ``f_max``,
        ``mean_probability`` and, for ``max_impulsiveness``, ``impulsiveness``.
    max_impulsiveness : float, optional
        Keep ``impulsiveness <= max_impulsiveness`` (NaN, an event of under three rows,
        cannot be judged and is kept).
    min_mean_probability : float, optional
        Keep ``mean_probability >= min_mean_probability``.
    min_bandwidth : float, optional
        Keep ``f_max - f_min >= min_bandwidth`` (Hz, bin centres).
    max_duration : float, optional
        Keep ``end_time - start_time <= max_duration`` (seconds, row times).

    Returns
    -------
    xr.Dataset
        The passing events, renumbered ``0..n-1`` when ``event`` is a coordinate.

    Examples
    --------
    >>> cat = xr.Dataset({"f_min": ("event", [100.0, 4000.0]),
    ...                   "f_max": ("event", [300.0, 8000.0])})
    >>> select_events(cat, min_bandwidth=1000.0).f_min.values
    array([4000.])
    """
    if "event" not in catalogue.dims:
        raise ValueError("not an event catalogue: no dimension 'event'")
    given = {
        "max_impulsiveness": max_impulsiveness,
        "min_mean_probability": min_mean_probability,
        "min_bandwidth": min_bandwidth,
        "max_duration": max_duration,
    }
    n = int(catalogue.sizes["event"])
    passed = np.ones(n, dtype=bool)
    attrs = dict(catalogue.attrs)
    for key, value in given.items():
        if value is None:
            continue
        value = float(value)
        prop, upper = _CUTS[key]
        if isinstance(prop, str):
            if prop not in catalogue:
                raise ValueError(f"{key} needs the catalogue variable {prop!r}")
            x = np.asarray(catalogue[prop].values, float)
        else:
            x = prop(catalogue)
        # NaN is never above or below a cut: it is kept
        passed &= ~(x > value) if upper else ~(x < value)
        old = attrs.get(key)
        if old is not None:
            value = min(float(old), value) if upper else max(float(old), value)
        attrs[key] = value
    out = catalogue.isel(event=np.flatnonzero(passed))
    if "event" in out.coords:
        out = out.assign_coords(event=np.arange(out.sizes["event"]))
    out.attrs = attrs
    return out


def _add_position(
    ds: xr.Dataset, probability: xr.DataArray, peak_row: np.ndarray, comp: str | None
) -> None:
    """Component, position, season and hemisphere of each event at its peak time."""
    n = ds.sizes["event"]
    if comp is not None:
        ds["component"] = ("event", np.full(n, str(comp), dtype=object).astype(str))
    coords = probability.coords
    along = [
        k
        for k in ("latitude", "longitude", "magnetic_latitude", "orbit", "orbit_direction")
        if k in coords and coords[k].dims == ("time",)
    ]
    for k in along:
        vals = np.asarray(coords[k].isel(time=xr.DataArray(peak_row, dims="event")).values)
        ds[k] = ("event", vals, dict(coords[k].attrs))
    attrs = probability.attrs
    if "latitude" not in ds and "latitude" in attrs and "longitude" in attrs:
        lat, lon = float(attrs["latitude"]), float(attrs["longitude"])
        ds["latitude"] = ("event", np.full(n, lat), {"units": "degrees_north"})
        ds["longitude"] = ("event", np.full(n, lon), {"units": "degrees_east"})
        if "magnetic_latitude" not in ds:
            mlat = float(attrs.get("magnetic_latitude", np.nan))
            if np.isnan(mlat) and n:
                # one value per station: AACGM moves by ~0.1 deg a year at most
                mid = ds.peak_time.values[n // 2]
                mlat = _station_maglat(lat, lon, float(attrs.get("altitude_km", 0.0)), mid)
            ds["magnetic_latitude"] = ("event", np.full(n, mlat), {"units": "degrees"})
    ds["season"] = (
        "event",
        np.asarray(geomag.season_of(ds.peak_time.values)).astype(str) if n else np.zeros(0, "<U3"),
    )
    if "latitude" in ds:
        ds["hemisphere"] = (
            "event",
            np.asarray(geomag.hemisphere_of(ds.latitude.values)).astype(str)
            if n
            else np.zeros(0, "<U1"),
        )
