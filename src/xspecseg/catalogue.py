"""Event catalogues: the schema, validation, and CF-1.10 netCDF4 files.

A catalogue is an ``xr.Dataset`` with dimension ``event`` (see the concepts page of the docs). Every
variable is optional; those named in :data:`VARIABLES` have a fixed type and get CF
attributes when written; any other variable is kept as it is.

On disk
-------
* netCDF4 (HDF5) format, ``Conventions = "CF-1.10"``; ``featureType = "point"`` when the
  catalogue has ``peak_time``, ``latitude`` and ``longitude`` (each event is then a CF
  discrete-sampling-geometry point located by them).
* Times as int64 ``nanoseconds since 1970-01-01`` so datetime64[ns] round-trips exactly;
  ``NaT`` is the int64 minimum, declared as ``_FillValue``.
* Strings as netCDF variable-length strings (CF-1.8+); read back as numpy ``<U`` arrays.
* Written atomically: to a hidden temporary file in the target folder, then
  ``os.replace``. A failure leaves neither a partial file under the final name nor a
  temporary file, and an existing file keeps its old content.
"""

from __future__ import annotations

import datetime as _dt
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

__all__ = [
    "VARIABLES",
    "CatalogueError",
    "cf_catalogue",
    "empty_catalogue",
    "open_catalogue",
    "validate_catalogue",
    "write_catalogue",
]


class CatalogueError(ValueError):
    """A dataset that is not a valid event catalogue."""


# kind: "time" datetime64[ns]; "float" float64; "int" int64; "str" unicode strings.
# Attrs are CF; ``units`` of time variables go into the encoding, not the attrs.
VARIABLES: dict[str, tuple[str, dict[str, Any]]] = {
    "start_time": ("time", {"standard_name": "time", "long_name": "start time of the event"}),
    "end_time": ("time", {"standard_name": "time", "long_name": "end time of the event"}),
    "peak_time": ("time", {"standard_name": "time", "long_name": "time of the event's peak"}),
    "f_min": ("float", {"units": "Hz", "long_name": "lowest frequency of the event"}),
    "f_max": ("float", {"units": "Hz", "long_name": "highest frequency of the event"}),
    "f_peak": ("float", {"units": "Hz", "long_name": "frequency of the event's peak"}),
    "area_pixels": (
        "int",
        {"units": "1", "long_name": "number of time-frequency pixels in the event"},
    ),
    "mean_probability": (
        "float",
        {"units": "1", "long_name": "mean segmentation probability over the event"},
    ),
    "max_probability": (
        "float",
        {"units": "1", "long_name": "highest segmentation probability in the event"},
    ),
    "peak_psd": ("float", {"long_name": "power spectral density at the event's peak"}),
    "impulsiveness": (
        "float",
        {
            "units": "1",
            "long_name": "median absolute second time-difference of the event's row-mean log10 PSD",
        },
    ),
    "component": ("str", {"long_name": "field component the event was found in"}),
    "latitude": (
        "float",
        {"standard_name": "latitude", "units": "degrees_north", "long_name": "geodetic latitude"},
    ),
    "longitude": (
        "float",
        {"standard_name": "longitude", "units": "degrees_east", "long_name": "longitude"},
    ),
    "magnetic_latitude": (
        "float",
        {
            "units": "degrees_north",
            "long_name": "AACGM-v2 magnetic latitude at the event's peak time",
        },
    ),
    "season": ("str", {"long_name": "meteorological season of the peak time (DJF, MAM, JJA, SON)"}),
    "hemisphere": ("str", {"long_name": "hemisphere (N, S)"}),
    "orbit": ("int", {"units": "1", "long_name": "orbit number"}),
    "orbit_direction": ("str", {"long_name": "orbit direction (ascending, descending)"}),
    "delta_f": (
        "float",
        {"units": "Hz", "long_name": "median frequency spacing of adjacent resonance fringes"},
    ),
    "fringe_frequency": (
        "float",
        {"units": "Hz", "long_name": "frequency of each resonance fringe (NaN padded)"},
    ),
}
_IAR_ONLY = ("delta_f", "fringe_frequency")
_KIND_DTYPE = {
    "time": np.dtype("datetime64[ns]"),
    "float": np.dtype("float64"),
    "int": np.dtype("int64"),
    "str": np.dtype("<U1"),
}
_KIND_OK = {"time": "M", "float": "fiu", "int": "iu", "str": "UO"}
_TIME_UNITS = "nanoseconds since 1970-01-01T00:00:00Z"
_NAT = np.iinfo(np.int64).min
# the point-DSG auxiliary coordinates, in CF's order
_POINT_COORDS = ("peak_time", "latitude", "longitude")
_PROVENANCE = ("title", "source", "model", "threshold", "input_cube")


