"""ACoL on VGG16 and InceptionV3 as wsolevaluation builds them: wsl's network and converted checkpoints give
upstream's logits and CAMs.

The references are written here from upstream's module structure (commit 96f4b88, sharing no code with
wsl's network):

- ``VggAcol`` (``wsol/vgg.py``): ``features`` from ``configs_dict['acol']`` ('M1' 3×3/2 pad 1 max-pool,
  'M2' 3×3/1 pad 1), no ``conv6``; f = avg_pool2d(features(x), 3, 1, 1);
- ``InceptionAcol`` (``wsol/inception.py``): the InceptionV3-CAM trunk up to ``Mixed_6e`` (the reference
  of tests/models/test_inception_cam.py, its modules reused, its forward re-written up to ``Mixed_6e``);
- ``AcolBase._acol_logits`` (``wsol/method/acol.py``): A = classifier_A(f), logits = GAP(A), attention =
  min–max normalised A[label], B = classifier_B(f · 1[attention < δ]); CAM = max(norm A, norm B)[label].

The state dicts are laid out as upstream's main.py saves them (``module.`` prefixed) and go through
tools/convert_wsolevaluation.py. float64, 1e-6.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.models.test_inception_cam import ReferenceInceptionCam, reference_inception_cam
from wsl.methods.acol import ACoL

TOL = {"rtol": 1e-6, "atol": 1e-6}
DELTA = 0.7
#: upstream vgg.py configs_dict['acol'] (14x14: large_feature_map false; 28x28: true).
UPSTREAM_ACOL_LISTS = {
    False: [64, 64, "M1", 128, 128, "M1", 256, 256, 256, "M1", 512, 512, 512, "M1", 512, 512, 512, "M2"],
    True: [64, 64, "M1", 128, 128, "M1", 256, 256, 256, "M1", 512, 512, 512, "M2", 512, 512, 512, "M2"],
}


def classifier(channels: int, num_classes: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels, 1024, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(1024, 1024, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(1024, num_classes, 1),
    )


def normalize(x: torch.Tensor) -> torch.Tensor:
    """upstream's normalize_tensor: per (image, channel) (x − min) / (max − min)."""
    flat = x.flatten(2)
    lo, hi = flat.min(-1, keepdim=True).values, flat.max(-1, keepdim=True).values
    return ((flat - lo) / (hi - lo)).view(x.shape)


def acol_reference(
    feature: torch.Tensor, a: nn.Module, b: nn.Module, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logits, cams)`` of AcolBase on the shared feature, erasing by the given labels."""
    rows = torch.arange(len(labels))
    feat_a = a(feature)
    attention = normalize(feat_a[rows, labels].unsqueeze(1))
    mask = torch.where(attention >= DELTA, 0.0, 1.0).to(feature.dtype)
    feat_b = b(feature * mask)
    cams = torch.maximum(normalize(feat_a), normalize(feat_b))[rows, labels]
    return feat_a.mean((2, 3)), cams


class ReferenceVggAcol(nn.Module):
    def __init__(self, num_classes: int, large_feature_map: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for entry in UPSTREAM_ACOL_LISTS[large_feature_map]:
            if entry == "M1":
                layers.append(nn.MaxPool2d(3, 2, padding=1))
            elif entry == "M2":
                layers.append(nn.MaxPool2d(3, 1, padding=1))
            else:
                layers += [nn.Conv2d(channels, int(entry), 3, padding=1), nn.ReLU()]
                channels = int(entry)
        self.features = nn.Sequential(*layers)
        self.classifier_A = classifier(512, num_classes)
        self.classifier_B = classifier(512, num_classes)

    def forward(self, images, labels):
        feature = F.avg_pool2d(self.features(images), 3, 1, 1)
        return acol_reference(feature, self.classifier_A, self.classifier_B, labels)


class ReferenceInceptionAcol(nn.Module):
    def __init__(self, trunk: ReferenceInceptionCam, num_classes: int) -> None:
        super().__init__()
        self.trunk = trunk
        self.classifier_A = classifier(768, num_classes)
        self.classifier_B = classifier(768, num_classes)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        t = self.trunk
        x = F.relu(t.stem[0].bn(F.conv2d(images, t.stem[0].conv.weight, stride=2, padding=1)))
        x = F.max_pool2d(t.stem[2](t.stem[1](x)), 3, 2, padding=1, ceil_mode=True)
        x = F.max_pool2d(t.stem2[1](t.stem2[0](x)), 3, 2, padding=1, ceil_mode=True)
        for block in t.mixed5:
            x = block(x)
        if not t.large_feature_map:
            x = F.max_pool2d(x, 3, 2, ceil_mode=True)
        m = t.mixed6a
        a = F.relu(m.branch3x3.bn(F.conv2d(x, m.branch3x3.conv.weight, stride=1, padding=1)))
        b = m.branch3x3dbl_2(m.branch3x3dbl_1(x))
        b = F.relu(m.branch3x3dbl_3.bn(F.conv2d(b, m.branch3x3dbl_3.conv.weight, stride=1, padding=1)))
        x = torch.cat([a, b, F.max_pool2d(x, 3, stride=1, padding=1)], 1)
        for block in t.mixed6:
            x = block(x)
        return x

    def forward(self, images, labels):
        return acol_reference(self.features(images), self.classifier_A, self.classifier_B, labels)


def _randomize_classifiers(model: nn.Module, seed: int) -> None:
    torch.manual_seed(seed)
    with torch.no_grad():
        for name in ("classifier_A", "classifier_B"):
            for conv in getattr(model, name):
                if isinstance(conv, nn.Conv2d):
                    nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
                    conv.bias.normal_(0.0, 0.1)


def reference_vgg_acol(num_classes: int, large_feature_map: bool) -> ReferenceVggAcol:
    torch.manual_seed(3)
    model = ReferenceVggAcol(num_classes, large_feature_map)
    with torch.no_grad():
        for conv in model.features:
            if isinstance(conv, nn.Conv2d):
                nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
                conv.bias.normal_(0.0, 0.05)
    _randomize_classifiers(model, 4)
    return model.eval()


def upstream_state(reference: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict as upstream's VggAcol / InceptionAcol names it."""
    state = {k: v for k, v in reference.state_dict().items() if k.startswith(("features.", "classifier_"))}
    trunk = getattr(reference, "trunk", None)
    if isinstance(trunk, ReferenceInceptionCam):
        for key, value in trunk.torchvision_state.items():
            if key.startswith(("Conv2d_", "Mixed_5", "Mixed_6")):
                state[key] = value
    return state


