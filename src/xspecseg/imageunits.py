"""How a record is cut into the images a model sees: nights, half-orbits and tiles.

A model is trained on whole *image units* and must be run on the same units, cut the same
way; training (:mod:`xspecseg.training.images`) and inference (:mod:`xspecseg.infer`) both
cut through this module, which needs neither torch nor xarray:

* **nights** — a UT window ``(start, end)`` (``"18:00"``, ``"06:00"``, or hours as numbers);
  an end at or before the start is on the next day, so the window crosses midnight and
  is named after its evening. Times are UTC: there is no daylight-saving shift.
* **half-orbits** — runs of rows sharing the satellite's orbit number and direction.
* **tiles** — for a model without an image unit: the time axis cut into tiles whose halo
  covers the network's receptive field, at offsets that are multiples of its total
  down-sampling, so that stitching the tiles gives the whole-image result.

Spans are ``(start, stop)`` row ranges (``stop`` excluded) into the record's time axis.

Examples
--------
>>> import numpy as np
>>> t = np.datetime64("2020-01-01T12:00") + np.arange(48) * np.timedelta64(1, "h")
>>> night_spans(t, ("18:00", "06:00"))
[(6, 18), (30, 42)]
>>> halforbit_spans([7, 7, 7, 8, 8], ["asc", "asc", "desc", "desc", "desc"])
[(0, 2), (2, 3), (3, 5)]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_NIGHT",
    "DEFAULT_TILE",
    "MIN_PARTIAL_NIGHT",
    "Night",
    "Tile",
    "halforbit_spans",
    "night_images",
    "night_spans",
    "nights",
    "orbit_spans",
    "tile_geometry",
    "tile_spans",
]

#: Default night window (UT) of ground-station images; it crosses midnight.
DEFAULT_NIGHT: tuple[str, str] = ("18:00", "06:00")
#: Default tile length (rows) of a model run without an image unit.
DEFAULT_TILE = 512

_NS_PER_HOUR = 3_600_000_000_000
_NS_PER_DAY = 24 * _NS_PER_HOUR

Window = Sequence[str | float]


def hours(value: str | float) -> float:
    """A time of day as hours: ``"18:30"`` or ``18.5`` -> ``18.5``.

    Examples
    --------
    >>> hours("06:15"), hours(18)
    (6.25, 18.0)
    """
    if isinstance(value, str):
        hh, _, mm = value.partition(":")
        return int(hh) + (int(mm) if mm else 0) / 60.0
    return float(value)


def _offset_ns(value: str | float) -> int:
    # "HH:MM" exactly in integers; hours given as numbers rounded to the nanosecond
    if isinstance(value, str):
        hh, _, mm = value.partition(":")
        return int(hh) * _NS_PER_HOUR + (int(mm) if mm else 0) * 60_000_000_000
    return round(float(value) * _NS_PER_HOUR)


def _window_ns(window: Window) -> tuple[int, int]:
    """(offset of the start from the evening's midnight, length) in ns."""
    start = _offset_ns(window[0])
    length = (_offset_ns(window[1]) - start) % _NS_PER_DAY
    # a window ending at its start hour lasts a whole day
    return start, length or _NS_PER_DAY


def _as_ns(time: Any) -> np.ndarray:
    return np.asarray(time).astype("datetime64[ns]")


@dataclasses.dataclass(frozen=True)
class Night:
    """One night window of a record.

    Attributes
    ----------
    evening : numpy.datetime64
        The date (``datetime64[D]``) the window starts on: the night's name.
    start, end : numpy.datetime64
        The window ``[start, end)`` in UT (``datetime64[ns]``).
    rows : (int, int)
        The rows of the record inside the window.
    """

    evening: np.datetime64
    start: np.datetime64
    end: np.datetime64
    rows: tuple[int, int]


def nights(time: Any, window: Window = DEFAULT_NIGHT, *, complete_only: bool = True) -> list[Night]:
    """Every night window of a time axis that holds at least one row.

    Parameters
    ----------
    time : array of datetime64
        The record's time axis (row start times, increasing, regular).
    window : (start, end)
        UT window as ``"HH:MM"`` strings or hours; an end at or before the start is on the
        next day.
    complete_only : bool
        Keep only windows the time axis covers entirely (the axis reaching one row step
        past its last time): an image cut short by the record's ends does not look like
        the whole ones a model learns from.

    Returns
    -------
    list of Night
        In time order.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.datetime64("2020-01-01T20:00") + np.arange(36) * np.timedelta64(1, "h")
    >>> [(str(n.evening), n.rows) for n in nights(t, complete_only=False)]
    [('2020-01-01', (0, 10)), ('2020-01-02', (22, 34))]
    >>> [(str(n.evening), n.rows) for n in nights(t)]
    [('2020-01-02', (22, 34))]
    """
    t = _as_ns(time)
    if t.size == 0:
        return []
    offset, length = _window_ns(window)
    step = t[1] - t[0] if t.size > 1 else np.timedelta64(0, "ns")
    t_end = t[-1] + step
    out = []
    day = t[0].astype("datetime64[D]") - np.timedelta64(1, "D")
    while day <= t[-1].astype("datetime64[D]"):
        t0 = day.astype("datetime64[ns]") + np.timedelta64(offset, "ns")
        t1 = t0 + np.timedelta64(length, "ns")
        if not complete_only or (t[0] <= t0 and t1 <= t_end):
            i0, i1 = (int(i) for i in np.searchsorted(t, [t0, t1]))
            if i1 > i0:
                out.append(Night(day, t0, t1, (i0, i1)))
        day += np.timedelta64(1, "D")
    return out


def night_spans(time: Any, window: Window = DEFAULT_NIGHT) -> list[tuple[int, int]]:
    """Row ranges of every complete night window ``(start, end)`` UT in ``time``.

    ``start`` and ``end`` are hours (``18.0``) or ``"HH:MM"`` strings; see :func:`nights`.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.datetime64("2020-01-01") + np.arange(72) * np.timedelta64(1, "h")
    >>> night_spans(t, (18.0, 6.0))
    [(18, 30), (42, 54)]
    """
    return [n.rows for n in nights(time, window)]


#: A night window cut short by the record's start or end is still an image when the record
#: covers at least this share of it (an hour of a 12-hour window).
MIN_PARTIAL_NIGHT = 1 / 12


def night_images(
    time: Any, window: Window = DEFAULT_NIGHT, *, min_share: float = MIN_PARTIAL_NIGHT
) -> list[tuple[int, int, int, int]]:
    """Every night image of a record: ``(start, stop, before, after)``.

    ``start, stop`` are the record's rows inside the window; ``before`` and ``after`` are
    the rows the window extends beyond the record's start or end (0 for a complete night).
    A night cut short by the record's ends is an image with those rows missing, as a night
    with a recording gap is, when the record covers at least ``min_share`` of its window;
    the model then sees the whole window with the missing rows as gaps.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.datetime64("2020-01-01T00:00") + np.arange(48) * np.timedelta64(1, "h")
    >>> night_images(t, ("18:00", "06:00"))
    [(0, 6, 6, 0), (18, 30, 0, 0), (42, 48, 0, 6)]
    """
    t = _as_ns(time)
    if t.size < 2:  # no row step: no window is known to be covered (as in night_spans)
        return []
    step = t[1] - t[0]
    out = []
    for n in nights(t, window, complete_only=False):
        s, e = n.rows
        total = int(np.ceil((n.end - n.start) / step))
        before = int(np.ceil((t[0] - n.start) / step)) if t[0] > n.start else 0
        after = int(np.ceil((n.end - (t[-1] + step)) / step)) if n.end > t[-1] + step else 0
        if before == after == 0:
            out.append((s, e, 0, 0))
        elif e - s >= min_share * total:
            out.append((s, e, before, after))
    return out


def halforbit_spans(orbit: Any, direction: Any = None) -> list[tuple[int, int]]:
    """Row ranges of consecutive rows sharing ``orbit`` (and ``direction``, if given).

    Examples
    --------
    >>> import numpy as np
    >>> halforbit_spans(np.array([1, 1, 2, 2, 2]))
    [(0, 2), (2, 5)]
    """
    keys = [np.asarray(orbit)] + ([] if direction is None else [np.asarray(direction)])
    n = keys[0].shape[0]
    if n == 0:
        return []
    change = np.zeros(n, bool)
    change[0] = True
    for k in keys:
        if k.shape[0] != n:
            raise ValueError(f"orbit and direction differ in length ({n} vs {k.shape[0]})")
        change[1:] |= k[1:] != k[:-1]
    starts = np.flatnonzero(change)
    stops = np.r_[starts[1:], n]
    return [(int(s), int(e)) for s, e in zip(starts, stops, strict=True)]


def orbit_spans(data: Any) -> list[tuple[int, int]]:
    """Half-orbit row ranges of a satellite PSD or cube (its ``orbit`` and
    ``orbit_direction`` coordinates along ``time``).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> psd = xr.DataArray(np.ones((4, 2)), dims=("time", "frequency"),
    ...                    coords={"orbit": ("time", [5, 5, 5, 5]),
    ...                            "orbit_direction": ("time", ["asc", "asc", "desc", "desc"])})
    >>> orbit_spans(psd)
    [(0, 2), (2, 4)]
    """
    if "orbit" not in data.coords:
        raise ValueError("half-orbit images need 'orbit' (and 'orbit_direction') coords")
    direction = data["orbit_direction"].values if "orbit_direction" in data.coords else None
    return halforbit_spans(data["orbit"].values, direction)


def _round_up(n: int, m: int) -> int:
    return -(-int(n) // m) * m


def tile_geometry(
    downsampling: int = 1,
    receptive_field: int | None = None,
    *,
    tile: int | None = None,
    halo: int | None = None,
) -> tuple[int, int]:
    """``(tile, halo)`` rows for a network: both multiples of its down-sampling.

    The halo defaults to the receptive field (a bound: every output row then sees all the
    input it depends on), or to two default tiles when that is unknown.

    Examples
    --------
    >>> tile_geometry(16, 275), tile_geometry(16, 275, tile=100, halo=0)
    ((512, 288), (112, 0))
    """
    down = int(downsampling or 1)
    rf = receptive_field or 2 * DEFAULT_TILE
    return _round_up(tile or DEFAULT_TILE, down), _round_up(halo if halo is not None else rf, down)


@dataclasses.dataclass(frozen=True)
class Tile:
    """One tile: the network reads rows ``[lo, hi)`` and keeps its output on ``[t0, t1)``."""

    lo: int
    hi: int
    t0: int
    t1: int


def tile_spans(start: int, stop: int, total: int, tile: int, halo: int) -> list[Tile]:
    """The tiles that cover rows ``[start, stop)`` of an axis of ``total`` rows.

    Tiles start at multiples of ``tile`` (whatever ``start``), so any cut of the axis into
    pieces gives the same tiles, and read ``halo`` more rows on each side where there are.

    Examples
    --------
    >>> [(t.lo, t.hi, t.t0, t.t1) for t in tile_spans(5, 20, 20, 8, 2)]
    [(0, 10, 0, 8), (6, 18, 8, 16), (14, 20, 16, 20)]
    """
    return [
        Tile(max(0, t0 - halo), min(total, t0 + tile + halo), t0, min(t0 + tile, total))
        for t0 in range((start // tile) * tile, stop, tile)
    ]
