"""Test beds and validators shared by the test suite, benchmarks and examples."""

from __future__ import annotations

import os
from collections.abc import Sequence

import dask
import dask.array as da
import numpy as np
import xarray as xr

from ._store import chunk_starts
from ._timeaxis import regular_time_coords

#: A small cube configuration for fast tests and examples: 10 Hz records, 10-minute blocks
#: (144 a day), 1024-point Welch segments with half overlap, a 0.1-2 Hz band-pass and
#: frequencies up to 4 Hz. ``xs.CubeConfig(**SMALL_CUBE)``.
SMALL_CUBE: dict = {
    "sampling_rate": 10.0,
    "block_seconds": 600.0,
    "nperseg": 1024,
    "noverlap": 512,
    "band": (0.1, 2.0),
    "fmax": 4.0,
}


def _noise_chunk(seed: int, index: int, ncomp: int, n: int, fs: float, offset: int) -> np.ndarray:
    rng = np.random.default_rng([seed, index])
    x = rng.standard_normal((ncomp, n))
    t = (offset + np.arange(n)) / fs
    # a 2.5 Hz line and the first Schumann resonance, so spectra have structure to compare
    x += 0.5 * np.sin(2 * np.pi * 2.5 * t) + 0.3 * np.sin(2 * np.pi * 7.8 * t + 1.0)
    return x


def random_waveform(
    start: str = "2020-01-01",
    hours: float = 2.0,
    *,
    sampling_rate: float = 100.0,
    components: tuple[str, ...] = ("H", "D"),
    seed: int = 0,
    chunk_seconds: float = 3600.0,
    dtype: str = "float64",
    index: bool | None = None,
) -> xr.DataArray:
    """A lazy, deterministic noise-plus-lines waveform in the project's data model (docs: concepts).

    Each chunk is its own Dask task seeded by ``(seed, chunk index)``, so the content
    depends on ``chunk_seconds``; re-chunk the result to compare chunkings.

    Examples
    --------
    >>> wave = random_waveform(hours=1)
    >>> wave.dims
    ('component', 'time')
    """
    n = round(hours * 3600 * sampling_rate)
    step = max(1, round(chunk_seconds * sampling_rate))
    ncomp = len(components)
    pieces = []
    for i, a in enumerate(range(0, n, step)):
        m = min(step, n - a)
        d = dask.delayed(_noise_chunk, pure=True)(seed, i, ncomp, m, sampling_rate, a)
        pieces.append(da.from_delayed(d, (ncomp, m), dtype=np.float64))
    data = da.concatenate(pieces, axis=1).astype(dtype)
    start64 = np.datetime64(start, "ns")
    coords = regular_time_coords(start64, n, sampling_rate, data.chunks[1], components, index)
    return xr.DataArray(
        data,
        dims=("component", "time"),
        coords=coords,
        name="waveform",
        attrs={
            "sampling_rate": float(sampling_rate),
            "units": "pT",
            "station": "TEST",
            "latitude": 55.3,
            "longitude": -3.2,
            "altitude_km": 0.24,
            "start_time": str(start64),
        },
    )


def chunk_indices(
    store: str | os.PathLike, times: Sequence[np.datetime64], what: str = "probability"
) -> list[int]:
    """Indices of a store's time chunks from the first times that writers and verifiers return.

    :func:`xspecseg.write_probability`, :func:`xspecseg.write_cube` and the ``verify_*``
    functions return the first time of each time chunk they concern; this gives their
    positions in the store (``what``: ``"probability"`` or ``"cube"``).

    Examples
    --------
    >>> import xspecseg as xs
    >>> cube = xs.build_cube(random_waveform(hours=1), xs.CubeConfig.preset("iar"))
    >>> written = xs.write_probability(xs.predict(cube, "iar-default"), "p.zarr", progress=False)
    >>> chunk_indices("p.zarr", written)
    [0]
    """
    starts = chunk_starts(store, what)
    index = {t: k for k, t in enumerate(starts.astype("datetime64[ns]").tolist())}
    return [index[np.datetime64(t, "ns").tolist()] for t in times]


def assert_cube_valid(cube: xr.Dataset) -> None:
    """Check a spectrogram cube against the project's data model (docs: concepts; raises AssertionError)."""
    assert cube.psd.dims == ("component", "time", "frequency"), cube.psd.dims
    assert cube.valid_fraction.dims == ("component", "time")
    assert cube.psd.dtype == np.float32
    t = cube["time"].values
    assert t.dtype == np.dtype("datetime64[ns]")
    step = np.diff(t)
    assert (step == step[0]).all(), "time grid is not regular"
    midnight = t[0].astype("datetime64[D]").astype("datetime64[ns]")
    assert t[0] == midnight, "cube does not start at midnight"
    for key in (
        "sampling_rate",
        "block_seconds",
        "nperseg",
        "band",
        "xspecseg_version",
        "Conventions",
        "history",
    ):
        assert key in cube.attrs, f"missing attribute {key}"
