"""The ``xspecseg`` command line.

Every subcommand has ``--help`` with an example. Long work shows a progress bar on a
terminal (``--no-progress`` hides it); ``-v`` / ``-q`` set how much is logged to stderr, while
results (what was written where, tables) go to stdout.

Where the work runs (see :mod:`xspecseg.cluster`): ``--scheduler ADDRESS`` on an
existing Dask cluster; ``--workers N`` (N > 1) on a ``LocalCluster`` of N worker
processes; by default a small job (up to a week of data) in this process on Dask's
threaded scheduler, a larger one on a ``LocalCluster`` with one worker per core.

Errors in what the user gave (a missing or broken file or store, a bad option) and a
missing optional package end the command with one line, ``xspecseg <cmd>: error: ...``,
naming the file, key or option (or the extra to install), and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import logging
import os
import sys
import textwrap
import time
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from dask.system import cpu_count

from . import stats, synth
from ._cli_train import add_parsers as add_training_parsers
from ._optional import needs_extra
from ._version import __version__
from .catalogue import open_catalogue, write_catalogue
from .cluster import SMALL_JOB_DAYS, choose, compute_on, progress
from .config import CubeConfig
from .cube import build_cube, open_cube, select_component, write_cube
from .demo import run_demo
from .events import EVENT_CUT_KEYS, extract_events
from .infer import open_probability, predict, write_probability
from .io import open_waveform, read_cses, write_waveform
from .io.cses_format import FILE_GLOB

log = logging.getLogger(__name__)


class _HelpFormatter(argparse.HelpFormatter):
    """Defaults shown after every option's help; example commands kept as written."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            "%(default)" in text
            or "(default" in text
            or not action.option_strings
            or action.default is None
            or action.default is False  # a flag (store_true)
            or action.default == argparse.SUPPRESS
        ):
            return text
        return text + " (default: %(default)s)"

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        # paragraphs are wrapped; one with indented lines (commands) is kept line by line
        out = []
        for para in textwrap.dedent(text).strip().split("\n\n"):
            if any(line.startswith("  ") for line in para.splitlines()):
                out.append(textwrap.indent(para, indent))
            else:
                out.append(super()._fill_text(para, width, indent))
        return "\n\n".join(out)


def _workers(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def _positive(text: str) -> float:
    x = float(text)
    if not x > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return x


def _examples(*commands: str) -> str:
    return "examples:\n" + "\n".join(f"  {c}" for c in commands)


def _add_cluster_args(
    p: argparse.ArgumentParser, *, what: str = "the job", io_thread: bool = False
) -> None:
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on the Dask scheduler at this address (e.g. tcp://host:8786); the stores "
        "must be on a file system its workers share",
    )
    kind = (
        "worker processes (one network lane and one I/O thread each)"
        if io_thread
        else "single-threaded worker processes"
    )
    p.add_argument(
        "--workers",
        type=_workers,
        default=None,
        metavar="N",
        help=f"N > 1: start a LocalCluster of N {kind}; 1: run in "
        f"this process, one task at a time. Default: {what} of up to {SMALL_JOB_DAYS} days "
        "of data runs in this process on Dask's threaded scheduler (no cluster to start), "
        "a larger one on a LocalCluster with one worker process per core",
    )
    _add_no_progress(p)


def _add_no_progress(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="hide the progress bar (shown only when stderr is a terminal)",
    )


def _add_verbosity(p: argparse.ArgumentParser, *, top: bool) -> None:
    # on the main parser and on every subcommand; a subcommand's default must not
    # overwrite a count given before the subcommand's name
    default = None if top else argparse.SUPPRESS
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default,
        help="log more: -v debug messages of xspecseg, -vv of every library",
    )
    p.add_argument(
        "-q",
        "--quiet",
        action="count",
        default=default,
        help="log only warnings and errors, and show no progress bars (-qq: only errors)",
    )


def _config(args: argparse.Namespace):
    if args.config:
        return CubeConfig.from_toml(args.config)
    return CubeConfig.preset(args.preset)


def _cluster_bar(client, desc: str, hidden: bool) -> contextlib.AbstractContextManager[None]:
    """On a cluster, a bar of every task (a day's chunk is many), not of the committed
    chunks only: it moves before the first day is done. In this process the store's
    writer shows its own bar, which counts every task too."""
    return progress(client, desc=desc, disable=hidden or client is None)


