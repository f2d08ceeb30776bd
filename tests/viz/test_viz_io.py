"""PNG and npz writing, and file names made safe from annotation strings."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from wsl.viz import load_cam_npz, safe_filename, safe_join, save_cam_npz, save_png


def test_save_png_is_rgb_and_creates_folders(tmp_path: Path) -> None:
    image = np.zeros((5, 7, 3), np.uint8)
    image[..., 0] = 255  # pure red in RGB
    path = save_png(tmp_path / "a" / "b" / "red.png", image)
    decoded = cv2.imread(str(path))  # BGR
    assert decoded is not None and decoded.shape == (5, 7, 3)
    assert decoded[0, 0].tolist() == [0, 0, 255]


def test_save_png_rejects_float(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="image_rgb must be uint8"):
        save_png(tmp_path / "x.png", np.zeros((4, 4, 3), np.float32))


def test_cam_npz_round_trip_float16(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    cams = {
        "dog": rng.random((13, 17)),
        "cat <x>": torch.rand(2, 5, 5),
        "huge": np.array([1e6, -1e6, np.nan]),
    }
    path = save_cam_npz(tmp_path / "sub" / "cams.npz", cams)
    assert path == tmp_path / "sub" / "cams.npz" and path.is_file()
    loaded = load_cam_npz(path)
    assert set(loaded) == set(cams)
    assert loaded["dog"].dtype == np.float16 and loaded["dog"].shape == (13, 17)
    np.testing.assert_allclose(loaded["dog"], cams["dog"], atol=2**-11)
    np.testing.assert_allclose(loaded["cat <x>"], cams["cat <x>"].numpy(), atol=2**-11)
    assert loaded["huge"][0] == np.finfo(np.float16).max and np.isnan(loaded["huge"][2])
    with np.load(path) as raw:  # a plain npz, compressed
        assert raw["dog"].dtype == np.float16
    assert path.stat().st_size < 13 * 17 * 2 + 2 * 5 * 5 * 2 + 2000


def test_cam_npz_errors(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="cams must be a dict"):
        save_cam_npz(tmp_path / "x.npz", [np.zeros(3)])
    with pytest.raises(TypeError, match="must be a numeric array"):
        save_cam_npz(tmp_path / "x.npz", {"a": np.array(["s"])})


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("2008_000123.png", "2008_000123.png"),
        ("../../x", "x"),
        ("/etc/passwd", "etc_passwd"),
        ("..\\..\\win.ini", "win.ini"),
        ("C:\\evil.png", "C__evil.png"),
        ("a\x00b.png", "ab.png"),
        ("<script>alert(1)</script>", "script_alert_1___script_"),
        (".hidden", "hidden"),
        ("a/../../b", "a__b"),
        ("CON.png", "_CON.png"),
        ("chat_noir_é.png", "chat_noir_é.png"),
    ],
)
def test_safe_filename(name: str, expected: str) -> None:
    assert safe_filename(name) == expected


@pytest.mark.parametrize(
    "name", ["../../x", "/abs/y.png", "a\x00b", "~/z", "a/../..", "x" * 1000, "日本" * 200]
)
def test_safe_join_stays_inside(tmp_path: Path, name: str) -> None:
    path = safe_join(tmp_path, name)
    assert path.parent == tmp_path
    assert path.resolve().parent == tmp_path.resolve()
    assert len(path.name.encode()) <= 200
    path.write_bytes(b"ok")  # a valid file name on this OS


@pytest.mark.parametrize("name", ["..", "/", "", "\x00", "../..", "___"])
def test_safe_join_rejects_nothing_usable(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="no usable file name"):
        safe_join(tmp_path, name)


@pytest.mark.parametrize("shape", [(1, 1), (37, 53), (64, 48)])
def test_written_overlays_decode_losslessly(tmp_path: Path, shape: tuple[int, int]) -> None:
    from wsl.viz import add_colorbar, overlay_cam

    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    overlay = overlay_cam(image, rng.random((5, 7)))
    for name, picture in (("overlay", overlay), ("bar", add_colorbar(overlay, label="CAM"))):
        decoded = cv2.imread(str(save_png(tmp_path / f"{name}.png", picture)))
        assert decoded is not None and decoded.shape == picture.shape
        assert (decoded[:, :, ::-1] == picture).all()
    assert overlay.shape == image.shape


def test_cam_npz_compresslevel_same_maps_atomic_write(tmp_path: Path) -> None:
    cams = {"dog": np.random.default_rng(1).random((30, 40))}
    fast = save_cam_npz(tmp_path / "fast.npz", cams, compresslevel=1)
    default = save_cam_npz(tmp_path / "default.npz", cams)
    for key in cams:
        np.testing.assert_array_equal(load_cam_npz(fast)[key], load_cam_npz(default)[key])
        np.testing.assert_array_equal(load_cam_npz(fast)[key], cams[key].astype(np.float16))  # one cast
    assert sorted(p.name for p in tmp_path.iterdir()) == ["default.npz", "fast.npz"]  # no temporary left
    umask = os.umask(0)
    os.umask(umask)
    assert fast.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    with pytest.raises(ValueError, match="compresslevel must be an int in 0..9; got 10"):
        save_cam_npz(tmp_path / "x.npz", cams, compresslevel=10)
