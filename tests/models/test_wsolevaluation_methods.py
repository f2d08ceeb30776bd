"""wsolevaluation's ResNet50 HaS / CutMix / ADL / ACoL checkpoints in wsl, against references written here.

The references follow upstream's ``wsol/resnet.py`` and ``wsol/method/acol.py`` (commit 96f4b88) from their
rules, on torchvision's ResNet50 (``tests/models/test_wsolevaluation.py``'s strides), sharing no code with
wsl:

- ``ResNetAcol``: ``classifier_X = Sequential(conv3x3 2048→1024, ReLU, conv3x3 1024→1024, ReLU, conv1x1
  1024→C)``; ``logits = GAP(A(f))``; attention = min–max of ``A(f)[label]``; B reads ``f`` zeroed where
  the attention is ≥ δ; ``cams = max(minmax(A), minmax(B))[label]``.
- ``ResNetAdl``: parameter-free modules inserted after layer3 block 0 and layer4 blocks 0 and 2, so the
  saved keys skip those indices; identity in eval.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.models.test_wsolevaluation import reference_forward, reference_resnet50_cam
from wsl.lit import WSLModule
from wsl.models.wsolevaluation import convert_wsolevaluation_checkpoint
from wsl.models.wsolevaluation_methods import method_state_dict_to_wsl

TOL = {"rtol": 1e-6, "atol": 1e-6}


def classifier(num_classes: int, seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    layers = nn.Sequential(
        nn.Conv2d(2048, 1024, 3, 1, padding=1),
        nn.ReLU(inplace=False),
        nn.Conv2d(1024, 1024, 3, 1, padding=1),
        nn.ReLU(inplace=False),
        nn.Conv2d(1024, num_classes, 1, 1, padding=0),
    )
    with torch.no_grad():
        for m in layers:
            if isinstance(m, nn.Conv2d):
                m.weight.normal_(0.0, (2.0 / (m.in_channels * m.kernel_size[0] ** 2)) ** 0.5)
                m.bias.normal_(0.0, 0.1)
    return layers


class ReferenceResNetAcol(nn.Module):
    def __init__(self, num_classes: int, large_feature_map: bool, threshold: float = 0.7) -> None:
        super().__init__()
        trunk = reference_resnet50_cam(num_classes, large_feature_map, seed=5)
        for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
            setattr(self, name, getattr(trunk, name))
        self.classifier_A = classifier(num_classes, 6)
        self.classifier_B = classifier(num_classes, 7)
        self.threshold = threshold

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        feature = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        n = len(feature)
        map_a = self.classifier_A(feature)
        logits = map_a.mean(dim=(2, 3))
        attention = map_a.detach()[range(n), labels].unsqueeze(1)
        flat = attention.view(n, -1)
        low, high = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
        attention = ((flat - low) / (high - low)).view_as(attention)
        mask = torch.ones_like(attention)
        mask[attention >= self.threshold] = 0.0
        map_b = self.classifier_B(feature * mask)

        def norm(m: torch.Tensor) -> torch.Tensor:
            f = m.view(*m.shape[:2], -1)
            lo, hi = f.min(-1, keepdim=True).values, f.max(-1, keepdim=True).values
            return ((f - lo) / (hi - lo)).view_as(m)

        cams = torch.max(norm(map_a), norm(map_b))[range(n), labels]
        return {"logits": logits, "logit_b": map_b.mean(dim=(2, 3)), "cams": cams, "kept": mask}


def save_upstream(state: dict, path, architecture: str = "resnet50") -> None:
    torch.save({"architecture": architecture, "epoch": 10, "state_dict": state}, path)


def convert(tmp_path, state: dict, large_feature_map: bool, **kwargs) -> WSLModule:
    source = tmp_path / "last_checkpoint.pth.tar"
    save_upstream(state, source)
    out = tmp_path / "last.ckpt"
    summary = convert_wsolevaluation_checkpoint(source, out, large_feature_map=large_feature_map, **kwargs)
    module = WSLModule.load_from_checkpoint(out, map_location="cpu")
    assert summary["method"] == module.hparams.method
    return module


@pytest.mark.parametrize("large_feature_map", [True, False])
def test_an_acol_checkpoint_gives_upstreams_logits_and_cams(large_feature_map, tmp_path):
    reference = ReferenceResNetAcol(4, large_feature_map).double().eval()
    state = {k: v for k, v in reference.state_dict().items() if not k.startswith("fc.")}
    assert not any(k.startswith("fc.") for k in state) and "classifier_B.4.bias" in state
    module = convert(tmp_path, {k: v.float() for k, v in state.items()}, large_feature_map)
    assert module.hparams.method == "acol" and module.hparams.method_kwargs == {"variant": "wsolevaluation"}
    net = module.net.double().eval()
    images = torch.randn(2, 3, 64, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        scores, class_maps = net(images)
        for labels in (torch.tensor([0, 3]), torch.tensor([2, 1])):
            want = reference(images, labels)
            torch.testing.assert_close(scores, want["logits"], **TOL)
            torch.testing.assert_close(class_maps[range(2), labels], want["cams"], **TOL)
            onehot = nn.functional.one_hot(labels, 4).bool()
            torch.testing.assert_close(net.branches(images, onehot)["scores_b"], want["logit_b"], **TOL)
    assert 0.0 < want["kept"].mean() < 1.0  # B saw a partly erased map
    assert want["cams"].std() > 0.05 and want["logits"].std() > 1e-3


def test_an_acol_checkpoint_with_another_threshold_needs_it(tmp_path):
    reference = ReferenceResNetAcol(3, True, threshold=0.5).double().eval()
    state = {k: v.float() for k, v in reference.state_dict().items()}
    module = convert(tmp_path, state, True, method_kwargs={"threshold": 0.5})
    net = module.net.double().eval()
    images = torch.randn(1, 3, 48, 48, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    labels = torch.tensor([2])
    with torch.no_grad():
        torch.testing.assert_close(net(images)[1][range(1), labels], reference(images, labels)["cams"], **TOL)


def upstream_adl_state(reference: nn.Module) -> dict:
    """Upstream ResNetAdl's state dict: ADL slots (no parameters) inserted into the stages."""
    blocks3, blocks4 = list(reference.layer3), list(reference.layer4)
    reference.layer3 = nn.Sequential(blocks3[0], nn.Identity(), *blocks3[1:])
    reference.layer4 = nn.Sequential(blocks4[0], nn.Identity(), blocks4[1], blocks4[2], nn.Identity())
    return dict(reference.state_dict())


