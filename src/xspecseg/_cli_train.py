"""The ``xspecseg train``, ``compare``, ``evaluate``, ``tune-events`` and ``ensemble`` subcommands.

``add_parsers(subparsers)`` adds them to the ``xspecseg`` argparse parser; each handler
returns an exit code. Defaults are small enough for a laptop CPU (a U-net of 8 base
channels, 8 synthetic nights); the papers' settings are options.

Examples
--------
>>> import argparse
>>> p = argparse.ArgumentParser(); sub = p.add_subparsers(dest="command")
>>> add_parsers(sub)
>>> a = p.parse_args(["train", "--epochs", "2", "-o", "model"])
>>> a.epochs, a.model, a.func.__name__
(2, 'unet', 'cmd_train')
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._atomic import atomic_write
from ._optional import needs_extra
from .cluster import dask_client
from .contract import NORM_STATISTICS
from .events import EVENT_CUT_KEYS
from .events.cuts import PROPERTY_CUTS
from .infer import _weights_sha256
from .validation import evaluation_table, heldout_cses_table, heldout_ground_table

__all__ = [
    "add_parsers",
    "cmd_compare",
    "cmd_ensemble",
    "cmd_evaluate",
    "cmd_train",
    "cmd_tune_events",
]

log = logging.getLogger(__name__)


class _Renamed(argparse.Action):
    """An option that was renamed: giving it is an error that names the new spelling."""

    def __init__(self, option_strings: list[str], dest: str, new: str, why: str, **kwargs: Any):
        kwargs.update(nargs="?", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        super().__init__(option_strings, dest, **kwargs)
        self.new, self.why = new, why

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        parser.error(f"{option_string} is now {self.new} ({self.why})")


def _examples(*commands: str) -> str:
    return "examples:\n" + "\n".join(f"  {c}" for c in commands)


def _default_cache() -> str:
    base = os.environ.get("XSPECSEG_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "xspecseg"
    )
    return os.path.join(base, "training-data")


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _key_values(items: list[str] | None, option: str = "--model-arg") -> dict[str, Any]:
    out = {}
    for item in items or []:
        key, sep, val = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{option} wants KEY=VALUE, got {item!r}")
        out[key.strip()] = _value(val.strip())
    return out


def _add_data_args(p: argparse.ArgumentParser, *, heldout: bool) -> None:
    g = p.add_argument_group("data")
    g.add_argument(
        "--data",
        default="synth-iar",
        help="synth-iar | synth-cses | cube:PATH (a cube store) | npz:PATH (saved images); "
        "evaluate also: heldout-iar | heldout-cses (the held-out generator family, whole "
        "chain with events) (default: synth-iar)",
    )
    g.add_argument(
        "--rate-scale",
        type=float,
        default=None,
        help="synth-cses: multiply the paper's anomaly rates (default: 20, so that a short "
        "window holds enough anomalies to learn from)",
    )
    g.add_argument(
        "--nights",
        type=int,
        default=4 if heldout else 8,
        help="synthetic nights (synth-iar) or half-orbits (synth-cses) "
        f"(default: {4 if heldout else 8})",
    )
    g.add_argument(
        "--seed",
        type=int,
        default=12345 if heldout else 0,
        help="seed of the synthetic data"
        + (" (use one not used in training)" if heldout else "")
        + f" (default: {12345 if heldout else 0})",
    )
    g.add_argument("--start", default=None, help="first synthetic evening / orbit day (UTC date)")
    g.add_argument(
        "--domain",
        default="default",
        choices=["default", "randomised"],
        help="synthetic data: one default station / instrument, or domain randomisation "
        "(each group of nights or half-orbits from its own drawn station or instrument, with "
        "night-time look-alikes and units over six decades) (default: default)",
    )
    g.add_argument(
        "--truth-threshold",
        type=float,
        default=None,
        help="synth-iar: share of the expected power the IARs must hold for a pixel to be "
        "labelled (default: 0.5; lower values label faint fringes too)",
    )
    g.add_argument(
        "--group",
        type=int,
        default=None,
        help="--domain randomised: nights (half-orbits) per drawn station (instrument) "
        "(default: 4 nights, 16 half-orbits)",
    )
    g.add_argument(
        "--default-share",
        type=float,
        default=None,
        help="--domain randomised: share of the stations (instruments) that are the "
        "generator's default one instead of a drawn one (default: 0)",
    )
    g.add_argument(
        "--band",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        default=None,
        help="frequency band of the images in Hz (default: 0 6 for IAR, 0 12500 for CSES; "
        "evaluate: each model's own)",
    )
    g.add_argument(
        "--night",
        nargs=2,
        metavar=("START", "END"),
        default=None,
        help="UT night window HH:MM HH:MM (default: 18:00 06:00)",
    )
    g.add_argument(
        "--components",
        nargs="+",
        default=None,
        metavar="NAME",
        help="ground components, a set of images for each; a sum such as H+D adds their "
        "PSDs (default: H)",
    )
    g.add_argument(
        "--synth-param",
        action="append",
        default=None,
        metavar="NAME=VALUE",
        help="synth-iar / synth-cses: a generator parameter (a field of xs.synth.GroundParams "
        "or xs.synth.cses.CsesParams; VALUE in JSON) set on every station or instrument, on "
        "top of --domain randomised; repeatable (e.g. iar_delta_f_drift=2)",
    )
    g.add_argument(
        "--cache",
        default=_default_cache(),
        help="folder caching generated synthetic images (default: %(default)s); 'none' disables",
    )
    if not heldout:
        g.add_argument(
            "--labels",
            default=None,
            help="truth | png | beggan (default: png with --masks, truth for synthetic data, "
            "else beggan: the classical labeller, the IAR paper's Training Set A)",
        )
        g.add_argument(
            "--masks", default=None, help="folder of hand-drawn PNG masks (black = signal)"
        )


def _domain(args: argparse.Namespace) -> dict[str, Any]:
    if getattr(args, "domain", "default") == "default":
        return {}
    out: dict[str, Any] = {"domain": args.domain}
    if args.group is not None:
        out["group"] = int(args.group)
    if getattr(args, "default_share", None):
        out["default_share"] = float(args.default_share)
    return out


def _cache(args: argparse.Namespace) -> str | None:
    return None if str(args.cache).lower() in ("none", "") else args.cache


def _spec(args: argparse.Namespace, *, seed: int, nights: int, iar: bool = True) -> dict[str, Any]:
    from .training.data import parse_data  # optional extra: torch

    kind = args.data
    extra: dict[str, Any] = {}
    if kind == "synth-iar":
        extra = dict(
            nights=nights,
            seed=seed,
            cache_dir=_cache(args),
            components=args.components,
            start=args.start,
        )
        if args.night:
            extra["night"] = list(args.night)
        if not iar:
            extra["iar"] = False
        extra.update(_domain(args))
        extra.update(_key_values(args.synth_param, option="--synth-param"))
        if getattr(args, "truth_threshold", None) is not None:
            extra["truth_threshold"] = float(args.truth_threshold)
        labels = getattr(args, "labels", None)
        if labels:
            extra["labels"] = labels
    elif kind == "synth-cses":
        extra = dict(halforbits=nights, seed=seed, cache_dir=_cache(args), start=args.start)
        if not iar:
            extra["rate_scale"] = 0.0
        elif getattr(args, "rate_scale", None) is not None:
            extra["rate_scale"] = float(args.rate_scale)
        extra.update(_domain(args))
        extra.update(_key_values(args.synth_param, option="--synth-param"))
    else:
        extra = dict(labels=getattr(args, "labels", None), masks=getattr(args, "masks", None))
        if args.night:
            extra["night"] = list(args.night)
        if args.components:
            extra["components"] = args.components
    return parse_data(kind, **extra)


# -- train -----------------------------------------------------------------------------------------


def cmd_train(args: argparse.Namespace) -> int:
    from .training import (  # optional extra: torch
        InputRepresentation,
        SpectrogramDataset,
        TrainingRecipe,
        load_data,
        train_model,
    )

    t0 = time.perf_counter()
    model_kwargs = _key_values(args.model_arg)
    if args.base_channels is not None:
        model_kwargs["base_channels"] = args.base_channels
    elif args.model.lower() == "unet":
        model_kwargs.setdefault("base_channels", 8)
    if args.depth is not None:
        model_kwargs["depth"] = args.depth
    if args.dropout is not None:
        model_kwargs["dropout"] = args.dropout

    spec = _spec(args, seed=args.seed, nights=args.nights)
    log.info("data: %s", json.dumps(spec, default=str))
    data = load_data(spec)
    if args.band is not None:
        data = data.crop_band(tuple(args.band))
    if args.data.startswith("synth-"):
        val_spec = _spec(args, seed=args.seed + 1000, nights=args.val_nights)
        val = load_data(val_spec) if args.val_nights > 0 else None
        if val is not None and args.band is not None:
            val = val.crop_band(tuple(args.band))
        train = data
    else:
        from .training.search import kfold_indices  # optional extra: torch

        n_val = round(len(data) * args.val_fraction)
        if n_val >= 1 and len(data) - n_val >= 1:
            k = max(2, round(1 / args.val_fraction))
            tr_idx, va_idx = kfold_indices(len(data), k=k, seed=args.seed)[0]
            train, val = data.subset(tr_idx), data.subset(va_idx)
        else:
            train, val = data, None
    log.info(
        "%d training image(s) %s, %d validation; labelled fraction %.3f",
        len(train),
        train.images[0].shape,
        0 if val is None else len(val),
        train.positive_fraction,
    )
    if args.row_background != "level" or args.smooth:
        rep = InputRepresentation.fit(
            train.images,
            row_background=args.row_background,
            smooth=tuple(args.smooth) if args.smooth else None,
        )
        train = SpectrogramDataset(train, rep)
    out = Path(args.output)
    recipe = TrainingRecipe(
        model=args.model,
        model_kwargs=model_kwargs,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer=args.optimizer,
        loss=args.loss,
        init=args.init,
        lr_schedule=args.lr_schedule,
        restart_epochs=args.restart_epochs,
        augment=args.augment,
        crop=tuple(args.crop) if args.crop else None,
        positive_crop=args.positive_crop,
        hard_crop=args.hard_crop,
        temperature_epochs=args.temperature_epochs,
        norm_statistics=args.norm_statistics,
        seed=args.seed,
    )
    net, hist = train_model(
        train,
        recipe,
        val=val,
        checkpoint_dir=out / "checkpoints",
        resume=args.resume,
        progress=not args.no_progress,
        threads=args.threads,
        output=out,
        command="xspecseg " + " ".join(shlex.quote(a) for a in (args._argv or sys.argv[1:])),
    )
    hist.to_netcdf(out / "history.nc")
    last = hist.isel(epoch=-1)
    print()
    print(f"trained {net.xspecseg_config['architecture']} for {hist.sizes['epoch']} epoch(s)")
    print(f"  final train loss {float(last.train_loss):.4f}", end="")
    if val is not None:
        print(
            f", validation loss {float(last.val_loss):.4f}, IoU {float(last.val_iou):.3f} at 0.5, "
            f"{float(last.val_best_iou):.3f} at the recommended threshold {net.threshold:.2f}"
        )
    else:
        print(f"; threshold {net.threshold:.2f} (no validation set)")
    print(f"  model: {out.resolve()}  (load with xspecseg.models.load({str(out)!r}))")
    print(f"  history: {(out / 'history.nc').resolve()}")
    print(f"  finished in {time.perf_counter() - t0:.1f} s")
    return 0


# -- compare ---------------------------------------------------------------------------------------

# options of compare that are not those of the train command a run is
_COMPARE_ONLY = ("models", "run", "seeds", "workers", "scheduler")


def _compare_runs(args: argparse.Namespace) -> list[tuple[str, str, list[str]]]:
    """(label, model, --model-arg items) of every run, in the order given."""
    runs = [(name, name, []) for name in args.models]
    for item in args.run or []:
        if len(item) < 2:
            raise ValueError(f"--run wants LABEL MODEL [KEY=VALUE ...], got {item}")
        _key_values(item[2:], option="--run")  # refuse a malformed option before any training
        runs.append((item[0], item[1], list(item[2:])))
    if not runs:
        raise ValueError("nothing to compare: give architectures or --run LABEL MODEL ...")
    labels = [r[0] for r in runs]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise ValueError(f"run labels must differ; repeated: {dup}")
    return runs


def _train_argv(ns: argparse.Namespace) -> list[str]:
    """The ``xspecseg train`` arguments that reproduce the run ``ns`` describes."""
    sub = argparse.ArgumentParser().add_subparsers()
    _add_train_parser(sub)
    train = sub.choices["train"]
    argv: list[str] = []
    for action in train._actions:
        if not action.option_strings or action.dest in ("help",) or not hasattr(ns, action.dest):
            continue
        value, opt = getattr(ns, action.dest), action.option_strings[-1]
        if value is None or value == action.default:
            continue
        if isinstance(action, argparse._StoreTrueAction):
            argv.append(opt)
        elif isinstance(action, argparse._AppendAction):
            for v in value:
                argv += [opt, str(v)]
        elif isinstance(value, list | tuple):
            argv += [opt, *map(str, value)]
        else:
            argv += [opt, str(value)]
    return argv


def _run_namespace(
    args: argparse.Namespace, label: str, model: str, extra: list[str], seed: int
) -> argparse.Namespace:
    from .training.compare import run_folder  # optional extra: torch

    ns = argparse.Namespace(**{k: v for k, v in vars(args).items() if k not in _COMPARE_ONLY})
    ns.model = model
    ns.model_arg = [*(args.model_arg or []), *extra] or None
    ns.seed = int(seed)
    ns.output = str(run_folder(args.output, label, seed))
    ns.resume = True
    ns.no_progress = True
    ns.threads = args.threads or 1
    ns.func = cmd_train
    ns._argv = ["train", *_train_argv(ns)]
    return ns


def _warm_cache(ns: argparse.Namespace) -> None:
    """Generate (or find cached) the images of one seed before its runs read them."""
    from .training import load_data  # optional extra: torch

    if ns.data.startswith("synth-"):
        load_data(_spec(ns, seed=ns.seed, nights=ns.nights))
        if ns.val_nights > 0:
            load_data(_spec(ns, seed=ns.seed + 1000, nights=ns.val_nights))


def _compare_task(ns: argparse.Namespace, _after: Any = None) -> dict[str, Any]:
    """One run, in a worker: ``xspecseg train`` with the run's options (quiet)."""
    import contextlib
    import io

    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        cmd_train(ns)
    return {"output": ns.output, "seconds": time.perf_counter() - t0}


