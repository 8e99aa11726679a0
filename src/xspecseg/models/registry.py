"""Model registry: ``get_model(name, in_channels, classes, **kw)`` and ``available_models()``.

Every model returned maps ``(B, C, H, W)`` to logits ``(B, classes, H, W)`` for any
``H, W`` and carries ``model.xspecseg_architecture``, an
:class:`~xspecseg.contract.Architecture` (read it with
:func:`~xspecseg.contract.architecture_of`):

``name``
    The canonical registry name.
``kwargs``
    Every constructor argument (``in_channels`` and ``classes`` included), so that
    ``get_model(arch.name, **arch.kwargs)`` rebuilds the architecture.
``downsampling``
    Total down-sampling factor; inputs are padded (bottom/right) to a multiple of it, so
    chunks at offsets that are multiples of it share the whole image's pooling grid.
``receptive_field``
    Odd width ``R``: an output pixel depends only on inputs within ``R // 2`` pixels of it
    (along each axis), apart from global pooling (next item). A bound, not the exact value.
``global_context``
    True when some layer pools over the whole feature map (squeeze-excitation, ODConv
    attentions, ASPP or pyramid pooling): then every output depends weakly on the whole
    input and chunked inference can only approximate whole-image inference.

``model.xspecseg_info`` is the same as a plain dict (with ``local = not global_context``),
for code written against earlier versions.

What a checkpoint may ask for is whitelisted (:func:`check_checkpoint_kwargs`): each
architecture's own options with values of the right type and range; for smp models only
the encoders of :func:`allowed_smp_encoders` (smp's built-in ones: no timm ``tu-``
encoders, no hub names), no ``encoder_weights`` but None, no ``checkpoint_path``,
``pretrained`` or other keys outside the smp class's own signature, and no path-like
strings. So loading a checkpoint never reads another file or reaches the network.
:class:`SMPModel` refuses the same encoders, keys and values when built directly.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .._optional import needs_extra
from ..contract import NORM_STATISTICS, Architecture
from ._padding import padded_call, probe_receptive_field
from .ensemble import MEMBER_KEYS, Ensemble
from .normstats import use_image_statistics
from .odm_unet import ODConv2d, ODMUNet
from .unet import INITIALIZERS, UNet

__all__ = [
    "ENSEMBLE",
    "SMP_ARCHITECTURES",
    "SMPModel",
    "allowed_smp_encoders",
    "available_models",
    "check_checkpoint_kwargs",
    "get_model",
]

#: The segmentation_models_pytorch architectures :func:`get_model` builds.
SMP_ARCHITECTURES: tuple[str, ...] = (
    "Unet",
    "UnetPlusPlus",
    "DeepLabV3",
    "DeepLabV3Plus",
    "PSPNet",
    "Linknet",
    "FPN",
    "PAN",
    "MAnet",
)
# decoders that pool globally whatever the encoder (ASPP image pooling, pyramid pooling,
# PAN's feature pyramid attention, MAnet's squeeze-excitation in its fusion blocks)
_SMP_GLOBAL = {"DeepLabV3", "DeepLabV3Plus", "PSPNet", "PAN", "MAnet"}
DEFAULT_ENCODER = "resnet18"
# encoder names that load code or weights from elsewhere (timm's universal encoders, hubs)
_FOREIGN_ENCODER_PREFIXES = ("tu-", "hf-hub:", "hf_hub:", "hub:", "timm/")
# keys that make smp / timm read a file or fetch weights: named in the refusal
_LOADING_KEYS = (
    "checkpoint_path",
    "pretrained",
    "pretrained_cfg",
    "pretrained_cfg_overlay",
    "cache_dir",
    "weights",
)


def allowed_smp_encoders() -> list[str]:
    """smp encoder names a model (and a checkpoint) may use: smp's own, built offline.

    smp's registry minus timm's universal ``tu-*`` encoders and hub names
    (``hf-hub:...``), which build through timm and may read files or the network.

    Examples
    --------
    >>> "resnet18" in allowed_smp_encoders(), "tu-resnet18" in allowed_smp_encoders()
    (True, False)
    """
    with needs_extra("smp"):
        import segmentation_models_pytorch as smp

    return [
        n
        for n in smp.encoders.get_encoder_names()
        if not n.lower().startswith(_FOREIGN_ENCODER_PREFIXES) and not _path_like(n)
    ]


def _path_like(v: str) -> bool:
    return any(c in v for c in "/\\:~") or v.startswith(".")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _int_in(lo: int, hi: int) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: _is_int(v) and lo <= v <= hi), f"an integer in [{lo}, {hi}]"


def _num_in(lo: float, hi: float, *, open_lo: bool = False, open_hi: bool = False):
    def ok(v: Any) -> bool:
        if not _is_num(v):
            return False
        return (v > lo if open_lo else v >= lo) and (v < hi if open_hi else v <= hi)

    return ok, f"a number in {'(' if open_lo else '['}{lo:g}, {hi:g}{')' if open_hi else ']'}"


def _one_of(*values: Any) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: any(v is x or (type(v) is type(x) and v == x) for x in values)), (
        f"one of {', '.join(repr(x) for x in values)}"
    )


def _int_list(lo: int, hi: int, max_len: int) -> tuple[Callable[[Any], bool], str]:
    def ok(v: Any) -> bool:
        return (
            isinstance(v, list | tuple)
            and 1 <= len(v) <= max_len
            and all(_is_int(x) and lo <= x <= hi for x in v)
        )

    return ok, f"a list of 1 to {max_len} integers in [{lo}, {hi}]"


_CHANNELS = _int_in(1, 64)
_WIDTH = _int_in(1, 2048)
_ARCH_KWARGS: dict[str, dict[str, tuple[Callable[[Any], bool], str]]] = {
    "unet": {
        "in_channels": _CHANNELS,
        "classes": _CHANNELS,
        "base_channels": _WIDTH,
        "depth": _int_in(1, 8),
        "dropout": _num_in(0.0, 1.0, open_hi=True),
        "init": _one_of(*INITIALIZERS),
        "batch_norm": _one_of(True, False),
    },
    "odm_unet": {
        "in_channels": _CHANNELS,
        "classes": _CHANNELS,
        "variant": _one_of("large", "small"),
        "width_mult": _num_in(0.0, 8.0, open_lo=True),
        "kernel_num": _int_in(1, 64),
        "reduction": _num_in(0.0, 1.0, open_lo=True),
        "sdi_channels": _WIDTH,
        "decoder_channels": _int_list(1, 2048, 8),
        "scse_reduction": _int_in(1, 2048),
    },
}
# smp options with a known form; the smp class's other options take plain values
_SMP_KWARGS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "in_channels": _CHANNELS,
    "classes": _CHANNELS,
    "encoder_depth": _int_in(1, 5),
    "encoder_weights": _one_of(None),
    "activation": _one_of(None),
    "aux_params": _one_of(None),
    "encoder_output_stride": _one_of(8, 16, 32),
    "upsampling": _int_in(1, 32),
    "decoder_channels": _int_list(1, 2048, 8),
    "decoder_pyramid_channels": _WIDTH,
    "decoder_segmentation_channels": _WIDTH,
    "decoder_pab_channels": _WIDTH,
    "psp_out_channels": _WIDTH,
    "decoder_atrous_rates": _int_list(1, 64, 8),
}


def _plain(v: Any, depth: int = 0) -> bool:
    """A JSON scalar (no path-like string), or a shallow list/dict of them."""
    if v is None or isinstance(v, bool) or _is_num(v):
        return True
    if isinstance(v, str):
        return len(v) <= 64 and not _path_like(v)
    if depth == 0 and isinstance(v, list | tuple):
        return len(v) <= 16 and all(_plain(x, 1) for x in v)
    if depth == 0 and isinstance(v, dict):
        return len(v) <= 16 and all(
            isinstance(k, str) and not _path_like(k) and _plain(x, 1) for k, x in v.items()
        )
    return False


def _smp_problem(arch: str, kwargs: dict[str, Any]) -> str | None:
    """Why these smp kwargs are refused (None when they are fine)."""
    with needs_extra("smp"):
        import segmentation_models_pytorch as smp

    sig = inspect.signature(getattr(smp, arch)).parameters
    options = {n for n, p in sig.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    for key, value in kwargs.items():
        if key == "encoder_name":
            if not isinstance(value, str) or value not in allowed_smp_encoders():
                why = (
                    "timm universal (tu-) and hub encoders may read files or the network"
                    if isinstance(value, str)
                    and value.lower().startswith(_FOREIGN_ENCODER_PREFIXES)
                    else "not one of xspecseg.models.registry.allowed_smp_encoders()"
                )
                return f"key 'encoder_name' = {value!r} is not allowed ({why})"
            continue
        if key in _LOADING_KEYS:
            return f"key {key!r} is not allowed: it would load weights from a file or the network"
        if key not in options:
            return (
                f"key {key!r} is not an option of smp.{arch} (kwargs outside its signature go "
                "to the encoder and are not allowed)"
            )
        check = _SMP_KWARGS.get(key)
        if check is not None:
            if not check[0](value):
                return f"key {key!r} = {value!r} is not {check[1]}"
        elif not _plain(value):
            return f"key {key!r} = {value!r} is not allowed (a path-like or non-plain value)"
    return None


#: Registry name of a seed ensemble (:mod:`xspecseg.models.ensemble`): built from trained
#: members, not trained itself, so not in :func:`available_models`.
ENSEMBLE = "ensemble"
_MAX_MEMBERS = 16


def _member_problem(i: int, spec: Any, in_channels: Any, classes: Any) -> str | None:
    """Why member ``i`` of an ensemble's ``members`` is refused (None when it is fine)."""
    if not isinstance(spec, dict):
        return f"member {i} must be an object with {', '.join(MEMBER_KEYS[:2])}"
    unknown = sorted(set(spec) - set(MEMBER_KEYS))
    if unknown or "name" not in spec or not isinstance(spec.get("kwargs", {}), dict):
        return (
            f"member {i} must be an object with 'name' and 'kwargs' (and optionally "
            f"{', '.join(MEMBER_KEYS[2:])}); got keys {sorted(spec)}"
        )
    name = spec["name"]
    if not isinstance(name, str) or name.strip().lower() not in {
        n.lower() for n in available_models()
    }:
        return f"member {i}: {name!r} is not a trainable architecture ({', '.join(available_models())})"
    kw = spec.get("kwargs", {})
    for key, want in (("in_channels", in_channels), ("classes", classes)):
        if key in kw and kw[key] != want:
            return f"member {i}: {key} = {kw[key]!r} differs from the ensemble's {want!r}"
    try:
        check_checkpoint_kwargs(name, kw)
    except ValueError as exc:
        return f"member {i}: {exc}"
    gain, offset = spec.get("input_gain", 1.0), spec.get("input_offset", 0.0)
    if not (_is_num(gain) and 1e-6 <= gain <= 1e6):
        return f"member {i}: input_gain = {gain!r} is not a number in [1e-6, 1e6]"
    if not (_is_num(offset) and abs(offset) <= 1e6):
        return f"member {i}: input_offset = {offset!r} is not a number in [-1e6, 1e6]"
    shift = spec.get("logit_offset", 0.0)
    if not (_is_num(shift) and abs(shift) <= 50):
        return f"member {i}: logit_offset = {shift!r} is not a number in [-50, 50]"
    temp = spec.get("temperature")
    if temp is not None and not (_is_num(temp) and 0 < temp <= 1e6):
        return f"member {i}: temperature = {temp!r} is not a positive number"
    if spec.get("norm_statistics", "running") not in NORM_STATISTICS:
        return f"member {i}: norm_statistics must be one of {NORM_STATISTICS}"
    if not isinstance(spec.get("flip_time", False), bool):
        return f"member {i}: flip_time = {spec['flip_time']!r} is not true or false"
    return None


