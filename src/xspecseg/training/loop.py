"""The training loop: deterministic, resumable, checkpointed every epoch.

Determinism: the model is built right after ``torch.manual_seed(seed)``; the batch order
of epoch ``e`` comes from a generator seeded by ``(seed, e)``, each item's augmentation
and crop from ``(seed, e, index)`` (see :class:`~xspecseg.training.dataset.SpectrogramDataset`),
and the global torch RNG (dropout) is saved with each epoch's checkpoint and restored on
resume. Data loading runs in the main process (``num_workers=0``) and
``torch.use_deterministic_algorithms(True)`` is on while training. Two runs of the same
:class:`TrainingRecipe` on the same images therefore give bit-identical weights, and a run
killed after epoch ``k`` and resumed gives the weights of an uninterrupted run.

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
import dataclasses
import json
import math
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import torch
import xarray as xr
from torch import nn

from .._provenance import utc_now_iso
from .._version import __version__
from ..classical import detect
from ..contract import (
    NORM_STATISTICS,
    InputRepresentation,
    ModelCard,
    NormStatistics,
    architecture_of,
    card_of,
)
from ..models import get_model, temperature_schedule, use_image_statistics
from ..models.checkpoint import save
from ..models.losses import get_loss
from ..models.metrics import ConfusionMatrix
from ..models.registry import ENSEMBLE
from ..models.unet import init_weights
from .augment import as_augment
from .dataset import SpectrogramDataset, pad_collate
from .imageset import ImageSet

__all__ = [
    "OPTIMIZERS",
    "SCHEDULERS",
    "THRESHOLDS",
    "TrainingRecipe",
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


# -- building blocks -------------------------------------------------------------------------------


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
    model: str | nn.Module, recipe: TrainingRecipe, init: str | None
) -> tuple[nn.Module, str, dict[str, Any]]:
    torch.manual_seed(recipe.seed)
    if isinstance(model, nn.Module):
        arch = architecture_of(model)
        if init is not None:
            init_weights(model, init)
        return model, arch.name or type(model).__name__, dict(arch.kwargs)
    kw = dict(recipe.model_kwargs)
    name = str(model)
    # the U-net takes its initialiser as an argument (then the checkpoint records it)
    if init is not None and name.lower() == "unet":
        kw.setdefault("init", init)
        init = None
    net = get_model(name, in_channels=kw.pop("in_channels", 1), classes=kw.pop("classes", 1), **kw)
    if init is not None:
        init_weights(net, init)
    if recipe.norm_statistics == "image":
        use_image_statistics(net)
    arch = architecture_of(net)
    return net, arch.name, dict(arch.kwargs)


# -- inference on images ---------------------------------------------------------------------------


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
    return _forward_images(model, dataset)[0]


@torch.no_grad()
def _forward_images(
    model: nn.Module, dataset: Any, loss_fn: nn.Module | None = None
) -> tuple[list[np.ndarray], float]:
    """(probabilities of every item, their mean ``loss_fn`` or NaN): one pass of the network."""
    was = model.training
    model.eval()
    out, total = [], 0.0
    try:
        for i in range(len(dataset)):
            x, y = dataset[i]
            logits = model(x[None])
            if loss_fn is not None:
                total += float(loss_fn(logits, y[None]))
            out.append(torch.sigmoid(logits)[0, 0].numpy())
    finally:
        model.train(was)
    mean = total / len(out) if loss_fn is not None and out else float("nan")
    return out, mean


def _confusions(
    probs: Sequence[np.ndarray], masks: Sequence[np.ndarray], thresholds: np.ndarray
) -> np.ndarray:
    """``[[TN, FP], [FN, TP]]`` per threshold, summed over images -> (n_thr, 2, 2)."""
    cms = [ConfusionMatrix() for _ in thresholds]
    for p, m in zip(probs, masks):
        for cm, t in zip(cms, thresholds):
            cm.update(p, np.asarray(m, bool), threshold=float(t))
    return np.stack([cm.matrix for cm in cms])


def _metrics(matrix: np.ndarray) -> dict[str, float]:
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
        (array), ``thresholds``, ``loss`` (NaN unless asked) and ``seconds_per_image``
        (the network's time per image, the input representation included).

    Examples
    --------
    >>> from xspecseg.models import get_model
    >>> s = ImageSet([np.ones((16, 16), np.float32)], [np.zeros((16, 16), bool)])
    >>> r = evaluate_model(get_model("unet", base_channels=4, depth=2), s)
    >>> sorted(k for k in r if k.startswith("m"))
    ['miou', 'mpa']
    """
    card = card_of(model)
    if representation is None and card is not None:
        representation = card.representation
    if isinstance(representation, dict):
        representation = InputRepresentation.from_dict(representation)
    if threshold is None:
        threshold = float(getattr(model, "threshold", card.threshold if card else 0.5))
    ds = _as_dataset(data, representation)
    if isinstance(ds, SpectrogramDataset):
        ds = ds.with_options(augment=None, crop=None)
        _check_component(card.component if card else None, ds.data.meta)
    t0 = time.perf_counter()
    probs, mean_loss = _forward_images(model, ds, None if loss is None else _loss(loss))
    seconds = time.perf_counter() - t0
    masks = _masks_of(ds)
    thr = np.asarray(sorted({*map(float, thresholds), float(threshold)}))
    mats = _confusions(probs, masks, thr)
    at = _metrics(mats[int(np.argmin(np.abs(thr - threshold)))])
    grid = [float(t) for t in thresholds]
    by = np.array([_metrics(mats[int(np.argmin(np.abs(thr - t)))])["iou"] for t in grid])
    out: dict[str, Any] = {**at, "threshold": float(threshold)}
    out["thresholds"] = np.asarray(grid)
    out["iou_by_threshold"] = by
    out["loss"] = mean_loss
    out["seconds_per_image"] = seconds / max(len(probs), 1)
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
    preds = [np.asarray(detect(name, x, **kwargs), bool) for x in data.images]
    mats = _confusions([p.astype(np.float32) for p in preds], data.masks, np.array([0.5]))
    return {**_metrics(mats[0]), "threshold": float("nan"), "loss": float("nan")}


