"""Exactness of CAM → boxes against wsolevaluation's rule (SPEC section 3), quirks pinned by hand."""

from __future__ import annotations

import zlib

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from wsl.metrics import (
    best_ious_per_threshold,
    box_iou_inclusive,
    cam_thresholds,
    cam_to_boxes,
    check_boxes,
    normalize_cam,
    quantize_cam,
)
from wsl.metrics import boxes as boxes_module

# ---------------------------------------------------------------- hand-computed cases


def test_strict_greater_after_uint8_truncation():
    cam = np.zeros((5, 5))
    cam[1, 1] = 1.0  # q = 255
    cam[3, 3] = 0.5  # q = trunc(127.5) = 127
    assert quantize_cam(cam)[3, 3] == 127
    # t = 0.5: level = int(0.5 * 255) = 127 and 127 > 127 is false: only the top pixel remains.
    assert cam_to_boxes(cam, 0.5, multi_contour=True).tolist() == [[1, 1, 2, 2]]
    # t = 0.49: level = int(124.95) = 124, both pixels are foreground.
    assert sorted(cam_to_boxes(cam, 0.49, multi_contour=True).tolist()) == [[1, 1, 2, 2], [3, 3, 4, 4]]


def test_level_is_int_of_t_times_max():
    cam = np.zeros((3, 8))
    cam[0, 0] = 1.0
    cam[2, 6] = 76.5 / 255  # q = 76
    cam[2, 3] = 77.5 / 255  # q = 77
    q = quantize_cam(cam)
    assert (q[2, 6], q[2, 3]) == (76, 77)
    # t = 0.3: 0.3 * 255 = 76.5 -> level 76: q = 77 is foreground, q = 76 is not.
    boxes = cam_to_boxes(cam, 0.3, multi_contour=True).tolist()
    assert sorted(boxes) == [[0, 0, 1, 1], [3, 2, 4, 2]]


def test_ring_gives_outer_and_hole_boxes_in_multi_contour_mode():
    cam = np.zeros((8, 10))
    cam[1:7, 1:9] = 1.0
    cam[2:5, 2:4] = 0.0  # hole: x 2..3, y 2..4
    boxes = sorted(cam_to_boxes(cam, 0.5, multi_contour=True).tolist())
    # outer: x 1..8, y 1..6 -> (1, 1, min(9, 9), min(7, 7)); hole border: hole bbox grown by 1, then +1.
    assert boxes == [[1, 1, 5, 6], [1, 1, 9, 7]]
    assert cam_to_boxes(cam, 0.5, multi_contour=False).tolist() == [[1, 1, 9, 7]]


def test_single_contour_takes_largest_contour_area_not_pixel_count():
    cam = np.zeros((12, 12))
    cam[0, 0:10] = 1.0  # 10 pixels, contourArea 0
    cam[5:7, 5:7] = 1.0  # 4 pixels, contourArea 1
    assert cam_to_boxes(cam, 0.5, multi_contour=False).tolist() == [[5, 5, 7, 7]]


def test_single_contour_first_on_ties_in_opencv_order():
    # "First" is first in findContours' list, which holds outer borders in *reverse* raster order of
    # their first pixel: of two equal blobs, the one starting lower (or further right) wins.
    cam = np.zeros((12, 12))
    cam[7:9, 1:3] = 1.0  # contourArea 1, starts at row 7: listed first
    cam[2:4, 6:8] = 1.0  # contourArea 1, starts at row 2
    assert cam_to_boxes(cam, 0.5, multi_contour=False).tolist() == [[1, 7, 3, 9]]
    assert best_ious_per_threshold(cam, [[1, 7, 3, 9]], [0.5], multi_contour=False).tolist() == [1.0]
    cam[7:9, 1:3] = 0.0
    cam[2:4, 9:11] = 1.0  # same row, further right: listed first
    assert cam_to_boxes(cam, 0.5, multi_contour=False).tolist() == [[9, 2, 11, 4]]


def test_single_contour_parent_wins_tie_with_its_hole():
    cam = np.ones((3, 3))
    cam[1, 1] = 0.0  # ring of 8 pixels: outer border and hole border give the same box
    assert cam_to_boxes(cam, 0.5, multi_contour=False).tolist() == [[0, 0, 2, 2]]
    assert best_ious_per_threshold(cam, [[0, 0, 2, 2]], [0.5], multi_contour=False).tolist() == [1.0]


