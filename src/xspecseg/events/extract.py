"""The xarray shell of event extraction: :func:`extract_events`.

It checks and aligns its inputs, hands the arrays to the array core
(:mod:`~xspecseg.events.core`) and writes what comes back as a catalogue: the events'
times and frequencies on the cube's coordinates, their fringes, positions and the
provenance, then applies the event cuts (:mod:`~xspecseg.events.cuts`).
"""

from __future__ import annotations

import json
from typing import Any, Literal

import numpy as np
import xarray as xr

from ..cube import select_component
from .context import add_context, unit_spans
from .core import Merged, chunk_context, chunk_partials, merge_partials
from .cuts import _resolve_cuts, select_events
from .fringes import FringeOptions, _event_fringes, _resolve_fringes
from .position import add_position
from .rowstats import _event_impulsiveness
from .score import EventScore

__all__ = ["extract_events"]

#: attrs of the probability cube that a catalogue keeps: the model and where it ran
_PROVENANCE = (
    "model",
    "model_architecture",
    "model_sha256",
    "representation",
    "image_unit",
    "station",
    "component",
)


def extract_events(
    probability: xr.DataArray,
    psd: xr.DataArray | xr.Dataset | None = None,
    threshold: float | None = None,
    min_pixels: int = 20,
    connectivity: int = 2,
    fringes: bool | Literal["auto"] | FringeOptions = "auto",
    *,
    component: str | None = None,
    merge_frequency: float | Literal["auto"] | None = "auto",
    max_gap: Any = "auto",
    max_impulsiveness: float | Literal["model"] | None = "model",
    min_mean_probability: float | Literal["model"] | None = "model",
    min_bandwidth: float | Literal["model"] | None = "model",
    max_duration: float | Literal["model"] | None = "model",
    min_event_score: float | Literal["model"] | None = "model",
    context: bool | Literal["auto"] = "auto",
    image_spans: list[tuple[int, int]] | None = None,
    client: Any = None,
    compute_kwargs: dict[str, Any] | None = None,
) -> xr.Dataset:
    """Connected regions of a probability cube as an event catalogue.

    Works on lazy, chunked cubes one time-chunk at a time (see
    :mod:`~xspecseg.events.core`); the result does not depend on the chunking.

    Parameters
    ----------
    probability : xr.DataArray
        Dims ``(time, frequency)``, values in [0, 1], NaN where there is no data.
        Dask-backed arrays are processed one time-chunk per task (a chunking along
        frequency is undone per time-chunk); numpy arrays as one chunk. Satellite cubes
        carry ``latitude``, ``longitude``, ``magnetic_latitude``, ``orbit`` and
        ``orbit_direction`` coords on ``time``; ground cubes the station's ``latitude``,
        ``longitude`` (and ``altitude_km``) as attrs.
    psd : xr.DataArray or xr.Dataset, optional
        PSD on the same grid, ``(time, frequency)`` or a ``(component, time, frequency)``
        cube (or the cube Dataset) from which ``component`` is taken. Gives ``peak_psd``,
        ``impulsiveness`` and the fringes.
    threshold : float, optional
        Pixels with ``probability >= threshold`` belong to events. Default:
        ``probability.attrs["threshold"]`` (the model's recommended cut) when present,
        else 0.5.
    min_pixels : int
        Events with fewer pixels above the threshold are dropped.
    connectivity : {1, 2}
        1: pixels touching by an edge are connected; 2: also by a corner.
    fringes : bool, "auto" or FringeOptions
        Analyse IAR fringes (``delta_f``, ``fringe_frequency``; see
        :mod:`~xspecseg.events.fringes`) with the default :class:`FringeOptions`, or with
        the ones given. ``"auto"``: when ``psd`` is given and the highest frequency is
        below :data:`IAR_MAX_FREQUENCY` (20 Hz).
    component : str, optional
        Component to take from a multi-component ``psd``; default
        ``probability.attrs["component"]``.
    merge_frequency : float, "auto" or None
        Regions whose pixels in the same time row are at most this many Hz apart form one
        event (the above-threshold pixels stay the event's pixels; only the grouping
        changes). IAR detections are often one region per fringe; this groups the
        fringes of a night into one event. ``"auto"``: 1.5 Hz (the widest IAR spacing
        reported) when fringes are analysed, else no grouping.
    max_gap : timedelta-like, "auto" or None
        Rows further apart in time than this are not connected (``"auto"``: five times the
        median time step; None: never split). Rows of different ``orbit`` are never
        connected either, so an event does not run from one half-orbit into the next.
    max_impulsiveness : float, "model" or None
        Drop events whose ``impulsiveness`` (see :func:`impulsiveness`) exceeds this:
        regions a network drew over bursts of lightning whistlers, which jump by tenths
        of a decade from row to row where anomalies change smoothly. ``"model"``: the
        model's recommended cut (``probability.attrs["max_impulsiveness"]``, set by
        ``xspecseg tune-events``) when there is one and ``psd`` is given, else no cut.
        A number needs ``psd``.
    min_mean_probability : float, "model" or None
        Drop events whose ``mean_probability`` is below this. ``"model"``: the model's
        recommended cut (``probability.attrs["min_mean_probability"]``) when there is
        one, else no cut.
    min_bandwidth, max_duration : float, "model" or None
        Drop events narrower than ``min_bandwidth`` Hz (``f_max - f_min``) or longer than
        ``max_duration`` s (``end_time - start_time``): regions whose shape is not that of
        the events the model was trained on (for CSES: hiss edges and bands running for
        minutes along the band limits, where anomalies are nuclei some kHz wide and under
        three minutes long). ``"model"``: the model's recommended cut when there is one.
        The recommended cuts are tuned on the model's training data so that 95 % of the
        true events pass each (``xspecseg tune-events``); every cut applied is recorded
        in the catalogue's attrs. :func:`select_events` applies the same cuts to a
        catalogue afterwards.
    min_event_score : float, "model" or None
        Drop events whose ``event_score`` is below this. The score is the model's
        logistic combination of each event's properties
        (:class:`~xspecseg.events.score.EventScore`, fitted by ``xspecseg tune-events
        --score``, carried in ``probability.attrs["event_score"]``); it needs ``psd``.
        ``"model"``: the model's recommended cut when it has a score and ``psd`` is given.
    context : bool or "auto"
        Measure each event's context properties (:mod:`~xspecseg.events.context`) in the
        PSD; they need ``psd``. Where a time-chunk is one whole image unit (a probability
        store written one half-orbit per chunk) they are measured while labelling it;
        other events take a second pass over the PSD of their units. ``"auto"``: when the
        model carries an event score, which reads them.
    image_spans : list of (int, int), optional
        Row ranges of the image units the context properties are measured in; default: half-orbits when ``probability`` has an ``orbit`` coordinate,
        else nights from 18 to 06 UT.
    client : dask.distributed.Client, optional
        Compute on this client, as the store writers do; default: the current client if
        there is one, else the local threaded scheduler. Inside a Dask worker task the
        default is to compute in that task (``scheduler="synchronous"``).
    compute_kwargs : dict, optional
        Passed to ``dask.compute`` (e.g. ``scheduler="synchronous"``); ``client`` wins
        over a ``scheduler`` given here.

    Returns
    -------
    xr.Dataset
        Dim ``event``, ordered by the event's first pixel (time, then frequency):

        - ``start_time``, ``end_time``: time coordinates (block starts) of the first and
          last rows holding the event;
        - ``peak_time``, ``f_peak``: the pixel of maximum probability (ties: the earliest,
          then the lowest frequency);
        - ``f_min``, ``f_max``: lowest and highest frequency bin of its pixels;
        - ``area_pixels``, ``mean_probability``, ``max_probability``;
        - ``peak_psd``: the PSD at the probability peak pixel (NaN without ``psd``), not
          the maximum PSD inside the event, which for a wide-band event is just the
          low-frequency end of a falling spectrum;
        - ``component`` when known; ``latitude``, ``longitude``, ``magnetic_latitude`` at
          ``peak_time`` (satellite: from the coords; ground: the station's, magnetic
          latitude from :func:`xspecseg.geomag.magnetic_latitude` once per call);
          ``season`` (DJF/MAM/JJA/SON of ``peak_time``); ``hemisphere`` (N/S of the
          geographic latitude); ``orbit``, ``orbit_direction`` for satellites;
        - with ``psd``: ``impulsiveness`` (:func:`impulsiveness` of the event's
          row-mean log10 PSD); with ``context``, the context properties of
          :mod:`~xspecseg.events.context` (``contrast``, ``core_contrast``, ``spread``,
          ``isolation_frequency``, ``isolation_time``, ``fill``) and, when the model has
          a score, ``event_score``;
        - with fringes: ``delta_f`` (median over rows of the fitted comb spacing; NaN when
          no row holds a comb), ``n_fringes`` and ``fringe_frequency`` (event, fringe),
          the comb's teeth around ``peak_time``, NaN-padded.

    Examples
    --------
    >>> import xspecseg as xs
    >>> cube = xs.build_cube(xs.synth.ground_station("2013-01-03", days=1,
    ...                                             components=("H",)))
    >>> truth = xs.synth.iar_truth(cube).astype("float32")
    >>> cat = extract_events(truth, psd=cube.psd, component="H")
    >>> float(cat.delta_f.max()) > 0.2
    True
    """
    probability, threshold = _checked(probability, threshold, connectivity)
    comp = component or probability.attrs.get("component")
    psd_da = None
    if psd is not None:
        psd_da, comp = _select_psd(psd, probability, component)
    freq = np.asarray(probability["frequency"].values, dtype=np.float64)
    opts = _resolve_fringes(fringes, psd_da is not None, freq)
    cuts = _resolve_cuts(
        {
            "max_impulsiveness": max_impulsiveness,
            "min_mean_probability": min_mean_probability,
            "min_bandwidth": min_bandwidth,
            "max_duration": max_duration,
            "min_event_score": min_event_score,
        },
        probability.attrs,
        psd_da is not None,
    )
    if merge_frequency == "auto":
        merge_frequency = 1.5 if opts is not None else None
    compute_kwargs = (
        compute_kwargs if client is None else {**(compute_kwargs or {}), "scheduler": client}
    )
    score = _model_score(probability.attrs.get("event_score"))
    if context == "auto":
        context = psd_da is not None and score is not None
    if context and psd_da is None:
        raise ValueError("context properties need psd (the cube the probabilities came from)")
    if context:
        image_spans = unit_spans(probability) if image_spans is None else sorted(image_spans)
    parts = chunk_partials(
        probability.data,
        None if psd_da is None else psd_da.data,
        _row_breaks(probability, max_gap),
        threshold=threshold,
        connectivity=connectivity,
        grow=_grow_bins(merge_frequency, freq),
        freq=freq,
        fringe_opts=opts,
        compute_kwargs=compute_kwargs,
        units=image_spans if context else (),
    )
    merged = merge_partials(parts, connectivity, min_pixels)
    ds = _catalogue(merged, probability, psd_da, freq)
    peak_row = merged.stats["ppos"][merged.keep] // max(freq.size, 1)
    _add_row_statistics(ds, parts, merged, peak_row, psd_da is not None, opts)
    add_position(ds, probability, peak_row, comp)
    if context:
        ds = add_context(
            ds,
            probability,
            psd_da,
            threshold,
            spans=image_spans,
            compute_kwargs=compute_kwargs,
            known=chunk_context(parts, merged),
        )
        if score is not None:
            ds["event_score"] = (
                "event",
                score(ds),
                {"long_name": "the model's event score (log-odds of a true event)"},
            )
            ds.attrs["event_score"] = json.dumps(score.to_dict())
    ds.attrs.update(
        {
            "threshold": threshold,
            "min_pixels": int(min_pixels),
            "connectivity": int(connectivity),
            "merge_frequency": float(merge_frequency or 0.0),
            "fringes": int(opts is not None),
        }
    )
    _copy_provenance(ds, probability)
    if "event_score" not in ds and min_event_score == "model":
        cuts["min_event_score"] = None  # the model's score was not computed (context off)
    return select_events(ds, **cuts)


