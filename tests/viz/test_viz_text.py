"""wsl.viz.text: Unicode class names drawn with real glyphs, not question marks."""

from __future__ import annotations

import numpy as np
import pytest

from wsl.viz import text as viz_text
from wsl.viz.text import _charmap, draw_text, font_paths, font_runs, text_size

#: A private-use code point that no font maps: what a missing glyph looks like in a font.
MISSING = "\U000f0000"


def drawn(text: str, size: int = 24) -> np.ndarray:
    image = np.zeros((48, 240, 3), np.uint8)
    return draw_text(image, text, (4, 4), size=size, color=(255, 255, 255))


def cjk_font() -> str | None:
    return next((p for p in font_paths() if ord("鸟") in _charmap(p)), None)


def test_fussball_is_drawn_with_a_real_eszett_not_a_question_mark():
    first = font_paths()[0]
    assert ord("ß") in _charmap(first)  # matplotlib's DejaVu Sans, always there
    assert font_runs("Fußball") == [(first, "Fußball")]
    eszett, question = drawn("Fußball"), drawn("Fu?ball")
    assert eszett.any() and not np.array_equal(eszett, question)
    assert not np.array_equal(drawn("ß"), drawn(MISSING))


def test_a_chinese_name_differs_from_the_question_mark_rendering():
    bird, question = drawn("鸟"), drawn("?")
    assert bird.any() and not np.array_equal(bird, question)


def test_a_chinese_name_is_drawn_with_a_font_that_has_the_glyph():
    path = cjk_font()
    if path is None:
        pytest.skip("no CJK font installed (apt install fonts-noto-cjk or fonts-wqy-zenhei, or set WSL_FONT)")
    runs = font_runs("Fußball 鸟")
    assert runs[0][1] == "Fußball " and runs[1] == (path, "鸟")
    bird = drawn("鸟")
    assert not np.array_equal(bird, drawn(MISSING)) and not np.array_equal(bird, drawn("?"))
    assert bird.sum() > drawn("?").sum()  # the bird has more ink than a question mark


def test_characters_go_to_the_first_font_that_has_them(tmp_path):
    paths = font_paths()
    runs = font_runs("a" + MISSING + "b", paths)
    assert runs == [(paths[0], "a" + MISSING + "b")]  # no font has it: the first font's missing-glyph box
    assert font_runs("", paths) == [] and font_runs("ab", []) == [(None, "ab")]


def test_draw_text_changes_the_image_in_place_inside_the_text_box():
    image = np.zeros((40, 200, 3), np.uint8)
    out = draw_text(image, "Fußball", (10, 5), size=20, color=(0, 255, 0), background=(0, 0, 255))
    assert out is image
    width, height = text_size("Fußball", 20)
    ys, xs = np.nonzero(image.any(axis=2))
    assert (xs.min(), ys.min(), xs.max(), ys.max()) == (10, 5, 10 + width - 1, 5 + height - 1)
    assert image[..., 1].any() and (image[..., 0] == 0).all()  # green text on a blue box, no red


def test_text_size_grows_with_the_text():
    assert text_size("Fuß", 20)[0] < text_size("Fußball", 20)[0]
    assert text_size("Fuß", 20)[1] < text_size("Fuß", 40)[1]


def test_without_freetype_ascii_goes_through_hershey_and_the_rest_becomes_question_marks(monkeypatch):
    monkeypatch.setattr(viz_text, "_freetype", lambda: False)
    assert drawn("car").any()
    assert np.array_equal(drawn("Fußball"), drawn("Fu?ball"))


@pytest.mark.parametrize("image", [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32)])
def test_a_non_rgb_uint8_image_is_refused(image):
    with pytest.raises(ValueError, match=r"image: got .*expected an \(H, W, 3\) uint8 RGB array"):
        draw_text(image, "x", (0, 0))


def test_wsl_font_comes_first(monkeypatch):
    other = font_paths()[-1]
    monkeypatch.setenv("WSL_FONT", other)
    assert font_paths()[0] == other
