"""BoxAccuracy, PxAP and PointingGame: hand cases, streaming, sum-state merging and error paths."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from wsl.metrics import (
    BoxAccuracy,
    PointingGame,
    PxAP,
    box_accuracy,
    boxacc,
    normalize_cam,
    pointing_game,
    pointing_hit,
    pxap,
    pxap_from_histograms,
    quantize_cam,
)
from wsl.metrics.localization import (
    _box_accuracy_compute,
    _box_accuracy_update,
    _pointing_game_compute,
    _pxap_bin_edges,
    _pxap_compute,
    _pxap_update,
)


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


def _mixed_maps(n: int, seed: int = 0) -> list[torch.Tensor]:
    """Smooth blobs, noise (many contours), float64, a constant map and maps holding NaN/Inf, all 32x32."""
    g = torch.Generator().manual_seed(seed)
    cams = list(_blob_cams(n, seed=seed)[0])
    for i in range(1, n, 3):
        cams[i] = cams[i] + 0.8 * torch.rand(32, 32, generator=g)
    cams[2] = cams[2].double() * 1e3
    cams[3] = torch.full((32, 32), 2.5)
    cams[4] = cams[4].clone()
    cams[4][7, 9] = math.nan
    cams[5] = torch.full((32, 32), math.inf)
    return cams


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


# ---------------------------------------------------------------- already-normalised input


@pytest.mark.parametrize("multi_contour", [False, True])
def test_box_accuracy_uint8_maps_are_taken_as_quantized(multi_contour):
    cams = _mixed_maps(12, seed=3)
    boxes = _blob_cams(12, seed=4)[1]
    correct = torch.arange(12) % 2 == 0
    from_float = BoxAccuracy(multi_contour=multi_contour)
    from_float.update(cams, boxes, correct)
    assert int(from_float.correct.sum()) > 0
    quantized = [quantize_cam(c) for c in cams]
    for maps in (quantized, [torch.from_numpy(q) for q in quantized], torch.from_numpy(np.stack(quantized))):
        from_uint8 = BoxAccuracy(multi_contour=multi_contour)
        from_uint8.update(maps, boxes, correct)
        for name in ("correct", "top1_correct", "total", "total_with_class"):
            torch.testing.assert_close(getattr(from_uint8, name), getattr(from_float, name), rtol=0, atol=0)
        _assert_dicts_equal(from_uint8.compute(), from_float.compute())


def test_box_accuracy_uint8_maps_are_not_quantized_again(monkeypatch):
    calls = []

    def counting_quantize(cam, normalized=False):
        calls.append(cam.shape)
        return quantize_cam(cam, normalized)

    # BoxAccuracy quantises in its own module (wsl.metrics.boxacc; localization only re-exports it).
    monkeypatch.setattr(boxacc, "quantize_cam", counting_quantize)
    cams, boxes = _blob_cams(3)
    BoxAccuracy().update(np.stack([quantize_cam(c) for c in cams]), boxes)
    assert calls == []
    BoxAccuracy().update(cams, boxes)
    assert calls == [(32, 32)] * 3


def test_pxap_normalized_maps_equal_raw_maps():
    cams = _mixed_maps(9, seed=5)
    cams[6] = torch.rand(32, 32, generator=torch.Generator().manual_seed(7)) * 0.5  # float32 inside [0, 1)
    g = torch.Generator().manual_seed(6)
    masks = torch.rand(9, 32, 32, generator=g) > 0.7
    ignore = list(torch.rand(9, 32, 32, generator=g) > 0.9)
    raw = PxAP()
    raw.update(cams, masks, ignore)
    normalized = PxAP()
    normalized.update([normalize_cam(c) for c in cams], masks, ignore, normalized=True)
    assert torch.equal(raw.true_hist, normalized.true_hist)
    assert torch.equal(raw.false_hist, normalized.false_hist)
    assert float(raw.compute()) == float(normalized.compute())
    stacked = PxAP()
    stacked.update(
        torch.from_numpy(np.stack([normalize_cam(c) for c in cams])), masks, ignore, normalized=True
    )
    assert torch.equal(stacked.true_hist, raw.true_hist)


def test_pxap_normalized_maps_are_not_normalized_again():
    cam = torch.tensor([[[0.2, 0.6]]], dtype=torch.float64)
    mask = torch.tensor([[[True, False]]])
    as_given = PxAP(cam_curve_interval=0.5)
    as_given.update(cam, mask, normalized=True)
    assert as_given.true_hist.tolist() == [1, 0, 0, 0] and as_given.false_hist.tolist() == [0, 1, 0, 0]
    renormalised = PxAP(cam_curve_interval=0.5)
    renormalised.update(cam, mask)  # 0.2 -> 0, 0.6 -> 1
    assert renormalised.false_hist.tolist() == [0, 0, 1, 0]


def test_pointing_game_on_normalized_maps_equals_raw_maps():
    cams = _mixed_maps(10, seed=8)
    cams[7] = cams[7].clone()
    cams[7][20, 20] = cams[7].max()  # a tie: the first in row-major order wins either way
    g = torch.Generator().manual_seed(9)
    masks = torch.rand(10, 32, 32, generator=g) > 0.97
    masks[3, 0, 1] = masks[4, 1, 0] = masks[5, 0, 0] = True  # constant, NaN, Inf maps point at (0, 0)
    classes = torch.arange(10) % 3
    normalized = [normalize_cam(c) for c in cams]
    for cam, norm, mask in zip(cams, normalized, masks, strict=True):
        assert pointing_hit(cam, mask, 3) == pointing_hit(norm, mask, 3)
    for i in (3, 4, 5):
        assert pointing_hit(cams[i], masks[i], 3) == (True, (0, 0))
    raw = PointingGame(num_classes=3, tolerance=3)
    raw.update(cams, masks, classes)
    assert int(raw.hits.sum()) > 3 and int(raw.misses.sum()) > 0
    norm = PointingGame(num_classes=3, tolerance=3)
    norm.update(normalized, masks, classes, normalized=True)
    assert torch.equal(raw.hits, norm.hits) and torch.equal(raw.misses, norm.misses)


def test_a_batch_tensor_crosses_to_numpy_once(monkeypatch):
    """A (N, H, W) tensor is converted in one piece, a list of N maps with one conversion per map."""
    converted = []
    to_numpy = torch.Tensor.numpy

    def counting(self, *args, **kwargs):
        if self.dim() >= 2 and tuple(self.shape[-2:]) == (32, 32):
            converted.append(tuple(self.shape))
        return to_numpy(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "numpy", counting)
    cams, boxes = _blob_cams(4)
    masks = cams > 1
    BoxAccuracy().update(cams, boxes)
    PxAP().update(cams, masks)
    PointingGame(2).update(cams, masks, torch.zeros(4, dtype=torch.long))
    assert converted == [(4, 32, 32)] * 5
    converted.clear()
    BoxAccuracy().update(list(cams), boxes)
    PxAP().update(list(cams), list(masks))
    assert converted == [(32, 32)] * 12


# ---------------------------------------------------------------- functional core


def test_functions_equal_metrics():
    cams = _mixed_maps(9, seed=11)
    boxes = _blob_cams(9, seed=12)[1]
    correct = torch.arange(9) % 4 != 0
    for kwargs in ({}, {"iou_thresholds": (50,), "multi_contour": False, "cam_curve_interval": 0.05}):
        metric = BoxAccuracy(**kwargs)
        metric.update(cams, boxes, correct)
        _assert_dicts_equal(box_accuracy(cams, boxes, correct, **kwargs), metric.compute())
    metric = BoxAccuracy()
    metric.update(cams, boxes)
    _assert_dicts_equal(box_accuracy(cams, boxes), metric.compute())
    masks = torch.stack([c > c.nan_to_num(0).mean() for c in cams])
    metric = PxAP(cam_curve_interval=0.02)
    metric.update(cams, masks)
    assert float(pxap(cams, masks, cam_curve_interval=0.02)) == float(metric.compute())
    normalized = [normalize_cam(c) for c in cams]
    assert float(pxap(normalized, masks, cam_curve_interval=0.02, normalized=True)) == float(metric.compute())
    classes = torch.arange(9) % 4
    difficult = torch.arange(9) == 2
    metric = PointingGame(num_classes=5, tolerance=4)
    metric.update(cams, masks, classes, difficult)
    _assert_dicts_equal(
        pointing_game(cams, masks, classes, difficult, num_classes=5, tolerance=4), metric.compute()
    )


def test_update_pieces_are_pure_and_add_up():
    cams, boxes = _blob_cams(8, seed=13)
    quantized = [quantize_cam(c) for c in cams]
    gts = [b.numpy() for b in boxes]
    flags = np.arange(8) % 2 == 1
    thresholds, cuts = np.arange(0, 1, 0.1), np.array([0.3, 0.5])
    hits, top1 = _box_accuracy_update(quantized, gts, thresholds, True, cuts, flags)
    assert hits.shape == top1.shape == (2, 10) and hits.dtype == np.int64
    hits_a, top1_a = _box_accuracy_update(quantized[:3], gts[:3], thresholds, True, cuts, flags[:3])
    hits_b, top1_b = _box_accuracy_update(quantized[3:], gts[3:], thresholds, True, cuts, flags[3:])
    np.testing.assert_array_equal(hits_a + hits_b, hits)
    np.testing.assert_array_equal(top1_a + top1_b, top1)
    assert (top1 <= hits).all()
    edges = _pxap_bin_edges(thresholds)
    scores = [normalize_cam(c) for c in cams]
    masks = [s > 0.5 for s in scores]
    true_hist, false_hist = _pxap_update(scores, masks, None, edges)
    assert true_hist.shape == (12,) and true_hist.sum() + false_hist.sum() == 8 * 32 * 32
    first = _pxap_update(scores[:5], masks[:5], None, edges)
    second = _pxap_update(scores[5:], masks[5:], None, edges)
    np.testing.assert_array_equal(first[0] + second[0], true_hist)
    np.testing.assert_array_equal(first[1] + second[1], false_hist)


def test_compute_pieces_hand_cases():
    out = _box_accuracy_compute(
        torch.tensor([[1, 2]]), 2, torch.zeros(1, 2), 0, np.array([0.0, 0.5]), (50.0,)
    )
    assert out["curve_50"].tolist() == [0.5, 1.0]
    assert float(out["maxboxacc_50"]) == 1.0 and float(out["threshold_50"]) == 0.5
    assert float(out["maxboxacc_mean"]) == 1.0 and "top1loc_50" not in out
    with pytest.raises(RuntimeError, match="correct was given for 1 of 2 images"):
        _box_accuracy_compute(np.array([[1, 2]]), 2, np.array([[1, 1]]), 1, np.array([0.0, 0.5]), (50.0,))
    # the PxAP hand case of test_pxap_right_riemann_hand_case, from its histograms
    assert float(_pxap_compute(torch.tensor([1, 0, 1, 0]), np.array([1, 1, 0, 0]))) == 0.75
    out = _pointing_game_compute(np.array([1, 0, 3]), torch.tensor([1, 0, 0]))
    assert out["per_class"][0] == 0.5 and math.isnan(float(out["per_class"][1]))
    assert float(out["accuracy"]) == 0.75 and float(out["accuracy_all_classes"]) == 0.5


def test_functions_without_maps_are_nan():
    assert math.isnan(float(box_accuracy([], [])["maxboxacc_mean"]))
    assert math.isnan(float(pxap([], [])))
    assert math.isnan(
        float(pointing_game([], [], torch.zeros(0, dtype=torch.long), num_classes=2)["accuracy"])
    )


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
        (
            lambda: BoxAccuracy().update(torch.full((1, 4, 4), 7, dtype=torch.uint8), _B),
            r"cams\[0\] is uint8, so it is taken as already quantised by quantize_cam .* got min 7, max 7",
        ),
        (
            lambda: BoxAccuracy().update(torch.tensor([[[0, 200], [3, 4]]], dtype=torch.uint8), _B),
            "got min 0, max 200",
        ),
        (
            lambda: BoxAccuracy().update(torch.zeros(1, 4, 4, dtype=torch.int16), _B),
            "floating-point map or a uint8 map from quantize_cam",
        ),
        (
            lambda: PxAP().update(
                torch.zeros(1, 4, 4, dtype=torch.uint8), torch.zeros(1, 4, 4, dtype=torch.bool)
            ),
            r"cams\[0\] must be a floating-point map; got dtype uint8",
        ),
        (
            lambda: PxAP().update(
                torch.tensor([[[0.0, 2.0]]]), torch.tensor([[[True, False]]]), normalized=True
            ),
            r"cams\[0\] must be min–max normalised to \[0, 1\] .* when normalized=True; got min 0.0, max 2.0",
        ),
        (
            lambda: pxap(torch.tensor([[[0.5, math.nan]]]), torch.tensor([[[True, False]]]), normalized=True),
            "when normalized=True",
        ),
        (
            lambda: box_accuracy(torch.zeros(1, 4, 4), _B, iou_thresholds=(0,)),
            "iou_thresholds must be non-empty",
        ),
        (lambda: box_accuracy(torch.zeros(1, 4, 4), _B, cam_curve_interval=1), "cam_curve_interval"),
        (lambda: box_accuracy(torch.zeros(1, 4, 4), [torch.tensor([[0, 0, 4, 1]])]), "inside its cam"),
        (lambda: pxap(torch.zeros(1, 4, 4), torch.zeros(1, 4, 4)), "bool mask"),
        (
            lambda: pointing_game(
                torch.zeros(1, 4, 4), torch.zeros(1, 4, 4, dtype=torch.bool), [0], num_classes=0
            ),
            "num_classes must be a positive int",
        ),
        (
            lambda: pointing_game(
                torch.zeros(1, 4, 4), torch.zeros(1, 4, 4, dtype=torch.bool), [3], num_classes=2
            ),
            r"classes must lie in \[0, 2\)",
        ),
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