def test_boxes_one_pixel_wider_except_at_border():
    cam = np.zeros((6, 10))
    cam[2:4, 7:10] = 1.0  # touches the right border
    cam[0:2, 0:2] = 0.9
    boxes = sorted(cam_to_boxes(cam, 0.5, multi_contour=True).tolist())
    assert boxes == [[0, 0, 2, 2], [7, 2, 9, 4]]


def test_no_contour_gives_zero_box_and_constant_or_nan_maps_are_zeros():
    for cam in (np.zeros((4, 5)), np.full((4, 5), 3.0), np.full((4, 5), np.nan)):
        assert cam_to_boxes(cam, 0.0, multi_contour=True).tolist() == [[0, 0, 0, 0]]
        assert not normalize_cam(cam).any()
    cam = np.arange(20.0).reshape(4, 5)
    cam[0, 0] = np.nan
    assert not normalize_cam(cam).any()
    iou = best_ious_per_threshold(np.ones((4, 5)), [[0, 0, 0, 0]], [0.0, 0.5])
    assert iou.tolist() == [1.0, 1.0]


def test_normalize_is_float64_min_max():
    cam = torch.tensor([[2.0, 4.0], [6.0, 10.0]])
    np.testing.assert_array_equal(normalize_cam(cam), np.array([[0.0, 0.25], [0.5, 1.0]]))
    assert normalize_cam(cam).dtype == np.float64


def test_quantize_of_a_normalized_map_skips_normalisation_bit_for_bit():
    rng = np.random.default_rng(7)
    cams = [rng.random((9, 13)) * 40 - 7, rng.random((5, 6)).astype(np.float32), np.full((4, 4), 2.5)]
    cams += [np.where(rng.random((6, 6)) > 0.9, np.nan, rng.random((6, 6))), torch.rand(11, 7) * 3]
    cams += [_synthetic_cam(kind, rng, (40, 50)) for kind in ("smooth", "noisy", "plateau", "ring", "spike")]
    for cam in cams:
        expected = quantize_cam(cam)
        assert expected.dtype == np.uint8
        np.testing.assert_array_equal(quantize_cam(normalize_cam(cam), normalized=True), expected)
    # normalized=True really skips the min-max step: a map inside [0, 1] is scaled as it is
    assert quantize_cam(np.array([[0.2, 0.6]]), normalized=True).tolist() == [[51, 153]]
    assert quantize_cam(np.array([[0.2, 0.6]])).tolist() == [[0, 255]]


def test_check_boxes_is_public_and_keeps_its_private_alias():
    assert boxes_module._check_boxes is check_boxes
    assert check_boxes(torch.tensor([1, 2, 3, 4])).tolist() == [[1, 2, 3, 4]]
    assert check_boxes(np.array([[0.0, 0.0, 2.0, 3.0]])).dtype == np.int64
    assert check_boxes(np.zeros((0, 4), dtype=int)).shape == (0, 4)


def test_inclusive_iou():
    assert box_iou_inclusive([[0, 0, 1, 1]], [[1, 1, 2, 2]]).tolist() == [[1 / 7]]
    assert box_iou_inclusive([[0, 0, 0, 0]], [[0, 0, 0, 0]]).tolist() == [[1.0]]
    assert box_iou_inclusive([[0, 0, 0, 0]], [[2, 2, 3, 3]]).tolist() == [[0.0]]
    assert box_iou_inclusive(np.zeros((0, 4), int), [[0, 0, 1, 1]]).shape == (0, 1)


def test_thresholds_grid():
    np.testing.assert_array_equal(cam_thresholds(0.01), np.arange(0, 1, 0.01))
    assert len(cam_thresholds(0.001)) == 1000


# ---------------------------------------------------------------- randomized: fast path == straightforward


