"""Image transforms: resize to S x S (+ flip and mild colour jitter for training), ImageNet normalisation.

Only the image is transformed. Boxes and masks stay at the original size (``orig_size`` in the item)
and orientation: CAMs are upsampled back to ``orig_size`` before they are compared with them. The
default presets use no crops for training, because with image-level labels only a crop could cut the
labelled object out; the ``wsol`` preset (:class:`WSOLTrainTransform`) is the published WSOL recipe's
Resize → RandomCrop → flip, for comparing with those tables.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from wsl.registry import Registry

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "build_transform",
    "EvalTransform",
    "TrainTransform",
    "WSOLTrainTransform",
    "AUGMENTATIONS",
    "denormalize",
    "denormalize_float",
]

# The one definition of the normalisation (the viz and export code use denormalize, never a copy).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# Rec. 601 luma weights of the saturation jitter's grey image; they sum to 1.
LUMA = (0.299, 0.587, 0.114)


def _resize(image: torch.Tensor, size: int) -> torch.Tensor:
    """float ``(3, H, W)`` → ``(3, size, size)`` (bilinear, antialiased when shrinking)."""
    if image.shape[-2:] == (size, size):
        return image
    return F.interpolate(
        image[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True
    )[0]


def denormalize_float(images: torch.Tensor) -> torch.Tensor:
    """Undo the ImageNet normalisation: float ``(..., 3, H, W)`` → values in [0, 1] (clamped), same
    shape, dtype and device."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=images.dtype, device=images.device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=images.dtype, device=images.device).view(3, 1, 1)
    return (images * std + mean).clamp(0, 1)


def denormalize(images: torch.Tensor) -> np.ndarray:
    """Normalised network input → displayable RGB pixels.

    ``pixels = round(255 · clamp(x · std + mean, 0, 1))`` in float32 on the CPU, whatever the input's
    dtype and device.

    Args:
        images: float ``(3, H, W)`` or ``(B, 3, H, W)``, ImageNet-normalised (as the transforms give).

    Returns:
        ``uint8`` numpy ``(H, W, 3)`` or ``(B, H, W, 3)`` RGB.

    Raises:
        ValueError: not a ``(3, H, W)`` / ``(B, 3, H, W)`` tensor.

    Example:
        >>> denormalize(EvalTransform(64)(torch.zeros(3, 10, 10, dtype=torch.uint8))).shape
        (64, 64, 3)
    """
    if not isinstance(images, torch.Tensor) or images.ndim not in (3, 4) or images.shape[-3] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images: got {shape}; expected a float tensor (3, H, W) or (B, 3, H, W)")
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    pixels = (images.detach().float().cpu() * std + mean).clamp(0, 1).mul(255).round().to(torch.uint8)
    return pixels.movedim(-3, -1).contiguous().numpy()


class EvalTransform:
    """uint8 ``(3, H, W)`` → float ``(3, S, S)``: plain resize and ImageNet normalisation.

    ``out = (resize(x) / 255 − mean) / std``, computed as one multiply-add per pixel.

    Args:
        image_size: the side ``S`` of the square network input.
    """

    def __init__(self, image_size: int) -> None:
        if image_size < 1:
            raise ValueError(f"image_size: got {image_size}; expected a positive int")
        self.image_size = image_size
        self._mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD).view(3, 1, 1)

    def _normalize(self, x: torch.Tensor) -> torch.Tensor:
        """[0, 1] values → ImageNet-normalised (in place)."""
        return x.sub_(self._mean).div_(self._std)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return self._normalize(_resize(image.float(), self.image_size) / 255.0)

    def __repr__(self) -> str:
        return f"EvalTransform(image_size={self.image_size})"


