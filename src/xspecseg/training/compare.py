"""Architectures side by side: where each (architecture, seed) run of a comparison lives,
and its validation curves gathered into one Dataset.

``xspecseg compare`` trains every run of a comparison under one recipe, one Dask task per
run, into ``OUTPUT/<label>/seed<k>`` (a model directory each, resumable); this module
names those folders and reads the histories back, so that the curves can be drawn and a
reader can see whether every model's validation curve has flattened.

Examples
--------
>>> run_folder("cmp", "smp:Unet", 1).as_posix()
'cmp/smp-Unet/seed1'
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import xarray as xr

__all__ = [
    "CURVE_VARS",
    "add_run_coords",
    "finished_epochs",
    "run_folder",
    "run_of",
    "trained_epochs",
    "training_curves",
]

#: History variables gathered per (run, seed, epoch).
CURVE_VARS = ("train_loss", "val_loss", "val_iou", "val_best_iou", "lr", "seconds")

_SEED_DIR = re.compile(r"^seed(-?\d+)$")


def run_folder(output: str | os.PathLike, label: str, seed: int) -> Path:
    """The model directory of run ``label`` trained with ``seed`` under ``output``.

    A label keeps letters, digits, ``.``, ``_`` and ``-``; anything else (the colon of
    ``smp:Unet``) becomes ``-``.
    """
    safe = re.sub(r"[^A-Za-z0-9._-]", "-", str(label)).strip(".")
    if not safe:
        raise ValueError(f"run label {label!r} has no usable character")
    return Path(output) / safe / f"seed{int(seed)}"


def run_of(path: str | os.PathLike) -> tuple[str, int] | None:
    """``(label, seed)`` of a model directory laid out by :func:`run_folder`, else None.

    Examples
    --------
    >>> run_of("cmp/smp-Unet/seed1"), run_of("cses-default")
    (('smp-Unet', 1), None)
    """
    p = Path(path)
    m = _SEED_DIR.match(p.name)
    if m is None or p.parent.name in ("", ".", ".."):
        return None
    return p.parent.name, int(m.group(1))


def add_run_coords(table: xr.Dataset, dim: str) -> xr.Dataset:
    """``run`` and ``training_seed`` coordinates along ``dim`` (model paths or names) when
    it holds a run folder: ``table.groupby("run")`` then gives each architecture's mean and
    spread over its seeds.

    Other entries (a shipped model, a classical labeller) are a run of their own, seed -1.
    """
    names = [str(v) for v in table[dim].values]
    runs = [run_of(v) for v in names]
    if not any(runs):
        return table
    return table.assign_coords(
        run=(dim, np.array([r[0] if r else v for r, v in zip(runs, names)], dtype=str)),
        training_seed=(dim, np.array([r[1] if r else -1 for r in runs], dtype=np.int64)),
    )


def finished_epochs(folder: str | os.PathLike) -> int:
    """Epochs of the finished model in ``folder`` (0 when there is none yet).

    A model counts as finished once its ``config.json``, weights and ``history.nc``
    are all written (``xspecseg train`` writes the history last).
    """
    folder = Path(folder)
    if not (folder / "config.json").is_file() or not (folder / "history.nc").is_file():
        return 0
    with xr.open_dataset(folder / "history.nc") as h:
        return int(h.sizes.get("epoch", 0))


def trained_epochs(folder: str | os.PathLike) -> int:
    """Epochs a run in ``folder`` has behind it: its finished model's, or those of the last
    epoch checkpoint an interrupted run left (``xspecseg train --resume`` goes on from it).
    """
    from .loop import _checkpoints

    done = _checkpoints(Path(folder) / "checkpoints")
    return max(finished_epochs(folder), done[-1][0] if done else 0)


def training_curves(output: str | os.PathLike) -> xr.Dataset:
    """The validation curves of every finished run under ``output``.

    Parameters
    ----------
    output : path
        The folder ``xspecseg compare`` wrote (``<label>/seed<k>`` model directories).

    Returns
    -------
    xr.Dataset
        Dims ``run`` (labels, in folder order), ``seed`` and ``epoch`` (1-based): the
        history variables of :data:`CURVE_VARS`, NaN where a run has fewer epochs or is
        missing; ``architecture`` (``run``), ``parameters`` and ``training_seconds``
        (``run``, ``seed``).

    Examples
    --------
    >>> import tempfile
    >>> training_curves(tempfile.mkdtemp()).sizes["run"]
    0
    """
    root = Path(output)
    found: dict[tuple[str, int], Path] = {}
    for hist_path in sorted(root.glob("*/seed*/history.nc")):
        key = run_of(hist_path.parent)
        if key is not None and (hist_path.parent / "config.json").is_file():
            found[key] = hist_path.parent
    runs = sorted({r for r, _ in found})
    seeds = sorted({s for _, s in found})
    hists = {}
    n_epoch = 0
    for key, folder in found.items():
        with xr.open_dataset(folder / "history.nc") as h:
            hists[key] = {v: np.asarray(h[v].values, float) for v in CURVE_VARS if v in h}
        n_epoch = max(n_epoch, max((a.size for a in hists[key].values()), default=0))
    shape = (len(runs), len(seeds), n_epoch)
    data = {v: np.full(shape, np.nan) for v in CURVE_VARS}
    params = np.full(shape[:2], np.nan)
    seconds = np.full(shape[:2], np.nan)
    arch = np.array([""] * len(runs), dtype=object)
    for (run, seed), folder in found.items():
        i, j = runs.index(run), seeds.index(seed)
        for v, a in hists[(run, seed)].items():
            data[v][i, j, : a.size] = a
        cfg = json.loads((folder / "config.json").read_text())
        arch[i] = cfg.get("architecture", "")
        params[i, j] = cfg.get("parameters", np.nan)
        seconds[i, j] = cfg.get("provenance", {}).get("seconds_training", np.nan)
    ds = xr.Dataset(
        {v: (("run", "seed", "epoch"), a) for v, a in data.items()},
        coords={
            "run": np.array(runs, dtype=str),
            "seed": np.array(seeds, dtype=np.int64),
            "epoch": np.arange(1, n_epoch + 1),
        },
    )
    ds["architecture"] = ("run", arch.astype(str))
    ds["parameters"] = (("run", "seed"), params)
    ds["training_seconds"] = (("run", "seed"), seconds)
    ds["training_seconds"].attrs["units"] = "s"
    ds["seconds"].attrs["units"] = "s"
    ds.attrs["source"] = str(root)
    return ds
