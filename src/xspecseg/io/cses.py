"""Reader for CSES-01 EFD level-2 VLF power-spectrum files (HDF5).

Layout, as public readers of the real product use it: file names
``CSES_01_EFD_3_L02_A1_<orbit:5><0 desc|1 asc>_<YYYYMMDD_hhmmss>_<YYYYMMDD_hhmmss>_000.h5``;
datasets ``A131_P``, ``A132_P``, ``A133_P`` (N, 1024) power spectra of Ex, Ey, Ez over
0–25.6 kHz in 25 Hz bins, one row per ~2.048 s; ``FREQ`` (1, 1024); ``UTC_TIME`` (N, 1)
int64 ``YYYYMMDDhhmmssmmm``; ``VERSE_TIME``, ``GEO_LAT``, ``GEO_LON``, ``MAG_LAT``,
``MAG_LON``, ``ALTITUDE``, ``WORKMODE`` (N, 1); dataset attributes ``FillValue``,
``Units``, ``ValidRange``; global attributes ``ORBITNUM``, ``ORBITTYPE``, ``SAMPLERATE``.

Frequency convention: ``FREQ`` may hold the bins' lower edges ``k * df`` (0, 25, 50, ...
Hz; what :mod:`xspecseg.synth.cses` writes) or their centres ``(k + 1/2) * df`` (12.5,
37.5, ... Hz); 1025 values (every edge, up to 25.6 kHz) are accepted too. The resolution
is the same, so the reader maps all of them onto one convention: the cube's ``frequency``
coordinate is ``k * df`` for bin ``k`` (0 ... 25 575 Hz for the real product), i.e. the
lower edge of the bin ``[k df, (k + 1) df)``, which is also the frequency of FFT bin ``k``
of the 2048-point transform at 51.2 kHz. Which form was found is recorded in the cube's
``attrs["freq_in_files"]`` (``"edges"``, ``"centres"``, or both joined by ``+``); the
coordinate carries ``bin_width`` and ``convention`` attributes. Which form the real level-2
files use could not be confirmed from the public material available when this was written
(the product description quoted above says "0-25.6 kHz in 25 Hz bins", and the public
csespy reader takes ``FREQ`` as stored, falling back to ``k * fs / N`` from 0); edges are
assumed, and other offsets are kept as stored (``freq_in_files = "other"``).

Checks: a file whose ``UTC_TIME`` does not strictly increase (rows reversed or repeated),
two files covering the same time (the same half-orbit twice, or one file given twice),
spectra that are not real numbers (complex, strings), an ``ORBITNUM`` that is not an
orbit number, and impossible coordinates (``|GEO_LAT|`` or ``|MAG_LAT|`` above 90°,
``GEO_LON`` outside [-180, 360]°) are refused with a ``ValueError`` naming the file and
the dataset or attribute. Spectrum values that can be repaired are masked instead: the
dataset's ``FillValue``, non-finite values (inf) and values outside its ``ValidRange``
attribute (negative power, say) read as NaN. A ``ValidRange`` that is not two numbers is
ignored.

Only the small along-track datasets are read when the files are opened; each file's
spectra become one lazy Dask task that opens the file itself (so the graph pickles and
runs on a distributed cluster).
"""

from __future__ import annotations

import functools
import itertools
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import xarray as xr
from dask.highlevelgraph import HighLevelGraph

from .._compute import compute
from .._optional import needs_extra
from ._paths import expand_paths
from .cses_format import FILE_GLOB, N_FREQ, NAME_RE, SPECTRUM_NAMES, TRACK, TRUTH_BITS, TRUTH_NAME

__all__ = ["read_cses"]


@dataclass(frozen=True)
class _FileMeta:
    path: str
    n: int
    orbit: int
    direction: str
    time: np.ndarray  # datetime64[ns]
    lat: np.ndarray
    lon: np.ndarray
    alt: np.ndarray
    mlat: np.ndarray
    freq: np.ndarray  # mapped onto the lower-edge convention (see the module notes)
    freq_found: str  # "edges", "centres" or "other"
    fill: float | None
    valid: tuple[float, float] | None  # the spectra's ValidRange, when it is two numbers
    units: str
    has_truth: bool
    synth_params: str | None
    sample_rate: float | None


