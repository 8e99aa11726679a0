"""Training images cut from spectrogram cubes, their labels and the torch Dataset.

An *image* is a ``(time, frequency)`` array of linear PSD:

- ground stations (IAR): one per (component, night), the night running from
  ``night[0]`` UT on the evening date to ``night[1]`` UT next morning (default
  18:00–06:00: 432 blocks of the IAR preset spanning two UTC days), cropped to a
  frequency ``band`` (default 0–6 Hz: 246 bins of the preset, which hold the fringes);
- CSES-01: one per half-orbit, Z component, 0–12.5 kHz (the ODM_Unet paper's images).

Labels (bool, True = signal) come from synthetic truth (:func:`xspecseg.synth.iar_truth`,
:func:`xspecseg.synth.cses_truth`), hand-drawn PNG masks (the IAR paper's Training Set
B: black = signal, any PNG size, resampled nearest onto the image grid) or the classical
labeller (:func:`xspecseg.classical.beggan_labeller`, the paper's Training Set A).

:class:`ImageSet` holds materialised images (nights are small: 432 x 246 float32 is
0.4 MB) and is what a Dask task rebuilds from a cheap description with :func:`load_data`.
The network input of an image is made by the model card's
:class:`~xspecseg.contract.InputRepresentation`, the same object inference uses.

Examples
--------
>>> import numpy as np
>>> imgs = ImageSet([np.full((8, 6), 10.0, np.float32)], [np.zeros((8, 6), bool)])
>>> x, y = SpectrogramDataset(imgs)[0]
>>> tuple(x.shape)
(1, 8, 6)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import xarray as xr
from torch.utils.data import Dataset

from ..contract import InputRepresentation
from ..cube import MissingComponentWarning

__all__ = [
    "DEFAULT_BAND",
    "DEFAULT_CSES_BAND",
    "DEFAULT_NIGHT",
    "ImageSet",
    "SpectrogramDataset",
    "cut_halforbits",
    "cut_nights",
    "from_cube",
    "load_data",
    "mask_from_png",
    "mask_to_png",
    "pad_collate",
    "parse_data",
    "synth_cses",
    "synth_iar",
]

Domain = Literal["default", "randomised"]

#: Default frequency band (Hz) of IAR images: the fringes lie between 0.5 and 6 Hz.
DEFAULT_BAND: tuple[float, float] = (0.0, 6.0)
#: Default night window (UT) of IAR images; it crosses midnight.
DEFAULT_NIGHT: tuple[str, str] = ("18:00", "06:00")
#: Default band (Hz) of CSES images: the nucleus-shaped anomalies lie in 0–12.5 kHz.
DEFAULT_CSES_BAND: tuple[float, float] = (0.0, 12_500.0)

# 2: no truth inside gaps; 3: a summed component falls back to the part with data
_CACHE_VERSION = 3


# -- image sets -----------------------------------------------------------------------------


@dataclasses.dataclass
class ImageSet:
    """Materialised images (linear PSD, ``(time, frequency)`` float32) with bool masks.

    Parameters
    ----------
    images, masks : list of 2-D arrays
        Same shapes pairwise; images may differ in size (CSES half-orbits do).
    meta : list of dict
        Per image: ``id`` (used for PNG mask file names), ``kind`` ("night" or
        "halforbit"), ``component``, ``night`` or ``orbit``/``direction``, ``start``.
    frequency : 1-D array or None
        The frequency axis shared by every image (Hz).
    description : dict
        How the set was made (kept in the model's provenance).

    Examples
    --------
    >>> s = ImageSet([np.ones((4, 3), np.float32)] * 3, [np.zeros((4, 3), bool)] * 3)
    >>> len(s.subset([0, 2]))
    2
    """

    images: list[np.ndarray]
    masks: list[np.ndarray]
    meta: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    frequency: np.ndarray | None = None
    description: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.images = [np.asarray(x, dtype=np.float32) for x in self.images]
        self.masks = [np.asarray(m, dtype=bool) for m in self.masks]
        if len(self.images) != len(self.masks):
            raise ValueError(f"{len(self.images)} images but {len(self.masks)} masks")
        for i, (x, m) in enumerate(zip(self.images, self.masks)):
            if x.ndim != 2 or x.shape != m.shape:
                raise ValueError(f"image {i}: shape {x.shape} vs mask {m.shape} (need 2-D)")
        if not self.meta:
            self.meta = [{"id": f"image{i:05d}"} for i in range(len(self.images))]
        if len(self.meta) != len(self.images):
            raise ValueError("meta must have one entry per image")

    def __len__(self) -> int:
        return len(self.images)

    @classmethod
    def concat(cls, sets: Sequence[ImageSet], description: dict[str, Any]) -> ImageSet:
        """One set holding the images of ``sets`` in order (they share a frequency axis)."""
        freqs = [s.frequency for s in sets if s.frequency is not None]
        if any(f.shape != freqs[0].shape or not np.array_equal(f, freqs[0]) for f in freqs):
            raise ValueError("cannot concatenate image sets on different frequency axes")
        return cls(
            [x for s in sets for x in s.images],
            [m for s in sets for m in s.masks],
            [dict(m) for s in sets for m in s.meta],
            frequency=freqs[0] if freqs else None,
            description=description,
        )

    def subset(self, index: Sequence[int]) -> ImageSet:
        idx = [int(i) for i in index]
        return ImageSet(
            [self.images[i] for i in idx],
            [self.masks[i] for i in idx],
            [self.meta[i] for i in idx],
            self.frequency,
            {**self.description, "subset": idx},
        )

    def crop_band(self, band: tuple[float, float] | None) -> ImageSet:
        """Keep the frequency bins with ``band[0] <= f <= band[1]``."""
        if band is None or self.frequency is None:
            return self
        sel = np.flatnonzero((self.frequency >= band[0]) & (self.frequency <= band[1]))
        if sel.size == 0:
            raise ValueError(f"band {band} selects no frequency bin")
        s = slice(int(sel[0]), int(sel[-1]) + 1)
        return ImageSet(
            [x[:, s] for x in self.images],
            [m[:, s] for m in self.masks],
            self.meta,
            self.frequency[s],
            {**self.description, "band": [float(band[0]), float(band[1])]},
        )

    def with_masks(self, masks: Sequence[np.ndarray], labels: str) -> ImageSet:
        return ImageSet(
            self.images,
            list(masks),
            self.meta,
            self.frequency,
            {**self.description, "labels": labels},
        )

    @property
    def positive_fraction(self) -> float:
        n = sum(m.size for m in self.masks)
        return float(sum(int(m.sum()) for m in self.masks) / n) if n else 0.0

    def save(self, path: str | os.PathLike) -> Path:
        """Write a ``.npz`` (no pickled objects; meta and description as JSON), atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        for i, (x, m) in enumerate(zip(self.images, self.masks)):
            arrays[f"image_{i:05d}"] = x
            arrays[f"mask_{i:05d}"] = m
        if self.frequency is not None:
            arrays["frequency"] = np.asarray(self.frequency, dtype=np.float64)
        arrays["meta"] = np.array(json.dumps(self.meta, default=str))
        arrays["description"] = np.array(json.dumps(self.description, default=str))
        # write then rename: a concurrent reader (another Dask worker) never sees half a file
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp.npz")
        os.close(fd)
        try:
            np.savez(tmp, **arrays)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> ImageSet:
        with np.load(path, allow_pickle=False) as z:
            n = sum(1 for k in z.files if k.startswith("image_"))
            images = [z[f"image_{i:05d}"] for i in range(n)]
            masks = [z[f"mask_{i:05d}"] for i in range(n)]
            freq = z["frequency"] if "frequency" in z.files else None
            meta = json.loads(str(z["meta"])) if "meta" in z.files else []
            desc = json.loads(str(z["description"])) if "description" in z.files else {}
        return cls(images, masks, meta, freq, desc)


# -- cutting images from cubes --------------------------------------------------------------


def _hours(hhmm: str | float) -> float:
    if isinstance(hhmm, int | float):
        return float(hhmm)
    h, _, m = str(hhmm).partition(":")
    return int(h) + (int(m) if m else 0) / 60.0


def _night_bounds(evening: np.datetime64, night: tuple[str, str]) -> tuple[Any, Any]:
    """[start, end) of the night whose evening is on ``evening`` (a date)."""
    h0, h1 = _hours(night[0]), _hours(night[1])
    d = np.datetime64(evening, "D").astype("datetime64[ns]")
    t0 = d + np.timedelta64(round(h0 * 3600e9), "ns")
    # a window ending at or before its start hour ends next day
    t1 = d + np.timedelta64(round((h1 + (24.0 if h1 <= h0 else 0.0)) * 3600e9), "ns")
    return t0, t1


def cut_nights(
    cube: xr.Dataset,
    *,
    components: Sequence[str] | None = None,
    night: tuple[str, str] = DEFAULT_NIGHT,
    band: tuple[float, float] | None = DEFAULT_BAND,
    complete_only: bool = True,
) -> list[xr.DataArray]:
    """One ``(time, frequency)`` image per (component, night) of a ground cube (lazy).

    Parameters
    ----------
    cube : xr.Dataset
        A spectrogram cube (``psd`` with dims component, time, frequency).
    components : sequence of str, optional
        Components to use (default: all); ``"H+D"`` is the summed PSD of H and D (see
        :func:`xspecseg.cube.select_component`).
    night : (str, str)
        UT window "HH:MM"; an end at or before the start is on the next day.
    band : (float, float) or None
        Frequency crop (Hz, inclusive); None keeps the cube's axis.
    complete_only : bool
        Skip nights that the cube's time axis does not cover entirely (first evening,
        last morning), so every image has the same number of blocks.

    Returns
    -------
    list of xr.DataArray
        Lazy slices of ``cube.psd``; attrs ``id`` (``YYYY-MM-DD_<component>``), ``kind``,
        ``component``, ``night`` (evening date).

    Examples
    --------
    >>> import xspecseg as xs                                   # doctest: +SKIP
    >>> cube = xs.build_cube(xs.synth.ground_station("2013-01-01", days=2))  # doctest: +SKIP
    >>> cut_nights(cube)[0].shape                               # doctest: +SKIP
    (432, 246)
    """
    from ..cube import select_component

    psd = cube["psd"]
    if band is not None:
        psd = psd.sel(frequency=slice(band[0], band[1]))
    comps = list(components) if components is not None else [str(c) for c in psd.component.values]
    times = np.asarray(psd["time"].values).astype("datetime64[ns]")
    if times.size == 0:
        return []
    block = times[1] - times[0] if times.size > 1 else np.timedelta64(0, "ns")
    t_end = times[-1] + block
    first = times[0].astype("datetime64[D]") - np.timedelta64(1, "D")
    last = times[-1].astype("datetime64[D]")
    out = []
    for day in np.arange(first, last + np.timedelta64(1, "D"), np.timedelta64(1, "D")):
        t0, t1 = _night_bounds(day, night)
        if complete_only and (t0 < times[0] or t1 > t_end):
            continue
        i0, i1 = np.searchsorted(times, [t0, t1])
        if i1 <= i0:
            continue
        for c in comps:
            img = select_component(psd, c).isel(time=slice(int(i0), int(i1)))
            img.attrs = {
                "id": f"{np.datetime_as_string(day, 'D')}_{c}",
                "kind": "night",
                "component": str(c),
                "night": str(np.datetime_as_string(day, "D")),
                "start": str(t0),
                "row_seconds": float(block / np.timedelta64(1, "s")),
            }
            out.append(img)
    return out


def cut_halforbits(
    sat: xr.Dataset, *, band: tuple[float, float] | None = DEFAULT_CSES_BAND
) -> list[xr.DataArray]:
    """One ``(time, frequency)`` image per half-orbit of a satellite cube (lazy).

    Examples
    --------
    >>> from xspecseg.io import read_cses                       # doctest: +SKIP
    >>> cut_halforbits(read_cses("orbits/"))[0].dims            # doctest: +SKIP
    ('time', 'frequency')
    """
    psd = sat["psd"]
    if band is not None:
        psd = psd.sel(frequency=slice(band[0], band[1]))
    orbit = np.asarray(sat["orbit"].values)
    direction = np.asarray(sat["orbit_direction"].values).astype(str)
    key = np.char.add(orbit.astype(str), direction)
    # runs of constant (orbit, direction) in time order
    edges = np.flatnonzero(key[1:] != key[:-1]) + 1
    starts = np.r_[0, edges]
    stops = np.r_[edges, key.size]
    times = np.asarray(psd["time"].values).astype("datetime64[ns]")
    row_seconds = (
        float(np.median(np.diff(times)) / np.timedelta64(1, "s")) if times.size > 1 else 0.0
    )
    out = []
    for a, b in zip(starts, stops):
        img = psd.isel(time=slice(int(a), int(b)))
        d = direction[a]
        img.attrs = {
            "id": f"{int(orbit[a]):05d}{1 if d.startswith('asc') else 0}",
            "kind": "halforbit",
            "component": str(sat.attrs.get("component", "Z")),
            "orbit": int(orbit[a]),
            "direction": str(d),
            "start": str(np.asarray(psd["time"].values[a])),
            "row_seconds": row_seconds,
        }
        out.append(img)
    return out


# -- PNG masks (Training Set B) ----------------------------------------------------------------


def mask_from_png(path: str | os.PathLike, shape: tuple[int, int]) -> np.ndarray:
    """Read a hand-drawn PNG mask onto a ``(time, frequency)`` image grid.

    The PNG shows the spectrogram as a person sees it: time runs left to right, frequency
    bottom to top, and **black pixels are signal** (luminance below one half). The PNG's
    extent is the image's extent, whatever its pixel size; each grid pixel takes the PNG
    pixel under its centre (nearest neighbour), so labels never blur.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> m = np.zeros((40, 20), bool); m[10:30, 5:8] = True
    >>> p = os.path.join(tempfile.mkdtemp(), "m.png"); _ = mask_to_png(m, p, scale=3)
    >>> bool((mask_from_png(p, (40, 20)) == m).all())
    True
    """
    from PIL import Image

    with Image.open(path) as im:
        lum = np.asarray(im.convert("L"), dtype=np.float32) / 255.0
    height, width = lum.shape  # PNG rows = frequency (top = high), columns = time
    nt, nf = int(shape[0]), int(shape[1])
    col = np.minimum(((np.arange(nt) + 0.5) * width / nt).astype(int), width - 1)
    # grid frequency index j is at height (j + 0.5) / nf from the bottom
    row = np.minimum(((nf - np.arange(nf) - 0.5) * height / nf).astype(int), height - 1)
    return lum[np.ix_(row, col)].T < 0.5


def mask_to_png(mask: np.ndarray, path: str | os.PathLike, *, scale: int = 1) -> Path:
    """Write a ``(time, frequency)`` mask as a PNG in :func:`mask_from_png`'s convention.

    Useful as a template to draw on: black = signal, time left to right, frequency up.
    """
    from PIL import Image

    m = np.asarray(mask, dtype=bool).T[::-1]  # rows: frequency, top = highest
    img = np.where(m, 0, 255).astype(np.uint8)
    if scale > 1:
        img = np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img, mode="L").save(path)
    return path


