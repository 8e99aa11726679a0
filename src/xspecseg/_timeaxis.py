"""Regular time axes for waveforms that may span years.

A year at 100 Hz is 3.2e9 samples: a pandas index of it would need 25 GB. Waveforms
therefore carry ``time`` as a lazy, chunked coordinate *without* an index whenever the
record is long, plus the attrs ``sampling_rate`` and ``start_time`` from which any
sample's time follows. Short records (tests, a single day) keep an ordinary index so
``.sel`` works as users expect.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import xarray as xr

#: Records up to this many samples get an in-memory pandas index on ``time``.
INDEX_MAX_SAMPLES = 2**24

NS_PER_S = 1_000_000_000


def sample_period_ns(sampling_rate: float) -> int:
    """Sample period in integer nanoseconds; raise if the rate has no exact ns period."""
    period = NS_PER_S / float(sampling_rate)
    rounded = round(period)
    if abs(period - rounded) > 1e-6 * period:
        raise ValueError(
            f"sampling_rate={sampling_rate} Hz has no whole-nanosecond sample period "
            f"({period} ns); xspecseg needs a regular datetime64[ns] axis"
        )
    return int(rounded)


def time_values(start: np.datetime64, n: int, sampling_rate: float, chunks=None):
    """Times of ``n`` regular samples from ``start``: numpy, or dask when ``chunks`` is given."""
    start_ns = np.datetime64(start, "ns").astype(np.int64)
    step = sample_period_ns(sampling_rate)
    if chunks is None:
        return (start_ns + step * np.arange(n, dtype=np.int64)).astype("datetime64[ns]")
    idx = da.arange(n, dtype=np.int64, chunks=chunks)
    return (start_ns + step * idx).astype("datetime64[ns]")


def regular_time_coords(
    start: np.datetime64,
    n: int,
    sampling_rate: float,
    chunks,
    components,
    index: bool | None = None,
) -> xr.Coordinates:
    """Coordinates ``component`` and ``time`` for a waveform.

    ``index=None`` builds a pandas index only for records of at most
    :data:`INDEX_MAX_SAMPLES` samples; longer ones get a lazy coordinate with no index.
    """
    if index is None:
        index = n <= INDEX_MAX_SAMPLES
    comp = np.asarray(list(components))
    if index:
        return xr.Coordinates({"component": comp, "time": time_values(start, n, sampling_rate)})
    t = xr.Variable("time", time_values(start, n, sampling_rate, chunks=chunks))
    coords = xr.Coordinates({"component": comp})
    return coords.assign(xr.Coordinates({"time": t}, indexes={}))


def waveform_start(wave: xr.DataArray) -> np.datetime64:
    """First sample time of a waveform, reading at most one element of a lazy axis."""
    if "start_time" in wave.attrs:
        return np.datetime64(wave.attrs["start_time"], "ns")
    t0 = wave["time"].isel(time=0).values
    return np.datetime64(t0, "ns")