def cmd_compare(args: argparse.Namespace) -> int:
    from .plot import training_curves_figure  # optional extra: plot
    from .training.compare import (  # optional extra: torch
        finished_epochs,
        trained_epochs,
        training_curves,
    )

    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    runs = _compare_runs(args)
    out = Path(args.output)
    todo = []
    for label, model, extra in runs:
        for seed in args.seeds:
            ns = _run_namespace(args, label, model, extra, seed)
            done = finished_epochs(ns.output)
            if done >= args.epochs:
                log.info("%s seed %d: finished (%d epochs), skipped", label, seed, done)
                continue
            todo.append((label, seed, ns, trained_epochs(ns.output)))
    # after an interruption the runs furthest along go first, so that whole runs (and the
    # table's rows) come back before new ones start; the order given breaks ties
    todo.sort(key=lambda item: -item[3])
    print(f"{len(runs)} architecture(s) x {len(args.seeds)} seed(s): {len(todo)} run(s) to train")
    failed: list[str] = []

    def finished(label: str, seed: int, get: Callable[[], dict[str, Any]]) -> None:
        # one run that fails (a bad option, out of memory) must not cost the others theirs
        try:
            r = get()
            log.info("%s seed %d: %.0f s", label, seed, r["seconds"])
        except Exception as exc:
            failed.append(f"{label} seed {seed}: {type(exc).__name__}: {exc}")
            log.error("%s seed %d failed: %s", label, seed, exc)
        if bar is not None:
            bar.update()

    bar = None
    if todo and not args.no_progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc="compare", unit="run")
    try:
        if todo and args.workers == 1 and not args.scheduler:
            for seed in sorted({s for _, s, _, _ in todo}):
                _warm_cache(next(ns for _, s, ns, _ in todo if s == seed))
            for label, seed, ns, _ in todo:
                finished(label, seed, lambda ns=ns: _compare_task(ns))
        elif todo:
            with needs_extra("cluster"):
                from distributed import as_completed

            with dask_client(args.scheduler, args.workers) as client:
                warm = {
                    s: client.submit(_warm_cache, ns, pure=False)
                    for s, ns in {s: ns for _, s, ns, _ in reversed(todo)}.items()
                }
                futures = {
                    client.submit(
                        _compare_task, ns, warm[seed], pure=False, priority=len(todo) - k
                    ): (label, seed)
                    for k, (label, seed, ns, _) in enumerate(todo)
                }
                for fut in as_completed(list(futures)):
                    finished(*futures[fut], fut.result)
    finally:
        if bar is not None:
            bar.close()
    curves = training_curves(out)
    out.mkdir(parents=True, exist_ok=True)
    curves.to_netcdf(out / "curves.nc")
    if curves.sizes["run"]:
        training_curves_figure(curves, path=out / "curves.png")
    last = curves.isel(epoch=-1) if curves.sizes["epoch"] else curves
    for run in curves.run.values:
        for seed in curves.seed.values:
            r = last.sel(run=run, seed=seed)
            print(
                f"  {run:<24} seed {int(seed)}: validation loss {float(r.val_loss):.4f}, "
                f"IoU {float(r.val_best_iou):.3f}, "
                f"{float(curves.training_seconds.sel(run=run, seed=seed)) / 60:.1f} min"
            )
    print(f"curves: {(out / 'curves.nc').resolve()}, {(out / 'curves.png').resolve()}")
    if failed:
        print(f"{len(failed)} run(s) failed (the others are kept):", *failed, sep="\n  ")
        return 1
    return 0


