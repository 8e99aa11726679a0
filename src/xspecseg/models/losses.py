"""Training losses on logits: BCE (IAR paper), soft Dice, and ``CE - log(Dice)`` (ODM_Unet).

All take ``logits`` and a 0/1 ``target`` of the same shape ``(B, 1, H, W)`` (binary
segmentation, one logit channel) and return a scalar. ``ce_logdice`` is the ODM_Unet
paper's joint loss ``CrossEntropy - log(Dice)``: its equation 4 prints "DiceLoss" inside
the logarithm, but ``-log(1 - Dice)`` would reward a *worse* overlap, so the Dice
coefficient is meant (as in the combined losses the paper's wording follows).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LOSSES", "BCELoss", "CELogDiceLoss", "DiceLoss", "get_loss", "soft_dice"]


def _check(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if logits.shape != target.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} differ")
    return target.to(logits.dtype)


def soft_dice(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Soft Dice coefficient ``(2 |P∩Y| + s) / (|P| + |Y| + s)`` on sigmoid probabilities.

    Summed over the whole batch (one coefficient), so an image without foreground does
    not dominate; ``smooth`` keeps it defined (and 1) when both are empty.

    Examples
    --------
    >>> import torch
    >>> t = torch.ones(1, 1, 2, 2)
    >>> round(float(soft_dice(torch.full_like(t, 20.0), t)), 4)
    1.0
    """
    y = _check(logits, target)
    p = torch.sigmoid(logits)
    inter = (p * y).sum()
    return (2 * inter + smooth) / (p.sum() + y.sum() + smooth)


class BCELoss(nn.Module):
    """Binary cross-entropy on logits (the IAR paper's loss).

    Examples
    --------
    >>> import torch
    >>> round(float(BCELoss()(torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2))), 4)
    0.6931
    """

    def __init__(self, pos_weight: float | None = None) -> None:
        super().__init__()
        self.pos_weight = pos_weight

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        y = _check(logits, target)
        pw = None if self.pos_weight is None else logits.new_tensor(self.pos_weight)
        return F.binary_cross_entropy_with_logits(logits, y, pos_weight=pw)


class DiceLoss(nn.Module):
    """``1 - soft Dice`` on sigmoid probabilities.

    Examples
    --------
    >>> import torch
    >>> t = torch.ones(1, 1, 2, 2)
    >>> float(DiceLoss(smooth=0.0)(torch.full_like(t, -50.0), t)) > 0.99
    True
    """

    def __init__(self, smooth: float = 1.0) -> None:
        super().__init__()
        self.smooth = smooth

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return 1 - soft_dice(logits, target, self.smooth)


class CELogDiceLoss(nn.Module):
    """ODM_Unet joint loss: ``BCE(logits, target) - log(soft Dice)``.

    With one logit channel the two-class cross-entropy of the paper is the binary one.

    Examples
    --------
    >>> import torch
    >>> t = torch.ones(1, 1, 2, 2)
    >>> float(CELogDiceLoss()(torch.full_like(t, 30.0), t)) < 1e-6
    True
    """

    def __init__(self, smooth: float = 1.0, eps: float = 1e-7) -> None:
        super().__init__()
        self.smooth, self.eps = smooth, eps

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        bce = F.binary_cross_entropy_with_logits(logits, _check(logits, target))
        dice = soft_dice(logits, target, self.smooth)
        return bce - torch.log(dice.clamp_min(self.eps))


#: Loss name -> loss class, as :func:`get_loss` takes them.
LOSSES: dict[str, Callable[[], nn.Module]] = {
    "bce": BCELoss,
    "dice": DiceLoss,
    "ce_logdice": CELogDiceLoss,
}


def get_loss(name: str, **kw: float) -> nn.Module:
    """Loss module by name: ``"bce"``, ``"dice"`` or ``"ce_logdice"``.

    Examples
    --------
    >>> get_loss("ce_logdice")
    CELogDiceLoss()
    """
    try:
        return LOSSES[name.lower()](**kw)
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}") from None
