"""Your own image files: paths, folders and globs → the files to read; a file → RGB pixels.

Images are read with PIL: JPEG (also the MPO files of some cameras), PNG and WebP, decided by the
file's content, not its name. The EXIF orientation tag is applied (``ImageOps.exif_transpose``), so the
maps and boxes refer to the picture as it is shown; grayscale, palette, CMYK and 16-bit images become
RGB, and transparent ones are laid on white. A file that cannot be read is reported, not raised.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

__all__ = ["FORMATS", "ImageFile", "UnreadableImage", "find_images", "read_rgb"]

#: PIL format names that are read (by content).
FORMATS = ("JPEG", "MPO", "PNG", "WEBP")
_GLOB_CHARS = set("*?[")


class UnreadableImage(ValueError):
    """A file that is not a readable JPEG/PNG/WebP image; the message says why."""


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


def _to_rgb(image: Image.Image) -> np.ndarray:
    """Any PIL mode → ``uint8 (H, W, 3)`` RGB (alpha laid on white, 16-bit scaled to 8 bits)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if values.max(initial=0) > 255 else 255.0
        gray = np.clip(np.round(values * (255.0 / top)), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def read_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """The pixels of an image file as shown: ``uint8 (H, W, 3)`` RGB, EXIF orientation applied.

    Raises:
        UnreadableImage: not an image, a format other than JPEG/PNG/WebP, or a truncated/corrupt file.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "gray.png"
        >>> Image.new("L", (5, 3), 7).save(path)
        >>> read_rgb(path).shape
        (3, 5, 3)
    """
    try:
        with Image.open(path) as image:
            if image.format not in FORMATS:
                raise UnreadableImage(f"{image.format} images are not read (JPEG, PNG or WebP only)")
            image.load()
            shown = ImageOps.exif_transpose(image) or image
            return _to_rgb(shown)
    except UnreadableImage:
        raise
    except Image.UnidentifiedImageError:
        raise UnreadableImage("not an image (PIL cannot identify it)") from None
    except Exception as err:  # noqa: BLE001 - a corrupt file of any kind is reported, not raised
        raise UnreadableImage(f"cannot be decoded ({type(err).__name__}: {err})") from None
