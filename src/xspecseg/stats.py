"""Distributions of catalogued events, as xarray Datasets.

Each function counts the events of a catalogue (an ``xr.Dataset`` with dim ``event``, see
:mod:`xspecseg.catalogue`) in groups: by season and hemisphere, magnetic latitude,
frequency, month and local time, as the IAR and ODM_Unet papers report them. Counting is
xarray ``groupby`` with explicit groupers (:class:`xarray.groupers.UniqueGrouper` with
fixed labels, :class:`xarray.groupers.BinGrouper`), which xarray runs through flox
(one vectorised pass for all groups), and every label appears in the result even when no
event falls in it.

Conventions shared by all functions:

* the result has a variable ``count`` (int64) over the group dims; missing combinations
  count 0, and a catalogue with zero events gives all zeros;
* events whose key is missing (NaN, NaT, "") or outside the bins are not counted;
* bin labels are the ``pandas.Interval`` values that ``groupby_bins`` gives
  (``pd.cut``'s categories), on a dim named ``<variable>_bins``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from xarray.groupers import BinGrouper, Grouper, UniqueGrouper

from .geomag import SEASONS, hemisphere_of, local_time, season_of

__all__ = [
    "HEMISPHERES",
    "SEASONS",
    "frequency_distribution",
    "local_time_occurrence",
    "maglat_distribution",
    "monthly_occurrence",
    "seasonal_distribution",
]

HEMISPHERES: tuple[str, ...] = ("N", "S")
_ONE = "_one"


# ----------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------
def _check(cat: xr.Dataset) -> None:
    if not isinstance(cat, xr.Dataset) or "event" not in cat.dims:
        raise ValueError("expected a catalogue: an xarray.Dataset with dimension 'event'")


def _event_time(cat: xr.Dataset, time: str | None) -> xr.DataArray:
    if time is not None:
        return cat[time]
    for name in ("peak_time", "start_time"):
        if name in cat:
            return cat[name]
    raise KeyError("catalogue has neither 'peak_time' nor 'start_time'")


def _season(cat: xr.Dataset, time: str | None = None) -> xr.DataArray:
    if "season" in cat:
        return cat["season"]
    return season_of(_event_time(cat, time))


def _hemisphere(cat: xr.Dataset) -> xr.DataArray:
    if "hemisphere" in cat:
        return cat["hemisphere"]
    if "latitude" in cat:
        return hemisphere_of(cat["latitude"])
    raise KeyError("catalogue has neither 'hemisphere' nor 'latitude'")


def _require(cat: xr.Dataset, name: str, hint: str = "") -> xr.DataArray:
    if name not in cat:
        raise KeyError(f"catalogue has no variable {name!r}{hint}")
    return cat[name]


def _edges(bins: Any, lo: float | None, hi: float | None, what: str) -> np.ndarray:
    """Bin edges: a sequence as given, or an int as that many equal bins over [lo, hi]."""
    if np.ndim(bins) == 0:
        if lo is None or hi is None:
            raise TypeError(f"{what}: bins must be a sequence of edges")
        return np.linspace(lo, hi, int(bins) + 1)
    edges = np.asarray(bins)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"{what}: bins must be at least two increasing edges, got {bins!r}")
    return edges


def _bin_labels(edges: np.ndarray, right: bool, include_lowest: bool) -> pd.IntervalIndex:
    # pd.cut's categories depend only on the edges: the labels groupby_bins would give
    return pd.cut(
        np.array([], dtype=float), edges, right=right, include_lowest=include_lowest
    ).categories


def _count(
    keys: Mapping[str, xr.DataArray],
    groupers: Mapping[str, Grouper],
    labels: Mapping[str, Any],
) -> xr.DataArray:
    """Number of events per combination of ``keys``, on exactly ``labels`` (zeros filled).

    ``keys`` are 1-D DataArrays along ``event``; ``groupers`` the xarray groupers for them;
    ``labels`` the full label set of each output dim (named after the key, ``_bins`` added
    for bin groupers).
    """
    first = next(iter(keys.values()))
    ds = xr.Dataset({name: k.variable for name, k in keys.items()})
    # float ones: groups with no event come back NaN (int sums may come back as garbage
    # from the NaN fill); counts stay exact below 2**53
    ds[_ONE] = ("event", np.ones(first.sizes["event"], dtype=np.float64))
    # events with a key outside its labels / bins are dropped before grouping, so an
    # empty selection (which xarray's groupby refuses) is caught here
    valid = np.ones(first.sizes["event"], dtype=bool)
    for name, g in groupers.items():
        v = np.asarray(ds[name].values)
        if isinstance(g, BinGrouper):
            valid &= np.asarray(
                pd.notna(
                    pd.cut(v.astype(float), g.bins, right=g.right, include_lowest=g.include_lowest)
                )
            )
        else:
            valid &= np.isin(v, np.asarray(g.labels))
    dims = list(labels)
    shape = [len(labels[d]) for d in dims]
    coords = {d: labels[d] for d in dims}
    if not valid.any():
        return xr.DataArray(np.zeros(shape, dtype=np.int64), coords=coords, dims=dims)
    ds = ds.isel(event=np.flatnonzero(valid))
    summed = ds[[_ONE, *keys]].groupby(dict(groupers)).sum()[_ONE]
    # the grouper's label coords may come back as object dtype: index by our own labels
    summed = summed.transpose(*dims)
    out = xr.DataArray(
        np.nan_to_num(np.asarray(summed.values, dtype=float)).astype(np.int64),
        coords=coords,
        dims=dims,
    )
    return out


def _unique(labels: Sequence[Any]) -> UniqueGrouper:
    return UniqueGrouper(labels=np.asarray(labels))


# ----------------------------------------------------------------------------------------
# public
# ----------------------------------------------------------------------------------------
def seasonal_distribution(cat: xr.Dataset) -> xr.Dataset:
    """Events per season and hemisphere (the ODM_Unet paper's Figure 12 counts).

    Season comes from ``season`` or else ``peak_time``; hemisphere from ``hemisphere`` or
    else the sign of ``latitude``.

    Parameters
    ----------
    cat : xarray.Dataset
        Catalogue with dim ``event``.

    Returns
    -------
    xarray.Dataset
        ``count`` (season, hemisphere) int64 with seasons DJF, MAM, JJA, SON and
        hemispheres N, S; ``fraction`` = count / total counted (0 when nothing counted).

    Examples
    --------
    >>> from xspecseg.catalogue import empty_catalogue
    >>> int(seasonal_distribution(empty_catalogue())["count"].sum())
    0
    """
    _check(cat)
    seasons, hemis = np.array(SEASONS), np.array(HEMISPHERES)
    count = _count(
        {"season": _season(cat), "hemisphere": _hemisphere(cat)},
        {"season": _unique(seasons), "hemisphere": _unique(hemis)},
        {"season": seasons, "hemisphere": hemis},
    )
    total = int(count.sum())
    fraction = count / total if total else xr.zeros_like(count, dtype=float)
    count.attrs = {"long_name": "number of events", "units": "1"}
    fraction.attrs = {"long_name": "fraction of all counted events", "units": "1"}
    return xr.Dataset({"count": count, "fraction": fraction}, attrs={"total": total})


def maglat_distribution(
    cat: xr.Dataset,
    bins: int | Sequence[float] | np.ndarray,
    by_season: bool = False,
    *,
    right: bool = True,
    include_lowest: bool = False,
) -> xr.Dataset:
    """Events per magnetic-latitude bin, optionally per season.

    Parameters
    ----------
    cat : xarray.Dataset
        Catalogue with ``magnetic_latitude`` (see
        :func:`xspecseg.geomag.add_geomag_variables`).
    bins : int or sequence of float
        Bin edges in degrees, or a number of equal bins over [-90, 90].
    by_season : bool, default False
        Add a leading ``season`` dim (DJF, MAM, JJA, SON).
    right, include_lowest : bool
        As in ``pandas.cut`` / ``groupby_bins``.

    Returns
    -------
    xarray.Dataset
        ``count`` over ``magnetic_latitude_bins`` (and ``season``).

    Examples
    --------
    >>> from xspecseg.catalogue import empty_catalogue
    >>> maglat_distribution(empty_catalogue(), [-90, -58, 0, 58, 90])["count"].values
    array([0, 0, 0, 0])
    """
    _check(cat)
    edges = _edges(bins, -90.0, 90.0, "maglat_distribution")
    mlat = _require(cat, "magnetic_latitude", "; add it with xspecseg.geomag.add_geomag_variables")
    keys: dict[str, xr.DataArray] = {}
    groupers: dict[str, Grouper] = {}
    labels: dict[str, Any] = {}
    if by_season:
        seasons = np.array(SEASONS)
        keys["season"] = _season(cat)
        groupers["season"] = _unique(seasons)
        labels["season"] = seasons
    keys["magnetic_latitude"] = mlat
    groupers["magnetic_latitude"] = BinGrouper(edges, right=right, include_lowest=include_lowest)
    labels["magnetic_latitude_bins"] = _bin_labels(edges, right, include_lowest)
    count = _count(keys, groupers, labels)
    count.attrs = {"long_name": "number of events", "units": "1"}
    return xr.Dataset({"count": count})


def frequency_distribution(
    cat: xr.Dataset,
    bins: Sequence[float] | np.ndarray,
    *,
    variable: str = "f_peak",
    right: bool = True,
    include_lowest: bool = False,
) -> xr.Dataset:
    """Events per frequency bin of ``f_peak`` (or another frequency ``variable``).

    Parameters
    ----------
    cat : xarray.Dataset
        Catalogue.
    bins : sequence of float
        Bin edges in Hz.
    variable : str, default "f_peak"
        The variable binned; the result dim is ``<variable>_bins``.
    right, include_lowest : bool
        As in ``pandas.cut`` / ``groupby_bins``.

    Returns
    -------
    xarray.Dataset
        ``count`` over ``f_peak_bins``.

    Examples
    --------
    >>> from xspecseg.catalogue import empty_catalogue
    >>> frequency_distribution(empty_catalogue(), [0, 1, 2])["count"].dims
    ('f_peak_bins',)
    """
    _check(cat)
    edges = _edges(bins, None, None, "frequency_distribution")
    f = _require(cat, variable)
    count = _count(
        {variable: f},
        {variable: BinGrouper(edges, right=right, include_lowest=include_lowest)},
        {f"{variable}_bins": _bin_labels(edges, right, include_lowest)},
    )
    count.attrs = {"long_name": "number of events", "units": "1"}
    return xr.Dataset({"count": count})


def _exposure_by_month(exposure: Any) -> xr.DataArray:
    if isinstance(exposure, xr.DataArray):
        exp = exposure.reindex(month=np.arange(1, 13))
    elif isinstance(exposure, pd.Series | Mapping):
        s = pd.Series(exposure).reindex(np.arange(1, 13))
        exp = xr.DataArray(s.to_numpy(dtype=float), dims="month")
    else:
        arr = np.asarray(exposure, dtype=float)
        if arr.shape != (12,):
            raise ValueError("exposure must have 12 values, January to December")
        exp = xr.DataArray(arr, dims="month")
    return exp.assign_coords(month=np.arange(1, 13)).astype(float)


def monthly_occurrence(
    cat: xr.Dataset, exposure: Any = None, *, time: str | None = None
) -> xr.Dataset:
    """Events per calendar month, optionally per unit of observing exposure.

    Parameters
    ----------
    cat : xarray.Dataset
        Catalogue.
    exposure : array_like of 12, pandas.Series, mapping or DataArray over ``month``, optional
        How much was observed each month (nights, half-orbits, hours...). Adds ``rate`` =
        count / exposure (NaN where the exposure is 0 or missing) and ``exposure``.
    time : str, optional
        Time variable; default ``peak_time``, else ``start_time``.

    Returns
    -------
    xarray.Dataset
        ``count`` over ``month`` = 1..12 (and ``rate``, ``exposure``).

    Examples
    --------
    >>> from xspecseg.catalogue import empty_catalogue
    >>> monthly_occurrence(empty_catalogue())["month"].values.tolist()[:3]
    [1, 2, 3]
    """
    _check(cat)
    t = _event_time(cat, time)
    months = np.arange(1, 13)
    tv = np.asarray(t.values, dtype="datetime64[ns]")
    m = np.where(np.isnat(tv), 0, tv.astype("datetime64[M]").astype(np.int64) % 12 + 1)
    count = _count(
        {"month": xr.DataArray(m, dims="event")},
        {"month": _unique(months)},
        {"month": months},
    )
    count.attrs = {"long_name": "number of events", "units": "1"}
    out = xr.Dataset({"count": count})
    if exposure is not None:
        exp = _exposure_by_month(exposure)
        out["exposure"] = exp
        out["rate"] = (count / exp.where(exp > 0)).assign_attrs(
            long_name="events per unit exposure"
        )
    return out


def local_time_occurrence(
    cat: xr.Dataset,
    bins: int | Sequence[float] | np.ndarray = 24,
    *,
    longitude: float | None = None,
    time: str | None = None,
) -> xr.Dataset:
    """Events per bin of solar local time (UT + longitude / 15) at the event time.

    Parameters
    ----------
    cat : xarray.Dataset
        Catalogue.
    bins : int or sequence of float, default 24
        Number of equal bins over [0, 24) h, or edges in hours. Bins are closed on the
        left, ``[0, 1), [1, 2), ...``.
    longitude : float, optional
        Station longitude (degrees east) for a fixed station. Default: the catalogue's
        ``longitude`` variable, else ``cat.attrs["longitude"]``.
    time : str, optional
        Time variable; default ``peak_time``, else ``start_time``.

    Returns
    -------
    xarray.Dataset
        ``count`` over ``local_time_bins``.

    Examples
    --------
    >>> from xspecseg.catalogue import empty_catalogue
    >>> local_time_occurrence(empty_catalogue(), longitude=-3.2)["count"].shape
    (24,)
    """
    _check(cat)
    edges = _edges(bins, 0.0, 24.0, "local_time_occurrence")
    t = _event_time(cat, time)
    if longitude is not None:
        lon: Any = float(longitude)
    elif "longitude" in cat:
        lon = cat["longitude"]
    elif "longitude" in cat.attrs:
        lon = float(cat.attrs["longitude"])
    else:
        raise KeyError("no longitude: pass longitude= or give the catalogue a 'longitude'")
    lt = xr.DataArray(local_time(t, lon)).broadcast_like(t)
    count = _count(
        {"local_time": lt},
        {"local_time": BinGrouper(edges, right=False)},
        {"local_time_bins": _bin_labels(edges, False, False)},
    )
    count.attrs = {"long_name": "number of events", "units": "1"}
    return xr.Dataset({"count": count})
