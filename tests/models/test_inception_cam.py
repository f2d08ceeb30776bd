"""InceptionV3-CAM as wsolevaluation builds it, against an independent reference written here.

The reference follows upstream's wsol/inception.py (commit 96f4b88) from its rules, on torchvision's
InceptionV3 blocks (the weight source), sharing no code with wsl: ``Conv2d_1a_3x3`` with padding 1, the stem
max-pools 3×3 / 2 with padding 1 and ceil_mode, an extra 3×3 / 2 ceil_mode max-pool before ``Mixed_6a`` only
without ``large_feature_map``, ``Mixed_6a`` at stride 1 (its two 3×3 convs and its max-pool with padding
1), ``Mixed_7*`` unused, then dropout, ``SPG_A3_1b`` (3×3 conv 1024 + ReLU), dropout, ``SPG_A3_2b``, dropout,
``SPG_A4`` (1×1 conv to C); ``logits = GAP(SPG_A4 map)``, ``cams = SPG_A4 map[label]``. wsl must give the
same logits and CAMs in float64.
"""

from __future__ import annotations

import hashlib

import pytest
import torch
import torchvision
from torch import nn
from torch.nn import functional as F

from wsl.models import WSLNet, create_backbone

TOL = {"rtol": 1e-6, "atol": 1e-6}


class ReferenceInceptionCam(nn.Module):
    def __init__(self, num_classes: int, large_feature_map: bool) -> None:
        super().__init__()
        tv = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
        self.torchvision_state = tv.state_dict()  # the layout of inception_v3_google-1a9a5a14.pth
        self.large_feature_map = large_feature_map
        self.stem = nn.ModuleList([tv.Conv2d_1a_3x3, tv.Conv2d_2a_3x3, tv.Conv2d_2b_3x3])
        self.stem2 = nn.ModuleList([tv.Conv2d_3b_1x1, tv.Conv2d_4a_3x3])
        self.mixed5 = nn.ModuleList([tv.Mixed_5b, tv.Mixed_5c, tv.Mixed_5d])
        self.mixed6a = tv.Mixed_6a
        self.mixed6 = nn.ModuleList([tv.Mixed_6b, tv.Mixed_6c, tv.Mixed_6d, tv.Mixed_6e])
        self.spg_a3_1b = nn.Conv2d(768, 1024, 3, padding=1)
        self.spg_a3_2b = nn.Conv2d(1024, 1024, 3, padding=1)
        self.spg_a4 = nn.Conv2d(1024, num_classes, 1)

    def forward(self, images, labels):
        conv1a = self.stem[0].conv
        x = F.conv2d(images, conv1a.weight, stride=2, padding=1)
        x = F.relu(self.stem[0].bn(x))
        x = self.stem[2](self.stem[1](x))
        x = F.max_pool2d(x, 3, 2, padding=1, ceil_mode=True)
        x = self.stem2[1](self.stem2[0](x))
        x = F.max_pool2d(x, 3, 2, padding=1, ceil_mode=True)
        for block in self.mixed5:
            x = block(x)
        if not self.large_feature_map:
            x = F.max_pool2d(x, 3, 2, ceil_mode=True)
        m = self.mixed6a  # InceptionB(288, kernel_size=3, stride=1, padding=1)
        a = F.relu(m.branch3x3.bn(F.conv2d(x, m.branch3x3.conv.weight, stride=1, padding=1)))
        b = m.branch3x3dbl_2(m.branch3x3dbl_1(x))
        b = F.relu(m.branch3x3dbl_3.bn(F.conv2d(b, m.branch3x3dbl_3.conv.weight, stride=1, padding=1)))
        x = torch.cat([a, b, F.max_pool2d(x, 3, stride=1, padding=1)], 1)
        for block in self.mixed6:
            x = block(x)
        x = F.relu(self.spg_a3_1b(F.dropout(x, 0.5, self.training)))
        x = F.relu(self.spg_a3_2b(F.dropout(x, 0.5, self.training)))
        feat_map = self.spg_a4(F.dropout(x, 0.5, self.training))
        return feat_map.mean((2, 3)), feat_map[torch.arange(len(labels)), labels]