def _loss(loss: str | nn.Module) -> nn.Module:
    if isinstance(loss, nn.Module):
        return loss
    return get_loss(loss)


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


# -- history ---------------------------------------------------------------------------------------

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


# -- the recipe ------------------------------------------------------------------------------------

OptimizerName = Literal["adam", "sgd", "rmsprop"]
LossName = Literal["bce", "dice", "ce_logdice"]
LRSchedule = Literal["none", "cosine_warm_restarts"]

_OPTIMIZER_NAMES: tuple[str, ...] = get_args(OptimizerName)
_LOSS_NAMES: tuple[str, ...] = get_args(LossName)
_LR_SCHEDULES: tuple[str, ...] = get_args(LRSchedule)


@dataclass(frozen=True)
class TrainingRecipe:
    """Everything that defines how a model is trained (where and how a run executes is
    given to :func:`train_model` instead).

    The defaults are the IAR paper's: a U-net, Adam at a learning rate of 1e-4, binary
    cross-entropy, batches of 2 whole images, 10 epochs, no learning-rate schedule and no
    augmentation. :meth:`odm_unet_paper` gives the ODM_Unet paper's.

    Attributes
    ----------
    model : str
        A :func:`xspecseg.models.get_model` name (``"unet"``, ``"odm_unet"``, ``"smp:Unet"``).
    model_kwargs : dict
        Architecture options (``base_channels``, ``depth``, ``dropout``, ...).
    epochs : int
        Total number of epochs (a resumed run continues up to it).
    batch_size : int
        Images per training step.
    lr : float
        Learning rate.
    optimizer : {"adam", "sgd", "rmsprop"}
        The optimiser (the IAR paper's grid search compared these three).
    loss : {"bce", "dice", "ce_logdice"}
        See :func:`xspecseg.models.get_loss`.
    init : str, optional
        Weight initialiser (Keras names: ``"he_normal"``, ``"glorot_uniform"``, ...,
        ``"orthogonal"``); None keeps the architecture's default.
    momentum, weight_decay : float
        SGD momentum; L2 weight decay of any optimiser.
    lr_schedule : {"none", "cosine_warm_restarts"}
        Learning-rate schedule, see :func:`make_scheduler`.
    restart_epochs : int, optional
        Epochs per cosine cycle (None: 20, the ODM_Unet paper's).
    augment : dict, optional
        Augmentation of training items: None for none, ``"odm_unet"`` for the ODM_Unet
        paper's list or a dict of :class:`~xspecseg.training.augment.Augment` options;
        kept as the dict of all options.
    crop : (int, int), optional
        Random training crops of this size (needed when images differ in size and
        ``batch_size > 1`` would otherwise pad them).
    positive_crop, hard_crop : float
        Shares of training crops placed on a signal pixel (for rare targets) and on a hard
        negative (against false alarms on clutter), see
        :class:`~xspecseg.training.dataset.SpectrogramDataset`.
    temperature_epochs : float, optional
        Models with an attention temperature (ODM_Unet): epochs over which it falls from
        30 to 1 (None: 10), see :func:`xspecseg.models.temperature_schedule`.
    norm_statistics : {"running", "image"}
        What the network's batch normalisation layers normalise by: the batch in training
        and the running statistics at inference (``"running"``, PyTorch's), or each image's
        own statistics in both (``"image"``, see
        :func:`xspecseg.models.use_image_statistics`; the checkpoint records it).
    seed : int
        Seed of everything random (initial weights, batch order, augmentation, dropout).

    Examples
    --------
    >>> r = TrainingRecipe(lr=1e-3, crop=[64, 64])
    >>> r.crop, r.optimizer, r.augment is None
    ((64, 64), 'adam', True)
    >>> TrainingRecipe.from_config({"training": r.to_config(), "provenance": {"epochs": 10}}) == r
    True
    >>> TrainingRecipe(optimizer="adagrad")
    Traceback (most recent call last):
    ValueError: optimizer must be one of 'adam', 'sgd', 'rmsprop', got 'adagrad'
    """

    model: str = "unet"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 2
    lr: float = 1e-4
    optimizer: OptimizerName = "adam"
    loss: LossName = "bce"
    init: str | None = None
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_schedule: LRSchedule = "none"
    restart_epochs: int | None = None
    augment: dict[str, Any] | None = None
    crop: tuple[int, int] | None = None
    positive_crop: float = 0.0
    hard_crop: float = 0.0
    temperature_epochs: float | None = None
    norm_statistics: NormStatistics = "running"
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ValueError(f"model must be a model name, got {self.model!r}")
        if not isinstance(self.model_kwargs, Mapping):
            raise ValueError(f"model_kwargs must be a dict, got {self.model_kwargs!r}")
        for name, options in (
            ("optimizer", _OPTIMIZER_NAMES),
            ("loss", _LOSS_NAMES),
            ("lr_schedule", _LR_SCHEDULES),
            ("norm_statistics", NORM_STATISTICS),
        ):
            if getattr(self, name) not in options:
                choices = ", ".join(map(repr, options))
                raise ValueError(f"{name} must be one of {choices}, got {getattr(self, name)!r}")
        _check_int(self, "epochs", 1)
        _check_int(self, "batch_size", 1)
        _check_int(self, "seed", 0)
        _check_number(self, "lr", positive=True)
        _check_number(self, "momentum")
        _check_number(self, "weight_decay")
        for name in ("positive_crop", "hard_crop"):
            _check_number(self, name)
            if getattr(self, name) > 1:
                raise ValueError(f"{name} is a share of crops, 0 to 1; got {getattr(self, name)}")
        if self.restart_epochs is not None:
            _check_int(self, "restart_epochs", 1)
            if self.lr_schedule != "cosine_warm_restarts":
                raise ValueError("restart_epochs needs lr_schedule='cosine_warm_restarts'")
        if self.temperature_epochs is not None:
            _check_number(self, "temperature_epochs", positive=True)
        if self.crop is not None:
            crop = tuple(self.crop)
            if len(crop) != 2 or not all(_is_int(c) and c >= 1 for c in crop):
                raise ValueError(f"crop must be two positive integers (T, F), got {self.crop!r}")
            object.__setattr__(self, "crop", tuple(int(c) for c in crop))
        # one spelling per augmentation, so that a recipe read back from a config is equal
        aug = as_augment(self.augment)
        if aug is not None and not hasattr(aug, "to_dict"):
            raise ValueError("augment must be None, 'odm_unet' or a dict of Augment options")
        object.__setattr__(self, "augment", None if aug is None else _json_safe(aug.to_dict()))
        object.__setattr__(self, "model_kwargs", dict(self.model_kwargs))

    @classmethod
    def iar_paper(cls, **changes: Any) -> TrainingRecipe:
        """The IAR paper's settings (the defaults), with ``changes``.

        Examples
        --------
        >>> TrainingRecipe.iar_paper(epochs=2) == TrainingRecipe(epochs=2)
        True
        """
        return cls(**changes)

    @classmethod
    def odm_unet_paper(cls, **changes: Any) -> TrainingRecipe:
        """The ODM_Unet paper's settings, with ``changes``: an ODM_Unet, cross-entropy plus
        log-Dice, learning rate 1e-3, batches of 16, cosine warm restarts every 20 epochs,
        its augmentation list. The number of epochs stays the default's.

        Examples
        --------
        >>> r = TrainingRecipe.odm_unet_paper()
        >>> r.model, r.loss, r.lr, r.batch_size, r.lr_schedule, r.augment is not None
        ('odm_unet', 'ce_logdice', 0.001, 16, 'cosine_warm_restarts', True)
        """
        paper: dict[str, Any] = dict(
            model="odm_unet",
            loss="ce_logdice",
            lr=1e-3,
            batch_size=16,
            lr_schedule="cosine_warm_restarts",
            augment="odm_unet",
        )
        return cls(**{**paper, **changes})

    def replace(self, **changes: Any) -> TrainingRecipe:
        """A copy with ``changes`` (validated again).

        Examples
        --------
        >>> TrainingRecipe().replace(lr=1e-3).lr
        0.001
        """
        return dataclasses.replace(self, **changes)

    def to_config(self) -> dict[str, Any]:
        """The ``training`` section of a checkpoint config (the epochs are recorded in its
        ``provenance``, so that a resumed run may continue to more of them).

        Examples
        --------
        >>> c = TrainingRecipe(lr_schedule="cosine_warm_restarts", restart_epochs=12).to_config()
        >>> c["scheduler"], c["scheduler_kwargs"]
        ('cosine_warm_restarts', {'T_0': 12})
        """
        config = _json_safe(
            {
                "model": self.model,
                "model_kwargs": self.model_kwargs,
                "seed": self.seed,
                "batch_size": self.batch_size,
                "lr": float(self.lr),
                "optimizer": self.optimizer,
                "loss": self.loss,
                "init": self.init,
                "augment": self.augment,
                "crop": None if self.crop is None else list(self.crop),
                "positive_crop": float(self.positive_crop),
                "hard_crop": float(self.hard_crop),
                "scheduler": None if self.lr_schedule == "none" else self.lr_schedule,
                "scheduler_kwargs": {}
                if self.restart_epochs is None
                else {"T_0": self.restart_epochs},
                "momentum": float(self.momentum),
                "weight_decay": float(self.weight_decay),
                "temperature_kwargs": {}
                if self.temperature_epochs is None
                else {"warmup_epochs": float(self.temperature_epochs)},
            }
        )
        # written only when not the default, so that earlier configs read back equal
        if self.norm_statistics != "running":
            config["norm_statistics"] = self.norm_statistics
        return config

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TrainingRecipe:
        """The recipe a checkpoint config (``config.json`` of a saved model) records.

        An ensemble (``xspecseg ensemble``) was not trained as one: its members' recipes
        are in its provenance (``config["provenance"]["members"][i]``, which this reads
        too) and the ensemble's own config is refused.

        Examples
        --------
        >>> from xspecseg.models.checkpoint import locate
        >>> cfg = json.loads(locate("iar-default")[0].read_text())
        >>> (member,) = cfg["provenance"]["members"]  # iar-default: one U-net
        >>> r = TrainingRecipe.from_config(member)
        >>> r.loss, r.batch_size, r.restart_epochs
        ('ce_logdice', 4, 30)
        """
        if config.get("name") == ENSEMBLE or config.get("architecture") == ENSEMBLE:
            raise ValueError(
                "an ensemble has no training recipe of its own: read a member's, "
                "TrainingRecipe.from_config(config['provenance']['members'][i])"
            )
        t = dict(config.get("training") or {})
        sched = dict(t.get("scheduler_kwargs") or {})
        temp = dict(t.get("temperature_kwargs") or {})
        extra = sorted({*sched} - {"T_0"}) + sorted({*temp} - {"warmup_epochs"})
        if extra:
            raise ValueError(f"the config's training holds options a recipe has not: {extra}")
        kw: dict[str, Any] = {
            k: t[k]
            for k in (
                "model",
                "model_kwargs",
                "seed",
                "batch_size",
                "lr",
                "optimizer",
                "loss",
                "init",
                "augment",
                "crop",
                "positive_crop",
                "hard_crop",
                "momentum",
                "weight_decay",
                "norm_statistics",
            )
            if k in t
        }
        kw["lr_schedule"] = t.get("scheduler") or "none"
        kw["restart_epochs"] = sched.get("T_0")
        kw["temperature_epochs"] = temp.get("warmup_epochs")
        epochs = (config.get("provenance") or {}).get("epochs")
        if epochs is not None:
            kw["epochs"] = int(epochs)
        return cls(**kw)


