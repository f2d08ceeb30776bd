"""wsl.data.images: the one image reader (issue 35 items 4 and 14).

Expected pixels are computed here from the written rule in float64 (16-bit: ``round(v · 255 / 65535)``;
alpha: ``a·c + (1 − a)·255``), not from the reader's output.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from data_helpers import voc_object, voc_xml
from PIL import Image

from wsl.data import DatasetError, VOCDataset
from wsl.data.base import check_image_header, read_image
from wsl.data.images import UnreadableImage, read_rgb_image, to_rgb
from wsl.data.transforms import build_transform
from wsl.jobs.predict.images import read_rgb

GRAY16 = np.array([[0, 1, 128, 255], [256, 1000, 32896, 65535]], np.uint16)


def _expected_gray16(values: np.ndarray) -> np.ndarray:
    scaled = np.floor(values.astype(np.float64) * 255.0 / 65535.0 + 0.5).astype(np.uint8)
    return np.repeat(scaled[:, :, None], 3, axis=2)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_bomb_png(path: Path, width: int = 20000, height: int = 20000) -> Path:
    """A ~60-byte PNG whose header claims ``width × height`` 8-bit gray pixels (400 million by default)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\0")) + _png_chunk(b"IEND", b"")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


def test_a_16_bit_grayscale_png_is_scaled_not_clipped(tmp_path):
    path = tmp_path / "gray16.png"
    Image.fromarray(GRAY16).save(path)
    assert Image.open(path).mode == "I;16"
    pixels = read_image(path)
    np.testing.assert_array_equal(pixels, _expected_gray16(GRAY16))
    assert (pixels == 255).mean() < 0.2  # convert("RGB") made 7 of 8 pixels white


def test_a_16_bit_image_with_values_up_to_255_is_taken_as_8_bit(tmp_path):
    values = np.array([[0, 17, 255]], np.uint16)
    Image.fromarray(values).save(tmp_path / "low.png")
    np.testing.assert_array_equal(read_image(tmp_path / "low.png")[..., 0], values.astype(np.uint8))


@pytest.mark.parametrize("alpha", [0, 128, 255])
def test_rgba_is_laid_on_white(tmp_path, alpha):
    color = np.array([10, 200, 60], np.float64)
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = color.astype(np.uint8), alpha
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    a = alpha / 255.0
    expected = a * color + (1.0 - a) * 255.0
    got = read_image(tmp_path / "a.png").astype(np.float64)
    assert np.abs(got - expected).max() <= 1.0, (got[0, 0], expected)


def test_a_palette_png_with_a_transparent_entry_is_laid_on_white(tmp_path):
    image = Image.new("P", (3, 2), 1)
    image.putpalette([0, 0, 0, 200, 10, 10] + [0] * 762)
    image.save(tmp_path / "p.png", transparency=1)
    assert read_image(tmp_path / "p.png")[0, 0].tolist() == [255, 255, 255]


def _saved(tmp_path: Path, mode: str) -> Path:
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (5, 7, 3), dtype=np.uint8))
    if mode == "I;16":
        image = Image.fromarray((rng.integers(0, 65536, (5, 7))).astype(np.uint16))
    elif mode == "RGBA":
        image = Image.fromarray(rng.integers(0, 256, (5, 7, 4), dtype=np.uint8), "RGBA")
    elif mode == "LA":
        image = rgb.convert("LA")
    else:
        image = rgb.convert(mode)
    path = tmp_path / f"{mode.replace(';', '_')}{'.jpg' if mode == 'CMYK' else '.png'}"
    image.save(path)
    return path


@pytest.mark.parametrize("mode", ["RGB", "L", "P", "CMYK", "RGBA", "LA", "I;16"])
def test_the_dataset_reader_gives_the_pixels_predict_gives(tmp_path, mode):
    path = _saved(tmp_path, mode)
    np.testing.assert_array_equal(read_image(path), read_rgb(path))


