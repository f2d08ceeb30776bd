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
