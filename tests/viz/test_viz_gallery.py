"""The static HTML gallery: references, escaping, confinement."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest

from wsl.viz import overlay_cam, safe_join, save_cam_npz, save_png, write_gallery

EVIL_ID = '<script>alert("x")</script>../../etc'
EVIL_CLASS = "dog & <b>cat</b>"


class Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.tags: list[str] = []
        self.options: list[str] = []
        self.cards: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        attributes = dict(attrs)
        for key in ("href", "src"):
            if attributes.get(key) is not None:
                self.refs.append(attributes[key])  # type: ignore[arg-type]
        if tag == "option":
            self.options.append(attributes.get("value") or "")
        if attributes.get("class") == "card":
            self.cards.append(attributes)


def make_gallery(out_dir: Path) -> tuple[Path, list[dict]]:
    rng = np.random.default_rng(0)
    entries = []
    for i, (image_id, class_name, iou) in enumerate(
        [("2008_000001", "dog", 0.7), (EVIL_ID, EVIL_CLASS, None), ("img with space#1", "cat", 0.2)]
    ):
        image = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
        cam = rng.random((6, 8))
        full = safe_join(out_dir / "full", f"{image_id}_{class_name}.png")
        thumb = safe_join(out_dir / "thumbs", f"{image_id}_{class_name}.png")
        npz = safe_join(out_dir / "cams", f"{image_id}.npz")
        save_png(full, overlay_cam(image, cam))
        save_png(thumb, overlay_cam(image, cam)[::2, ::2])
        save_cam_npz(npz, {class_name: cam})
        entries.append(
            {
                "image": full.relative_to(out_dir).as_posix(),
                "thumb": thumb.relative_to(out_dir).as_posix(),
                "npz": npz.relative_to(out_dir).as_posix(),
                "image_id": image_id,
                "class_name": class_name,
                "score": 0.9 - 0.1 * i,
                "iou": iou,
            }
        )
    return write_gallery(out_dir, entries, title="CAMs <of> run"), entries


def test_gallery_references_existing_files(tmp_path: Path) -> None:
    index, entries = make_gallery(tmp_path)
    assert index == tmp_path / "index.html"
    parser = Collector()
    parser.feed(index.read_text(encoding="utf-8"))
    assert len(parser.refs) == 3 * 3  # full image, thumbnail, npz per card
    for ref in parser.refs:
        assert "://" not in ref and not ref.startswith("/")  # nothing external, nothing absolute
        target = (tmp_path / unquote(ref)).resolve()
        assert target.is_file(), ref
        assert tmp_path.resolve() in target.parents
    assert len(parser.cards) == 3
    assert {c["data-cls"] for c in parser.cards} == {"dog", "cat", EVIL_CLASS}  # exact after unescaping
    assert sorted(parser.options) == sorted(["", "dog", "cat", EVIL_CLASS])


def test_gallery_escapes_annotation_strings(tmp_path: Path) -> None:
    index, _ = make_gallery(tmp_path)
    page = index.read_text(encoding="utf-8")
    assert "<script>alert" not in page and "<b>cat</b>" not in page and "<of>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    parser = Collector()
    parser.feed(page)
    assert parser.tags.count("script") == 1  # our own inline script only
    assert "<link" not in page and "http" not in page  # self-contained


def test_gallery_url_quotes_paths(tmp_path: Path) -> None:
    name = "a b#c?d%.png"  # a file a user named by hand; relative paths are URL-quoted
    save_png(tmp_path / "sub dir" / name, np.zeros((2, 2, 3), np.uint8))
    entry = {
        "image": f"sub dir/{name}",
        "thumb": f"sub dir/{name}",
        "image_id": "1",
        "class_name": "c",
        "score": 1,
    }
    page = write_gallery(tmp_path, [entry]).read_text(encoding="utf-8")
    assert 'href="sub%20dir/a%20b%23c%3Fd%25.png"' in page
    parser = Collector()
    parser.feed(page)
    assert all((tmp_path / unquote(ref)).is_file() for ref in parser.refs)


def test_gallery_sorting_data(tmp_path: Path) -> None:
    index, _ = make_gallery(tmp_path)
    parser = Collector()
    parser.feed(index.read_text(encoding="utf-8"))
    scores = [float(c["data-score"] or "nan") for c in parser.cards]
    assert scores == pytest.approx([0.9, 0.8, 0.7])
    ious = [c["data-iou"] for c in parser.cards]
    assert ious[0] == "0.7" and ious[1] == "nan"


def test_gallery_errors(tmp_path: Path) -> None:
    good = {"image": "a.png", "thumb": "a.png", "image_id": "1", "class_name": "dog", "score": 0.5}
    save_png(tmp_path / "a.png", np.zeros((2, 2, 3), np.uint8))
    write_gallery(tmp_path, [good])
    with pytest.raises(ValueError, match=r"lacks the keys \['score'\]"):
        write_gallery(tmp_path, [{k: v for k, v in good.items() if k != "score"}])
    for bad in ("../a.png", "/etc/passwd", "x/../../a.png"):
        with pytest.raises(ValueError, match="must be relative to out_dir"):
            write_gallery(tmp_path, [{**good, "image": bad}])
    with pytest.raises(ValueError, match="missing file"):
        write_gallery(tmp_path, [{**good, "thumb": "missing.png"}])
    write_gallery(tmp_path, [{**good, "thumb": "missing.png"}], check_files=False)
    with pytest.raises(TypeError, match="score'\\] must be a number"):
        write_gallery(tmp_path, [{**good, "score": "high"}])