def _is_int(v: Any) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def _check_int(recipe: TrainingRecipe, name: str, least: int) -> None:
    v = getattr(recipe, name)
    if not _is_int(v) or v < least:
        raise ValueError(f"{name} must be an integer >= {least}, got {v!r}")
    object.__setattr__(recipe, name, int(v))


def _check_number(recipe: TrainingRecipe, name: str, *, positive: bool = False) -> None:
    v = getattr(recipe, name)
    ok = isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
    if not ok or not math.isfinite(v) or v < 0 or (positive and v == 0):
        want = "a positive number" if positive else "a number >= 0"
        raise ValueError(f"{name} must be {want}, got {v!r}")
    object.__setattr__(recipe, name, float(v))


# -- the loop --------------------------------------------------------------------------------------


def train_model(
    data: ImageSet | SpectrogramDataset,
    recipe: TrainingRecipe | None = None,
    val: ImageSet | SpectrogramDataset | None = None,
    *,
    network: nn.Module | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = True,
    progress: bool = True,
    threads: int | None = None,
    output: str | os.PathLike | None = None,
    command: str | None = None,
    **unknown: Any,
) -> tuple[nn.Module, xr.Dataset]:
    """Train a segmentation network on labelled spectrogram images.

    What is trained, and how, is the ``recipe`` (default: the IAR paper's settings, see
    :class:`TrainingRecipe`); the keywords say where the run writes and how it executes,
    and change nothing in the trained weights.

    Parameters
    ----------
    data, val : ImageSet or SpectrogramDataset
        Training and validation images. The input representation is fitted on the
        training images (unless ``data`` is a :class:`SpectrogramDataset`, whose own is
        kept) and used for both.
    recipe : TrainingRecipe, optional
        The model and its training settings (None: ``TrainingRecipe()``).
    network : nn.Module, optional
        A built network to train instead of building ``recipe.model``.
    checkpoint_dir : path, optional
        Folder of per-epoch checkpoints; None keeps none (no resume).
    resume : bool
        Continue from the last complete epoch in ``checkpoint_dir`` (False starts over,
        deleting its epoch files).
    progress : bool
        Show a tqdm bar per epoch.
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
        ``model.xspecseg_config`` = the saved config, whose ``training`` section is
        ``recipe.to_config()``) and the history: dim ``epoch`` with ``train_loss``,
        ``val_loss``, ``val_iou``/``val_miou``/``val_mpa`` (at 0.5), ``val_best_iou`` and
        ``val_best_threshold`` (best cut in 0.4–0.9), ``lr``, ``temperature``, ``seconds``,
        and ``val_iou_by_threshold`` (epoch, threshold).

    Examples
    --------
    >>> s = ImageSet([np.random.default_rng(0).random((32, 32), np.float32)] * 2,
    ...              [np.eye(32, dtype=bool)] * 2)
    >>> recipe = TrainingRecipe(epochs=1, model_kwargs={"base_channels": 4, "depth": 2})
    >>> net, hist = train_model(s, recipe, val=s, progress=False)
    >>> hist.sizes["epoch"], 0.4 <= net.threshold <= 0.9
    (1, True)
    >>> TrainingRecipe.from_config(net.xspecseg_config) == recipe
    True
    """
    if unknown:
        raise TypeError(f"unexpected keyword(s) {sorted(unknown)}: put them in the recipe")
    if recipe is None:
        recipe = TrainingRecipe()
    if not isinstance(recipe, TrainingRecipe):
        raise TypeError(f"recipe must be a TrainingRecipe, got {type(recipe).__name__}")
    t_start = time.perf_counter()
    train_ds, val_ds, norm = _datasets(data, val, recipe)
    run = _run_record(recipe, network, train_ds, val_ds, norm)
    with _deterministic(threads):
        net, arch, arch_kwargs = _build_model(
            recipe.model if network is None else network, recipe, recipe.init
        )
        ckdir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        hist = _fit(net, train_ds, val_ds, norm, recipe, run, ckdir, resume, progress)

    history = _history_dataset(hist, THRESHOLDS)
    threshold, source = _recommended_threshold(history, val_ds is not None)
    net.eval()
    net.threshold = threshold
    config = _config(
        arch=arch,
        arch_kwargs=arch_kwargs,
        norm=norm,
        data_train=data,
        data_val=val,
        run=run,
        epochs=recipe.epochs,
        seconds=float(np.nansum(history.seconds)),
        wall=time.perf_counter() - t_start,
        threshold=threshold,
        threshold_source=source,
        history=history,
        command=command,
    )
    config["parameters"] = int(sum(p.numel() for p in net.parameters()))
    # the config as a checkpoint of this model will hold it (save adds name and kwargs)
    net.xspecseg_config = {**config, "name": arch, "kwargs": arch_kwargs}
    net.xspecseg_card = ModelCard.from_config(net.xspecseg_config)
    history.attrs.update(
        threshold=threshold, model=arch, seed=recipe.seed, config=json.dumps(config, default=str)
    )
    if output is not None:
        save(net, output, config=config)
    return net, history


