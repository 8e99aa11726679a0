"""The contract between training and inference: model card, architecture, input, image units.

What a network sees must be computed the same way when it is trained and when it is run,
whatever the record's unit, station or chunking. This module owns that, and needs no torch:

* :class:`InputRepresentation` turns the PSD of one whole image unit (an IAR night, a CSES
  half-orbit) into the network input;
* the image units themselves (nights, half-orbits, tiles with their halo) are cut by
  :mod:`xspecseg.imageunits`; :meth:`ModelCard.image_spans` cuts a record into a model's;
* :class:`ModelCard` is the typed, frozen description a checkpoint carries (architecture,
  input component, band and grid, image unit, representation, threshold, event cuts,
  provenance), read from a checkpoint's ``config.json`` through one explicit migration;
* :class:`Architecture` is what a built network is and what inference may do with it
  (down-sampling, receptive field, global pooling).

A model carries both as typed attributes, ``model.xspecseg_card`` (set by
:func:`xspecseg.models.load` and :func:`xspecseg.train.train_model`) and
``model.xspecseg_architecture`` (set by :func:`xspecseg.models.get_model`, or declared by
a model class as a class attribute); everything in xspecseg reads them through
:func:`card_of` and :func:`architecture_of`, which also accept the plain dicts of
earlier versions (``model.xspecseg_config``, ``model.xspecseg_info``), so a config dict
set on an in-memory model still describes it.

Representations
---------------
``"log-relative"`` (the default of new models)
    ``log10(psd)`` minus a low quantile (``background_quantile``, default the lower
    quartile) over time in each frequency bin, minus the same quantile over frequency of
    what remains in each time row, over a fixed scale. A low quantile is the background a
    signal stands on: a fringe, a nucleus or a burst that covers most of a row or most of
    a bin's night still stands out, where a median would take it for background. A constant gain (the
    record in nT, pT or fT; a satellite's calibration) and any spectral tilt that is the
    same all image long (``f**-a`` backgrounds, coil responses, the band-pass edge) cancel
    exactly; so does a level that changes from row to row (diurnal level, storm hours,
    broadband sferics). What is left is the structure a detector should read: power
    relative to its own background.
``"log-fixed"``
    ``(log10(psd) - center) / scale`` with statistics fixed at training time: the models
    shipped before the relative representation. The unit of the record decides its output.

Either way NaN pixels (no data) become ``fill`` and the statistics never depend on how the
record is chunked: the relative one is computed over whole image units only.

Examples
--------
>>> import numpy as np
>>> rep = InputRepresentation("log-relative", scale=0.5)
>>> psd = np.outer(np.ones(6), [1.0, 10.0, 100.0]); psd[2, 1] = 1000.0
>>> x = rep(psd)
>>> bool(np.allclose(rep(psd * 1e-6), x)), round(float(x[2, 1]), 3)
(True, 4.0)
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from .imageunits import DEFAULT_NIGHT, night_spans, orbit_spans

__all__ = [
    "CARD_KEYS",
    "EVENT_SCORE_FEATURES",
    "NORM_STATISTICS",
    "Architecture",
    "ImageUnit",
    "InputRepresentation",
    "ModelCard",
    "NormStatistics",
    "RepresentationMethod",
    "RowBackground",
    "architecture_of",
    "card_of",
    "check_event_score",
]

#: How a spectrogram is turned into model input: ``"log-relative"`` or ``"log-fixed"``.
RepresentationMethod = Literal["log-relative", "log-fixed"]
#: The unit a record is cut into for a model: a night, a half-orbit, or none.
ImageUnit = Literal["night", "half_orbit", "none"]

#: What a network's batch normalisation normalises by (a checkpoint's
#: ``norm_statistics``): batch statistics in training and their running means at inference
#: (PyTorch's), or each image's own in both (:func:`xspecseg.models.use_image_statistics`).
NormStatistics = Literal["running", "image"]
#: The values of :data:`NormStatistics`.
NORM_STATISTICS: tuple[str, ...] = ("running", "image")

#: Event cuts a card may recommend (see :func:`xspecseg.events.extract_events`).
EVENT_CUT_KEYS = (
    "max_impulsiveness",
    "min_mean_probability",
    "min_bandwidth",
    "max_duration",
    "min_event_score",
)


def _log10(psd: np.ndarray) -> np.ndarray:
    # float64: the result must not depend on how the caller typed its input
    x = np.asarray(psd, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(np.where(x > 0, x, np.nan))


def _background(x: np.ndarray, q: float, axis: int) -> np.ndarray:
    """The ``q`` quantile of the finite values along ``axis`` of a 2-D image (NaN where none)."""
    lines = np.moveaxis(x, axis, -1)
    finite = np.isfinite(lines)
    if not finite.all():
        lines = np.where(finite, lines, np.nan)  # an infinite pixel holds no data either
    some = finite.any(axis=-1)
    out = np.full(lines.shape[:-1], np.nan)
    # one sort of every line: bit for bit np.quantile, 2-3x faster on these short lines
    # (NumPy's quantile partitions line by line and pays its overhead per call)
    out[some] = _nanquantile_lines(lines[some], q)
    return np.expand_dims(out, axis)


def _nanquantile_lines(lines: np.ndarray, q: float) -> np.ndarray:
    """``np.nanquantile(lines, q, axis=-1)`` (linear method), bit for bit, for 2-D ``lines``
    that each hold a finite value: one sort of all lines instead of NumPy's line-by-line
    loop (a CSES half-orbit with fill rows has a NaN in every frequency line: 50x faster).
    For lines without NaN it is ``np.quantile``, bit for bit."""
    srt = np.sort(lines, axis=-1)  # NaN last
    n = np.count_nonzero(~np.isnan(srt), axis=-1)
    # NumPy's steps and rounding: virtual index (n - 1) q, its floor and fraction, and
    # the lerp that works from the upper neighbour when the fraction is at least a half
    virtual = (n - 1) * q
    below = np.floor(virtual)
    gamma = virtual - below
    lo = below.astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    a = np.take_along_axis(srt, lo[:, None], axis=-1)[:, 0]
    b = np.take_along_axis(srt, hi[:, None], axis=-1)[:, 0]
    diff = b - a
    out = a + diff * gamma
    np.subtract(b, diff * (1 - gamma), out=out, where=gamma >= 0.5)
    return out


#: How ``"log-relative"`` takes out each time row's background: a ``"level"`` (one quantile
#: over the row) or a ``"tilt"`` (a quadratic over the row fitted to the quantiles of
#: :data:`ROW_SUBBANDS` equal sub-bands): a background whose slope changes during the image
#: (a new day's spectrum at midnight, storm hours) then cancels too.
RowBackground = Literal["level", "tilt"]
#: Sub-bands of a row whose low quantiles the ``"tilt"`` row background is fitted to.
ROW_SUBBANDS = 8


def _box_mean(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Mean of the finite values in a ``size`` window around each pixel; NaN stays NaN."""
    from scipy.ndimage import uniform_filter

    finite = np.isfinite(x)
    total = uniform_filter(np.where(finite, x, 0.0), size, mode="constant")
    count = uniform_filter(finite.astype(np.float64), size, mode="constant")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(finite, total / count, np.nan)