def decode_utc_time(values: np.ndarray) -> np.ndarray:
    """CSES ``UTC_TIME`` integers ``YYYYMMDDhhmmssmmm`` -> ``datetime64[ns]``.

    Parameters
    ----------
    values : array of int
        Encoded times; any shape.

    Returns
    -------
    numpy.ndarray
        ``datetime64[ns]`` of the same shape.

    Raises
    ------
    ValueError
        If a field is out of range (month 13, minute 61, ...).

    Examples
    --------
    >>> decode_utc_time(np.array([20211101004412123]))
    array(['2021-11-01T00:44:12.123000000'], dtype='datetime64[ns]')
    """
    v = np.asarray(values, dtype=np.int64)
    rest, ms = np.divmod(v, 1000)
    rest, ss = np.divmod(rest, 100)
    rest, mi = np.divmod(rest, 100)
    rest, hh = np.divmod(rest, 100)
    rest, dd = np.divmod(rest, 100)
    yy, mo = np.divmod(rest, 100)
    bad = (
        (mo < 1)
        | (mo > 12)
        | (dd < 1)
        | (dd > 31)
        | (hh > 23)
        | (mi > 59)
        | (ss > 60)
        | (yy < 1970)
        | (yy > 2200)
    )
    if bad.any():
        raise ValueError(f"UTC_TIME value {v[bad].flat[0]} is not YYYYMMDDhhmmssmmm")
    month = ((yy - 1970) * 12 + (mo - 1)).astype("datetime64[M]")
    day = month.astype("datetime64[D]") + (dd - 1).astype("timedelta64[D]")
    if (day.astype("datetime64[M]") != month).any():
        raise ValueError("UTC_TIME holds a day past the end of its month")
    ms_of_day = ((hh * 60 + mi) * 60 + ss) * 1000 + ms
    return (day.astype("datetime64[ms]") + ms_of_day.astype("timedelta64[ms]")).astype(
        "datetime64[ns]"
    )


def _check_numeric(ds, name: str, path: str) -> None:
    """Refuse datasets of strings, complex numbers, compounds... (one line naming both)."""
    kind = ds.dtype.kind
    if kind == "c":
        raise ValueError(
            f"{path}: dataset {name} holds complex numbers ({ds.dtype}); expected real"
        )
    if kind not in "iuf":
        raise ValueError(f"{path}: dataset {name} holds {ds.dtype} values, not numbers")


def _column(f, name: str, path: str, n: int | None = None) -> np.ndarray:
    ds = f[name]
    _check_numeric(ds, name, path)
    if ds.ndim == 2 and ds.shape[1] == 1:
        x = ds[:, 0]
    elif ds.ndim == 1:
        x = ds[:]
    else:
        raise ValueError(f"{path}: dataset {name} has shape {ds.shape}; expected (N, 1)")
    if n is not None and x.shape[0] != n:
        raise ValueError(f"{path}: dataset {name} has {x.shape[0]} rows but UTC_TIME has {n}")
    return x


def _frequency_edges(freq: np.ndarray, path: str) -> tuple[np.ndarray, str]:
    """``FREQ`` as stored -> (lower bin edges ``k * df``, the form found).

    Edges start at 0 (1024 lower edges, or all 1025 edges); centres start at ``df / 2``.
    Anything else (no uniform spacing to judge by, another offset) is kept as stored.
    """
    f = np.asarray(freq, dtype=np.float64).ravel()
    if f.size == N_FREQ + 1:  # every edge, up to the Nyquist frequency: keep lower edges
        f = f[:-1]
    if f.size != N_FREQ:
        raise ValueError(f"{path}: FREQ has {f.size} values; expected {N_FREQ}")
    df = float(np.median(np.diff(f)))
    if not (np.isfinite(df) and df > 0):
        return f, "other"
    tol = 1e-3 * df
    if abs(f[0]) <= tol:
        return f, "edges"
    if abs(f[0] - df / 2.0) <= tol:
        return f - df / 2.0, "centres"
    return f, "other"


