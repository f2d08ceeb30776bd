"""Post-hoc CAMs of a trained network, batched over images and classes: Grad-CAM, Grad-CAM++, LayerCAM,
EigenCAM, beside the network's own class maps.

Notation: ``A`` (N, D, h, w) are the activations of one layer of the network (by default the backbone's
output feature map, i.e. the input of the head's 1×1 conv), ``y^c`` (N,) the score of class ``c`` (the
pooling head's output, before any sigmoid/softmax), ``G^c = ∂(Σ_n y_n^c)/∂A``. Because the images of a
batch do not interact in eval mode, ``G^c[n] = ∂y_n^c/∂A[n]``: one gradient per asked class serves the whole
batch, which is why the methods take the gradients of the *sum over the batch* of each asked class's score.

Every method returns the same pair as ``WSLNet.forward``: ``(scores (N, C), class_maps (N, C, h, w))`` with
``(h, w)`` the chosen layer's size, so :meth:`wsl.cam.CamBatch.from_output`, the evaluator and the export
take them unchanged. The registry :data:`POSTHOC_METHODS` holds

- ``native``: the model's own class maps (every class computed),
- ``gradcam``, ``gradcampp``, ``layercam``: the asked classes computed, the others **all zeros**,
- ``eigencam``: class-agnostic, one map per image written into **every** class,
- methods computed from the network rather than from one layer's A and G (:attr:`PosthocMethod.network`,
  registered by :mod:`wsl.cam.explain` with :func:`register_network_method`): ``scorecam`` and
  ``ablationcam`` (extra forward passes, on the layer) and ``fullgrad`` (every bias layer, no layer; maps
  at the input size); the asked classes computed, the others all zeros.

This registry is the one list of CAM methods: the tools' ``--cam-method``, ``explain``'s ``method`` and
the classifier models (:mod:`wsl.classifier_model`) all read it (:func:`posthoc_names`).

This module needs no Lightning: ``class_maps_for(net, images, ...)`` takes a :class:`~wsl.models.WSLNet`
(or a ``WSLModule``, whose ``net`` is used, or any module whose forward returns ``(scores, maps)``).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from wsl.registry import Registry, closest

__all__ = [
    "POSTHOC_METHODS",
    "PosthocMethod",
    "cam_label",
    "check_cam_request",
    "check_layer",
    "check_posthoc_method",
    "class_maps_for",
    "default_layer",
    "eigencam_maps",
    "gradcam_maps",
    "gradcampp_maps",
    "layer_names",
    "layercam_maps",
    "posthoc_names",
    "register_network_method",
    "register_posthoc",
]

log = logging.getLogger(__name__)

#: ``maps(A (N, D, h, w), G (K, N, D, h, w) or None) -> (K, N, h, w)`` (``(1, N, h, w)`` when class-agnostic).
MapRule = Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]

#: ``maps(net, images, layer, choose) -> (scores (N, C), targets (N, K), maps (N, K, h, w))``: a method
#: computed from the network itself, ``choose(scores) -> targets (N, K)`` (``layer`` a dotted module name of
#: ``net``, None for a method without a layer).
NetworkMaps = Callable[
    [nn.Module, torch.Tensor, str | None, Callable[[torch.Tensor], torch.Tensor]],
    tuple[torch.Tensor, torch.Tensor, torch.Tensor],
]


@dataclass(frozen=True)
class PosthocMethod:
    """One entry of :data:`POSTHOC_METHODS`.

    Attributes:
        name: the registry name (``--cam-method``).
        rule: the map formula on activations and gradients; None for ``native`` (the model's own maps).
        needs_gradients: the rule reads ``G``.
        class_specific: one map per asked class (False: one map per image, written into every class).
        network: for a method that is no rule on one layer's A and G (ScoreCAM, AblationCAM, FullGrad),
            the function computing its maps from the network; ``rule`` then only says so when called.
        uses_layer: the method reads a layer (False: FullGrad, which uses every bias layer).
    """

    name: str
    rule: MapRule | None
    needs_gradients: bool
    class_specific: bool
    network: NetworkMaps | None = None
    uses_layer: bool = True


#: Method name → :class:`PosthocMethod`.
POSTHOC_METHODS: Registry[PosthocMethod] = Registry("post-hoc CAM method", what="cam_method")


def register_posthoc(
    name: str, needs_gradients: bool = True, class_specific: bool = True
) -> Callable[[MapRule], MapRule]:
    """Decorator that adds a map rule to :data:`POSTHOC_METHODS` under ``name``."""

    def add(rule: MapRule) -> MapRule:
        POSTHOC_METHODS.add(name, PosthocMethod(name, rule, needs_gradients, class_specific))
        return rule

    return add


def register_network_method(
    name: str, maps: NetworkMaps, needs_gradients: bool, uses_layer: bool = True
) -> None:
    """Add a method computed from the network (:attr:`PosthocMethod.network`) to :data:`POSTHOC_METHODS`."""

    def rule(activations: torch.Tensor, grads: torch.Tensor | None) -> torch.Tensor:
        raise ValueError(
            f"cam_method {name!r} is computed from the network, not from one layer's activations and "
            "gradients: call class_maps_for or wsl.cam.explain"
        )

    spec = PosthocMethod(name, rule, needs_gradients, True, network=maps, uses_layer=uses_layer)
    POSTHOC_METHODS.add(name, spec)


POSTHOC_METHODS.add("native", PosthocMethod("native", None, needs_gradients=False, class_specific=True))


def posthoc_names() -> list[str]:
    """Every post-hoc method, in registration order: all of :data:`POSTHOC_METHODS` but ``native``."""
    return [m for m, spec in POSTHOC_METHODS.items() if spec.rule is not None]


def check_posthoc_method(method: str) -> PosthocMethod:
    """The registry entry of ``method``; else a ``ValueError`` listing the choices and the closest."""
    return POSTHOC_METHODS.lookup(method)


def check_cam_request(method: str, layer: str | None, net: nn.Module | None = None) -> bool:
    """Check a ``(cam_method, cam_layer)`` pair before any image is read; True when the method is post-hoc.

    ``layer`` only applies to a post-hoc method that reads a layer; with ``net`` given, the layer must be one
    of its modules (:func:`check_layer`).
    """
    spec = check_posthoc_method(method)
    posthoc = spec.rule is not None
    if layer is not None and not posthoc:
        raise ValueError(f"cam_layer={layer!r} is only used by a post-hoc cam_method, not {method!r}")
    if layer is not None and not spec.uses_layer:
        raise ValueError(
            f"cam_layer={layer!r}: cam_method {method!r} uses every bias layer of the network, not one "
            "layer; leave cam_layer out"
        )
    if posthoc and spec.uses_layer and net is not None:
        check_layer(net, layer)
    return posthoc


def cam_label(method: str, layer: str | None) -> str:
    """How tables and titles name a CAM source: ``""`` for ``native``, else ``method`` or ``method@layer``."""
    if method == "native":
        return ""
    return method + (f"@{layer}" if layer else "")


# --------------------------------------------------------------------------------------- formulas


@register_posthoc("gradcam")
def gradcam_maps(activations: torch.Tensor, grads: torch.Tensor | None) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al., ICCV 2017): ``ReLU(Σ_k α_k^c A^k)``, ``α_k^c = (1/hw) Σ_ij ∂y^c/∂A^k_ij``.

    Args:
        activations: A (N, D, h, w).
        grads: G (K, N, D, h, w), the gradients of K class scores.

    Returns:
        (K, N, h, w).

    Example:
        >>> A = torch.tensor([[[[1.0, 3.0]], [[2.0, 0.0]]]])  # (1, 2, 1, 2)
        >>> G = torch.tensor([[[[[1.0, 1.0]], [[-1.0, -3.0]]]]])  # α = (1, -2)
        >>> gradcam_maps(A, G)[0, 0].tolist()  # ReLU(1·A⁰ − 2·A¹)
        [[0.0, 3.0]]
    """
    assert grads is not None  # the registry passes gradients to every method that declares it needs them
    alpha = grads.mean(dim=(-2, -1), keepdim=True)
    return torch.relu((alpha * activations).sum(dim=-3))


@register_posthoc("gradcampp")
def gradcampp_maps(activations: torch.Tensor, grads: torch.Tensor | None) -> torch.Tensor:
    """Grad-CAM++ (Chattopadhay et al., WACV 2018) under their exponential assumption ``Y^c = exp(y^c)``.

    With ``g = ∂y^c/∂A^k_ij`` the higher derivatives of ``Y^c`` are ``exp(y^c)·g²`` and ``exp(y^c)·g³``, so
    the paper's pixel weights reduce to

        α_ij^kc = g_ij² / (2 g_ij² + Σ_ab A^k_ab · g_ij³)      (0 where the denominator is 0),
        w_k^c = Σ_ij α_ij^kc · ReLU(g_ij),
        map^c = ReLU(Σ_k w_k^c A^k).

    The paper's ``ReLU(∂Y^c/∂A) = exp(y^c)·ReLU(g)`` differs from ``ReLU(g)`` by the positive factor
    ``exp(y^c)`` per (image, class), which the per-map normalisation removes: it is left out, as in
    pytorch-grad-cam (which also adds 1e-7 to the denominator instead of the zero rule).

    Args and returns as :func:`gradcam_maps`.
    """
    assert grads is not None
    g2 = grads.pow(2)
    denom = 2 * g2 + activations.sum(dim=(-2, -1), keepdim=True) * grads.pow(3)
    nonzero = denom != 0
    alpha = torch.where(nonzero, g2 / torch.where(nonzero, denom, torch.ones_like(denom)), 0.0)
    weights = (alpha * torch.relu(grads)).sum(dim=(-2, -1), keepdim=True)
    return torch.relu((weights * activations).sum(dim=-3))


@register_posthoc("layercam")
def layercam_maps(activations: torch.Tensor, grads: torch.Tensor | None) -> torch.Tensor:
    """LayerCAM (Jiang et al., TIP 2021): ``ReLU(Σ_k ReLU(∂y^c/∂A^k) ⊙ A^k)``, a weight per position.

    Args and returns as :func:`gradcam_maps`.
    """
    assert grads is not None
    return torch.relu((torch.relu(grads) * activations).sum(dim=-3))


@register_posthoc("eigencam", needs_gradients=False, class_specific=False)
def eigencam_maps(activations: torch.Tensor, grads: torch.Tensor | None = None) -> torch.Tensor:
    """EigenCAM (Muhammad & Yeasin, IJCNN 2020): the first principal component of the activations.

    Per image, X (hw, D) holds one row of activations per position, centred over the positions
    (``X − mean_positions(X)``, as pytorch-grad-cam). The map is the projection ``X v₁`` on the first
    right singular vector ``v₁`` of the centred X, reshaped to (h, w). Its sign, arbitrary in an SVD, is
    chosen so that the map correlates positively with the activation mean ``(1/D) Σ_k A^k`` (kept as
    is when the correlation is exactly 0). No ReLU: the map is signed, and min–max normalisation maps its
    minimum to 0. Gradient-free and class-agnostic; with equal top singular values ``v₁`` is not unique.

    Args:
        activations: A (N, D, h, w).
        grads: ignored.

    Returns:
        (1, N, h, w).
    """
    n, d, h, w = activations.shape
    x = activations.flatten(2).transpose(1, 2)  # (N, hw, D)
    centred = x - x.mean(dim=1, keepdim=True)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    projection = (centred @ vh[:, 0, :, None]).squeeze(-1)  # (N, hw), zero mean over positions
    mean_act = x.mean(dim=2)
    sign = torch.where((projection * mean_act).sum(dim=1, keepdim=True) < 0, -1.0, 1.0).to(projection)
    return (sign * projection).reshape(1, n, h, w)


# --------------------------------------------------------------------------------------- layers


def _unwrap(net: nn.Module) -> nn.Module:
    """A ``WSLModule`` (LightningModule holding ``net``) → its ``WSLNet``; anything else as it is."""
    inner = getattr(net, "net", None)
    return inner if isinstance(inner, nn.Module) and not hasattr(net, "backbone") else net


def layer_names(net: nn.Module, max_depth: int | None = None) -> list[str]:
    """Dotted names of ``net``'s modules usable as ``layer`` (``max_depth``: at most that many dots + 1)."""
    names = [name for name, _ in _unwrap(net).named_modules() if name]
    return [n for n in names if max_depth is None or n.count(".") < max_depth]


def default_layer(net: nn.Module) -> str:
    """``backbone``: its output is the feature map the head's 1×1 conv reads."""
    if "backbone" not in dict(_unwrap(net).named_children()):
        raise ValueError(
            f"layer: {type(net).__name__} has no 'backbone' child, the default layer; pass layer=NAME, one "
            f"of {layer_names(net, 2)[:20]}"
        )
    return "backbone"


def check_layer(net: nn.Module, layer: str | None) -> str:
    """The layer name ``class_maps_for`` would use (None: :func:`default_layer`); a ``ValueError`` naming
    the closest and the valid names when ``net`` has no such module."""
    name = layer if layer is not None else default_layer(net)
    _find_layer(net, name)
    return name


def _find_layer(net: nn.Module, layer: str) -> nn.Module:
    modules = dict(_unwrap(net).named_modules())
    if layer not in modules or not layer:
        close = closest(layer, modules, n=3)
        stages = layer_names(net, 4)
        raise ValueError(
            f"layer: got {layer!r}, which is no module of {type(net).__name__}; closest: {close or 'none'}; "
            f"valid names (dotted, from net.named_modules()) include {stages[:40]}"
            + (f" … ({len(modules) - 1} in all)" if len(stages) > 40 else "")
        )
    return modules[layer]


@contextmanager
def _capture(module: nn.Module, layer: str) -> Iterator[list[torch.Tensor]]:
    """Record the layer's output A, and hand a clone of it downstream, so that in-place operations after the
    layer (``ReLU(inplace=True)``, ``x += shortcut``) change neither A nor its gradient's meaning."""
    seen: list[torch.Tensor] = []

    def hook(_: nn.Module, __: Any, output: Any) -> torch.Tensor:
        if not isinstance(output, torch.Tensor) or output.ndim != 4:
            shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
            raise ValueError(
                f"layer {layer!r} outputs {shape}; post-hoc CAMs need a (N, D, h, w) feature map, e.g. "
                "layer='backbone' (the default) or a convolutional stage of the backbone"
            )
        # A frozen backbone's output needs no gradient: make it a leaf that does.
        needs_leaf = torch.is_grad_enabled() and not output.requires_grad
        a = output.detach().requires_grad_() if needs_leaf else output
        seen.append(a)
        return a.clone()

    handle = module.register_forward_hook(hook)
    try:
        yield seen
    finally:
        handle.remove()


@contextmanager
def _eval_mode(net: nn.Module) -> Iterator[None]:
    training = net.training
    net.eval()
    try:
        yield
    finally:
        net.train(training)


# --------------------------------------------------------------------------------------- entry point


def _asked_classes(classes: Sequence[int] | Sequence[Sequence[int]] | None, num_classes: int) -> list[int]:
    if classes is None:
        return list(range(num_classes))
    flat: set[int] = set()
    for c in classes:
        flat.update([c] if isinstance(c, int) else c)
    bad = [c for c in flat if not 0 <= int(c) < num_classes]
    if bad:
        raise ValueError(
            f"classes: {sorted(bad)} out of range for {num_classes} classes (0 … {num_classes - 1})"
        )
    return sorted(int(c) for c in flat)


#: Networks whose backward vmap refused once: they take the loop from then on, with one warning in all.
_VMAP_REFUSED: weakref.WeakSet[nn.Module] = weakref.WeakSet()


def _class_grads(
    outputs: torch.Tensor, activations: torch.Tensor, batched: bool, net: nn.Module | None = None
) -> torch.Tensor:
    """G (K, N, D, h, w) = ∂outputs[k]/∂A for the K summed class scores ``outputs`` (K,).

    ``batched``: one ``torch.autograd.grad(..., is_grads_batched=True)`` call (a vmap over the backward
    pass), falling back to the loop where vmap refuses an operation, with one warning per network ``net``
    (later calls for that network go to the loop directly); else one backward per class. Both give the
    same numbers (tests/cam/test_posthoc.py). Measured on 2 shared CPU cores (bench/posthoc.py, resnet18,
    1 thread): the same time within noise at the default layer (the backward stops at the head) and at
    ``backbone.body.layer3`` (0.22–0.30 s vmap, 0.24–0.25 s loop, batch 4, 20 classes); not measured on
    a GPU.
    """
    k = outputs.shape[0]
    if batched and k > 1 and (net is None or net not in _VMAP_REFUSED):
        eye = torch.eye(k, dtype=outputs.dtype, device=outputs.device)
        try:  # the graph is kept so that the loop below can still run if vmap refuses an operation
            (grads,) = torch.autograd.grad(
                outputs, activations, grad_outputs=eye, is_grads_batched=True, retain_graph=True
            )
            return grads
        except RuntimeError as err:
            log.warning(
                "vmapped gradients failed (%s); one backward per class instead, for this network from now on",
                str(err)[:200],
            )
            if net is not None:
                _VMAP_REFUSED.add(net)
    return torch.stack(
        [torch.autograd.grad(outputs[i], activations, retain_graph=i < k - 1)[0] for i in range(k)]
    )


def _class_maps_of_network(
    spec: PosthocMethod,
    net: nn.Module,
    images: torch.Tensor,
    layer: str | None,
    classes: Sequence[int] | Sequence[Sequence[int]] | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`class_maps_for` of a method computed from the network (:attr:`PosthocMethod.network`): the
    asked classes (their union, for every image) are its targets, the other classes all zeros."""
    check_cam_request(spec.name, layer)
    name = (layer if layer is not None else default_layer(net)) if spec.uses_layer else None
    if name is not None:
        _find_layer(net, name)
    asked: list[int] = []

    def choose(scores: torch.Tensor) -> torch.Tensor:
        asked.extend(_asked_classes(classes, scores.shape[1]))
        return torch.tensor(asked, dtype=torch.long, device=scores.device).expand(scores.shape[0], -1)

    assert spec.network is not None
    scores, _, maps = spec.network(net, images, name, choose)
    n, _, h, w = maps.shape
    out = maps.new_zeros(n, scores.shape[1], h, w)
    out[:, asked] = maps
    return scores.detach(), out.detach()


def class_maps_for(
    net: nn.Module,
    images: torch.Tensor,
    method: str = "native",
    layer: str | None = None,
    classes: Sequence[int] | Sequence[Sequence[int]] | None = None,
    batched_grads: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores and class maps of a batch by one method of :data:`POSTHOC_METHODS`, in one batched call.

    One forward pass records the layer's activations A (N, D, h, w) and the scores (N, C); the gradient
    methods then take ``G^c = ∂(Σ_n y_n^c)/∂A`` for every asked class ``c`` at once (see
    :func:`_class_grads`) and apply their formula (the functions ``*_maps`` of this module).

    The network runs in eval mode (its mode is restored afterwards), so that BatchNorm couples no images
    and ``G^c[n] = ∂y_n^c/∂A[n]``. Gradients need autograd: the call runs under ``torch.enable_grad()``
    and ``torch.inference_mode(False)``, and an ``images`` tensor created under inference mode (as in
    Lightning's validation/test/predict loops) is cloned into a normal tensor first, so it works inside
    ``torch.no_grad()`` and ``torch.inference_mode()`` alike (the network's parameters must not be
    inference tensors, i.e. the model must not be built inside inference mode). Under autocast the
    formulas are computed in float32 (or the activations' dtype when wider).

    Args:
        net: a ``WSLNet`` (or a ``WSLModule``: its ``net`` is used), or any module whose forward returns
            ``(scores (N, C), maps (N, C, h, w))``.
        images: (N, 3, H, W) network input.
        method: a name of :data:`POSTHOC_METHODS` (:func:`posthoc_names`, and ``native``): ``native
            gradcam gradcampp layercam eigencam hirescam xgradcam eigengradcam scorecam ablationcam
            fullgrad``. ScoreCAM and AblationCAM run ``N·D`` perturbed forwards
            (:data:`wsl.cam.explain.PERTURBATION_BATCH` at a time); FullGrad's maps are at the input size
            (so the output holds ``N·C·H·W`` values: mind C).
        layer: dotted module name of ``net`` (as ``net.named_modules()`` spells it) whose (N, D, h, w)
            output is A; None: ``backbone``, the feature map the head's 1×1 conv reads. ``native``
            ignores it; ``fullgrad`` refuses it (it uses every bias layer).
        classes: the classes to compute, one list for the batch or one list per image (their union is
            computed for every image); None: all. ``native`` and ``eigencam`` compute every class.
        batched_grads: one vmapped backward for all classes (``is_grads_batched``) instead of a loop.

    Returns:
        ``(scores (N, C), class_maps (N, C, h, w))``, detached, like ``WSLNet.forward``; the maps at the
        layer's resolution (FullGrad: the input's); classes not asked are all zeros for the class-specific
        methods. For image n and an asked class c the map is the one :func:`wsl.cam.explain` gives for
        the same layer, method, image and target.

    Example:
        >>> from wsl.models import WSLNet
        >>> net = WSLNet(num_classes=3, backbone="resnet18", pool="gap")
        >>> scores, maps = class_maps_for(net, torch.rand(2, 3, 64, 64), "gradcam", classes=[2])
        >>> tuple(maps.shape), bool(maps[:, :2].eq(0).all())
        ((2, 3, 2, 2), True)
    """
    spec = check_posthoc_method(method)
    net = _unwrap(net)
    with _eval_mode(net):
        if spec.rule is None:
            with torch.no_grad():
                scores, maps = net(images)
            return scores.detach(), maps.detach()
        if spec.network is not None:
            return _class_maps_of_network(spec, net, images, layer, classes)
        name = layer if layer is not None else default_layer(net)
        target = _find_layer(net, name)
        with torch.inference_mode(False), torch.set_grad_enabled(spec.needs_gradients):
            if images.is_inference():
                images = images.clone()
            with _capture(target, name) as seen:
                # One view: a network's flip averaging (WSLNet.cam_flips) would run the layer on every view.
                scores, _ = getattr(net, "forward_view", net)(images)
            if len(seen) != 1:
                raise ValueError(
                    f"layer {name!r} ran {len(seen)} times in one forward pass; choose a layer that runs once"
                )
            activations = seen[0]
            num_classes = scores.shape[1]
            asked = _asked_classes(classes, num_classes)
            grads = None
            if spec.needs_gradients and asked:
                summed = scores[:, asked].sum(dim=0)
                grads = _class_grads(summed, activations, batched_grads, net)
        dtype = torch.promote_types(activations.dtype, torch.float32)
        a = activations.detach().to(dtype)
        n, _, h, w = a.shape
        out = torch.zeros(n, num_classes, h, w, dtype=dtype, device=a.device)
        if not spec.class_specific:
            out[:] = spec.rule(a, None)[0][:, None]
        elif asked:
            computed = spec.rule(a, None if grads is None else grads.detach().to(dtype))
            out[:, asked] = computed.transpose(0, 1)
    return scores.detach(), out
