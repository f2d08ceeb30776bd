"""ResNet50-CAM as wsolevaluation builds it, against an independent reference written here.

The reference follows upstream's wsol/resnet.py (commit 96f4b88) from its rules, on torchvision's ResNet50
with the strides set by hand, sharing no code with wsl: layer4 always stride 1, layer3 stride 1 only with
``large_feature_map``, no dilation (the first block's 3×3 conv2 and its 1×1 downsample conv stride
together); ``logits = fc(GAP(f))``; ``cams = (fc.weight[label] ⊙ f).mean(channels)``. wsl's network must give
the same logits, and class maps equal to ``2048 · cams + fc.bias[label]``, in float64.
"""

from __future__ import annotations

import hashlib

import pytest
import torch
import torchvision
from torch import nn

from tools.convert_wsolevaluation import main as convert_main
from wsl.checkpoint import load_module
from wsl.models import WSLNet, create_backbone
from wsl.models.wsolevaluation import convert_wsolevaluation_checkpoint, wsolevaluation_state_dict_to_wsl

TOL = {"rtol": 1e-6, "atol": 1e-6}


def reference_resnet50_cam(num_classes: int, large_feature_map: bool, seed: int = 0) -> nn.Module:
    """torchvision's ResNet50 with upstream's strides and random weights, BN statistics included."""
    torch.manual_seed(seed)
    model = torchvision.models.resnet50(weights=None, num_classes=num_classes)
    stride_l3 = 1 if large_feature_map else 2
    for layer, stride in ((model.layer3, stride_l3), (model.layer4, 1)):
        layer[0].conv2.stride = (stride, stride)
        layer[0].downsample[0].stride = (stride, stride)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.0)
                module.bias.normal_(0.0, 0.1)
                module.running_mean.normal_(0.0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
        model.fc.weight.normal_(0.0, 0.05)
        model.fc.bias.normal_(0.0, 0.5)
    return model.eval()


def reference_forward(model: nn.Module, images: torch.Tensor, labels: torch.Tensor):
    """Upstream ResNetCam.forward: ``(logits (N, C), cams (N, h, w))`` of the given labels."""
    x = model.maxpool(model.relu(model.bn1(model.conv1(images))))
    features = model.layer4(model.layer3(model.layer2(model.layer1(x))))
    logits = model.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(features, 1), 1))
    weights = model.fc.weight[labels]
    cams = (weights.view(*features.shape[:2], 1, 1) * features).mean(1)
    return logits, cams


