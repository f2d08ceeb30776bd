"""WSLNet's two specs: the flat arguments (WSLModule's ``model.*`` keys) and the spec objects build the same
network, the flat names are exactly WSLModule's, and mistakes are named."""

from __future__ import annotations

import inspect

import pytest
import torch

from wsl.lit import WSLModule
from wsl.models import NET_ARGS, BackboneSpec, HeadSpec, WSLNet, net_specs


def test_flat_arguments_and_specs_build_the_same_network():
    flat = {"pool": "lse", "pool_kwargs": {"beta": 3.0}, "num_maps": 2, "out_index": 2, "softpool_stem": True}
    torch.manual_seed(0)
    a = WSLNet(3, "resnet18", **flat)
    torch.manual_seed(0)
    backbone = BackboneSpec("resnet18", out_index=2, softpool_stem=True)
    b = WSLNet(3, backbone, HeadSpec("lse", {"beta": 3.0}, num_maps=2))
    assert a.backbone_spec == b.backbone_spec and a.head_spec == b.head_spec
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_flat_names_map_to_the_spec_fields():
    backbone, head = net_specs(
        "vgg16", pretrained="w.pth", large_feature_map=False, head_init="pretrained_fc"
    )
    assert backbone == BackboneSpec("vgg16", pretrained="w.pth", large_feature_map=False)
    assert head == HeadSpec(init="pretrained_fc")
    assert net_specs() == (BackboneSpec(), HeadSpec())


def test_net_args_are_the_module_s_network_arguments_in_order():
    """WSLModule rebuilds the network from its hyper-parameters of these names (checkpoints, configs)."""
    module_args = list(inspect.signature(WSLModule).parameters)
    assert set(NET_ARGS) <= set(module_args)
    assert [a for a in module_args if a in NET_ARGS] == list(NET_ARGS)
    defaults = inspect.signature(WSLNet).parameters
    assert defaults["backbone"].default == BackboneSpec().name and defaults["cam_flips"].default == "none"


def test_an_unknown_flat_name_is_named_with_the_closest():
    with pytest.raises(TypeError, match=r"unexpected argument 'num_map' \(did you mean 'num_maps'\?\)"):
        WSLNet(3, "resnet18", num_map=2)


@pytest.mark.parametrize(
    ("backbone", "head", "flat", "part"),
    [
        (BackboneSpec("resnet18"), None, {"out_index": 2}, "backbone"),
        ("resnet18", HeadSpec("gap"), {"pool": "gmp"}, "head"),
    ],
)
def test_flat_arguments_beside_a_spec_are_refused(backbone, head, flat, part):
    with pytest.raises(TypeError, match=rf"given beside a {part} spec"):
        WSLNet(3, backbone, head, **flat)
