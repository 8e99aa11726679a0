"""ODM_Unet and its building blocks: ODConv, SDI and scSE."""

from __future__ import annotations

from .model import MobileNetV3ODEncoder, ODMUNet
from .odconv import (
    ODAttention,
    ODConv2d,
    set_fixed_attention,
    set_temperature,
    temperature_schedule,
)
from .scse import SCSE
from .sdi import SDI, ChannelAttention, SpatialAttention, resize_to

__all__ = [
    "SCSE",
    "SDI",
    "ChannelAttention",
    "MobileNetV3ODEncoder",
    "ODAttention",
    "ODConv2d",
    "ODMUNet",
    "SpatialAttention",
    "resize_to",
    "set_fixed_attention",
    "set_temperature",
    "temperature_schedule",
]