def _png_for(mask_dir: Path, meta: dict[str, Any]) -> Path | None:
    for name in (meta.get("id"), meta.get("night"), meta.get("orbit")):
        if name is None:
            continue
        p = mask_dir / f"{name}.png"
        if p.exists():
            return p
    return None


# -- image sets from cubes and synthetic test beds ----------------------------------------------


def _materialise(imgs: list[xr.DataArray]) -> list[np.ndarray]:
    import dask

    # threads: the cube kernels release the GIL; inside a Dask worker this runs inline
    with dask.config.set(scheduler="threads"):
        return [np.asarray(a) for a in dask.compute(*[i.data for i in imgs])]


def _labels(
    images: list[np.ndarray],
    meta: list[dict[str, Any]],
    labels: str,
    *,
    truth: list[np.ndarray] | None = None,
    masks: str | os.PathLike | None = None,
) -> tuple[list[int], list[np.ndarray]]:
    """Indices of the labelled images and their masks."""
    if labels == "truth":
        if truth is None:
            raise ValueError("labels='truth' needs a synthetic cube (with synth_params/truth)")
        return list(range(len(images))), truth
    if labels in ("beggan", "classical", "classical:beggan"):
        from ..classical import beggan_labeller

        return list(range(len(images))), [np.asarray(beggan_labeller(x)) for x in images]
    if labels == "png":
        if masks is None:
            raise ValueError("labels='png' needs a folder of masks")
        d = Path(masks)
        if not d.is_dir():
            raise FileNotFoundError(f"mask folder {d} does not exist")
        keep, out = [], []
        for i, (x, m) in enumerate(zip(images, meta)):
            p = _png_for(d, m)
            if p is not None:
                keep.append(i)
                out.append(mask_from_png(p, x.shape))
        if not keep:
            raise ValueError(
                f"no PNG mask in {d} matches an image; expected names like "
                f"{meta[0].get('id') if meta else 'YYYY-MM-DD_H'}.png"
            )
        return keep, out
    raise ValueError(f"unknown labels {labels!r}: use truth, png or beggan")