def _valid_range(ds) -> tuple[float, float] | None:
    """A dataset's ``ValidRange`` as (low, high), or None when absent or not two numbers."""
    vr = ds.attrs.get("ValidRange")
    if vr is None:
        return None
    try:
        a = np.asarray(vr, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        return None
    if a.size != 2 or np.isnan(a).any() or a[0] > a[1]:
        return None
    return float(a[0]), float(a[1])


def _int_attr(f, key: str, path: str) -> int:
    """A global attribute holding a non-negative integer (number or digit string)."""
    raw = f.attrs[key]
    a = np.asarray(raw).ravel()
    x: Any = a[0] if a.size == 1 else raw
    if isinstance(x, bytes):
        x = x.decode("utf-8", "replace")
    try:
        if a.size != 1 or isinstance(x, bool | np.bool_):
            raise ValueError
        if isinstance(x, str):
            value = int(x.strip())
        else:
            fx = float(x)
            if not fx.is_integer():
                raise ValueError
            value = int(fx)
        if value < 0:
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise ValueError(
            f"{path}: global attribute {key} = {x!r} is not a non-negative integer"
        ) from None
    return value


def _check_range(x: np.ndarray, name: str, path: str, lo: float, hi: float) -> None:
    """Refuse coordinates outside [lo, hi] (NaN, i.e. fill values, are allowed)."""
    bad = np.flatnonzero(~np.isnan(x) & ~((x >= lo) & (x <= hi)))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{path}: dataset {name} holds {x[i]:g} (row {i}; {bad.size} such rows), "
            f"outside [{lo:g}, {hi:g}]: impossible coordinates"
        )


def _fill_to_nan(x: np.ndarray, ds) -> np.ndarray:
    x = x.astype(np.float64)
    fv = ds.attrs.get("FillValue")
    if fv is not None:
        x[x == np.asarray(fv).ravel()[0]] = np.nan
    return x


def _attr_str(v: Any) -> str:
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray) and v.size == 1:
        return _attr_str(v.ravel()[0])
    return str(v)


