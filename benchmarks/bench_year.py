"""A year end to end: waveform files -> cube -> probabilities -> catalogue -> distributions.

Run: ``python benchmarks/bench_year.py [--days 365] [--lengths 1 7 30 91] [--workers 1 2]``
or, for CSES-01 half-orbit files, ``python benchmarks/bench_year.py --cses [...]``.

The input, a synthetic ground station (H and D at 100 Hz, ``xs.synth.ground_station``,
seed 0, from 2013-01-01), is generated once into a zarr waveform store under
``--cache`` (default ``~/.cache/xspecseg/bench-year``; about 89 MB a day, 32 GB for a
year) and reused by later runs: generating it is not timed. Each record length (the
first N days of that store) runs the chain as a user does, on a LocalCluster of 1 and of
2 single-threaded workers, each stage on a cluster of its own (as each ``xspecseg``
command starts one):

1. ``build_cube`` + ``write_cube`` (IAR preset),
2. ``predict`` (``iar-default``, H+D from the cube) + ``write_probability``,
3. ``extract_events`` (with the fringe analysis) + ``write_catalogue``,
4. ``distributions`` + ``write_distributions``.

Printed: seconds per stage for every length and worker count, seconds per day,
parallel efficiency at 2 workers (time at 1 worker / (2 x time at 2 workers)) per stage,
and the peak memory of the workers and of the client (this process, which also runs the
scheduler) per stage: resident (RSS, sampled every 50 ms) and, for the workers, also
proportional (PSS, sampled every 2 s; it counts the pages of a shared library that every
worker maps once among them). ``--plot PATH`` draws the cost of each stage against the record length.

A run on N workers runs on N cores (this process, its scheduler and the workers pinned
to the first N cores it may use; ``--no-pin`` lets them use every core): otherwise a
one-worker run also uses the second core for the client, the scheduler and the worker's
own threads, and the efficiency compares one worker on two cores with two on two.

With ``--cses`` the input is a year of simulated CSES-01 EFD VLF half-orbit files
(``xs.synth.cses_orbits``, Z component, seed 0, from 2022-01-01; about 30 files and 44 MB
a day, generated once under ``--cache``) and the chain is the one a user runs on the
mission's files: ``read_cses`` + ``predict`` (``cses-default``) + ``write_probability``
(files to probabilities), ``extract_events`` (the model's event cuts) +
``write_catalogue``, and ``distributions`` + ``write_distributions``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import dask  # noqa: E402
import numpy as np  # noqa: E402
from benchmarks_util import (  # noqa: E402
    cores,
    peak_memory,
    peak_rss,
    python_objects,
    reset_rss_peak,
    start_rss_sampler,
)

import xspecseg as xs  # noqa: E402
from xspecseg.io import open_waveform, write_waveform  # noqa: E402

START = np.datetime64("2013-01-01")
MODEL = "iar-default"
STAGES = ("cube", "probability", "catalogue", "distributions")
CSES_START = np.datetime64("2022-01-01")
CSES_MODEL = "cses-default"
CSES_STAGES = ("probability", "catalogue", "distributions")


def prepare(cache: Path, days: int, workers: int) -> Path:
    """The cached input store of ``days`` days (generated on first use, not timed)."""
    from distributed import Client

    from xspecseg.cluster import local_cluster

    path = cache / f"ground-{START}-{days}d-seed0.zarr"
    if path.exists():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    print(f"generating {days} days of input into {path} (once; not timed)", flush=True)
    t0 = time.perf_counter()
    wave = xs.synth.ground_station(start=str(START), days=days, seed=0)
    with local_cluster(workers) as cluster, Client(cluster) as client:
        write_waveform(wave, path, client=client)
    print(f"  {time.perf_counter() - t0:.0f} s", flush=True)
    return path


def _here(fn, *args) -> bool:
    """Run ``fn(*args)`` inside a worker process, computing there (``client.run``)."""
    with dask.config.set(scheduler="synchronous"):
        fn(*args)
    return True


def _warm(stage: str, client, source: Path, out: Path) -> None:
    """Run a stage's code once in every worker (and on two days through the cluster), so
    that imports, Numba's cache and loading the model are not timed."""
    warm = out / "warm"
    if stage == "cube":
        wave = open_waveform(source).isel(time=slice(0, 2 * 8_640_000))
        client.run(_here, lambda w: xs.build_cube(w).compute(), wave.isel(time=slice(0, 360_000)))
        xs.write_cube(xs.build_cube(wave), warm / "cube.zarr", progress=False, client=client)
        return
    psd = xs.select_component(xs.open_cube(warm / "cube.zarr"), "H+D")
    if stage == "probability":
        client.run(_here, lambda p: xs.predict(p, MODEL).compute(), psd.load())
        xs.write_probability(xs.predict(psd, MODEL), warm / "prob.zarr", progress=False,
                             client=client)  # fmt: skip
    elif stage == "catalogue":
        prob = xs.open_probability(warm / "prob.zarr")
        client.run(_here, lambda p, q: xs.extract_events(p, psd=q), prob.load(), psd.load())
        xs.write_catalogue(xs.extract_events(prob, psd=psd, client=client), warm / "events.nc")
    elif stage == "distributions":
        xs.stats.distributions(xs.open_catalogue(warm / "events.nc"))