def assert_matches(net: nn.Module, reference: nn.Module, size: int = 64) -> None:
    images = torch.randn(2, 3, size, size, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 2])
    net, reference = net.double().eval(), reference.double().eval()
    with torch.no_grad():
        scores, class_maps = net(images)
        logits, cams = reference(images, labels)
    torch.testing.assert_close(scores, logits, **TOL)
    torch.testing.assert_close(class_maps[torch.arange(2), labels], cams, **TOL)
    assert logits.std() > 1e-3 and cams.std() > 1e-3 and (cams < 1).any()


@pytest.mark.parametrize("large_feature_map", [False, True])
def test_vgg16_acol_checkpoint_gives_upstreams_logits_and_cams(large_feature_map, convert_upstream):
    reference = reference_vgg_acol(3, large_feature_map)
    state = upstream_state(reference)
    assert sorted({int(k.split(".")[1]) for k in state if k.startswith("features.")}) == [
        0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28,
    ]  # fmt: skip
    module = convert_upstream(state, "vgg16", large_feature_map, class_names="a,b,c")
    assert module.hparams.method == "acol"
    assert module.hparams.method_kwargs == {"variant": "wsolevaluation"}
    assert_matches(module.net, reference)


@pytest.mark.parametrize("large_feature_map", [False, True])
def test_inception_v3_acol_checkpoint_gives_upstreams_logits_and_cams(large_feature_map, convert_upstream):
    reference = ReferenceInceptionAcol(reference_inception_cam(3, large_feature_map), 3)
    _randomize_classifiers(reference, 5)
    module = convert_upstream(
        upstream_state(reference), "inception_v3", large_feature_map, class_names="a,b,c"
    )
    assert module.hparams.method == "acol"
    assert_matches(module.net, reference.eval())


@pytest.mark.parametrize("backbone, channels", [("vgg16", 512), ("inception_v3", 768)])
def test_the_built_network_is_upstreams_acol_network(backbone, channels):
    net = ACoL().build_net(num_classes=3, backbone=backbone, pool="gap", large_feature_map=False)
    convs = [m for m in net.branch_a.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [
        (channels, 1024, (3, 3)),
        (1024, 1024, (3, 3)),
    ]
    assert net.head_b.conv.in_channels == 1024 and net.erase_threshold == DELTA
    names = {k.split(".")[2] for k in net.state_dict() if k.startswith("backbone.body.")}
    assert not names & {"conv6", "SPG_A3_1b", "SPG_A3_2b"}
    # upstream's lr groups: every trunk parameter at lr, the classifiers at lr × lr_classifier_ratio
    early, late = net.backbone.split_last_stages(1)
    assert late == [] and len(early) == len(list(net.backbone.parameters()))
    assert net.base_lr_parameters() == []
    # xavier_uniform_ (bias 0) on the classifiers: |w| ≤ sqrt(6 / (fan_in + fan_out))
    bound = (6 / (channels * 9 + 1024 * 9)) ** 0.5
    assert convs[0].weight.abs().max() <= bound and convs[0].bias.abs().max() == 0
    assert convs[0].weight.abs().max() > 0.9 * bound


def test_vgg16_acol_pools_are_upstreams():
    net = ACoL().build_net(num_classes=3, backbone="vgg16", pool="gap", large_feature_map=True)
    pools = {n: m for n, m in net.backbone.body.features.named_children() if n.startswith("pool")}
    shapes = {n: (m.kernel_size, m.stride, m.padding) for n, m in pools.items()}
    assert shapes == {
        "pool1": (3, 2, 1),
        "pool2": (3, 2, 1),
        "pool3": (3, 2, 1),
        "pool4": (3, 1, 1),
        "pool5": (3, 1, 1),
    }
    assert isinstance(net.smooth, nn.AvgPool2d)
