"""The center baseline (wsl.cam.center): the map's definition and its scoring without a model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from wsl.cam import WSOL_SIZE, center_map, center_maps_of
from wsl.jobs.evaluate import evaluate_cams, evaluate_center


def test_center_map_is_the_stated_gaussian_in_float64():
    h, w, sigma = 5, 8, 0.3
    got = center_map((h, w), sigma)
    expected = np.empty((h, w))
    for y in range(h):
        for x in range(w):
            dy = (y - (h - 1) / 2) / (sigma * h)
            dx = (x - (w - 1) / 2) / (sigma * w)
            expected[y, x] = math.exp(-0.5 * (dy * dy + dx * dx))
    assert got.dtype == torch.float32 and tuple(got.shape) == (h, w)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6)
    torch.testing.assert_close(got, got.flip(0))  # symmetric about the centre
    torch.testing.assert_close(got, got.flip(1))


def test_center_map_peaks_at_the_centre_pixel_of_an_odd_side():
    m = center_map((7, 9))
    assert float(m[3, 4]) == 1.0 and int(m.argmax()) == 3 * 9 + 4


@pytest.mark.parametrize("sigma", [0, -0.1, float("nan"), "wide"])
def test_a_bad_sigma_is_refused(sigma):
    with pytest.raises(ValueError, match="center sigma: got"):
        center_map((4, 4), sigma)


def test_center_maps_are_made_in_the_frame():
    batch = {"orig_size": torch.tensor([[30, 50], [40, 20]])}
    original = center_maps_of(batch, "original")
    wsol = center_maps_of(batch, "wsolevaluation")
    assert tuple(original(0, [1, 2]).shape) == (2, 30, 50)
    assert tuple(original(1, [0]).shape) == (1, 40, 20)
    torch.testing.assert_close(wsol(1, [0])[0], center_map((WSOL_SIZE, WSOL_SIZE)))


@pytest.mark.parametrize("protocol", ["original", "wsolevaluation"])
def test_evaluate_center_equals_the_same_maps_saved_and_scored_as_a_cam_folder(
    synthetic_voc_root, tmp_path, protocol
):
    """Two paths to the same numbers: the center maps built in the loop, and the same Gaussian saved as
    one .npy per image (at the image size, or at 224 for the wsolevaluation frame) and read back."""
    data = f"voc:{synthetic_voc_root}"
    payload = evaluate_center(data, "test", protocol=protocol, progress=False)
    from wsl.data import WSLDataModule

    dm = WSLDataModule(data, batch_size=4, num_workers=0)
    for item in dm.dataset("test", with_images=False):
        size = (WSOL_SIZE, WSOL_SIZE) if protocol == "wsolevaluation" else tuple(item["orig_size"])
        np.save(tmp_path / f"{item['image_id']}.npy", center_map(size).numpy())
    saved = evaluate_cams(tmp_path, data, "test", protocol=protocol, progress=False)
    assert payload["results"] == saved["results"]
    assert payload["results"]["images_scored"] == 4 and "map" not in payload["results"]
    assert payload["protocol"] == protocol and payload["cam_method"] == "center"
    assert 0.0 <= payload["results"]["maxboxacc"] <= 1.0
