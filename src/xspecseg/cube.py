"""Spectrogram cubes: waveform -> lazy (component, time, frequency) PSD, and its zarr store.

The pipeline per UTC day, one Dask task per day:

1. mask gaps (NaN) and saturated samples;
2. zero-phase Butterworth band-pass of each gap-free run on its own
   (:func:`xspecseg.dsp.sosfiltfilt_runs`), with a halo of neighbouring samples long
   enough that the IIR transient of the cut has decayed below 1e-12 of the signal;
3. Welch periodogram of every block (segments holding a bad sample are left out);
4. calibration ``|S(f)|**2`` and the frequency crop.

Days are cut on a UTC grid from midnight, so the result does not depend on how the input
is chunked: the input is re-chunked into whole days before anything is computed.
"""

from __future__ import annotations

import itertools
import os
import warnings
from typing import Any, Literal

import dask.array as da
import numba
import numpy as np
import scipy.signal as ss
import xarray as xr

from . import _store, dsp
from ._chunks import halo_map
from ._provenance import history_line
from ._timeaxis import NS_PER_S, check_time_index, sample_period_ns, waveform_start
from ._version import __version__
from .config import CubeConfig

__all__ = [
    "build_cube",
    "filter_waveform",
    "open_cube",
    "select_component",
    "verify_cube",
    "write_cube",
]

_HALO_RTOL = 1e-12


def _halo(sos: np.ndarray | None) -> int:
    return 0 if sos is None else int(dsp.impulse_halo(sos, rtol=_HALO_RTOL))


def _bad_samples(x: np.ndarray, saturation: float | None) -> np.ndarray:
    bad = ~np.isfinite(x)
    if saturation is not None:
        with np.errstate(invalid="ignore"):
            bad |= np.abs(x) >= saturation
    return bad


def _filter_block(x, *, left, right, offset, sos, saturation):
    bad = _bad_samples(x, saturation)
    y = dsp.sosfiltfilt_runs(sos, x, bad=bad, axis=-1)
    return y[..., left : y.shape[-1] - right]


def filter_waveform(
    waveform: xr.DataArray,
    sos: np.ndarray,
    saturation: float | None = None,
) -> xr.DataArray:
    """Lazy zero-phase filtering of a waveform, independent of its chunking.

    Each gap-free run (NaN and ``|x| >= saturation`` are gaps) is filtered on its own with
    odd extension at its ends, as :func:`scipy.signal.sosfiltfilt` filters a whole record;
    gaps stay NaN and never spread into the recursion. Chunks exchange a halo of
    ``dsp.impulse_halo(sos)`` samples, so any chunking (chunks shorter than the halo
    included) gives the same result to ~1e-12.

    Examples
    --------
    >>> import xspecseg as xs
    >>> from xspecseg.testing import random_waveform
    >>> wave = random_waveform(hours=1)
    >>> y = filter_waveform(wave, xs.dsp.bandpass_sos(0.5, 10.0, 100.0))
    """
    data = waveform.data if isinstance(waveform.data, da.Array) else da.asarray(waveform.data)
    out = halo_map(
        data,
        _halo(sos),
        _filter_block,
        out_chunk_shape=lambda m: (*data.shape[:-1], m),
        dtype=np.result_type(data.dtype, np.float64),
        sos=np.asarray(sos, dtype=np.float64),
        saturation=saturation,
    )
    return waveform.copy(data=out)


