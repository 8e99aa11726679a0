"""Semantics and Detail Infusion (SDI, U-Net v2, Peng et al. 2024).

For every encoder level ``j`` the feature ``f_j`` is refined by channel attention then
spatial attention (CBAM, Woo et al. 2018) and projected by a 1x1 convolution to ``c``
channels. For each target level ``i`` every refined ``f_j`` is resized to level ``i``
(adaptive average pooling when it is larger, bilinear interpolation when smaller),
smoothed by its own 3x3 convolution ``theta_ij``, and the results are multiplied
element-wise (Hadamard product): ``out_i = prod_j theta_ij(resize_i(f_j))``.

The reference code interpolates with ``align_corners=True``; here ``align_corners=False``
so that up-sampling is the same at every position of the grid whatever the image size,
which chunked inference relies on.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SDI", "ChannelAttention", "SpatialAttention", "resize_to"]


class ChannelAttention(nn.Module):
    """CBAM channel attention: ``sigmoid(MLP(avgpool(x)) + MLP(maxpool(x)))``, ``(B, C, 1, 1)``.

    Examples
    --------
    >>> import torch
    >>> ChannelAttention(32)(torch.zeros(1, 32, 4, 4)).shape
    torch.Size([1, 32, 1, 1])
    """

    def __init__(self, channels: int, ratio: int = 16) -> None:
        super().__init__()
        # at least a few hidden units: a single ReLU unit can die for good
        hidden = max(channels // ratio, min(channels, 8))
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=False)
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1))))
        mx = self.fc2(F.relu(self.fc1(F.adaptive_max_pool2d(x, 1))))
        return torch.sigmoid(avg + mx)


class SpatialAttention(nn.Module):
    """CBAM spatial attention: ``sigmoid(conv7x7([mean_c(x), max_c(x)]))``, ``(B, 1, H, W)``.

    Examples
    --------
    >>> import torch
    >>> SpatialAttention()(torch.zeros(1, 8, 5, 6)).shape
    torch.Size([1, 1, 5, 6])
    """

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        desc = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(desc))


def resize_to(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Resize ``x`` to ``size`` as SDI does: average-pool down, bilinear up.

    Examples
    --------
    >>> import torch
    >>> resize_to(torch.ones(1, 2, 8, 12), (4, 6)).shape
    torch.Size([1, 2, 4, 6])
    """
    h, w = int(size[0]), int(size[1])
    if x.shape[-2:] == (h, w):
        return x
    if x.shape[-2] >= h and x.shape[-1] >= w:
        return F.adaptive_avg_pool2d(x, (h, w))
    return F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)


class SDI(nn.Module):
    """SDI over ``len(in_channels)`` encoder levels, each returned with ``channels`` channels.

    Parameters
    ----------
    in_channels : sequence of int
        Channels of the encoder features, finest level first.
    channels : int
        The hyper-parameter ``c``: channels of every output level.

    Examples
    --------
    >>> import torch
    >>> sdi = SDI([8, 16], channels=4)
    >>> [tuple(o.shape) for o in sdi([torch.zeros(1, 8, 8, 6), torch.zeros(1, 16, 4, 3)])]
    [(1, 4, 8, 6), (1, 4, 4, 3)]
    """

    def __init__(self, in_channels: Sequence[int], channels: int = 32) -> None:
        super().__init__()
        n = len(in_channels)
        self.ca = nn.ModuleList(ChannelAttention(c) for c in in_channels)
        self.sa = nn.ModuleList(SpatialAttention() for _ in in_channels)
        self.proj = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in in_channels)
        # smooth[i][j]: the 3x3 convolution applied to level j resized to target level i
        self.smooth = nn.ModuleList(
            nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1) for _ in range(n))
            for _ in range(n)
        )

    def refine(self, j: int, f: torch.Tensor) -> torch.Tensor:
        """Channel then spatial attention, then the 1x1 projection of level ``j``."""
        f = f * self.ca[j](f)
        f = f * self.sa[j](f)
        return self.proj[j](f)

    def forward(self, feats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        if len(feats) != len(self.proj):
            raise ValueError(f"SDI expects {len(self.proj)} levels, got {len(feats)}")
        refined = [self.refine(j, f) for j, f in enumerate(feats)]
        outs = []
        for i, target in enumerate(refined):
            size = target.shape[-2:]
            out = None
            for j, f in enumerate(refined):
                g = self.smooth[i][j](resize_to(f, size))
                out = g if out is None else out * g
            outs.append(out)
        return outs
