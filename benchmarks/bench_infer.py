"""Inference throughput: ``xs.predict`` + ``write_probability`` against a plain PyTorch loop.

Run: ``python benchmarks/bench_infer.py [--days 9] [--model iar-default]``

The baseline is what a user would otherwise write: the night images already in memory,
normalised, and pushed through the same network in batches by a PyTorch loop with the
same total number of threads. xspecseg reads the cube store, cuts the nights, runs the
network on a LocalCluster (1 or 2 single-threaded workers) and writes the probability
store. Printed: nights/s, the ratio xspecseg / loop at equal threads, the parallel
efficiency at 2 workers and the peak memory per worker.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from benchmarks_util import peak_rss, start_rss_sampler  # noqa: E402

import xspecseg as xs  # noqa: E402
from xspecseg.contract import ModelCard  # noqa: E402
from xspecseg.infer import _band_slice, _source_of, cached_model, night_spans  # noqa: E402


def _model_ref(name: str, root: Path) -> str:
    try:
        xs.models.load(name)
        return name
    except FileNotFoundError:
        from xspecseg.models import get_model, save

        path = root / "bench-model"
        config = {"night_window": ["18:00", "06:00"], "band": [0.0, 6.0], "threshold": 0.5}
        save(get_model("unet", base_channels=8), path, config=config)
        print(f"(no shipped model {name!r}: timing an untrained U-net, base_channels=8)")
        return str(path)


def torch_loop(
    psd: np.ndarray,
    times: np.ndarray,
    model_ref: str,
    threads: int,
    batch: int,
    freq_slice: slice,
) -> tuple[float, int]:
    source, config, _ = _source_of(model_ref)
    model = cached_model(source, "cpu")
    spans = night_spans(times, config.get("night_window") or (18.0, 6.0))
    rep = ModelCard.from_config(config).representation
    images = [rep(psd[s:e, freq_slice]) for s, e in spans]
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    with torch.inference_mode():
        for k in range(0, len(images), batch):
            x = torch.from_numpy(np.stack(images[k : k + batch])[:, None])
            torch.sigmoid(model(x)).numpy()
    return time.perf_counter() - t0, len(images)


def xspecseg_run(
    cube_path: Path, model_ref: str, workers: int, out: Path, batch: int
) -> tuple[float, float]:
    from distributed import Client

    from xspecseg.cli import local_cluster

    with (
        local_cluster(workers) as cluster,
        Client(cluster) as client,
    ):
        psd = xs.select_component(xs.open_cube(cube_path), "H+D")
        # warm the workers: imports, model cache
        warm = xs.predict(psd.isel(time=slice(0, 2 * 864)), model_ref, batch_size=batch)
        warm.compute()
        client.run(start_rss_sampler)
        t0 = time.perf_counter()
        prob = xs.predict(psd, model_ref, batch_size=batch, threads=1)
        xs.write_probability(prob, out, progress=False, client=client)
        elapsed = time.perf_counter() - t0
        peaks = client.run(peak_rss)
    return elapsed, max(peaks.values()) / 2**30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=9)
    parser.add_argument("--model", default="iar-default")
    parser.add_argument("--batch-size", type=int, default=4)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cube_path = root / "cube.zarr"
        wave = xs.synth.ground_station(
            start="2013-01-01", days=args.days, seed=5, components=("H", "D")
        )
        xs.write_cube(xs.build_cube(wave), cube_path, progress=False)
        ref = _model_ref(args.model, root)
        cube = xs.open_cube(cube_path)
        psd = xs.select_component(cube, "H+D")  # the shipped model's input
        _, config, _ = _source_of(ref)
        freq_slice = _band_slice(psd, config.get("band"))
        values, times = psd.values, psd.time.values

        rows = []
        for workers in (1, 2):
            t_loop, nights = torch_loop(values, times, ref, workers, args.batch_size, freq_slice)
            t_xs, rss = xspecseg_run(
                cube_path, ref, workers, root / f"p{workers}.zarr", args.batch_size
            )
            rows.append((workers, nights, t_loop, t_xs, rss))

    print(
        f"{rows[0][1]} nights (18-06 UT, 432 x {values[:, freq_slice].shape[1]} px), "
        f"model {args.model if ref == args.model else 'untrained U-net (base 8)'}"
    )
    print(
        "| workers (= torch threads) | PyTorch loop nights/s | xspecseg nights/s | ratio "
        "| peak RSS/worker |"
    )
    print("|---|---|---|---|---|")
    for workers, nights, t_loop, t_xs, rss in rows:
        print(
            f"| {workers} | {nights / t_loop:.2f} | {nights / t_xs:.2f} | "
            f"{t_loop / t_xs:.2f} | {rss:.2f} GiB |"
        )
    eff = (rows[1][1] / rows[1][3]) / (2 * rows[0][1] / rows[0][3])
    print(f"parallel efficiency of xspecseg at 2 workers: {eff:.0%}")


if __name__ == "__main__":
    main()