# ----------------------------------------------------------------------------------------
# schema
# ----------------------------------------------------------------------------------------
def empty_catalogue(iar: bool = False, *, variables: list[str] | None = None) -> xr.Dataset:
    """A catalogue with zero events and every known variable, correctly typed.

    Parameters
    ----------
    iar : bool, default False
        Include the IAR variables ``delta_f`` and ``fringe_frequency`` (event, fringe).
    variables : list of str, optional
        Only these known variables (default: all, IAR ones per ``iar``).

    Returns
    -------
    xarray.Dataset
        Dimension ``event`` of length 0 (and ``fringe`` of length 0 with ``iar``).

    Examples
    --------
    >>> cat = empty_catalogue()
    >>> cat.sizes["event"], cat["peak_time"].dtype
    (0, dtype('<M8[ns]'))
    """
    names = (
        list(variables)
        if variables is not None
        else [v for v in VARIABLES if iar or v not in _IAR_ONLY]
    )
    data: dict[str, Any] = {}
    for name in names:
        if name not in VARIABLES:
            raise KeyError(f"{name!r} is not a known catalogue variable")
        dtype = _KIND_DTYPE[VARIABLES[name][0]]
        if name == "fringe_frequency":
            data[name] = (("event", "fringe"), np.empty((0, 0), dtype=dtype))
        else:
            data[name] = ("event", np.empty(0, dtype=dtype))
    return xr.Dataset(data)


def validate_catalogue(cat: Any) -> xr.Dataset:
    """Check that ``cat`` is a catalogue; return it unchanged or raise :class:`CatalogueError`.

    Checks: an ``xarray.Dataset`` with dimension ``event``; each known variable (see
    :data:`VARIABLES`) has ``event`` as its first dimension (``fringe_frequency``:
    ``(event, fringe)``, others 1-D) and the right type: datetime64 times, numeric
    floats, integer ``area_pixels``/``orbit``, string ``component``/``season``/
    ``hemisphere``/``orbit_direction`` with ``season`` in DJF/MAM/JJA/SON and
    ``hemisphere`` in N/S (or "" for unknown).

    Parameters
    ----------
    cat : xarray.Dataset
        The candidate catalogue.

    Returns
    -------
    xarray.Dataset
        ``cat``.

    Examples
    --------
    >>> validate_catalogue(empty_catalogue()).sizes["event"]
    0
    """
    if not isinstance(cat, xr.Dataset):
        raise CatalogueError(f"a catalogue is an xarray.Dataset, got {type(cat).__name__}")
    if "event" not in cat.dims:
        raise CatalogueError(
            f"a catalogue has dimension 'event'; this dataset has {tuple(cat.dims)}"
        )
    problems = []
    for name, (kind, _) in VARIABLES.items():
        if name not in cat.variables:
            continue
        var = cat.variables[name]
        want_dims = ("event", "fringe") if name == "fringe_frequency" else ("event",)
        if var.dims != want_dims:
            problems.append(f"{name} has dims {var.dims}, expected {want_dims}")
        if var.dtype.kind not in _KIND_OK[kind]:
            problems.append(f"{name} has dtype {var.dtype}, expected {kind}")
        elif var.dtype.kind == "O" and not all(isinstance(x, str) for x in var.values.ravel()):
            problems.append(f"{name} is an object array of non-strings, expected str")
        elif name in ("season", "hemisphere"):
            allowed = {"DJF", "MAM", "JJA", "SON", ""} if name == "season" else {"N", "S", ""}
            bad = set(np.unique(np.asarray(var.values, dtype=str)).tolist()) - allowed
            if bad:
                problems.append(f"{name} has values {sorted(bad)}, allowed {sorted(allowed)}")
    if problems:
        raise CatalogueError("invalid catalogue: " + "; ".join(problems))
    return cat


