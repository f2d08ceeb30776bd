"""``explain(model, images, ...)``: CAMs of any classifier for chosen target classes, in one batched call.

The model is wrapped in a :class:`~wsl.cam.classifier.ClassifierCAM` (any ``nn.Module`` returning logits:
timm, torchvision, Hugging Face-like, one's own; a ``WSLNet`` works too, its first output being the
scores). One forward pass records A (N, D, h, w) and the logits; the gradient methods take
``G = ∂(Σ_n y_n^{t_nj})/∂A`` for the j-th target of every image at once (one vmapped backward for the K
targets; images do not interact in eval mode), the perturbation methods run their extra forwards
(:mod:`wsl.cam.perturbation`), and every class-specific method is reduced from its weighted activations
``W ⊙ A`` (:mod:`wsl.cam.weighted`): ``ReLU(Σ_k)`` or, with ``eigen_smooth``, ``ReLU`` of their first
principal component.

The methods are those of :data:`wsl.cam.POSTHOC_METHODS` (:func:`explain_methods`); this module registers
there the ones computed from the network (:func:`wsl.cam.posthoc.register_network_method`): ScoreCAM and
AblationCAM on a layer, FullGrad on every bias layer. :func:`wsl.cam.class_maps_for`, and so the evaluate
job, the export and predict, compute them with the same functions as :func:`explain`.

``aug_smooth`` (pytorch-grad-cam's test-time augmentation): the maps of the 6 inputs
``flip ∈ {no, horizontal} × brightness ∈ {0.9, 1, 1.1}`` (the image tensor multiplied), each upsampled to
the input size, min–max normalised, flipped back and averaged. The targets are those of the plain image
(pytorch-grad-cam, without explicit targets, takes each augmented input's own top class).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from wsl.cam.classifier import ClassifierCAM, _find
from wsl.cam.fullgrad import fullgrad
from wsl.cam.maps import normalize_cams, upsample_class_maps
from wsl.cam.perturbation import PERTURBATION_METHODS
from wsl.cam.posthoc import (
    POSTHOC_METHODS,
    _capture,
    _class_grads,
    _eval_mode,
    _unwrap,
    check_layer,
    posthoc_names,
    register_network_method,
)
from wsl.cam.weighted import WEIGHTED_ACTIVATIONS, principal_map
from wsl.registry import unknown_choice

if TYPE_CHECKING:
    from wsl.cam.stream import CamSource

__all__ = [
    "AUG_BRIGHTNESS",
    "PERTURBATION_BATCH",
    "Explanation",
    "check_layers",
    "check_smoothing",
    "explain",
    "explained_class_maps",
    "explain_methods",
    "fuse_layers",
    "layer_list",
    "resolve_targets",
]

#: The brightness factors of ``aug_smooth`` (each with and without a horizontal flip).
AUG_BRIGHTNESS = (0.9, 1.0, 1.1)

Targets = int | Sequence[int] | Sequence[Sequence[int]] | torch.Tensor | None

#: Perturbed inputs per forward pass of ScoreCAM and AblationCAM (``explain``'s default ``batch_size``, and
#: the batch :func:`wsl.cam.class_maps_for` runs them with).
PERTURBATION_BATCH = 64

#: ``(scores (N, C), targets (N, K), maps (N, K, h, w))`` of one batch of network inputs.
Maps = tuple[torch.Tensor, torch.Tensor, torch.Tensor]

#: ``choose(scores (N, C)) -> targets (N, K)``.
Choose = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Explanation:
    """What :func:`explain` returns.

    Attributes:
        scores: (N, C) logits of the plain images.
        targets: (N, K) int64 target classes.
        maps: (N, K, h, w) raw maps at the layer's resolution (at the input size with ``aug_smooth``).
        cams: (N, K, H, W) float64 maps upsampled to the input size and min–max normalised.
    """

    scores: torch.Tensor
    targets: torch.Tensor
    maps: torch.Tensor
    cams: torch.Tensor


def explain_methods() -> list[str]:
    """Every method name :func:`explain` accepts: the post-hoc methods of :data:`wsl.cam.POSTHOC_METHODS`
    (:func:`wsl.cam.posthoc.posthoc_names`), the one list the tools' ``--cam-method`` reads too."""
    return posthoc_names()