def run_chain(source: Path, days: int, workers: int, out: Path) -> dict:
    """Seconds and peak memory per stage of the chain on the first ``days`` days.

    Each stage runs on a LocalCluster of its own, started and warmed before the timing,
    as each ``xspecseg`` command starts its own: workers that build cubes never import
    torch.
    """
    out.mkdir(parents=True, exist_ok=True)
    wave = open_waveform(source).isel(time=slice(0, days * 8_640_000))
    cube_path, prob_path = out / "cube.zarr", out / "prob.zarr"
    state = {}

    def cube(client) -> None:
        xs.write_cube(xs.build_cube(wave), cube_path, progress=False, client=client)

    def probability(client) -> None:
        prob = xs.predict(xs.open_cube(cube_path), MODEL)
        xs.write_probability(prob, prob_path, progress=False, client=client)

    def catalogue(client) -> None:
        psd = xs.select_component(xs.open_cube(cube_path), "H+D")
        cat = xs.extract_events(xs.open_probability(prob_path), psd=psd, client=client)
        xs.write_catalogue(cat, out / "events.nc")
        state["events"] = cat.sizes["event"]

    def distributions(client) -> None:
        cat = xs.open_catalogue(out / "events.nc")
        xs.stats.write_distributions(xs.stats.distributions(cat), out / "stats.nc")

    return _timed(STAGES, (cube, probability, catalogue, distributions), workers,
                  lambda stage, client: _warm(stage, client, source, out), days, state)  # fmt: skip


def _cses_day(folder: str, day: str) -> int:
    from xspecseg.synth import cses_orbits

    return len(cses_orbits(day, days=1, seed=0, out_dir=folder, components=("Z",)))


def prepare_cses(cache: Path, days: int, workers: int) -> Path:
    """The cached folder of ``days`` days of half-orbit files (generated once, not timed).

    A day's files are written by one task; files already there are kept, so an
    interrupted generation resumes.
    """
    from distributed import Client

    from xspecseg.cluster import local_cluster

    path = cache / f"cses-{CSES_START}-{days}d-seed0"
    done = path / "complete"
    if done.exists():
        return path
    path.mkdir(parents=True, exist_ok=True)
    print(f"generating {days} days of half-orbits into {path} (once; not timed)", flush=True)
    t0 = time.perf_counter()
    day_list = [str(CSES_START + np.timedelta64(d, "D")) for d in range(days)]
    with local_cluster(workers) as cluster, Client(cluster) as client:
        n = sum(client.gather(client.map(_cses_day, [str(path)] * days, day_list)))
    done.write_text(f"{n} files\n")
    print(f"  {n} files, {time.perf_counter() - t0:.0f} s", flush=True)
    return path


def _cses_files(source: Path, days: int) -> list[Path]:
    """The files whose first row lies in the first ``days`` days, in time order (the
    names carry the first row's UTC time: ``..._YYYYMMDD_HHMMSS_...``)."""
    end = CSES_START + np.timedelta64(days, "D")
    out = []
    for path in sorted(source.glob("*.h5"), key=lambda p: p.name.split("_")[7:9]):
        date, hms = path.name.split("_")[7:9]
        first = np.datetime64(f"{date[:4]}-{date[4:6]}-{date[6:]}T{hms[:2]}:{hms[2:4]}:{hms[4:]}")
        if first < end:
            out.append(path)
    return out


