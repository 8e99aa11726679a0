"""What an event looks like against its surroundings: contrast, core and isolation.

A network's region says where it is confident, not what the spectrum there looks like.
The nucleus-shaped CSES-01 anomalies have a bright core fading outward and stand out of
the spectrum above and below them; their look-alikes (a patch of auroral hiss, the part
of a broadband emission the network happened to mark) are flatter inside and continue
beyond the region. These properties measure that from the PSD of the event's image unit
(its half-orbit or night), in the log PSD relative to the unit's own per-frequency
median, so that each is exactly invariant to a constant gain and to any spectral tilt
(any factor that depends on frequency alone):

- ``contrast``: mean relative log PSD of the event's pixels (decades);
- ``core_contrast``: its 90th percentile minus its median, the bright core;
- ``spread``: its standard deviation;
- ``isolation_frequency``: ``contrast`` minus the mean relative log PSD of the brighter of
  the two bands just below and just above the event's box, over the box's rows;
- ``isolation_time``: the same against the rows just before and just after the box;
- ``fill``: the share of the box's pixels that belong to the event.

The event's pixels are those of its time-frequency box at or above the threshold. Each
event is computed from its whole image unit, so the result does not depend on how the
cube is chunked. :func:`add_context` adds the variables to a catalogue (one Dask task per
image unit holding events); :func:`event_context` is the kernel.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> psd = 10 ** rng.normal(0, 0.1, (60, 40))
>>> psd[20:30, 10:20] *= 100  # a bright patch
>>> prob = np.zeros(psd.shape); prob[20:30, 10:20] = 0.9
>>> ctx = event_context(psd, prob, 0.5, np.array([[20, 29, 10, 19]]))
>>> round(float(ctx["contrast"][0]), 1), round(float(ctx["isolation_frequency"][0]), 1)
(2.0, 2.0)
"""

from __future__ import annotations

import functools
from typing import Any

import dask
import dask.array as da
import numpy as np
import xarray as xr

from .._compute import compute, tasks_over
from ..imageunits import DEFAULT_NIGHT, halforbit_spans, night_images

__all__ = ["CONTEXT_VARIABLES", "add_context", "event_context"]

#: variable -> (long name, units) of the context properties
CONTEXT_VARIABLES: dict[str, tuple[str, str]] = {
    "contrast": (
        "mean log10 PSD of the event's pixels over the unit's per-frequency median",
        "1",
    ),
    "core_contrast": ("90th percentile minus median of the event's relative log10 PSD", "1"),
    "spread": ("standard deviation of the event's relative log10 PSD", "1"),
    "isolation_frequency": (
        "contrast minus that of the brighter frequency band beside the event's box",
        "1",
    ),
    "isolation_time": ("contrast minus that of the brighter time span beside the event's box", "1"),
    "fill": ("share of the event's box at or above the threshold", "1"),
}


def _rows(*blocks: np.ndarray, first: int, lo: int, hi: int) -> np.ndarray:
    """Rows ``lo:hi`` of consecutive ``blocks`` whose first row is row ``first``."""
    joined = blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=0)
    return joined[lo - first : hi - first]


def _column_median(x: np.ndarray) -> np.ndarray:
    """``np.nanmedian(x, axis=0)``, equal to it to the bit, without its per-column loop.

    With any NaN, NumPy's ``nanmedian`` calls ``median`` once per column (80 ms for a
    half-orbit of 1019 x 501, most of the context pass). NaN are set to +inf, which sorts
    last, and the middle of each column's other values is picked: by one ``partition``
    when every column holds as many (fill rows and gaps blank whole rows), else by a sort.
    """
    present = ~np.isnan(x)
    counts = present.sum(axis=0)
    out = np.full(x.shape[1], np.nan)
    if counts.size == 0 or not counts.any():
        return out
    filled = np.ascontiguousarray(np.where(present, x, np.inf).T)
    lo, hi = (counts - 1) // 2, counts // 2
    if counts.min() == counts.max():
        kth = sorted({int(lo[0]), int(hi[0])})
        part = np.partition(filled, kth, axis=1)
        return (part[:, lo[0]] + part[:, hi[0]]) / 2
    part = np.sort(filled, axis=1)
    ok = counts > 0
    rows = np.flatnonzero(ok)
    out[ok] = (part[rows, lo[ok]] + part[rows, hi[ok]]) / 2
    return out


