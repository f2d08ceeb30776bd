"""The one image reader: an image file → RGB ``uint8`` pixels, the same rule for every path.

Datasets (:func:`wsl.data.base.read_image`), the originals of galleries and ``predict`` decode a file with
:func:`read_rgb_image`, so the same file reaches the network with the same pixels whichever command reads
it. The pixel rule (:func:`to_rgb`):

- 16-bit and 32-bit integer grayscale (PIL modes ``I;16``, ``I;16B``, ``I;16L``, ``I``) is scaled to 8 bits,
  ``round(v · 255 / 65535)``, when any value exceeds 255 (a 16-bit image), else taken as 8-bit values
  (an 8-bit image stored in a wider container), then repeated over R, G and B. PIL's own
  ``convert("RGB")`` clips instead, so a 16-bit PNG came out 99.5 % white.
- Transparent images (``RGBA``, ``LA``, ``PA``, premultiplied ``RGBa``/``La``, and palette images with a
  transparency entry) are laid on white: ``out = a·rgb + (1 − a)·255`` as PIL's ``alpha_composite``.
  ``convert("RGB")`` dropped the alpha channel and kept whatever colour the transparent pixels held.
- Every other mode (``L``, ``P``, ``CMYK``, ``YCbCr`` …) goes through PIL's ``convert("RGB")``.

The EXIF orientation tag is applied only when asked (``apply_orientation=True``, what ``predict`` shows):
dataset annotations refer to the stored pixel grid, so datasets read that grid.

An image whose header claims more pixels than PIL's decompression-bomb limit (twice
``PIL.Image.MAX_IMAGE_PIXELS``, 178,956,970 by default) is refused before its pixels are decoded.

Decoding: PIL reads every header (format, size, mode, EXIF). The pixels of a complete colour JPEG (PIL
mode ``RGB``: 3 components; end-of-image marker present) come from torchvision's JPEG op
(:func:`jpeg_op`: what ``torchvision.io.decode_jpeg`` runs, without that deprecated wrapper), i.e.
libjpeg-turbo without PIL's image object and copies: 1.14× PIL's reader + transform per core at CUB's
sizes, ``docs/benchmarks_scale.md``. It gives PIL's pixels **bit for bit** (islow DCT and fancy
upsampling in both; checked at first use on a probe image, in ``tests/data/test_decode.py``, and on
corrupted files: where torchvision fails, PIL decodes or raises exactly as before). Everything else, and
every file torchvision refuses, is decoded by PIL. ``WSL_JPEG_DECODER=pil`` turns the fast path off
(read at first use).
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "DECODE_ERRORS",
    "EXIF_ORIENTATION",
    "UnreadableImage",
    "bomb_reason",
    "orientation_of",
    "read_rgb_image",
    "to_rgb",
]

#: The EXIF tag of the orientation (1 = upright).
EXIF_ORIENTATION = 0x0112

#: What PIL raises for a file it cannot read: a broken or truncated file, or a decompression bomb.
DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    SyntaxError,
    ValueError,
    UnidentifiedImageError,
    Image.DecompressionBombError,
)

_INTEGER_GRAY = ("I;16", "I;16B", "I;16L", "I")
_TRANSPARENT = ("RGBA", "LA", "PA", "RGBa", "La")


class UnreadableImage(ValueError):
    """A file that cannot be read as an image; the message says why (without the path)."""


def orientation_of(image: Image.Image) -> int:
    """The EXIF orientation tag of an opened image (1, the upright default, when absent or unreadable)."""
    try:
        value = image.getexif().get(EXIF_ORIENTATION, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block is not worth failing the image over
        return 1
    return value if isinstance(value, int) else 1


def to_rgb(image: Image.Image) -> np.ndarray:
    """Any PIL image → ``uint8 (H, W, 3)`` RGB by the module's pixel rule.

    Example:
        >>> gray16 = Image.fromarray(np.full((2, 3), 65535, np.uint16))
        >>> to_rgb(gray16)[0, 0].tolist()
        [255, 255, 255]
        >>> clear = Image.new("RGBA", (3, 2), (10, 20, 30, 0))
        >>> to_rgb(clear)[0, 0].tolist()
        [255, 255, 255]
    """
    if image.mode in _INTEGER_GRAY:
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if values.max(initial=0) > 255 else 255.0
        gray = np.clip(np.round(values * (255.0 / top)), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in _TRANSPARENT:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def bomb_reason(error: BaseException) -> str | None:
    """The reason to give for a decompression bomb (None when ``error`` is not one)."""
    if not isinstance(error, Image.DecompressionBombError):
        return None
    limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
    return f"a decompression bomb: {error} (limit {limit:,} pixels, twice PIL.Image.MAX_IMAGE_PIXELS)"


JpegDecoder = Callable[[np.ndarray], "np.ndarray | None"]


def jpeg_op(data: np.ndarray) -> Any:
    """torchvision's JPEG decode of the bytes ``data`` (uint8, 1-D): the ``(C, H, W)`` uint8 tensor of
    ``torch.ops.image.decode_jpeg(bytes, ImageReadMode.UNCHANGED, apply_exif_orientation=False)``.

    That op is exactly what ``torchvision.io.decode_jpeg(bytes, mode=UNCHANGED)`` runs for bytes on the
    CPU; the public wrapper (deprecated since torchvision 0.29) adds a ``DeprecationWarning`` on every
    call, whose silencing needed a process-wide warning scope under a lock, which serialised the decodes
    of the in-memory cache's threads. Called directly there is no warning, no scope and no lock: the
    decodes run in parallel (the op releases the GIL), with the same pixels
    (``tests/data/test_decode_warnings.py`` compares both element by element).

    Raises:
        RuntimeError: the op refuses the bytes (corrupt JPEG); AttributeError/ImportError/RuntimeError when
            torchvision or its image extension is missing (the callers then decode with PIL).
    """
    import torch
    import torchvision.io.image as tio_image  # loads the image extension that registers torch.ops.image

    mode = tio_image.ImageReadMode.UNCHANGED.value
    return torch.ops.image.decode_jpeg(torch.from_numpy(data), mode, False)


def _torchvision_jpeg(data: np.ndarray) -> np.ndarray | None:
    """RGB ``uint8 (H, W, 3)`` of JPEG bytes by torchvision's JPEG op (:func:`jpeg_op`); None when it
    refuses them."""
    try:
        image = jpeg_op(data)
    except (RuntimeError, ValueError):
        return None
    if image.ndim != 3 or image.shape[0] != 3:
        return None
    return np.ascontiguousarray(image.permute(1, 2, 0).numpy())


def _probe_jpeg() -> bytes:
    """A 4:2:0 JPEG of noise (odd size: partial MCUs, edge upsampling), made by PIL in memory."""
    pixels = np.random.default_rng(0).integers(0, 256, (29, 43, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=85, subsampling=2)
    return buf.getvalue()


@functools.cache
def _fast_jpeg_decoder() -> JpegDecoder | None:
    """torchvision's decoder when it is installed, not turned off (``WSL_JPEG_DECODER=pil``) and gives
    PIL's pixels on the probe image (libjpeg-turbo builds could differ); else None (PIL decodes)."""
    if os.environ.get("WSL_JPEG_DECODER", "torchvision").lower() == "pil":
        return None
    probe = _probe_jpeg()
    with Image.open(io.BytesIO(probe)) as image:
        want = np.asarray(image.convert("RGB"))
    try:
        got = _torchvision_jpeg(np.frombuffer(probe, dtype=np.uint8).copy())
    except Exception:  # noqa: BLE001 - no torchvision, or its decoders removed (deprecated in 0.29)
        return None
    return _torchvision_jpeg if got is not None and np.array_equal(got, want) else None


