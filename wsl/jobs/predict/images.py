"""Your own image files: paths, folders and globs → the files to read; a file → RGB pixels.

Images are read by the one reader of :mod:`wsl.data.images` (the datasets' pixel rule): JPEG (also the
MPO files of some cameras), PNG and WebP, decided by the file's content, not its name. The EXIF
orientation tag is applied, so the maps and boxes refer to the picture as it is shown (datasets keep the
stored grid, which their annotations refer to); grayscale, palette and CMYK images become RGB, 16-bit
grayscale is scaled to 8 bits (``round(v · 255 / 65535)``), transparent images are laid on white, and a
decompression bomb is refused before decoding. A file that cannot be read is reported, not raised.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wsl.data.images import UnreadableImage, read_rgb_image

__all__ = ["FORMATS", "ImageFile", "UnreadableImage", "find_images", "read_rgb"]

#: PIL format names that are read (by content).
FORMATS = ("JPEG", "MPO", "PNG", "WEBP")
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class ImageFile:
    """One file to predict on.

    Attributes:
        path: the file.
        image_id: its id in the outputs (1, 2, … in listing order, or the id of a COCO ground truth).
    """

    path: Path
    image_id: int


def find_images(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
) -> tuple[list[Path], list[str]]:
    """The files named by ``paths``: files as given, folders' files (sorted, no subfolders, no dotfiles),
    and glob patterns (``photos/*.jpg``, ``**`` recursive), without duplicates, in the order given.

    Returns:
        ``(files, problems)``: the files (not yet read: a file of another type is reported when read),
        and one ``"<path>: why"`` line per path that names nothing.

    Example:
        >>> find_images(["no/such/file.jpg"])
        ([], ['no/such/file.jpg: no such file or folder'])
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files: list[Path] = []
    seen: set[Path] = set()
    problems: list[str] = []

    def add(path: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            files.append(path)

    for entry in paths:
        path = Path(entry)
        if path.is_file():
            add(path)
        elif path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            if not found:
                problems.append(f"{path}: the folder holds no file")
            for p in found:
                add(p)
        elif _GLOB_CHARS & set(str(entry)):
            matches = sorted(Path(m) for m in glob.glob(str(entry), recursive=True))
            matches = [m for m in matches if m.is_file() and not m.name.startswith(".")]
            if not matches:
                problems.append(f"{entry}: the pattern matches no file")
            for p in matches:
                add(p)
        else:
            problems.append(f"{entry}: no such file or folder")
    return files, problems


def read_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """The pixels of an image file as shown: ``uint8 (H, W, 3)`` RGB, EXIF orientation applied.

    The one reader of :mod:`wsl.data.images` (:func:`~wsl.data.images.read_rgb_image`, formats
    :data:`FORMATS`, ``apply_orientation=True``): the pixel rule of datasets, so a file whose orientation
    tag is 1 (or absent) reaches the network exactly as through ``evaluate``'s dataset.

    Raises:
        UnreadableImage: no such file, not an image, a format other than JPEG/PNG/WebP, a truncated or
            corrupt file, or a decompression bomb.

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> path = Path(tempfile.mkdtemp()) / "gray.png"
        >>> Image.new("L", (5, 3), 7).save(path)
        >>> read_rgb(path).shape
        (3, 5, 3)
    """
    try:
        return read_rgb_image(path, apply_orientation=True, formats=FORMATS)[0]
    except FileNotFoundError:
        raise UnreadableImage("no such file") from None