def _row_tilt(x: np.ndarray, q: float) -> np.ndarray:
    """Per row, a quadratic over the column index through the rows' sub-band quantiles."""
    n = x.shape[1]
    k = min(ROW_SUBBANDS, n)
    edges = np.linspace(0, n, k + 1).round().astype(int)
    quant = np.concatenate(
        [_background(x[:, a:b], q, axis=1) for a, b in itertools.pairwise(edges)],
        axis=1,
    )  # (rows, k)
    u = lambda c: 2.0 * c / max(n - 1, 1) - 1.0  # noqa: E731  columns on [-1, 1]
    centres = u(0.5 * (edges[:-1] + edges[1:] - 1))
    degree = min(2, k - 1)
    basis = np.vander(centres, degree + 1)  # (k, degree + 1)
    out = np.empty_like(x)
    full = np.isfinite(quant).all(axis=1)
    coef = np.linalg.pinv(basis) @ quant[full].T  # (degree + 1, rows with every sub-band)
    out[full] = (np.vander(u(np.arange(n)), degree + 1) @ coef).T
    # rows missing a sub-band (part of a row without data): their level only
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows stay NaN
        out[~full] = np.nanmean(quant[~full], axis=1, keepdims=True)
    return out


@dataclasses.dataclass(frozen=True)
class InputRepresentation:
    """How a (time, frequency) PSD image becomes the network input.

    Parameters
    ----------
    method : {"log-relative", "log-fixed"}
        See the module docstring. ``"log-relative"`` must be given whole image units.
    center, scale : float
        Fixed statistics (from the training set) applied after the log (and, for
        ``"log-relative"``, after removing the backgrounds).
    fill : float
        Value of pixels without data in the result.
    clip : float, optional
        Bound of ``|result|`` (a lightning spike of 10 decades stays a finite input).
    background_quantile : float
        Quantile taken as the background of each frequency bin and time row
        (``"log-relative"`` only).
    passes : int
        Times the two backgrounds are removed in turn (a quantile polish): the first pass
        is exact for a gain and a fixed spectral shape, further ones remove more of a level
        that changes with time (a 2-decade ramp over a night: residual 0.2 of the scale
        after one pass, 0.04 after two).
    row_background : {"level", "tilt"}
        What is taken out of each time row (``"log-relative"`` only): one level, or a
        smooth tilt (see :data:`RowBackground`); checkpoints without the key read
        ``"level"``.
    smooth : (int, int), optional
        ``(rows, bins)`` of a moving mean of the log power, taken after each bin's
        background is removed (so gain and tilt still cancel exactly) and before the
        quantile passes (``"log-relative"`` only). A PSD estimated from ``K`` averaged
        periodograms scatters by ``0.43 * sqrt(trigamma(K))`` decades per pixel (0.23 for
        four); a 3 x 3 mean divides that by three for features many pixels wide (a CSES
        nucleus spans tens of rows and bins), and it takes out most of the shift of the
        background quantile that the scatter causes, so the input hardly depends on how
        noisy the estimate was. None (the default, and checkpoints without the key): no
        smoothing.

    Examples
    --------
    >>> import numpy as np
    >>> InputRepresentation("log-fixed", center=1.0, scale=0.5)(
    ...     np.array([[10.0, 100.0, np.nan]])).tolist()
    [[0.0, 2.0, 0.0]]
    """

    method: RepresentationMethod = "log-relative"
    center: float = 0.0
    scale: float = 1.0
    fill: float = 0.0
    clip: float | None = None
    background_quantile: float = 0.25
    passes: int = 2
    row_background: RowBackground = "level"
    smooth: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.smooth is not None:
            sm = tuple(self.smooth) if isinstance(self.smooth, list | tuple) else ()
            if len(sm) != 2 or not all(
                isinstance(k, int | np.integer)
                and not isinstance(k, bool)
                and 1 <= k <= 99
                and k % 2 == 1
                for k in sm
            ):
                # odd: a centred window, so that no feature moves
                raise ValueError(
                    "smooth must be None or two odd integers (rows, bins) in 1..99, "
                    f"got {self.smooth!r}"
                )
            if self.method != "log-relative":
                raise ValueError("smooth applies to the log-relative representation only")
            object.__setattr__(self, "smooth", (int(sm[0]), int(sm[1])))
        if self.row_background not in ("level", "tilt"):
            raise ValueError(
                f"row_background must be 'level' or 'tilt', got {self.row_background!r}"
            )
        if not (isinstance(self.passes, int) and 1 <= self.passes <= 10):
            raise ValueError(f"passes must be an integer in 1..10, got {self.passes!r}")
        if not 0.0 < self.background_quantile < 1.0:
            raise ValueError(
                f"background_quantile must lie in (0, 1), got {self.background_quantile}"
            )
        if self.method not in ("log-relative", "log-fixed"):
            raise ValueError(
                f"unknown input representation {self.method!r} (log-relative, log-fixed)"
            )
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"representation scale must be a positive number, got {self.scale}")
        if not np.isfinite(self.center) or not np.isfinite(self.fill):
            raise ValueError("representation center and fill must be finite")
        if self.clip is not None and not self.clip > 0:
            raise ValueError(f"representation clip must be positive, got {self.clip}")

    @property
    def needs_whole_units(self) -> bool:
        """True when the result depends on the whole image (it cannot be tiled)."""
        return self.method == "log-relative"

    def relative(self, psd: np.ndarray) -> np.ndarray:
        """``log10(psd)`` before ``center``/``scale``: backgrounds removed if relative."""
        x = _log10(psd)
        if self.method == "log-relative":
            if x.ndim != 2:
                raise ValueError(f"a relative representation needs a 2-D image, got {x.shape}")
            if self.smooth is not None:
                x = _box_mean(x - _background(x, self.background_quantile, axis=0), self.smooth)
            for _ in range(self.passes):
                x = x - _background(x, self.background_quantile, axis=0)
                if self.row_background == "tilt":
                    x = x - _row_tilt(x, self.background_quantile)
                else:
                    x = x - _background(x, self.background_quantile, axis=1)
        return x

    def __call__(self, psd: np.ndarray) -> np.ndarray:
        """The float32 network input of one whole image unit (same shape)."""
        x = (self.relative(psd) - self.center) / self.scale
        if self.clip is not None:
            x = np.clip(x, -self.clip, self.clip)
        return np.where(np.isfinite(x), x, self.fill).astype(np.float32)

    @classmethod
    def fit(
        cls,
        images: Sequence[np.ndarray],
        *,
        method: RepresentationMethod = "log-relative",
        fill: float = 0.0,
        clip: float | None = None,
        background_quantile: float = 0.25,
        row_background: RowBackground = "level",
        smooth: tuple[int, int] | None = None,
        max_pixels: int = 4_000_000,
    ) -> InputRepresentation:
        """Median and IQR/1.349 over the finite pixels of ``images`` (deterministic).

        With more than ``max_pixels`` pixels a regular stride subsamples them.
        """
        probe = cls(
            method,
            background_quantile=background_quantile,
            row_background=row_background,
            smooth=smooth,
        )
        vals = [v[np.isfinite(v)] for v in (probe.relative(img).ravel() for img in images)]
        allv = np.concatenate(vals) if vals else np.empty(0)
        if allv.size == 0:
            raise ValueError("cannot fit an input representation: no finite pixel in the images")
        if allv.size > max_pixels:
            allv = allv[:: -(-allv.size // max_pixels)]
        q25, q50, q75 = np.quantile(allv, [0.25, 0.5, 0.75])
        scale = float(q75 - q25) / 1.349
        return cls(
            method,
            center=float(q50),
            scale=scale if scale > 0 else 1.0,
            fill=float(fill),
            clip=clip,
            background_quantile=background_quantile,
            row_background=row_background,
            smooth=smooth,
        )

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        # written only when it is not the default, so that the representation of every
        # model made before it existed keeps its JSON (stores compare it on resume)
        if d["row_background"] == "level":
            del d["row_background"]
        if d["smooth"] is None:
            del d["smooth"]
        else:
            d["smooth"] = list(d["smooth"])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InputRepresentation:
        """From :meth:`to_dict`, or from the normalisation dict of older checkpoints."""
        d = dict(d)
        if d.get("method") in ("log10-median-iqr", "median-iqr") or "median" in d:
            if d.get("log10", True) is False:
                raise ValueError("a checkpoint normalisation without log10 is not supported")
            return cls(
                "log-fixed",
                center=float(d["median"]),
                scale=float(d["scale"]),
                fill=float(d.get("fill", 0.0)),
            )
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown input-representation keys {sorted(unknown)}")
        clip = d.get("clip")
        return cls(
            d.get("method", "log-relative"),
            center=float(d.get("center", 0.0)),
            scale=float(d.get("scale", 1.0)),
            fill=float(d.get("fill", 0.0)),
            clip=None if clip is None else float(clip),
            background_quantile=float(d.get("background_quantile", 0.25)),
            passes=int(d.get("passes", 2)),
            row_background=d.get("row_background", "level"),
            smooth=d.get("smooth"),
        )


#: event property -> how an event score reads it ("logit", "log10" or "linear"); the
#: properties a card's ``event_score`` may name (see :mod:`xspecseg.events.score`)
EVENT_SCORE_FEATURES: dict[str, str] = {
    "mean_probability": "logit",
    "max_probability": "logit",
    "impulsiveness": "linear",
    "bandwidth": "log10",
    "duration": "log10",
    "contrast": "linear",
    "core_contrast": "linear",
    "spread": "linear",
    "isolation_frequency": "linear",
    "isolation_time": "linear",
    "fill": "linear",
}


def check_event_score(value: Any) -> dict[str, Any]:
    """A logistic event score's JSON form, checked and normalised; anything else refused.

    Examples
    --------
    >>> d = {"method": "logistic", "features": ["fill"], "center": [0.5], "scale": [0.2],
    ...      "coef": [1.5], "intercept": -0.3}
    >>> check_event_score(d) == d
    True
    """
    if not isinstance(value, dict) or value.get("method") != "logistic":
        raise ValueError(f"not a logistic event score: {value!r:.200}")
    try:
        features = [str(f) for f in value["features"]]
        out = {
            "method": "logistic",
            "features": features,
            **{k: [float(v) for v in value[k]] for k in ("center", "scale", "coef")},
            "intercept": float(value["intercept"]),
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed event score: {exc}") from exc
    if not features:
        raise ValueError("an event score needs at least one feature")
    unknown = [f for f in features if f not in EVENT_SCORE_FEATURES]
    if unknown:
        raise ValueError(
            f"unknown event score feature(s) {unknown}; known: {list(EVENT_SCORE_FEATURES)}"
        )
    for key in ("center", "scale", "coef"):
        if len(out[key]) != len(features):
            raise ValueError(
                f"event score {key} has {len(out[key])} values for {len(features)} features"
            )
        if not all(np.isfinite(out[key])):
            raise ValueError(f"event score {key} must be finite")
    if not all(s > 0 for s in out["scale"]):
        raise ValueError("event score scales must be positive")
    if not np.isfinite(out["intercept"]):
        raise ValueError("event score intercept must be finite")
    return out


def _event_score(value: Any) -> dict[str, Any] | None:
    """A config's ``event_score``, checked (a malformed one is refused, not ignored)."""
    return None if value is None else check_event_score(value)


def _hhmm(value: float | str) -> str:
    """18.5 or "18:30" -> "18:30" (UT)."""
    if isinstance(value, str):
        return value
    minutes = round(float(value) * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


#: Keys of a checkpoint config that the card reads (everything else is kept as ``extra``).
CARD_KEYS = (
    "name",
    "kwargs",
    "component",
    "band",
    "frequency_bins",
    "image_unit",
    "night_window",
    "representation",
    "threshold",
    *EVENT_CUT_KEYS,
    "event_score",
    "provenance",
)


@dataclasses.dataclass(frozen=True)
class ModelCard:
    """What a checkpoint says about the model: everything inference must reproduce.

    Build it with :meth:`from_config` from a checkpoint's config (older configs are
    migrated there, in one place) or directly when training.

    Examples
    --------
    >>> card = ModelCard.from_config({"name": "unet", "kwargs": {}, "image_kind": "night",
    ...                               "night_window": ["18:00", "06:00"]})
    >>> card.image_unit, card.representation.method
    ('night', 'log-fixed')
    """

    architecture: str
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    component: str | None = None
    band: tuple[float, float] | None = None
    frequency_bins: int | None = None
    image_unit: ImageUnit = "none"
    night_window: tuple[str, str] | None = None
    representation: InputRepresentation = dataclasses.field(
        default_factory=lambda: InputRepresentation("log-fixed")
    )
    threshold: float = 0.5
    event_cuts: dict[str, float] = dataclasses.field(default_factory=dict)
    event_score: dict[str, Any] | None = None
    provenance: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> ModelCard:
        """The card of a checkpoint config; the only place older key names are understood."""
        cfg = dict(cfg)
        # migration of format_version 1 configs written before the card existed
        if "representation" not in cfg and "normalisation" in cfg:
            cfg["representation"] = cfg.get("normalisation")
        if "image_unit" not in cfg:
            kind = {"night": "night", "halforbit": "half_orbit", "half_orbit": "half_orbit"}
            cfg["image_unit"] = kind.get(str(cfg.get("image_kind"))) or (
                "night" if cfg.get("night_window") else "none"
            )
        rep = cfg.get("representation")
        band = cfg.get("band")
        window = cfg.get("night_window")
        return cls(
            architecture=str(cfg.get("name", "")),
            kwargs=dict(cfg.get("kwargs") or {}),
            component=None if cfg.get("component") is None else str(cfg["component"]),
            band=None if band is None else (float(band[0]), float(band[1])),
            frequency_bins=None
            if cfg.get("frequency_bins") is None
            else int(cfg["frequency_bins"]),
            image_unit=cfg["image_unit"],
            night_window=None if window is None else (_hhmm(window[0]), _hhmm(window[1])),
            representation=(
                InputRepresentation.from_dict(rep) if rep else InputRepresentation("log-fixed")
            ),
            threshold=float(cfg.get("threshold", 0.5)),
            event_cuts={k: float(cfg[k]) for k in EVENT_CUT_KEYS if cfg.get(k) is not None},
            event_score=_event_score(cfg.get("event_score")),
            provenance=dict(cfg.get("provenance") or {}),
        )

    def image_spans(self, data: Any, image_unit: ImageUnit | None = None) -> list[tuple[int, int]]:
        """Row ranges of the whole images this model takes from a record.

        Parameters
        ----------
        data : xr.DataArray or xr.Dataset
            The record: its ``time`` axis (nights) or ``orbit``/``orbit_direction``
            coordinates (half-orbits).
        image_unit : {"night", "half_orbit"}, optional
            Instead of the card's own.

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> t = np.datetime64("2020-01-01") + np.arange(48) * np.timedelta64(1, "h")
        >>> card = ModelCard("unet", image_unit="night", night_window=("20:00", "04:00"))
        >>> card.image_spans(xr.DataArray(np.arange(48.0), coords={"time": t}))
        [(20, 28)]
        """
        unit = self.image_unit if image_unit is None else image_unit
        if unit == "night":
            return night_spans(data["time"].values, self.night_window or DEFAULT_NIGHT)
        if unit == "half_orbit":
            return orbit_spans(data)
        raise ValueError(f"image unit {unit!r} cuts no whole images (night, half_orbit)")

    def to_config(self) -> dict[str, Any]:
        """The JSON-able keys a checkpoint stores for this card."""
        out: dict[str, Any] = {
            "name": self.architecture,
            "kwargs": self.kwargs,
            "component": self.component,
            "band": None if self.band is None else list(self.band),
            "frequency_bins": self.frequency_bins,
            "image_unit": self.image_unit,
            "night_window": None if self.night_window is None else list(self.night_window),
            "representation": self.representation.to_dict(),
            "threshold": self.threshold,
            "provenance": self.provenance,
            **self.event_cuts,
        }
        if self.event_score is not None:
            out["event_score"] = self.event_score
        return json.loads(json.dumps(out))


@dataclasses.dataclass(frozen=True)
class Architecture:
    """What a built network is, and what inference may do with it.

    Parameters
    ----------
    name : str
        Registry name (``"unet"``, ``"odm_unet"``, ``"smp:<Arch>"``); empty for a network
        built elsewhere.
    kwargs : dict
        Every constructor argument, so that ``get_model(name, **kwargs)`` rebuilds it.
    downsampling : int
        Total down-sampling factor: inputs are padded to a multiple of it, so tiles at
        offsets that are multiples of it share the whole image's pooling grid.
    receptive_field : int, optional
        Odd width ``R`` bounding the input rows an output row depends on (``R // 2`` each
        side), apart from global pooling; None when unknown.
    global_context : bool
        Some layer pools over the whole feature map (squeeze-excitation, attention, ASPP,
        pyramid pooling): tiles can then only approximate a whole-image run.

    Examples
    --------
    >>> arch = Architecture.from_info({"downsampling": 2, "receptive_field": 16, "local": False})
    >>> arch.global_context, arch.local, arch.to_info()["name"]
    (True, False, '')
    """

    name: str = ""
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    downsampling: int = 1
    receptive_field: int | None = None
    global_context: bool = False

    @property
    def local(self) -> bool:
        """True when every output depends only on inputs within the receptive field."""
        return not self.global_context

    def to_info(self) -> dict[str, Any]:
        """The plain dict of earlier versions (``model.xspecseg_info``)."""
        return {
            "name": self.name,
            "kwargs": dict(self.kwargs),
            "downsampling": self.downsampling,
            "receptive_field": self.receptive_field,
            "global_context": self.global_context,
            "local": self.local,
        }

    @classmethod
    def from_info(cls, info: Mapping[str, Any]) -> Architecture:
        """From :meth:`to_info`'s dict; ``local`` alone stands for ``not global_context``."""
        rf = info.get("receptive_field")
        return cls(
            name=str(info.get("name") or ""),
            kwargs=dict(info.get("kwargs") or {}),
            downsampling=int(info.get("downsampling") or 1),
            receptive_field=None if rf is None else int(rf),
            global_context=bool(info.get("global_context", not info.get("local", True))),
        )


def architecture_of(model: Any) -> Architecture:
    """The :class:`Architecture` a model carries (defaults for a bare network).

    Read from ``model.xspecseg_architecture`` (an instance or class attribute), else
    migrated from the ``model.xspecseg_info`` dict of earlier versions.

    Examples
    --------
    >>> class Net:
    ...     xspecseg_architecture = Architecture(downsampling=4, receptive_field=31)
    >>> architecture_of(Net()).downsampling, architecture_of(object()).local
    (4, True)
    """
    arch = getattr(model, "xspecseg_architecture", None)
    if arch is not None:
        if not isinstance(arch, Architecture):
            raise TypeError(
                f"model.xspecseg_architecture must be an Architecture, got {type(arch).__name__}"
            )
        return arch
    info = getattr(model, "xspecseg_info", None)
    if isinstance(info, Mapping):
        return Architecture.from_info(info)
    return Architecture()


def card_of(model: Any) -> ModelCard | None:
    """The :class:`ModelCard` a model carries, or None for a bare network.

    Read from ``model.xspecseg_card``, else migrated from a config dict set on the model
    (``model.xspecseg_config``, a convenience for models in memory). A model loaded from a
    checkpoint carries both, made from one config; if they no longer agree, which one is
    meant cannot be known and a ValueError says so: after changing one, delete the other.

    Examples
    --------
    >>> class Net:
    ...     pass
    >>> net = Net()
    >>> card_of(net) is None
    True
    >>> net.xspecseg_config = {"night_window": [18.0, 6.0], "threshold": 0.7}
    >>> card_of(net).image_unit, card_of(net).night_window
    ('night', ('18:00', '06:00'))
    """
    card = getattr(model, "xspecseg_card", None)
    if card is not None and not isinstance(card, ModelCard):
        raise TypeError(f"model.xspecseg_card must be a ModelCard, got {type(card).__name__}")
    config = getattr(model, "xspecseg_config", None)
    if not config:
        return card
    if not isinstance(config, Mapping):
        raise TypeError(f"model.xspecseg_config must be a dict, got {type(config).__name__}")
    from_config = ModelCard.from_config(dict(config))
    if card is not None and from_config != card:
        raise ValueError(
            "the model's xspecseg_card and xspecseg_config disagree: after changing one, "
            "delete the other (e.g. model.xspecseg_card = dataclasses.replace(card, "
            "threshold=0.7); del model.xspecseg_config)"
        )
    return card or from_config