def resolve_targets(targets: Targets, scores: torch.Tensor) -> torch.Tensor:
    """Targets as (N, K) int64: None → each image's top-1 class; an int → that class for every image; a
    sequence of N ints → one per image; N sequences of K ints (or an (N, K) tensor) → K per image."""
    n, c = scores.shape
    if targets is None:
        out = scores.argmax(dim=1, keepdim=True)
    elif isinstance(targets, int):
        out = torch.full((n, 1), targets, dtype=torch.long)
    else:
        out = torch.as_tensor(targets, dtype=torch.long)
        out = out[:, None] if out.ndim == 1 else out
    if out.ndim != 2 or out.shape[0] != n:
        raise ValueError(
            f"targets: expected None, an int, N ints or (N, K) classes for N={n}; got {targets!r}"
        )
    if out.numel() and not (int(out.min()) >= 0 and int(out.max()) < c):
        raise ValueError(f"targets: classes must be in 0 … {c - 1}; got {out.tolist()}")
    return out.to(scores.device)


def layer_list(layer: str | Sequence[str] | None) -> list[str | None]:
    """``None`` → ``[None]`` (the default layer); ``"a,b"`` or ``["a", "b"]`` → ``["a", "b"]``."""
    if layer is None:
        return [None]
    names = [n.strip() for n in layer.split(",")] if isinstance(layer, str) else [str(n) for n in layer]
    if not names or not all(names) or len(set(names)) != len(names):
        raise ValueError(f"layer: got {layer!r}; expected a dotted module name or distinct names 'a,b'")
    return list(names)


def _wrap(model: nn.Module, layer: str | None, several: bool = False) -> ClassifierCAM:
    if isinstance(model, ClassifierCAM):
        if layer is None or layer == model.layer:
            return model
        if not several:
            raise ValueError(f"layer: got {layer!r} for a ClassifierCAM built on {model.layer!r}; pass one")
        return ClassifierCAM(model.classifier, layer, model.layout, model.grid_size, model.prefix_tokens)
    return ClassifierCAM(model, layer)


