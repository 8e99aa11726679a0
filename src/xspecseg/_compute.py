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
    computed in place; an explicit ``scheduler=`` is kept. On a distributed client the
    results are fetched as their tasks finish (:func:`gather_each`), so that a worker
    does not hold the results of a whole record until the last task is done.

    Examples
    --------
    >>> import dask.array as da
    >>> compute(da.ones(3).sum())
    (np.float64(3.0),)
    """
    if "scheduler" not in kwargs and in_worker():
        kwargs["scheduler"] = "synchronous"
    client = _distributed_client(kwargs.get("scheduler"), objs)
    # dask.compute also computes collections inside lists and dicts; gather_each does not
    nested = any(isinstance(o, list | tuple | set | dict) for o in objs)
    if client is None or nested or set(kwargs) - {"scheduler", "optimize_graph"}:
        return dask.compute(*objs, **kwargs)
    return tuple(gather_each(objs, client, optimize_graph=kwargs.get("optimize_graph", True)))


def _distributed_client(scheduler: Any, objs: Sequence[Any]) -> Any | None:
    """The ``distributed.Client`` that ``dask.compute(*objs, scheduler=scheduler)`` would
    use, or None for any other scheduler."""
    try:
        from distributed import Client
    except ImportError:
        return None
    collections = [o for o in objs if dask.is_dask_collection(o)]
    get = dask.base.get_scheduler(scheduler=scheduler, collections=collections or None)
    if isinstance(get, Client):
        return get
    owner = getattr(get, "__self__", None)
    return owner if isinstance(owner, Client) else None


def gather_each(
    objs: Sequence[Any],
    client: Any,
    *,
    optimize_graph: bool = True,
    on_result: Callable[[], None] | None = None,
) -> list[Any]:
    """The computed ``objs`` (Dask collections or plain values), in order, each result
    fetched from the cluster as soon as its task finishes and released there at once.

    ``dask.compute`` on a distributed client (and a list of futures kept until the end)
    leaves every result in its worker's memory until the last task is done: a worker's
    memory then grows with the record (the partial statistics of 30 days of CSES
    half-orbits: 26-28 MB per worker by Dask's count). Here a worker holds only the
    results not yet fetched. ``on_result()`` is called after each one (a progress bar).

    Examples
    --------
    >>> import dask
    >>> from distributed import Client
    >>> with Client(processes=False, n_workers=1, dashboard_address=None) as client:
    ...     gather_each([dask.delayed(abs)(-2), 3], client)
    [2, 3]
    """
    from distributed import as_completed

    out: list[Any] = list(objs)
    where = [i for i, o in enumerate(objs) if dask.is_dask_collection(o)]
    if not where:
        return out
    futures = client.compute([objs[i] for i in where], optimize_graph=optimize_graph)
    index: dict[Any, list[int]] = {}
    for f, i in zip(futures, where, strict=True):
        index.setdefault(f.key, []).append(i)
    # as_completed drops each future once it is yielded; holding none here lets the
    # scheduler release each result as soon as it has been fetched
    pending = as_completed(futures, with_results=True)
    del futures
    for future, result in pending:
        for i in index.pop(future.key, ()):
            out[i] = result
        del future
        if on_result is not None:
            on_result()
    return out


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
