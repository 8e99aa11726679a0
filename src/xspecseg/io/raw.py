"""Raw little-endian int16 files of the Sierra Nevada ELF station.

Layout (one directory per day): ``smplGRTU1_sensor_S_YYMMDDhhmm`` holds one hour
of one coil (``S`` = 0: NS coil, 1: EW coil) as 921,600 little-endian int16
samples, and ``smplGRTU1_sensor_S_YYMMDDhhmm_info.txt`` gives the first
sample's UTC timestamp (ms precision), the sampling period and the number of
samples.

Placing the files on one time axis
----------------------------------
The logger's clock runs at about 256.016 Hz while the station's processing
treats it as 256 Hz: consecutive files start 3599.783 s apart, but 921,600
samples last 3600.000 s at 256 Hz. This reader

* puts every sample on a regular grid of exactly 256 Hz (period 3,906,250 ns),
  anchored at the earliest first-sample timestamp of all files read;
* re-anchors each file at its own first-sample timestamp rounded to the
  nearest grid sample: an explicit per-file clock-drift correction. Inside a
  file, samples are assumed to be 1/256 s apart, so a file's last samples sit
  up to ~0.22 s later than their true time (the drift accumulated over one
  hour); the error never carries over to the next file;
* drops the tail samples of a file that overlap the next file of the same
  sensor (about 56 samples an hour), so the next file's timestamp wins and no
  instant has two samples;
* leaves NaN where a file is missing or a gap separates two files.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import xarray as xr

from .._timeaxis import NS_PER_S, regular_time_coords, sample_period_ns
from ._assemble import Piece, assemble, round_div, time_chunks

#: Samples in one hourly file.
SAMPLES_PER_FILE = 921_600
#: int16 count to volts.
VOLTS_PER_COUNT = 10.0 / 2**15
#: |V| above this is a saturated sample.
SATURATION_VOLTS = 9.99

COMPONENT_NAMES = {0: "NS", 1: "EW"}

_NAME_RE = re.compile(r"^(?P<prefix>.*_sensor)_(?P<sensor>\d+)_(?P<stamp>\d{10})$")
_INFO_SUFFIX = "_info.txt"

STATION_ATTRS = {
    "station": "Sierra Nevada ELF",
    # approximate: the station is in the Sierra Nevada (Granada, Spain), ~2.5 km a.s.l.
    "latitude": 37.0,
    "longitude": -3.4,
    "altitude_km": 2.5,
}


def is_raw_name(path: str | os.PathLike) -> bool:
    """Whether a file name follows the Sierra Nevada raw layout (data file or info sidecar)."""
    name = Path(path).name
    if name.endswith(_INFO_SUFFIX):
        name = name[: -len(_INFO_SUFFIX)]
    return bool(_NAME_RE.match(name))


def sierra_nevada_calibration(f: np.ndarray | float) -> np.ndarray:
    """Magnitude of the Sierra Nevada coil calibration ``|S(f)|``.

    ``|S(f)| = 1e12/(A*G) * sqrt((1-(f/f0)^2)^2 + (2*d*f/f0)^2) / f`` with
    A = 2500, G = 1.9e6, f0 = 1/(2*pi*sqrt(C*L)), d = R/2 * sqrt(C/L),
    L = 298e3, R = 320e3, C = 40e-12 + 0.65*55e-12 + 2e-12 (station README).
    Multiplying an amplitude spectral density in V/sqrt(Hz) by it gives
    pT/sqrt(Hz). Valid for 6–25 Hz, where the coils are calibrated; ``f = 0``
    gives ``inf``.

    Parameters
    ----------
    f
        Frequencies in Hz.

    Returns
    -------
    numpy.ndarray
        ``|S(f)|`` in pT/sqrt(Hz) per V/sqrt(Hz), shaped like ``f``.

    Examples
    --------
    >>> s = sierra_nevada_calibration([7.8, 14.0])
    >>> s.shape
    (2,)
    """
    f = np.asarray(f, dtype=np.float64)
    a, g = 2500.0, 1.9e6
    ind, res = 298e3, 320e3
    cap = 40e-12 + 0.65 * 55e-12 + 2e-12
    f0 = 1.0 / (2.0 * np.pi * np.sqrt(cap * ind))
    d = res / 2.0 * np.sqrt(cap / ind)
    x = f / f0
    with np.errstate(divide="ignore"):
        return 1e12 / (a * g) * np.sqrt((1.0 - x**2) ** 2 + (2.0 * d * x) ** 2) / f


# build_cube reads this to label calibrated cubes
sierra_nevada_calibration.units = "pT"  # type: ignore[attr-defined]


@dataclass(frozen=True)
class RawFile:
    """Header of one raw file, from its name and ``_info.txt`` sidecar."""

    path: str
    sensor: int
    start_ns: int
    period_us: float
    n: int


def _parse_info(info: Path) -> dict[str, str]:
    fields = {}
    for line in info.read_text(errors="replace").splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip().lower()] = value.strip()
    return fields


def read_header(path: str | os.PathLike) -> RawFile:
    """Parse one raw file's name and ``_info.txt``; check its size. Reads no samples."""
    path = Path(path)
    m = _NAME_RE.match(path.name)
    if not m:
        raise ValueError(
            f"{path}: not a raw-int16 file name (expected '<prefix>_sensor_S_YYMMDDhhmm')"
        )
    info = path.with_name(path.name + _INFO_SUFFIX)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: raw data file not found")
    if not info.is_file():
        raise FileNotFoundError(f"{path}: missing sidecar {info.name} (first-sample time, period)")
    fields = _parse_info(info)
    try:
        period_us = float(fields["sampling period (usec)"])
        stamp = fields["1st sample timestamp"].removesuffix("UTC").strip()
    except KeyError as err:
        raise ValueError(f"{info}: no '{err.args[0]}' line") from None
    try:
        t = datetime.strptime(stamp, "%d-%m-%Y %H:%M:%S.%f").replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(
            f"{info}: cannot parse first-sample timestamp {stamp!r} (expected 'DD-MM-YYYY hh:mm:ss.mmm UTC')"
        ) from None
    # integer arithmetic: float seconds would lose the sub-microsecond part
    start_ns = (
        int((t.replace(microsecond=0) - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds())
        * NS_PER_S
        + t.microsecond * 1000
    )
    n = int(fields.get("number of samples", SAMPLES_PER_FILE))
    size = path.stat().st_size
    if size != 2 * n:
        raise ValueError(
            f"{path}: truncated or corrupt: {size} bytes, but {info.name} says {n} int16 "
            f"samples ({2 * n} bytes)"
        )
    if n != SAMPLES_PER_FILE:
        raise ValueError(f"{path}: {n} samples, but raw-int16 hourly files hold {SAMPLES_PER_FILE}")
    return RawFile(str(path), int(m["sensor"]), start_ns, period_us, n)


def _read_int16(path: str, start: int, count: int) -> np.ndarray:
    # the only place that touches sample bytes (tests count its calls)
    return np.fromfile(path, dtype="<i2", count=count, offset=2 * start)


def _read_raw_piece(path: str, sub: int, start: int, count: int) -> np.ndarray:
    counts = _read_int16(path, start, count)
    return counts.astype(np.float32) * np.float32(VOLTS_PER_COUNT)


def data_paths(paths: list[str]) -> list[str]:
    """Data file paths of a raw layout (sidecars map to their data file, duplicates dropped)."""
    out = []
    for p in paths:
        s = str(p)
        if s.endswith(_INFO_SUFFIX):
            s = s[: -len(_INFO_SUFFIX)]
        if s not in out:
            out.append(s)
    return out


def open_raw_int16(
    paths: list[str],
    *,
    sampling_rate: float = 256.0,
    chunks: int | str | tuple = "day",
) -> xr.DataArray:
    """Open Sierra Nevada raw int16 files as a lazy waveform (see the module docstring).

    Parameters
    ----------
    paths
        Data files (``..._sensor_S_YYMMDDhhmm``) or their ``_info.txt`` sidecars.
    sampling_rate
        Nominal rate of the output grid in Hz.
    chunks
        ``"day"`` (chunks cut at UTC midnight), samples per chunk, or sizes.

    Returns
    -------
    xarray.DataArray
        Waveform in volts, float32, components ``"NS"`` / ``"EW"``.

    Examples
    --------
    One hour of the NS coil (sensor 0), written here as zeros with its sidecar:

    >>> import numpy as np
    >>> np.zeros(SAMPLES_PER_FILE, "<i2").tofile("smplGRTU1_sensor_0_1503010049")
    >>> with open("smplGRTU1_sensor_0_1503010049_info.txt", "w") as fh:
    ...     _ = fh.write("sampling period (usec): 3906.000000\\n"
    ...                  "1st sample timestamp: 01-03-2015 00:49:34.658 UTC\\n"
    ...                  "number of samples: 921600\\n")
    >>> wave = open_raw_int16(["smplGRTU1_sensor_0_1503010049"])
    >>> wave.component.values.tolist(), wave.attrs["units"], wave.sizes["time"]
    (['NS'], 'V', 921600)

    A station's day: ``open_raw_int16(sorted(glob.glob("2015-03-01/smplGRTU1_sensor_*")))``.
    """
    files = [read_header(p) for p in data_paths(paths)]
    if not files:
        raise ValueError("no raw-int16 files to open")
    period_ns = sample_period_ns(sampling_rate)
    periods = {f.period_us for f in files}
    if len(periods) > 1:
        by = {
            p: [Path(f.path).name for f in files if f.period_us == p][:3] for p in sorted(periods)
        }
        raise ValueError(f"raw-int16 files have different sampling periods (µs): {by}")
    period_us = periods.pop()
    # the sidecar says 3906 µs for a nominal 3906.25 µs: accept a small mismatch only
    if abs(period_us * 1000 - period_ns) > 1e-3 * period_ns:
        raise ValueError(
            f"{files[0].path}: sampling period {period_us} µs does not match the nominal "
            f"{sampling_rate} Hz ({period_ns / 1000} µs)"
        )

    t0 = min(f.start_ns for f in files)
    sensors = sorted({f.sensor for f in files})
    pieces: list[list[Piece]] = []
    total = 0
    for s in sensors:
        mine = sorted(
            ((round_div(f.start_ns - t0, period_ns), f) for f in files if f.sensor == s),
            key=lambda x: x[0],
        )
        plist = []
        for k, (off, f) in enumerate(mine):
            keep = f.n
            if k + 1 < len(mine):
                nxt, g = mine[k + 1]
                if nxt <= off:
                    raise ValueError(
                        f"{f.path} and {g.path} start at the same sample "
                        f"(duplicate files for sensor {s}?)"
                    )
                # the next file's own timestamp wins: drop our overlapping tail
                keep = min(f.n, nxt - off)
            plist.append(Piece(off, keep, f.path, 0, 0, Path(f.path).name))
            total = max(total, off + keep)
        pieces.append(plist)

    sizes = time_chunks(t0, total, period_ns, chunks)
    data = assemble(pieces, total, sizes, np.float32, _read_raw_piece, name="raw-int16")
    comps = [COMPONENT_NAMES.get(s, f"sensor{s}") for s in sensors]
    start = np.datetime64(t0, "ns")
    coords = regular_time_coords(start, total, sampling_rate, sizes, comps)
    attrs = {
        "sampling_rate": float(sampling_rate),
        "units": "V",
        **STATION_ATTRS,
        "start_time": str(start),
        "saturation_volts": SATURATION_VOLTS,
    }
    return xr.DataArray(
        data, coords=coords, dims=("component", "time"), name="waveform", attrs=attrs
    )
