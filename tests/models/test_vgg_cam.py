"""VGG16-CAM as wsolevaluation builds it, against an independent reference written here.

The reference follows upstream's wsol/vgg.py (commit 96f4b88) from its rules, sharing no code with wsl:
VGG16's 13 3×3 convs + ReLU with a 2×2 max-pool after the first three blocks, after the fourth only
without ``large_feature_map``, never after the fifth; conv6 = 3×3 conv 512→1024 (padding 1) + ReLU;
``logits = fc(GAP(f))``; ``cams = (fc.weight[label] ⊙ f).mean(channels)``. wsl's network must give the same
logits, and class maps equal to ``1024 · cams + fc.bias[label]``, in float64.
"""

from __future__ import annotations

import hashlib

import pytest
import torch
from torch import nn

from wsl.models import WSLNet, create_backbone

TOL = {"rtol": 1e-6, "atol": 1e-6}
#: torchvision's VGG16 ``features`` indices of its 13 convs (pools at 4, 9, 16, 23, 30).
TORCHVISION_CONVS = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
WIDTHS = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M4", 512, 512, 512)


class ReferenceVggCam(nn.Module):
    """Upstream's VggCam from its rules: ``features`` indexed as upstream's nn.Sequential."""

    def __init__(self, num_classes: int, large_feature_map: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for width in WIDTHS:
            if width == "M" or (width == "M4" and not large_feature_map):
                layers.append(nn.MaxPool2d(2, 2))
            elif width != "M4":
                layers += [nn.Conv2d(channels, int(width), 3, padding=1), nn.ReLU()]
                channels = int(width)
        self.features = nn.Sequential(*layers)
        self.conv6 = nn.Conv2d(512, 1024, 3, padding=1)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, images, labels):
        f = torch.relu(self.conv6(self.features(images)))
        logits = self.fc(f.mean((2, 3)))
        weights = self.fc.weight[labels]
        return logits, (weights.view(*f.shape[:2], 1, 1) * f).mean(1)


def reference_vgg16_cam(num_classes: int, large_feature_map: bool, seed: int = 0) -> ReferenceVggCam:
    torch.manual_seed(seed)
    model = ReferenceVggCam(num_classes, large_feature_map)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d):  # He init keeps the activations O(1) through 14 layers
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                module.bias.normal_(0.0, 0.05)
        model.fc.weight.normal_(0.0, 0.05)
        model.fc.bias.normal_(0.0, 0.5)
    return model.eval()


def reference_convs(reference: ReferenceVggCam) -> list[nn.Conv2d]:
    return [m for m in reference.features if isinstance(m, nn.Conv2d)]


def torchvision_file(reference: ReferenceVggCam, path) -> None:
    """A weights file laid out as torchvision's vgg16-397923af.pth: ``features.<i>`` at torchvision's
    indices and ``classifier.{0,3,6}``, here zero views (stride 0) so that the file stays small."""
    state = {}
    for index, conv in zip(TORCHVISION_CONVS, reference_convs(reference), strict=True):
        state[f"features.{index}.weight"] = conv.weight.detach().clone()
        state[f"features.{index}.bias"] = conv.bias.detach().clone()
    for index, shape in ((0, (4096, 25088)), (3, (4096, 4096)), (6, (1000, 4096))):
        state[f"classifier.{index}.weight"] = torch.zeros(1).expand(*shape)
        state[f"classifier.{index}.bias"] = torch.zeros(1).expand(shape[0])
    torch.save(state, path)


def copy_added_layers(net: WSLNet, reference: ReferenceVggCam) -> None:
    """conv6 and fc are not in an ImageNet file: copy them from the reference (fc → the 1×1 conv head)."""
    with torch.no_grad():
        net.backbone.body.conv6.weight.copy_(reference.conv6.weight)
        net.backbone.body.conv6.bias.copy_(reference.conv6.bias)
        net.head.conv.weight.copy_(reference.fc.weight[:, :, None, None])
        net.head.conv.bias.copy_(reference.fc.bias)


def assert_matches_reference(net: nn.Module, reference: ReferenceVggCam, size: int = 64) -> None:
    torch.manual_seed(1)
    images = torch.randn(2, 3, size, size, dtype=torch.float64)
    net, reference = net.double().eval(), reference.double().eval()
    with torch.no_grad():
        scores, class_maps = net(images)
        labels = torch.tensor([1, scores.shape[1] - 1])
        logits, cams = reference(images, labels)
    torch.testing.assert_close(scores, logits, **TOL)
    head = net.head.conv if hasattr(net, "head") else net.net.head.conv
    picked = class_maps[torch.arange(2), labels]
    got = (picked - head.bias[labels].view(-1, 1, 1)) / 1024
    assert got.shape == cams.shape
    torch.testing.assert_close(got, cams, rtol=1e-6, atol=1e-9)
    assert logits.std() > 0.1 and cams.std() > 1e-4  # not a trivially equal pair of constants


