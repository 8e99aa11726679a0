"""Seed ensembles: one network that averages the logits of several trained ones.

Networks trained by the same recipe with other seeds differ on records unlike their
training data by as much as recipes differ from each other (on the held-out CSES family,
two DeepLabV3+ seeds found 49 % and 77 % of the anomalies at a precision of 0.64 and
0.54); the mean of their logits is steadier than either. Each member keeps the input
statistics it was trained with: the ensemble is fed the first member's representation,
and member ``i`` gets ``gain_i * x + offset_i``, which is exactly its own
``(relative - center_i) / scale_i`` (pixels without data, ``fill`` in the first member's
input, reach member ``i`` as ``gain_i * fill + offset_i``, a shift of a few hundredths of
its scale for members fitted on similar data). Members whose thresholds differ have their
logits moved by ``logit(t) - logit(t_i)`` (``t`` the median of the thresholds, the
ensemble's), so that every member votes about its own decision boundary.

Build one from checkpoints with :func:`xspecseg.models.ensemble_of` (``xspecseg
ensemble``), or from member specifications with ``get_model("ensemble", members=[...])``;
a checkpoint stores it like any model, its member networks under ``members.<i>.``.

Examples
--------
>>> import torch
>>> from xspecseg.models import get_model
>>> spec = {"name": "unet", "kwargs": {"base_channels": 4, "depth": 2}}
>>> net = get_model("ensemble", members=[spec, {**spec, "input_gain": 2.0}]).eval()
>>> net(torch.zeros(1, 1, 20, 30)).shape
torch.Size([1, 1, 20, 30])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["MEMBER_KEYS", "Ensemble"]

#: Keys of one member's specification in ``get_model("ensemble", members=[...])``.
MEMBER_KEYS = (
    "name",
    "kwargs",
    "input_gain",
    "input_offset",
    "logit_offset",
    "temperature",
    "norm_statistics",
    "flip_time",
)


class Ensemble(nn.Module):
    """The mean of the members' logits, each member fed ``gain * x + offset``.

    Parameters
    ----------
    members : sequence of nn.Module
        Networks mapping ``(B, C, H, W)`` to logits of the same size.
    gains, offsets : sequence of float
        Each member's input transform (from the ensemble's representation to its own).
    logit_offsets : sequence of float, optional
        Added to each member's logits before the mean: members with other thresholds
        are moved so that each one's threshold falls on the ensemble's (default: 0).
    flip_time : sequence of bool, optional
        Members whose logits are the mean over the image and its time reversal (the
        reversed logits reversed back), which makes them symmetric in time (default:
        False for every member).
    """

    def __init__(
        self,
        members: Sequence[nn.Module],
        gains: Sequence[float],
        offsets: Sequence[float],
        logit_offsets: Sequence[float] | None = None,
        flip_time: Sequence[bool] | None = None,
    ) -> None:
        super().__init__()
        if logit_offsets is None:
            logit_offsets = [0.0] * len(members)
        if flip_time is None:
            flip_time = [False] * len(members)
        if (
            not len(members) == len(gains) == len(offsets) == len(logit_offsets) == len(flip_time)
            or not members
        ):
            raise ValueError(
                "an ensemble needs one gain, offset, logit offset and flip flag per member"
            )
        self.members = nn.ModuleList(members)
        self.gains = [float(g) for g in gains]
        self.offsets = [float(o) for o in offsets]
        self.logit_offsets = [float(o) for o in logit_offsets]
        self.flip_time = [bool(f) for f in flip_time]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = None
        for net, gain, offset, shift, flip in zip(
            self.members,
            self.gains,
            self.offsets,
            self.logit_offsets,
            self.flip_time,
            strict=True,
        ):
            xi = x if (gain == 1.0 and offset == 0.0) else x * gain + offset
            out = net(xi)
            if flip:
                # time is dim -2 of (B, C, time, frequency)
                out = 0.5 * (out + net(xi.flip(-2)).flip(-2))
            if shift:
                out = out + shift
            total = out if total is None else total + out
        return total / len(self.members)