# ----------------------------------------------------------------------------------------
# the cube
# ----------------------------------------------------------------------------------------
def _cube_day(x, *, left, right, offset, cfg: CubeConfig, sos, calib2, saturation, limit):
    """One day (plus halos) of samples -> (C, blocks, nfreq + 1): PSD and valid fraction.

    Components go one at a time: the filter already runs many pieces of one record side
    by side, and one component at a time halves the peak memory of a task. Samples with
    ``|x| > limit`` (see :func:`_amplitude_limit`) are bad like saturated ones, before and
    after the filter; a block whose PSD still comes out non-finite is NaN, valid 0.
    """
    x = np.asarray(x)
    ncomp = x.shape[0]
    blocks = (x.shape[-1] - left - right) // cfg.block_samples
    out = np.empty((ncomp, blocks, calib2.size + 1), dtype=np.float32)
    fsl = cfg.frequency_slice()
    for c in range(ncomp):
        xc = x[c : c + 1]
        # float32 is exact enough for a float32 cube and halves what Welch reads. The
        # filter judges bad samples, NaN-fills them and rounds to float32 as it writes,
        # and Welch leaves out the segments holding a NaN as it builds them: no mask or
        # full-size temporary on the way.
        if sos is not None:
            y = dsp.sosfiltfilt_runs(
                sos, xc, axis=-1, saturation=saturation, max_abs=limit, dtype=np.float32
            )
        else:
            bad = _bad_samples(xc, saturation)
            with np.errstate(invalid="ignore", over="ignore"):
                bad |= np.abs(xc) > limit
            y = np.where(bad, np.nan, xc).astype(np.float32)
        y = y[..., left : y.shape[-1] - right].reshape(1, blocks, cfg.block_samples)
        _, pxx, n_used = dsp.welch_masked(
            y,
            None,
            fs=cfg.sampling_rate,
            window=cfg.window,
            nperseg=cfg.nperseg,
            noverlap=cfg.noverlap,
            nfft=cfg.nfft,
            detrend=cfg.detrend,
            scaling="density",
            axis=-1,
            fft_dtype=np.float32,
            mask_nonfinite=True,
            bins=fsl,
        )
        psd = pxx[0] * calib2
        valid = n_used[0] / cfg.segments_per_block
        # never a non-finite PSD reported as valid (a calibration overflowing float32, say);
        # bins where the calibration itself is not finite (f = 0 of a 1/f coil) are exempt
        with np.errstate(invalid="ignore", over="ignore"):
            judged = np.isfinite(calib2)
            fails = ~(np.abs(psd[:, judged]) <= np.finfo(np.float32).max).all(axis=1)
        fails &= valid > 0
        psd[fails] = np.nan
        valid[fails] = 0.0
        out[c, :, :-1] = psd
        out[c, :, -1] = valid
    return out


def _calibration_gain(cfg: CubeConfig, freq: np.ndarray) -> np.ndarray:
    if cfg.calibration is None:
        return np.ones_like(freq)
    gain = np.asarray(cfg.calibration(freq), dtype=np.float64)
    if gain.shape != freq.shape:
        raise ValueError(f"calibration returned shape {gain.shape} for {freq.shape} frequencies")
    with np.errstate(invalid="ignore"):
        if not np.all(np.isfinite(gain[freq > 0])):
            raise ValueError("calibration is not finite at some frequency > 0 of the cube")
    return gain**2


def _check_waveform(waveform: xr.DataArray, cfg: CubeConfig) -> xr.DataArray:
    if not isinstance(waveform, xr.DataArray):
        raise TypeError(f"build_cube needs an xarray.DataArray waveform, got {type(waveform)}")
    if waveform.dims == ("time",):
        waveform = waveform.expand_dims(component=[waveform.name or "0"])
    if set(waveform.dims) != {"component", "time"}:
        raise ValueError(f"waveform dims must be ('component', 'time'), got {waveform.dims}")
    waveform = waveform.transpose("component", "time")
    if not np.issubdtype(waveform.dtype, np.floating):
        raise TypeError(f"waveform must be float32/float64 (NaN marks gaps), got {waveform.dtype}")
    fs = waveform.attrs.get("sampling_rate")
    if fs is None:
        raise ValueError("waveform has no 'sampling_rate' attribute (Hz)")
    if not np.isclose(float(fs), cfg.sampling_rate, rtol=1e-9, atol=0):
        if not cfg.resample:
            raise ValueError(
                f"waveform sampling_rate={fs} Hz does not match the cube config's "
                f"sampling_rate={cfg.sampling_rate} Hz: set resample=True to resample it "
                f"(e.g. CubeConfig.preset('iar', resample=True), or 'resample = true' in a "
                f"TOML config), or use a config for its rate (CubeConfig(sampling_rate={fs}, "
                f"...))"
            )
        try:
            dsp.rational_ratio(float(fs), cfg.sampling_rate)
        except ValueError as err:
            raise ValueError(f"waveform sampling_rate={fs} Hz: {err}") from None
    if waveform.sizes["time"] == 0:
        raise ValueError("waveform is empty")
    check_time_index(waveform, float(fs))
    return waveform


