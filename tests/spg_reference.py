"""An independent reference of wsolevaluation's SPG (``wsol/method/spg.py``, ``wsol/resnet.py`` ``ResNetSpg``,
commit 96f4b88), written from upstream's rules and sharing no code with wsl, for tests/methods/test_spg.py
and tests/models/test_wsolevaluation_spg.py.

torchvision's ResNet50 blocks with upstream's strides, split as upstream splits layer3 (``SPG_A1`` = its first
block, ``SPG_A2`` = the others), ``SPG_A4`` a 1×1 conv to C, ``SPG_B_1a``/``SPG_B_2a``/``SPG_B_shared``/
``SPG_C``; logits = GAP(SPG_A4(f)), the CAM = SPG_A4(f)[label]; its state dict has upstream's keys. The masks
are upstream's per-image loop, the BCE is written out. Upstream resizes every map to 224 × 224 (its crop
size), wsl to the input's size: the reference takes the size as an argument.
"""

from __future__ import annotations

import torch
import torchvision
from torch import nn

#: Upstream config.py:213-224.
UPSTREAM_THRESHOLDS = ((0.7, 0.01), (0.5, 0.05), (0.7, 0.1))


def ref_upsample(x: torch.Tensor, size: int) -> torch.Tensor:
    return nn.Upsample(size=(size, size), mode="bilinear")(x)


def ref_mask(attention: torch.Tensor, high: float, low: float) -> torch.Tensor:
    """Upstream get_mask: 255; per image 1 where > high (< 30 such pixels: > 0.7·max); 0 where < low."""
    mask = torch.full_like(attention, 255.0)
    for b in range(attention.shape[0]):
        fg = attention[b] > high
        if int(fg.sum()) < 30:
            fg = attention[b] > attention[b].max() * 0.7
        mask[b][fg] = 1.0
    mask[attention < low] = 0.0
    return mask