def _model_score(value: Any) -> EventScore | None:
    """The model's event score carried in a probability's attrs (a dict or its JSON)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = json.loads(value)
    return EventScore.from_dict(value)


def _checked(
    probability: Any, threshold: float | None, connectivity: int
) -> tuple[xr.DataArray, float]:
    """``probability`` as ``(time, frequency)`` and the threshold, or a clear error."""
    if not isinstance(probability, xr.DataArray):
        raise TypeError("probability must be an xarray.DataArray (time, frequency)")
    if set(probability.dims) != {"time", "frequency"}:
        raise ValueError(f"probability must have dims (time, frequency), got {probability.dims}")
    probability = probability.transpose("time", "frequency")
    if connectivity not in (1, 2):
        raise ValueError("connectivity must be 1 or 2")
    if threshold is None:
        threshold = float(probability.attrs.get("threshold", 0.5))
    return probability, float(threshold)


def _select_psd(
    psd: xr.DataArray | xr.Dataset, probability: xr.DataArray, component: str | None
) -> tuple[xr.DataArray, str | None]:
    """The ``(time, frequency)`` PSD of the probability's component, on its grid."""
    if isinstance(psd, xr.Dataset):
        psd = psd["psd"]
    comp = component or probability.attrs.get("component")
    if comp is None and "component" in probability.coords and probability["component"].ndim == 0:
        comp = str(probability["component"].values)
    if "component" in psd.dims:
        if comp is not None:
            psd = select_component(psd, comp)
        elif psd.sizes["component"] == 1:
            psd = psd.isel(component=0)
            comp = str(psd["component"].values)
        else:
            raise ValueError(
                "psd has several components: pass component= or set probability.attrs['component']"
            )
    psd = psd.transpose("time", "frequency")
    for dim in ("time", "frequency"):
        if psd.sizes[dim] != probability.sizes[dim] or not np.array_equal(
            psd[dim].values, probability[dim].values
        ):
            raise ValueError(f"psd and probability differ along {dim!r}: same grid needed")
    return psd, comp


