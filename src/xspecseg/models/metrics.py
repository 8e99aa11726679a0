"""Segmentation metrics from a binary confusion matrix, accumulated over batches.

* IoU: foreground intersection over union, ``TP / (TP + FP + FN)`` (IAR paper);
* mIoU: mean of the IoU of background and foreground (ODM_Unet paper);
* mPA: mean over the two classes of the pixel accuracy ``TP_c / (pixels of class c)``.

Accumulating one confusion matrix over all batches gives the dataset-level metric (not
the mean of per-image metrics, which over-weights images with little foreground). A
metric whose denominator is zero (a class absent from both prediction and truth) is NaN;
the means skip NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ConfusionMatrix", "iou", "miou", "mpa"]


def _as_bool(a: Any, threshold: float | None, what: str) -> np.ndarray:
    if hasattr(a, "detach"):  # torch tensor, on any device
        a = a.detach().cpu().numpy()
    a = np.asarray(a)
    if threshold is not None:
        return a >= threshold
    if a.dtype == bool:
        return a
    if not np.isin(a, (0, 1)).all():
        raise ValueError(
            f"{what} must hold booleans or 0/1 values; pass threshold= to binarise probabilities"
        )
    return a.astype(bool)


class ConfusionMatrix:
    """Binary confusion matrix ``[[TN, FP], [FN, TP]]`` (rows: truth, columns: prediction).

    Examples
    --------
    >>> import numpy as np
    >>> cm = ConfusionMatrix()
    >>> cm.update(np.array([1, 1, 0, 0]), np.array([1, 0, 0, 0]))
    >>> cm.matrix.tolist()
    [[2, 1], [0, 1]]
    >>> cm.iou(), round(cm.miou(), 4), round(cm.mpa(), 4)
    (0.5, 0.5833, 0.8333)
    """

    def __init__(self) -> None:
        self.matrix = np.zeros((2, 2), dtype=np.int64)

    def reset(self) -> None:
        """Forget everything accumulated."""
        self.matrix[:] = 0

    def update(
        self,
        pred: Any,
        target: Any,
        mask: Any | None = None,
        threshold: float | None = None,
    ) -> None:
        """Add a batch: ``pred`` and ``target`` boolean/0-1 arrays or tensors of one shape.

        Parameters
        ----------
        pred, target : array-like or torch.Tensor
            Prediction and truth; ``pred`` may be probabilities if ``threshold`` is given
            (foreground where ``pred >= threshold``).
        mask : array-like, optional
            Pixels to count (True); the others, e.g. missing data, are ignored.
        """
        p = _as_bool(pred, threshold, "pred")
        t = _as_bool(target, None, "target")
        if p.shape != t.shape:
            raise ValueError(f"pred {p.shape} and target {t.shape} differ in shape")
        if mask is not None:
            m = _as_bool(mask, None, "mask")
            p, t = p[m], t[m]
        # index 2*truth + prediction counts the four cells in one pass
        counts = np.bincount((2 * t.ravel() + p.ravel()).astype(np.intp), minlength=4)
        self.matrix += counts.reshape(2, 2)

    def _class_iou(self) -> np.ndarray:
        m = self.matrix.astype(float)
        inter = np.diag(m)
        union = m.sum(axis=0) + m.sum(axis=1) - inter
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(union > 0, inter / union, np.nan)

    def iou(self) -> float:
        """Foreground IoU, ``TP / (TP + FP + FN)`` (NaN when both are empty)."""
        return float(self._class_iou()[1])

    def miou(self) -> float:
        """Mean IoU over background and foreground."""
        v = self._class_iou()
        return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")

    def mpa(self) -> float:
        """Mean pixel accuracy: the mean over classes of the fraction of class pixels found."""
        m = self.matrix.astype(float)
        total = m.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = np.where(total > 0, np.diag(m) / total, np.nan)
        return float(np.nanmean(acc)) if np.isfinite(acc).any() else float("nan")

    def __repr__(self) -> str:
        return f"ConfusionMatrix(tn={self.matrix[0, 0]}, fp={self.matrix[0, 1]}, fn={self.matrix[1, 0]}, tp={self.matrix[1, 1]})"


def _one(pred: Any, target: Any, threshold: float | None) -> ConfusionMatrix:
    cm = ConfusionMatrix()
    cm.update(pred, target, threshold=threshold)
    return cm


def iou(pred: Any, target: Any, threshold: float | None = None) -> float:
    """Foreground IoU of one prediction.

    Examples
    --------
    >>> iou([1, 1, 0], [1, 0, 0])
    0.5
    """
    return _one(pred, target, threshold).iou()


def miou(pred: Any, target: Any, threshold: float | None = None) -> float:
    """Mean IoU over the two classes of one prediction.

    Examples
    --------
    >>> round(miou([1, 1, 0], [1, 0, 0]), 4)
    0.5
    """
    return _one(pred, target, threshold).miou()


def mpa(pred: Any, target: Any, threshold: float | None = None) -> float:
    """Mean pixel accuracy over the two classes of one prediction.

    Examples
    --------
    >>> mpa([1, 1, 0], [1, 0, 0])
    0.75
    """
    return _one(pred, target, threshold).mpa()
