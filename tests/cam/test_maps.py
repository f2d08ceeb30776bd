"""wsl.cam.maps: the one upsampling, normalisation and quantisation, bit-identical to the metrics' rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from wsl.cam import cam_range, normalize_cams, quantize_cams, upsample_class_maps
from wsl.metrics import normalize_cam, quantize_cam


def awkward_maps() -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    maps = torch.randn(6, 17, 23, generator=gen) * 40 + 1e3  # large offset: the last bits matter
    maps[1] = 3.5  # constant
    maps[2, 4, 5] = math.nan
    maps[3, 0, 0] = math.inf
    maps[4] = torch.rand(17, 23, generator=gen) * 1e-6  # tiny range
    return maps.float()


def test_normalize_cams_equals_the_metrics_normalisation_bit_for_bit():
    maps = awkward_maps()
    ours = normalize_cams(maps)
    assert ours.dtype == torch.float64
    for k in range(len(maps)):
        np.testing.assert_array_equal(ours[k].numpy(), normalize_cam(maps[k].numpy()))


def test_quantize_cams_equals_quantize_cam():
    maps = awkward_maps()
    q = quantize_cams(normalize_cams(maps))
    assert q.dtype == torch.uint8
    for k in range(len(maps)):
        np.testing.assert_array_equal(q[k].numpy(), quantize_cam(maps[k].numpy()))


def test_normalized_maps_span_zero_to_one_and_bad_maps_are_zero():
    out = normalize_cams(awkward_maps())
    assert float(out[0].min()) == 0.0 and float(out[0].max()) == 1.0
    for k in (1, 2, 3):
        assert not out[k].any()


def test_normalize_cams_keeps_any_leading_shape():
    maps = torch.rand(2, 3, 5, 4)
    assert normalize_cams(maps).shape == maps.shape
    assert torch.equal(normalize_cams(maps)[1, 2], normalize_cams(maps[1, 2]))


def test_upsample_is_bilinear_float32_and_identity_at_the_same_size():
    maps = torch.rand(3, 8, 8, dtype=torch.float64)
    assert upsample_class_maps(maps, (16, 12)).dtype == torch.float32
    assert torch.equal(upsample_class_maps(maps.float(), (8, 8)), maps.float())
    with pytest.raises(ValueError, match=r"class_maps must be \(N, C, h, w\) or \(C, h, w\)"):
        upsample_class_maps(torch.zeros(8, 8), (4, 4))


def test_cam_range_gives_the_raw_values_back():
    maps = torch.randn(2, 5, 6, dtype=torch.float64)
    lo, hi = cam_range(maps).unbind(-1)
    back = lo[:, None, None] + normalize_cams(maps) * (hi - lo)[:, None, None]
    torch.testing.assert_close(back, maps)


def test_the_same_size_shortcut_is_what_bilinear_interpolation_gives():
    import torch.nn.functional as F

    maps = torch.randn(2, 3, 9, 7)
    direct = F.interpolate(maps, size=(9, 7), mode="bilinear", align_corners=False)
    assert torch.equal(direct, maps) and torch.equal(upsample_class_maps(maps, (9, 7)), maps)