def from_cube(
    cube: xr.Dataset | str | os.PathLike,
    *,
    labels: str | None = None,
    masks: str | os.PathLike | None = None,
    components: Sequence[str] | None = None,
    night: tuple[str, str] = DEFAULT_NIGHT,
    band: tuple[float, float] | None = None,
    truth_threshold: float = 0.5,
) -> ImageSet:
    """Images of a ground cube (or cube store) or satellite cube, with their labels.

    Parameters
    ----------
    cube : Dataset or path
        A cube from :func:`xspecseg.build_cube` / :func:`xspecseg.open_cube` (nights are
        cut) or from :func:`xspecseg.io.read_cses` (half-orbits are cut); a path opens a
        cube store.
    labels : {"truth", "png", "beggan"}, optional
        Default: "png" when ``masks`` is given, else "truth" for synthetic cubes, else
        "beggan" (the classical labeller, the IAR paper's Training Set A).
    masks : path, optional
        Folder of hand-drawn PNG masks named ``<image id>.png`` (``2013-01-03_H.png``) or
        ``<night>.png`` (all components of that night) or, for CSES, ``<orbit><0|1>.png``.
        Images without a PNG are left out.
    components, night, band :
        As for :func:`cut_nights` (``band`` defaults to 0–6 Hz for ground cubes and
        0–12.5 kHz for CSES cubes).

    Examples
    --------
    >>> s = from_cube("site.zarr", masks="masks/")              # doctest: +SKIP
    """
    if not isinstance(cube, xr.Dataset):
        from ..cube import open_cube

        path = str(cube)
        cube = open_cube(path)
        source = {"source": "cube", "path": path}
    else:
        source = {"source": "cube", "path": None}
    satellite = "orbit" in cube.coords and "component" not in cube["psd"].dims
    if labels is None:
        synthetic = "synth_params" in cube.attrs
        labels = "png" if masks is not None else ("truth" if synthetic else "beggan")
    if satellite:
        band = DEFAULT_CSES_BAND if band is None else band
        cut = cut_halforbits(cube, band=band)
    else:
        band = DEFAULT_BAND if band is None else band
        cut = cut_nights(cube, components=components, night=night, band=band)
    if not cut:
        raise ValueError("the cube holds no complete night / half-orbit")
    images = _materialise(cut)
    meta = [dict(a.attrs) for a in cut]
    truth = None
    if labels == "truth":
        # a gap in the image (either part of H+D missing) records no signal
        truth = _truth_for(cube, cut, satellite, truth_threshold)
        truth = [t & np.isfinite(x) for t, x in zip(truth, images)]
    keep, mlist = _labels(images, meta, labels, truth=truth, masks=masks)
    freq = np.asarray(cut[0]["frequency"].values, dtype=np.float64)
    desc = {
        **source,
        "kind": "halforbit" if satellite else "night",
        "labels": labels,
        "masks": None if masks is None else str(masks),
        "night": list(night),
        "band": [float(band[0]), float(band[1])],
    }
    return ImageSet([images[i] for i in keep], mlist, [meta[i] for i in keep], freq, desc)


