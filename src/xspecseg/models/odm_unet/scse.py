"""Concurrent spatial and channel squeeze-and-excitation (scSE, Roy, Navab & Wachinger 2018).

``cSE(x) = x * sigmoid(W2 relu(W1 GAP(x)))`` recalibrates channels from a global
descriptor; ``sSE(x) = x * sigmoid(conv1x1(x))`` recalibrates positions from the channel
mix at each pixel; scSE returns ``cSE(x) + sSE(x)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SCSE"]


class SCSE(nn.Module):
    """scSE attention; keeps the shape of its input.

    Parameters
    ----------
    channels : int
        Channels of the input.
    reduction : int
        Bottleneck ratio of the channel branch: ``channels // reduction`` units, but at
        least ``min(channels, 8)``, since one or two ReLU units of a narrow block can all die
        and cut the branch off from training.

    Examples
    --------
    >>> import torch
    >>> SCSE(32)(torch.zeros(2, 32, 7, 9)).shape
    torch.Size([2, 32, 7, 9])
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(channels // reduction, min(channels, 8))
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)
        self.spatial = nn.Conv2d(channels, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = torch.sigmoid(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1)))))
        s = torch.sigmoid(self.spatial(x))
        return x * c + x * s
