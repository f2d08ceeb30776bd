"""Faithfulness of saliency maps to the model: deletion / insertion AUC, Average Drop, Increase in Confidence.

Notation: a model ``f`` maps images (N, 3, H, W) to logits (N, C); ``p^c(x)`` is the score of class ``c`` of
the target, by default the softmax probability ``softmax(f(x))_c`` (``score="logit"``: the logit), ``S``
(N, H, W) the saliency maps at the input size (any scale; they only rank pixels or are min–max
normalised).

- **Deletion / insertion** (Petsiuk et al., RISE, BMVC 2018): pixels are ordered by decreasing saliency
  (ties in row-major order; RISE's ``argsort`` leaves them to the sort). At step ``i = 0 … n``,
  ``n = ceil(HW / step)``, the first ``min(i·step, HW)`` pixels (all channels) of the *start* image are
  replaced by those of the *finish* image and ``p^c`` is recorded: deletion starts from the image and
  finishes at the substrate (zeros), insertion starts from a blurred image and finishes at the image.
  The score is the area under the curve of ``p^c`` against the fraction of pixels changed,
  ``AUC = (Σ_i p_i − p_0/2 − p_n/2) / n`` (the trapezoid rule; RISE's ``auc``). Low deletion AUC and high
  insertion AUC mean a faithful map.
- **Average Drop** (Chattopadhay et al., Grad-CAM++, WACV 2018): ``(1/N) Σ_i max(0, Y_i − O_i) / Y_i``,
  ``Y_i = p^c(x_i)`` and ``O_i = p^c(x_i ⊙ E_i)`` with ``E_i`` the min–max normalised map, the image
  (the network's input tensor, as pytorch-grad-cam's metrics) multiplied pixel-wise. **Increase in
  Confidence**: ``(1/N) Σ_i 1[Y_i < O_i]``. Both are fractions here (the paper prints percentages).

All perturbed inputs of a batch are evaluated ``batch_size`` at a time under ``torch.no_grad()`` in eval
mode (the model's mode is restored), so memory is bounded by one such batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from wsl.cam.classifier import logits_of
from wsl.registry import Registry

__all__ = [
    "SUBSTRATES",
    "Curves",
    "auc",
    "confidence_change",
    "deletion",
    "gaussian_blur",
    "insertion",
]

#: Substrate name → ``fn(images) -> images`` (what deleted pixels become / what insertion starts from).
SUBSTRATES: Registry[Callable[[torch.Tensor], torch.Tensor]] = Registry("substrate")


def gaussian_blur(images: torch.Tensor, size: int = 11, sigma: float = 5.0) -> torch.Tensor:
    """Per-channel Gaussian blur, kernel ``size`` (odd) with weights ∝ exp(−x²/2σ²) normalised to sum 1,
    zero padding (RISE's insertion substrate: ``klen=11, nsig=5``; RISE builds its kernel by SciPy's
    ``gaussian_filter`` of a delta, which differs in the last digits)."""
    x = torch.arange(size, dtype=images.dtype, device=images.device) - size // 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    kernel = torch.outer(g, g)
    kernel = (kernel / kernel.sum()).expand(images.shape[1], 1, size, size)
    return F.conv2d(images, kernel, padding=size // 2, groups=images.shape[1])


SUBSTRATES.add("zeros", torch.zeros_like)
SUBSTRATES.add("blur", gaussian_blur)


@dataclass(frozen=True)
class Curves:
    """Deletion or insertion curves.

    Attributes:
        scores: (N, n + 1) ``p^c`` after 0 … n steps.
        fractions: (n + 1,) fraction of the pixels changed at each step.
        auc: (N,) area under each curve (trapezoid rule over [0, 1]).
    """

    scores: torch.Tensor
    fractions: torch.Tensor
    auc: torch.Tensor


def auc(scores: torch.Tensor) -> torch.Tensor:
    """``(Σ_i p_i − p_0/2 − p_n/2) / n`` over the last dimension (RISE's ``auc``), n = points − 1 ≥ 1."""
    n = scores.shape[-1] - 1
    if n < 1:
        raise ValueError(f"scores: a curve needs at least 2 points; got {scores.shape[-1]}")
    return (scores.sum(dim=-1) - scores[..., 0] / 2 - scores[..., -1] / 2) / n


@contextmanager
def _evaluating(model: nn.Module) -> Iterator[None]:
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(training)


def _score(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, score: str) -> torch.Tensor:
    logits = logits_of(model(x))
    if score == "softmax":
        logits = torch.softmax(logits.double(), dim=1)
    elif score != "logit":
        raise ValueError(f"score: got {score!r}; expected 'softmax' or 'logit'")
    return logits.gather(1, targets[:, None])[:, 0].double()


def _check(images: torch.Tensor, maps: torch.Tensor, targets: torch.Tensor) -> None:
    n, _, h, w = images.shape
    if maps.shape != (n, h, w):
        raise ValueError(
            f"saliency: expected (N, H, W) = {(n, h, w)} like the images; got {tuple(maps.shape)}"
        )
    if targets.shape != (n,):
        raise ValueError(f"targets: expected (N,) = ({n},) classes; got {tuple(targets.shape)}")


def _curves(model, start, finish, saliency, targets, step: int, batch_size: int, score: str) -> Curves:
    """The curves of the images going from ``start`` to ``finish`` in decreasing saliency order."""
    n, c, h, w = start.shape
    if step < 1 or batch_size < 1:
        raise ValueError(f"step and batch_size must be >= 1; got step={step}, batch_size={batch_size}")
    pixels = h * w
    steps = math.ceil(pixels / step)
    order = torch.argsort(-saliency.reshape(n, pixels).double(), dim=1, stable=True)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(pixels).expand(n, -1).contiguous())  # rank[n, pixel]
    counts = torch.clamp(torch.arange(steps + 1) * step, max=pixels)  # pixels changed after i steps
    out = torch.empty(n, steps + 1, dtype=torch.float64)
    pairs = [(i, s) for i in range(n) for s in range(steps + 1)]
    with _evaluating(model):
        for chunk in range(0, len(pairs), batch_size):
            idx = torch.tensor([p[0] for p in pairs[chunk : chunk + batch_size]])
            stp = torch.tensor([p[1] for p in pairs[chunk : chunk + batch_size]])
            changed = (rank[idx] < counts[stp][:, None]).reshape(-1, 1, h, w)
            x = torch.where(changed.to(start.device), finish[idx], start[idx])
            out[idx, stp] = _score(model, x, targets[idx], score).cpu()
    return Curves(out, counts.double() / pixels, auc(out))


