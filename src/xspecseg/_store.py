"""Zarr stores written chunk by chunk with a commit flag per chunk.

Cubes and probability cubes are written along ``time`` one Dask chunk at a time (a day of
a ground cube, a half-orbit of a satellite cube). A chunk's data are written first, then
its flag in ``chunk_complete`` (one zarr chunk per flag, so concurrent writers never share
a file). Readers never touch a chunk whose flag is not set: it reads as missing, and a torn
file left by a killed writer is never decoded. Writers skip chunks already flagged, so a
re-run after an interruption computes only what is missing, and a dataset that continues
the stored one in time is appended.
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import dask
import dask.array as da
import numpy as np
import xarray as xr

FLAG = "chunk_complete"
START = "chunk_start"
_EPOCH = "nanoseconds since 1970-01-01"


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _chunked_vars(ds: xr.Dataset) -> list[str]:
    return [name for name, v in ds.data_vars.items() if "time" in v.dims]


def _time_chunks(ds: xr.Dataset) -> tuple[int, ...]:
    chunks = None
    for name in _chunked_vars(ds):
        v = ds[name]
        if not isinstance(v.data, da.Array):
            raise TypeError(f"variable {name!r} is not dask-backed; chunk it along time first")
        c = v.data.chunks[v.dims.index("time")]
        if chunks is not None and c != chunks:
            raise ValueError("all time-dependent variables must share their time chunks")
        chunks = c
    if chunks is None:
        raise ValueError("the dataset has no variable along 'time'")
    return chunks


def _uniform(ds: xr.Dataset) -> xr.Dataset:
    """Chunks of one size along time (the last may be shorter), so that every store chunk
    is written whole by one task: two tasks sharing a zarr chunk could lose each other's
    rows."""
    chunks = _time_chunks(ds)
    size = max(chunks)
    if all(c == size for c in chunks[:-1]):
        return ds
    return ds.chunk({"time": size})


def _open_group(path: Path, what: str):
    import zarr

    try:
        g = zarr.open_group(path, mode="r+")
    except Exception as err:  # zarr raises several types for "not a group"
        raise ValueError(
            f"{path} is not an xspecseg {what} store (not a zarr group: {err})"
        ) from err
    if FLAG not in g or "time" not in g:
        raise ValueError(f"{path} is not an xspecseg {what} store: it has no '{FLAG}' array")
    return g


def _init(ds: xr.Dataset, path: Path, chunks: Sequence[int], encoding: dict) -> None:
    starts = np.cumsum((0, *chunks[:-1]))
    template = ds.copy()
    template[FLAG] = (
        ("chunk",),
        da.zeros(len(chunks), dtype=np.uint8, chunks=1),
        {"long_name": "1 when the chunk is completely written", "units": "1"},
    )
    template = template.assign_coords(
        {START: ("chunk", ds["time"].values[starts], {"long_name": "first time of the chunk"})}
    )
    enc = {
        FLAG: {"chunks": (1,), "_FillValue": np.uint8(0)},
        START: {"units": _EPOCH, "dtype": "int64"},
        "time": {"units": _EPOCH, "dtype": "int64", "chunks": (max(chunks),)},
    }
    for name in _chunked_vars(ds):
        v = ds[name]
        shape = [v.shape[d] if dim != "time" else max(chunks) for d, dim in enumerate(v.dims)]
        if "component" in v.dims:
            shape[v.dims.index("component")] = 1
        enc[name] = {"chunks": tuple(shape)}
        if np.issubdtype(v.dtype, np.floating):
            enc[name]["_FillValue"] = v.dtype.type(np.nan)
    for k, v in encoding.items():
        enc.setdefault(k, {}).update(v)
    tmp = path.with_name(path.name + ".init-partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    template.to_zarr(tmp, mode="w-", compute=False, zarr_format=3, encoding=enc, consolidated=False)
    # xarray defers some coordinates (datetimes with an explicit encoding) to the compute
    # it was told not to run: write every coordinate ourselves
    import zarr

    g = zarr.open_group(tmp, mode="r+")
    for name, coord in template.coords.items():
        g[name][...] = _encode_like(np.asarray(coord.values), g[name])
    os.replace(tmp, path)  # the skeleton appears under its name only once complete


def _stored_chunks(g) -> np.ndarray:
    return np.asarray(g[START][:], dtype=np.int64)


def _offset(ds: xr.Dataset, g, chunks: Sequence[int], path: Path, check_attrs) -> int:
    """Index of the dataset's first chunk among the store's chunks (may be at the end)."""
    if check_attrs is not None:
        stored = dict(g.attrs)
        diff = [k for k in check_attrs if str(stored.get(k)) != str(ds.attrs.get(k))]
        if diff:
            raise ValueError(
                f"{path} was written with other parameters ({', '.join(diff)} differ); "
                f"write to a new store"
            )
    for name in _chunked_vars(ds):
        if name not in g:
            raise ValueError(f"{path} has no variable {name!r}")
        v, s = ds[name], g[name]
        other = [n for d, n in zip(v.dims, v.shape, strict=True) if d != "time"]
        stored_other = [n for d, n in zip(v.dims, s.shape, strict=True) if d != "time"]
        if other != stored_other:
            raise ValueError(f"{path}: {name!r} has shape {s.shape}, the new data {v.shape}")
    starts = _stored_chunks(g)
    new0 = ds["time"].values[0].astype("datetime64[ns]").astype(np.int64)
    t = np.asarray(g["time"][:], dtype=np.int64)
    hit = np.flatnonzero(starts == new0)
    if hit.size:
        return int(hit[0])
    if t.size and new0 > t[-1]:
        if t.size > 1 and "frequency" in ds.dims and _regular(t):
            step = t[1] - t[0]
            if new0 != t[-1] + step:
                gap = (new0 - t[-1]) / step - 1
                raise ValueError(
                    f"the new data start {gap:.0f} step(s) after the end of {path}: a store "
                    f"grows without holes; cover the missing period first"
                )
        return starts.size
    if new0 < starts[0]:
        raise ValueError(
            f"the new data start before {path}; stores grow forward in time only: "
            f"write to a new store"
        )
    raise ValueError(
        f"the new data do not start at a chunk boundary of {path}; rebuild them with the "
        f"same chunking (whole days for cubes)"
    )


def _regular(t: np.ndarray) -> bool:
    d = np.diff(t)
    return bool((d == d[0]).all())


def _extend(g, ds: xr.Dataset, chunks: Sequence[int], first: int) -> None:
    """Grow the store so chunks ``first ...`` of the dataset fit, flags first."""
    old_chunks = g[FLAG].shape[0]
    need = first + len(chunks)
    if need <= old_chunks:
        return
    add = list(chunks)[old_chunks - first :]
    t_new = ds["time"].values.astype("datetime64[ns]").astype(np.int64)
    pos_new = int(sum(chunks[: old_chunks - first]))
    g[FLAG].resize((need,))
    starts = g[START]
    t = g["time"]
    n_old = t.shape[0]
    starts.resize((need,))
    starts[old_chunks:] = t_new[pos_new + np.cumsum((0, *add[:-1]))]
    for name in _chunked_vars(ds):
        arr = g[name]
        axis = ds[name].dims.index("time")
        shape = list(arr.shape)
        shape[axis] = n_old + sum(add)
        arr.resize(tuple(shape))
    for name, coord in ds.coords.items():
        if coord.dims == ("time",) and name != "time" and name in g:
            arr = g[name]
            arr.resize((n_old + sum(add),))
            arr[n_old:] = _encode_like(coord.values[pos_new:], arr)
    # time last: a store whose time is shorter than its data reads as an interrupted append
    t.resize((n_old + sum(add),))
    t[n_old:] = t_new[pos_new:]


def _encode_like(values: np.ndarray, arr) -> np.ndarray:
    if np.issubdtype(values.dtype, np.datetime64):
        return values.astype("datetime64[ns]").astype(np.int64)
    return values


def _write_chunk(
    blocks: Sequence[np.ndarray],
    path: str,
    names: Sequence[str],
    axes: Sequence[int],
    t0: int,
    index: int,
) -> int:
    import zarr

    g = zarr.open_group(path, mode="r+")
    for name, axis, block in zip(names, axes, blocks, strict=True):
        sel = [slice(None)] * block.ndim
        sel[axis] = slice(t0, t0 + block.shape[axis])
        g[name][tuple(sel)] = block
    g[FLAG][index] = 1
    return index


def _run(tasks: Sequence[Any], *, progress: bool, client: Any, desc: str, unit: str):
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
        with tqdm(total=len(futures), desc=desc, disable=not progress, unit=unit) as bar:
            for fut in as_completed(futures):
                results.append(fut.result())
                bar.update()
        return results
    if progress:
        from tqdm.dask import TqdmCallback

        with TqdmCallback(desc=desc):
            return list(dask.compute(*tasks))
    return list(dask.compute(*tasks))


def write_committed(
    ds: xr.Dataset,
    path: str | os.PathLike,
    *,
    what: str,
    check_attrs: Sequence[str] | None = None,
    encoding: dict | None = None,
    progress: bool = True,
    client: Any = None,
) -> list[int]:
    """Write ``ds`` chunk by chunk along ``time``; return the indices of chunks written."""
    path = Path(path)
    ds = _uniform(ds)
    chunks = _time_chunks(ds)
    if not path.exists():
        _init(ds, path, chunks, encoding or {})
    g = _open_group(path, what)
    _repair(g, ds, path)
    first = _offset(ds, g, chunks, path, check_attrs)
    if first == g[FLAG].shape[0] and g["time"].shape[0] % max(chunks):
        raise ValueError(
            f"{path} ends with a partial chunk, so later data cannot be appended; write "
            f"them to a new store"
        )
    _extend(g, ds, chunks, first)
    done = np.asarray(g[FLAG][:]) == 1
    names = _chunked_vars(ds)
    axes = [ds[n].dims.index("time") for n in names]
    per_var = []
    for n, axis in zip(names, axes, strict=True):
        blocks = ds[n].data.to_delayed()
        per_var.append(np.moveaxis(blocks, axis, 0).reshape(len(chunks), -1))
    for p in per_var:
        if p.shape[1] != 1:
            raise ValueError("store variables must be one dask chunk across non-time dims")
    bounds = np.cumsum((0, *chunks))
    starts_rows = _row_starts(g)
    tasks, written = [], []
    for k in range(len(chunks)):
        idx = first + k
        if done[idx]:
            continue
        blocks = [p[k, 0] for p in per_var]
        t0 = int(starts_rows[idx]) if idx < starts_rows.size else int(bounds[k])
        tasks.append(dask.delayed(_write_chunk)(blocks, str(path), names, axes, t0, idx))
        written.append(idx)
    if tasks:
        _run(tasks, progress=progress, client=client, desc=f"{what} -> {path.name}", unit="chunk")
    hist = g.attrs.get("history", "")
    from . import __version__

    g.attrs["history"] = (hist + "\n" if hist else "") + (
        f"{_now()} xspecseg {__version__}: write_{what} wrote {len(written)} chunk(s)"
    )
    return written


def _row_starts(g) -> np.ndarray:
    """Row index of each stored chunk's first time."""
    t = np.asarray(g["time"][:], dtype=np.int64)
    return np.searchsorted(t, _stored_chunks(g))