def fuse_layers(maps: Sequence[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
    """Several layers' maps (each (N, K, h_l, w_l)) fused as pytorch-grad-cam fuses its target layers:
    ``mean_l upsample(normalise(ReLU(m_l)))``, each map min–max normalised at its layer's resolution
    (0 where constant; pgc adds 1e-7 to the maximum instead), then upsampled bilinearly
    (``align_corners=False``, OpenCV's ``resize``) to ``size``: (N, K, H, W) float64."""
    total = torch.zeros(0)
    for m in maps:
        up = F.interpolate(normalize_cams(torch.relu(m)), size=size, mode="bilinear", align_corners=False)
        total = up if total.numel() == 0 else total + up
    return total / len(maps)


def _weighted(net: ClassifierCAM, images, a, grads, method: str, targets, batch_size: int) -> torch.Tensor:
    if method in PERTURBATION_METHODS:
        return PERTURBATION_METHODS[method](net, images, a, targets, batch_size).to(a.dtype) * a
    assert grads is not None
    return WEIGHTED_ACTIVATIONS.lookup(method)(a, grads)


def _maps_once(net, images, method: str, choose: Choose, eigen_smooth: bool, batch_size: int) -> Maps:
    """``(scores (N, C), targets (N, K), maps (N, K, h, w))`` of one batch of network inputs: ``net``
    returns ``(scores, ...)`` and its child ``backbone`` outputs A."""
    needs_grads = POSTHOC_METHODS[method].needs_gradients
    with _eval_mode(net), torch.inference_mode(False), torch.set_grad_enabled(needs_grads):
        if images.is_inference():
            images = images.clone()
        with _capture(net.backbone, "backbone") as seen:
            scores, _ = net(images)
        chosen = choose(scores.detach())
        grads = None
        if needs_grads:
            grads = _class_grads(scores.gather(1, chosen).sum(dim=0), seen[0], batched=True).detach()
        dtype = torch.promote_types(seen[0].dtype, torch.float32)
        a = seen[0].detach().to(dtype)
        if method == "eigencam":
            maps = POSTHOC_METHODS[method].rule(a, None).expand(chosen.shape[1], -1, -1, -1)  # type: ignore[misc]
        else:
            weighted = _weighted(net, images, a, None if grads is None else grads.to(dtype), method, chosen,
                                 batch_size)  # fmt: skip
            smooth = eigen_smooth or method == "eigengradcam"
            maps = torch.relu(principal_map(weighted) if smooth else weighted.sum(dim=-3))
    return scores.detach(), chosen, maps.transpose(0, 1).detach()


class _LayerView(nn.Module):
    """A network seen as a CAM source on one of its modules: ``backbone`` is that module (none: no layer),
    ``forward`` one view of the network (its ``forward_view`` where it has one, e.g. a ``WSLNet`` that
    averages flips, so that every module runs once per forward pass)."""

    def __init__(self, net: nn.Module, layer: nn.Module | None) -> None:
        super().__init__()
        self.net = net
        if layer is not None:
            self.backbone = layer
        self.train(net.training)

    def forward(self, images: torch.Tensor) -> Any:
        return getattr(self.net, "forward_view", self.net)(images)


def _perturbation_maps(method: str) -> Callable[[nn.Module, torch.Tensor, str | None, Choose], Maps]:
    """The network maps (:attr:`wsl.cam.posthoc.PosthocMethod.network`) of a perturbation method."""

    def maps(net: nn.Module, images: torch.Tensor, layer: str | None, choose: Choose) -> Maps:
        view = _LayerView(net, net.get_submodule(layer or "backbone"))
        return _maps_once(view, images, method, choose, False, PERTURBATION_BATCH)

    return maps


def _fullgrad_maps(net: nn.Module, images: torch.Tensor, layer: str | None, choose: Choose) -> Maps:
    """FullGrad's network maps: of a :class:`ClassifierCAM`'s classifier, else of one view of ``net``."""
    if isinstance(net, ClassifierCAM):
        return fullgrad(net.classifier, images, choose)
    return fullgrad(_LayerView(net, None) if hasattr(net, "forward_view") else net, images, choose)


for _name in PERTURBATION_METHODS:
    register_network_method(_name, _perturbation_maps(_name), needs_gradients=False)
register_network_method("fullgrad", _fullgrad_maps, needs_gradients=True, uses_layer=False)


Source = Callable[[torch.Tensor, Targets], Maps]


def _chooser(t: Targets) -> Choose:
    return lambda scores: resolve_targets(t, scores)


def check_smoothing(method: str, layer: str | Sequence[str] | None, eigen_smooth: bool) -> None:
    """Raise ``ValueError`` for a method without a layer (FullGrad: every bias layer) given a layer or
    ``eigen_smooth``, the one combination :func:`explain` refuses."""
    if POSTHOC_METHODS[method].uses_layer or not (eigen_smooth or layer is not None):
        return
    what = "eigen_smooth" if eigen_smooth else "layer"
    raise ValueError(
        f"{what}: method={method!r} uses every bias layer, no layer's activations to decompose or fuse: "
        "pass neither layer nor eigen_smooth, or a layer method (e.g. gradcam)"
    )


def _layers_source(nets: Sequence[nn.Module], method: str, eigen_smooth: bool, batch_size: int) -> Source:
    """The maps of one batch by ``method`` on each CAM source of ``nets`` (see :func:`_maps_once`): one
    network's, or several fused by :func:`fuse_layers` (the first one's targets for all)."""
    if len(nets) == 1:
        return lambda x, t: _maps_once(nets[0], x, method, _chooser(t), eigen_smooth, batch_size)

    def fused(x: torch.Tensor, t: Targets) -> Maps:
        scores, chosen, first = _maps_once(nets[0], x, method, _chooser(t), eigen_smooth, batch_size)
        rest = [_maps_once(net, x, method, _chooser(chosen), eigen_smooth, batch_size)[2] for net in nets[1:]]
        return scores, chosen, fuse_layers([first, *rest], (x.shape[-2], x.shape[-1]))

    return fused


def _network_source(net: nn.Module, method: str) -> Source:
    """The maps of one batch by a method without a layer (its :attr:`~wsl.cam.posthoc.PosthocMethod.network`
    maps, e.g. FullGrad's over every bias layer)."""
    network = POSTHOC_METHODS[method].network
    assert network is not None
    return lambda x, t: network(net, x, None, _chooser(t))


def _source(model: nn.Module, layer, method: str, eigen_smooth: bool, batch_size: int) -> Source:
    """The maps of one batch of inputs: a method without a layer, one layer, or several layers fused."""
    check_smoothing(method, layer, eigen_smooth)
    if not POSTHOC_METHODS[method].uses_layer:
        return _network_source(model, method)
    names = layer_list(layer)
    nets = [_wrap(model, name, several=len(names) > 1) for name in names]
    return _layers_source(nets, method, eigen_smooth, batch_size)


def _aug_smooth(source: Source, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    size = (images.shape[-2], images.shape[-1])
    total = torch.zeros(0)
    for flip in (False, True):
        for factor in AUG_BRIGHTNESS:
            x = images * factor
            x = x.flip(-1) if flip else x
            _, _, maps = source(x, targets)
            cams = normalize_cams(upsample_class_maps(maps, size))
            cams = cams.flip(-1) if flip else cams
            total = cams if total.numel() == 0 else total + cams
    return total / (2 * len(AUG_BRIGHTNESS))


def explain(
    model: nn.Module,
    images: torch.Tensor,
    *,
    layer: str | Sequence[str] | None = None,
    method: str = "gradcam",
    targets: Targets = None,
    aug_smooth: bool = False,
    eigen_smooth: bool = False,
    batch_size: int = PERTURBATION_BATCH,
) -> Explanation:
    """CAMs of ``model`` for ``targets`` by ``method``; the network is restored to its mode afterwards.

    Args:
        model: a classifier (see :class:`~wsl.cam.classifier.ClassifierCAM`) or a ``ClassifierCAM``.
        images: (N, 3, H, W) network input.
        layer: dotted module name of ``model``; None: the model's usual layer
            (:func:`~wsl.cam.classifier.default_classifier_layer`); several (``"a,b"`` or a list): each
            layer's maps fused by :func:`fuse_layers` (``maps`` then at the input size).
        method: one of :func:`explain_methods` (gradcam gradcampp layercam eigencam hirescam xgradcam
            eigengradcam scorecam ablationcam fullgrad; ``fullgrad`` takes no layer, its maps are at the
            input size).
        targets: see :func:`resolve_targets` (None: each image's top-1 class).
        aug_smooth: average over flips and brightness factors (module docstring).
        eigen_smooth: first principal component of the weighted activations instead of their sum.
        batch_size: perturbed inputs per forward pass (ScoreCAM, AblationCAM).

    Returns:
        :class:`Explanation`.

    Example:
        >>> import timm
        >>> net = timm.create_model("resnet18", pretrained=False, num_classes=4)
        >>> out = explain(net, torch.rand(2, 3, 64, 64), method="gradcam", targets=[1, 3])
        >>> tuple(out.maps.shape), tuple(out.cams.shape), out.targets[:, 0].tolist()
        ((2, 1, 2, 2), (2, 1, 64, 64), [1, 3])
    """
    if method not in explain_methods():
        raise unknown_choice("method", method, explain_methods())
    source = _source(model, layer, method, eigen_smooth, batch_size)
    scores, chosen, maps = source(images, targets)
    size = (images.shape[-2], images.shape[-1])
    if aug_smooth:
        maps = _aug_smooth(source, images, chosen)
    return Explanation(scores, chosen, maps, normalize_cams(upsample_class_maps(maps, size)))


def _job_view(net: nn.Module, layer: str | None, several: bool) -> nn.Module:
    """One layer of a job's network as a CAM source: a :class:`ClassifierCAM`'s layers are its classifier's
    modules (None: its own layer); any other network's are its modules (None: ``backbone``), seen through
    one view of it (:class:`_LayerView`), as :func:`wsl.cam.class_maps_for` sees them."""
    if isinstance(net, ClassifierCAM):
        return _wrap(net, layer, several)
    return _LayerView(net, net.get_submodule(check_layer(net, layer)))


def check_layers(net: nn.Module, layer: str | None) -> None:
    """Raise ``ValueError`` naming the closest modules when a name of ``layer`` (``"a,b"``: several) is no
    module of ``net`` (of its classifier for a :class:`ClassifierCAM`)."""
    for name in layer_list(layer):
        if isinstance(net, ClassifierCAM):
            _find(net.classifier, name or net.layer)
        else:
            check_layer(_unwrap(net), name)


def explained_class_maps(
    net: nn.Module, images: torch.Tensor, source: CamSource, classes: Sequence[Sequence[int]] | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`wsl.cam.class_maps_for` with :func:`explain`'s options: ``(scores (N, C), maps (N, C, h, w))``.

    The maps of the asked classes (their union, for every image; None: all) are :func:`explain`'s for
    ``source.method`` on ``source.layer`` (``"a,b"``: fused by :func:`fuse_layers`, at the input size),
    with ``source.eigen_smooth`` and ``source.aug_smooth`` (the same functions compute both); the other
    classes are all zeros. ``net`` is a job's network: a :class:`ClassifierCAM` (its layers are its
    classifier's) or a network returning ``(scores, maps)`` (its modules, default ``backbone``).
    """
    method, layer = source.method, source.layer
    check_smoothing(method, layer, source.eigen_smooth)
    spec, net = POSTHOC_METHODS[method], _unwrap(net)
    if spec.uses_layer:
        names = layer_list(layer)
        views = [_job_view(net, name, len(names) > 1) for name in names]
        maps_of = _layers_source(views, method, source.eigen_smooth, PERTURBATION_BATCH)
    else:
        maps_of = _network_source(net, method)
    with _eval_mode(net):
        if classes is None:
            with torch.no_grad():
                classes = [list(range(getattr(net, "forward_view", net)(images)[0].shape[1]))]
        asked = sorted({int(c) for row in classes for c in row})
        targets = torch.tensor(asked, dtype=torch.long).expand(images.shape[0], -1)
        scores, chosen, maps = maps_of(images, targets)
        if source.aug_smooth:
            maps = _aug_smooth(maps_of, images, chosen)
    out = maps.new_zeros(maps.shape[0], scores.shape[1], *maps.shape[-2:])
    out[:, asked] = maps
    return scores.detach(), out.detach()
