"""Geomagnetic and calendar coordinates of events: AACGM-v2 latitude, season, hemisphere.

AACGM-v2 (``aacgmv2``) sets its magnetic-field coefficients for *one* datetime per call,
so a per-row conversion of a long satellite track is a million calls. The field changes
slowly (secular variation, tenths of a degree a year), so :func:`magnetic_latitude`
groups the rows into UTC intervals (a day by default), converts each group with a single
call at the interval's midpoint and, inside a group, converts each distinct
``(lat, lon, altitude)`` only once (a fixed station costs one conversion per day).

Error of the grouping
---------------------
Measured against ``aacgmv2.convert_latlon`` called per row at the row's own time
(latitudes -89..89, longitudes -180..180, altitudes 0-2000 km, days in 1995-2029, times
up to 12 h from the group midpoint): the largest difference is
:data:`GROUPING_TOLERANCE_DEG` = 0.002 degrees (about 200 m) with ``resolution="1D"``;
the median is below 1e-4 degrees. A finer ``resolution`` (e.g. ``"1h"``) shrinks the error
in proportion to the interval. ``tests/test_geomag.py`` checks this bound.

Invalid results
---------------
The result is NaN (never an exception) where AACGM-v2 has no answer:

* near the magnetic equator, where AACGM-v2 latitude is undefined (``aacgmv2`` returns NaN);
* altitudes outside ``[0, 2000]`` km (the AACGM-v2 coefficients are fitted there; above
  2000 km ``aacgmv2`` needs field-line tracing, available with ``trace=True``). The C
  library checks the *geocentric* height, so within about 25 km below 2000 km some
  latitudes are refused too (it prints a message; the value is NaN, as per row);
* latitudes outside ``[-90, 90]``, NaN inputs, ``NaT`` times;
* dates outside the range of the IGRF model shipped with ``aacgmv2`` (currently up to
  2029; the C library prints its own banner once for each such year).
"""

from __future__ import annotations

import datetime as _dt
import threading
from typing import Any, Literal, overload

import numpy as np
import pandas as pd
import xarray as xr

from ._optional import needs_extra

__all__ = [
    "GROUPING_TOLERANCE_DEG",
    "MAX_ALTITUDE_KM",
    "SEASONS",
    "aacgm_convert",
    "add_geomag_variables",
    "hemisphere_of",
    "local_time",
    "magnetic_latitude",
    "season_of",
]

#: Largest measured difference (degrees) between day-grouped and per-row AACGM-v2 latitude.
GROUPING_TOLERANCE_DEG = 0.002
#: Highest altitude (km) converted with AACGM-v2 coefficients (without field-line tracing).
MAX_ALTITUDE_KM = 2000.0
#: Meteorological seasons in calendar order of their middle month.
SEASONS: tuple[str, ...] = ("DJF", "MAM", "JJA", "SON")
# month 1..12 -> season; index 0 unused so a month indexes directly
_SEASON_OF_MONTH = np.array(["", "DJF", "DJF", "MAM", "MAM", "MAM", "JJA", "JJA", "JJA", "SON", "SON", "SON", "DJF"])  # fmt: skip

_NS_PER_HOUR = 3_600_000_000_000
_NS_PER_DAY = 24 * _NS_PER_HOUR
# years for which aacgmv2 refused to set its coefficients: skip them without a new banner
_BAD_YEARS: set[int] = set()
# aacgmv2's C library holds the coefficients of the last date set in globals: two threads
# converting at different dates (dask's threaded scheduler) would mix them up silently
_AACGM_LOCK = threading.Lock()

MAGLAT_ATTRS = {
    "units": "degrees_north",
    "long_name": "AACGM-v2 magnetic latitude",
}


def _is_xarray(*args: Any) -> bool:
    return any(isinstance(a, xr.DataArray) for a in args)


