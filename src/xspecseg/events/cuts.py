"""Event cuts: drop the regions whose properties are not those of the model's events.

:data:`CUTS` names, for each cut of :data:`EVENT_CUT_KEYS`, the event property it bounds
(a catalogue variable or a property derived from several, such as
:func:`event_bandwidth` and :func:`event_duration`) and whether it is an upper bound.
:func:`select_events` applies cuts to a catalogue and records them in its attrs;
:func:`~xspecseg.events.extract_events` applies the model's recommended ones.

Examples
--------
>>> import xarray as xr
>>> t = np.array(["2022-04-10T03:00", "2022-04-10T04:00"], "M8[ns]")
>>> cat = xr.Dataset({"start_time": ("event", t),
...                   "end_time": ("event", t + np.array([90, 270], "m8[s]"))})
>>> event_duration(cat).tolist()
[90.0, 270.0]
>>> select_events(cat, max_duration=120.0).sizes["event"]
1
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import xarray as xr

from ..contract import EVENT_CUT_KEYS

__all__ = [
    "CUTS",
    "EVENT_CUT_KEYS",
    "PROPERTY_CUTS",
    "EventCut",
    "event_bandwidth",
    "event_duration",
    "select_events",
]


def event_bandwidth(catalogue: xr.Dataset) -> np.ndarray:
    """Bandwidth of each event: ``f_max - f_min`` (Hz, between bin centres).

    Parameters
    ----------
    catalogue : xr.Dataset
        Dim ``event`` with ``f_min`` and ``f_max``.

    Returns
    -------
    np.ndarray
        float64, one value per event.

    Examples
    --------
    >>> cat = xr.Dataset({"f_min": ("event", [100.0]), "f_max": ("event", [300.0])})
    >>> event_bandwidth(cat).tolist()
    [200.0]
    """
    return np.asarray(catalogue["f_max"].values, float) - np.asarray(
        catalogue["f_min"].values, float
    )


def event_duration(catalogue: xr.Dataset) -> np.ndarray:
    """Duration of each event: ``end_time - start_time`` (s, between row times).

    Parameters
    ----------
    catalogue : xr.Dataset
        Dim ``event`` with ``start_time`` and ``end_time``.

    Returns
    -------
    np.ndarray
        float64 seconds, one value per event.

    Examples
    --------
    >>> t = np.array(["2022-04-10T03:00"], "M8[ns]")
    >>> cat = xr.Dataset({"start_time": ("event", t),
    ...                   "end_time": ("event", t + np.timedelta64(1500, "ms"))})
    >>> event_duration(cat).tolist()
    [1.5]
    """
    span = np.asarray(catalogue["end_time"].values) - np.asarray(catalogue["start_time"].values)
    return span.astype("timedelta64[ns]").astype(np.int64) / 1e9


@dataclass(frozen=True)
class Cut:
    """What one event cut bounds.

    Attributes
    ----------
    prop : str or callable
        The catalogue variable cut on, or a function of the catalogue giving the property.
    upper : bool
        True for an upper bound (``max_*``: keep ``prop <= cut``), else a lower one.
    needs_psd : bool
        The property exists only for catalogues made with the PSD.
    """

    prop: str | Callable[[xr.Dataset], np.ndarray]
    upper: bool
    needs_psd: bool = False

    def values(self, catalogue: xr.Dataset, key: str) -> np.ndarray:
        """The property of each event of ``catalogue`` (``key`` names the cut in errors)."""
        if callable(self.prop):
            return self.prop(catalogue)
        if self.prop not in catalogue:
            raise ValueError(f"{key} needs the catalogue variable {self.prop!r}")
        return np.asarray(catalogue[self.prop].values, float)


#: cut -> the property it bounds, in the order of :data:`EVENT_CUT_KEYS`
CUTS: dict[str, Cut] = {
    "max_impulsiveness": Cut("impulsiveness", upper=True, needs_psd=True),
    "min_mean_probability": Cut("mean_probability", upper=False),
    "min_bandwidth": Cut(event_bandwidth, upper=False),
    "max_duration": Cut(event_duration, upper=True),
    "min_event_score": Cut("event_score", upper=False, needs_psd=True),
}


#: an event property that one of the shape and confidence cuts bounds
EventCut = Literal["impulsiveness", "mean_probability", "bandwidth", "duration"]

#: property -> the cut of :data:`CUTS` that bounds it (the cuts ``xspecseg tune-events``
#: sets from quantiles of the true events)
PROPERTY_CUTS: dict[EventCut, str] = {
    "impulsiveness": "max_impulsiveness",
    "mean_probability": "min_mean_probability",
    "bandwidth": "min_bandwidth",
    "duration": "max_duration",
}


def _resolve_cuts(
    given: dict[str, Any], attrs: dict[str, Any], have_psd: bool
) -> dict[str, float | None]:
    """The cuts to apply: ``"model"`` is the model's one in ``attrs`` (None if absent).

    A cut on a property of the PSD is not applied without it when the model recommends
    it, and is an error when asked for explicitly.
    """
    cuts: dict[str, float | None] = {}
    for key, value in given.items():
        cut = CUTS[key]
        if isinstance(value, str) and value == "model":
            value = attrs.get(key) if have_psd or not cut.needs_psd else None
        elif value is not None and cut.needs_psd and not have_psd:
            raise ValueError(f"{key} needs psd (the event's PSD rows)")
        cuts[key] = None if value is None else float(value)
    return cuts


def _recorded_cut(old: Any, upper: bool) -> float | None:
    """The bound a recorded cut guarantees for every event, or None for no bound.

    :func:`xspecseg.catalogue.merge_catalogues` with ``mixed="flag"`` records the cuts of
    the catalogues it merged joined by "; " ("none" for one without the cut): the loosest
    of them holds for all.
    """
    if old is None:
        return None
    if isinstance(old, str):
        parts = [part.strip() for part in old.split(";")]
        if "none" in parts:
            return None
        values = [float(part) for part in parts]
        return max(values) if upper else min(values)
    return float(old)


def select_events(
    catalogue: xr.Dataset,
    *,
    max_impulsiveness: float | None = None,
    min_mean_probability: float | None = None,
    min_bandwidth: float | None = None,
    max_duration: float | None = None,
    min_event_score: float | None = None,
) -> xr.Dataset:
    """The events of a catalogue that pass event cuts (None: no cut).

    The cuts of :func:`~xspecseg.events.extract_events` applied to a catalogue after the
    fact, e.g. to bring catalogues made with older cuts to a model's current ones. Each
    cut applied is recorded in ``attrs`` (where one is there already, the stricter of the
    two: applying a cut twice, or a looser one after a stricter, changes nothing).

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
        Keep ``f_max - f_min >= min_bandwidth`` (Hz, bin centres; :func:`event_bandwidth`).
    max_duration : float, optional
        Keep ``end_time - start_time <= max_duration`` (seconds, row times;
        :func:`event_duration`).
    min_event_score : float, optional
        Keep ``event_score >= min_event_score`` (the model's
        :class:`~xspecseg.events.score.EventScore`).

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
        "min_event_score": min_event_score,
    }
    passed = np.ones(int(catalogue.sizes["event"]), dtype=bool)
    attrs = dict(catalogue.attrs)
    for key, value in given.items():
        if value is None:
            continue
        value = float(value)
        cut = CUTS[key]
        x = cut.values(catalogue, key)
        # NaN is never above or below a cut: it is kept
        passed &= ~(x > value) if cut.upper else ~(x < value)
        old = _recorded_cut(attrs.get(key), cut.upper)
        if old is not None:
            value = min(old, value) if cut.upper else max(old, value)
        attrs[key] = value
        mixed = str(attrs.get("mixed_provenance", "")).split()
        if key in mixed:
            # one cut now holds for every event of a merge of differently cut catalogues
            rest = " ".join(k for k in mixed if k != key)
            if rest:
                attrs["mixed_provenance"] = rest
            else:
                del attrs["mixed_provenance"]
    out = catalogue.isel(event=np.flatnonzero(passed))
    if "event" in out.coords:
        out = out.assign_coords(event=np.arange(out.sizes["event"]))
    out.attrs = attrs
    return out
