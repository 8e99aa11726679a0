"""Checkpoints: a directory holding ``model.safetensors`` and ``config.json``.

``config.json`` holds the architecture (``name`` and ``kwargs`` for :func:`get_model`),
``format``/``format_version``, the ``xspecseg_version`` that wrote it, and everything the
caller passed in ``config`` (input normalisation, frequency band, night window,
recommended ``threshold``, training provenance, ...). Weights are read with safetensors
only: a checkpoint can never run code when loaded (nothing is unpickled). Nor can its
config reach outside the checkpoint: ``kwargs`` are whitelisted per architecture
(:func:`~xspecseg.models.registry.check_checkpoint_kwargs`: the architecture's own
options with sane values; for smp models only smp's built-in encoders, no
``checkpoint_path``/``pretrained``/``encoder_weights``, no path-like values), so building
the model reads no other file and never reaches the network.

Shipped models live in ``xspecseg/weights/<name>/`` (package data) and load by name.
:func:`locate` finds a checkpoint's two files and :func:`read_card` reads its
:class:`~xspecseg.contract.ModelCard` alone, without touching the weights (what a Dask
client needs; the workers :func:`load` the model).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._atomic import atomic_write
from .._optional import needs_extra
from .._provenance import sha256_file, utc_now_iso
from .._version import __version__
from ..contract import (
    EVENT_CUT_KEYS,
    NORM_STATISTICS,
    ModelCard,
    RowBackground,
    architecture_of,
)
from .normstats import use_image_statistics
from .registry import ENSEMBLE, available_models, check_checkpoint_kwargs, get_model

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "SHIPPED_MODELS",
    "WEIGHTS_DIR",
    "ensemble_of",
    "load",
    "locate",
    "read_card",
    "read_config",
    "save",
]

#: The ``format`` field of every checkpoint's config.
FORMAT = "xspecseg-model"
#: The checkpoint format's version, raised when the layout changes.
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
#: The folder of the shipped models' weights.
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
# shipped name -> the command that trains it (named in the error when it is missing)
#: Shipped model name -> the command that trains it.
SHIPPED_MODELS: dict[str, str] = {
    "iar-default": (
        "xspecseg train --data synth-iar --domain randomised --group 4 --components H+D H D "
        "--nights 160 --seed 0 --start 2012-10-01 --val-nights 16 "
        "--epochs 30 --batch-size 4 --lr 1e-3 --loss ce_logdice --base-channels 8 "
        "--augment none --lr-schedule cosine_warm_restarts --restart-epochs 30 --threads 1 "
        f"-o {WEIGHTS_DIR / 'iar-default'}"
    ),
    "cses-default": (
        "xspecseg train --model smp:DeepLabV3Plus --data synth-cses --domain randomised "
        "--group 12 --nights 240 --rate-scale 20 --seed 4 --val-nights 24 --epochs 12 "
        "--batch-size 8 --lr 5e-4 --loss ce_logdice --lr-schedule cosine_warm_restarts "
        "--restart-epochs 12 --crop 256 501 --positive-crop 0.3 --augment none --threads 1 "
        "--synth-param 'noise_dof=[2, 32]' --default-share 0.5 "
        f"-o {WEIGHTS_DIR / 'cses-default'}"
        # then the event cuts, on the same randomised training images (config only)
        f" && xspecseg tune-events {WEIGHTS_DIR / 'cses-default'} --data synth-cses "
        "--domain randomised --group 12 --nights 240 --rate-scale 20 --seed 4 "
        "--synth-param 'noise_dof=[2, 32]' --default-share 0.5 --max-false 0.05"
    ),
}
_RESERVED = ("format", "format_version", "xspecseg_version", "name", "kwargs")


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic | np.ndarray):
        return o.tolist()
    if isinstance(o, tuple | set):
        return list(o)
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "isoformat"):
        return o.isoformat()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def _version() -> str:
    return __version__


def save(model: nn.Module, path: str | os.PathLike[str], *, config: dict[str, Any]) -> Path:
    """Write ``model`` to the directory ``path`` (created): safetensors weights + JSON config.

    Parameters
    ----------
    model : nn.Module
        A model from :func:`~xspecseg.models.get_model` (it carries its
        :class:`~xspecseg.contract.Architecture`).
    path : path-like
        Checkpoint directory; existing files of the same names are replaced.
    config : dict
        JSON-serialisable metadata stored with the weights (``threshold``, normalisation,
        band, night window, provenance, ...). ``threshold`` defaults to 0.5.

    Returns
    -------
    Path
        The checkpoint directory.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from xspecseg.models import get_model
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "ckpt"
    >>> _ = save(get_model("unet", base_channels=4), d, config={"threshold": 0.6})
    >>> sorted(p.name for p in d.iterdir())
    ['config.json', 'model.safetensors']
    """
    with needs_extra("models"):
        from safetensors.torch import save_file

    arch = architecture_of(model)
    if not arch.name:
        raise ValueError(
            "model has no registry architecture: build it with xspecseg.models.get_model"
        )
    info = {"name": arch.name, "kwargs": arch.kwargs}
    clash = [k for k in _RESERVED if k in config and config[k] != info.get(k, config[k])]
    if clash or any(k in config for k in ("format", "format_version", "xspecseg_version")):
        raise ValueError(f"config may not set the reserved keys {', '.join(_RESERVED[:3])}")
    cfg: dict[str, Any] = {"threshold": 0.5}
    if hasattr(model, "temperature"):
        cfg["temperature"] = float(model.temperature)
    cfg.update(config)
    cfg.update(
        format=FORMAT,
        format_version=FORMAT_VERSION,
        xspecseg_version=_version(),
        name=info["name"],
        kwargs=info["kwargs"],
    )
    try:
        text = json.dumps(cfg, indent=2, sort_keys=True, default=_json_default, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"config is not JSON serialisable: {exc}") from exc

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    meta = {"format": FORMAT, "name": info["name"]}
    atomic_write(out / WEIGHTS_FILE, lambda tmp: save_file(tensors, tmp, metadata=meta))
    atomic_write(out / CONFIG_FILE, lambda tmp: Path(tmp).write_text(text + "\n"))
    return out


def locate(name_or_path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(config.json, model.safetensors)`` paths of a checkpoint or shipped model.

    ``name_or_path`` is a checkpoint directory, one of its two files or a shipped name.
    Nothing is read; a FileNotFoundError says what is missing (for a shipped model not
    trained yet, the command that produces it).

    Examples
    --------
    >>> config, weights = locate("iar-default")
    >>> config.name, weights.name
    ('config.json', 'model.safetensors')
    """
    p = Path(name_or_path)
    if p.is_dir():
        return p / CONFIG_FILE, p / WEIGHTS_FILE
    if p.is_file():
        if p.suffix == ".safetensors":
            return p.with_name(CONFIG_FILE), p
        return p, p.with_name(WEIGHTS_FILE)
    name = str(name_or_path)
    shipped = WEIGHTS_DIR / name
    if os.sep not in name and "/" not in name and shipped.is_dir():
        return shipped / CONFIG_FILE, shipped / WEIGHTS_FILE
    if name in SHIPPED_MODELS:
        raise FileNotFoundError(
            f"the shipped model {name!r} has not been trained yet (no {shipped}); "
            f"produce it with: {SHIPPED_MODELS[name]}"
        )
    raise FileNotFoundError(
        f"no checkpoint directory or file at {name!r}, and no shipped model of that name "
        f"(shipped: {', '.join(sorted(SHIPPED_MODELS))})"
    )


