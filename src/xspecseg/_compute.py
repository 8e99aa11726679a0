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


def run_each(
    tasks: Sequence[Delayed], client: Any, *, on_done: Callable[[int], None] | None = None
) -> None:
    """Run ``tasks`` (Delayed objects computed for their side effects, such as writing a
    chunk) on ``client``; ``on_done(i)`` after each, ``i`` its place in ``tasks``. The
    first error is raised.

    Unlike :func:`gather_each`, no result travels back: each fetch is a round trip that
    the worker's event loop and the scheduler pay for (a millisecond or two per chunk on
    one core). The graph goes through :func:`fuse_private_inputs` first.

    Examples
    --------
    >>> import dask
    >>> from distributed import Client
    >>> with Client(processes=False, n_workers=1, dashboard_address=None) as client:
    ...     run_each([dask.delayed(abs)(-2)], client)
    """
    from distributed import as_completed

    if not tasks:
        return
    futures = client.compute(fused_tasks(tasks), optimize_graph=False)
    place = {f.key: i for i, f in enumerate(futures)}
    # as_completed drops each future once it is yielded, so the scheduler forgets it
    pending = as_completed(futures)
    del futures
    for future in pending:
        if future.status != "finished":
            future.result()  # raises the task's error; the others are released with it
        i = place[future.key]
        del future
        if on_done is not None:
            on_done(i)


def fuse_private_inputs(
    dsk: Mapping[Hashable, Any], keys: Sequence[Hashable], *, deep: bool = False
) -> dict:
    """``dsk`` with each task of ``keys`` computing its private inputs itself.

    An input is private when that task is its only dependent, it is not in ``keys`` and
    each of its own inputs is shared (has several dependents) or it has none: the zarr
    getters and the coordinates of a chunk join the task that sums them, the join of an
    output chunk the task that writes it. Only the tasks of ``keys`` absorb, one level
    deep, so a fused task holds no more at once than before and runs where its own work
    ran (an I/O task stays off the network lane). ``deep=True`` absorbs every task whose
    only dependent is, through other such tasks, one of ``keys``: the whole chain that
    reads a chunk (getters, the slices of a selection, the sum), where all is reading;
    the fused task runs it in dask's order and drops each result once it is used. On a
    distributed cluster each task costs the scheduler and the worker CPU: inference to a
    store had 6.5 tasks a night, on which the worker's event loop and the client holding
    the scheduler spent about 28 ms a night of one core, where the network alone took
    47–56 in the plain loop.

    Examples
    --------
    >>> from dask._task_spec import Task, TaskRef, DataNode
    >>> g = {"a": DataNode("a", 1), "b": Task("b", abs, -2),
    ...      "c": Task("c", max, TaskRef("a"), TaskRef("b"))}
    >>> list(fuse_private_inputs(g, ["c"]))
    ['c']
    >>> dask.get(fuse_private_inputs(g, ["c"]), "c")
    2
    """
    from dask._task_spec import GraphNode, Task, convert_legacy_graph

    graph: dict[Hashable, GraphNode] = convert_legacy_graph(dict(dsk))
    wanted = set(keys)
    deps = {k: {d for d in node.dependencies if d in graph} for k, node in graph.items()}
    users: dict[Hashable, int] = dict.fromkeys(graph, 0)
    for ds in deps.values():
        for d in ds:
            users[d] += 1

    def private(k: Hashable) -> bool:
        return (
            users[k] == 1
            and k not in wanted
            and not graph[k].block_fusion
            and all(users[d] > 1 for d in deps[k])
        )

    def only_used_by(k: Hashable) -> list[Hashable]:
        """The tasks whose results reach nothing but ``k``, through each other."""
        found: list[Hashable] = []
        todo = [k]
        while todo:
            for d in deps[todo.pop()]:
                if users[d] == 1 and d not in wanted and not graph[d].block_fusion:
                    found.append(d)
                    todo.append(d)
        return found

    if deep:
        inner = {k: only_used_by(k) for k in wanted if k in graph}
    else:
        inner = {k: [d for d in deps[k] if private(d)] for k in wanted if k in graph}
    absorbed = {d for ds in inner.values() for d in ds}
    out = {k: node for k, node in graph.items() if k not in absorbed}
    for k, ds in inner.items():
        if ds:
            out[k] = Task.fuse(*(graph[d] for d in ds), graph[k], key=k)
    return out


def fused_tasks(tasks: Sequence[Delayed]) -> list[Delayed]:
    """``tasks`` (Delayed objects) with their optimised graph passed through
    :func:`fuse_private_inputs`; compute them with ``optimize_graph=False``."""
    if not tasks:
        return []
    keys = [t.key for t in tasks]
    graphs = {id(t.dask): t.dask for t in tasks}
    merged = HighLevelGraph.merge(*graphs.values())
    fused = fuse_private_inputs(tasks[0].__dask_optimize__(merged, keys), keys)
    name = f"fused-{dask.base.tokenize(*keys)}"
    graph = HighLevelGraph({name: fused}, {name: set()})
    return [Delayed(k, graph, layer=name) for k in keys]


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
