"""What every metadata reader of :mod:`wsl.data` shares: text files read as UTF-8 with or without a BOM,
and file names that must stay inside the dataset root."""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

from .errors import dataset_error

__all__ = ["check_relative_name", "read_metadata_text"]


def read_metadata_text(path: Path) -> str:
    """The text of a metadata file, decoded as UTF-8; a leading byte-order mark (U+FEFF, which some
    editors write) is dropped (``utf-8-sig``) instead of becoming part of the first id.

    Raises:
        DatasetError: the file is not UTF-8; the message names the file and the byte.
    """
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise dataset_error(
            path,
            "encoding",
            f"not UTF-8 (byte {e.start}: {e.object[e.start : e.start + 1]!r})",
            "save it as UTF-8",
        ) from None


def check_relative_name(name: str, where: str, field: str) -> None:
    """Refuse a file name that would be read from outside the dataset root: an absolute path (``/x``,
    ``C:\\x``) or one with a ``..`` part.

    Args:
        name: the name as the metadata writes it (relative to the dataset root or an image folder).
        where: the metadata file (and line or entry) for the message, e.g. ``".../image_ids.txt:3"``.
        field: the field, e.g. ``"image id"``.

    Raises:
        DatasetError: naming ``where``, ``field`` and the name.

    Example:
        >>> check_relative_name("001.Albatross/a.jpg", "image_ids.txt:1", "image id")
    """
    posix, windows = PurePosixPath(name), PureWindowsPath(name)
    if posix.is_absolute() or windows.is_absolute() or windows.drive or name.startswith(("/", "\\")):
        problem = f"{name!r} is an absolute path, outside the dataset root"
    elif ".." in posix.parts or ".." in windows.parts:
        problem = f"{name!r} has a '..' part, which reads outside the dataset root"
    else:
        return
    raise dataset_error(where, field, problem, "write the path relative to the dataset root, without '..'")
