"""The one CAM pipeline: network output (or saved maps) → class choice → upsample → normalise → quantise.

Every consumer of CAMs in ``wsl`` takes them from a :class:`CamBatch`: the evaluator, the export, the
CAM logging callback and the benchmark sheet. For each chosen (image, class) pair it holds

- ``cams[p]``: the class map upsampled bilinearly to the image's size ``(H, W)`` and min–max normalised
  in float64 (SPEC section 3; a constant or non-finite map is all zeros), done exactly once,
- ``quantized[p]``: ``uint8(trunc(cams[p] · 255))``, the map the box rule thresholds,
- ``raw_range[p]``: ``[lo, hi]`` of the upsampled map before normalisation, so raw values are
  ``lo + cam · (hi − lo)``.

The ``frame`` (:mod:`wsl.cam.frames`, SPEC section 3 "Two evaluation frames") decides the size and the
interpolation: ``original`` as above; ``wsolevaluation`` bicubic (OpenCV) to 224×224, resized, normalised
and quantised in float64 as wsolevaluation does.

Maps are processed on the CPU whatever device the network ran on, so that the numbers do not depend on
the device (bilinear interpolation is not bit-identical across devices).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from wsl.cam.frames import Frame, frame_dtype, get_frame
from wsl.cam.maps import cam_range, normalize_cams, quantize_cams
from wsl.cam.selection import select_classes

__all__ = ["CamBatch", "batch_sizes"]

MapSource = Callable[[int, list[int]], torch.Tensor]


def batch_sizes(batch: Mapping[str, Any]) -> list[tuple[int, int]]:
    """The original ``(H, W)`` of every image of a collated batch."""
    return [(int(size[0]), int(size[1])) for size in batch["orig_size"]]


@dataclass(frozen=True)
class CamBatch:
    """The CAMs of the chosen (image, class) pairs of one batch, in image order then class order.

    Attributes:
        image_index: (P,) index of each pair's image in the batch.
        class_index: (P,) its class.
        cams: P float64 (H_i, W_i) maps in [0, 1] at the image size.
        raw_range: (P, 2) float64 ``[lo, hi]`` of the upsampled maps before normalisation.
        scores: (B, C) float32 image scores on the CPU, or None (saved CAMs).
        classes: per image, its chosen classes (``classes[i]`` lists the pairs of image i in order).
        frame: the evaluation frame the maps are in (``original`` or ``wsolevaluation``).
        input_cams: (P, S, S') float64 maps of the same pairs at the network input size, min–max
            normalised (as :func:`wsl.cam.explain`'s ``cams``), or None (not asked for:
            :class:`wsl.cam.stream.CamRequest`'s ``input_maps``).
    """

    image_index: torch.Tensor
    class_index: torch.Tensor
    cams: list[torch.Tensor]
    raw_range: torch.Tensor
    scores: torch.Tensor | None
    classes: list[list[int]]
    frame: str = "original"
    input_cams: torch.Tensor | None = None
    _quantized: list[torch.Tensor] = field(default_factory=list, repr=False)

    def __len__(self) -> int:
        return len(self.cams)

    @property
    def quantized(self) -> list[torch.Tensor]:
        """P uint8 (H_i, W_i) maps ``uint8(trunc(cam · 255))`` (computed once, on first use)."""
        if not self._quantized and self.cams:
            dtype = frame_dtype(self.frame)
            self._quantized.extend(quantize_cams(cam, dtype) for cam in self.cams)
        return self._quantized

    def of_image(self, i: int) -> range:
        """Positions ``p`` of image ``i``'s pairs."""
        start = sum(len(c) for c in self.classes[:i])
        return range(start, start + len(self.classes[i]))

    @classmethod
    def from_maps(
        cls,
        maps_of: MapSource,
        sizes: Sequence[tuple[int, int]],
        classes: Sequence[Sequence[int]],
        scores: torch.Tensor | None = None,
        frame: str | Frame = "original",
    ) -> CamBatch:
        """Build from any source of class maps.

        Args:
            maps_of: ``maps_of(i, classes_i)`` → (len(classes_i), h, w) maps of image ``i`` at any
                resolution up to the image size (class maps, saved CAMs, post-hoc CAMs).
            sizes: the original (H, W) of every image.
            classes: the chosen classes of every image (see :mod:`wsl.cam.selection`).
            scores: optional (B, C) image scores, carried along.
            frame: ``original`` (bilinear to each image's size) or ``wsolevaluation`` (bicubic to
                224×224; :mod:`wsl.cam.frames`), by name or as a :class:`~wsl.cam.Frame`.
        """
        frame = get_frame(frame)
        dtype = frame.dtype
        image_index: list[int] = []
        class_index: list[int] = []
        cams: list[torch.Tensor] = []
        ranges: list[torch.Tensor] = []
        for i, (size, chosen) in enumerate(zip(sizes, classes, strict=True)):
            if not chosen:
                continue
            # No cast here: resize_to_frame takes float32 (original) or float64 (wsolevaluation) itself.
            raw = frame.resize(maps_of(i, list(chosen)).detach().cpu(), size)
            cams.extend(normalize_cams(raw, dtype).unbind(0))
            ranges.append(cam_range(raw))
            image_index += [i] * len(chosen)
            class_index += list(chosen)
        return cls(
            image_index=torch.tensor(image_index, dtype=torch.long),
            class_index=torch.tensor(class_index, dtype=torch.long),
            cams=cams,
            raw_range=torch.cat(ranges) if ranges else torch.zeros(0, 2, dtype=torch.float64),
            scores=None if scores is None else scores.detach().float().cpu(),
            classes=[list(c) for c in classes],
            frame=frame.name,
        )

    @classmethod
    def from_output(
        cls,
        scores: torch.Tensor,
        class_maps: torch.Tensor,
        batch: Mapping[str, Any],
        policy: str = "gt",
        sizes: Sequence[tuple[int, int]] | None = None,
        frame: str | Frame = "original",
    ) -> CamBatch:
        """Build from a network output ``(scores (B, C), class_maps (B, C, h, w))`` and its batch.

        Args:
            scores: (B, C) image scores.
            class_maps: (B, C, h, w) class maps.
            batch: the collated batch (``image_id``, ``orig_size`` and the keys the policy reads).
            policy: ``gt``, ``present``, ``top1`` or ``all`` (:data:`wsl.cam.CLASS_POLICIES`).
            sizes: target sizes instead of ``batch["orig_size"]`` (e.g. the network input size).
            frame: the evaluation frame (see :meth:`from_maps`).

        Example:
            >>> batch = {"image_id": ["a"], "orig_size": torch.tensor([[4, 6]])}
            >>> cams = CamBatch.from_output(torch.tensor([[0.1, 0.9]]), torch.rand(1, 2, 2, 3), batch, "top1")
            >>> cams.class_index.tolist(), tuple(cams.cams[0].shape), cams.quantized[0].dtype
            ([1], (4, 6), torch.uint8)
        """
        chosen = select_classes(policy, batch, scores.detach().float().cpu())
        maps = class_maps.detach()
        return cls.from_maps(
            lambda i, classes: maps[i, classes],
            sizes if sizes is not None else batch_sizes(batch),
            chosen,
            scores,
            frame,
        )
