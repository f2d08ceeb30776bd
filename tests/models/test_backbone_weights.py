"""Backbone names (tagged, hf-hub) and pretrained weights: loaded, recorded, or a clear error; never a
silent random init. No test reaches the network: timm's download functions are replaced."""

from __future__ import annotations

import hashlib

import pytest
import timm
import timm.models._builder as timm_builder
import timm.models._factory as timm_factory
import torch
import torchvision

from wsl.models import PretrainedWeightsError, WSLNet, create_backbone, resolve_backbone_name

FIX = r"--model\.pretrained /path/to/file\.pth.*--model\.pretrained false"


@pytest.fixture
def offline(monkeypatch):
    """timm's downloads fail as they do without a network (no retries, no waiting)."""

    def fail(*args, **kwargs):
        raise OSError("[Errno -2] Name or service not known")

    monkeypatch.setattr(timm_builder, "load_state_dict_from_url", fail)
    monkeypatch.setattr(timm_builder, "load_state_dict_from_hf", fail)
    monkeypatch.setattr(timm_factory, "load_model_config_from_hf", fail)


@pytest.fixture
def hub(monkeypatch):
    """timm's downloads return the state dict of a seeded resnet18 (and a hub config for hf-hub ids)."""
    torch.manual_seed(0)
    source = timm.create_model("resnet18", pretrained=False)
    calls: list[str] = []

    def download(location, *args, **kwargs):
        calls.append(str(location))
        return {k: v.clone() for k, v in source.state_dict().items()}

    def config(model_id, *args, **kwargs):
        calls.append(f"config:{model_id}")
        cfg = timm.models.get_pretrained_cfg("resnet18.tv_in1k").to_dict()
        return dict(cfg, hf_hub_id=model_id, source="hf-hub"), "resnet18", {}

    monkeypatch.setattr(timm_builder, "load_state_dict_from_url", download)
    monkeypatch.setattr(timm_builder, "load_state_dict_from_hf", download)
    monkeypatch.setattr(timm_factory, "load_model_config_from_hf", config)
    return source, calls


@pytest.mark.parametrize("name", ["resnet50.tv_in1k", "vgg16.tv_in1k", "inception_v3.tv_in1k"])
def test_tagged_names_are_accepted(name):
    arch, tag = name.split(".")
    assert resolve_backbone_name(name) == (None, arch, tag)
    backbone = create_backbone(name, pretrained=False)
    assert backbone.name == name and backbone.weights == {"source": "none", "name": name}


def test_an_hf_hub_name_is_accepted(hub):
    _, calls = hub
    backbone = create_backbone("hf-hub:timm/resnet18.tv_in1k", pretrained=False)
    assert backbone.out_channels == 512 and calls[0] == "config:timm/resnet18.tv_in1k"
    assert backbone.weights == {"source": "none", "name": "hf-hub:timm/resnet18.tv_in1k"}


def test_hf_hub_weights_are_loaded_and_recorded(hub):
    source, calls = hub
    backbone = create_backbone("hf-hub:timm/resnet18.tv_in1k", pretrained=True)
    torch.testing.assert_close(backbone.body.layer4[1].conv2.weight, source.layer4[1].conv2.weight)
    assert backbone.weights["source"] == "hf-hub" and backbone.weights["hf_hub_id"] == "timm/resnet18.tv_in1k"
    assert "timm/resnet18.tv_in1k" in calls


def test_timm_weights_are_loaded_and_the_tag_recorded(hub):
    source, _ = hub
    backbone = create_backbone("resnet18.tv_in1k", pretrained=True)
    torch.testing.assert_close(backbone.body.conv1.weight, source.conv1.weight)
    weights = backbone.weights
    assert (weights["source"], weights["name"], weights["tag"], weights["architecture"]) == (
        "timm",
        "resnet18.tv_in1k",
        "tv_in1k",
        "resnet18",
    )


def test_a_failed_download_is_an_error_naming_the_tag_and_the_ways_out(offline):
    with pytest.raises(PretrainedWeightsError, match=rf"'resnet18\.tv_in1k'.*OSError.*{FIX}"):
        create_backbone("resnet18.tv_in1k", pretrained=True)


