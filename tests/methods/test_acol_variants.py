"""ACoL's two variants: wsolevaluation's classifiers, init and learning-rate group, and wsl's own.

Upstream (``wsol/resnet.py:152-168``, ``main.py:72-77``, ``:141-161``): each classifier is ``conv3x3
2048→1024, ReLU, conv3x3 1024→1024, ReLU, conv1x1 1024→C``, He-initialised (``kaiming_normal_``, fan_out,
bias 0), and for ResNet50 the parameters whose names contain ``layer4.`` or ``fc.`` train at 10× the base lr:
``classifier_A.*``/``classifier_B.*`` contain neither, so they train at the base lr.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from wsl.lit import WSLModule
from wsl.methods import get_method


def _convs(module: nn.Module) -> list[tuple[int, int, tuple[int, ...]]]:
    return [
        (m.in_channels, m.out_channels, m.kernel_size) for m in module.modules() if isinstance(m, nn.Conv2d)
    ]


def _module(**kwargs) -> WSLModule:
    options = dict(num_classes=5, backbone="resnet50", pool="gap", optimizer="sgd", scheduler="none")
    options.update(backbone_lr=1e-3, lr=1e-2, head_lr_stages=1, large_feature_map=False, channels_last=False)
    options.update(out_index=-1)
    return WSLModule(**options, **kwargs)


def test_the_default_is_wsolevaluations_acol_on_resnet50():
    assert get_method("acol").options() == {
        "variant": "wsolevaluation",
        "threshold": 0.7,
        "branch_layers": 2,
        "branch_width": 1024,
    }
    torch.manual_seed(0)
    module = _module(method="acol")
    net = module.net
    for branch, head in ((net.branch_a, net.head), (net.branch_b, net.head_b)):
        assert _convs(branch) + _convs(head) == [
            (2048, 1024, (3, 3)),
            (1024, 1024, (3, 3)),
            (1024, 5, (1, 1)),
        ]
        assert [type(m) for m in branch] == [nn.Conv2d, nn.ReLU, nn.Conv2d, nn.ReLU]
    # He init, fan_out: std sqrt(2 / (out * k * k)); biases 0.
    for conv in [m for part in (net.branch_a, net.head, net.branch_b, net.head_b) for m in part.modules()]:
        if isinstance(conv, nn.Conv2d):
            want = math.sqrt(2.0 / (conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1]))
            assert conv.weight.std().item() == pytest.approx(want, rel=0.1)
            assert conv.bias.abs().max().item() == 0.0
    groups = module.configure_optimizers().param_groups
    classifiers = {
        id(p) for part in (net.branch_a, net.head, net.branch_b, net.head_b) for p in part.parameters()
    }
    layer4 = {id(p) for p in net.backbone.body.layer4.parameters()}
    assert [g["lr"] for g in groups] == [1e-3, 1e-2]
    assert classifiers <= {id(p) for p in groups[0]["params"]}  # upstream: not layer4./fc., so base lr
    assert {id(p) for p in groups[1]["params"]} == layer4
    total = sum(len(g["params"]) for g in groups)
    assert total == len(list(net.parameters()))


def test_wsls_variant_keeps_its_1x1_classifiers_in_the_head_group():
    module = _module(method="acol", method_kwargs={"variant": "wsl"})
    net = module.net
    assert get_method("acol", variant="wsl").options()["threshold"] == 0.6 and net.erase_threshold == 0.6
    assert len(net.branch_a) == 0 and _convs(net.head_b) == [(2048, 5, (1, 1))]
    groups = module.configure_optimizers().param_groups
    assert {id(p) for p in net.head_b.parameters()} <= {id(p) for p in groups[1]["params"]}


def test_options_override_the_variant():
    method = get_method("acol", threshold=0.5, branch_width=64)
    assert method.options() == {
        "variant": "wsolevaluation",
        "threshold": 0.5,
        "branch_layers": 2,
        "branch_width": 64,
    }
    net = method.build_net(num_classes=2, backbone="lcnet_050", pool="gap")
    assert _convs(net.branch_a)[0][1] == 64 and net.classifier_lr == "head"  # not a wsolevaluation backbone


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"variant": "upstream"}, "variant"), ({"threshold": 1.5}, "threshold"),
     ({"branch_layers": -1}, "branch_layers"), ({"branch_width": 0}, "branch_width")],
)  # fmt: skip
def test_acol_option_errors_name_the_option(kwargs, field):
    with pytest.raises(ValueError, match=f"acol: {field} must be"):
        get_method("acol", **kwargs)


def test_acolnet_refuses_an_unknown_init_or_group():
    from wsl.methods.acol import ACoLNet

    with pytest.raises(ValueError, match=r"acol: init must be one of \['default', 'he', 'xavier'\]"):
        ACoLNet(2, init="kaiming", backbone="lcnet_050")
    with pytest.raises(ValueError, match="acol: classifier_lr must be 'head' or 'base'"):
        ACoLNet(2, classifier_lr="x10", backbone="lcnet_050")


def test_smoothing_is_a_3x3_average_pool_counting_the_zero_padding():
    from wsl.methods.acol import ACoLNet

    net = ACoLNet(2, smoothing=True, backbone="lcnet_050", pool="gap").eval()
    features = torch.arange(9.0).view(1, 1, 3, 3)
    # Corner: (0 + 1 + 3 + 4) / 9 with the 5 padded zeros counted; centre: the mean of all 9.
    out = net.smooth(features)
    assert out[0, 0, 0, 0].item() == pytest.approx(8 / 9) and out[0, 0, 1, 1].item() == pytest.approx(4.0)