def _row_breaks(probability: xr.DataArray, max_gap: Any) -> np.ndarray:
    """True where a row is not connected to the row before it (orbit change, time gap)."""
    nt = probability.sizes["time"]
    brk = np.zeros(nt, bool)
    if nt == 0:
        return brk
    brk[0] = True
    if "orbit" in probability.coords and probability["orbit"].dims == ("time",):
        orb = np.asarray(probability["orbit"].values)
        brk[1:] |= orb[1:] != orb[:-1]
    t = np.asarray(probability["time"].values).astype("datetime64[ns]").astype(np.int64)
    if nt > 1:
        step = np.diff(t)
        if max_gap == "auto":
            gap = 5 * float(np.median(step))
        elif max_gap is None:
            gap = np.inf
        else:
            gap = float(np.timedelta64(max_gap).astype("timedelta64[ns]").astype(np.int64))
        brk[1:] |= step > gap
    return brk


def _grow_bins(merge_frequency: float | None, freq: np.ndarray) -> int:
    """Bins to dilate the mask by along frequency so that gaps of ``merge_frequency`` close."""
    if not merge_frequency:
        return 0
    df_hz = float(np.median(np.diff(freq))) if freq.size > 1 else 1.0
    return max(0, int(np.ceil((float(merge_frequency) / df_hz - 1) / 2)))