def _elementwise(
    func: Any, *args: Any, name: str, dtype: Any, kwargs: dict[str, Any] | None = None
) -> Any:
    """``func(*args, **kwargs)``, through :func:`xarray.apply_ufunc` when any input is a
    DataArray: the result is then a DataArray named ``name``, lazy for Dask inputs, and
    carries none of the inputs' attributes (their units are not the result's)."""
    kwargs = kwargs or {}
    if not _is_xarray(*args):
        return func(*args, **kwargs)
    return xr.apply_ufunc(
        func,
        *args,
        kwargs=kwargs,
        dask="parallelized",
        output_dtypes=[np.dtype(dtype)],
        keep_attrs=False,
    ).rename(name)


def as_datetime64(time: Any) -> np.ndarray:
    """``time`` (datetime64, datetime, Timestamp, ISO string, arrays of them) as datetime64[ns].

    Time-zone-aware inputs are converted to UTC; naive ones are taken as UTC.
    """
    arr = np.asarray(time)
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[ns]")
    idx = pd.to_datetime(arr.ravel(), utc=True).tz_convert(None)
    return np.asarray(idx.values, dtype="datetime64[ns]").reshape(arr.shape)


def _resolution_ns(resolution: str | np.timedelta64 | pd.Timedelta) -> int:
    ns = pd.Timedelta(resolution).value
    if ns <= 0:
        raise ValueError(f"resolution must be a positive time interval, got {resolution!r}")
    return int(ns)


