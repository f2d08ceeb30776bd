"""The methods of wsl.cam.explain against float64 references written from their formulas with explicit loops:
HiResCAM, XGradCAM, EigenGradCAM, ScoreCAM, AblationCAM, eigen_smooth, aug_smooth; equality with
class_maps_for for the methods both run; targets and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from wsl.cam import class_maps_for, explain, explain_methods
from wsl.cam.classifier import ClassifierCAM
from wsl.cam.weighted import hirescam_maps, principal_map, xgradcam_maps


class Quadratic(nn.Module):
    """The layer ``features`` is the input itself: A = X and y^c = (1/hw) Σ_ij (W_c·X_ij)²."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.features = nn.Identity()
        self.weight = nn.Parameter(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.features(x)
        return torch.einsum("cd,ndhw->nchw", self.weight, a).pow(2).mean(dim=(-2, -1))


def case(seed: int = 3, signed: bool = False):
    gen = torch.Generator().manual_seed(seed)
    a = torch.rand(2, 3, 3, 4, generator=gen, dtype=torch.float64)  # N=2, D=3, h=3, w=4
    if signed:
        a = a - 0.4
    weight = torch.randn(4, 3, generator=gen, dtype=torch.float64)  # C=4
    return a, weight, ClassifierCAM(Quadratic(weight), "features")


def np_scores(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """(N, C) scores of the Quadratic model, with loops over channels."""
    n, d, h, w = x.shape
    out = np.zeros((n, weight.shape[0]))
    for i in range(n):
        for c in range(weight.shape[0]):
            proj = sum(weight[c, k] * x[i, k] for k in range(d))
            out[i, c] = (proj**2).sum() / (h * w)
    return out


def np_grad(x: np.ndarray, weight: np.ndarray, i: int, c: int) -> np.ndarray:
    """∂y^c/∂A (D, h, w) of image i: 2 (W_c·A_ij) W_ck / hw."""
    d, h, w = x.shape[1:]
    proj = sum(weight[c, k] * x[i, k] for k in range(d))
    return np.stack([2 * proj * weight[c, k] / (h * w) for k in range(d)])


def np_first_component(x: np.ndarray) -> np.ndarray:
    """(D, h, w) → first principal component over positions, signed to correlate with Σ_k x^k."""
    d, h, w = x.shape
    rows = x.reshape(d, -1).T
    centred = rows - rows.mean(axis=0)
    _, _, vt = np.linalg.svd(centred)
    proj = centred @ vt[0]
    if (proj * rows.sum(axis=1)).sum() < 0:
        proj = -proj
    return proj.reshape(h, w)


def np_minmax(m: np.ndarray) -> np.ndarray:
    span = m.max() - m.min()
    return (m - m.min()) / span if span > 0 else np.zeros_like(m)


def reference(
    method: str, x: np.ndarray, weight: np.ndarray, i: int, c: int, smooth: bool = False
) -> np.ndarray:
    """One map by the paper's formula (module docstrings) with explicit loops."""
    a = x[i]
    d = a.shape[0]
    g = np_grad(x, weight, i, c)
    if method == "hirescam" or method == "eigengradcam":
        weighted = g * a
    elif method == "xgradcam":
        alphas = [(a[k] / a[k].sum() * g[k]).sum() for k in range(d)]
        weighted = np.stack([alphas[k] * a[k] for k in range(d)])
    elif method == "gradcam":
        weighted = np.stack([g[k].mean() * a[k] for k in range(d)])
    elif method == "scorecam":
        masked = np.stack([x[i] * np_minmax(a[k])[None] for k in range(d)])
        s = np_scores(masked, weight)[:, c]
        soft = np.exp(s - s.max()) / np.exp(s - s.max()).sum()
        weighted = np.stack([soft[k] * a[k] for k in range(d)])
    else:  # ablationcam
        base = np_scores(x[i : i + 1], weight)[0, c]
        weighted = np.zeros_like(a)
        for k in range(d):
            cut = x[i : i + 1].copy()
            cut[0, k] = 0
            weighted[k] = (base - np_scores(cut, weight)[0, c]) / base * a[k]
    if smooth or method == "eigengradcam":
        return np.maximum(np_first_component(weighted), 0)
    return np.maximum(weighted.sum(axis=0), 0)


METHODS = ["hirescam", "xgradcam", "eigengradcam", "scorecam", "ablationcam", "gradcam"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("eigen_smooth", [False, True])
def test_each_method_matches_its_float64_reference(method, eigen_smooth):
    x, weight, net = case()
    targets = [[1, 3], [0, 2]]
    out = explain(net, x, method=method, targets=targets, eigen_smooth=eigen_smooth, batch_size=4)
    assert out.maps.dtype == torch.float64 and out.maps.shape == (2, 2, 3, 4)
    for i in range(2):
        for j, c in enumerate(targets[i]):
            expected = reference(method, x.numpy(), weight.detach().numpy(), i, c, eigen_smooth)
            np.testing.assert_allclose(out.maps[i, j].numpy(), expected, rtol=1e-9, atol=1e-12)
    assert out.maps.abs().sum() > 0
    np.testing.assert_allclose(out.scores.numpy(), np_scores(x.numpy(), weight.detach().numpy()), rtol=1e-12)


@pytest.mark.parametrize(
    "method", ["gradcam", "gradcampp", "layercam", "hirescam", "xgradcam", "eigengradcam"]
)
def test_explain_equals_class_maps_for_on_the_asked_classes(method):
    x, _, net = case(signed=True)
    _, every = class_maps_for(net, x, method)
    out = explain(net, x, method=method, targets=[[0, 1, 2, 3]] * 2)
    torch.testing.assert_close(out.maps, every, rtol=1e-12, atol=1e-14)


def test_the_rules_on_given_gradients_with_a_zero_channel_sum():
    gen = torch.Generator().manual_seed(5)
    a = torch.randn(2, 3, 2, 2, generator=gen, dtype=torch.float64)
    a[1, 2] = torch.tensor([[1.0, -1.0], [2.0, -2.0]], dtype=torch.float64)  # Σ A = 0: XGradCAM's α = 0
    g = torch.randn(2, 2, 3, 2, 2, generator=gen, dtype=torch.float64)
    x = xgradcam_maps(a, g).numpy()
    h = hirescam_maps(a, g).numpy()
    for c in range(2):
        for n in range(2):
            alphas = [0.0 if a[n, k].sum() == 0 else float((a[n, k] / a[n, k].sum() * g[c, n, k]).sum())
                      for k in range(3)]  # fmt: skip
            xs = sum(alphas[k] * a[n, k].numpy() for k in range(3))
            np.testing.assert_allclose(x[c, n], np.maximum(xs, 0), rtol=1e-12, atol=1e-15)
            hs = sum(g[c, n, k].numpy() * a[n, k].numpy() for k in range(3))
            np.testing.assert_allclose(h[c, n], np.maximum(hs, 0), rtol=1e-12, atol=1e-15)


def test_principal_map_of_a_rank_one_input_is_the_centred_spatial_factor():
    u = torch.linspace(-1, 2, 6, dtype=torch.float64)
    v = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    x = (v[:, None] * u[None]).reshape(1, 3, 2, 3)
    torch.testing.assert_close(principal_map(x)[0].reshape(-1), (u - u.mean()) * v.norm())
    torch.testing.assert_close(principal_map(-x), -principal_map(x))


def test_aug_smooth_averages_the_normalised_maps_of_flips_and_brightness():
    x, weight, net = case()
    out = explain(net, x, method="gradcam", targets=[1, 2], aug_smooth=True)
    w = weight.detach().numpy()
    for i, c in enumerate([1, 2]):
        total = np.zeros((3, 4))
        for flip in (False, True):
            for factor in (0.9, 1.0, 1.1):
                xa = x.numpy() * factor
                xa = xa[..., ::-1].copy() if flip else xa
                m = np_minmax(reference("gradcam", xa, w, i, c))
                total += m[:, ::-1] if flip else m
        np.testing.assert_allclose(out.maps[i, 0].numpy(), total / 6, rtol=1e-6, atol=1e-7)
    assert out.cams.shape == (2, 1, 3, 4)


@pytest.mark.parametrize("method", ["scorecam", "ablationcam"])
def test_perturbation_batches_do_not_change_the_maps(method):
    x, _, net = case()
    one = explain(net, x, method=method, targets=[0, 3], batch_size=1)
    many = explain(net, x, method=method, targets=[0, 3], batch_size=100)
    torch.testing.assert_close(one.maps, many.maps, rtol=1e-12, atol=1e-14)


def test_targets_default_to_the_top1_class_and_the_mode_is_restored():
    x, _, net = case()
    net.train()
    out = explain(net, x, method="hirescam")
    assert out.targets[:, 0].tolist() == out.scores.argmax(dim=1).tolist() and net.training


def test_bad_method_and_targets_are_refused():
    x, _, net = case()
    assert "native" not in explain_methods()
    with pytest.raises(ValueError, match=r"method: got 'scorecan' \(did you mean 'scorecam'\?\)"):
        explain(net, x, method="scorecan")
    with pytest.raises(ValueError, match=r"targets: classes must be in 0 … 3"):
        explain(net, x, targets=[0, 4])
    with pytest.raises(
        ValueError, match=r"targets: expected None, an int, N ints or \(N, K\) classes for N=2"
    ):
        explain(net, x, targets=[0, 1, 2])
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        explain(net, x, method="ablationcam", batch_size=0)


def test_a_wslnet_is_explained_at_its_backbone_as_class_maps_for_does():
    from wsl.models import WSLNet

    torch.manual_seed(0)
    net = WSLNet(num_classes=3, backbone="resnet18", pool="gap").double().eval()
    images = torch.rand(2, 3, 64, 64, dtype=torch.float64)
    _, every = class_maps_for(net, images, "xgradcam")
    out = explain(net, images, layer="backbone", method="xgradcam", targets=[[0, 1, 2]] * 2)
    torch.testing.assert_close(out.maps, every)
    assert every.abs().sum() > 0