def _open_meta(path: str, component: str, check_name: bool) -> _FileMeta:
    with needs_extra("cses"):
        import h5py

    name = os.path.basename(path)
    m = NAME_RE.match(name)
    if check_name and m is None:
        raise ValueError(
            f"{path}: not a CSES EFD level-2 file name "
            "(CSES_01_EFD_3_L02_A1_<orbit><0|1>_<start>_<end>_000.h5); "
            "pass check_name=False to read renamed files"
        )
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ValueError(f"{path}: not a readable HDF5 file ({e})") from e
    with f:
        if "ORBITNUM" not in f.attrs:
            raise ValueError(f"{path}: not a CSES file (no global attribute ORBITNUM)")
        spec = SPECTRUM_NAMES[component]
        missing = [k for k in (spec, "FREQ", *TRACK) if k not in f]
        if missing:
            raise ValueError(f"{path}: missing required dataset(s) {', '.join(missing)}")
        try:
            time = decode_utc_time(_column(f, "UTC_TIME", path))
        except ValueError as e:
            msg = str(e)
            raise ValueError(msg if msg.startswith(path) else f"{path}: {msg}") from None
        n = time.shape[0]
        if n > 1:
            step = np.diff(time)
            back = np.flatnonzero(step <= np.timedelta64(0, "ns"))
            if back.size:
                i = int(back[0]) + 1
                how = "repeats" if step[i - 1] == np.timedelta64(0, "ns") else "goes back to"
                raise ValueError(
                    f"{path}: dataset UTC_TIME is not strictly increasing: row {i} {how} "
                    f"{time[i]} after {time[i - 1]} ({back.size} such rows); the file is "
                    "broken"
                )
        ds = f[spec]
        _check_numeric(ds, spec, path)
        if ds.ndim != 2 or ds.shape[1] != N_FREQ:
            raise ValueError(f"{path}: {spec} has shape {ds.shape}; expected (N, {N_FREQ})")
        if ds.shape[0] != n:
            raise ValueError(f"{path}: {spec} has {ds.shape[0]} rows but UTC_TIME has {n}")
        _check_numeric(f["FREQ"], "FREQ", path)
        freq, freq_found = _frequency_edges(f["FREQ"][()], path)
        lat = _fill_to_nan(_column(f, "GEO_LAT", path, n), f["GEO_LAT"])
        lon = _fill_to_nan(_column(f, "GEO_LON", path, n), f["GEO_LON"])
        alt = _fill_to_nan(_column(f, "ALTITUDE", path, n), f["ALTITUDE"])
        mlat = _fill_to_nan(_column(f, "MAG_LAT", path, n), f["MAG_LAT"])
        _check_range(lat, "GEO_LAT", path, -90.0, 90.0)
        _check_range(mlat, "MAG_LAT", path, -90.0, 90.0)
        _check_range(lon, "GEO_LON", path, -180.0, 360.0)
        orbit = _int_attr(f, "ORBITNUM", path)
        # Direction from the motion itself (robust to renamed files); the name's last
        # digit and ORBITTYPE only decide files too short to show it.
        good = np.isfinite(lat)
        if good.sum() >= 2:
            descending = lat[good][-1] < lat[good][0]
        elif m is not None:
            descending = m["dir"] == "0"
        else:
            descending = "ORBITTYPE" not in f.attrs or _int_attr(f, "ORBITTYPE", path) == 0
        fv = ds.attrs.get("FillValue")
        truth = f.get(TRUTH_NAME)
        has_truth = truth is not None and truth.shape == (n, N_FREQ)
        sp = f.attrs.get("SYNTH_PARAMS")
        sr = f.attrs.get("SAMPLERATE")
        if sr is not None:
            try:
                sr = float(np.asarray(sr).ravel()[0])
            except (TypeError, ValueError, IndexError):
                raise ValueError(
                    f"{path}: global attribute SAMPLERATE = {sr!r} is not a number"
                ) from None
        return _FileMeta(
            path=path,
            n=n,
            orbit=orbit,
            direction="descending" if descending else "ascending",
            time=time,
            lat=lat,
            lon=lon,
            alt=alt,
            mlat=mlat,
            freq=freq,
            freq_found=freq_found,
            fill=None if fv is None else float(np.asarray(fv).ravel()[0]),
            valid=_valid_range(ds),
            units=_attr_str(ds.attrs.get("Units", "")),
            has_truth=has_truth,
            synth_params=None if sp is None else _attr_str(sp),
            sample_rate=sr,
        )


#: Files whose headers one task reads when :func:`read_cses` is given many.
_META_BATCH = 256


def _meta_batch(paths: list[str], component: str, check_name: bool) -> list[_FileMeta]:
    return [_open_meta(p, component, check_name) for p in paths]


def _open_metas(files: list[str], component: str, check_name: bool) -> list[_FileMeta]:
    """Every file's header, in batches on the current Dask scheduler when there are many.

    A year is 11 000 files: read one after the other on the client (3 ms each from the
    page cache, more from disk) their headers kept a cluster's workers idle.
    """
    if len(files) <= _META_BATCH:
        return _meta_batch(files, component, check_name)
    batches = [files[i : i + _META_BATCH] for i in range(0, len(files), _META_BATCH)]
    tasks = [dask.delayed(_meta_batch, pure=True)(b, component, check_name) for b in batches]
    return [m for batch in compute(*tasks) for m in batch]


def _read_spectra(
    path: str,
    name: str,
    cols: slice,
    fill: float | None,
    log10: bool,
    valid: tuple[float, float] | None = None,
) -> np.ndarray:
    with needs_extra("cses"):
        import h5py

    with h5py.File(path, "r") as f:
        x = np.asarray(f[name][:, cols], dtype=np.float32)
    if fill is not None:
        x[x == np.float32(fill)] = np.nan
    x[np.isinf(x)] = np.nan
    if valid is not None:
        with np.errstate(invalid="ignore"):
            x[(x < np.float32(valid[0])) | (x > np.float32(valid[1]))] = np.nan
    if log10:
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.where(x > 0, np.log10(x), np.nan).astype(np.float32)
    return x


