"""Per-event partial statistics, each declared once with its chunk and combine steps.

In the manner of flox's ``Aggregation``: every statistic an event carries is one row of
:data:`AGGREGATIONS`, naming the pixel column it reduces, the reduction each time-chunk
applies to its own labels (``chunk``) and the one that joins the partials of labels merged
across chunk borders (``combine``). :func:`chunk_reduce` and :func:`combine` run the whole
table, so a new property is one more declaration.

The pixel columns of a chunk (:func:`pixel_columns`) hold its labelled pixels in (time,
frequency) order. Every combine step is associative and the argmax breaks ties on the
earliest (time, frequency) pixel, the rule of ``np.argmax`` on the whole image, so the
combined statistics do not depend on where the chunks are cut.

Examples
--------
>>> lab = np.array([[1, 1, 0], [0, 2, 2]])
>>> prob = np.array([[0.6, 0.9, 0.0], [0.0, 0.7, 0.7]])
>>> cols = pixel_columns(lab, prob, None, row0=0)
>>> part = chunk_reduce(cols, 2)
>>> part["count"].tolist(), part["pmax"].tolist(), part["ppos"].tolist()
([2, 2], [0.9, 0.7], [1, 4])
>>> whole = combine([part], root=np.array([0, 0]), nodes=2)  # labels 1 and 2 merged
>>> int(whole["count"][0]), float(whole["pmax"][0]), int(whole["fmax"][0])
(4, 0.9, 2)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["AGGREGATIONS", "Aggregation", "chunk_reduce", "combine", "pixel_columns"]

#: fill of a minimum over no pixels (and of the argmax's pixel)
BIG = np.iinfo(np.int64).max

#: dtype of each pixel column; ``label`` is the chunk-local label (1..n)
COLUMNS = {
    "label": np.int64,
    "pixel": np.int64,  # flat index into the whole (time, frequency) cube
    "row": np.int64,  # row of the whole cube
    "col": np.int64,
    "prob": np.float64,
    "psd": np.float64,  # NaN without a PSD
}

Step = Literal["count", "sum", "min", "max", "argmax"]


@dataclass(frozen=True)
class Aggregation:
    """One per-event statistic: what a chunk computes and how chunks combine it.

    Parameters
    ----------
    name : str
        Key of the statistic in the partials and in the combined result.
    chunk : {"count", "sum", "min", "max", "argmax"}
        Reduction of a chunk's pixels to one value per chunk-local label.
    combine : {"sum", "min", "max", "argmax"}
        Reduction of the partials of the chunk labels forming one event.
    column : str, optional
        The pixel column reduced (see :data:`COLUMNS`); none for ``count``.
    fill : int or float
        Value for a label without pixels: the identity of ``combine``.
    carry : tuple of (name, column, fill)
        ``argmax`` only: columns taken at the maximum's pixel, stored under ``name``.
        The maximum's own pixel is always carried first (its ties pick the earliest).

    Examples
    --------
    >>> Aggregation("fmin", chunk="min", combine="min", column="col", fill=BIG).dtype
    <class 'numpy.int64'>
    """

    name: str
    chunk: Step
    combine: Step
    column: str | None = None
    fill: float = 0
    carry: tuple[tuple[str, str, float], ...] = ()

    def __post_init__(self) -> None:
        if self.combine == "count":
            raise ValueError(f"{self.name}: counts combine by a sum")
        if (self.chunk == "count") == (self.column is not None):
            raise ValueError(f"{self.name}: a count reduces no column, every other step one")
        if (self.chunk == "argmax") != (self.combine == "argmax"):
            raise ValueError(f"{self.name}: an argmax is an argmax in both steps")
        if self.chunk == "argmax" and (not self.carry or self.carry[0][1] != "pixel"):
            raise ValueError(f"{self.name}: an argmax carries its pixel first (the tie-break)")
        for column in (self.column, *(c[1] for c in self.carry)):
            if column is not None and column not in COLUMNS:
                raise ValueError(f"{self.name}: no pixel column {column!r}")

    @property
    def dtype(self) -> type:
        """The dtype of the statistic (that of its column; counts are int64)."""
        return np.int64 if self.column is None else COLUMNS[self.column]


#: The per-event statistics. Counts and sums combine by sums, extremes by extremes, and
#: the peak keeps the pixel (and PSD) of the larger maximum.
AGGREGATIONS: tuple[Aggregation, ...] = (
    Aggregation("count", chunk="count", combine="sum"),
    Aggregation("psum", chunk="sum", combine="sum", column="prob", fill=0.0),
    # the first pixel in (time, frequency) order sorts the events and is their identity
    Aggregation("first_pix", chunk="min", combine="min", column="pixel", fill=BIG),
    Aggregation("last_row", chunk="max", combine="max", column="row", fill=-1),
    Aggregation("fmin", chunk="min", combine="min", column="col", fill=BIG),
    Aggregation("fmax", chunk="max", combine="max", column="col", fill=-1),
    Aggregation(
        "pmax",
        chunk="argmax",
        combine="argmax",
        column="prob",
        fill=-np.inf,
        carry=(("ppos", "pixel", BIG), ("peak_psd", "psd", np.nan)),
    ),
)


def pixel_columns(
    lab: np.ndarray, prob: np.ndarray, psd: np.ndarray | None, row0: int
) -> dict[str, np.ndarray]:
    """The labelled pixels of one chunk (``lab > 0``) as the columns of :data:`COLUMNS`.

    Parameters
    ----------
    lab : np.ndarray
        Chunk-local labels ``(time, frequency)``, 0 outside events.
    prob, psd : np.ndarray
        The chunk's probabilities and PSD (or None) on the same grid, float64.
    row0 : int
        Row of the whole cube at which the chunk starts.

    Returns
    -------
    dict of np.ndarray
        One entry per pixel, in C (time, then frequency) order.

    Examples
    --------
    >>> cols = pixel_columns(np.array([[0, 1], [1, 0]]), np.ones((2, 2)), None, row0=5)
    >>> cols["pixel"].tolist(), cols["row"].tolist(), cols["col"].tolist()
    ([11, 12], [5, 6], [1, 0])
    """
    nf = lab.shape[1]
    flat = lab.ravel()
    idx = np.flatnonzero(flat)
    rows, cols = np.divmod(idx, nf)
    return {
        "label": flat[idx].astype(np.int64),
        "pixel": idx + row0 * nf,
        "row": rows + row0,
        "col": cols,
        "prob": prob.ravel()[idx],
        "psd": psd.ravel()[idx] if psd is not None else np.full(idx.size, np.nan),
    }


def _reduce(
    agg: Aggregation,
    step: Step,
    group: np.ndarray,
    x: np.ndarray | None,
    carried: list[np.ndarray],
    size: int,
) -> dict[str, np.ndarray]:
    """One step of ``agg`` over ``x`` grouped by ``group`` (0..size-1).

    ``carried`` are the arrays of ``agg.carry`` (the chunk's pixel columns or the
    gathered partials), aligned with ``x``.
    """
    if step == "count":
        return {agg.name: np.bincount(group, minlength=size)}
    if step == "sum":
        out = np.bincount(group, weights=x, minlength=size)
        return {agg.name: out.astype(agg.dtype, copy=False)}
    if step in ("min", "max"):
        out = np.full(size, agg.fill, agg.dtype)
        ufunc = np.minimum if step == "min" else np.maximum
        ufunc.at(out, group, np.asarray(x).astype(agg.dtype))
        return {agg.name: out}
    # argmax: the maximum, and the carried columns at its pixel (the first carried)
    x = np.asarray(x, np.float64)
    pixel = np.asarray(carried[0]).astype(np.int64)
    order = np.lexsort((pixel, -x, group))
    gs = group[order]
    head = order[np.r_[True, gs[1:] != gs[:-1]]] if order.size else order
    at = group[head]
    result = {agg.name: np.full(size, agg.fill, agg.dtype)}
    result[agg.name][at] = x[head]
    for (name, column, fill), values in zip(agg.carry, carried, strict=True):
        result[name] = np.full(size, fill, COLUMNS[column])
        result[name][at] = values[head]
    return result


def chunk_reduce(
    columns: dict[str, np.ndarray], n: int, aggregations: tuple[Aggregation, ...] = AGGREGATIONS
) -> dict[str, np.ndarray]:
    """The chunk step of every aggregation: one value per chunk-local label ``1..n``.

    Parameters
    ----------
    columns : dict of np.ndarray
        The chunk's pixels, from :func:`pixel_columns`.
    n : int
        Number of labels of the chunk.
    aggregations : tuple of Aggregation
        The statistics to compute (default: :data:`AGGREGATIONS`).

    Returns
    -------
    dict of np.ndarray
        Each statistic (and carried column), entry ``k`` for label ``k + 1``.

    Examples
    --------
    >>> cols = pixel_columns(np.array([[2, 0, 1]]), np.array([[0.5, 0, 0.8]]), None, 0)
    >>> chunk_reduce(cols, 2)["fmin"].tolist()
    [2, 0]
    """
    group = columns["label"] - 1
    out: dict[str, np.ndarray] = {}
    for agg in aggregations:
        x = columns[agg.column] if agg.column is not None else None
        carried = [columns[column] for _, column, _ in agg.carry]
        out.update(_reduce(agg, agg.chunk, group, x, carried, n))
    return out


def combine(
    parts: list[dict[str, np.ndarray]],
    root: np.ndarray,
    nodes: int,
    aggregations: tuple[Aggregation, ...] = AGGREGATIONS,
) -> dict[str, np.ndarray]:
    """The combine step of every aggregation over the partials of all chunks.

    Parameters
    ----------
    parts : list of dict
        :func:`chunk_reduce` of each chunk, in chunk order.
    root : np.ndarray
        For each label of the concatenated partials, the node of the event it belongs to.
    nodes : int
        Number of nodes (the length of the result).

    Returns
    -------
    dict of np.ndarray
        Each statistic per node; nodes that are no event's root hold the fill values.

    Examples
    --------
    >>> a = chunk_reduce(pixel_columns(np.array([[1]]), np.array([[0.7]]), None, 0), 1)
    >>> b = chunk_reduce(pixel_columns(np.array([[1]]), np.array([[0.9]]), None, 1), 1)
    >>> combine([a, b], root=np.array([0, 0]), nodes=2)["ppos"].tolist()
    [1, 9223372036854775807]
    """
    root = np.asarray(root, np.int64)
    keys = {k for agg in aggregations for k in (agg.name, *(c[0] for c in agg.carry))}
    gathered = {k: np.concatenate([p[k] for p in parts]) if parts else np.zeros(0) for k in keys}
    out: dict[str, np.ndarray] = {}
    for agg in aggregations:
        carried = [gathered[name] for name, _, _ in agg.carry]
        out.update(_reduce(agg, agg.combine, root, gathered[agg.name], carried, nodes))
    return out