def _truth_for(
    cube: xr.Dataset, cut: list[xr.DataArray], satellite: bool, threshold: float = 0.5
) -> list[np.ndarray]:
    if satellite:
        from ..synth import cses_truth

        tr = cses_truth(cube)
        return _materialise([tr.sel(time=a["time"], frequency=a["frequency"]) for a in cut])
    from ..synth import iar_truth

    # the grid alone: the caller drops truth on the images' NaN pixels, and a lazy cube's
    # PSD would be computed a second time for iar_truth's own gap check
    full = iar_truth(cube.drop_vars("psd"), threshold=threshold)
    return [
        np.asarray(full.sel(time=a["time"], frequency=a["frequency"]).values, dtype=bool)
        for a in cut
    ]


def _cache_path(cache_dir: str | os.PathLike | None, kind: str, key: dict[str, Any]) -> Path | None:
    if cache_dir is None:
        return None
    h = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return Path(cache_dir) / f"{kind}-{h}.npz"


def synth_iar(
    nights: int = 8,
    seed: int = 0,
    *,
    start: str = "2013-01-01",
    components: Sequence[str] = ("H",),
    iar: bool = True,
    labels: str = "truth",
    night: tuple[str, str] = DEFAULT_NIGHT,
    band: tuple[float, float] | None = DEFAULT_BAND,
    cache_dir: str | os.PathLike | None = None,
    domain: Domain = "default",
    group: int = 4,
    truth_threshold: float = 0.5,
    **params: Any,
) -> ImageSet:
    """Synthetic IAR nights (``ground_station`` + ``build_cube``) with their labels.

    Parameters
    ----------
    nights : int
        Number of consecutive nights from the evening of ``start``.
    seed : int
        Seed of :func:`xspecseg.synth.ground_station` (use another seed for held-out data).
    start : str
        First evening (UTC date); the default is in winter, when IARs are frequent.
    components : sequence of str
        Components (one image per component and night); ``"H+D"``: the summed PSD of
        H and D, both generated (the horizontal field's PSD, half the Welch variance).
    iar : bool
        False generates IAR-free nights (for false-positive rates); masks are then empty.
    labels : {"truth", "beggan"}
        Synthetic truth or the classical labeller's masks (Training Set A).
    night, band :
        As for :func:`cut_nights`.
    cache_dir : path, optional
        Folder caching the generated nights (full 0–10 Hz axis, keyed by every argument
        that changes them): a rerun loads them instead of generating again.
    domain : {"default", "randomised"}
        ``"randomised"``: every ``group`` consecutive nights come from their own station,
        drawn by :func:`xspecseg.synth.randomised_ground_params` (unit, background slope,
        Schumann, fringe count, spacing and faintness, night-time look-alikes, gaps, a
        missing component), and each group's images are of one of ``components`` drawn
        at random (a model for the horizontal field learns H, D and H+D alike).
    group : int
        Nights per randomised station.
    truth_threshold : float
        Share of the expected power the IARs must hold for a pixel to be labelled (see
        :func:`xspecseg.synth.iar_truth`); 0.5 labels only fringes at least as strong as
        everything else there (peak-to-trough 2 and more), lower values faint fringes too.
    **params
        :class:`xspecseg.synth.GroundParams` overrides (on top of the randomised ones).

    Examples
    --------
    >>> s = synth_iar(nights=2, seed=0)                          # doctest: +SKIP
    >>> s.images[0].shape                                        # doctest: +SKIP
    (432, 246)
    """
    if domain == "randomised":
        return _randomised_groups(
            "synth-iar",
            int(nights),
            int(group),
            seed=int(seed),
            start=start,
            make=lambda g, first, over, rng: synth_iar(
                nights=len(range(g * group, min(nights, (g + 1) * group))),
                seed=int(seed),
                start=first,
                components=(str(rng.choice(list(components))),),
                iar=iar,
                labels=labels,
                night=night,
                band=band,
                cache_dir=cache_dir,
                truth_threshold=truth_threshold,
                **{**over, **params},
            ),
            draw=_randomised_ground,
            step_days=group,
        )
    if domain != "default":
        raise ValueError(f"unknown domain {domain!r} (default, randomised)")
    key = {
        "v": _CACHE_VERSION,
        "nights": int(nights),
        "seed": int(seed),
        "start": str(start),
        "components": list(components),
        "iar": bool(iar),
        "night": list(night),
        "params": params,
        **({} if truth_threshold == 0.5 else {"truth_threshold": float(truth_threshold)}),
    }
    path = _cache_path(cache_dir, "synth-iar", key)
    if path is not None and path.exists():
        full = ImageSet.load(path)
    else:
        from ..config import CubeConfig
        from ..cube import build_cube
        from ..synth import ground_station

        parts = tuple(dict.fromkeys(p for c in components for p in str(c).split("+")))
        wave = ground_station(
            start=start,
            days=int(nights) + 1,
            seed=int(seed),
            components=parts,
            iar=bool(iar),
            **params,
        )
        cube = build_cube(wave, CubeConfig.preset("iar"))
        with warnings.catch_warnings():
            # a missing component is part of the randomised worlds; the image says so
            warnings.simplefilter("ignore", MissingComponentWarning)
            full = from_cube(
                cube,
                labels="truth",
                components=tuple(components),
                night=night,
                band=(-np.inf, np.inf),
                truth_threshold=truth_threshold,
            )
        full.description = {"source": "synth-iar", **key}
        if path is not None:
            full.save(path)
    out = full.crop_band(band)
    if labels != "truth":
        _, m = _labels(out.images, out.meta, labels)
        out = out.with_masks(m, labels)
    out.description = {
        **out.description,
        "kind": "night",
        "labels": labels,
        "band": None if band is None else [float(band[0]), float(band[1])],
    }
    return out