def _ensemble_problem(kwargs: dict[str, Any]) -> str | None:
    unknown = sorted(set(kwargs) - {"in_channels", "classes", "members"})
    if unknown:
        return f"key {unknown[0]!r} is not an option of ensemble (in_channels, classes, members)"
    for key in ("in_channels", "classes"):
        if key in kwargs and not _CHANNELS[0](kwargs[key]):
            return f"key {key!r} = {kwargs[key]!r} is not {_CHANNELS[1]}"
    members = kwargs.get("members")
    if not isinstance(members, list | tuple) or not 1 <= len(members) <= _MAX_MEMBERS:
        return f"key 'members' must be a list of 1 to {_MAX_MEMBERS} member specifications"
    for i, spec in enumerate(members):
        problem = _member_problem(i, spec, kwargs.get("in_channels", 1), kwargs.get("classes", 1))
        if problem:
            return problem
    return None


def check_checkpoint_kwargs(name: str, kwargs: dict[str, Any]) -> None:
    """Refuse architecture kwargs a checkpoint's config may not pass (ValueError naming the key).

    The whitelist of the module notes: each architecture's own options, each with its
    type and range (so that ``base_channels = -3`` is refused before anything is built);
    for ``smp:*`` also the encoder and path rules.

    Parameters
    ----------
    name : str
        Registry name (``"unet"``, ``"odm_unet"``, ``"smp:<Arch>"``).
    kwargs : dict
        The config's ``kwargs``.

    Examples
    --------
    >>> check_checkpoint_kwargs("unet", {"base_channels": 8})
    >>> check_checkpoint_kwargs("unet", {"base_channels": -3})
    Traceback (most recent call last):
    ...
    ValueError: key 'base_channels' = -3 is not an integer in [1, 2048]
    """
    canon = _canonical(name)
    if canon == ENSEMBLE:
        problem = _ensemble_problem(kwargs)
        if problem:
            raise ValueError(problem)
        return
    if canon.startswith("smp:"):
        problem = _smp_problem(canon.split(":", 1)[1], kwargs)
        if problem:
            raise ValueError(problem)
        return
    spec = _ARCH_KWARGS[canon]
    for key, value in kwargs.items():
        if key not in spec:
            raise ValueError(
                f"key {key!r} is not an option of {canon} (its options: {', '.join(spec)})"
            )
        ok, what = spec[key]
        if not ok(value):
            raise ValueError(f"key {key!r} = {value!r} is not {what}")