def test_a_failed_download_stops_the_network_too(offline):
    """No fallback to random init anywhere up the stack: WSLNet raises the same error."""
    with pytest.raises(ValueError, match=rf"could not load the pretrained weights.*{FIX}"):
        WSLNet(num_classes=2, backbone="resnet18", pool="gap", pretrained=True)


def test_an_unreachable_hf_hub_config_is_an_error(offline):
    with pytest.raises(
        PretrainedWeightsError, match=rf"hf-hub:timm/resnet18\.tv_in1k.*Hugging Face hub.*{FIX}"
    ):
        create_backbone("hf-hub:timm/resnet18.tv_in1k", pretrained=False)


def test_an_unknown_tag_lists_the_closest():
    with pytest.raises(ValueError, match=r"unknown pretrained tag 'tv_inik'.*closest: \['resnet50\.tv_in1k'"):
        create_backbone("resnet50.tv_inik")


def test_an_unknown_architecture_with_a_tag_lists_the_closest():
    with pytest.raises(ValueError, match=r"unknown backbone 'resnet5O\.tv_in1k'.*resnet50"):
        create_backbone("resnet5O.tv_in1k")


@pytest.mark.parametrize(
    "name, match",
    [
        ("local-dir:/tmp/x", "source 'local-dir' is not supported"),
        ("nope:resnet50", "backbone 'nope:resnet50'"),
        ("", "expected a timm model name"),
    ],
)
def test_unparsable_names_are_refused(name, match):
    with pytest.raises(ValueError, match=match):
        resolve_backbone_name(name)


