"""Row-wise statistics of events: the row-mean log10 PSD and its :func:`impulsiveness`.

Each time-chunk sums log10 PSD per (label, row) (:func:`_row_log_sums`); the sums of the
labels forming one event are joined per row and the event's row means judged
(:func:`_event_impulsiveness`). A row lies in one chunk, so the result does not depend on
the chunking.

Examples
--------
>>> psd = 10.0 ** np.array([[0.0, 2.0], [1.0, 1.0], [0.0, 0.0]])
>>> lab = np.ones((3, 2), int)
>>> part = _row_log_sums(psd, lab, row0=0)
>>> part["rl_sum"].tolist(), part["rl_n"].tolist()
([2.0, 2.0, 0.0], [2, 2, 2])
>>> _event_impulsiveness([part], [np.array([0])], keep=np.array([0])).tolist()
[0.5]
"""

from __future__ import annotations

import numpy as np

__all__ = ["impulsiveness"]


def impulsiveness(rows: np.ndarray, row_mean_log_psd: np.ndarray) -> float:
    """Median absolute second time-difference of an event's row-mean log10 PSD (decades).

    A nucleus-shaped anomaly or an IAR brightens smoothly from row to row, so its row
    means follow a smooth curve and this is of the order of the estimation noise (~0.03
    decades for CSES rows); lightning whistlers arrive as single-row bursts, and a region
    drawn over a whistler storm jumps by tenths of a decade from row to row. Only runs
    of three consecutive rows count; NaN for events without one.

    Parameters
    ----------
    rows : np.ndarray
        The event's rows, increasing.
    row_mean_log_psd : np.ndarray
        The mean log10 PSD of the event's pixels in each of these rows.

    Returns
    -------
    float
        In decades; NaN without three consecutive rows.

    Examples
    --------
    >>> rows = np.arange(7)
    >>> round(impulsiveness(rows, 0.1 * rows), 6)  # a straight ramp is not impulsive
    0.0
    >>> impulsiveness(rows, np.array([0, 1, 0, 1, 0, 1, 0.0]))
    1.0
    """
    rows = np.asarray(rows)
    r = np.asarray(row_mean_log_psd, dtype=np.float64)
    if rows.size < 3:
        return float("nan")
    run = (rows[2:] - rows[1:-1] == 1) & (rows[1:-1] - rows[:-2] == 1)
    if not run.any():
        return float("nan")
    d2 = np.abs(r[1:-1] - 0.5 * (r[:-2] + r[2:]))[run]
    return float(np.median(d2))


def _row_log_sums(psd: np.ndarray, lab: np.ndarray, row0: int) -> dict[str, np.ndarray]:
    """Per (label, row) of one chunk: sum and count of log10 PSD over the label's pixels.

    ``lab`` holds the chunk's labels (0 outside events) on the grid of ``psd``, whose
    first row is row ``row0`` of the cube. Pixels whose PSD has no finite log are left out.
    """
    flat = lab.ravel()
    idx = np.flatnonzero(flat)
    with np.errstate(divide="ignore", invalid="ignore"):
        lg = np.log10(psd.ravel()[idx])
    ok = np.isfinite(lg)
    key = np.stack([flat[idx][ok], idx[ok] // lab.shape[1] + row0], axis=1)
    if not key.size:
        empty = np.zeros(0, np.int64)
        return {"rl_label": empty, "rl_row": empty, "rl_sum": np.zeros(0), "rl_n": empty}
    uniq, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.ravel()
    return {
        "rl_label": uniq[:, 0],
        "rl_row": uniq[:, 1],
        "rl_sum": np.bincount(inv, weights=lg[ok], minlength=len(uniq)),
        "rl_n": np.bincount(inv, minlength=len(uniq)),
    }


def _event_impulsiveness(
    parts: list[dict[str, np.ndarray]], node: list[np.ndarray], keep: np.ndarray
) -> np.ndarray:
    """:func:`impulsiveness` of the events ``keep`` (their root nodes).

    ``parts[i]`` is :func:`_row_log_sums` of chunk ``i``, whose label ``lb`` is node
    ``node[i][lb - 1]`` of the merged events.
    """
    ev = np.concatenate(
        [nodes[p["rl_label"] - 1] for p, nodes in zip(parts, node, strict=True)] or [[]]
    ).astype(np.int64)
    row = np.concatenate([p["rl_row"] for p in parts] or [[]]).astype(np.int64)
    total = np.concatenate([p["rl_sum"] for p in parts] or [[]])
    n = np.concatenate([p["rl_n"] for p in parts] or [[]])
    out = np.full(keep.size, np.nan)
    if not ev.size:
        return out
    # a row lies in one chunk, but merged labels of one chunk can share a row
    key = np.stack([ev, row], axis=1)
    uniq, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.ravel()
    mean = np.bincount(inv, weights=total, minlength=len(uniq)) / np.bincount(
        inv, weights=n, minlength=len(uniq)
    )
    starts = np.searchsorted(uniq[:, 0], keep, side="left")
    stops = np.searchsorted(uniq[:, 0], keep, side="right")
    for k, (a, b) in enumerate(zip(starts, stops, strict=True)):
        out[k] = impulsiveness(uniq[a:b, 1], mean[a:b])
    return out