@pytest.mark.parametrize("large_feature_map", [True, False])
def test_an_adl_checkpoint_gives_upstreams_logits_and_cams(large_feature_map, tmp_path):
    reference = reference_resnet50_cam(3, large_feature_map, seed=8)
    state = upstream_adl_state(reference)
    assert (
        "layer3.6.conv1.weight" in state
        and "layer4.3.bn3.weight" in state
        and "layer4.1.conv1.weight" not in state
    )
    module = convert(tmp_path, state, large_feature_map)
    assert module.hparams.method == "adl" and module.hparams.method_kwargs == {"placement": "wsolevaluation"}
    assert module.net.backbone.adl_positions == ["layer3.0", "layer4.0", "layer4.2"]
    net, reference = module.net.double().eval(), reference.double().eval()
    images = torch.randn(2, 3, 64, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    labels = torch.tensor([2, 0])
    with torch.no_grad():
        scores, class_maps = net(images)
        logits, cams = reference_forward(reference, images, labels)
    torch.testing.assert_close(scores, logits, **TOL)
    picked = class_maps[range(2), labels] - net.head.conv.bias[labels].view(-1, 1, 1)
    torch.testing.assert_close(picked / 2048, cams, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("method", ["has", "cutmix"])
def test_has_and_cutmix_checkpoints_are_the_cam_network_with_their_method(method, tmp_path):
    reference = reference_resnet50_cam(3, True, seed=9)
    module = convert(tmp_path, dict(reference.state_dict()), True, method=method)
    assert module.hparams.method == method
    images = torch.randn(1, 3, 48, 48, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        scores, _ = module.net.double().eval()(images)
        logits, _ = reference_forward(reference.double().eval(), images, torch.tensor([0]))
    torch.testing.assert_close(scores, logits, **TOL)


def test_the_method_must_fit_the_layout():
    state = dict(reference_resnet50_cam(3, True).state_dict())
    with pytest.raises(
        ValueError, match=r"method: got 'adl', but the state_dict has the layout of upstream's 'cam'"
    ):
        method_state_dict_to_wsl(state, "adl")
    with pytest.raises(
        ValueError, match=r"method: got 'spg', but the state_dict has the layout of upstream's 'cam'"
    ):
        method_state_dict_to_wsl(state, "spg")
    with pytest.raises(TypeError, match="state_dict: expected a mapping"):
        method_state_dict_to_wsl([1, 2])  # type: ignore[arg-type]
    acol = {"classifier_A.0.weight": torch.zeros(1), "classifier_A.9.weight": torch.zeros(1)}
    with pytest.raises(ValueError, match=r"'classifier_A.9.weight' is not a layer of wsolevaluation's ACoL"):
        method_state_dict_to_wsl(acol)
    with pytest.raises(ValueError, match=r"an ACoL checkpoint without \['classifier_A.2.'"):
        method_state_dict_to_wsl({"classifier_A.0.weight": torch.zeros(1)})
