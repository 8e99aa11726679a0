"""Event-level cuts a model recommends, tuned on its labelled training images.

A segmentation network trained where targets are common (synthetic half-orbits with the
anomaly rate scaled up, so that a crop holds one) meets far more clutter per target when
it runs at the real rate: at one CSES anomaly per ~22 half-orbits, regions it draws over
lightning-whistler storms and hiss edges outnumber the anomalies. Four event properties
separate most of them: true events change smoothly from row to row (see
:func:`xspecseg.events.impulsiveness`), the network is confident over their whole area,
and they have the shape of the training events (some kHz wide, under a few minutes
long), where hiss edges are narrow bands running for minutes. This module picks, on the
model's own training images, the cuts that keep a chosen share of the true events, and
writes them into the model's config; :func:`xspecseg.predict` passes them on and
:func:`xspecseg.extract_events` applies them by default.

With ``score=True`` the four cuts give way to one: a logistic
:class:`~xspecseg.events.score.EventScore` of every property (the four above, the
network's peak confidence and the event's :mod:`~xspecseg.events.context`: its contrast,
bright core and isolation in time and frequency), fitted on the same labelled events, and
a cut on it set by the false-alarm rate asked for.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from torch import nn

from .._atomic import atomic_write
from ..contract import card_of
from ..events import (
    CONTEXT_VARIABLES,
    EVENT_CUT_KEYS,
    EventScore,
    event_bandwidth,
    event_duration,
    extract_events,
)
from ..events.cuts import CUTS, PROPERTY_CUTS, EventCut
from ..events.score import DEFAULT_FEATURES
from ..models.checkpoint import CONFIG_FILE
from .dataset import SpectrogramDataset
from .imageset import ImageSet
from .loop import predict_images

__all__ = ["event_properties", "tune_event_filter", "write_event_filter"]

#: catalogue variables :func:`event_properties` keeps per event
_PROPERTIES = (
    "area_pixels",
    "mean_probability",
    "max_probability",
    "impulsiveness",
    *CONTEXT_VARIABLES,
)

#: row spacing (s) of training images whose meta does not say (cached before it did)
_ROW_SECONDS = {"halforbit": 2.048, "night": 100.0}


def event_properties(
    model: nn.Module, data: ImageSet, *, min_pixels: int = 50, progress: bool = False
) -> xr.Dataset:
    """Events the model finds on labelled images, with whether each is a true one.

    Each image is predicted whole, thresholded at the model's threshold and passed to
    :func:`xspecseg.extract_events` with its PSD and no event cuts. An event is *true*
    when a labelled pixel lies inside its time-frequency box.

    Returns
    -------
    xr.Dataset
        Dim ``event``: ``image``, ``true``, ``area_pixels``, ``mean_probability``,
        ``max_probability``, ``impulsiveness``, the context properties
        (:data:`~xspecseg.events.CONTEXT_VARIABLES`), ``bandwidth`` (Hz) and ``duration``
        (s), the properties :func:`tune_event_filter` cuts on or scores;
        ``attrs["images"]``: the images run, those without any event included;
        ``attrs["model_sha256"]`` and ``attrs["threshold"]``: the model they belong to.
    """
    from ..infer import _weights_sha256

    card = card_of(model)
    norm = card.representation if card is not None else None
    if card is not None and card.band and data.frequency is not None:
        data = data.crop_band(card.band)
    threshold = float(getattr(model, "threshold", card.threshold if card else 0.5))
    probs = predict_images(model, SpectrogramDataset(data, norm))
    freq = (
        np.asarray(data.frequency, float)
        if data.frequency is not None
        else np.arange(data.images[0].shape[1], dtype=float)
    )
    rows: dict[str, list[Any]] = {
        k: [] for k in ("image", "true", *_PROPERTIES, "bandwidth", "duration")
    }
    it = enumerate(zip(probs, data.images, data.masks))
    if progress:
        from tqdm import tqdm

        it = tqdm(it, total=len(probs), desc="events", unit="image")
    for i, (p, psd, mask) in it:
        meta = data.meta[i]
        row_s = float(meta.get("row_seconds") or _ROW_SECONDS.get(meta.get("kind"), 1.0))
        row = np.timedelta64(round(row_s * 1e9), "ns")
        time = np.datetime64("2000-01-01", "ns") + np.arange(p.shape[0]) * row
        coords = {"time": time, "frequency": freq}
        prob = xr.DataArray(p, dims=("time", "frequency"), coords=coords)
        cat = extract_events(
            prob,
            psd=xr.DataArray(psd, dims=("time", "frequency"), coords=coords),
            threshold=threshold,
            min_pixels=min_pixels,
            fringes=False,
            max_impulsiveness=None,
            min_mean_probability=None,
            min_bandwidth=None,
            max_duration=None,
            min_event_score=None,
            context=True,
            image_spans=[(0, p.shape[0])],  # each image is one whole unit
            compute_kwargs={"scheduler": "synchronous"},
        )
        r0 = np.searchsorted(time, cat.start_time.values)
        r1 = np.searchsorted(time, cat.end_time.values)
        c0 = np.searchsorted(freq, cat.f_min.values)
        c1 = np.searchsorted(freq, cat.f_max.values)
        for k in range(cat.sizes["event"]):
            rows["image"].append(i)
            rows["true"].append(bool(mask[r0[k] : r1[k] + 1, c0[k] : c1[k] + 1].any()))
        for key in _PROPERTIES:
            rows[key].extend(cat[key].values.tolist())
        rows["bandwidth"].extend(event_bandwidth(cat).tolist())
        rows["duration"].extend(event_duration(cat).tolist())
    out = xr.Dataset({k: ("event", np.asarray(v)) for k, v in rows.items()})
    out.attrs["images"] = len(probs)  # those without any event too
    out.attrs["model_sha256"] = _weights_sha256(model)
    out.attrs["threshold"] = threshold
    return out


def _quantile_cuts(
    props: xr.Dataset, true: np.ndarray, keep: float, cuts: Collection[EventCut]
) -> tuple[dict, np.ndarray]:
    """The ``cuts`` that each keep ``keep`` of the true events, and which events pass."""
    out: dict[str, Any] = {}
    passed = np.ones(true.size, dtype=bool)
    for prop, key in PROPERTY_CUTS.items():
        if prop not in props or prop not in cuts:
            continue
        upper = CUTS[key].upper
        x = np.asarray(props[prop].values, float)
        cut = float(np.nanquantile(x[true], keep if upper else 1.0 - keep))
        out[key] = round(cut, 4)
        # as select_events: NaN is kept
        passed &= ~(x > out[key]) if upper else ~(x < out[key])
    return out, passed


def _raise_probability_cut(
    props: xr.Dataset, true: np.ndarray, out: dict, passed: np.ndarray, allowed: int
) -> tuple[dict, np.ndarray, dict]:
    """``out`` with ``min_mean_probability`` raised until at most ``allowed`` other
    events pass, and which events then pass."""
    mp = np.asarray(props["mean_probability"].values, float)
    others = np.sort(mp[passed & ~true & np.isfinite(mp)])[::-1]
    stuck = int((passed & ~true & ~np.isfinite(mp)).sum())  # NaN passes every cut
    recorded = out.get("min_mean_probability")
    before = -np.inf if recorded is None else recorded
    room = max(allowed - stuck, 0)
    if room < others.size:
        # the smallest grid value above the first other event that must go
        cut = max(before, round(float(np.ceil(others[room] * 1e4 + 1e-6) / 1e4), 4))
        out = {**out, "min_mean_probability": cut}
        passed = passed & ~(mp < cut)
    met = int((passed & ~true).sum()) <= allowed
    return out, passed, {"min_mean_probability_before": recorded, "rate_met": met}


def tune_event_filter(
    props: xr.Dataset,
    keep: float = 0.95,
    *,
    max_false_per_image: float | None = None,
    images: int | None = None,
    score: bool = False,
    score_c: float = 0.1,
    score_features: tuple[str, ...] = DEFAULT_FEATURES,
    cuts: Collection[EventCut] = tuple(PROPERTY_CUTS),
) -> dict[str, Any]:
    """Cuts that each keep ``keep`` of the true events in ``props``.

    ``max_impulsiveness`` and ``max_duration`` are the ``keep`` quantiles of the true
    events' impulsiveness and duration, ``min_mean_probability`` and ``min_bandwidth``
    the ``1 - keep`` quantiles of their mean probability and bandwidth (a property
    ``props`` lacks, or one not named in ``cuts``, gets no cut). Also returns the share
    of true and of other events that pass all cuts, and the other events that pass per
    image.

    ``cuts`` names the properties to bound. A bound must say something about the
    events themselves, not about the training images: an IAR lasts from an hour to a
    whole night, and a network fragments it on training nights, so the longest training
    events are no upper bound on a real one's duration (IAR models leave ``duration``
    out).

    With ``max_false_per_image``, the operating point is set by the false-alarm rate a
    user asks for: ``min_mean_probability`` is raised to the lowest value (on a 1e-4
    grid) at which at most that many other events per image pass (``images``: those of
    ``props``, the ones without events included; ``props.attrs["images"]`` when not
    given). The shape cuts keep their ``keep`` share: the network's confidence is the
    dial, as a score threshold is for any detector. ``rate_met`` says whether the rate
    was reached (other events without a mean probability always pass).

    With ``score``, an :class:`~xspecseg.events.score.EventScore` of ``score_features``
    (inverse L2 strength ``score_c``) is fitted on ``props`` and is the only cut:
    ``min_event_score`` keeps ``keep`` of the true events or, with
    ``max_false_per_image``, is the lowest value (1e-4 grid) at which at most that many
    other events per image pass. The score itself is returned under ``event_score``.

    Examples
    --------
    >>> props = xr.Dataset({"true": ("event", [True] * 20 + [False] * 20),
    ...     "mean_probability": ("event", np.r_[np.linspace(0.8, 1, 20), np.full(20, 0.5)]),
    ...     "impulsiveness": ("event", np.r_[np.linspace(0.01, 0.05, 20), np.full(20, 0.3)])})
    >>> cuts = tune_event_filter(props, keep=0.9)
    >>> cuts["true_kept"] >= 0.8, cuts["other_kept"]
    (True, 0.0)
    >>> look_alikes = props.assign(  # confident, smooth: only a stricter cut parts them
    ...     mean_probability=props.mean_probability.where(props.true, 0.85),
    ...     impulsiveness=props.impulsiveness.where(props.true, 0.03))
    >>> cuts = tune_event_filter(look_alikes, images=40, max_false_per_image=0.1)
    >>> cuts["min_mean_probability"], cuts["other_per_image"], cuts["true_kept"]
    (0.8501, 0.0, 0.7)
    """
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"keep must lie in (0, 1], got {keep}")
    unknown = sorted(set(cuts) - set(PROPERTY_CUTS))
    if unknown:
        raise ValueError(f"unknown cut(s) {unknown}: choose from {list(PROPERTY_CUTS)}")
    true = props["true"].values.astype(bool)
    if true.sum() < 10:
        raise ValueError(
            f"only {int(true.sum())} true events: too few to tune event cuts (need >= 10)"
        )
    n_images = images if images is not None else props.attrs.get("images")
    if n_images is None:
        n_images = len(set(np.asarray(props["image"].values).tolist())) if "image" in props else 0
    n_images = int(n_images)
    extra: dict[str, Any] = {}
    allowed = None  # other events allowed in all, for an operating point set by the rate
    if max_false_per_image is not None:
        if not max_false_per_image >= 0:
            raise ValueError(f"max_false_per_image must be >= 0, got {max_false_per_image}")
        if n_images < 1:
            raise ValueError("max_false_per_image needs the number of images (images=)")
        allowed = int(np.floor(max_false_per_image * n_images + 1e-9))
        extra["max_false_per_image"] = float(max_false_per_image)
    if score:
        model = EventScore.fit(props, true, features=score_features, c=score_c)
        s = model(props)
        if allowed is None:
            cut = float(np.floor(np.quantile(s[true], 1.0 - keep) * 1e4) / 1e4)
        else:
            others = np.sort(s[~true])[::-1]
            # every event passes when the rate allows all the others
            cut = float(np.floor(s.min() * 1e4) / 1e4)
            if allowed < others.size:
                # the smallest grid value above the first other event that must go
                cut = float(np.ceil(others[allowed] * 1e4 + 1e-6) / 1e4)
            extra["rate_met"] = True
        cut = round(cut, 4)
        out = {"min_event_score": cut, "event_score": model.to_dict()}
        passed = ~(s < cut)
        extra["score_c"] = float(score_c)
    else:
        out, passed = _quantile_cuts(props, true, keep, cuts)
        extra["cuts"] = [c for c in PROPERTY_CUTS if c in cuts]
        if allowed is not None:
            out, passed, raised = _raise_probability_cut(props, true, out, passed, allowed)
            extra.update(raised)
    return {
        **out,
        "keep": float(keep),
        **extra,
        "true_events": int(true.sum()),
        "other_events": int((~true).sum()),
        "images": n_images,
        "true_kept": round(float(passed[true].mean()), 4),
        "other_kept": round(float(passed[~true].mean()), 4) if (~true).any() else None,
        "other_per_image": round(float((passed & ~true).sum() / n_images), 4) if n_images else None,
    }


def write_event_filter(
    model_dir: str | os.PathLike, cuts: dict[str, Any], command: str | None = None
) -> Path:
    """Record ``cuts`` in a model directory's ``config.json`` (weights untouched).

    The cuts (any of :data:`xspecseg.events.EVENT_CUT_KEYS` in ``cuts``) and the event
    score (``cuts["event_score"]``) become top-level keys beside ``threshold``, replacing
    all earlier ones; how they were tuned goes under ``event_filter``.
    """
    path = Path(model_dir) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no model config at {path}")
    cfg = json.loads(path.read_text())
    for key in EVENT_CUT_KEYS:
        cfg.pop(key, None)
        if cuts.get(key) is not None:
            cfg[key] = float(cuts[key])
    cfg.pop("event_score", None)
    if cuts.get("event_score") is not None:
        cfg["event_score"] = EventScore.from_dict(cuts["event_score"]).to_dict()
    skip = (*EVENT_CUT_KEYS, "event_score")
    cfg["event_filter"] = {k: v for k, v in cuts.items() if k not in skip} | (
        {"command": command} if command else {}
    )
    text = json.dumps(cfg, indent=2, sort_keys=True, allow_nan=False)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text + "\n"))
    return path