# -- evaluate --------------------------------------------------------------------------------------


def cmd_evaluate(args: argparse.Namespace) -> int:
    import pandas as pd

    free = None
    if args.free_nights > 0 and args.data.startswith("synth-"):
        free = _spec(args, seed=args.seed, nights=args.free_nights, iar=False)
    table = evaluation_table(
        args.models,
        _spec(args, seed=args.seed, nights=args.nights),
        free=free,
        band=tuple(args.band) if args.band else None,
        baselines=not args.no_baselines,
    )
    cols = ["iou", "miou", "mpa", "fp_fraction_iar_free", "fp_fraction_heldout", "threshold",
            "parameters", "inference_seconds_per_image"]  # fmt: skip
    frame = table[cols].to_dataframe()
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(
            f"held-out: {table.attrs['heldout_images']} image(s) (seed {args.seed}), "
            f"{table.attrs['iar_free_images']} signal-free"
        )
        print(frame.to_string(float_format=lambda v: f"{v:.4f}"))
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_netcdf(out)
        print(f"table: {out.resolve()}")
    return 0


# -- parsers ---------------------------------------------------------------------------------------


def add_parsers(subparsers: Any) -> None:
    """Add ``train``, ``compare``, ``evaluate``, ``tune-events`` and ``ensemble`` to an
    argparse ``subparsers`` object."""
    _add_train_parser(subparsers)
    _add_compare_parser(subparsers)
    _add_evaluate_parser(subparsers)
    _add_tune_events_parser(subparsers)
    _add_ensemble_parser(subparsers)


