"""Cube throughput against the scipy recipe a user would otherwise write.

Run: ``python benchmarks/bench_cube.py [--days 7] [--quick]``

(a) one component-day at 100 Hz, one thread each: ``build_cube`` (IAR preset) against
    ``scipy.signal.sosfiltfilt`` over the record + ``scipy.signal.welch`` over its 864
    blocks; times and ratio.
(b) N days through ``build_cube`` + ``write_cube`` on a LocalCluster with 1 and with 2
    single-threaded workers: days/s and parallel efficiency.
(c) peak resident memory per worker, for N days and for N/2 days (it must not grow with
    the record).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import dask  # noqa: E402
import numpy as np  # noqa: E402
import scipy.signal as ss  # noqa: E402
from benchmarks_util import peak_rss, start_rss_sampler  # noqa: E402

import xspecseg as xs  # noqa: E402
from xspecseg.testing import random_waveform  # noqa: E402


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_component_day(repeat: int) -> dict[str, float]:
    cfg = xs.CubeConfig.preset("iar")
    x = np.random.default_rng(0).standard_normal(cfg.day_samples)
    wave = random_waveform("2020-01-01", hours=24, components=("H",), chunk_seconds=86400)
    wave = wave.copy(data=dask.array.from_array(x[None, :], chunks=(1, cfg.day_samples)))
    sos = ss.butter(4, (0.5, 10.0), "band", fs=100.0, output="sos")

    def scipy_recipe():
        y = ss.sosfiltfilt(sos, x)
        out = np.empty((cfg.blocks_per_day, 4097 // 2 + 1))
        for b in range(cfg.blocks_per_day):
            _, out[b] = ss.welch(
                y[b * 10_000 : (b + 1) * 10_000],
                fs=100.0,
                window="hann",
                nperseg=4096,
                noverlap=2048,
            )
        return out

    def scipy_batched():
        y = ss.sosfiltfilt(sos, x)
        return ss.welch(
            y.reshape(cfg.blocks_per_day, 10_000),
            fs=100.0,
            window="hann",
            nperseg=4096,
            noverlap=2048,
            axis=-1,
        )[1]

    def xspecseg_cube():
        with dask.config.set(scheduler="synchronous"):
            return xs.build_cube(wave, cfg).psd.values

    xspecseg_cube()  # compile / warm caches
    t_scipy = best_of(scipy_recipe, repeat)
    t_batched = best_of(scipy_batched, repeat)
    t_xs = best_of(xspecseg_cube, repeat)
    ref = scipy_recipe()[:, cfg.frequency_slice()]
    got = xspecseg_cube()[0]
    err = float(np.max(np.abs(got - ref)) / np.max(np.abs(ref)))
    return {
        "scipy_s": t_scipy,
        "scipy_batched_s": t_batched,
        "xspecseg_s": t_xs,
        "ratio": t_scipy / t_xs,
        "ratio_batched": t_batched / t_xs,
        "max_rel_err": err,
    }


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


def bench_cluster(days: int, workers: int, tmp: str) -> dict[str, float]:
    from distributed import Client

    from xspecseg.cli import local_cluster

    cfg = xs.CubeConfig.preset("iar")
    wave = random_waveform("2020-01-01", hours=24 * days, chunk_seconds=3600, dtype="float32")
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
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    a = bench_component_day(args.repeat)
    print("(a) one component-day, 100 Hz, IAR preset, one thread")
    print("| recipe | time (s) |")
    print("|---|---|")
    print(f"| scipy sosfiltfilt + welch over 864 blocks | {a['scipy_s']:.3f} |")
    print(
        "| scipy sosfiltfilt + one batched welch call on (864, 10000) | "
        f"{a['scipy_batched_s']:.3f} |"
    )
    print(f"| xspecseg build_cube | {a['xspecseg_s']:.3f} |")
    print(
        f"ratio (scipy recipe / xspecseg): {a['ratio']:.1f}x; against the batched scipy "
        f"call: {a['ratio_batched']:.1f}x; max rel. difference {a['max_rel_err']:.1e}"
    )
    print()

    g = bench_generation(args.repeat)
    print(
        f"synthetic ground station: {g['generate_s']:.2f} s to generate a component-day, "
        f"{g['cube_s']:.2f} s to build its cube"
    )
    print()

    with tempfile.TemporaryDirectory() as tmp:
        one = bench_cluster(args.days, 1, tmp)
        two = bench_cluster(args.days, 2, tmp)
        half = bench_cluster(max(1, args.days // 2), 2, tmp)
    eff = two["days_per_s"] / (2 * one["days_per_s"])
    print(f"(b) {args.days} days (2 components, 100 Hz) build_cube + write_cube, LocalCluster")
    print("| workers | time (s) | days/s | peak RSS per worker (GiB) |")
    print("|---|---|---|---|")
    print(f"| 1 | {one['seconds']:.1f} | {one['days_per_s']:.2f} | {one['peak_rss_gib']:.2f} |")
    print(f"| 2 | {two['seconds']:.1f} | {two['days_per_s']:.2f} | {two['peak_rss_gib']:.2f} |")
    print(f"parallel efficiency at 2 workers: {eff:.0%}")
    print()
    print(
        f"(c) peak RSS per worker: {half['peak_rss_gib']:.2f} GiB for {max(1, args.days // 2)} "
        f"days, {two['peak_rss_gib']:.2f} GiB for {args.days} days (2 workers)"
    )


if __name__ == "__main__":
    main()