def synth_cses(
    halforbits: int = 4,
    seed: int = 0,
    *,
    start: str = "2021-11-01",
    rate_scale: float = 20.0,
    band: tuple[float, float] | None = DEFAULT_CSES_BAND,
    cache_dir: str | os.PathLike | None = None,
    domain: Domain = "default",
    group: int = 16,
    **params: Any,
) -> ImageSet:
    """Synthetic CSES-01 half-orbits (Z component) with their truth masks.

    ``rate_scale`` multiplies the paper's anomaly rates so a short window holds enough
    anomalies to learn from (the real rate is about one per 25 half-orbits).
    ``domain="randomised"``: every ``group`` consecutive half-orbits come from their own
    instrument and season, drawn by :func:`xspecseg.synth.randomised_cses_params`
    (calibration, background, hiss, chorus, auroral hiss, whistler storms, lines, bursts,
    fill rows, anomaly size and contrast); groups start 23 days apart, so a set of a few
    hundred half-orbits spans the seasons.

    Examples
    --------
    >>> s = synth_cses(halforbits=2, seed=0)                     # doctest: +SKIP
    >>> s.images[0].shape[1]                                     # doctest: +SKIP
    501
    """
    if domain == "randomised":
        return _randomised_groups(
            "synth-cses",
            int(halforbits),
            int(group),
            seed=int(seed),
            start=start,
            make=lambda g, first, over, rng: synth_cses(
                halforbits=len(range(g * group, min(halforbits, (g + 1) * group))),
                seed=int(seed),
                start=first,
                rate_scale=rate_scale,
                band=band,
                cache_dir=cache_dir,
                **{**over, **params},
            ),
            draw=_randomised_cses,
            step_days=23,
        )
    if domain != "default":
        raise ValueError(f"unknown domain {domain!r} (default, randomised)")
    from ..io.cses import read_cses
    from ..synth import cses_orbits

    key = {
        "v": _CACHE_VERSION,
        "halforbits": int(halforbits),
        "seed": int(seed),
        "start": str(start),
        "rate_scale": float(rate_scale),
        "params": params,
    }
    path = _cache_path(cache_dir, "synth-cses", key)
    if path is not None and path.exists():
        full = ImageSet.load(path)
    else:
        # a half-orbit lasts ~47 min: ask for a window that holds enough of them
        days = (int(halforbits) + 1) / (2 * 15.2)
        with tempfile.TemporaryDirectory() as tmp:
            out_dir = Path(cache_dir) / f"orbits-{path.stem}" if path is not None else Path(tmp)
            files = cses_orbits(
                start=start,
                days=days,
                seed=int(seed),
                out_dir=out_dir,
                rate_scale=float(rate_scale),
                components=("Z",),
                **params,
            )
            sat = read_cses(files, component="Z")
            full = from_cube(sat, labels="truth", band=(-np.inf, np.inf))
        full = full.subset(range(min(int(halforbits), len(full))))
        full.description = {"source": "synth-cses", **key}
        if path is not None:
            full.save(path)
    out = full.crop_band(band)
    out.description = {
        **out.description,
        "kind": "halforbit",  # what predict cuts the data into for a model trained on these
        "labels": "truth",
        "band": None if band is None else [float(band[0]), float(band[1])],
    }
    return out


