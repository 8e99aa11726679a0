"""The array core of event extraction: label each time-chunk, merge across chunks.

1. every time-chunk is thresholded and labelled on its own (``scipy.ndimage.label``), one
   Dask task per chunk (:func:`_chunk_partials`), and reduced to *partial* statistics
   per chunk-local label (the table of :mod:`~xspecseg.events.aggregations`, the per-row
   log PSD sums of :mod:`~xspecseg.events.rowstats` and the per-row fringe combs of
   :mod:`~xspecseg.events.fringes`) plus the label rows on its two time borders;
2. labels that touch across a chunk border (same rule as inside a chunk: the
   ``connectivity`` structure) are merged with a union-find over ``(chunk, label)``
   (:func:`merge_partials`);
3. the partials of each merged event are combined. Every combination rule is
   associative, so the result is identical whatever the chunking of the input.

Examples
--------
>>> p = np.zeros((6, 4)); p[1:5, 1] = 0.9  # one stripe across the border of rows 2/3
>>> blocks = [p[:3], p[3:]]
>>> parts = [_chunk_partials(b, None, 0, np.r_[i == 0, False, False], 3 * i,
...                          threshold=0.5, structure=np.ones((3, 3), bool), grow=0,
...                          freq=np.arange(4.0), fringe_opts=None)
...          for i, b in enumerate(blocks)]
>>> merged = merge_partials(parts, connectivity=2, min_pixels=1)
>>> merged.keep.tolist(), merged.stats["count"][merged.keep].tolist()
([0], [4])
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import dask
import dask.array as da
import numpy as np
from scipy import ndimage as ndi

from .._compute import compute, tasks_over
from .aggregations import chunk_reduce, combine, pixel_columns
from .context import _rows, event_context
from .fringes import FringeOptions, _chunk_fringes, _time_halo
from .rowstats import _row_log_sums

__all__ = ["Merged", "chunk_context", "chunk_partials", "merge_partials"]


def _label_chunk(
    grown: np.ndarray, breaks: np.ndarray, structure: np.ndarray
) -> tuple[np.ndarray, int]:
    """Label ``grown`` with rows split where ``breaks`` is True (no link to the row above)."""
    lab = np.zeros(grown.shape, dtype=np.int64)
    starts = np.flatnonzero(breaks[1:]) + 1
    edges = [0, *starts.tolist(), grown.shape[0]]
    n = 0
    for a, b in itertools.pairwise(edges):
        if b <= a:
            continue
        sub, k = ndi.label(grown[a:b], structure=structure)
        lab[a:b] = np.where(sub > 0, sub + n, 0)
        n += int(k)
    return lab, n


def _chunk_partials(
    prob: np.ndarray,
    psd_ext: np.ndarray | None,
    left: int,
    breaks: np.ndarray,
    row0: int,
    *,
    threshold: float,
    structure: np.ndarray,
    grow: int,
    freq: np.ndarray,
    fringe_opts: FringeOptions | None,
    context: bool = False,
) -> dict[str, Any]:
    """Label one time-chunk and reduce it to per-label partial statistics.

    ``psd_ext`` holds the chunk's PSD rows from row ``left`` on, with the rows around them
    that the fringe analysis reaches; ``breaks`` marks the rows not connected to the row
    above; ``row0`` is the chunk's first row in the cube. ``context``: the chunk is one
    whole image unit, so each label's context properties
    (:func:`~xspecseg.events.context.event_context`) are measured here, from the rows
    already read, rather than in a second pass over the PSD.
    """
    prob = np.asarray(prob, dtype=np.float64)
    psd = None
    if psd_ext is not None:
        psd_ext = np.asarray(psd_ext, dtype=np.float64)
        psd = psd_ext[left : left + prob.shape[0]]
    with np.errstate(invalid="ignore"):
        mask = prob >= threshold  # NaN (no data) is never an event
    if grow > 0:
        # joining along frequency only keeps rows independent, so the grown mask (and the
        # labels) do not depend on where chunks are cut
        grown = ndi.binary_dilation(mask, structure=np.ones((1, 2 * grow + 1), bool))
    else:
        grown = mask
    lab, n = _label_chunk(grown, breaks, structure)
    pixels = np.where(mask, lab, 0)  # the grown pixels join regions but are none of theirs
    empty = np.zeros(0, np.int64)
    fringes = {}
    if fringe_opts is not None and psd_ext is not None and pixels.any():
        fringes = _chunk_fringes(psd_ext, left, pixels, row0, freq, fringe_opts)
    stats = chunk_reduce(pixel_columns(pixels, prob, psd, row0), n)
    return {
        "n": n,
        # the border rows as (bin, label) of their labelled pixels: dense, they were most
        # of a partial (16 kB of zeros per CSES half-orbit, held for a whole record)
        "first": _border(lab[0]) if lab.shape[0] else (empty, empty),
        "last": _border(lab[-1]) if lab.shape[0] else (empty, empty),
        "width": int(lab.shape[1]),
        "first_break": bool(breaks[0]) if breaks.size else True,
        "stats": stats,
        "rows": _row_log_sums(psd, pixels, row0) if psd is not None else None,
        "fringes": fringes,
        "context": (
            _label_context(psd, prob, threshold, stats, row0)
            if context and psd is not None and n
            else None
        ),
    }


def _border(row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A label row as its labelled bins and their labels."""
    bins = np.flatnonzero(row)
    return bins, row[bins]


