"""Zarr stores written chunk by chunk with a commit flag per chunk.

Cubes and probability cubes are written along ``time`` one Dask chunk at a time (a day of
a ground cube, a half-orbit of a satellite cube). A chunk's data are written first, then
its flag in ``_xspecseg/chunk_complete`` (one zarr chunk per flag, so concurrent writers
never share a file). Readers never touch a chunk whose flag is not set: it reads as
missing, and a torn file left by a killed writer is never decoded. Writers skip chunks
already flagged, so a re-run after an interruption computes only what is missing, and a
dataset that continues the stored one in time is appended.

The bookkeeping (the flags and ``_xspecseg/chunk_start``, each chunk's first time) lives in
the subgroup ``_xspecseg/``, which ``xarray.open_zarr`` does not read: plain xarray shows
the data and their coordinates only. Every writer ends by consolidating the store's
metadata, so plain xarray opens it without a warning and sees the shapes of the last
finished write (an append in progress stays invisible to it until it is done). Stores
written before the subgroup existed keep their bookkeeping at the top level: they are read
as they are, and the next writer (or :func:`verify_committed` with ``repair=True``) moves it
into the subgroup.

Writers of one store exclude each other with a lock file beside the store (created with
``O_EXCL``, see :func:`writer_lock`). An append is journalled: the shapes before it are
written to ``STORE/.xspecseg-append.json`` before any array grows and the journal is
removed once every coordinate of the new chunks is written, so the next writer rolls back
an append killed at any point. Every chunk carries a CRC32C checksum, so
:func:`verify_committed` finds bit flips, and since every chunk of a committed time chunk
is written (empty ones too) it also finds a deleted one.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import os
import shutil
import socket
import sys
import threading
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import dask
import dask.array as da
import numpy as np
import xarray as xr

from ._compute import run_each, tasks_over
from ._provenance import append_history, history_line, utc_now_iso

#: The subgroup holding the bookkeeping; ``xarray.open_zarr`` reads no subgroup.
BOOKKEEPING = "_xspecseg"
FLAG = f"{BOOKKEEPING}/chunk_complete"
START = f"{BOOKKEEPING}/chunk_start"
#: Where stores written by xspecseg <= 0.1 keep them (top level, read by xarray as data).
_LEGACY = {FLAG: "chunk_complete", START: "chunk_start"}
_EPOCH = "nanoseconds since 1970-01-01"
LOCK_SUFFIX = ".xspecseg-writer.lock"
JOURNAL = ".xspecseg-append.json"


# ----------------------------------------------------------------------------------------
# one writer per store
# ----------------------------------------------------------------------------------------
class StoreLockedError(FileExistsError):
    """Another writer holds the store's lock (the CLI reports it like any bad input)."""


def lock_path(path: str | os.PathLike) -> Path:
    """The lock file of a store: beside it, so that it exists before the store does (two
    writers creating one new store exclude each other too) and readers never list it."""
    path = Path(path)
    return path.with_name(path.name + LOCK_SUFFIX)


def _read_lock(lock: Path) -> dict | None:
    """The lock's JSON, None if unreadable; FileNotFoundError if there is none."""
    try:
        info = json.loads(lock.read_text())
    except FileNotFoundError:
        raise
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, owned by someone else
        return True
    return True


def _is_stale(held: dict | None) -> bool:
    """A lock of this host whose process is gone; other hosts' locks are never guessed."""
    if not held or held.get("host") != socket.gethostname():
        return False
    pid = held.get("pid")
    return isinstance(pid, int) and pid > 0 and not _pid_alive(pid)


def _locked_message(path: Path, lock: Path, held: dict | None) -> str:
    if held is None:
        who = "another writer (unreadable lock file)"
        since = "an unknown time"
    else:
        who = f"another writer (pid {held.get('pid')}, host {held.get('host')})"
        since = f"{held.get('start')} ({held.get('command') or 'unknown command'})"
    return (
        f"{who} is active on {path} since {since}; if it is dead, remove {lock} or pass "
        f"break_lock=True / `--break-lock`"
    )


def _remove_lock(lock: Path, held: dict | None) -> bool:
    """Remove the lock ``held`` was read from; False if it had changed meanwhile.

    The lock is renamed aside first (atomic), so of two writers breaking one stale lock at
    once only one removes it; one that renamed a fresh lock instead puts it back.
    """
    aside = lock.with_name(f"{lock.name}.broken-{uuid.uuid4().hex}")
    try:
        os.rename(lock, aside)
    except FileNotFoundError:
        return True  # someone else removed it: try to take it again
    try:
        moved = _read_lock(aside)
    except FileNotFoundError:
        moved = None
    if held is not None and moved != held:
        with contextlib.suppress(FileExistsError):
            os.link(aside, lock)
        aside.unlink(missing_ok=True)
        return False
    aside.unlink(missing_ok=True)
    return True


