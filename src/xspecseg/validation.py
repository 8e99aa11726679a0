"""Whole-chain validation: cube -> detector -> events, scored against a known truth.

Pixel scores alone hide what a researcher sees in a catalogue, so a detector is run here
exactly as a user runs it (:func:`xspecseg.predict` and :func:`xspecseg.extract_events`
with the model's own threshold and event cuts; a classical labeller's mask through the
same event extraction) and scored per image unit:

* ground stations, per night: true/false/missed pixels in the IAR band, whether an event
  overlaps the IAR truth, whether any event was drawn on an IAR-free night (by the kind of
  look-alike the night holds), and the error of the events' fringe spacing ``delta_f``
  against the night's true median spacing;
* satellites, per half-orbit: injected anomalies found (an event's time-frequency box
  overlaps the anomaly's), events that overlap an anomaly or its truth, false events.

:func:`summarise_ground` and :func:`summarise_cses` reduce the per-unit Datasets to the
figures the documentation tables quote.

Examples
--------
>>> import xspecseg as xs
>>> from xspecseg.synth.heldout import heldout_ground, heldout_ground_truth
>>> wave, truth = heldout_ground("2013-02-14", 2, seed=3)
>>> cube = xs.build_cube(wave, xs.CubeConfig.preset("iar")).compute()
>>> mask = heldout_ground_truth(cube, truth)
>>> per_night = evaluate_ground("iar-default", cube, mask, truth["nights"])
>>> per_night.sizes["night"]  # the first and last nights are halves
3
>>> 0 <= summarise_ground(per_night)["pixel_iou"] <= 1
True
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from .classical import detect
from .config import CubeConfig
from .cube import build_cube, select_component
from .events import EVENT_CUT_KEYS, extract_events
from .imageunits import night_images
from .infer import orbit_spans, predict
from .synth.heldout import TRUTH_KINDS, heldout_cses, heldout_ground, heldout_ground_truth

if TYPE_CHECKING:
    from .training import ImageSet

__all__ = [
    "BASELINES",
    "evaluate_cses",
    "evaluate_cses_blocks",
    "evaluate_ground",
    "evaluation_table",
    "heldout_cses_table",
    "heldout_ground_table",
    "summarise_cses",
    "summarise_ground",
]

#: Frequency band (Hz) in which IAR pixels are scored: the fringes of the IAR paper.
IAR_SCORE_BAND = (0.5, 6.0)
_NO_CUTS = dict.fromkeys(EVENT_CUT_KEYS)
#: rows per task of event extraction here: an in-memory array is otherwise one task,
#: whose float64 copies and labels of a long draw take gigabytes (the catalogue does
#: not depend on the chunking)
_EXTRACT_ROWS = 8192
#: half-orbits of the held-out CSES draw evaluated at a time (whole orbits): the
#: probabilities and masks in memory are those of one block, whatever the draw's length
_HALFORBITS_PER_BLOCK = 24


def _extract_chunks(prob: xr.DataArray) -> Any:
    """Time chunks for event extraction: half-orbits (whose context properties are then
    measured while labelling them), else runs of :data:`_EXTRACT_ROWS` rows."""
    if "orbit" not in prob.coords or "orbit_direction" not in prob.coords:
        return _EXTRACT_ROWS
    key = _halforbit_key(prob["orbit"].values, prob["orbit_direction"].values)
    edges = np.r_[0, np.flatnonzero(np.diff(key) != 0) + 1, key.size]
    return tuple(int(n) for n in np.diff(edges) if n > 0) or _EXTRACT_ROWS


def _classical(name: str) -> str | None:
    return (
        name.split(":", 1)[1] if isinstance(name, str) and name.startswith("classical:") else None
    )


def _mask_probability(psd: xr.DataArray, spans, method: str) -> xr.DataArray:
    """A classical labeller's mask as a 0/1 'probability' on the grid of ``psd``."""
    values = np.asarray(psd.values, np.float64)
    out = np.zeros(values.shape, np.float32)
    for s, e in spans:
        out[s:e] = detect(method, values[s:e]).astype(np.float32)
    out[np.isnan(values)] = np.nan
    return xr.DataArray(
        out, dims=psd.dims, coords=psd.coords, name="probability", attrs={**psd.attrs}
    ).assign_attrs(threshold=0.5, model=f"classical:{method}")