def _reference_best_ious(cam: np.ndarray, gt: np.ndarray, thresholds, multi_contour: bool) -> np.ndarray:
    """Independent straightforward implementation: per threshold, the whole SPEC rule from scratch."""
    cam = np.asarray(cam, dtype=np.float64)
    if np.isnan(cam).any() or cam.min() == cam.max():
        norm = np.zeros_like(cam)
    else:
        norm = cam - cam.min()
        norm = norm / norm.max()
    q = (norm * 255).astype(np.uint8)
    height, width = q.shape
    out = []
    for t in thresholds:
        _, fg = cv2.threshold(q, int(t * np.max(q)), 255, cv2.THRESH_BINARY)
        contours, _ = cv2.findContours(fg, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)
        if len(contours) == 0:
            boxes = [[0, 0, 0, 0]]
        else:
            if not multi_contour:
                contours = [max(contours, key=cv2.contourArea)]
            boxes = []
            for c in contours:
                x, y, w, h = cv2.boundingRect(c)
                boxes.append([x, y, min(x + w, width - 1), min(y + h, height - 1)])
        best = 0.0
        for p in boxes:
            for g in gt:
                iw = max(0, min(p[2], g[2]) - max(p[0], g[0]) + 1)
                ih = max(0, min(p[3], g[3]) - max(p[1], g[1]) + 1)
                inter = iw * ih
                union = (p[2] - p[0] + 1) * (p[3] - p[1] + 1) + (g[2] - g[0] + 1) * (g[3] - g[1] + 1) - inter
                best = max(best, inter / union if union > 0 else 0.0)
        out.append(best)
    return np.array(out)


