"""Classical (non-learned) detectors: masks from a PSD image without training.

Two baselines the seed papers compare the networks against:

- :func:`beggan_labeller` — the peak-picking labeller of Beggan (2014) that produced the
  IAR paper's *Training Set A*: per periodogram, the log PSD minus a smooth background
  along frequency, pixels standing above a fixed threshold, joined along time by a
  morphological closing with fixed structure sizes, short components dropped.
- :func:`canny_baseline` — Canny edges (Gaussian smoothing, Sobel gradients, non-maximum
  suppression, double-threshold hysteresis) closed and filled into regions, the edge
  baseline of the ODM_Unet paper.

Images are ``(time, frequency)`` arrays of *linear* PSD (as in a cube's ``psd``), NaN
where there is no data; a ``DataArray`` keeps its coords in the returned mask. Default
structure sizes are in pixels of the IAR preset (100 s blocks, 0.0244 Hz bins). Both
detectors are deterministic and vectorised (``scipy.ndimage``), no per-pixel Python loops.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> psd = rng.chisquare(6, (200, 120)) / 6
>>> psd[50:150, 60:64] *= 3.0           # a fringe three times the background, 100 blocks
>>> mask = beggan_labeller(psd, fmin_bin=0)
>>> bool(mask[60:140, 60:64].mean() > 0.5), bool(mask[:, :50].mean() < 0.01)
(True, True)
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.ndimage as ndi
import xarray as xr

__all__ = ["DETECTORS", "beggan_labeller", "canny_baseline", "canny_edges", "detect"]


def _as_array(psd: Any) -> tuple[np.ndarray, xr.DataArray | None]:
    if isinstance(psd, xr.DataArray):
        if psd.ndim != 2:
            raise ValueError(f"expected a 2-D (time, frequency) image, got dims {psd.dims}")
        return np.asarray(psd.values, dtype=np.float64), psd
    arr = np.asarray(psd, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D (time, frequency) image, got shape {arr.shape}")
    return arr, None


def _wrap(mask: np.ndarray, like: xr.DataArray | None, name: str) -> np.ndarray | xr.DataArray:
    if like is None:
        return mask
    return xr.DataArray(mask, dims=like.dims, coords=like.coords, name=name)


def _log_filled(psd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log10 PSD with missing pixels filled by their periodogram's median (the image's
    where the periodogram has none).

    The fill keeps the filters below from smearing NaN; the caller clears the mask at the
    missing pixels afterwards.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        lg = np.log10(psd)
    bad = ~np.isfinite(lg)
    if bad.any():
        rows = np.where(bad, np.nan, lg)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN periodograms
            fill = np.nanmedian(rows, axis=1, keepdims=True)
        # a periodogram with no data at all takes the image's median: a fixed value
        # (such as 0) would not move with the record's unit, and the smoothing would
        # carry it into the rows beside the gap
        image = np.median(lg[~bad]) if (~bad).any() else 0.0
        fill = np.where(np.isfinite(fill), fill, image)
        lg = np.where(bad, fill, lg)
    return lg, bad


def _remove_small(mask: np.ndarray, min_pixels: int, min_duration: int) -> np.ndarray:
    """Drop 8-connected components smaller than ``min_pixels`` or shorter in time."""
    if not mask.any() or (min_pixels <= 1 and min_duration <= 1):
        return mask
    lab, n = ndi.label(mask, structure=np.ones((3, 3), bool))
    sizes = np.bincount(lab.ravel(), minlength=n + 1)
    keep = sizes >= min_pixels
    if min_duration > 1:
        objs = ndi.find_objects(lab)
        dur = np.array([0] + [s[0].stop - s[0].start for s in objs])
        keep &= dur >= min_duration
    keep[0] = False
    return keep[lab]


def beggan_labeller(
    psd: np.ndarray | xr.DataArray,
    *,
    background_bins: int = 61,
    smooth_time: int = 15,
    smooth_frequency: int = 3,
    threshold: float = 0.12,
    close_time: int = 7,
    close_frequency: int = 1,
    min_pixels: int = 60,
    min_duration: int = 12,
    fmin_bin: int = 20,
    time_median: bool = True,
) -> np.ndarray | xr.DataArray:
    """Peak-above-background labeller of Beggan (2014), the IAR paper's Training Set A.

    Parameters
    ----------
    psd : (time, frequency) array or DataArray
        Linear PSD image (a night of a cube's ``psd``); NaN = no data.
    background_bins : int
        Width (frequency bins) of the running median that estimates the smooth background
        of each periodogram. It must span more than one fringe spacing (0.5–1.5 Hz) so that
        the fringes stand above it: 61 bins = 1.5 Hz at the IAR preset's resolution.
    smooth_time, smooth_frequency : int
        Boxcar lengths (blocks, bins) applied to the log PSD before thresholding. A cube
        periodogram averages only three Welch segments, so single pixels scatter by about
        ±0.25 decades, more than the fringes' contrast (~0.1–0.3 decades); fringes drift
        slowly, so 15 blocks (25 min) along time cost little.
    threshold : float
        A pixel is a candidate when its smoothed log10 PSD exceeds the background by this
        many decades (0.12 decades = 32 %).
    close_time, close_frequency : int
        Lengths of the morphological closing (dilation then erosion) that joins candidate
        pixels into fringes along time (and frequency).
    min_pixels, min_duration : int
        Components smaller than ``min_pixels`` or shorter than ``min_duration`` blocks are
        dropped (noise blobs and impulsive interference are short; IAR fringes last hours).
    fmin_bin : int
        Bins below this index are never labelled: below the 0.5 Hz band-pass corner the
        background falls too steeply for a running median to follow (20 bins = 0.49 Hz).
    time_median : bool
        Subtract the image's median spectrum (over time, per frequency) before the running
        median. On synthetic nights this cut false positives on IAR-free nights from ~9 %
        to ~0.1 % of pixels: the band-pass roll-off makes a permanent hump at 0.5–1 Hz.

    Returns
    -------
    numpy.ndarray or xarray.DataArray
        bool mask of the image's shape (a DataArray, named ``beggan``, for DataArray input).

    Examples
    --------
    >>> import numpy as np
    >>> beggan_labeller(np.ones((50, 80))).any()
    np.False_
    """
    arr, like = _as_array(psd)
    lg, bad = _log_filled(arr)
    if smooth_time > 1 or smooth_frequency > 1:
        lg = ndi.uniform_filter(
            lg, size=(max(smooth_time, 1), max(smooth_frequency, 1)), mode="nearest"
        )
    if time_median:
        # the image's median spectrum holds the smooth, permanent shape (band-pass
        # roll-off, Schumann and other steady lines) that a running median along frequency
        # cannot follow where it bends; drifting fringes barely move it
        lg = lg - np.median(lg, axis=0, keepdims=True)
    # median along frequency only (size 1 in time): each periodogram gets its own level
    bg = ndi.median_filter(lg, size=(1, max(int(background_bins), 1)), mode="nearest")
    cand = (lg - bg) > threshold
    if fmin_bin > 0:
        cand[:, : int(fmin_bin)] = False
    if close_time > 1 or close_frequency > 1:
        st = np.ones((max(close_time, 1), max(close_frequency, 1)), bool)
        # border_value=0 dilation then erosion; pad so the erosion does not eat the edges
        pad = ((close_time, close_time), (close_frequency, close_frequency))
        cand = ndi.binary_closing(np.pad(cand, pad, mode="edge"), structure=st)[
            close_time : close_time + arr.shape[0],
            close_frequency : close_frequency + arr.shape[1],
        ]
    mask = _remove_small(cand, int(min_pixels), int(min_duration)) & ~bad
    return _wrap(mask, like, "beggan")


def _nms(mag: np.ndarray, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Thin edges to the gradient ridge (gradient direction quantised to 8 neighbours).

    Ties are resolved toward the brighter side of a step: a pixel is kept when its
    magnitude is at least that of its neighbour against the gradient and above that of
    its neighbour along it (the gradient points to the bright side). A symmetric step
    then gives a one-pixel-thick edge on the bright object's boundary.
    """
    # gx: derivative along axis 1 (columns), gy: along axis 0 (rows)
    k = np.round(np.arctan2(gy, gx) / (np.pi / 4)).astype(int) % 8
    steps = ((0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1))
    # float noise of a symmetric step must not break the tie
    eps = 1e-9 * (float(mag.max()) if mag.size else 0.0)
    p = np.pad(mag, 1, mode="constant")
    n0, n1 = mag.shape
    keep = np.zeros(mag.shape, bool)
    for i, (dr, dc) in enumerate(steps):
        sel = k == i
        if not sel.any():
            continue
        fwd = p[1 + dr : 1 + dr + n0, 1 + dc : 1 + dc + n1]
        bwd = p[1 - dr : 1 - dr + n0, 1 - dc : 1 - dc + n1]
        keep |= sel & (mag >= bwd - eps) & (mag > fwd + eps)
    return keep & (mag > eps)


def canny_edges(
    image: np.ndarray,
    *,
    sigma: float | tuple[float, float] = 1.0,
    low: float = 2.0,
    high: float = 4.0,
    scale_quantile: float | None = 0.5,
) -> np.ndarray:
    """Canny edge map of an image (any real values; NaN is treated as the image median).

    Parameters
    ----------
    image : 2-D array
        The image (the log PSD for spectrograms).
    sigma : float or (float, float)
        Standard deviation (pixels; per axis if a pair) of the Gaussian smoothing.
    low, high : float
        Hysteresis thresholds on the Sobel gradient magnitude, in units of a gradient
        scale (see ``scale_quantile``): ridge pixels above ``high`` seed edges, which grow
        through 8-connected ridge pixels above ``low``.
    scale_quantile : float or None
        The scale is this quantile of the gradient magnitude over the whole image: with
        the default median, the typical gradient of the noise, so the thresholds are
        signal-to-noise ratios. None makes ``low`` and ``high`` absolute. (A noise-free
        image has a zero median gradient: every ridge pixel is then an edge.)

    Returns
    -------
    numpy.ndarray
        bool edge map, one pixel thick, on the bright side of each step.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((40, 40)); img[10:30, 12:28] = 1.0
    >>> e = canny_edges(img)
    >>> bool(e[10, 15]), bool(e[9, 15]), bool(e[20, 20])
    (True, False, False)
    """
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {img.shape}")
    bad = ~np.isfinite(img)
    if bad.any():
        img = np.where(bad, np.nanmedian(img) if (~bad).any() else 0.0, img)
    sm = ndi.gaussian_filter(img, sigma=sigma, mode="nearest") if np.any(sigma) else img
    gy = ndi.sobel(sm, axis=0, mode="nearest")
    gx = ndi.sobel(sm, axis=1, mode="nearest")
    mag = np.hypot(gx, gy)
    ridge = _nms(mag, gx, gy)
    if scale_quantile is not None:
        scale = float(np.quantile(mag, scale_quantile)) if mag.size else 0.0
    else:
        scale = 1.0
    strong = ridge & (mag > high * scale)
    weak = ridge & (mag > low * scale)
    if not strong.any():
        return np.zeros(img.shape, bool)
    lab, n = ndi.label(weak, structure=np.ones((3, 3), bool))
    seeded = np.zeros(n + 1, bool)
    seeded[np.unique(lab[strong])] = True
    seeded[0] = False
    return seeded[lab]


def canny_baseline(
    psd: np.ndarray | xr.DataArray,
    *,
    sigma: float | tuple[float, float] = (6.0, 2.0),
    low: float = 2.0,
    high: float = 4.0,
    close: int = 5,
    dilate: int = 2,
    min_pixels: int = 60,
    fmin_bin: int = 20,
    log10: bool = True,
    time_median: bool = True,
) -> np.ndarray | xr.DataArray:
    """Canny-edge baseline: edges of the log PSD, closed, hole-filled and dilated to a mask.

    Parameters
    ----------
    psd : (time, frequency) array or DataArray
        Linear PSD image (``log10=False``: an image already in log units).
    sigma, low, high :
        As for :func:`canny_edges`. The default smoothing is longer along time (6 blocks)
        than along frequency (2 bins): the fringes are long and thin, the noise is not.
    close : int
        Side of the square structure of the closing that joins broken edge segments into
        contours before holes are filled (0 or 1: none).
    dilate : int
        Dilation iterations after filling (thin contours of lines become bands).
    min_pixels : int
        Components smaller than this are dropped.
    fmin_bin : int
        Bins below this index are left out (the band-pass roll-off is a strong, permanent
        edge that is not a signal).
    log10 : bool
        Take ``log10`` of the input first.
    time_median : bool
        Subtract the image's median spectrum (median over time of each frequency) first,
        as :func:`beggan_labeller` does.

    Returns
    -------
    numpy.ndarray or xarray.DataArray
        bool mask (``canny`` for DataArray input).

    Examples
    --------
    >>> import numpy as np
    >>> img = np.ones((60, 60)); img[20:40, 20:40] = 100.0
    >>> m = canny_baseline(img, sigma=1.0, close=0, dilate=0, fmin_bin=0, min_pixels=0,
    ...                    time_median=False)
    >>> int(m.sum())
    400
    """
    arr, like = _as_array(psd)
    if log10:
        img, bad = _log_filled(arr)
    else:
        bad = ~np.isfinite(arr)
        img = arr
    if time_median:
        # the permanent spectral shape (band-pass roll-off, steady lines) is the strongest
        # edge of every night and would set the gradient scale: remove it first
        img = img - np.median(img, axis=0, keepdims=True)
    f0 = max(int(fmin_bin), 0)
    mask = np.zeros(img.shape, bool)
    mask[:, f0:] = canny_edges(img[:, f0:], sigma=sigma, low=low, high=high)
    if close > 1:
        pad = close
        mask = ndi.binary_closing(
            np.pad(mask, pad, mode="constant"), structure=np.ones((close, close), bool)
        )[pad:-pad, pad:-pad]
    mask = ndi.binary_fill_holes(mask)
    if dilate > 0:
        mask = ndi.binary_dilation(mask, iterations=int(dilate))
    mask[:, :f0] = False
    mask = _remove_small(mask, int(min_pixels), 1) & ~bad
    return _wrap(mask, like, "canny")


#: Names accepted by :func:`detect` (and by ``xspecseg evaluate`` as ``classical:<name>``).
DETECTORS = {"beggan": beggan_labeller, "canny": canny_baseline}


def detect(name: str, psd: np.ndarray | xr.DataArray, **kwargs: Any) -> Any:
    """Run a classical detector by name (``"beggan"`` or ``"canny"``, ``classical:`` optional).

    Examples
    --------
    >>> import numpy as np
    >>> detect("classical:beggan", np.ones((30, 40))).shape
    (30, 40)
    """
    key = name.split(":", 1)[1] if name.startswith("classical:") else name
    try:
        fn = DETECTORS[key]
    except KeyError:
        raise ValueError(
            f"unknown classical detector {name!r}; known: {sorted(DETECTORS)}"
        ) from None
    return fn(psd, **kwargs)
