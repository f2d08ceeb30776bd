"""Image transforms: resize to S x S (+ flip and mild colour jitter for training), ImageNet normalisation.

Only the image is transformed. Boxes and masks stay at the original size (``orig_size`` in the item)
and orientation: CAMs are upsampled back to ``orig_size`` before they are compared with them. No crops
are used for training, because with image-level labels only a crop could cut the labelled object out.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "build_transform",
    "EvalTransform",
    "TrainTransform",
    "denormalize",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _resize(image: torch.Tensor, size: int) -> torch.Tensor:
    """float ``(3, H, W)`` in [0, 1] → ``(3, size, size)`` (bilinear, antialiased when shrinking)."""
    if image.shape[-2:] == (size, size):
        return image
    return F.interpolate(
        image[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True
    )[0]


def _normalize(image: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN, dtype=image.dtype).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=image.dtype).view(3, 1, 1)
    return (image - mean) / std


def denormalize(images: torch.Tensor) -> torch.Tensor:
    """Undo the ImageNet normalisation: ``(..., 3, H, W)`` → values in [0, 1] (clamped)."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=images.dtype, device=images.device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=images.dtype, device=images.device).view(3, 1, 1)
    return (images * std + mean).clamp(0, 1)


class EvalTransform:
    """uint8 ``(3, H, W)`` → float ``(3, S, S)``: plain resize and ImageNet normalisation.

    Args:
        image_size: the side ``S`` of the square network input.
    """

    def __init__(self, image_size: int) -> None:
        if image_size < 1:
            raise ValueError(f"image_size: got {image_size}; expected a positive int")
        self.image_size = image_size

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return _normalize(_resize(image.float() / 255.0, self.image_size))

    def __repr__(self) -> str:
        return f"EvalTransform(image_size={self.image_size})"


class TrainTransform(EvalTransform):
    """Resize to S x S, random flips, mild brightness/contrast/saturation jitter, normalise.

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

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        x = _resize(image.float() / 255.0, self.image_size)
        if torch.rand(()) < self.flip_p:
            x = x.flip(-1)
        if self.dihedral:
            if torch.rand(()) < 0.5:
                x = x.flip(-2)
            if torch.rand(()) < 0.5:
                x = x.transpose(-1, -2)
        if self.channel_shuffle:
            x = x[torch.randperm(3)]
        if self.jitter > 0:
            b, c, s = (1.0 + (torch.rand(3) * 2 - 1) * self.jitter).tolist()
            x = x * b
            mean = x.mean()
            x = (x - mean) * c + mean
            gray = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2])[None]
            x = ((x - gray) * s + gray).clamp(0, 1)
        return _normalize(x)

    def __repr__(self) -> str:
        return (
            f"TrainTransform(image_size={self.image_size}, flip_p={self.flip_p}, jitter={self.jitter}, "
            f"dihedral={self.dihedral}, channel_shuffle={self.channel_shuffle})"
        )


AUGMENTATIONS = {
    "light": {},
    "shapes": {"dihedral": True, "channel_shuffle": True},
}


def build_transform(image_size: int, train: bool = False, augment: str = "light") -> EvalTransform:
    """The standard transform: :class:`TrainTransform` when ``train`` else :class:`EvalTransform`.

    ``augment`` picks the training augmentation: ``light`` (flip + jitter, for natural images) or
    ``shapes`` (adds the 8 square symmetries and RGB shuffles: for the synthetic shapes, whose class
    depends on neither orientation nor colour).
    """
    if augment not in AUGMENTATIONS:
        raise ValueError(f"augment: got {augment!r}; expected one of {sorted(AUGMENTATIONS)}")
    return TrainTransform(image_size, **AUGMENTATIONS[augment]) if train else EvalTransform(image_size)