def _detections(
    detector: Any, cube: xr.Dataset, *, component: str | None, band: tuple[float, float] | None
) -> tuple[xr.DataArray, xr.Dataset]:
    method = _classical(detector)
    if method is None:
        prob = predict(cube, detector).compute()
        cat = extract_events(prob.chunk(time=_extract_chunks(prob)), psd=cube)
        return prob, cat
    psd = cube["psd"]
    if "component" in psd.dims:
        psd = select_component(cube, component or "+".join(map(str, psd.component.values)))
    if band is not None:
        keep = (psd.frequency >= band[0]) & (psd.frequency <= band[1])
        psd = psd.where(keep)
    if "orbit" in psd.coords:
        spans = orbit_spans(psd)
    else:
        # the nights a network examines: cut short by the record's ends too
        spans = [sp[:2] for sp in night_images(psd.time.values, ("18:00", "06:00"))]
    prob = _mask_probability(psd, spans, method)
    cat = extract_events(prob.chunk(time=_extract_chunks(prob)), psd=psd, threshold=0.5,
                         **_NO_CUTS)  # fmt: skip
    return prob, cat


def _night_rows(time: np.ndarray, nights: pd.DataFrame) -> list[tuple[int, int]]:
    evenings = pd.to_datetime(nights["night"]).values.astype("datetime64[D]")
    t = np.asarray(time).astype("datetime64[ns]")
    out = []
    for ev in evenings:
        w0 = ev.astype("datetime64[ns]") + np.timedelta64(18, "h")
        w1 = w0 + np.timedelta64(12, "h")
        out.append((int(np.searchsorted(t, w0)), int(np.searchsorted(t, w1))))
    return out


def evaluate_ground(
    detector: Any,
    cube: xr.Dataset,
    truth: xr.DataArray,
    nights: pd.DataFrame,
    *,
    component: str | None = "H+D",
) -> xr.Dataset:
    """Score a detector night by night on a ground cube with known IAR truth.

    Parameters
    ----------
    detector : model, checkpoint path, shipped name or ``"classical:beggan"``
        A network runs through :func:`predict` and :func:`extract_events` with its own
        threshold and cuts; ``"classical:<method>"`` labels each 18–06 UT night with
        :func:`xspecseg.classical.detect` on the summed PSD and extracts events from the
        mask.
    cube : xr.Dataset
        The station's cube (computed or lazy).
    truth : xr.DataArray
        Bool ``(time, frequency)`` IAR truth on the cube's grid.
    nights : pandas.DataFrame
        One row per night: ``night`` (evening date), ``iar`` (bool), ``kinds`` (str, e.g.
        ``"iar+pc1"``) and ``delta_f_median`` (Hz, NaN without IARs).
    component : str, optional
        What a classical labeller reads (networks read what their card says).

    Returns
    -------
    xr.Dataset
        Dim ``night``: ``tp``, ``fp``, ``fn`` (pixels in :data:`IAR_SCORE_BAND`),
        ``pixels`` (scored pixels with data), ``events``, ``true_events`` (events
        overlapping the truth), ``iar``, ``kinds``,
        ``delta_f_true``, ``delta_f`` (median ``delta_f`` of the night's true events).
    """
    prob, cat = _detections(detector, cube, component=component, band=(0.0, 10.0))
    ds = _score_ground(prob, cat, cube, truth, nights)
    ds.attrs["detector"] = str(detector) if isinstance(detector, str) else type(detector).__name__
    return ds


