"""The compiled one-pass core (wsl/metrics/_cam_levels.c) and the geometric facts it is built on.

The core never calls OpenCV: it rebuilds what ``cv2.findContours(RETR_TREE)`` would return from connected
components. These tests pin each fact against OpenCV itself, then the core's output by hand.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from wsl.metrics import boxes as boxes_module

_cam_levels = boxes_module._cam_levels
needs_core = pytest.mark.skipif(_cam_levels is None, reason="wsl.metrics._cam_levels is not built")


def test_extension_is_built():
    assert _cam_levels is not None, (
        "wsl.metrics._cam_levels is not built: install a C compiler (e.g. apt-get install gcc) and rerun "
        "pip install -e . (the metrics still work without it, through the slower OpenCV path)"
    )


def _per_value(q: np.ndarray, gt, multi: bool) -> np.ndarray:
    q = np.ascontiguousarray(q, dtype=np.uint8)
    raw = _cam_levels.best_ious_per_value(q, *q.shape, np.ascontiguousarray(gt, dtype=np.int64), multi)
    return np.frombuffer(raw, dtype=np.float64)


def _fill(component: np.ndarray) -> np.ndarray:
    """The component plus everything it encloses: what the 4-connected flood from outside misses."""
    pad = np.pad(~component, 1, constant_values=True).astype(np.uint8)
    _, labels = cv2.connectedComponents(pad, connectivity=4)
    return (labels != labels[0, 0])[1:-1, 1:-1]


def _window_area(region: np.ndarray) -> float:
    """Sum over 2x2 windows of max(0, k - 2) / 2, k = region pixels in the window."""
    r = region.astype(np.int64)
    k = r[:-1, :-1] + r[1:, :-1] + r[:-1, 1:] + r[1:, 1:]
    return float(np.maximum(k - 2, 0).sum()) / 2


def _random_masks(rng: np.random.Generator, count: int):
    for i in range(count):
        h, w = (int(v) for v in rng.integers(2, 18, 2))
        if i % 3 == 0:  # blobby
            yield cv2.resize(rng.random((4, 4)), (w, h)) > 0.5
        else:  # salt and pepper: holes, pinches, diagonal links
            yield rng.random((h, w)) < rng.uniform(0.3, 0.8)


# ---------------------------------------------------------------- the facts, checked against OpenCV


@pytest.mark.parametrize(
    ("pixels", "area"),
    [
        ([(0, 0)], 0.0),  # one pixel
        ([(0, 0), (0, 1), (1, 0), (1, 1)], 1.0),  # 2x2 block
        ([(0, 0), (0, 1), (1, 0)], 0.5),  # L-tromino: a half window
        ([(0, 0), (1, 1), (2, 2)], 0.0),  # diagonal line
        ([(y, x) for y in range(3) for x in range(3) if (y, x) != (1, 1)], 4.0),  # ring: the hole counts
    ],
)
def test_contour_area_is_the_window_sum_over_the_filled_component(pixels, area):
    mask = np.zeros((5, 5), dtype=bool)
    for y, x in pixels:
        mask[y + 1, x + 1] = True
    (outer,) = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0]
    assert cv2.contourArea(outer) == area == _window_area(_fill(mask))


def test_contour_area_rule_on_random_masks():
    rng = np.random.default_rng(0)
    for mask in _random_masks(rng, 400):
        outers = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0]
        _, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
        for contour in outers:
            x, y = contour[0, 0]
            assert cv2.contourArea(contour) == _window_area(_fill(labels == labels[y, x]))


def test_retr_tree_boxes_are_components_and_grown_holes():
    rng = np.random.default_rng(1)
    for mask in _random_masks(rng, 400):
        h, w = mask.shape
        contours = cv2.findContours(mask.astype(np.uint8), cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
        expected = sorted(
            (x, y, min(x + cw, w - 1), min(y + ch, h - 1)) for x, y, cw, ch in map(cv2.boundingRect, contours)
        )
        ours = []
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
        for x, y, cw, ch, _ in stats[1:count]:
            ours.append((x, y, min(x + cw, w - 1), min(y + ch, h - 1)))
        pad = np.pad(~mask, 1, constant_values=True).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(pad, connectivity=4)
        for label in range(1, count):
            if label == labels[0, 0]:
                continue  # the background around the image is no hole
            x, y, cw, ch, _ = stats[label]
            x0, y0, x1, y1 = x - 2, y - 2, x + cw - 1, y + ch - 1  # unpadded, grown by one
            ours.append((x0, y0, min(x1 + 1, w - 1), min(y1 + 1, h - 1)))
        assert sorted(ours) == expected


def test_largest_contour_ties_go_to_the_component_whose_first_pixel_comes_last():
    rng = np.random.default_rng(2)
    for mask in _random_masks(rng, 400):
        contours = cv2.findContours(mask.astype(np.uint8), cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
        if not contours:
            continue
        expected = cv2.boundingRect(max(contours, key=cv2.contourArea))
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
        keys = []
        for label in range(1, count):
            component = labels == label
            keys.append((_window_area(_fill(component)), int(np.flatnonzero(component)[0]), label))
        _, _, label = max(keys)
        assert tuple(stats[label, :4]) == expected


# ---------------------------------------------------------------- the core, by hand


@needs_core
def test_per_value_output_on_a_ring_with_a_deeper_centre():
    # q: a 7x7 square of 200 holding a 3x3 square of 100 holding a centre pixel of 0.
    q = np.zeros((9, 9), dtype=np.uint8)
    q[1:8, 1:8] = 200
    q[3:6, 3:6] = 100
    q[4, 4] = 0
    # v in 101..200: a thick ring, box [1, 1, 8, 8] (pixels 1..7, one wider), and its 3x3 hole,
    # box [2, 2, 7, 7] (3..5 grown by one to 2..6, one wider).
    # v in 1..100: the same outer box and the centre hole, box [3, 3, 6, 6].
    out = _per_value(q, [[2, 2, 7, 7]], True)
    assert out[200] == out[101] == 1.0
    assert out[100] == out[1] == 36 / 64  # the outer box beats the centre hole's 16 / 36
    out = _per_value(q, [[3, 3, 6, 6]], True)
    assert out[200] == out[101] == 16 / 36
    assert out[100] == out[1] == 1.0
    out = _per_value(q, [[1, 1, 8, 8]], False)  # one contour: the outer border at every level
    assert out[200] == out[1] == 1.0
    assert not out[201:].any() and out[0] == 0.0  # values above max(q), and 0, are not levels


@needs_core
def test_single_contour_picks_the_larger_filled_area_over_the_larger_pixel_count():
    q = np.zeros((12, 20), dtype=np.uint8)
    q[1:10, 1:10] = 255  # 9x9 ring: 32 pixels, filled contourArea 64
    q[2:9, 2:9] = 0
    q[1:4, 12:20] = 255  # 3x8 bar: 24 pixels, contourArea 14
    q[5:10, 12:17] = 255  # 5x5 block: 25 pixels, contourArea 16
    out = _per_value(q, [[1, 1, 10, 10]], False)
    assert out[255] == 1.0


@needs_core
def test_core_rejects_bad_buffers():
    with pytest.raises(ValueError, match="height \\* width"):
        _cam_levels.best_ious_per_value(b"\x00" * 5, 2, 3, np.zeros((1, 4), np.int64), True)
    with pytest.raises(ValueError, match="int64"):
        _cam_levels.best_ious_per_value(b"\x00" * 6, 2, 3, b"", True)


# ---------------------------------------------------------------- both contour modes in one pass


def _per_value_both(q: np.ndarray, gt) -> tuple[np.ndarray, np.ndarray]:
    q = np.ascontiguousarray(q, dtype=np.uint8)
    raw = _cam_levels.best_ious_per_value_both(q, *q.shape, np.ascontiguousarray(gt, dtype=np.int64))
    both = np.frombuffer(raw, dtype=np.float64)
    assert both.shape == (512,)
    return both[:256], both[256:]


@needs_core
def test_both_modes_in_one_pass_on_the_hand_cases():
    q = np.zeros((9, 9), dtype=np.uint8)  # the ring with a deeper centre, above
    q[1:8, 1:8] = 200
    q[3:6, 3:6] = 100
    q[4, 4] = 0
    single, multi = _per_value_both(q, [[3, 3, 6, 6]])
    assert multi[200] == multi[101] == 16 / 36 and multi[100] == multi[1] == 1.0  # the centre hole
    assert single[200] == single[1] == 16 / 64  # the outer box [1, 1, 8, 8] only
    assert not single[201:].any() and not multi[201:].any() and single[0] == multi[0] == 0.0


@needs_core
def test_both_modes_in_one_pass_equal_one_mode_at_a_time():
    # Salt-and-pepper and blobby quantised maps (holes, pinches, ties), 1 to 3 GT boxes, tiny to 64 px.
    rng = np.random.default_rng(5)
    for i in range(300):
        h, w = (int(v) for v in rng.integers(1, 65 if i % 4 == 0 else 18, 2))
        levels = int(rng.choice([2, 3, 6, 256]))
        if i % 3 == 0:
            q = cv2.resize(rng.random((4, 4)), (w, h)) * (levels - 1)
        else:
            q = rng.integers(0, levels, (h, w))
        q = q.astype(np.uint8)
        k = int(rng.integers(1, 4))
        x0, y0 = rng.integers(0, w, k), rng.integers(0, h, k)
        gt = np.stack([x0, y0, rng.integers(x0, w), rng.integers(y0, h)], axis=1)
        single, multi = _per_value_both(q, gt)
        np.testing.assert_array_equal(single, _per_value(q, gt, False))
        np.testing.assert_array_equal(multi, _per_value(q, gt, True))


@needs_core
def test_both_modes_core_rejects_bad_buffers():
    with pytest.raises(ValueError, match="height \\* width"):
        _cam_levels.best_ious_per_value_both(b"\x00" * 5, 2, 3, np.zeros((1, 4), np.int64))
    with pytest.raises(ValueError, match="int64"):
        _cam_levels.best_ious_per_value_both(b"\x00" * 6, 2, 3, b"")
