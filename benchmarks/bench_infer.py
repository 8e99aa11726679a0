"""Inference throughput: ``xs.predict`` against a plain PyTorch loop, in one run.

Run: ``python benchmarks/bench_infer.py [--days 31] [--model iar-default] [--repeat 3]
[--io-threads 1]``

The baseline is the loop a competent user would write with the public API alone: the
summed PSD already in memory, one model loaded once, its card's representation
(:mod:`xspecseg.contract`) applied to each night, nights pushed through the network in
batches under ``torch.inference_mode`` with as many torch threads as xspecseg has workers.
A second baseline runs the same loop with the I/O the store path does: it reads the
summed PSD from the cube store with xarray and writes the probabilities of the model's
band to a zarr store with ``to_zarr`` (inside its timing; the probabilities in memory
until then, which a month allows). xspecseg reads the cube store, sums H+D, cuts the nights, runs the network on a
LocalCluster (1 or 2 single-threaded workers) and either computes the probabilities into
memory or writes the probability store; each worker has ``--io-threads`` threads besides
its network lane (default 1, as ``xspecseg predict`` starts them), which read, sum and
write chunks while the network runs. Both run on as many cores as there are workers
(this process and the cluster pinned; ``--no-pin`` lets them use every core), so that
the one-worker figures are one core's. Each figure is the best of ``--repeat`` runs; the
loops and xspecseg take turns (loop, loop with I/O, to memory, to store, loop, ...) so
that a change in the load of a shared machine reaches all.

Printed: nights/s of the loop (and of its network alone), of the loop with I/O, of
xspecseg to memory and to a store, the ratios xspecseg / loop at equal cores (and to a
store / loop with I/O) of the best runs and, taken within each round, their median and
range (a shared machine's speed drifts between rounds), the CPU time per night
(xspecseg: client, scheduler and workers together) and the peak memory per worker.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import dask  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import xarray as xr  # noqa: E402
from benchmarks_util import cores, peak_rss, start_rss_sampler  # noqa: E402

import xspecseg as xs  # noqa: E402
from xspecseg.contract import ModelCard  # noqa: E402
from xspecseg.models.checkpoint import read_card  # noqa: E402


def _model_ref(name: str, root: Path) -> str:
    try:
        read_card(name)
        return name
    except FileNotFoundError:
        from xspecseg.models import get_model, save

        path = root / "bench-model"
        config = {"night_window": ["18:00", "06:00"], "band": [0.0, 6.0], "threshold": 0.5}
        save(get_model("unet", base_channels=8), path, config=config)
        print(f"(no shipped model {name!r}: timing an untrained U-net, base_channels=8)")
        return str(path)


def _band(psd: xr.DataArray, card: ModelCard) -> xr.DataArray:
    """The model's frequency band of ``psd``, as a user selects it by coordinate."""
    if card.band is None:
        return psd
    return psd.sel(frequency=slice(card.band[0] - 1e-9, card.band[1] + 1e-9))


def _cpu_seconds() -> float:
    """CPU seconds of this process and its children so far (user + system)."""
    import psutil

    t = psutil.Process().cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def torch_loop(
    psd: xr.DataArray,
    model_ref: str,
    threads: int,
    batch: int,
    io: tuple[Path, Path] | None = None,
) -> tuple[float, float, float, int]:
    """(seconds in all, seconds in the network, CPU seconds, nights) of the plain loop.

    ``io=(cube, out)``: the loop also reads the summed PSD from the cube store (inside the
    timing) and writes the probabilities of its band to the zarr store ``out`` with
    ``to_zarr``, as a user who keeps the result does; ``psd`` then only gives the grid.
    """
    card = read_card(model_ref)
    model = xs.models.load(model_ref, device="cpu").eval()
    spans = card.image_spans(psd)
    torch.set_num_threads(threads)
    t_net = 0.0
    c0, t0 = _cpu_seconds(), time.perf_counter()
    if io is not None:
        psd = xs.select_component(xs.open_cube(io[0]), "H+D")
    band = _band(psd, card)
    # read with dask's local threads, not through the Client that xspecseg's runs open
    with dask.config.set(scheduler="threads"):
        values = band.values
    prob = np.zeros(values.shape, np.float32)
    with torch.inference_mode():
        for k in range(0, len(spans), batch):
            x = np.stack([card.representation(values[s:e]) for s, e in spans[k : k + batch]])
            t1 = time.perf_counter()
            logits = model(torch.from_numpy(x[:, None]))
            out = torch.sigmoid(logits[:, 0]).numpy()
            t_net += time.perf_counter() - t1
            for (s, e), p in zip(spans[k : k + batch], out, strict=True):
                prob[s:e] = p[: e - s]
    if io is not None:
        shutil.rmtree(io[1], ignore_errors=True)
        xr.DataArray(prob, coords=band.coords, name="probability").to_zarr(io[1])
    return time.perf_counter() - t0, t_net, _cpu_seconds() - c0, len(spans)


