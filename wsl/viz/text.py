"""Unicode text on pictures: :func:`draw_text` and :func:`text_size` on a numpy RGB image.

OpenCV's Hershey fonts know ASCII only (a class name such as "Fußball" or "鸟" comes out as question marks).
Here text is drawn with TrueType fonts through Pillow, one font per run of characters:

1. the fonts, in order (:func:`font_paths`): ``$WSL_FONT`` if set, DejaVu Sans (matplotlib, a dependency
   of wsl, ships it, so Latin, Greek and Cyrillic always work), then the system's Noto / Noto CJK /
   WenQuanYi / Droid fallback (Linux), PingFang / Hiragino / Arial Unicode (macOS), Microsoft YaHei /
   SimHei / Malgun / Arial (Windows) where present;
2. each character is drawn with the first font whose character map holds it (read with fontTools);
   a character that no font holds is drawn with the first font (its "missing glyph" box, not a "?").
   Chinese, Japanese and Korean need one of the CJK fonts above (on Debian/Ubuntu
   ``apt install fonts-noto-cjk`` or ``fonts-wqy-zenhei``), or ``WSL_FONT=/path/to/font.ttc``;
3. without any TrueType font, Pillow's built-in ``ImageFont.load_default(size)``;
4. OpenCV's Hershey font only when Pillow has no FreeType support at all, and then only for ASCII
   (other characters become "?"): the one case where the old behaviour remains.

Coordinates are pixels; ``(x, y)`` is the top-left corner of the text's box (OpenCV's ``putText`` takes
the baseline instead).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["draw_text", "font_paths", "font_runs", "text_size"]

#: Font files looked for, in order, after ``$WSL_FONT`` and matplotlib's DejaVu Sans.
SYSTEM_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/wenquanyi/wqy-zenhei/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/Hiragino Sans GB.ttc",
    "/System/Library/Fonts/Supplemental/Arial Unicode.ttf",
    "/Library/Fonts/Arial Unicode.ttf",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/simhei.ttf",
    "C:/Windows/Fonts/malgun.ttf",
    "C:/Windows/Fonts/arial.ttf",
)


def _matplotlib_dejavu() -> str | None:
    try:
        import matplotlib
    except ImportError:
        return None
    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    return str(path) if path.is_file() else None


def font_paths() -> list[str]:
    """The TrueType/OpenType files :func:`draw_text` uses, in order of preference (existing files only)."""
    candidates = [os.environ.get("WSL_FONT"), _matplotlib_dejavu(), *SYSTEM_FONTS]
    found = [p for p in candidates if p and Path(p).is_file()]
    return list(dict.fromkeys(found))


@functools.lru_cache(maxsize=32)
def _charmap(path: str) -> frozenset[int]:
    """The code points a font file maps to glyphs (the first font of a collection)."""
    from fontTools.ttLib import TTFont

    try:
        font = TTFont(path, fontNumber=0, lazy=True)
        return frozenset(font.getBestCmap() or ())
    except Exception:  # noqa: BLE001 - an unreadable font is a font without characters
        return frozenset()


@functools.lru_cache(maxsize=64)
def _font(path: str | None, size: int) -> Any:
    from PIL import ImageFont

    if path is None:
        return ImageFont.load_default(size)
    return ImageFont.truetype(path, size)


def font_runs(text: str, paths: Sequence[str] | None = None) -> list[tuple[str | None, str]]:
    """Split ``text`` into ``(font path, run)`` pieces: each character goes to the first font that has it
    (whitespace to the current run's font); characters no font has go to the first font. ``None``: no
    TrueType font at all (Pillow's built-in font).

    Example:
        >>> font_runs("ab", paths=[]) == [(None, "ab")]
        True
    """
    paths = font_paths() if paths is None else list(paths)
    if not paths:
        return [(None, text)] if text else []
    runs: list[tuple[str | None, str]] = []
    for char in text:
        if char.isspace() and runs:
            path = runs[-1][0]
        else:
            path = next((p for p in paths if ord(char) in _charmap(p)), paths[0])
        if runs and runs[-1][0] == path:
            runs[-1] = (path, runs[-1][1] + char)
        else:
            runs.append((path, char))
    return runs


def _freetype() -> bool:
    from PIL import features

    return bool(features.check("freetype2"))


def text_size(text: str, size: int = 14) -> tuple[int, int]:
    """``(width, height)`` in pixels of ``text`` drawn by :func:`draw_text` at ``size`` (the font's
    line height: ascent + descent of the first font, so that labels of one size line up)."""
    if not _freetype():
        return _hershey_size(text, size)
    runs = font_runs(text)
    width = sum(_font(path, size).getlength(run) for path, run in runs)
    ascent, descent = _font(runs[0][0] if runs else _first(), size).getmetrics()
    return int(np.ceil(width)), int(ascent + descent)


def _first() -> str | None:
    paths = font_paths()
    return paths[0] if paths else None


def draw_text(
    image: np.ndarray,
    text: str,
    xy: tuple[int, int],
    size: int = 14,
    color: tuple[int, int, int] = (255, 255, 255),
    background: tuple[int, int, int] | None = None,
) -> np.ndarray:
    """Draw ``text`` on ``image`` (H, W, 3) uint8 RGB in place, top-left corner at ``xy``; returns ``image``.

    Args:
        image: an (H, W, 3) uint8 RGB array (C-contiguous), changed in place.
        text: any Unicode text (one line).
        xy: ``(x, y)``, the top-left corner of the text's box, in pixels.
        size: the font size in pixels (the em height).
        color: the text's RGB colour.
        background: an RGB colour to fill the text's box with first (None: none).

    Raises:
        ValueError: ``image`` is not an (H, W, 3) uint8 array.
    """
    if not (
        isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
    ):
        got = f"{getattr(image, 'dtype', type(image).__name__)} {getattr(image, 'shape', '')}"
        raise ValueError(f"image: got {got}; expected an (H, W, 3) uint8 RGB array")
    if not _freetype():
        return _hershey_draw(image, text, xy, size, color, background)
    from PIL import Image, ImageDraw

    picture = Image.fromarray(image)
    draw = ImageDraw.Draw(picture)
    x, y = xy
    if background is not None:
        width, height = text_size(text, size)
        draw.rectangle([x, y, x + width - 1, y + height - 1], fill=tuple(background))
    runs = font_runs(text)
    # Every run sits on the first font's baseline, so that glyphs of fallback fonts line up with it.
    baseline = y + _font(runs[0][0] if runs else _first(), size).getmetrics()[0]
    for path, run in runs:
        font = _font(path, size)
        draw.text((x, baseline), run, font=font, fill=tuple(color), anchor="ls")
        x += font.getlength(run)
    image[...] = np.asarray(picture)
    return image


def _ascii(text: str) -> str:
    return "".join(c if ord(c) < 128 else "?" for c in text)


def _hershey_size(text: str, size: int) -> tuple[int, int]:
    import cv2

    (width, height), baseline = cv2.getTextSize(_ascii(text), cv2.FONT_HERSHEY_SIMPLEX, size / 30, 1)
    return width, height + baseline


def _hershey_draw(image, text, xy, size, color, background) -> np.ndarray:  # noqa: ANN001 - private twin
    """ASCII only (Pillow without FreeType): OpenCV's Hershey font; other characters become "?"."""
    import cv2

    width, height = _hershey_size(text, size)
    x, y = xy
    if background is not None:
        cv2.rectangle(image, (x, y), (x + width - 1, y + height - 1), tuple(int(c) for c in background), -1)
    baseline = y + height - cv2.getTextSize("g", cv2.FONT_HERSHEY_SIMPLEX, size / 30, 1)[1]
    cv2.putText(image, _ascii(text), (x, baseline), cv2.FONT_HERSHEY_SIMPLEX, size / 30, tuple(color), 1)
    return image
