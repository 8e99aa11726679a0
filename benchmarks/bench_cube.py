"""Cube throughput against the scipy recipe a user would otherwise write.

Run: ``python benchmarks/bench_cube.py [--days 7] [--repeat 5] [--quick]``

(a) one component-day at 100 Hz (IAR preset), one thread, best of ``--repeat``:
    ``scipy.signal.sosfiltfilt`` over the record + one batched ``scipy.signal.welch`` on
    its (864, 10000) blocks (what a competent user writes), the same with ``welch`` called
    per block, the FFT floor (one batched real FFT of the same Welch segments), and
    ``build_cube`` on a dask array and on an in-memory DataArray with a pandas time index
    (graph building and compute timed apart); times and ratios.
(b) N days read from a zarr waveform store (written once, not timed) through
    ``build_cube`` + ``write_cube`` on a LocalCluster with 1 and with 2 single-threaded
    workers, each run on as many cores as it has workers (``--no-pin``: on every core):
    days/s and parallel efficiency.
(c) peak resident memory per worker, for N days and for N/2 days (it must not grow with
    the record).

``--quick`` runs (a) only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import dask  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scipy.fft  # noqa: E402
import scipy.signal as ss  # noqa: E402
import xarray as xr  # noqa: E402
from benchmarks_util import cores, peak_rss, start_rss_sampler  # noqa: E402

import xspecseg as xs  # noqa: E402
from xspecseg.io import open_waveform, write_waveform  # noqa: E402
from xspecseg.testing import random_waveform  # noqa: E402

# The first build_cube in a fresh process: imports (numba for the kernels) included.
_FIRST_BUILD = """
import time
import numpy as np, pandas as pd, xarray as xr
t0 = time.perf_counter()
import xspecseg as xs
cfg = xs.CubeConfig.preset("iar")
n = cfg.day_samples
x = np.random.default_rng(0).standard_normal(n)
t = pd.date_range("2020-01-01", periods=n, freq="10ms")
wave = xr.DataArray(x, dims="time", coords={"time": t}, attrs={"sampling_rate": 100.0})
t1 = time.perf_counter()
xs.build_cube(wave, cfg)
print(time.perf_counter() - t1)
"""


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def best_wall_cpu(fn, repeat: int) -> tuple[float, float]:
    """Best wall-clock and best CPU time (this process) of ``repeat`` runs of ``fn``.

    The per-day rows run on one thread, so CPU time is what they cost even when other
    jobs share the cores and stretch the wall-clock time.
    """
    wall, cpu = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return min(wall), min(cpu)


def bench_component_day(repeat: int) -> dict[str, tuple[float, float]]:
    cfg = xs.CubeConfig.preset("iar")
    n, bs, bpd = cfg.day_samples, cfg.block_samples, cfg.blocks_per_day
    x = np.random.default_rng(0).standard_normal(n)
    wave = random_waveform("2020-01-01", hours=24, components=("H",), chunk_seconds=86400)
    wave = wave.copy(data=dask.array.from_array(x[None, :], chunks=(1, n)))
    # a user's record: in memory, with a pandas time index
    times = pd.date_range("2020-01-01", periods=n, freq=pd.Timedelta(seconds=1 / 100.0))
    mem = xr.DataArray(x, dims="time", coords={"time": times}, attrs={"sampling_rate": 100.0})
    sos = ss.butter(cfg.order, cfg.band, "band", fs=cfg.sampling_rate, output="sos")
    welch_kw = dict(
        fs=cfg.sampling_rate, window=cfg.window, nperseg=cfg.nperseg, noverlap=cfg.noverlap
    )
    step = cfg.nperseg - cfg.noverlap
    segments = np.lib.stride_tricks.sliding_window_view(x.reshape(bpd, bs), cfg.nperseg, axis=-1)
    segments = segments[:, ::step][:, : cfg.segments_per_block]
    seg32 = np.ascontiguousarray(segments, np.float32).reshape(-1, cfg.nperseg)
    seg64 = seg32.astype(np.float64)

    def scipy_batched():
        y = ss.sosfiltfilt(sos, x)
        return ss.welch(y.reshape(bpd, bs), axis=-1, **welch_kw)[1]

    def scipy_per_block():
        y = ss.sosfiltfilt(sos, x)
        out = np.empty((bpd, cfg.nfft // 2 + 1))
        for b in range(bpd):
            _, out[b] = ss.welch(y[b * bs : (b + 1) * bs], **welch_kw)
        return out

    def xspecseg_dask():
        with dask.config.set(scheduler="synchronous"):
            return xs.build_cube(wave, cfg).psd.values

    graphs = []

    def graph_in_memory():
        graphs.append(xs.build_cube(mem, cfg))

    def compute_in_memory():
        with dask.config.set(scheduler="synchronous"):
            return graphs.pop().psd.values

    xspecseg_dask()  # compile / warm caches
    r: dict[str, tuple[float, float]] = {}
    r["scipy_batched"] = best_wall_cpu(scipy_batched, repeat)
    r["scipy_per_block"] = best_wall_cpu(scipy_per_block, repeat)
    r["fft32"] = best_wall_cpu(lambda: scipy.fft.rfft(seg32, axis=-1, workers=1), repeat)
    r["fft64"] = best_wall_cpu(lambda: scipy.fft.rfft(seg64, axis=-1, workers=1), repeat)
    r["xspecseg"] = best_wall_cpu(xspecseg_dask, repeat)
    r["graph"] = best_wall_cpu(graph_in_memory, repeat)
    graphs.clear()
    computes = []
    for _ in range(repeat):
        graph_in_memory()
        computes.append(best_wall_cpu(compute_in_memory, 1))
    r["compute"] = (min(w for w, _ in computes), min(c for _, c in computes))
    r["graph_compute"] = (r["graph"][0] + r["compute"][0], r["graph"][1] + r["compute"][1])
    first = subprocess.run(
        [sys.executable, "-c", _FIRST_BUILD], capture_output=True, text=True, check=True
    )
    r["first_graph"] = (float(first.stdout.split()[-1]), float("nan"))
    ref = scipy_per_block()[:, cfg.frequency_slice()]
    got = xspecseg_dask()[0]
    r["max_rel_err"] = (float(np.max(np.abs(got - ref)) / np.max(np.abs(ref))), float("nan"))
    return r


def bench_generation(repeat: int) -> dict[str, float]:
    """Synthetic test beds must be cheap next to the cube they feed."""
    wave = xs.synth.ground_station(start="2013-01-01", days=1, seed=0, components=("H",))

    def generate():
        with dask.config.set(scheduler="synchronous"):
            return wave.values

    def cube_of_generated():
        with dask.config.set(scheduler="synchronous"):
            return xs.build_cube(wave).psd.values

    generate()
    t_gen = best_of(generate, repeat)
    t_both = best_of(cube_of_generated, repeat)
    return {"generate_s": t_gen, "cube_s": t_both - t_gen}


def prepare_input(days: int, tmp: str) -> str:
    """``days`` days of two float32 components in hourly chunks, written once to a zarr
    waveform store, so that (b) times reading, cube and writing, not generating."""
    path = os.path.join(tmp, f"wave-{days}.zarr")
    wave = random_waveform("2020-01-01", hours=24 * days, chunk_seconds=3600, dtype="float32")
    write_waveform(wave, path)
    return path


def bench_cluster(source: str, days: int, workers: int, tmp: str) -> dict[str, float]:
    from distributed import Client

    from xspecseg.cluster import local_cluster

    cfg = xs.CubeConfig.preset("iar")
    wave = open_waveform(source).isel(time=slice(0, days * cfg.day_samples))
    store = os.path.join(tmp, f"cube-{days}-{workers}.zarr")
    with (
        local_cluster(workers, memory_limit="4GiB") as cluster,
        Client(cluster) as client,
    ):
        # warm the workers (imports, numba cache) outside the timing
        warm = random_waveform("2019-01-01", hours=24, chunk_seconds=3600, dtype="float32")
        xs.write_cube(
            xs.build_cube(warm, cfg),
            os.path.join(tmp, f"warm-{workers}.zarr"),
            progress=False,
            client=client,
        )
        client.run(start_rss_sampler)
        t0 = time.perf_counter()
        xs.write_cube(xs.build_cube(wave, cfg), store, progress=False, client=client)
        elapsed = time.perf_counter() - t0
        peaks = client.run(peak_rss)
    shutil.rmtree(store, ignore_errors=True)
    return {
        "seconds": elapsed,
        "days_per_s": days / elapsed,
        "peak_rss_gib": max(peaks.values()) / 2**30,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="run (a) only")
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="let a run use every core, not as many as it has workers")  # fmt: skip
    args = parser.parse_args()

    a = bench_component_day(args.repeat)
    xs_cpu = a["xspecseg"][1]
    print(f"(a) one component-day, 100 Hz, IAR preset, one thread, best of {args.repeat}")
    cpu_name = xs.dsp._target_cpu()[0]
    print(f"(the filter runs {xs.dsp._LANES} lanes side by side, compiled for {cpu_name})")
    print("| recipe | wall (s) | CPU (s) | CPU / build_cube |")
    print("|---|---|---|---|")
    rows = [
        ("SciPy: `sosfiltfilt` + one batched `welch` on (864, 10000)", "scipy_batched"),
        ("SciPy: `sosfiltfilt` + `welch` per block (864 calls)", "scipy_per_block"),
        ("FFT floor: one batched float32 `rfft` of the 2592 Welch segments", "fft32"),
        ("the same FFT in float64", "fft64"),
        ("`xs.build_cube` on a dask array (compute)", "xspecseg"),
        ("`xs.build_cube` on an in-memory DataArray: graph", "graph"),
        ("`xs.build_cube` on an in-memory DataArray: compute", "compute"),
        ("`xs.build_cube` on an in-memory DataArray: graph + compute", "graph_compute"),
    ]
    for label, key in rows:
        wall, cpu = a[key]
        print(f"| {label} | {wall:.3f} | {cpu:.3f} | {cpu / xs_cpu:.2f} |")
    batched, per_block = a["scipy_batched"][1], a["scipy_per_block"][1]
    print(
        f"CPU time: build_cube is {batched / xs_cpu:.1f}x faster than the batched SciPy call "
        f"({batched / a['graph_compute'][1]:.1f}x from an in-memory DataArray, graph "
        f"included), {per_block / xs_cpu:.1f}x faster than the per-block loop, and "
        f"{xs_cpu / a['fft32'][1]:.1f}x the float32 FFT floor; max rel. difference from "
        f"SciPy {a['max_rel_err'][0]:.1e}"
    )
    print(
        f"first build_cube graph in a fresh process (imports included): {a['first_graph'][0]:.2f} s"
    )
    print()
    if args.quick:
        return

    g = bench_generation(args.repeat)
    print(
        f"synthetic ground station: {g['generate_s']:.2f} s to generate a component-day, "
        f"{g['cube_s']:.2f} s to build its cube"
    )
    print()

    with tempfile.TemporaryDirectory() as tmp:
        source = prepare_input(args.days, tmp)
        with cores(1 if args.pin else None):
            one = bench_cluster(source, args.days, 1, tmp)
        with cores(2 if args.pin else None):
            two = bench_cluster(source, args.days, 2, tmp)
            half = bench_cluster(source, max(1, args.days // 2), 2, tmp)
    eff = two["days_per_s"] / (2 * one["days_per_s"])
    print(
        f"(b) {args.days} days (2 components, 100 Hz) from a waveform store through "
        "build_cube + write_cube, LocalCluster"
    )
    print("| workers | time (s) | days/s | peak RSS per worker (GiB) |")
    print("|---|---|---|---|")
    print(f"| 1 | {one['seconds']:.1f} | {one['days_per_s']:.2f} | {one['peak_rss_gib']:.2f} |")
    print(f"| 2 | {two['seconds']:.1f} | {two['days_per_s']:.2f} | {two['peak_rss_gib']:.2f} |")
    print(f"parallel efficiency at 2 workers: {eff:.0%} (bar: 80 %)")
    print()
    print(
        f"(c) peak RSS per worker: {half['peak_rss_gib']:.2f} GiB for {max(1, args.days // 2)} "
        f"days, {two['peak_rss_gib']:.2f} GiB for {args.days} days (2 workers)"
    )


if __name__ == "__main__":
    main()