# ----------------------------------------------------------------------------------------
# CF attributes
# ----------------------------------------------------------------------------------------
def _now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def cf_catalogue(cat: xr.Dataset, attrs: Mapping[str, Any] | None = None) -> xr.Dataset:
    """The catalogue as :func:`write_catalogue` writes it: CF attributes and encodings.

    Known variables get ``units``/``long_name``/``standard_name`` (overriding what they
    had for those keys; other attrs are kept), strings become ``<U`` arrays, times get an
    exact int64-nanosecond encoding. Global attributes: ``Conventions``, ``title``,
    ``history`` (a line appended), ``source``, ``xspecseg_version``, ``model``,
    ``threshold``, ``input_cube`` (from ``attrs``, else ``cat.attrs``; ``model`` and
    ``input_cube`` default to "unknown", ``threshold`` is left out when unknown),
    ``date_created`` and ``featureType`` where it applies.

    Parameters
    ----------
    cat : xarray.Dataset
        A valid catalogue.
    attrs : mapping, optional
        Global attributes that override ``cat.attrs``.

    Returns
    -------
    xarray.Dataset
        A new Dataset (the input is not modified).

    Examples
    --------
    >>> cf_catalogue(empty_catalogue()).attrs["Conventions"]
    'CF-1.10'
    """
    from . import __version__

    validate_catalogue(cat)
    out = cat.copy()
    # data variables by design: a reader's decode_coords must not keep them as coords
    out = out.reset_coords([n for n in VARIABLES if n in out.coords])
    point = all(n in out for n in _POINT_COORDS)
    for name, (kind, cf) in VARIABLES.items():
        if name not in out:
            continue
        var = out[name]
        if kind == "str" and var.dtype.kind == "O":
            var = var.astype(str)
        new_attrs = {**var.attrs, **cf}
        if name == "peak_psd" and "units" not in new_attrs and "psd_units" in cat.attrs:
            new_attrs["units"] = str(cat.attrs["psd_units"])
        var = var.copy()
        var.attrs = new_attrs
        if kind == "time":
            var.attrs.pop("units", None)
            var.attrs.pop("calendar", None)
            var.encoding = {
                "units": _TIME_UNITS,
                "calendar": "proleptic_gregorian",
                "dtype": np.dtype("int64"),
                "_FillValue": _NAT,
            }
        else:
            var.encoding = {k: v for k, v in var.encoding.items() if k not in ("coordinates",)}
        out[name] = var
    if point:
        # xarray would list the other non-dimension coords itself; we replace its
        # attribute, so name them too
        extra = [c for c in out.coords if c not in out.dims and "event" in out[c].dims]
        coords = " ".join([*_POINT_COORDS, *extra])
        for name in out.data_vars:
            if name not in _POINT_COORDS:
                out.variables[name].encoding["coordinates"] = coords

    merged = {**cat.attrs, **(dict(attrs) if attrs else {})}
    now = _now_iso()
    line = f"{now} written by xspecseg {__version__} write_catalogue"
    history = str(merged.get("history", "")).rstrip()
    glob: dict[str, Any] = {
        k: v for k, v in merged.items() if k not in ("history", "featureType", "psd_units")
    }
    glob.update(
        Conventions="CF-1.10",
        title=str(merged.get("title", "xspecseg event catalogue")),
        history=f"{history}\n{line}" if history else line,
        source=str(merged.get("source", f"xspecseg {__version__} event extraction")),
        xspecseg_version=__version__,
        model=str(merged.get("model", "unknown")),
        input_cube=str(merged.get("input_cube", "unknown")),
        date_created=now,
    )
    if merged.get("threshold") is not None:
        glob["threshold"] = float(merged["threshold"])
    else:
        glob.pop("threshold", None)
    if "psd_units" in merged:
        glob["psd_units"] = str(merged["psd_units"])
    if point:
        glob["featureType"] = "point"
    out.attrs = glob
    return out


