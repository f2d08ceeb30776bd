"""ADL where wsolevaluation puts it, against an independent reference written here.

The reference follows upstream's ``wsol/resnet.py`` (commit 96f4b88: ``_ADL_POSITION = [[], [], [], [0],
[0, 2]]``, an ADL module inserted into ``layer3`` after block 0 and into ``layer4`` after blocks 0 and 2)
and ``wsol/method/adl.py`` (attention = channel mean; with ``b = floor(u + drop_rate)``, the map is
``(1 − b)·sigmoid(a) + b·1[a < γ·max a]``), on torchvision's ResNet50, sharing no code with wsl.
"""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from wsl.methods import get_method
from wsl.methods.adl import ADL, ADL_POSITIONS, adl_modules


class ReferenceADL(nn.Module):
    """Upstream's ADL with the branch fixed: ``b`` = 1 (drop) or 0 (importance)."""

    def __init__(self, branch: int, gamma: float) -> None:
        super().__init__()
        self.branch, self.gamma = branch, gamma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        attention = torch.mean(x, dim=1, keepdim=True)
        importance = torch.sigmoid(attention)
        peak = attention.view(len(x), -1).max(dim=1, keepdim=True).values.view(len(x), 1, 1, 1)
        drop = (attention < peak * self.gamma).double()
        return x * ((1.0 - self.branch) * importance + self.branch * drop)


def reference_resnet50_adl(num_classes: int, branch: int, gamma: float) -> nn.Module:
    """torchvision's ResNet50 with upstream's CAM strides (large_feature_map) and ADL modules inserted."""
    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None, num_classes=num_classes)
    for layer in (model.layer3, model.layer4):
        layer[0].conv2.stride = (1, 1)
        layer[0].downsample[0].stride = (1, 1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.0)
                module.bias.normal_(0.0, 0.1)
        model.fc.weight.normal_(0.0, 0.05)
    blocks3, blocks4 = list(model.layer3), list(model.layer4)
    model.layer3 = nn.Sequential(blocks3[0], ReferenceADL(branch, gamma), *blocks3[1:])
    model.layer4 = nn.Sequential(
        blocks4[0], ReferenceADL(branch, gamma), blocks4[1], blocks4[2], ReferenceADL(branch, gamma)
    )
    return model


def aligned_to_wsl(state: dict) -> dict:
    """The reference's keys without the ADL slots (upstream's ``align_layer`` backwards)."""
    back = {"layer3": {0: 0, **{k + 1: k for k in range(1, 6)}}, "layer4": {0: 0, 2: 1, 3: 2}}
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] in back:
            parts[1] = str(back[parts[0]][int(parts[1])])
        out[".".join(parts)] = value
    return out


@pytest.mark.parametrize(("branch", "gamma"), [(1, 0.9), (0, 0.9), (1, 0.5)])
def test_wsolevaluation_placement_on_resnet50_equals_upstreams_network(branch, gamma):
    reference = reference_resnet50_adl(3, branch, gamma).double().train()
    method = get_method("adl", drop_rate=float(branch), gamma=gamma)
    net = method.build_net(num_classes=3, backbone="resnet50", pool="gap", large_feature_map=True)
    assert adl_modules(net) == ["layer3.0", "layer4.0", "layer4.2"]
    state = aligned_to_wsl(reference.state_dict())
    body = {k: v for k, v in state.items() if not k.startswith("fc.")}
    net.backbone.body.load_state_dict(body)
    with torch.no_grad():
        net.head.conv.weight.copy_(state["fc.weight"].view(3, 2048, 1, 1))
        net.head.conv.bias.copy_(state["fc.bias"])
    net = net.double().train()
    # BN in train mode uses batch statistics on both sides; the same batch gives the same numbers.
    images = torch.randn(2, 3, 64, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        scores, _ = net(images)
        logits = reference(images)
    torch.testing.assert_close(scores, logits, rtol=1e-6, atol=1e-6)
    assert logits.std() > 1e-3
    # A placement after other blocks gives other logits, so the test can fail.
    other = get_method("adl", placement="stages", drop_rate=float(branch), gamma=gamma)
    moved = other.build_net(num_classes=3, backbone="resnet50", pool="gap", large_feature_map=True)
    moved.load_state_dict(net.state_dict())
    with torch.no_grad():
        assert not torch.allclose(moved.double().train()(images)[0], logits, rtol=1e-6, atol=1e-6)


def test_adl_is_the_identity_at_eval_so_the_eval_network_is_cams():
    net = get_method("adl", drop_rate=1.0).build_net(num_classes=2, backbone="resnet50", pool="gap").eval()
    plain = get_method("cam").build_net(num_classes=2, backbone="resnet50", pool="gap").eval()
    plain.load_state_dict(net.state_dict())  # the same keys: ADL holds no parameters
    images = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(net(images)[1], plain(images)[1])


def test_adl_mask_by_hand_at_gamma_0_9():
    # Attention (channel mean) of a 1x1x2x2 map: [[1, 9], [10, 5]]; max 10, gamma 0.9: drop where a >= 9.
    x = torch.tensor([[[[1.0, 9.0], [10.0, 5.0]]]], dtype=torch.float64)
    out = ADL(drop_rate=1.0).train()(x)  # default gamma 0.9
    assert out.tolist() == [[[[1.0, 0.0], [0.0, 5.0]]]]
    importance = ADL(drop_rate=0.0).train()(x)
    torch.testing.assert_close(importance, x * torch.sigmoid(x), rtol=1e-12, atol=0)


def test_adl_defaults_are_wsolevaluations():
    assert get_method("adl").options() == {
        "placement": "auto",
        "stages": [-2, -1],
        "drop_rate": 0.75,
        "gamma": 0.9,
    }
    assert ADL_POSITIONS["resnet50"] == ("layer3.0", "layer4.0", "layer4.2")


def test_auto_placement_is_wsls_stages_where_upstream_has_no_table():
    net = get_method("adl").build_net(num_classes=2, backbone="lcnet_050", pool="gap")
    names = [name for name, _ in net.backbone.stages]
    assert adl_modules(net) == names[-2:]
    stages = get_method("adl", placement="stages").build_net(num_classes=2, backbone="resnet50", pool="gap")
    assert adl_modules(stages) == ["layer3", "layer4"]


def test_adl_placement_errors_name_the_option():
    choices = r"\['auto', 'wsolevaluation', 'stages'\]"
    with pytest.raises(ValueError, match=r"adl: placement must be one of " + choices):
        get_method("adl", placement="blocks")
    with pytest.raises(ValueError, match=r"placement 'wsolevaluation' knows the positions of \['resnet50'\]"):
        get_method("adl", placement="wsolevaluation").build_net(num_classes=2, backbone="lcnet_050")
    with pytest.raises(ValueError, match=r"has no module\(s\) \['layer4.0', 'layer4.2'\]"):
        get_method("adl", placement="wsolevaluation").build_net(
            num_classes=2, backbone="resnet50", out_index=3
        )
