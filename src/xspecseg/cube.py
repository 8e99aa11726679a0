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

import datetime as _dt
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import dask
import dask.array as da
import numpy as np
import xarray as xr

from . import dsp
from ._chunks import halo_map
from ._timeaxis import NS_PER_S, sample_period_ns, waveform_start
from .config import CubeConfig

__all__ = ["build_cube", "filter_waveform", "open_cube", "write_cube"]

DAY_NS = 86400 * NS_PER_S
_HALO_RTOL = 1e-12
_COMPLETE = "day_complete"


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
def _cube_day(x, *, left, right, offset, cfg: CubeConfig, sos, calib2):
    """One day (plus halos) of samples -> (C, blocks, nfreq + 1): PSD and valid fraction.

    Components go one at a time: the filter already runs many pieces of one record side
    by side, and one component at a time halves the peak memory of a task.
    """
    x = np.asarray(x)
    ncomp = x.shape[0]
    blocks = (x.shape[-1] - left - right) // cfg.block_samples
    out = np.empty((ncomp, blocks, calib2.size + 1), dtype=np.float32)
    fsl = cfg.frequency_slice()
    for c in range(ncomp):
        xc = x[c : c + 1]
        bad = _bad_samples(xc, cfg.saturation)
        if sos is not None:
            y = dsp.sosfiltfilt_runs(sos, xc, bad=bad, axis=-1)
        else:
            y = np.where(bad, np.nan, xc)
        # float32 is exact enough for a float32 cube and halves what Welch reads
        y = y[..., left : y.shape[-1] - right].astype(np.float32)
        y = y.reshape(1, blocks, cfg.block_samples)
        mask = np.isnan(y)
        if mask.any():
            y[mask] = 0.0
        _, pxx, n_used = dsp.welch_masked(
            y,
            mask,
            fs=cfg.sampling_rate,
            window=cfg.window,
            nperseg=cfg.nperseg,
            noverlap=cfg.noverlap,
            nfft=cfg.nfft,
            detrend=cfg.detrend,
            scaling="density",
            axis=-1,
            fft_dtype=np.float32,
        )
        out[c, :, :-1] = pxx[0, :, fsl] * calib2
        out[c, :, -1] = n_used[0] / cfg.segments_per_block
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
        raise ValueError(
            f"waveform sampling_rate={fs} Hz does not match the cube config's "
            f"sampling_rate={cfg.sampling_rate} Hz; resample the record or use a config for "
            f"its rate (CubeConfig(sampling_rate={fs}, ...))"
        )
    if waveform.sizes["time"] == 0:
        raise ValueError("waveform is empty")
    return waveform


def _config_for(waveform: xr.DataArray, config: CubeConfig | None) -> CubeConfig:
    if config is not None:
        return config
    return CubeConfig.preset("iar")


