"""wsolevaluation VGG16 and InceptionV3 checkpoints (cam, has, cutmix, adl, spg) in wsl give upstream's
logits and CAMs.

The upstream networks are the independent references of tests/models/test_vgg_cam.py,
tests/models/test_inception_cam.py and tests/spg_reference.py (written from upstream's rules, sharing no
code with wsl). The state dicts are laid out here as upstream's main.py saves them, from upstream's module
names (``wsol/vgg.py``, ``wsol/inception.py`` at commit 96f4b88):

- VGG16 (``VggCam``): ``features.<i>`` indexed by upstream's ``nn.Sequential`` built from its
  ``configs_dict`` list (written out below: 'M' a 2×2 max-pool, 'A' a parameter-free ADL module), ``conv6``,
  ``fc``;
- InceptionV3 (``InceptionCam`` / ``InceptionAdl``): torchvision's block names without ``Mixed_7*``,
  ``AuxLogits`` and ``fc``, plus ``SPG_A3_1b.0``, ``SPG_A3_2b.0``, ``SPG_A4``.

float64, 1e-6. The checkpoints go through tools/convert_wsolevaluation.py.
"""

from __future__ import annotations

import pytest
import torch
import torchvision
from spg_reference import ReferenceInceptionSpg, ReferenceVggSpg
from torch import nn

from tests.models.test_inception_cam import ReferenceInceptionCam, reference_inception_cam
from tests.models.test_vgg_cam import ReferenceVggCam, reference_vgg16_cam
from wsl.models.wsolevaluation import convert_wsolevaluation_checkpoint, wsolevaluation_state_dict_to_wsl
from wsl.models.wsolevaluation_methods import method_state_dict_to_wsl
from wsl.models.wsolevaluation_vgg import vgg16_state_dict_to_wsl