def cmd_cube(args: argparse.Namespace) -> int:
    cfg = _config(args)
    wave = open_waveform(
        args.inputs if len(args.inputs) > 1 else args.inputs[0], format=args.format
    )
    if args.components:
        wave = wave.sel(component=args.components)
    cube = build_cube(wave, cfg)
    ndays = cube.sizes["time"] // cfg.blocks_per_day
    log.info("%d component(s), %d day(s) -> %s", len(wave.component), ndays, args.output)
    t0 = time.perf_counter()
    with (
        compute_on(args.scheduler, args.workers, days=ndays) as client,
        _cluster_bar(client, f"cube -> {Path(args.output).name}", args.no_progress),
    ):
        written = write_cube(
            cube,
            args.output,
            progress=not args.no_progress and client is None,
            client=client,
            break_lock=args.break_lock,
        )
    print(
        f"wrote {len(written)} day(s) in {time.perf_counter() - t0:.1f} s "
        f"({ndays - len(written)} already complete): {Path(args.output).resolve()}"
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    run_demo(args.output, ground_days=args.days, cses_days=args.cses_days,
             workers=args.workers, progress=not args.no_progress)  # fmt: skip
    return 0


def _synth_cses(args: argparse.Namespace) -> list[Path]:
    """``synth.cses_orbits`` an hour of orbit time at a time, for the progress bar."""
    import numpy as np
    import pandas as pd
    from tqdm.auto import tqdm

    # the half-orbits starting in consecutive windows are those of the whole window:
    # the edges are whole milliseconds, as cses_orbits rounds them
    first = int(np.datetime64(pd.Timestamp(args.start).tz_localize(None), "ms").astype(np.int64))
    last = first + round(float(args.days) * 86_400_000)
    edges = [*range(first, last, 3_600_000), last]
    paths: list[Path] = []
    with tqdm(total=len(edges) - 1, desc=f"synth -> {Path(args.output).name}", unit="h",
              disable=args.no_progress) as bar:  # fmt: skip
        for a, b in itertools.pairwise(edges):
            paths += synth.cses_orbits(
                start=np.datetime64(a, "ms"),
                days=(b - a) / 86_400_000,
                seed=args.seed,
                out_dir=args.output,
                overwrite=args.overwrite,
            )
            bar.update()
    return paths


def cmd_synth(args: argparse.Namespace) -> int:
    if args.start is None:
        args.start = "2013-01-01" if args.kind == "ground" else "2021-11-01"
    t0 = time.perf_counter()
    if args.kind == "ground":
        if args.days != int(args.days):
            raise ValueError(f"--days must be a whole number for ground, got {args.days}")
        args.days = int(args.days)
        # before any cluster starts
        if os.path.lexists(args.output) and not args.overwrite:
            raise FileExistsError(f"{args.output} exists; pass --overwrite to replace it")
        wave = synth.ground_station(
            start=args.start, days=args.days, seed=args.seed, station=args.station
        )
        with (
            compute_on(args.scheduler, args.workers, days=args.days) as client,
            progress(client, desc=f"synth -> {Path(args.output).name}", disable=args.no_progress),
        ):
            path = write_waveform(wave, args.output, overwrite=args.overwrite)
        print(
            f"synthetic ground station: {args.days} day(s), seed {args.seed} -> "
            f"{Path(path).resolve()} ({time.perf_counter() - t0:.1f} s)"
        )
    else:
        if os.path.exists(args.output) and not os.path.isdir(args.output):
            raise FileExistsError(f"{args.output} exists and is not a folder (-o/--output)")
        paths = _synth_cses(args)
        print(
            f"synthetic CSES-01 EFD: {len(paths)} half-orbit file(s) -> "
            f"{Path(args.output).resolve()} ({time.perf_counter() - t0:.1f} s)"
        )
    return 0


def _open_spectra(
    path_args: Sequence[str],
    component: str | None,
    model_config: dict,
    *,
    described: bool = False,
):
    """A (time, frequency) PSD from a cube store or from CSES files, and its description.

    ``described``: CSES files' platform, instrument and component (the Dataset's attrs)
    on the PSD too, for a figure's title; a cube's PSD has its station's already.
    """
    first = Path(path_args[0])
    is_cses = first.suffix == ".h5" or (
        first.is_dir() and any(first.glob(FILE_GLOB)) and not (first / "zarr.json").exists()
    )
    if is_cses:
        comp = component or model_config.get("component") or "Z"
        sat = read_cses(list(path_args) if len(path_args) > 1 else path_args[0], component=comp)
        psd = sat["psd"]
        if described:
            psd = psd.assign_attrs({**sat.attrs, **psd.attrs})
        return psd, f"CSES EFD {comp} from {first}"
    cube = open_cube(first)
    comps = [str(c) for c in cube.component.values]
    comp = component or model_config.get("component")
    if comp is None:
        comp = comps[0]
        if len(comps) > 1:
            log.info("no --component given: using %r of %s", comp, comps)
    if any(c not in comps for c in comp.split("+")):
        raise ValueError(f"component {comp!r} is not in {first} (it has {comps})")
    return select_component(cube, comp), f"cube {first} component {comp}"


def _open_probability(path: str):
    """A probability store, or a ValueError that says what the store is instead."""
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


def _days_of(t) -> float:
    """Days of data a time axis covers (one step counted for the last sample)."""
    import numpy as np

    t = np.asarray(t)
    if t.size < 2:
        return float(t.size)
    span = t[-1] - t[0] + np.median(np.diff(t))
    return float(span / np.timedelta64(86_400, "s"))


def cmd_predict(args: argparse.Namespace) -> int:
    from .models.checkpoint import read_config  # optional extra: torch

    config = read_config(args.model)
    psd, what = _open_spectra(args.cube, args.component, config)
    days = _days_of(psd["time"].values)
    threads = None
    if choose(args.scheduler, args.workers, days) == "threads":
        # the chunks run side by side in this process, each on its share of the cores:
        # torch's threads must not multiply with Dask's
        cores = cpu_count()  # those this process may use (affinity, cgroup quota)
        chunks = len(psd.chunksizes.get("time", (0,)))
        threads = max(1, cores // max(1, min(cores, chunks)))
        log.debug("%d chunk(s) on %d core(s): %d torch thread(s) per task", chunks, cores, threads)
    t0 = time.perf_counter()
    prob = predict(psd, args.model, batch_size=args.batch_size, device=args.device,
                   threads=threads)  # fmt: skip
    prob.attrs["input"] = what
    with (
        _torch_threads_kept(threads is not None),
        # one I/O thread per worker reads and writes chunks while its network runs
        compute_on(args.scheduler, args.workers, days=days, io_threads=1) as client,
        _cluster_bar(client, f"probability -> {Path(args.output).name}", args.no_progress),
    ):
        written = write_probability(
            prob,
            args.output,
            dtype=args.dtype,
            progress=not args.no_progress and client is None,
            client=client,
            break_lock=args.break_lock,
        )
    print(
        f"{what}: wrote {len(written)} chunk(s) of probabilities in "
        f"{time.perf_counter() - t0:.1f} s -> {Path(args.output).resolve()}"
    )
    return 0


@contextlib.contextmanager
def _torch_threads_kept(keep: bool) -> Iterator[None]:
    """Restore torch's thread count afterwards (the tasks set it for the whole process)."""
    if not keep:
        yield
        return
    with needs_extra("models"):
        import torch

    before = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(before)


def cmd_events(args: argparse.Namespace) -> int:
    prob = _open_probability(args.probability)
    psd = None
    if args.cube:
        psd, _ = _open_spectra(args.cube, prob.attrs.get("component"), {})
    cuts = dict.fromkeys(EVENT_CUT_KEYS) if args.no_event_cuts else {}
    with progress(None, desc=f"events <- {Path(args.probability).name}",
                  disable=args.no_progress):  # fmt: skip
        cat = extract_events(
            prob, psd=psd, threshold=args.threshold, min_pixels=args.min_pixels, **cuts
        )
    applied = [f"{k} {cat.attrs[k]:g}" for k in EVENT_CUT_KEYS if k in cat.attrs]
    if applied:
        log.info("event cuts (the model's): %s", ", ".join(applied))
    if psd is None and not args.no_event_cuts:
        for key, what in (
            ("max_impulsiveness", "impulsiveness cut"),
            ("min_event_score", "event score"),
        ):
            if key in prob.attrs:
                log.warning("the model's %s needs the PSD: pass --cube to apply it", what)
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
    from tqdm.auto import tqdm

    from . import plot  # optional extra: matplotlib

    cat = open_catalogue(args.catalogue)
    # fixed bins (stats.MAGLAT_EDGES, stats.FREQUENCY_EDGES[kind]) whatever the events, so
    # that the files of two runs compare bin by bin
    maglat_edges = None
    if args.maglat_step != 2.0:
        maglat_edges = np.arange(-90.0, 90.0 + args.maglat_step / 2, args.maglat_step)
    figures = 0
    if args.plots:
        figures = 1 + ("magnetic_latitude" in cat) + ("f_peak" in cat)
        figures += "latitude" in cat and "longitude" in cat
    with tqdm(total=2 + figures, desc=f"stats <- {Path(args.catalogue).name}",
              unit="step", disable=args.no_progress) as bar:  # fmt: skip
        try:
            ds = stats.distributions(
                cat, kind=args.kind, maglat_edges=maglat_edges, source=str(args.catalogue)
            )
        except KeyError as err:
            # a catalogue without the variables a distribution needs (no times, ...)
            why = err.args[0] if err.args else str(err)
            raise ValueError(f"{args.catalogue}: {why}") from err
        bar.update()
        # atomic: a failure never leaves a torn stats.nc under its name, nor clobbers the
        # previous one
        stats.write_distributions(ds, args.output)
        bar.update()
        if args.plots:
            out = Path(args.plots)
            out.mkdir(parents=True, exist_ok=True)
            plot.seasonal_counts(ds, path=out / "seasonal_counts.png")
            bar.update()
            if "maglat_count" in ds:
                plot.maglat_histogram(ds, path=out / "maglat_histogram.png")
                bar.update()
            if "frequency_count" in ds:
                plot.frequency_histogram(ds, path=out / "frequency_histogram.png")
                bar.update()
            if "latitude" in cat and "longitude" in cat:
                plot.event_map(cat, path=out / "event_map.png")
                bar.update()
    print(ds["seasonal_count"].to_pandas().to_string())
    print(f"distributions -> {Path(args.output).resolve()}")
    if args.plots:
        print(f"figures -> {Path(args.plots).resolve()}")
    return 0


def _half_orbits(psd) -> list[str]:
    """``orbit N direction (start to end)`` of each half-orbit of a satellite PSD."""
    import numpy as np

    orbit = np.asarray(psd["orbit"].values)
    way = (
        np.asarray(psd["orbit_direction"].values, str)
        if "orbit_direction" in psd.coords
        else np.full(orbit.shape, "")
    )
    t = psd["time"].values
    cut = np.flatnonzero((orbit[1:] != orbit[:-1]) | (way[1:] != way[:-1])) + 1
    return [
        " ".join(filter(None, ["orbit", str(orbit[a]), way[a], f"({_span(t[a:b])})"]))
        for a, b in itertools.pairwise([0, *cut, orbit.size])
    ]


def cmd_plot(args: argparse.Namespace) -> int:
    import numpy as np

    from . import plot  # optional extra: matplotlib

    psd, what = _open_spectra(args.spectra, args.component, {}, described=True)
    if args.catalogue and "orbit" not in psd.coords:
        # events of a ground station have no half-orbit to box them in
        raise ValueError(
            f"--catalogue draws the events of a satellite's half-orbit: {what} has no "
            "'orbit' coordinate"
        )
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
    if args.catalogue:
        passes = _half_orbits(psd)
        if len(passes) > 1:
            # the half-orbits are apart in time: drawn side by side, the time axis would lie
            shown = "; ".join(passes[:3]) + ("; ..." if len(passes) > 3 else "")
            raise ValueError(
                f"--catalogue draws one half-orbit: {what} holds {len(passes)} ({shown}); "
                "give one half-orbit's file, or --start/--end within one"
            )
        cat = open_catalogue(args.catalogue)
        missing = [v for v in ("start_time", "end_time", "f_min", "f_max") if v not in cat]
        if missing:
            raise ValueError(f"{args.catalogue}: no {', '.join(missing)} to draw the events by")
        fig = plot.plot_halforbit(
            psd.load(),
            catalogue=cat,
            detections=detections,
            normalise=args.normalise,
            path=args.output,
        )
        boxed = f" ({len(fig.event_boxes)} event(s) of {args.catalogue} boxed)"
    else:
        fig = plot.quicklook(
            psd.load(), detections=detections, normalise=args.normalise, path=args.output
        )
        boxed = ""
    del fig
    print(f"quicklook -> {Path(args.output).resolve()}{boxed}")
    return 0


def _add_break_lock(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--break-lock",
        action="store_true",
        help="take over the store's writer lock although its writer may be alive (only when "
        "you know it is dead: two writers of one store corrupt it)",
    )


def _add_cube_parser(sub: Any) -> None:
    """The ``cube`` command."""
    p = sub.add_parser(
        "cube",
        help="build a spectrogram cube store from waveform files",
        description="Build (or resume, or extend) a zarr spectrogram cube: one time chunk "
        "per day, each committed once written, so a re-run writes only the missing days "
        "and a later record appends.",
        epilog=_examples(
            "xspecseg cube wave.zarr -o site.zarr --preset iar",
            "xspecseg cube records/*.mseed -o site.zarr --config site.toml --components H D",
            "xspecseg cube records/ -o site.zarr --scheduler tcp://host:8786",
        ),
    )
    p.add_argument("inputs", nargs="+", help="waveform files, folders or globs")
    p.add_argument("-o", "--output", required=True, help="zarr store to write")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--preset", default="iar", help="named parameter set (default: iar)")
    g.add_argument(
        "--config",
        metavar="FILE.toml",
        help="cube parameters from a TOML file. A calibration given as data (a frequency/"
        "magnitude table, a two-column file, or poles and zeros) runs nothing; "
        '`calibration = "module:function"` imports that module and runs that function: '
        "use only TOML files you trust",
    )
    p.add_argument(
        "--format", default=None, help="raw-int16 | mseed | netcdf | zarr (default: inferred)"
    )
    p.add_argument(
        "--components",
        nargs="+",
        default=None,
        metavar="NAME",
        help="keep only these components of the records (default: all)",
    )
    _add_break_lock(p)
    _add_cluster_args(p, what="a cube")
    p.set_defaults(func=cmd_cube)


def _add_predict_parser(sub: Any) -> None:
    """The ``predict`` command."""
    p = sub.add_parser(
        "predict",
        help="segment a cube chunk by chunk into a probability store",
        description="Run a U-net / ODM_Unet over a cube store (or CSES "
        "files) chunk by chunk and write probabilities to zarr; resumable.",
        epilog=_examples(
            "xspecseg predict site.zarr -o prob.zarr --model iar-default",
            "xspecseg predict orbits/ -o prob.zarr --model cses-default --dtype uint8",
            "xspecseg predict site.zarr -o prob.zarr --model my-model/ --component H",
        ),
    )
    p.add_argument("cube", nargs="+", help="cube store, or CSES .h5 files / folder")
    p.add_argument("-o", "--output", required=True, help="probability zarr store")
    p.add_argument("--model", required=True, help="shipped model name or checkpoint path")
    p.add_argument(
        "--component",
        default=None,
        help="the one component to segment; a sum such as H+D adds their PSDs (default: "
        "the model's, else the cube's first)",
    )
    p.add_argument(
        "--dtype",
        choices=["float32", "uint8"],
        default="float32",
        help="uint8 stores round(p*254), scale_factor 1/254, 255 = NaN",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="images per forward pass of the network (default: as many as hold 2**19 "
        "pixels: 4 IAR nights, 1 CSES half-orbit)",
    )
    p.add_argument("--device", default=None, help="cuda | cpu (default: cuda if present)")
    _add_break_lock(p)
    _add_cluster_args(p, what="a prediction", io_thread=True)
    p.set_defaults(func=cmd_predict)


def _add_events_parser(sub: Any) -> None:
    """The ``events`` command."""
    p = sub.add_parser(
        "events",
        help="probability store -> CF netCDF event catalogue",
        description="Connected regions of the probabilities above the threshold, joined "
        "across chunks, as a CF netCDF event catalogue: times, frequencies, peak PSD, IAR "
        "fringe spacing (with --cube) and, for satellites, positions. The model's "
        "recommended event cuts are applied unless --no-event-cuts.",
        epilog=_examples(
            "xspecseg events prob.zarr --cube site.zarr -o events.nc",
            "xspecseg events prob.zarr --cube orbits/ -o events.nc --threshold 0.6",
        ),
    )
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
    p.add_argument(
        "--min-pixels",
        type=int,
        default=20,
        help="drop events with fewer pixels above the threshold",
    )
    p.add_argument(
        "--no-event-cuts",
        action="store_true",
        help="keep every region: ignore the model's recommended event cuts (impulsiveness, "
        "applied when --cube is given; mean probability, bandwidth, duration)",
    )
    _add_no_progress(p)
    p.set_defaults(func=cmd_events)


def _add_stats_parser(sub: Any) -> None:
    """The ``stats`` command."""
    p = sub.add_parser(
        "stats",
        help="catalogue -> distributions (netCDF) and figures",
        description="Seasonal, monthly, magnetic-latitude, frequency and local-time "
        "distributions of a catalogue's events (those the catalogue has the variables "
        "for) in one CF-1.10 netCDF file, and their figures with --plots. The bins are "
        "fixed, whatever the events, so that the files of two runs compare: numeric bin "
        "centres with CF bounds; the catalogue's provenance and history are kept.",
        epilog=_examples(
            "xspecseg stats events.nc -o stats.nc",
            "xspecseg stats events.nc -o stats.nc --plots figures/ --maglat-step 4",
            "xspecseg stats orbit_events.nc -o stats.nc --kind cses",
        ),
    )
    p.add_argument("catalogue", help="catalogue .nc")
    p.add_argument("-o", "--output", required=True, help="distributions .nc")
    p.add_argument("--plots", default=None, metavar="DIR", help="write PNG figures here")
    p.add_argument(
        "--maglat-step",
        type=_positive,
        default=2.0,
        help="width (deg) of the magnetic-latitude bins from -90 to 90 deg; the last bin "
        "reaches past 90 when the width does not divide 180",
    )
    p.add_argument(
        "--kind",
        choices=["iar", "cses"],
        default=None,
        help="which fixed peak-frequency bins: iar 0-10 Hz in 0.5 Hz, cses 0-25.6 kHz in "
        "800 Hz (default: from the catalogue: cses for satellite events or peaks above "
        "20 Hz, else iar)",
    )
    _add_no_progress(p)
    p.set_defaults(func=cmd_stats)


def _add_plot_parser(sub: Any) -> None:
    """The ``plot`` command."""
    p = sub.add_parser(
        "plot",
        help="quicklook PNG of a spectrogram with detections",
        description="A quicklook PNG of a cube's (or CSES files') spectrogram over a time "
        "range, with the detections of a probability store outlined; titled with the "
        "station (or platform), component and period. For one CSES half-orbit, "
        "--catalogue boxes the catalogue's events.",
        epilog=_examples(
            "xspecseg plot site.zarr --start 2013-01-20T18:00 --end 2013-01-21T06:00 "
            "--probability prob.zarr -o night.png",
            "xspecseg plot orbits/ --component Z -o orbits.png --normalise frequency",
            "xspecseg plot orbits/CSES_01_EFD_3_L02_A1_212340_*.h5 --catalogue events.nc "
            "-o orbit.png",
        ),
    )
    p.add_argument("spectra", nargs="+", help="cube store, or CSES .h5 files / folder")
    p.add_argument("-o", "--output", required=True, help="PNG path")
    p.add_argument(
        "--component",
        default=None,
        help="the one component to show; a sum such as H+D adds their PSDs (default: the "
        "cube's first; Z for CSES)",
    )
    p.add_argument("--start", default=None, help="first time (e.g. 2013-01-01T18:00)")
    p.add_argument("--end", default=None, help="last time (default: the end of the data)")
    p.add_argument("--probability", default=None, help="probability store to outline")
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="probability cut of the outlines (default: the model's recommended one)",
    )
    p.add_argument(
        "--normalise",
        choices=["frequency"],
        default=None,
        help="frequency: colour each frequency row relative to its median over the time "
        "drawn, so that weak bands show as well as strong ones (default: log10 PSD)",
    )
    p.add_argument(
        "--catalogue",
        default=None,
        metavar="EVENTS.nc",
        help="CSES only: box this catalogue's events on one half-orbit's spectrogram, "
        "with latitude ticks",
    )
    p.set_defaults(func=cmd_plot)


def _add_synth_parser(sub: Any) -> None:
    """The ``synth`` command."""
    p = sub.add_parser(
        "synth",
        help="generate synthetic test-bed data with exact truth",
        description="Synthetic ground IAR station (waveform store) or CSES-01 "
        "EFD VLF half-orbit files. --scheduler and --workers apply to ground; CSES files "
        "are written by this process, one half-orbit after the other.",
        epilog=_examples(
            "xspecseg synth ground --start 2013-01-01 --days 3 -o wave.zarr",
            "xspecseg synth cses --start 2021-11-01 --days 0.5 --seed 3 -o orbits/",
        ),
    )
    p.add_argument(
        "kind",
        choices=["ground", "cses"],
        help="ground: a station's H, D waveform at 100 Hz; cses: CSES-01 EFD level-2 files",
    )
    p.add_argument(
        "--start",
        default=None,
        help="first UTC day (YYYY-MM-DD) (default: 2013-01-01 ground, 2021-11-01 cses)",
    )
    p.add_argument(
        "--days",
        type=float,
        default=2,
        help="days to simulate (whole days for ground; cses may take fractions)",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="random seed: the same seed gives the same data"
    )
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
    _add_cluster_args(p, what="a ground record")
    p.set_defaults(func=cmd_synth)


def _add_demo_parser(sub: Any) -> None:
    """The ``demo`` command."""
    p = sub.add_parser(
        "demo",
        help="run the chain on generated data and say where outputs are",
        description="The whole chain on synthetic data: a ground station -> cube -> "
        "iar-default -> events -> distributions and figures, and CSES-01 orbits -> "
        "cses-default -> catalogue -> distributions and figures; a summary gives the "
        "scores against the synthetic truth and where every output is.",
        epilog=_examples("xspecseg demo", "xspecseg demo -o demo/ --days 3 --cses-days 1"),
    )
    p.add_argument("-o", "--output", default="xspecseg-demo", help="output folder")
    p.add_argument("--days", type=int, default=14, help="days of the synthetic ground record")
    p.add_argument("--cses-days", type=float, default=7.0, help="days of synthetic CSES orbits")
    p.add_argument(
        "--workers",
        type=_workers,
        default=None,
        metavar="N",
        help="as for cube: N > 1 starts a LocalCluster of N worker processes (default: "
        f"in this process up to {SMALL_JOB_DAYS} days, else one worker process per core)",
    )
    _add_no_progress(p)
    p.set_defaults(func=cmd_demo)


def build_parser() -> argparse.ArgumentParser:
    """The ``xspecseg`` argument parser with every subcommand.

    Examples
    --------
    >>> args = build_parser().parse_args(["-q", "events", "prob.zarr", "-o", "events.nc"])
    >>> args.command, args.quiet, args.min_pixels
    ('events', 1, 20)
    """
    parser = argparse.ArgumentParser(
        prog="xspecseg",
        description="Spectrogram cubes, segmentation and catalogues of resonances and "
        "anomalies in geophysical field records.",
        epilog=_examples(
            "xspecseg synth ground --days 3 -o wave.zarr",
            "xspecseg cube wave.zarr -o site.zarr",
            "xspecseg predict site.zarr -o prob.zarr --model iar-default",
            "xspecseg events prob.zarr --cube site.zarr -o events.nc",
            "xspecseg stats events.nc -o stats.nc --plots figures/",
        )
        + "\n\n`xspecseg COMMAND --help` describes each command.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"xspecseg {__version__}")
    _add_verbosity(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="one stage of the chain")  # fmt: skip

    for add in (_add_cube_parser, _add_predict_parser, _add_events_parser, _add_stats_parser,
                _add_plot_parser, _add_synth_parser, add_training_parsers, _add_demo_parser):  # fmt: skip
        add(sub)

    for p in sub.choices.values():
        p.formatter_class = _HelpFormatter
        _add_verbosity(p, top=False)
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


#: how deep :func:`_broken_metadata` looks: store / group / subgroup / array
_METADATA_DEPTH = 4


def _broken_metadata(store: Path) -> tuple[Path, str] | None:
    """The first zarr metadata file of ``store``'s tree that does not parse.

    Breadth first, so a broken root is named before its children; into groups only (and
    the folder given), never into an array's folder, which holds chunks: the walk reads
    metadata files only, whatever the size of the store.
    """
    todo = [(store, 0)]
    while todo:
        folder, depth = todo.pop(0)
        group = depth == 0  # the folder given: looked into unless it is an array
        for name in _ZARR_METADATA:
            f = folder / name
            if not f.is_file():
                continue
            try:
                doc = json.loads(f.read_bytes())
            except (ValueError, OSError) as err:  # JSONDecodeError, UnicodeDecodeError
                return f, f"not valid JSON: {err}"
            if name == "zarr.json":
                if not (isinstance(doc, dict) and "zarr_format" in doc and "node_type" in doc):
                    return f, "not zarr metadata (no zarr_format / node_type)"
                group = doc["node_type"] == "group"
            elif name in (".zgroup", ".zarray"):
                group = name == ".zgroup"
        if not group or depth >= _METADATA_DEPTH:
            continue
        try:
            below = sorted(p for p in folder.iterdir() if p.is_dir())
        except OSError:
            continue
        todo += [(p, depth + 1) for p in below]
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


class _LogFormatter(logging.Formatter):
    """Information as plain lines; warnings and errors say what they are."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if record.levelno >= logging.WARNING:
            return f"{record.levelname.lower()}: {text}"
        return text


class _LevelFilter(logging.Filter):
    """xspecseg's records from ``own`` up, every other library's from ``other`` up.

    Needed besides the loggers' levels: a library that sets its own logger's level
    (distributed logs at info) reaches the root's handlers whatever the root's level.
    """

    def __init__(self, own: int, other: int):
        super().__init__()
        self.own, self.other = own, other

    def filter(self, record: logging.LogRecord) -> bool:
        mine = record.name == "xspecseg" or record.name.startswith("xspecseg.")
        return record.levelno >= (self.own if mine else self.other)


@contextlib.contextmanager
def _logging_to_stderr(verbosity: int) -> Iterator[None]:
    """Log to stderr at the level of ``-v`` / ``-q`` while the command runs."""
    own = {-2: logging.ERROR, -1: logging.WARNING, 0: logging.INFO}.get(
        max(-2, verbosity), logging.DEBUG
    )
    # other libraries: their warnings; -vv opens their debug messages too (many)
    other = max(own, logging.WARNING) if verbosity < 2 else logging.DEBUG
    root, package = logging.getLogger(), logging.getLogger("xspecseg")
    levels = (root.level, package.level)
    root.setLevel(other)
    package.setLevel(own)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LogFormatter("%(message)s"))
    handler.addFilter(_LevelFilter(own, other))
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(levels[0])
        package.setLevel(levels[1])


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``xspecseg`` console script.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0, or 2 after a one-line error on stderr.

    Examples
    --------
    >>> main(["-q", "synth", "cses", "--days", "0.05", "-o", "orbits/", "--no-progress"])
    synthetic CSES-01 EFD: ... half-orbit file(s) -> ...
    0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if argv is not None and getattr(args, "_argv", "absent") is None:
        # the command a checkpoint records is the one given here, not the caller's
        args._argv = list(argv)
    verbosity = (args.verbose or 0) - (args.quiet or 0)
    # bars only on a terminal: in a log file or a pipe every redraw is a line of its own,
    # and a bar left half drawn would run into an error's one line
    if hasattr(args, "no_progress") and (verbosity < 0 or not sys.stderr.isatty()):
        args.no_progress = True
    with _logging_to_stderr(verbosity):
        try:
            return int(args.func(args) or 0)
        except (ValueError, OSError, TypeError, ImportError) as err:
            # OSError covers FileNotFoundError, FileExistsError and failed writes;
            # ImportError an optional package not installed (MissingExtraError names the
            # extra that brings it): what to install, not a traceback
            print(f"xspecseg {args.command}: error: {_message(err, args)}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