def _warm_cses(stage: str, client, source: Path, out: Path) -> None:
    """A stage's code once in every worker and once through the cluster (one day)."""
    from xspecseg.io import read_cses

    warm = out / "warm"
    sat = read_cses(_cses_files(source, 1), component="Z")
    first = slice(0, int(sat.chunks["time"][0]))  # one half-orbit
    if stage == "probability":
        one = sat["psd"].isel(time=first)
        client.run(_here, lambda p: xs.predict(p, CSES_MODEL).compute(), one.load())
        xs.write_probability(xs.predict(sat["psd"], CSES_MODEL), warm / "prob.zarr",
                             progress=False, client=client)  # fmt: skip
    elif stage == "catalogue":
        prob = xs.open_probability(warm / "prob.zarr")
        client.run(_here, lambda p, q: xs.extract_events(p, psd=q),
                   prob.isel(time=first).load(), sat["psd"].isel(time=first).load())  # fmt: skip
        xs.write_catalogue(xs.extract_events(prob, psd=sat["psd"], client=client),
                           warm / "events.nc")  # fmt: skip
    elif stage == "distributions":
        xs.stats.distributions(xs.open_catalogue(warm / "events.nc"))


def run_cses_chain(source: Path, days: int, workers: int, out: Path) -> dict:
    """Seconds and peak memory per stage of the CSES chain on the first ``days`` days."""
    from xspecseg.io import read_cses

    out.mkdir(parents=True, exist_ok=True)
    files = _cses_files(source, days)
    prob_path = out / "prob.zarr"
    state: dict = {"files": len(files)}

    def probability(client) -> None:
        sat = read_cses(files, component="Z")
        xs.write_probability(xs.predict(sat["psd"], CSES_MODEL), prob_path, progress=False,
                             client=client)  # fmt: skip

    def catalogue(client) -> None:
        sat = read_cses(files, component="Z")
        cat = xs.extract_events(xs.open_probability(prob_path), psd=sat["psd"], client=client)
        xs.write_catalogue(cat, out / "events.nc")
        state["events"] = cat.sizes["event"]

    def distributions(client) -> None:
        cat = xs.open_catalogue(out / "events.nc")
        xs.stats.write_distributions(xs.stats.distributions(cat), out / "stats.nc")

    return _timed(CSES_STAGES, (probability, catalogue, distributions), workers,
                  lambda stage, client: _warm_cses(stage, client, source, out), days, state)  # fmt: skip


def _timed(stages, fns, workers: int, warm, days: int, state: dict) -> dict:
    """Run each stage on a warmed LocalCluster of its own; seconds and peak memory."""
    from distributed import Client

    from xspecseg.cluster import local_cluster

    timings: dict[str, float] = {}
    memory: dict[str, dict[str, float]] = {}
    start_rss_sampler()
    for name, fn in zip(stages, fns, strict=True):
        with local_cluster(workers, memory_limit="4GiB") as cluster, Client(cluster) as client:
            warm(name, client)
            client.run(start_rss_sampler)
            reset_rss_peak()
            t0 = time.perf_counter()
            fn(client)
            timings[name] = time.perf_counter() - t0
            peaks = client.run(peak_memory).values()
            memory[name] = {
                "worker_gib": max(p["rss"] for p in peaks) / 2**30,
                "worker_pss_gib": max(p["pss"] for p in peaks) / 2**30,
                "client_gib": peak_rss() / 2**30,
                # what a worker keeps: results not yet fetched, and Python objects at the end
                "worker_held": max(p.get("held", 0) for p in peaks),
                "worker_objects": max(client.run(python_objects).values()),
            }
    return {"days": days, "workers": workers, "seconds": timings, "memory": memory, **state}