def read_config(name_or_path: str | os.PathLike[str]) -> dict[str, Any]:
    """The validated ``config.json`` of a checkpoint or shipped model (no weights read).

    Examples
    --------
    >>> cfg = read_config("iar-default")
    >>> cfg["name"], [m["architecture"] for m in cfg["provenance"]["members"]]
    ('ensemble', ['unet'])
    """
    return _read_config(locate(name_or_path)[0])


def read_card(name_or_path: str | os.PathLike[str]) -> ModelCard:
    """The :class:`~xspecseg.contract.ModelCard` of a checkpoint or shipped model.

    Only ``config.json`` is read: what a client needs to plan inference before the
    workers load the weights.

    Examples
    --------
    >>> read_card("cses-default").image_unit
    'half_orbit'
    """
    return ModelCard.from_config(read_config(name_or_path))


def _read_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ValueError(f"{path} is missing: not an xspecseg checkpoint (expected {CONFIG_FILE})")
    try:
        cfg = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(cfg, dict) or cfg.get("format") != FORMAT:
        raise ValueError(f"{path} is not an xspecseg model config (no format={FORMAT!r})")
    version = cfg.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{path} has format_version {version!r}; this xspecseg reads up to {FORMAT_VERSION}"
        )
    missing = [k for k in ("name", "kwargs") if k not in cfg]
    if missing:
        raise ValueError(f"{path} lacks the required keys {missing}")
    if cfg["name"] not in (*available_models(), ENSEMBLE):
        raise ValueError(f"{path} names an unknown architecture {cfg['name']!r}")
    if not isinstance(cfg["kwargs"], dict):
        raise ValueError(f"{path}: 'kwargs' must be an object, got {type(cfg['kwargs']).__name__}")
    thr = cfg.get("threshold", 0.5)
    if not isinstance(thr, int | float) or not 0.0 <= thr <= 1.0 or math.isnan(thr):
        raise ValueError(f"{path}: threshold must be a number in [0, 1], got {thr!r}")
    return cfg


