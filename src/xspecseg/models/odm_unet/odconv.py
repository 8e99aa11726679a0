"""Omni-dimensional dynamic convolution (ODConv, Li, Zhou & Yao, ICLR 2022).

An ODConv layer holds ``kernel_num`` candidate kernels ``W_1..W_n``. For each sample, a
shared squeeze (global average pooling -> FC -> BN -> ReLU) feeds four heads:

* ``alpha_s`` (k x k): spatial attention over the kernel positions,
* ``alpha_c`` (C_in): input-channel attention,
* ``alpha_f`` (C_out): output-channel (filter) attention,
* ``alpha_w`` (n): kernel attention, a softmax over the candidate kernels,

and the layer computes ``y = alpha_f * conv(x * alpha_c, sum_i alpha_w[i] * alpha_s * W_i)``.
As in the reference implementation every head divides its logits by a temperature,
annealed from 30 (near-uniform attentions, so all kernels learn early) to 1 during the
first epochs: call :func:`set_temperature` with :func:`temperature_schedule` each epoch.
Depth-wise layers have no filter attention and 1x1 layers no spatial attention, as in
the reference.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ODAttention",
    "ODConv2d",
    "set_fixed_attention",
    "set_temperature",
    "temperature_schedule",
]


def temperature_schedule(
    epoch: float, warmup_epochs: float = 10, start: float = 30.0, end: float = 1.0
) -> float:
    """Attention temperature for ``epoch``: linear from ``start`` to ``end`` over the warm-up.

    Examples
    --------
    >>> temperature_schedule(0), temperature_schedule(5), temperature_schedule(12)
    (30.0, 15.5, 1.0)
    """
    if warmup_epochs <= 0:
        return float(end)
    frac = min(max(epoch / warmup_epochs, 0.0), 1.0)
    return float(start + (end - start) * frac)


class ODAttention(nn.Module):
    """The four attention heads of an ODConv layer, on a shared squeeze.

    Returns ``(channel, filter, spatial, kernel)`` attentions shaped to broadcast:
    ``(B, C_in, 1, 1)``, ``(B, C_out, 1, 1)`` (or the scalar 1.0 when skipped),
    ``(B, 1, 1, 1, k, k)`` (or 1.0) and ``(B, n, 1, 1, 1, 1)`` (or 1.0).

    Examples
    --------
    >>> import torch
    >>> att = ODAttention(8, 16, 3, kernel_num=4)
    >>> [tuple(a.shape) for a in att(torch.zeros(2, 8, 5, 5))]
    [(2, 8, 1, 1), (2, 16, 1, 1), (2, 1, 1, 1, 3, 3), (2, 4, 1, 1, 1, 1)]
    """

    def __init__(
        self,
        in_planes: int,
        out_planes: int,
        kernel_size: int,
        groups: int = 1,
        reduction: float = 0.0625,
        kernel_num: int = 4,
        min_channel: int = 16,
    ) -> None:
        super().__init__()
        hidden = max(int(in_planes * reduction), min_channel)
        self.kernel_size = kernel_size
        self.kernel_num = kernel_num
        self.temperature = 1.0
        self.fc = nn.Conv2d(in_planes, hidden, 1, bias=False)
        self.bn = nn.BatchNorm2d(hidden)
        self.relu = nn.ReLU(inplace=True)
        self.channel_fc = nn.Conv2d(hidden, in_planes, 1)
        depthwise = in_planes == groups and in_planes == out_planes
        self.filter_fc = None if depthwise else nn.Conv2d(hidden, out_planes, 1)
        self.spatial_fc = None if kernel_size == 1 else nn.Conv2d(hidden, kernel_size**2, 1)
        self.kernel_fc = None if kernel_num == 1 else nn.Conv2d(hidden, kernel_num, 1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def squeeze(self, x: torch.Tensor) -> torch.Tensor:
        """Shared descriptor: global average pool -> FC -> BN -> ReLU, ``(B, hidden, 1, 1)``."""
        z = self.fc(F.adaptive_avg_pool2d(x, 1))
        if self.training and z.shape[0] == 1:
            # batch statistics of one 1x1 descriptor do not exist: use the running ones
            bn = self.bn
            z = F.batch_norm(
                z, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps
            )
        else:
            z = self.bn(z)
        return self.relu(z)

    def forward(
        self, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | float, torch.Tensor | float, torch.Tensor | float]:
        z = self.squeeze(x)
        b, t = x.shape[0], self.temperature
        channel = torch.sigmoid(self.channel_fc(z).view(b, -1, 1, 1) / t)
        filt: torch.Tensor | float = 1.0
        if self.filter_fc is not None:
            filt = torch.sigmoid(self.filter_fc(z).view(b, -1, 1, 1) / t)
        spatial: torch.Tensor | float = 1.0
        if self.spatial_fc is not None:
            k = self.kernel_size
            spatial = torch.sigmoid(self.spatial_fc(z).view(b, 1, 1, 1, k, k) / t)
        kernel: torch.Tensor | float = 1.0
        if self.kernel_fc is not None:
            kernel = F.softmax(self.kernel_fc(z).view(b, -1, 1, 1, 1, 1) / t, dim=1)
        return channel, filt, spatial, kernel


class ODConv2d(nn.Module):
    """ODConv layer, a drop-in for a bias-free ``nn.Conv2d`` with square kernels.

    Parameters
    ----------
    in_planes, out_planes, kernel_size, stride, padding, dilation, groups :
        As for ``nn.Conv2d``.
    reduction : float
        Width of the squeeze relative to ``in_planes`` (at least ``min_channel``).
    kernel_num : int
        Number of candidate kernels mixed by the kernel attention.

    Attributes
    ----------
    weight : nn.Parameter
        Candidate kernels, ``(kernel_num, out_planes, in_planes // groups, k, k)``.
    fixed_attention : bool
        When True every attention is 1 (the kernels are summed): with ``kernel_num=1`` the
        layer is then exactly ``nn.Conv2d`` with weight ``weight[0]``. For tests.

    Examples
    --------
    >>> import torch
    >>> conv = ODConv2d(4, 8, 3, padding=1, kernel_num=4)
    >>> conv(torch.zeros(2, 4, 9, 11)).shape
    torch.Size([2, 8, 9, 11])
    """

    def __init__(
        self,
        in_planes: int,
        out_planes: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        groups: int = 1,
        reduction: float = 0.0625,
        kernel_num: int = 4,
    ) -> None:
        super().__init__()
        if in_planes % groups or out_planes % groups:
            raise ValueError("in_planes and out_planes must be divisible by groups")
        self.in_planes, self.out_planes = in_planes, out_planes
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.groups, self.kernel_num = dilation, groups, kernel_num
        self.fixed_attention = False
        self.attention = ODAttention(
            in_planes, out_planes, kernel_size, groups, reduction, kernel_num
        )
        self.weight = nn.Parameter(
            torch.empty(kernel_num, out_planes, in_planes // groups, kernel_size, kernel_size)
        )
        for i in range(kernel_num):
            nn.init.kaiming_normal_(self.weight[i], mode="fan_out", nonlinearity="relu")

    def _conv(self, x: torch.Tensor, w: torch.Tensor, groups: int) -> torch.Tensor:
        return F.conv2d(x, w, None, self.stride, self.padding, self.dilation, groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fixed_attention:
            return self._conv(x, self.weight.sum(dim=0), self.groups)
        channel, filt, spatial, kernel = self.attention(x)
        x = x * channel
        if self.kernel_num == 1 and self.kernel_size == 1:
            # the kernel is the same for every sample: one ordinary convolution
            return self._conv(x, self.weight[0], self.groups) * filt
        b, _, h, w = x.shape
        # per-sample kernels, run as one grouped convolution over the folded batch
        agg = (spatial * kernel * self.weight.unsqueeze(0)).sum(dim=1)
        agg = agg.reshape(-1, self.in_planes // self.groups, self.kernel_size, self.kernel_size)
        y = self._conv(x.reshape(1, -1, h, w), agg, self.groups * b)
        return y.view(b, self.out_planes, y.shape[-2], y.shape[-1]) * filt

    def extra_repr(self) -> str:
        return (
            f"{self.in_planes}, {self.out_planes}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, groups={self.groups}, "
            f"kernel_num={self.kernel_num}"
        )


def set_temperature(module: nn.Module, temperature: float) -> None:
    """Set the attention temperature of every ODConv layer in ``module``.

    Examples
    --------
    >>> set_temperature(ODConv2d(4, 4, 3), temperature_schedule(0))
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    for m in module.modules():
        if isinstance(m, ODAttention):
            m.temperature = float(temperature)


def set_fixed_attention(module: nn.Module, fixed: bool = True) -> None:
    """Switch every ODConv layer of ``module`` to all-ones attentions (or back).

    Examples
    --------
    >>> set_fixed_attention(ODConv2d(4, 4, 3), True)
    """
    for m in module.modules():
        if isinstance(m, ODConv2d):
            m.fixed_attention = bool(fixed)
