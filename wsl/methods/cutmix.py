"""``cutmix``: CutMix (Yun et al., ICCV 2019), a batch method.

With probability ``prob`` a batch is mixed: λ ~ Beta(α, α); a box of side ``int(H·√(1−λ))`` ×
``int(W·√(1−λ))`` centred at a uniform pixel (clipped to the image) is pasted into every image from
its partner ``π(i)`` (a random permutation of the batch). The label weight is recomputed from the
pasted area: ``λ' = 1 − area/(H·W)``, so that the weights ``(λ', 1 − λ')`` of (own, partner) sum to
one per image and ``1 − λ'`` is exactly the pasted fraction. The loss:

- multi-label (BCE): area-weighted targets ``λ'·y + (1−λ')·y_π``;
- single-label (CE): the mixed loss ``λ'·CE(s, y) + (1−λ')·CE(s, y_π)``.

Both equal ``λ'·loss(s, y) + (1−λ')·loss(s, y_π)`` (BCE and CE are linear in the target), which is how
it is computed; the pooling regulariser enters with weight λ' + (1−λ') = 1.

Where wsl deviates from wsolevaluation's ``wsol/method/cutmix.py`` and why: none in the math (one λ
and one box per batch, the box as in its ``rand_bbox``, the label weight from the actual area); the
draws come from torch's generator instead of numpy's, and ``rand_bbox``'s W/H naming swap (harmless
for square inputs) is not reproduced: the box's rows follow H and its columns W.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from wsl.methods.base import LossFn, WSOLMethod
from wsl.methods.registry import register_method

__all__ = ["CutMix", "CutMixBatch", "beta_sample", "cutmix", "cutmix_box"]


@dataclass
class CutMixBatch:
    """A mixed batch: ``images`` (N, C, H, W), ``partner`` (N,) indices π, ``weights`` (N, 2) of
    (own label, partner label), ``box`` ``(y0, x0, y1, x1)`` half-open in pixels."""

    images: torch.Tensor
    partner: torch.Tensor
    weights: torch.Tensor
    box: tuple[int, int, int, int]

    def targets(self, labels: torch.Tensor) -> torch.Tensor:
        """Area-weighted multi-hot targets ``w_own·y + w_partner·y_π`` (N, C)."""
        w = self.weights.to(labels.dtype)
        return w[:, :1] * labels + w[:, 1:] * labels[self.partner]


def beta_sample(alpha: float, generator: torch.Generator | None = None) -> float:
    """One draw of Beta(α, α) as g₁/(g₁ + g₂), g₁, g₂ ~ Gamma(α, 1) (torch.distributions.Beta takes no
    generator)."""
    gammas = torch._standard_gamma(torch.full((2,), float(alpha), dtype=torch.float64), generator=generator)
    return float(gammas[0] / gammas.sum())


def cutmix_box(
    height: int, width: int, lam: float, generator: torch.Generator | None = None
) -> tuple[int, int, int, int]:
    """The pasted box ``(y0, x0, y1, x1)`` (half-open) for a draw λ: sides ``int(H·√(1−λ))``,
    ``int(W·√(1−λ))`` around a uniform centre, clipped to the image (as wsolevaluation's rand_bbox)."""
    ratio = (1.0 - lam) ** 0.5
    cut_h, cut_w = int(height * ratio), int(width * ratio)
    cy = int(torch.randint(height, (), generator=generator))
    cx = int(torch.randint(width, (), generator=generator))
    y0, y1 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, height)
    x0, x1 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, width)
    return y0, x0, y1, x1


def cutmix(images: torch.Tensor, alpha: float = 1.0, generator: torch.Generator | None = None) -> CutMixBatch:
    """Paste one random box from a shuffled partner into every image.

    Args:
        images: (N, C, H, W); not modified.
        alpha: the Beta(α, α) parameter of λ (α = 1: λ uniform).
        generator: the random source (default: torch's global generator).

    Returns:
        A :class:`CutMixBatch` whose weights are ``(1 − a, a)`` per image, a = box area / (H·W).

    Example:
        >>> batch = cutmix(torch.zeros(4, 3, 8, 8), generator=torch.Generator().manual_seed(0))
        >>> bool(torch.allclose(batch.weights.sum(dim=1), torch.ones(4, dtype=torch.float64)))
        True
    """
    n, _, height, width = images.shape
    lam = beta_sample(alpha, generator)
    partner = torch.randperm(n, generator=generator)
    y0, x0, y1, x1 = cutmix_box(height, width, lam, generator)
    mixed = images.clone()
    mixed[:, :, y0:y1, x0:x1] = images[partner.to(images.device), :, y0:y1, x0:x1]
    pasted = (y1 - y0) * (x1 - x0) / (height * width)
    weights = torch.tensor([[1.0 - pasted, pasted]], dtype=torch.float64).expand(n, 2).clone()
    return CutMixBatch(mixed, partner, weights, (y0, x0, y1, x1))


@register_method("cutmix")
class CutMix(WSOLMethod):
    """CutMix training: with probability ``prob`` a batch is mixed by :func:`cutmix`, and the loss is
    ``λ'·loss(s, y) + (1−λ')·loss(s, y_π)`` (area-weighted targets for BCE, the mixed CE for
    single-label); otherwise the plain CAM loss.

    Args:
        prob: probability 0 ≤ prob ≤ 1 that a batch is mixed (default 1.0; wsolevaluation's
            ``cutmix_prob``).
        alpha: α > 0 of Beta(α, α) (default 1.0; wsolevaluation's ``cutmix_beta``).
    """

    def __init__(self, prob: float = 1.0, alpha: float = 1.0) -> None:
        if not 0.0 <= float(prob) <= 1.0:
            raise ValueError(f"cutmix: prob must be a probability in [0, 1]; got {prob!r}")
        if not float(alpha) > 0.0:
            raise ValueError(f"cutmix: alpha must be > 0 (Beta(alpha, alpha)); got {alpha!r}")
        self.prob, self.alpha = float(prob), float(alpha)

    def options(self) -> dict:
        return {"prob": self.prob, "alpha": self.alpha}

    def training_loss(
        self, net: nn.Module, images: torch.Tensor, labels: torch.Tensor, loss: LossFn
    ) -> torch.Tensor:
        if float(torch.rand(())) >= self.prob:
            return super().training_loss(net, images, labels, loss)
        batch = cutmix(images, self.alpha)
        scores, _ = net(batch.images)
        own, other = (float(w) for w in batch.weights[0])
        return own * loss(scores, labels) + other * loss(scores, labels[batch.partner.to(labels.device)])