# ----------------------------------------------------------------------------------------
# files
# ----------------------------------------------------------------------------------------
def write_catalogue(
    cat: xr.Dataset, path: str | os.PathLike[str], *, attrs: Mapping[str, Any] | None = None
) -> Path:
    """Write a catalogue as a CF-1.10 netCDF4 file, atomically.

    The file is first written to a hidden temporary file in the same folder and then
    renamed over ``path``, so readers never see a half-written file and a failed write
    leaves an existing ``path`` untouched.

    Parameters
    ----------
    cat : xarray.Dataset
        Catalogue with dimension ``event`` (zero events allowed).
    path : str or path-like
        Destination ``.nc`` file.
    attrs : mapping, optional
        Provenance overriding ``cat.attrs``: ``model``, ``threshold``, ``input_cube``,
        ``title``, ``source``... (see :func:`cf_catalogue`).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    OSError
        The write failed (a full disk, no permission...): the message names ``path``;
        an existing ``path`` is left as it was.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "events.nc")
    >>> _ = write_catalogue(empty_catalogue(), p, attrs={"model": "iar-default"})
    >>> open_catalogue(p).attrs["model"]
    'iar-default'
    """
    final = Path(path)
    ds = cf_catalogue(cat, attrs)
    folder = final.parent if str(final.parent) else Path(".")
    tmp = folder / f".{final.name}.{uuid.uuid4().hex}.tmp"
    # O_EXCL: never write into someone else's file; mode 0o666 lets the umask decide
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    os.close(fd)
    try:
        try:
            ds.to_netcdf(tmp, format="NETCDF4", engine="netcdf4")
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except (OSError, RuntimeError) as err:
            # netCDF reports a full disk as "NetCDF: HDF error", without the path
            raise OSError(f"cannot write the catalogue {final}: {err}") from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final


def _to_unicode(var: xr.DataArray) -> xr.DataArray:
    values = np.asarray(var.values)
    if values.size == 0:
        return var.copy(data=values.astype("<U1"))
    return var.copy(data=values.astype(str))


def open_catalogue(path: str | os.PathLike[str]) -> xr.Dataset:
    """Read a catalogue written by :func:`write_catalogue` (loaded into memory).

    Times come back as datetime64[ns], strings as numpy ``<U`` arrays, the known
    variables as data variables; the file is closed on return, so it can be overwritten.

    Parameters
    ----------
    path : str or path-like
        A netCDF catalogue.

    Returns
    -------
    xarray.Dataset
        The catalogue, validated.

    Raises
    ------
    FileNotFoundError
        Nothing at ``path``.
    CatalogueError
        (a ``ValueError``) ``path`` is not netCDF (empty, garbage) or not a catalogue.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "events.nc")
    >>> _ = write_catalogue(empty_catalogue(), p)
    >>> open_catalogue(p).sizes["event"]
    0
    """
    import netCDF4

    if not os.path.exists(path):
        raise FileNotFoundError(f"no catalogue at {path}")
    try:
        with netCDF4.Dataset(path) as nc:
            order = list(nc.variables)
        with xr.open_dataset(path, engine="netcdf4") as ds:
            ds = ds.load()
    except (OSError, RuntimeError, ValueError, TypeError, KeyError) as err:
        why = " ".join(str(err).split()) or type(err).__name__
        raise CatalogueError(f"{path} is not a readable netCDF catalogue ({why})") from err
    ds = ds.reset_coords([n for n in VARIABLES if n in ds.coords])
    # reset_coords appends; keep the file's order, which is the writer's
    ds = ds[[n for n in order if n in ds.data_vars]]
    for name in list(ds.variables):
        var = ds[name]
        if var.dtype.kind == "O" and all(isinstance(x, str) for x in var.values.ravel()):
            ds[name] = _to_unicode(var)
    if "event" not in ds.dims:
        # a zero-event catalogue whose every variable was dropped still has the dim
        raise CatalogueError(f"{path} holds no dimension 'event'")
    return validate_catalogue(ds)