def _run_record(
    recipe: TrainingRecipe, network: nn.Module | None, train_ds: Any, val_ds: Any, norm: Any
) -> dict[str, Any]:
    """What identifies a run (``run.json``; the config's ``training``): the recipe, less
    the epochs a resumed run may extend, and the sizes of its data."""
    return _json_safe(
        {
            **recipe.to_config(),
            "model": recipe.model if network is None else type(network).__name__,
            "n_train": len(train_ds),
            "n_val": 0 if val_ds is None else len(val_ds),
            "representation": None if norm is None else norm.to_dict(),
        }
    )


def _recommended_threshold(history: xr.Dataset, validated: bool) -> tuple[float, str]:
    """The cut the model recommends, and where it comes from."""
    if validated and np.isfinite(history.val_best_iou[-1]):
        best = float(history.val_best_threshold[-1])
        return best, "maximum validation IoU over 0.40-0.90 (final epoch)"
    return 0.5, "default (no validation set)"


def _fit(
    net: nn.Module,
    train_ds: Any,
    val_ds: Any,
    norm: InputRepresentation | None,
    recipe: TrainingRecipe,
    run: dict[str, Any],
    ckdir: Path | None,
    resume: bool,
    progress: bool,
) -> dict[str, list[Any]]:
    """The epochs (from the last checkpoint of this run when resuming); the history."""
    loss_fn = _loss(recipe.loss)
    opt = make_optimizer(
        recipe.optimizer,
        net.parameters(),
        recipe.lr,
        momentum=recipe.momentum,
        weight_decay=recipe.weight_decay,
    )
    sched_kw = {} if recipe.restart_epochs is None else {"T_0": recipe.restart_epochs}
    sched = make_scheduler(recipe.lr_schedule, opt, **sched_kw)
    temp_kw = (
        {} if recipe.temperature_epochs is None else {"warmup_epochs": recipe.temperature_epochs}
    )
    hist, start_epoch = _start(ckdir, run, resume, net, opt, sched)
    fill = norm.fill if norm is not None else 0.0
    epochs = recipe.epochs
    set_temp = getattr(net, "set_temperature", None)
    for epoch in range(start_epoch, epochs):
        t0 = time.perf_counter()
        temp = float("nan")
        if callable(set_temp):
            temp = temperature_schedule(epoch, **temp_kw)
            set_temp(temp)
        if hasattr(train_ds, "set_epoch"):
            train_ds.set_epoch(epoch)
        gen = torch.Generator().manual_seed(_epoch_seed(recipe.seed, epoch))
        loader = torch.utils.data.DataLoader(
            train_ds,
            batch_size=recipe.batch_size,
            shuffle=True,
            generator=gen,
            num_workers=0,
            collate_fn=lambda b: pad_collate(b, fill),
        )
        bar = _bar(loader, progress, f"epoch {epoch + 1}/{epochs}")
        hist["train_loss"].append(_train_epoch(net, bar, opt, sched, loss_fn, epoch, progress))
        hist["lr"].append(float(opt.param_groups[0]["lr"]))
        hist["temperature"].append(temp)
        _validate(net, val_ds, loss_fn, hist)
        hist["seconds"].append(time.perf_counter() - t0)
        if progress:
            _report(epoch, epochs, hist)
        if ckdir is not None:
            _save_epoch(ckdir, epoch, net, opt, sched, hist)
    return hist


