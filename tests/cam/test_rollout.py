"""Attention rollout (wsl.cam.rollout) against a float64 reference built from timm's own unfused attention
(hooked at attn_drop) and explicit loops over the blocks; head fusions; errors."""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
from torch import nn

from wsl.cam.rollout import attention_matrices, attention_rollout


def vit(name: str = "vit_tiny_patch16_224") -> nn.Module:
    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False, num_classes=3, img_size=64, depth=3)
    return model.double().eval()


def unfused_attention(model: nn.Module, images: torch.Tensor) -> list[np.ndarray]:
    """timm's own attention probabilities: fused attention off, the input of each attn_drop recorded."""
    seen = []
    hooks = []
    for block in model.blocks:
        block.attn.fused_attn = False
        hooks.append(block.attn.attn_drop.register_forward_hook(lambda m, i, o: seen.append(i[0].numpy())))
    with torch.no_grad():
        model(images)
    for h in hooks:
        h.remove()
    return seen


@pytest.mark.parametrize(
    ("name", "prefix"), [("vit_tiny_patch16_224", 1), ("deit_tiny_distilled_patch16_224", 2)]
)
@pytest.mark.parametrize("fusion", ["mean", "max", "min"])
def test_rollout_matches_a_loop_over_timms_unfused_attention(name, prefix, fusion):
    model = vit(name)
    images = torch.rand(2, 3, 64, 64, dtype=torch.float64)
    got = attention_rollout(model, images, fusion)
    attentions = unfused_attention(model, images)
    assert len(attentions) == 3
    fuse = {"mean": np.mean, "max": np.max, "min": np.min}[fusion]
    for n in range(2):
        length = attentions[0].shape[-1]
        rollout = np.eye(length)
        for att in attentions:
            a = (fuse(att[n], axis=0) + np.eye(length)) / 2
            a = a / a.sum(axis=1, keepdims=True)
            rollout = a @ rollout
        expected = np.array([[rollout[0, prefix + i * 4 + j] for j in range(4)] for i in range(4)])
        np.testing.assert_allclose(got[n].numpy(), expected, rtol=1e-10, atol=1e-13)


def test_recomputed_attention_rows_are_distributions():
    model = vit()
    for a in attention_matrices(model, torch.rand(1, 3, 64, 64, dtype=torch.float64)):
        torch.testing.assert_close(a.sum(dim=-1), torch.ones(a.shape[:-1], dtype=torch.float64))


def test_errors():
    with pytest.raises(ValueError, match="model: ResNet has no timm ViT blocks"):
        attention_rollout(timm.create_model("resnet18", pretrained=False), torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match=r"head_fusion: got 'avg'"):
        attention_rollout(vit(), torch.rand(1, 3, 64, 64, dtype=torch.float64), "avg")
