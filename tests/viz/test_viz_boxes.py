"""Inclusive box drawing and text."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wsl.viz import GT_COLOR, PRED_COLOR, draw_boxes, put_text


def painted(out: np.ndarray, color: tuple[int, int, int]) -> np.ndarray:
    return (out == np.array(color, np.uint8)).all(axis=2)


def test_thickness_one_is_pixel_exact_inclusive() -> None:
    image = np.zeros((20, 30, 3), np.uint8)
    x0, y0, x1, y1 = 4, 3, 17, 12
    out = draw_boxes(image, np.array([[x0, y0, x1, y1]]), color=(255, 0, 0), thickness=1)
    expected = np.zeros((20, 30), bool)
    expected[y0, x0 : x1 + 1] = expected[y1, x0 : x1 + 1] = True
    expected[y0 : y1 + 1, x0] = expected[y0 : y1 + 1, x1] = True
    assert (painted(out, (255, 0, 0)) == expected).all()
    # just outside and just inside stay untouched
    assert not out[y0 - 1, x0 : x1 + 1].any() and not out[y1 + 1, x0 : x1 + 1].any()
    assert not out[y0 : y1 + 1, x0 - 1].any() and not out[y0 : y1 + 1, x1 + 1].any()
    assert not out[y0 + 1 : y1, x0 + 1 : x1].any()
    assert not image.any()  # input not modified


@pytest.mark.parametrize("thickness", [2, 3, 50])
def test_thick_boxes_grow_inwards(thickness: int) -> None:
    image = np.zeros((20, 30, 3), np.uint8)
    x0, y0, x1, y1 = 4, 3, 17, 12
    out = draw_boxes(image, torch.tensor([[x0, y0, x1, y1]]), color=GT_COLOR, thickness=thickness)
    mask = painted(out, GT_COLOR)
    ys, xs = np.nonzero(mask)
    assert (xs.min(), ys.min(), xs.max(), ys.max()) == (x0, y0, x1, y1)
    t = min(thickness, 7)
    assert mask[y0 : y0 + t, x0 : x1 + 1].all() and mask[y1 - t + 1 : y1 + 1, x0 : x1 + 1].all()
    assert mask[y0 : y1 + 1, x0 : x0 + t].all() and mask[y0 : y1 + 1, x1 - t + 1 : x1 + 1].all()
    if y1 - y0 + 1 > 2 * t and x1 - x0 + 1 > 2 * t:
        assert not mask[y0 + t : y1 - t + 1, x0 + t : x1 - t + 1].any()


def test_single_pixel_and_clipped_boxes() -> None:
    image = np.zeros((10, 10, 3), np.uint8)
    out = draw_boxes(image, [[0, 0, 0, 0], [7, 7, 15, 15]], color=[(1, 2, 3), (9, 9, 9)], thickness=1)
    assert painted(out, (1, 2, 3)).sum() == 1 and out[0, 0].tolist() == [1, 2, 3]
    mask = painted(out, (9, 9, 9))  # only the visible top and left edges
    assert mask[7, 7:].all() and mask[7:, 7].all() and mask.sum() == 5
    assert draw_boxes(image, np.zeros((0, 4), np.int64)).tolist() == image.tolist()


def test_labels_are_drawn_near_the_box() -> None:
    image = np.zeros((60, 80, 3), np.uint8)
    out = draw_boxes(image, [[30, 30, 70, 55]], color=PRED_COLOR, thickness=1, labels=["dog"])
    region = out[18:30, 28:60].astype(int)  # glyphs above the box, anti-aliased TrueType: near the colour
    assert (np.abs(region - np.array(PRED_COLOR)).max(axis=2) <= 8).any()


def test_draw_boxes_errors() -> None:
    image = np.zeros((10, 10, 3), np.uint8)
    with pytest.raises(ValueError, match=r"boxes must be a \(K, 4\)"):
        draw_boxes(image, [[1, 2, 3]])
    with pytest.raises(ValueError, match="x1 >= x0"):
        draw_boxes(image, [[5, 2, 3, 4]])
    with pytest.raises(ValueError, match="thickness must be an int"):
        draw_boxes(image, [[1, 2, 3, 4]], thickness=0)
    with pytest.raises(ValueError, match="one per box"):
        draw_boxes(image, [[1, 2, 3, 4]], color=[(1, 2, 3), (4, 5, 6)])
    with pytest.raises(ValueError, match="labels must have one string per box"):
        draw_boxes(image, [[1, 2, 3, 4]], labels=["a", "b"])
    with pytest.raises(ValueError, match="0..255"):
        draw_boxes(image, [[1, 2, 3, 4]], color=(300, 0, 0))


def test_put_text_has_dark_background_and_stays_inside() -> None:
    image = np.full((40, 100, 3), 255, np.uint8)
    out = put_text(image, "héllo <b>", (95, 35), color=(255, 255, 0))
    assert out.shape == image.shape and (image == 255).all()
    changed = (out != 255).any(axis=2)
    ys, xs = np.nonzero(changed)
    assert xs.max() == 99 and ys.max() == 39  # pushed back inside the image at the corner
    assert (out[changed] == 0).all(axis=1).mean() > 0.5  # mostly the dark box
    assert painted(out, (255, 255, 0)).any()