def _amplitude_limit(cfg: CubeConfig) -> float:
    """Largest ``|x|`` whose Welch periodogram cannot overflow the float32 computation.

    A segment of samples ``|x| <= A`` has ``|X(f)| <= 2 A sum|w|`` after detrending (a
    little more after a linear detrend or a filter overshoot), so ``A = sqrt(float32 max)
    / (4 sum|w|)`` keeps ``|X|**2`` finite with a margin: 2.3e15 for the IAR preset.
    """
    w = np.abs(ss.get_window(cfg.window, cfg.nperseg))
    return float(np.sqrt(np.finfo(np.float32).max) / (4.0 * w.sum()))


def _resample_chunk(x, *, offset, start, stop, up, down, saturation, limit):
    """Outputs ``start:stop`` of the resampled record from input samples ``offset:...``."""
    x = np.asarray(x)
    a = np.abs(x)
    with np.errstate(over="ignore"):  # a limit beyond float16 is no limit
        good = a <= limit  # False for NaN and inf too
        if saturation is not None:
            good &= a < saturation
    y = dsp.resample_poly(x, up, down, bad=~good, offset=offset, start=start, stop=stop)
    return y.astype(np.result_type(x.dtype, np.float32), copy=False)


def _resample_lazy(data: da.Array, up: int, down: int, saturation, limit) -> da.Array:
    """Lazy :func:`xspecseg.dsp.resample_poly` of ``(component, time)``, chunk-exact.

    Input chunk ``[a, b)`` yields the outputs at positions ``m * down / up`` inside it
    (``resample_length(a)`` to ``resample_length(b)``), read with a halo of
    ``resample_halo(up, down)`` input samples on each side (across several chunks if they
    are short), so every output sees the same inputs whatever the chunking and is summed
    in the same order: bit-identical results. Bad samples (gaps, saturation, ``|x| >
    limit``) make the outputs whose FIR support holds them NaN; so do the record's ends.
    """
    halo = dsp.resample_halo(up, down)
    n = data.shape[1]
    dtype = np.result_type(data.dtype, np.float32)
    bounds = np.cumsum((0, *data.chunks[1]))
    outs = []
    for a, b in itertools.pairwise(bounds):
        start, stop = dsp.resample_length(a, up, down), dsp.resample_length(b, up, down)
        if stop == start:
            continue
        lo, hi = max(0, int(a) - halo), min(n, int(b) + halo)
        ext = data[:, lo:hi].rechunk({1: -1}, method="tasks")
        outs.append(
            da.map_blocks(
                _resample_chunk,
                ext,
                offset=lo,
                start=start,
                stop=stop,
                up=up,
                down=down,
                saturation=saturation,
                limit=limit,
                chunks=(ext.chunks[0], (stop - start,)),
                dtype=dtype,
                meta=np.empty((0, 0), dtype),
            )
        )
    return da.concatenate(outs, axis=1)


def _samples_at_config_rate(
    waveform: xr.DataArray, cfg: CubeConfig, limit: float
) -> tuple[da.Array, str | None]:
    """The waveform's samples as dask, resampled to ``cfg.sampling_rate`` if it has another.

    Returns the samples and ``"up/down"`` when resampled (None otherwise).
    """
    ncomp, n = waveform.sizes["component"], waveform.sizes["time"]
    data = waveform.data
    if not isinstance(data, da.Array):
        # name=False: a random key instead of a SHA-1 of every sample (0.06 s a
        # component-day, and a full copy first when the array is not contiguous)
        data = da.from_array(np.asarray(data), chunks=(ncomp, min(n, cfg.day_samples)), name=False)
    fs = float(waveform.attrs["sampling_rate"])
    if np.isclose(fs, cfg.sampling_rate, rtol=1e-9, atol=0):
        return data, None
    up, down = dsp.rational_ratio(fs, cfg.sampling_rate)
    return _resample_lazy(data, up, down, cfg.saturation, limit), f"{up}/{down}"


