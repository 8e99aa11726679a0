"""A model's event score: one number per event from its properties, a logistic model.

Four cuts, each on one property, leave a trade-off between anomalies kept and look-alikes
passed that no single property improves. :class:`EventScore` combines the event's
properties (the network's confidence, its shape and its :mod:`~xspecseg.events.context`)
in a logistic model fitted on labelled events, so that one cut on the score sets the
operating point. Its inputs are standardised with the centre and scale of the events it
was fitted on; a property an event lacks (NaN: no band beside it, too few pixels)
counts as that centre. The score is the log-odds: comparable across events, not a
calibrated probability of the field.

Examples
--------
>>> import xarray as xr
>>> cat = xr.Dataset({"mean_probability": ("event", [0.6, 0.7, 0.95, 0.99]),
...                   "isolation_frequency": ("event", [0.0, 0.1, 0.5, 0.7])})
>>> score = EventScore.fit(cat, np.array([False, False, True, True]),
...                        features=("mean_probability", "isolation_frequency"))
>>> bool(np.all(np.diff(score(cat)) > 0))
True
>>> EventScore.from_dict(score.to_dict()) == score
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..contract import EVENT_SCORE_FEATURES, check_event_score
from .cuts import event_bandwidth, event_duration

__all__ = ["DEFAULT_FEATURES", "FEATURES", "EventScore"]

#: event property -> how the score reads it ("logit", "log10" or "linear")
FEATURES: dict[str, str] = EVENT_SCORE_FEATURES

#: the properties a score uses unless told otherwise: every one of :data:`FEATURES`
DEFAULT_FEATURES: tuple[str, ...] = tuple(FEATURES)


def _raw(catalogue: xr.Dataset, name: str) -> np.ndarray:
    """A property as a variable (tables of event properties) or derived (catalogues)."""
    if name in catalogue:
        return np.asarray(catalogue[name].values, dtype=np.float64)
    derived = {"bandwidth": (event_bandwidth, "f_min"), "duration": (event_duration, "start_time")}
    if name in derived and derived[name][1] in catalogue:
        return derived[name][0](catalogue)
    raise ValueError(f"the event score needs the event property {name!r}")


def _transformed(catalogue: xr.Dataset, features: Sequence[str]) -> np.ndarray:
    """``(events, features)`` of each property as the score reads it (NaN kept)."""
    cols = []
    for name in features:
        x = _raw(catalogue, name)
        kind = FEATURES[name]
        with np.errstate(divide="ignore", invalid="ignore"):
            if kind == "logit":
                p = np.clip(x, 1e-6, 1 - 1e-6)
                x = np.log(p / (1 - p))
            elif kind == "log10":
                x = np.log10(np.where(x > 0, x, np.nan))
        cols.append(x)
    n = int(catalogue.sizes.get("event", 0))
    return np.stack(cols, axis=1) if cols else np.zeros((n, 0))


def _fit_logistic(x: np.ndarray, y: np.ndarray, c: float, iterations: int = 100) -> np.ndarray:
    """Weights (last: intercept) minimising the log-loss plus ``|w|^2 / (2 c)`` (Newton)."""
    a = np.hstack([x, np.ones((x.shape[0], 1))])
    w = np.zeros(a.shape[1])
    ridge = np.full(a.shape[1], 1.0 / c)
    ridge[-1] = 0.0  # the intercept is not shrunk
    for _ in range(iterations):
        z = a @ w
        p = 0.5 * (1.0 + np.tanh(0.5 * z))  # the logistic function without overflow
        grad = a.T @ (p - y) + ridge * w
        hess = (a * (p * (1 - p))[:, None]).T @ a + np.diag(ridge) + 1e-9 * np.eye(a.shape[1])
        step = np.linalg.solve(hess, grad)
        w = w - step
        if np.max(np.abs(step)) < 1e-10:
            break
    return w


@dataclasses.dataclass(frozen=True)
class EventScore:
    """A logistic event score: ``intercept + sum(coef * (x - center) / scale)``.

    Attributes
    ----------
    features : tuple of str
        Names of :data:`FEATURES`, read as that table says.
    center, scale : tuple of float
        Standardisation of each transformed property.
    coef : tuple of float
        Weight of each standardised property.
    intercept : float
    """

    features: tuple[str, ...]
    center: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    def __post_init__(self) -> None:
        check_event_score(self.to_dict())

    def __call__(self, catalogue: xr.Dataset) -> np.ndarray:
        """The score of each event of ``catalogue`` (float64, finite)."""
        z = (_transformed(catalogue, self.features) - np.asarray(self.center)) / np.asarray(
            self.scale
        )
        z = np.where(np.isfinite(z), z, 0.0)
        return z @ np.asarray(self.coef) + self.intercept

    @classmethod
    def fit(
        cls,
        events: xr.Dataset,
        true: np.ndarray,
        *,
        features: Sequence[str] = DEFAULT_FEATURES,
        c: float = 0.1,
    ) -> EventScore:
        """The L2-regularised logistic model of ``true`` on ``events``' properties.

        Parameters
        ----------
        events : xr.Dataset
            Dim ``event`` with the properties of ``features``.
        true : np.ndarray
            Bool per event: a true event.
        features : sequence of str
            Names of :data:`FEATURES`.
        c : float
            Inverse strength of the L2 penalty on the standardised weights.
        """
        true = np.asarray(true, dtype=bool)
        if true.all() or not true.any():
            raise ValueError("fitting an event score needs true and other events")
        if not c > 0:
            raise ValueError(f"c must be positive, got {c}")
        x = _transformed(events, tuple(features))
        center = np.array([np.nanmean(col) if np.isfinite(col).any() else 0.0 for col in x.T])
        scale = np.array([np.nanstd(col) if np.isfinite(col).sum() > 1 else 1.0 for col in x.T])
        scale = np.where(scale > 0, scale, 1.0)
        z = np.where(np.isfinite(x), (x - center) / scale, 0.0)
        w = _fit_logistic(z, true.astype(np.float64), float(c))
        return cls(
            features=tuple(features),
            center=tuple(float(v) for v in center),
            scale=tuple(float(v) for v in scale),
            coef=tuple(float(v) for v in w[:-1]),
            intercept=float(w[-1]),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (for a checkpoint config and a probability's attrs)."""
        return {
            "method": "logistic",
            "features": list(self.features),
            "center": list(self.center),
            "scale": list(self.scale),
            "coef": list(self.coef),
            "intercept": self.intercept,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EventScore:
        """The score of :meth:`to_dict`'s output; anything else is refused."""
        d = check_event_score(d)
        return cls(
            features=tuple(d["features"]),
            center=tuple(d["center"]),
            scale=tuple(d["scale"]),
            coef=tuple(d["coef"]),
            intercept=d["intercept"],
        )