def ref_bce(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """mean of −y·log σ(z) − (1−y)·log(1−σ(z)), written as max(z, 0) − z·y + log(1 + exp(−|z|))."""
    return (z.clamp(min=0) - z * y + torch.log1p(torch.exp(-z.abs()))).mean()


def ref_term(logits: torch.Tensor, guide: torch.Tensor, high: float, low: float, size: int) -> torch.Tensor:
    mask = ref_mask(guide, high, low).reshape(-1)
    z = ref_upsample(logits, size).reshape(-1)
    keep = mask < 255
    return ref_bce(z[keep], mask[keep])


def ref_normalize(x: torch.Tensor) -> torch.Tensor:
    flat = x.reshape(x.shape[0], x.shape[1], -1)
    low, high = flat.min(-1, keepdim=True).values, flat.max(-1, keepdim=True).values
    return ((flat - low) / (high - low)).reshape(x.shape)


class ReferenceResNetSpg(nn.Module):
    """Upstream ResNetSpg's modules and state-dict keys, built from torchvision's ResNet50 blocks."""

    def __init__(self, num_classes: int, large_feature_map: bool, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        base = torchvision.models.resnet50(weights=None)
        stride_l3 = 1 if large_feature_map else 2
        for layer, stride in ((base.layer3, stride_l3), (base.layer4, 1)):
            layer[0].conv2.stride = (stride, stride)
            layer[0].downsample[0].stride = (stride, stride)
        self.conv1, self.bn1, self.relu, self.maxpool = base.conv1, base.bn1, base.relu, base.maxpool
        self.layer1, self.layer2 = base.layer1, base.layer2
        self.SPG_A1 = nn.Sequential(base.layer3[0])
        self.SPG_A2 = nn.Sequential(*base.layer3[1:])
        self.layer4 = base.layer4
        self.SPG_A4 = nn.Conv2d(2048, num_classes, 1)
        self.SPG_B_1a = nn.Sequential(nn.Conv2d(1024, 1024, 3, padding=1), nn.ReLU())
        self.SPG_B_2a = nn.Sequential(nn.Conv2d(1024, 1024, 3, padding=1), nn.ReLU())
        self.SPG_B_shared = nn.Sequential(
            nn.Conv2d(1024, 1024, 3, padding=1), nn.ReLU(), nn.Conv2d(1024, 1, 1)
        )
        self.SPG_C = nn.Sequential(nn.Conv2d(2048, 512, 3, padding=1), nn.ReLU(), nn.Conv2d(512, 1, 1))
        with torch.no_grad():
            for module in self.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.weight.uniform_(0.5, 1.0)
                    module.bias.normal_(0.0, 0.1)
                    module.running_mean.normal_(0.0, 0.1)
                    module.running_var.uniform_(0.5, 1.5)
            for conv in (self.SPG_A4, self.SPG_B_shared[2], self.SPG_C[2]):
                conv.bias.normal_(0.0, 0.5)

    def forward(self, images: torch.Tensor, labels: torch.Tensor, size: int) -> dict[str, torch.Tensor]:
        """Upstream ResNetSpg.forward with ``labels`` given (training), maps resized to ``size``."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(images))))
        x = self.SPG_A1(self.layer2(self.layer1(x)))
        logits_b1 = self.SPG_B_shared(self.SPG_B_1a(x))
        x = self.SPG_A2(x)
        logits_b2 = self.SPG_B_shared(self.SPG_B_2a(x))
        x = self.layer4(x)
        feat_map = self.SPG_A4(x)
        logits_c = self.SPG_C(x)
        logits = feat_map.mean(dim=(2, 3))
        up = ref_upsample(feat_map.detach(), size)
        attention = ref_normalize(up[torch.arange(len(labels)), labels].unsqueeze(1))
        fused = (
            torch.sigmoid(ref_upsample(logits_b1.detach(), size))
            + torch.sigmoid(ref_upsample(logits_b2.detach(), size))
        ) / 2
        cams = feat_map.detach()[torch.arange(len(labels)), labels]
        return dict(
            logits=logits,
            logits_b1=logits_b1,
            logits_b2=logits_b2,
            logits_c=logits_c,
            attention=attention,
            fused_attention=fused,
            cams=cams,
        )


def ref_loss(out: dict, labels: torch.Tensor, size: int, thresholds=UPSTREAM_THRESHOLDS) -> torch.Tensor:
    """Upstream spg.get_loss: CE + the three mask terms."""
    (h1, l1), (h2, l2), (h3, l3) = thresholds
    logits = out["logits"]
    ce = (torch.logsumexp(logits, dim=1) - logits[torch.arange(len(labels)), labels]).mean()
    b2i = torch.sigmoid(ref_upsample(out["logits_b2"], size))
    return (
        ce
        + ref_term(out["logits_b2"], out["attention"], h1, l1, size)
        + ref_term(out["logits_b1"], b2i, h2, l2, size)
        + ref_term(out["logits_c"], out["fused_attention"], h3, l3, size)
    )


def wsl_state_from_reference(reference: nn.Module) -> dict[str, torch.Tensor]:
    """The reference's weights under wsl's SPGNet keys (upstream layer3 = SPG_A1 + SPG_A2)."""
    out = {}
    for key, value in reference.state_dict().items():
        head, _, rest = key.partition(".")
        if head == "SPG_A1":
            key = "backbone.body.layer3." + rest
        elif head == "SPG_A2":
            index, _, tail = rest.partition(".")
            key = f"backbone.body.layer3.{int(index) + 1}.{tail}"
        elif head == "SPG_A4":
            key = "head.conv." + rest
        elif head.startswith("SPG_"):
            key = {
                "SPG_B_1a": "spg_b1",
                "SPG_B_2a": "spg_b2",
                "SPG_B_shared": "spg_b_shared",
                "SPG_C": "spg_c",
            }[head] + ("." + rest)
        else:
            key = "backbone.body." + key
        out[key] = value
    return out


class ReferenceInceptionSpg(nn.Module):
    """Upstream InceptionSpg (inception.py:295-403) on torchvision's InceptionV3 blocks.

    Stem: ``Conv2d_1a_3x3`` with padding 1, max-pools 3×3 / 2 with padding 1 and ceil_mode; the extra 3×3 / 2
    ceil_mode pool before ``Mixed_6a`` only without ``large_feature_map``; ``Mixed_6a`` at stride 1 (its two
    3×3 convs and its max-pool with padding 1). B1 reads the tensor after that pool, B2 ``Mixed_6d``'s output;
    after ``Mixed_6e``: dropout, ``SPG_A3_1b``, dropout, ``SPG_A3_2b``, dropout = x; ``SPG_A4(x)``,
    ``SPG_C(x)``.
    """

    def __init__(self, num_classes: int, large_feature_map: bool, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        tv = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
        self.tv = tv
        self.large_feature_map = large_feature_map
        self.SPG_A3_1b = nn.Sequential(nn.Conv2d(768, 1024, 3, padding=1), nn.ReLU())
        self.SPG_A3_2b = nn.Sequential(nn.Conv2d(1024, 1024, 3, padding=1), nn.ReLU())
        self.SPG_A4 = nn.Conv2d(1024, num_classes, 1)
        self.SPG_B_1a = nn.Sequential(nn.Conv2d(288, 512, 3, padding=1), nn.ReLU())
        self.SPG_B_2a = nn.Sequential(nn.Conv2d(768, 512, 3, padding=1), nn.ReLU())
        self.SPG_B_shared = nn.Sequential(nn.Conv2d(512, 512, 3, padding=1), nn.ReLU(), nn.Conv2d(512, 1, 1))
        self.SPG_C = nn.Sequential(nn.Conv2d(1024, 512, 3, padding=1), nn.ReLU(), nn.Conv2d(512, 1, 1))
        with torch.no_grad():
            for module in self.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.weight.uniform_(0.5, 1.0)
                    module.bias.normal_(0.0, 0.1)
                    module.running_mean.normal_(0.0, 0.1)
                    module.running_var.uniform_(0.5, 1.5)
            for conv in (self.SPG_A4, self.SPG_B_shared[2], self.SPG_C[2]):
                conv.bias.normal_(0.0, 0.5)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        tv, F = self.tv, nn.functional
        x = F.relu(tv.Conv2d_1a_3x3.bn(F.conv2d(images, tv.Conv2d_1a_3x3.conv.weight, stride=2, padding=1)))
        x = tv.Conv2d_2b_3x3(tv.Conv2d_2a_3x3(x))
        x = F.max_pool2d(x, 3, 2, padding=1, ceil_mode=True)
        x = tv.Conv2d_4a_3x3(tv.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, 3, 2, padding=1, ceil_mode=True)
        x = tv.Mixed_5d(tv.Mixed_5c(tv.Mixed_5b(x)))
        if not self.large_feature_map:
            x = F.max_pool2d(x, 3, 2, ceil_mode=True)
        logits_b1 = self.SPG_B_shared(self.SPG_B_1a(x))
        m = tv.Mixed_6a
        a = F.relu(m.branch3x3.bn(F.conv2d(x, m.branch3x3.conv.weight, stride=1, padding=1)))
        b = m.branch3x3dbl_2(m.branch3x3dbl_1(x))
        b = F.relu(m.branch3x3dbl_3.bn(F.conv2d(b, m.branch3x3dbl_3.conv.weight, stride=1, padding=1)))
        x = torch.cat([a, b, F.max_pool2d(x, 3, stride=1, padding=1)], 1)
        x = tv.Mixed_6d(tv.Mixed_6c(tv.Mixed_6b(x)))
        feat = tv.Mixed_6e(x)
        logits_b2 = self.SPG_B_shared(self.SPG_B_2a(x))
        x = F.dropout(feat, 0.5, self.training)
        x = F.dropout(self.SPG_A3_1b(x), 0.5, self.training)
        x = F.dropout(self.SPG_A3_2b(x), 0.5, self.training)
        feat_map = self.SPG_A4(x)
        return dict(
            logits=feat_map.mean(dim=(2, 3)),
            cams=feat_map[torch.arange(len(labels)), labels],
            logits_b1=logits_b1,
            logits_b2=logits_b2,
            logits_c=self.SPG_C(x),
        )

    def torchvision_state(self) -> dict[str, torch.Tensor]:
        """The layout of torchvision's inception_v3_google file (its weights, BN statistics included)."""
        return {k: v.detach().clone() for k, v in self.tv.state_dict().items()}

    def added_layers(self) -> dict[str, nn.Conv2d]:
        """wsl name → this reference's conv, for the layers not in torchvision's file."""
        return {
            "backbone.body.SPG_A3_1b.0": self.SPG_A3_1b[0],
            "backbone.body.SPG_A3_2b.0": self.SPG_A3_2b[0],
            "head.conv": self.SPG_A4,
            "spg_b1.0": self.SPG_B_1a[0],
            "spg_b2.0": self.SPG_B_2a[0],
            "spg_b_shared.0": self.SPG_B_shared[0],
            "spg_b_shared.2": self.SPG_B_shared[2],
            "spg_c.0": self.SPG_C[0],
            "spg_c.2": self.SPG_C[2],
        }


class ReferenceVggSpg(nn.Module):
    """Upstream VggSpg (vgg.py:124-213) on torchvision's VGG16 convs, with upstream's module names and keys.

    ``features`` = conv1_1 … pool3 (2×2 pools), ``SPG_A_1`` = conv4 block, a 3×3 / 2 max-pool with padding 1
    only without ``large_feature_map``, ``SPG_A_2`` = conv5 block, ``SPG_A_3`` = 2 × (3×3 conv 512 + ReLU),
    ``SPG_A_4`` 1×1 conv to C; B1 reads the tensor after the optional pool, B2 ``SPG_A_2``'s output, C and
    ``SPG_A_4`` ``SPG_A_3``'s.
    """

    def __init__(self, num_classes: int, large_feature_map: bool, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        tv = torchvision.models.vgg16(weights=None).features
        self.tv_features = tv
        self.lfs = large_feature_map
        self.features = nn.Sequential(*tv[:17])
        self.SPG_A_1 = nn.Sequential(*tv[17:23])
        self.SPG_A_2 = nn.Sequential(*tv[24:30])
        self.SPG_A_3 = nn.Sequential(
            nn.Conv2d(512, 512, 3, padding=1), nn.ReLU(), nn.Conv2d(512, 512, 3, padding=1), nn.ReLU()
        )
        self.SPG_A_4 = nn.Conv2d(512, num_classes, 1)
        self.SPG_B_1a = nn.Sequential(nn.Conv2d(512, 512, 3, padding=1), nn.ReLU())
        self.SPG_B_2a = nn.Sequential(nn.Conv2d(512, 512, 3, padding=1), nn.ReLU())
        self.SPG_B_shared = nn.Sequential(nn.Conv2d(512, 512, 3, padding=1), nn.ReLU(), nn.Conv2d(512, 1, 1))
        self.SPG_C = nn.Sequential(nn.Conv2d(512, 512, 3, padding=1), nn.ReLU(), nn.Conv2d(512, 1, 1))
        with torch.no_grad():
            for module in self.modules():
                if isinstance(module, nn.Conv2d):
                    module.bias.normal_(0.0, 0.1)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.SPG_A_1(self.features(images))
        if not self.lfs:
            x = nn.functional.max_pool2d(x, kernel_size=3, stride=2, padding=1)
        logits_b1 = self.SPG_B_shared(self.SPG_B_1a(x))
        x = self.SPG_A_2(x)
        logits_b2 = self.SPG_B_shared(self.SPG_B_2a(x))
        x = self.SPG_A_3(x)
        feat_map = self.SPG_A_4(x)
        return dict(
            logits=feat_map.mean(dim=(2, 3)),
            cams=feat_map[torch.arange(len(labels)), labels],
            logits_b1=logits_b1,
            logits_b2=logits_b2,
            logits_c=self.SPG_C(x),
        )

    def wsl_state(self) -> dict[str, torch.Tensor]:
        """This network's weights under wsl's keys (upstream's body keys under ``backbone.body.``)."""
        branches = {
            "SPG_B_1a": "spg_b1",
            "SPG_B_2a": "spg_b2",
            "SPG_B_shared": "spg_b_shared",
            "SPG_C": "spg_c",
        }
        out = {}
        for key, value in self.state_dict().items():
            head, _, rest = key.partition(".")
            if head == "tv_features":
                continue
            if head == "SPG_A_4":
                out["head.conv." + rest] = value
            elif head in branches:
                out[f"{branches[head]}.{rest}"] = value
            else:
                out["backbone.body." + key] = value
        return out