def _cube_attrs(
    waveform: xr.DataArray, cfg: CubeConfig, start: np.datetime64, ratio: str | None
) -> dict[str, Any]:
    """The waveform's attrs, the config's, ``source_sampling_rate`` if resampled, history."""
    attrs = {k: v for k, v in waveform.attrs.items() if _attr_ok(v)}
    attrs.update(cfg.to_attrs())
    what = f"build_cube from a {waveform.sizes['time']}-sample waveform starting {start}"
    if ratio:
        attrs["source_sampling_rate"] = float(waveform.attrs["sampling_rate"])
        what += (
            f", resampled {attrs['source_sampling_rate']:g} -> {cfg.sampling_rate:g} Hz "
            f"(up/down {ratio}, Kaiser FIR)"
        )
    attrs.update(_provenance(what))
    return attrs


def build_cube(waveform: xr.DataArray, config: CubeConfig | None = None) -> xr.Dataset:
    """Lazy spectrogram cube of a waveform.

    Parameters
    ----------
    waveform : xr.DataArray
        Dims ``(component, time)``, float, NaN for missing samples, attrs
        ``sampling_rate`` and station metadata (the data model of the docs' concepts page). Any chunking.
    config : CubeConfig, optional
        Defaults to ``CubeConfig.preset("iar")``.

    Returns
    -------
    xr.Dataset
        ``psd`` (component, time, frequency) float32 and ``valid_fraction``
        (component, time), one Dask chunk per component-day; ``time`` is the block start
        on a UTC grid from midnight, covering whole days (blocks outside the record are
        NaN with ``valid_fraction`` 0). Nothing is computed.

    Notes
    -----
    Samples are assigned to blocks by their time stamp: sample ``t`` belongs to the block
    ``[t0, t0 + block_seconds)`` that holds it. A record whose samples are not on a grid
    through midnight (a 256 Hz record starting at a millisecond time stamp, say) therefore
    has blocks whose first sample lies up to one sample period after the block start.
    Edges: each gap-free run is filtered with odd extension at its ends, like
    ``scipy.signal.sosfiltfilt`` on a record of that length; blocks whose Welch segments
    hold a gap or saturated sample leave those segments out, and ``valid_fraction`` says
    how many were used.

    Another sampling rate: with ``config.resample`` the record is resampled to
    ``config.sampling_rate`` first (:func:`xspecseg.dsp.resample_poly`: rational
    polyphase, SciPy's Kaiser FIR, chunk-exact). Output sample ``m`` lies at the time of
    input sample ``m * down / up``, so the resampled record starts at the record's first
    time stamp and its samples are assigned to blocks as above. Saturation is judged on
    the recorded samples; an output whose FIR support holds a gap, saturated sample or
    the record's end is NaN (gaps grow by ``10 * max(up, down) / up`` input samples, 0.1 s
    for 256 -> 100 Hz), so the Welch segments holding them are left out. The cube's attrs
    then hold ``source_sampling_rate``. Without ``resample`` a waveform at another rate is
    refused with an error that says so.

    Overflow: samples with ``|x|`` above ``sqrt(float32 max) / (4 sum|window|)`` (2.3e15 for
    the IAR preset), whose periodogram would overflow the float32 computation, are bad
    samples like saturated ones; a block whose PSD is still not finite (a calibration
    beyond float32, say) is NaN with ``valid_fraction`` 0, never non-finite and valid.

    Examples
    --------
    >>> import xspecseg as xs
    >>> from xspecseg.testing import random_waveform
    >>> cube = xs.build_cube(random_waveform(hours=3), xs.CubeConfig.preset("iar"))
    >>> cube.psd.dims
    ('component', 'time', 'frequency')
    >>> wave256 = random_waveform(hours=3, sampling_rate=256.0)
    >>> cube = xs.build_cube(wave256, xs.CubeConfig.preset("iar", resample=True))
    >>> cube.attrs["sampling_rate"], cube.attrs["source_sampling_rate"], cube.sizes["frequency"]
    (100.0, 256.0, 410)
    """
    cfg = config if config is not None else CubeConfig.preset("iar")
    waveform = _check_waveform(waveform, cfg)
    limit = _amplitude_limit(cfg)
    data, ratio = _samples_at_config_rate(waveform, cfg, limit)
    # once resampled, saturation has been applied to the recorded samples
    saturation = None if ratio else cfg.saturation
    period = sample_period_ns(cfg.sampling_rate)
    start = waveform_start(waveform).astype("datetime64[ns]")
    day0 = start.astype("datetime64[D]").astype("datetime64[ns]")
    lead = int((start - day0).astype(np.int64) // period)  # floor: see Notes
    n = data.shape[1]
    ncomp = waveform.sizes["component"]
    day_n = cfg.day_samples
    ndays = -(-(lead + n) // day_n)
    trail = ndays * day_n - lead - n

    parts = []
    if lead:
        parts.append(da.full((ncomp, lead), np.nan, dtype=data.dtype, chunks=(ncomp, day_n)))
    parts.append(data)
    if trail:
        parts.append(da.full((ncomp, trail), np.nan, dtype=data.dtype, chunks=(ncomp, day_n)))
    # Compute in half-days, stored as whole days: 2 x days tasks balance on any even
    # number of workers (7 day-tasks on 2 workers leave one idle for a day's time, 12 %
    # of the run), and a task's memory halves. The halos make the split invisible in the
    # result; the extra work is two filter halos per day. Input in pieces shorter than a
    # day (hourly files) is assembled per half-day, so the two halves do not wait on one
    # assembly task and its worker; input in day-long or longer chunks is sliced into
    # halves in place, which a copy into half-day chunks would only slow down.
    bpd = cfg.blocks_per_day
    pieces = 2 if bpd % 2 == 0 else 1
    joined = da.concatenate(parts, axis=1)
    if max(data.chunks[1]) < day_n:
        days, pieces = joined.rechunk((ncomp, day_n // pieces), method="tasks"), 1
    else:
        days = joined.rechunk((ncomp, day_n), method="tasks")

    sos = dsp.bandpass_sos(*cfg.band, cfg.sampling_rate, cfg.order) if cfg.band else None
    freq = cfg.frequencies()
    calib2 = _calibration_gain(cfg, freq)
    nf = freq.size
    both = halo_map(
        days,
        _halo(sos),
        _cube_day,
        out_chunk_shape=lambda m: (ncomp, m // cfg.block_samples, nf + 1),
        dtype=np.float32,
        cfg=cfg,
        sos=sos,
        calib2=calib2,
        saturation=saturation,
        limit=limit,
        pieces=pieces,
    )
    # Every rechunk here joins or splits neighbouring chunks, which dask's "tasks" method
    # is meant for; naming it keeps dask from importing distributed to choose (0.2 s on
    # the first build) and the graph the same with or without a client.
    psd = both[..., :nf].rechunk((1, bpd, nf), method="tasks")
    valid = both[..., nf].rechunk((1, bpd), method="tasks")

    block_ns = round(cfg.block_seconds * NS_PER_S)
    times = day0 + np.arange(ndays * bpd, dtype=np.int64) * np.timedelta64(block_ns, "ns")
    units = getattr(cfg.calibration, "units", None) or waveform.attrs.get("units", "")
    attrs = _cube_attrs(waveform, cfg, start, ratio)
    cube = xr.Dataset(
        {
            "psd": (
                ("component", "time", "frequency"),
                psd,
                {
                    "long_name": "power spectral density",
                    "units": f"{units}2 Hz-1" if units else "Hz-1",
                    **_station_attrs(attrs),
                },
            ),
            "valid_fraction": (
                ("component", "time"),
                valid,
                {"long_name": "fraction of Welch segments used", "units": "1"},
            ),
        },
        coords={
            # variable-length strings: zarr v3 has no stable fixed-width unicode type
            "component": np.asarray(waveform["component"].values).astype(str).astype(object),
            "time": ("time", times, {"long_name": "block start", "standard_name": "time"}),
            "frequency": (
                "frequency",
                freq,
                {"units": "Hz", "long_name": "frequency", "standard_name": "frequency"},
            ),
        },
        attrs=attrs,
    )
    return cube


def _attr_ok(v: Any) -> bool:
    return isinstance(v, str | int | float | bool | np.integer | np.floating | list | tuple)


def _provenance(what: str) -> dict[str, str]:
    return {
        "xspecseg_version": __version__,
        "Conventions": "CF-1.10",
        "history": history_line(what),
    }


# ----------------------------------------------------------------------------------------
# the store: resumable, append-able, never a half-written day that reads as valid
# ----------------------------------------------------------------------------------------
_CONFIG_KEYS = (
    "sampling_rate", "block_seconds", "nperseg", "noverlap", "nfft", "window", "detrend",
    "band", "order", "fmin", "fmax", "saturation", "calibration",
)  # fmt: skip


def write_cube(
    cube: xr.Dataset,
    store: str | os.PathLike,
    *,
    progress: bool = True,
    client: Any = None,
    break_lock: bool = False,
) -> list[np.datetime64]:
    """Write a cube to a zarr v3 store, day by day; resumable and append-able.

    Re-running after an interruption writes only the days not yet complete; finished
    days are never recomputed (their tasks are not even built). A cube for the days that
    follow is appended to an existing store with the same configuration, station
    (``station``, ``latitude``, ``longitude``) and components in the same order. A day is
    marked complete only after all its chunks are written, and :func:`open_cube` never
    reads a day that is not marked complete, so a killed writer never leaves a
    half-written day that reads as valid. A writer killed while appending leaves a journal
    that the next writer rolls back. One writer at a time: a second one is refused while
    the lock file ``STORE.xspecseg-writer.lock`` exists (a lock of a dead process on this
    host is taken over).

    Parameters
    ----------
    cube : xr.Dataset
        From :func:`build_cube` (lazy).
    store : path
        Directory of the zarr store.
    progress : bool
        Show a progress bar.
    client : dask.distributed.Client, optional
        Run on this client; default: the current client if there is one, else the local
        threaded scheduler.
    break_lock : bool
        Take over another writer's lock: only when that writer is known to be dead.

    Returns
    -------
    list of numpy.datetime64
        The days written by this call.

    Raises
    ------
    ValueError
        The store holds another configuration, station or component list.
    FileExistsError
        Another writer holds the store (:class:`xspecseg._store.StoreLockedError`).

    Examples
    --------
    >>> import xspecseg as xs
    >>> from xspecseg.testing import random_waveform
    >>> cube = xs.build_cube(random_waveform(hours=2))
    >>> xs.write_cube(cube, "example.zarr", progress=False)
    [np.datetime64('2020-01-01')]
    >>> xs.write_cube(cube, "example.zarr", progress=False)  # a re-run: nothing left to write
    []
    """
    bpd = round(86400 / float(cube.attrs["block_seconds"]))
    if cube.sizes["time"] % bpd:
        raise ValueError("cube does not cover whole days; build it with xspecseg.build_cube")
    ds = cube.copy()
    ds["psd"] = ds["psd"].chunk({"component": -1, "time": bpd})
    ds["valid_fraction"] = ds["valid_fraction"].chunk({"component": -1, "time": bpd})
    # another station's data, or components in another order, would sit in the wrong
    # slots of the store and read as valid
    written = _store.write_committed(
        ds, store, what="cube", check_attrs=(*_CONFIG_KEYS, "station", "latitude", "longitude"),
        progress=progress, client=client, break_lock=break_lock,
    )  # fmt: skip
    starts = _store.chunk_starts(store, "cube")
    return [starts[i].astype("datetime64[D]") for i in sorted(written)]


def open_cube(
    store: str | os.PathLike,
    *,
    incomplete: Literal["mask", "raise"] = "mask",
) -> xr.Dataset:
    """Open a cube store lazily.

    Days that are not completely written (an interrupted :func:`write_cube`) are never
    read: with ``incomplete="mask"`` (default) their ``psd`` is NaN and
    ``valid_fraction`` 0, and a warning says how many; ``"raise"`` refuses the store.

    Examples
    --------
    >>> import xspecseg as xs
    >>> from xspecseg.testing import random_waveform
    >>> wave = random_waveform(hours=1, components=("H",))
    >>> _ = xs.write_cube(xs.build_cube(wave), "site.zarr", progress=False)
    >>> cube = xs.open_cube("site.zarr")
    >>> cube.psd.dims
    ('component', 'time', 'frequency')
    """
    ds = _store.open_committed(
        store, what="cube", incomplete=incomplete, fill={"valid_fraction": 0.0}
    )
    if "xspecseg_version" not in ds.attrs or "psd" not in ds:
        raise ValueError(f"{store} is not an xspecseg cube store (no xspecseg attributes)")
    ds["psd"].attrs.update(_station_attrs(ds.attrs))
    return ds


#: Station metadata that travels with the PSD itself, so that ``cube.psd`` or any selection
#: of it still says where it was recorded (catalogues need the position).
STATION_KEYS = ("station", "latitude", "longitude", "altitude_km")


def _station_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: attrs[k] for k in STATION_KEYS if k in attrs}


class MissingComponentWarning(UserWarning):
    """A summed component was made of fewer parts where some had no data."""


def select_component(cube: xr.Dataset | xr.DataArray, component: str) -> xr.DataArray:
    """One component's PSD, or the summed PSD of several (``"H+D"``), lazily.

    The sum of the two horizontal components' PSDs is the PSD of the horizontal field,
    whatever the coils' orientation; where both carry the same signal over independent
    noise it halves the variance of the spectral estimate (twice the Welch segments).
    Where some parts of a sum have no data (a component missing for a day, a gap in one
    coil), the sum is made of the parts that do, scaled by ``parts / present`` so that its
    level stays that of the whole sum, and a :class:`UserWarning` names the missing
    component and times when the block is computed (a :class:`MissingComponentWarning`). A pixel is NaN only where every part is.

    Parameters
    ----------
    cube : xr.Dataset or xr.DataArray
        A cube (its ``psd``) or a PSD with dims ``(component, time, frequency)``.
    component : str
        A component name, or names joined by ``+``.

    Returns
    -------
    xr.DataArray
        ``(time, frequency)``, attrs of the cube and the PSD plus ``component``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> psd = xr.DataArray(np.ones((2, 3, 4)), dims=("component", "time", "frequency"),
    ...                    coords={"component": ["H", "D"]})
    >>> select_component(psd, "H+D").values[0]
    array([2., 2., 2., 2.])
    """
    psd = cube["psd"] if isinstance(cube, xr.Dataset) else cube
    attrs = {**(cube.attrs if isinstance(cube, xr.Dataset) else {}), **psd.attrs}
    if "component" not in psd.dims:
        raise ValueError(f"no 'component' dimension to select {component!r} from")
    have = [str(c) for c in psd["component"].values]
    parts = [c.strip() for c in str(component).split("+")]
    missing = [c for c in parts if c not in have]
    if missing or len(set(parts)) != len(parts):
        raise ValueError(f"component {component!r}: the PSD has components {have}")
    if len(parts) == 1:
        out = psd.sel(component=parts[0])
    else:
        # the whole PSD in its own order needs no selection (a task fewer per chunk)
        same = [str(c) for c in psd["component"].values] == parts
        sub = (psd if same else psd.sel(component=parts)).transpose(
            "component", "time", "frequency"
        )
        summed = _sum_present(sub.data, parts, sub["time"].values)
        out = xr.DataArray(
            summed,
            dims=("time", "frequency"),
            coords={k: v for k, v in sub.coords.items() if "component" not in v.dims},
        )
        out = out.assign_coords(component=str(component))
    out = out.transpose("time", "frequency")
    out.name = psd.name
    out.attrs = {**attrs, "component": str(component)}
    return out


def _sum_present(stack: Any, parts: list[str], time: np.ndarray) -> Any:
    """Sum over axis 0 of the parts with data, scaled to the whole sum; lazily if dask."""
    if isinstance(stack, da.Array):
        t = da.from_array(time, chunks=(stack.chunks[1],))
        # one task per time chunk that joins the components' blocks itself (no rechunk)
        return da.blockwise(
            _sum_present_block,
            "tf",
            stack,
            "ctf",
            t,
            "t",
            parts=tuple(parts),
            concatenate=True,
            dtype=stack.dtype,
            meta=np.empty((0, 0), stack.dtype),
        )
    return _sum_present_block(np.asarray(stack), time, parts=tuple(parts))


@numba.njit(cache=True, nogil=True)
def _sum_parts(stack, out, lost, partial_rows):
    """``out`` = sum over axis 0 of the finite parts, scaled by ``parts / present``.

    One pass in the input's dtype, in numpy's order (parts added one after another; the
    scale applied in float64 and rounded once), so the result is numpy's to the bit.
    Flags the parts missing where others are present (``lost``) and those rows.
    """
    c, t, f = stack.shape
    for i in range(t):
        for j in range(f):
            s = stack[0, i, j]
            n = 0
            for k in range(c):
                v = stack[k, i, j]
                if np.isfinite(v):
                    s = v if n == 0 else s + v
                    n += 1
            if n == c:
                out[i, j] = s
            elif n == 0:
                out[i, j] = np.nan
            else:
                out[i, j] = np.float64(s) * (np.float64(c) / np.float64(n))
                partial_rows[i] = True
                for k in range(c):
                    if not np.isfinite(stack[k, i, j]):
                        lost[k] = True


def _sum_present_block(stack: np.ndarray, time: np.ndarray, *, parts: tuple[str, ...]):
    stack = np.asarray(stack)
    dtype = stack.dtype
    if dtype not in (np.float32, np.float64):
        stack = stack.astype(np.float64)
    out = np.empty(stack.shape[1:], stack.dtype)
    lost = np.zeros(stack.shape[0], np.bool_)
    rows = np.zeros(stack.shape[1], np.bool_)
    _sum_parts(stack, out, lost, rows)
    if rows.any():
        t = np.asarray(time).reshape(-1)[rows] if np.size(time) > 1 else None
        lost_names = [p for p, gone in zip(parts, lost, strict=True) if gone]
        span = "" if t is None or not t.size else f" between {t.min()} and {t.max()}"
        warnings.warn(
            f"component {'+'.join(lost_names)} has no data{span} ({int(rows.sum())} time "
            f"blocks): using {'+'.join(p for p in parts if p not in lost_names) or 'the others'}"
            f" there",
            MissingComponentWarning,
            stacklevel=2,
        )
    return out.astype(dtype, copy=False)


def verify_cube(store: str | os.PathLike, *, repair: bool = False) -> list[np.datetime64]:
    """Days of a cube store whose committed chunks cannot be trusted.

    A day fails when one of its chunks does not decode (a checksum mismatch included) or,
    in stores written with checksums, is missing. ``repair=True`` marks them unwritten, so
    :func:`open_cube` reads them as missing and re-running :func:`write_cube` with the same
    cube rewrites exactly those days; it also rolls back an interrupted append and moves
    the commit flags of a store written by xspecseg 0.1 into ``_xspecseg/``.

    Examples
    --------
    >>> import xspecseg as xs
    >>> from xspecseg.testing import random_waveform
    >>> wave = random_waveform(hours=1, components=("H",))
    >>> _ = xs.write_cube(xs.build_cube(wave), "site.zarr", progress=False)
    >>> xs.cube.verify_cube("site.zarr", repair=True)
    []
    """
    bad = _store.verify_committed(store, what="cube", repair=repair)
    starts = _store.chunk_starts(store, "cube")
    return [starts[i].astype("datetime64[D]") for i in bad]