def _dense(border: tuple[np.ndarray, np.ndarray], width: int) -> np.ndarray:
    out = np.zeros(width, np.int64)
    out[border[0]] = border[1]
    return out


def _label_context(
    psd: np.ndarray, prob: np.ndarray, threshold: float, stats: dict[str, np.ndarray], row0: int
) -> dict[str, np.ndarray]:
    """The context properties of every label of a chunk that is one whole image unit.

    The boxes are those :func:`~xspecseg.events.context.add_context` reads back from the
    catalogue (first and last row, lowest and highest bin of the label's pixels), so a
    label that is an event on its own gets the same values as in the second pass.
    """
    has = stats["count"] > 0
    boxes = np.stack(
        [
            stats["first_pix"][has] // max(prob.shape[1], 1) - row0,
            stats["last_row"][has] - row0,
            stats["fmin"][has],
            stats["fmax"][has],
        ],
        axis=1,
    ).astype(np.int64)
    found = event_context(psd, prob, threshold, boxes)
    out = {}
    for key, values in found.items():
        out[key] = np.full(has.size, np.nan)
        out[key][has] = values
    return out


def _partials_of(
    prob: np.ndarray, psd_ext: np.ndarray | None = None, *, left: int, breaks: np.ndarray,
    row0: int, **kwargs: Any,
) -> dict[str, Any]:  # fmt: skip
    return _chunk_partials(prob, psd_ext, left, breaks, row0, **kwargs)