def aacgm_convert(
    lat: Any, lon: Any, altitude_km: Any, when: _dt.datetime, *, trace: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """AACGM-v2 latitude and longitude (degrees) of points converted at one time.

    The building block of :func:`magnetic_latitude`, for callers that choose their own
    conversion times or need the longitude too. Safe to call from several threads: the
    conversions are serialised, since aacgmv2 keeps the coefficients of the last date
    in process-wide globals.

    Parameters
    ----------
    lat, lon, altitude_km : array_like
        Geodetic latitude and longitude (degrees) and altitude (km), 1-d, one value per
        point.
    when : datetime.datetime
        The time whose AACGM-v2 coefficients convert every point (naive, UTC).
    trace : bool, default False
        Use field-line tracing instead of the coefficients.

    Returns
    -------
    mlat, mlon : numpy.ndarray
        float64, NaN where AACGM-v2 is undefined (near the magnetic equator) and
        everywhere when its field model does not cover ``when``.

    Examples
    --------
    >>> import datetime as dt
    >>> mlat, mlon = aacgm_convert([55.31], [-3.21], [0.0], dt.datetime(2013, 1, 1, 12))
    >>> np.round(mlat, 1)
    array([52.1])
    """
    # imported here: it loads coefficient files, and most imports never need it
    with needs_extra("geomag"):
        import aacgmv2

    lat = np.asarray(lat, dtype=np.float64)
    if when.year in _BAD_YEARS:
        return np.full(lat.shape, np.nan), np.full(lat.shape, np.nan)
    code = "G2A|TRACE" if trace else "G2A"
    try:
        with _AACGM_LOCK:
            mlat, mlon, _ = aacgmv2.convert_latlon_arr(
                lat,
                np.asarray(lon, dtype=np.float64),
                np.asarray(altitude_km, dtype=np.float64),
                when,
                method_code=code,
            )
    except RuntimeError:
        # aacgmv2 raises when its IGRF model does not cover the date; remembering the
        # year keeps it from printing the same refusal for every later group
        _BAD_YEARS.add(when.year)
        return np.full(lat.shape, np.nan), np.full(lat.shape, np.nan)
    mlat = np.asarray(mlat, dtype=np.float64)
    mlon = np.asarray(mlon, dtype=np.float64)
    mlat[~np.isfinite(mlat)] = np.nan
    mlon[~np.isfinite(mlon)] = np.nan
    return mlat, mlon


def _convert_group(
    lat: np.ndarray, lon: np.ndarray, alt: np.ndarray, when: _dt.datetime, trace: bool
) -> np.ndarray:
    """AACGM-v2 latitude of points sharing one conversion time; NaN where it fails."""
    # a fixed station repeats the same point all day: convert each distinct point once
    pts, inverse = np.unique(np.stack([lat, lon, alt], axis=1), axis=0, return_inverse=True)
    out, _ = aacgm_convert(pts[:, 0], pts[:, 1], pts[:, 2], when, trace=trace)
    return out[inverse.ravel()]


def _magnetic_latitude_np(
    lat: Any,
    lon: Any,
    altitude_km: Any,
    time: Any,
    resolution_ns: int,
    trace: bool,
) -> np.ndarray:
    t = as_datetime64(time)
    lat_b, lon_b, alt_b, t_b = np.broadcast_arrays(
        np.asarray(lat, dtype=np.float64),
        np.asarray(lon, dtype=np.float64),
        np.asarray(altitude_km, dtype=np.float64),
        t,
    )
    shape = lat_b.shape
    lat_f, lon_f, alt_f = lat_b.ravel(), lon_b.ravel(), alt_b.ravel()
    t_ns = t_b.ravel().view(np.int64)
    out = np.full(lat_f.shape, np.nan)
    max_alt = np.inf if trace else MAX_ALTITUDE_KM
    ok = (
        np.isfinite(lat_f)
        & np.isfinite(lon_f)
        & np.isfinite(alt_f)
        & ~np.isnat(t_b.ravel())
        & (np.abs(lat_f) <= 90.0)
        & (alt_f >= 0.0)
        & (alt_f <= max_alt)
    )
    rows = np.flatnonzero(ok)
    if rows.size == 0:
        return out.reshape(shape)
    group = t_ns[rows] // resolution_ns
    order = np.argsort(group, kind="stable")
    rows, group = rows[order], group[order]
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    for a, b in zip(starts, np.r_[starts[1:], rows.size]):
        sel = rows[a:b]
        # the group midpoint halves the largest time offset within the group
        mid_ns = int(group[a]) * resolution_ns + resolution_ns // 2
        when = pd.Timestamp(mid_ns, unit="ns").to_pydatetime()
        out[sel] = _convert_group(lat_f[sel], lon_f[sel], alt_f[sel], when, trace)
    return out.reshape(shape)


@overload
def magnetic_latitude(
    lat: xr.DataArray, lon: Any, altitude_km: Any, time: Any, **kw: Any
) -> xr.DataArray: ...
@overload
def magnetic_latitude(lat: Any, lon: Any, altitude_km: Any, time: Any, **kw: Any) -> Any: ...
def magnetic_latitude(
    lat: Any,
    lon: Any,
    altitude_km: Any,
    time: Any,
    *,
    resolution: str | np.timedelta64 | pd.Timedelta = "1D",
    trace: bool = False,
) -> np.ndarray | xr.DataArray:
    """AACGM-v2 magnetic latitude (degrees) of geographic positions at given UTC times.

    Inputs broadcast against each other (numpy rules), so a fixed station is scalar
    ``lat``/``lon``/``altitude_km`` with an array of times. Rows are converted in groups
    of one UTC ``resolution`` interval at the interval's midpoint (see the module notes for
    the error this makes: at most :data:`GROUPING_TOLERANCE_DEG` for a day).

    Parameters
    ----------
    lat, lon : array_like or xarray.DataArray
        Geodetic latitude and longitude in degrees (longitude in any 360-degree range).
    altitude_km : array_like or xarray.DataArray
        Altitude above the surface in km, within ``[0, 2000]`` (NaN outside unless
        ``trace``).
    time : array_like or xarray.DataArray
        UTC times: datetime64, datetime, Timestamp or ISO strings.
    resolution : str or timedelta, default "1D"
        Length of the time groups sharing one AACGM-v2 epoch.
    trace : bool, default False
        Use AACGM-v2 field-line tracing (slow, any altitude) instead of the coefficients.

    Returns
    -------
    numpy.ndarray or xarray.DataArray
        float64 magnetic latitude with the broadcast shape (0-d for scalar inputs); a
        DataArray named ``magnetic_latitude`` (lazy for Dask inputs) if any input is one.
        NaN where AACGM-v2 is undefined (near the magnetic equator) or inputs are invalid.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.array(["2013-01-01T21:00", "2013-01-02T03:00"], dtype="datetime64[ns]")
    >>> np.round(magnetic_latitude(55.31, -3.21, 0.0, t), 1)   # Eskdalemuir
    array([52.1, 52.1])
    """
    kwargs = {"resolution_ns": _resolution_ns(resolution), "trace": trace}
    out = _elementwise(
        _magnetic_latitude_np,
        lat,
        lon,
        altitude_km,
        time,
        name="magnetic_latitude",
        dtype=np.float64,
        kwargs=kwargs,
    )
    return out.assign_attrs(MAGLAT_ATTRS) if isinstance(out, xr.DataArray) else out


def _season_np(time: Any) -> np.ndarray:
    t = as_datetime64(time)
    nat = np.isnat(t)
    months = t.astype("datetime64[M]").astype(np.int64) % 12 + 1
    months = np.where(nat, 0, months)
    return _SEASON_OF_MONTH[months]


def season_of(time: Any) -> np.ndarray | xr.DataArray:
    """Meteorological season of UTC times: "DJF", "MAM", "JJA" or "SON".

    Seasons are the calendar's (December-February is "DJF" in both hemispheres, as the
    ODM_Unet paper counts them); ``NaT`` gives "".

    Parameters
    ----------
    time : array_like or xarray.DataArray
        UTC times.

    Returns
    -------
    numpy.ndarray or xarray.DataArray
        Strings (``<U3``) shaped like ``time``.

    Examples
    --------
    >>> season_of(np.array(["2022-01-15", "2022-07-01"], dtype="datetime64[ns]"))
    array(['DJF', 'JJA'], dtype='<U3')
    """
    return _elementwise(_season_np, time, name="season", dtype="<U3")


def _hemisphere_np(lat: Any) -> np.ndarray:
    lat = np.asarray(lat, dtype=np.float64)
    out = np.where(lat >= 0.0, "N", "S")
    return np.where(np.isnan(lat), "", out).astype("<U1")


def hemisphere_of(
    lat: Any,
    lon: Any = None,
    altitude_km: Any = None,
    time: Any = None,
    *,
    magnetic: bool = False,
) -> np.ndarray | xr.DataArray:
    """Hemisphere "N" or "S" of latitudes (0 counts as "N"; NaN gives "").

    By default by geographic latitude. With ``magnetic=True`` by the sign of the AACGM-v2
    latitude computed from ``lat, lon, altitude_km, time`` (which are then required);
    positions where AACGM-v2 is undefined give "". If you already have a magnetic latitude,
    ``hemisphere_of(mlat)`` does the same without converting again.

    Parameters
    ----------
    lat : array_like or xarray.DataArray
        Latitude in degrees.
    lon, altitude_km, time : array_like, optional
        Needed only with ``magnetic=True``; see :func:`magnetic_latitude`.
    magnetic : bool, default False
        Classify by magnetic rather than geographic latitude.

    Returns
    -------
    numpy.ndarray or xarray.DataArray
        Strings (``<U1``).

    Examples
    --------
    >>> hemisphere_of([55.3, -60.0, 0.0])
    array(['N', 'S', 'N'], dtype='<U1')
    """
    if magnetic:
        if lon is None or altitude_km is None or time is None:
            raise ValueError("hemisphere_of(magnetic=True) needs lon, altitude_km and time")
        lat = magnetic_latitude(lat, lon, altitude_km, time)
    return _elementwise(_hemisphere_np, lat, name="hemisphere", dtype="<U1")


def _local_time_np(time: Any, lon: Any) -> np.ndarray:
    t = as_datetime64(time)
    ns = t.astype(np.int64)
    ut_hours = np.mod(ns, _NS_PER_DAY) / _NS_PER_HOUR
    out = np.mod(ut_hours + np.asarray(lon, dtype=np.float64) / 15.0, 24.0)
    return np.where(np.isnat(t), np.nan, out)


def local_time(time: Any, lon: Any) -> np.ndarray | xr.DataArray:
    """Mean solar local time in hours, ``(UT + lon / 15) mod 24``, in ``[0, 24)``.

    Parameters
    ----------
    time : array_like or xarray.DataArray
        UTC times.
    lon : array_like or xarray.DataArray
        East longitude in degrees (broadcast against ``time``; a scalar for a station).

    Returns
    -------
    numpy.ndarray or xarray.DataArray
        float64 hours; NaN for ``NaT`` or NaN longitude.

    Examples
    --------
    >>> local_time(np.datetime64("2013-01-01T23:00", "ns"), -3.0)
    array(22.8)
    """
    return _elementwise(_local_time_np, time, lon, name="local_time", dtype=np.float64)


def add_geomag_variables(
    cat: xr.Dataset,
    altitude_km: float | None = None,
    *,
    time: str = "peak_time",
    hemisphere_by: Literal["geographic", "magnetic"] = "geographic",
    resolution: str = "1D",
) -> xr.Dataset:
    """Add ``magnetic_latitude``, ``season`` and ``hemisphere`` to a catalogue.

    Positions come from the catalogue's ``latitude``/``longitude`` variables or, for a
    fixed station, from ``cat.attrs["latitude"]``/``["longitude"]``; the altitude from an
    ``altitude_km`` variable, the ``altitude_km`` argument, ``cat.attrs["altitude_km"]``,
    else 0 km. Events are located at ``time`` (default ``peak_time``).

    Parameters
    ----------
    cat : xarray.Dataset
        Catalogue with dim ``event``.
    altitude_km : float, optional
        Altitude used where the catalogue has none.
    time : str, default "peak_time"
        Variable giving each event's time.
    hemisphere_by : {"geographic", "magnetic"}
        Which latitude decides ``hemisphere``.
    resolution : str, default "1D"
        Passed to :func:`magnetic_latitude`.

    Returns
    -------
    xarray.Dataset
        A copy with the three variables (replaced if present).

    Examples
    --------
    >>> from xspecseg.catalogue import empty_catalogue
    >>> sorted(set(add_geomag_variables(empty_catalogue())) & {"season", "hemisphere"})
    ['hemisphere', 'season']
    """
    if hemisphere_by not in ("geographic", "magnetic"):
        raise ValueError(f"hemisphere_by must be 'geographic' or 'magnetic', not {hemisphere_by!r}")
    t = cat[time]
    lat = cat["latitude"] if "latitude" in cat else cat.attrs.get("latitude", np.nan)
    lon = cat["longitude"] if "longitude" in cat else cat.attrs.get("longitude", np.nan)
    if "altitude_km" in cat:
        alt: Any = cat["altitude_km"]
    elif altitude_km is not None:
        alt = altitude_km
    else:
        alt = cat.attrs.get("altitude_km", 0.0)
    mlat = magnetic_latitude(lat, lon, alt, t, resolution=resolution)
    out = cat.copy()
    out["magnetic_latitude"] = mlat.broadcast_like(t).assign_attrs(MAGLAT_ATTRS)
    out["season"] = season_of(t)
    lat_for_hemi = out["magnetic_latitude"] if hemisphere_by == "magnetic" else lat
    out["hemisphere"] = hemisphere_of(xr.DataArray(lat_for_hemi)).broadcast_like(t)
    return out
