"""The same small chain through the Python API and through the command line.

Run: ``python benchmarks/bench_cli_chain.py [--days 3] [--repeat 3] [--keep DIR]``

Synthetic ground station (N days) -> cube -> ``iar-default`` probabilities -> event
catalogue -> distributions, as library calls in one fresh process and as five
``xspecseg`` commands (each a fresh process, with the command line's default choice of
scheduler). Prints both wall times and their ratio: what a user pays for the command
line on a job this small (target: at most 1.5).

Both chains run in fresh folders, alternating, the command line first; the fastest run
of each is reported (numba's on-disk cache is warm for both: it is filled by the first
run on a machine).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

START = "2013-01-01"
MODEL = "iar-default"
QUIET = ["-q"]  # info logs off: the timing is of the work


def api_chain(out: Path, days: int) -> None:
    """The chain as library calls."""
    import numpy as np
    import xarray as xr

    import xspecseg as xs
    from xspecseg.io import open_waveform, write_waveform

    wave = xs.synth.ground_station(start=START, days=days, seed=0)
    write_waveform(wave, out / "wave.zarr")
    cube = xs.build_cube(open_waveform(out / "wave.zarr"), xs.CubeConfig.preset("iar"))
    xs.write_cube(cube, out / "cube.zarr", progress=False)
    psd = xs.select_component(xs.open_cube(out / "cube.zarr"), "H+D")
    xs.write_probability(xs.predict(psd, MODEL), out / "prob.zarr", progress=False)
    prob = xs.open_probability(out / "prob.zarr")
    cat = xs.extract_events(prob, psd=psd)
    xs.write_catalogue(cat, out / "events.nc", attrs={"model": MODEL})
    cat = xs.open_catalogue(out / "events.nc")
    parts = {
        "seasonal": xs.seasonal_distribution(cat),
        "monthly": xs.monthly_occurrence(cat),
        "local_time": xs.local_time_occurrence(cat),
    }
    if cat.sizes["event"]:
        edges = np.linspace(0.0, float(np.nanmax(cat.f_peak.values)) * 1.0001, 21)
        parts["frequency"] = xs.frequency_distribution(cat, edges)
    merged = xr.merge(
        [ds.rename({v: f"{k}_{v}" for v in ds.data_vars}) for k, ds in parts.items()],
        combine_attrs="drop",
    )
    for dim in list(merged.dims):
        if merged[dim].dtype == object or str(merged[dim].dtype).startswith("interval"):
            merged = merged.assign_coords({dim: [str(v) for v in merged[dim].values]})
    merged.to_netcdf(out / "stats.nc")


def cli_chain(out: Path, days: int) -> tuple[float, list[tuple[str, float]]]:
    """The chain as ``xspecseg`` commands; wall seconds in all and per command."""
    exe = Path(sys.executable).with_name("xspecseg")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "xspecseg.cli"]
    steps = [
        ["synth", "ground", "--start", START, "--days", str(days), "-o", f"{out}/wave.zarr"],
        ["cube", f"{out}/wave.zarr", "-o", f"{out}/cube.zarr"],
        ["predict", f"{out}/cube.zarr", "-o", f"{out}/prob.zarr", "--model", MODEL],
        ["events", f"{out}/prob.zarr", "--cube", f"{out}/cube.zarr", "-o", f"{out}/events.nc"],
        ["stats", f"{out}/events.nc", "-o", f"{out}/stats.nc"],
    ]
    times = []
    t0 = time.perf_counter()
    for step in steps:
        t = time.perf_counter()
        subprocess.run(
            [*cmd, *QUIET, *step, "--no-progress"], check=True, stdout=subprocess.DEVNULL
        )
        times.append((step[0], time.perf_counter() - t))
    return time.perf_counter() - t0, times


def api_run(out: Path, days: int) -> float:
    """The API chain in a fresh process, its start and imports counted as the command
    line's are; wall seconds."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from bench_cli_chain import api_chain; "
        "from pathlib import Path; api_chain(Path(sys.argv[2]), int(sys.argv[3]))"
    )
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", code, str(Path(__file__).parent), str(out), str(days)],
        check=True,
    )
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=3, help="days of the synthetic record")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each chain, alternating (default: 3)"
    )
    parser.add_argument("--keep", default=None, metavar="DIR", help="keep the outputs here")
    args = parser.parse_args()

    root = Path(args.keep or tempfile.mkdtemp(prefix="xspecseg-bench-"))
    api, cli = [], []
    try:
        for _ in range(args.repeat):
            for name in ("cli", "api"):
                shutil.rmtree(root / name, ignore_errors=True)
                (root / name).mkdir(parents=True)
            cli.append(cli_chain(root / "cli", args.days))
            api.append(api_run(root / "api", args.days))
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    # on a shared machine the other load only adds time: the fastest run of each is the
    # closest to its own cost
    t_api = min(api)
    t_cli, steps = min(cli)
    print(f"{args.days}-day chain: synth ground -> cube -> predict {MODEL} -> events -> stats")
    print(f"best of {args.repeat} (all runs: API {', '.join(f'{t:.1f}' for t in api)} s; "
          f"CLI {', '.join(f'{t:.1f}' for t, _ in cli)} s)")  # fmt: skip
    print(f"  API (one process):       {t_api:6.1f} s")
    print(f"  CLI (five commands):     {t_cli:6.1f} s  = " + " + ".join(
        f"{name} {t:.1f}" for name, t in steps))  # fmt: skip
    print(f"  ratio CLI / API:         {t_cli / t_api:6.2f}  (target <= 1.5)")


if __name__ == "__main__":
    main()
