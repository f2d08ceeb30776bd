"""Any classifier as a CAM source (wsl.cam.classifier, wsl.cam.sources): Grad-CAM through the adapter equals
a float64 reference computed by hand from the model's own pieces, for CNNs, ViT/DeiT token maps and Swin's
channels-last maps; logits of every output style; errors."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import timm
import torch
import torchvision
from timm.models.swin_transformer import SwinTransformer
from torch import nn

from wsl.cam import ClassifierCAM, class_maps_for, explain, load_classifier
from wsl.cam.classifier import default_classifier_layer, logits_of


def _double(model: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    for p in model.parameters():  # random heads: timm may zero-initialise a ViT's head
        if p.ndim == 2:
            nn.init.normal_(p, std=0.2)
    return model.double().eval()


def gradcam_reference(a: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Grad-CAM of one (D, h, w) map with explicit loops: ReLU(Σ_k mean(g^k) a^k)."""
    d, h, w = a.shape
    out = np.zeros((h, w))
    for k in range(d):
        alpha = g[k].sum() / (h * w)
        for i in range(h):
            for j in range(w):
                out[i, j] += alpha * a[k, i, j]
    return np.maximum(out, 0)


def tokens_to_grid(tokens: np.ndarray, prefix: int, h: int, w: int) -> np.ndarray:
    """(L, D) tokens → (D, h, w) with explicit loops: token prefix + i·w + j is position (i, j)."""
    out = np.zeros((tokens.shape[1], h, w))
    for i in range(h):
        for j in range(w):
            out[:, i, j] = tokens[prefix + i * w + j]
    return out


# ------------------------------------------------------------------ CNNs: a closed form


@pytest.mark.parametrize("source", ["timm", "torchvision"])
def test_gradcam_of_a_resnet18_is_relu_of_the_fc_weights_on_layer4(source):
    """GAP then fc: ∂y^c/∂A_ij = W_c/hw at every position, so Grad-CAM = ReLU(Σ_k W_ck A^k / hw)."""
    model = timm.create_model("resnet18", pretrained=False, num_classes=4)
    if source == "torchvision":
        model = torchvision.models.resnet18(num_classes=4)
    model = _double(model)
    images = torch.rand(2, 3, 64, 64, dtype=torch.float64)
    out = explain(model, images, method="gradcam", targets=[[1, 3], [0, 2]])
    feats = {}
    handle = model.layer4.register_forward_hook(lambda m, i, o: feats.setdefault("a", o.detach()))
    logits = model(images).detach()
    handle.remove()
    a, weight = feats["a"].numpy(), model.fc.weight.detach().numpy()
    hw = a.shape[2] * a.shape[3]
    for n, classes in enumerate([[1, 3], [0, 2]]):
        for j, c in enumerate(classes):
            g = np.broadcast_to(weight[c][:, None, None] / hw, a[n].shape)
            np.testing.assert_allclose(
                out.maps[n, j].numpy(), gradcam_reference(a[n], g), rtol=1e-10, atol=1e-13
            )
    torch.testing.assert_close(out.scores, logits)
    assert out.maps.abs().sum() > 0 and out.cams.shape == (2, 2, 64, 64)


def test_class_maps_for_takes_the_adapter_with_its_default_layer():
    model = _double(timm.create_model("resnet18", pretrained=False, num_classes=3))
    images = torch.rand(2, 3, 64, 64, dtype=torch.float64)
    _, maps = class_maps_for(ClassifierCAM(model), images, "gradcampp")
    out = explain(model, images, method="gradcampp", targets=[[0, 1, 2]] * 2)
    torch.testing.assert_close(maps, out.maps)


# ------------------------------------------------------------------ transformers: autograd on the pieces


def _vit_reference(model: nn.Module, images: torch.Tensor, c: int) -> tuple[np.ndarray, np.ndarray]:
    """(A, G) of blocks[-1].norm1 as (N, L, D) tokens, from the model's pieces and torch.autograd."""
    x = model._pos_embed(model.patch_embed(images))
    x = model.blocks[:-1](model.norm_pre(x))
    last = model.blocks[-1]
    t = last.norm1(x).detach().requires_grad_()
    x = x + last.ls1(last.attn(t))
    x = x + last.ls2(last.mlp(last.norm2(x)))
    logits = model.forward_head(model.norm(x))
    (g,) = torch.autograd.grad(logits[:, c].sum(), t)
    return t.detach().numpy(), g.numpy()


@pytest.mark.parametrize(
    ("name", "prefix"), [("vit_tiny_patch16_224", 1), ("deit_tiny_distilled_patch16_224", 2)]
)
def test_gradcam_of_a_vit_drops_the_prefix_tokens_and_reshapes_to_the_patch_grid(name, prefix):
    model = _double(timm.create_model(name, pretrained=False, num_classes=3, img_size=64))
    images = torch.rand(2, 3, 64, 64, dtype=torch.float64)
    net = ClassifierCAM(model)
    assert net.layer == "blocks.11.norm1" and model.num_prefix_tokens == prefix
    out = explain(net, images, method="gradcam", targets=2)
    a, g = _vit_reference(model, images, 2)
    for n in range(2):
        expected = gradcam_reference(tokens_to_grid(a[n], prefix, 4, 4), tokens_to_grid(g[n], prefix, 4, 4))
        np.testing.assert_allclose(out.maps[n, 0].numpy(), expected, rtol=1e-9, atol=1e-12)
    assert out.maps.shape == (2, 1, 4, 4) and out.maps.abs().sum() > 0


