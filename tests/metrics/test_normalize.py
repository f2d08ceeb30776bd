"""wsl.metrics.normalize: the one min–max normalisation and quantisation, and its front ends."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import wsl.cam.maps as cam_maps
import wsl.metrics.normalize as normalize_module
from wsl.cam import cam_range, normalize_cams, quantize_cams
from wsl.metrics import normalize_cam, quantize_cam
from wsl.metrics.normalize import map_ranges, normalize_maps, quantize_maps


def reference_normalize(cam: list[list[float]]) -> list[list[float]]:
    """From the definition, element by element in Python floats (IEEE float64)."""
    values = [v for row in cam for v in row]
    if any(not math.isfinite(v) for v in values):
        return [[0.0] * len(row) for row in cam]
    lo, hi = min(values), max(values)
    if hi == lo:
        return [[0.0] * len(row) for row in cam]
    return [[(v - lo) / (hi - lo) for v in row] for row in cam]


def awkward_maps() -> np.ndarray:
    rng = np.random.default_rng(3)
    maps = rng.normal(1e3, 40, size=(7, 9, 11))  # large offset: the last bits matter
    maps[1] = 3.5  # constant
    maps[2, 4, 5] = math.nan
    maps[3, 0, 0] = math.inf
    maps[4] = rng.random((9, 11)) * 1e-300  # a range near the smallest float64
    maps[5, 2, 2] = -math.inf
    return maps


def test_normalize_maps_is_the_definition_element_for_element():
    maps = awkward_maps()
    out = normalize_maps(maps)
    assert out.dtype == np.float64 and out.shape == maps.shape
    for k in range(len(maps)):
        assert out[k].tolist() == reference_normalize(maps[k].tolist())


def test_hand_checked_values():
    np.testing.assert_array_equal(normalize_maps(np.array([[2.0, 4.0], [3.0, 2.0]])), [[0, 1], [0.5, 0]])
    np.testing.assert_array_equal(normalize_maps(np.full((2, 3), 7.0)), np.zeros((2, 3)))
    assert quantize_maps(np.array([0.0, 1 / 255, 0.5, 254.999 / 255, 1.0])).tolist() == [0, 1, 127, 254, 255]


def test_float32_arithmetic_is_float32_then_widened():
    maps = awkward_maps()[:1].astype(np.float32)
    lo, hi = maps[0].min(), maps[0].max()
    expected = ((maps[0] - lo) / (hi - lo)).astype(np.float64)  # float32 ops throughout
    np.testing.assert_array_equal(normalize_maps(maps, np.float32)[0], expected)
    assert not np.array_equal(normalize_maps(maps, np.float32), normalize_maps(maps))


def test_map_ranges_are_min_and_max_of_each_map():
    maps = awkward_maps()
    ranges = map_ranges(maps)
    assert ranges.shape == (7, 2)
    assert ranges[0].tolist() == [maps[0].min(), maps[0].max()]
    assert math.isnan(ranges[2, 0]) and ranges[3, 1] == math.inf
    assert map_ranges(np.zeros((0, 3, 4))).shape == (0, 2)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
def test_the_torch_front_ends_equal_the_numpy_definition(dtype):
    maps = torch.from_numpy(awkward_maps()).to(dtype)
    host = maps.float().numpy() if dtype == torch.bfloat16 else maps.numpy()
    np.testing.assert_array_equal(normalize_cams(maps).numpy(), normalize_maps(host))
    np.testing.assert_array_equal(
        quantize_cams(normalize_cams(maps)).numpy(), quantize_maps(normalize_maps(host))
    )
    np.testing.assert_array_equal(cam_range(maps).numpy(), map_ranges(host))
    for k in range(len(maps)):
        np.testing.assert_array_equal(normalize_cam(maps[k]), normalize_maps(host[k]))
        np.testing.assert_array_equal(quantize_cam(maps[k]), quantize_maps(normalize_maps(host[k])))


def test_every_front_end_delegates_to_the_one_definition(monkeypatch):
    calls = []
    real = normalize_maps

    def spy(maps, dtype=np.float64):
        calls.append(np.asarray(maps).shape)
        return real(maps, dtype)

    monkeypatch.setattr(normalize_module, "normalize_maps", spy)
    monkeypatch.setattr(cam_maps, "normalize_maps", spy)
    normalize_cam(np.ones((3, 4)))
    quantize_cam(np.ones((3, 4)))
    normalize_cams(torch.ones(2, 3, 4))
    assert calls == [(3, 4), (3, 4), (2, 3, 4)]


def test_the_torch_front_ends_refuse_other_precisions_and_keep_the_device():
    with pytest.raises(ValueError, match="dtype must be torch.float64 or torch.float32"):
        normalize_cams(torch.ones(2, 2), torch.float16)
    out = normalize_cams(torch.ones(2, 2, requires_grad=True))
    assert out.device.type == "cpu" and not out.requires_grad


def test_maps_must_be_at_least_2_d():
    with pytest.raises(ValueError, match=r"maps must be \(\.\.\., H, W\)"):
        normalize_maps(np.ones(3))