def build_cube(waveform: xr.DataArray, config: CubeConfig | None = None) -> xr.Dataset:
    """Lazy spectrogram cube of a waveform.

    Parameters
    ----------
    waveform : xr.DataArray
        Dims ``(component, time)``, float, NaN for missing samples, attrs
        ``sampling_rate`` and station metadata (DESIGN.md data model). Any chunking.
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

    Examples
    --------
    >>> import xspecseg as xs
    >>> from xspecseg.testing import random_waveform
    >>> cube = xs.build_cube(random_waveform(hours=3), xs.CubeConfig.preset("iar"))
    >>> cube.psd.dims
    ('component', 'time', 'frequency')
    """
    cfg = _config_for(waveform, config)
    waveform = _check_waveform(waveform, cfg)
    period = sample_period_ns(cfg.sampling_rate)
    start = waveform_start(waveform).astype("datetime64[ns]")
    day0 = start.astype("datetime64[D]").astype("datetime64[ns]")
    lead = int((start - day0).astype(np.int64) // period)  # floor: see Notes
    n = waveform.sizes["time"]
    ncomp = waveform.sizes["component"]
    day_n = cfg.day_samples
    ndays = -(-(lead + n) // day_n)
    trail = ndays * day_n - lead - n

    data = waveform.data
    if not isinstance(data, da.Array):
        data = da.from_array(np.asarray(data), chunks=(ncomp, min(n, day_n)))
    parts = []
    if lead:
        parts.append(da.full((ncomp, lead), np.nan, dtype=data.dtype, chunks=(ncomp, day_n)))
    parts.append(data)
    if trail:
        parts.append(da.full((ncomp, trail), np.nan, dtype=data.dtype, chunks=(ncomp, day_n)))
    days = da.concatenate(parts, axis=1).rechunk((ncomp, day_n))

    sos = dsp.bandpass_sos(*cfg.band, cfg.sampling_rate, cfg.order) if cfg.band else None
    freq = cfg.frequencies()
    calib2 = _calibration_gain(cfg, freq)
    nf = freq.size
    bpd = cfg.blocks_per_day
    both = halo_map(
        days,
        _halo(sos),
        _cube_day,
        out_chunk_shape=lambda m: (ncomp, m // cfg.block_samples, nf + 1),
        dtype=np.float32,
        cfg=cfg,
        sos=sos,
        calib2=calib2,
    )
    psd = both[..., :nf].rechunk((1, bpd, nf))
    valid = both[..., nf].rechunk((1, bpd))

    block_ns = round(cfg.block_seconds * NS_PER_S)
    times = day0 + np.arange(ndays * bpd, dtype=np.int64) * np.timedelta64(block_ns, "ns")
    units = getattr(cfg.calibration, "units", None) or waveform.attrs.get("units", "")
    attrs = {k: v for k, v in waveform.attrs.items() if _attr_ok(v)}
    attrs.update(cfg.to_attrs())
    attrs.update(_provenance(f"build_cube from a {n}-sample waveform starting {start}"))
    cube = xr.Dataset(
        {
            "psd": (
                ("component", "time", "frequency"),
                psd,
                {
                    "long_name": "power spectral density",
                    "units": f"{units}2 Hz-1" if units else "Hz-1",
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
    from . import __version__

    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "xspecseg_version": __version__,
        "Conventions": "CF-1.10",
        "history": f"{now} xspecseg {__version__}: {what}",
    }


# ----------------------------------------------------------------------------------------
# the store: resumable, append-able, never a half-written day that reads as valid
# ----------------------------------------------------------------------------------------
#
# Commit protocol: a day's psd and valid_fraction chunks are written first, then its
# `day_complete` flag (one chunk per day, so concurrent writers never touch one file).
# Days whose flag is not set are never read as data: open_cube replaces them with NaN
# without touching their chunks (which may be torn if a writer was killed), and
# write_cube rewrites them.


def _store_path(store: str | os.PathLike) -> Path:
    return Path(store)


def _day_index(cube: xr.Dataset, bpd: int) -> np.ndarray:
    t = cube["time"].values[::bpd]
    return t.astype("datetime64[D]")


def _init_store(cube: xr.Dataset, path: Path, bpd: int) -> None:
    import zarr

    ndays = cube.sizes["time"] // bpd
    template = cube.copy()
    template[_COMPLETE] = (
        ("day",),
        da.zeros(ndays, dtype=np.uint8, chunks=1),
        {"long_name": "1 when the day is completely written", "units": "1"},
    )
    template = template.assign_coords(day=("day", _day_index(cube, bpd).astype("datetime64[ns]")))
    ncomp, nf = cube.sizes["component"], cube.sizes["frequency"]
    encoding = {
        "psd": {"chunks": (1, bpd, nf)},
        "valid_fraction": {"chunks": (1, bpd), "_FillValue": np.float32(np.nan)},
        _COMPLETE: {"chunks": (1,), "_FillValue": np.uint8(0)},
        "time": {"units": "nanoseconds since 1970-01-01", "dtype": "int64", "chunks": (bpd,)},
        "day": {"units": "nanoseconds since 1970-01-01", "dtype": "int64"},
    }
    del ncomp
    tmp = path.with_name(path.name + ".init-partial")
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    template.to_zarr(
        tmp, mode="w-", compute=False, zarr_format=3, encoding=encoding, consolidated=False
    )
    # the skeleton appears under its final name only once complete
    os.replace(tmp, path)
    zarr.open_group(path, mode="r+")  # sanity: the store opens


def _open_group(path: Path):
    import zarr

    try:
        g = zarr.open_group(path, mode="r+")
    except Exception as err:  # zarr raises several types for "not a group"
        raise ValueError(f"{path} is not an xspecseg cube store (not a zarr group: {err})") from err
    for name in ("psd", "valid_fraction", _COMPLETE, "time"):
        if name not in g:
            raise ValueError(f"{path} is not an xspecseg cube store: it has no '{name}' array")
    return g


def _repair_lengths(g, bpd: int) -> None:
    """Finish an append that was killed between resizing the arrays (documented repair)."""
    ndays = g[_COMPLETE].shape[0]
    nt = ndays * bpd
    for name in ("psd", "valid_fraction"):
        arr = g[name]
        if arr.shape[1] != nt:
            arr.resize((arr.shape[0], nt, *arr.shape[2:]))
    t = g["time"]
    if t.shape[0] != nt:
        old = t.shape[0]
        step = int(t[1] - t[0]) if old > 1 else None
        if step is None:
            raise ValueError("cannot repair a cube store with fewer than two time values")
        t.resize((nt,))
        t[old:] = int(t[0]) + step * np.arange(old, nt, dtype=np.int64)
    day = g["day"]
    if day.shape[0] != ndays:
        old = day.shape[0]
        day.resize((ndays,))
        day[old:] = int(day[0]) + DAY_NS * np.arange(old, ndays, dtype=np.int64)


def _extend_store(g, ndays_new: int, bpd: int) -> None:
    """Grow every day-indexed array to ``ndays_new`` days.

    The flag array grows first and the others follow its length, so an append killed
    half-way is finished by :func:`_repair_lengths` on the next run.
    """
    g[_COMPLETE].resize((ndays_new,))
    _repair_lengths(g, bpd)


def _write_day(block: np.ndarray, path: str, t0: int, day: int, nf: int) -> int:
    import zarr

    g = zarr.open_group(path, mode="r+")
    t1 = t0 + block.shape[1]
    g["psd"][:, t0:t1, :] = block[..., :nf]
    g["valid_fraction"][:, t0:t1] = block[..., nf]
    g[_COMPLETE][day] = 1
    return day


def write_cube(
    cube: xr.Dataset,
    store: str | os.PathLike,
    *,
    progress: bool = True,
    client: Any = None,
) -> list[np.datetime64]:
    """Write a cube to a zarr v3 store, day by day; resumable and append-able.

    Re-running after an interruption writes only the days not yet complete; finished
    days are never recomputed (their tasks are not even built). A cube for later days is
    appended to an existing store with the same configuration. A day is marked complete
    only after all its chunks are written, and :func:`open_cube` never reads a day that
    is not marked complete, so a killed writer never leaves a half-written day that
    reads as valid.

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

    Returns
    -------
    list of numpy.datetime64
        The days written by this call.

    Examples
    --------
    >>> import xspecseg as xs
    >>> from xspecseg.testing import random_waveform
    >>> cube = xs.build_cube(random_waveform(hours=2))
    >>> days = xs.write_cube(cube, "example.zarr", progress=False)  # doctest: +SKIP
    """
    path = _store_path(store)
    bpd = int(cube.attrs.get("blocks_per_day") or round(86400 / float(cube.attrs["block_seconds"])))
    if cube.sizes["time"] % bpd:
        raise ValueError("cube does not cover whole days; build it with xspecseg.build_cube")
    days_new = _day_index(cube, bpd)
    if not path.exists():
        _init_store(cube, path, bpd)
        offset = 0
    else:
        offset = _check_compatible(cube, path, bpd)
    g = _open_group(path)
    ndays_store = g[_COMPLETE].shape[0]
    needed = offset + days_new.size
    if needed > ndays_store or g["time"].shape[0] != ndays_store * bpd:
        _extend_store(g, max(needed, ndays_store), bpd)
    complete = np.asarray(g[_COMPLETE][:]) == 1

    both = _stacked(cube)
    nf = cube.sizes["frequency"]
    tasks, todo = [], []
    blocks = both.to_delayed().ravel()  # one block per day (components and psd+valid stacked)
    for k, blk in enumerate(blocks):
        d = offset + k
        if complete[d]:
            continue
        tasks.append(dask.delayed(_write_day)(blk, str(path), d * bpd, d, nf))
        todo.append(days_new[k])
    if tasks:
        _run(tasks, progress=progress, client=client, desc=f"cube -> {path.name}")
    _touch_history(g, f"write_cube wrote {len(todo)} day(s)")
    return todo


def _stacked(cube: xr.Dataset) -> da.Array:
    """psd and valid_fraction side by side, one chunk per day with all components."""
    bpd = cube.psd.data.chunks[1][0]
    psd = cube.psd.data.rechunk((-1, bpd, -1))
    valid = cube.valid_fraction.data.rechunk((-1, bpd))[..., None]
    return da.concatenate([psd, valid.astype(np.float32)], axis=2).rechunk((-1, bpd, -1))


def _check_compatible(cube: xr.Dataset, path: Path, bpd: int) -> int:
    """Day offset of ``cube`` in the existing store at ``path``; raise if they differ."""
    stored = xr.open_zarr(path, consolidated=False, decode_times=True)
    keys = [
        "sampling_rate",
        "block_seconds",
        "nperseg",
        "noverlap",
        "nfft",
        "window",
        "detrend",
        "band",
        "order",
        "fmin",
        "fmax",
        "saturation",
        "calibration",
    ]
    diff = [
        k
        for k in keys
        if k in cube.attrs
        and str(np.asarray(cube.attrs[k]).tolist()) != str(np.asarray(stored.attrs.get(k)).tolist())
    ]
    if diff:
        raise ValueError(
            f"{path} was built with other parameters ({', '.join(diff)} differ); "
            f"write to a new store"
        )
    if list(stored.component.values) != list(cube.component.values):
        raise ValueError(
            f"{path} holds components {list(stored.component.values)}, "
            f"the cube {list(cube.component.values)}"
        )
    if not np.array_equal(stored.frequency.values, cube.frequency.values):
        raise ValueError(f"{path} has another frequency axis than the cube")
    first_store = stored["day"].values[0].astype("datetime64[D]")
    first_new = cube["time"].values[0].astype("datetime64[D]")
    offset = int((first_new - first_store).astype(int))
    if offset < 0:
        raise ValueError(
            f"the cube starts {first_new}, before the store {path} ({first_store}); "
            f"stores grow forward in time only: write to a new store"
        )
    return offset


def _touch_history(g, what: str) -> None:
    from . import __version__

    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    hist = g.attrs.get("history", "")
    g.attrs["history"] = (hist + "\n" if hist else "") + f"{now} xspecseg {__version__}: {what}"


def _run(tasks: Sequence[Any], *, progress: bool, client: Any, desc: str) -> list[Any]:
    """Compute delayed tasks on the given/current distributed client or locally, with a bar."""
    if client is None:
        try:
            from distributed import get_client

            client = get_client()
        except (ImportError, ValueError):
            client = None
    if client is not None:
        from distributed import as_completed
        from tqdm.auto import tqdm

        futures = client.compute(list(tasks))
        results = []
        with tqdm(total=len(futures), desc=desc, disable=not progress, unit="day") as bar:
            for fut in as_completed(futures):
                results.append(fut.result())
                bar.update()
        return results
    if progress:
        from tqdm.dask import TqdmCallback

        with TqdmCallback(desc=desc):
            return list(dask.compute(*tasks))
    return list(dask.compute(*tasks))


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
    >>> cube = xs.open_cube("site.zarr")  # doctest: +SKIP
    """
    path = _store_path(store)
    if not path.exists():
        raise FileNotFoundError(f"no cube store at {path}")
    g = _open_group(path)
    bpd_attr = g.attrs.get("block_seconds")
    if bpd_attr is None or "xspecseg_version" not in g.attrs:
        raise ValueError(f"{path} is not an xspecseg cube store (no xspecseg attributes)")
    bpd = round(86400 / float(bpd_attr))
    if g["time"].shape[0] != g[_COMPLETE].shape[0] * bpd or g["psd"].shape[1] != g["time"].shape[0]:
        raise ValueError(
            f"{path}: an append was interrupted (array lengths differ); run write_cube "
            f"again with the same cube to repair and finish it"
        )
    # raw flags: xarray would decode the 0 fill value as NaN, which is truthy
    complete = np.asarray(g[_COMPLETE][:]) == 1
    ds = xr.open_zarr(path, consolidated=False, chunks={})
    ds = ds.drop_vars([_COMPLETE, "day"])
    if not complete.all():
        nbad = int((~complete).sum())
        if incomplete == "raise":
            raise ValueError(f"{path}: {nbad} day(s) are not completely written")
        warnings.warn(
            f"{path}: {nbad} of {complete.size} day(s) are not completely written; they "
            f"read as missing (psd NaN, valid_fraction 0). Re-run write_cube to finish them.",
            stacklevel=2,
        )
        ds["psd"] = ds["psd"].copy(data=_mask_days(ds["psd"].data, complete, bpd, np.nan))
        ds["valid_fraction"] = ds["valid_fraction"].copy(
            data=_mask_days(ds["valid_fraction"].data, complete, bpd, 0.0)
        )
    return ds


def _mask_days(arr: da.Array, complete: np.ndarray, bpd: int, fill: float) -> da.Array:
    """Replace incomplete days by constants without building tasks that read them."""
    pieces = []
    for d, ok in enumerate(complete):
        part = arr[:, d * bpd : (d + 1) * bpd]
        if not ok:
            part = da.full(part.shape, fill, dtype=arr.dtype, chunks=part.chunks)
        pieces.append(part)
    return da.concatenate(pieces, axis=1)
