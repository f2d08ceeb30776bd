"""wsl.data.decode: every decoder gives read_image's pixels exactly, or read_image's error; and the default
reader's torchvision path for colour JPEGs gives PIL's pixels (wsl.data.images)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from wsl.data import DatasetError
from wsl.data import images as images_module
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


# ---------------------------------------------------------------- the default reader's fast JPEG path


def _pil_only(path):
    return images_module.read_rgb_image(path, fast_jpeg=False)


def test_fast_path_is_on_and_used_for_colour_jpegs_only(tmp_path, monkeypatch):
    assert images_module._fast_jpeg_decoder() is not None, "torchvision's decoder failed the probe image"
    calls = []
    real = images_module._fast_jpeg_pixels

    def spy(path, image):
        out = real(path, image)
        calls.append((image.mode, out is not None))
        return out

    monkeypatch.setattr(images_module, "_fast_jpeg_pixels", spy)
    Image.fromarray(_noise(21, 34, 4)).save(tmp_path / "c.jpg", quality=90)
    Image.fromarray(_noise(21, 34, 4)).convert("L").save(tmp_path / "g.jpg", quality=90)
    Image.fromarray(_noise(21, 34, 4)).save(tmp_path / "c.png")
    for name in ("c.jpg", "g.jpg", "c.png"):
        read_image(tmp_path / name)
    assert calls == [("RGB", True), ("L", False)]  # PNG never reaches it


@pytest.mark.parametrize("progressive", [False, True])
def test_default_reader_equals_pil_alone_on_standins(tmp_path, progressive):
    # Noise + shapes (bench/standin.py's content) at odd sizes, every subsampling, several qualities.
    rng = np.random.default_rng(progressive)
    for k in range(24):
        h, w = (int(v) for v in rng.integers(9, 140, 2))
        path = tmp_path / f"{k}.jpg"
        Image.fromarray(_noise(h, w, k)).save(
            path, quality=int(rng.integers(50, 100)), subsampling=k % 3, progressive=progressive
        )
        pixels, orientation = images_module.read_rgb_image(path)
        want, want_orientation = _pil_only(path)
        assert orientation == want_orientation == 1
        np.testing.assert_array_equal(pixels, want)


def test_default_reader_on_corrupt_jpegs_gives_pils_pixels_or_pils_error(tmp_path):
    # Bytes overwritten inside the scan, end marker kept: torchvision refuses what PIL refuses (then PIL
    # raises as before), and where both decode the pixels are equal.
    rng = np.random.default_rng(3)
    outcomes = set()
    for k in range(60):
        path = tmp_path / f"{k}.jpg"
        Image.fromarray(_noise(48, 64, k)).save(path, quality=90, progressive=k % 4 == 0)
        data = bytearray(path.read_bytes())
        for _ in range(int(rng.integers(1, 10))):
            data[int(rng.integers(len(data) // 4, len(data) - 4))] = int(rng.integers(0, 256))
        path.write_bytes(bytes(data))
        try:
            want = _pil_only(path)[0]
        except images_module.UnreadableImage:
            with pytest.raises(DatasetError, match=f"{k}.jpg"):
                read_image(path)
            outcomes.add("error")
            continue
        np.testing.assert_array_equal(read_image(path), want)
        outcomes.add("pixels")
    assert outcomes == {"error", "pixels"}  # both kinds were exercised


def test_rotated_jpeg_shown_upright_goes_through_pil(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(_noise(20, 30, 2)).save(path, quality=90, exif=exif)
    shown, orientation = images_module.read_rgb_image(path, apply_orientation=True)
    assert orientation == 6 and shown.shape == (30, 20, 3)
    np.testing.assert_array_equal(shown, images_module.read_rgb_image(path, True, fast_jpeg=False)[0])


def test_environment_turns_the_fast_path_off(monkeypatch):
    images_module._fast_jpeg_decoder.cache_clear()
    monkeypatch.setenv("WSL_JPEG_DECODER", "pil")
    try:
        assert images_module._fast_jpeg_decoder() is None
    finally:
        images_module._fast_jpeg_decoder.cache_clear()
    monkeypatch.delenv("WSL_JPEG_DECODER")
    assert images_module._fast_jpeg_decoder() is not None


def test_a_missing_or_different_torchvision_decoder_leaves_pil(monkeypatch):
    def removed(data):
        raise AttributeError("module 'torchvision.io' has no attribute 'decode_jpeg'")

    for replacement in (removed, lambda data: np.zeros((29, 43, 3), np.uint8)):  # gone; other pixels
        images_module._fast_jpeg_decoder.cache_clear()
        monkeypatch.setattr(images_module, "_torchvision_jpeg", replacement)
        try:
            assert images_module._fast_jpeg_decoder() is None
        finally:
            images_module._fast_jpeg_decoder.cache_clear()