def _catalogue(
    merged: Merged, probability: xr.DataArray, psd: xr.DataArray | None, freq: np.ndarray
) -> xr.Dataset:
    """The per-event variables of the combined statistics, on the cube's coordinates."""
    s, keep = merged.stats, merged.keep
    nf = max(freq.size, 1)
    times = np.asarray(probability["time"].values).astype("datetime64[ns]")
    peak_row, peak_col = np.divmod(s["ppos"][keep], nf)
    count = s["count"][keep]
    psd_attrs = {"units": psd.attrs["units"]} if psd is not None and "units" in psd.attrs else {}
    return xr.Dataset(
        {
            "start_time": ("event", times[s["first_pix"][keep] // nf]),
            "end_time": ("event", times[s["last_row"][keep]]),
            "peak_time": ("event", times[peak_row]),
            "f_min": ("event", freq[s["fmin"][keep]], {"units": "Hz"}),
            "f_max": ("event", freq[s["fmax"][keep]], {"units": "Hz"}),
            "f_peak": ("event", freq[peak_col], {"units": "Hz"}),
            "area_pixels": ("event", count),
            "mean_probability": ("event", s["psum"][keep] / np.maximum(count, 1)),
            "max_probability": ("event", s["pmax"][keep]),
            "peak_psd": (
                "event",
                s["peak_psd"][keep],
                {"long_name": "PSD at the probability peak"} | psd_attrs,
            ),
        },
        coords={"event": np.arange(keep.size)},
    )


def _add_row_statistics(
    ds: xr.Dataset,
    parts: list[dict[str, Any]],
    merged: Merged,
    peak_row: np.ndarray,
    with_psd: bool,
    opts: FringeOptions | None,
) -> None:
    """Add ``impulsiveness`` (with the PSD) and the fringe variables (with ``opts``)."""
    if with_psd:
        ds["impulsiveness"] = (
            "event",
            _event_impulsiveness([p["rows"] for p in parts], merged.node, merged.keep),
            {
                "long_name": "median absolute second time-difference of the event's "
                "row-mean log10 PSD",
                "units": "1",
            },
        )
    if opts is not None:
        combs = [p["fringes"] for p in parts]
        fringe_vars = _event_fringes(combs, merged.node, merged.keep, peak_row, opts.rows)
        for name, var in fringe_vars.items():
            ds[name] = var


def _copy_provenance(ds: xr.Dataset, probability: xr.DataArray) -> None:
    """Keep the model's identity and the inference's version from the probability attrs."""
    for key in _PROVENANCE:
        if probability.attrs.get(key) is not None:
            ds.attrs[key] = probability.attrs[key]
    # the catalogue's own xspecseg_version is that of its writer; keep the inference's
    if probability.attrs.get("xspecseg_version") is not None:
        ds.attrs["inference_xspecseg_version"] = str(probability.attrs["xspecseg_version"])
