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
  (``pd.cut``'s categories), on a dim named ``<variable>_bins``;
* the attrs say what was counted: ``n_events``, ``station`` and ``component`` where the
  catalogue names them, ``time_coverage_start``/``time_coverage_end`` of its events (the
  figures of :mod:`xspecseg.plot` put them in their titles).

:func:`distributions` gathers them into the one CF-1.10 Dataset that ``xspecseg stats``
writes as ``stats.nc``: bins as numeric centres with CF ``bounds``, fixed bins
(:data:`FREQUENCY_EDGES`, :data:`MAGLAT_EDGES`) so that two runs compare, and the
catalogue's provenance.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr
from xarray.groupers import BinGrouper, Grouper, UniqueGrouper

from ._atomic import atomic_write
from ._provenance import append_history, history_line
from ._version import __version__
from .events.fringes import IAR_MAX_FREQUENCY
from .geomag import SEASONS, hemisphere_of, local_time, season_of

__all__ = [
    "FREQUENCY_EDGES",
    "HEMISPHERES",
    "MAGLAT_EDGES",
    "SEASONS",
    "catalogue_kind",
    "describe",
    "distributions",
    "frequency_distribution",
    "local_time_occurrence",
    "maglat_distribution",
    "monthly_occurrence",
    "open_distributions",
    "seasonal_distribution",
    "write_distributions",
]

#: The hemispheres of the distributions: north and south.
HEMISPHERES: tuple[str, ...] = ("N", "S")
_ONE = "_one"
#: Fixed ``f_peak`` bin edges (Hz) of :func:`distributions`, per kind of catalogue: the
#: same bins whatever the events, so that the counts of two runs compare. ``"iar"``: the
#: ground IAR band 0-10 Hz (the ``iar`` cube preset's), 0.5 Hz wide; ``"cses"``: the CSES
#: EFD VLF band 0-25.6 kHz (1024 bins of 25 Hz), 800 Hz wide. Closed on the right, the
#: first also on the left, so both band edges count.
FREQUENCY_EDGES: dict[str, np.ndarray] = {
    "iar": np.linspace(0.0, 10.0, 21),
    "cses": np.linspace(0.0, 25_600.0, 33),
}
#: Magnetic-latitude bin edges (degrees) of :func:`distributions`: 2 degrees wide.
MAGLAT_EDGES: np.ndarray = np.linspace(-90.0, 90.0, 91)


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


def _iso(t: np.datetime64) -> str:
    return str(np.datetime_as_string(t, unit="s")) + "Z"


def describe(cat: xr.Dataset) -> dict[str, Any]:
    """What a catalogue covers, as attrs: ``n_events``, ``station``, ``component``, period.

    Parameters
    ----------
    cat : xarray.Dataset
        Catalogue with dim ``event``.

    Returns
    -------
    dict
        ``n_events``; ``station`` and ``component`` when the catalogue names them (its
        attrs, or the distinct values of its ``component`` variable joined by "; ");
        ``time_coverage_start``/``time_coverage_end`` (ISO, UTC) of its event times.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> cat = xr.Dataset({"peak_time": ("event", np.array(["2013-01-05T20:00"], "M8[ns]"))},
    ...                  attrs={"station": "ESK"})
    >>> describe(cat)["time_coverage_start"]
    '2013-01-05T20:00:00Z'
    """
    out: dict[str, Any] = {"n_events": int(cat.sizes.get("event", 0))}
    if "station" in cat.attrs:
        out["station"] = str(cat.attrs["station"])
    if "component" in cat.attrs:
        out["component"] = str(cat.attrs["component"])
    elif "component" in cat and cat["component"].size:
        names = [str(c) for c in np.unique(np.asarray(cat["component"].values, dtype=str)) if c]
        if names:
            out["component"] = "; ".join(names)
    first = [cat[n].values for n in ("start_time", "peak_time") if n in cat]
    last = [cat[n].values for n in ("end_time", "peak_time") if n in cat]
    lo = np.concatenate(first).astype("datetime64[ns]") if first else np.array([], "M8[ns]")
    hi = np.concatenate(last).astype("datetime64[ns]") if last else np.array([], "M8[ns]")
    lo, hi = lo[~np.isnat(lo)], hi[~np.isnat(hi)]
    if lo.size and hi.size:
        out["time_coverage_start"] = _iso(lo.min())
        out["time_coverage_end"] = _iso(hi.max())
    return out


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
    return xr.Dataset(
        {"count": count, "fraction": fraction}, attrs={"total": total, **describe(cat)}
    )


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
    return _binned_count(
        cat, "magnetic_latitude", mlat, edges, right, include_lowest, by_season=by_season
    )


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
    return _binned_count(cat, variable, f, edges, right, include_lowest)


def _binned_count(
    cat: xr.Dataset,
    name: str,
    values: xr.DataArray,
    edges: np.ndarray,
    right: bool,
    include_lowest: bool,
    *,
    by_season: bool = False,
) -> xr.Dataset:
    """Events per bin of ``values`` over dim ``<name>_bins``, after a leading ``season``
    dim when ``by_season``: the body of the binned distributions."""
    keys: dict[str, xr.DataArray] = {}
    groupers: dict[str, Grouper] = {}
    labels: dict[str, Any] = {}
    if by_season:
        seasons = np.array(SEASONS)
        keys["season"] = _season(cat)
        groupers["season"] = _unique(seasons)
        labels["season"] = seasons
    keys[name] = values
    groupers[name] = BinGrouper(edges, right=right, include_lowest=include_lowest)
    labels[f"{name}_bins"] = _bin_labels(edges, right, include_lowest)
    count = _count(keys, groupers, labels)
    count.attrs = {"long_name": "number of events", "units": "1"}
    return xr.Dataset({"count": count}, attrs=describe(cat))


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
    out = xr.Dataset({"count": count}, attrs=describe(cat))
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
    return xr.Dataset({"count": count}, attrs=describe(cat))


# ----------------------------------------------------------------------------------------
# stats.nc
# ----------------------------------------------------------------------------------------
#: CF attributes of the bin coordinates of :func:`distributions`.
_BIN_ATTRS: dict[str, dict[str, str]] = {
    "magnetic_latitude_bins": {
        "long_name": "AACGM-v2 magnetic latitude, bin centre",
        "units": "degrees",
    },
    "f_peak_bins": {"long_name": "frequency of the event's peak, bin centre", "units": "Hz"},
    "local_time_bins": {"long_name": "solar local time of the event, bin centre", "units": "h"},
}
_LABEL_ATTRS: dict[str, dict[str, str]] = {
    "season": {"long_name": "meteorological season (DJF, MAM, JJA, SON)"},
    "hemisphere": {"long_name": "geographic hemisphere (N, S)"},
    "month": {"long_name": "calendar month (1 = January)", "units": "1"},
}
_COUNT_NAMES = {
    "seasonal": "per season and hemisphere",
    "monthly": "per calendar month",
    "maglat": "per magnetic-latitude bin",
    "frequency": "per peak-frequency bin",
    "local_time": "per solar local-time bin",
}
# attrs of the catalogue that describe the file, not the events: stats.nc sets its own
_OWN_ATTRS = ("Conventions", "title", "history", "featureType", "date_created", "source")


def catalogue_kind(cat: xr.Dataset) -> Literal["iar", "cses"]:
    """Whether a catalogue holds ground IAR events or CSES VLF events.

    ``"cses"`` when it has ``orbit``/``orbit_direction`` (satellite events) or a peak
    frequency above 20 Hz; else ``"iar"``.

    Parameters
    ----------
    cat : xarray.Dataset
        Catalogue.

    Returns
    -------
    {"iar", "cses"}

    Examples
    --------
    >>> from xspecseg.catalogue import empty_catalogue
    >>> catalogue_kind(empty_catalogue()), catalogue_kind(empty_catalogue(iar=True))
    ('cses', 'iar')
    """
    if "delta_f" in cat or "fringe_frequency" in cat:
        return "iar"
    if "orbit" in cat or "orbit_direction" in cat:
        return "cses"
    if "f_peak" in cat and cat.sizes["event"]:
        f = np.asarray(cat["f_peak"].values, dtype=float)
        # above the band limit of the fringe analysis: VLF
        if np.isfinite(f).any() and float(np.nanmax(f)) > IAR_MAX_FREQUENCY:
            return "cses"
    return "iar"


def _numeric_bins(ds: xr.Dataset, edges: Mapping[str, np.ndarray], closed: str) -> xr.Dataset:
    """Interval-labelled dims -> numeric bin centres with a CF ``bounds`` variable.

    The bounds are the given edges: ``pd.cut`` widens the first interval label by 0.1 %
    with ``include_lowest``, which is a label, not a bin edge.
    """
    for dim, e in edges.items():
        if dim not in ds.dims:
            continue
        e = np.asarray(e, dtype=np.float64)
        name = f"{dim}_bounds"
        ds = ds.assign_coords({dim: 0.5 * (e[:-1] + e[1:])})
        ds[dim].attrs = {
            **_BIN_ATTRS.get(dim, {"long_name": f"{dim.removesuffix('_bins')}, bin centre"}),
            "bounds": name,
            "comment": closed,
        }
        ds[name] = ((dim, "nv"), np.stack([e[:-1], e[1:]], axis=1))
    return ds


def distributions(
    cat: xr.Dataset,
    *,
    kind: Literal["iar", "cses"] | None = None,
    maglat_edges: Sequence[float] | np.ndarray | None = None,
    frequency_edges: Sequence[float] | np.ndarray | None = None,
    exposure: Any = None,
    source: str | None = None,
) -> xr.Dataset:
    """Every distribution of a catalogue in one Dataset: what ``xspecseg stats`` writes.

    Variables ``<part>_count`` (and ``seasonal_fraction``) for the parts the catalogue
    has the variables for: ``seasonal`` (season x hemisphere), ``monthly``, ``maglat``
    (with ``magnetic_latitude``), ``frequency`` (with ``f_peak``) and ``local_time``
    (with a longitude). Bins are numeric centres with CF ``bounds`` variables
    (``<dim>_bounds``, dims ``(<dim>, nv)``), fixed unless given: :data:`MAGLAT_EDGES` and
    ``FREQUENCY_EDGES[kind]``, closed on the right with the first bin also closed on the
    left; 24 local-time hours closed on the left. Events outside the bins are not
    counted. Attributes: ``title``, ``Conventions``, ``history`` (the catalogue's and a
    line of its own), the catalogue's provenance (``model``, ``model_sha256``,
    ``threshold``, the event cuts...), ``frequency_bins`` (``"iar"``, ``"cses"`` or
    ``"given"``) and those of :func:`describe`. :func:`write_distributions` writes it.

    Parameters
    ----------
    cat : xarray.Dataset
        Catalogue.
    kind : {"iar", "cses"}, optional
        Which fixed frequency bins; default :func:`catalogue_kind`.
    maglat_edges, frequency_edges : sequence of float, optional
        Other bin edges (degrees, Hz).
    exposure : optional
        Observing exposure per month, as for :func:`monthly_occurrence` (adds
        ``monthly_rate`` and ``monthly_exposure``).
    source : str, optional
        Where the catalogue came from (its path): the attribute ``source_catalogue``.

    Returns
    -------
    xarray.Dataset
        ``season`` and ``hemisphere`` as string indexes, the bins as float centres.

    Raises
    ------
    KeyError
        The catalogue lacks what the seasonal counts need (a time, a hemisphere).

    Examples
    --------
    >>> from xspecseg.catalogue import empty_catalogue
    >>> ds = distributions(empty_catalogue(iar=True))
    >>> ds["f_peak_bins"].values[:2], ds["f_peak_bins_bounds"].values[0], ds.frequency_bins
    (array([0.25, 0.75]), array([0. , 0.5]), 'iar')
    """
    _check(cat)
    kind = kind or catalogue_kind(cat)
    if kind not in FREQUENCY_EDGES:
        raise ValueError(f"kind must be one of {sorted(FREQUENCY_EDGES)}, got {kind!r}")
    parts: dict[str, xr.Dataset] = {
        "seasonal": seasonal_distribution(cat),
        "monthly": monthly_occurrence(cat, exposure),
    }
    right: dict[str, np.ndarray] = {}
    if "magnetic_latitude" in cat:
        edges = _edges(MAGLAT_EDGES if maglat_edges is None else maglat_edges, None, None, "")
        parts["maglat"] = maglat_distribution(cat, edges, include_lowest=True)
        right["magnetic_latitude_bins"] = edges
    if "f_peak" in cat:
        edges = FREQUENCY_EDGES[kind] if frequency_edges is None else frequency_edges
        edges = _edges(edges, None, None, "frequency_edges")
        parts["frequency"] = frequency_distribution(cat, edges, include_lowest=True)
        right["f_peak_bins"] = edges
    left: dict[str, np.ndarray] = {}
    if "longitude" in cat or "longitude" in cat.attrs:
        left["local_time_bins"] = np.linspace(0.0, 24.0, 25)
        parts["local_time"] = local_time_occurrence(cat, left["local_time_bins"])
    out = xr.merge(
        [ds.rename({v: f"{name}_{v}" for v in ds.data_vars}) for name, ds in parts.items()],
        combine_attrs="drop",
    )
    out = _numeric_bins(out, right, "bins (lower, upper], the first [lower, upper]")
    out = _numeric_bins(out, left, "bins [lower, upper)")
    for dim, attrs in _LABEL_ATTRS.items():
        if dim in out.coords:
            out[dim].attrs = dict(attrs)
    for name, what in _COUNT_NAMES.items():
        if f"{name}_count" in out:
            out[f"{name}_count"].attrs = {"long_name": f"number of events {what}", "units": "1"}
    out["seasonal_fraction"].attrs = {
        "long_name": "fraction of the counted events per season and hemisphere",
        "units": "1",
    }
    if "monthly_rate" in out:
        out["monthly_rate"].attrs = {"long_name": "events per unit of exposure per month"}
        out["monthly_exposure"].attrs = {"long_name": "observing exposure per month"}

    attrs = {k: v for k, v in cat.attrs.items() if k not in _OWN_ATTRS and v is not None}
    line = history_line(f"distributions of {source}" if source else "distributions")
    attrs.update(
        {
            "Conventions": "CF-1.10",
            "title": "xspecseg event distributions",
            "history": append_history(cat.attrs.get("history"), line),
            "source": f"xspecseg {__version__} stats.distributions",
            "xspecseg_version": __version__,
            "frequency_bins": kind if frequency_edges is None else "given",
            **describe(cat),
        }
    )
    if source:
        attrs["source_catalogue"] = str(source)
    out.attrs = attrs
    return out


#: the label dims of :func:`distributions`; on disk their strings are CF label variables
_LABEL_DIMS = ("season", "hemisphere")


def write_distributions(ds: xr.Dataset, path: str | os.PathLike[str]) -> Path:
    """Write :func:`distributions`' Dataset as CF-1.10 netCDF4, atomically.

    CF coordinate variables are numeric, so ``season`` and ``hemisphere`` go to disk as
    dimensions labelled by string auxiliary coordinates ``season_label`` and
    ``hemisphere_label``; :func:`open_distributions` makes them indexes again. Bin
    centres and bounds carry no ``_FillValue`` (CF forbids one on coordinates).

    Parameters
    ----------
    ds : xarray.Dataset
        From :func:`distributions`.
    path : str or path-like
        Destination ``.nc`` file; a failed write leaves an existing one untouched.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import os, tempfile
    >>> from xspecseg.catalogue import empty_catalogue
    >>> p = os.path.join(tempfile.mkdtemp(), "stats.nc")
    >>> _ = write_distributions(distributions(empty_catalogue()), p)
    >>> open_distributions(p)["seasonal_count"].sel(season="JJA", hemisphere="S").item()
    0
    """
    out = ds.copy()
    for dim in _LABEL_DIMS:
        if dim in out.indexes:
            labels = np.asarray(out[dim].values).astype(str)
            attrs = dict(out[dim].attrs)
            out = out.drop_vars(dim).assign_coords({f"{dim}_label": (dim, labels, attrs)})
    for name in out.variables:
        var = out.variables[name]
        if name in out.dims or name.endswith("_bounds") or var.dtype.kind in "iuU":
            var.encoding["_FillValue"] = None
    return atomic_write(Path(path), lambda tmp: out.to_netcdf(tmp, engine="netcdf4"))


def open_distributions(path: str | os.PathLike[str]) -> xr.Dataset:
    """Read a file of :func:`write_distributions` back as :func:`distributions` gave it.

    Parameters
    ----------
    path : str or path-like
        A ``stats.nc``.

    Returns
    -------
    xarray.Dataset
        Loaded into memory; ``season``/``hemisphere`` string indexes again.

    Examples
    --------
    >>> import os, tempfile
    >>> from xspecseg.catalogue import empty_catalogue
    >>> p = os.path.join(tempfile.mkdtemp(), "stats.nc")
    >>> _ = write_distributions(distributions(empty_catalogue()), p)
    >>> open_distributions(p)["season"].values.tolist()
    ['DJF', 'MAM', 'JJA', 'SON']
    """
    with xr.open_dataset(path, engine="netcdf4") as f:
        ds = f.load()
    for dim in _LABEL_DIMS:
        label = f"{dim}_label"
        if label in ds.coords:
            values = np.asarray(ds[label].values).astype(str)
            attrs = dict(ds[label].attrs)
            ds = ds.drop_vars(label).assign_coords({dim: (dim, values, attrs)})
    return ds