def reference_inception_cam(
    num_classes: int, large_feature_map: bool, seed: int = 0
) -> ReferenceInceptionCam:
    torch.manual_seed(seed)
    model = ReferenceInceptionCam(num_classes, large_feature_map)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.0)
                module.bias.normal_(0.0, 0.1)
                module.running_mean.normal_(0.0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
        for conv in (model.spg_a3_1b, model.spg_a3_2b, model.spg_a4):
            conv.bias.normal_(0.0, 0.1)
    model.torchvision_state = {
        k: v.detach().clone() for k, v in model.torchvision_state.items()
    }  # the BN statistics set above
    return model.eval()


def copy_added_layers(net: WSLNet, reference: ReferenceInceptionCam) -> None:
    body = net.backbone.body
    with torch.no_grad():
        pairs = [(body.SPG_A3_1b[0], reference.spg_a3_1b), (body.SPG_A3_2b[0], reference.spg_a3_2b)]
        for mine, theirs in [*pairs, (net.head.conv, reference.spg_a4)]:
            mine.weight.copy_(theirs.weight)
            mine.bias.copy_(theirs.bias)


def assert_matches_reference(net: nn.Module, reference: ReferenceInceptionCam, size: int = 64) -> None:
    torch.manual_seed(1)
    images = torch.randn(2, 3, size, size, dtype=torch.float64)
    net, reference = net.double().eval(), reference.double().eval()
    with torch.no_grad():
        scores, class_maps = net(images)
        labels = torch.tensor([1, scores.shape[1] - 1])
        logits, cams = reference(images, labels)
    torch.testing.assert_close(scores, logits, **TOL)
    picked = class_maps[torch.arange(2), labels]
    assert picked.shape == cams.shape
    torch.testing.assert_close(picked, cams, **TOL)
    assert logits.std() > 1e-3 and cams.std() > 1e-3  # not a trivially equal pair of constants


@pytest.mark.parametrize("large_feature_map", [True, False])
def test_wsl_inception_v3_cam_from_a_torchvision_file_equals_the_reference(large_feature_map, tmp_path):
    """The file holds torchvision's keys, AuxLogits and Mixed_7* included (inception_v3_google's layout)."""
    reference = reference_inception_cam(4, large_feature_map)
    path = tmp_path / "inception_v3-torchvision.pth"
    state = {k: v for k, v in reference.torchvision_state.items() if not k.endswith("num_batches_tracked")}
    torch.save(state, path)
    net = WSLNet(
        num_classes=4, backbone="inception_v3.tv_in1k", pool="gap", pretrained=str(path),
        large_feature_map=large_feature_map,
    )  # fmt: skip
    assert net.backbone.weights["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    copy_added_layers(net, reference)
    assert_matches_reference(net, reference)


@pytest.mark.parametrize("large_feature_map, side", [(True, 28), (False, 14)])
def test_the_map_side_at_224_and_the_layer_names(large_feature_map, side):
    backbone = create_backbone("inception_v3", large_feature_map=large_feature_map).eval()
    names = [name for name, _ in backbone.body.named_children()]
    assert names == [
        "Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Pool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
        "Pool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Pool3", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
        "Mixed_6e", "Mixed_6e_drop", "SPG_A3_1b", "SPG_A3_1b_drop", "SPG_A3_2b", "SPG_A3_2b_drop",
    ]  # fmt: skip
    assert isinstance(backbone.body.Pool3, nn.Identity) is large_feature_map
    assert backbone.stride == 224 // side and backbone.out_channels == 1024
    drops = [m for m in backbone.body.modules() if isinstance(m, nn.Dropout)]
    assert [d.p for d in drops] == [0.5, 0.5, 0.5]
    with torch.no_grad():  # the spatial path alone, on one channel (the blocks are slow at 224 px)
        x = torch.zeros(1, 1, 224, 224)
        x = F.conv2d(x, torch.zeros(1, 1, 3, 3), stride=2, padding=backbone.body.Conv2d_1a_3x3.conv.padding)
        x = F.conv2d(x, torch.zeros(1, 1, 3, 3))  # Conv2d_2a
        x = backbone.body.Pool1(x)
        x = backbone.body.Pool2(F.conv2d(x, torch.zeros(1, 1, 3, 3)))  # Conv2d_4a
        x = backbone.body.Pool3(x)
    assert x.shape[-1] == side


def test_scratch_init_is_upstreams():
    """Without pretrained weights: every conv xavier-uniform with bias 0, batch norms 1 / 0 (upstream's
    initialize_weights(…, 'xavier'))."""
    torch.manual_seed(0)
    body = create_backbone("inception_v3", large_feature_map=True).body
    for conv in [m for m in body.modules() if isinstance(m, nn.Conv2d)]:
        fan_in = conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]
        fan_out = conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1]
        bound = (6.0 / (fan_in + fan_out)) ** 0.5
        assert conv.weight.abs().max() <= bound and conv.weight.abs().max() > 0.9 * bound
        assert conv.bias is None or conv.bias.abs().max() == 0
    for bn in [m for m in body.modules() if isinstance(m, nn.BatchNorm2d)]:
        assert bn.weight.eq(1).all() and bn.bias.eq(0).all() and bn.running_var.eq(1).all()


def test_head_lr_stages_1_is_upstreams_classifier_group():
    """main.py: ``Mixed*`` and ``Conv2d_1…4*`` at lr, the rest (SPG_A3_*; SPG_A4 is wsl's head) at 10× lr."""
    backbone = create_backbone("inception_v3", large_feature_map=True)
    early, late = backbone.split_last_stages(1)
    names = {id(p): n for n, p in backbone.body.named_parameters()}
    assert sorted(names[id(p)] for p in late) == [
        "SPG_A3_1b.0.bias", "SPG_A3_1b.0.weight", "SPG_A3_2b.0.bias", "SPG_A3_2b.0.weight",
    ]  # fmt: skip
    assert all(names[id(p)].startswith(("Mixed", "Conv2d_")) for p in early)


def test_a_model_without_inception_blocks_is_refused():
    from wsl.models.inception_cam import inception_v3_cam_body

    with pytest.raises(ValueError, match=r"built from an InceptionV3; Linear has no \['Conv2d_1a_3x3'"):
        inception_v3_cam_body(nn.Linear(1, 1), True)


def test_pretrained_fc_does_not_apply():
    with pytest.raises(ValueError, match=r"head_init='pretrained_fc'.*InceptionV3-CAM.*drops"):
        WSLNet(
            num_classes=1000,
            backbone="inception_v3",
            pool="gap",
            large_feature_map=True,
            head_init="pretrained_fc",
        )