def xspecseg_run(
    cube_path: Path,
    model_ref: str,
    workers: int,
    out: Path,
    batch: int,
    repeat: int,
    loops: tuple[Callable[[], tuple[float, float, float, int]], ...],
    io_threads: int,
) -> tuple[float, float, float, float, list[tuple[float, float, float, int]], list[tuple]]:
    """Seconds to memory and to a store, best of ``repeat``; CPU seconds of the best run
    to a store (client, scheduler and workers); peak GiB per worker; the best run of each
    of ``loops`` made between them (the loops and xspecseg take turns, so that all see
    the same load on a shared machine); and each round's seconds (each loop's, to memory,
    to store), for ratios within a round."""
    from distributed import Client

    from xspecseg.cluster import local_cluster

    with local_cluster(workers, io_threads=io_threads) as cluster, Client(cluster) as client:
        psd = xs.select_component(xs.open_cube(cube_path), "H+D")
        # warm the workers: imports, model cache
        xs.predict(psd.isel(time=slice(0, 2 * 864)), model_ref, batch_size=batch).compute()
        client.run(start_rss_sampler)
        to_memory = to_store = cpu = float("inf")

        # a LocalCluster's scheduler runs in this process: count it once
        separate = client.run_on_scheduler(os.getpid) != os.getpid()

        def cluster_cpu() -> float:
            used = sum(client.run(_cpu_seconds).values())
            if separate:
                used += client.run_on_scheduler(_cpu_seconds)
            return _cpu_seconds() + used

        best: list[list] = [[] for _ in loops]
        rounds = []
        for _ in range(repeat):
            for runs, loop in zip(best, loops, strict=True):
                runs.append(loop())
            t0 = time.perf_counter()
            xs.predict(psd, model_ref, batch_size=batch, threads=1).compute()
            memory = time.perf_counter() - t0
            to_memory = min(to_memory, memory)
            shutil.rmtree(out, ignore_errors=True)
            c0, t0 = cluster_cpu(), time.perf_counter()
            prob = xs.predict(psd, model_ref, batch_size=batch, threads=1)
            xs.write_probability(prob, out, progress=False, client=client)
            elapsed, used = time.perf_counter() - t0, cluster_cpu() - c0
            if elapsed < to_store:
                to_store, cpu = elapsed, used
            rounds.append((*(runs[-1][0] for runs in best), memory, elapsed))
        peaks = client.run(peak_rss)
    return (to_memory, to_store, cpu, max(peaks.values()) / 2**30, [min(r) for r in best],
            rounds)  # fmt: skip