def _repair(g, ds: xr.Dataset, path: Path) -> None:
    """Finish an append killed between growing the flags and writing the time axis."""
    n_t = g["time"].shape[0]
    n_flags = g[FLAG].shape[0]
    if g[START].shape[0] != n_flags:
        g[START].resize((min(g[START].shape[0], n_flags),))
        g[FLAG].resize((g[START].shape[0],))
    for name in _chunked_vars(ds):
        if name in g:
            axis = ds[name].dims.index("time")
            if g[name].shape[axis] != n_t:
                shape = list(g[name].shape)
                shape[axis] = n_t
                g[name].resize(tuple(shape))
    starts = _stored_chunks(g)
    t = np.asarray(g["time"][:], dtype=np.int64)
    missing = starts > (t[-1] if t.size else np.iinfo(np.int64).min)
    if missing.any():
        keep = int(np.flatnonzero(missing)[0])
        g[FLAG].resize((keep,))
        g[START].resize((keep,))
        warnings.warn(f"{path}: finished an interrupted append", stacklevel=3)


def open_committed(
    path: str | os.PathLike,
    *,
    what: str,
    incomplete: Literal["mask", "raise"] = "mask",
    fill: dict[str, float] | None = None,
) -> xr.Dataset:
    """Open a store lazily; chunks not flagged complete read as ``fill`` (never decoded)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no {what} store at {path}")
    g = _open_group(path, what)
    complete = np.asarray(g[FLAG][:]) == 1
    n_t = g["time"].shape[0]
    rows = np.r_[_row_starts(g), n_t]
    if rows.size - 1 != complete.size or (rows[1:] < rows[:-1]).any():
        raise ValueError(
            f"{path}: an append was interrupted (array lengths differ); write the same data "
            f"again to repair and finish it"
        )
    ds = xr.open_zarr(path, consolidated=False, chunks={})
    ds = ds.drop_vars([FLAG, START])
    if not complete.all():
        nbad = int((~complete).sum())
        if incomplete == "raise":
            raise ValueError(f"{path}: {nbad} chunk(s) are not completely written")
        warnings.warn(
            f"{path}: {nbad} of {complete.size} chunk(s) are not completely written; they "
            f"read as missing. Write the same data again to finish them.",
            stacklevel=3,
        )
    for name, v in ds.data_vars.items():
        if "time" not in v.dims:
            continue
        axis = v.dims.index("time")
        data = v.data.rechunk({axis: tuple(np.diff(rows))})
        if not complete.all():
            value = (fill or {}).get(name, np.nan)
            data = _mask_chunks(data, axis, rows, complete, value)
        ds[name] = v.copy(data=data)
    return ds


def _mask_chunks(
    arr: da.Array, axis: int, rows: np.ndarray, complete: np.ndarray, fill: float
) -> da.Array:
    pieces = []
    for k, ok in enumerate(complete):
        index = [slice(None)] * arr.ndim
        index[axis] = slice(int(rows[k]), int(rows[k + 1]))
        part = arr[tuple(index)]
        if not ok:
            part = da.full(part.shape, fill, dtype=arr.dtype, chunks=part.chunks)
        pieces.append(part)
    return da.concatenate(pieces, axis=axis)


def verify_committed(path: str | os.PathLike, *, what: str, repair: bool = False) -> list[int]:
    """Decode every committed chunk; return the indices of those that fail.

    With ``repair=True`` their commit flags are cleared, so they read as missing and the
    next write of the same data rewrites them (the documented repair for a corrupt chunk,
    e.g. after a disk error).
    """
    path = Path(path)
    g = _open_group(path, what)
    flags = np.asarray(g[FLAG][:]) == 1
    rows = np.r_[_row_starts(g), g["time"].shape[0]]
    names = [
        name for name, arr in g.arrays()
        if name not in (FLAG, START) and "time" in (arr.metadata.dimension_names or ())
        and name != "time"
    ]  # fmt: skip
    bad = []
    for k in np.flatnonzero(flags):
        for name in names:
            arr = g[name]
            axis = list(arr.metadata.dimension_names).index("time")
            sel = [slice(None)] * arr.ndim
            sel[axis] = slice(int(rows[k]), int(rows[k + 1]))
            try:
                arr[tuple(sel)]
            except Exception:  # any decode failure means the chunk cannot be trusted
                bad.append(int(k))
                break
    if repair:
        for k in bad:
            g[FLAG][k] = 0
    return bad
