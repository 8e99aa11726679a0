"""Place pieces of files on one regular sample grid as a lazy dask array.

Every reader in :mod:`xspecseg.io` reduces its files to *pieces*: "samples
``[src_start, src_start + count)`` of source ``src`` go to grid samples
``[dst, dst + count)`` of component ``c``". This module turns such a list into a
``(component, time)`` dask array whose every block is one task that allocates
NaN and copies in only the pieces that intersect it. Nothing is read until a
block is computed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from .._timeaxis import NS_PER_S

DAY_NS = 86_400 * NS_PER_S


@dataclass(frozen=True)
class Piece:
    """A run of consecutive samples of one source placed on the grid.

    Attributes
    ----------
    dst : int
        Grid index of the piece's first sample.
    count : int
        Number of samples.
    src : Hashable
        Literal argument for the reader (a path) or, with ``src_is_key``, the
        key of a task whose result the reader receives.
    src_start : int
        Index of the first sample inside the source.
    sub : int
        Extra selector for the reader (e.g. the trace number in a file).
    label : str
        Name used in error messages (a file name).
    """

    dst: int
    count: int
    src: Hashable
    src_start: int = 0
    sub: int = 0
    label: str = ""


def round_div(num: int, den: int) -> int:
    """``num / den`` rounded to the nearest integer, half away from zero, exactly."""
    q, r = divmod(abs(num), den)
    if 2 * r >= den:
        q += 1
    return q if num >= 0 else -q


def time_chunks(start_ns: int, n: int, period_ns: int, chunks: Any) -> tuple[int, ...]:
    """Chunk sizes along ``time``.

    ``"day"`` cuts at every UTC midnight (first and last chunk partial), an int
    gives chunks of that many samples, a sequence is taken as is.
    """
    if n == 0:
        return (0,)
    if chunks is None or (isinstance(chunks, str) and chunks == "day"):
        first_mid = (start_ns // DAY_NS + 1) * DAY_NS
        bounds = [0]
        mid = first_mid
        while True:
            # first sample at or after this midnight
            i = -((start_ns - mid) // period_ns)
            if i >= n:
                break
            if i > bounds[-1]:
                bounds.append(i)
            mid += DAY_NS
        bounds.append(n)
        return tuple(int(b - a) for a, b in itertools.pairwise(bounds))
    if isinstance(chunks, int | np.integer):
        size = int(chunks)
        if size <= 0:
            raise ValueError(f"chunks must be a positive number of samples, got {chunks}")
        full, rest = divmod(n, size)
        return (size,) * full + ((rest,) if rest else ())
    sizes = tuple(int(c) for c in chunks)
    if sum(sizes) != n:
        raise ValueError(f"chunks {sizes} add up to {sum(sizes)} samples, the record has {n}")
    return sizes


def _fill_block(
    length: int,
    dtype: str,
    reader: Callable[..., np.ndarray],
    metas: list,
    srcs: list,
) -> np.ndarray:
    """Materialise one block: NaN, then every intersecting piece in grid order."""
    out = np.full((1, length), np.nan, dtype=dtype)
    row = out[0]
    hi_prev = 0
    label_prev = ""
    for (dst, count, src_start, sub, label), src in zip(metas, srcs):
        values = np.asarray(reader(src, sub, src_start, count))
        if values.shape != (count,):
            raise ValueError(
                f"{label}: expected {count} samples from offset {src_start}, read "
                f"{values.shape[0] if values.ndim else 0}; the file changed or is truncated"
            )
        # pieces are sorted by dst, so whatever earlier pieces cover beyond dst
        # is the single run [dst, hi_prev): compare there instead of overwriting
        ov = min(dst + count, hi_prev) - dst
        if ov > 0:
            old = row[dst : dst + ov]
            new = values[:ov].astype(dtype, copy=False)
            if not np.array_equal(old, new, equal_nan=True):
                bad = int(np.flatnonzero(~((old == new) | (np.isnan(old) & np.isnan(new))))[0])
                raise ValueError(
                    f"conflicting overlapping samples: {label} and {label_prev} both "
                    f"cover a sample (block position {dst + bad}) with different values "
                    f"({new[bad]!r} vs {old[bad]!r})"
                )
        row[dst + max(ov, 0) : dst + count] = values[max(ov, 0) :]
        if dst + count > hi_prev:
            hi_prev = dst + count
            label_prev = label
    return out


def assemble(
    pieces: Sequence[Sequence[Piece]],
    n: int,
    chunks: tuple[int, ...],
    dtype: np.dtype | str,
    reader: Callable[..., np.ndarray],
    *,
    name: str,
    source_layer: dict | None = None,
) -> da.Array:
    """Lazy ``(len(pieces), n)`` array built from per-component piece lists.

    Parameters
    ----------
    pieces
        One list of :class:`Piece` per component.
    n
        Length of the grid.
    chunks
        Chunk sizes along time (they add up to ``n``).
    dtype
        Output dtype (float32 or float64).
    reader
        Module-level function ``reader(src, sub, src_start, count) -> 1-D array``.
    name
        Prefix of the dask layer name.
    source_layer
        Optional graph of tasks whose keys are used as ``Piece.src`` (e.g. one
        full-file read each); blocks then depend on those tasks.
    """
    dtype = np.dtype(dtype).str
    token = tokenize(pieces, n, chunks, dtype, reader, name)
    out_name = f"{name}-{token}"
    starts = np.concatenate([[0], np.cumsum(chunks)]).astype(np.int64)
    dsk: dict = {}
    for c, plist in enumerate(pieces):
        per_block: list[list[tuple[Piece, int, int]]] = [[] for _ in chunks]
        for p in sorted(plist, key=lambda q: (q.dst, -q.count)):
            if p.count <= 0:
                continue
            lo = max(p.dst, 0)
            hi = min(p.dst + p.count, n)
            if hi <= lo:
                continue
            j0 = int(np.searchsorted(starts, lo, side="right")) - 1
            j1 = int(np.searchsorted(starts, hi - 1, side="right")) - 1
            for j in range(j0, j1 + 1):
                a = max(lo, int(starts[j]))
                b = min(hi, int(starts[j + 1]))
                if b > a:
                    per_block[j].append((p, a, b))
        for j, items in enumerate(per_block):
            metas = []
            srcs = []
            for p, a, b in items:
                metas.append([a - int(starts[j]), b - a, p.src_start + (a - p.dst), p.sub, p.label])
                srcs.append(p.src)
            dsk[(out_name, c, j)] = (_fill_block, int(chunks[j]), dtype, reader, metas, srcs)
    layers = {out_name: dsk}
    deps: dict[str, set[str]] = {out_name: set()}
    if source_layer:
        src_name = f"{name}-sources-{token}"
        layers[src_name] = source_layer
        deps[out_name] = {src_name}
        deps[src_name] = set()
    graph = HighLevelGraph(layers, deps)
    return da.Array(
        graph,
        out_name,
        chunks=((1,) * len(pieces), tuple(int(c) for c in chunks)),
        dtype=dtype,
        meta=np.empty((0, 0), dtype=dtype),
    )