class SMPModel(nn.Module):
    """A segmentation_models_pytorch architecture, padded to the size it needs.

    Built offline: ``encoder_weights`` is always None (there are no pretrained weights to
    fetch at run time), and only the encoders of :func:`allowed_smp_encoders` and the
    smp class's own options are accepted (no ``checkpoint_path``, ``pretrained``, timm
    ``tu-``/hub encoders or path-like values: nothing is read from another file or the
    network). Other keyword arguments go to the smp class unchanged.

    Parameters
    ----------
    arch : str
        One of :data:`SMP_ARCHITECTURES`.
    in_channels, classes : int
        Input channels and output logit channels.
    encoder_name : str
        smp encoder (default ``"resnet18"``).

    Examples
    --------
    >>> import torch
    >>> net = SMPModel("FPN").eval()
    >>> net(torch.zeros(1, 1, 37, 53)).shape
    torch.Size([1, 1, 37, 53])
    """

    def __init__(
        self,
        arch: str,
        in_channels: int = 1,
        classes: int = 1,
        encoder_name: str = DEFAULT_ENCODER,
        **kw: Any,
    ) -> None:
        super().__init__()
        with needs_extra("smp"):
            import segmentation_models_pytorch as smp

        if kw.pop("encoder_weights", None) is not None:
            raise ValueError(
                "xspecseg builds smp models with encoder_weights=None: no weights are "
                "downloaded at run time; load a trained checkpoint instead"
            )
        if kw.get("activation") is not None:
            raise ValueError("models return logits: leave activation=None")
        problem = _smp_problem(arch, {"encoder_name": encoder_name, **kw})
        if problem:
            raise ValueError(f"smp:{arch}: {problem}")
        cls = getattr(smp, arch)
        self.arch = arch
        self.net = cls(
            encoder_name=encoder_name,
            encoder_weights=None,
            in_channels=in_channels,
            classes=classes,
            **kw,
        )
        sig = inspect.signature(cls).parameters
        depth = int(kw.get("encoder_depth", sig["encoder_depth"].default))
        enc = self.net.encoder
        for k in range(max(depth, 1), 5):
            # smp keeps the ResNet stages a shallow encoder never runs (PSPNet: depth 3);
            # they would hold millions of untrained parameters and optimiser state
            if isinstance(getattr(enc, f"layer{k}", None), nn.Sequential):
                setattr(enc, f"layer{k}", nn.Identity())
        self.downsampling = 2**depth
        # PAN's feature-pyramid attention halves its input three times more
        self.min_size = 0
        if arch == "PAN":
            stride = int(kw.get("encoder_output_stride", sig["encoder_output_stride"].default))
            self.min_size = 8 * stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return padded_call(self.net, x, self.downsampling, self.min_size)


