"""Where the work runs: an existing Dask scheduler, a ``LocalCluster``, or this process.

The command line's rule (:func:`choose`):

- ``--scheduler ADDRESS``: on that scheduler;
- ``--workers N`` with N > 1: a ``LocalCluster`` of N single-threaded worker processes
  (``--workers 1``: in this process, one task at a time);
- otherwise from the size of the job: up to :data:`SMALL_JOB_DAYS` days of data run in
  this process on Dask's threaded scheduler, a larger job on a ``LocalCluster`` with one
  single-threaded worker process per core; without the ``cluster`` extra (no
  ``distributed``) a larger job runs in this process too, and says so in the log.
  ``--scheduler`` and ``--workers N`` (N > 1) without it are an error naming the extra.

Starting a ``LocalCluster`` costs seconds (every worker process imports numpy, numba,
torch and xspecseg), which a job of a few days does not win back; a long job gains the
worker processes' isolation and memory limits. Both ways keep the stores' guarantees:
the writer lock is taken in the calling process, and every chunk is committed by the
task that wrote it.

Examples
--------
>>> from xspecseg.cluster import choose
>>> choose(None, None, days=3)
'threads'
>>> choose(None, 4, days=3)
'local-cluster'
>>> choose("tcp://10.0.0.1:8786", None, days=3)
'scheduler'
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from typing import Any, Literal

from dask.system import cpu_count

from ._optional import needs_extra

__all__ = [
    "SMALL_JOB_DAYS",
    "WORKER_CONFIG",
    "WORKER_MALLOC_ENV",
    "choose",
    "compute_on",
    "dask_client",
    "local_cluster",
    "progress",
    "worker_io_threads",
]

log = logging.getLogger(__name__)

#: Jobs of at most this many days of data run in this process when no scheduler and no
#: worker count is given: a ``LocalCluster`` takes longer to start than they take to run.
SMALL_JOB_DAYS = 7

# Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in workers. Setting any glibc malloc
# threshold switches off glibc's adaptive mmap threshold, so every buffer of a few hundred
# kB (torch convolutions, Welch segments) becomes an mmap/munmap pair: torch inference ran
# at half speed in workers. A fixed 32 MiB mmap threshold restores reuse of the heap, and a
# 256 MiB trim threshold still hands memory back to the system. Lower thresholds (1 MiB
# mmap, 16 MiB trim) keep less (a cube worker's peak PSS 0.58-0.63 instead of 0.88 GiB)
# but cost time: a month's cube took 23-24 s instead of 18-20 s and its inference 3.5-3.7 s
# instead of 1.9-2.1 s (benchmarks/bench_year.py, two runs of each, commit 137b06d).
# A worker's task threads (the network lane and the I/O thread) each get a malloc arena of
# their own by default, up to eight per core, and memory freed in one arena serves only
# the threads that use it: at most two arenas cut a CSES-01 inference worker's peak PSS
# from 1.06-1.07 to 1.00-1.01 GiB and a catalogue worker's from 0.34-0.35 to 0.27-0.28 GiB
# in the same time (bench_year.py --cses --days 8, two workers, five alternating runs
# with one, two or the default number of arenas, commit ed18756); a ground cube worker's
# peak PSS fell from 0.67-0.94 to 0.55-0.71 GiB (bench_year.py --days 14, two runs each).
#: glibc malloc settings given to Dask workers (the reasons are in the comments above).
WORKER_MALLOC_ENV = {
    "MALLOC_TRIM_THRESHOLD_": "268435456",
    "MALLOC_MMAP_THRESHOLD_": "33554432",
    "MALLOC_ARENA_MAX": "2",
}

# Dask's worker samples its own call stack every 10 ms for the dashboard's profile and
# keeps a tree of dicts per second for the last 1000 seconds, plus one per task prefix:
# an inference worker's objects grew by ~115 dicts per CSES half-orbit, its peak PSS from
# 1.14-1.18 GiB for a month to 1.23-1.25 GiB for four (commits ea3d91b, da3c0fb); the sampling
# takes CPU. A LocalCluster of ours has no dashboard to show it.
#: Dask config given to the workers of :func:`local_cluster` (the reason is above).
WORKER_CONFIG = {"distributed.worker.profile.enabled": False}

#: the Dask config key of :func:`worker_io_threads`, and the environment variable that sets it
IO_THREADS_KEY = "xspecseg.io-threads"
IO_THREADS_ENV = "DASK_XSPECSEG__IO_THREADS"

Where = Literal["scheduler", "local-cluster", "threads", "synchronous"]


def worker_io_threads() -> int:
    """Threads of each worker of this process's kind kept for reading and writing.

    The Dask config value ``xspecseg.io-threads`` (environment variable
    ``DASK_XSPECSEG__IO_THREADS``), 0 when unset. A worker with ``N`` threads of which
    ``k`` are I/O threads runs at most ``N - k`` (at least one) network passes at a time;
    its other threads read, sum and write chunks meanwhile (see
    :func:`xspecseg.predict`). :func:`local_cluster` sets it in the workers it starts
    with ``io_threads=k``; on a cluster of your own, set it in the workers' environment.

    Examples
    --------
    >>> import dask
    >>> with dask.config.set({"xspecseg.io-threads": 1}):
    ...     worker_io_threads()
    1
    >>> worker_io_threads()
    0
    """
    import dask

    value = dask.config.get(IO_THREADS_KEY, 0) or 0
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{IO_THREADS_KEY} must be a whole number >= 0, got {value!r}")
    return value


def local_cluster(n_workers: int, *, io_threads: int = 0, **kwargs: Any):
    """A ``LocalCluster`` of worker processes with tuned malloc settings: one compute
    thread each, and ``io_threads`` more for inference's reading and writing.

    Parameters
    ----------
    n_workers : int
        Worker processes.
    io_threads : int
        Threads each worker has besides its compute thread, for reading and writing
        chunks while the network runs (inference; see :func:`worker_io_threads`). Default 0:
        single-threaded workers, which is right for building cubes (every thread computes
        there, and each holds a chunk in memory).
    **kwargs
        Passed to ``distributed.LocalCluster`` (e.g. ``memory_limit="4GiB"``).

    Returns
    -------
    distributed.LocalCluster
        Close it (or use it as a context manager) when done.

    Examples
    --------
    >>> import xspecseg as xs
    >>> from distributed import Client
    >>> from xspecseg.testing import random_waveform
    >>> cube = xs.build_cube(random_waveform(hours=1))
    >>> # not run in the test suite: starting worker processes takes longer than the job
    >>> with local_cluster(2) as cluster, Client(cluster) as client:  # doctest: +SKIP
    ...     xs.write_cube(cube, "site.zarr", client=client)
    """
    import dask

    with needs_extra("cluster"):
        from distributed import LocalCluster

    if int(io_threads) != io_threads or io_threads < 0:
        raise ValueError(f"io_threads must be a whole number >= 0, got {io_threads!r}")
    env = {
        **dask.config.get("distributed.nanny.pre-spawn-environ", {}),
        **WORKER_MALLOC_ENV,
        IO_THREADS_ENV: str(int(io_threads)),
    }
    with (
        dask.config.set({"distributed.nanny.pre-spawn-environ": env, **WORKER_CONFIG}),
        _environ_for_nannies(env),
    ):
        return LocalCluster(n_workers=n_workers, threads_per_worker=1 + int(io_threads),
                            processes=True, dashboard_address=None, **kwargs)  # fmt: skip


@contextlib.contextmanager
def _environ_for_nannies(env: dict[str, Any]) -> Iterator[None]:
    """``env`` in this process's environment while nannies are made, then as before.

    A nanny takes ``pre-spawn-environ`` values from the environment before the config, and
    every nanny writes its values into this process's environment when it spawns: after
    any other ``LocalCluster``, ours would inherit its settings (Dask's malloc trim
    threshold, another cluster's I/O threads) instead of its own.
    """
    before = {k: os.environ.get(k) for k in env}
    os.environ.update({k: str(v) for k, v in env.items() if v is not None})
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def dask_client(
    scheduler: str | None, workers: int | None, *, io_threads: int = 0
) -> Iterator[Any]:
    """A distributed ``Client`` on ``scheduler``, or on a ``LocalCluster`` sized to this machine.

    Always a distributed client, whatever the size of the job (for code that submits
    futures itself); :func:`compute_on` is the command line's choice.

    Parameters
    ----------
    scheduler : str or None
        Address of a running scheduler (``tcp://host:8786``); None starts a
        ``LocalCluster``.
    workers : int or None
        Worker processes of the ``LocalCluster`` (default: one per core this process
        may use, counting its CPU affinity and cgroup quota: ``dask.system.cpu_count()``).
    io_threads : int
        I/O threads per worker of the ``LocalCluster`` (see :func:`local_cluster`).

    Examples
    --------
    >>> # not run in the test suite: it starts worker processes (process_day: your function)
    >>> with dask_client(None, 2) as client:  # doctest: +SKIP
    ...     futures = client.map(process_day, ["2013-01-20", "2013-01-21"])
    """
    with needs_extra("cluster"):
        from distributed import Client

    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    n = workers or cpu_count()
    with (
        local_cluster(n, io_threads=io_threads) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _have_distributed() -> bool:
    """Whether ``distributed`` (the ``cluster`` extra) imports."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


def choose(scheduler: str | None, workers: int | None, days: float) -> Where:
    """Where a job of ``days`` days of data runs (the command line's default rule).

    Parameters
    ----------
    scheduler : str or None
        ``--scheduler``: a running scheduler's address wins.
    workers : int or None
        ``--workers``: more than one starts a ``LocalCluster``; exactly one runs the job
        in this process, one task at a time.
    days : float
        Days of data the job covers; more than :data:`SMALL_JOB_DAYS` start a
        ``LocalCluster`` of one worker process per core (when ``distributed`` is
        installed: else they run in this process too), fewer run on Dask's threaded
        scheduler in this process.

    Returns
    -------
    {"scheduler", "local-cluster", "threads", "synchronous"}

    Examples
    --------
    >>> choose(None, None, days=30)
    'local-cluster'
    >>> choose(None, 1, days=30)
    'synchronous'
    """
    if scheduler:
        return "scheduler"
    if workers is not None:
        if workers < 1:
            raise ValueError(f"--workers must be at least 1, got {workers}")
        return "local-cluster" if workers > 1 else "synchronous"
    if days <= SMALL_JOB_DAYS:
        return "threads"
    # a default, not a request: without the cluster extra the job still runs, here; an
    # explicit --scheduler or --workers N fails instead, naming the extra
    return "local-cluster" if _have_distributed() else "threads"


@contextlib.contextmanager
def compute_on(
    scheduler: str | None = None,
    workers: int | None = None,
    *,
    days: float = 0.0,
    io_threads: int = 0,
) -> Iterator[Any]:
    """Run the block where :func:`choose` says; yield the distributed client or None.

    With None, Dask's threaded (or, for ``workers=1``, synchronous) scheduler is the
    default inside the block, and ``write_cube`` / ``write_probability`` given
    ``client=None`` compute in this process.

    Parameters
    ----------
    scheduler, workers, days
        As for :func:`choose`.
    io_threads : int
        I/O threads per worker when a ``LocalCluster`` is started (see
        :func:`local_cluster`; inference gives its workers one).

    Examples
    --------
    >>> with compute_on(None, None, days=1) as client:
    ...     client is None
    True
    """
    import dask

    where = choose(scheduler, workers, days)
    if where in ("scheduler", "local-cluster"):
        # asked for explicitly without the cluster extra: say so before announcing a cluster
        with needs_extra("cluster"):
            import distributed  # noqa: F401
    if where == "scheduler":
        log.info("running on the Dask scheduler at %s", scheduler)
        with dask_client(scheduler, None) as client:
            yield client
    elif where == "local-cluster":
        n = workers or cpu_count()
        why = "--workers" if workers else f"{days:g} day(s) > {SMALL_JOB_DAYS}"
        log.info("starting a LocalCluster of %d worker process(es) (%s)", n, why)
        with dask_client(None, n, io_threads=io_threads) as client:
            yield client
    else:
        if where == "synchronous":
            why = "--workers 1"
        elif days > SMALL_JOB_DAYS:
            why = (
                f"{days:g} day(s) > {SMALL_JOB_DAYS}, but no LocalCluster without the "
                "'cluster' extra: pip install 'xspecseg[cluster]' to run such jobs on "
                "worker processes"
            )
        else:
            why = f"{days:g} day(s) <= {SMALL_JOB_DAYS}"
        log.info(
            "running in this process on Dask's %s scheduler (%s)",
            "threaded" if where == "threads" else where,
            why,
        )
        with dask.config.set(scheduler=where):
            yield None


@contextlib.contextmanager
def progress(client: Any, *, desc: str, disable: bool = False) -> Iterator[None]:
    """A progress bar of the Dask work computed inside the block.

    In this process (``client`` None) the bar counts every task of the graph as it
    finishes. On a distributed client it counts the tasks of the client's graphs on the
    scheduler, so it moves although a write (``to_zarr``) hands the client one result.

    Parameters
    ----------
    client : distributed.Client or None
        The client the block computes on, or None for Dask's local schedulers.
    desc : str
        The bar's label.
    disable : bool
        Show no bar.

    Examples
    --------
    >>> import dask.array as da
    >>> with progress(None, desc="sum", disable=True):
    ...     int(da.ones(4, chunks=2).sum().compute())
    4
    """
    if disable:
        yield
        return
    if client is None:
        from tqdm.dask import TqdmCallback

        with TqdmCallback(desc=desc):
            yield
        return
    from tqdm.auto import tqdm

    def pending(dask_scheduler, client_id):
        # runs on the scheduler: defined here, so it is pickled by value and the scheduler
        # needs no xspecseg. The tasks the client's wanted keys depend on that are not
        # done yet, and how many tasks are still known (done ones are forgotten).
        state = dask_scheduler.clients.get(client_id)
        stack = list(state.wants_what) if state is not None else []
        known, left = set(), 0
        while stack:
            ts = stack.pop()
            if ts.key in known:
                continue
            known.add(ts.key)
            left += ts.state in ("waiting", "queued", "processing", "no-worker")
            stack.extend(ts.dependencies)
        return left, len(known)

    stop = threading.Event()

    def poll(bar) -> None:
        try:
            left, known = client.run_on_scheduler(pending, client_id=client.id)
        except Exception:  # a scheduler that refuses or fails: the bar just does not move
            return
        bar.total = max(bar.total or 0, known)
        bar.n = bar.total - left
        bar.refresh()

    def loop(bar) -> None:
        while not stop.wait(0.5):
            poll(bar)

    with tqdm(total=0, desc=desc, unit="task") as bar:
        thread = threading.Thread(target=loop, args=(bar,), daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
        poll(bar)
        bar.n = bar.total  # done: tasks finished since the last look were counted before
        bar.refresh()
