"""FullGrad (Srinivas & Fleuret, "Full-Gradient Representation for Neural Network Visualization", NeurIPS
2019) of any classifier whose biases are reachable, batched over the K targets of every image.

For a network with biases ``b_l`` (one per channel of the output ``z_l`` of layer ``l``) and a piecewise
linear body, the full-gradient decomposition of a class score is exact (completeness):

    y^c(x) = Σ (∇_x y^c ⊙ x) + Σ_l Σ (∇_{z_l} y^c ⊙ b_l),

and the FullGrad saliency map sums the post-processed spatial terms:

    S^c = Σ_channels ψ(∇_x y^c ⊙ x) + Σ_{l spatial} Σ_channels ψ(∇_{z_l} y^c ⊙ b_l),

``ψ(t) = upsample(rescale(|t|))``: the absolute value, min–max rescaled per image over all its channels
and positions jointly (0 where the range is 0; the authors' code adds 1e-6 to the range instead), and
bilinearly upsampled to the input size with ``align_corners=True`` (the authors' code).

Bias layers (exact types, as the authors' code and pytorch-grad-cam): ``nn.Conv2d`` with a bias;
``nn.BatchNorm2d`` in eval mode, whose effective bias is ``β − μ γ / √(σ² + ε)``; ``nn.Linear`` with a
bias. A layer is *spatial* when its output is (N, D, h, w) (conv, BN) or (N, h, w, D) (a Linear on
channels-last maps, e.g. timm ConvNeXt's MLP); other Linear outputs (the classifier head, transformer
tokens) enter the decomposition (:func:`fullgrad_terms`) but not the map, as in the authors' code.
Subclasses such as timm's ``BatchNormAct2d`` (whose output is after its activation) are not bias layers.

pytorch-grad-cam's ``FullGrad`` differs: it rescales every channel separately (``scale_accross_batch_and_
channels``) before summing, uses Conv2d and BatchNorm2d only and upsamples with OpenCV (half-pixel
centres); so its maps are not this paper's rule and are not expected to equal these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from wsl.cam.classifier import logits_of

__all__ = ["BiasLayer", "FullGradTerms", "bias_layers", "fullgrad", "fullgrad_terms"]


@dataclass(frozen=True)
class BiasLayer:
    """A module with a bias: its dotted ``name``, the module, and its (effective) bias (D,)."""

    name: str
    module: nn.Module
    bias: torch.Tensor


def _bias_of(module: nn.Module) -> torch.Tensor | None:
    kind = type(module)
    if kind in (nn.Conv2d, nn.Linear):
        return None if module.bias is None else module.bias.detach()
    if kind is nn.BatchNorm2d and module.running_mean is not None and module.running_var is not None:
        bn: Any = module
        gamma = bn.weight.detach() if bn.weight is not None else torch.ones_like(bn.running_mean)
        beta = bn.bias.detach() if bn.bias is not None else torch.zeros_like(bn.running_mean)
        return beta - bn.running_mean * gamma / torch.sqrt(bn.running_var + bn.eps)
    return None


def bias_layers(model: nn.Module) -> list[BiasLayer]:
    """Every ``nn.Conv2d`` / ``nn.BatchNorm2d`` / ``nn.Linear`` of ``model`` with a bias (module
    docstring), in ``named_modules`` order; a ``ValueError`` when there is none."""
    found = [BiasLayer(name, m, b) for name, m in model.named_modules() if (b := _bias_of(m)) is not None]
    if not found:
        raise ValueError(
            f"fullgrad: {type(model).__name__} has no nn.Conv2d, nn.BatchNorm2d (with running statistics) or "
            "nn.Linear with a bias; FullGrad needs reachable biases: choose another method"
        )
    return found


@dataclass(frozen=True)
class FullGradTerms:
    """The signed full-gradient terms of K targets per image.

    Attributes:
        scores: (N, C) logits.
        targets: (N, K) classes.
        input: (K, N, 3, H, W) ``∇_x y ⊙ x``.
        biases: per bias layer, (K, N, *z_l's shape[1:]) ``∇_{z_l} y ⊙ b_l`` (bias along the channel axis).
        layers: the :class:`BiasLayer` of each entry of ``biases``.
    """

    scores: torch.Tensor
    targets: torch.Tensor
    input: torch.Tensor
    biases: list[torch.Tensor]
    layers: list[BiasLayer]


@contextmanager
def _recording(layers: list[BiasLayer]) -> Iterator[list[list[torch.Tensor]]]:
    """Record each layer's output; a clone goes downstream, so in-place operations after the layer
    (``ReLU(inplace=True)``) leave the recorded tensor and its gradient's meaning alone."""
    seen: list[list[torch.Tensor]] = [[] for _ in layers]
    handles = []
    for slot, layer in zip(seen, layers, strict=True):

        def hook(_: nn.Module, __: Any, output: Any, slot: list[torch.Tensor] = slot) -> Any:
            slot.append(output)
            return output.clone()

        handles.append(layer.module.register_forward_hook(hook))
    try:
        yield seen
    finally:
        for handle in handles:
            handle.remove()


def _grads(outputs: torch.Tensor, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
    """(K, ...) gradients of the K summed scores ``outputs`` for each input: one vmapped backward,
    or one backward per target where vmap refuses an operation (K = 0: empty gradients)."""
    k = outputs.shape[0]
    if k == 0:  # no target: no gradient to take
        return [x.new_zeros((0, *x.shape)) for x in inputs]
    eye = torch.eye(k, dtype=outputs.dtype, device=outputs.device)
    try:
        return list(
            torch.autograd.grad(outputs, inputs, grad_outputs=eye, is_grads_batched=True, retain_graph=True)
        )
    except RuntimeError:
        per = [torch.autograd.grad(outputs[i], inputs, retain_graph=True) for i in range(k)]
        return [torch.stack([p[j] for p in per]) for j in range(len(inputs))]


def fullgrad_terms(
    model: nn.Module, images: torch.Tensor, choose: Callable[[torch.Tensor], torch.Tensor]
) -> FullGradTerms:
    """The signed terms (module docstring) of the targets ``choose(scores) -> (N, K)``.

    The model runs in eval mode (restored afterwards), under ``torch.enable_grad()``.
    """
    layers = bias_layers(model)
    training = model.training
    model.eval()
    try:
        with torch.inference_mode(False), torch.enable_grad(), _recording(layers) as seen:
            x = images.detach().clone().requires_grad_()
            scores = logits_of(model(x))
            targets = choose(scores.detach())
            used = [(layer, s[0]) for layer, s in zip(layers, seen, strict=True) if len(s) == 1]
            if len(used) < sum(1 for s in seen if s):
                raise ValueError(
                    "fullgrad: a bias layer ran more than once in one forward pass (shared weights); "
                    "FullGrad needs each bias layer once: choose another method"
                )
            grads = _grads(scores.gather(1, targets).sum(dim=0), [x] + [z for _, z in used])
    finally:
        model.train(training)
    biases = []
    for (layer, z), g in zip(used, grads[1:], strict=True):
        shape = [1] * z.ndim
        shape[-1 if type(layer.module) is nn.Linear else 1] = -1
        biases.append((g * layer.bias.to(g).view(shape)).detach())
    return FullGradTerms(scores.detach(), targets, (grads[0] * x).detach(), biases, [u[0] for u in used])


def _rescaled_abs(t: torch.Tensor) -> torch.Tensor:
    """``|t|`` min–max rescaled over every dimension after the first two (K, N), 0 where the range is 0."""
    flat = t.abs().flatten(2)
    lo = flat.amin(dim=-1, keepdim=True)
    span = flat.amax(dim=-1, keepdim=True) - lo
    ok = span > 0
    return torch.where(ok, (flat - lo) / torch.where(ok, span, 1.0), 0.0).view(t.shape)


def fullgrad(
    model: nn.Module, images: torch.Tensor, choose: Callable[[torch.Tensor], torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(scores (N, C), targets (N, K), maps (N, K, H, W))``: the FullGrad maps ``S^c`` (module docstring)
    at the input size, in the promoted dtype of the images and float32."""
    terms = fullgrad_terms(model, images, choose)
    size = (images.shape[-2], images.shape[-1])
    total = _rescaled_abs(terms.input).sum(dim=2)  # (K, N, H, W)
    for layer, term in zip(terms.layers, terms.biases, strict=True):
        if term.ndim != 5:
            continue  # not spatial: (K, N, D) or tokens
        spatial = term.permute(0, 1, 4, 2, 3) if type(layer.module) is nn.Linear else term
        summed = _rescaled_abs(spatial).sum(dim=2)  # (K, N, h, w): summed before the (linear) upsampling
        up = F.interpolate(summed.flatten(0, 1)[:, None], size=size, mode="bilinear", align_corners=True)
        total = total + up.view(total.shape)
    dtype = torch.promote_types(images.dtype, torch.float32)
    return terms.scores, terms.targets, total.transpose(0, 1).to(dtype)