def test_a_dataset_item_holds_the_scaled_16_bit_pixels(tmp_path):
    root = tmp_path / "voc"
    (root / "Annotations").mkdir(parents=True)
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    values = np.tile(np.array([[0, 1000, 32896, 65535]], np.uint16), (3, 10))  # 3 x 40
    Image.fromarray(values).save(root / "JPEGImages" / "a.png")
    (root / "Annotations" / "a.xml").write_text(voc_xml([voc_object("dog", (1, 1, 4, 3))], h=3, w=40))
    (root / "ImageSets" / "Main" / "train.txt").write_text("a\n")
    image = VOCDataset(root, "train", image_size=8)[0]["image"]
    expected = build_transform(8)(torch.from_numpy(_expected_gray16(values)).permute(2, 0, 1).contiguous())
    torch.testing.assert_close(image, expected, rtol=0, atol=0)


def test_exif_orientation_is_applied_only_when_asked(tmp_path):
    stored = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 10
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "r.png", exif=exif)
    pixels, orientation = read_rgb_image(tmp_path / "r.png")
    assert orientation == 6
    np.testing.assert_array_equal(pixels, stored)
    shown, _ = read_rgb_image(tmp_path / "r.png", apply_orientation=True)
    np.testing.assert_array_equal(shown, np.rot90(stored, k=-1))


def test_formats_and_broken_files_say_why(tmp_path):
    Image.new("RGB", (4, 4)).save(tmp_path / "x.bmp")
    (tmp_path / "t.txt").write_text("hello")
    with pytest.raises(UnreadableImage, match=r"BMP images are not read \(JPEG, PNG only\)"):
        read_rgb_image(tmp_path / "x.bmp", formats=("JPEG", "PNG"))
    assert read_rgb_image(tmp_path / "x.bmp")[0].shape == (4, 4, 3)  # every format without formats=
    with pytest.raises(UnreadableImage, match="not an image"):
        read_rgb_image(tmp_path / "t.txt")
    with pytest.raises(FileNotFoundError):
        read_rgb_image(tmp_path / "none.png")


def test_a_decompression_bomb_is_refused_naming_the_file(tmp_path):
    path = write_bomb_png(tmp_path / "bomb.png")
    assert path.stat().st_size < 100
    with pytest.raises(UnreadableImage, match=r"decompression bomb.*400000000 pixels"):
        read_rgb_image(path)
    with pytest.raises(DatasetError, match=r"bomb\.png: image: a decompression bomb.*Fix: re-"):
        read_image(path)
    with pytest.raises(DatasetError, match=r"bomb\.png: image: a decompression bomb"):
        check_image_header(path)


def test_a_decompression_bomb_in_a_dataset_is_skipped_with_skip_bad(tmp_path):
    root = tmp_path / "voc"
    (root / "Annotations").mkdir(parents=True)
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    for name in ("a", "bomb", "c"):
        (root / "Annotations" / f"{name}.xml").write_text(voc_xml([voc_object("dog", (1, 1, 4, 3))]))
        Image.new("RGB", (40, 30)).save(root / "JPEGImages" / f"{name}.jpg")
    write_bomb_png(root / "JPEGImages" / "bomb.jpg")  # read by content, whatever the name
    (root / "ImageSets" / "Main" / "train.txt").write_text("a\nbomb\nc\n")
    with pytest.warns(UserWarning, match=r"skipped 1 bad sample.*bomb\.jpg: image: a decompression bomb"):
        ds = VOCDataset(root, "train", skip_bad=True)
    assert [r.image_id for r in ds.records] == ["a", "c"]
    plain = VOCDataset(root, "train")
    with pytest.raises(DatasetError, match=r"bomb\.jpg: image: a decompression bomb"):
        plain[1]


def test_to_rgb_of_an_image_in_memory():
    assert to_rgb(Image.fromarray(GRAY16))[1, 3].tolist() == [255, 255, 255]
    assert to_rgb(Image.new("LA", (1, 1), (0, 0)))[0, 0].tolist() == [255, 255, 255]