def _score_ground(
    prob: xr.DataArray, cat: xr.Dataset, cube: xr.Dataset, truth: xr.DataArray, nights: pd.DataFrame
) -> xr.Dataset:
    """The per-night scores of :func:`evaluate_ground` for detections already made."""
    threshold = float(prob.attrs.get("threshold", 0.5))
    freq = cube.frequency.values
    band = (freq >= IAR_SCORE_BAND[0]) & (freq <= IAR_SCORE_BAND[1])
    det = np.nan_to_num(prob.values) >= threshold
    tru = np.asarray(truth.values, bool)
    time = cube.time.values
    scored = np.isfinite(np.asarray(prob.values)[:, band])  # pixels with data
    rows = []
    for (s, e), (_, night) in zip(_night_rows(time, nights), nights.iterrows(), strict=True):
        d, t = det[s:e][:, band], tru[s:e][:, band]
        t0, t1 = time[min(s, len(time) - 1)], time[min(e, len(time)) - 1]
        inside = (
            (cat.start_time.values <= t1) & (cat.end_time.values >= t0)
            if cat.sizes["event"]
            else np.zeros(0, bool)
        )
        true_ev = []
        for k in np.flatnonzero(inside):
            box = _box(time, freq, cat, k)
            true_ev.append(bool(tru[box].any()))
        true_ev = np.asarray(true_ev, bool)
        dfs = cat["delta_f"].values[np.flatnonzero(inside)[true_ev]] if "delta_f" in cat else []
        dfs = np.asarray(dfs, float)
        dfs = dfs[np.isfinite(dfs)]
        rows.append(
            {
                "night": np.datetime64(pd.Timestamp(night["night"]).date()),
                "tp": int((d & t).sum()),
                "fp": int((d & ~t).sum()),
                "fn": int((~d & t).sum()),
                "pixels": int(scored[s:e].sum()),
                "events": int(inside.sum()),
                "true_events": int(true_ev.sum()),
                "iar": bool(night["iar"]),
                "kinds": str(night["kinds"]),
                "delta_f_true": float(night.get("delta_f_median", np.nan)),
                "delta_f": float(np.median(dfs)) if dfs.size else np.nan,
            }
        )
    df = pd.DataFrame(rows).set_index("night")
    ds = xr.Dataset.from_dataframe(df)
    ds.attrs["threshold"] = threshold
    ds.attrs["score_band_hz"] = list(IAR_SCORE_BAND)
    return ds


def _box(time: np.ndarray, freq: np.ndarray, cat: xr.Dataset, k: int) -> tuple[slice, slice]:
    i0 = int(np.searchsorted(time, cat.start_time.values[k]))
    i1 = int(np.searchsorted(time, cat.end_time.values[k], side="right"))
    j0 = int(np.searchsorted(freq, cat.f_min.values[k]))
    j1 = int(np.searchsorted(freq, cat.f_max.values[k], side="right"))
    return slice(i0, max(i1, i0 + 1)), slice(j0, max(j1, j0 + 1))


def summarise_ground(per_night: xr.Dataset) -> dict[str, Any]:
    """The headline figures of :func:`evaluate_ground`.

    Returns
    -------
    dict
        ``pixel_iou`` (pooled over nights), ``iar_nights``, ``iar_nights_found`` (with a
        true event), ``free_nights``, ``free_nights_with_event`` and its share, the same per
        look-alike kind (``free_with_event_<kind>`` / ``free_<kind>``), ``delta_f_median_error``
        (Hz, over IAR nights with a true event and a spacing) and the share within 0.05 Hz.
    """
    df = per_night.to_dataframe()
    tp, fp, fn = (int(df[k].sum()) for k in ("tp", "fp", "fn"))
    iar = df[df.iar]
    free = df[~df.iar]
    err = (iar.delta_f - iar.delta_f_true).abs().dropna()
    out: dict[str, Any] = {
        "pixel_iou": tp / (tp + fp + fn) if tp + fp + fn else np.nan,
        "iar_nights": len(iar),
        "iar_nights_found": int((iar.true_events > 0).sum()),
        "free_nights": len(free),
        "free_nights_with_event": int((free.events > 0).sum()),
        "free_share_with_event": float((free.events > 0).mean()) if len(free) else np.nan,
        "delta_f_median_error": float(err.median()) if len(err) else np.nan,
        "delta_f_within_0.05": float((err <= 0.05).mean()) if len(err) else np.nan,
        "false_pixel_share_free": float(free.fp.sum() / max(1, free.pixels.sum())),
    }
    for kind in sorted({k for ks in free.kinds for k in ks.split("+")}):
        sel = free[free.kinds.str.contains(kind)]
        out[f"free_{kind}"] = len(sel)
        out[f"free_with_event_{kind}"] = int((sel.events > 0).sum())
    return out


