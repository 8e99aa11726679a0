"""Helpers shared by the benchmarks (peak resident memory of Dask workers, core pinning)."""

from __future__ import annotations

import contextlib
import os
import threading
import time


@contextlib.contextmanager
def cores(n: int | None):
    """Run the body, and every process it starts, on ``n`` of this process's cores.

    A run on one worker is otherwise not a run on one core: the client and scheduler in
    this process, a worker's I/O threads and the interpreter's own threads use the cores
    the worker leaves idle, and "parallel efficiency at 2 workers" then compares one
    worker on two cores with two workers on two cores. Child processes inherit the
    affinity (Linux), so a LocalCluster started inside the body runs on the same cores.
    ``None``, or ``n`` at least the cores available, leaves the affinity as it is.
    """
    have = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if n is None or not have or n >= len(have):
        yield len(have) or os.cpu_count()
        return
    os.sched_setaffinity(0, have[:n])
    try:
        yield n
    finally:
        os.sched_setaffinity(0, have)


def _rollup() -> dict[str, int]:
    """Resident (Rss), proportional (Pss: shared pages divided among the processes that
    map them) and private anonymous memory of this process, in bytes (Linux)."""
    out = {}
    with open("/proc/self/smaps_rollup") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss", "Anonymous"):
                out[key.lower()] = int(rest.split()[0]) * 1024
    return out


def _sample(full: bool) -> dict[str, int]:
    import psutil

    if full:
        try:
            return _rollup()
        except OSError:  # not Linux: resident memory only
            pass
    rss = psutil.Process().memory_info().rss
    return {"rss": rss, "pss": rss, "anonymous": rss} if full else {"rss": rss}


def start_rss_sampler(dask_worker=None) -> bool:
    """Start sampling this process's memory (run on each worker).

    The resident set (RSS) is read every 50 ms; the proportional set (PSS: a page that
    several processes map, such as a shared library every worker loads, counts once in
    total) and the private anonymous memory every 2 s, because the kernel walks the
    process's page tables to count them (7 ms for a process with torch and 200 MB of
    arrays: read every 50 ms, that alone took a seventh of a core). On a Dask worker
    (``client.run`` passes ``dask_worker``) also the number of task results it holds.
    """
    import builtins

    previous = getattr(builtins, "_xspecseg_rss", None)
    if previous is not None:  # one sampler per process: stop the one started before
        previous["run"] = False
    held = (lambda: len(dask_worker.data)) if dask_worker is not None else (lambda: 0)
    state = {"peak": {**_sample(True), "held": held()}, "run": True, "held": held}

    def loop():
        n = 0
        while state["run"]:
            n += 1
            now = {**_sample(n % 40 == 0), "held": held()}
            state["peak"] = {k: max(v, now.get(k, v)) for k, v in state["peak"].items()}
            time.sleep(0.05)

    threading.Thread(target=loop, daemon=True).start()
    builtins._xspecseg_rss = state  # survives between client.run calls in the worker
    return True


def reset_rss_peak() -> bool:
    """Start new peaks from the current memory (after :func:`start_rss_sampler`)."""
    import builtins

    state = getattr(builtins, "_xspecseg_rss", None)
    if state is not None:
        state["peak"] = {**_sample(True), "held": state["held"]()}
    return True


def python_objects() -> int:
    """Objects the garbage collector tracks in this process (after a collection)."""
    import gc

    gc.collect()
    return len(gc.get_objects())


def peak_rss() -> int:
    """Peak resident memory in bytes since :func:`start_rss_sampler` or the last reset."""
    import builtins

    return builtins._xspecseg_rss["peak"]["rss"]


def peak_memory() -> dict[str, int]:
    """Peaks of ``rss``, ``pss`` and ``anonymous`` memory in bytes (see
    :func:`start_rss_sampler`)."""
    import builtins

    return dict(builtins._xspecseg_rss["peak"])


def _register() -> None:
    # the workers cannot import this file: ship the functions by value
    import sys

    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])


_register()
