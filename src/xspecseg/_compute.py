"""``dask.compute`` for library code that may itself run inside a Dask task."""

from __future__ import annotations

from typing import Any

import dask


def in_worker() -> bool:
    """Whether the caller runs inside a ``dask.distributed`` worker task."""
    try:
        from distributed import get_worker
    except ImportError:
        return False
    try:
        get_worker()
    except ValueError:
        return False
    return True


def compute(*objs: Any, **kwargs: Any) -> tuple[Any, ...]:
    """``dask.compute``, kept inside the calling task when that task runs on a worker.

    Called in a worker without a ``scheduler``, ``dask.compute`` hands the graph to the
    distributed scheduler: the task's whole input travels back over the network as a
    new graph (a day of CSES half-orbits: ~120 MB) while the task waits. A library
    function called from a user's per-day task is that task's own work, so it is
    computed in place; an explicit ``scheduler=`` is kept.

    Examples
    --------
    >>> import dask.array as da
    >>> compute(da.ones(3).sum())
    (np.float64(3.0),)
    """
    if "scheduler" not in kwargs and in_worker():
        kwargs["scheduler"] = "synchronous"
    return dask.compute(*objs, **kwargs)