def acquire_lock(path: str | os.PathLike, *, break_lock: bool = False) -> dict:
    """Take the writer lock of a store; return what it holds (for :func:`release_lock`).

    Raises
    ------
    StoreLockedError
        Another writer holds it: the message names its pid, host, start and command. A
        lock left by a dead process of this host is taken over (with a warning);
        ``break_lock=True`` takes over any lock.
    """
    path = Path(path)
    lock = lock_path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    info = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "start": utc_now_iso(),
        "command": " ".join(sys.argv),
        "token": uuid.uuid4().hex,
    }
    for _ in range(5):
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            try:
                held = _read_lock(lock)
            except FileNotFoundError:
                continue
            if not (break_lock or _is_stale(held)):
                raise StoreLockedError(_locked_message(path, lock, held)) from None
            if not _remove_lock(lock, held):
                continue  # it was a new writer's lock, put back: seen as held next time
            what = "broke the lock" if break_lock else "removed the lock of a dead writer"
            who = "unreadable" if held is None else (
                f"pid {held.get('pid')} on host {held.get('host')}, started "
                f"{held.get('start')}: {held.get('command')}"
            )  # fmt: skip
            # the level of the caller of write_cube/write_probability/verify_*
            warnings.warn(f"{path}: {what} ({who})", stacklevel=6)
            continue
        with os.fdopen(fd, "w") as fh:
            json.dump(info, fh)
            fh.flush()
            os.fsync(fh.fileno())
        return info
    raise StoreLockedError(f"could not take the lock {lock}: it kept changing; try again")


def release_lock(path: str | os.PathLike, info: dict) -> None:
    """Remove the lock if it is still the one ``info`` describes (never someone else's)."""
    lock = lock_path(path)
    try:
        held = _read_lock(lock)
    except FileNotFoundError:
        return
    if held is not None and held.get("token") == info.get("token"):
        lock.unlink(missing_ok=True)


@contextlib.contextmanager
def writer_lock(path: str | os.PathLike, *, break_lock: bool = False) -> Iterator[dict]:
    """Hold the writer lock of a store for the ``with`` block (released in ``finally``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> store = pathlib.Path(tempfile.mkdtemp()) / "c.zarr"
    >>> with writer_lock(store) as info:
    ...     lock_path(store).exists()
    True
    >>> lock_path(store).exists()
    False
    """
    info = acquire_lock(path, break_lock=break_lock)
    try:
        yield info
    finally:
        release_lock(path, info)


# ----------------------------------------------------------------------------------------
# the append journal
# ----------------------------------------------------------------------------------------
def _write_journal(path: Path, shapes: dict[str, list[int]]) -> None:
    """Record the shapes before an append, on disk before anything grows.

    No temporary file: a journal torn by a kill is never valid JSON (its closing brace
    comes last), and a torn journal means nothing had grown yet.
    """
    with open(path / JOURNAL, "w") as fh:
        fh.write(json.dumps({"shapes": shapes}))
        fh.flush()
        os.fsync(fh.fileno())


def _read_journal(path: Path) -> dict | None:
    """The journal of an unfinished append, None if there is none; one without shapes if
    it is torn (nothing had grown then, see :func:`_write_journal`)."""
    try:
        journal = json.loads((path / JOURNAL).read_text())
    except FileNotFoundError:
        return None
    except ValueError:
        return {"shapes": {}}
    return journal if isinstance(journal, dict) and "shapes" in journal else {"shapes": {}}


def _interrupted_message(path: Path) -> str:
    return (
        f"{path}: an append is in progress or was interrupted; if no writer is running, "
        f"write the same data again (or verify the store with repair=True) to repair it"
    )


