"""Several target layers fused (``explain(layer="a,b")``, :func:`wsl.cam.explain.fuse_layers`) by
pytorch-grad-cam's rule: ReLU, min–max at the layer's resolution, bilinear (half-pixel) upsampling to the
input size, mean over layers; against a NumPy reference with the interpolation written out."""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch

from wsl.cam import ClassifierCAM, explain
from wsl.cam.explain import fuse_layers, layer_list


def upsample_half_pixel(m: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear with half-pixel centres (OpenCV resize, align_corners=False) written out."""
    h, w = m.shape

    def source(i: int, n_in: int, n_out: int) -> tuple[int, int, float]:
        s = max((i + 0.5) * n_in / n_out - 0.5, 0.0)
        lo = min(int(s), n_in - 1)
        return lo, min(lo + 1, n_in - 1), s - lo

    out = np.zeros(size)
    for i in range(size[0]):
        y0, y1, dy = source(i, h, size[0])
        for j in range(size[1]):
            x0, x1, dx = source(j, w, size[1])
            top = m[y0, x0] * (1 - dx) + m[y0, x1] * dx
            bottom = m[y1, x0] * (1 - dx) + m[y1, x1] * dx
            out[i, j] = top * (1 - dy) + bottom * dy
    return out


def minmax(m: np.ndarray) -> np.ndarray:
    span = m.max() - m.min()
    return (m - m.min()) / span if span > 0 else np.zeros_like(m)


def test_fuse_layers_by_hand():
    a = torch.tensor([[[[1.0, 3.0]]]])  # → [0, 1]
    b = torch.tensor([[[[4.0, 2.0]]]])  # → [1, 0]
    c = torch.tensor([[[[-5.0, -1.0]]]])  # ReLU: all 0 → zeros
    assert fuse_layers([a, b], (1, 2)).tolist() == [[[[0.5, 0.5]]]]
    assert fuse_layers([a, c], (1, 2)).tolist() == [[[[0.0, 0.5]]]]


def test_two_layers_of_a_resnet_fused_equal_the_reference():
    torch.manual_seed(0)
    net = timm.create_model("resnet18", pretrained=False, num_classes=5).eval()
    images = torch.rand(2, 3, 64, 64)
    targets = [[1, 4], [2, 2]]
    fused = explain(net, images, layer="layer3, layer4", method="gradcam", targets=targets)
    assert fused.maps.shape == (2, 2, 64, 64)
    singles = [
        explain(net, images, layer=name, method="gradcam", targets=targets).maps
        for name in ("layer3", "layer4")
    ]
    assert singles[0].shape[-1] == 4 and singles[1].shape[-1] == 2
    for n in range(2):
        for k in range(2):
            ref = np.mean(
                [
                    upsample_half_pixel(minmax(np.maximum(s[n, k].double().numpy(), 0)), (64, 64))
                    for s in singles
                ],
                axis=0,
            )
            np.testing.assert_allclose(fused.maps[n, k].numpy(), ref, rtol=0, atol=1e-6)
    again = explain(ClassifierCAM(net, "layer4"), images, layer=["layer3", "layer4"], targets=targets)
    torch.testing.assert_close(again.maps, fused.maps, rtol=0, atol=0)


def test_layer_lists_are_checked():
    assert layer_list(None) == [None]
    assert layer_list("a, b") == ["a", "b"]
    for bad in ("a,a", "a,", ""):
        with pytest.raises(ValueError, match="layer: got"):
            layer_list(bad)


def test_two_blocks_of_a_vit_fused_and_fullgrad_with_aug_smooth():
    torch.manual_seed(0)
    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, num_classes=3).eval()
    images = torch.rand(2, 3, 32, 32)
    out = explain(vit, images, layer="blocks.10.norm1,blocks.11.norm1", method="layercam", targets=[0, 2])
    singles = [
        explain(vit, images, layer=f"blocks.{b}.norm1", method="layercam", targets=[0, 2]).maps
        for b in (10, 11)
    ]
    torch.testing.assert_close(out.maps, fuse_layers(singles, (32, 32)), rtol=0, atol=1e-12)
    resnet = timm.create_model("resnet18", pretrained=False, num_classes=3).eval()
    smooth = explain(resnet, images, method="fullgrad", targets=[1, 2], aug_smooth=True)
    assert smooth.maps.shape == (2, 1, 32, 32) and float(smooth.maps.min()) >= 0.0
    assert float(smooth.maps.max()) <= 1.0 + 1e-12  # a mean of min–max normalised maps