def test_a_vit_at_another_input_size_takes_the_grid_from_the_patch_size():
    model = _double(timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=3, img_size=64))
    model.patch_embed.strict_img_size = False
    model.dynamic_img_size = True
    model.patch_embed.flatten = False
    model.patch_embed.output_fmt = timm.layers.Format.NHWC
    _, a = ClassifierCAM(model)(torch.rand(1, 3, 48, 80, dtype=torch.float64))
    assert a.shape == (1, 192, 3, 5)


def test_gradcam_of_a_swin_permutes_its_channels_last_output():
    torch.manual_seed(0)
    model = SwinTransformer(img_size=64, patch_size=4, window_size=4, embed_dim=8, depths=(1, 1),
                            num_heads=(1, 2), num_classes=3)  # fmt: skip
    model = _double(model)
    images = torch.rand(2, 3, 64, 64, dtype=torch.float64)
    net = ClassifierCAM(model)
    assert net.layer == "layers.1" and net.resolved_layout(torch.zeros(1, 8, 8, 16)) == "nhwc"
    out = explain(net, images, method="gradcam", targets=1)
    leaf = model.layers(model.patch_embed(images)).detach().requires_grad_()  # (N, h, w, D)
    (g,) = torch.autograd.grad(model.forward_head(model.norm(leaf))[:, 1].sum(), leaf)
    for n in range(2):
        a_n = np.moveaxis(leaf.detach().numpy()[n], -1, 0)
        expected = gradcam_reference(a_n, np.moveaxis(g.numpy()[n], -1, 0))
        np.testing.assert_allclose(out.maps[n, 0].numpy(), expected, rtol=1e-9, atol=1e-12)
    assert out.maps.shape == (2, 1, 8, 8)


# ------------------------------------------------------------------ outputs, names, loading


class HFLike(nn.Module):
    """A Hugging Face-style classifier: returns an object with ``.logits``."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(logits=self.fc(self.features(x).mean(dim=(-2, -1))))


def test_logits_of_every_output_style():
    t = torch.zeros(2, 3)
    for out in (t, SimpleNamespace(logits=t), {"logits": t}, (t, None)):
        assert logits_of(out) is t
    with pytest.raises(TypeError, match="model output: got str"):
        logits_of("x")
    with pytest.raises(ValueError, match=r"logits must be \(N, C\); got shape \(2,\)"):
        logits_of(torch.zeros(2))


def test_an_hf_like_model_is_explained_at_a_named_layer():
    out = explain(HFLike(), torch.rand(2, 3, 8, 8), layer="features", method="layercam")
    assert out.maps.shape == (2, 1, 8, 8) and out.targets.shape == (2, 1)


def test_load_classifier_by_name_and_from_a_local_state_dict(tmp_path):
    model = load_classifier("timm:resnet18", num_classes=3)
    path = tmp_path / "w.pt"
    torch.save({"state_dict": model.state_dict()}, path)
    again = load_classifier("resnet18", weights=path, num_classes=3)
    torch.testing.assert_close(again.fc.weight, model.fc.weight)
    assert not again.training
    tv = load_classifier("torchvision:resnet18", num_classes=3)
    assert isinstance(tv, torchvision.models.ResNet)
    with pytest.raises(ValueError, match=r"model: got 'timn' \(did you mean 'timm'\?\)"):
        load_classifier("timn:resnet18")
    with pytest.raises(ValueError, match="weights: .* is not a file"):
        load_classifier("timm:resnet18", weights=tmp_path / "none.pt", num_classes=3)


# ------------------------------------------------------------------ errors


def test_unknown_layer_names_the_closest():
    with pytest.raises(ValueError, match=r"layer: got 'layer5'.*closest: \['layer4'"):
        ClassifierCAM(timm.create_model("resnet18", pretrained=False), "layer5")


def test_no_default_layer_asks_for_one():
    with pytest.raises(ValueError, match="layer: no default layer known for Linear; pass layer=NAME"):
        default_classifier_layer(nn.Linear(2, 2))


def test_a_layer_without_a_map_is_refused():
    with pytest.raises(ValueError, match=r"layer 'fc' outputs \(1, 2\); a CAM needs"):
        ClassifierCAM(HFLike(), "fc")(torch.rand(1, 3, 8, 8))


def test_an_unknown_token_grid_asks_for_grid_size():
    class Tokens(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Linear(3, 4)
            self.fc = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.embed(x.flatten(2).transpose(1, 2)).mean(1))

    x = torch.rand(1, 3, 2, 3)
    with pytest.raises(ValueError, match=r"cannot infer the token grid of 6 tokens.*pass grid_size=\(h, w\)"):
        ClassifierCAM(Tokens(), "embed")(x)
    _, a = ClassifierCAM(Tokens(), "embed", grid_size=(2, 3))(x)
    assert a.shape == (1, 4, 2, 3)
    with pytest.raises(ValueError, match=r"layout: got 'nwhc'"):
        ClassifierCAM(Tokens(), "embed", layout="nwhc")