# ----------------------------------------------------------------------------------------
# creating and checking the store
# ----------------------------------------------------------------------------------------
def _checksummed() -> tuple:
    """Blosc (LZ4 on byte-shuffled values) then CRC32C: a flipped bit in a chunk fails its
    decode instead of reading as a plausible value (Blosc frames carry no checksum).

    On a component-day of PSD (864 x 410 float32) Blosc-LZ4 with shuffle decodes in 1.35 ms
    against zstd's 2.1 ms and stores 4 % fewer bytes. Stores written with zstd by earlier
    versions keep their codecs, also for the chunks appended to them.
    """
    from zarr.codecs import BloscCodec, Crc32cCodec

    return (BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"), Crc32cCodec())


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


def open_group(path: Path, what: str) -> Any:
    """The root group of an xspecseg store, opened for writing.

    Raises
    ------
    ValueError
        ``path`` is no zarr group, or one without the bookkeeping of a ``what`` store.
    """
    import zarr

    try:
        # the live metadata, never the consolidated copy: that one lags behind a write in
        # progress or an interrupted one, whose shapes the writers must see
        g = zarr.open_group(path, mode="r+", use_consolidated=False)
    except Exception as err:  # zarr raises several types for "not a group"
        raise ValueError(
            f"{path} is not an xspecseg {what} store (not a zarr group: {err})"
        ) from err
    if _name(g, FLAG) not in g or _name(g, START) not in g or "time" not in g:
        raise ValueError(f"{path} is not an xspecseg {what} store: it has no '{FLAG}' array")
    return g


def _name(g, name: str) -> str:
    """Where the store keeps bookkeeping array ``name``: in the subgroup, or at the top
    level in a store written by xspecseg <= 0.1 (each array on its own: a move into the
    subgroup killed half-way leaves one in each place)."""
    legacy = _LEGACY.get(name)
    if legacy is None or name in g or legacy not in g:
        return name
    return legacy


def _migrate(g, path: Path) -> None:
    """Move the bookkeeping of a store written by xspecseg <= 0.1 into the subgroup.

    Each array moves by one directory rename (atomic), so a writer killed in between
    leaves both arrays readable where :func:`_name` finds them, and the next one finishes.
    """
    moves = [(new, old) for new, old in _LEGACY.items() if new not in g and old in g]
    if not moves:
        return
    g.require_group(BOOKKEEPING)
    for new, old in moves:
        os.replace(path / old, path / new)


def consolidate(path: Path) -> None:
    """Write the consolidated metadata of the whole store (plain xarray reads it)."""
    import zarr

    with warnings.catch_warnings():
        # zarr notes that consolidated metadata is not yet part of the v3 specification;
        # every zarr-python and xarray reads it, and xspecseg itself never relies on it
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not")
        warnings.filterwarnings("ignore", message="Object at .* is not recognized")
        zarr.consolidate_metadata(str(path), zarr_format=3)


def _finish(path: Path, line: str | None) -> None:
    """Add a line (if any) to the store's ``history`` and consolidate its metadata.

    The root is opened with its consolidated metadata, so that the attribute write keeps
    the previous consolidated copy: plain xarray sees the old or the new state, never a
    store without consolidated metadata.
    """
    import zarr

    if line is not None:
        g = zarr.open_group(path, mode="r+")
        g.attrs["history"] = append_history(g.attrs.get("history"), history_line(line))
    consolidate(path)


def _strings_vlen(ds: xr.Dataset) -> xr.Dataset:
    """Fixed-width unicode coordinates as Python strings, which zarr stores as its
    variable-length ``string`` type (fixed-width unicode has no zarr v3 specification
    yet: zarr warns that other libraries may not read it). Coordinates are small and
    :func:`_init` writes their values anyway, so they are computed here."""
    change = {
        name: xr.Variable(c.dims, np.asarray(c.values).astype(object), c.attrs)
        for name, c in ds.coords.items()
        if c.dtype.kind == "U"
    }
    return ds.assign_coords(change) if change else ds


def _init(ds: xr.Dataset, path: Path, chunks: Sequence[int], encoding: dict) -> None:
    import zarr

    starts = np.cumsum((0, *chunks[:-1]))
    template = _strings_vlen(ds)
    enc = {"time": {"units": _EPOCH, "dtype": "int64", "chunks": (max(chunks),)}}
    for name in _chunked_vars(ds):
        v = ds[name]
        shape = [v.shape[d] if dim != "time" else max(chunks) for d, dim in enumerate(v.dims)]
        if "component" in v.dims:
            shape[v.dims.index("component")] = 1
        enc[name] = {"chunks": tuple(shape)}
        if np.issubdtype(v.dtype, np.floating):
            enc[name]["_FillValue"] = v.dtype.type(np.nan)
    for name in template.variables:
        enc.setdefault(name, {})["compressors"] = _checksummed()
    for k, v in encoding.items():
        enc.setdefault(k, {}).update(v)
    tmp = path.with_name(path.name + ".init-partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    template.to_zarr(tmp, mode="w-", compute=False, zarr_format=3, encoding=enc, consolidated=False)
    # xarray defers some coordinates (datetimes with an explicit encoding) to the compute
    # it was told not to run: write every coordinate ourselves
    g = zarr.open_group(tmp, mode="r+", use_consolidated=False)
    for name, coord in template.coords.items():
        g[name][...] = _encode_like(np.asarray(coord.values), g[name])
    sub = g.require_group(BOOKKEEPING)
    # no flag chunk is written here: an absent one reads as 0, not complete
    sub.create_array(
        FLAG.split("/")[-1], shape=(len(chunks),), chunks=(1,), dtype=np.uint8, fill_value=0,
        compressors=_checksummed(), dimension_names=["chunk"],
        attributes={"long_name": "1 when the chunk is completely written", "units": "1"},
    )  # fmt: skip
    first = sub.create_array(
        START.split("/")[-1], shape=(len(chunks),), dtype=np.int64, fill_value=0,
        compressors=_checksummed(), dimension_names=["chunk"],
        attributes={"long_name": "first time of the chunk", "units": _EPOCH},
    )  # fmt: skip
    first[...] = _encode_like(ds["time"].values[starts], first)
    consolidate(tmp)
    os.replace(tmp, path)  # the skeleton appears under its name only once complete


def _stored_chunks(g) -> np.ndarray:
    return np.asarray(g[_name(g, START)][:], dtype=np.int64)


def chunk_starts(path: str | os.PathLike, what: str = "cube") -> np.ndarray:
    """First time (``datetime64[ns]``) of every time chunk of a store, committed or not.

    Examples
    --------
    >>> import dask.array as da, numpy as np, xarray as xr
    >>> t = np.datetime64("2020-01-01", "ns") + np.arange(4) * np.timedelta64(1, "h")
    >>> ds = xr.Dataset({"p": (("time", "f"), da.ones((4, 2), chunks=(2, 2)))},
    ...                 coords={"time": t, "f": [1.0, 2.0]})
    >>> _ = write_committed(ds, "s.zarr", what="example", progress=False)
    >>> chunk_starts("s.zarr", what="example")
    array(['2020-01-01T00:00:00.000000000', '2020-01-01T02:00:00.000000000'],
          dtype='datetime64[ns]')
    """
    g = open_group(Path(path), what)
    return _stored_chunks(g).astype("datetime64[ns]")


def same_attr(a: Any, b: Any) -> bool:
    """Attribute equality that survives a JSON round trip (tuple -> list, float32 ->
    float64 of the same value)."""
    if isinstance(a, list | tuple | np.ndarray) and isinstance(b, list | tuple | np.ndarray):
        return len(a) == len(b) and all(same_attr(x, y) for x, y in zip(a, b, strict=True))
    numbers = (int, float, np.integer, np.floating)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool):
        return bool(np.isclose(float(a), float(b), rtol=1e-6, atol=0.0))
    return str(a) == str(b)


def differs(key: str, old: Any, new: Any) -> str:
    """How attribute ``key`` differs between the store (``old``) and the new data."""
    said = "not recorded for the new data" if new is None else f"{new!r} in the new data"
    return f"{key}: {old!r} in the store, {said}"


def _check_attrs(
    g,
    ds: xr.Dataset,
    path: Path,
    strict: Sequence[str],
    recorded: Sequence[str],
    check: Callable[[dict, dict], list[str]] | None = None,
) -> None:
    """Refuse data whose attributes differ from the store's, naming both values.

    ``strict`` keys must match (absent on both sides counts as equal); ``recorded`` keys
    only where the store has them (stores written before they were recorded cannot tell);
    ``check(stored, new)`` returns further differences (see :func:`differs`).
    """
    stored = dict(g.attrs)
    keys = [*strict, *(k for k in recorded if k in stored)]
    diff = []
    for k in keys:
        old, new = stored.get(k), ds.attrs.get(k)
        if not same_attr(old, new):
            diff.append(differs(k, old, new))
    if check is not None:
        diff.extend(check(stored, dict(ds.attrs)))
    if diff:
        raise ValueError(
            f"{path} was written with other parameters ({'; '.join(diff)}); write to a new store"
        )


def _check_layout(g, ds: xr.Dataset, path: Path) -> None:
    """The new data must have the store's variables, shapes, dtypes and, along every
    dimension but time, the same coordinates in the same order (components swapped would
    otherwise land in each other's slots)."""
    for name in _chunked_vars(ds):
        if name not in g:
            raise ValueError(f"{path} has no variable {name!r}")
        v, s = ds[name], g[name]
        other = [n for d, n in zip(v.dims, v.shape, strict=True) if d != "time"]
        stored_other = [n for d, n in zip(v.dims, s.shape, strict=True) if d != "time"]
        if other != stored_other:
            raise ValueError(f"{path}: {name!r} has shape {s.shape}, the new data {v.shape}")
        if np.dtype(s.dtype) != np.dtype(v.dtype):
            raise ValueError(
                f"{path} stores {name!r} as {np.dtype(s.dtype)}, the new data are "
                f"{np.dtype(v.dtype)}: write them to a new store or with the store's dtype"
            )
    for name, coord in ds.coords.items():
        if "time" in coord.dims or coord.ndim != 1 or name not in g:
            continue
        new, old = np.asarray(coord.values), np.asarray(g[name][...])
        if new.dtype.kind in "fiu" and old.dtype.kind in "fiu":
            same = new.shape == old.shape and np.allclose(new, old, rtol=1e-9, atol=0.0)
        else:
            same = [str(x) for x in new] == [str(x) for x in old]
        if not same:
            raise ValueError(
                f"{path}: {name} is {_short(old)} in the store, {_short(new)} in the new "
                f"data (order included); write them to a new store"
            )


def _short(values: np.ndarray) -> str:
    items = [str(x) for x in values[:6]]
    return "[" + ", ".join(items) + (", ...]" if values.size > 6 else "]")


def _offset(ds: xr.Dataset, g, chunks: Sequence[int], path: Path) -> int:
    """Index of the dataset's first chunk among the store's chunks (may be at the end)."""
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


# ----------------------------------------------------------------------------------------
# appending, and repairing an interrupted append
# ----------------------------------------------------------------------------------------
def _extend(g, ds: xr.Dataset, chunks: Sequence[int], first: int, path: Path) -> None:
    """Grow the store so chunks ``first ...`` of the dataset fit.

    The journal holding the shapes before the append is written before anything grows
    and removed after the last coordinate value is written: a writer killed anywhere in
    between leaves the journal, and the next writer rolls the append back
    (:func:`_recover`). No flag of a new chunk is set before the journal is gone, so the
    roll-back never drops committed data.
    """
    old_chunks = g[FLAG].shape[0]
    need = first + len(chunks)
    if need <= old_chunks:
        return
    add = list(chunks)[old_chunks - first :]
    t_new = ds["time"].values.astype("datetime64[ns]").astype(np.int64)
    pos_new = int(sum(chunks[: old_chunks - first]))
    coords = [n for n, c in ds.coords.items() if c.dims == ("time",) and n != "time" and n in g]
    grown = [FLAG, START, *_chunked_vars(ds), *coords, "time"]
    _write_journal(path, {n: list(g[n].shape) for n in grown})
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
    for name in coords:
        arr = g[name]
        arr.resize((n_old + sum(add),))
        arr[n_old:] = _encode_like(ds[name].values[pos_new:], arr)
    t.resize((n_old + sum(add),))
    t[n_old:] = t_new[pos_new:]
    (path / JOURNAL).unlink(missing_ok=True)


def _encode_like(values: np.ndarray, arr) -> np.ndarray:
    if np.issubdtype(values.dtype, np.datetime64):
        return values.astype("datetime64[ns]").astype(np.int64)
    if values.dtype.kind == "U":  # into a variable-length string array
        return values.astype(object)
    return values


def _recover(g, path: Path) -> None:
    """Roll back a journalled append that did not finish, or repair an older store's.

    Shrinking an array deletes its chunks beyond the new shape, which is safe here: they
    belong to the unfinished append, whose chunks were never flagged complete.
    """
    journal = _read_journal(path)
    if journal is None:
        _repair_unjournalled(g, path)
        return
    for name, shape in journal["shapes"].items():
        if name in g and list(g[name].shape) != list(shape):
            g[name].resize(tuple(shape))
    (path / JOURNAL).unlink(missing_ok=True)
    warnings.warn(f"{path}: rolled back an interrupted append", stacklevel=4)


def _time_arrays(g) -> list[tuple[str, Any, int]]:
    """(name, array, time axis) of every array along time, the coordinate included."""
    out = []
    with warnings.catch_warnings():
        # a zarr temporary file of a concurrent write is listed as an unknown object
        warnings.filterwarnings("ignore", message="Object at .* is not recognized")
        for name, arr in g.arrays():
            dims = list(arr.metadata.dimension_names or ())
            if "time" in dims:
                out.append((name, arr, dims.index("time")))
    return out


def _increasing_prefix(x: np.ndarray) -> int:
    """Length of the strictly increasing prefix: a fill value (0 or NaT) left by a
    resize whose values were never written ends it."""
    if x.size == 0:
        return 0
    bad = np.flatnonzero(np.diff(x) <= 0)
    return int(bad[0] + 1) if bad.size else int(x.size)


def _repair_unjournalled(g, path: Path) -> None:
    """Repair an append interrupted by a writer without journal (xspecseg <= 0.1).

    Such a writer grew flags, starts, data, coordinates and time in this order and wrote
    values after each resize, so the store is cut back to its longest consistent part:
    time rows with valid (increasing) values, and the chunks whose start is one of them.
    """
    t = np.asarray(g["time"][:], dtype=np.int64)
    n_valid = _increasing_prefix(t)
    nflags = g[_name(g, FLAG)].shape[0]
    starts = _stored_chunks(g)[:nflags]
    keep = _increasing_prefix(starts)
    pos = np.searchsorted(t[:n_valid], starts[:keep])
    found = (pos < n_valid) & (t[np.minimum(pos, max(n_valid - 1, 0))] == starts[:keep])
    keep = int(np.argmin(found)) if not found.all() else keep
    if keep == 0 and nflags:
        raise ValueError(f"{path}: the store's chunk starts are not in its time axis")
    rows = n_valid if keep == 0 else min(n_valid, int(pos[keep - 1]) + g["time"].chunks[0])
    changed = False
    for _, arr, axis in _time_arrays(g):
        if arr.shape[axis] != rows:
            shape = list(arr.shape)
            shape[axis] = rows
            arr.resize(tuple(shape))
            changed = True
    for name in (_name(g, FLAG), _name(g, START)):
        if g[name].shape[0] != keep:
            g[name].resize((keep,))
            changed = True
    if changed:
        warnings.warn(f"{path}: finished an interrupted append", stacklevel=5)


# ----------------------------------------------------------------------------------------
# writing
# ----------------------------------------------------------------------------------------
def _write_chunk(
    blocks: Sequence[np.ndarray],
    path: str,
    names: Sequence[str],
    axes: Sequence[int],
    t0: int,
    index: int,
    token: str,
) -> int:
    arrays, flag = _writer_arrays(path, tuple(names), token)
    for arr, axis, block in zip(arrays, axes, blocks, strict=True):
        sel = [slice(None)] * block.ndim
        sel[axis] = slice(t0, t0 + block.shape[axis])
        arr[tuple(sel)] = block
    flag[index] = 1
    return index


def _open_writer_arrays(path: str, names: tuple[str, ...]) -> tuple[tuple[Any, ...], Any]:
    import zarr

    g = zarr.open_group(path, mode="r+", use_consolidated=False)
    # every chunk is written, even one that is all fill value (a day without data): then a
    # chunk missing from a committed day is damage that verify can report
    arrays = tuple(g[name].with_config({"write_empty_chunks": True}) for name in names)
    return arrays, g[FLAG]


_WRITERS: dict[tuple, tuple] = {}
_WRITERS_LOCK = threading.Lock()


def _writer_arrays(path: str, names: tuple[str, ...], token: str):
    """The arrays a chunk task writes, opened once per worker and write call.

    ``token`` names one :func:`write_committed` call, after which the arrays' shapes no
    longer change: opening the group and its arrays for every chunk cost a third of the
    chunk's write.
    """
    key = (path, names, token)
    with _WRITERS_LOCK:  # the worker's threads wait for one opening, not each their own
        hit = _WRITERS.get(key)
        if hit is None:
            while len(_WRITERS) >= 4:  # earlier calls' arrays: never used again
                _WRITERS.pop(next(iter(_WRITERS)))
            hit = _WRITERS[key] = _open_writer_arrays(path, names)
    return hit


def _write_blocks(
    *blocks: np.ndarray,
    path: str,
    names,
    axes,
    t0s: Sequence[int],
    indices: Sequence[int],
    token: str,
) -> int:
    """Write and commit the chunks ``indices`` one after the other (``blocks``: each
    chunk's variables in turn); a failure leaves the chunks before it committed."""
    nv = len(names)
    for k, (t0, index) in enumerate(zip(t0s, indices, strict=True)):
        _write_chunk(blocks[k * nv : (k + 1) * nv], path, names, axes, t0, index, token=token)
    return len(indices)


def _run(
    tasks: Sequence[Any],
    *,
    progress: bool,
    client: Any,
    desc: str,
    unit: str,
    sizes: Sequence[int] | None = None,
) -> None:
    """Run delayed tasks on the given/current distributed client or locally, with a bar
    counting ``sizes[i]`` (default 1) of ``unit`` for task ``i``."""
    sizes = [1] * len(tasks) if sizes is None else list(sizes)
    if client is None:
        try:
            from distributed import get_client

            client = get_client()
        except (ImportError, ValueError):
            client = None
    if client is not None:
        from tqdm.auto import tqdm

        with tqdm(total=sum(sizes), desc=desc, disable=not progress, unit=unit) as bar:
            run_each(tasks, client, on_done=lambda i: bar.update(sizes[i]))
            return
    if progress:
        from tqdm.dask import TqdmCallback

        with TqdmCallback(desc=desc):
            dask.compute(*tasks)
        return
    dask.compute(*tasks)


def write_committed(
    ds: xr.Dataset,
    path: str | os.PathLike,
    *,
    what: str,
    check_attrs: Sequence[str] | None = None,
    recorded_attrs: Sequence[str] = (),
    check: Callable[[dict, dict], list[str]] | None = None,
    encoding: dict | None = None,
    progress: bool = True,
    client: Any = None,
    break_lock: bool = False,
    chunks_per_task: int = 1,
) -> list[int]:
    """Write ``ds`` chunk by chunk along ``time``; return the indices of chunks written.

    A store written by xspecseg <= 0.1 gets its bookkeeping moved into ``_xspecseg/``
    first; every call ends with a ``history`` line and consolidated metadata.

    Parameters
    ----------
    ds : xr.Dataset
        Dask-backed variables along ``time``, one chunk across the other dimensions.
    path : path
        The zarr store (created if missing, else resumed or appended to).
    what : str
        ``"cube"``, ``"probability"``: named in messages.
    check_attrs, recorded_attrs : sequence of str
        Attributes the new data must share with the store; ``recorded_attrs`` only where
        the store has them (see :func:`_check_attrs`).
    check : callable, optional
        ``check(stored_attrs, new_attrs)`` returns further differences that refuse the
        data (one string each, see :func:`differs`).
    encoding : dict, optional
        Extra zarr encoding per variable, used when the store is created.
    progress, client
        Progress bar; Dask client (default: the current one, else local threads).
    break_lock : bool
        Take over the lock of another writer (only when it is known to be dead).
    chunks_per_task : int
        Consecutive chunks written (and each committed) by one task, which computes them
        too: on a cluster each task costs the scheduler and the worker, so chunks that
        are cheap to compute from shared inputs (probabilities) go several to a task.

    Examples
    --------
    >>> import dask.array as da, numpy as np, xarray as xr, tempfile, pathlib
    >>> t = np.datetime64("2020-01-01", "ns") + np.arange(4) * np.timedelta64(1, "h")
    >>> ds = xr.Dataset({"p": (("time", "f"), da.ones((4, 2), chunks=(2, 2)))},
    ...                 coords={"time": t, "f": [1.0, 2.0]})
    >>> store = pathlib.Path(tempfile.mkdtemp()) / "s.zarr"
    >>> write_committed(ds, store, what="example", progress=False)
    [0, 1]
    >>> list(xr.open_zarr(store).data_vars)
    ['p']
    """
    if int(chunks_per_task) != chunks_per_task or chunks_per_task < 1:
        raise ValueError(f"chunks_per_task must be a positive integer, got {chunks_per_task!r}")
    path = Path(path)
    ds = _uniform(ds)
    chunks = _time_chunks(ds)
    with writer_lock(path, break_lock=break_lock):
        created = not path.exists()
        if created:
            _init(ds, path, chunks, encoding or {})
        g = open_group(path, what)
        if created:
            # made from ds a moment ago under the lock: nothing to recover, check or grow
            first = 0
        else:
            _recover(g, path)
            _check_attrs(g, ds, path, check_attrs or (), recorded_attrs, check)
            _check_layout(g, ds, path)
            _migrate(g, path)
            first = _offset(ds, g, chunks, path)
            if first == g[FLAG].shape[0] and g["time"].shape[0] % max(chunks):
                raise ValueError(
                    f"{path} ends with a partial chunk, so later data cannot be appended; "
                    f"write them to a new store"
                )
            _extend(g, ds, chunks, first, path)
        written = _write_missing(
            g, ds, chunks, first, path, progress, client, what, created, int(chunks_per_task)
        )
        _finish(path, f"write_{what} wrote {len(written)} chunk(s)")
    return written


def _write_missing(
    g, ds, chunks, first, path, progress, client, what, fresh=False, per_task=1
) -> list[int]:
    """Write the dataset's chunks not yet flagged complete, ``per_task`` consecutive ones
    to a task; return their indices.

    ``fresh``: the store was just made from ``ds`` (no chunk is complete, each starts
    where the dataset's does), so neither flags nor times are read back.
    """
    done = np.zeros(len(chunks), bool) if fresh else np.asarray(g[FLAG][:]) == 1
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
    starts_rows = bounds[:-1] if fresh else _row_starts(g)
    token = uuid.uuid4().hex
    todo = [k for k in range(len(chunks)) if not done[first + k]]
    runs: list[list[int]] = []
    for k in todo:
        if runs and len(runs[-1]) < per_task and runs[-1][-1] == k - 1:
            runs[-1].append(k)
        else:
            runs.append([k])
    calls = {}
    for run in runs:
        indices = [first + k for k in run]
        t0s = [
            int(starts_rows[idx]) if idx < starts_rows.size else int(bounds[k])
            for k, idx in zip(run, indices, strict=True)
        ]
        write = functools.partial(
            _write_blocks, path=str(path), names=tuple(names), axes=tuple(axes), t0s=t0s,
            indices=indices, token=token,
        )  # fmt: skip
        calls[indices[0]] = (write, [p[k, 0] for k in run for p in per_var])
    if calls:
        # a name of its own per call: a write is a side effect, never a cached result
        tasks = list(tasks_over(f"write-{token}", calls).values())
        _run(tasks, progress=progress, client=client, desc=f"{what} -> {path.name}",
             unit="chunk", sizes=[len(r) for r in runs])  # fmt: skip
    return [first + k for k in todo]


def _row_starts(g) -> np.ndarray:
    """Row index of each stored chunk's first time."""
    t = np.asarray(g["time"][:], dtype=np.int64)
    return np.searchsorted(t, _stored_chunks(g))


# ----------------------------------------------------------------------------------------
# reading and verifying
# ----------------------------------------------------------------------------------------
def open_committed(
    path: str | os.PathLike,
    *,
    what: str,
    incomplete: Literal["mask", "raise"] = "mask",
    fill: dict[str, float] | None = None,
) -> xr.Dataset:
    """Open a store lazily; chunks not flagged complete read as ``fill`` (never decoded).

    The live metadata are read, not the consolidated copy, which lags behind a write in
    progress. Stores of xspecseg <= 0.1 (bookkeeping at the top level) read the same.

    Examples
    --------
    >>> import dask.array as da, numpy as np, xarray as xr
    >>> t = np.datetime64("2020-01-01", "ns") + np.arange(4) * np.timedelta64(1, "h")
    >>> ds = xr.Dataset({"p": (("time", "f"), da.ones((4, 2), chunks=(2, 2)))},
    ...                 coords={"time": t, "f": [1.0, 2.0]})
    >>> _ = write_committed(ds, "s.zarr", what="example", progress=False)
    >>> open_committed("s.zarr", what="example").p.dims
    ('time', 'f')
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no {what} store at {path}")
    g = open_group(path, what)
    rows = _consistent_rows(g, path)
    complete = np.asarray(g[_name(g, FLAG)][:]) == 1
    ds = xr.open_zarr(path, consolidated=False, chunks={})
    ds = ds.drop_vars([v for v in _LEGACY.values() if v in ds.variables])
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


def _consistent_rows(g, path: Path) -> np.ndarray:
    """First row of every chunk and the row count, once the store is known consistent.

    An interrupted append leaves a journal, or (writers without journal) arrays of other
    lengths or fill values (read as 1970) where times should be: refused, never read.
    """
    if _read_journal(path) is not None:
        raise ValueError(_interrupted_message(path))
    t = np.asarray(g["time"][:], dtype=np.int64)
    starts = _stored_chunks(g)
    rows = np.searchsorted(t, starts)
    found = (rows < t.size) & (t[np.minimum(rows, max(t.size - 1, 0))] == starts)
    lengths = {arr.shape[axis] for _, arr, axis in _time_arrays(g)}
    if (
        starts.size != g[_name(g, FLAG)].shape[0]
        or lengths != {t.size}
        or _increasing_prefix(t) != t.size
        or not found.all()
        or _increasing_prefix(rows) != rows.size
    ):
        raise ValueError(_interrupted_message(path))
    return np.r_[rows, t.size]


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


def _has_checksums(arr) -> bool:
    from zarr.codecs import Crc32cCodec

    return any(isinstance(c, Crc32cCodec) for c in arr.metadata.codecs)


def _chunk_missing(path: Path, name: str, arr, axis: int, r0: int, r1: int) -> bool:
    """Whether a zarr chunk holding rows ``r0:r1`` along time is absent from disk.

    Only for arrays written with checksums: their writers write every chunk, while older
    stores legitimately lack chunks that were all fill value.
    """
    if r1 <= r0 or not _has_checksums(arr):
        return False
    ranges = [range(-(-n // c)) for n, c in zip(arr.shape, arr.chunks, strict=True)]
    step = arr.chunks[axis]
    ranges[axis] = range(r0 // step, -(-r1 // step))
    for index in itertools.product(*ranges):
        if not (path / name / arr.metadata.encode_chunk_key(index)).is_file():
            return True
    return False


def verify_committed(path: str | os.PathLike, *, what: str, repair: bool = False) -> list[int]:
    """Decode every committed chunk; return the indices of those that fail.

    A chunk fails when a zarr chunk of it does not decode (a CRC32C mismatch included) or,
    in stores written with checksums, is missing. With ``repair=True`` (under the writer
    lock) an interrupted append is rolled back and the failing chunks' commit flags are
    cleared, so they read as missing and the next write of the same data rewrites them
    (the documented repair for a corrupt chunk, e.g. after a disk error). It also moves
    the bookkeeping of a store written by xspecseg <= 0.1 into ``_xspecseg/`` and
    consolidates the metadata, so that plain xarray reads the store cleanly.

    Examples
    --------
    >>> import dask.array as da, numpy as np, xarray as xr
    >>> t = np.datetime64("2020-01-01", "ns") + np.arange(4) * np.timedelta64(1, "h")
    >>> ds = xr.Dataset({"p": (("time", "f"), da.ones((4, 2), chunks=(2, 2)))},
    ...                 coords={"time": t, "f": [1.0, 2.0]})
    >>> _ = write_committed(ds, "s.zarr", what="example", progress=False)
    >>> verify_committed("s.zarr", what="example", repair=True)
    []
    """
    path = Path(path)
    g = open_group(path, what)
    if not repair:
        if _read_journal(path) is not None:
            raise ValueError(_interrupted_message(path))
        return _failing_chunks(g, path)
    with writer_lock(path):
        _recover(g, path)
        _migrate(g, path)
        bad = _failing_chunks(g, path)
        for k in bad:
            g[FLAG][k] = 0
        _finish(path, f"verify_{what} cleared the flags of {len(bad)} chunk(s)" if bad else None)
    return bad


def _failing_chunks(g, path: Path) -> list[int]:
    flags = np.asarray(g[_name(g, FLAG)][:]) == 1
    rows = np.r_[_row_starts(g), g["time"].shape[0]]
    arrays = [(n, a, ax) for n, a, ax in _time_arrays(g) if n != "time"]
    bad = []
    for k in np.flatnonzero(flags):
        r0, r1 = int(rows[k]), int(rows[k + 1])
        for name, arr, axis in arrays:
            sel = [slice(None)] * arr.ndim
            sel[axis] = slice(r0, r1)
            try:
                arr[tuple(sel)]
            except Exception:  # any decode failure means the chunk cannot be trusted
                bad.append(int(k))
                break
            if _chunk_missing(path, name, arr, axis, r0, r1):
                bad.append(int(k))
                break
    return bad