def _add_train_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a segmentation network on labelled spectrogram images",
        description="Train a U-net / ODM_Unet / smp network on synthetic nights, synthetic "
        "CSES half-orbits or a cube store with hand-drawn PNG masks. Checkpoints each epoch "
        "under OUTPUT/checkpoints (--resume continues after a kill); the final model is "
        "written to OUTPUT (load it with xspecseg.models.load).",
        epilog=_examples(
            "xspecseg train --model unet --data synth-iar --nights 8 --epochs 10 -o model/",
            "xspecseg train --model odm_unet --data synth-cses --nights 48 --epochs 12 "
            "--lr-schedule cosine_warm_restarts --restart-epochs 12 -o cses-model/",
            "xspecseg train --data cube:site.zarr --masks masks/ --epochs 20 -o model/ --resume",
        ),
    )
    p.add_argument("--model", default="unet", help="unet | odm_unet | smp:<Arch> (default: unet)")
    _add_run_args(p)
    p.add_argument("-o", "--output", required=True, help="model directory to write")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from the last complete epoch in OUTPUT/checkpoints",
    )
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=cmd_train, _argv=None)


def _add_compare_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "compare",
        help="train several architectures, each with several seeds, under one recipe on Dask",
        description="Train every architecture given (positional names, and --run for one "
        "with its own options) once per --seeds value, with the training options of "
        "xspecseg train, one Dask task per run on single-threaded workers so that every core "
        "stays busy. Each run is a model directory OUTPUT/<label>/seed<k>; running the same "
        "command again skips finished runs and resumes interrupted ones from their last "
        "epoch (a larger --epochs extends them). Writes OUTPUT/curves.nc and "
        "OUTPUT/curves.png (validation curves of every run); score the models with "
        "xspecseg evaluate OUTPUT/*/seed*.",
        epilog=_examples(
            "xspecseg compare unet smp:Unet smp:FPN --seeds 0 1 --data synth-iar --nights 16 "
            "--epochs 8 --batch-size 4 --lr 1e-3 --loss ce_logdice -o cmp/",
            "xspecseg compare smp:Unet --run odm_small odm_unet variant=small width_mult=0.5 "
            "--data synth-cses --nights 96 --epochs 16 -o cmp-cses/",
        ),
    )
    p.add_argument(
        "models",
        nargs="*",
        help="architectures trained with their default options, labelled by name: "
        "unet | odm_unet | smp:<Arch>",
    )
    p.add_argument(
        "--run",
        nargs="+",
        action="append",
        default=None,
        metavar="ARG",
        help="LABEL MODEL [KEY=VALUE ...]: an architecture with its own options (VALUE read "
        "as JSON when it parses), labelled LABEL; repeatable",
    )
    p.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0],
        help="seeds of the data and the training; every run is trained once per seed (default: 0)",
    )
    _add_run_args(p, dask=True)
    p.add_argument("-o", "--output", required=True, help="folder of the runs")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes of the local cluster, one run each at a time (default: one "
        "per core; 1 runs here, one after another)",
    )
    p.add_argument("--scheduler", default=None, help="address of a running Dask scheduler")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=cmd_compare)


