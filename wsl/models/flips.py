"""Flip-averaged class maps: the CAM averaged over the flip group, which cancels a learned spatial offset.

Image-level training constrains *whether* a class map fires, not *where* inside an object's receptive field:
any feature cell whose receptive field covers the object may carry the evidence, so a network can learn maps
that sit a few cells off the object (docs/benchmarks.md, "The main job's spread": the main job's worst run had
its maps 7 px left of and 9 px above the objects on 128 px images). The shift is a property of the learned
filters, so a flipped image gets the mirrored shift; averaging the map of each flipped view, flipped back,
cancels it:

    M̄(x) = (1/|G|) Σ_{g ∈ G} g⁻¹ · M(g · x),   G = {id, h} ("h") or {id, h, v, hv} ("hv")

where M is the network's class-map function and h, v flip the width and height axes. M̄ is exactly
equivariant to the flips of G (M̄(g·x) = g·M̄(x)). The scores are the identity view's, so classification is
unchanged. All views run as one batch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["FLIP_VIEWS", "check_cam_flips", "flip_averaged"]

#: ``cam_flips`` choices: the flipped axes of each view after the identity.
FLIP_VIEWS: dict[str, tuple[tuple[int, ...], ...]] = {
    "none": ((),),
    "h": ((), (-1,)),
    "hv": ((), (-1,), (-2,), (-2, -1)),
}


def check_cam_flips(cam_flips: str) -> str:
    """``cam_flips`` if it names :data:`FLIP_VIEWS`; else a ValueError listing them."""
    if cam_flips not in FLIP_VIEWS:
        raise ValueError(f"cam_flips: got {cam_flips!r}; expected one of {list(FLIP_VIEWS)}")
    return cam_flips


def _flip(tensor: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    return tensor.flip(dims) if dims else tensor


def flip_averaged(
    forward: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    images: torch.Tensor,
    cam_flips: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scores, M̄)``: the identity view's scores (N, C) and the class maps averaged over the flip views.

    Args:
        forward: the single-view forward, images (N, 3, H, W) → ``(scores (N, C), maps (N, C, h, w))``.
        images: (N, 3, H, W).
        cam_flips: a key of :data:`FLIP_VIEWS`; ``none`` is one plain forward.

    Example:
        A "network" whose map sits one cell right of the object (at cell 2): the two views' shifts cancel,
        the averaged map's centre of mass is cell 2.

        >>> shifted_right = lambda x: (x.amax((2, 3)), x.roll(1, dims=-1))
        >>> x = torch.tensor([[[[0.0, 0.0, 1.0, 0.0]]]])
        >>> shifted_right(x)[1].flatten().tolist(), flip_averaged(shifted_right, x, "h")[1].flatten().tolist()
        ([0.0, 0.0, 0.0, 1.0], [0.0, 0.5, 0.0, 0.5])
    """
    views = FLIP_VIEWS[check_cam_flips(cam_flips)]
    if len(views) == 1:
        return forward(images)
    n = images.shape[0]
    scores, maps = forward(torch.cat([_flip(images, dims) for dims in views]))
    restored = [_flip(maps[i * n : (i + 1) * n], dims) for i, dims in enumerate(views)]
    return scores[:n], torch.stack(restored).mean(dim=0)
