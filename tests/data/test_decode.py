"""wsl.data.decode: every decoder gives read_image's pixels exactly, or read_image's error."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from wsl.data import DatasetError
from wsl.data.base import read_image
from wsl.data.decode import DECODERS, decode_image, get_decoder

NAMES = sorted(DECODERS)


def _noise(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("decoder", NAMES)
@pytest.mark.parametrize("subsampling", [0, 1, 2])  # 4:4:4, 4:2:2, 4:2:0
def test_colour_jpeg_pixels_equal_read_image(tmp_path, decoder, subsampling):
    path = tmp_path / "a.jpg"
    Image.fromarray(_noise(37, 53)).save(path, quality=87, subsampling=subsampling)
    want = read_image(path)
    got = decode_image(path, decoder)
    assert got.dtype == np.uint8 and got.shape == (37, 53, 3)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("decoder", NAMES)
@pytest.mark.parametrize(
    ("mode", "suffix"), [("L", ".jpg"), ("CMYK", ".jpg"), ("RGB", ".png"), ("P", ".png"), ("RGBA", ".png")]
)
def test_other_files_fall_back_to_the_same_pixels(tmp_path, decoder, mode, suffix):
    path = tmp_path / f"a{suffix}"
    Image.fromarray(_noise(20, 30, 1)).convert(mode).save(path)
    np.testing.assert_array_equal(decode_image(path, decoder), read_image(path))


@pytest.mark.parametrize("decoder", NAMES)
def test_exif_orientation_is_not_applied(tmp_path, decoder):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.fromarray(_noise(20, 30, 2)).save(path, quality=90, exif=exif)
    got = decode_image(path, decoder)
    assert got.shape == (20, 30, 3)  # the stored grid, as read_image
    np.testing.assert_array_equal(got, read_image(path))


@pytest.mark.parametrize("decoder", NAMES)
def test_missing_and_truncated_files_raise_read_images_error(tmp_path, decoder):
    with pytest.raises(DatasetError, match="missing.jpg"):
        decode_image(tmp_path / "missing.jpg", decoder)
    path = tmp_path / "cut.jpg"
    Image.fromarray(_noise(40, 40, 3)).save(path, quality=90)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DatasetError, match="cut.jpg"):
        decode_image(path, decoder)


def test_unknown_decoder_is_a_value_error():
    with pytest.raises(ValueError, match=r"decoder: got 'nvjpeg'; expected one of \['opencv', 'pil'"):
        get_decoder("nvjpeg")
    with pytest.raises(ValueError, match="decoder: got None"):
        decode_image("x.jpg", None)  # type: ignore[arg-type]
