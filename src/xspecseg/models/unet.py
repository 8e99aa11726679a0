"""The U-net of the IAR paper (Ronneberger et al. 2015, as implemented by Zhixu 2017).

Four down levels of two 3x3 convolutions (64, 128, 256, 512 filters at the default
``base_channels=64``), a 1024-filter bottleneck, and an up path of nearest up-sampling
followed by a 2x2 convolution, concatenation with the skip and two 3x3 convolutions.
As in the Keras implementation the paper trained, the convolutions are ``same``-padded,
there is no batch normalisation by default, and dropout (0.5) is applied to the output of
the deepest encoder level and of the bottleneck. The implementation's extra 3x3
convolution to two channels before the 1x1 output layer is left out: it adds nothing a
1x1 layer cannot learn and its two ReLU units can die and leave the net constant.

Dropout here is the probability of *dropping* a unit (PyTorch); the paper's grid value
1.0 ("no dropout", a Keras keep-probability convention) is ``dropout=0.0`` here.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from ._padding import padded_call

__all__ = ["INITIALIZERS", "UNet", "init_weights"]

Initializer = Literal[
    "he_normal",
    "he_uniform",
    "glorot_normal",
    "glorot_uniform",
    "lecun_normal",
    "lecun_uniform",
    "orthogonal",
]

# Keras VarianceScaling parameters: (scale, fan mode, distribution)
_VARIANCE_SCALING: dict[str, tuple[float, str, str]] = {
    "he_normal": (2.0, "fan_in", "normal"),
    "he_uniform": (2.0, "fan_in", "uniform"),
    "glorot_normal": (1.0, "fan_avg", "normal"),
    "glorot_uniform": (1.0, "fan_avg", "uniform"),
    "lecun_normal": (1.0, "fan_in", "normal"),
    "lecun_uniform": (1.0, "fan_in", "uniform"),
}
#: The weight initialisers of :func:`init_weights` (Keras names).
INITIALIZERS: tuple[str, ...] = (*_VARIANCE_SCALING, "orthogonal")

# std of a unit normal truncated to [-2, 2]: Keras divides by it so that the truncated
# draw keeps the intended variance
_TRUNC_STD = 0.87962566103423978


def _init_tensor(w: torch.Tensor, init: str) -> None:
    if init == "orthogonal":
        nn.init.orthogonal_(w.view(w.shape[0], -1))
        return
    scale, mode, dist = _VARIANCE_SCALING[init]
    receptive = math.prod(w.shape[2:])
    fan_in, fan_out = w.shape[1] * receptive, w.shape[0] * receptive
    n = {"fan_in": fan_in, "fan_avg": (fan_in + fan_out) / 2}[mode]
    if dist == "normal":
        std = math.sqrt(scale / n) / _TRUNC_STD
        # redraw the tails: ~20x faster than nn.init.trunc_normal_'s erfinv on big kernels
        flat = w.view(-1).normal_(0.0, std)
        idx = torch.nonzero(flat.abs() > 2 * std).squeeze(1)
        while idx.numel():
            new = torch.randn(idx.numel(), dtype=w.dtype, device=w.device) * std
            flat[idx] = new
            idx = idx[new.abs() > 2 * std]
    else:
        limit = math.sqrt(3.0 * scale / n)
        nn.init.uniform_(w, -limit, limit)


def init_weights(module: nn.Module, init: str = "he_normal") -> None:
    """Initialise every convolution of ``module`` as Keras would (biases to zero).

    Parameters
    ----------
    module : nn.Module
        Network whose ``nn.Conv2d`` weights are (re)initialised in place.
    init : str
        One of :data:`INITIALIZERS`, the seven initialisers of the paper's grid search.

    Examples
    --------
    >>> from torch import nn
    >>> init_weights(nn.Conv2d(1, 4, 3), "glorot_uniform")
    """
    if init not in INITIALIZERS:
        raise ValueError(f"unknown initialiser {init!r}; choose one of {', '.join(INITIALIZERS)}")
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            with torch.no_grad():
                _init_tensor(m.weight, init)
                if m.bias is not None:
                    m.bias.zero_()


def _double_conv(cin: int, cout: int, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for c in (cin, cout):
        layers.append(nn.Conv2d(c, cout, 3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(cout))
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class _Up(nn.Module):
    """Nearest up-sampling, 2x2 ``same`` convolution, concatenation, two 3x3 convolutions."""

    def __init__(self, cin: int, cout: int, batch_norm: bool) -> None:
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        # Keras "same" for an even kernel pads right/bottom only
        self.reduce = nn.Sequential(
            nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(cin, cout, 2), nn.ReLU(inplace=True)
        )
        self.conv = _double_conv(2 * cout, cout, batch_norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.reduce(self.up(x))], dim=1))


class UNet(nn.Module):
    """U-net of the IAR paper; maps ``(B, in_channels, H, W)`` to logits ``(B, classes, H, W)``.

    Parameters
    ----------
    in_channels, classes : int
        Input channels and output logit channels (no sigmoid inside).
    base_channels : int
        Filters of the first level, doubled at each level down (64 in the paper).
    depth : int
        Number of down-sampling levels (4 in the paper).
    dropout : float
        Drop probability after the deepest encoder level and the bottleneck (0.5).
    init : str
        Weight initialiser, one of :data:`INITIALIZERS` (``"he_normal"`` in the paper).
    batch_norm : bool
        Insert batch normalisation after each 3x3 convolution (not in the paper).

    Examples
    --------
    >>> import torch
    >>> net = UNet(base_channels=4).eval()
    >>> net(torch.zeros(1, 1, 37, 53)).shape
    torch.Size([1, 1, 37, 53])
    """

    def __init__(
        self,
        in_channels: int = 1,
        classes: int = 1,
        base_channels: int = 64,
        depth: int = 4,
        dropout: float = 0.5,
        init: Initializer = "he_normal",
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout is a drop probability in [0, 1), got {dropout}")
        chans = [base_channels * 2**i for i in range(depth + 1)]
        self.depth = depth
        self.down = nn.ModuleList()
        cin = in_channels
        for c in chans[:-1]:
            self.down.append(_double_conv(cin, c, batch_norm))
            cin = c
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = _double_conv(chans[-2], chans[-1], batch_norm)
        self.drop_skip = nn.Dropout(dropout)
        self.drop_bottom = nn.Dropout(dropout)
        self.up = nn.ModuleList(
            _Up(chans[i + 1], chans[i], batch_norm) for i in reversed(range(depth))
        )
        self.head = nn.Conv2d(chans[0], classes, 1)
        init_weights(self, init)
        # oneDNN's CPU convolutions run this network's few-channel layers 1.1-1.7x faster
        # on NHWC weights than on NCHW ones (training and inference; docs/performance.md);
        # the weights' layout picks the kernel, and checkpoints are written contiguous
        self.to(memory_format=torch.channels_last)

    @property
    def downsampling(self) -> int:
        """Total down-sampling factor: inputs are padded to a multiple of it."""
        return 2**self.depth

    @staticmethod
    def receptive_field_of(depth: int = 4) -> int:
        """Odd width bounding the receptive field (see :func:`probe_receptive_field`).

        One-sided reach: one stride ``s`` per 3x3 convolution (two per level down, two in
        the bottleneck, two per level up), per 2x2 max-pool, per nearest up-sampling and
        per 2x2 convolution, with ``s = 2**level``.

        Examples
        --------
        >>> UNet.receptive_field_of(4)
        275
        """
        levels = 2**depth - 1  # sum of 2**l over the levels above the bottleneck
        reach = 2 * levels + 2 * 2**depth + levels + levels + levels + 2 * levels
        return 2 * reach + 1

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x)
            if i == self.depth - 1:
                x = self.drop_skip(x)
            skips.append(x)
            x = self.pool(x)
        x = self.drop_bottom(self.bottleneck(x))
        for up, skip in zip(self.up, reversed(skips)):
            x = up(x, skip)
        return self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return padded_call(self._forward, x, self.downsampling)
