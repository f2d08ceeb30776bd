"""Perturbation CAMs: channel weights from extra forward passes (ScoreCAM, AblationCAM), batched.

Both take a network ``net`` whose forward returns ``(scores (N, C), ...)`` and whose child ``backbone``
outputs the activations A (N, D, h, w) (a :class:`~wsl.cam.classifier.ClassifierCAM` or a ``WSLNet``), the
activations of the images' forward pass and the target classes ``targets`` (N, K), and return the channel
weights ``w`` (K, N, D, 1, 1); the map is ``ReLU(Σ_k w_k A^k)`` (:func:`wsl.cam.explain.explain`). The
N·D perturbed inputs are run ``batch_size`` at a time, so memory is bounded by one such batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from wsl.registry import Registry

__all__ = ["PERTURBATION_METHODS", "ablationcam_weights", "channel_masks", "scorecam_weights"]

Weights = Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor, int], torch.Tensor]

#: Method name → ``weights(net, images, A, targets, batch_size) -> (K, N, D, 1, 1)``.
PERTURBATION_METHODS: Registry[Weights] = Registry("perturbation CAM method", what="method")


def _pairs(n: int, d: int, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(image index, channel index) of every (n, k) pair, ``batch_size`` pairs at a time."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    flat = torch.arange(n * d)
    for chunk in flat.split(batch_size):
        yield chunk // d, chunk % d


def channel_masks(activations: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """ScoreCAM's masks: every channel bilinearly upsampled to ``size`` (``align_corners=False``) and
    min–max normalised to [0, 1] (a constant channel gives a zero mask): (N, D, H, W)."""
    up = F.interpolate(activations, size=size, mode="bilinear", align_corners=False)
    lo = up.amin(dim=(-2, -1), keepdim=True)
    span = up.amax(dim=(-2, -1), keepdim=True) - lo
    ok = span > 0
    return torch.where(ok, (up - lo) / torch.where(ok, span, torch.ones_like(span)), 0.0)


@PERTURBATION_METHODS.register("scorecam")
@torch.no_grad()
def scorecam_weights(
    net: nn.Module, images: torch.Tensor, activations: torch.Tensor, targets: torch.Tensor, batch_size: int
) -> torch.Tensor:
    """ScoreCAM (Wang et al., CVPR-W 2020): ``w_k^c = softmax_k( y^c(X ⊙ M^k) )``.

    ``M^k`` is channel k upsampled to the input size and min–max normalised (:func:`channel_masks`),
    ``y^c`` the logit of the target class. The paper's baseline term ``− y^c(X_b)`` is the same for every
    k, so the softmax over k removes it. As pytorch-grad-cam, the logits are used (not softmax
    probabilities); it upsamples with ``align_corners=True`` and adds 1e-8 to the mask's range, this
    uses ``align_corners=False`` (wsl's upsampling) and the zero rule.
    """
    n, d = activations.shape[:2]
    masks = channel_masks(activations.detach().to(images.dtype), (images.shape[-2], images.shape[-1]))
    scores = torch.empty(n, d, targets.shape[1], dtype=activations.dtype, device=activations.device)
    for idx, ch in _pairs(n, d, batch_size):
        logits = net(images[idx] * masks[idx, ch][:, None])[0]
        scores[idx, ch] = logits.gather(1, targets[idx]).to(scores.dtype)
    return torch.softmax(scores, dim=1).permute(2, 0, 1)[..., None, None]


@contextmanager
def _replaced(module: nn.Module, output: torch.Tensor) -> Iterator[None]:
    def hook(_: nn.Module, __: Any, ___: Any) -> torch.Tensor:
        return output

    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


@PERTURBATION_METHODS.register("ablationcam")
@torch.no_grad()
def ablationcam_weights(
    net: nn.Module, images: torch.Tensor, activations: torch.Tensor, targets: torch.Tensor, batch_size: int
) -> torch.Tensor:
    """AblationCAM (Desai & Ramaswamy, WACV 2020): ``w_k^c = (y^c − y_k^c) / y^c``.

    ``y_k^c`` is the target logit when channel k of A is set to 0 (the rest of the network run on the
    ablated A); ``w = 0`` where ``y^c = 0``. pytorch-grad-cam sets the channel to 0 only when the layer's
    minimum is 0, else to ``min(A) − 1e7``; this follows the paper (always 0).
    """
    n, d = activations.shape[:2]
    a = activations.detach()
    base = net(images)[0].gather(1, targets)  # (N, K)
    ablated = torch.empty(n, d, targets.shape[1], dtype=base.dtype, device=base.device)
    for idx, ch in _pairs(n, d, batch_size):
        cut = a[idx].clone()
        cut[torch.arange(len(idx)), ch] = 0
        with _replaced(net.get_submodule("backbone"), cut):
            ablated[idx, ch] = net(images[idx])[0].gather(1, targets[idx])
    nonzero = base != 0
    safe = torch.where(nonzero, base, torch.ones_like(base))[:, None]
    weights = torch.where(nonzero[:, None], (base[:, None] - ablated) / safe, 0.0)
    return weights.permute(2, 0, 1)[..., None, None].to(activations.dtype)
