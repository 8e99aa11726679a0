"""Where and when each event is: component, position, season and hemisphere at its peak.

Satellite cubes carry their track (``latitude``, ``longitude``, ``magnetic_latitude``,
``orbit``, ``orbit_direction``) as coordinates along ``time``; ground cubes the station's
position as attributes, from which the magnetic latitude is computed once.

Examples
--------
>>> import xarray as xr
>>> t = np.array(["2013-01-05T20:00", "2013-07-05T20:00"], "M8[ns]")
>>> prob = xr.DataArray(np.zeros((2, 1)), dims=("time", "frequency"),
...                     coords={"time": t}, attrs={"latitude": -40.0, "longitude": 10.0,
...                                                "magnetic_latitude": -45.0})
>>> ds = xr.Dataset({"peak_time": ("event", t)})
>>> add_position(ds, prob, peak_row=np.array([0, 1]), component="H")
>>> ds.season.values.tolist(), ds.hemisphere.values.tolist(), ds.component.values.tolist()
(['DJF', 'JJA'], ['S', 'S'], ['H', 'H'])
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .. import geomag

__all__ = ["add_position"]

#: coordinates along ``time`` a satellite cube carries, taken at each event's peak
TRACK_COORDS = ("latitude", "longitude", "magnetic_latitude", "orbit", "orbit_direction")


def _station_maglat(lat: float, lon: float, alt_km: float, time: np.datetime64) -> float:
    return float(np.asarray(geomag.magnetic_latitude(lat, lon, alt_km, time)).ravel()[0])


def add_position(
    ds: xr.Dataset, probability: xr.DataArray, peak_row: np.ndarray, component: str | None
) -> None:
    """Add component, position, season and hemisphere of each event at its peak time.

    Parameters
    ----------
    ds : xr.Dataset
        The catalogue (dim ``event``, with ``peak_time``), changed in place.
    probability : xr.DataArray
        The probability cube the events come from: its coordinates along ``time`` (a
        satellite's track) or its ``latitude``/``longitude`` attrs (a station's).
    peak_row : np.ndarray
        Row of each event's probability peak.
    component : str, optional
        The component the events were found on, stored per event when given.

    Examples
    --------
    >>> ds = xr.Dataset({"peak_time": ("event", np.array(["2022-04-01"], "M8[ns]"))})
    >>> prob = xr.DataArray(np.zeros((1, 1)), dims=("time", "frequency"),
    ...                     coords={"latitude": ("time", [12.5])})
    >>> add_position(ds, prob, np.array([0]), None)
    >>> float(ds.latitude[0]), str(ds.hemisphere.values[0]), str(ds.season.values[0])
    (12.5, 'N', 'MAM')
    """
    n = ds.sizes["event"]
    if component is not None:
        ds["component"] = ("event", np.full(n, str(component), dtype=object).astype(str))
    coords = probability.coords
    along = [k for k in TRACK_COORDS if k in coords and coords[k].dims == ("time",)]
    for k in along:
        vals = np.asarray(coords[k].isel(time=xr.DataArray(peak_row, dims="event")).values)
        if vals.dtype.kind in "OT":  # variable-length strings from a zarr store
            vals = np.asarray(vals.tolist(), dtype=str)  # StringDType has no sized cast
        ds[k] = ("event", vals, dict(coords[k].attrs))
    attrs = probability.attrs
    if "latitude" not in ds and "latitude" in attrs and "longitude" in attrs:
        lat, lon = float(attrs["latitude"]), float(attrs["longitude"])
        ds["latitude"] = ("event", np.full(n, lat), {"units": "degrees_north"})
        ds["longitude"] = ("event", np.full(n, lon), {"units": "degrees_east"})
        if "magnetic_latitude" not in ds:
            mlat = float(attrs.get("magnetic_latitude", np.nan))
            if np.isnan(mlat) and n:
                # one value per station: AACGM moves by ~0.1 deg a year at most
                mid = ds.peak_time.values[n // 2]
                mlat = _station_maglat(lat, lon, float(attrs.get("altitude_km", 0.0)), mid)
            ds["magnetic_latitude"] = ("event", np.full(n, mlat), {"units": "degrees"})
    ds["season"] = (
        "event",
        np.asarray(geomag.season_of(ds.peak_time.values)).astype(str) if n else np.zeros(0, "<U3"),
    )
    if "latitude" in ds:
        ds["hemisphere"] = (
            "event",
            np.asarray(geomag.hemisphere_of(ds.latitude.values)).astype(str)
            if n
            else np.zeros(0, "<U1"),
        )