def graph_tasks(cube_path: Path, model_ref: str, batch: int) -> tuple[int, int]:
    """Tasks of the graph ``predict`` hands the scheduler (optimised, as a compute sends
    it): reading and summing the cube alone, and the whole prediction."""

    def count(arr) -> int:
        return len(dict(arr.__dask_optimize__(arr.__dask_graph__(), arr.__dask_keys__())))

    psd = xs.select_component(xs.open_cube(cube_path), "H+D")
    return count(psd.data), count(xs.predict(psd, model_ref, batch_size=batch).data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=9)
    parser.add_argument("--model", default="iar-default")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--io-threads", type=int, default=1,
                        help="I/O threads per worker besides its network lane")  # fmt: skip
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="let a run use every core, not as many as it has workers")  # fmt: skip
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cube_path = root / "cube.zarr"
        wave = xs.synth.ground_station(
            start="2013-01-01", days=args.days, seed=5, components=("H", "D")
        )
        xs.write_cube(xs.build_cube(wave), cube_path, progress=False)
        ref = _model_ref(args.model, root)
        psd = xs.select_component(xs.open_cube(cube_path), "H+D").load()
        width = _band(psd, read_card(ref)).sizes["frequency"]

        tasks_psd, tasks_prob = graph_tasks(cube_path, ref, args.batch_size)
        rows, paired = [], []
        for workers in (1, 2):
            loop = functools.partial(torch_loop, psd, ref, workers, args.batch_size)
            loop_io = functools.partial(loop, io=(cube_path, root / "loop.zarr"))
            with cores(workers if args.pin else None):
                t_mem, t_store, c_store, rss, (best, best_io), rounds = xspecseg_run(
                    cube_path, ref, workers, root / "p.zarr", args.batch_size, args.repeat,
                    (loop, loop_io), args.io_threads,
                )  # fmt: skip
            t_loop, t_net, c_loop, nights = best
            rows.append((workers, nights, t_loop, t_net, c_loop, best_io[0], t_mem, t_store,
                         c_store, rss))  # fmt: skip
            paired.append((workers, np.array(rounds)))

    print(
        f"{rows[0][1]} nights (18-06 UT, 432 x {width} px), "
        f"model {args.model if ref == args.model else 'untrained U-net (base 8)'}, "
        f"best of {args.repeat}, {os.cpu_count()} cores, "
        f"{args.io_threads} I/O thread(s) per worker, "
        f"{'each run on as many cores as workers' if args.pin else 'every run on every core'}"
    )
    print(
        "| workers (= torch threads) | PyTorch loop nights/s (network alone) "
        "| loop reading the cube and writing zarr | xspecseg to memory | xspecseg to store "
        "| ratio memory / store to the loop | ratio store to the loop with I/O "
        "| CPU ms/night loop / xspecseg to store | peak RSS/worker |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for workers, nights, t_loop, t_net, c_loop, t_io, t_mem, t_store, c_store, rss in rows:
        print(
            f"| {workers} | {nights / t_loop:.1f} ({nights / t_net:.1f}) "
            f"| {nights / t_io:.1f} | {nights / t_mem:.1f} | {nights / t_store:.1f} "
            f"| {t_loop / t_mem:.2f} / {t_loop / t_store:.2f} | {t_io / t_store:.2f} "
            f"| {1e3 * c_loop / nights:.0f} / {1e3 * c_store / nights:.0f} | {rss:.2f} GiB |"
        )
    print("ratios within each round (the loop's time / xspecseg's), median (min-max):")
    for workers, r in paired:
        loop, loop_io, memory, store = r.T

        def spread(x: np.ndarray) -> str:
            return f"{np.median(x):.2f} ({x.min():.2f}-{x.max():.2f})"

        print(
            f"  {workers} worker(s), {len(r)} rounds: memory / loop {spread(loop / memory)}, "
            f"store / loop {spread(loop / store)}, store / loop with I/O {spread(loop_io / store)}"
        )
    nights = rows[0][1]
    print(
        f"graph: {tasks_psd / nights:.2f} tasks per night to read and sum the cube "
        f"(xarray's graph), {tasks_prob / nights:.2f} in predict's, reading included"
    )
    eff = rows[0][7] / rows[1][7] / 2
    print(f"parallel efficiency of xspecseg (to store) at 2 workers: {eff:.0%}")


if __name__ == "__main__":
    main()
