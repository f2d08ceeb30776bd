"""Attention rollout (Abnar & Zuidema, ACL 2020) of a timm ViT/DeiT, the transformer baseline of TS-CAM-era
papers: a class-agnostic map per image.

For block ``l`` the attention ``A_l = softmax(q kᵀ · scale)`` (N, heads, L, L) is recomputed from the
block's ``attn.qkv`` output (timm's fused attention never materialises it), its heads fused (``mean``,
``max`` or ``min``), the residual added and the rows renormalised: ``Â_l = (A_l + I) / 2`` divided by its
row sums (jacobgil/vit-explain's rule). The rollout is ``R = Â_L ⋯ Â_1`` and the map of an image is the
class token's row over the patch tokens, ``R[0, p:]``, reshaped row-major to the patch grid (as
:class:`~wsl.cam.classifier.ClassifierCAM` infers it). vit-explain's ``discard_ratio`` (dropping the
lowest attentions) is not implemented.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from wsl.cam.classifier import ClassifierCAM
from wsl.cam.posthoc import _eval_mode
from wsl.registry import Registry

__all__ = ["HEAD_FUSIONS", "attention_matrices", "attention_rollout"]

#: Head fusion name → ``fn((N, heads, L, L)) -> (N, L, L)``.
HEAD_FUSIONS: Registry[Callable[[torch.Tensor], torch.Tensor]] = Registry("head fusion", what="head_fusion")
HEAD_FUSIONS.add("mean", lambda a: a.mean(dim=1))
HEAD_FUSIONS.add("max", lambda a: a.amax(dim=1))
HEAD_FUSIONS.add("min", lambda a: a.amin(dim=1))


def _blocks(model: nn.Module) -> nn.Sequential:
    blocks = getattr(model, "blocks", None)
    if not isinstance(blocks, nn.Sequential) or not all(
        hasattr(getattr(b, "attn", None), "qkv") for b in blocks
    ):
        raise ValueError(
            f"model: {type(model).__name__} has no timm ViT blocks (blocks[i].attn.qkv); attention rollout "
            "needs a timm VisionTransformer (ViT, DeiT)"
        )
    return blocks


def _recorder(attn: Any, seen: list[torch.Tensor]) -> Callable[[nn.Module, Any, torch.Tensor], None]:
    """A forward hook on ``attn.qkv`` that appends the block's softmax attention to ``seen``."""

    def hook(_: nn.Module, __: Any, qkv: torch.Tensor) -> None:
        n, length = qkv.shape[0], qkv.shape[1]
        parts = qkv.reshape(n, length, 3, int(attn.num_heads), int(attn.head_dim)).permute(2, 0, 3, 1, 4)
        q, k = attn.q_norm(parts[0]), attn.k_norm(parts[1])
        seen.append(((q * attn.scale) @ k.transpose(-2, -1)).softmax(dim=-1))

    return hook


@torch.no_grad()
def attention_matrices(model: nn.Module, images: torch.Tensor) -> list[torch.Tensor]:
    """The softmax attention (N, heads, L, L) of every block of a timm ViT, recomputed from ``attn.qkv``."""
    seen: list[torch.Tensor] = []
    handles = [b.attn.qkv.register_forward_hook(_recorder(b.attn, seen)) for b in _blocks(model)]
    try:
        with _eval_mode(model):
            model(images)
    finally:
        for handle in handles:
            handle.remove()
    return seen


def attention_rollout(model: nn.Module, images: torch.Tensor, head_fusion: str = "mean") -> torch.Tensor:
    """Attention rollout maps (N, h, w) of a timm ViT/DeiT (module docstring).

    Example:
        >>> import timm
        >>> vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=64, num_classes=3)
        >>> tuple(attention_rollout(vit, torch.rand(2, 3, 64, 64)).shape)
        (2, 4, 4)
    """
    fuse = HEAD_FUSIONS.lookup(head_fusion)
    rollout = None
    for attention in attention_matrices(model, images):
        fused = fuse(attention)
        eye = torch.eye(fused.shape[-1], dtype=fused.dtype, device=fused.device)
        a = (fused + eye) / 2
        a = a / a.sum(dim=-1, keepdim=True)
        rollout = a if rollout is None else a @ rollout
    assert rollout is not None  # _blocks refuses a model without blocks
    grid = ClassifierCAM(model, f"blocks.{len(_blocks(model)) - 1}.norm1")
    grid._input_size = (int(images.shape[-2]), int(images.shape[-1]))
    h, w = grid._grid(rollout.shape[-1])
    prefix = rollout.shape[-1] - h * w
    return rollout[:, 0, prefix:].reshape(-1, h, w)
