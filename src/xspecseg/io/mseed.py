"""miniSEED records as a lazy waveform.

Opening reads only the headers (``obspy.read(path, format="MSEED", headonly=True)``); each file's
samples are read by one dask task, shared by all blocks that need that file.

Placement: the grid is anchored at the earliest trace start; each trace starts
at its own start time rounded to the nearest grid sample (so sub-sample timing
offsets of up to half a period are absorbed, never interpolated). Gaps are NaN.
Samples that land on the same grid sample from two traces must agree (exact
equality, NaN equal to NaN) and are then kept once; conflicting overlaps raise
``ValueError`` when the block holding them is computed, because checking
values needs the data and opening reads none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr
from dask.base import tokenize

from .._optional import needs_extra
from .._timeaxis import regular_time_coords, sample_period_ns
from ._assemble import Piece, assemble, round_div, time_chunks


def _obspy_read(path: str, **kwargs):
    """obspy's miniSEED reader, never its format detection.

    obspy's detection tries every installed plugin, one of which unpickles any file that
    mentions ``obspy.core.stream`` near its start: a data file could run code. Only the
    MSEED plugin is ever asked to read a file here.
    """
    with needs_extra("mseed"):
        import obspy

    return obspy.read(path, format="MSEED", **kwargs)


def is_mseed(path: str | Path) -> bool:
    """True when the file starts like a miniSEED 2 record or a miniSEED 3 record.

    Reads 8 bytes and decodes nothing, so it is safe on any file: miniSEED 2 starts with a
    6-character sequence number (digits, spaces or zeros), a quality flag ``D``, ``R``,
    ``Q`` or ``M`` and a space (or NUL); miniSEED 3 with ``MS`` and the version byte 3.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError:
        return False
    if head[:3] == b"MS\x03":
        return True
    return (
        len(head) == 8
        and all(c in b"0123456789 " for c in head[:6])
        and head[6:7] in (b"D", b"R", b"Q", b"M")
        and head[7:8] in (b" ", b"\x00")
    )


# encodings whose values float32 holds exactly; others are read as float64
_FLOAT32_ENCODINGS = {"INT16", "FLOAT32", "ASCII"}


@dataclass(frozen=True)
class TraceHeader:
    path: str
    index: int
    network: str
    station: str
    location: str
    channel: str
    start_ns: int
    npts: int
    sampling_rate: float
    encoding: str


