"""Picture boxes from the pipeline's quantised maps: the float CAM's boxes, checked by hand and at scale."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from wsl.cam import CamBatch
from wsl.metrics.boxes import cam_to_boxes, quantized_to_boxes
from wsl.metrics.normalize import quantize_cam
from wsl.viz.render import CamPanel, PanelStyle

# raw map, lo = 0, hi = 4: normalised 2 → 0.5, 4 → 1, 1 → 0.25; q = trunc(255 x) → 127, 255, 63
RAW = np.array(
    [
        [0, 0, 0, 0, 0, 0, 0],
        [0, 2, 2, 0, 0, 0, 0],
        [0, 2, 4, 0, 0, 1, 0],
        [0, 0, 0, 0, 0, 1, 0],
        [0, 0, 0, 0, 0, 0, 0],
    ],
    dtype=np.float32,
)
# t → (largest contour's box, every contour's box), boxes (x, y, min(x + w, W − 1), min(y + h, H − 1))
HAND_BOXES = {
    0.2: ([[1, 1, 3, 3]], [[1, 1, 3, 3], [5, 2, 6, 4]]),  # level 51: the 2×2 blob and the 1×2 bar
    0.3: ([[1, 1, 3, 3]], [[1, 1, 3, 3]]),  # level 76: the blob (127, 255)
    0.7: ([[2, 2, 3, 3]], [[2, 2, 3, 3]]),  # level 178: the one 255 pixel
}


def one_map_batch(raw: np.ndarray, frame: str = "original") -> CamBatch:
    """The CamBatch of one image with one class whose class map is ``raw`` at the image's size."""
    maps = torch.from_numpy(raw)[None, None]
    return CamBatch.from_maps(lambda i, c: maps[i, c], [raw.shape], [[0]], frame=frame)


def reference_quantized(raw: np.ndarray) -> np.ndarray:
    """q = trunc(255 (x − lo) / (hi − lo)) per pixel in Python floats (float64), 0 for a constant map or
    one holding a NaN."""
    values = [float(v) for v in raw.ravel()]
    lo, hi = min(values), max(values)
    if hi == lo or any(math.isnan(v) for v in values):
        return np.zeros(raw.shape, np.uint8)
    return np.array([math.trunc(255 * ((v - lo) / (hi - lo))) for v in values], np.uint8).reshape(raw.shape)


def test_the_pipeline_quantised_map_is_the_definition_on_a_hand_map() -> None:
    cams = one_map_batch(RAW)
    expected = reference_quantized(RAW)
    assert sorted(set(expected.ravel().tolist())) == [0, 63, 127, 255]
    np.testing.assert_array_equal(cams.quantized[0].numpy(), expected)


@pytest.mark.parametrize("threshold", sorted(HAND_BOXES))
def test_boxes_of_the_quantised_map_are_the_hand_boxes_and_the_float_ones(threshold: float) -> None:
    cams = one_map_batch(RAW)
    q, cam = cams.quantized[0], cams.cams[0].numpy()
    largest, every = HAND_BOXES[threshold]
    for multi, expected in ((False, largest), (True, every)):
        from_q = quantized_to_boxes(q, threshold, multi_contour=multi)
        assert sorted(from_q.tolist()) == expected
        np.testing.assert_array_equal(from_q, cam_to_boxes(cam, threshold, multi_contour=multi))
        np.testing.assert_array_equal(from_q, cam_to_boxes(RAW, threshold, multi_contour=multi))


def random_maps(count: int) -> list[np.ndarray]:
    """float32 maps of many kinds: uniform, plateaus (few levels: ties at the cut levels), extreme scales,
    offsets that leave a tiny relative range, a constant map and a NaN map."""
    rng = np.random.default_rng(0)
    maps: list[np.ndarray] = []
    for k in range(count):
        h, w = int(rng.integers(3, 20)), int(rng.integers(3, 20))
        base = rng.random((h, w))
        kind = k % 5
        if kind == 1:
            base = np.floor(base * int(rng.integers(2, 7)))
        elif kind == 2:
            base = base * 10.0 ** float(rng.uniform(-30, 30))
        elif kind == 3:
            base = 1000.0 + base * 1e-3
        elif kind == 4:
            base = rng.normal(size=(h, w)) * 3 - 7
        maps.append(base.astype(np.float32))
    maps.append(np.full((6, 9), 2.5, np.float32))
    nan = np.ones((5, 5), np.float32)
    nan[2, 3] = np.nan
    maps.append(nan)
    return maps


@pytest.mark.parametrize("frame", ["original", "wsolevaluation"])
def test_quantised_boxes_equal_the_float_boxes_on_random_maps_in_both_frames(frame: str) -> None:
    """Normalising a normalised map is the identity (min 0 and max 1 exactly), so re-quantising the
    pipeline's float CAM gives its quantised map bit for bit, hence the same boxes at every threshold."""
    thresholds = np.arange(0, 1, 0.05)
    for index, raw in enumerate(random_maps(25 if frame == "original" else 6)):
        cams = one_map_batch(raw, frame)
        q, cam = cams.quantized[0].numpy(), cams.cams[0].numpy()
        np.testing.assert_array_equal(q, quantize_cam(cam), err_msg=f"map {index}")
        if frame == "original":
            np.testing.assert_array_equal(q, reference_quantized(raw), err_msg=f"map {index}")
        for t in thresholds:
            for multi in (False, True):
                np.testing.assert_array_equal(
                    quantized_to_boxes(q, float(t), multi),
                    cam_to_boxes(cam, float(t), multi),
                    err_msg=f"map {index}, threshold {t}, multi_contour {multi}",
                )


def test_the_panel_boxes_come_from_the_quantised_map_it_is_given() -> None:
    cam = one_map_batch(RAW).cams[0].numpy()
    image = np.zeros((*RAW.shape, 3), np.uint8)
    style = PanelStyle(0.3)
    own = CamPanel.draw(image, cam, None, "a 0.50", "img", style)
    assert own.pred_boxes.tolist() == [[1, 1, 3, 3]] and own.iou is None
    other = np.zeros(RAW.shape, np.uint8)
    other[3:5, 4:6] = 255  # a map that is not cam's: the boxes must follow it
    given = CamPanel.draw(image, cam, np.array([[4, 3, 6, 4]]), "a 0.50", "img", style, other)
    assert given.pred_boxes.tolist() == [[4, 3, 6, 4]] and given.iou == 1.0
    same = CamPanel.draw(image, cam, None, "a 0.50", "img", style, quantize_cam(cam))
    np.testing.assert_array_equal(same.picture, own.picture)


def test_quantized_to_boxes_refuses_a_float_map_and_names_the_fix() -> None:
    with pytest.raises(ValueError, match=r"uint8.*got dtype float64.*cam_to_boxes"):
        quantized_to_boxes(np.zeros((4, 4)), 0.5)
    with pytest.raises(ValueError, match=r"2-D uint8.*shape \(1, 4, 4\)"):
        quantized_to_boxes(np.zeros((1, 4, 4), np.uint8), 0.5)
    assert quantized_to_boxes(np.zeros((4, 4), np.uint8), 0.5).tolist() == [[0, 0, 0, 0]]