def available_models() -> list[str]:
    """Names accepted by :func:`get_model`.

    Examples
    --------
    >>> available_models()[:3]
    ['unet', 'odm_unet', 'smp:Unet']
    """
    return ["unet", "odm_unet", *(f"smp:{a}" for a in SMP_ARCHITECTURES)]


def _canonical(name: str) -> str:
    by_lower = {n.lower(): n for n in [*available_models(), ENSEMBLE]}
    canon = by_lower.get(name.strip().lower())
    if canon is None:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(available_models())}")
    return canon


def _full_kwargs(cls: type, given: dict[str, Any], skip: tuple[str, ...] = ()) -> dict[str, Any]:
    # record defaults too, so a checkpoint rebuilds the same net if defaults change later
    out = {}
    for p in inspect.signature(cls).parameters.values():
        if p.name in skip or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        if p.name in given:
            out[p.name] = given[p.name]
        elif p.default is not p.empty:
            out[p.name] = p.default
    out.update({k: v for k, v in given.items() if k not in skip})
    return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def get_model(name: str, in_channels: int = 1, classes: int = 1, **kw: Any) -> nn.Module:
    """Build a segmentation network by name; it returns logits of the input's size.

    Parameters
    ----------
    name : str
        ``"unet"`` (IAR paper), ``"odm_unet"`` (ODM_Unet paper) or ``"smp:<Arch>"`` with
        ``<Arch>`` in Unet, UnetPlusPlus, DeepLabV3, DeepLabV3Plus, PSPNet, Linknet, FPN,
        PAN, MAnet (case-insensitive).
    in_channels, classes : int
        Input channels and output logit channels.
    **kw
        Architecture options: see :class:`~xspecseg.models.unet.UNet` (``base_channels``,
        ``depth``, ``dropout``, ``init``, ``batch_norm``),
        :class:`~xspecseg.models.odm_unet.ODMUNet` (``variant``, ``width_mult``,
        ``kernel_num``, ``sdi_channels``, ...) or the smp class (``encoder_name``,
        default ``"resnet18"``, and its own options).

    Returns
    -------
    torch.nn.Module
        The network, with the ``xspecseg_architecture`` described in this module.

    Examples
    --------
    >>> import torch
    >>> net = get_model("unet", base_channels=8).eval()
    >>> net(torch.zeros(2, 1, 37, 53)).shape
    torch.Size([2, 1, 37, 53])
    >>> net.xspecseg_architecture.downsampling, net.xspecseg_architecture.receptive_field
    (16, 275)
    """
    canon = _canonical(name)
    if canon == ENSEMBLE:
        return _ensemble(in_channels, classes, **kw)
    given = dict(in_channels=in_channels, classes=classes, **kw)
    if canon == "unet":
        model: nn.Module = UNet(**given)
        kwargs = _full_kwargs(UNet, given)
        rf, global_ctx = UNet.receptive_field_of(model.depth), False
        multiple = model.downsampling
    elif canon == "odm_unet":
        model = ODMUNet(**given)
        kwargs = _full_kwargs(ODMUNet, given)
        multiple = model.downsampling
        size = (2 * multiple, 2 * multiple)
        rf, _ = probe_receptive_field(model, in_channels, size, (ODConv2d,))
        global_ctx = True  # ODConv attentions, squeeze-excitation, SDI channel attention, scSE
    else:
        arch = canon.split(":", 1)[1]
        model = SMPModel(arch, **given)
        kwargs = _full_kwargs(SMPModel, given, skip=("arch",))
        kwargs.pop("encoder_weights", None)
        multiple = model.downsampling
        side = max(2 * multiple, model.min_size)
        rf, global_ctx = probe_receptive_field(model.net, in_channels, (side, side))
        global_ctx = global_ctx or arch in _SMP_GLOBAL
    arch = Architecture(
        name=canon,
        kwargs=kwargs,
        downsampling=int(multiple),
        receptive_field=int(rf),
        global_context=bool(global_ctx),
    )
    model.xspecseg_architecture = arch
    model.xspecseg_info = arch.to_info()
    return model


