"""More gradient CAMs (HiResCAM, XGradCAM, EigenGradCAM) and the weighted activations behind every method.

Notation as :mod:`wsl.cam.posthoc`: A (N, D, h, w) activations, G (K, N, D, h, w) the gradients of K class
scores. Every class-specific method here is a *weighted activation* ``W ⊙ A`` (K, N, D, h, w) reduced over
the channels: ``map = ReLU(Σ_k (W ⊙ A)^k)``, or, with ``eigen_smooth``, ``ReLU`` of the first principal
component of ``W ⊙ A`` over the positions (pytorch-grad-cam's ``eigen_smooth``, see :func:`principal_map`).
:data:`WEIGHTED_ACTIVATIONS` holds ``W ⊙ A`` for the gradient methods of both modules; the three new
methods are registered in :data:`wsl.cam.POSTHOC_METHODS`, so ``class_maps_for``, ``evaluate
--cam-method`` and the export take them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from wsl.cam.posthoc import register_posthoc
from wsl.registry import Registry

__all__ = [
    "WEIGHTED_ACTIVATIONS",
    "eigengradcam_maps",
    "hirescam_maps",
    "principal_map",
    "weighted_activations",
    "xgradcam_maps",
]

Weighting = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: Method name → ``(A (N, D, h, w), G (K, N, D, h, w)) -> W ⊙ A (K, N, D, h, w)``.
WEIGHTED_ACTIVATIONS: Registry[Weighting] = Registry("weighted-activation method", what="method")


def _safe_div(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """num / den, 0 where den is 0 (the zero rule, instead of pytorch-grad-cam's ``+ 1e-7``)."""
    nonzero = den != 0
    return torch.where(nonzero, num / torch.where(nonzero, den, torch.ones_like(den)), 0.0)


@WEIGHTED_ACTIVATIONS.register("gradcam")
def _gradcam(a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    return g.mean(dim=(-2, -1), keepdim=True) * a


@WEIGHTED_ACTIVATIONS.register("gradcampp")
def _gradcampp(a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    g2 = g.pow(2)
    alpha = _safe_div(g2, 2 * g2 + a.sum(dim=(-2, -1), keepdim=True) * g.pow(3))
    return (alpha * torch.relu(g)).sum(dim=(-2, -1), keepdim=True) * a


@WEIGHTED_ACTIVATIONS.register("layercam")
def _layercam(a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    return torch.relu(g) * a


@WEIGHTED_ACTIVATIONS.register("hirescam")
@WEIGHTED_ACTIVATIONS.register("eigengradcam")
def _elementwise(a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    return g * a


@WEIGHTED_ACTIVATIONS.register("xgradcam")
def _xgradcam(a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    weights = (_safe_div(a, a.sum(dim=(-2, -1), keepdim=True)) * g).sum(dim=(-2, -1), keepdim=True)
    return weights * a


def weighted_activations(method: str, a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """``W ⊙ A`` (K, N, D, h, w) of ``method`` (a name of :data:`WEIGHTED_ACTIVATIONS`)."""
    return WEIGHTED_ACTIVATIONS.lookup(method)(a, g)


def principal_map(x: torch.Tensor) -> torch.Tensor:
    """First principal component of (..., D, h, w) over the positions: (..., h, w).

    X (hw, D) holds one row per position, centred over the positions; the map is ``X v₁`` with ``v₁`` the
    first right singular vector (pytorch-grad-cam's ``get_2d_projection``). Its sign, arbitrary in an
    SVD, is chosen so that the map correlates positively with the channel sum ``Σ_k x^k`` (kept where the
    correlation is 0); pytorch-grad-cam leaves the sign to the SVD routine.
    """
    *lead, d, h, w = x.shape
    rows = x.reshape(-1, d, h * w).transpose(1, 2)  # (B, hw, D)
    centred = rows - rows.mean(dim=1, keepdim=True)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    projection = (centred @ vh[:, 0, :, None]).squeeze(-1)  # (B, hw)
    total = rows.sum(dim=2)
    sign = torch.where((projection * total).sum(dim=1, keepdim=True) < 0, -1.0, 1.0).to(projection)
    return (sign * projection).reshape(*lead, h, w)


@register_posthoc("hirescam")
def hirescam_maps(activations: torch.Tensor, grads: torch.Tensor | None) -> torch.Tensor:
    """HiResCAM (Draelos & Carin, 2020): ``ReLU(Σ_k ∂y^c/∂A^k ⊙ A^k)``, an elementwise gradient weight.

    The ReLU is pytorch-grad-cam's (the paper's map is the signed sum). Args and returns as
    :func:`wsl.cam.posthoc.gradcam_maps`.
    """
    assert grads is not None  # the registry passes gradients to every method that declares it needs them
    return torch.relu(_elementwise(activations, grads).sum(dim=-3))


@register_posthoc("xgradcam")
def xgradcam_maps(activations: torch.Tensor, grads: torch.Tensor | None) -> torch.Tensor:
    """XGradCAM (Fu et al., BMVC 2020): ``ReLU(Σ_k α_k A^k)``.

    ``α_k = Σ_ij (A^k_ij / Σ_ab A^k_ab) ∂y^c/∂A^k_ij``, ``α_k = 0`` where ``Σ_ab A^k_ab = 0``
    (pytorch-grad-cam adds 1e-7 to the denominator instead).
    Args and returns as :func:`wsl.cam.posthoc.gradcam_maps`.
    """
    assert grads is not None
    return torch.relu(_xgradcam(activations, grads).sum(dim=-3))


@register_posthoc("eigengradcam")
def eigengradcam_maps(activations: torch.Tensor, grads: torch.Tensor | None) -> torch.Tensor:
    """EigenGradCAM (pytorch-grad-cam): ``ReLU`` of the first principal component of ``∂y^c/∂A ⊙ A``.

    :func:`principal_map` of the elementwise product (its sign: positive correlation with the HiResCAM
    sum). Args and returns as :func:`wsl.cam.posthoc.gradcam_maps`.
    """
    assert grads is not None
    return torch.relu(principal_map(_elementwise(activations, grads)))
