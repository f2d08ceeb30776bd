"""BoxAccuracy, PxAP and PointingGame: hand cases, streaming, sum-state merging and error paths."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from wsl.metrics import BoxAccuracy, PointingGame, PxAP, pointing_hit, pxap_from_histograms


def _blob_cams(n: int, size: int = 32, seed: int = 0) -> tuple[torch.Tensor, list[torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 1, 7, 7, generator=g) ** 2
    cams = F.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)[:, 0] * 5 - 1
    boxes = []
    for _ in range(n):
        x0, y0 = torch.randint(0, size // 2, (2,), generator=g).tolist()
        x1, y1 = torch.randint(size // 2, size, (2,), generator=g).tolist()
        boxes.append(torch.tensor([[x0, y0, x1, y1]]))
    return cams, boxes


def _assert_dicts_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, equal_nan=True)


# ---------------------------------------------------------------- BoxAccuracy


def test_box_accuracy_perfect_and_keys():
    cams = torch.zeros(2, 8, 8)
    cams[:, 2:4, 3:6] = 1
    boxes = [torch.tensor([[3, 2, 6, 4]]), torch.tensor([[3, 2, 6, 4], [0, 0, 1, 1]])]
    metric = BoxAccuracy()
    metric.update(cams, boxes)
    out = metric.compute()
    for k in ("30", "50", "70"):
        assert float(out[f"maxboxacc_{k}"]) == 1.0
        assert float(out[f"threshold_{k}"]) == 0.0
        assert out[f"curve_{k}"].shape == (100,)
    assert float(out["maxboxacc_mean"]) == 1.0
    assert not any(k.startswith("top1loc") for k in out)


def test_box_accuracy_counts_hand_case():
    # image 0 exact box; image 1 a box of IoU 4/9 with its GT (correct at δ=30 only).
    cams = torch.zeros(2, 10, 10)
    cams[0, 2:4, 2:4] = 1  # predicted (2, 2, 4, 4)
    cams[1, 0:2, 0:2] = 1  # predicted (0, 0, 2, 2): 9 px; GT (0, 0, 1, 1): 4 px -> IoU 4/9
    metric = BoxAccuracy(cam_curve_interval=0.5)
    metric.update(cams, [torch.tensor([[2, 2, 4, 4]]), torch.tensor([[0, 0, 1, 1]])])
    out = metric.compute()
    assert out["curve_30"].tolist() == [1.0, 1.0]
    assert out["curve_50"].tolist() == [0.5, 0.5]
    assert float(out["maxboxacc_mean"]) == pytest.approx((1 + 0.5 + 0.5) / 3)


def test_box_accuracy_top1_loc_and_maxboxacc_v1():
    cams = torch.zeros(2, 8, 8)
    cams[:, 2:4, 3:6] = 1
    boxes = [torch.tensor([[3, 2, 6, 4]])] * 2
    metric = BoxAccuracy(iou_thresholds=(50,), multi_contour=False)
    metric.update(cams, boxes, correct=torch.tensor([True, False]))
    out = metric.compute()
    assert float(out["maxboxacc_50"]) == 1.0
    assert float(out["top1loc_50"]) == 0.5
    assert float(out["top1loc_mean"]) == 0.5
    assert out["top1loc_curve_50"].shape == (100,)


def test_box_accuracy_constant_and_nan_cams_count_as_zero_maps():
    cams = torch.stack([torch.full((6, 6), 2.0), torch.full((6, 6), math.nan)])
    metric = BoxAccuracy(iou_thresholds=(50,))
    metric.update(cams, [torch.tensor([[0, 0, 0, 0]]), torch.tensor([[0, 0, 5, 5]])])
    out = metric.compute()  # box (0,0,0,0) matches the first GT exactly, not the second
    assert float(out["maxboxacc_50"]) == 0.5


def test_box_accuracy_lists_of_different_sizes():
    cams = [torch.zeros(8, 12), torch.zeros(20, 5)]
    cams[0][1:3, 4:9] = 1
    cams[1][10:15, 1:3] = 1
    metric = BoxAccuracy(iou_thresholds=(70,))
    metric.update(cams, [torch.tensor([[4, 1, 9, 3]]), torch.tensor([[1, 10, 3, 15]])])
    assert float(metric.compute()["maxboxacc_70"]) == 1.0


def test_box_accuracy_streaming_equals_one_update():
    cams, boxes = _blob_cams(10)
    correct = torch.arange(10) % 3 == 0
    whole = BoxAccuracy()
    whole.update(cams, boxes, correct)
    chunked = BoxAccuracy()
    for i in range(0, 10, 3):
        chunked.update(cams[i : i + 3], boxes[i : i + 3], correct[i : i + 3])
    _assert_dicts_equal(whole.compute(), chunked.compute())


def test_box_accuracy_states_are_sums():
    cams, boxes = _blob_cams(8, seed=1)
    whole = BoxAccuracy(multi_contour=False)
    whole.update(cams, boxes)
    a, b = BoxAccuracy(multi_contour=False), BoxAccuracy(multi_contour=False)
    a.update(cams[:5], boxes[:5])
    b.update(cams[5:], boxes[5:])
    assert {fx.__name__ for fx in a._reductions.values()} == {"dim_zero_sum"}
    for name in ("correct", "top1_correct", "total", "total_with_class"):
        torch.testing.assert_close(getattr(a, name) + getattr(b, name), getattr(whole, name))
    a.merge_state(b)
    _assert_dicts_equal(a.compute(), whole.compute())


def test_box_accuracy_compute_without_data_is_nan():
    with pytest.warns(UserWarning, match="before the ``update``"):
        out = BoxAccuracy().compute()
    assert math.isnan(float(out["maxboxacc_50"]))


# ---------------------------------------------------------------- PxAP


def test_pxap_right_riemann_hand_case():
    # thresholds [0, 0.5] + [1, 2, 3]; scores 0.0(bg) 0.3(fg) 0.6(bg) 1.0(fg):
    # TP = [0, 1, 1, 2], FP = [0, 0, 1, 2] at τ = 2, 1, 0.5, 0; P = [-, 1, .5, .5], R = [0, .5, .5, 1]
    # AP = 1·0.5 + 0.5·0 + 0.5·0.5 = 0.75 (no interpolation).
    metric = PxAP(cam_curve_interval=0.5)
    metric.update(torch.tensor([[[0.0, 0.3, 0.6, 1.0]]]), torch.tensor([[[False, True, False, True]]]))
    assert metric.true_hist.tolist() == [1, 0, 1, 0]
    assert metric.false_hist.tolist() == [1, 1, 0, 0]
    assert float(metric.compute()) == 0.75
    curve = metric.pr_curve()
    assert curve["thresholds"].tolist() == [2.0, 1.0, 0.5, 0.0]
    assert curve["recall"].tolist() == [0.0, 0.5, 0.5, 1.0]
    assert math.isnan(float(curve["precision"][0]))
    assert curve["precision"][1:].tolist() == [1.0, 0.5, 0.5]


def test_pxap_bins_are_left_closed_and_ignore_skips_pixels():
    metric = PxAP(cam_curve_interval=0.25)
    cam = torch.tensor([[[0.0, 0.25, 0.5, 1.0]]])  # normalised already: values fall on bin edges
    masks = torch.tensor([[[True, True, True, True]]])
    ignore = torch.tensor([[[False, False, True, False]]])
    metric.update(cam, masks, ignore)
    assert metric.true_hist.tolist() == [1, 1, 0, 0, 1, 0]
    assert metric.false_hist.sum() == 0


def test_pxap_matches_reference_formula_and_streams():
    rng = np.random.default_rng(0)
    cams = torch.from_numpy(rng.random((6, 9, 11)))
    masks = torch.from_numpy(rng.random((6, 9, 11)) > 0.6)
    whole = PxAP()
    whole.update(cams, masks)
    chunked = PxAP()
    chunked.update(cams[:4], masks[:4])
    chunked.update(list(cams[4:]), list(masks[4:]))
    assert float(whole.compute()) == float(chunked.compute())
    # independent reference: per-image min–max, counts of cam >= τ on the extended grid
    thr = np.append(np.arange(0, 1, 0.01), [1.0, 2.0])[::-1]
    scores = np.concatenate([((c - c.min()) / (c.max() - c.min())).ravel() for c in cams.numpy()])
    labels = masks.numpy().ravel()
    tp = np.array([(scores[labels] >= t).sum() for t in thr], dtype=float)
    fp = np.array([(scores[~labels] >= t).sum() for t in thr], dtype=float)
    with np.errstate(invalid="ignore"):
        precision = tp / (tp + fp)
    recall = tp / labels.sum()
    ok = (tp + fp)[1:] > 0
    expected = (precision[1:] * np.diff(recall))[ok].sum()
    assert float(whole.compute()) == pytest.approx(expected, abs=1e-12)


def test_pxap_no_foreground_is_nan():
    metric = PxAP()
    metric.update(torch.rand(1, 4, 4), torch.zeros(1, 4, 4, dtype=torch.bool))
    assert math.isnan(float(metric.compute()))
    ap, _, _ = pxap_from_histograms(np.zeros(3), np.ones(3))
    assert math.isnan(ap)


# ---------------------------------------------------------------- PointingGame


def test_pointing_argmax_ties_first_in_row_major():
    cam = torch.zeros(8, 8)
    cam[2, 5] = 1.0
    cam[4, 1] = 1.0
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[4, 1] = True
    hit, point = pointing_hit(cam, mask, tolerance=1)
    assert point == (5, 2) and not hit
    mask[2, 5] = True
    assert pointing_hit(cam, mask, tolerance=1)[0]


@pytest.mark.parametrize(
    ("pixel", "tolerance", "hit"),
    [
        ((20, 35), 15, False),  # distance exactly 15: miss (strict <)
        ((29, 32), 15, False),  # dy 9, dx 12: exactly 15 again
        ((30, 31), 15, True),  # dy 10, dx 11: 14.87
        ((30, 31), 14.99, True),
        ((30, 31), 14.8, False),
        ((20, 35), 15.01, True),
    ],
)
def test_pointing_disc_is_strict(pixel, tolerance, hit):
    cam = torch.zeros(64, 64)
    cam[20, 20] = 1.0
    mask = torch.zeros(64, 64, dtype=torch.bool)
    mask[pixel] = True
    assert pointing_hit(cam, mask, tolerance)[0] is hit


def test_pointing_game_averaging_and_difficult():
    metric = PointingGame(num_classes=3)
    cams = torch.zeros(4, 32, 32)
    cams[:, 5, 5] = 1
    hit_mask = torch.zeros(32, 32, dtype=torch.bool)
    hit_mask[5, 10] = True
    miss_mask = torch.zeros(32, 32, dtype=torch.bool)
    miss_mask[30, 30] = True
    masks = torch.stack([hit_mask, miss_mask, hit_mask, miss_mask])
    metric.update(
        cams, masks, torch.tensor([0, 0, 2, 2]), difficult=torch.tensor([False, False, False, True])
    )
    out = metric.compute()
    assert out["per_class"][0] == 0.5 and out["per_class"][2] == 1.0
    assert math.isnan(float(out["per_class"][1]))
    assert float(out["accuracy"]) == 0.75
    assert float(out["accuracy_all_classes"]) == pytest.approx(0.5)  # TorchRay: class 1 counts as 0


def test_pointing_game_nan_cam_points_at_origin_and_streams():
    metric = PointingGame(num_classes=2)
    mask = torch.zeros(1, 16, 16, dtype=torch.bool)
    mask[0, 3, 3] = True
    metric.update(torch.full((1, 16, 16), math.nan), mask, torch.tensor([1]))
    assert metric.hits.tolist() == [0, 1]
    other = PointingGame(num_classes=2)
    other.update([torch.rand(16, 16)], [torch.zeros(16, 16, dtype=torch.bool)], torch.tensor([0]))
    metric.merge_state(other)
    assert metric.misses.tolist() == [1, 0]


# ---------------------------------------------------------------- errors

_B = [torch.tensor([[0, 0, 1, 1]])]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: BoxAccuracy(iou_thresholds=50), "iou_thresholds must be a sequence"),
        (lambda: BoxAccuracy(iou_thresholds=(0, 50)), r"iou_thresholds must be non-empty, in \(0, 100\]"),
        (lambda: BoxAccuracy(iou_thresholds=(50, 50)), "distinct"),
        (lambda: BoxAccuracy(cam_curve_interval=2), "cam_curve_interval"),
        (lambda: BoxAccuracy().update(torch.zeros(4, 4), _B), r"cams must be \(N, H, W\)"),
        (lambda: BoxAccuracy().update(torch.zeros(1, 4, 4, dtype=torch.long), _B), "floating-point"),
        (lambda: BoxAccuracy().update([torch.zeros(4)], _B), r"cams\[0\] must be a non-empty 2-D"),
        (lambda: BoxAccuracy().update(42, _B), "cams must be a"),
        (lambda: BoxAccuracy().update(torch.zeros(2, 4, 4), _B), "one entry per cam"),
        (lambda: BoxAccuracy().update(torch.zeros(1, 4, 4), "box"), "one entry per cam"),
        (lambda: BoxAccuracy().update(torch.zeros(1, 4, 4), 3), "boxes must be a list"),
        (lambda: BoxAccuracy().update(torch.zeros(1, 4, 4), [torch.tensor([[0, 0, 1]])]), r"\(K, 4\)"),
        (lambda: BoxAccuracy().update(torch.zeros(1, 4, 4), [torch.tensor([[0.0, 0, 1, 1]])]), "integer"),
        (
            lambda: BoxAccuracy().update(torch.zeros(1, 4, 4), [torch.zeros(0, 4, dtype=torch.long)]),
            "at least",
        ),
        (
            lambda: BoxAccuracy().update(torch.zeros(1, 4, 4), [torch.tensor([[0, 0, 4, 1]])]),
            "inside its cam",
        ),
        (lambda: BoxAccuracy().update(torch.zeros(1, 4, 4), [torch.tensor([[3, 0, 1, 1]])]), "x1 >= x0"),
        (lambda: BoxAccuracy().update(torch.zeros(1, 4, 4), _B, torch.tensor([1])), "correct must be a bool"),
        (
            lambda: BoxAccuracy().update(torch.zeros(1, 4, 4), _B, torch.tensor([True, False])),
            r"shape \(1,\)",
        ),
        (lambda: PxAP(cam_curve_interval=0), "cam_curve_interval"),
        (lambda: PxAP().update(torch.zeros(1, 4, 4), torch.zeros(1, 4, 4)), "bool mask"),
        (
            lambda: PxAP().update(torch.zeros(1, 4, 4), torch.zeros(1, 4, 5, dtype=torch.bool)),
            "shape of cams",
        ),
        (lambda: PxAP().update(torch.zeros(2, 4, 4), torch.zeros(1, 4, 4, dtype=torch.bool)), "same length"),
        (
            lambda: PxAP().update(
                torch.zeros(1, 4, 4), torch.zeros(1, 4, 4, dtype=torch.bool), torch.zeros(1, 4, 4)
            ),
            r"ignore\[0\] must be a bool",
        ),
        (lambda: PointingGame(num_classes=0), "num_classes must be a positive int"),
        (lambda: PointingGame(num_classes=2, tolerance=0), "tolerance must be a positive"),
        (
            lambda: PointingGame(2).update(torch.zeros(1, 4, 4), torch.zeros(1, 4, 4, dtype=torch.bool), [2]),
            r"classes must lie in \[0, 2\)",
        ),
        (
            lambda: PointingGame(2).update(
                torch.zeros(1, 4, 4), torch.zeros(1, 4, 4, dtype=torch.bool), [0, 1]
            ),
            r"classes must have shape \(1,\)",
        ),
        (
            lambda: PointingGame(2).update(
                torch.zeros(1, 4, 4), torch.zeros(1, 4, 4, dtype=torch.bool), torch.tensor([0.0])
            ),
            "integer class indices",
        ),
        (
            lambda: PointingGame(2).update(
                torch.zeros(1, 4, 4), torch.zeros(1, 4, 4, dtype=torch.bool), [0], torch.tensor([0])
            ),
            "difficult must be a bool",
        ),
        (lambda: PointingGame(2).update(torch.zeros(1, 4, 4), torch.zeros(1, 4, 4), [0]), "bool mask"),
    ],
)
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_partial_correct_is_an_error_at_compute():
    metric = BoxAccuracy()
    metric.update(torch.zeros(1, 4, 4), _B, torch.tensor([True]))
    metric.update(torch.zeros(1, 4, 4), _B)
    with pytest.raises(RuntimeError, match="correct was given for 1 of 2 images"):
        metric.compute()