def _read_weights(path: Path, model: nn.Module) -> dict[str, torch.Tensor]:
    with needs_extra("models"):
        from safetensors.torch import load_file

    if not path.is_file():
        raise ValueError(f"{path} is missing: the checkpoint has no weights")
    try:
        tensors = load_file(str(path), device="cpu")
    except Exception as exc:  # safetensors raises its own error type for any corrupt file
        raise ValueError(f"{path} is not a readable safetensors file ({exc})") from exc
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise ValueError(
            f"{path} does not match the architecture: {len(missing)} tensors missing "
            f"(e.g. {missing[:3]}), {len(extra)} unexpected (e.g. {extra[:3]})"
        )
    bad = [k for k, v in expected.items() if tuple(v.shape) != tuple(tensors[k].shape)]
    if bad:
        k = bad[0]
        raise ValueError(
            f"{path} does not match the architecture: {len(bad)} tensors of the wrong shape, "
            f"e.g. {k} is {tuple(tensors[k].shape)}, expected {tuple(expected[k].shape)}"
        )
    return {k: tensors[k].to(expected[k].dtype) for k in expected}


def load(name_or_path: str | os.PathLike[str], device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild a model from a checkpoint directory (or its files) or a shipped name.

    The model is returned in eval mode, with ``model.threshold`` (the recommended
    probability cut, 0.5 unless the checkpoint says otherwise), ``model.xspecseg_card``
    (its :class:`~xspecseg.contract.ModelCard`, read with
    :func:`~xspecseg.contract.card_of`) and ``model.xspecseg_config`` (the whole config
    dict as read).

    Raises
    ------
    FileNotFoundError
        Nothing at the path, or a shipped model not trained yet (the message names the
        command that produces it).
    ValueError
        A foreign or corrupt checkpoint: the message says what is wrong (for kwargs
        outside the whitelist of the module notes, which key).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from xspecseg.models import get_model
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "ckpt"
    >>> _ = save(get_model("unet", base_channels=4), d, config={"threshold": 0.7})
    >>> load(d).threshold
    0.7
    """
    cfg_path, weights_path = locate(name_or_path)
    cfg = _read_config(cfg_path)
    try:
        check_checkpoint_kwargs(cfg["name"], cfg["kwargs"])
        model = get_model(cfg["name"], **cfg["kwargs"])
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(
            f"{cfg_path}: cannot build {cfg['name']!r} from its kwargs ({exc})"
        ) from exc
    model.load_state_dict(_read_weights(weights_path, model), strict=True)
    if "temperature" in cfg and hasattr(model, "set_temperature"):
        model.set_temperature(float(cfg["temperature"]))
    norm = cfg.get("norm_statistics", "running")
    if norm not in NORM_STATISTICS:
        raise ValueError(
            f"{cfg_path}: norm_statistics must be one of {NORM_STATISTICS}, got {norm!r}"
        )
    if norm == "image":
        use_image_statistics(model)
    model.threshold = float(cfg.get("threshold", 0.5))
    model.xspecseg_config = cfg
    try:
        model.xspecseg_card = ModelCard.from_config(cfg)
    except (TypeError, ValueError):
        # the weights are usable without a card; card_of raises this error where one is
        # needed (inference), reading the same config
        pass
    return model.to(device).eval()


# what a member's config says about its own training, which the ensemble does not share
_MEMBER_ONLY = (
    "architecture",
    "event_filter",
    "metrics",
    "model_kwargs",
    "norm_statistics",
    "parameters",
    "provenance",
    "temperature",
    "threshold",
    "threshold_source",
    "training",
    *EVENT_CUT_KEYS,
    "event_score",
    *_RESERVED,
)
# card fields every member must share (what the ensemble is fed and what it stands for)
_SHARED = ("component", "band", "frequency_bins", "image_unit", "night_window")


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def ensemble_of(
    members: list[str | os.PathLike[str]],
    path: str | os.PathLike[str],
    *,
    command: str | None = None,
    flip_time: bool = False,
    row_background: RowBackground | None = None,
) -> Path:
    """Write a checkpoint that averages the logits of trained ``members`` (seed ensemble).

    The members must read the same data the same way (component, band and frequency grid,
    image unit, night window, and input representation up to its ``center``/``scale``);
    each keeps its own statistics through an input transform (see
    :mod:`xspecseg.models.ensemble`). The threshold is the median of the members', and
    each member's logits are moved so that its own threshold falls there; event cuts are
    not carried over (tune them on the ensemble: ``xspecseg tune-events``).

    Parameters
    ----------
    members : list of path-like or shipped names
        Two or more checkpoints (one is allowed, for a like-for-like comparison).
    path : path-like
        The ensemble's checkpoint directory.
    command : str, optional
        The command line recorded in the provenance.
    flip_time : bool
        Run every member on the image and on its time reversal as well and average the
        two: a time-symmetric detector at twice the inference cost (default: False).
    row_background : {"level", "tilt"}, optional
        Run the members with this row background of the ``"log-relative"`` representation
        instead of the one they were trained with (default: theirs). ``"tilt"`` takes out
        each time row's smooth spectral shape, so that a background whose slope changes
        within an image (a new day's spectrum at midnight, storm hours) leaves no tilt
        for a network trained on flat rows; see :class:`xspecseg.contract.InputRepresentation`.
        The config records the representation the members were trained with.

    Returns
    -------
    Path
        The checkpoint directory.

    Raises
    ------
    ValueError
        Members that read other data, another representation, or an ensemble; a
        ``row_background`` for members without the ``"log-relative"`` representation.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from xspecseg.models import get_model
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for s in (0, 1):
    ...     _ = save(get_model("unet", base_channels=4, depth=2), d / f"s{s}",
    ...              config={"threshold": 0.4 + 0.2 * s})
    >>> net = load(ensemble_of([d / "s0", d / "s1"], d / "ens"))
    >>> len(net.members), net.threshold
    (2, 0.5)
    """
    if not members:
        raise ValueError("an ensemble needs at least one member")
    configs, weights, cards, reps = [], [], [], []
    for m in members:
        cfg_path, w_path = locate(m)
        cfg = _read_config(cfg_path)
        if cfg["name"] == ENSEMBLE:
            raise ValueError(f"{m}: an ensemble cannot be a member; list its members instead")
        card = ModelCard.from_config(cfg)
        configs.append(cfg)
        weights.append(w_path)
        cards.append(card)
        reps.append(card.representation)
    base = cards[0]
    for m, card in zip(members[1:], cards[1:], strict=True):
        for key in _SHARED:
            if getattr(card, key) != getattr(base, key):
                raise ValueError(
                    f"{m}: {key} {getattr(card, key)!r} differs from the first member's "
                    f"{getattr(base, key)!r}"
                )
    r0 = reps[0]
    run_rep = r0
    if row_background is not None and row_background != r0.row_background:
        if r0.method != "log-relative":
            raise ValueError(
                f"row_background applies to the log-relative representation; the members "
                f"read {r0.method!r}"
            )
        run_rep = dataclasses.replace(r0, row_background=row_background)
    thresholds = [c.threshold for c in cards]
    threshold = float(np.median(thresholds))
    specs = []
    for m, cfg, rep, card in zip(members, configs, reps, cards, strict=True):
        if dataclasses.replace(rep, center=r0.center, scale=r0.scale) != r0:
            raise ValueError(
                f"{m}: its input representation {rep.to_dict()} differs from the first "
                f"member's {r0.to_dict()} in more than center and scale"
            )
        gain, offset = r0.scale / rep.scale, (r0.center - rep.center) / rep.scale
        if rep.clip is not None and (gain, offset) != (1.0, 0.0):
            raise ValueError(
                f"{m}: a clipped representation with other statistics than the first "
                "member's cannot be fed exactly"
            )
        specs.append(
            {
                "name": cfg["name"],
                "kwargs": cfg["kwargs"],
                "input_gain": gain,
                "input_offset": offset,
                "logit_offset": _logit(threshold) - _logit(card.threshold),
                "temperature": cfg.get("temperature"),
                "norm_statistics": cfg.get("norm_statistics", "running"),
                "flip_time": bool(flip_time),
            }
        )
    kw0 = configs[0]["kwargs"]
    model = get_model(
        ENSEMBLE,
        in_channels=int(kw0.get("in_channels", 1)),
        classes=int(kw0.get("classes", 1)),
        members=specs,
    )
    for net, w_path in zip(model.members, weights, strict=True):
        net.load_state_dict(_read_weights(w_path, net), strict=True)
    config = {k: v for k, v in configs[0].items() if k not in _MEMBER_ONLY}
    config.update(
        threshold=threshold,
        threshold_source=f"median of the members' thresholds {thresholds}, each member's "
        "logits moved to put its own threshold there",
        architecture=ENSEMBLE,
        parameters=int(sum(p.numel() for p in model.parameters())),
        representation=run_rep.to_dict(),
        provenance={
            "command": command,
            "created": utc_now_iso(),
            "members": [
                {
                    "source": os.fspath(m),
                    "weights_sha256": sha256_file(w),
                    "architecture": c["name"],
                    "provenance": c.get("provenance"),
                    "training": c.get("training"),
                }
                for m, w, c in zip(members, weights, configs, strict=True)
            ],
        },
    )
    if run_rep != r0:
        config["trained_representation"] = r0.to_dict()
    return save(model, path, config=config)