def _plot(results: list[dict], path: str, stages: tuple[str, ...], what: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for workers, style in ((1, "-"), (2, "--")):
        rows = sorted((r for r in results if r["workers"] == workers), key=lambda r: r["days"])
        if not rows:
            continue
        days = np.array([r["days"] for r in rows])
        for stage, colour in zip(stages, ("C0", "C1", "C2", "C3"), strict=False):
            secs = np.array([r["seconds"][stage] for r in rows])
            ax.loglog(days, secs, style, color=colour, marker="o", ms=3,
                      label=f"{stage}, {workers} worker{'s' * (workers > 1)}")  # fmt: skip
        total = np.array([sum(r["seconds"].values()) for r in rows])
        ax.loglog(days, total, style, color="k", marker="s", ms=3,
                  label=f"all, {workers} worker{'s' * (workers > 1)}")  # fmt: skip
    ref = np.array([1, 365])
    ax.loglog(ref, ref * 1.0, ":", color="grey", label="slope 1 (1 s a day)")
    ax.set_xlabel(f"record length (days, {what})")
    ax.set_ylabel("wall time (s)")
    ax.set_title("Cost of each stage against the record length")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


def _register() -> None:
    # the workers cannot import this file: ship its functions by value
    import sys

    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365, help="the longest record")
    parser.add_argument("--lengths", type=int, nargs="*", default=[1, 7, 30, 91],
                        help="shorter records (first N days) for the cost-against-length curve")  # fmt: skip
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--cache", type=Path,
                        default=Path.home() / ".cache" / "xspecseg" / "bench-year")  # fmt: skip
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--plot", help="draw cost against record length into this PNG")
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="let a run use every core, not as many as it has workers")  # fmt: skip
    parser.add_argument("--cses", action="store_true",
                        help="CSES-01 half-orbit files through cses-default instead")  # fmt: skip
    args = parser.parse_args()

    if args.cses:
        stages, model, what = CSES_STAGES, CSES_MODEL, "CSES-01 half-orbits, Z"
        source = prepare_cses(args.cache, args.days, max(args.workers))
        run = run_cses_chain
    else:
        stages, model, what = STAGES, MODEL, "H and D at 100 Hz"
        source = prepare(args.cache, args.days, max(args.workers))
        run = run_chain
    lengths = sorted({*(n for n in args.lengths if n < args.days), args.days})
    results = []
    for workers in args.workers:
        for days in lengths:
            with (
                tempfile.TemporaryDirectory(dir=args.cache) as tmp,
                cores(workers if args.pin else None) as ncores,
            ):
                r = run(source, days, workers, Path(tmp))
            r["cores"] = ncores
            results.append(r)
            secs = ", ".join(f"{k} {v:.1f} s" for k, v in r["seconds"].items())
            print(f"{days} days, {workers} worker(s) on {ncores} core(s): {secs}; "
                  f"{r.get('events')} events", flush=True)  # fmt: skip
            if args.json:
                Path(args.json).write_text(json.dumps(results, indent=1))

    print()
    print(f"{os.cpu_count()} cores; input {source.name}; model {model}; {xs.__version__}")
    print("| days | workers | " + " | ".join(f"{s} (s)" for s in stages) + " | all (s) | s/day "
          "| peak RSS per worker, by stage (GiB) | peak PSS per worker, by stage (GiB) "
          "| peak RSS of the client (GiB) | results held by a worker at once, by stage "
          "| Python objects of a worker at the end, by stage (thousands) |")  # fmt: skip
    print("|---|---|" + "---|" * len(stages) + "---|---|---|---|---|---|---|")
    for r in results:
        total = sum(r["seconds"].values())
        worker = " / ".join(f"{r['memory'][s]['worker_gib']:.2f}" for s in stages)
        pss = " / ".join(f"{r['memory'][s]['worker_pss_gib']:.2f}" for s in stages)
        client = max(m["client_gib"] for m in r["memory"].values())
        held = " / ".join(f"{r['memory'][s]['worker_held']}" for s in stages)
        objects = " / ".join(f"{r['memory'][s]['worker_objects'] / 1e3:.0f}" for s in stages)
        print(
            f"| {r['days']} | {r['workers']} | "
            + " | ".join(f"{r['seconds'][s]:.1f}" for s in stages)
            + f" | {total:.1f} | {total / r['days']:.2f} | {worker} | {pss} | {client:.2f} "
            f"| {held} | {objects} |"
        )
    by = {(r["days"], r["workers"]): r for r in results}
    for days in lengths:
        if (days, 1) in by and (days, 2) in by:
            one, two = by[days, 1]["seconds"], by[days, 2]["seconds"]
            eff = ", ".join(f"{s} {one[s] / (2 * two[s]):.0%}" for s in stages)
            all_ = sum(one.values()) / (2 * sum(two.values()))
            print(f"parallel efficiency at 2 workers, {days} days: {eff}; all {all_:.0%}")
    if args.plot:
        _plot(results, args.plot, stages, what)


if __name__ == "__main__":
    _register()
    main()
