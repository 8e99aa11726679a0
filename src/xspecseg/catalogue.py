"""Event catalogues: the schema, validation, and CF-1.10 netCDF4 files.

A catalogue is an ``xr.Dataset`` with dimension ``event`` (see the concepts page of the docs). Every
variable is optional; those named in :data:`VARIABLES` have a fixed type and get CF
attributes when written; any other variable is kept as it is.

On disk
-------
* netCDF4 (HDF5) format, ``Conventions = "CF-1.10"``; ``featureType = "point"`` when the
  catalogue has ``peak_time``, ``latitude`` and ``longitude`` (each event is then a CF
  discrete-sampling-geometry point located by them).
* Times as float64 ``seconds since 1970-01-01T00:00:00Z`` (what cftime, netCDF4 and most
  CF tools decode), ``NaT`` as NaN. float64 resolves 0.24 µs today, so
  :func:`open_catalogue` rounds to the microsecond and times on whole microseconds (CSES
  millisecond stamps, cube rows) round-trip exactly. A catalogue holding a time that is
  not on a whole microsecond is written with int64 ``nanoseconds since
  1970-01-01T00:00:00Z`` instead (``NaT`` the int64 minimum, declared as ``_FillValue``),
  the encoding of older catalogues, which are read as before.
* Provenance as global attributes (:data:`PROVENANCE`): the model (``model``,
  ``model_architecture``, ``model_sha256``, ``representation``...), the ``threshold``,
  the extraction settings and the event cuts applied (a cut not applied has no
  attribute), and a CF ``history`` of ``<ISO time> xspecseg <version>: <step>`` lines.
  :func:`merge_catalogues` keeps them, and refuses to mix catalogues whose provenance
  differs unless told to flag it.
* Strings as netCDF variable-length strings (CF-1.8+); read back as numpy ``<U`` arrays.
* Written atomically: to a hidden temporary file in the target folder, then
  ``os.replace``. A failure leaves neither a partial file under the final name nor a
  temporary file, and an existing file keeps its old content.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from ._atomic import atomic_write
from ._provenance import append_history, history_line, utc_now_iso
from ._version import __version__

__all__ = [
    "PROVENANCE",
    "VARIABLES",
    "CatalogueError",
    "cf_catalogue",
    "empty_catalogue",
    "merge_catalogues",
    "open_catalogue",
    "validate_catalogue",
    "write_catalogue",
]


class CatalogueError(ValueError):
    """A dataset that is not a valid event catalogue."""


# kind: "time" datetime64[ns]; "float" float64; "int" int64; "str" unicode strings.
# Attrs are CF; ``units`` of time variables go into the encoding, not the attrs.
#: The catalogue's variables: name -> (kind, CF attrs); see the concepts page.
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
    "contrast": (
        "float",
        {
            "units": "1",
            "long_name": "mean log10 PSD of the event's pixels over the unit's per-frequency median",
        },
    ),
    "core_contrast": (
        "float",
        {
            "units": "1",
            "long_name": "90th percentile minus median of the event's relative log10 PSD",
        },
    ),
    "spread": (
        "float",
        {"units": "1", "long_name": "standard deviation of the event's relative log10 PSD"},
    ),
    "isolation_frequency": (
        "float",
        {
            "units": "1",
            "long_name": "contrast minus that of the brighter frequency band beside the "
            "event's box",
        },
    ),
    "isolation_time": (
        "float",
        {
            "units": "1",
            "long_name": "contrast minus that of the brighter time span beside the event's box",
        },
    ),
    "fill": (
        "float",
        {"units": "1", "long_name": "share of the event's box at or above the threshold"},
    ),
    "event_score": (
        "float",
        {"units": "1", "long_name": "the model's event score (log-odds of a true event)"},
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
    # "degrees", not "degrees_north": CF tools take degrees_north for a geographic latitude
    "magnetic_latitude": (
        "float",
        {
            "units": "degrees",
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
    "n_fringes": (
        "int",
        {"units": "1", "long_name": "number of resonance fringes near the event's peak time"},
    ),
    "fringe_frequency": (
        "float",
        {"units": "Hz", "long_name": "frequency of each resonance fringe (NaN padded)"},
    ),
}
_IAR_ONLY = ("delta_f", "n_fringes", "fringe_frequency")
_KIND_DTYPE = {
    "time": np.dtype("datetime64[ns]"),
    "float": np.dtype("float64"),
    "int": np.dtype("int64"),
    "str": np.dtype("<U1"),
}
_KIND_OK = {"time": "M", "float": "fiu", "int": "iu", "str": "UO"}
_TIME_UNITS = "seconds since 1970-01-01T00:00:00Z"
_TIME_UNITS_NS = "nanoseconds since 1970-01-01T00:00:00Z"
_NAT = np.iinfo(np.int64).min
# the point-DSG auxiliary coordinates, in CF's order
_POINT_COORDS = ("peak_time", "latitude", "longitude")
#: Global attributes that say which model and which settings made a catalogue: the
#: model's identity (from the probability's attrs), the threshold, the extraction
#: settings of :func:`xspecseg.events.extract_events` and the event cuts applied (those of
#: ``xspecseg.events.EVENT_CUT_KEYS``). :func:`merge_catalogues` refuses to mix
#: catalogues that differ in any of them.
PROVENANCE: tuple[str, ...] = (
    "model",
    "model_architecture",
    "model_sha256",
    "representation",
    "image_unit",
    "threshold",
    "min_pixels",
    "connectivity",
    "merge_frequency",
    "fringes",
    "max_impulsiveness",
    "min_mean_probability",
    "min_bandwidth",
    "max_duration",
    "min_event_score",
    "event_score",
    "psd_units",
)


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
def _decode_seconds(seconds: np.ndarray) -> np.ndarray:
    """float64 seconds since 1970 -> datetime64[ns], to the nearest microsecond; NaN -> NaT."""
    s = np.asarray(seconds, dtype=np.float64)
    nat = ~np.isfinite(s)
    s = np.where(nat, 0.0, s)
    whole = np.floor(s)
    # s - floor(s) is exact in floating point, so only the fraction is rounded
    micro = np.rint((s - whole) * 1e6).astype(np.int64)
    ns = whole.astype(np.int64) * 1_000_000_000 + micro * 1000
    out = ns.astype("datetime64[ns]")
    out[nat] = np.datetime64("NaT", "ns")
    return out


def _seconds_exact(times: list[np.ndarray]) -> bool:
    """Whether every time survives float64 seconds and :func:`_decode_seconds` unchanged."""
    from xarray.coding.times import encode_cf_datetime

    for t in times:
        t = np.asarray(t, dtype="datetime64[ns]")
        if t.size == 0:
            continue
        # the encoder the file is written with, so the check is of what lands on disk
        num, _, _ = encode_cf_datetime(
            t, _TIME_UNITS, "proleptic_gregorian", dtype=np.dtype("float64")
        )
        back = _decode_seconds(np.asarray(num))
        if not np.array_equal(back.view(np.int64), t.view(np.int64)):
            return False
    return True


def _attr_value(value: Any) -> Any:
    """An attribute netCDF can store: booleans as 0/1 (netCDF has no boolean type)."""
    if isinstance(value, bool | np.bool_):
        return int(value)
    return value


def cf_catalogue(cat: xr.Dataset, attrs: Mapping[str, Any] | None = None) -> xr.Dataset:
    """The catalogue as :func:`write_catalogue` writes it: CF attributes and encodings.

    Known variables get ``units``/``long_name``/``standard_name`` (overriding what they
    had for those keys; other attrs are kept), strings become ``<U`` arrays, times get a
    float64 ``seconds since 1970-01-01T00:00:00Z`` encoding (int64 nanoseconds when a time
    is not on a whole microsecond, see the module docstring). Global attributes:
    ``Conventions``, ``title``, ``history`` (a line appended), ``source``,
    ``xspecseg_version``, ``model``, ``threshold``, ``input_cube`` (from ``attrs``, else
    ``cat.attrs``; ``model`` and ``input_cube`` default to "unknown", ``threshold`` is
    left out when unknown), the other :data:`PROVENANCE` attributes present,
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
    validate_catalogue(cat)
    out = cat.copy()
    # data variables by design: a reader's decode_coords must not keep them as coords
    out = out.reset_coords([n for n in VARIABLES if n in out.coords])
    point = all(n in out for n in _POINT_COORDS)
    times = [out[n].values for n, (kind, _) in VARIABLES.items() if kind == "time" and n in out]
    time_encoding: dict[str, Any] = (
        {"units": _TIME_UNITS, "dtype": np.dtype("float64"), "_FillValue": np.nan}
        if _seconds_exact(times)
        else {"units": _TIME_UNITS_NS, "dtype": np.dtype("int64"), "_FillValue": _NAT}
    )
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
            var.encoding = {**time_encoding, "calendar": "proleptic_gregorian"}
        else:
            var.encoding = {k: v for k, v in var.encoding.items() if k not in ("coordinates",)}
        out[name] = var
    if "event" in out.coords:
        out["event"].attrs = {"long_name": "event number in the catalogue", "units": "1"}
    if point:
        # xarray would list the other non-dimension coords itself; we replace its
        # attribute, so name them too
        extra = [c for c in out.coords if c not in out.dims and "event" in out[c].dims]
        coords = " ".join([*_POINT_COORDS, *extra])
        for name in out.data_vars:
            if name not in _POINT_COORDS:
                out.variables[name].encoding["coordinates"] = coords

    merged = {**cat.attrs, **(dict(attrs) if attrs else {})}
    now = utc_now_iso()
    glob: dict[str, Any] = {
        k: _attr_value(v)
        for k, v in merged.items()
        if k not in ("history", "featureType", "psd_units") and v is not None
    }
    glob.update(
        Conventions="CF-1.10",
        title=str(merged.get("title", "xspecseg event catalogue")),
        history=append_history(merged.get("history"), history_line("write_catalogue", now)),
        source=str(merged.get("source", f"xspecseg {__version__} event extraction")),
        xspecseg_version=__version__,
        model=str(merged.get("model", "unknown")),
        input_cube=str(merged.get("input_cube", "unknown")),
        date_created=now,
    )
    threshold = merged.get("threshold")
    if threshold is None:
        glob.pop("threshold", None)
    elif isinstance(threshold, str):
        # merge_catalogues(mixed="flag") lists the thresholds of the catalogues it merged
        glob["threshold"] = threshold
    else:
        glob["threshold"] = float(threshold)
    if "psd_units" in merged:
        glob["psd_units"] = str(merged["psd_units"])
    if point:
        glob["featureType"] = "point"
    out.attrs = glob
    return out


