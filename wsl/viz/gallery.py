"""A self-contained static HTML gallery of CAM overlays.

The page is one ``index.html`` with inline CSS and a few lines of vanilla JavaScript; it loads no
external resource and opens from disk without a server. Every string that comes from annotations
(image ids, class names) is HTML-escaped and every file path is URL-quoted, so an id such as
``<script>`` or ``../x`` is shown as text and cannot inject markup or point outside the gallery.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from wsl.runs import write_text

__all__ = ["write_gallery"]

_REQUIRED = ("image", "thumb", "image_id", "class_name", "score")

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1em; background: #fafafa; color: #222; }
h1 { font-size: 1.3em; margin: 0 0 .5em 0; }
.bar { margin: .5em 0 1em 0; display: flex; gap: .5em; align-items: center; flex-wrap: wrap; }
.bar button.active { font-weight: bold; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: 10px; }
.card { background: #fff; border: 1px solid #ddd; border-radius: 4px; padding: 4px; font-size: .8em; }
.card img { width: 100%; height: auto; display: block; }
.card .id { font-family: monospace; overflow-wrap: anywhere; }
.card .meta { color: #555; }
.hidden { display: none; }
"""

_JS = """
(function () {
  var grid = document.getElementById("grid");
  var filter = document.getElementById("class-filter");
  var count = document.getElementById("count");
  function num(card, key) {
    var v = parseFloat(card.dataset[key]);
    return isNaN(v) ? -Infinity : v;
  }
  function refresh() {
    var shown = 0;
    Array.prototype.forEach.call(grid.children, function (card) {
      var show = filter.value === "" || card.dataset.cls === filter.value;
      card.classList.toggle("hidden", !show);
      if (show) { shown += 1; }
    });
    count.textContent = shown + " / " + grid.children.length;
  }
  function sortBy(key, button) {
    var cards = Array.prototype.slice.call(grid.children);
    cards.sort(function (a, b) {
      if (key === "cls") {
        return a.dataset.cls.localeCompare(b.dataset.cls) || num(b, "score") - num(a, "score");
      }
      return num(b, key) - num(a, key) || num(a, "order") - num(b, "order");
    });
    cards.forEach(function (card) { grid.appendChild(card); });
    document.querySelectorAll(".bar button").forEach(function (b) { b.classList.remove("active"); });
    button.classList.add("active");
  }
  document.querySelectorAll(".bar button[data-sort]").forEach(function (button) {
    button.addEventListener("click", function () { sortBy(button.dataset.sort, button); });
  });
  filter.addEventListener("change", refresh);
  refresh();
})();
"""