def _fast_jpeg_pixels(path: str | os.PathLike[str], image: Image.Image) -> np.ndarray | None:
    """PIL's pixels of a complete colour JPEG without PIL's decoder, or None (PIL decodes the file).

    Applies to format ``JPEG``, mode ``RGB`` (3 components; grey and CMYK stay with PIL), with the
    end-of-image marker in the last 32 bytes (PIL refuses a truncated file; libjpeg-turbo alone would
    pad it with grey) and the size PIL read from the header.
    """
    decoder = _fast_jpeg_decoder()
    if decoder is None or image.format != "JPEG" or image.mode != "RGB":
        return None
    data = np.fromfile(os.fspath(path), dtype=np.uint8)
    if b"\xff\xd9" not in data[-32:].tobytes():
        return None
    pixels = decoder(data)
    if pixels is None or pixels.shape != (image.height, image.width, 3):
        return None
    return pixels


def read_rgb_image(
    path: str | os.PathLike[str],
    apply_orientation: bool = False,
    formats: Sequence[str] | None = None,
    fast_jpeg: bool = True,
) -> tuple[np.ndarray, int]:
    """Decode an image file into RGB ``uint8 (H, W, 3)`` by the module's pixel rule.

    Args:
        path: the file.
        apply_orientation: rotate/mirror the pixels as the EXIF orientation tag says (what a viewer
            shows); False (datasets) keeps the stored grid, which annotations refer to.
        formats: the PIL format names accepted (decided by content, not by the name), e.g.
            ``("JPEG", "MPO", "PNG", "WEBP")``; None accepts every format PIL reads.
        fast_jpeg: decode complete colour JPEGs with torchvision (the same pixels, see the module
            docstring); False decodes everything with PIL.

    Returns:
        ``(pixels, orientation)``: the pixels and the file's EXIF orientation tag (1 = upright or none).

    Raises:
        FileNotFoundError: no such file.
        UnreadableImage: not an image, a format outside ``formats``, a truncated or corrupt file, or a
            decompression bomb; the message says which.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> path = Path(tempfile.mkdtemp()) / "gray.png"
        >>> Image.new("L", (5, 3), 7).save(path)
        >>> pixels, orientation = read_rgb_image(path)
        >>> pixels.shape, orientation
        ((3, 5, 3), 1)
    """
    try:
        with Image.open(path) as image:
            if formats is not None and image.format not in formats:
                raise UnreadableImage(f"{image.format} images are not read ({', '.join(formats)} only)")
            if fast_jpeg and image.format == "JPEG":
                orientation = orientation_of(image)  # JPEG: read with the header (APP1)
                pixels = _fast_jpeg_pixels(path, image) if orientation == 1 or not apply_orientation else None
                if pixels is not None:
                    return pixels, orientation
            image.load()
            orientation = orientation_of(image)
            shown = (ImageOps.exif_transpose(image) or image) if apply_orientation else image
            return to_rgb(shown), orientation
    except (FileNotFoundError, UnreadableImage):
        raise
    except UnidentifiedImageError:
        raise UnreadableImage("not an image (PIL cannot identify it)") from None
    except Exception as err:  # noqa: BLE001 - a corrupt file of any kind is reported, not a traceback
        reason = bomb_reason(err) or f"cannot be decoded ({type(err).__name__}: {err})"
        raise UnreadableImage(reason) from None
