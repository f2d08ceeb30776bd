"""Fixed-threshold localization (wsl.metrics.fixed_loc): hand-checked trials, the identity with BoxAcc(t, 50),
accumulation, the evaluator's keys with top-5 flags, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wsl.evaluation import LocalizationEvaluator
from wsl.metrics import FixedThresholdLoc, box_accuracy, fixed_threshold_loc


def blob(box: tuple[int, int, int, int], size: int = 10, level: float = 1.0) -> torch.Tensor:
    """A (size, size) map with ``level`` on rows y0..y1, columns x0..x1 (inclusive), 0 elsewhere."""
    x0, y0, x1, y1 = box
    cam = torch.zeros(size, size, dtype=torch.float64)
    cam[y0 : y1 + 1, x0 : x1 + 1] = level
    return cam


def test_hand_checked_trials():
    """A blob on columns 2..5, rows 2..4 gives the box (2, 2, 6, 5) (one pixel wider and taller).
    Trial 0: GT (2, 2, 6, 5) → IoU 1, localized. Trial 1: GT (2, 2, 6, 9): 20 / 40 = 0.5, localized.
    Trial 2: GT (2, 2, 6, 10 - 1) shifted right to (5, 2, 9, 9): IoU 8 / (20 + 40 - 8) < 0.5, missed.
    Top-1 flags (T, F, T), top-5 (T, T, T): Top-1 Loc 1/3, Top-5 Loc 2/3, GT-known 2/3."""
    cams = torch.stack([blob((2, 2, 5, 4))] * 3)
    gts = [torch.tensor([[2, 2, 6, 5]]), torch.tensor([[2, 2, 6, 9]]), torch.tensor([[5, 2, 9, 9]])]
    got = fixed_threshold_loc(
        cams, gts, 0.5, top1=torch.tensor([True, False, True]), top5=torch.tensor([True, True, True])
    )
    assert got == pytest.approx(
        {"gt_known_loc": 2 / 3, "top1_loc": 1 / 3, "top5_loc": 2 / 3, "top1_cls": 2 / 3, "top5_cls": 1.0}
    )


def test_the_threshold_decides_which_pixels_count():
    """Three levels: 1.0 on the object, 0.4 on a halo around it, 0 outside; t = 0.3 keeps the halo (its box
    (1, 1, 9, 9), IoU 16/81 with the GT: missed), t = 0.5 drops it (the object's box, found)."""
    cam = blob((1, 1, 8, 8), level=0.4)
    cam[3:6, 3:6] = 1.0
    gt = [torch.tensor([[3, 3, 6, 6]])]
    assert fixed_threshold_loc(cam[None], gt, 0.3) == {"gt_known_loc": 0.0}
    assert fixed_threshold_loc(cam[None], gt, 0.5) == {"gt_known_loc": 1.0}


def test_gt_known_loc_is_boxacc_at_that_threshold_of_the_single_contour_curve():
    gen = torch.Generator().manual_seed(0)
    cams = torch.rand(12, 16, 16, generator=gen, dtype=torch.float64)
    gts = []
    for i in range(12):
        x0, y0 = int(torch.randint(0, 8, (1,), generator=gen)), int(torch.randint(0, 8, (1,), generator=gen))
        gts.append(torch.tensor([[x0, y0, x0 + 7, y0 + 7]]))
        cams[i, y0 : y0 + 6, x0 : x0 + 6] += 1.5
    curve = box_accuracy(cams, gts, iou_thresholds=(50,), cam_curve_interval=0.1, multi_contour=False)
    for j, t in enumerate(np.arange(0, 1, 0.1)):
        got = fixed_threshold_loc(cams, gts, float(t))["gt_known_loc"]
        assert got == pytest.approx(float(curve["curve_50"][j]))
    assert float(curve["curve_50"].min()) < 0.5 < float(curve["curve_50"].max())


def test_the_metric_accumulates_batches_as_one():
    cams = torch.stack([blob((2, 2, 5, 4)), blob((0, 0, 2, 2)), blob((4, 4, 8, 8))])
    gts = [torch.tensor([[2, 2, 6, 5]]), torch.tensor([[5, 5, 9, 9]]), torch.tensor([[4, 4, 9, 9]])]
    top1, top5 = torch.tensor([True, True, False]), torch.tensor([True, True, True])
    metric = FixedThresholdLoc(0.2)
    metric.update(cams[:1], gts[:1], top1[:1], top5[:1])
    metric.update(cams[1:], gts[1:], top1[1:], top5[1:])
    assert metric.compute() == fixed_threshold_loc(cams, gts, 0.2, top1, top5)
    assert FixedThresholdLoc(0.2).compute() == {}


def test_the_evaluator_reports_the_fixed_keys_with_top5_from_the_scores():
    """Image 0: class 1 predicted top-1, blob on its box. Image 1: class 0, ranked third, blob on its box."""
    batch = {
        "image_id": ["a", "b"],
        "orig_size": torch.tensor([[10, 10], [10, 10]]),
        "labels": torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]),
        "boxes": [torch.tensor([[2, 2, 6, 5]]), torch.tensor([[2, 2, 6, 5]])],
        "box_labels": [torch.tensor([1]), torch.tensor([0])],
        "difficult": [torch.tensor([False])] * 2,
        "masks": [None, None],
        "ignore": [None, None],
    }
    scores = torch.tensor([[0.1, 0.9, 0.0], [0.1, 0.5, 0.3]])
    maps = torch.zeros(2, 3, 10, 10)
    maps[:, :, 2:5, 2:6] = 1.0
    ev = LocalizationEvaluator(3, single_label=True, cam_threshold=0.5)
    ev.update(scores, maps, batch)
    got = ev.compute()
    assert got["gt_known_loc_at_t"] == 1.0 and got["top1_loc_at_t"] == 0.5 and got["top5_loc_at_t"] == 1.0
    assert got["top5_cls"] == 1.0 and got["fixed_cam_threshold"] == 0.5 and got["top1_acc"] == 0.5
    assert "gt_known_loc_at_t" not in LocalizationEvaluator(3, single_label=True).compute()


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match=r"threshold must be in \[0, 1\); got 1.0"):
        FixedThresholdLoc(1.0)
    with pytest.raises(ValueError, match=r"iou_threshold must be in \(0, 100\]; got 0"):
        FixedThresholdLoc(0.5, iou_threshold=0)
    metric = FixedThresholdLoc(0.5)
    metric.update(blob((1, 1, 3, 3))[None], [torch.tensor([[1, 1, 4, 4]])], torch.tensor([True]))
    metric.update(blob((1, 1, 3, 3))[None], [torch.tensor([[1, 1, 4, 4]])])
    with pytest.raises(RuntimeError, match="top1_loc: flags were given for 1 of 2 trials"):
        metric.compute()