def chunk_partials(
    prob: Any,
    psd: Any | None,
    breaks: np.ndarray,
    *,
    threshold: float,
    connectivity: int,
    grow: int,
    freq: np.ndarray,
    fringe_opts: FringeOptions | None,
    compute_kwargs: dict[str, Any] | None = None,
    units: Collection[tuple[int, int]] = (),
) -> list[dict[str, Any]]:
    """The partials of every non-empty time-chunk of ``prob``, computed with Dask.

    Parameters
    ----------
    prob : array-like
        Probabilities ``(time, frequency)``, a Dask array (its time chunks are kept) or a
        numpy array (one chunk).
    psd : array-like, optional
        PSD on the same grid.
    breaks : np.ndarray
        Per row: True where the row is not connected to the row above.
    threshold, connectivity, grow, freq, fringe_opts
        As in :func:`_chunk_partials`; ``grow`` bins join regions along frequency.
    compute_kwargs : dict, optional
        Passed to ``dask.compute``.
    units : collection of (int, int)
        Row ranges of image units: a chunk that is exactly one of them (and has ``psd``)
        measures its labels' context properties in its own task (``"context"``).

    Returns
    -------
    list of dict
        One entry per non-empty chunk, in time order.

    Examples
    --------
    >>> p = np.zeros((6, 3)); p[:, 1] = 0.9
    >>> parts = chunk_partials(da.from_array(p, chunks=(2, 3)), None, np.r_[True, [False] * 5],
    ...                        threshold=0.5, connectivity=1, grow=0, freq=np.arange(3.0),
    ...                        fringe_opts=None)
    >>> [part["n"] for part in parts]
    [1, 1, 1]
    """
    data = prob
    if not isinstance(data, da.Array):
        data = da.from_array(np.asarray(data), chunks=(max(1, data.shape[0]), -1))
    data = data.rechunk({1: -1})
    pdata = psd
    if pdata is not None and not isinstance(pdata, da.Array):
        pdata = da.from_array(np.asarray(pdata), chunks=-1)
    structure = ndi.generate_binary_structure(2, connectivity)
    bounds = np.cumsum((0, *data.chunks[0]))
    pblocks = data.to_delayed().ravel()
    halo = _time_halo(fringe_opts)
    nt = data.shape[0]
    whole_units = {(int(a), int(b)) for a, b in units}
    if pdata is not None:
        # the PSD cut once into the probability's time chunks: slicing the PSD array per
        # chunk would build (and optimise) a graph over all its blocks for every chunk
        sizes = tuple(int(c) for c in data.chunks[0] if c > 0)
        sbounds = np.cumsum((0, *sizes))
        sblocks = pdata.rechunk({0: sizes, 1: -1}).to_delayed().ravel() if sizes else []
    # the graph is written out (tasks_over): a dask.delayed call per chunk would optimise
    # the graph of all the blocks again for every chunk
    calls: dict[tuple[str, int], tuple[Any, list[Any]]] = {}
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        if b == a:
            continue  # empty chunks hold nothing and must not break border adjacency
        args: list[Any] = [pblocks[i]]
        left = 0
        if pdata is not None:
            # the chunk's PSD rows plus the halo the fringe time smoothing reaches
            lo, hi = (max(0, a - halo), min(nt, b + halo)) if fringe_opts else (a, b)
            j0 = int(np.searchsorted(sbounds, lo, side="right")) - 1
            j1 = int(np.searchsorted(sbounds, hi, side="left"))
            if j1 - j0 == 1 and (lo, hi) == (sbounds[j0], sbounds[j1]):
                args.append(sblocks[j0])
            else:
                rows = functools.partial(_rows, first=int(sbounds[j0]), lo=int(lo), hi=int(hi))
                calls[("rows", i)] = (rows, list(sblocks[j0:j1]))
                args.append(("rows", i))
            left = int(a - lo)
        partials = functools.partial(
            _partials_of,
            left=left,
            breaks=breaks[a:b],
            row0=int(a),
            threshold=threshold,
            structure=structure,
            grow=grow,
            freq=freq,
            fringe_opts=fringe_opts,
            context=pdata is not None and (int(a), int(b)) in whole_units,
        )
        calls[("partials", i)] = (partials, args)
    token = dask.base.tokenize(
        data.name, None if pdata is None else pdata.name, breaks, threshold, connectivity,
        grow, freq, repr(fringe_opts), sorted(whole_units),
    )  # fmt: skip
    done = tasks_over(f"chunk-partials-{token}", calls)
    tasks = [d for (kind, _), d in done.items() if kind == "partials"]
    return list(compute(*tasks, **(compute_kwargs or {})))


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = np.arange(n)

    def find(self, a: int) -> int:
        p = self.parent
        root = a
        while p[root] != root:
            root = p[root]
        while p[a] != root:  # path compression
            p[a], a = root, p[a]
        return int(root)

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # the smaller node is the root: a merged event is named by its earliest label
            self.parent[max(ra, rb)] = min(ra, rb)


