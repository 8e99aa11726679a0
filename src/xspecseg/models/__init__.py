"""Segmentation networks, losses, metrics and checkpoints.

Examples
--------
>>> import torch
>>> from xspecseg.models import get_model
>>> net = get_model("unet", base_channels=8).eval()
>>> net(torch.zeros(1, 1, 40, 30)).shape
torch.Size([1, 1, 40, 30])
"""

from __future__ import annotations

from .._optional import needs_extra

# every module here is built on torch: say which extra brings it before any of them fails
with needs_extra("models"):
    import torch  # noqa: F401

from .checkpoint import SHIPPED_MODELS, ensemble_of, load, save
from .losses import BCELoss, CELogDiceLoss, DiceLoss, get_loss, soft_dice
from .metrics import ConfusionMatrix, iou, miou, mpa
from .normstats import use_image_statistics
from .odm_unet import ODConv2d, ODMUNet, set_temperature, temperature_schedule
from .registry import SMP_ARCHITECTURES, SMPModel, available_models, get_model
from .unet import INITIALIZERS, UNet

__all__ = [
    "INITIALIZERS",
    "SHIPPED_MODELS",
    "SMP_ARCHITECTURES",
    "BCELoss",
    "CELogDiceLoss",
    "ConfusionMatrix",
    "DiceLoss",
    "ODConv2d",
    "ODMUNet",
    "SMPModel",
    "UNet",
    "available_models",
    "ensemble_of",
    "get_loss",
    "get_model",
    "iou",
    "load",
    "miou",
    "mpa",
    "save",
    "set_temperature",
    "soft_dice",
    "temperature_schedule",
    "use_image_statistics",
]
