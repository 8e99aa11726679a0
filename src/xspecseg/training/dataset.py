"""The torch Dataset of training images: network inputs, masks, crops and augmentation.

Items are whole images turned into the network input by the model card's
:class:`~xspecseg.contract.InputRepresentation` (the object inference uses), then cropped
(uniformly, on a signal pixel or on a hard negative) and augmented, each from a generator
seeded by ``(seed, epoch, index)``.

Examples
--------
>>> import numpy as np
>>> imgs = ImageSet([np.full((8, 6), 10.0, np.float32)], [np.zeros((8, 6), bool)])
>>> x, y = SpectrogramDataset(imgs)[0]
>>> tuple(x.shape)
(1, 8, 6)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..contract import InputRepresentation
from .augment import as_augment
from .imageset import ImageSet

__all__ = ["SpectrogramDataset", "hard_negatives", "pad_collate"]


class SpectrogramDataset(Dataset):
    """A ``torch.utils.data.Dataset`` of normalised images and float masks.

    Items are ``(x, y)``: ``x`` (1, H, W) float32 normalised log PSD, ``y`` (1, H, W)
    float32 in {0, 1}. H is time and W frequency, as in the cube.

    Parameters
    ----------
    data : ImageSet
        The images (linear PSD) and masks.
    representation : InputRepresentation, optional
        How an image becomes the network input; a ``"log-relative"`` one is fitted on
        ``data`` when not given (do that on the training set only and pass the same object
        to validation and test sets). Applied to whole images, before any crop.
    augment : Augment or str or None
        Random augmentation (:class:`xspecseg.training.augment.Augment`); None for none.
    crop : (int, int), optional
        Random crop of this size (clipped to the image) per item; images of different
        sizes need it (or batch size 1).
    positive_crop : float
        Share of crops placed so that they hold a randomly chosen signal pixel (anywhere
        in the crop); the others are uniform. Rare targets (CSES anomalies cover ~1 % of
        a half-orbit) are otherwise almost never seen by a network trained on crops.
    hard_crop : float
        Share of crops placed so that they hold a *hard negative*: a non-signal pixel
        among the brightest ``hard_quantile`` share of the image's non-signal pixels,
        brightness measured as log PSD above its frequency bin's median over time
        (lightning-whistler storms, transmitter bursts, hiss edges). A network that
        meets those mostly in uniform crops learns to call bright clutter signal, which
        at the real rate of anomalies swamps the true detections. ``positive_crop +
        hard_crop`` must not exceed 1; the rest of the crops are uniform.
    hard_quantile : float
        Share of non-signal pixels that count as hard negatives (default 0.01).
    seed : int
        Augmentations and crops of item ``i`` in epoch ``e`` are drawn from a generator
        seeded by ``(seed, e, i)``: reproducible, order- and worker-independent.

    Examples
    --------
    >>> s = ImageSet([np.ones((16, 8), np.float32)], [np.zeros((16, 8), bool)])
    >>> x, y = SpectrogramDataset(s)[0]
    >>> tuple(x.shape), tuple(y.shape)
    ((1, 16, 8), (1, 16, 8))
    """

    def __init__(
        self,
        data: ImageSet,
        representation: InputRepresentation | None = None,
        *,
        augment: Any = None,
        crop: tuple[int, int] | None = None,
        positive_crop: float = 0.0,
        hard_crop: float = 0.0,
        hard_quantile: float = 0.01,
        seed: int = 0,
    ) -> None:
        if not 0.0 <= float(positive_crop) <= 1.0:
            raise ValueError(f"positive_crop must lie in [0, 1], got {positive_crop}")
        if not 0.0 <= float(hard_crop) <= 1.0 - float(positive_crop):
            raise ValueError(
                f"hard_crop must lie in [0, 1 - positive_crop], got {hard_crop} "
                f"(positive_crop {positive_crop})"
            )
        if not 0.0 < float(hard_quantile) <= 1.0:
            raise ValueError(f"hard_quantile must lie in (0, 1], got {hard_quantile}")
        self.data = data
        self.representation = representation or InputRepresentation.fit(data.images)
        self._inputs: dict[int, np.ndarray] = {}
        self.augment = as_augment(augment)
        self.crop = None if crop is None else (int(crop[0]), int(crop[1]))
        self.positive_crop = float(positive_crop)
        self.hard_crop = float(hard_crop)
        self.hard_quantile = float(hard_quantile)
        self.seed = int(seed)
        self.epoch = 0
        self._hard: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.data)

    def set_epoch(self, epoch: int) -> None:
        """Select the random draws of ``epoch`` (called by the training loop)."""
        self.epoch = int(epoch)

    def with_options(self, **kw: Any) -> SpectrogramDataset:
        """A copy sharing the images, with other ``augment``/``crop``/``seed``/representation."""
        args = {
            "representation": self.representation,
            "augment": self.augment,
            "crop": self.crop,
            "positive_crop": self.positive_crop,
            "hard_crop": self.hard_crop,
            "hard_quantile": self.hard_quantile,
            "seed": self.seed,
        }
        args.update(kw)
        rep = args.pop("representation")
        out = SpectrogramDataset(self.data, rep, **args)
        if rep == self.representation:
            out._inputs = self._inputs  # same images, same inputs: share the cache
        return out

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, int(index), 0x5EC])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.network_input(index)
        y = self.data.masks[index]
        rng = self._rng(index)
        if self.crop is not None:
            ch, cw = min(self.crop[0], x.shape[0]), min(self.crop[1], x.shape[1])
            hard = self._hard_negatives(index) if self.hard_crop else None
            i0, j0 = _crop_origin(
                y, (ch, cw), self.positive_crop, rng, hard=hard, hard_share=self.hard_crop
            )
            x = x[i0 : i0 + ch, j0 : j0 + cw]
            y = y[i0 : i0 + ch, j0 : j0 + cw]
        xt = torch.from_numpy(np.ascontiguousarray(x))[None]
        yt = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))[None]
        if self.augment is not None:
            xt, yt = self.augment(xt, yt, rng)
        return xt, yt

    def network_input(self, index: int) -> np.ndarray:
        """The representation of whole image ``index`` (computed once, then cached)."""
        x = self._inputs.get(index)
        if x is None:
            x = self._inputs[index] = self.representation(self.data.images[index])
        return x

    def _hard_negatives(self, index: int) -> np.ndarray:
        if index not in self._hard:
            self._hard[index] = hard_negatives(
                self.data.images[index], self.data.masks[index], self.hard_quantile
            )
        return self._hard[index]


def hard_negatives(psd: np.ndarray, mask: np.ndarray, quantile: float = 0.01) -> np.ndarray:
    """Flat indices of the brightest non-signal pixels of a (time, frequency) image.

    Brightness is ``log10(psd)`` minus its median over time in each frequency bin, so a
    bin that is loud all along (a transmitter line, the low-frequency background) does
    not count, while a burst above its own bin's level does.

    Examples
    --------
    >>> psd = np.ones((8, 4)); psd[2, 1] = 100.0; psd[5, 3] = 10.0
    >>> mask = np.zeros((8, 4), bool); mask[5, 3] = True
    >>> np.unravel_index(hard_negatives(psd, mask, 1 / 31), psd.shape)
    (array([2]), array([1]))
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        lg = np.log10(np.asarray(psd, dtype=np.float64))
    excess = lg - np.nanmedian(np.where(np.isfinite(lg), lg, np.nan), axis=0, keepdims=True)
    candidates = ~np.asarray(mask, bool) & np.isfinite(excess)
    values = excess[candidates]
    if not values.size:
        return np.empty(0, np.int64)
    k = max(1, round(quantile * values.size))
    cut = np.partition(values, values.size - k)[values.size - k]
    return np.flatnonzero(candidates & (excess >= cut))