def evaluate_cses(
    detector: Any,
    sat: xr.Dataset,
    truth: xr.DataArray,
    anomalies: pd.DataFrame,
) -> xr.Dataset:
    """Score a detector half-orbit by half-orbit on a satellite cube with known anomalies.

    Parameters
    ----------
    detector : model, checkpoint path, shipped name or ``"classical:<method>"``
    sat : xr.Dataset
        Satellite cube (``psd`` (time, frequency), ``orbit`` along ``time``).
    truth : xr.DataArray
        Bool ``(time, frequency)`` anomaly truth.
    anomalies : pandas.DataFrame
        One row per injected anomaly: ``orbit``, ``orbit_direction``, ``start_time``,
        ``end_time``, ``f_min``, ``f_max`` (Hz) of its truth pixels. Anomalies without a
        truth pixel (NaT/NaN there: drowned by stronger emissions) are not counted.

    Returns
    -------
    xr.Dataset
        Dim ``halforbit`` (``2 * orbit + 1`` ascending, ``2 * orbit`` descending):
        ``anomalies``, ``found`` (anomalies overlapped by an event's box),
        ``events``, ``true_events`` (events whose box holds truth or overlaps an anomaly),
        ``tp``/``fp``/``fn``/``tn`` pixels.
    """
    # an anomaly without a truth pixel (hidden by stronger emissions) cannot be found
    visible = pd.notna(pd.to_datetime(anomalies["start_time"])) & pd.notna(anomalies["f_min"])
    anomalies = anomalies[visible.values].reset_index(drop=True)
    prob, cat = _detections(detector, sat, component=None, band=None)
    threshold = float(prob.attrs.get("threshold", 0.5))
    time, freq = sat.time.values, sat.frequency.values
    det = np.nan_to_num(prob.values) >= threshold
    tru = np.asarray(truth.values, bool)
    orbit_of_row = _halforbit_key(sat["orbit"].values, sat["orbit_direction"].values)
    ev_orbit = (
        _halforbit_key(cat["orbit"].values, cat["orbit_direction"].values)
        if cat.sizes["event"]
        else np.zeros(0, np.int64)
    )
    an_key = _halforbit_key(anomalies["orbit"].values, anomalies["orbit_direction"].values)
    ev_true = np.zeros(cat.sizes["event"], bool)
    for k in range(cat.sizes["event"]):
        box = _box(time, freq, cat, k)
        ev_true[k] = bool(tru[box].any()) or bool(_overlaps(anomalies, cat, k).any())
    rows = []
    for orb in np.unique(orbit_of_row):
        rows_o = orbit_of_row == orb
        an = anomalies[an_key == orb]
        found = 0
        for _, a in an.iterrows():
            hit = (
                (ev_orbit == orb)
                & (cat.start_time.values <= pd.Timestamp(a["end_time"]).to_datetime64())
                & (cat.end_time.values >= pd.Timestamp(a["start_time"]).to_datetime64())
                & (cat.f_min.values <= a["f_max"])
                & (cat.f_max.values >= a["f_min"])
            )
            found += bool(hit.any())
        d, t = det[rows_o], tru[rows_o]
        rows.append(
            {
                "halforbit": orb,
                "anomalies": len(an),
                "found": found,
                "events": int((ev_orbit == orb).sum()),
                "true_events": int(((ev_orbit == orb) & ev_true).sum()),
                "tp": int((d & t).sum()),
                "fp": int((d & ~t).sum()),
                "fn": int((~d & t).sum()),
                "tn": int((~d & ~t).sum()),
            }
        )
    ds = xr.Dataset.from_dataframe(pd.DataFrame(rows).set_index("halforbit"))
    ds.attrs["detector"] = str(detector) if isinstance(detector, str) else type(detector).__name__
    ds.attrs["threshold"] = threshold
    return ds