def _datasets(
    dataset_train: Any, dataset_val: Any, recipe: TrainingRecipe
) -> tuple[Any, Any, InputRepresentation | None]:
    """Training and validation datasets and the representation they share.

    The representation is fitted on the training images (or kept from a given
    :class:`SpectrogramDataset`); validation items are whole and unaugmented.
    """
    train_ds = _as_dataset(dataset_train, None)
    norm = getattr(train_ds, "representation", None)
    if isinstance(train_ds, SpectrogramDataset):
        train_ds = train_ds.with_options(
            augment=as_augment(recipe.augment),
            crop=recipe.crop,
            positive_crop=recipe.positive_crop,
            hard_crop=recipe.hard_crop,
            seed=recipe.seed,
        )
    val_ds = None
    if dataset_val is not None:
        val_ds = _as_dataset(dataset_val, norm)
        if isinstance(val_ds, SpectrogramDataset):
            val_ds = val_ds.with_options(augment=None, crop=None, positive_crop=0.0, hard_crop=0.0)
    return train_ds, val_ds, norm


def _start(
    ckdir: Path | None, run: dict[str, Any], resume: bool, net: nn.Module, opt: Any, sched: Any
) -> tuple[dict[str, list[Any]], int]:
    """(history so far, first epoch to run): from the last checkpoint of this run when
    resuming, else empty (the folder's epoch files deleted); ``run.json`` (re)written."""
    hist: dict[str, list[Any]] = {k: [] for k in (*_HIST_VARS, "val_iou_by_threshold")}
    start_epoch = 0
    if ckdir is None:
        return hist, start_epoch
    ckdir.mkdir(parents=True, exist_ok=True)
    run_file = ckdir / "run.json"
    found = _checkpoints(ckdir)
    if resume and found:
        old = _read_run_file(run_file) if run_file.exists() else None
        if old != run:
            diff = sorted(k for k in set(run) | set(old or {}) if (old or {}).get(k) != run.get(k))
            raise ValueError(
                f"{ckdir} holds checkpoints of a different run (differs in {diff}); "
                f"use another checkpoint folder, or resume=False to start over"
            )
        hist, start_epoch = _resume_from(found[-1][1], net, opt, sched)
    else:
        for _, p in found:
            p.unlink()
    run_file.write_text(json.dumps(run, indent=2, sort_keys=True))
    return hist, start_epoch


