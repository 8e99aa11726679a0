"""Chunk-wise maps that exchange halos with their neighbours (shared by cube and infer)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import dask.array as da
import numpy as np


def halo_map(
    x: da.Array,
    halo: int,
    func: Callable[..., np.ndarray],
    out_chunk_shape: Callable[[int], tuple[int, ...]],
    dtype: Any,
    axis: int = -1,
    pieces: int = 1,
    **kwargs: Any,
) -> da.Array:
    """Apply ``func`` to every chunk of ``x`` along ``axis`` together with ``halo`` neighbours.

    ``func(block, left=..., right=..., offset=..., **kwargs)`` receives the chunk extended
    by up to ``halo`` samples on each side (fewer at the ends of the array: ``left`` and
    ``right`` say how many; ``offset`` is the position of the block's first sample in
    ``x``) and returns the output for the chunk alone, shaped
    ``out_chunk_shape(chunk_length)``; the output's chunks along ``axis`` are those of
    ``x``. Unlike :func:`dask.array.map_overlap` this works when chunks are shorter than
    the halo: the extended slice may span several chunks.

    ``pieces > 1`` splits every chunk into that many tasks (as equal as whole samples
    allow; the output then has those smaller chunks). Slicing them out of the chunk
    instead of rechunking ``x`` first keeps each task's input a view of one chunk, not
    a copy, except where its halo reaches into a neighbour.
    """
    axis = axis % x.ndim
    n = x.shape[axis]
    bounds = np.cumsum((0, *x.chunks[axis]))
    if pieces > 1:
        cuts = [np.linspace(a, b, pieces + 1).round() for a, b in itertools.pairwise(bounds)]
        bounds = np.unique(np.concatenate([bounds.astype(float), *cuts])).astype(np.int64)
    outs = []
    for a, b in itertools.pairwise(bounds):
        lo, hi = max(0, a - halo), min(n, b + halo)
        index = tuple(slice(lo, hi) if d == axis else slice(None) for d in range(x.ndim))
        # neighbouring chunks joined: dask's "tasks" rechunk, named so that choosing it does
        # not import distributed
        ext = x[index].rechunk({axis: -1}, method="tasks")
        out_shape = out_chunk_shape(int(b - a))
        piece = da.map_blocks(
            func,
            ext,
            left=int(a - lo),
            right=int(hi - b),
            offset=int(lo),
            chunks=tuple((s,) for s in out_shape),
            dtype=dtype,
            new_axis=list(range(x.ndim, len(out_shape))) or None,
            meta=np.empty((0,) * len(out_shape), dtype=dtype),
            **kwargs,
        )
        outs.append(piece)
    return da.concatenate(outs, axis=axis)
