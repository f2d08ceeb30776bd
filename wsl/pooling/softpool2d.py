"""Local SoftPool2d, a drop-in for MaxPool2d inside a backbone, and the ResNet stem swap."""

from __future__ import annotations

import torch
from torch import nn

from wsl.pooling import functional as PF

__all__ = ["SoftPool2d", "replace_stem_maxpool"]


class SoftPool2d(nn.Module):
    """Local SoftPool: per channel and window R, out = Σ_{i∈R} softmax_R(x)_i · x_i.

    Same geometry as ``nn.MaxPool2d`` (output size floor((H + 2p − k)/s) + 1, so 112 → 56 for
    k=3, s=2, p=1); padded cells are excluded, not zero-filled; avg ≤ out ≤ max per window. Per-window
    max subtraction keeps it finite for any input and free of 0/0 in windows far below the map max.

    Args:
        kernel_size: window size k (int or (kh, kw)).
        stride: step s, default ``kernel_size``.
        padding: p in [0, k // 2] cells on each side.

    Shapes: (N, C, H, W) → (N, C, H_out, W_out).

    Example:
        >>> SoftPool2d(3, 2, 1)(torch.randn(1, 64, 112, 112)).shape
        torch.Size([1, 64, 56, 56])
    """

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
    ) -> None:
        super().__init__()
        PF._softpool2d_geometry(kernel_size, stride, padding)  # validate early, at construction
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return PF.softpool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


def _find_stem_pool(model: nn.Module) -> tuple[nn.Module, nn.Module] | None:
    # timm ResNet: model.maxpool; features_only FeatureListNet (a ModuleDict): child "maxpool";
    # a user wrapper one level up (e.g. net.backbone.maxpool).
    for parent in (model, *model.children()):
        child = parent._modules.get("maxpool")
        if child is not None:
            return parent, child
    return None


def replace_stem_maxpool(model: nn.Module) -> nn.Module:
    """Swap a timm ResNet's stem ``maxpool`` (MaxPool2d) for :class:`SoftPool2d` in place.

    Looks for a child module named ``maxpool`` on ``model`` (timm ResNet, or a ``features_only``
    FeatureListNet) or on one of its direct children; the replacement keeps kernel_size, stride and
    padding, so feature map sizes are unchanged. A model whose stem is already a SoftPool2d is
    returned as is.

    Args:
        model: the backbone.

    Returns:
        The same ``model`` object, modified.

    Raises:
        ValueError: if no ``maxpool`` child is found, or it is not a plain MaxPool2d
            (dilation 1, ceil_mode False).

    Example:
        >>> import timm
        >>> net = replace_stem_maxpool(timm.create_model("resnet18", pretrained=False))
        >>> type(net.maxpool).__name__
        'SoftPool2d'
    """
    found = _find_stem_pool(model)
    if found is None:
        raise ValueError(
            f"replace_stem_maxpool: no child module named 'maxpool' on {type(model).__name__} or its direct "
            "children; expected a timm ResNet-style stem (model.maxpool = nn.MaxPool2d)"
        )
    parent, pool = found
    if isinstance(pool, SoftPool2d):
        return model
    if not isinstance(pool, nn.MaxPool2d):
        raise ValueError(
            f"replace_stem_maxpool: 'maxpool' of {type(parent).__name__} is a {type(pool).__name__}; "
            "expected nn.MaxPool2d"
        )
    if pool.dilation not in (1, (1, 1)) or pool.ceil_mode:
        raise ValueError(
            f"replace_stem_maxpool: MaxPool2d with dilation={pool.dilation}, ceil_mode={pool.ceil_mode} "
            "is not supported; expected dilation=1, ceil_mode=False"
        )
    parent._modules["maxpool"] = SoftPool2d(pool.kernel_size, pool.stride, pool.padding)
    return model
