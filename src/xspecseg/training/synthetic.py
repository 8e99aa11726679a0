"""Training sets from the synthetic generators: IAR nights and CSES-01 half-orbits.

:func:`synth_iar` generates a ground station's record (:func:`xspecseg.synth.ground_station`),
builds its cube and cuts its nights; :func:`synth_cses` writes synthetic half-orbit files
(:func:`xspecseg.synth.cses_orbits`), reads them and cuts the half-orbits. Both label
with the generator's truth, can draw a new world (station or instrument and season) for
every group of images (``domain="randomised"``), and cache what they generate, keyed by
every argument that changes it.

Examples
--------
>>> s = synth_iar(nights=1, seed=0)
>>> len(s), s.description["kind"]
(1, 'night')
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..config import CubeConfig
from ..cube import MissingComponentWarning, build_cube
from ..imageunits import DEFAULT_NIGHT
from ..io.cses import read_cses
from ..synth import cses_orbits, ground_station, randomised_cses_params, randomised_ground_params
from .images import DEFAULT_BAND, DEFAULT_CSES_BAND, from_cube, label_images
from .imageset import ImageSet

__all__ = ["Domain", "synth_cses", "synth_iar"]

#: Which synthetic parameters a training set draws: the defaults or randomised ones.
Domain = Literal["default", "randomised"]

# 2: no truth inside gaps; 3: a summed component falls back to the part with data
_CACHE_VERSION = 3


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
    default_share: float = 0.0,
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
    default_share : float
        ``domain="randomised"``: the share of stations (drawn per group, on a random
        stream of its own) that are the default station instead of a drawn one.
    truth_threshold : float
        Share of the expected power the IARs must hold for a pixel to be labelled (see
        :func:`xspecseg.synth.iar_truth`); 0.5 labels only fringes at least as strong as
        everything else there (peak-to-trough 2 and more), lower values faint fringes too.
    **params
        :class:`xspecseg.synth.GroundParams` overrides (on top of the randomised ones).

    Examples
    --------
    >>> s = synth_iar(nights=1, seed=0)
    >>> s.images[0].shape
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
            draw=randomised_ground_params,
            step_days=group,
            default_share=default_share,
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
    full = _cached(
        cache_dir,
        "synth-iar",
        key,
        lambda _: _generate_iar(
            nights, seed, start, components, iar, night, truth_threshold, params
        ),
    )
    out = full.crop_band(band)
    if labels != "truth":
        _, m = label_images(out.images, out.meta, labels)
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
    default_share: float = 0.0,
    **params: Any,
) -> ImageSet:
    """Synthetic CSES-01 half-orbits (Z component) with their truth masks.

    ``rate_scale`` multiplies the paper's anomaly rates so a short window holds enough
    anomalies to learn from (the real rate is about one per 25 half-orbits).
    ``domain="randomised"``: every ``group`` consecutive half-orbits come from their own
    instrument and season, drawn by :func:`xspecseg.synth.randomised_cses_params`
    (calibration, background, hiss, chorus, auroral hiss, whistler storms, lines, bursts,
    fill rows, anomaly size and contrast); groups start 23 days apart, so a set of a few
    hundred half-orbits spans the seasons. ``default_share`` of the groups (drawn per
    group) are the default instrument instead.

    Examples
    --------
    >>> s = synth_cses(halforbits=2, seed=0)
    >>> s.images[0].shape[1]
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
            draw=randomised_cses_params,
            step_days=23,
            default_share=default_share,
        )
    if domain != "default":
        raise ValueError(f"unknown domain {domain!r} (default, randomised)")
    key = {
        "v": _CACHE_VERSION,
        "halforbits": int(halforbits),
        "seed": int(seed),
        "start": str(start),
        "rate_scale": float(rate_scale),
        "params": params,
    }
    full = _cached(
        cache_dir,
        "synth-cses",
        key,
        lambda path: _generate_cses(halforbits, seed, start, rate_scale, params, path),
    )
    out = full.crop_band(band)
    out.description = {
        **out.description,
        "kind": "halforbit",  # what predict cuts the data into for a model trained on these
        "labels": "truth",
        "band": None if band is None else [float(band[0]), float(band[1])],
    }
    return out


def _cached(
    cache_dir: str | os.PathLike | None,
    source: str,
    key: dict[str, Any],
    make: Callable[[Path | None], ImageSet],
) -> ImageSet:
    """The images ``make(cache path)`` generates, from the cache when it holds them."""
    path = _cache_path(cache_dir, source, key)
    if path is not None and path.exists():
        return ImageSet.load(path)
    full = make(path)
    full.description = {"source": source, **key}
    if path is not None:
        full.save(path)
    return full


def _generate_iar(
    nights: int,
    seed: int,
    start: str,
    components: Sequence[str],
    iar: bool,
    night: tuple[str, str],
    truth_threshold: float,
    params: dict[str, Any],
) -> ImageSet:
    """The nights of a generated ground station, on the cube's whole frequency axis."""
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
        return from_cube(
            cube,
            labels="truth",
            components=tuple(components),
            night=night,
            band=(-np.inf, np.inf),
            truth_threshold=truth_threshold,
        )


def _generate_cses(
    halforbits: int,
    seed: int,
    start: str,
    rate_scale: float,
    params: dict[str, Any],
    path: Path | None,
) -> ImageSet:
    """Generated half-orbits; their files are kept beside the cache file ``path``."""
    # a half-orbit lasts ~47 min: ask for a window that holds enough of them
    days = (int(halforbits) + 1) / (2 * 15.2)
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = path.with_name(f"orbits-{path.stem}") if path is not None else Path(tmp)
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
    return full.subset(range(min(int(halforbits), len(full))))


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
    default_share: float = 0.0,
) -> ImageSet:
    """Images of ``n`` units in groups of ``group``, each group from its own drawn world.

    Group ``g`` starts ``g * step_days`` days after ``start`` and uses the parameters
    ``draw(seed * 1_000_003 + g)``: a set is the same whatever else is generated, and each
    group is cached on its own. A share ``default_share`` of the groups, chosen on a
    stream of their own (so the other groups keep their worlds), uses the default world.
    """
    if group < 1:
        raise ValueError(f"group must be >= 1, got {group}")
    if not 0.0 <= default_share <= 1.0:
        raise ValueError(f"default_share must lie in 0-1, got {default_share}")
    sets = []
    for g in range(-(-n // group)):
        rng = np.random.default_rng([seed, g, 0xD0A1])
        first = str((np.datetime64(str(start), "D") + g * step_days).astype("datetime64[D]"))
        default = np.random.default_rng([seed, g, 0xDEF0]).random() < default_share
        part = make(g, first, {} if default else draw(seed * 1_000_003 + g), rng)
        for m in part.meta:
            m["world"] = g
            if default_share > 0:
                m["default_world"] = bool(default)
        sets.append(part)
    desc = {
        **sets[0].description,
        "source": source,
        "domain": "randomised",
        "group": group,
        "units": n,
        "seed": seed,
        "start": str(start),
        **({"default_share": float(default_share)} if default_share > 0 else {}),
    }
    return ImageSet.concat(sets, desc)