def _border_pairs(last: np.ndarray, first: np.ndarray, connectivity: int) -> np.ndarray:
    """(label above, label below) pairs of pixels adjacent across a chunk border."""
    shifts = (0,) if connectivity == 1 else (-1, 0, 1)
    pairs = []
    nf = last.size
    for s in shifts:
        a = last[max(0, -s) : nf - max(0, s)]
        b = first[max(0, s) : nf - max(0, -s)]
        ok = (a > 0) & (b > 0)
        if ok.any():
            pairs.append(np.stack([a[ok], b[ok]], axis=1))
    if not pairs:
        return np.zeros((0, 2), np.int64)
    return np.unique(np.concatenate(pairs), axis=0)


@dataclass(frozen=True)
class Merged:
    """The events of all chunks once merged across chunk borders.

    Attributes
    ----------
    stats : dict of np.ndarray
        The combined :data:`~xspecseg.events.aggregations.AGGREGATIONS` per node.
    keep : np.ndarray
        The nodes that are events (roots with enough pixels), by first pixel.
    node : list of np.ndarray
        Per chunk: the node of the event each of its labels belongs to (label ``lb`` at
        ``lb - 1``).
    """

    stats: dict[str, np.ndarray]
    keep: np.ndarray
    node: list[np.ndarray]


def merge_partials(parts: list[dict[str, Any]], connectivity: int, min_pixels: int) -> Merged:
    """Merge the labels of :func:`chunk_partials` into events and combine their partials.

    Parameters
    ----------
    parts : list of dict
        The partials of consecutive chunks.
    connectivity : {1, 2}
        Which pixels across a chunk border touch: by an edge, or also by a corner.
    min_pixels : int
        Events with fewer pixels are dropped.

    Returns
    -------
    Merged

    Examples
    --------
    >>> merge_partials([], connectivity=2, min_pixels=1).keep.size
    0
    """
    # union-find over (chunk, label): node = offset[chunk] + label - 1
    offsets = np.cumsum([0, *[p["n"] for p in parts]])
    uf = _UnionFind(int(offsets[-1]))
    for i in range(1, len(parts)):
        if parts[i]["first_break"]:
            continue
        above, below = parts[i - 1]["last"], parts[i]["first"]
        if not (above[0].size and below[0].size):
            continue
        width = parts[i]["width"]
        pairs = _border_pairs(_dense(above, width), _dense(below, width), connectivity)
        for la, lb in pairs:
            uf.union(int(offsets[i - 1] + la - 1), int(offsets[i] + lb - 1))
    nodes = int(offsets[-1])
    root = np.array([uf.find(k) for k in range(nodes)], dtype=np.int64)
    stats = combine([p["stats"] for p in parts], root, nodes)
    is_event = (stats["count"] >= max(1, int(min_pixels))) & (np.arange(nodes) == root)
    keep = np.flatnonzero(is_event)
    keep = keep[np.argsort(stats["first_pix"][keep], kind="stable")]
    node = [root[a:b] for a, b in itertools.pairwise(offsets)]
    return Merged(stats=stats, keep=keep, node=node)


def chunk_context(
    parts: list[dict[str, Any]], merged: Merged
) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
    """The context properties measured in the chunks, for the events of ``merged``.

    Returns ``(known, values)``: ``known`` marks the events (in ``merged.keep`` order) that
    are one label of a chunk that measured its labels' context (a chunk that is a whole
    image unit); ``values`` holds their properties (NaN elsewhere). None when no chunk
    measured any.
    """
    if not any(p.get("context") is not None for p in parts):
        return None
    members = np.bincount(np.concatenate([*merged.node, np.zeros(0, np.int64)]),
                          minlength=len(merged.stats["count"]))  # fmt: skip
    known = np.zeros(merged.keep.size, bool)
    values: dict[str, np.ndarray] = {}
    where = {int(k): i for i, k in enumerate(merged.keep)}
    for part, node in zip(parts, merged.node):
        ctx = part.get("context")
        if ctx is None:
            continue
        for key in ctx:  # a column even where no label of the chunk is an event
            values.setdefault(key, np.full(merged.keep.size, np.nan))
        for label, root in enumerate(node):
            i = where.get(int(root))
            if i is None or members[root] != 1:
                continue  # not an event, or merged with labels of another chunk
            known[i] = True
            for key, column in ctx.items():
                values[key][i] = column[label]
    return known, values