def _add_run_args(p: argparse.ArgumentParser, *, dask: bool = False) -> None:
    """What ``train`` and ``compare`` share: data, validation, recipe, architecture options
    (``dask``: ``--scheduler`` is a Dask scheduler's address, not the renamed option)."""
    _add_data_args(p, heldout=False)
    p.add_argument(
        "--val-nights",
        type=int,
        default=2,
        help="synthetic validation nights/half-orbits, generated with seed+1000 (default: 2)",
    )
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.25,
        help="share of cube/npz images held out for validation (default: 0.25)",
    )
    _add_recipe_args(p, renamed=not dask)
    g = p.add_argument_group("architecture")
    g.add_argument(
        "--base-channels",
        type=int,
        default=None,
        help="U-net width (default: 8 for unet, small for a CPU; the paper used 64)",
    )
    g.add_argument("--depth", type=int, default=None, help="U-net levels")
    g.add_argument("--dropout", type=float, default=None, help="drop probability")
    g.add_argument(
        "--model-arg",
        action="append",
        metavar="KEY=VALUE",
        help="any other architecture option (VALUE read as JSON when it parses)",
    )


def _add_recipe_args(p: argparse.ArgumentParser, *, renamed: bool = True) -> None:
    """The ``training`` options: those of :class:`xspecseg.training.TrainingRecipe`, and threads."""
    g = p.add_argument_group("training")
    g.add_argument(
        "--epochs",
        type=int,
        default=10,
        help="passes over the training images (default: 10, as the IAR paper)",
    )
    g.add_argument(
        "--batch-size", type=int, default=2, help="images per training step (default: 2)"
    )
    g.add_argument("--lr", type=float, default=1e-4, help="learning rate (default: 1e-4)")
    g.add_argument(
        "--loss",
        default="bce",
        choices=["bce", "dice", "ce_logdice"],
        help="binary cross-entropy, Dice, or cross-entropy plus log-Dice (the ODM_Unet "
        "paper's) (default: bce)",
    )
    g.add_argument(
        "--optimizer",
        default="adam",
        choices=["adam", "sgd", "rmsprop"],
        help="optimiser of the weights (default: adam)",
    )
    g.add_argument(
        "--lr-schedule",
        default="none",
        choices=["none", "cosine_warm_restarts"],
        help="learning-rate schedule (cosine_warm_restarts: T0 = 20 epochs) (default: none)",
    )
    if renamed:
        g.add_argument(
            "--scheduler",
            action=_Renamed,
            new="--lr-schedule",
            why="the learning-rate schedule; --scheduler is a Dask scheduler's address in cube, "
            "predict and synth",
        )
    g.add_argument(
        "--restart-epochs",
        type=int,
        default=None,
        metavar="T0",
        help="epochs per cosine cycle (default: 20, the ODM_Unet paper's; set it to "
        "--epochs for a single decay to zero)",
    )
    g.add_argument(
        "--temperature-epochs",
        type=float,
        default=None,
        metavar="N",
        help="ODM_Unet: epochs over which the attention temperature falls from 30 to 1 "
        "(default: 10)",
    )
    g.add_argument(
        "--init", default=None, help="weight initialiser (he_normal, glorot_uniform, ...)"
    )
    g.add_argument(
        "--augment",
        default="odm_unet",
        choices=["odm_unet", "none"],
        help="augmentation of the training images: the ODM_Unet paper's (flips in time, "
        "affine warps, noise, contrast, gamma, blur), or none (default: odm_unet)",
    )
    g.add_argument(
        "--row-background",
        default="level",
        choices=["level", "tilt"],
        help="what the input representation takes out of each time row: one level, or a "
        "smooth tilt, so that a background whose slope changes during the night cancels "
        "too (default: level)",
    )
    g.add_argument(
        "--smooth",
        type=int,
        nargs=2,
        metavar=("ROWS", "BINS"),
        default=None,
        help="a moving mean of ROWS x BINS (odd) over the log power in the input "
        "representation, against the scatter of a PSD estimated from few periodograms "
        "(default: none)",
    )
    g.add_argument(
        "--crop",
        type=int,
        nargs=2,
        metavar=("T", "F"),
        default=None,
        help="random training crops of T blocks x F bins",
    )
    g.add_argument(
        "--positive-crop",
        type=float,
        default=0.0,
        metavar="P",
        help="share of crops placed on a signal pixel, for rare targets such as CSES "
        "anomalies (default: 0)",
    )
    g.add_argument(
        "--hard-crop",
        type=float,
        default=0.0,
        metavar="P",
        help="share of crops placed on a hard negative: one of the brightest 1 %% of "
        "non-signal pixels relative to their frequency bin (whistler storms, "
        "transmitter bursts); against false alarms on clutter (default: 0)",
    )
    g.add_argument(
        "--norm-statistics",
        choices=NORM_STATISTICS,
        default="running",
        help="what batch normalisation normalises by: the batch in training and running "
        "statistics at inference (running), or each image's own in both (image: an "
        "emission unlike the training images cannot drive the network out of range) "
        "(default: running)",
    )
    g.add_argument("--threads", type=int, default=None, help="torch threads")


