"""The IAR fringe comb: ``delta_f`` and ``fringe_frequency`` of each event.

Each row of an event is detrended (log10 PSD minus a running median, smoothed in
frequency and time) and a comb is fitted between the event's lowest and highest pixel of
the row (:func:`_chunk_fringes`, one time-chunk at a time); the rows of an event, from
whatever chunks, are then summarised (:func:`_fringe_summary`). :class:`FringeOptions`
holds the settings.

Examples
--------
>>> freq = np.arange(0.0, 6.0, 0.025)
>>> psd = np.tile(10 ** (0.3 * np.cos(2 * np.pi * freq / 0.6)), (5, 1))
>>> lab = np.zeros(psd.shape, int); lab[:, 40:200] = 1
>>> found = _chunk_fringes(psd, 0, lab, 0, freq, FringeOptions(time_smooth=0))
>>> d, teeth = _fringe_summary(found[1], peak_row=2, nrows=9)
>>> round(d, 2), np.round(teeth[:3], 2).tolist()
(0.6, [1.2, 1.8, 2.4])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import ndimage as ndi

__all__ = ["IAR_MAX_FREQUENCY", "FringeOptions"]

#: ``fringes="auto"`` analyses fringes when the frequency axis stays below this (Hz):
#: ground search-coil IAR cubes, not VLF satellite spectra.
IAR_MAX_FREQUENCY = 20.0
#: grid step (Hz) of the searched spacings, refined between grid points by a parabola
_SPACING_STEP = 0.005
#: weight of the half-spacing component in the comb score (see :func:`_chunk_fringes`)
_HALF_SPACING_WEIGHT = 0.5

#: one row of an event's comb: (row, spacing, tooth, f_lo, f_hi)
Comb = tuple[int, float, float, float, float]


@dataclass(frozen=True)
class FringeOptions:
    """Settings of the IAR fringe analysis of :func:`~xspecseg.events.extract_events`.

    Passed as ``extract_events(..., fringes=FringeOptions(...))``; ``fringes=True`` uses
    the defaults.

    Parameters
    ----------
    background : float
        Width (Hz) of the running median subtracted from log10 PSD: wider than a fringe
        spacing, so that it follows the 1/f background and the Schumann bump only.
    smooth : float
        Gaussian smoothing (sd, Hz) of the residual along frequency.
    time_smooth : float
        Gaussian smoothing (sd, rows) of the residual along time: fringes drift little
        over a few blocks while the Welch noise is independent from block to block.
    spacing : (float, float)
        The fringe spacings searched (Hz). The default 0.3–1.5 Hz spans the IAR spacings
        reported at mid and high latitudes.
    rows : int
        Number of rows near the probability peak whose combs give ``fringe_frequency``.

    Examples
    --------
    >>> FringeOptions(spacing=(0.25, 1.2)).spacing
    (0.25, 1.2)
    >>> FringeOptions(rows=0)
    Traceback (most recent call last):
    ...
    ValueError: FringeOptions.rows must be at least 1
    """

    background: float = 1.5
    smooth: float = 0.05
    time_smooth: float = 1.5
    spacing: tuple[float, float] = (0.3, 1.5)
    rows: int = 9

    def __post_init__(self) -> None:
        # plain floats: the settings enter the Dask graph's keys and the arithmetic
        for name in ("background", "smooth", "time_smooth"):
            object.__setattr__(self, name, float(getattr(self, name)))
        lo, hi = (float(s) for s in self.spacing)
        if not 0 < lo < hi:
            raise ValueError(f"FringeOptions.spacing must be 0 < low < high, got {self.spacing}")
        object.__setattr__(self, "spacing", (lo, hi))
        object.__setattr__(self, "rows", int(self.rows))
        if self.rows < 1:
            raise ValueError("FringeOptions.rows must be at least 1")


def _resolve_fringes(
    fringes: bool | Literal["auto"] | FringeOptions, have_psd: bool, freq: np.ndarray
) -> FringeOptions | None:
    """The fringe settings to use, or None for no fringe analysis."""
    if isinstance(fringes, FringeOptions):
        opts: FringeOptions | None = fringes
    elif isinstance(fringes, str):
        if fringes != "auto":
            raise ValueError(f"fringes must be a bool, 'auto' or FringeOptions, got {fringes!r}")
        auto = have_psd and freq.size > 0 and float(freq.max()) < IAR_MAX_FREQUENCY
        opts = FringeOptions() if auto else None
    else:
        opts = FringeOptions() if fringes else None
    if opts is not None and not have_psd:
        raise ValueError("fringes=True needs psd")
    return opts


def _time_halo(opts: FringeOptions | None) -> int:
    """Rows of context the time smoothing of the fringe residual needs on each side."""
    if opts is None or opts.time_smooth <= 0:
        return 0
    return int(4.0 * opts.time_smooth + 0.5)  # gaussian_filter1d's radius, truncate=4


def _fringe_residual(psd_rows: np.ndarray, df_hz: float, opts: FringeOptions) -> np.ndarray:
    """log10 PSD minus a running median over ``background`` Hz, smoothed in f and t."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = np.log10(np.where(psd_rows > 0, psd_rows, np.nan))
    bad = ~np.isfinite(logp)
    logp = np.where(bad, np.nanmedian(logp) if not bad.all() else 0.0, logp)
    # a median over more than one fringe spacing follows the 1/f background and the
    # Schumann bump but not the fringes, which fill well under half of the window
    w = max(3, round(opts.background / df_hz) | 1)
    bg = ndi.median_filter(logp, size=(1, w), mode="nearest")
    res = np.where(bad, 0.0, logp - bg)
    sig = opts.smooth / df_hz
    if sig > 0:
        res = ndi.gaussian_filter1d(res, sig, axis=1, mode="nearest")
    if opts.time_smooth > 0:
        # fringes drift little over a few blocks while the Welch noise is independent
        # from block to block; the caller supplies the rows this kernel reaches
        res = ndi.gaussian_filter1d(res, opts.time_smooth, axis=0, mode="nearest", truncate=4.0)
    res[bad] = np.nan
    return res


