"""Local SoftPool2d: reference loops, geometry, bounds, padding, stability and the ResNet stem swap."""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
import torch.nn.functional as F
from pooling_reference import ref_softpool2d
from torch import nn

from wsl.pooling import SoftPool2d, replace_stem_maxpool
from wsl.pooling.functional import softpool2d

GEOMS = [(3, 2, 1), (2, 2, 0), (3, 1, 1), (3, 3, 0), (1, 1, 0), (5, 2, 2), (4, 3, 2)]


def feats(shape: tuple[int, ...], seed: int = 0, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64) * scale


@pytest.mark.parametrize(("k", "s", "p"), GEOMS)
def test_matches_reference_loops(k: int, s: int, p: int) -> None:
    x = feats((2, 2, 7, 6), seed=1, scale=3.0)
    out = softpool2d(x, k, s, p)
    np.testing.assert_allclose(out.numpy(), ref_softpool2d(x, k, s, p), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("k", "s", "p"), GEOMS)
@pytest.mark.parametrize("hw", [(7, 6), (8, 8), (5, 9)])
def test_output_size_and_bounds(k: int, s: int, p: int, hw: tuple[int, int]) -> None:
    x = feats((2, 3, *hw), seed=2, scale=2.0)
    out = SoftPool2d(k, s, p)(x)
    mx = F.max_pool2d(x, k, s, p)
    avg = F.avg_pool2d(x, k, s, p, count_include_pad=False)
    assert out.shape == mx.shape
    assert torch.all(avg <= out + 1e-12) and torch.all(out <= mx + 1e-12)


def test_stride_defaults_to_kernel_and_stem_geometry() -> None:
    assert SoftPool2d(3).stride == 3
    assert SoftPool2d(3, 2, 1)(torch.zeros(1, 4, 112, 112)).shape == (1, 4, 56, 56)
    assert (
        softpool2d(torch.zeros(1, 1, 7, 9), (3, 2), (2, 1), (1, 0)).shape
        == F.max_pool2d(torch.zeros(1, 1, 7, 9), (3, 2), (2, 1), (1, 0)).shape
    )


def test_padding_is_excluded() -> None:
    # Zero padding would raise a corner window of a constant −5 map above −5.
    x = torch.full((1, 2, 6, 6), -5.0)
    assert torch.equal(softpool2d(x, 3, 2, 1), torch.full((1, 2, 3, 3), -5.0))
    y = feats((1, 1, 4, 4), seed=3)
    corner = y[0, 0, :2, :2].flatten()
    expected = (torch.softmax(corner, 0) * corner).sum()
    torch.testing.assert_close(softpool2d(y, 3, 2, 1)[0, 0, 0, 0], expected)


@pytest.mark.parametrize(("k", "s", "p"), [(3, 2, 1), (2, 1, 0), (3, 1, 1), ((3, 2), (1, 2), (1, 0))])
def test_gradcheck(k, s, p) -> None:
    x = feats((1, 2, 5, 6), seed=4).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: softpool2d(t, k, s, p), (x,))


def test_large_and_far_below_max_is_stable() -> None:
    x = feats((1, 2, 8, 8), seed=5).float() * 1e4
    x[:, :, :4] = 1e4
    x[:, :, 4:] = -1e4 + torch.rand(1, 2, 4, 8)  # windows ~2e4 below the map maximum
    x.requires_grad_()
    out = softpool2d(x, 3, 2, 1)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()
    low = out[:, :, 3]
    assert torch.all(low >= -1e4) and torch.all(low <= -1e4 + 1)


def test_low_precision_autocast() -> None:
    x = (feats((1, 3, 8, 8), seed=6) * 1e3).bfloat16().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = SoftPool2d(3, 2, 1)(x)
    out.float().sum().backward()
    assert out.dtype == torch.bfloat16 and out.shape == (1, 3, 4, 4)
    assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"kernel_size": 3, "stride": 2, "padding": 2},
            r"padding must be in \[0, kernel_size // 2\]; got padding=2",
        ),
        ({"kernel_size": 0}, "kernel_size must be >= 1; got 0"),
        ({"kernel_size": 3, "stride": 0}, "stride must be >= 1; got 0"),
        ({"kernel_size": 3, "padding": -1}, "padding must be in"),
        ({"kernel_size": (3, 3, 3)}, "kernel_size must be an int or a pair of ints"),
    ],
)
def test_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SoftPool2d(**kwargs)


def test_forward_errors() -> None:
    with pytest.raises(ValueError, match="x must be a 4-D tensor"):
        SoftPool2d(2)(torch.zeros(3, 4, 4))
    with pytest.raises(ValueError, match="smaller than kernel_size"):
        SoftPool2d(5)(torch.zeros(1, 1, 3, 3))


# ---- stem replacement ----
def _stem(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model.maxpool(model.act1(model.bn1(model.conv1(x))))


def test_replace_stem_maxpool_timm_resnet18() -> None:
    model = timm.create_model("resnet18", pretrained=False).eval()
    x = torch.randn(1, 3, 224, 224)
    assert replace_stem_maxpool(model) is model
    assert isinstance(model.maxpool, SoftPool2d)
    assert (model.maxpool.kernel_size, model.maxpool.stride, model.maxpool.padding) == (3, 2, 1)
    with torch.no_grad():
        assert _stem(model, x).shape == (1, 64, 56, 56)
        out = model(x)
    assert out.shape == (1, 1000) and torch.isfinite(out).all()
    assert replace_stem_maxpool(model) is model  # idempotent


def test_replace_stem_maxpool_features_only() -> None:
    model = timm.create_model("resnet18", pretrained=False, features_only=True, out_indices=(1,))
    replace_stem_maxpool(model)
    assert isinstance(model.maxpool, SoftPool2d)
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64))[0].shape == (1, 64, 16, 16)


def test_replace_stem_maxpool_in_wrapper() -> None:
    class Wrapper(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = timm.create_model(
                "resnet18", pretrained=False, features_only=True, out_indices=(1,)
            )

    w = Wrapper()
    replace_stem_maxpool(w)
    assert isinstance(w.backbone.maxpool, SoftPool2d)


def test_replace_stem_maxpool_errors() -> None:
    with pytest.raises(ValueError, match="no child module named 'maxpool' on Sequential"):
        replace_stem_maxpool(nn.Sequential(nn.Conv2d(3, 8, 3)))
    odd = nn.Module()
    odd.maxpool = nn.AvgPool2d(2)
    with pytest.raises(ValueError, match="is a AvgPool2d; expected nn.MaxPool2d"):
        replace_stem_maxpool(odd)
    ceil = nn.Module()
    ceil.maxpool = nn.MaxPool2d(3, 2, 1, ceil_mode=True)
    with pytest.raises(ValueError, match="ceil_mode=True is not supported"):
        replace_stem_maxpool(ceil)
