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
import pandas as pd
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


def check_time_index(wave: xr.DataArray, sampling_rate: float) -> None:
    """Refuse a waveform whose in-memory time index contradicts its sampling rate.

    A waveform's samples are placed by their position (sample ``k`` at ``start + k /
    sampling_rate``), so its time index must be regular: gaps are NaN samples, never
    dropped ones. This compares the first and last time stamp and the length of the
    index with the sampling period, three reads whatever the record's length, where a
    sample-by-sample ``np.diff`` would read the whole index (8.6 million stamps a
    component-day at 100 Hz): it catches dropped or repeated samples, an index at
    another rate and a reversed one. An index whose ends agree but whose stamps jitter
    in between passes. A lazy ``time`` coordinate without an index (long records, see
    :func:`regular_time_coords`) is regular by construction and not read.

    Parameters
    ----------
    wave : xarray.DataArray
        Waveform with a ``time`` dimension.
    sampling_rate : float
        The waveform's sampling rate in Hz.

    Raises
    ------
    ValueError
        The index spans more or less than ``(len - 1) / sampling_rate`` by half a sample
        period or more.

    Examples
    --------
    >>> import numpy as np, pandas as pd, xarray as xr
    >>> t = pd.date_range("2020-01-01", periods=5, freq="10ms")
    >>> check_time_index(xr.DataArray(np.zeros(5), coords={"time": t}), 100.0)
    >>> check_time_index(xr.DataArray(np.zeros(4), coords={"time": t.delete(2)}), 100.0)
    Traceback (most recent call last):
    ...
    ValueError: waveform time index is not regular at sampling_rate=100.0 Hz: ...
    """
    index = wave.indexes.get("time")
    if index is None or len(index) < 2 or not isinstance(index, pd.DatetimeIndex):
        return
    n = len(index)
    span_ns = (index[-1] - index[0]).value
    period_ns = NS_PER_S / float(sampling_rate)
    expected_ns = (n - 1) * period_ns
    if not abs(span_ns - expected_ns) < 0.5 * period_ns:
        raise ValueError(
            f"waveform time index is not regular at sampling_rate={sampling_rate} Hz: "
            f"{n} samples from {index[0]} to {index[-1]} span {span_ns / NS_PER_S:.9g} s, "
            f"not {expected_ns / NS_PER_S:.9g} s. Samples are placed by position: mark "
            f"missing samples NaN instead of dropping them, and give the record its "
            f"true sampling_rate"
        )
