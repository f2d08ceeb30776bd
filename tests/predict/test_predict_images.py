"""wsl.jobs.predict.images: which files a path names, and how a file becomes RGB pixels."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from wsl.jobs.predict.images import UnreadableImage, find_images, read_rgb


def test_files_folders_and_globs_are_listed_once_in_order(tmp_path):
    for name in ("b.png", "a.jpg", ".hidden.png"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.png").write_bytes(b"x")
    files, problems = find_images([tmp_path, tmp_path / "b.png", str(tmp_path / "sub" / "*.png")])
    assert [f.name for f in files] == ["a.jpg", "b.png", "c.png"]
    assert problems == []
    files, problems = find_images([str(tmp_path / "none*.jpg"), tmp_path / "missing.jpg", tmp_path / "sub"])
    assert [f.name for f in files] == ["c.png"]
    assert problems == [
        f"{tmp_path / 'none*.jpg'}: the pattern matches no file",
        f"{tmp_path / 'missing.jpg'}: no such file or folder",
    ]


def test_exif_orientation_is_applied(tmp_path):
    stored = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 10
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90° clockwise
    Image.fromarray(stored).save(tmp_path / "r.png", exif=exif)
    np.testing.assert_array_equal(read_rgb(tmp_path / "r.png"), np.rot90(stored, k=-1))


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("L", (100, 100, 100)),
        ("CMYK", None),
        ("RGBA", (255, 255, 255)),
        ("I;16", (128, 128, 128)),
        ("P", None),
    ],
)
def test_every_mode_becomes_rgb(tmp_path, mode, expected):
    if mode == "RGBA":
        image = Image.new("RGBA", (4, 3), (10, 20, 30, 0))  # fully transparent: white
    elif mode == "I;16":
        image = Image.fromarray(np.full((3, 4), 32896, np.uint16))
    else:
        image = Image.new("RGB", (4, 3), (100, 100, 100)).convert(mode)
    suffix = ".jpg" if mode == "CMYK" else ".png"
    image.save(tmp_path / f"x{suffix}")
    pixels = read_rgb(tmp_path / f"x{suffix}")
    assert pixels.shape == (3, 4, 3) and pixels.dtype == np.uint8
    if expected is not None:
        assert tuple(pixels[1, 1]) == expected


def test_other_formats_and_broken_files_say_why(tmp_path):
    Image.new("RGB", (4, 4)).save(tmp_path / "x.bmp")
    (tmp_path / "t.txt").write_text("hello")
    Image.new("RGB", (64, 64)).save(tmp_path / "full.jpg")
    (tmp_path / "cut.jpg").write_bytes((tmp_path / "full.jpg").read_bytes()[:150])
    with pytest.raises(UnreadableImage, match="BMP images are not read"):
        read_rgb(tmp_path / "x.bmp")
    with pytest.raises(UnreadableImage, match="not an image"):
        read_rgb(tmp_path / "t.txt")
    with pytest.raises(UnreadableImage, match="cannot be decoded"):
        read_rgb(tmp_path / "cut.jpg")