def _add_evaluate_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="score trained models and the classical baselines on held-out data",
        description="IoU, mIoU and mPA on held-out synthetic images with exact truth, and "
        "the fraction of pixels flagged on signal-free images, for each model given and "
        "the classical baselines classical:beggan and classical:canny.",
        epilog=_examples(
            "xspecseg evaluate model/ iar-default --data synth-iar --seed 12345 -o scores.nc",
            "xspecseg evaluate iar-default --data heldout-iar --nights 8",
        ),
    )
    p.add_argument(
        "models",
        nargs="*",
        help="model directories or shipped names; "
        "classical:beggan / classical:canny are accepted too",
    )
    _add_data_args(p, heldout=True)
    p.add_argument(
        "--free-nights",
        type=int,
        default=None,
        help="signal-free nights/half-orbits for false positives (default: --nights)",
    )
    p.add_argument("--no-baselines", action="store_true", help="leave out the classical baselines")
    p.add_argument(
        "--scales",
        type=float,
        nargs="+",
        default=[1.0, 1e-3, 1e3],
        help="heldout-*: record scale factors (unit changes; 1e-3 is pT -> nT) "
        "(default: 1 1e-3 1e3)",
    )
    p.add_argument("-o", "--output", default=None, help="write the table as netCDF")
    p.set_defaults(func=_evaluate_entry)


def _add_ensemble_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "ensemble",
        help="combine trained models into one that averages their logits",
        description="Write a model that averages the logits of MODEL... (the same recipe "
        "trained with other seeds: steadier on records unlike the training data than any "
        "one seed). The members must read the same data the same way; each keeps its own "
        "input statistics. The threshold is the median of the members'; tune the event "
        "cuts on the result with tune-events.",
        epilog=_examples(
            "xspecseg ensemble runs/seed0 runs/seed1 runs/seed2 -o cses-ensemble",
            "xspecseg tune-events cses-ensemble --data synth-cses --nights 48",
            "xspecseg ensemble iar-model --row-background tilt -o iar-model-tilt",
        ),
    )
    p.add_argument("models", nargs="+", help="model directories or shipped names")
    p.add_argument("-o", "--output", required=True, help="directory of the ensemble")
    p.add_argument(
        "--flip-time",
        action="store_true",
        help="run each member on the image and on its time reversal too and average the "
        "two (twice the inference; one model given alone becomes time-symmetric)",
    )
    p.add_argument(
        "--row-background",
        choices=("level", "tilt"),
        default=None,
        help="run the members with this row background of the log-relative input instead "
        "of their own (tilt: each time row's smooth spectral shape taken out as well, for "
        "backgrounds whose slope changes within a night; the config records both)",
    )
    p.set_defaults(func=cmd_ensemble, _argv=None)