def _shown(value: Any) -> str:
    """An attribute as merge_catalogues compares and joins it (0.5 == np.float64(0.5))."""
    if value is None:
        return "none"
    if isinstance(value, bool | np.bool_):
        return str(int(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return repr(float(value))
    return str(value)


def _fill_like(var: xr.DataArray, name: str, n: int) -> xr.DataArray:
    """A variable of ``n`` missing values shaped like ``var`` along ``event``."""
    kind = VARIABLES[name][0]
    shape = (n, *var.shape[1:])
    fill: Any = {"time": np.datetime64("NaT", "ns"), "float": np.nan, "str": ""}[kind]
    dtype = _KIND_DTYPE[kind] if kind != "str" else np.dtype("<U1")
    return xr.DataArray(np.full(shape, fill, dtype=dtype), dims=var.dims, attrs=var.attrs)


def merge_catalogues(
    cats: Sequence[xr.Dataset], *, mixed: Literal["raise", "flag"] = "raise"
) -> xr.Dataset:
    """Join catalogues (e.g. of several stations, months or orbit files) into one.

    Events are concatenated in the order given (``event`` renumbered ``0..n-1`` when it
    is a coordinate; ``fringe_frequency`` NaN-padded to the widest). A known variable
    missing from some catalogues is filled with NaT, NaN or ""; a missing integer or
    unknown variable is an error. Global attributes equal in every catalogue are kept,
    others are joined with "; " (e.g. ``station = "ESK; LER"``). The histories are joined
    and a ``merge_catalogues`` line added.

    Parameters
    ----------
    cats : sequence of xarray.Dataset
        Valid catalogues, at least one.
    mixed : {"raise", "flag"}, default "raise"
        Catalogues that differ in a :data:`PROVENANCE` attribute (another model, threshold
        or event cut: their events are not comparable) are refused with "raise". With
        "flag" they are merged, the differing attributes joined with "; " and named in
        the attribute ``mixed_provenance``.

    Returns
    -------
    xarray.Dataset
        The merged catalogue.

    Raises
    ------
    CatalogueError
        An invalid catalogue, a provenance conflict under ``mixed="raise"``, or a
        variable that cannot be filled.

    Examples
    --------
    >>> a = empty_catalogue().assign_attrs(model="cses-default", station="CSES")
    >>> merge_catalogues([a, a]).attrs["model"]
    'cses-default'
    >>> b = a.assign_attrs(model="other")
    >>> merge_catalogues([a, b], mixed="flag").attrs["mixed_provenance"]
    'model'
    """
    cats = list(cats)
    if not cats:
        raise ValueError("merge_catalogues needs at least one catalogue")
    if mixed not in ("raise", "flag"):
        raise ValueError(f"mixed must be 'raise' or 'flag', got {mixed!r}")
    for cat in cats:
        validate_catalogue(cat)

    # attributes: agree, join, or refuse
    keys: list[str] = []
    for cat in cats:
        keys += [k for k in cat.attrs if k not in keys]
    attrs: dict[str, Any] = {}
    conflicts = []
    for key in keys:
        if key in ("history", "date_created", "mixed_provenance"):
            continue
        values = [cat.attrs.get(key) for cat in cats]
        shown = [_shown(v) for v in values]
        if len(set(shown)) == 1:
            attrs[key] = values[0]
            continue
        if key in PROVENANCE:
            conflicts.append((key, shown))
        # values joined by an earlier merge are split, so each appears once
        attrs[key] = "; ".join(dict.fromkeys(x for v in shown for x in v.split("; ")))
    if conflicts and mixed == "raise":
        what = "; ".join(f"{k}: {' vs '.join(dict.fromkeys(v))}" for k, v in conflicts)
        raise CatalogueError(
            f"the catalogues come from different models or settings ({what}); their events "
            "are not comparable. merge_catalogues(..., mixed='flag') merges them anyway"
        )
    # a catalogue mixed by an earlier merge stays mixed
    flagged = [k for cat in cats for k in str(cat.attrs.get("mixed_provenance", "")).split()]
    flagged = list(dict.fromkeys([*flagged, *(k for k, _ in conflicts)]))
    if flagged:
        attrs["mixed_provenance"] = " ".join(flagged)
    lines: list[str] = []
    for cat in cats:
        lines += [ln for ln in str(cat.attrs.get("history", "")).splitlines() if ln.strip()]
    attrs["history"] = append_history(
        "\n".join(dict.fromkeys(lines)), history_line(f"merge_catalogues of {len(cats)}")
    )

    # variables: the same set everywhere, filled where a known one can be
    names: list[str] = []
    for cat in cats:
        names += [n for n in cat.data_vars if n not in names]
    width = max((c.sizes.get("fringe", 0) for c in cats if "fringe_frequency" in c), default=0)
    parts = []
    for cat in cats:
        cat = cat.drop_vars("event", errors="ignore")
        n = cat.sizes["event"]
        for name in names:
            if name in cat:
                continue
            if name not in VARIABLES or VARIABLES[name][0] == "int":
                raise CatalogueError(
                    f"{name!r} is in some of the catalogues only and has no missing value"
                )
            like = next(c[name] for c in cats if name in c)
            cat[name] = _fill_like(like, name, n)
        if "fringe_frequency" in cat and cat.sizes["fringe"] < width:
            cat = cat.pad(fringe=(0, width - cat.sizes["fringe"]))
            cat["fringe_frequency"] = cat["fringe_frequency"].fillna(np.nan)
        parts.append(cat[names])
    out = xr.concat(parts, dim="event", data_vars="all", coords="minimal", join="outer")
    if any("event" in c.coords for c in cats):
        out = out.assign_coords(event=np.arange(out.sizes["event"]))
    out.attrs = attrs
    return validate_catalogue(out)


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

    def write(tmp: str) -> None:
        try:
            ds.to_netcdf(tmp, format="NETCDF4", engine="netcdf4")
        except (OSError, RuntimeError) as err:
            # netCDF reports a full disk as "NetCDF: HDF error", without the path
            raise OSError(f"cannot write the catalogue {final}: {err}") from err

    # a missing folder fails before the write, as FileNotFoundError naming the file
    return atomic_write(final, write)


def _to_unicode(var: xr.DataArray) -> xr.DataArray:
    values = np.asarray(var.values)
    if values.size == 0:
        return var.copy(data=values.astype("<U1"))
    return var.copy(data=values.astype(str))


def _is_unix_seconds(units: Any) -> bool:
    """Whether CF time ``units`` are seconds since 1970-01-01 00:00 UTC."""
    if not isinstance(units, str) or " since " not in units:
        return False
    unit, ref = units.split(" since ", 1)
    if unit.strip().lower() not in ("seconds", "second", "secs", "sec", "s"):
        return False
    try:
        stamp = pd.Timestamp(ref.strip())
    except ValueError:
        return False
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return bool(stamp == pd.Timestamp("1970-01-01"))


def open_catalogue(path: str | os.PathLike[str]) -> xr.Dataset:
    """Read a catalogue written by :func:`write_catalogue` (loaded into memory).

    Times come back as datetime64[ns] (float seconds rounded to the microsecond,
    nanosecond integers of older catalogues as they are), strings as numpy ``<U`` arrays,
    the known variables as data variables; the file is closed on return, so it can be
    overwritten.

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
            seconds = {}
            for name in order:
                var = nc.variables[name]
                if np.dtype(var.dtype).kind == "f" and _is_unix_seconds(
                    getattr(var, "units", None)
                ):
                    var.set_auto_maskandscale(False)
                    seconds[name] = np.asarray(var[...], dtype=np.float64)
        with xr.open_dataset(path, engine="netcdf4") as ds:
            ds = ds.load()
    except (OSError, RuntimeError, ValueError, TypeError, KeyError) as err:
        why = " ".join(str(err).split()) or type(err).__name__
        raise CatalogueError(f"{path} is not a readable netCDF catalogue ({why})") from err
    for name, values in seconds.items():
        # xarray's float decoding is off by up to a few hundred ns; round to the microsecond
        if name in ds.variables and ds[name].dtype.kind == "M":
            ds[name] = ds[name].copy(data=_decode_seconds(values).reshape(ds[name].shape))
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