def _train_epoch(
    net: nn.Module,
    batches: Any,
    opt: torch.optim.Optimizer,
    sched: Any,
    loss_fn: nn.Module,
    epoch: int,
    progress: bool,
) -> float:
    """One pass over the training batches; the mean training loss per item."""
    net.train()
    total, count = 0.0, 0
    nb = len(batches)
    for i, (x, y) in enumerate(batches):
        opt.zero_grad(set_to_none=True)
        value = loss_fn(net(x), y)
        value.backward()
        opt.step()
        if sched is not None:
            sched.step(epoch + (i + 1) / nb)
        total += float(value.detach()) * x.shape[0]
        count += x.shape[0]
        if progress and hasattr(batches, "set_postfix"):
            batches.set_postfix(loss=f"{total / count:.4f}")
    return total / max(count, 1)


_VAL_VARS = ("val_loss", "val_iou", "val_miou", "val_mpa", "val_best_iou", "val_best_threshold")


def _validate(net: nn.Module, val_ds: Any, loss_fn: nn.Module, hist: dict[str, list[Any]]) -> None:
    """Append this epoch's validation metrics to ``hist`` (NaN without a validation set)."""
    if val_ds is None:
        for k in _VAL_VARS:
            hist[k].append(float("nan"))
        hist["val_iou_by_threshold"].append([float("nan")] * THRESHOLDS.size)
        return
    r = evaluate_model(net, val_ds, threshold=0.5, loss=loss_fn)
    best = int(np.nanargmax(np.nan_to_num(r["iou_by_threshold"], nan=-1.0)))
    hist["val_loss"].append(r["loss"])
    hist["val_iou"].append(r["iou"])
    hist["val_miou"].append(r["miou"])
    hist["val_mpa"].append(r["mpa"])
    hist["val_best_iou"].append(float(r["iou_by_threshold"][best]))
    hist["val_best_threshold"].append(float(THRESHOLDS[best]))
    hist["val_iou_by_threshold"].append([float(v) for v in r["iou_by_threshold"]])


def _save_epoch(
    ckdir: Path, epoch: int, net: nn.Module, opt: Any, sched: Any, hist: dict[str, list[Any]]
) -> None:
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
            "norm_statistics": run.get("norm_statistics", "running"),
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
                "created": utc_now_iso(),
                "xspecseg_version": __version__,
                "torch_version": torch.__version__,
            },
        }
    )