def _comb_fit(
    seg: np.ndarray, freq: np.ndarray, lo: int, hi: int, grid: tuple[np.ndarray, ...]
) -> tuple[float, float] | None:
    """``(spacing, tooth)`` of the comb in ``seg`` (the residual on ``freq[lo:hi+1]``).

    None when the score has no maximum inside the searched spacings: no comb.
    """
    dgrid, kern, kern2 = grid
    span = freq[hi] - freq[lo]
    ok_d = dgrid <= span  # at least one whole spacing inside the span
    if ok_d.sum() < 3 or not np.isfinite(seg).all():
        return None
    x = freq[lo : hi + 1]
    seg = seg - np.polyval(np.polyfit(x, seg, 1), x)
    c = kern[ok_d, lo : hi + 1] @ seg
    pw = np.abs(c)
    pw = pw + _HALF_SPACING_WEIGHT * np.abs(kern2[ok_d, lo : hi + 1] @ seg)
    j = int(np.argmax(pw))
    if j == 0 or j == pw.size - 1:
        return None  # no maximum inside the searched spacings: the row has no comb
    d = float(dgrid[ok_d][j])
    if 0 < j < pw.size - 1:  # parabolic refinement between grid points
        y0, y1, y2 = pw[j - 1], pw[j], pw[j + 1]
        den = y0 - 2 * y1 + y2
        if den < 0:
            d += 0.5 * (y0 - y2) / den * _SPACING_STEP
    # r ~ cos(2 pi (f - f0) / d)  =>  C(d) ~ exp(-2 pi i f0 / d)
    f0 = (-np.angle(c[j]) * d / (2 * np.pi)) % d
    mid = 0.5 * (freq[lo] + freq[hi])
    return d, float(f0 + d * np.round((mid - f0) / d))


