"""Contact sheet geometry and letterboxing."""

from __future__ import annotations

import numpy as np
import pytest

from wsl.viz import contact_sheet, fit_image


def solid(h: int, w: int, value: int) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


@pytest.mark.parametrize(
    ("n", "ncols", "rows", "cols"), [(1, 8, 1, 1), (5, 4, 2, 4), (8, 8, 1, 8), (9, 3, 3, 3)]
)
def test_grid_geometry(n: int, ncols: int, rows: int, cols: int) -> None:
    th, tw, pad = 10, 14, 3
    images = [solid(th, tw, 10 + i) for i in range(n)]
    sheet = contact_sheet(images, ncols=ncols, pad=pad, background=(255, 255, 255))
    assert sheet.shape == (rows * th + (rows + 1) * pad, cols * tw + (cols + 1) * pad, 3)
    for i in range(n):
        y, x = pad + (i // cols) * (th + pad), pad + (i % cols) * (tw + pad)
        assert (sheet[y : y + th, x : x + tw] == 10 + i).all()
    assert (sheet[:pad] == 255).all() and (sheet[:, :pad] == 255).all()


def test_captions_add_a_strip_under_each_tile() -> None:
    images = [solid(20, 20, 0)] * 3
    bare = contact_sheet(images, ncols=3, pad=2)
    sheet = contact_sheet(images, ncols=3, pad=2, captions=["a", "<b>", "a very long caption text here"])
    strip = sheet.shape[0] - bare.shape[0]
    assert strip > 5 and sheet.shape[1] == bare.shape[1]
    assert (sheet[2:22, 2:22] == 0).all()
    below = sheet[22 : 22 + strip, 2:22]
    assert (below < 128).any()  # text drawn in the strip of tile 0
    # the long caption is cut to the tile width: nothing spills into the right padding
    assert (sheet[22 : 22 + strip, -2:] == 255).all()


def test_letterbox_keeps_aspect() -> None:
    wide = solid(10, 40, 0)
    tile = fit_image(wide, (40, 40), background=(255, 255, 255))
    assert tile.shape == (40, 40, 3)
    dark_rows = np.nonzero((tile < 128).all(axis=(1, 2)))[0]
    assert dark_rows.min() == 15 and dark_rows.max() == 24  # 10 rows, centred
    sheet = contact_sheet([wide, solid(30, 15, 0)], tile_size=(20, 20), pad=0)
    assert sheet.shape == (20, 40, 3)
    assert (sheet[:, :20] < 128).all(axis=2).sum() == 5 * 20
    assert (sheet[:, 20:] < 128).all(axis=2).sum() == 20 * 10


def test_sheet_errors() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        contact_sheet([])
    with pytest.raises(ValueError, match="ncols must be"):
        contact_sheet([solid(2, 2, 0)], ncols=0)
    with pytest.raises(ValueError, match="captions must have one string per image"):
        contact_sheet([solid(2, 2, 0)], captions=["a", "b"])
    with pytest.raises(TypeError, match=r"images\[1\] must be uint8"):
        contact_sheet([solid(2, 2, 0), np.zeros((2, 2, 3))])