def read_headers(path: str) -> list[TraceHeader]:
    """Trace headers of one file (no samples are decoded)."""
    try:
        st = _obspy_read(path, headonly=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: file not found") from None
    except ImportError:
        raise  # obspy missing: its message names the extra, not the file
    except Exception as err:
        raise ValueError(f"{path}: obspy cannot read it as a waveform file: {err}") from err
    out = []
    for i, tr in enumerate(st):
        s = tr.stats
        enc = str(s.mseed.get("encoding", "")) if "mseed" in s else ""
        out.append(
            TraceHeader(
                str(path),
                i,
                s.network,
                s.station,
                s.location,
                s.channel,
                int(s.starttime.ns),
                int(s.npts),
                float(s.sampling_rate),
                enc.upper(),
            )
        )
    return out


def _read_file(path: str, ntraces: int) -> list[np.ndarray]:
    st = _obspy_read(path)
    if len(st) != ntraces:
        raise ValueError(f"{path}: {len(st)} traces now, {ntraces} when opened; the file changed")
    return [np.asarray(tr.data) for tr in st]


def _take(arrays: list[np.ndarray], sub: int, start: int, count: int) -> np.ndarray:
    return arrays[sub][start : start + count]


def open_mseed(
    paths: Sequence[str],
    *,
    chunks: int | str | tuple = "day",
    units: str = "unknown",
    station: str | None = None,
    latitude: float = float("nan"),
    longitude: float = float("nan"),
    altitude_km: float = float("nan"),
) -> xr.DataArray:
    """Open miniSEED files of one station as a lazy waveform.

    Parameters
    ----------
    paths
        Files, in any order; traces are merged in time order.
    chunks
        ``"day"`` (chunks cut at UTC midnight), samples per chunk, or sizes.
    units, station, latitude, longitude, altitude_km
        Metadata that miniSEED does not carry. ``station`` defaults to
        ``"NET.STA"`` from the headers.

    Returns
    -------
    xarray.DataArray
        Waveform with one component per channel code.

    Examples
    --------
    Two channels of a minute at 100 Hz, one file each:

    >>> import numpy as np, obspy
    >>> for ch in ("BX", "BY"):
    ...     head = {"network": "XX", "station": "A", "channel": ch, "sampling_rate": 100.0,
    ...             "starttime": obspy.UTCDateTime("2020-01-01")}
    ...     obspy.Trace(np.zeros(6000), head).write(f"a.{ch.lower()}.mseed", format="MSEED")
    >>> wave = open_mseed(["a.bx.mseed", "a.by.mseed"], units="nT")
    >>> wave.component.values.tolist(), wave.attrs["station"], wave.sizes["time"]
    (['BX', 'BY'], 'XX.A', 6000)
    """
    paths = [str(p) for p in paths]
    if not paths:
        raise ValueError("no miniSEED files to open")
    all_headers = [h for p in paths for h in read_headers(p)]
    headers = [h for h in all_headers if h.npts > 0]
    if not headers:
        raise ValueError(f"no samples in {paths}")

    stations = {f"{h.network}.{h.station}" for h in headers}
    if len(stations) > 1:
        by = {
            s: sorted({Path(h.path).name for h in headers if f"{h.network}.{h.station}" == s})
            for s in sorted(stations)
        }
        raise ValueError(f"several stations in one call, open them separately: {by}")
    rates = {h.sampling_rate for h in headers}
    if len(rates) > 1:
        by = {
            r: sorted({Path(h.path).name for h in headers if h.sampling_rate == r})
            for r in sorted(rates)
        }
        raise ValueError(f"sampling-rate mismatch between files (Hz: files): {by}")
    fs = rates.pop()
    period_ns = sample_period_ns(fs)
    locs: dict[str, set[str]] = {}
    for h in headers:
        locs.setdefault(h.channel, set()).add(h.location)
    for ch, ls in locs.items():
        if len(ls) > 1:
            raise ValueError(f"channel {ch!r} appears with several location codes {sorted(ls)}")

    t0 = min(h.start_ns for h in headers)
    comps = sorted(locs)
    ntraces: dict[str, int] = {}
    for h in all_headers:
        ntraces[h.path] = ntraces.get(h.path, 0) + 1
    used = sorted({h.path for h in headers})
    # one read task per file, keyed by a string so that blocks can depend on it
    tok = tokenize(used, [ntraces[p] for p in used], [h.start_ns for h in headers])
    keys = {p: f"mseed-file-{tok}-{i}" for i, p in enumerate(used)}
    source_layer = {keys[p]: (_read_file, p, ntraces[p]) for p in used}

    pieces: list[list[Piece]] = []
    total = 0
    for ch in comps:
        plist = []
        for h in sorted((h for h in headers if h.channel == ch), key=lambda h: h.start_ns):
            off = round_div(h.start_ns - t0, period_ns)
            plist.append(Piece(off, h.npts, keys[h.path], 0, h.index, Path(h.path).name))
            total = max(total, off + h.npts)
        pieces.append(plist)

    float32 = all(h.encoding in _FLOAT32_ENCODINGS for h in headers)
    dtype = np.float32 if float32 else np.float64
    sizes = time_chunks(t0, total, period_ns, chunks)
    data = assemble(pieces, total, sizes, dtype, _take, name="mseed", source_layer=source_layer)
    start = np.datetime64(t0, "ns")
    coords = regular_time_coords(start, total, fs, sizes, comps)
    attrs = {
        "sampling_rate": fs,
        "units": units,
        "station": station if station is not None else stations.pop(),
        "latitude": float(latitude),
        "longitude": float(longitude),
        "altitude_km": float(altitude_km),
        "start_time": str(start),
    }
    return xr.DataArray(
        data, coords=coords, dims=("component", "time"), name="waveform", attrs=attrs
    )