def _per_file(
    label: str, readers: list[functools.partial], rows: tuple[int, ...], nf: int, dtype: Any
) -> da.Array:
    """One chunk per file, every file's read in one graph layer.

    ``da.concatenate`` of one ``from_delayed`` array per file gives a layer per file, and
    culling a graph costs its layers times its keys: 1.4 s per optimisation for 1600 files,
    growing with the square of the count, all of it on the client before a task runs.
    """
    name = f"{label}-{dask.base.tokenize(*((r.func, r.args) for r in readers))}"
    dsk = {(name, i, 0): (r,) for i, r in enumerate(readers)}
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=())
    return da.Array(graph, name, chunks=(rows, (nf,)), dtype=dtype)


def _read_truth(path: str, cols: slice, bit: int) -> np.ndarray:
    with needs_extra("cses"):
        import h5py

    with h5py.File(path, "r") as f:
        return (np.asarray(f[TRUTH_NAME][:, cols]) & bit) != 0


def _efd_files(folder: Path) -> Iterable[Path]:
    # other products of the mission (SCM, HPM, LAP, ...) share folders with EFD files
    return folder.glob(FILE_GLOB)


def _expand(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[str]:
    return expand_paths(paths, reader="read_cses", members=_efd_files, wanted=f"{FILE_GLOB} files")


def read_cses(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    component: str = "Z",
    log10: bool = False,
    frequency_range: tuple[float, float] | None = None,
    *,
    check_name: bool = True,
) -> xr.Dataset:
    """Read CSES EFD level-2 VLF files into a lazy satellite cube.

    Parameters
    ----------
    paths : path, glob pattern, folder or iterable of them
        The half-orbit files. They are concatenated in time order whatever order they
        come in.
    component : {"X", "Y", "Z"}
        Electric-field component: ``A131_P`` (X), ``A132_P`` (Y) or ``A133_P`` (Z, the
        one that shows nucleus-shaped anomalies best).
    log10 : bool
        Return ``log10`` of the power (non-positive values become NaN).
    frequency_range : (low, high), optional
        Keep bins with ``low <= frequency <= high`` (Hz).
    check_name : bool
        Require the product's file-name pattern (a guard against other HDF5 files).

    Returns
    -------
    xarray.Dataset
        ``psd`` (time, frequency) float32, a Dask array with one chunk per file; coords
        ``time`` (datetime64[ns], from ``UTC_TIME``), ``frequency`` (Hz), and along
        ``time``: ``latitude``, ``longitude``, ``altitude_km``, ``magnetic_latitude``,
        ``orbit``, ``orbit_direction``. ``frequency`` is the lower edge ``k * 25`` Hz of
        each bin whether the files' ``FREQ`` holds edges or centres (module notes);
        ``attrs["freq_in_files"]`` says which was found. Fill values, inf and spectrum
        values outside the dataset's ``ValidRange`` attribute are NaN. For
        synthetic files also ``truth`` (time, frequency) bool, lazy. Attrs:
        ``component``, ``units``, ``source_files``, ``platform``, ``instrument``,
        ``freq_in_files``, ``sampling_rate`` and, for synthetic files, ``synth_params``
        (JSON).

    Raises
    ------
    ValueError
        Naming the file: not HDF5, not a CSES file (no ``ORBITNUM``, wrong name), a
        missing dataset, mismatched shapes, an ``ORBITNUM`` that is not an orbit number,
        spectra that are not real numbers (complex, strings), a ``UTC_TIME`` that is not
        strictly increasing, two files covering the same time (the same half-orbit
        twice, or one file given twice), or impossible coordinates (``|GEO_LAT|`` or
        ``|MAG_LAT|`` > 90, ``GEO_LON`` outside [-180, 360]).

    Examples
    --------
    A synthetic half-orbit stands in for the files of the mission's archive:

    >>> from xspecseg.synth import cses_orbits
    >>> _ = cses_orbits("2021-11-01", days=0.05, seed=0, out_dir="orbits/")
    >>> sat = read_cses("orbits/*.h5", component="Z", log10=True)
    >>> mean = sat.psd.sel(frequency=slice(0, 12_500)).mean("frequency").compute()
    >>> mean.dims, sat.attrs["units"]
    (('time',), 'log10((mV/m)^2/Hz)')
    """
    component = component.upper()
    if component not in SPECTRUM_NAMES:
        raise ValueError(f"component must be one of X, Y, Z; got {component!r}")
    files = _expand(paths)
    seen: dict[str, str] = {}
    for p in files:
        key = os.path.realpath(p)
        if key in seen:
            raise ValueError(f"{p}: the same file is given twice (also as {seen[key]})")
        seen[key] = p
    metas = _open_metas(files, component, check_name)
    metas = [m for m in metas if m.n > 0]
    if not metas:
        raise ValueError(f"read_cses: the files hold no rows: {files}")
    metas.sort(key=lambda m: (m.time[0], m.path))
    for prev, m in itertools.pairwise(metas):
        if m.time[0] <= prev.time[-1]:
            raise ValueError(
                f"{m.path}: dataset UTC_TIME overlaps that of {prev.path} "
                f"({m.time[0]} <= {prev.time[-1]}): the same half-orbit given twice?"
            )

    freq = metas[0].freq
    for m in metas[1:]:
        if not np.allclose(m.freq, freq):
            raise ValueError(f"{m.path}: FREQ differs from {metas[0].path}")
    if frequency_range is not None:
        lo, hi = frequency_range
        idx = np.flatnonzero((freq >= lo) & (freq <= hi))
        if idx.size == 0:
            raise ValueError(f"frequency_range {frequency_range} selects no bin")
        cols = slice(int(idx[0]), int(idx[-1]) + 1)
    else:
        cols = slice(0, freq.size)
    fsel = freq[cols]
    nf = fsel.size

    name = SPECTRUM_NAMES[component]
    rows = tuple(m.n for m in metas)
    psd = _per_file(
        "read-cses",
        [functools.partial(_read_spectra, m.path, name, cols, m.fill, log10, m.valid) for m in metas],
        rows, nf, np.float32,
    )  # fmt: skip

    def cat(attr):
        return np.concatenate([getattr(m, attr) for m in metas])

    coords = {
        "time": ("time", cat("time")),
        "frequency": (
            "frequency",
            fsel,
            {
                "units": "Hz",
                "long_name": "frequency",
                "convention": "lower bin edge, k * bin_width",
                "bin_width": float(np.median(np.diff(freq))),
            },
        ),
        "latitude": ("time", cat("lat"), {"units": "degrees_north"}),
        "longitude": ("time", cat("lon"), {"units": "degrees_east"}),
        "altitude_km": ("time", cat("alt"), {"units": "km"}),
        "magnetic_latitude": (
            "time",
            cat("mlat"),
            {"units": "degrees", "long_name": "magnetic latitude (MAG_LAT of the files)"},
        ),
        "orbit": ("time", np.concatenate([np.full(m.n, m.orbit, np.int64) for m in metas])),
        "orbit_direction": (
            "time",
            np.concatenate([np.full(m.n, m.direction, dtype="<U10") for m in metas]),
        ),
    }
    units = metas[0].units
    attrs: dict[str, Any] = {
        "component": component,
        "units": f"log10({units})" if log10 else units,
        "log10": int(log10),
        "source_files": [os.path.basename(m.path) for m in metas],
        "platform": "CSES-01",
        "instrument": "EFD VLF",
        "freq_in_files": "+".join(sorted({m.freq_found for m in metas})),
    }
    if metas[0].sample_rate is not None:
        attrs["sampling_rate"] = metas[0].sample_rate
    params = [m.synth_params for m in metas if m.synth_params]
    if params:
        # Per-file JSON differs only in the half-orbit counter; keep the shared part.
        shared = json.loads(params[0])
        shared.pop("halforbit", None)
        attrs["synth_params"] = json.dumps(shared, sort_keys=True)
    data_vars = {
        "psd": (
            ("time", "frequency"),
            psd,
            {"units": attrs["units"], "long_name": f"power spectral density E{component.lower()}"},
        )
    }
    if all(m.has_truth for m in metas):
        bit = TRUTH_BITS[component]
        truth = _per_file(
            "read-cses-truth",
            [functools.partial(_read_truth, m.path, cols, bit) for m in metas],
            rows, nf, bool,
        )  # fmt: skip
        data_vars["truth"] = (
            ("time", "frequency"),
            truth,
            {"long_name": "injected nucleus-shaped anomaly (synthetic truth)"},
        )
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)
