"""A set of training images: linear PSD images with bool masks, and where they came from.

An *image* is a ``(time, frequency)`` array of linear PSD cut whole from a record (see
:mod:`xspecseg.training.images`); its mask (bool, True = signal) has the same shape.
:class:`ImageSet` holds materialised images (nights are small: 432 x 246 float32 is
0.4 MB) with per-image metadata and the set's description, and saves to / loads from a
``.npz`` that holds no pickled objects.

Examples
--------
>>> import numpy as np
>>> s = ImageSet([np.ones((4, 3), np.float32)] * 2, [np.zeros((4, 3), bool)] * 2)
>>> len(s), s.positive_fraction
(2, 0.0)
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ImageSet"]


@dataclasses.dataclass
class ImageSet:
    """Materialised images (linear PSD, ``(time, frequency)`` float32) with bool masks.

    Parameters
    ----------
    images, masks : list of 2-D arrays
        Same shapes pairwise; images may differ in size (CSES half-orbits do).
    meta : list of dict
        Per image: ``id`` (used for PNG mask file names), ``kind`` ("night" or
        "halforbit"), ``component``, ``night`` or ``orbit``/``direction``, ``start``.
    frequency : 1-D array or None
        The frequency axis shared by every image (Hz).
    description : dict
        How the set was made (kept in the model's provenance).

    Examples
    --------
    >>> s = ImageSet([np.ones((4, 3), np.float32)] * 3, [np.zeros((4, 3), bool)] * 3)
    >>> len(s.subset([0, 2]))
    2
    """

    images: list[np.ndarray]
    masks: list[np.ndarray]
    meta: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    frequency: np.ndarray | None = None
    description: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.images = [np.asarray(x, dtype=np.float32) for x in self.images]
        self.masks = [np.asarray(m, dtype=bool) for m in self.masks]
        if len(self.images) != len(self.masks):
            raise ValueError(f"{len(self.images)} images but {len(self.masks)} masks")
        for i, (x, m) in enumerate(zip(self.images, self.masks)):
            if x.ndim != 2 or x.shape != m.shape:
                raise ValueError(f"image {i}: shape {x.shape} vs mask {m.shape} (need 2-D)")
        if not self.meta:
            self.meta = [{"id": f"image{i:05d}"} for i in range(len(self.images))]
        if len(self.meta) != len(self.images):
            raise ValueError("meta must have one entry per image")

    def __len__(self) -> int:
        return len(self.images)

    @classmethod
    def concat(cls, sets: Sequence[ImageSet], description: dict[str, Any]) -> ImageSet:
        """One set holding the images of ``sets`` in order (they share a frequency axis)."""
        freqs = [s.frequency for s in sets if s.frequency is not None]
        if any(f.shape != freqs[0].shape or not np.array_equal(f, freqs[0]) for f in freqs):
            raise ValueError("cannot concatenate image sets on different frequency axes")
        return cls(
            [x for s in sets for x in s.images],
            [m for s in sets for m in s.masks],
            [dict(m) for s in sets for m in s.meta],
            frequency=freqs[0] if freqs else None,
            description=description,
        )

    def subset(self, index: Sequence[int]) -> ImageSet:
        idx = [int(i) for i in index]
        return ImageSet(
            [self.images[i] for i in idx],
            [self.masks[i] for i in idx],
            [self.meta[i] for i in idx],
            self.frequency,
            {**self.description, "subset": idx},
        )

    def crop_band(self, band: tuple[float, float] | None) -> ImageSet:
        """Keep the frequency bins with ``band[0] <= f <= band[1]``."""
        if band is None or self.frequency is None:
            return self
        sel = np.flatnonzero((self.frequency >= band[0]) & (self.frequency <= band[1]))
        if sel.size == 0:
            raise ValueError(f"band {band} selects no frequency bin")
        s = slice(int(sel[0]), int(sel[-1]) + 1)
        return ImageSet(
            [x[:, s] for x in self.images],
            [m[:, s] for m in self.masks],
            self.meta,
            self.frequency[s],
            {**self.description, "band": [float(band[0]), float(band[1])]},
        )

    def with_masks(self, masks: Sequence[np.ndarray], labels: str) -> ImageSet:
        return ImageSet(
            self.images,
            list(masks),
            self.meta,
            self.frequency,
            {**self.description, "labels": labels},
        )

    @property
    def positive_fraction(self) -> float:
        n = sum(m.size for m in self.masks)
        return float(sum(int(m.sum()) for m in self.masks) / n) if n else 0.0

    def save(self, path: str | os.PathLike) -> Path:
        """Write a ``.npz`` (no pickled objects; meta and description as JSON), atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        for i, (x, m) in enumerate(zip(self.images, self.masks)):
            arrays[f"image_{i:05d}"] = x
            arrays[f"mask_{i:05d}"] = m
        if self.frequency is not None:
            arrays["frequency"] = np.asarray(self.frequency, dtype=np.float64)
        arrays["meta"] = np.array(json.dumps(self.meta, default=str))
        arrays["description"] = np.array(json.dumps(self.description, default=str))
        # write then rename: a concurrent reader (another Dask worker) never sees half a file
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp.npz")
        os.close(fd)
        try:
            np.savez(tmp, **arrays)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> ImageSet:
        with np.load(path, allow_pickle=False) as z:
            n = sum(1 for k in z.files if k.startswith("image_"))
            images = [z[f"image_{i:05d}"] for i in range(n)]
            masks = [z[f"mask_{i:05d}"] for i in range(n)]
            freq = z["frequency"] if "frequency" in z.files else None
            meta = json.loads(str(z["meta"])) if "meta" in z.files else []
            desc = json.loads(str(z["description"])) if "description" in z.files else {}
        return cls(images, masks, meta, freq, desc)
