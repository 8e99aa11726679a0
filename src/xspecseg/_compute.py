"""``dask.compute`` for library code that may itself run inside a Dask task."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import dask
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph


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


def tasks_over(
    name: str, calls: Mapping[Hashable, tuple[Callable[..., Any], Sequence[Any]]]
) -> dict[Hashable, Delayed]:
    """One ``Delayed`` per call ``func(*args)``, written out as one graph layer.

    ``args`` are ``Delayed`` objects (blocks from ``Array.to_delayed()``, or other calls of
    the same layer named by their key in ``calls``); everything else a task needs is bound
    into ``func`` (``functools.partial``). ``dask.delayed(func)(block)`` per chunk would do
    the same, but each such call optimises (culls) the whole graph its arguments share,
    so a record of ``n`` chunks costs ``n`` passes over a graph of ``n`` blocks: a year
    of CSES half-orbits spent minutes on the client before the first task ran. Here the
    graph is built once.

    Examples
    --------
    >>> import dask.array as da, functools, operator
    >>> blocks = da.arange(6, chunks=2).to_delayed()
    >>> out = tasks_over("twice", {i: (functools.partial(operator.mul, 2), [b])
    ...                            for i, b in enumerate(blocks)})
    >>> [d.compute().tolist() for d in out.values()]
    [[0, 2], [4, 6], [8, 10]]
    """
    keys = {k: (name, i) for i, k in enumerate(calls)}
    deps: dict[int, Delayed] = {}
    dsk: dict = {}
    for k, (func, args) in calls.items():
        refs = []
        for a in args:
            if isinstance(a, Delayed):
                deps.setdefault(id(a.dask), a)
                refs.append(a.key)
            else:
                refs.append(keys[a])
        dsk[keys[k]] = (func, *refs)
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=list(deps.values()))
    return {k: Delayed(keys[k], graph, layer=name) for k in calls}