def deletion(
    model: nn.Module,
    images: torch.Tensor,
    saliency: torch.Tensor,
    targets: torch.Tensor,
    *,
    step: int = 1,
    substrate: str = "zeros",
    batch_size: int = 64,
    score: str = "softmax",
) -> Curves:
    """Deletion curves and AUC (module docstring): the most salient pixels become the substrate first.

    Args:
        model: maps (N, 3, H, W) to logits (any output :func:`~wsl.cam.classifier.logits_of` reads).
        images: (N, 3, H, W) network input.
        saliency: (N, H, W) maps at the input size.
        targets: (N,) classes.
        step: pixels changed per step.
        substrate: a name of :data:`SUBSTRATES` (RISE: ``zeros``).
        batch_size: perturbed images per forward pass.
        score: ``softmax`` (probability) or ``logit``.
    """
    _check(images, saliency, targets)
    finish = SUBSTRATES.lookup(substrate)(images)
    return _curves(model, images, finish, saliency, targets, step, batch_size, score)


def insertion(
    model: nn.Module,
    images: torch.Tensor,
    saliency: torch.Tensor,
    targets: torch.Tensor,
    *,
    step: int = 1,
    substrate: str = "blur",
    batch_size: int = 64,
    score: str = "softmax",
) -> Curves:
    """Insertion curves and AUC (module docstring): from the substrate (RISE: ``blur``), the most salient
    pixels of the image are put back first. Arguments as :func:`deletion`."""
    _check(images, saliency, targets)
    start = SUBSTRATES.lookup(substrate)(images)
    return _curves(model, start, images, saliency, targets, step, batch_size, score)


def confidence_change(
    model: nn.Module,
    images: torch.Tensor,
    saliency: torch.Tensor,
    targets: torch.Tensor,
    score: str = "softmax",
) -> dict[str, torch.Tensor]:
    """Average Drop and Increase in Confidence (module docstring) of maps at the input size.

    Returns:
        ``average_drop`` and ``increase_in_confidence`` (0-d, fractions), and per image ``drop`` (N,)
        ``max(0, Y − O) / Y`` (0 where ``Y = 0``) and ``increased`` (N,) bool.
    """
    _check(images, saliency, targets)
    flat = saliency.reshape(len(saliency), -1).double()
    lo, hi = flat.amin(dim=1, keepdim=True), flat.amax(dim=1, keepdim=True)
    span = hi - lo
    explanation = torch.where(span > 0, (flat - lo) / torch.where(span > 0, span, 1.0), 0.0)
    masked = images * explanation.reshape(saliency.shape)[:, None].to(images.dtype)
    with _evaluating(model):
        full = _score(model, images, targets, score)
        kept = _score(model, masked, targets, score)
    drop = torch.where(full != 0, torch.clamp(full - kept, min=0) / torch.where(full != 0, full, 1.0), 0.0)
    increased = full < kept
    return {
        "average_drop": drop.mean(),
        "increase_in_confidence": increased.double().mean(),
        "drop": drop,
        "increased": increased,
    }
