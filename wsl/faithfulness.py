"""Faithfulness of saliency maps to the model: deletion / insertion AUC, Average Drop, Increase in Confidence.

Notation: a model ``f`` maps images (N, 3, H, W) to logits (N, C); ``p^c(x)`` is the score of class ``c`` of
the target, by default the softmax probability ``softmax(f(x))_c`` (``score="sigmoid"``: ``sigmoid(f(x)_c)``,
a multi-label network's class probability; ``score="logit"``: the logit), ``S``
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
- **ROAD** (Rong et al., Remove And Debias, ICML 2022; pytorch-grad-cam's ``ROADMostRelevantFirst``,
  ``ROADLeastRelevantFirst``, their ``...Average`` and ``ROADCombined``): the ``q`` % most (MoRF) or least
  (LeRF) relevant pixels are removed and filled by the noisy linear imputation
  (:mod:`wsl.cam.imputation`), and ``p^c`` of the imputed image is recorded, for each ``q`` of
  ``percentiles``. MoRF / LeRF scores are ``mean_q (p^c_q − p^c(x))`` (pytorch-grad-cam's averages of
  its differences), the combined score ``(LeRF − MoRF) / 2``: higher is more faithful.

All perturbed inputs of a batch are evaluated ``batch_size`` at a time under ``torch.no_grad()`` in eval
mode (the model's mode is restored), so memory is bounded by one such batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from wsl.cam.classifier import logits_of
from wsl.cam.imputation import impute
from wsl.registry import Registry

__all__ = [
    "DIRECTIONS",
    "ROAD_PERCENTILES",
    "SUBSTRATES",
    "Curves",
    "Direction",
    "Road",
    "auc",
    "confidence_change",
    "deletion",
    "gaussian_blur",
    "insertion",
    "perturbation_curves",
    "road",
    "road_removed",
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
    elif score == "sigmoid":
        logits = torch.sigmoid(logits.double())
    elif score != "logit":
        raise ValueError(f"score: got {score!r}; expected 'softmax', 'sigmoid' or 'logit'")
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


@dataclass(frozen=True)
class Direction:
    """One entry of :data:`DIRECTIONS`.

    Attributes:
        substrate: the default substrate (a name of :data:`SUBSTRATES`).
        removes: True: the image goes to the substrate (deletion); False: the substrate goes to the image.
    """

    substrate: str
    removes: bool


#: Curve name → :class:`Direction`: ``deletion`` (RISE: from the image to zeros), ``insertion`` (RISE:
#: from the blurred image to the image).
DIRECTIONS: Registry[Direction] = Registry("curve direction", what="direction")
DIRECTIONS.add("deletion", Direction("zeros", removes=True))
DIRECTIONS.add("insertion", Direction("blur", removes=False))


def perturbation_curves(  # noqa: PLR0913 (keyword-only metric options, as pytorch-grad-cam's)
    model: nn.Module,
    images: torch.Tensor,
    saliency: torch.Tensor,
    targets: torch.Tensor,
    *,
    direction: str = "deletion",
    step: int = 1,
    substrate: str | None = None,
    batch_size: int = 64,
    score: str = "softmax",
) -> Curves:
    """Deletion or insertion curves and AUC (module docstring), the most salient pixels changed first.

    Args:
        model: maps (N, 3, H, W) to logits (any output :func:`~wsl.cam.classifier.logits_of` reads).
        images: (N, 3, H, W) network input.
        saliency: (N, H, W) maps at the input size.
        targets: (N,) classes.
        direction: a name of :data:`DIRECTIONS`: ``deletion`` (the image's pixels become the substrate's)
            or ``insertion`` (the substrate's pixels become the image's).
        step: pixels changed per step.
        substrate: a name of :data:`SUBSTRATES`; None: the direction's (RISE: ``zeros`` for deletion,
            ``blur`` for insertion).
        batch_size: perturbed images per forward pass.
        score: ``softmax`` (probability), ``sigmoid`` (per-class probability) or ``logit``.
    """
    _check(images, saliency, targets)
    way = DIRECTIONS.lookup(direction)
    other = SUBSTRATES.lookup(substrate or way.substrate)(images)
    start, finish = (images, other) if way.removes else (other, images)
    return _curves(model, start, finish, saliency, targets, step, batch_size, score)


def deletion(model: nn.Module, images: torch.Tensor, saliency: torch.Tensor, targets: torch.Tensor,
             **options: Any) -> Curves:  # fmt: skip
    """:func:`perturbation_curves` with ``direction="deletion"`` (substrate ``zeros`` by default)."""
    return perturbation_curves(model, images, saliency, targets, direction="deletion", **options)


def insertion(model: nn.Module, images: torch.Tensor, saliency: torch.Tensor, targets: torch.Tensor,
              **options: Any) -> Curves:  # fmt: skip
    """:func:`perturbation_curves` with ``direction="insertion"`` (substrate ``blur`` by default)."""
    return perturbation_curves(model, images, saliency, targets, direction="insertion", **options)


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


#: ROAD's removal percentages (pytorch-grad-cam's ``ROADCombined`` default: 10, 20, …, 90).
ROAD_PERCENTILES = (10, 20, 30, 40, 50, 60, 70, 80, 90)


@dataclass(frozen=True)
class Road:
    """ROAD scores (module docstring).

    Attributes:
        percentiles: (P,) percentages of the pixels removed.
        base: (N,) ``p^c`` of the images.
        morf: (N, P) ``p^c`` after imputing the ``q`` % most relevant pixels, for each ``q``.
        lerf: (N, P) ``p^c`` after imputing the ``q`` % least relevant pixels.
    """

    percentiles: tuple[float, ...]
    base: torch.Tensor
    morf: torch.Tensor
    lerf: torch.Tensor

    @property
    def morf_mean(self) -> torch.Tensor:
        """(N,) ``mean_q (morf_q − base)`` (pytorch-grad-cam's ``ROADMostRelevantFirstAverage``); lower is
        more faithful."""
        return (self.morf - self.base[:, None]).mean(dim=1)

    @property
    def lerf_mean(self) -> torch.Tensor:
        """(N,) ``mean_q (lerf_q − base)`` (``ROADLeastRelevantFirstAverage``); higher is more faithful."""
        return (self.lerf - self.base[:, None]).mean(dim=1)

    @property
    def combined(self) -> torch.Tensor:
        """(N,) ``(lerf_mean − morf_mean) / 2`` (``ROADCombined``); higher is more faithful."""
        return (self.lerf_mean - self.morf_mean) / 2


def road_removed(saliency: torch.Tensor, percent: float, most_relevant: bool) -> torch.Tensor:
    """(N, H, W) bool: the pixels ROAD removes at ``percent`` % (module docstring).

    With ``key = S`` (MoRF) or ``key = 1 − S`` (LeRF) and ``t`` the ``(100 − percent)``-th percentile of
    the image's keys (linear interpolation, NumPy's default), the pixels with ``key ≥ t`` are removed
    (pytorch-grad-cam keeps ``key < t``; its ``percentile`` argument is ``100 − percent``).
    """
    if not 0 <= percent <= 100:
        raise ValueError(f"percentiles: each must be in [0, 100] (percent of pixels removed); got {percent}")
    flat = saliency.reshape(len(saliency), -1).double()
    key = flat if most_relevant else 1 - flat
    t = torch.quantile(key, (100 - percent) / 100, dim=1, keepdim=True)
    return (key >= t).reshape(saliency.shape)


def road(  # noqa: PLR0913 (keyword-only metric options, as pytorch-grad-cam's)
    model: nn.Module,
    images: torch.Tensor,
    saliency: torch.Tensor,
    targets: torch.Tensor,
    *,
    percentiles: tuple[float, ...] = ROAD_PERCENTILES,
    noise: float = 0.01,
    seed: int = 0,
    batch_size: int = 64,
    score: str = "softmax",
) -> Road:
    """ROAD, most and least relevant first (module docstring), at every percentage of ``percentiles``.

    The ``N · 2 · P`` imputed images (:func:`wsl.cam.imputation.impute`) are made and scored
    ``batch_size`` at a time; the noise is drawn from a generator seeded with ``seed``, one draw per
    (image, order, percentage) in that order, so the noise does not depend on ``batch_size`` (the
    solver stops per batch: imputations agree within its tolerance).

    Args:
        model, images, saliency, targets, score: as :func:`perturbation_curves`.
        percentiles: percentages of the pixels removed.
        noise: the imputation noise's standard deviation (pytorch-grad-cam: 0.01; 0: none).
        seed: seeds the noise.
        batch_size: imputed images per forward pass.
    """
    _check(images, saliency, targets)
    if batch_size < 1 or not percentiles:
        raise ValueError(
            f"batch_size must be >= 1 and percentiles non-empty; got {batch_size}, {percentiles!r}"
        )
    n, p = len(images), len(percentiles)
    pairs = [(i, most, q) for i in range(n) for most in (True, False) for q in range(p)]
    out = torch.empty(n, 2, p, dtype=torch.float64)
    generator = torch.Generator().manual_seed(seed)
    with _evaluating(model):
        base = _score(model, images, targets, score).cpu()
        for chunk in range(0, len(pairs), batch_size):
            part = pairs[chunk : chunk + batch_size]
            idx = torch.tensor([i for i, _, _ in part])
            removed = torch.stack(
                [road_removed(saliency[i : i + 1], percentiles[q], most)[0] for i, most, q in part]
            )
            x = impute(images[idx], removed.to(images.device), noise, generator)
            scores = _score(model, x, targets[idx], score).cpu()
            for (i, most, q), value in zip(part, scores, strict=True):
                out[i, 0 if most else 1, q] = value
    return Road(tuple(percentiles), base, out[:, 0], out[:, 1])
