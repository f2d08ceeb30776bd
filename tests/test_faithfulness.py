"""Faithfulness metrics (wsl.faithfulness) on a model that only looks at one pixel, whose answers are known
by hand: deletion / insertion curves and AUC, Average Drop, Increase in Confidence; the blur; errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from wsl.faithfulness import auc, confidence_change, deletion, gaussian_blur, insertion


class OnePixel(nn.Module):
    """logits = (w · x[0, row, col], 0): p^0 = sigmoid(w · that pixel's first channel)."""

    def __init__(self, row: int = 0, col: int = 1, w: float = 2.0) -> None:
        super().__init__()
        self.row, self.col, self.w = row, col, w
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.w * x[:, 0, self.row, self.col]
        return torch.stack([z, torch.zeros_like(z)], dim=1)


def sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def image(value: float) -> torch.Tensor:
    x = torch.full((1, 3, 2, 2), 0.3, dtype=torch.float64)
    x[0, :, 0, 1] = value
    return x


FIRST = torch.tensor([[[0.0, 9.0], [1.0, 2.0]]])  # the watched pixel (0, 1) ranked first
LAST = torch.tensor([[[5.0, 0.0], [4.0, 3.0]]])  # ... ranked last


def test_deletion_of_the_watched_pixel_first_and_last():
    s = sigmoid(2 * 0.8)
    first = deletion(OnePixel(), image(0.8), FIRST, torch.tensor([0]))
    np.testing.assert_allclose(first.scores[0].numpy(), [s, 0.5, 0.5, 0.5, 0.5], rtol=1e-12)
    np.testing.assert_allclose(first.fractions.numpy(), [0, 0.25, 0.5, 0.75, 1.0])
    assert float(first.auc[0]) == pytest.approx((s / 2 + 1.75) / 4, rel=1e-12)
    last = deletion(OnePixel(), image(0.8), LAST, torch.tensor([0]))
    np.testing.assert_allclose(last.scores[0].numpy(), [s, s, s, s, 0.5], rtol=1e-12)
    assert float(last.auc[0]) == pytest.approx((3.5 * s + 0.25) / 4, rel=1e-12)
    assert float(first.auc[0]) < float(last.auc[0])  # the faithful map deletes faster


def test_insertion_from_zeros_and_a_coarser_step():
    s = sigmoid(2 * 0.8)
    got = insertion(OnePixel(), image(0.8), FIRST, torch.tensor([0]), substrate="zeros")
    np.testing.assert_allclose(got.scores[0].numpy(), [0.5, s, s, s, s], rtol=1e-12)
    coarse = insertion(OnePixel(), image(0.8), LAST, torch.tensor([0]), substrate="zeros", step=3)
    np.testing.assert_allclose(coarse.fractions.numpy(), [0, 0.75, 1.0])  # ceil(4 / 3) = 2 steps
    np.testing.assert_allclose(coarse.scores[0].numpy(), [0.5, 0.5, s], rtol=1e-12)
    assert float(coarse.auc[0]) == pytest.approx((0.5 + 0.5 + s - 0.25 - s / 2) / 2)


def test_logit_scores_and_the_class_target():
    got = deletion(OnePixel(), image(0.8), FIRST, torch.tensor([1]), score="logit")
    np.testing.assert_allclose(got.scores[0].numpy(), [0.0] * 5)
    got = deletion(OnePixel(), image(0.8), FIRST, torch.tensor([0]), score="logit")
    np.testing.assert_allclose(got.scores[0].numpy(), [1.6, 0, 0, 0, 0], rtol=1e-12)


def test_batches_and_images_are_independent():
    images = torch.cat([image(0.8), image(-0.4), image(0.1)])
    maps = torch.cat([FIRST, LAST, FIRST])
    targets = torch.tensor([0, 0, 1])
    whole = deletion(OnePixel(), images, maps, targets, batch_size=3)
    for i in range(3):
        one = deletion(OnePixel(), images[i : i + 1], maps[i : i + 1], targets[i : i + 1], batch_size=1)
        torch.testing.assert_close(whole.scores[i], one.scores[0])


def test_average_drop_and_increase_in_confidence_by_hand():
    """Saliency min–max normalised: the watched pixel gets E = 0.5 in both maps. Image 0 (v = 0.8):
    O = sigmoid(0.8) < Y = sigmoid(1.6), a drop of (Y − O)/Y. Image 1 (v = −0.8): O = sigmoid(−0.8) > Y,
    no drop, an increase."""
    maps = torch.tensor([[[0.0, 1.0], [2.0, 2.0]], [[2.0, 1.0], [0.0, 0.0]]], dtype=torch.float64)
    images = torch.cat([image(0.8), image(-0.8)])
    got = confidence_change(OnePixel(), images, maps, torch.tensor([0, 0]))
    y, o = sigmoid(1.6), sigmoid(0.8)
    np.testing.assert_allclose(got["drop"].numpy(), [(y - o) / y, 0.0], rtol=1e-12)
    assert got["increased"].tolist() == [False, True]
    assert float(got["average_drop"]) == pytest.approx((y - o) / y / 2)
    assert float(got["increase_in_confidence"]) == 0.5


def test_the_blur_is_a_normalised_gaussian_with_zero_padding():
    x = torch.zeros(1, 2, 7, 7, dtype=torch.float64)
    x[0, 1, 3, 3] = 1.0
    blurred = gaussian_blur(x, size=5, sigma=1.0)
    g = np.exp(-(np.arange(-2, 3) ** 2) / 2.0)
    kernel = np.outer(g, g) / np.outer(g, g).sum()
    np.testing.assert_allclose(blurred[0, 1, 1:6, 1:6].numpy(), kernel, rtol=1e-12)
    assert float(blurred[0, 0].abs().sum()) == 0.0 and float(blurred.sum()) == pytest.approx(1.0)


def test_auc_is_the_trapezoid_rule():
    assert float(auc(torch.tensor([1.0, 0.0]))) == 0.5
    assert float(auc(torch.tensor([0.0, 1.0, 1.0]))) == 0.75
    with pytest.raises(ValueError, match="a curve needs at least 2 points"):
        auc(torch.tensor([1.0]))


def test_errors_name_the_argument():
    model, x = OnePixel(), image(0.8)
    with pytest.raises(ValueError, match=r"saliency: expected \(N, H, W\) = \(1, 2, 2\)"):
        deletion(model, x, torch.zeros(1, 3, 3), torch.tensor([0]))
    with pytest.raises(ValueError, match=r"targets: expected \(N,\) = \(1,\)"):
        deletion(model, x, FIRST, torch.tensor([[0]]))
    with pytest.raises(ValueError, match="substrate: got 'blurr'"):
        insertion(model, x, FIRST, torch.tensor([0]), substrate="blurr")
    with pytest.raises(ValueError, match="score: got 'prob'"):
        deletion(model, x, FIRST, torch.tensor([0]), score="prob")
    with pytest.raises(ValueError, match="step and batch_size must be >= 1"):
        deletion(model, x, FIRST, torch.tensor([0]), step=0)