def write_gallery(
    out_dir: str | os.PathLike[str],
    entries: Sequence[Mapping[str, Any]],
    title: str = "CAM gallery",
    check_files: bool = True,
) -> Path:
    """Write ``out_dir/index.html``: a grid of thumbnails linking to full-size CAM overlays.

    The page has a class filter (drop-down), sort buttons (by class, by score, by IoU; highest first,
    entries without an IoU last) and, per card, the image id, class, score, IoU and a link to the
    CAM ``.npz`` when given.

    Args:
        out_dir: the gallery folder; all entry paths are relative to it.
        entries: one mapping per (image, class) with the keys

            - ``image``: relative path of the full overlay PNG,
            - ``thumb``: relative path of its thumbnail,
            - ``image_id`` (str), ``class_name`` (str), ``score`` (float),
            - optional ``iou`` (float or None) and ``npz`` (relative path of the saved CAMs).

            Paths use ``/`` (or the OS separator) and must stay inside ``out_dir`` (no absolute path,
            no ``..``).
        title: page title (escaped).
        check_files: raise if a referenced file does not exist (write the images first).

    Returns:
        Path of the written ``index.html`` (written through a temporary file and renamed into place,
        :func:`wsl.runs.write_text`, so a reader never sees half a page).

    Raises:
        ValueError: for a missing key, a path leaving ``out_dir``, or (``check_files``) a missing file.
    """
    root = Path(out_dir)
    cards = []
    classes: set[str] = set()
    for i, entry in enumerate(entries):
        missing = [key for key in _REQUIRED if key not in entry]
        if missing:
            raise ValueError(f"entries[{i}] lacks the keys {missing}; required: {list(_REQUIRED)}")
        image = _relative(entry["image"], f"entries[{i}]['image']", root, check_files)
        thumb = _relative(entry["thumb"], f"entries[{i}]['thumb']", root, check_files)
        npz = entry.get("npz")
        npz = _relative(npz, f"entries[{i}]['npz']", root, check_files) if npz is not None else None
        class_name = str(entry["class_name"])
        image_id = str(entry["image_id"])
        classes.add(class_name)
        score = _as_float(entry["score"], f"entries[{i}]['score']")
        iou = entry.get("iou")
        iou = _as_float(iou, f"entries[{i}]['iou']") if iou is not None else None
        cards.append(_card(i, image, thumb, npz, image_id, class_name, score, iou))

    esc = html.escape
    options = "\n".join(f'<option value="{esc(c)}">{esc(c)}</option>' for c in sorted(classes))
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(str(title))}</title>
<style>{_CSS}</style>
</head>
<body>
<h1>{esc(str(title))}</h1>
<div class="bar">
<label>Class <select id="class-filter"><option value="">all</option>
{options}
</select></label>
<span>Sort:</span>
<button type="button" data-sort="cls">class</button>
<button type="button" data-sort="score">score</button>
<button type="button" data-sort="iou">IoU</button>
<span id="count"></span>
</div>
<div class="grid" id="grid">
{"".join(cards)}</div>
<script>{_JS}</script>
</body>
</html>
"""
    return write_text(root / "index.html", page)


def _card(
    order: int,
    image: str,
    thumb: str,
    npz: str | None,
    image_id: str,
    class_name: str,
    score: float,
    iou: float | None,
) -> str:
    """HTML of one grid card; every argument is already validated, strings are escaped here."""
    esc = html.escape
    iou_text = f"{iou:.3f}" if iou is not None else "–"
    iou_attr = repr(iou) if iou is not None else "nan"  # NaN sorts last in the page's script
    npz_link = f' · <a href="{esc(quote(npz))}">npz</a>' if npz is not None else ""
    return (
        f'<div class="card" data-cls="{esc(class_name)}" data-score="{score!r}" '
        f'data-iou="{iou_attr}" data-order="{order}">'
        f'<a href="{esc(quote(image))}"><img src="{esc(quote(thumb))}" loading="lazy" '
        f'alt="{esc(image_id)} {esc(class_name)}"></a>'
        f'<div class="id">{esc(image_id)}</div>'
        f'<div class="meta">{esc(class_name)} · score {score:.3f} · IoU {iou_text}{npz_link}</div>'
        "</div>\n"
    )


def _relative(value: Any, name: str, root: Path, check_files: bool) -> str:
    """Validate a path relative to the gallery folder; returns it in POSIX form (unquoted)."""
    text = os.fspath(value) if isinstance(value, (str, os.PathLike)) else None
    if not text:
        raise ValueError(f"{name} must be a non-empty relative path; got {value!r}")
    if "\x00" in text:
        raise ValueError(f"{name} must not contain NUL; got {value!r}")
    posix = PurePosixPath(text.replace(os.sep, "/"))
    if posix.is_absolute() or Path(text).is_absolute() or ".." in posix.parts or ":" in posix.parts[0]:
        raise ValueError(f"{name} must be relative to out_dir and stay inside it; got {value!r}")
    if check_files and not (root / posix).is_file():
        raise ValueError(f"{name} points to a missing file {str(root / posix)!r}; write the images first")
    return str(posix)


def _as_float(value: Any, name: str) -> float:
    """A float from a Python/numpy/torch scalar (non-finite values sort last in the page)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number; got {value!r}") from None
    return number if math.isfinite(number) else float("nan")
