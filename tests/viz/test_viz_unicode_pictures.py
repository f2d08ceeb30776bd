"""Every place a picture has text draws Unicode (issue 31): "Fußball" and "鸟" are not question marks.

Before, these paths went through OpenCV's Hershey font, which turned every non-ASCII character into "?":
each test below draws a name and the name with its non-ASCII characters replaced by "?" and requires
different pixels (identical before). ASCII text keeps about the size the Hershey font gave it.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest

from wsl.viz import add_colorbar, contact_sheet, draw_boxes, put_text
from wsl.viz._utils import text_extent
from wsl.viz.render import caption_strip, render_overlay

NAMES = [("Fußball", "Fu?ball"), ("鸟", "?"), ("Fußball 鸟 0.93", "Fu?ball ? 0.93")]
IMAGE = np.full((200, 240, 3), 128, np.uint8)

DRAWERS: dict[str, Callable[[str], np.ndarray]] = {
    "put_text": lambda text: put_text(IMAGE, text, (5, 5)),
    "put_text_no_background": lambda text: put_text(IMAGE, text, (5, 5), background=None),
    "draw_boxes_labels": lambda text: draw_boxes(IMAGE, [[40, 60, 200, 180]], labels=[text]),
    "caption_strip": lambda text: caption_strip([text, "id"], 200),
    "contact_sheet_caption": lambda text: contact_sheet([IMAGE, IMAGE], captions=[text, "b"]),
    "colorbar_label": lambda text: add_colorbar(IMAGE, label=text),
    "render_overlay_caption": lambda text: render_overlay(IMAGE, np.eye(200, 240), caption=[text]),
}


@pytest.mark.parametrize("where", sorted(DRAWERS))
@pytest.mark.parametrize(("name", "ascii_twin"), NAMES)
def test_a_non_ascii_name_is_drawn_not_as_question_marks(where, name, ascii_twin):
    draw = DRAWERS[where]
    drawn, twin = draw(name), draw(ascii_twin)
    assert drawn.dtype == np.uint8 and drawn.ndim == 3
    assert drawn.shape != twin.shape or not np.array_equal(drawn, twin)


@pytest.mark.parametrize("text", ["dog 0.93", "CAM (normalised)", "000123_a_long_name.jpg"])
@pytest.mark.parametrize("scale", [0.35, 0.4, 0.8])
def test_ascii_text_keeps_about_the_size_of_the_hershey_font(text, scale):
    (hershey_w, hershey_h), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    width, height = text_extent(text, scale)
    assert 0.8 <= width / hershey_w <= 1.25
    assert 0.8 <= height / (hershey_h + baseline) <= 1.4


def test_an_ascii_caption_has_ink_where_the_text_is():
    strip = caption_strip(["dog 0.93"], 100)
    ink = (strip < 128).all(axis=2)
    ys, xs = np.nonzero(ink)
    width, _ = text_extent("dog 0.93", 0.4)
    assert xs.min() <= 6 and width - 8 <= xs.max() <= width + 4  # left-aligned, as wide as the text
