"""Helpers shared by the benchmarks (peak resident memory of Dask workers)."""

from __future__ import annotations

import threading
import time


def start_rss_sampler() -> bool:
    """Start sampling this process's resident memory every 50 ms (run on each worker)."""
    import builtins

    import psutil

    proc = psutil.Process()
    state = {"peak": proc.memory_info().rss, "run": True}

    def loop():
        while state["run"]:
            state["peak"] = max(state["peak"], proc.memory_info().rss)
            time.sleep(0.05)

    threading.Thread(target=loop, daemon=True).start()
    builtins._xspecseg_rss = state  # survives between client.run calls in the worker
    return True


def reset_rss_peak() -> bool:
    """Start a new peak: the current resident memory (after :func:`start_rss_sampler`)."""
    import builtins

    import psutil

    state = getattr(builtins, "_xspecseg_rss", None)
    if state is not None:
        state["peak"] = psutil.Process().memory_info().rss
    return True


def peak_rss() -> int:
    """Peak resident memory in bytes since :func:`start_rss_sampler`."""
    import builtins

    return builtins._xspecseg_rss["peak"]


def _register() -> None:
    # the workers cannot import this file: ship the functions by value
    import sys

    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])


_register()