class TrainTransform(EvalTransform):
    """Resize to S x S, random flips, mild brightness/contrast/saturation jitter, normalise.

    With ``v`` the resized image in [0, 1] (after the flips and the channel permutation ``P``), and
    brightness ``b``, contrast ``c``, saturation ``s`` drawn uniformly in ``[1 − jitter, 1 + jitter]``:
    brightness ``v ← b·v``, contrast ``v ← c·(v − m) + m`` with ``m`` the mean of ``v`` over all channels
    and pixels, saturation ``v ← s·v + (1 − s)·g`` with ``g = 0.299 R + 0.587 G + 0.114 B``, then
    ``clamp(v, 0, 1)`` and the ImageNet normalisation. Because the luma weights sum to 1, the three
    jitters and the permutation compose to one affine colour map ``clamp(c·b·S·P·v + (1 − c)·m)`` with
    ``S = s·I + (1 − s)·1·lumaᵀ``, which is how it is computed (one 3 × 3 product per pixel).

    Randomness comes from torch's global generator, which DataLoader seeds per worker.

    Args:
        image_size: the side ``S``.
        flip_p: probability of a horizontal flip.
        jitter: maximal relative change of brightness, contrast and saturation (0 disables it).
        dihedral: also flip vertically and transpose (each with probability 1/2), i.e. a random element
            of the 8 rotations/reflections of the square. Only for data whose labels do not depend on
            orientation (the synthetic shapes); off for natural images.
        channel_shuffle: permute the RGB channels at random. Only for data where colour does not tell
            the class (the synthetic shapes).
    """

    def __init__(
        self,
        image_size: int,
        flip_p: float = 0.5,
        jitter: float = 0.2,
        dihedral: bool = False,
        channel_shuffle: bool = False,
    ) -> None:
        super().__init__(image_size)
        self.flip_p = flip_p
        self.jitter = jitter
        self.dihedral = dihedral
        self.channel_shuffle = channel_shuffle
        self._luma = torch.tensor(LUMA)

    def sample(self) -> dict:
        """Draw the random parameters: ``hflip``, ``vflip``, ``transpose`` (bools), ``perm`` (3,) and
        ``bcs`` (brightness, contrast, saturation factors)."""
        params: dict[str, Any] = {
            "hflip": bool(torch.rand(()) < self.flip_p),
            "vflip": False,
            "transpose": False,
        }
        if self.dihedral:
            params["vflip"] = bool(torch.rand(()) < 0.5)
            params["transpose"] = bool(torch.rand(()) < 0.5)
        params["perm"] = torch.randperm(3) if self.channel_shuffle else torch.arange(3)
        params["bcs"] = (1.0 + (torch.rand(3) * 2 - 1) * self.jitter).tolist() if self.jitter > 0 else None
        return params

    def apply(self, image: torch.Tensor, params: dict) -> torch.Tensor:
        """The transform of uint8 ``image`` (3, H, W) with the parameters of :meth:`sample`."""
        x = _resize(image.float(), self.image_size)
        colour = torch.eye(3)[params["perm"]] / 255.0  # (3, 3): raw 0..255 values → permuted [0, 1]
        offset = 0.0
        if params["bcs"] is not None:
            b, c, s = params["bcs"]
            saturation = s * torch.eye(3) + (1.0 - s) * self._luma.expand(3, 3)
            mean = b * float(x.mean()) / 255.0
            colour = (c * b) * saturation @ colour
            offset = (1.0 - c) * mean
        # The colour map acts per pixel, so it commutes with the flips: run it on the contiguous image.
        out = torch.mm(colour, x.reshape(3, -1)).view(x.shape)
        if params["bcs"] is not None:
            out = out.add_(offset).clamp_(0.0, 1.0)
        out = self._normalize(out)
        if params["hflip"]:
            out = out.flip(-1)
        if params["vflip"]:
            out = out.flip(-2)
        if params["transpose"]:
            out = out.transpose(-1, -2)
        return out

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return self.apply(image, self.sample())

    def __repr__(self) -> str:
        return (
            f"TrainTransform(image_size={self.image_size}, flip_p={self.flip_p}, jitter={self.jitter}, "
            f"dihedral={self.dihedral}, channel_shuffle={self.channel_shuffle})"
        )


class WSOLTrainTransform(EvalTransform):
    """clovaai/wsolevaluation's training transform: Resize(R × R) → RandomCrop(S) → horizontal flip.

    ``R = round(S · 256 / 224)`` (S = 224 gives wsolevaluation's ``Resize((256, 256))`` →
    ``RandomCrop(224)``): the image is resized to R × R without keeping its aspect ratio (bilinear,
    antialiased when shrinking, as torchvision's ``Resize`` of a PIL image), a window
    ``x[:, top:top + S, left:left + S]`` is cut with ``top`` and ``left`` uniform in ``0 … R − S``, it is
    flipped left–right with probability ``flip_p`` and ImageNet-normalised. No colour jitter.

    Randomness comes from torch's global generator, which DataLoader seeds per worker.

    Args:
        image_size: the crop side ``S`` (the network input).
        flip_p: probability of a horizontal flip.
        resize_ratio: ``R / S`` (default 256 / 224).
    """

    def __init__(self, image_size: int, flip_p: float = 0.5, resize_ratio: float = 256 / 224) -> None:
        super().__init__(image_size)
        if resize_ratio < 1:
            raise ValueError(f"resize_ratio: got {resize_ratio}; expected >= 1 (the crop lies inside R x R)")
        self.flip_p = flip_p
        self.resize_size = max(image_size, round(image_size * resize_ratio))

    def sample(self) -> dict:
        """Draw ``top``, ``left`` (ints in ``0 … R − S``) and ``hflip`` (bool)."""
        span = self.resize_size - self.image_size + 1
        top, left = (int(v) for v in torch.randint(span, (2,)))
        return {"top": top, "left": left, "hflip": bool(torch.rand(()) < self.flip_p)}

    def apply(self, image: torch.Tensor, params: dict) -> torch.Tensor:
        """The transform of uint8 ``image`` (3, H, W) with the parameters of :meth:`sample`."""
        s, top, left = self.image_size, params["top"], params["left"]
        x = _resize(image.float(), self.resize_size)[:, top : top + s, left : left + s]
        out = self._normalize(x / 255.0)
        return out.flip(-1) if params["hflip"] else out

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return self.apply(image, self.sample())

    def __repr__(self) -> str:
        return (
            f"WSOLTrainTransform(image_size={self.image_size}, resize_size={self.resize_size}, "
            f"flip_p={self.flip_p})"
        )


#: Training augmentation presets: name → ``factory(image_size)`` of the training transform.
AUGMENTATIONS: Registry[Callable[[int], EvalTransform]] = Registry("augmentation", what="augment")
AUGMENTATIONS.update(
    {
        "light": TrainTransform,
        "shapes": partial(TrainTransform, dihedral=True, channel_shuffle=True),
        "wsol": WSOLTrainTransform,
    }
)


def build_transform(image_size: int, train: bool = False, augment: str = "light") -> EvalTransform:
    """The standard transform: the ``augment`` preset's training transform when ``train``, else
    :class:`EvalTransform`.

    ``augment`` (:data:`AUGMENTATIONS`): ``light`` (flip + jitter, for natural images), ``shapes`` (adds
    the 8 square symmetries and RGB shuffles: for the synthetic shapes, whose class depends on neither
    orientation nor colour) or ``wsol`` (:class:`WSOLTrainTransform`: Resize(S·256/224) → RandomCrop(S) →
    flip, the recipe of the published WSOL tables).
    """
    build = AUGMENTATIONS.lookup(augment)
    return build(image_size) if train else EvalTransform(image_size)
