"""FullGrad (wsl.cam.fullgrad, ``explain(method="fullgrad")``): the maps against a float64 reference from
per-target autograd calls on a hand-built network and the formula written with loops (bilinear
``align_corners=True`` upsampling written out), the full-gradient completeness ``y = Σ x∇x + Σ b∇z``
on that network and on a timm ResNet-18, and the errors."""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
from torch import nn

from wsl.cam import explain
from wsl.cam.fullgrad import bias_layers, fullgrad_terms


def tiny() -> nn.Sequential:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(inplace=True),
        nn.Conv2d(4, 5, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(5, 3),
    ).double()
    bn = net[1]
    bn.running_mean.uniform_(-0.5, 0.5)
    bn.running_var.uniform_(0.5, 2.0)
    nn.init.uniform_(bn.weight, 0.5, 1.5)
    nn.init.uniform_(bn.bias, -0.3, 0.3)
    return net.eval()


def upsample_corners(m: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear, align_corners=True: output (i, j) samples the input at (i (h−1)/(H−1), j (w−1)/(W−1))."""
    h, w = m.shape
    out = np.zeros(size)
    for i in range(size[0]):
        for j in range(size[1]):
            y = i * (h - 1) / (size[0] - 1) if size[0] > 1 else 0.0
            x = j * (w - 1) / (size[1] - 1) if size[1] > 1 else 0.0
            y0, x0 = min(int(y), h - 1), min(int(x), w - 1)
            y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
            dy, dx = y - y0, x - x0
            out[i, j] = (
                m[y0, x0] * (1 - dy) * (1 - dx)
                + m[y0, x1] * (1 - dy) * dx
                + m[y1, x0] * dy * (1 - dx)
                + m[y1, x1] * dy * dx
            )
    return out


def psi_sum(t: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Σ_channels of |t| rescaled jointly over (D, h, w) to [0, 1], upsampled."""
    a = np.abs(t)
    a = (a - a.min()) / (a.max() - a.min())
    return upsample_corners(a.sum(axis=0), size)


def reference(net: nn.Sequential, image: torch.Tensor, c: int) -> tuple[np.ndarray, float, float]:
    """(map, y, completeness sum) of one image and class, from the network's layers run one by one."""
    x = image[None].clone().requires_grad_()
    z1 = net[0](x)
    z2 = net[1](z1)
    z3 = net[3](torch.relu(z2))
    y = net[7](net[6](net[5](torch.relu(z3))))[0, c]
    gx, g1, g2, g3 = torch.autograd.grad(y, [x, z1, z2, z3])
    bn = net[1]
    b2 = bn.bias - bn.running_mean * bn.weight / torch.sqrt(bn.running_var + bn.eps)
    terms = [
        (gx * x)[0],
        (g1 * net[0].bias[:, None, None])[0],
        (g2 * b2[:, None, None])[0],
        (g3 * net[3].bias[:, None, None])[0],
    ]
    terms = [t.detach().numpy() for t in terms]
    size = tuple(image.shape[-2:])
    saliency = sum(psi_sum(t, size) for t in terms)
    completeness = sum(t.sum() for t in terms) + float(net[7].bias[c].detach())
    return saliency, float(y.detach()), completeness


def test_fullgrad_maps_equal_the_reference_and_complete_the_score():
    net = tiny()
    images = torch.rand(2, 3, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    targets = [[0, 2], [1, 0]]
    out = explain(net, images, method="fullgrad", targets=targets)
    assert out.maps.shape == (2, 2, 6, 6) and out.maps.dtype == torch.float64
    for n in range(2):
        for k, c in enumerate(targets[n]):
            saliency, y, completeness = reference(net, images[n], c)
            np.testing.assert_allclose(out.maps[n, k].numpy(), saliency, rtol=0, atol=1e-10)
            assert completeness == pytest.approx(y, abs=1e-10)
    assert not net.training and [b.name for b in bias_layers(net)] == ["0", "1", "3", "7"]


def test_completeness_on_a_timm_resnet18_in_float64():
    torch.manual_seed(0)
    net = timm.create_model("resnet18", pretrained=False, num_classes=4).double().eval()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            nn.init.uniform_(m.bias, -0.1, 0.1)
    images = torch.rand(2, 3, 32, 32, dtype=torch.float64)
    terms = fullgrad_terms(net, images, lambda s: torch.tensor([[0, 3], [2, 1]]))
    total = terms.input.flatten(2).sum(-1) + sum(t.flatten(2).sum(-1) for t in terms.biases)
    expected = terms.scores.gather(1, terms.targets).T  # (K, N)
    torch.testing.assert_close(total, expected, rtol=1e-9, atol=1e-9)
    out = explain(net, images, method="fullgrad", targets=terms.targets)
    assert out.cams.shape == (2, 2, 32, 32) and float(out.cams.max()) == 1.0


def test_fullgrad_errors_name_the_fix():
    with pytest.raises(ValueError, match="no nn.Conv2d, nn.BatchNorm2d"):
        explain(
            nn.Sequential(nn.Flatten(), nn.Linear(12, 2, bias=False)),
            torch.rand(1, 3, 2, 2),
            method="fullgrad",
        )
    with pytest.raises(ValueError, match="pass neither layer nor eigen_smooth"):
        explain(tiny(), torch.rand(1, 3, 4, 4, dtype=torch.float64), method="fullgrad", eigen_smooth=True)