def cmd_ensemble(args: argparse.Namespace) -> int:
    from .models import ensemble_of  # optional extra: torch
    from .models.checkpoint import read_config  # optional extra: torch

    if os.path.exists(os.path.join(args.output, "config.json")):
        raise SystemExit(f"error: {args.output} already holds a model; choose another -o")
    command = "xspecseg " + " ".join(shlex.quote(a) for a in (args._argv or sys.argv[1:]))
    out = ensemble_of(
        list(args.models),
        args.output,
        command=command,
        flip_time=args.flip_time,
        row_background=args.row_background,
    )
    cfg = read_config(out)
    print(
        f"{len(cfg['kwargs']['members'])} members, {cfg['parameters']:,} "
        f"parameters, threshold {cfg['threshold']:.2f}: written to {out.resolve()}"
    )
    return 0


def _add_tune_events_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "tune-events",
        help="tune a model's recommended event cuts on its labelled training images",
        description="Run MODEL over labelled images (the data it was trained on), extract "
        "events at its threshold, and record in its config.json the impulsiveness, "
        "mean-probability, bandwidth and duration cuts that each keep --keep of the true "
        "events. predict passes them on and extract_events applies them; the weights are not "
        "touched.",
        epilog=_examples(
            "xspecseg tune-events cses-model/ --data synth-cses --nights 48 --dry-run",
            "xspecseg tune-events model/ --data synth-iar --nights 16 --keep 0.9",
            "xspecseg tune-events cses-model/ --data synth-cses --nights 48 --max-false 0.05",
            "xspecseg tune-events cses-model/ --data synth-cses --nights 48 --seed 7 "
            "--save-properties p7.nc --dry-run",
            "xspecseg tune-events cses-model/ --properties p7.nc p8.nc --score --max-false 0.05",
        ),
    )
    p.add_argument("model", help="model directory or shipped name (its config is updated)")
    _add_data_args(p, heldout=False)
    p.add_argument("--keep", type=float, default=0.95, help="share of true events each cut "
                   "keeps (default: %(default)s)")  # fmt: skip
    p.add_argument("--max-false", type=float, default=None, metavar="R",
                   help="raise the mean-probability cut until at most R other events per "
                   "image pass: an operating point set by the false-alarm rate (the shape "
                   "cuts keep --keep)")  # fmt: skip
    p.add_argument("--cuts", nargs="+", default=list(PROPERTY_CUTS), metavar="NAME",
                   choices=list(PROPERTY_CUTS), help="the event properties to bound (default: "
                   "all four: %(default)s); an IAR model leaves out duration, since an IAR "
                   "can last the whole night")  # fmt: skip
    p.add_argument("--min-pixels", type=int, default=50, help="smallest event (default: 50)")
    p.add_argument("--score", action="store_true",
                   help="fit a logistic event score on every event property (shape, "
                   "confidence, contrast, isolation) and cut on it alone, instead of the four "
                   "cuts")  # fmt: skip
    p.add_argument(
        "--score-features",
        nargs="+",
        default=None,
        metavar="NAME",
        help="the properties the score reads (default: all of xspecseg.events.score.FEATURES)",
    )
    p.add_argument(
        "--score-c",
        type=float,
        default=0.1,
        metavar="C",
        help="inverse L2 strength of the score's fit (default: %(default)s)",
    )
    p.add_argument(
        "--save-properties",
        default=None,
        metavar="PATH",
        help="also write the events' properties to this netCDF file",
    )
    p.add_argument("--properties", nargs="+", default=None, metavar="PATH",
                   help="tune on these saved properties (of this model) instead of running "
                   "it on --data: several files are pooled")  # fmt: skip
    p.add_argument("--dry-run", action="store_true", help="print the cuts, write nothing")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=cmd_tune_events, _argv=None)


