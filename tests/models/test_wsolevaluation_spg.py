"""wsolevaluation ``spg`` checkpoints (ResNet50) in wsl give upstream's logits, CAMs and branch maps.

The upstream network is the independent reference of tests/spg_reference.py, whose state dict has
``ResNetSpg``'s keys; the checkpoint is laid out as upstream's main.py saves it.
"""

from __future__ import annotations

import pytest
import torch
from spg_reference import ReferenceInceptionSpg, ReferenceResNetSpg, ReferenceVggSpg

from wsl.methods.spg import SPGNet
from wsl.models.wsolevaluation_methods import method_state_dict_to_wsl
from wsl.models.wsolevaluation_spg import is_spg_layout, spg_family, spg_state_dict_to_wsl

TOL = {"rtol": 1e-6, "atol": 1e-6}


@pytest.mark.parametrize("large_feature_map, data_parallel", [(True, False), (False, True)])
def test_an_upstream_spg_checkpoint_converts_to_the_same_network(
    large_feature_map, data_parallel, convert_upstream
):
    names = ["a", "b", "c", "d"]
    reference = ReferenceResNetSpg(len(names), large_feature_map, seed=5).double().eval()
    state = {k: v.float() for k, v in reference.state_dict().items()}
    module = convert_upstream(
        state, "resnet50", large_feature_map, data_parallel=data_parallel, payload={"epoch": 50}
    )
    assert module.hparams.method == "spg" and module.net.layout.name == "resnet"
    net = module.net.double().eval()
    with torch.no_grad():  # the checkpoint holds float32 weights (as upstream saves): compare on those values
        for key, value in reference.state_dict().items():
            value.copy_(state[key].double())
    torch.manual_seed(6)
    images = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    labels = torch.tensor([0, 3])
    with torch.no_grad():
        ref = reference(images, labels, 64)
        scores, class_maps = net(images)
        branches = net.branches(images)
    torch.testing.assert_close(scores, ref["logits"], **TOL)
    torch.testing.assert_close(class_maps[torch.arange(2), labels], ref["cams"], **TOL)
    for key in ("b1", "b2", "c"):
        torch.testing.assert_close(branches[key], ref[f"logits_{key}"], **TOL)
    assert ref["logits"].std() > 0.1 and ref["cams"].std() > 1e-3


def test_spg_keys_are_recognised_and_others_left_to_the_other_layouts():
    assert is_spg_layout(["SPG_B_1a.0.weight"]) and not is_spg_layout(["SPG_A4.weight", "fc.weight"])
    method, kwargs, state = method_state_dict_to_wsl({"module.SPG_B_shared.2.bias": torch.zeros(1)})
    assert (method, kwargs, list(state)) == ("spg", {}, ["spg_b_shared.2.bias"])
    with pytest.raises(ValueError, match="method: got 'cam'"):
        method_state_dict_to_wsl({"SPG_B_shared.2.bias": torch.zeros(1)}, method="cam")


@pytest.mark.parametrize(
    "key", ["fc.weight", "layer3.0.conv1.weight", "SPG_A2.5.conv1.weight", "classifier_A.0.weight"]
)
def test_keys_outside_resnet50_spg_are_refused_by_name(key):
    state = {"SPG_B_1a.0.weight": torch.zeros(1), key: torch.zeros(1)}
    with pytest.raises(
        ValueError, match=rf"not those of wsolevaluation's resnet50 SPG.*{key.replace('.', '[.]')}"
    ):
        spg_state_dict_to_wsl(state)


def test_a_non_tensor_or_non_mapping_is_a_type_error():
    with pytest.raises(TypeError, match=r"state_dict\['SPG_C.0.weight'\]: expected a tensor"):
        spg_state_dict_to_wsl({"SPG_C.0.weight": [1.0]})
    with pytest.raises(TypeError, match="state_dict: expected a mapping"):
        spg_state_dict_to_wsl([("SPG_C.0.weight", torch.zeros(1))])  # type: ignore[arg-type]


@pytest.mark.parametrize("data_parallel", [False, True])
def test_an_upstream_vgg16_spg_state_dict_converts_key_for_key(data_parallel):
    reference = ReferenceVggSpg(3, large_feature_map=False)
    prefix = "module." if data_parallel else ""
    upstream = {prefix + k: v for k, v in reference.state_dict().items() if not k.startswith("tv_features.")}
    converted = spg_state_dict_to_wsl(upstream)
    expected = reference.wsl_state()
    assert converted.keys() == expected.keys()
    # state_dict() detaches into new tensor objects on every call: the same storage means not copied
    assert all(converted[k].data_ptr() == expected[k].data_ptr() for k in expected)
    net = SPGNet(num_classes=3, backbone="vgg16", pool="gap", large_feature_map=False)
    net.load_state_dict(converted, strict=True)


def test_an_upstream_inception_v3_spg_state_dict_converts_to_the_same_network():
    reference = ReferenceInceptionSpg(3, large_feature_map=True, seed=2)
    upstream = {}
    for key, value in reference.state_dict().items():
        if key.startswith("tv."):
            key = key.removeprefix("tv.")
            if key.startswith(("Mixed_7", "AuxLogits", "fc.")):  # upstream's InceptionSpg has none of these
                continue
        upstream[key] = value
    assert spg_family(upstream) == "inception_v3"
    net = SPGNet(num_classes=3, backbone="inception_v3", pool="gap", large_feature_map=True)
    net.load_state_dict(spg_state_dict_to_wsl(upstream), strict=True)
    net, reference = net.double().eval(), reference.double().eval()
    torch.manual_seed(3)
    images = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    labels = torch.tensor([2, 1])
    with torch.no_grad():
        ref = reference(images, labels)
        scores, class_maps = net(images)
        out = net.branches(images)
    torch.testing.assert_close(scores, ref["logits"], **TOL)
    torch.testing.assert_close(class_maps[torch.arange(2), labels], ref["cams"], **TOL)
    torch.testing.assert_close(out["b1"], ref["logits_b1"], **TOL)
    torch.testing.assert_close(out["c"], ref["logits_c"], **TOL)


def test_inception_mixed_7_keys_are_refused_by_name():
    with pytest.raises(ValueError, match=r"inception_v3 SPG network.*Mixed_7a"):
        spg_state_dict_to_wsl({"SPG_B_1a.0.weight": torch.zeros(1), "Mixed_7a.x": torch.zeros(1)})
