"""ODM_Unet (Li et al. 2024, Front. Astron. Space Sci. 11:1431273).

A U-net whose encoder is MobileNetV3 (Howard et al. 2019) with the convolutions of its
inverted-residual blocks replaced by ODConv (as the ODConv authors do for MobileNetV2;
the stem stays an ordinary convolution), an SDI module between encoder and decoder that
rebuilds every skip from all encoder levels, and scSE attention at the end of every
decoder block. The encoder yields five levels (strides 2 to 32); SDI maps each to
``sdi_channels`` channels; the decoder climbs from stride 32 to 1 and a 3x3 head gives
the logits. ``width_mult``, ``variant="small"`` and ``kernel_num`` shrink it for CPU
training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from .._padding import padded_call
from .odconv import ODConv2d, set_fixed_attention, set_temperature
from .scse import SCSE
from .sdi import SDI

__all__ = ["MobileNetV3ODEncoder", "ODMUNet"]


@dataclass(frozen=True)
class _Block:
    kernel: int
    expand: int
    out: int
    se: bool
    act: str  # "RE" (ReLU) or "HS" (hard-swish)
    stride: int


# MobileNetV3 inverted-residual settings (Howard et al. 2019, tables 1 and 2), without the
# classification tail; the stem has 16 channels
_SETTINGS: dict[str, list[_Block]] = {
    "large": [
        _Block(3, 16, 16, False, "RE", 1),
        _Block(3, 64, 24, False, "RE", 2),
        _Block(3, 72, 24, False, "RE", 1),
        _Block(5, 72, 40, True, "RE", 2),
        _Block(5, 120, 40, True, "RE", 1),
        _Block(5, 120, 40, True, "RE", 1),
        _Block(3, 240, 80, False, "HS", 2),
        _Block(3, 200, 80, False, "HS", 1),
        _Block(3, 184, 80, False, "HS", 1),
        _Block(3, 184, 80, False, "HS", 1),
        _Block(3, 480, 112, True, "HS", 1),
        _Block(3, 672, 112, True, "HS", 1),
        _Block(5, 672, 160, True, "HS", 2),
        _Block(5, 960, 160, True, "HS", 1),
        _Block(5, 960, 160, True, "HS", 1),
    ],
    "small": [
        _Block(3, 16, 16, True, "RE", 2),
        _Block(3, 72, 24, False, "RE", 2),
        _Block(3, 88, 24, False, "RE", 1),
        _Block(5, 96, 40, True, "HS", 2),
        _Block(5, 240, 40, True, "HS", 1),
        _Block(5, 240, 40, True, "HS", 1),
        _Block(5, 120, 48, True, "HS", 1),
        _Block(5, 144, 48, True, "HS", 1),
        _Block(5, 288, 96, True, "HS", 2),
        _Block(5, 576, 96, True, "HS", 1),
        _Block(5, 576, 96, True, "HS", 1),
    ],
}


def _make_divisible(v: float, divisor: int = 8) -> int:
    # MobileNet rounding: nearest multiple of 8, never more than 10 % below v
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def _act(kind: str) -> nn.Module:
    return nn.ReLU(inplace=True) if kind == "RE" else nn.Hardswish(inplace=True)


class _SqueezeExcite(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = _make_divisible(channels // 4)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.adaptive_avg_pool2d(x, 1)
        return x * F.hardsigmoid(self.fc2(F.relu(self.fc1(s))))


class _InvertedResidual(nn.Module):
    def __init__(
        self, cin: int, exp: int, cout: int, b: _Block, kernel_num: int, reduction: float
    ) -> None:
        super().__init__()
        od = dict(kernel_num=kernel_num, reduction=reduction)
        layers: list[nn.Module] = []
        if exp != cin:
            layers += [ODConv2d(cin, exp, 1, **od), nn.BatchNorm2d(exp), _act(b.act)]
        layers += [
            ODConv2d(exp, exp, b.kernel, b.stride, (b.kernel - 1) // 2, groups=exp, **od),
            nn.BatchNorm2d(exp),
            _act(b.act),
        ]
        if b.se:
            layers.append(_SqueezeExcite(exp))
        layers += [ODConv2d(exp, cout, 1, **od), nn.BatchNorm2d(cout)]
        self.block = nn.Sequential(*layers)
        self.residual = b.stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.residual else y


class MobileNetV3ODEncoder(nn.Module):
    """MobileNetV3 feature extractor with ODConv blocks; returns five levels (strides 2..32).

    Examples
    --------
    >>> import torch
    >>> enc = MobileNetV3ODEncoder(1, "small", width_mult=0.5, kernel_num=1)
    >>> [f.shape[-1] for f in enc(torch.zeros(1, 1, 64, 64))]
    [32, 16, 8, 4, 2]
    """

    def __init__(
        self,
        in_channels: int = 1,
        variant: Literal["large", "small"] = "large",
        width_mult: float = 1.0,
        kernel_num: int = 4,
        reduction: float = 0.0625,
    ) -> None:
        super().__init__()
        if variant not in _SETTINGS:
            raise ValueError(f"variant must be 'large' or 'small', got {variant!r}")
        stem = _make_divisible(16 * width_mult)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem, 3, 2, 1, bias=False),
            nn.BatchNorm2d(stem),
            nn.Hardswish(inplace=True),
        )
        self.blocks = nn.ModuleList()
        cin, stride, taps, chans = stem, 2, [], []
        for i, b in enumerate(_SETTINGS[variant]):
            if b.stride > 1:
                # the last block before a stride change holds that stride's feature
                taps.append(i - 1)
                chans.append(cin)
                stride *= b.stride
            exp = _make_divisible(b.expand * width_mult)
            cout = _make_divisible(b.out * width_mult)
            self.blocks.append(_InvertedResidual(cin, exp, cout, b, kernel_num, reduction))
            cin = cout
        taps.append(len(self.blocks) - 1)
        chans.append(cin)
        self.taps = tuple(taps)  # index -1 is the stem
        self.out_channels = tuple(chans)
        self.output_stride = stride

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        feats = [x] if -1 in self.taps else []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.taps:
                feats.append(x)
        return feats


class _DecoderBlock(nn.Module):
    def __init__(self, cin: int, skip: int, cout: int, scse_reduction: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(cin + skip, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )
        self.scse = SCSE(cout, scse_reduction)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.scse(self.conv(x))


class ODMUNet(nn.Module):
    """ODM_Unet: ODConv-MobileNetV3 encoder, SDI skips, scSE decoder; returns logits.

    Parameters
    ----------
    in_channels, classes : int
        Input channels and output logit channels (no sigmoid inside).
    variant : {"large", "small"}
        MobileNetV3 configuration of the encoder.
    width_mult : float
        Channel multiplier of the encoder (MobileNet rounding to multiples of 8).
    kernel_num : int
        Candidate kernels per ODConv layer (4 in the ODConv paper's "4x" models).
    reduction : float
        Squeeze width of the ODConv attentions relative to the input channels.
    sdi_channels : int
        The SDI hyper-parameter ``c``: channels of every skip.
    decoder_channels : sequence of 5 ints
        Output channels of the decoder blocks, from stride 16 to stride 1.
    scse_reduction : int
        Bottleneck ratio of the scSE channel branch.

    Examples
    --------
    >>> import torch
    >>> net = ODMUNet(variant="small", width_mult=0.5, kernel_num=2).eval()
    >>> net(torch.zeros(1, 1, 37, 53)).shape
    torch.Size([1, 1, 37, 53])
    """

    def __init__(
        self,
        in_channels: int = 1,
        classes: int = 1,
        variant: Literal["large", "small"] = "large",
        width_mult: float = 1.0,
        kernel_num: int = 4,
        reduction: float = 0.0625,
        sdi_channels: int = 32,
        decoder_channels: Sequence[int] = (128, 64, 32, 32, 16),
        scse_reduction: int = 16,
    ) -> None:
        super().__init__()
        self.encoder = MobileNetV3ODEncoder(in_channels, variant, width_mult, kernel_num, reduction)
        levels = len(self.encoder.out_channels)
        if len(decoder_channels) != levels:
            raise ValueError(
                f"decoder_channels needs {levels} entries, got {len(decoder_channels)}"
            )
        self.sdi = SDI(self.encoder.out_channels, sdi_channels)
        self.decoder = nn.ModuleList()
        cin = sdi_channels
        for k, cout in enumerate(decoder_channels):
            skip = sdi_channels if k < levels - 1 else 0  # the last block reaches stride 1
            self.decoder.append(_DecoderBlock(cin, skip, cout, scse_reduction))
            cin = cout
        self.head = nn.Conv2d(cin, classes, 3, padding=1)
        self.temperature = 1.0

    @property
    def downsampling(self) -> int:
        """Total down-sampling factor: inputs are padded to a multiple of it."""
        return self.encoder.output_stride

    def set_temperature(self, temperature: float) -> None:
        """Set the ODConv attention temperature (anneal 30 -> 1 with ``temperature_schedule``).

        Examples
        --------
        >>> from xspecseg.models.odm_unet import temperature_schedule
        >>> net = ODMUNet(variant="small", width_mult=0.5, kernel_num=2)
        >>> net.set_temperature(temperature_schedule(epoch=0))
        """
        set_temperature(self, temperature)
        self.temperature = float(temperature)

    def set_fixed_attention(self, fixed: bool = True) -> None:
        """All-ones ODConv attentions (for tests); see :class:`ODConv2d`."""
        set_fixed_attention(self, fixed)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = self.sdi(self.encoder(x))
        x = skips[-1]
        for k, block in enumerate(self.decoder):
            idx = len(skips) - 2 - k
            x = block(x, skips[idx] if idx >= 0 else None)
        return self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return padded_call(self._forward, x, self.downsampling)
