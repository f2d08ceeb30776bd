"""Image decoders with the same pixels as :func:`wsl.data.base.read_image`, selectable by name.

``read_image`` (the one reader, :func:`wsl.data.images.read_rgb_image`) decodes complete colour JPEGs
with torchvision's libjpeg-turbo by default and everything else with PIL (see :mod:`wsl.data.images`).
The decoders of :data:`DECODERS` pin one decoder: ``pil`` is PIL alone (``Image.open(path)`` and the
pixel rule, what ``read_image`` did before), ``torchvision`` and ``opencv`` run libjpeg-turbo without
PIL's image object and copy. All give the **same pixels**: the same RGB ``uint8 (H, W, 3)`` array, equal
element for element (tested on random-content JPEGs, 4:2:0, 4:2:2 and 4:4:4, baseline and progressive,
grey and colour). Where a decoder could differ from PIL, it hands the file to ``read_image`` instead, so
that the result never changes:

- files that are not baseline/progressive JPEG (PNG, BMP, ...): decoded by PIL;
- JPEGs whose frame header does not declare 3 components (grey, CMYK): decoded by PIL (its CMYK
  conversion is its own);
- files a decoder cannot read (missing, truncated: no end-of-image marker, corrupt): ``read_image``'s
  :class:`~wsl.data.DatasetError` naming the file. (OpenCV decodes some corrupt JPEGs that PIL and
  torchvision refuse: with ``opencv`` such a file gives pixels instead of the error.)

The EXIF orientation is never applied (OpenCV is called with ``IMREAD_IGNORE_ORIENTATION``), as
``read_image`` documents: the annotations refer to the stored grid.

Example:
    >>> sorted(DECODERS)
    ['opencv', 'pil', 'torchvision']
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from wsl.registry import Registry

from .base import read_image
from .images import UnreadableImage, jpeg_op, read_rgb_image

__all__ = ["DECODERS", "decode_image", "get_decoder"]

_SOI = b"\xff\xd8\xff"


#: Start-of-frame markers (baseline, extended, progressive, lossless; Huffman and arithmetic).
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _components(data: bytes) -> int:
    """The number of colour components in the JPEG's frame header (0 when none is found)."""
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return 0
        marker = data[i + 1]
        if marker in _SOF:
            return data[i + 9]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return 0


def _fast_jpeg(data: np.ndarray) -> bool:
    """A complete 3-component JPEG: start marker, 3 components in the frame header, and the end-of-image
    marker within the last 32 bytes (PIL refuses a truncated file; libjpeg-turbo alone would decode it
    with grey filler). Everything else goes to ``read_image``."""
    head = data[:65536].tobytes()
    return head[:3] == _SOI and _components(head) == 3 and b"\xff\xd9" in data[-32:].tobytes()


def _read(path: str | Path) -> np.ndarray | None:
    try:
        return np.fromfile(str(path), dtype=np.uint8)
    except OSError:
        return None


def _pil(path: str | Path) -> np.ndarray:
    """PIL alone (no torchvision fast path); ``read_image``'s error for a file PIL cannot read."""
    try:
        return read_rgb_image(path, fast_jpeg=False)[0]
    except (FileNotFoundError, UnreadableImage):
        return read_image(path)  # fails the same way and raises the DatasetError naming the file


def _torchvision(path: str | Path) -> np.ndarray:
    data = _read(path)
    if data is None or not _fast_jpeg(data):
        return read_image(path)  # raises the DatasetError naming the file, or decodes what PIL can
    try:
        image = jpeg_op(data)  # torchvision's op without its deprecated wrapper: no warning, no lock
    except (RuntimeError, ValueError):
        return read_image(path)
    if image.shape[0] != 3:
        return read_image(path)
    return np.ascontiguousarray(image.permute(1, 2, 0).numpy())


def _opencv(path: str | Path) -> np.ndarray:
    import cv2

    data = _read(path)
    if data is None or not _fast_jpeg(data):
        return read_image(path)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None or image.ndim != 3 or image.shape[2] != 3:
        return read_image(path)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


#: name → decoder ``path -> RGB uint8 (H, W, 3)``; every one gives ``read_image``'s pixels.
DECODERS: Registry[Callable[[str | Path], np.ndarray]] = Registry("decoder")
DECODERS.update({"pil": _pil, "torchvision": _torchvision, "opencv": _opencv})


def get_decoder(name: str) -> Callable[[str | Path], np.ndarray]:
    """The decoder registered as ``name`` in :data:`DECODERS`.

    Raises:
        ValueError: ``name`` is not a registered decoder (the message lists them).
    """
    return DECODERS.lookup(name)


def decode_image(path: str | Path, decoder: str = "pil") -> np.ndarray:
    """Decode ``path`` into RGB ``uint8 (H, W, 3)`` with the decoder ``decoder``.

    Args:
        path: an image file.
        decoder: a name of :data:`DECODERS` (``pil``, the default, is PIL alone).

    Returns:
        The pixels ``read_image(path)`` returns, in the stored pixel grid (no EXIF rotation).

    Raises:
        ValueError: unknown ``decoder``.
        DatasetError: the file is missing, truncated or not an image (from ``read_image``).
    """
    return get_decoder(decoder)(path)
