"""The one CAM stream: batches → ``(batch, CamBatch)`` for a network, a CAM source, a class choice, a frame.

Every job that turns a network's output into CAMs reads this stream and is one of its sinks:

=========================  ==============================  =========================================
sink                       class choice                    frame / sizes
=========================  ==============================  =========================================
evaluator (evaluate)       the evaluation trials           the evaluator's frame
CAM export                 ``gt present top1 all``         ``original``
score maps                 the one ground-truth class      ``wsolevaluation``
predictions                top-k / min-score of the probs  ``original`` (sizes of the files)
CAM logging callback       ``top1``                        the network input size
benchmark sheet            ``gt``, else ``top1``           ``original``
=========================  ==============================  =========================================

Per batch: the images go to the network's device (``inputs``), the network runs under ``autocast``, the
classes are chosen (before the forward pass when the choice needs no scores, so that a post-hoc method
takes the gradients of exactly those classes; else from the native scores, after which a post-hoc
method computes the chosen classes), and :meth:`CamBatch.from_maps` upsamples, normalises and
quantises the chosen maps once.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from wsl.cam.frames import Frame, get_frame
from wsl.cam.maps import normalize_cams, upsample_class_maps
from wsl.cam.pipeline import CamBatch, batch_sizes
from wsl.cam.posthoc import cam_label, check_cam_request, check_posthoc_method, class_maps_for
from wsl.cam.selection import check_policy, select_classes

__all__ = ["CamRequest", "CamSource", "ClassChoice", "cam_batches", "check_batch", "input_cams"]

Classes = list[list[int]]


@dataclass(frozen=True)
class CamSource:
    """Where the class maps come from: the network's own (``native``) or a post-hoc method on a layer.

    Args:
        method: ``native`` or a name of :data:`wsl.cam.POSTHOC_METHODS`.
        layer: the post-hoc method's layer, a dotted module name of the network (None: ``backbone``; a
            classifier's: its layer); ``"a,b"``: several layers fused (:func:`wsl.cam.explain.fuse_layers`).
        aug_smooth: average over flips and brightness factors (:func:`wsl.cam.explain`'s ``aug_smooth``).
        eigen_smooth: the first principal component of the weighted activations instead of their sum.

    With ``aug_smooth``, ``eigen_smooth`` or several layers the maps are
    :func:`wsl.cam.explain.explained_class_maps`' (:func:`wsl.cam.explain`'s functions), else
    :func:`wsl.cam.class_maps_for`'s.

    Raises:
        ValueError: an unknown method, a layer with ``native`` (:func:`wsl.cam.posthoc.check_cam_request`),
            a smoothing option with ``native`` or one the method refuses
            (:func:`wsl.cam.explain.check_smoothing`).
    """

    method: str = "native"
    layer: str | None = None
    aug_smooth: bool = False
    eigen_smooth: bool = False

    def __post_init__(self) -> None:
        from wsl.cam.explain import check_smoothing, layer_list

        posthoc = check_cam_request(self.method, self.layer)
        if self.layer is not None:
            layer_list(self.layer)
        for name, value in (("aug_smooth", self.aug_smooth), ("eigen_smooth", self.eigen_smooth)):
            if value and not posthoc:
                raise ValueError(
                    f"{name}: the model's own (native) class maps are not smoothed; pass a post-hoc "
                    f"cam_method (e.g. gradcam) or leave {name} out"
                )
        if posthoc:
            check_smoothing(self.method, self.layer, self.eigen_smooth)

    @classmethod
    def of(cls, model: Any, options: Any) -> CamSource:
        """The source a job runs on ``model`` (a :class:`~wsl.trained.TrainedModel`) for the ``cam_method``,
        ``cam_layer``, ``aug_smooth`` and ``eigen_smooth`` of a job's ``options``
        (:meth:`wsl.trained.TrainedModel.cam_source`: a classifier's ``native`` is its own method)."""
        method, layer = model.cam_source(options.cam_method, options.cam_layer)
        return cls(method, layer, bool(options.aug_smooth), bool(options.eigen_smooth))

    @property
    def explained(self) -> bool:
        """Whether the maps need :func:`wsl.cam.explain`'s options (smoothing, several layers fused)."""
        return self.aug_smooth or self.eigen_smooth or "," in (self.layer or "")

    @property
    def posthoc(self) -> bool:
        """Whether the maps come from a post-hoc method (gradients or activations of a layer)."""
        return check_posthoc_method(self.method).rule is not None

    @property
    def label(self) -> str:
        """``""`` for ``native``, else ``method`` or ``method@layer`` (:func:`wsl.cam.posthoc.cam_label`),
        followed by ``+aug_smooth`` and ``+eigen_smooth`` when set."""
        flags = [name for name in ("aug_smooth", "eigen_smooth") if getattr(self, name)]
        return "+".join([cam_label(self.method, self.layer), *flags])

    def check(self, net: nn.Module) -> None:
        """Raise ``ValueError`` when the layer is not a module of ``net`` (before any image is read)."""
        if not self.explained:
            check_cam_request(self.method, self.layer, net)
        elif check_posthoc_method(self.method).uses_layer:
            from wsl.cam.explain import check_layers

            check_layers(net, self.layer)

    def __call__(
        self, net: nn.Module, images: torch.Tensor, classes: Sequence[Sequence[int]] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(scores (B, C), class_maps (B, C, h, w))`` of ``images`` (:func:`wsl.cam.class_maps_for`, or
        :func:`wsl.cam.explain.explained_class_maps` for :attr:`explained` options)."""
        if self.explained:
            from wsl.cam.explain import explained_class_maps

            return explained_class_maps(net, images, self, classes)
        return class_maps_for(net, images, self.method, self.layer, classes)


#: The network's own class maps.
NATIVE = CamSource()


@dataclass(frozen=True)
class ClassChoice:
    """Which classes of each image get a CAM.

    Attributes:
        choose: ``choose(batch, scores)`` → one ascending list of class indices per image; ``scores`` is
            the ``(B, C)`` float32 CPU scores, or None when :attr:`needs_scores` is False.
        needs_scores: False: the classes are chosen before the forward pass (a post-hoc method then
            takes the gradients of exactly those); True: from the native scores.
    """

    choose: Callable[[Mapping[str, Any], torch.Tensor | None], Classes]
    needs_scores: bool = True

    @classmethod
    def policy(cls, name: str) -> ClassChoice:
        """A class policy of :data:`wsl.cam.CLASS_POLICIES` (``gt`` and ``present`` need no scores)."""
        check_policy(name)
        return cls(lambda batch, scores: select_classes(name, batch, scores), name not in ("gt", "present"))


@dataclass(frozen=True)
class CamRequest:
    """What a stream computes: the CAM source, the class choice, the frame and how many images.

    Args:
        source: native or post-hoc maps (:class:`CamSource`).
        choice: a policy name of :data:`wsl.cam.CLASS_POLICIES` or a :class:`ClassChoice`.
        frame: the evaluation frame of the maps (``original`` or ``wsolevaluation``), by name or object.
        limit: stop after this many images (None: all).
        input_maps: also keep the chosen maps at the network input size (:attr:`CamBatch.input_cams`),
            e.g. for the faithfulness metrics, which perturb the network input.
    """

    source: CamSource = NATIVE
    choice: str | ClassChoice = "gt"
    frame: str | Frame = "original"
    limit: int | None = None
    input_maps: bool = False
    _choice: ClassChoice = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.limit is not None and (
            isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 1
        ):
            raise ValueError(f"limit must be a positive int or None; got {self.limit!r}")
        choice = self.choice if isinstance(self.choice, ClassChoice) else ClassChoice.policy(self.choice)
        object.__setattr__(self, "_choice", choice)
        get_frame(self.frame)  # an unknown frame fails before any image is read


def check_batch(batch: Any) -> None:
    """Raise ``ValueError`` unless ``batch`` is a dict with ``image``, ``image_id`` and ``orig_size``."""
    if not isinstance(batch, Mapping) or not {"image", "image_id", "orig_size"} <= set(batch):
        raise ValueError(
            "batches must be dicts with 'image', 'image_id' and 'orig_size' (wsl.data.collate_wsl); "
            f"got {type(batch).__name__}"
            + (f" with keys {sorted(batch)}" if isinstance(batch, Mapping) else "")
        )


def _head(batch: Mapping[str, Any], count: int) -> dict[str, Any]:
    """The first ``count`` images of a collated batch (every value is per image)."""
    return {key: value[:count] for key, value in batch.items()}


def _device_of(net: nn.Module) -> torch.device:
    return next(net.parameters(), torch.empty(0)).device


def network_inputs(net: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """``images`` → the network's input: on its device, in the memory format of its first spatial
    convolution (NHWC for a network converted with ``.to(memory_format=torch.channels_last)``, as
    ``WSLModule`` trains it with ``channels_last``), so every sink feeds the network as training did.

    Example:
        >>> conv = nn.Conv2d(3, 4, 3).to(memory_format=torch.channels_last)
        >>> network_inputs(conv)(torch.zeros(1, 3, 8, 8)).is_contiguous(memory_format=torch.channels_last)
        True
        >>> network_inputs(nn.Conv2d(3, 4, 3))(torch.zeros(1, 3, 8, 8)).is_contiguous()
        True
    """
    device = _device_of(net)
    spatial = (p for p in net.parameters() if p.dim() == 4 and p.shape[2] * p.shape[3] > 1)
    weight = next(spatial, None)
    nhwc = (
        weight is not None
        and not weight.is_contiguous()
        and weight.is_contiguous(memory_format=torch.channels_last)
    )

    def to_input(images: torch.Tensor) -> torch.Tensor:
        images = images.to(device, non_blocking=True)
        return images.contiguous(memory_format=torch.channels_last) if nhwc else images

    return to_input


def _maps(
    net: nn.Module, images: torch.Tensor, batch: Mapping[str, Any], request: CamRequest
) -> tuple[torch.Tensor, torch.Tensor, Classes]:
    """Scores, class maps and the chosen classes of one batch (module docstring: the two orders)."""
    choice, source = request._choice, request.source
    if not choice.needs_scores:
        chosen = choice.choose(batch, None)
        scores, maps = source(net, images, chosen)
        return scores, maps, chosen
    scores, maps = NATIVE(net, images)
    chosen = choice.choose(batch, scores.detach().float().cpu())
    if source.posthoc:  # the chosen classes' post-hoc maps (a second, grad-enabled pass)
        _, maps = source(net, images, chosen)
    return scores, maps, chosen


def cam_batches(
    net: nn.Module,
    batches: Iterable[Mapping[str, Any]],
    request: CamRequest | None = None,
    inputs: Callable[[torch.Tensor], torch.Tensor] | None = None,
    autocast: Callable[[], Any] | None = None,
    sizes: Callable[[Mapping[str, Any]], Sequence[tuple[int, int]]] | None = None,
) -> Iterator[tuple[dict[str, Any], CamBatch]]:
    """Yield ``(batch, cams)`` for every batch: the (cut) batch and the CAMs of its chosen classes.

    Args:
        net: a ``WSLNet`` or any module returning ``(scores (B, C), class_maps (B, C, h, w))``; it runs in
            eval mode (its mode is restored).
        batches: collated dicts with ``image`` ``(B, 3, S, S)``, ``image_id``, ``orig_size`` and the keys
            the class choice reads.
        request: source, class choice, frame and limit (:class:`CamRequest`; None: native, ``gt``).
        inputs: ``image`` → the network input (default: :func:`network_inputs`, on the network's device
            in its memory format).
        autocast: a context factory the network runs under (default: none), e.g.
            :meth:`wsl.trained.TrainedModel.autocast`.
        sizes: the ``(H, W)`` the maps are resized to, per image (default: ``batch["orig_size"]``).

    Raises:
        ValueError: a batch without the needed keys; as :class:`CamSource` for a layer of another net.
    """
    request = request or CamRequest()
    request.source.check(net)
    to_input = inputs or network_inputs(net)
    context = autocast or contextlib.nullcontext
    seen = 0
    for batch in batches:
        if request.limit is not None and seen >= request.limit:
            break
        check_batch(batch)
        if request.limit is not None and len(batch["image_id"]) > request.limit - seen:
            batch = _head(batch, request.limit - seen)
        with context():
            scores, maps, chosen = _maps(net, to_input(batch["image"]), batch, request)
        target = sizes(batch) if sizes is not None else batch_sizes(batch)
        seen += len(batch["image_id"])
        cams = CamBatch.from_maps(_rows(maps.detach()), target, chosen, scores, request.frame)
        if request.input_maps:
            size = (int(batch["image"].shape[-2]), int(batch["image"].shape[-1]))
            cams = dataclasses.replace(cams, input_cams=input_cams(maps.detach(), chosen, size))
        yield dict(batch), cams


def input_cams(class_maps: torch.Tensor, chosen: Classes, size: tuple[int, int]) -> torch.Tensor:
    """The chosen maps of a ``(B, C, h, w)`` output at ``size`` (the network input), in pair order:
    ``normalize_cams(upsample_class_maps(maps))`` (bilinear, min–max), as :func:`wsl.cam.explain`'s ``cams``.

    Example:
        >>> maps = torch.arange(2 * 3 * 4.0).reshape(1, 2, 3, 4).expand(2, 2, 3, 4)
        >>> tuple(input_cams(maps, [[0, 1], [1]], (6, 8)).shape)
        (3, 6, 8)
    """
    rows = [class_maps[i, classes] for i, classes in enumerate(chosen) if classes]
    if not rows:
        return torch.zeros(0, *size, dtype=torch.float64, device=class_maps.device)
    return normalize_cams(upsample_class_maps(torch.cat(rows), size))


def _rows(class_maps: torch.Tensor) -> Callable[[int, list[int]], torch.Tensor]:
    """``maps_of(i, classes)`` of :meth:`CamBatch.from_maps` over a ``(B, C, h, w)`` output."""
    return lambda i, classes: class_maps[i, classes]
