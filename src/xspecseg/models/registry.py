"""Model registry: ``get_model(name, in_channels, classes, **kw)`` and ``available_models()``.

Every model returned maps ``(B, C, H, W)`` to logits ``(B, classes, H, W)`` for any
``H, W`` and carries ``model.xspecseg_info``:

``name``
    The canonical registry name.
``kwargs``
    Every constructor argument (``in_channels`` and ``classes`` included), so that
    ``get_model(info["name"], **info["kwargs"])`` rebuilds the architecture.
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
``local``
    ``not global_context`` (the key :mod:`xspecseg.infer` reads).
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from ._padding import padded_call, probe_receptive_field
from .odm_unet import ODConv2d, ODMUNet
from .unet import UNet

__all__ = ["SMP_ARCHITECTURES", "SMPModel", "available_models", "get_model"]

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


class SMPModel(nn.Module):
    """A segmentation_models_pytorch architecture, padded to the size it needs.

    Built offline: ``encoder_weights`` is always None (there are no pretrained weights to
    fetch at run time). Other keyword arguments go to the smp class unchanged.

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
        import segmentation_models_pytorch as smp

        if kw.pop("encoder_weights", None) is not None:
            raise ValueError(
                "xspecseg builds smp models with encoder_weights=None: no weights are "
                "downloaded at run time; load a trained checkpoint instead"
            )
        if kw.get("activation") is not None:
            raise ValueError("models return logits: leave activation=None")
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
    by_lower = {n.lower(): n for n in available_models()}
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
        The network, with the ``xspecseg_info`` dict described in this module.

    Examples
    --------
    >>> import torch
    >>> net = get_model("unet", base_channels=8).eval()
    >>> net(torch.zeros(2, 1, 37, 53)).shape
    torch.Size([2, 1, 37, 53])
    >>> net.xspecseg_info["downsampling"], net.xspecseg_info["receptive_field"]
    (16, 275)
    """
    canon = _canonical(name)
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
    model.xspecseg_info = {
        "name": canon,
        "kwargs": kwargs,
        "downsampling": int(multiple),
        "receptive_field": int(rf),
        "global_context": bool(global_ctx),
        "local": not global_ctx,  # the spelling xspecseg.infer reads
    }
    return model
