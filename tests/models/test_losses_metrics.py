"""Losses (BCE, soft Dice, CE - log Dice) and confusion-matrix metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import jaccard_score

from xspecseg.models import ConfusionMatrix, get_loss, iou, miou, mpa, soft_dice
from xspecseg.models.losses import CELogDiceLoss, DiceLoss


def _pair(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, 1, 6, 7, generator=g, requires_grad=True)
    target = (torch.rand(2, 1, 6, 7, generator=g) > 0.6).float()
    return logits, target


def test_bce_is_torch_bce_with_logits() -> None:
    logits, target = _pair()
    expected = F.binary_cross_entropy_with_logits(logits, target)
    torch.testing.assert_close(get_loss("bce")(logits, target), expected)


def test_soft_dice_by_hand() -> None:
    logits, target = _pair()
    p = torch.sigmoid(logits)
    expected = (2 * (p * target).sum() + 1) / (p.sum() + target.sum() + 1)
    torch.testing.assert_close(soft_dice(logits, target), expected)
    torch.testing.assert_close(get_loss("dice")(logits, target), 1 - expected)
    sure = torch.where(target > 0, 40.0, -40.0)
    assert float(DiceLoss(smooth=0.0)(sure, target)) == pytest.approx(0.0, abs=1e-6)


def test_ce_logdice_by_hand_and_gradient() -> None:
    logits, target = _pair()
    loss = get_loss("ce_logdice")(logits, target)
    expected = F.binary_cross_entropy_with_logits(logits, target) - torch.log(
        soft_dice(logits, target)
    )
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert torch.isfinite(logits.grad).all() and torch.any(logits.grad != 0)
    # a better overlap lowers the loss (Dice, not DiceLoss, sits in the logarithm)
    worse = torch.where(target > 0, -3.0, 3.0)
    better = torch.where(target > 0, 3.0, -3.0)
    assert float(CELogDiceLoss()(better, target)) < float(CELogDiceLoss()(worse, target))


def test_unknown_loss_and_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="ce_logdice"):
        get_loss("focal")
    with pytest.raises(ValueError, match="differ"):
        get_loss("bce")(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 3))


def test_metrics_hand_computed() -> None:
    pred = np.array([[1, 1, 0], [0, 1, 0]], dtype=bool)
    target = np.array([[1, 0, 0], [0, 1, 1]], dtype=bool)
    # TP = 2, FP = 1, FN = 1, TN = 2
    cm = ConfusionMatrix()
    cm.update(pred, target)
    assert cm.matrix.tolist() == [[2, 1], [1, 2]]
    assert cm.iou() == pytest.approx(2 / 4)
    assert cm.miou() == pytest.approx((2 / 4 + 2 / 4) / 2)
    assert cm.mpa() == pytest.approx((2 / 3 + 2 / 3) / 2)
    assert iou(pred, target) == pytest.approx(0.5)
    assert miou(torch.tensor(pred), torch.tensor(target)) == pytest.approx(0.5)
    assert mpa(pred.astype(np.uint8), target.astype(np.float32)) == pytest.approx(2 / 3)


def test_metrics_accumulate_over_batches() -> None:
    rng = np.random.default_rng(0)
    pred = rng.random((4, 16, 16)) > 0.5
    target = rng.random((4, 16, 16)) > 0.7
    cm = ConfusionMatrix()
    for b in range(4):
        cm.update(torch.from_numpy(pred[b]), target[b])
    whole = ConfusionMatrix()
    whole.update(pred, target)
    assert np.array_equal(cm.matrix, whole.matrix)
    cm.reset()
    assert cm.matrix.sum() == 0


@pytest.mark.parametrize("seed", range(5))
def test_metrics_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    target = rng.random((3, 20, 31)) > rng.uniform(0.3, 0.9)
    pred = rng.random((3, 20, 31)) > rng.uniform(0.3, 0.9)
    cm = ConfusionMatrix()
    cm.update(pred, target)
    t, p = target.ravel(), pred.ravel()
    assert cm.iou() == pytest.approx(jaccard_score(t, p))
    assert cm.miou() == pytest.approx(jaccard_score(t, p, average="macro"))
    recall = [np.mean(p[t == c] == c) for c in (0, 1)]
    assert cm.mpa() == pytest.approx(np.mean(recall))


def test_threshold_mask_and_bad_inputs() -> None:
    prob = np.array([0.2, 0.6, 0.9, 0.4])
    target = np.array([0, 1, 1, 1])
    assert iou(prob, target, threshold=0.5) == pytest.approx(2 / 3)
    cm = ConfusionMatrix()
    cm.update(prob, target, mask=np.array([True, True, True, False]), threshold=0.5)
    assert cm.iou() == 1.0
    with pytest.raises(ValueError, match="threshold"):
        ConfusionMatrix().update(prob, target)
    with pytest.raises(ValueError, match="shape"):
        ConfusionMatrix().update(np.zeros(3), np.zeros(4))


def test_empty_classes_give_nan_iou() -> None:
    cm = ConfusionMatrix()
    cm.update(np.zeros((4, 4)), np.zeros((4, 4)))
    assert math.isnan(cm.iou())
    assert cm.miou() == 1.0 and cm.mpa() == 1.0
    assert math.isnan(ConfusionMatrix().miou())
