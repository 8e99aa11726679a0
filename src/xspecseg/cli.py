"""The ``xspecseg`` command line.

Every subcommand has ``--help``. Long work shows a progress bar. ``--scheduler ADDRESS``
runs on an existing Dask cluster; without it a ``LocalCluster`` sized to the machine is
started (one single-threaded worker process per core).

Errors in what the user gave (a missing or broken file or store, a bad option) end the
command with one line, ``xspecseg <cmd>: error: ...``, naming the file, key or option,
and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any


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


# Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in workers. Setting any glibc malloc
# threshold switches off glibc's adaptive mmap threshold, so every buffer of a few hundred
# kB (torch convolutions, Welch segments) becomes an mmap/munmap pair: torch inference ran
# at half speed in workers. A fixed 32 MiB mmap threshold restores reuse of the heap, and a
# 256 MiB trim threshold still hands memory back to the system.
WORKER_MALLOC_ENV = {
    "MALLOC_TRIM_THRESHOLD_": "268435456",
    "MALLOC_MMAP_THRESHOLD_": "33554432",
}


def local_cluster(n_workers: int, **kwargs: Any):
    """A ``LocalCluster`` of single-threaded worker processes with tuned malloc settings."""
    import dask
    from distributed import LocalCluster

    env = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), **WORKER_MALLOC_ENV}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": env}):
        return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                            dashboard_address=None, **kwargs)  # fmt: skip


@contextlib.contextmanager
def dask_client(scheduler: str | None, workers: int | None) -> Iterator[object]:
    """A distributed Client on ``scheduler``, or on a LocalCluster sized to this machine."""
    from distributed import Client

    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    n = workers or os.cpu_count() or 1
    with (
        local_cluster(n) as cluster,
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
        written = write_cube(
            cube,
            args.output,
            progress=not args.no_progress,
            client=client,
            break_lock=args.break_lock,
        )
    print(
        f"wrote {len(written)} day(s) in {time.perf_counter() - t0:.1f} s "
        f"({ndays - len(written)} already complete): {Path(args.output).resolve()}"
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(args.output, ground_days=args.days, cses_days=args.cses_days,
             workers=args.workers, progress=not args.no_progress)  # fmt: skip
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from . import synth

    t0 = time.perf_counter()
    if args.kind == "ground":
        from .io import write_waveform

        if args.days != int(args.days):
            raise ValueError(f"--days must be a whole number for ground, got {args.days}")
        args.days = int(args.days)
        # before any cluster starts
        if os.path.lexists(args.output) and not args.overwrite:
            raise FileExistsError(f"{args.output} exists; pass --overwrite to replace it")
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
        if os.path.exists(args.output) and not os.path.isdir(args.output):
            raise FileExistsError(f"{args.output} exists and is not a folder (-o/--output)")
        paths = synth.cses_orbits(
            start=args.start,
            days=args.days,
            seed=args.seed,
            out_dir=args.output,
            overwrite=args.overwrite,
        )
        print(
            f"synthetic CSES-01 EFD: {len(paths)} half-orbit file(s) -> "
            f"{Path(args.output).resolve()} ({time.perf_counter() - t0:.1f} s)"
        )
    return 0


def _open_spectra(path_args: Sequence[str], component: str | None, model_config: dict):
    """A (time, frequency) PSD from a cube store or from CSES files, and its description."""
    from .io import read_cses

    first = Path(path_args[0])
    is_cses = first.suffix == ".h5" or (
        first.is_dir()
        and any(first.glob("CSES_01_EFD_*.h5"))
        and not (first / "zarr.json").exists()
    )
    if is_cses:
        comp = component or model_config.get("component") or "Z"
        sat = read_cses(list(path_args) if len(path_args) > 1 else path_args[0], component=comp)
        return sat["psd"], f"CSES EFD {comp} from {first}"
    from .cube import open_cube, select_component

    cube = open_cube(first)
    comps = [str(c) for c in cube.component.values]
    comp = component or model_config.get("component")
    if comp is None:
        comp = comps[0]
        if len(comps) > 1:
            print(f"no --component given: using {comp!r} of {comps}", file=sys.stderr)
    if any(c not in comps for c in comp.split("+")):
        raise ValueError(f"component {comp!r} is not in {first} (it has {comps})")
    return select_component(cube, comp), f"cube {first} component {comp}"


def _open_probability(path: str):
    """A probability store, or a ValueError that says what the store is instead."""
    from .infer import open_probability

    try:
        return open_probability(path)
    except KeyError as err:
        if (Path(path) / "psd").is_dir():
            raise ValueError(
                f"{path}: this is a cube store, not a probability store; run `xspecseg "
                f"predict {path} -o PROBABILITY.zarr --model MODEL` first and pass its output"
            ) from err
        raise ValueError(f"{path} is not a probability store (no 'probability' array)") from err


def _span(t) -> str:
    import numpy as np

    if len(t) == 0:
        return "no time at all"
    return f"{np.datetime_as_string(t[0], unit='s')} to {np.datetime_as_string(t[-1], unit='s')}"


def cmd_predict(args: argparse.Namespace) -> int:
    from .infer import _source_of, predict, write_probability

    _, config, _ = _source_of(args.model)
    psd, what = _open_spectra(args.cube, args.component, config)
    t0 = time.perf_counter()
    prob = predict(psd, args.model, batch_size=args.batch_size, device=args.device)
    prob.attrs["input"] = what
    with dask_client(args.scheduler, args.workers) as client:
        written = write_probability(
            prob,
            args.output,
            dtype=args.dtype,
            progress=not args.no_progress,
            client=client,
            break_lock=args.break_lock,
        )
    print(
        f"{what}: wrote {len(written)} chunk(s) of probabilities in "
        f"{time.perf_counter() - t0:.1f} s -> {Path(args.output).resolve()}"
    )
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    from .catalogue import write_catalogue
    from .events import EVENT_CUT_KEYS, extract_events

    prob = _open_probability(args.probability)
    psd = None
    if args.cube:
        psd, _ = _open_spectra(args.cube, prob.attrs.get("component"), {})
    cuts = dict.fromkeys(EVENT_CUT_KEYS) if args.no_event_cuts else {}
    cat = extract_events(
        prob, psd=psd, threshold=args.threshold, min_pixels=args.min_pixels, **cuts
    )
    applied = [f"{k} {cat.attrs[k]:g}" for k in EVENT_CUT_KEYS if k in cat.attrs]
    if applied:
        print("event cuts (the model's): " + ", ".join(applied))
    if psd is None and "max_impulsiveness" in prob.attrs and not args.no_event_cuts:
        print("note: the model's impulsiveness cut needs the PSD: pass --cube to apply it")
    attrs = {
        "model": str(prob.attrs.get("model", "unknown")),
        "threshold": float(
            args.threshold if args.threshold is not None else prob.attrs.get("threshold", 0.5)
        ),
        "input_cube": " ".join(args.cube) if args.cube else str(args.probability),
    }
    path = write_catalogue(cat, args.output, attrs=attrs)
    print(f"{cat.sizes['event']} event(s) -> {Path(path).resolve()}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    import numpy as np
    import xarray as xr

    from . import plot, stats
    from .catalogue import open_catalogue

    cat = open_catalogue(args.catalogue)
    try:
        seasonal = stats.seasonal_distribution(cat)
        parts = {
            "seasonal": seasonal,
            "monthly": stats.monthly_occurrence(cat),
        }
        if "magnetic_latitude" in cat:
            parts["maglat"] = stats.maglat_distribution(cat, np.arange(-90, 91, args.maglat_step))
        if "f_peak" in cat:
            fmax = float(np.nanmax(cat.f_peak.values)) if cat.sizes["event"] else 1.0
            edges = np.linspace(0.0, max(fmax, 1e-9) * 1.0001, args.frequency_bins + 1)
            parts["frequency"] = stats.frequency_distribution(cat, edges)
        if "longitude" in cat or "longitude" in cat.attrs:
            parts["local_time"] = stats.local_time_occurrence(cat)
    except KeyError as err:
        # a catalogue without the variables a distribution needs (no times, ...)
        why = err.args[0] if err.args else str(err)
        raise ValueError(f"{args.catalogue}: {why}") from err
    merged = xr.merge(
        [ds.rename({v: f"{name}_{v}" for v in ds.data_vars}) for name, ds in parts.items()],
        combine_attrs="drop",
    )
    for dim in list(merged.dims):
        if merged[dim].dtype == object or str(merged[dim].dtype).startswith("interval"):
            merged = merged.assign_coords({dim: [str(v) for v in merged[dim].values]})
    merged.attrs = {"source_catalogue": str(args.catalogue), "Conventions": "CF-1.10"}
    # to a temporary file renamed when complete: a failure never leaves a torn stats.nc
    # under its name, nor clobbers the previous one
    from ._atomic import atomic_write

    atomic_write(Path(args.output), lambda tmp: merged.to_netcdf(tmp))
    print(seasonal["count"].to_pandas().to_string())
    print(f"distributions -> {Path(args.output).resolve()}")
    if args.plots:
        out = Path(args.plots)
        out.mkdir(parents=True, exist_ok=True)
        plot.seasonal_counts(seasonal, path=out / "seasonal_counts.png")
        if "maglat" in parts:
            plot.maglat_histogram(parts["maglat"], path=out / "maglat_histogram.png")
        if "frequency" in parts:
            plot.frequency_histogram(parts["frequency"], path=out / "frequency_histogram.png")
        if "latitude" in cat and "longitude" in cat:
            plot.event_map(cat, path=out / "event_map.png")
        print(f"figures -> {out.resolve()}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    import numpy as np

    from . import plot

    psd, what = _open_spectra(args.spectra, args.component, {})
    if args.start or args.end:
        whole = psd["time"].values
        try:
            psd = psd.sel(time=slice(args.start, args.end))
        except (ValueError, TypeError, KeyError) as err:
            raise ValueError(f"--start {args.start} / --end {args.end}: {err}") from err
        if psd.sizes["time"] == 0:
            raise ValueError(
                f"--start {args.start} / --end {args.end} select no data: {what} covers "
                f"{_span(whole)}"
            )
    detections = None
    if args.probability:
        prob = _open_probability(args.probability)
        have = prob["time"].values
        if not np.isin(psd["time"].values, have).all():
            raise ValueError(
                f"{args.probability} does not cover the plotted times "
                f"({_span(psd['time'].values)}): it covers {_span(have)}"
            )
        prob = prob.sel(time=psd.time)
        threshold = (
            args.threshold if args.threshold is not None else prob.attrs.get("threshold", 0.5)
        )
        detections = prob >= threshold
    fig = plot.quicklook(psd.load(), detections=detections, title=what, path=args.output)
    del fig
    print(f"quicklook -> {Path(args.output).resolve()}")
    return 0


def _add_break_lock(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--break-lock",
        action="store_true",
        help="take over the store's writer lock although its writer may be alive (only when "
        "you know it is dead: two writers of one store corrupt it)",
    )


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
    g.add_argument(
        "--config",
        metavar="FILE.toml",
        help='cube parameters from a TOML file. Its `calibration = "module:function"` '
        "imports that module and runs that function: use only TOML files you trust",
    )
    p.add_argument(
        "--format", default=None, help="raw-int16 | mseed | netcdf | zarr (default: inferred)"
    )
    p.add_argument("--component", nargs="+", default=None, help="keep only these components")
    _add_break_lock(p)
    _add_cluster_args(p)
    p.set_defaults(func=cmd_cube)

    p = sub.add_parser(
        "predict",
        help="segment a cube chunk by chunk into a probability store",
        description="Run a U-net / ODM_Unet over a cube store (or CSES "
        "files) chunk by chunk and write probabilities to zarr; resumable.",
    )
    p.add_argument("cube", nargs="+", help="cube store, or CSES .h5 files / folder")
    p.add_argument("-o", "--output", required=True, help="probability zarr store")
    p.add_argument("--model", required=True, help="shipped model name or checkpoint path")
    p.add_argument("--component", default=None, help="component to segment")
    p.add_argument(
        "--dtype",
        choices=["float32", "uint8"],
        default="float32",
        help="uint8 stores round(p*254), scale_factor 1/254, 255 = NaN",
    )
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--device", default=None, help="cuda | cpu (default: cuda if present)")
    _add_break_lock(p)
    _add_cluster_args(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("events", help="probability store -> CF netCDF event catalogue")
    p.add_argument("probability", help="probability zarr store")
    p.add_argument(
        "--cube",
        nargs="+",
        default=None,
        help="the cube (or CSES files) the probabilities came from (for peak PSD "
        "and IAR fringe spacing)",
    )
    p.add_argument("-o", "--output", required=True, help="catalogue .nc")
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="probability cut (default: the model's recommended one)",
    )
    p.add_argument("--min-pixels", type=int, default=20)
    p.add_argument(
        "--no-event-cuts",
        action="store_true",
        help="keep every region: ignore the model's recommended event cuts (impulsiveness, "
        "applied when --cube is given; mean probability, bandwidth, duration)",
    )
    p.set_defaults(func=cmd_events)

    p = sub.add_parser("stats", help="catalogue -> distributions (netCDF) and figures")
    p.add_argument("catalogue", help="catalogue .nc")
    p.add_argument("-o", "--output", required=True, help="distributions .nc")
    p.add_argument("--plots", default=None, metavar="DIR", help="write PNG figures here")
    p.add_argument("--maglat-step", type=float, default=2.0, help="magnetic latitude bin (deg)")
    p.add_argument("--frequency-bins", type=int, default=20)
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("plot", help="quicklook PNG of a spectrogram with detections")
    p.add_argument("spectra", nargs="+", help="cube store, or CSES .h5 files / folder")
    p.add_argument("-o", "--output", required=True, help="PNG path")
    p.add_argument("--component", default=None)
    p.add_argument("--start", default=None, help="first time (e.g. 2013-01-01T18:00)")
    p.add_argument("--end", default=None)
    p.add_argument("--probability", default=None, help="probability store to outline")
    p.add_argument("--threshold", type=float, default=None)
    p.set_defaults(func=cmd_plot)

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
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="ground: replace an existing output; cses: rewrite existing half-orbit files "
        "(by default they are kept, so a re-run resumes)",
    )
    _add_cluster_args(p)
    p.set_defaults(func=cmd_synth)

    from ._cli_train import add_parsers as add_training_parsers

    add_training_parsers(sub)

    p = sub.add_parser("demo", help="run the chain on generated data and say where outputs are")
    p.add_argument("-o", "--output", default="xspecseg-demo", help="output folder")
    p.add_argument("--days", type=int, default=14, help="days of the synthetic ground record")
    p.add_argument("--cses-days", type=float, default=7.0, help="days of synthetic CSES orbits")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_demo)
    return parser


_ZARR_METADATA = ("zarr.json", ".zgroup", ".zarray", ".zattrs", ".zmetadata")


def _given_paths(args: argparse.Namespace) -> list[Path]:
    """Existing folders named by the command's arguments (stores, ``cube:PATH``...)."""
    out = []
    for value in vars(args).values():
        for s in value if isinstance(value, list) else [value]:
            if not isinstance(s, str) or not s:
                continue
            kind, sep, rest = s.partition(":")
            p = Path(rest if sep and kind in ("cube", "npz") else s)
            with contextlib.suppress(OSError):
                if p.is_dir() and p not in out:
                    out.append(p)
    return out