def _synthetic_cam(kind: str, rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    if kind in ("smooth", "noisy", "plateau"):
        grid = int(rng.choice([7, 14]))
        low = torch.from_numpy(rng.random((1, 1, grid, grid)) ** 2)
        cam = F.interpolate(low, size=size, mode="bilinear", align_corners=False)[0, 0].numpy()
        if kind == "noisy":
            cam = cam + rng.random(size) * rng.uniform(0.2, 1.0)
        if kind == "plateau":
            cam = np.round(cam * rng.integers(2, 6)) * 1.0
        return cam
    if kind == "ring":
        yy, xx = np.mgrid[:h, :w]
        cam = np.zeros(size)
        for _ in range(int(rng.integers(1, 4))):
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            r = rng.uniform(4, min(h, w) / 2)
            d = np.hypot(yy - cy, xx - cx)
            cam += np.exp(-((d - r) ** 2) / rng.uniform(2, 20))
        return cam + 0.05 * rng.random(size)
    if kind == "constant":
        return np.full(size, rng.normal())
    if kind == "spike":
        cam = np.zeros(size)
        cam[rng.integers(0, h), rng.integers(0, w)] = rng.uniform(0.1, 5)
        return cam
    raise AssertionError(kind)


@pytest.fixture(params=["compiled", "opencv"])
def core(request, monkeypatch):
    """Run the test on the compiled one-pass core, then on the per-level OpenCV fallback."""
    if request.param == "compiled":
        if boxes_module._cam_levels is None:  # test_cam_levels.py::test_extension_is_built fails then
            pytest.skip("wsl.metrics._cam_levels is not built")
    else:
        monkeypatch.setattr(boxes_module, "_cam_levels", None)
    return request.param


@pytest.mark.parametrize("kind", ["smooth", "noisy", "ring", "plateau", "constant", "spike"])
@pytest.mark.parametrize("multi_contour", [True, False])
def test_fast_path_equals_straightforward(kind, multi_contour, core):
    rng = np.random.default_rng(zlib.crc32(f"{kind}-{multi_contour}".encode()))
    thresholds = cam_thresholds(0.01)
    counts_fast = np.zeros((3, len(thresholds)), dtype=int)
    counts_ref = np.zeros_like(counts_fast)
    for _ in range(12):
        size = (int(rng.integers(24, 80)), int(rng.integers(24, 80)))
        cam = _synthetic_cam(kind, rng, size)
        k = int(rng.integers(1, 3))
        x0 = rng.integers(0, size[1] // 2, k)
        y0 = rng.integers(0, size[0] // 2, k)
        x1 = rng.integers(size[1] // 2, size[1], k)
        y1 = rng.integers(size[0] // 2, size[0], k)
        gt = np.stack([x0, y0, x1, y1], axis=1)
        fast = best_ious_per_threshold(cam, gt, thresholds, multi_contour)
        ref = _reference_best_ious(cam, gt, thresholds, multi_contour)
        np.testing.assert_array_equal(fast, ref)
        for d, delta in enumerate((30, 50, 70)):
            counts_fast[d] += fast >= delta / 100
            counts_ref[d] += ref >= delta / 100
    np.testing.assert_array_equal(counts_fast, counts_ref)


def test_fast_path_equals_straightforward_fine_grid_realistic_224(core):
    rng = np.random.default_rng(7)
    thresholds = cam_thresholds(0.001)
    for multi_contour in (True, False):
        cam = _synthetic_cam("smooth", rng, (224, 224))
        gt = np.array([[30, 40, 150, 200]])
        np.testing.assert_array_equal(
            best_ious_per_threshold(cam, gt, thresholds, multi_contour),
            _reference_best_ious(cam, gt, thresholds, multi_contour),
        )


@pytest.mark.parametrize("multi_contour", [True, False])
def test_fast_path_equals_straightforward_on_tiny_and_few_valued_maps(multi_contour, core):
    # 1xN, Nx1 and tiny maps, and maps of 2-5 values (plateaus, many ties, holes touching the border).
    rng = np.random.default_rng(11 + multi_contour)
    thresholds = cam_thresholds(0.001)
    for i in range(150):
        size = (int(rng.integers(1, 12)), int(rng.integers(1, 12)))
        cam = rng.integers(0, int(rng.integers(2, 6)), size).astype(float) if i % 2 else rng.random(size)
        gt = np.array([[rng.integers(0, size[1]), rng.integers(0, size[0]), size[1] - 1, size[0] - 1]])
        np.testing.assert_array_equal(
            best_ious_per_threshold(cam, gt, thresholds, multi_contour),
            _reference_best_ious(cam, gt, thresholds, multi_contour),
        )


@pytest.mark.parametrize("interval", [0.01, 0.001])
@pytest.mark.parametrize("first_multi", [False, True])
def test_one_pass_for_both_modes_equals_the_reference(interval, first_multi):
    # The evaluator's flow: the first mode computes both in one pass and keeps the other; the second
    # takes it. Both must equal the straightforward per-threshold reference exactly.
    if boxes_module._cam_levels is None:
        pytest.skip("wsl.metrics._cam_levels is not built")
    rng = np.random.default_rng(int(interval * 1000) + 2 * first_multi)
    thresholds = cam_thresholds(interval)
    maps, gts = [], []
    for i, kind in enumerate(["smooth", "noisy", "ring", "plateau", "constant", "spike"] * 2):
        size = (int(rng.integers(24, 64)), int(rng.integers(24, 64))) if i < 6 else (224, 224)
        maps.append(quantize_cam(_synthetic_cam(kind, rng, size)))
        gts.append(np.array([[size[1] // 4, size[0] // 5, size[1] - 3, size[0] // 2]], dtype=np.int64))
    boxes_module._OTHER_MODE.clear()
    first = list(boxes_module.best_ious_many(maps, gts, thresholds, first_multi, keep_other_mode=True))
    assert len(boxes_module._OTHER_MODE) == sum(int(q.max()) > 0 for q in maps)
    second = list(boxes_module.best_ious_many(maps, gts, thresholds, not first_multi))
    assert len(boxes_module._OTHER_MODE) == 0  # every kept result was taken
    for q, gt, a, b in zip(maps, gts, first, second, strict=True):  # the reference requantises q to q
        np.testing.assert_array_equal(a, _reference_best_ious(q, gt, thresholds, first_multi))
        np.testing.assert_array_equal(b, _reference_best_ious(q, gt, thresholds, not first_multi))


def test_other_mode_memo_is_exact_consumed_and_bounded():
    memo = boxes_module._OtherModeMemo(max_bytes=3 * (64 + 32 + 256 * 8))
    q = np.zeros((8, 8), np.uint8)
    gt = np.array([[0, 0, 3, 3]], np.int64)
    values = np.arange(256, dtype=np.float64)
    memo.put(memo.key(q, gt, True), values)
    assert memo.take(memo.key(q, gt, False)) is None  # the other mode
    assert memo.take(memo.key(q, gt + 1, True)) is None  # other boxes
    assert memo.take(memo.key(q.reshape(4, 16), gt, True)) is None  # same bytes, other shape
    q2 = q.copy()
    q2[7, 7] = 1
    assert memo.take(memo.key(q2, gt, True)) is None  # one pixel differs
    np.testing.assert_array_equal(memo.take(memo.key(q.copy(), gt.copy(), True)), values)
    assert memo.take(memo.key(q, gt, True)) is None and len(memo) == 0  # taken once
    for i in range(10):  # beyond max_bytes the oldest entries go
        memo.put(memo.key(np.full((8, 8), i, np.uint8), gt, True), values)
    assert len(memo) == 3
    assert memo.take(memo.key(np.full((8, 8), 9, np.uint8), gt, True)) is not None
    assert memo.take(memo.key(np.full((8, 8), 0, np.uint8), gt, True)) is None


def test_box_accuracy_keeping_the_other_mode_gives_the_same_scores():
    from wsl.metrics import BoxAccuracy

    rng = np.random.default_rng(9)
    cams = torch.from_numpy(np.stack([_synthetic_cam("smooth", rng, (48, 40)) for _ in range(12)]))
    gts = [torch.tensor([[int(rng.integers(0, 20)), int(rng.integers(0, 24)), 39, 47]]) for _ in range(12)]
    plain = [BoxAccuracy(iou_thresholds=(50,), multi_contour=False), BoxAccuracy()]
    shared = [BoxAccuracy(iou_thresholds=(50,), multi_contour=False, keep_other_mode=True), BoxAccuracy()]
    for metrics in (plain, shared):
        for metric in metrics:
            metric.update(cams, gts)
    for a, b in zip(plain, shared, strict=True):
        for key, value in a.compute().items():
            torch.testing.assert_close(b.compute()[key], value, rtol=0, atol=0)


def test_cam_to_boxes_matches_fast_path_boxes_per_threshold():
    rng = np.random.default_rng(3)
    cam = _synthetic_cam("noisy", rng, (40, 50))
    gt = np.array([[5, 5, 30, 35]])
    for t in (0.0, 0.2, 0.55, 0.9):
        boxes = cam_to_boxes(cam, t, multi_contour=True)
        expected = box_iou_inclusive(boxes, gt).max()
        assert best_ious_per_threshold(cam, gt, [t], True)[0] == expected


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: normalize_cam(np.zeros(5)), "cam must be a 2-D"),
        (lambda: normalize_cam(np.zeros((0, 3))), "H, W >= 1"),
        (lambda: normalize_cam(np.zeros((2, 2), dtype=bool)), "real-valued"),
        (lambda: cam_to_boxes(np.zeros((4, 4)), 1.0), r"thresholds must lie in \[0, 1\)"),
        (lambda: cam_to_boxes(np.zeros((4, 4)), -0.1), r"thresholds must lie in \[0, 1\)"),
        (lambda: best_ious_per_threshold(np.zeros((4, 4)), [[0, 0, 1, 1]], []), "non-empty 1-D"),
        (lambda: best_ious_per_threshold(np.zeros((4, 4)), np.zeros((0, 4), int), [0.5]), "at least one box"),
        (lambda: box_iou_inclusive([[0, 0, 1]], [[0, 0, 1, 1]]), r"boxes_a must be \(K, 4\)"),
        (lambda: box_iou_inclusive([[2, 0, 1, 1]], [[0, 0, 1, 1]]), "x1 >= x0"),
        (lambda: box_iou_inclusive([[-1, 0, 1, 1]], [[0, 0, 1, 1]]), "non-negative"),
        (lambda: box_iou_inclusive([[0, 0, 1, 1]], [[0.5, 0, 1, 1]]), "integer pixel"),
        (lambda: cam_thresholds(0.0), r"cam_curve_interval must be in \(0, 1\)"),
        (lambda: cam_thresholds(1.5), r"cam_curve_interval must be in \(0, 1\)"),
        (lambda: quantize_cam(np.array([[0.0, 2.0]]), normalized=True), r"normalised to \[0, 1\].*max 2.0"),
        (lambda: quantize_cam(np.array([[-0.5, 1.0]]), normalized=True), "min -0.5"),
        (lambda: quantize_cam(np.array([[np.nan, 1.0]]), normalized=True), "when normalized=True"),
        (lambda: check_boxes([[0, 0, 1]], "gt"), r"gt must be \(K, 4\)"),
    ],
)
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_an_extension_without_the_both_modes_call_gives_the_same_numbers(monkeypatch):
    if boxes_module._cam_levels is None:
        pytest.skip("wsl.metrics._cam_levels is not built")

    class OldCore:  # an extension built before best_ious_per_value_both
        best_ious_per_value = staticmethod(boxes_module._cam_levels.best_ious_per_value)

    rng = np.random.default_rng(4)
    q = quantize_cam(_synthetic_cam("ring", rng, (40, 50)))
    gt = np.array([[5, 5, 30, 35]], dtype=np.int64)
    thresholds = cam_thresholds(0.01)
    want = [boxes_module._best_ious_quantized(q, gt, thresholds, m) for m in (False, True)]
    monkeypatch.setattr(boxes_module, "_cam_levels", OldCore)
    boxes_module._OTHER_MODE.clear()
    got = [
        boxes_module._best_ious_quantized(q, gt, thresholds, m, keep_other_mode=True) for m in (False, True)
    ]
    assert len(boxes_module._OTHER_MODE) == 0  # nothing kept: one mode per call
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)