def _randomised_ground(seed: int) -> dict[str, Any]:
    from ..synth import randomised_ground_params

    return randomised_ground_params(seed)


def _randomised_cses(seed: int) -> dict[str, Any]:
    from ..synth import randomised_cses_params

    return randomised_cses_params(seed)


def _randomised_groups(
    source: str,
    n: int,
    group: int,
    *,
    seed: int,
    start: str,
    make: Any,
    draw: Any,
    step_days: int,
) -> ImageSet:
    """Images of ``n`` units in groups of ``group``, each group from its own drawn world.

    Group ``g`` starts ``g * step_days`` days after ``start`` and uses the parameters
    ``draw(seed * 1_000_003 + g)``: a set is the same whatever else is generated, and each
    group is cached on its own.
    """
    if group < 1:
        raise ValueError(f"group must be >= 1, got {group}")
    sets = []
    for g in range(-(-n // group)):
        rng = np.random.default_rng([seed, g, 0xD0A1])
        first = str((np.datetime64(str(start), "D") + g * step_days).astype("datetime64[D]"))
        part = make(g, first, draw(seed * 1_000_003 + g), rng)
        for m in part.meta:
            m["world"] = g
        sets.append(part)
    desc = {
        **sets[0].description,
        "source": source,
        "domain": "randomised",
        "group": group,
        "units": n,
        "seed": seed,
        "start": str(start),
    }
    return ImageSet.concat(sets, desc)


def load_data(spec: dict[str, Any]) -> ImageSet:
    """Build an :class:`ImageSet` from a cheap, picklable description.

    ``spec["source"]`` is ``"synth-iar"`` (keywords of :func:`synth_iar`),
    ``"synth-cses"`` (of :func:`synth_cses`), ``"cube"`` (``path`` plus keywords of
    :func:`from_cube`) or ``"npz"`` (``path`` of a saved :class:`ImageSet`, optional
    ``band``). Dask tasks receive this instead of arrays, so nothing large is shipped.

    Examples
    --------
    >>> load_data({"source": "synth-iar", "nights": 2, "seed": 0})  # doctest: +SKIP
    """
    spec = dict(spec)
    source = spec.pop("source")
    for k in ("band", "night"):
        if k in spec and spec[k] is not None:
            spec[k] = tuple(spec[k])
    if "components" in spec and spec["components"] is not None:
        spec["components"] = tuple(spec["components"])
    if source == "synth-iar":
        return synth_iar(**spec)
    if source == "synth-cses":
        return synth_cses(**spec)
    if source == "cube":
        path = spec.pop("path")
        return from_cube(path, **spec)
    if source == "npz":
        s = ImageSet.load(spec["path"])
        return s.crop_band(spec.get("band"))
    raise ValueError(f"unknown data source {source!r}")


def parse_data(text: str, **kwargs: Any) -> dict[str, Any]:
    """A data spec from the command-line form: ``synth-iar``, ``synth-cses``,
    ``cube:PATH`` or ``npz:PATH``; keywords are added to the spec (None dropped).

    Examples
    --------
    >>> parse_data("cube:site.zarr", masks="masks/")
    {'source': 'cube', 'path': 'site.zarr', 'masks': 'masks/'}
    """
    kw = {k: v for k, v in kwargs.items() if v is not None}
    if text in ("synth-iar", "synth-cses"):
        return {"source": text, **kw}
    for prefix in ("cube", "npz"):
        if text.startswith(prefix + ":"):
            return {"source": prefix, "path": text[len(prefix) + 1 :], **kw}
    raise ValueError(f"unknown data {text!r}: use synth-iar, synth-cses, cube:PATH or npz:PATH")


# -- torch Dataset ----------------------------------------------------------------------------------


class SpectrogramDataset(Dataset):
    """A ``torch.utils.data.Dataset`` of normalised images and float masks.

    Items are ``(x, y)``: ``x`` (1, H, W) float32 normalised log PSD, ``y`` (1, H, W)
    float32 in {0, 1}. H is time and W frequency, as in the cube.

    Parameters
    ----------
    data : ImageSet
        The images (linear PSD) and masks.
    representation : InputRepresentation, optional
        How an image becomes the network input; a ``"log-relative"`` one is fitted on
        ``data`` when not given (do that on the training set only and pass the same object
        to validation and test sets). Applied to whole images, before any crop.
    augment : Augment or str or None
        Random augmentation (:class:`xspecseg.training.augment.Augment`); None for none.
    crop : (int, int), optional
        Random crop of this size (clipped to the image) per item; images of different
        sizes need it (or batch size 1).
    positive_crop : float
        Share of crops placed so that they hold a randomly chosen signal pixel (anywhere
        in the crop); the others are uniform. Rare targets (CSES anomalies cover ~1 % of
        a half-orbit) are otherwise almost never seen by a network trained on crops.
    hard_crop : float
        Share of crops placed so that they hold a *hard negative*: a non-signal pixel
        among the brightest ``hard_quantile`` share of the image's non-signal pixels,
        brightness measured as log PSD above its frequency bin's median over time
        (lightning-whistler storms, transmitter bursts, hiss edges). A network that
        meets those mostly in uniform crops learns to call bright clutter signal, which
        at the real rate of anomalies swamps the true detections. ``positive_crop +
        hard_crop`` must not exceed 1; the rest of the crops are uniform.
    hard_quantile : float
        Share of non-signal pixels that count as hard negatives (default 0.01).
    seed : int
        Augmentations and crops of item ``i`` in epoch ``e`` are drawn from a generator
        seeded by ``(seed, e, i)``: reproducible, order- and worker-independent.

    Examples
    --------
    >>> s = ImageSet([np.ones((16, 8), np.float32)], [np.zeros((16, 8), bool)])
    >>> x, y = SpectrogramDataset(s)[0]
    >>> tuple(x.shape), tuple(y.shape)
    ((1, 16, 8), (1, 16, 8))
    """

    def __init__(
        self,
        data: ImageSet,
        representation: InputRepresentation | None = None,
        *,
        augment: Any = None,
        crop: tuple[int, int] | None = None,
        positive_crop: float = 0.0,
        hard_crop: float = 0.0,
        hard_quantile: float = 0.01,
        seed: int = 0,
    ) -> None:
        from .augment import as_augment

        if not 0.0 <= float(positive_crop) <= 1.0:
            raise ValueError(f"positive_crop must lie in [0, 1], got {positive_crop}")
        if not 0.0 <= float(hard_crop) <= 1.0 - float(positive_crop):
            raise ValueError(
                f"hard_crop must lie in [0, 1 - positive_crop], got {hard_crop} "
                f"(positive_crop {positive_crop})"
            )
        if not 0.0 < float(hard_quantile) <= 1.0:
            raise ValueError(f"hard_quantile must lie in (0, 1], got {hard_quantile}")
        self.data = data
        self.representation = representation or InputRepresentation.fit(data.images)
        self._inputs: dict[int, np.ndarray] = {}
        self.augment = as_augment(augment)
        self.crop = None if crop is None else (int(crop[0]), int(crop[1]))
        self.positive_crop = float(positive_crop)
        self.hard_crop = float(hard_crop)
        self.hard_quantile = float(hard_quantile)
        self.seed = int(seed)
        self.epoch = 0
        self._hard: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.data)

    def set_epoch(self, epoch: int) -> None:
        """Select the random draws of ``epoch`` (called by the training loop)."""
        self.epoch = int(epoch)

    def with_options(self, **kw: Any) -> SpectrogramDataset:
        """A copy sharing the images, with other ``augment``/``crop``/``seed``/representation."""
        args = {
            "representation": self.representation,
            "augment": self.augment,
            "crop": self.crop,
            "positive_crop": self.positive_crop,
            "hard_crop": self.hard_crop,
            "hard_quantile": self.hard_quantile,
            "seed": self.seed,
        }
        args.update(kw)
        rep = args.pop("representation")
        out = SpectrogramDataset(self.data, rep, **args)
        if rep == self.representation:
            out._inputs = self._inputs  # same images, same inputs: share the cache
        return out

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, int(index), 0x5EC])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.network_input(index)
        y = self.data.masks[index]
        rng = self._rng(index)
        if self.crop is not None:
            ch, cw = min(self.crop[0], x.shape[0]), min(self.crop[1], x.shape[1])
            hard = self._hard_negatives(index) if self.hard_crop else None
            i0, j0 = _crop_origin(
                y, (ch, cw), self.positive_crop, rng, hard=hard, hard_share=self.hard_crop
            )
            x = x[i0 : i0 + ch, j0 : j0 + cw]
            y = y[i0 : i0 + ch, j0 : j0 + cw]
        xt = torch.from_numpy(np.ascontiguousarray(x))[None]
        yt = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))[None]
        if self.augment is not None:
            xt, yt = self.augment(xt, yt, rng)
        return xt, yt

    def network_input(self, index: int) -> np.ndarray:
        """The representation of whole image ``index`` (computed once, then cached)."""
        x = self._inputs.get(index)
        if x is None:
            x = self._inputs[index] = self.representation(self.data.images[index])
        return x

    def _hard_negatives(self, index: int) -> np.ndarray:
        if index not in self._hard:
            self._hard[index] = hard_negatives(
                self.data.images[index], self.data.masks[index], self.hard_quantile
            )
        return self._hard[index]