def _broken_metadata(store: Path) -> tuple[Path, str] | None:
    """The first zarr metadata file of ``store`` or its arrays that does not parse."""
    try:
        folders = [store, *sorted(p for p in store.iterdir() if p.is_dir())]
    except OSError:
        return None
    for folder in folders:
        for name in _ZARR_METADATA:
            f = folder / name
            if not f.is_file():
                continue
            try:
                doc = json.loads(f.read_bytes())
            except (ValueError, OSError) as err:  # JSONDecodeError, UnicodeDecodeError
                return f, f"not valid JSON: {err}"
            if name == "zarr.json" and not (
                isinstance(doc, dict) and "zarr_format" in doc and "node_type" in doc
            ):
                return f, "not zarr metadata (no zarr_format / node_type)"
    return None


def _from_zarr(err: BaseException) -> bool:
    """Whether ``err`` (or what caused it) is a JSON error or was raised inside zarr."""
    seen = set()
    e: BaseException | None = err
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, json.JSONDecodeError):
            return True
        frames = traceback.extract_tb(e.__traceback__)
        if any(f"{os.sep}zarr{os.sep}" in fr.filename for fr in frames):
            return True
        e = e.__cause__ or e.__context__
    return False


def _message(err: BaseException, args: argparse.Namespace) -> str:
    """One line that names the file, key or option."""
    msg = str(err)
    if _from_zarr(err):
        for store in _given_paths(args):
            bad = _broken_metadata(store)
            if bad is not None:
                msg = f"{bad[0]}: broken zarr metadata ({bad[1]}), so {store} cannot be read"
                break
    return " ".join(line.strip() for line in msg.splitlines() if line.strip())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``xspecseg`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "command", None) == "synth" and args.start is None:
        args.start = "2013-01-01" if args.kind == "ground" else "2021-11-01"
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError, TypeError) as err:
        # OSError covers FileNotFoundError, FileExistsError and failed writes
        print(f"xspecseg {args.command}: error: {_message(err, args)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
