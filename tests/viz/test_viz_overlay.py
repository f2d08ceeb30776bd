"""Colormaps, overlays and the colour bar."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from wsl.viz import COLORMAPS, add_colorbar, colorize_cam, colormap_lut, overlay_cam


def gaussian(shape: tuple[int, int], center: tuple[int, int], sigma: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return np.exp(-((yy - center[0]) ** 2 + (xx - center[1]) ** 2) / (2 * sigma**2))


@pytest.mark.parametrize("colormap", sorted(COLORMAPS))
def test_lut_is_rgb_cold_to_hot(colormap: str) -> None:
    lut = colormap_lut(colormap)
    assert lut.shape == (256, 3) and lut.dtype == np.uint8
    if colormap in ("inferno", "viridis"):  # perceptual maps: lightness grows monotonically
        luma = lut.astype(float) @ [0.299, 0.587, 0.114]
        assert luma[-1] > 200 and luma[0] < 40
        assert np.all(np.diff(luma[::16]) > 0)
    if colormap == "inferno":  # RGB, not BGR: black → pale yellow (red and green high, blue low)
        assert lut[0].max() < 10 and lut[-1][0] > 240 and lut[-1][1] > 240 and lut[-1][2] < 200
    if colormap == "jet":  # RGB: dark blue → dark red
        assert lut[0][2] > 100 and lut[0][0] == 0 and lut[-1][0] > 100 and lut[-1][2] == 0


@pytest.mark.parametrize("colormap", sorted(COLORMAPS))
@pytest.mark.parametrize("scale", [1.0, -3e3, 1e-9])
def test_colorize_peak_is_hottest(colormap: str, scale: float) -> None:
    cam = scale * gaussian((40, 56), (12, 40), 5.0) + (7.0 if scale > 0 else 0.0)
    rgb = colorize_cam(cam, colormap)
    lut = colormap_lut(colormap)
    assert rgb.shape == (40, 56, 3) and rgb.dtype == np.uint8
    peak = (12, 40)
    hot, cold = (lut[-1], lut[0]) if scale > 0 else (lut[0], lut[-1])  # a negative scale flips the map
    assert rgb[peak].tolist() == hot.tolist()
    assert rgb[39, 0].tolist() == cold.tolist()


def test_colorize_accepts_torch() -> None:
    cam = torch.from_numpy(gaussian((9, 11), (4, 5), 2.0)).to(torch.bfloat16).requires_grad_()
    assert colorize_cam(cam)[4, 5].tolist() == colormap_lut("inferno")[-1].tolist()


@pytest.mark.parametrize("cam", [np.full((6, 7), 3.5), np.full((6, 7), np.nan), np.zeros((6, 7))])
def test_constant_or_nan_map_is_zero_colour_without_warning(cam: np.ndarray) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rgb = colorize_cam(cam)
    assert (rgb == colormap_lut("inferno")[0]).all()


def test_partially_nan_map_is_zero_colour() -> None:
    cam = gaussian((6, 7), (3, 3), 1.0)
    cam[0, 0] = np.inf
    assert (colorize_cam(cam) == colormap_lut("inferno")[0]).all()


def test_overlay_peak_and_resize() -> None:
    image = np.full((64, 96, 3), 128, np.uint8)
    small = gaussian((16, 24), (4, 18), 2.0)  # peak at (16, 72) + 1.5 px at the image size
    out = overlay_cam(image, small, alpha=1.0)
    assert out.shape == image.shape and out.dtype == np.uint8
    luma = out.astype(float) @ [0.299, 0.587, 0.114]
    peak = np.unravel_index(np.argmax(luma), luma.shape)
    assert abs(int(peak[0]) - 17.5) <= 2 and abs(int(peak[1]) - 73.5) <= 2
    assert out[63, 0].tolist() == colormap_lut("inferno")[0].tolist()


def test_overlay_alpha_blends() -> None:
    image = np.full((8, 8, 3), 200, np.uint8)
    cam = gaussian((8, 8), (2, 2), 1.5)
    assert (overlay_cam(image, cam, alpha=0.0) == image).all()
    colour = colorize_cam(cam).astype(float)
    half = overlay_cam(image, cam, alpha=0.5).astype(float)
    assert np.abs(half - (0.5 * 200 + 0.5 * colour)).max() <= 0.5 + 1e-9


def test_overlay_errors() -> None:
    image = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="alpha must be in"):
        overlay_cam(image, np.zeros((8, 8)), alpha=1.5)
    with pytest.raises(ValueError, match="cam must be a 2-D"):
        overlay_cam(image, np.zeros((1, 8, 8)))
    with pytest.raises(TypeError, match="image must be uint8"):
        overlay_cam(image.astype(np.float32), np.zeros((8, 8)))
    with pytest.raises(ValueError, match=r"image must be an \(H, W, 3\)"):
        overlay_cam(np.zeros((8, 8, 4), np.uint8), np.zeros((8, 8)))
    with pytest.raises(ValueError, match="did you mean 'inferno'"):
        colorize_cam(np.zeros((3, 3)), colormap="infern")


@pytest.mark.parametrize("label", [None, "CAM (normalised)"])
def test_colorbar(label: str | None) -> None:
    image = np.full((100, 80, 3), 7, np.uint8)
    out = add_colorbar(image, "viridis", label=label)
    assert out.shape[0] == 100 and out.shape[1] > 80 and out.dtype == np.uint8
    assert (out[:, :80] == image).all()
    lut = colormap_lut("viridis")
    strip = out[:, 80:].reshape(-1, 3)
    # the bar holds (close to) both ends of the colormap: hottest near the top, coldest near the bottom
    for end in (lut[-1], lut[0]):
        assert np.abs(strip.astype(int) - end.astype(int)).sum(axis=1).min() <= 12
    tops = [np.abs(out[y, 80:].astype(int) - lut[-1].astype(int)).sum(axis=1).min() for y in range(100)]
    assert int(np.argmin(tops)) < 20


def test_colours_use_the_metrics_normalisation_and_a_normalised_map_draws_the_same() -> None:
    import wsl.viz
    from wsl.cam import normalize_cams
    from wsl.metrics import normalize_cam

    assert not hasattr(wsl.viz, "normalize_cam")  # one definition: the metrics'
    cam = 5.0 + 1e-3 * gaussian((20, 30), (7, 11), 4.0)
    lut = colormap_lut("inferno")
    np.testing.assert_array_equal(colorize_cam(cam), lut[np.rint(normalize_cam(cam) * 255).astype(np.uint8)])
    pipeline = normalize_cams(torch.from_numpy(cam)[None])[0].numpy()  # what CamBatch.cams holds
    image = np.full((20, 30, 3), 90, np.uint8)
    np.testing.assert_array_equal(overlay_cam(image, pipeline), overlay_cam(image, cam))