def hard_negatives(psd: np.ndarray, mask: np.ndarray, quantile: float = 0.01) -> np.ndarray:
    """Flat indices of the brightest non-signal pixels of a (time, frequency) image.

    Brightness is ``log10(psd)`` minus its median over time in each frequency bin, so a
    bin that is loud all along (a transmitter line, the low-frequency background) does
    not count, while a burst above its own bin's level does.

    Examples
    --------
    >>> psd = np.ones((8, 4)); psd[2, 1] = 100.0; psd[5, 3] = 10.0
    >>> mask = np.zeros((8, 4), bool); mask[5, 3] = True
    >>> np.unravel_index(hard_negatives(psd, mask, 1 / 31), psd.shape)
    (array([2]), array([1]))
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        lg = np.log10(np.asarray(psd, dtype=np.float64))
    excess = lg - np.nanmedian(np.where(np.isfinite(lg), lg, np.nan), axis=0, keepdims=True)
    candidates = ~np.asarray(mask, bool) & np.isfinite(excess)
    values = excess[candidates]
    if not values.size:
        return np.empty(0, np.int64)
    k = max(1, round(quantile * values.size))
    cut = np.partition(values, values.size - k)[values.size - k]
    return np.flatnonzero(candidates & (excess >= cut))


def _crop_origin(
    mask: np.ndarray,
    size: tuple[int, int],
    positive: float,
    rng: np.random.Generator,
    *,
    hard: np.ndarray | None = None,
    hard_share: float = 0.0,
) -> tuple[int, int]:
    h, w = mask.shape
    ch, cw = size
    # draw the coin first so the stream of draws does not depend on the mask's content
    coin = rng.random()
    hits = None
    if coin < positive:
        hits = np.flatnonzero(mask)
    elif coin < positive + hard_share and hard is not None:
        hits = hard
    if hits is not None:
        if hits.size:
            pi, pj = np.unravel_index(int(hits[rng.integers(hits.size)]), mask.shape)
            lo_i, hi_i = max(0, pi - ch + 1), min(pi, h - ch)
            lo_j, hi_j = max(0, pj - cw + 1), min(pj, w - cw)
            return int(rng.integers(lo_i, hi_i + 1)), int(rng.integers(lo_j, hi_j + 1))
    return int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))


def pad_collate(
    batch: list[tuple[torch.Tensor, torch.Tensor]], fill: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ``(x, y)`` items, padding smaller ones at the end (x with ``fill``, y with 0).

    Padding counts as background in the loss; crop images of different sizes instead
    where that matters.
    """
    h = max(int(x.shape[-2]) for x, _ in batch)
    w = max(int(x.shape[-1]) for x, _ in batch)
    xs, ys = [], []
    for x, y in batch:
        ph, pw = h - x.shape[-2], w - x.shape[-1]
        if ph or pw:
            x = torch.nn.functional.pad(x, (0, pw, 0, ph), value=fill)
            y = torch.nn.functional.pad(y, (0, pw, 0, ph), value=0.0)
        xs.append(x)
        ys.append(y)
    return torch.stack(xs), torch.stack(ys)
