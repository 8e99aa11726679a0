"""Training images cut from records, with their labels.

An *image* is a ``(time, frequency)`` array of linear PSD, one whole image unit of the
record, cut by :mod:`xspecseg.imageunits` exactly as inference cuts it:

- ground stations (IAR): one per (component, night), the night running from
  ``night[0]`` UT on the evening date to ``night[1]`` UT next morning (default
  18:00–06:00: 432 blocks of the IAR preset spanning two UTC days), cropped to a
  frequency ``band`` (default 0–6 Hz: 246 bins of the preset, which hold the fringes);
- CSES-01: one per half-orbit, Z component, 0–12.5 kHz (the ODM_Unet paper's images).

Labels (bool, True = signal) come from synthetic truth (:func:`xspecseg.synth.iar_truth`,
:func:`xspecseg.synth.cses_truth`), hand-drawn PNG masks
(:mod:`xspecseg.training.pngmasks`, the IAR paper's Training Set B) or the classical
labeller (:func:`xspecseg.classical.beggan_labeller`, the paper's Training Set A).

Examples
--------
>>> import xspecseg as xs
>>> wave = xs.synth.ground_station("2013-01-01", days=2, components=("H",))
>>> [img.attrs["id"] for img in cut_nights(xs.build_cube(wave))]
['2013-01-01_H']
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import dask
import numpy as np
import xarray as xr

from ..classical import beggan_labeller
from ..cube import open_cube, select_component
from ..imageunits import DEFAULT_NIGHT, halforbit_spans, nights
from ..synth import cses_truth, iar_truth
from .imageset import ImageSet
from .pngmasks import masks_from_folder

__all__ = [
    "DEFAULT_BAND",
    "DEFAULT_CSES_BAND",
    "DEFAULT_NIGHT",
    "cut_halforbits",
    "cut_nights",
    "from_cube",
    "label_images",
]

#: Default frequency band (Hz) of IAR images: the fringes lie between 0.5 and 6 Hz.
DEFAULT_BAND: tuple[float, float] = (0.0, 6.0)
#: Default band (Hz) of CSES images: the nucleus-shaped anomalies lie in 0–12.5 kHz.
DEFAULT_CSES_BAND: tuple[float, float] = (0.0, 12_500.0)


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
    >>> import xspecseg as xs
    >>> wave = xs.synth.ground_station("2013-01-01", days=2, components=("H",))
    >>> cut_nights(xs.build_cube(wave))[0].shape
    (432, 246)
    """
    psd = cube["psd"]
    if band is not None:
        psd = psd.sel(frequency=slice(band[0], band[1]))
    comps = list(components) if components is not None else [str(c) for c in psd.component.values]
    times = np.asarray(psd["time"].values).astype("datetime64[ns]")
    block = times[1] - times[0] if times.size > 1 else np.timedelta64(0, "ns")
    out = []
    for unit in nights(times, night, complete_only=complete_only):
        evening = str(np.datetime_as_string(unit.evening, "D"))
        for c in comps:
            img = select_component(psd, c).isel(time=slice(*unit.rows))
            img.attrs = {
                "id": f"{evening}_{c}",
                "kind": "night",
                "component": str(c),
                "night": evening,
                "start": str(unit.start),
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
    >>> from xspecseg.io import read_cses
    >>> from xspecseg.synth import cses_orbits
    >>> _ = cses_orbits("2021-11-01", days=0.05, seed=0, out_dir="orbits/")
    >>> cut_halforbits(read_cses("orbits/"))[0].dims
    ('time', 'frequency')
    """
    psd = sat["psd"]
    if band is not None:
        psd = psd.sel(frequency=slice(band[0], band[1]))
    orbit = np.asarray(sat["orbit"].values)
    direction = np.asarray(sat["orbit_direction"].values).astype(str)
    times = np.asarray(psd["time"].values).astype("datetime64[ns]")
    row_seconds = (
        float(np.median(np.diff(times)) / np.timedelta64(1, "s")) if times.size > 1 else 0.0
    )
    out = []
    for a, b in halforbit_spans(orbit, direction):
        img = psd.isel(time=slice(a, b))
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


def _materialise(imgs: list[xr.DataArray]) -> list[np.ndarray]:
    # threads: the cube kernels release the GIL; inside a Dask worker this runs inline
    with dask.config.set(scheduler="threads"):
        return [np.asarray(a) for a in dask.compute(*[i.data for i in imgs])]


def label_images(
    images: list[np.ndarray],
    meta: list[dict[str, Any]],
    labels: str,
    *,
    truth: list[np.ndarray] | None = None,
    masks: str | os.PathLike | None = None,
) -> tuple[list[int], list[np.ndarray]]:
    """Indices of the labelled images and their masks.

    Parameters
    ----------
    images : list of 2-D arrays
        Linear PSD images.
    meta : list of dict
        Their metadata (names of PNG masks).
    labels : {"truth", "png", "beggan"}
        Where the masks come from: ``truth`` (given), a folder of PNG ``masks`` (images
        without one are left out) or the classical labeller.
    truth : list of 2-D bool arrays, optional
        The synthetic truth of ``labels="truth"``.
    masks : path, optional
        The folder of ``labels="png"``.

    Examples
    --------
    >>> img = np.ones((40, 40), np.float32)
    >>> keep, masks = label_images([img], [{}], "beggan")
    >>> keep, masks[0].shape
    ([0], (40, 40))
    """
    if labels == "truth":
        if truth is None:
            raise ValueError("labels='truth' needs a synthetic cube (with synth_params/truth)")
        return list(range(len(images))), truth
    if labels in ("beggan", "classical", "classical:beggan"):
        return list(range(len(images))), [np.asarray(beggan_labeller(x)) for x in images]
    if labels == "png":
        if masks is None:
            raise ValueError("labels='png' needs a folder of masks")
        return masks_from_folder(masks, images, meta)
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
    A two-day cube, and a mask for its one whole night (the synthetic truth standing in
    for a drawing):

    >>> import os
    >>> import xspecseg as xs
    >>> wave = xs.synth.ground_station("2013-01-20", days=2, seed=11, components=("H",))
    >>> _ = xs.write_cube(xs.build_cube(wave), "site.zarr", progress=False)
    >>> truth = from_cube("site.zarr", labels="truth")
    >>> os.makedirs("masks")
    >>> from xspecseg.training.pngmasks import mask_to_png
    >>> _ = mask_to_png(truth.masks[0], f"masks/{truth.meta[0]['id']}.png")
    >>> s = from_cube("site.zarr", masks="masks/")
    >>> [m["id"] for m in s.meta]
    ['2013-01-20_H']
    """
    if not isinstance(cube, xr.Dataset):
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
    keep, mlist = label_images(images, meta, labels, truth=truth, masks=masks)
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
        tr = cses_truth(cube)
        return _materialise([tr.sel(time=a["time"], frequency=a["frequency"]) for a in cut])
    # the grid alone: the caller drops truth on the images' NaN pixels, and a lazy cube's
    # PSD would be computed a second time for iar_truth's own gap check
    full = iar_truth(cube.drop_vars("psd"), threshold=threshold)
    return [
        np.asarray(full.sel(time=a["time"], frequency=a["frequency"]).values, dtype=bool)
        for a in cut
    ]