def evaluate_cses_blocks(
    detector: Any,
    sat: xr.Dataset,
    truth: xr.DataArray,
    anomalies: pd.DataFrame,
    halforbits_per_block: int = _HALFORBITS_PER_BLOCK,
) -> xr.Dataset:
    """:func:`evaluate_cses` over blocks of whole orbits, one block in memory at a time.

    Half-orbits are scored independently (events never join across an orbit change), so
    the result equals :func:`evaluate_cses` on the whole cube; a long lazy draw (such as
    :func:`~xspecseg.synth.heldout.heldout_cses`'s) is then generated, predicted and
    scored a block at a time, and memory does not grow with its length.
    """
    orbit = np.asarray(sat["orbit"].values, np.int64)
    edges = np.r_[0, np.flatnonzero(np.diff(orbit) != 0) + 1, orbit.size]
    per_block = max(1, int(halforbits_per_block) // 2)
    an_orbit = np.asarray(anomalies["orbit"].values, np.int64)
    parts = []
    for i in range(0, edges.size - 1, per_block):
        a, b = int(edges[i]), int(edges[min(i + per_block, edges.size - 1)])
        rows = slice(a, b)
        held = np.isin(an_orbit, np.unique(orbit[rows]))
        block = anomalies[held].reset_index(drop=True)
        parts.append(evaluate_cses(detector, sat.isel(time=rows), truth.isel(time=rows), block))
    if not parts:
        return evaluate_cses(detector, sat, truth, anomalies)
    out = xr.concat(parts, "halforbit")
    out.attrs = parts[0].attrs
    return out


def _halforbit_key(orbit: Any, direction: Any) -> np.ndarray:
    asc = np.asarray(direction).astype(str) == "ascending"
    return 2 * np.asarray(orbit, np.int64) + asc


def _overlaps(anomalies: pd.DataFrame, cat: xr.Dataset, k: int) -> np.ndarray:
    if not len(anomalies):
        return np.zeros(0, bool)
    a0 = pd.to_datetime(anomalies["start_time"]).values
    a1 = pd.to_datetime(anomalies["end_time"]).values
    key = _halforbit_key(anomalies["orbit"].values, anomalies["orbit_direction"].values)
    return (
        (
            key
            == _halforbit_key(
                cat["orbit"].values[k : k + 1], cat["orbit_direction"].values[k : k + 1]
            )
        )
        & (a0 <= cat.end_time.values[k])
        & (a1 >= cat.start_time.values[k])
        & (anomalies["f_min"].values <= cat.f_max.values[k])
        & (anomalies["f_max"].values >= cat.f_min.values[k])
    )


def summarise_cses(per_orbit: xr.Dataset) -> dict[str, Any]:
    """The headline figures of :func:`evaluate_cses`: recall, precision, false events, and
    the pixel scores (IoU of the anomaly class; mIoU and mPA over both classes, the ODM_Unet
    paper's)."""
    df = per_orbit.to_dataframe()
    tp, fp, fn, tn = (int(df[k].sum()) for k in ("tp", "fp", "fn", "tn"))
    iou_bg = tn / (tn + fp + fn) if tn + fp + fn else np.nan
    free = df[df.anomalies == 0]
    n_an, n_ev = int(df.anomalies.sum()), int(df.events.sum())
    return {
        "pixel_iou": tp / (tp + fp + fn) if tp + fp + fn else np.nan,
        "pixel_miou": (tp / (tp + fp + fn) + iou_bg) / 2 if tp + fp + fn else np.nan,
        "pixel_mpa": (tp / (tp + fn) + tn / (tn + fp)) / 2 if tp + fn and tn + fp else np.nan,
        "anomalies": n_an,
        "event_recall": float(df.found.sum() / n_an) if n_an else np.nan,
        "events": n_ev,
        "event_precision": float(df.true_events.sum() / n_ev) if n_ev else np.nan,
        "halforbits": len(df),
        "anomaly_free_halforbits": len(free),
        "false_events_per_free_halforbit": float(free.events.sum() / len(free))
        if len(free)
        else np.nan,
    }


def _table(rows: list[dict[str, Any]], dims: tuple[str, str]) -> xr.Dataset:
    df = pd.DataFrame(rows).set_index(list(dims))
    ds = xr.Dataset.from_dataframe(df)
    for name in ds.data_vars:
        ds[name].attrs["long_name"] = name.replace("_", " ")
    return ds


def heldout_ground_table(
    detectors: list[Any],
    *,
    start: str = "2013-01-05",
    nights: int = 14,
    seed: int = 101,
    scales: tuple[float, ...] = (1.0, 1e-3, 1e3),
    truths: Sequence[Literal["fringes", "dominant"]] = TRUTH_KINDS,
) -> tuple[xr.Dataset, xr.Dataset]:
    """Every detector on the held-out ground family, the record in several units.

    The record of ``nights`` nights (H and D at 100 Hz, :func:`~xspecseg.synth.heldout.
    heldout_ground`) is built into a cube once; a record scaled by ``s`` (pT to nT is
    ``1e-3``) has the PSD scaled by ``s**2``, which is what the other units get. Each
    detection is scored against each kind of truth in ``truths`` (the fringes, or every
    pixel the IAR dominates: :func:`~xspecseg.synth.heldout.heldout_ground_truth`).

    Returns
    -------
    (xr.Dataset, xr.Dataset)
        The summary (dims ``detector``, ``truth``, ``scale``; the keys of
        :func:`summarise_ground`) and the per-night scores (dims ``detector``, ``truth``,
        ``scale``, ``night``).
    """
    wave, truth = heldout_ground(start, int(nights) + 1, int(seed))
    cube = build_cube(wave, CubeConfig.preset("iar")).compute()
    masks = {kind: heldout_ground_truth(cube, truth, kind) for kind in truths}
    night_table = truth["nights"]
    night_table = night_table[night_table["hours_in_record"] >= 12].reset_index(drop=True)
    summary, per_night = [], []
    for det in detectors:
        name = det if isinstance(det, str) else type(det).__name__
        by_truth = {kind: [] for kind in masks}
        for s in scales:
            scaled = cube.assign(psd=cube.psd * np.float32(s) ** 2)
            prob, cat = _detections(det, scaled, component="H+D", band=(0.0, 10.0))
            for kind, mask in masks.items():
                r = _score_ground(prob, cat, scaled, mask, night_table)
                summary.append(
                    {"detector": name, "truth": kind, "scale": float(s), **summarise_ground(r)}
                )
                by_truth[kind].append(r.drop_attrs().expand_dims(scale=[float(s)]))
        per_night.append(
            xr.concat(
                [xr.concat(v, dim="scale").expand_dims(truth=[k]) for k, v in by_truth.items()],
                dim="truth",
            ).expand_dims(detector=[name])
        )
    table = _table(summary, ("detector", "truth", "scale"))
    table.attrs.update(
        generator="xspecseg.synth.heldout.heldout_ground",
        start=str(start),
        nights=len(night_table),
        seed=int(seed),
        score_band_hz=list(IAR_SCORE_BAND),
    )
    return _with_runs(table, "detector"), _with_runs(
        xr.concat(per_night, dim="detector"), "detector"
    )


def _parameters(detector: Any) -> float:
    """Weights of a network detector (a module, or a model directory or name); NaN else."""
    if isinstance(detector, str):
        if detector.startswith("classical:"):
            return float("nan")
        from .models import load  # optional extra: torch

        detector = load(detector)
    params = getattr(detector, "parameters", None)
    return float(sum(p.numel() for p in params())) if callable(params) else float("nan")


def heldout_cses_table(
    detectors: list[Any],
    *,
    start: str = "2022-04-01",
    halforbits: int = 120,
    seed: int = 7,
    scales: tuple[float, ...] = (1.0, 1e-3, 1e3),
) -> xr.Dataset:
    """Every detector on the held-out CSES family, the spectra at several calibrations.

    Returns
    -------
    xr.Dataset
        Dims ``detector``, ``scale``; the keys of :func:`summarise_cses`, ``parameters``
        (NaN for a classical labeller) and ``seconds_per_halforbit`` (the whole chain on
        this machine: probability, events and scoring).
    """
    sat, mask, anomalies = heldout_cses(start, int(halforbits), int(seed))
    sat = sat.drop_vars([v for v in ("truth",) if v in sat])
    rows = []
    for det in detectors:
        name = det if isinstance(det, str) else type(det).__name__
        params = _parameters(det)
        for s in scales:
            t0 = time.perf_counter()
            scaled = sat.assign(psd=sat.psd * np.float32(s))
            r = evaluate_cses_blocks(det, scaled, mask, anomalies)
            seconds = (time.perf_counter() - t0) / max(r.sizes["halforbit"], 1)
            rows.append(
                {
                    "detector": name,
                    "scale": float(s),
                    **summarise_cses(r),
                    "parameters": params,
                    "seconds_per_halforbit": seconds,
                }
            )
    table = _table(rows, ("detector", "scale"))
    table.attrs.update(
        generator="xspecseg.synth.heldout.heldout_cses",
        start=str(start),
        halforbits=int(halforbits),
        seed=int(seed),
    )
    return _with_runs(table, "detector")


# -- pixel scores of trained models on labelled images ------------------------------------------

#: The classical labellers :func:`evaluation_table` scores beside the models.
BASELINES = ("classical:beggan", "classical:canny")


def evaluation_table(
    models: Sequence[str],
    data: Mapping[str, Any] | ImageSet,
    *,
    free: Mapping[str, Any] | ImageSet | None = None,
    band: tuple[float, float] | None = None,
    baselines: bool = True,
) -> xr.Dataset:
    """IoU, mIoU, mPA and false-positive shares of models and the classical baselines on
    held-out labelled images (what ``xspecseg evaluate`` prints and writes).

    Parameters
    ----------
    models : sequence of str
        Model directories or shipped names; ``classical:beggan`` / ``classical:canny`` too.
    data : dict or ImageSet
        The held-out images, or their :func:`~xspecseg.training.load_data` description.
        A ``synth-iar`` description without ``components`` gets those of the first model
        that takes a sum of components (such as ``H+D``), so that it sees its own input.
    free : dict or ImageSet, optional
        Signal-free images (or their description) for ``fp_fraction_iar_free``.
    band : (float, float), optional
        Frequency band (Hz) the images are cut to (default: each model's own; for the
        baselines the default band of the data's kind).
    baselines : bool
        Also score the classical baselines (:data:`BASELINES`).

    Returns
    -------
    xr.Dataset
        Dim ``model``: ``iou``, ``miou``, ``mpa`` (at the model's threshold),
        ``fp_fraction_iar_free``, ``fp_fraction_heldout``, ``threshold``, ``parameters``,
        ``training_seconds`` (from the checkpoint; NaN for the baselines),
        ``inference_seconds_per_image`` (this machine, one image at a time, the input
        representation included), ``band_low``, ``band_high``; for the model directories of
        an ``xspecseg compare`` folder also the coordinates ``run`` and ``training_seed``
        (:func:`~xspecseg.training.compare.add_run_coords`); attrs ``data`` (the description
        as JSON), ``heldout_images``, ``iar_free_images``, ``heldout_positive_fraction``.

    Examples
    --------
    >>> t = evaluation_table([], {"source": "synth-iar", "nights": 1, "seed": 5})
    >>> t.model.values.tolist(), 0 <= float(t.iou[0]) <= 1
    (['classical:beggan', 'classical:canny'], True)
    """
    from .training import DEFAULT_BAND, DEFAULT_CSES_BAND, load_data  # optional extra: torch

    names = list(models)
    if baselines:
        names += [b for b in BASELINES if b not in names]
    if not names:
        raise ValueError("nothing to evaluate: give model directories/names or keep the baselines")
    if isinstance(data, Mapping):
        data, free = _with_model_components(names, dict(data), free)
    held = load_data(dict(data)) if isinstance(data, Mapping) else data
    free_set = load_data(dict(free)) if isinstance(free, Mapping) else free
    kind = data.get("source") if isinstance(data, Mapping) else held.description.get("kind")
    default_band = DEFAULT_CSES_BAND if kind in ("synth-cses", "halforbit") else DEFAULT_BAND
    rows = [_evaluation_row(name, held, free_set, band, default_band) for name in names]
    cols = [c for c in rows[0] if c != "model"]
    description = data if isinstance(data, Mapping) else held.description
    table = xr.Dataset(
        {c: ("model", np.array([row[c] for row in rows], float)) for c in cols},
        coords={"model": np.array([row["model"] for row in rows])},
        attrs={
            "data": json.dumps(description, default=str),
            "heldout_images": len(held),
            "iar_free_images": 0 if free_set is None else len(free_set),
            "heldout_positive_fraction": held.positive_fraction,
        },
    )
    table["fp_fraction_iar_free"].attrs["long_name"] = (
        "fraction of pixels flagged on signal-free synthetic images"
    )
    table["fp_fraction_heldout"].attrs["long_name"] = (
        "fraction of true-background pixels flagged on the held-out images"
    )
    for v in ("training_seconds", "inference_seconds_per_image"):
        table[v].attrs["units"] = "s"
    return _with_runs(table, "model")


def _with_runs(table: xr.Dataset, dim: str) -> xr.Dataset:
    """``run``/``training_seed`` coordinates for the runs of an ``xspecseg compare`` folder."""
    from .training.compare import add_run_coords  # optional extra: torch

    return add_run_coords(table, dim)


def _with_model_components(
    names: list[str], data: dict[str, Any], free: Any
) -> tuple[dict[str, Any], Any]:
    """The descriptions, with the summed components of the first model that takes them."""
    if data.get("source") != "synth-iar" or data.get("components"):
        return data, free
    from .models.checkpoint import locate  # optional extra: torch

    for name in names:
        if not name.startswith("classical:"):
            cfg_path = locate(name)[0]
            cfg = json.loads(cfg_path.read_text()) if cfg_path.is_file() else {}
            comp = cfg.get("component") or ""
            if "+" in comp:
                # the baselines are scored on the same images
                data = {**data, "components": [comp]}
                if isinstance(free, Mapping):
                    free = {**free, "components": [comp]}
            break
    return data, free


def _evaluation_row(
    name: str,
    held: ImageSet,
    free: ImageSet | None,
    band: tuple[float, float] | None,
    default_band: tuple[float, float],
) -> dict[str, Any]:
    from .training import evaluate_classical, evaluate_model  # optional extra: torch

    params, trained = float("nan"), float("nan")
    if name.startswith("classical:"):
        cut = tuple(band) if band else tuple(default_band)

        def score(images: ImageSet) -> dict[str, Any]:
            t0 = time.perf_counter()
            r = evaluate_classical(name, images)
            return {**r, "seconds_per_image": (time.perf_counter() - t0) / max(len(images), 1)}
    else:
        from .models import load  # optional extra: torch

        model = load(name)
        cfg = getattr(model, "xspecseg_config", {})
        cut = tuple(band) if band else tuple(cfg.get("band") or default_band)
        params = float(sum(p.numel() for p in model.parameters()))
        trained = float((cfg.get("provenance") or {}).get("seconds_training", float("nan")))

        def score(images: ImageSet) -> dict[str, Any]:
            return evaluate_model(model, images)

    r = score(held.crop_band(cut))
    fp = score(free.crop_band(cut))["fp_fraction"] if free else np.nan
    return {
        "model": name,
        "iou": r["iou"],
        "miou": r["miou"],
        "mpa": r["mpa"],
        "fp_fraction_iar_free": fp,
        "fp_fraction_heldout": r["fp_fraction"],
        "threshold": r["threshold"],
        "parameters": params,
        "training_seconds": trained,
        "inference_seconds_per_image": r["seconds_per_image"],
        "band_low": cut[0],
        "band_high": cut[1],
    }
