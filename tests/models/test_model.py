"""WSLNet: shapes, stages, pools from the registry, weights files and clear errors."""

from __future__ import annotations

import pytest
import timm
import torch
from safetensors.torch import save_file

from wsl.models import WSLNet, create_backbone
from wsl.pooling import POOLS


@pytest.mark.parametrize("pool", sorted(POOLS))
def test_forward_returns_scores_and_class_maps_for_every_pool(pool):
    net = WSLNet(num_classes=5, backbone="resnet18", pool=pool, num_maps=2)
    scores, class_maps = net(torch.randn(2, 3, 64, 64))
    assert scores.shape == (2, 5)
    assert class_maps.shape == (2, 5, 2, 2)
    scores.sum().backward()
    assert net.head.conv.weight.grad is not None


def test_gap_scores_are_the_mean_of_the_class_maps():
    net = WSLNet(num_classes=3, backbone="resnet18", pool="gap").eval()
    scores, class_maps = net(torch.randn(1, 3, 96, 96))
    torch.testing.assert_close(scores, class_maps.mean(dim=(2, 3)))


def test_out_index_selects_the_stage_and_its_stride():
    backbone = create_backbone("regnetx_002", out_index=3)
    assert (backbone.stride, backbone.out_channels) == (16, 152)
    assert backbone(torch.zeros(1, 3, 128, 128)).shape == (1, 152, 8, 8)


def test_output_stride_dilates_the_last_stage():
    backbone = create_backbone("resnet18", output_stride=16)
    assert backbone(torch.zeros(1, 3, 128, 128)).shape[-2:] == (8, 8)


def test_vit_tokens_become_a_grid():
    backbone = create_backbone("vit_tiny_patch16_224", img_size=64)
    assert backbone(torch.zeros(1, 3, 64, 64)).shape == (1, 192, 4, 4)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_local_weights_file_is_loaded(tmp_path, suffix):
    source = timm.create_model("resnet18", pretrained=False)
    with torch.no_grad():
        source.conv1.weight.fill_(0.125)
    path = tmp_path / f"weights{suffix}"
    if suffix == ".pth":
        torch.save(source.state_dict(), path)
    else:
        save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    backbone = create_backbone("resnet18", pretrained=str(path))
    torch.testing.assert_close(backbone.body.conv1.weight, source.conv1.weight)


def test_weights_file_with_pickled_objects_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"conv1.weight": torch.zeros(1), "payload": object()}, path)
    with pytest.raises(Exception, match="(?i)weights_only|unsupported|global"):
        create_backbone("resnet18", pretrained=str(path))


def test_unknown_backbone_names_the_closest():
    with pytest.raises(ValueError, match="unknown backbone 'resnet5O'.*resnet50"):
        create_backbone("resnet5O")


def test_bad_out_index_lists_the_range():
    with pytest.raises(ValueError, match="out_index=7 is out of range.*5 feature stages"):
        create_backbone("resnet18", out_index=7)


def test_missing_weights_file_says_what_is_accepted():
    with pytest.raises(ValueError, match="no such weights file"):
        create_backbone("resnet18", pretrained="/nonexistent/w.pth")


def test_unknown_pool_is_a_clear_error():
    with pytest.raises(ValueError, match="weldon"):
        WSLNet(num_classes=3, backbone="resnet18", pool="weldn")


def test_softpool_stem_replaces_the_max_pool():
    net = WSLNet(num_classes=2, backbone="resnet18", pool="gap", softpool_stem=True)
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in net.modules())
    assert net(torch.zeros(1, 3, 64, 64))[1].shape == (1, 2, 2, 2)


@pytest.mark.parametrize(
    "backbone, out_index", [("lcnet_050", 3), ("resnet18", 2), ("regnetx_002", 3), ("efficientnet_b0", 2)]
)
def test_every_parameter_is_used_by_the_loss(backbone, out_index):
    """DDP refuses parameters that no loss reaches: the stages after ``out_index`` are dropped."""
    net = WSLNet(num_classes=3, backbone=backbone, pool="gap", out_index=out_index)
    scores, _ = net(torch.randn(2, 3, 64, 64))
    scores.sum().backward()
    unused = [name for name, p in net.named_parameters() if p.grad is None]
    assert unused == []


def test_a_checkpoint_with_the_dropped_stages_still_loads():
    """State dicts saved before the pruning hold ``blocks.5`` …: they load; the extra weights are ignored."""
    net = WSLNet(num_classes=3, backbone="lcnet_050", pool="gap", out_index=3)
    full = timm.create_model("lcnet_050", pretrained=False, features_only=True)
    old = {f"backbone.body.{k}": v for k, v in full.state_dict().items()}
    old.update({k: v for k, v in net.state_dict().items() if not k.startswith("backbone.")})
    assert any(k.startswith("backbone.body.blocks.5.") for k in old)
    net.load_state_dict(old)
    torch.testing.assert_close(net.backbone.body.conv_stem.weight, full.conv_stem.weight)