def _relative_log(psd: np.ndarray) -> np.ndarray:
    """log10 PSD minus its per-frequency median over the rows (NaN where no data)."""
    x = np.asarray(psd, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        log = np.log10(np.where(x > 0, x, np.nan))
        return log - _column_median(log)[np.newaxis, :]


def _mean(block: np.ndarray) -> float:
    finite = block[np.isfinite(block)]
    return float(finite.mean()) if finite.size else np.nan


def event_context(
    psd: np.ndarray, probability: np.ndarray, threshold: float, boxes: np.ndarray
) -> dict[str, np.ndarray]:
    """The context properties of events in one image unit.

    Parameters
    ----------
    psd, probability : np.ndarray
        ``(time, frequency)`` of the whole image unit.
    threshold : float
        The pixels of a box at or above it are the event's.
    boxes : np.ndarray
        ``(n, 4)`` integer rows ``(row0, row1, col0, col1)``, inclusive, into the unit.

    Returns
    -------
    dict of np.ndarray
        One float64 array of ``n`` values per name of :data:`CONTEXT_VARIABLES` (NaN where
        the event has no finite pixel, or no band or span beside it).
    """
    rel = _relative_log(psd)
    prob = np.nan_to_num(np.asarray(probability, dtype=np.float64), nan=-np.inf)
    nt, nf = rel.shape
    out = {k: np.full(len(boxes), np.nan) for k in CONTEXT_VARIABLES}
    for k, (r0, r1, c0, c1) in enumerate(np.asarray(boxes, dtype=np.int64)):
        box = (slice(r0, r1 + 1), slice(c0, c1 + 1))
        inside = prob[box] >= threshold
        out["fill"][k] = inside.mean() if inside.size else np.nan
        values = rel[box][inside]
        values = values[np.isfinite(values)]
        if values.size == 0:
            continue
        mean = float(values.mean())
        out["contrast"][k] = mean
        out["spread"][k] = float(values.std())
        if values.size >= 3:
            q50, q90 = np.quantile(values, [0.5, 0.9])
            out["core_contrast"][k] = float(q90 - q50)
        dr, dc = max(3, (r1 - r0 + 1) // 2), max(3, (c1 - c0 + 1) // 2)
        below = _mean(rel[r0 : r1 + 1, max(c0 - dc, 0) : c0])
        above = _mean(rel[r0 : r1 + 1, c1 + 1 : min(c1 + 1 + dc, nf)])
        before = _mean(rel[max(r0 - dr, 0) : r0, c0 : c1 + 1])
        after = _mean(rel[r1 + 1 : min(r1 + 1 + dr, nt), c0 : c1 + 1])
        for name, sides in (
            ("isolation_frequency", (below, above)),
            ("isolation_time", (before, after)),
        ):
            finite = [s for s in sides if np.isfinite(s)]
            if finite:
                out[name][k] = mean - max(finite)
    return out


def unit_spans(probability: xr.DataArray) -> list[tuple[int, int]]:
    """The image units of a probability cube: half-orbits, else nights (18–06 UT)."""
    if "orbit" in probability.coords and probability["orbit"].dims == ("time",):
        direction = (
            probability["orbit_direction"].values
            if "orbit_direction" in probability.coords
            else None
        )
        return halforbit_spans(probability["orbit"].values, direction)
    # the nights predict examines: those cut short by the record's ends too
    return [sp[:2] for sp in night_images(probability["time"].values, DEFAULT_NIGHT)]


def _unit_context(
    *blocks: np.ndarray,
    n_prob: int,
    prob_first: int,
    psd_first: int,
    lo: int,
    hi: int,
    threshold: float,
    boxes: np.ndarray,
) -> dict[str, np.ndarray]:
    """:func:`event_context` of one unit, rows ``lo:hi``, from the blocks that hold them."""
    prob = _rows(*blocks[:n_prob], first=prob_first, lo=lo, hi=hi)
    psd = _rows(*blocks[n_prob:], first=psd_first, lo=lo, hi=hi)
    return event_context(psd, prob, threshold, boxes)


def _unit_results(
    prob: Any,
    psd: Any,
    boxes: dict[tuple[int, int], np.ndarray],
    threshold: float,
    compute_kwargs: dict[str, Any] | None,
) -> dict[tuple[int, int], dict[str, np.ndarray]]:
    """The context of every unit's events; one task per unit, the graph written once."""
    if not isinstance(prob, da.Array) and not isinstance(psd, da.Array):
        p, s = np.asarray(prob), np.asarray(psd)
        return {
            (a, b): event_context(s[a:b], p[a:b], threshold, bx) for (a, b), bx in boxes.items()
        }
    arrays = [da.asarray(x).rechunk({1: -1}) for x in (prob, psd)]
    blocks = [x.to_delayed().ravel() for x in arrays]
    bounds = [np.cumsum((0, *x.chunks[0])) for x in arrays]
    calls: dict[Any, tuple[Any, list[Any]]] = {}
    for (a, b), bx in boxes.items():
        args: list[Any] = []
        first = []
        for blk, bnd in zip(blocks, bounds):
            j0 = int(np.searchsorted(bnd, a, side="right")) - 1
            j1 = int(np.searchsorted(bnd, b, side="left"))
            args.extend(blk[j0:j1])
            first.append((int(bnd[j0]), j1 - j0))
        func = functools.partial(
            _unit_context,
            n_prob=first[0][1],
            prob_first=first[0][0],
            psd_first=first[1][0],
            lo=a,
            hi=b,
            threshold=threshold,
            boxes=bx,
        )
        calls[(a, b)] = (func, args)
    token = dask.base.tokenize(arrays[0].name, arrays[1].name, threshold, list(boxes))
    done = tasks_over(f"event-context-{token}", calls)
    values = compute(*done.values(), **(compute_kwargs or {}))
    return dict(zip(done, values))


def add_context(
    catalogue: xr.Dataset,
    probability: xr.DataArray,
    psd: xr.DataArray,
    threshold: float,
    *,
    spans: list[tuple[int, int]] | None = None,
    compute_kwargs: dict[str, Any] | None = None,
    known: tuple[np.ndarray, dict[str, np.ndarray]] | None = None,
) -> xr.Dataset:
    """``catalogue`` with the :data:`CONTEXT_VARIABLES` of each event.

    Each event is measured in the image unit holding its first row; an event outside
    every unit (a ground record without a night window covering it) is measured over the
    rows of its box and as many again on each side.

    Parameters
    ----------
    catalogue : xr.Dataset
        From :func:`~xspecseg.events.extract_events` on ``probability``.
    probability, psd : xr.DataArray
        ``(time, frequency)`` on the same grid, numpy- or Dask-backed.
    threshold : float
        The threshold the catalogue was made with.
    spans : list of (int, int), optional
        Row ranges of the image units; default: half-orbits (``orbit`` coordinate), else
        nights from 18 to 06 UT.
    compute_kwargs : dict, optional
        Passed to ``dask.compute``.
    known : (np.ndarray, dict), optional
        ``(mask, values)``: the events already measured (``mask`` True, in catalogue order)
        and their values, as the labelling pass measures the events of chunks that are
        whole image units (:func:`~xspecseg.events.core.chunk_context`); only the others
        are read again.
    """
    n = int(catalogue.sizes["event"])
    values = {k: np.full(n, np.nan) for k in CONTEXT_VARIABLES}
    todo = np.ones(n, bool)
    if known is not None:
        todo = ~np.asarray(known[0], bool)
        for key in CONTEXT_VARIABLES:
            values[key][~todo] = known[1][key][~todo]
    if todo.any():
        time = np.asarray(probability["time"].values)
        freq = np.asarray(probability["frequency"].values)
        r0 = np.searchsorted(time, catalogue["start_time"].values)
        r1 = np.searchsorted(time, catalogue["end_time"].values)
        c0 = np.searchsorted(freq, catalogue["f_min"].values)
        c1 = np.searchsorted(freq, catalogue["f_max"].values)
        spans = unit_spans(probability) if spans is None else sorted(spans)
        starts = np.array([a for a, _ in spans], dtype=np.int64)
        stops = np.array([b for _, b in spans], dtype=np.int64)
        groups: dict[tuple[int, int], list[int]] = {}
        for k in np.flatnonzero(todo):
            j = int(np.searchsorted(starts, r0[k], side="right")) - 1
            if j >= 0 and r0[k] < stops[j] and r1[k] < stops[j]:
                span = (int(starts[j]), int(stops[j]))
            else:
                h = int(r1[k] - r0[k] + 1)
                span = (max(int(r0[k]) - h, 0), min(int(r1[k]) + 1 + h, time.size))
            groups.setdefault(span, []).append(k)
        events_of = {span: np.asarray(events) for span, events in groups.items()}
        boxes = {
            (a, b): np.stack([r0[idx] - a, r1[idx] - a, c0[idx], c1[idx]], axis=1)
            for (a, b), idx in events_of.items()
        }
        results = _unit_results(probability.data, psd.data, boxes, float(threshold),
                                compute_kwargs)  # fmt: skip
        for span, res in results.items():
            for key in CONTEXT_VARIABLES:
                values[key][events_of[span]] = res[key]
    out = catalogue.copy()
    for key, (long_name, units) in CONTEXT_VARIABLES.items():
        out[key] = ("event", values[key], {"long_name": long_name, "units": units})
    return out