def _chunk_fringes(
    psd_ext: np.ndarray,
    left: int,
    lab: np.ndarray,
    row0: int,
    freq: np.ndarray,
    opts: FringeOptions,
) -> dict[int, list[Comb]]:
    """Per label and row: ``(row, spacing, tooth, f_lo, f_hi)`` of the fringe comb.

    The detrended log PSD between the label's lowest and highest pixel of the row (the
    gaps between separately detected fringes included) is linearly detrended, and its
    "spacing spectrum" ``C(d) = sum_f r(f) exp(-2 pi i f / d)`` is evaluated for
    ``d`` over ``opts.spacing`` (and at most the span). The maximum of
    ``|C(d)| + 0.5 |C(d/2)|`` is the row's spacing (a maximum at either end of the
    searched spacings is no comb: the row is skipped); the phase of ``C`` there gives
    where the comb's teeth lie (``tooth``: the one nearest the middle of the span). A fit
    of the whole comb uses every pixel, so it stays robust where single peaks are lost in
    the noise of a 3-4 segment Welch estimate.

    ``psd_ext`` holds the chunk's rows from ``left`` on, with the rows around it that the
    time smoothing reaches (:func:`_time_halo`); ``lab`` the chunk's labels (0 outside
    the event pixels), whose first row is row ``row0`` of the cube.
    """
    df_hz = float(np.median(np.diff(freq))) if freq.size > 1 else 1.0
    rows = np.flatnonzero(lab.any(axis=1))
    # residual over the event rows plus the smoothing's reach (within the halo rows)
    h = _time_halo(opts)
    a = max(0, int(rows[0]) + left - h)
    b = min(psd_ext.shape[0], int(rows[-1]) + left + h + 1)
    res = _fringe_residual(psd_ext[a:b], df_hz, opts)[rows + left - a]
    lo_d, hi_d = opts.spacing
    dgrid = np.arange(lo_d, hi_d + 1e-9, _SPACING_STEP)
    kern = np.exp(-2j * np.pi * freq[None, :] / dgrid[:, None])  # (spacing, frequency)
    # narrow fringes put power at d/2 as well as d, so a spacing spectrum alone often peaks
    # at half the true spacing; scoring d by |C(d)| + w |C(d/2)| makes the true spacing win
    # (d/2 lacks power at d/4), and w < 1 keeps 2d (whose half is d) from winning on smooth
    # fringes that have no power at d/2
    kern2 = np.exp(-4j * np.pi * freq[None, :] / dgrid[:, None])
    found: dict[int, list[Comb]] = {}
    for k, r in enumerate(rows):
        labs = lab[r]
        for lb in np.unique(labs[labs > 0]):
            cols = np.flatnonzero(labs == lb)
            lo, hi = int(cols[0]), int(cols[-1])
            fit = _comb_fit(res[k][lo : hi + 1], freq, lo, hi, (dgrid, kern, kern2))
            if fit is not None:
                found.setdefault(int(lb), []).append(
                    (int(r + row0), fit[0], fit[1], float(freq[lo]), float(freq[hi]))
                )
    return found


def _fringe_summary(rows: list[Comb], peak_row: int, nrows: int) -> tuple[float, np.ndarray]:
    """Δf and representative fringe frequencies of one event from its per-row combs.

    Δf is the median over rows of the row's comb spacing. The fringe frequencies are the
    teeth of the comb around the peak time: over the ``nrows`` rows nearest the
    probability peak, the median spacing, the circular mean of the tooth phases and the
    median span; every tooth inside that span is one fringe. Only rows whose span holds
    three fringes or more (span >= 2 Δf) are used when there are any. Rows near one time
    keep fringes that drift through the night from smearing into each other.
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


def _event_fringes(
    combs: list[dict[int, list[Comb]]],
    node: list[np.ndarray],
    keep: np.ndarray,
    peak_row: np.ndarray,
    nrows: int,
) -> dict[str, Any]:
    """The catalogue's fringe variables of the events ``keep`` (their root nodes).

    ``combs[i]`` are :func:`_chunk_fringes` of chunk ``i``, whose label ``lb`` is node
    ``node[i][lb - 1]`` of the merged events.
    """
    rows_of: dict[int, list[Comb]] = {}
    for found, nodes in zip(combs, node, strict=True):
        for lb, rws in found.items():
            rows_of.setdefault(int(nodes[lb - 1]), []).extend(rws)
    dfs, frs = [], []
    for k, ev in enumerate(keep):
        d, fr = _fringe_summary(rows_of.get(int(ev), []), int(peak_row[k]), nrows)
        dfs.append(d)
        frs.append(fr)
    ff = np.full((keep.size, max([f.size for f in frs], default=0)), np.nan)
    for k, fr in enumerate(frs):
        ff[k, : fr.size] = fr
    return {
        "delta_f": ("event", np.asarray(dfs, float), {"units": "Hz"}),
        "n_fringes": ("event", np.array([f.size for f in frs], np.int64)),
        "fringe_frequency": (("event", "fringe"), ff, {"units": "Hz"}),
    }
