"""k-fold cross-validation and grid search (trials in parallel on Dask workers).

The IAR paper tuned batch size, optimizer, learning rate, dropout and initialiser with
a grid search scored by 2-fold cross-validation (the score: validation loss averaged
over the folds). :func:`grid_search` submits one Dask task per grid point; each task
rebuilds its images from a cheap description (:func:`~xspecseg.training.sources.load_data`),
runs every fold with one torch thread, and returns plain numbers.

Examples
--------
>>> kfold_indices(5, k=2, seed=0)
[([1, 3], [0, 2, 4]), ([0, 2, 4], [1, 3])]
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from .imageset import ImageSet
from .loop import TrainingRecipe, train_model
from .sources import load_data

__all__ = ["cross_validate", "grid_search", "kfold_indices"]

_FOLD_VARS = (
    "train_loss",
    "val_loss",
    "val_iou",
    "val_miou",
    "val_mpa",
    "val_best_iou",
    "threshold",
    "seconds",
)


def kfold_indices(n: int, k: int = 2, seed: int = 0) -> list[tuple[list[int], list[int]]]:
    """``k`` (train, validation) index splits of ``n`` items after a seeded shuffle.

    Returns
    -------
    list of (list of int, list of int)
        Fold ``i`` validates on the ``i``-th of ``k`` near-equal parts.
    """
    if k < 2:
        raise ValueError(f"k must be >= 2, got {k}")
    if n < k:
        raise ValueError(f"{n} images cannot make {k} folds")
    perm = np.random.default_rng([int(seed), 0xF01D]).permutation(n)
    parts = np.array_split(perm, k)
    out = []
    for i in range(k):
        val = [int(j) for j in parts[i]]
        train = [int(j) for p in parts[:i] + parts[i + 1 :] for j in p]
        out.append((train, val))
    return out


def cross_validate(
    model: str,
    data: ImageSet,
    *,
    k: int = 2,
    seed: int = 0,
    progress: bool = False,
    **train_kw: Any,
) -> xr.Dataset:
    """k-fold cross-validation of :func:`~xspecseg.training.loop.train_model`.

    Each fold fits its own input representation on its training part.

    Parameters
    ----------
    model : str
        Architecture name.
    data : ImageSet
        All labelled images.
    k : int
        Number of folds (2 in the IAR paper).
    seed : int
        Seed of the split and of each fold's training.
    **train_kw
        Fields of :class:`~xspecseg.training.loop.TrainingRecipe` (``epochs``, ``lr``,
        ``model_kwargs``, ...) and ``threads``.

    Returns
    -------
    xr.Dataset
        Dim ``fold``: ``train_loss``, ``val_loss``, ``val_iou``, ``val_miou``, ``val_mpa``
        (final epoch, cut 0.5), ``val_best_iou`` and ``threshold`` (best cut), ``seconds``;
        attrs ``score`` (mean ``val_loss``, the paper's cross-validation score) and
        ``mean_val_iou``.

    Examples
    --------
    >>> s = ImageSet([np.ones((16, 16), np.float32)] * 4, [np.eye(16, dtype=bool)] * 4)
    >>> cv = cross_validate("unet", s, k=2, epochs=1,
    ...                     model_kwargs={"base_channels": 4, "depth": 2})
    >>> cv.sizes["fold"]
    2
    """
    threads = train_kw.pop("threads", None)
    recipe = TrainingRecipe(model=model, seed=seed, **train_kw)
    rows = []
    for train_idx, val_idx in kfold_indices(len(data), k, seed):
        t0 = time.perf_counter()
        _, hist = train_model(
            data.subset(train_idx),
            recipe,
            val=data.subset(val_idx),
            progress=progress,
            checkpoint_dir=None,
            threads=threads,
        )
        last = hist.isel(epoch=-1)
        rows.append(
            {
                "train_loss": float(last.train_loss),
                "val_loss": float(last.val_loss),
                "val_iou": float(last.val_iou),
                "val_miou": float(last.val_miou),
                "val_mpa": float(last.val_mpa),
                "val_best_iou": float(last.val_best_iou),
                "threshold": float(hist.attrs["threshold"]),
                "seconds": time.perf_counter() - t0,
            }
        )
    ds = xr.Dataset(
        {v: ("fold", np.array([r[v] for r in rows], float)) for v in _FOLD_VARS},
        coords={"fold": np.arange(len(rows))},
    )
    ds["seconds"].attrs["units"] = "s"
    ds.attrs["score"] = float(np.nanmean(ds.val_loss)) if np.isfinite(ds.val_loss).any() else np.nan
    ds.attrs["mean_val_iou"] = (
        float(np.nanmean(ds.val_iou)) if np.isfinite(ds.val_iou).any() else np.nan
    )
    ds.attrs["k"] = int(k)
    return ds


def _split_params(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Grid keys that are training settings (recipe fields, ``threads``) vs architecture
    options."""
    names = {f.name for f in dataclasses.fields(TrainingRecipe)} | {"threads"}
    train_kw, model_kw = {}, {}
    for key, v in params.items():
        name = key[len("model.") :] if key.startswith("model.") else key
        if key.startswith("model.") or name not in names:
            model_kw[name] = v
        else:
            train_kw[name] = v
    return train_kw, model_kw


def _run_trial(
    data: dict[str, Any] | ImageSet,
    model: str,
    params: dict[str, Any],
    base: dict[str, Any],
    k: int,
    seed: int,
) -> dict[str, list[float]]:
    """One grid point: build the data, run k folds single-threaded, return numbers."""
    import torch

    # several trials share a machine: one thread each, no oversubscription
    torch.set_num_threads(1)
    images = load_data(data) if isinstance(data, dict) else data
    train_kw, model_kw = _split_params(params)
    kw = dict(base)
    kw["model_kwargs"] = {**kw.get("model_kwargs", {}), **model_kw}
    kw.update(train_kw)
    kw.setdefault("threads", 1)
    cv = cross_validate(model, images, k=k, seed=seed, **kw)
    return {v: [float(x) for x in cv[v].values] for v in _FOLD_VARS}


def _coord(values: Sequence[Any]) -> np.ndarray:
    vals = list(values)
    if all(isinstance(v, bool | np.bool_) for v in vals):
        return np.asarray(vals, bool)
    if all(
        isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
        for v in vals
    ):
        return np.asarray(vals)
    # strings (and None) keep a netCDF-writable coordinate
    return np.asarray(["none" if v is None else str(v) for v in vals])


def grid_search(
    param_grid: dict[str, Sequence[Any]],
    data: dict[str, Any] | ImageSet,
    *,
    model: str = "unet",
    k: int = 2,
    seed: int = 0,
    client: Any = None,
    progress: bool = True,
    **train_kw: Any,
) -> xr.Dataset:
    """Exhaustive grid search with k-fold cross-validation, one Dask task per grid point.

    Parameters
    ----------
    param_grid : dict
        Name -> values. Names of :func:`~xspecseg.training.loop.train_model` arguments
        (``lr``, ``optimizer``, ``batch_size``, ``init``, ``loss``, ``epochs``, ...) go to it;
        any other name (or ``model.<name>``) is an architecture option (``dropout``,
        ``base_channels``, ...).
    data : dict or ImageSet
        A data description for :func:`~xspecseg.training.sources.load_data` (cheap to ship:
        each worker rebuilds or loads the cached images) or the images themselves.
    model : str
        Architecture name.
    k, seed :
        Folds and seed of :func:`cross_validate`.
    client : dask.distributed.Client, optional
        Run the trials on its workers; None runs them one after another here.
    progress : bool
        Show a bar over finished trials.
    **train_kw
        Fixed ``train_model`` arguments (``epochs``, ``model_kwargs``, ``augment``, ...).

    Returns
    -------
    xr.Dataset
        One dim per grid parameter (in ``param_grid`` order, values as coords) plus
        ``fold``, holding ``train_loss``, ``val_loss``, ``val_iou``, ``val_miou``,
        ``val_mpa``, ``val_best_iou``, ``threshold``, ``seconds``; ``score`` (mean
        ``val_loss`` over folds: lower is better) and ``mean_val_iou`` without ``fold``;
        attrs ``best`` (JSON of the grid point with the lowest score).

    Examples
    --------
    >>> s = ImageSet([np.ones((16, 16), np.float32)] * 4, [np.eye(16, dtype=bool)] * 4)
    >>> grid = {"lr": [1e-3, 1e-4], "optimizer": ["adam", "sgd"]}
    >>> res = grid_search(grid, s, epochs=1, progress=False,
    ...                   model_kwargs={"base_channels": 4, "depth": 2})
    >>> res.score.dims
    ('lr', 'optimizer')

    On a cluster, pass ``client=`` and a description of the images instead of the images,
    e.g. ``{"source": "synth-iar", "nights": 16, "cache_dir": "cache/"}``: each worker
    then builds or loads them itself.
    """
    names = list(param_grid)
    values = [list(param_grid[n]) for n in names]
    if not names or any(len(v) == 0 for v in values):
        raise ValueError("param_grid needs at least one parameter, each with values")
    points = [dict(zip(names, combo)) for combo in itertools.product(*values)]
    base = {"progress": False, **train_kw}

    results: list[dict[str, list[float]] | None] = [None] * len(points)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(points), desc="grid search", unit="trial")
    try:
        if client is None:
            for i, p in enumerate(points):
                results[i] = _run_trial(data, model, p, base, k, seed)
                if bar is not None:
                    bar.update()
        else:
            from distributed import as_completed

            # scatter in-memory images once rather than embedding them in every task
            payload = client.scatter(data, broadcast=True) if isinstance(data, ImageSet) else data
            futures = {
                client.submit(_run_trial, payload, model, p, base, k, seed, pure=False): i
                for i, p in enumerate(points)
            }
            for fut in as_completed(list(futures)):
                results[futures[fut]] = fut.result()
                if bar is not None:
                    bar.update()
    finally:
        if bar is not None:
            bar.close()

    shape = [len(v) for v in values]
    coords: dict[str, Any] = {n: _coord(v) for n, v in zip(names, values)}
    coords["fold"] = np.arange(k)
    data_vars = {}
    for var in _FOLD_VARS:
        arr = np.array([r[var] for r in results], float).reshape(*shape, k)
        data_vars[var] = ((*names, "fold"), arr)
    ds = xr.Dataset(data_vars, coords=coords)
    ds["seconds"].attrs["units"] = "s"
    ds["score"] = ds.val_loss.mean("fold")
    ds["score"].attrs["long_name"] = (
        "cross-validation score: mean validation loss (lower is better)"
    )
    ds["mean_val_iou"] = ds.val_iou.mean("fold")
    if np.isfinite(ds.score).any():
        flat = int(np.nanargmin(ds.score.values))
        idx = np.unravel_index(flat, shape)
        best = {n: values[j][i] for j, (n, i) in enumerate(zip(names, idx))}
        ds.attrs["best"] = json.dumps(best, default=str)
    ds.attrs.update(model=model, k=int(k), seed=int(seed))
    if isinstance(data, dict):
        ds.attrs["data"] = json.dumps(data, default=str)
    return ds
