"""The ``xspecseg`` command line.

Every subcommand has ``--help``. Long work shows a progress bar. ``--scheduler ADDRESS``
runs on an existing Dask cluster; without it a ``LocalCluster`` sized to the machine is
started (one single-threaded worker process per core).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path


def _add_cluster_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="address of a running Dask scheduler (e.g. tcp://host:8786)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="LocalCluster worker processes (default: one per core)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


@contextlib.contextmanager
def dask_client(scheduler: str | None, workers: int | None) -> Iterator[object]:
    """A distributed Client on ``scheduler``, or on a LocalCluster sized to this machine."""
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    n = workers or os.cpu_count() or 1
    with (
        LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _config(args: argparse.Namespace):
    from .config import CubeConfig

    if args.config:
        return CubeConfig.from_toml(args.config)
    return CubeConfig.preset(args.preset)


def cmd_cube(args: argparse.Namespace) -> int:
    from .cube import build_cube, write_cube
    from .io import open_waveform

    cfg = _config(args)
    wave = open_waveform(
        args.inputs if len(args.inputs) > 1 else args.inputs[0], format=args.format
    )
    if args.component:
        wave = wave.sel(component=args.component)
    cube = build_cube(wave, cfg)
    ndays = cube.sizes["time"] // cfg.blocks_per_day
    print(f"{len(wave.component)} component(s), {ndays} day(s) -> {args.output}", flush=True)
    t0 = time.perf_counter()
    with dask_client(args.scheduler, args.workers) as client:
        written = write_cube(cube, args.output, progress=not args.no_progress, client=client)
    print(
        f"wrote {len(written)} day(s) in {time.perf_counter() - t0:.1f} s "
        f"({ndays - len(written)} already complete): {Path(args.output).resolve()}"
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .config import CubeConfig
    from .cube import build_cube, open_cube, write_cube

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    wave = _demo_waveform(days=args.days)
    cube = build_cube(wave, CubeConfig.preset("iar"))
    store = out / "ground_cube.zarr"
    with dask_client(None, args.workers) as client:
        written = write_cube(cube, store, progress=not args.no_progress, client=client)
    back = open_cube(store)
    valid = float(back.valid_fraction.mean())
    print()
    print("xspecseg demo")
    print(
        f"  synthetic station {wave.attrs.get('station')}: {args.days} day(s) at "
        f"{wave.attrs['sampling_rate']:g} Hz, components {list(map(str, wave.component.values))}"
    )
    print(f"  days written this run: {len(written)}; mean valid fraction {valid:.3f}")
    print(f"  spectrogram cube: {store.resolve()}  psd {dict(back.psd.sizes)}")
    print(f"  open it with: xspecseg.open_cube({str(store)!r})")
    print(f"  finished in {time.perf_counter() - t0:.1f} s")
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from . import synth

    t0 = time.perf_counter()
    if args.kind == "ground":
        from .io import write_waveform

        if args.days != int(args.days):
            raise ValueError(f"--days must be a whole number for ground, got {args.days}")
        args.days = int(args.days)
        wave = synth.ground_station(
            start=args.start, days=args.days, seed=args.seed, station=args.station
        )
        with dask_client(args.scheduler, args.workers) as client:
            del client  # write_waveform computes on the active client
            path = write_waveform(wave, args.output, overwrite=args.overwrite)
        print(
            f"synthetic ground station: {args.days} day(s), seed {args.seed} -> "
            f"{Path(path).resolve()} ({time.perf_counter() - t0:.1f} s)"
        )
    else:
        paths = synth.cses_orbits(
            start=args.start, days=args.days, seed=args.seed, out_dir=args.output
        )
        print(
            f"synthetic CSES-01 EFD: {len(paths)} half-orbit file(s) -> "
            f"{Path(args.output).resolve()} ({time.perf_counter() - t0:.1f} s)"
        )
    return 0


def _demo_waveform(days: int):
    try:
        from .synth import ground_station
    except ImportError:  # the synthetic station arrives with the test-bed work
        from .testing import random_waveform

        return random_waveform("2013-01-01", hours=24 * days, chunk_seconds=86400)
    return ground_station(start="2013-01-01", days=days, seed=0)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="xspecseg",
        description="Spectrogram cubes, segmentation and catalogues of resonances and "
        "anomalies in geophysical field records.",
    )
    parser.add_argument("--version", action="version", version=f"xspecseg {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "cube",
        help="build a spectrogram cube store from waveform files",
        description="Build (or resume, or extend) a zarr spectrogram cube.",
    )
    p.add_argument("inputs", nargs="+", help="waveform files, folders or globs")
    p.add_argument("-o", "--output", required=True, help="zarr store to write")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--preset", default="iar", help="named parameter set (default: iar)")
    g.add_argument("--config", metavar="FILE.toml", help="cube parameters from a TOML file")
    p.add_argument(
        "--format", default=None, help="raw-int16 | mseed | netcdf | zarr (default: inferred)"
    )
    p.add_argument("--component", nargs="+", default=None, help="keep only these components")
    _add_cluster_args(p)
    p.set_defaults(func=cmd_cube)

    p = sub.add_parser(
        "synth",
        help="generate synthetic test-bed data with exact truth",
        description="Synthetic ground IAR station (waveform store) or CSES-01 "
        "EFD VLF half-orbit files.",
    )
    p.add_argument("kind", choices=["ground", "cses"])
    p.add_argument("--start", default=None, help="first UTC day (YYYY-MM-DD)")
    p.add_argument(
        "--days",
        type=float,
        default=2,
        help="days to simulate (whole days for ground; cses may take fractions)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--station", default="ESK", help="ground station code")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="ground: waveform store (.zarr or .nc); cses: output folder",
    )
    p.add_argument("--overwrite", action="store_true")
    _add_cluster_args(p)
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("demo", help="run the chain on generated data and say where outputs are")
    p.add_argument("-o", "--output", default="xspecseg-demo", help="output folder")
    p.add_argument("--days", type=int, default=2, help="days of synthetic record")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``xspecseg`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "command", None) == "synth" and args.start is None:
        args.start = "2013-01-01" if args.kind == "ground" else "2021-11-01"
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError, TypeError) as err:
        print(f"xspecseg {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