TOL = {"rtol": 1e-6, "atol": 1e-6}
#: upstream vgg.py configs_dict['cam'] and ['adl'] (14x14: large_feature_map false; 28x28: true).
UPSTREAM_VGG_LISTS = {
    ("cam", False): [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512],
    ("cam", True): [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, 512, 512, 512],
    ("adl", False): [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", "A", 512, 512, 512, "A", "M"]
    + [512, 512, 512, "A"],
    ("adl", True): [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", "A", 512, 512, 512, "A"]
    + [512, 512, 512, "A"],
}
#: The Inception blocks upstream keeps, in torchvision's names.
INCEPTION_BLOCKS = (
    "Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3", "Mixed_5b",
    "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e",
)  # fmt: skip


def upstream_vgg_state(reference: ReferenceVggCam, layout: str, large_feature_map: bool) -> dict:
    """``VggCam``'s state dict for ``configs_dict[layout]``: the reference's convs at the list's indices."""
    convs = iter([m for m in reference.features if isinstance(m, nn.Conv2d)])
    layers: list[nn.Module] = []
    for entry in UPSTREAM_VGG_LISTS[(layout, large_feature_map)]:
        if entry == "M":
            layers.append(nn.MaxPool2d(2, 2))
        elif entry == "A":
            layers.append(nn.Identity())  # ADL: no parameters
        else:
            layers += [next(convs), nn.ReLU()]
    state = {f"features.{k}": v for k, v in nn.Sequential(*layers).state_dict().items()}
    for name in ("conv6", "fc"):
        state.update({f"{name}.{k}": v for k, v in getattr(reference, name).state_dict().items()})
    return {k: v.detach().clone() for k, v in state.items()}


def upstream_inception_state(reference: ReferenceInceptionCam) -> dict:
    """``InceptionCam``'s (and ``InceptionAdl``'s) state dict, from the reference's modules."""
    blocks = [*reference.stem, *reference.stem2, *reference.mixed5, reference.mixed6a, *reference.mixed6]
    state = {}
    for name, block in zip(INCEPTION_BLOCKS, blocks, strict=True):
        state.update({f"{name}.{k}": v for k, v in block.state_dict().items()})
    for name, conv in (("SPG_A3_1b.0", reference.spg_a3_1b), ("SPG_A3_2b.0", reference.spg_a3_2b)):
        state.update({f"{name}.{k}": v for k, v in conv.state_dict().items()})
    state.update({f"SPG_A4.{k}": v for k, v in reference.spg_a4.state_dict().items()})
    return {k: v.detach().clone() for k, v in state.items()}


def assert_upstreams(
    net: nn.Module,
    reference: nn.Module,
    labels: torch.Tensor,
    size: int = 64,
    to_upstream=None,
    cam_atol=1e-6,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The converted network's scores are upstream's logits, and its class maps of ``labels`` (mapped by
    ``to_upstream``, default as they are) upstream's CAMs, on two float64 images.

    Returns:
        ``(logits, cams)`` of upstream, for the checks that the comparison is not vacuous.
    """
    images = torch.randn(2, 3, size, size, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    net, reference = net.double().eval(), reference.double().eval()
    with torch.no_grad():
        scores, class_maps = net(images)
        out = reference(images, labels)
    logits, cams = (out["logits"], out["cams"]) if isinstance(out, dict) else out
    picked = class_maps[torch.arange(2), labels]
    torch.testing.assert_close(scores, logits, **TOL)
    torch.testing.assert_close(
        picked if to_upstream is None else to_upstream(picked), cams, rtol=1e-6, atol=cam_atol
    )
    return logits, cams


def vgg_cam_scale(net: nn.Module, labels: torch.Tensor):
    """wsl's VGG16 class map → upstream's CAM: minus the class's bias, over the 1024 channels (a mean)."""
    bias = net.head.conv.bias[labels].view(-1, 1, 1)
    return lambda picked: (picked - bias) / 1024


@pytest.mark.parametrize("layout", ["cam", "adl"])
@pytest.mark.parametrize("large_feature_map", [True, False])
def test_vgg16_cam_and_adl_checkpoints_give_upstreams_logits_and_cams(
    layout, large_feature_map, convert_upstream
):
    reference = reference_vgg16_cam(4, large_feature_map, seed=3)
    module = convert_upstream(
        upstream_vgg_state(reference, layout, large_feature_map), "vgg16", large_feature_map
    )
    assert module.hparams.method == layout
    if layout == "adl":
        assert module.hparams.method_kwargs == {"placement": "wsolevaluation"}
        assert module.net.backbone.adl_positions == ["features.pool3", "features.relu4_3", "features.relu5_3"]
    labels = torch.tensor([1, 3])
    scale = vgg_cam_scale(module.net, labels)
    logits, cams = assert_upstreams(module.net, reference, labels, to_upstream=scale, cam_atol=1e-9)
    assert logits.std() > 0.1 and cams.std() > 1e-4


def test_the_vgg16_feature_indices_are_upstreams():
    """The conv indices of each upstream list, counted here: they tell the layout and the map size."""
    expected = {
        ("cam", False): [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28],
        ("cam", True): [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 23, 25, 27],
        ("adl", False): [0, 2, 5, 7, 10, 12, 14, 18, 20, 22, 26, 28, 30],
        ("adl", True): [0, 2, 5, 7, 10, 12, 14, 18, 20, 22, 25, 27, 29],
    }
    reference = ReferenceVggCam(2, False)
    for pair, convs in expected.items():
        state = upstream_vgg_state(reference, *pair)
        assert sorted({int(k.split(".")[1]) for k in state if k.startswith("features.")}) == convs


def test_a_vgg16_checkpoint_with_the_other_large_feature_map_is_refused(tmp_path):
    state = upstream_vgg_state(ReferenceVggCam(2, True), "cam", True)
    source = tmp_path / "best_checkpoint.pth.tar"
    torch.save({"architecture": "vgg16", "state_dict": state}, source)
    with pytest.raises(ValueError, match=r"large_feature_map: got False.*VGG16 cam network with "
                       r"large_feature_map True; pass --large-feature-map true"):  # fmt: skip
        convert_wsolevaluation_checkpoint(source, tmp_path / "o.ckpt", large_feature_map=False)


@pytest.mark.parametrize("method", ["has", "cutmix"])
def test_vgg16_has_and_cutmix_are_the_cam_network_with_their_method(method, convert_upstream):
    reference = reference_vgg16_cam(4, False, seed=4)
    module = convert_upstream(upstream_vgg_state(reference, "cam", False), "vgg16", False, "--method", method)
    assert module.hparams.method == method
    labels = torch.tensor([0, 2])
    scale = vgg_cam_scale(module.net, labels)
    assert_upstreams(module.net, reference, labels, size=32, to_upstream=scale, cam_atol=1e-9)


@pytest.mark.parametrize("method, large_feature_map", [("cam", False), ("adl", True)])
def test_inception_v3_cam_and_adl_checkpoints_give_upstreams_logits_and_cams(
    method, large_feature_map, convert_upstream
):
    """InceptionAdl's ADL modules have no parameters: its keys are InceptionCam's, the method is told."""
    reference = reference_inception_cam(4, large_feature_map, seed=2)
    state = upstream_inception_state(reference)
    assert not any(k.startswith(("Mixed_7", "AuxLogits", "fc.")) for k in state)
    extra = ("--method", "adl") if method == "adl" else ()
    module = convert_upstream(state, "inception_v3", large_feature_map, *extra)
    assert module.hparams.method == method
    if method == "adl":
        assert module.hparams.method_kwargs == {"placement": "wsolevaluation"}
        assert module.net.backbone.adl_positions == ["Mixed_5d", "Mixed_6e", "SPG_A3_2b"]
    logits, cams = assert_upstreams(module.net, reference, torch.tensor([2, 0]))
    assert logits.std() > 1e-3 and cams.std() > 1e-3


def test_vgg16_spg_checkpoint_gives_upstreams_logits_and_cams(convert_upstream):
    reference = ReferenceVggSpg(4, large_feature_map=False, seed=6)
    state = {k: v for k, v in reference.state_dict().items() if not k.startswith("tv_features.")}
    module = convert_upstream(state, "vgg16", False)
    assert module.hparams.method == "spg" and module.net.layout.name == "vgg16"
    _, cams = assert_upstreams(module.net, reference, torch.tensor([3, 1]))
    assert cams.std() > 1e-4


def test_inception_v3_spg_checkpoint_gives_upstreams_logits_and_cams(convert_upstream):
    reference = ReferenceInceptionSpg(4, large_feature_map=True, seed=7)
    state = {}
    for key, value in reference.state_dict().items():
        key = key.removeprefix("tv.")
        if not key.startswith(("Mixed_7", "AuxLogits", "fc.")):  # upstream's InceptionSpg has none of these
            state[key] = value
    module = convert_upstream(state, "inception_v3", True)
    assert module.hparams.method == "spg" and module.net.layout.name == "inception_v3"
    assert_upstreams(module.net, reference, torch.tensor([0, 3]))


@pytest.mark.parametrize(
    "trunk, architecture",
    [
        ({"features.0.weight": torch.zeros(1)}, "VGG16"),
        ({"Mixed_5b.x.weight": torch.zeros(1)}, "InceptionV3"),
    ],
)
def test_vgg16_and_inception_v3_acol_checkpoints_missing_classifier_layers_are_refused(trunk, architecture):
    # their conversion: tests/models/test_acol_vgg_inception.py
    state = {**trunk, "classifier_A.0.weight": torch.zeros(1), "classifier_B.0.weight": torch.zeros(1)}
    with pytest.raises(ValueError, match=r"an ACoL checkpoint without \['classifier_A.2.'"):
        method_state_dict_to_wsl(state)


def test_vgg16_keys_of_no_upstream_layout_are_refused_by_name():
    state = {
        "features.0.weight": torch.zeros(1),
        "features.3.weight": torch.zeros(1),
        "fc.bias": torch.zeros(1),
    }
    with pytest.raises(ValueError, match=r"features.<i> conv indices \[0, 3\] are those of none"):
        method_state_dict_to_wsl(state, "cam")


def test_inception_v3_mixed_7_is_refused_by_name():
    reference = ReferenceInceptionCam(2, True)
    state = {**upstream_inception_state(reference), "Mixed_7a.branch3x3_1.conv.weight": torch.zeros(1)}
    with pytest.raises(ValueError, match=r"InceptionV3 cam / adl network, e.g. \['Mixed_7a"):
        method_state_dict_to_wsl(state)


#: architecture → (the converter, the classifier's width, the missing-key error, the shape error's end).
CLASSIFIER_ERRORS = {
    "resnet50": (
        wsolevaluation_state_dict_to_wsl,
        2048,
        "main.py",
        "ResNet50's classifier is (C, 2048) and (C,)",
    ),
    "vgg16": (
        vgg16_state_dict_to_wsl,
        1024,
        "VGG16 cam / adl",
        "VGG16-CAM's classifier is (C, 1024) and (C,)",
    ),
}


def _upstream_cam_state(architecture: str) -> dict:
    if architecture == "vgg16":
        return upstream_vgg_state(ReferenceVggCam(2, False), "cam", False)
    return dict(torchvision.models.resnet50(weights=None, num_classes=2).state_dict())


@pytest.mark.parametrize("architecture", sorted(CLASSIFIER_ERRORS))
def test_the_resnet50_and_vgg16_classifier_errors_name_the_checkpoint_and_the_width(architecture):
    convert, width, checkpoint, shape = CLASSIFIER_ERRORS[architecture]
    state = _upstream_cam_state(architecture)
    assert tuple(state["fc.weight"].shape) == (2, width)
    head = convert(state)
    assert torch.equal(head["head.conv.weight"], state["fc.weight"].view(2, width, 1, 1))
    assert head["head.conv.bias"] is state["fc.bias"]
    without = {k: v for k, v in state.items() if k != "fc.bias"}
    with pytest.raises(ValueError) as missing:
        convert(without)
    assert str(missing.value) == (
        f"state_dict: no 'fc.weight' / 'fc.bias'; a wsolevaluation {checkpoint} checkpoint holds its "
        "classifier (pass checkpoint['state_dict'] of a *_checkpoint.pth.tar)"
    )
    narrow = {**state, "fc.weight": torch.zeros(2, width // 2)}
    with pytest.raises(ValueError) as wrong:
        convert(narrow)
    assert str(wrong.value) == (
        f"state_dict: fc.weight has shape (2, {width // 2}) and fc.bias (2,); {shape}"
    )