def _ensemble(in_channels: int, classes: int, members: Any = None, **kw: Any) -> nn.Module:
    """``get_model("ensemble", members=[...])``: see :mod:`xspecseg.models.ensemble`."""
    if kw:
        raise TypeError(f"ensemble takes in_channels, classes and members, not {sorted(kw)}")
    kwargs = {"in_channels": in_channels, "classes": classes, "members": members}
    problem = _ensemble_problem(kwargs)
    if problem:
        raise ValueError(problem)
    nets, specs = [], []
    for spec in members:
        net = get_model(
            spec["name"],
            **{**spec.get("kwargs", {}), "in_channels": in_channels, "classes": classes},
        )
        if spec.get("temperature") is not None and hasattr(net, "set_temperature"):
            net.set_temperature(float(spec["temperature"]))
        if spec.get("norm_statistics", "running") == "image":
            use_image_statistics(net)
        member_arch = net.xspecseg_architecture
        nets.append(net)
        specs.append(
            {
                "name": member_arch.name,
                "kwargs": member_arch.kwargs,
                "input_gain": float(spec.get("input_gain", 1.0)),
                "input_offset": float(spec.get("input_offset", 0.0)),
                "logit_offset": float(spec.get("logit_offset", 0.0)),
                "temperature": None
                if spec.get("temperature") is None
                else float(spec["temperature"]),
                "norm_statistics": spec.get("norm_statistics", "running"),
                "flip_time": bool(spec.get("flip_time", False)),
            }
        )
    model = Ensemble(
        nets,
        [s["input_gain"] for s in specs],
        [s["input_offset"] for s in specs],
        [s["logit_offset"] for s in specs],
        [s["flip_time"] for s in specs],
    )
    archs = [n.xspecseg_architecture for n in nets]
    arch = Architecture(
        name=ENSEMBLE,
        kwargs={"in_channels": in_channels, "classes": classes, "members": specs},
        downsampling=math.lcm(*(a.downsampling for a in archs)),
        receptive_field=max(a.receptive_field for a in archs),
        global_context=any(a.global_context for a in archs),
    )
    model.xspecseg_architecture = arch
    model.xspecseg_info = arch.to_info()
    return model
