"""The training loop: deterministic, resumable, checkpointed every epoch.

Determinism: the model is built right after ``torch.manual_seed(seed)``; the batch order
of epoch ``e`` comes from a generator seeded by ``(seed, e)``, each item's augmentation
and crop from ``(seed, e, index)`` (see :class:`~xspecseg.training.data.SpectrogramDataset`),
and the global torch RNG (dropout) is saved with each epoch's checkpoint and restored on
resume. Data loading runs in the main process (``num_workers=0``) and
``torch.use_deterministic_algorithms(True)`` is on while training. Two runs with the same
arguments therefore give bit-identical weights, and a run killed after epoch ``k`` and
resumed gives the weights of an uninterrupted run.

Checkpoints: ``<checkpoint_dir>/epoch-0003.pt`` after each epoch, written with
``torch.save`` of plain dicts, lists, numbers and tensors (weights, optimizer and
scheduler state, torch RNG state, history so far) and read back with
``torch.load(weights_only=True)``, so loading never runs pickled code. Files are written
under a temporary name and renamed, so a kill leaves either the whole epoch or nothing.
``run.json`` beside them records the run's settings; resuming into a folder of another
run is refused.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn

from ..contract import InputRepresentation, ModelCard
from .augment import as_augment
from .data import ImageSet, SpectrogramDataset, pad_collate

__all__ = [
    "OPTIMIZERS",
    "SCHEDULERS",
    "THRESHOLDS",
    "evaluate_classical",
    "evaluate_model",
    "make_optimizer",
    "make_scheduler",
    "predict_images",
    "train_model",
]

#: Probability thresholds searched for the recommended cut (the IAR paper tried 0.4–0.9).
THRESHOLDS: np.ndarray = np.round(np.arange(0.40, 0.9001, 0.05), 2)
#: Optimizer names (the IAR paper's grid search compared these three).
OPTIMIZERS = ("adam", "sgd", "rmsprop")
#: Learning-rate schedulers.
SCHEDULERS = (None, "cosine_warm_restarts")

_CKPT = re.compile(r"^epoch-(\d{4,})\.pt$")
_STATE_FORMAT = "xspecseg-train-state"


# -- building blocks --------------------------------------------------------------------------


def make_optimizer(
    name: str,
    params: Any,
    lr: float,
    *,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
) -> torch.optim.Optimizer:
    """``"adam"``, ``"sgd"`` (with momentum; also ``"sgd_momentum"``) or ``"rmsprop"``.

    Examples
    --------
    >>> make_optimizer("sgd", nn.Linear(2, 2).parameters(), 0.1).defaults["momentum"]
    0.9
    """
    key = name.lower().replace("-", "_")
    if key == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if key in ("sgd", "sgd_momentum"):
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if key == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def make_scheduler(
    name: str | None, optimizer: torch.optim.Optimizer, **kw: Any
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """None, or ``"cosine_warm_restarts"`` (``T_0=20`` epochs as in the ODM_Unet paper;
    keywords go to :class:`torch.optim.lr_scheduler.CosineAnnealingWarmRestarts`).

    The loop steps it after every batch with a fractional epoch, as torch's documentation
    recommends, so the learning rate falls smoothly within each cycle.

    Examples
    --------
    >>> opt = make_optimizer("adam", nn.Linear(2, 2).parameters(), 1e-3)
    >>> make_scheduler("cosine_warm_restarts", opt).T_0
    20
    """
    if name is None or str(name).lower() in ("none", ""):
        return None
    key = str(name).lower().replace("-", "_")
    if key in ("cosine_warm_restarts", "cosine", "cosineannealingwarmrestarts"):
        args = {"T_0": 20, "T_mult": 1, "eta_min": 0.0, **kw}
        return torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, **args)
    raise ValueError(f"unknown scheduler {name!r}; use None or 'cosine_warm_restarts'")


@contextlib.contextmanager
def _deterministic(threads: int | None) -> Iterator[None]:
    was = torch.are_deterministic_algorithms_enabled()
    was_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    old_threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True, warn_only=True)
    if threads:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was, warn_only=was_warn)
        if threads:
            torch.set_num_threads(old_threads)


def _epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([int(seed), int(epoch), 0xB47C]).generate_state(1)[0])


def _as_dataset(
    data: Any, representation: InputRepresentation | None
) -> SpectrogramDataset | torch.utils.data.Dataset:
    if isinstance(data, ImageSet):
        return SpectrogramDataset(data, representation)
    if isinstance(data, SpectrogramDataset) and representation is not None:
        return data.with_options(representation=representation)
    return data


def _build_model(
    model: str | nn.Module, model_kwargs: dict[str, Any], init: str | None, seed: int
) -> tuple[nn.Module, str, dict[str, Any]]:
    torch.manual_seed(int(seed))
    if isinstance(model, nn.Module):
        info = getattr(model, "xspecseg_info", {})
        if init is not None:
            from ..models.unet import init_weights

            init_weights(model, init)
        return model, str(info.get("name", type(model).__name__)), dict(info.get("kwargs", {}))
    from ..models import get_model

    kw = dict(model_kwargs)
    name = str(model)
    # the U-net takes its initialiser as an argument (then the checkpoint records it)
    if init is not None and name.lower() == "unet":
        kw.setdefault("init", init)
        init = None
    net = get_model(name, in_channels=kw.pop("in_channels", 1), classes=kw.pop("classes", 1), **kw)
    if init is not None:
        from ..models.unet import init_weights

        init_weights(net, init)
    return net, net.xspecseg_info["name"], dict(net.xspecseg_info["kwargs"])


# -- inference on images ------------------------------------------------------------------------


@torch.no_grad()
def predict_images(
    model: nn.Module, dataset: SpectrogramDataset | torch.utils.data.Dataset
) -> list[np.ndarray]:
    """Sigmoid probabilities of ``model`` for every item of ``dataset`` (whole images).

    Examples
    --------
    >>> from xspecseg.models import get_model
    >>> s = ImageSet([np.ones((16, 16), np.float32)], [np.zeros((16, 16), bool)])
    >>> predict_images(get_model("unet", base_channels=4, depth=2), SpectrogramDataset(s))[0].shape
    (16, 16)
    """
    was = model.training
    model.eval()
    out = []
    try:
        for i in range(len(dataset)):
            x, _ = dataset[i]
            out.append(torch.sigmoid(model(x[None]))[0, 0].numpy())
    finally:
        model.train(was)
    return out


def _confusions(
    probs: Sequence[np.ndarray], masks: Sequence[np.ndarray], thresholds: np.ndarray
) -> np.ndarray:
    """``[[TN, FP], [FN, TP]]`` per threshold, summed over images -> (n_thr, 2, 2)."""
    from ..models.metrics import ConfusionMatrix

    cms = [ConfusionMatrix() for _ in thresholds]
    for p, m in zip(probs, masks):
        for cm, t in zip(cms, thresholds):
            cm.update(p, np.asarray(m, bool), threshold=float(t))
    return np.stack([cm.matrix for cm in cms])


def _metrics(matrix: np.ndarray) -> dict[str, float]:
    from ..models.metrics import ConfusionMatrix

    cm = ConfusionMatrix()
    cm.matrix[:] = matrix
    tn, fp = matrix[0]
    return {
        "iou": cm.iou(),
        "miou": cm.miou(),
        "mpa": cm.mpa(),
        "fp_fraction": float(fp / max(tn + fp, 1)),
        "positive_fraction": float((matrix[:, 1].sum()) / max(matrix.sum(), 1)),
    }


def _masks_of(dataset: Any) -> list[np.ndarray]:
    if isinstance(dataset, SpectrogramDataset) and dataset.crop is None:
        return dataset.data.masks
    return [dataset[i][1][0].numpy() > 0.5 for i in range(len(dataset))]


def evaluate_model(
    model: nn.Module,
    data: ImageSet | SpectrogramDataset,
    *,
    representation: InputRepresentation | dict[str, Any] | None = None,
    threshold: float | None = None,
    thresholds: Sequence[float] = THRESHOLDS,
    loss: str | nn.Module | None = None,
) -> dict[str, Any]:
    """Metrics of a trained model on labelled images.

    Parameters
    ----------
    model : nn.Module
        The network (``model.threshold`` and the input representation of its card,
        from :func:`xspecseg.models.load`, are used when the arguments are not given).
    data : ImageSet or SpectrogramDataset
        Held-out images with masks (augmentation is switched off).
    representation : InputRepresentation or dict, optional
        The model's input representation (default: its card's, else the dataset's).
    threshold : float, optional
        Probability cut for ``iou``/``miou``/``mpa``/``fp_fraction``.
    thresholds : sequence of float
        Cuts for ``iou_by_threshold``.
    loss : str or nn.Module, optional
        Also report the mean loss.

    Returns
    -------
    dict
        ``iou``, ``miou``, ``mpa``, ``fp_fraction`` (predicted-positive share of true
        background pixels), ``positive_fraction``, ``threshold``, ``iou_by_threshold``
        (array), ``thresholds`` and ``loss`` (NaN unless asked).

    Examples
    --------
    >>> from xspecseg.models import get_model
    >>> s = ImageSet([np.ones((16, 16), np.float32)], [np.zeros((16, 16), bool)])
    >>> r = evaluate_model(get_model("unet", base_channels=4, depth=2), s)
    >>> sorted(k for k in r if k.startswith("m"))
    ['miou', 'mpa']
    """
    cfg = getattr(model, "xspecseg_config", {}) or {}
    if representation is None and cfg:
        representation = ModelCard.from_config(cfg).representation
    if isinstance(representation, dict):
        representation = InputRepresentation.from_dict(representation)
    if threshold is None:
        threshold = float(getattr(model, "threshold", cfg.get("threshold", 0.5)))
    ds = _as_dataset(data, representation)
    if isinstance(ds, SpectrogramDataset):
        ds = ds.with_options(augment=None, crop=None)
        _check_component(cfg.get("component"), ds.data.meta)
    probs = predict_images(model, ds)
    masks = _masks_of(ds)
    thr = np.asarray(sorted({*map(float, thresholds), float(threshold)}))
    mats = _confusions(probs, masks, thr)
    at = _metrics(mats[int(np.argmin(np.abs(thr - threshold)))])
    grid = [float(t) for t in thresholds]
    by = np.array([_metrics(mats[int(np.argmin(np.abs(thr - t)))])["iou"] for t in grid])
    out: dict[str, Any] = {**at, "threshold": float(threshold)}
    out["thresholds"] = np.asarray(grid)
    out["iou_by_threshold"] = by
    out["loss"] = float("nan")
    if loss is not None:
        out["loss"] = _mean_loss(model, ds, _loss(loss))
    return out


def _check_component(wanted: str | None, meta: Sequence[dict[str, Any]]) -> None:
    """Refuse images of another input than a summed-component model was trained on."""
    if not wanted or "+" not in wanted:
        return
    have = {str(m["component"]) for m in meta if m.get("component")}
    if have and have != {wanted}:
        raise ValueError(
            f"the model takes the summed PSD of components {wanted!r}, the images are of "
            f"{sorted(have)}: make them with components=({wanted!r},) (--components {wanted})"
        )


def evaluate_classical(name: str, data: ImageSet, **kwargs: Any) -> dict[str, Any]:
    """Metrics of a classical detector (``"classical:beggan"``/``"classical:canny"``).

    Examples
    --------
    >>> s = ImageSet([np.ones((40, 40), np.float32)], [np.zeros((40, 40), bool)])
    >>> evaluate_classical("classical:beggan", s)["fp_fraction"]
    0.0
    """
    from ..classical import detect

    preds = [np.asarray(detect(name, x, **kwargs), bool) for x in data.images]
    mats = _confusions([p.astype(np.float32) for p in preds], data.masks, np.array([0.5]))
    return {**_metrics(mats[0]), "threshold": float("nan"), "loss": float("nan")}


def _loss(loss: str | nn.Module) -> nn.Module:
    if isinstance(loss, nn.Module):
        return loss
    from ..models.losses import get_loss

    return get_loss(loss)


@torch.no_grad()
def _mean_loss(model: nn.Module, ds: Any, loss_fn: nn.Module) -> float:
    was = model.training
    model.eval()
    total, n = 0.0, 0
    try:
        for i in range(len(ds)):
            x, y = ds[i]
            total += float(loss_fn(model(x[None]), y[None]))
            n += 1
    finally:
        model.train(was)
    return total / n if n else float("nan")


# -- checkpoints -----------------------------------------------------------------------------------


def _atomic_torch_save(obj: Any, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _checkpoints(folder: Path) -> list[tuple[int, Path]]:
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        m = _CKPT.match(p.name)
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found)


_STATE_KEYS = ("epoch", "model", "optimizer", "rng_torch", "history")
_START_OVER = "delete it (or the folder) or pass resume=False (no --resume) to start over"


def _load_state(path: Path) -> dict[str, Any]:
    """An epoch checkpoint, or a one-line ValueError naming it (nothing is unpickled)."""
    import pickle

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, TypeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(
            f"{path} is not an xspecseg training state (torch.load with weights_only=True "
            f"refused it: {first}); {_START_OVER}"
        ) from exc
    if not isinstance(state, dict) or state.get("format") != _STATE_FORMAT:
        raise ValueError(f"{path} is not an xspecseg training state; {_START_OVER}")
    missing = [k for k in _STATE_KEYS if k not in state]
    if missing:
        raise ValueError(f"{path} is not a complete xspecseg training state (no {missing})")
    return state


def _resume_from(path: Path, net: nn.Module, opt: Any, sched: Any) -> tuple[dict, int]:
    """Restore model, optimiser, scheduler and RNG from an epoch checkpoint."""
    state = _load_state(path)
    try:
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if sched is not None and state.get("scheduler"):
            sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng_torch"])
        hist = {k: list(v) for k, v in state["history"].items()}
        epoch = int(state["epoch"])
    except (RuntimeError, KeyError, ValueError, TypeError, AttributeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(
            f"{path} does not fit this run's model and optimiser ({first}); {_START_OVER}"
        ) from exc
    return hist, epoch


def _read_run_file(run_file: Path) -> Any:
    try:
        return json.loads(run_file.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{run_file} is not valid JSON ({exc}); {_START_OVER}") from exc


def _json_safe(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _json_safe(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_json_safe(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if v is None or isinstance(v, str | int | float | bool):
        return v
    if hasattr(v, "to_dict"):
        return _json_safe(v.to_dict())
    return repr(v)


# -- history ------------------------------------------------------------------------------------------

_HIST_VARS = (
    "train_loss",
    "val_loss",
    "val_iou",
    "val_miou",
    "val_mpa",
    "val_best_iou",
    "val_best_threshold",
    "lr",
    "temperature",
    "seconds",
)


def _history_dataset(hist: dict[str, list[Any]], thresholds: np.ndarray) -> xr.Dataset:
    n = len(hist["train_loss"])
    epoch = np.arange(1, n + 1)
    data: dict[str, Any] = {}
    units = {"seconds": "s"}
    for k in _HIST_VARS:
        vals = np.array([np.nan if v is None else v for v in hist[k]], dtype=float)
        data[k] = ("epoch", vals, {"units": units[k]} if k in units else {})
    by = np.array(
        [[np.nan if v is None else v for v in row] for row in hist["val_iou_by_threshold"]],
        dtype=float,
    ).reshape(n, thresholds.size)
    data["val_iou_by_threshold"] = (("epoch", "threshold"), by)
    return xr.Dataset(data, coords={"epoch": epoch, "threshold": thresholds})


# -- the loop -------------------------------------------------------------------------------------------


def train_model(
    model: str | nn.Module,
    dataset_train: ImageSet | SpectrogramDataset,
    dataset_val: ImageSet | SpectrogramDataset | None = None,
    *,
    epochs: int = 10,
    batch_size: int = 2,
    lr: float = 1e-4,
    optimizer: str = "adam",
    loss: str = "bce",
    init: str | None = None,
    seed: int = 0,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = True,
    progress: bool = True,
    model_kwargs: dict[str, Any] | None = None,
    augment: Any = "odm_unet",
    crop: tuple[int, int] | None = None,
    positive_crop: float = 0.0,
    hard_crop: float = 0.0,
    scheduler: str | None = None,
    scheduler_kwargs: dict[str, Any] | None = None,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    temperature_kwargs: dict[str, Any] | None = None,
    threads: int | None = None,
    output: str | os.PathLike | None = None,
    command: str | None = None,
) -> tuple[nn.Module, xr.Dataset]:
    """Train a segmentation network on labelled spectrogram images.

    Defaults are the IAR paper's (Adam 1e-4, binary cross-entropy, batch 2, 10 epochs);
    the ODM_Unet paper's are ``loss="ce_logdice", lr=1e-3, batch_size=16,
    scheduler="cosine_warm_restarts"``.

    Parameters
    ----------
    model : str or nn.Module
        A :func:`xspecseg.models.get_model` name (``"unet"``, ``"odm_unet"``,
        ``"smp:Unet"``, ...) built with ``model_kwargs``, or a built network.
    dataset_train, dataset_val : ImageSet or SpectrogramDataset
        Training and validation images. The input representation is fitted on the
        training images (unless ``dataset_train`` is a :class:`SpectrogramDataset`, whose
        own is kept) and used for both.
    epochs : int
        Total number of epochs (a resumed run continues up to it).
    batch_size, lr, optimizer, loss :
        Batch size, learning rate, ``"adam"``/``"sgd"``/``"rmsprop"``, and
        ``"bce"``/``"dice"``/``"ce_logdice"`` (:func:`xspecseg.models.get_loss`).
    init : str, optional
        Weight initialiser (Keras names: ``"he_normal"``, ``"glorot_uniform"``, ...,
        ``"orthogonal"``); None keeps the architecture's default.
    seed : int
        Seed of everything random (initial weights, batch order, augmentation, dropout).
    checkpoint_dir : path, optional
        Folder of per-epoch checkpoints; None keeps none (no resume).
    resume : bool
        Continue from the last complete epoch in ``checkpoint_dir`` (False starts over,
        deleting its epoch files).
    progress : bool
        Show a tqdm bar per epoch.
    model_kwargs : dict, optional
        Architecture options (``base_channels``, ``depth``, ``dropout``, ...).
    augment : str, Augment, dict or None
        Augmentation of training items (default: the ODM_Unet paper's list, see
        :mod:`xspecseg.training.augment`); None for none.
    crop : (int, int), optional
        Random training crops of this size (needed when images differ in size and
        ``batch_size > 1`` would otherwise pad them).
    positive_crop : float
        Share of training crops placed on a randomly chosen signal pixel (see
        :class:`~xspecseg.training.data.SpectrogramDataset`); for rare targets.
    hard_crop : float
        Share of training crops placed on a hard negative (a bright non-signal pixel,
        see :class:`~xspecseg.training.data.SpectrogramDataset`); against false alarms
        on clutter.
    scheduler, scheduler_kwargs :
        None or ``"cosine_warm_restarts"`` (``T_0=20``), see :func:`make_scheduler`.
    momentum, weight_decay : float
        SGD momentum; L2 weight decay of any optimizer.
    temperature_kwargs : dict, optional
        Options of :func:`xspecseg.models.temperature_schedule`, used to anneal the
        attention temperature of models that have one (ODM_Unet) at each epoch start.
    threads : int, optional
        ``torch.set_num_threads`` while training (restored afterwards).
    output : path, optional
        Save the final model there with :func:`xspecseg.models.save`.
    command : str, optional
        Command line recorded in the provenance (default ``sys.argv``).

    Returns
    -------
    (nn.Module, xr.Dataset)
        The trained model (eval mode, ``model.threshold`` = the recommended cut,
        ``model.xspecseg_config`` = the saved config) and the history: dim ``epoch``
        with ``train_loss``, ``val_loss``, ``val_iou``/``val_miou``/``val_mpa`` (at 0.5),
        ``val_best_iou`` and ``val_best_threshold`` (best cut in 0.4–0.9), ``lr``,
        ``temperature``, ``seconds``, and ``val_iou_by_threshold`` (epoch, threshold).

    Examples
    --------
    >>> s = ImageSet([np.random.default_rng(0).random((32, 32), np.float32)] * 2,
    ...              [np.eye(32, dtype=bool)] * 2)
    >>> net, hist = train_model("unet", s, s, epochs=1, progress=False,
    ...                         model_kwargs={"base_channels": 4, "depth": 2})
    >>> hist.sizes["epoch"], 0.4 <= net.threshold <= 0.9
    (1, True)
    """
    t_start = time.perf_counter()
    model_kwargs = dict(model_kwargs or {})
    aug = as_augment(augment)
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")

    train_ds = _as_dataset(dataset_train, None)
    norm = getattr(train_ds, "representation", None)
    if isinstance(train_ds, SpectrogramDataset):
        train_ds = train_ds.with_options(
            augment=aug,
            crop=crop,
            positive_crop=positive_crop,
            hard_crop=hard_crop,
            seed=seed,
        )
    val_ds = None
    if dataset_val is not None:
        val_ds = _as_dataset(dataset_val, norm)
        if isinstance(val_ds, SpectrogramDataset):
            val_ds = val_ds.with_options(augment=None, crop=None, positive_crop=0.0, hard_crop=0.0)
    fill = norm.fill if norm is not None else 0.0

    run = {
        "model": model if isinstance(model, str) else type(model).__name__,
        "model_kwargs": model_kwargs,
        "seed": int(seed),
        "batch_size": int(batch_size),
        "lr": float(lr),
        "optimizer": optimizer,
        "loss": loss if isinstance(loss, str) else type(loss).__name__,
        "init": init,
        "augment": None
        if aug is None
        else (aug.to_dict() if hasattr(aug, "to_dict") else repr(aug)),
        "crop": None if crop is None else list(crop),
        "positive_crop": float(positive_crop),
        "hard_crop": float(hard_crop),
        "scheduler": scheduler,
        "scheduler_kwargs": scheduler_kwargs or {},
        "momentum": momentum,
        "weight_decay": weight_decay,
        "temperature_kwargs": temperature_kwargs or {},
        "n_train": len(train_ds),
        "n_val": 0 if val_ds is None else len(val_ds),
        "representation": None if norm is None else norm.to_dict(),
    }
    run = _json_safe(run)

    with _deterministic(threads):
        net, arch, arch_kwargs = _build_model(model, model_kwargs, init, seed)
        loss_fn = _loss(loss)
        opt = make_optimizer(
            optimizer, net.parameters(), lr, momentum=momentum, weight_decay=weight_decay
        )
        sched = make_scheduler(scheduler, opt, **(scheduler_kwargs or {}))
        hist: dict[str, list[Any]] = {k: [] for k in (*_HIST_VARS, "val_iou_by_threshold")}
        start_epoch = 0

        ckdir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        if ckdir is not None:
            ckdir.mkdir(parents=True, exist_ok=True)
            run_file = ckdir / "run.json"
            found = _checkpoints(ckdir)
            if resume and found:
                old = _read_run_file(run_file) if run_file.exists() else None
                if old != run:
                    diff = sorted(
                        k for k in set(run) | set(old or {}) if (old or {}).get(k) != run.get(k)
                    )
                    raise ValueError(
                        f"{ckdir} holds checkpoints of a different run (differs in {diff}); "
                        f"use another checkpoint folder, or resume=False to start over"
                    )
                hist, start_epoch = _resume_from(found[-1][1], net, opt, sched)
            else:
                for _, p in found:
                    p.unlink()
            run_file.write_text(json.dumps(run, indent=2, sort_keys=True))

        set_temp = getattr(net, "set_temperature", None)
        for epoch in range(start_epoch, int(epochs)):
            t0 = time.perf_counter()
            temp = float("nan")
            if callable(set_temp):
                from ..models import temperature_schedule

                temp = temperature_schedule(epoch, **(temperature_kwargs or {}))
                set_temp(temp)
            if hasattr(train_ds, "set_epoch"):
                train_ds.set_epoch(epoch)
            gen = torch.Generator().manual_seed(_epoch_seed(seed, epoch))
            loader = torch.utils.data.DataLoader(
                train_ds,
                batch_size=int(batch_size),
                shuffle=True,
                generator=gen,
                num_workers=0,
                collate_fn=lambda b: pad_collate(b, fill),
            )
            net.train()
            total, count = 0.0, 0
            nb = len(loader)
            bar = _bar(loader, progress, f"epoch {epoch + 1}/{epochs}")
            for i, (x, y) in enumerate(bar):
                opt.zero_grad(set_to_none=True)
                value = loss_fn(net(x), y)
                value.backward()
                opt.step()
                if sched is not None:
                    sched.step(epoch + (i + 1) / nb)
                total += float(value.detach()) * x.shape[0]
                count += x.shape[0]
                if progress and hasattr(bar, "set_postfix"):
                    bar.set_postfix(loss=f"{total / count:.4f}")
            hist["train_loss"].append(total / max(count, 1))
            hist["lr"].append(float(opt.param_groups[0]["lr"]))
            hist["temperature"].append(temp)
            if val_ds is not None:
                r = evaluate_model(net, val_ds, threshold=0.5, loss=loss_fn)
                best = int(np.nanargmax(np.nan_to_num(r["iou_by_threshold"], nan=-1.0)))
                hist["val_loss"].append(r["loss"])
                hist["val_iou"].append(r["iou"])
                hist["val_miou"].append(r["miou"])
                hist["val_mpa"].append(r["mpa"])
                hist["val_best_iou"].append(float(r["iou_by_threshold"][best]))
                hist["val_best_threshold"].append(float(THRESHOLDS[best]))
                hist["val_iou_by_threshold"].append([float(v) for v in r["iou_by_threshold"]])
            else:
                for k in (
                    "val_loss",
                    "val_iou",
                    "val_miou",
                    "val_mpa",
                    "val_best_iou",
                    "val_best_threshold",
                ):
                    hist[k].append(float("nan"))
                hist["val_iou_by_threshold"].append([float("nan")] * THRESHOLDS.size)
            hist["seconds"].append(time.perf_counter() - t0)
            if progress:
                _report(epoch, epochs, hist)
            if ckdir is not None:
                state = {
                    "format": _STATE_FORMAT,
                    "version": 1,
                    "epoch": epoch + 1,
                    "model": net.state_dict(),
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict() if sched is not None else {},
                    "rng_torch": torch.get_rng_state(),
                    "history": hist,
                }
                _atomic_torch_save(state, ckdir / f"epoch-{epoch + 1:04d}.pt")
                # keep the last two: one may be in the middle of being replaced
                for _, p in _checkpoints(ckdir)[:-2]:
                    p.unlink()

    history = _history_dataset(hist, THRESHOLDS)
    threshold, source = 0.5, "default (no validation set)"
    if val_ds is not None and np.isfinite(history.val_best_iou[-1]):
        threshold = float(history.val_best_threshold[-1])
        source = "maximum validation IoU over 0.40-0.90 (final epoch)"
    net.eval()
    net.threshold = threshold
    seconds = float(np.nansum(history.seconds))
    config = _config(
        arch=arch,
        arch_kwargs=arch_kwargs,
        norm=norm,
        data_train=dataset_train,
        data_val=dataset_val,
        run=run,
        epochs=int(epochs),
        seconds=seconds,
        wall=time.perf_counter() - t_start,
        threshold=threshold,
        threshold_source=source,
        history=history,
        command=command,
    )
    net.xspecseg_config = config
    history.attrs.update(
        threshold=threshold,
        model=arch,
        seed=int(seed),
        config=json.dumps(config, default=str),
    )
    if output is not None:
        from ..models.checkpoint import save

        save(net, output, config=config)
    return net, history


def _bar(loader: Any, progress: bool, desc: str) -> Any:
    if not progress:
        return loader
    from tqdm.auto import tqdm

    return tqdm(loader, desc=desc, leave=False, unit="batch", file=sys.stderr)


def _report(epoch: int, epochs: int, hist: dict[str, list[Any]]) -> None:
    from tqdm.auto import tqdm

    msg = f"epoch {epoch + 1}/{epochs}: train_loss {hist['train_loss'][-1]:.4f}"
    if hist["val_loss"] and math.isfinite(hist["val_loss"][-1]):
        msg += (
            f", val_loss {hist['val_loss'][-1]:.4f}, val_iou {hist['val_iou'][-1]:.3f} "
            f"(best {hist['val_best_iou'][-1]:.3f} at {hist['val_best_threshold'][-1]:.2f})"
        )
    msg += f", {hist['seconds'][-1]:.1f} s"
    tqdm.write(msg, file=sys.stderr)


def _description(data: Any) -> dict[str, Any]:
    if isinstance(data, SpectrogramDataset):
        data = data.data
    if isinstance(data, ImageSet):
        d = dict(data.description)
        d.update(
            images=len(data),
            shape=list(data.images[0].shape) if len(data) else None,
            positive_fraction=data.positive_fraction,
        )
        return _json_safe(d)
    return {"type": type(data).__name__, "images": len(data) if hasattr(data, "__len__") else None}


def _card_component(comps: set[str]) -> str | None:
    """The input a model trained on images of ``comps`` takes from a cube.

    A model trained on the horizontal field's components alone and summed takes ``H+D``
    and, where one is missing, the other (see :func:`xspecseg.cube.select_component`).
    """
    if len(comps) == 1:
        return next(iter(comps))
    if comps and comps <= {"H", "D", "H+D"} and "H+D" in comps:
        return "H+D"
    return None


def _config(
    *,
    arch: str,
    arch_kwargs: dict[str, Any],
    norm: InputRepresentation | None,
    data_train: Any,
    data_val: Any,
    run: dict[str, Any],
    epochs: int,
    seconds: float,
    wall: float,
    threshold: float,
    threshold_source: str,
    history: xr.Dataset,
    command: str | None,
) -> dict[str, Any]:
    from .. import __version__

    dtrain = _description(data_train)
    base = data_train.data if isinstance(data_train, SpectrogramDataset) else data_train
    freq = getattr(base, "frequency", None)
    # the input the model takes from a multi-component cube (predict selects it)
    comps = {str(m["component"]) for m in getattr(base, "meta", []) if m.get("component")}
    last = {
        k: float(history[k][-1])
        for k in ("train_loss", "val_loss", "val_iou", "val_miou", "val_mpa")
    }
    return _json_safe(
        {
            "architecture": arch,
            "model_kwargs": arch_kwargs,
            "representation": None if norm is None else norm.to_dict(),
            "band": dtrain.get("band"),
            "night_window": dtrain.get("night") if dtrain.get("kind", "night") == "night" else None,
            "image_kind": dtrain.get("kind"),
            "component": _card_component(comps),
            "frequency_bins": None if freq is None else int(np.asarray(freq).size),
            "frequency_range": None if freq is None else [float(np.min(freq)), float(np.max(freq))],
            "threshold": threshold,
            "threshold_source": threshold_source,
            "training": {k: v for k, v in run.items() if k not in ("representation",)},
            "metrics": last,
            "provenance": {
                "command": command if command is not None else " ".join(sys.argv),
                "seed": run["seed"],
                "epochs": epochs,
                "seconds_training": round(seconds, 3),
                "seconds_wall_last_session": round(wall, 3),
                "data_train": dtrain,
                "data_val": None if data_val is None else _description(data_val),
                "created": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "xspecseg_version": __version__,
                "torch_version": torch.__version__,
            },
        }
    )