def _crop_origin(
    mask: np.ndarray,
    size: tuple[int, int],
    positive: float,
    rng: np.random.Generator,
    *,
    hard: np.ndarray | None = None,
    hard_share: float = 0.0,
) -> tuple[int, int]:
    h, w = mask.shape
    ch, cw = size
    # draw the coin first so the stream of draws does not depend on the mask's content
    coin = rng.random()
    hits = None
    if coin < positive:
        hits = np.flatnonzero(mask)
    elif coin < positive + hard_share and hard is not None:
        hits = hard
    if hits is not None:
        if hits.size:
            pi, pj = np.unravel_index(int(hits[rng.integers(hits.size)]), mask.shape)
            lo_i, hi_i = max(0, pi - ch + 1), min(pi, h - ch)
            lo_j, hi_j = max(0, pj - cw + 1), min(pj, w - cw)
            return int(rng.integers(lo_i, hi_i + 1)), int(rng.integers(lo_j, hi_j + 1))
    return int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))


def pad_collate(
    batch: list[tuple[torch.Tensor, torch.Tensor]], fill: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ``(x, y)`` items, padding smaller ones at the end (x with ``fill``, y with 0).

    Padding counts as background in the loss; crop images of different sizes instead
    where that matters.
    """
    h = max(int(x.shape[-2]) for x, _ in batch)
    w = max(int(x.shape[-1]) for x, _ in batch)
    xs, ys = [], []
    for x, y in batch:
        ph, pw = h - x.shape[-2], w - x.shape[-1]
        if ph or pw:
            x = torch.nn.functional.pad(x, (0, pw, 0, ph), value=fill)
            y = torch.nn.functional.pad(y, (0, pw, 0, ph), value=0.0)
        xs.append(x)
        ys.append(y)
    return torch.stack(xs), torch.stack(ys)