def cmd_tune_events(args: argparse.Namespace) -> int:
    # optional extra: torch
    from .models import load  # optional extra: torch
    from .models.checkpoint import locate  # optional extra: torch
    from .training import load_data  # optional extra: torch
    from .training.event_filter import event_properties, tune_event_filter, write_event_filter

    config_path, _ = locate(args.model)
    model_dir = config_path.parent
    net = load(model_dir)
    if args.properties:
        props = _pooled_properties(args.properties, net)
    else:
        spec = _spec(args, seed=args.seed, nights=args.nights)
        log.info("data: %s", json.dumps(spec, default=str))
        props = event_properties(
            net, load_data(spec), min_pixels=args.min_pixels, progress=not args.no_progress
        )
        props.attrs["data"] = json.dumps(_what_data(spec), default=str)
    if args.save_properties:
        atomic_write(args.save_properties, lambda tmp: props.to_netcdf(tmp))
        print(f"{props.sizes['event']} events' properties -> {args.save_properties}")
    cuts = tune_event_filter(
        props,
        keep=args.keep,
        max_false_per_image=args.max_false,
        score=args.score,
        score_c=args.score_c,
        cuts=tuple(args.cuts),
        **({"score_features": tuple(args.score_features)} if args.score_features else {}),
    )
    if "data" in props.attrs:
        cuts["data"] = json.loads(props.attrs["data"])
    print(
        f"{cuts['true_events']} true and {cuts['other_events']} other events on "
        f"{cuts['images']} image(s) at threshold {net.threshold:.2f}"
    )
    others = "no other events" if cuts["other_kept"] is None else f"{cuts['other_kept']:.1%}"
    applied = ", ".join(f"{k} {cuts[k]:g}" for k in EVENT_CUT_KEYS if k in cuts)
    print(
        f"  {applied}: {cuts['true_kept']:.1%} of the true events and {others} of the others "
        f"pass ({cuts['other_per_image']:g} other events per image)"
    )
    if "event_score" in cuts:
        score = cuts["event_score"]
        weights = sorted(zip(score["coef"], score["features"]), key=lambda w: -abs(w[0]))
        print("  score weights per standard deviation: " + ", ".join(
            f"{name} {coef:+.2f}" for coef, name in weights
        ))  # fmt: skip
    if args.max_false is not None and not args.score:
        before = cuts["min_mean_probability_before"]
        print(
            f"  min_mean_probability {before if before is not None else 'none'} -> "
            f"{cuts['min_mean_probability']:g} for at most {args.max_false:g} other events "
            "per image"
            + ("" if cuts["rate_met"] else ": not met (other events without a probability)")
        )
    if args.dry_run:
        return 0
    command = "xspecseg " + " ".join(shlex.quote(a) for a in (args._argv or sys.argv[1:]))
    path = write_event_filter(model_dir, cuts, command=command)
    print(f"  written to {path.resolve()}")
    return 0


def _what_data(spec: dict[str, Any]) -> dict[str, Any]:
    """A data spec without where this machine caches it."""
    return {k: v for k, v in spec.items() if k != "cache_dir"}


def _pooled_properties(paths: list[str], net: Any) -> Any:
    """Saved event properties of ``net`` pooled into one table (images summed)."""
    import numpy as np
    import xarray as xr

    sha = _weights_sha256(net)
    tables = []
    for path in paths:
        with xr.open_dataset(path) as ds:
            props = ds.load()
        if props.attrs.get("model_sha256") != sha:
            raise ValueError(
                f"{path} holds the events of another model (weights sha256 "
                f"{str(props.attrs.get('model_sha256'))[:16]}, this one {sha[:16]})"
            )
        if float(props.attrs.get("threshold", np.nan)) != float(net.threshold):
            raise ValueError(
                f"{path} was made at threshold {props.attrs.get('threshold')}, the model's "
                f"is now {net.threshold}: make it again"
            )
        tables.append(props)
    out = xr.concat(tables, dim="event") if len(tables) > 1 else tables[0]
    offsets = np.cumsum([0, *[int(t.attrs["images"]) for t in tables]])
    out["image"] = ("event", np.concatenate(
        [np.asarray(t["image"].values) + off for t, off in zip(tables, offsets)]
    ))  # fmt: skip
    out.attrs = {
        "images": int(offsets[-1]),
        "model_sha256": sha,
        "threshold": float(net.threshold),
        # how each file's events were made, for the config's record
        "data": json.dumps([_what_data(json.loads(t.attrs.get("data", "{}"))) for t in tables]),
    }
    return out


def _evaluate_entry(args: argparse.Namespace) -> int:
    if args.data in ("heldout-iar", "heldout-cses"):
        return cmd_evaluate_heldout(args)
    if args.free_nights is None:
        args.free_nights = args.nights
    return cmd_evaluate(args)


def cmd_evaluate_heldout(args: argparse.Namespace) -> int:
    """The whole chain on the held-out generator family, at three units / calibrations."""
    import pandas as pd

    names = list(args.models)
    if not args.no_baselines:
        names += [b for b in ("classical:beggan",) if b not in names]
    scales = tuple(args.scales)
    if args.data == "heldout-iar":
        kw = {"start": args.start or "2013-01-05", "nights": args.nights, "seed": args.seed}
        table, per_night = heldout_ground_table(names, scales=scales, **kw)
        cols = ["pixel_iou", "iar_nights_found", "iar_nights", "free_nights_with_event",
                "free_nights", "delta_f_median_error", "false_pixel_share_free"]  # fmt: skip
        cols += sorted(v for v in table.data_vars if str(v).startswith("free_with_event_"))
    else:
        kw = {"start": args.start or "2022-04-01", "halforbits": args.nights, "seed": args.seed}
        table, per_night = heldout_cses_table(names, scales=scales, **kw), None
        cols = ["pixel_iou", "pixel_miou", "event_recall", "event_precision",
                "false_events_per_free_halforbit", "anomalies", "events",
                "seconds_per_halforbit"]  # fmt: skip
    print(f"held-out generator family: {args.data} {json.dumps(kw)}")
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(table[cols].to_dataframe().to_string(float_format=lambda v: f"{v:.3f}"))
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_netcdf(out)
        if per_night is not None:
            per_night.to_netcdf(out.with_name(out.stem + "-nights.nc"))
        print(f"table: {out.resolve()}")
    return 0