def wsl_cams(class_maps: torch.Tensor, bias: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Upstream's cams from wsl's class maps: (class map − b) / 2048."""
    picked = class_maps[torch.arange(len(labels)), labels]
    return (picked - bias[labels].view(-1, 1, 1)) / 2048


def minmax(x: torch.Tensor) -> torch.Tensor:
    flat = x.flatten(1)
    low, high = flat.min(1).values, flat.max(1).values
    return ((flat - low[:, None]) / (high - low)[:, None]).view_as(x)


def assert_matches_reference(net: nn.Module, reference: nn.Module, size: int = 64) -> None:
    torch.manual_seed(1)
    images = torch.randn(2, 3, size, size, dtype=torch.float64)
    net, reference = net.double().eval(), reference.double().eval()
    with torch.no_grad():
        scores, class_maps = net(images)
        labels = torch.tensor([1, scores.shape[1] - 1])
        logits, cams = reference_forward(reference, images, labels)
    torch.testing.assert_close(scores, logits, **TOL)
    head = net.head.conv if hasattr(net, "head") else net.net.head.conv
    got = wsl_cams(class_maps, head.bias, labels)
    assert got.shape == cams.shape
    torch.testing.assert_close(got, cams, rtol=1e-6, atol=1e-9)  # the cams are ~1e-3: a mean over 2048
    torch.testing.assert_close(minmax(class_maps[torch.arange(2), labels]), minmax(cams), **TOL)
    assert logits.std() > 0.1 and cams.std() > 1e-5  # not a trivially equal pair of constants


@pytest.mark.parametrize("large_feature_map", [True, False])
def test_wsl_resnet50_cam_from_a_torchvision_file_equals_the_reference(large_feature_map, tmp_path):
    """A torchvision-keyed weights file (the layout of resnet50-19c8e357.pth, no num_batches_tracked) and
    head_init='pretrained_fc' (upstream keeps the ImageNet fc on ILSVRC)."""
    reference = reference_resnet50_cam(1000, large_feature_map)
    state = {k: v for k, v in reference.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "resnet50-torchvision.pth"
    torch.save(state, path)
    net = WSLNet(
        num_classes=1000,
        backbone="resnet50.tv_in1k",
        pool="gap",
        pretrained=str(path),
        large_feature_map=large_feature_map,
        head_init="pretrained_fc",
    )
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert net.backbone.weights == {
        "source": "file",
        "name": "resnet50.tv_in1k",
        "file": str(path.resolve()),
        "sha256": sha,
    }
    assert net.backbone.stride == (8 if large_feature_map else 16)
    assert_matches_reference(net, reference)


@pytest.mark.parametrize("large_feature_map, side", [(True, 28), (False, 14)])
def test_the_feature_map_is_28_or_14_at_224(large_feature_map, side):
    backbone = create_backbone("resnet50", large_feature_map=large_feature_map).eval()
    with torch.no_grad():
        assert backbone(torch.zeros(1, 3, 224, 224)).shape == (1, 2048, side, side)
    stages = [entry["reduction"] for entry in backbone.body.feature_info.info]
    assert stages == [2, 4, 8, 8 if large_feature_map else 16, 224 // side]
    assert backbone.stride == 224 // side
    assert all(m.dilation == (1, 1) for m in backbone.modules() if isinstance(m, nn.Conv2d))


def upstream_payload(reference: nn.Module) -> dict:
    """What wsolevaluation's main.py ``_torch_save_model`` writes besides the architecture and the state."""
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    return {"epoch": 50, "optimizer": optimizer.state_dict()}


@pytest.mark.parametrize("large_feature_map, data_parallel", [(True, False), (False, True)])
def test_a_wsolevaluation_checkpoint_converts_to_the_same_network(
    large_feature_map, data_parallel, convert_upstream, tmp_path
):
    names = ["a", "b", "c", "d", "e"]
    reference = reference_resnet50_cam(len(names), large_feature_map, seed=3)
    module = convert_upstream(
        reference.state_dict(),
        "resnet50",
        large_feature_map,
        class_names=",".join(names),
        data_parallel=data_parallel,
        payload=upstream_payload(reference),
    )
    assert module.class_names == names
    assert_matches_reference(module.net, reference)
    loaded = load_module(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert loaded.training_precision == "32-true" and loaded.hparams.protocol == "wsolevaluation"
    assert_matches_reference(loaded.net, reference)


def test_the_converted_checkpoint_is_scored_by_tools_evaluate(tmp_path):
    """The class names come from the data (a tiny wsolevaluation-layout set); evaluate --ckpt scores it."""
    from tools.evaluate import main as evaluate_main
    from wsl.data import WSLDataModule, make_synthetic

    root = make_synthetic(
        tmp_path / "wsol", "wsol", seed=0, progress=False, num_train=4, num_val=2, num_test=3, image_size=64
    )
    data = f"wsol:{root}"
    names = list(WSLDataModule(data).class_names)
    reference = reference_resnet50_cam(len(names), True, seed=4)
    source = tmp_path / "best_checkpoint.pth.tar"
    torch.save(
        {"architecture": "resnet50", "state_dict": reference.state_dict(), **upstream_payload(reference)},
        source,
    )
    out = tmp_path / "run" / "checkpoints" / "best.ckpt"
    summary = convert_wsolevaluation_checkpoint(source, out, large_feature_map=True, class_names=names)
    assert summary["epoch"] == 50 and summary["num_classes"] == len(names)
    report = tmp_path / "evaluation.json"
    argv = ["--ckpt", str(out), "--data", data, "--split", "test", "--image-size", "64", "--device", "cpu",
            "--num-workers", "0", "--no-progress", "--out", str(report)]  # fmt: skip
    assert evaluate_main(argv) == 0
    assert report.is_file() and "maxboxacc_v2" in report.read_text()


def test_state_dict_keys_map_to_the_wsl_network():
    upstream = torchvision.models.resnet50(weights=None, num_classes=7).state_dict()
    mapped = wsolevaluation_state_dict_to_wsl({"module." + k: v for k, v in upstream.items()})
    net = WSLNet(num_classes=7, backbone="resnet50", pool="gap", large_feature_map=True)
    assert set(mapped) == set(net.state_dict())
    assert mapped["head.conv.weight"].shape == (7, 2048, 1, 1)
    torch.testing.assert_close(mapped["head.conv.weight"][:, :, 0, 0], upstream["fc.weight"], rtol=0, atol=0)


@pytest.fixture(scope="module")
def upstream_state():
    return torchvision.models.resnet50(weights=None, num_classes=3).state_dict()


def test_adl_block_indices_are_refused(upstream_state):
    adl = dict(upstream_state)
    adl["layer3.6.conv1.weight"] = adl.pop("layer3.5.conv1.weight")  # ADL shifts the blocks after it
    with pytest.raises(
        ValueError, match=r"not those of wsolevaluation's ResNet50.*layer3\.6.*method_state_dict_to_wsl"
    ):
        wsolevaluation_state_dict_to_wsl(adl)


def test_acol_classifier_keys_are_refused(upstream_state):
    acol = {k: v for k, v in upstream_state.items() if not k.startswith("fc.")}
    acol["classifier_A.0.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"classifier_A\.0\.weight"):
        wsolevaluation_state_dict_to_wsl(acol)


def test_a_state_dict_without_fc_is_refused(upstream_state):
    with pytest.raises(ValueError, match="no 'fc.weight'"):
        wsolevaluation_state_dict_to_wsl({k: v for k, v in upstream_state.items() if not k.startswith("fc.")})


def test_mixed_data_parallel_prefixes_are_refused(upstream_state):
    mixed = dict(upstream_state)
    mixed["module.fc.bias"] = mixed.pop("fc.bias")
    with pytest.raises(ValueError, match="some keys start with 'module.'"):
        wsolevaluation_state_dict_to_wsl(mixed)


def test_a_wrong_fc_shape_is_refused(upstream_state):
    bad = dict(upstream_state, **{"fc.weight": torch.zeros(3, 512)})
    with pytest.raises(ValueError, match=r"fc.weight has shape \(3, 512\)"):
        wsolevaluation_state_dict_to_wsl(bad)


def test_a_non_tensor_value_is_a_type_error(upstream_state):
    with pytest.raises(TypeError, match=r"state_dict\['fc.bias'\]: expected a tensor"):
        wsolevaluation_state_dict_to_wsl(dict(upstream_state, **{"fc.bias": [0.0]}))


def test_converter_errors(upstream_state, tmp_path):
    source = tmp_path / "x.pth.tar"
    torch.save({"architecture": "alexnet", "state_dict": {}}, source)
    with pytest.raises(ValueError, match=r"'alexnet' checkpoint; converted are \['inception_v3', 'resnet50'"):
        convert_wsolevaluation_checkpoint(source, tmp_path / "o.ckpt", large_feature_map=False)
    torch.save({"architecture": "vgg16", "state_dict": upstream_state}, source)
    with pytest.raises(
        ValueError, match="says architecture 'vgg16' but its state_dict keys are those of upstream's resnet50"
    ):
        convert_wsolevaluation_checkpoint(source, tmp_path / "o.ckpt", large_feature_map=False)
    torch.save({"state_dict": upstream_state}, source)
    with pytest.raises(
        ValueError, match="class_names: 2 names, but the checkpoint's classifier has 3 classes"
    ):
        convert_wsolevaluation_checkpoint(
            source, tmp_path / "o.ckpt", large_feature_map=False, class_names="ab"
        )
    with pytest.raises(ValueError, match="large_feature_map: expected True or False"):
        convert_wsolevaluation_checkpoint(source, tmp_path / "o.ckpt", large_feature_map="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="image_size: expected a positive int"):
        convert_wsolevaluation_checkpoint(source, tmp_path / "o.ckpt", large_feature_map=False, image_size=0)
    with pytest.raises(ValueError, match="does not exist"):
        convert_wsolevaluation_checkpoint(
            tmp_path / "missing.tar", tmp_path / "o.ckpt", large_feature_map=False
        )


def test_the_tool_reports_a_missing_source_as_one_line(tmp_path, capsys):
    argv = ["--source", str(tmp_path / "nope.pth.tar"), "--out", str(tmp_path / "o.ckpt"),
            "--large-feature-map", "true", "--class-names", "a,b"]  # fmt: skip
    assert convert_main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --source") and "does not exist" in err


def test_the_tool_needs_the_large_feature_map(tmp_path, capsys):
    assert convert_main(["--source", "x", "--out", "y", "--class-names", "a"]) == 2
    assert "--large-feature-map" in capsys.readouterr().err
