"""Post-hoc CAMs (wsl.cam.posthoc): the GAP identity, float64 references of each formula, batching, errors."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from torch import nn

from wsl.cam import CamBatch
from wsl.cam.posthoc import (
    POSTHOC_METHODS,
    class_maps_for,
    eigencam_maps,
    gradcam_maps,
    gradcampp_maps,
    layercam_maps,
)
from wsl.data import WSLDataModule
from wsl.evaluation import LocalizationEvaluator
from wsl.models import WSLNet
from wsl.pooling import POOLS

GRADIENT_METHODS = ["gradcam", "gradcampp", "layercam"]


def gap_net(num_classes: int = 3, zero_bias: bool = True) -> WSLNet:
    torch.manual_seed(0)
    net = WSLNet(num_classes=num_classes, backbone="resnet18", pool="gap", num_maps=1).double().eval()
    if zero_bias:
        nn.init.zeros_(net.head.conv.bias)
    return net


# ------------------------------------------------------------------ the identity with the native CAM


def test_gradcam_of_a_gap_net_is_relu_of_the_native_map_up_to_1_over_hw():
    """GAP: y^c = (1/hw) Σ_ij (W_c·A_ij + b_c), so α_k = W_ck/hw and Grad-CAM = ReLU(W_c·A)/hw."""
    net = gap_net(zero_bias=False)
    with torch.no_grad():
        nn.init.normal_(net.head.conv.bias)
    images = torch.rand(2, 3, 128, 128, dtype=torch.float64)
    scores, native = class_maps_for(net, images, "native")
    s2, grad = class_maps_for(net, images, "gradcam")
    hw = native.shape[-2] * native.shape[-1]
    bias = net.head.conv.bias.detach()[None, :, None, None]
    torch.testing.assert_close(s2, scores)
    torch.testing.assert_close(grad * hw, torch.relu(native - bias), rtol=1e-10, atol=1e-12)
    assert (native - bias < 0).any() and (native - bias > 0).any()  # ReLU matters here


def test_gradcam_and_relu_native_give_the_same_boxes_through_the_evaluator(synthetic_voc_root):
    dm = WSLDataModule(f"voc:{synthetic_voc_root}", image_size=128, batch_size=4, num_workers=0)
    batch = next(iter(dm.dataloader("test")))
    net = gap_net(dm.num_classes)
    images = batch["image"].double()
    scores, native = class_maps_for(net, images, "native")
    _, grad = class_maps_for(net, images, "gradcam")
    relu_native = torch.relu(native)
    a = CamBatch.from_output(scores, grad, batch)
    b = CamBatch.from_output(scores, relu_native, batch)
    assert len(a) > 0 and all(torch.equal(x, y) for x, y in zip(a.quantized, b.quantized, strict=True))
    results = []
    for maps in (grad, relu_native):
        evaluator = LocalizationEvaluator(dm.num_classes)
        evaluator.update(scores, maps, batch)
        results.append(evaluator.compute())
    assert results[0] == results[1]


# ------------------------------------------------------------------ float64 references of the formulas


class ToyNet(nn.Module):
    """backbone = identity on a hand-made A; y^c = (1/hw) Σ_ij (W_c·A_ij)²,
    so ∂y^c/∂A^k_ij = 2(W_c·A_ij)W_ck/hw."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.backbone = nn.Identity()
        self.weight = nn.Parameter(weight)

    def forward(self, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.backbone(a)
        maps = torch.einsum("cd,ndhw->nchw", self.weight, a)
        return maps.pow(2).mean(dim=(-2, -1)), maps


def toy_case():
    gen = torch.Generator().manual_seed(3)
    a = torch.rand(2, 3, 2, 3, generator=gen, dtype=torch.float64)  # N=2, D=3, h=2, w=3
    weight = torch.randn(4, 3, generator=gen, dtype=torch.float64)  # C=4
    return a, weight


def analytic_grads(a: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """(C, N, D, h, w) = 2 (W_c·A_ij) W_ck / hw."""
    hw = a.shape[2] * a.shape[3]
    proj = np.einsum("cd,ndhw->cnhw", weight, a)
    return 2 * proj[:, :, None] * weight[:, None, :, None, None] / hw


def reference(method: str, a: np.ndarray, g: np.ndarray) -> np.ndarray:
    """The papers' formulas with explicit loops over classes, images, channels and positions."""
    c_, n_, d_, h_, w_ = g.shape
    out = np.zeros((c_, n_, h_, w_))
    for c in range(c_):
        for n in range(n_):
            total = np.zeros((h_, w_))
            for k in range(d_):
                gk, ak = g[c, n, k], a[n, k]
                if method == "gradcam":
                    total += gk.mean() * ak
                elif method == "layercam":
                    total += np.maximum(gk, 0) * ak
                else:  # gradcampp
                    weight = 0.0
                    for i in range(h_):
                        for j in range(w_):
                            denom = 2 * gk[i, j] ** 2 + ak.sum() * gk[i, j] ** 3
                            alpha = gk[i, j] ** 2 / denom if denom != 0 else 0.0
                            weight += alpha * max(gk[i, j], 0.0)
                    total += weight * ak
            out[c, n] = np.maximum(total, 0)
    return out


@pytest.mark.parametrize("method", GRADIENT_METHODS)
def test_gradient_methods_match_the_float64_reference_on_a_hand_made_map(method):
    a, weight = toy_case()
    net = ToyNet(weight)
    g = analytic_grads(a.numpy(), weight.numpy())
    expected = reference(method, a.numpy(), g)
    scores, maps = class_maps_for(net, a, method)
    assert maps.dtype == torch.float64
    np.testing.assert_allclose(maps.numpy(), expected.transpose(1, 0, 2, 3), rtol=1e-10, atol=1e-13)
    torch.testing.assert_close(scores, net(a)[0].detach())
    assert maps.abs().sum() > 0


@pytest.mark.parametrize("rule", [gradcam_maps, gradcampp_maps, layercam_maps])
def test_the_formulas_on_given_gradients_match_the_reference(rule):
    gen = torch.Generator().manual_seed(5)
    a = torch.randn(2, 3, 2, 2, generator=gen, dtype=torch.float64)  # signed: ReLUs and signs matter
    g = torch.randn(2, 2, 3, 2, 2, generator=gen, dtype=torch.float64)
    g[0, 0, 0, 0, 0] = 0.0  # a zero gradient: Grad-CAM++'s zero rule
    name = {gradcam_maps: "gradcam", gradcampp_maps: "gradcampp", layercam_maps: "layercam"}[rule]
    np.testing.assert_allclose(rule(a, g).numpy(), reference(name, a.numpy(), g.numpy()), rtol=1e-12)


def test_gradcampp_weights_with_a_constant_gradient_reduce_to_gradcam_up_to_scale():
    """Constant g > 0 over a map: α = 1/(2 + Σ A · g), w = hw·g·α, so the maps are proportional."""
    a = torch.rand(1, 2, 2, 2, dtype=torch.float64)
    g = torch.ones(1, 1, 2, 2, 2, dtype=torch.float64) * torch.tensor([0.5, 2.0])[None, None, :, None, None]
    pp, plain = gradcampp_maps(a, g), gradcam_maps(a, g)
    alpha = 1 / (2 + a.sum(dim=(-2, -1)) * g[..., 0, 0])  # (1, 1, D)
    weights = 4 * g[..., 0, 0] * alpha
    torch.testing.assert_close(pp[0, 0], torch.relu((weights[0, 0, :, None, None] * a[0]).sum(0)))
    assert plain.shape == pp.shape


# ------------------------------------------------------------------ EigenCAM


def test_eigencam_is_the_first_principal_component_with_the_sign_of_the_mean():
    gen = torch.Generator().manual_seed(1)
    a = torch.rand(3, 5, 3, 4, generator=gen, dtype=torch.float64)
    maps = eigencam_maps(a)[0]
    for n in range(3):
        x = a[n].reshape(5, -1).T.numpy()
        xc = x - x.mean(axis=0)
        _, _, vt = np.linalg.svd(xc)
        proj = xc @ vt[0]
        mean = x.mean(axis=1)
        expected = proj if (proj * (mean - mean.mean())).sum() >= 0 else -proj
        np.testing.assert_allclose(maps[n].reshape(-1).numpy(), expected, rtol=1e-10, atol=1e-12)
        assert np.corrcoef(maps[n].reshape(-1).numpy(), mean)[0, 1] > 0


def test_eigencam_flips_with_the_activations_and_ignores_the_sign_of_the_svd():
    gen = torch.Generator().manual_seed(2)
    a = torch.randn(2, 4, 3, 3, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(eigencam_maps(-a), -eigencam_maps(a))
    # A rank-one map u(position) · v(channel) with positive v: the component is u itself (centred).
    u = torch.linspace(-1, 2, 9, dtype=torch.float64)
    v = torch.tensor([1.0, 2.0, 0.5, 1.5], dtype=torch.float64)
    rank_one = (v[:, None] * u[None]).reshape(1, 4, 3, 3)
    got = eigencam_maps(rank_one)[0, 0].reshape(-1)
    expected = (u - u.mean()) * v.norm()
    torch.testing.assert_close(got, expected)


def test_eigencam_fills_every_class_with_one_map():
    net = gap_net()
    _, maps = class_maps_for(net, torch.rand(2, 3, 64, 64, dtype=torch.float64), "eigencam", classes=[0])
    assert torch.equal(maps[:, 0], maps[:, 2]) and maps.abs().sum() > 0


# ------------------------------------------------------------------ batching and the calling context


@pytest.mark.parametrize("method", sorted(POSTHOC_METHODS))
def test_batched_equals_per_image_and_the_mode_is_restored(method):
    net = gap_net(zero_bias=False).train()  # BatchNorm in train mode would couple the images
    images = torch.rand(3, 3, 64, 64, dtype=torch.float64)
    layer = "backbone.body.layer3" if POSTHOC_METHODS[method].uses_layer else None  # fullgrad: none
    scores, maps = class_maps_for(net, images, method, layer=layer)
    assert net.training
    for n in range(3):
        s1, m1 = class_maps_for(net, images[n : n + 1], method, layer=layer)
        torch.testing.assert_close(s1, scores[n : n + 1], rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(m1, maps[n : n + 1], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("method", GRADIENT_METHODS)
def test_vmapped_gradients_equal_one_backward_per_class(method):
    net = gap_net(4, zero_bias=False)
    images = torch.rand(2, 3, 64, 64, dtype=torch.float64)
    _, batched = class_maps_for(net, images, method, layer="backbone.body.layer2", batched_grads=True)
    _, looped = class_maps_for(net, images, method, layer="backbone.body.layer2", batched_grads=False)
    torch.testing.assert_close(batched, looped)
    assert batched.shape[-2:] == (8, 8) and batched.abs().sum() > 0


def test_classes_not_asked_are_zero_and_per_image_lists_are_united():
    net = gap_net(4)
    images = torch.rand(2, 3, 64, 64, dtype=torch.float64)
    _, every = class_maps_for(net, images, "layercam")
    _, some = class_maps_for(net, images, "layercam", classes=[[3], [1, 3]])
    assert torch.equal(some[:, [0, 2]], torch.zeros_like(some[:, [0, 2]]))
    torch.testing.assert_close(some[:, [1, 3]], every[:, [1, 3]])


def test_works_inside_inference_mode_and_no_grad():
    net = gap_net()
    images = torch.rand(2, 3, 64, 64, dtype=torch.float64)
    _, expected = class_maps_for(net, images, "gradcampp")
    with torch.inference_mode():
        inference_images = images.clone()
        _, got = class_maps_for(net, inference_images, "gradcampp")
    with torch.no_grad():
        _, got_no_grad = class_maps_for(net, images, "gradcampp")
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(got_no_grad, expected)


def test_an_inplace_op_after_the_layer_changes_neither_a_nor_its_gradient():
    """resnet's BasicBlock does ``x = bn2(x); x += shortcut; act2(x)`` in place after bn2: A must stay
    bn2's output (checked against Grad-CAM computed by hand from a hook on a clean copy)."""
    net = gap_net(zero_bias=False)
    images = torch.rand(2, 3, 64, 64, dtype=torch.float64)
    _, maps = class_maps_for(net, images, "gradcam", layer="backbone.body.layer4.1.bn2", classes=[1])
    captured = {}

    def keep(_, __, out):
        captured["a"] = out
        return out.clone()

    handle = net.backbone.body.layer4[1].bn2.register_forward_hook(keep)
    scores, _ = net(images)
    handle.remove()
    (g,) = torch.autograd.grad(scores[:, 1].sum(), captured["a"])
    expected = torch.relu(((g.mean(dim=(-2, -1), keepdim=True)) * captured["a"]).sum(1))
    torch.testing.assert_close(maps[:, 1], expected.detach())


# ------------------------------------------------------------------ errors


def test_unknown_method_lists_the_choices():
    with pytest.raises(ValueError, match=r"cam_method: got 'gradcamm' \(did you mean 'gradcam'\?\)"):
        class_maps_for(gap_net(), torch.rand(1, 3, 64, 64, dtype=torch.float64), "gradcamm")


def test_unknown_layer_lists_valid_names():
    images = torch.rand(1, 3, 64, 64, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"got 'backbone.body.layer9'.*closest: \['backbone.body.layer4'"):
        class_maps_for(gap_net(), images, "gradcam", "backbone.body.layer9")


def test_a_layer_without_a_feature_map_is_refused():
    with pytest.raises(ValueError, match=r"layer 'head.pool' outputs \(1, 3\); post-hoc CAMs need a \(N, D"):
        class_maps_for(gap_net(), torch.rand(1, 3, 64, 64, dtype=torch.float64), "gradcam", "head.pool")


def test_classes_out_of_range_are_refused():
    with pytest.raises(ValueError, match=r"classes: \[7\] out of range for 3 classes"):
        class_maps_for(gap_net(), torch.rand(1, 3, 64, 64, dtype=torch.float64), "gradcam", classes=[0, 7])


def test_a_vmap_failure_falls_back_to_one_backward_per_class(monkeypatch, caplog):
    net = gap_net(3, zero_bias=False)
    images = torch.rand(2, 3, 64, 64, dtype=torch.float64)
    _, expected = class_maps_for(net, images, "gradcam", layer="backbone.body.layer3", batched_grads=False)
    original = torch.autograd.grad

    def refuse_vmap(*args, **kwargs):
        if kwargs.get("is_grads_batched"):
            raise RuntimeError("Batching rule not implemented for aten::something")
        return original(*args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", refuse_vmap)
    _, got = class_maps_for(net, images, "gradcam", layer="backbone.body.layer3", batched_grads=True)
    torch.testing.assert_close(got, expected)
    assert "vmapped gradients failed" in caplog.text


@pytest.mark.parametrize("pool", list(POOLS))
def test_every_pooling_head_takes_the_vmapped_gradients_without_a_fallback(pool, caplog):
    """Issue 35 item 24: LSE's and SoftPool's fused backwards multiplied vmap's batched grad_out in place."""
    torch.manual_seed(0)
    net = WSLNet(num_classes=3, backbone="resnet18", pool=pool).double().eval()
    images = torch.rand(2, 3, 64, 64, dtype=torch.float64)
    with caplog.at_level(logging.WARNING, logger="wsl.cam.posthoc"):
        _, batched = class_maps_for(net, images, "gradcam", layer="backbone.body.layer3", batched_grads=True)
    assert "vmapped gradients failed" not in caplog.text
    _, looped = class_maps_for(net, images, "gradcam", layer="backbone.body.layer3", batched_grads=False)
    torch.testing.assert_close(batched, looped)


def test_a_vmap_refusal_is_warned_once_per_network(monkeypatch, caplog):
    net, other = gap_net(3, zero_bias=False), gap_net(3, zero_bias=False)
    images = torch.rand(2, 3, 64, 64, dtype=torch.float64)
    original = torch.autograd.grad
    batched_calls = []

    def refuse_vmap(*args, **kwargs):
        if kwargs.get("is_grads_batched"):
            batched_calls.append(1)
            raise RuntimeError("Batching rule not implemented for aten::detach")
        return original(*args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", refuse_vmap)
    with caplog.at_level(logging.WARNING, logger="wsl.cam.posthoc"):
        for _ in range(3):
            class_maps_for(net, images, "gradcam", layer="backbone.body.layer3")
        assert caplog.text.count("vmapped gradients failed") == 1 and len(batched_calls) == 1
        class_maps_for(other, images, "gradcam", layer="backbone.body.layer3")
    assert caplog.text.count("vmapped gradients failed") == 2


def test_under_bf16_autocast_the_maps_are_float32_and_close_to_fp32():
    torch.manual_seed(0)
    net = WSLNet(num_classes=3, backbone="resnet18", pool="gap").eval()
    images = torch.rand(2, 3, 64, 64)
    _, fp32 = class_maps_for(net, images, "gradcam", layer="backbone.body.layer3")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, mixed = class_maps_for(net, images, "gradcam", layer="backbone.body.layer3")
    assert mixed.dtype == torch.float32
    assert torch.corrcoef(torch.stack([fp32.flatten(), mixed.flatten()]))[0, 1] > 0.9