@pytest.mark.parametrize("large_feature_map", [True, False])
def test_wsl_vgg16_cam_from_a_torchvision_file_equals_the_reference(large_feature_map, tmp_path):
    reference = reference_vgg16_cam(5, large_feature_map)
    path = tmp_path / "vgg16-torchvision.pth"
    torchvision_file(reference, path)
    net = WSLNet(
        num_classes=5,
        backbone="vgg16.tv_in1k",
        pool="gap",
        pretrained=str(path),
        large_feature_map=large_feature_map,
    )
    assert net.backbone.weights == {
        "source": "file",
        "name": "vgg16.tv_in1k",
        "file": str(path.resolve()),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    copy_added_layers(net, reference)
    assert_matches_reference(net, reference)


@pytest.mark.parametrize("large_feature_map, side", [(True, 28), (False, 14)])
def test_the_layers_and_the_map_side_at_224(large_feature_map, side):
    backbone = create_backbone("vgg16", large_feature_map=large_feature_map)
    names = [name for name, _ in backbone.body.features.named_children()]
    pools = [name for name in names if name.startswith("pool")]
    assert pools == (
        ["pool1", "pool2", "pool3"] if large_feature_map else ["pool1", "pool2", "pool3", "pool4"]
    )
    assert names[-1] == "relu5_3" and len(names) == 26 + len(pools)
    assert backbone.stride == 224 // side and backbone.out_channels == 1024
    with torch.no_grad():  # the convs alone at 224 px would be slow on CPU: pools only, as shapes
        x = torch.zeros(1, 1, 224, 224)
        for module in backbone.body.features:
            if isinstance(module, nn.MaxPool2d):
                x = module(x)
    assert x.shape[-1] == side
    conv6 = backbone.body.conv6
    assert (conv6.in_channels, conv6.out_channels, conv6.kernel_size, conv6.padding) == (
        512,
        1024,
        (3, 3),
        (1, 1),
    )


def test_the_map_side_of_a_small_image():
    backbone = create_backbone("vgg16", large_feature_map=True).eval()
    with torch.no_grad():
        assert backbone(torch.zeros(1, 3, 32, 32)).shape == (1, 1024, 4, 4)


def test_scratch_init_is_upstreams():
    """Without pretrained weights every conv is He-initialized (fan_out, relu) with bias 0, as upstream's
    initialize_weights(…, 'he')."""
    torch.manual_seed(0)
    body = create_backbone("vgg16", large_feature_map=False).body
    for conv in [m for m in body.modules() if isinstance(m, nn.Conv2d)]:
        fan_out = conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1]
        assert conv.bias.abs().max() == 0
        assert conv.weight.std().item() == pytest.approx((2.0 / fan_out) ** 0.5, rel=0.1)


def test_head_lr_stages_1_is_upstreams_classifier_group():
    """main.py: parameters under ``features.`` at lr, the rest (conv6; fc is wsl's head) at 10× lr."""
    backbone = create_backbone("vgg16", large_feature_map=False)
    early, late = backbone.split_last_stages(1)
    names = {id(p): n for n, p in backbone.body.named_parameters()}
    assert sorted(names[id(p)] for p in late) == ["conv6.bias", "conv6.weight"]
    assert all(names[id(p)].startswith("features.") for p in early) and len(early) == 26


def test_out_index_other_than_the_last_is_refused():
    with pytest.raises(
        ValueError, match=r"out_index=3 with large_feature_map=False.*'relu6'.*use out_index -1"
    ):
        create_backbone("vgg16", out_index=3, large_feature_map=False)


def test_pretrained_fc_does_not_apply(tmp_path):
    """Upstream drops torchvision's classifier (remove_layer 'classifier.') on every dataset."""
    with pytest.raises(ValueError, match=r"head_init='pretrained_fc'.*VGG16-CAM.*drops"):
        WSLNet(
            num_classes=1000, backbone="vgg16", pool="gap", large_feature_map=False, head_init="pretrained_fc"
        )


def test_without_large_feature_map_the_backbone_is_timms():
    backbone = create_backbone("vgg16", out_index=4)
    assert backbone.out_channels == 512 and not hasattr(backbone.body, "conv6")


def test_a_model_without_vgg16_features_is_refused():
    from wsl.models.vgg_cam import VGG16CAMBody, vgg16_cam_body

    with pytest.raises(ValueError, match=r"VGG16 with a 'features' nn.Sequential; got a Linear"):
        vgg16_cam_body(nn.Linear(1, 1), False)
    with pytest.raises(
        ValueError, match=r"features: expected VGG16's layers.*got 2 modules \['Conv2d', 'ReLU'\]"
    ):
        VGG16CAMBody(nn.Sequential(nn.Conv2d(3, 64, 3), nn.ReLU()), False)