def test_a_torchvision_weights_file_loads_and_is_recorded_with_its_hash(tmp_path):
    """torchvision's resnet50 keys are timm's: its state dict (as in resnet50-19c8e357.pth, which has no
    num_batches_tracked) loads into timm's resnet50."""
    torch.manual_seed(0)
    reference = torchvision.models.resnet50(weights=None)
    state = {k: v for k, v in reference.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "resnet50-19c8e357.pth"
    torch.save(state, path)
    backbone = create_backbone("resnet50.tv_in1k", pretrained=str(path))
    body = backbone.body.state_dict()
    for key, value in state.items():
        if not key.startswith("fc."):
            torch.testing.assert_close(body[key], value, rtol=0, atol=0)
    assert backbone.weights == {
        "source": "file",
        "name": "resnet50.tv_in1k",
        "file": str(path.resolve()),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }


def test_an_unreadable_weights_file_names_the_file(tmp_path):
    path = tmp_path / "broken.pth"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(
        PretrainedWeightsError, match=rf"could not load the weights file '.*broken\.pth'.*{FIX}"
    ):
        create_backbone("resnet18", pretrained=str(path))


@pytest.mark.parametrize(
    "saved, built, match",
    [
        ("resnet18", "resnet34", r"80 of its weights are not in them \(e\.g\. \['layer1\.2\.conv1\.weight'"),
        ("resnet34", "resnet18", r"0 of its weights .* 96 of theirs are not the network's"),
    ],
)
def test_a_weights_file_of_another_network_is_refused_not_half_loaded(saved, built, match, tmp_path):
    """timm loads a feature model's weights with strict=False and only logs what did not match. The 8
    blocks resnet34 has beyond resnet18 hold 2 convs + 2 BNs: 10 tensors each, 12 with num_batches_tracked."""
    path = tmp_path / f"{saved}.pth"
    torch.save(timm.create_model(saved).state_dict(), path)
    with pytest.raises(
        PretrainedWeightsError, match=rf"'{built}': the weights file '.*{saved}\.pth'.*{match}.*{FIX}"
    ):
        create_backbone(built, pretrained=str(path))


def test_a_missing_weights_file_says_how_to_pass_one():
    with pytest.raises(PretrainedWeightsError, match=rf"no such weights file.*{FIX}"):
        create_backbone("resnet18", pretrained="/nonexistent/w.pth")


# --- head_init="pretrained_fc" ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory):
    torch.manual_seed(2)
    model = torchvision.models.resnet18(weights=None)
    path = tmp_path_factory.mktemp("weights") / "resnet18-torchvision.pth"
    torch.save(model.state_dict(), path)
    return path, model


def test_pretrained_fc_becomes_the_1x1_head(resnet18_file):
    path, model = resnet18_file
    net = WSLNet(
        num_classes=1000, backbone="resnet18", pool="gap", pretrained=str(path), head_init="pretrained_fc"
    )
    torch.testing.assert_close(net.head.conv.weight[:, :, 0, 0], model.fc.weight, rtol=0, atol=0)
    torch.testing.assert_close(net.head.conv.bias, model.fc.bias, rtol=0, atol=0)
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(net.eval()(images)[0], model.eval()(images), rtol=1e-4, atol=1e-4)


def test_pretrained_fc_needs_the_classifier_classes(resnet18_file):
    path, _ = resnet18_file
    with pytest.raises(ValueError, match=r"maps 512 features to 1000 classes.*num_classes=5"):
        WSLNet(
            num_classes=5, backbone="resnet18", pool="gap", pretrained=str(path), head_init="pretrained_fc"
        )


def test_pretrained_fc_needs_pretrained_weights():
    with pytest.raises(ValueError, match=r"head_init='pretrained_fc'.*pretrained=False"):
        WSLNet(num_classes=1000, backbone="resnet18", pool="gap", head_init="pretrained_fc")


def test_pretrained_fc_needs_one_map_per_class(resnet18_file):
    path, _ = resnet18_file
    with pytest.raises(ValueError, match="needs num_maps=1; got num_maps=2"):
        WSLNet(
            num_classes=1000, backbone="resnet18", pretrained=str(path), num_maps=2, head_init="pretrained_fc"
        )


def test_an_unknown_head_init_lists_the_choices():
    with pytest.raises(ValueError, match=r"head_init='fc' is not supported.*'pretrained_fc'"):
        WSLNet(num_classes=2, backbone="resnet18", head_init="fc")


def test_the_pretrained_classifier_download_failure_is_an_error(offline):
    with pytest.raises(PretrainedWeightsError, match=FIX):
        WSLNet(
            num_classes=1000,
            backbone="resnet18.tv_in1k",
            pool="gap",
            pretrained=True,
            head_init="pretrained_fc",
        )


# --- large_feature_map errors -----------------------------------------------------------------------------


def test_large_feature_map_on_an_unsupported_family_names_the_supported_ones():
    with pytest.raises(ValueError, match=r"large_feature_map=True.*families \['resnet'\]; backbone 'vgg11'"):
        create_backbone("vgg11", large_feature_map=True)


def test_large_feature_map_with_output_stride_is_refused():
    with pytest.raises(ValueError, match="large_feature_map=False and output_stride=16 both set the strides"):
        create_backbone("resnet18", large_feature_map=False, output_stride=16)


def test_large_feature_map_on_an_avg_down_resnet_is_refused():
    with pytest.raises(ValueError, match="layer3 is not a plain ResNet block"):
        create_backbone("resnet18d", large_feature_map=True)


def test_large_feature_map_on_a_basic_block_resnet_and_a_cut_body():
    """resnet18's strided conv is its first block's conv1; a body cut after layer3 keeps layer3's rule."""
    backbone = create_backbone("resnet18", large_feature_map=True).eval()
    assert backbone.stride == 8 and backbone(torch.zeros(1, 3, 64, 64)).shape[-2:] == (8, 8)
    cut = create_backbone("resnet18", out_index=3, large_feature_map=False).eval()
    assert cut.stride == 16 and cut(torch.zeros(1, 3, 64, 64)).shape[-2:] == (4, 4)


def test_a_trained_checkpoint_loads_without_its_pretrained_weights(resnet18_file, tmp_path):
    """load_module rebuilds the network from the state dict: the weights file it started from may be gone,
    and head_init='pretrained_fc' is not repeated (the trained head is in the state dict)."""
    from wsl.checkpoint import load_module
    from wsl.lit import WSLModule

    path, _ = resnet18_file
    copy = tmp_path / "gone.pth"
    copy.write_bytes(path.read_bytes())
    module = WSLModule(num_classes=1000, backbone="resnet18", pool="gap", out_index=-1,
                       pretrained=str(copy), head_init="pretrained_fc")  # fmt: skip
    with torch.no_grad():
        module.net.head.conv.bias.add_(1.0)  # "trained"
    ckpt = tmp_path / "last.ckpt"
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}, ckpt)
    copy.unlink()
    loaded = load_module(ckpt)
    torch.testing.assert_close(loaded.net.head.conv.bias, module.net.head.conv.bias, rtol=0, atol=0)
    assert loaded.hparams.pretrained is False and loaded.hparams.head_init == "default"
