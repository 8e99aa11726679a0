"""Batch normalisation by each image's own statistics, in training and at inference.

In eval mode a BatchNorm layer scales by the running statistics of the training batches.
On an image unlike any training image (an emission the training worlds never drew) a
layer's input can then lie far outside its running range; every following block passes it
on with a gain above one, and the logits reach 1e7-1e13 (measured on ``cses-default``: 5 of
the 24 randomised validation half-orbits holding lower-hybrid noise, and 2 of 24 held-out
half-orbits of another simulator). Normalising each feature map by the image's own mean
and variance keeps every layer in range whatever the image holds, and makes an image's
result independent of the others in its batch. A model must be trained so
(``TrainingRecipe(norm_statistics="image")``, ``xspecseg train --norm-statistics image``):
switched only at inference it sees other scales than in training.

Layers whose input is a pooled vector (1 x 1 maps: attention branches) keep batch
statistics in training and running ones at inference: one value per channel has no
spatial statistics.

Examples
--------
>>> import torch
>>> from xspecseg.models import get_model
>>> model = use_image_statistics(get_model("unet", base_channels=4).eval())
>>> x = torch.randn(2, 1, 64, 64)
>>> with torch.no_grad():
...     both, first = model(x), model(x[:1])
>>> bool(torch.allclose(both[:1], first, atol=1e-5))  # independent of the batch
True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ImageStatsBatchNorm2d", "use_image_statistics"]


class ImageStatsBatchNorm2d(nn.BatchNorm2d):
    """A :class:`torch.nn.BatchNorm2d` that normalises each image by its own per-channel
    mean and variance over its feature map, in training and in eval mode (its affine
    weights and, in training, running statistics kept as before).

    A 1 x 1 input (a pooled vector) is batch-normalised as by the parent class.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] * x.shape[-2] <= 1:
            return super().forward(x)
        track = self.training and self.track_running_stats
        return F.instance_norm(
            x,
            self.running_mean if track else None,
            self.running_var if track else None,
            self.weight,
            self.bias,
            use_input_stats=True,
            momentum=self.momentum if self.momentum is not None else 0.1,
            eps=self.eps,
        )


def use_image_statistics(model: nn.Module) -> nn.Module:
    """Make every ``BatchNorm2d`` of ``model`` normalise by each image's own statistics
    (in place; returns ``model``). The state dict keeps its keys, so a checkpoint loads
    into either form; a model trained with batch statistics and switched at inference
    sees other scales than in training (see ``docs/validation.md``).
    """
    for module in model.modules():
        if type(module) is nn.BatchNorm2d:
            module.__class__ = ImageStatsBatchNorm2d
    return model
