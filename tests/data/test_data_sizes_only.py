"""Issue 35 item 20: scoring saved maps needs the metadata only. When ``image_sizes.txt`` (or a VOC XML's
``<size>``) declares every size, a dataset read without images neither requires nor opens the image files,
as wsolevaluation scores the same maps from its metadata alone. Real CUB metadata lines, stand-in images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from data_helpers import voc_object, voc_xml, write_jpeg
from wsol_metadata import write_standin

import wsl.data.base as base
from wsl.data import DatasetError, VOCDataset, WSLDataModule, WSOLDataset
from wsl.jobs.evaluate import evaluate_cams


@pytest.fixture
def cub(tmp_path: Path) -> tuple[Path, Path]:
    return write_standin("CUB", tmp_path / "CUB", per_class={"train": 1, "val": 1, "test": 2})


def _spec(cub: tuple[Path, Path]) -> str:
    root, meta = cub
    return f"CUB:{root}:metadata={meta}"


def _declared_sizes(cub: tuple[Path, Path]) -> dict[str, tuple[int, int]]:
    """``{id: (H, W)}`` of the test split's image_sizes.txt, parsed here independently."""
    sizes = {}
    for line in (cub[1] / "CUB" / "test" / "image_sizes.txt").read_text().splitlines():
        image_id, w, h = line.split(",")
        sizes[image_id] = (int(h), int(w))
    return sizes


def _delete_images(cub: tuple[Path, Path]) -> int:
    images = [p for p in cub[0].rglob("*.jpg") if "metadata" not in p.parts]
    for path in images:
        path.unlink()
    return len(images)


def test_without_images_a_wsol_set_with_every_size_needs_no_image_file(cub):
    assert _delete_images(cub) > 0
    ds = WSOLDataset(_spec(cub), "test", with_annotations=True, with_images=False)
    sizes = _declared_sizes(cub)
    assert [r.image_id for r in ds.records] == list(sizes)
    for k in range(len(ds)):
        item = ds[k]
        assert "image" not in item and item["orig_size"] == sizes[item["image_id"]]


def test_the_data_module_builds_an_annotation_only_split_without_the_image_files(cub):
    _delete_images(cub)
    dm = WSLDataModule(f"wsol:{_spec(cub)}", batch_size=2, num_workers=0)
    batch = next(iter(dm.dataloader("test", with_images=False)))
    sizes = _declared_sizes(cub)
    assert [tuple(s) for s in batch["orig_size"]] == [sizes[i] for i in batch["image_id"]]


def test_with_images_a_missing_image_is_still_an_error_naming_it(cub):
    _delete_images(cub)
    with pytest.raises(DatasetError, match="file not found"):
        WSOLDataset(_spec(cub), "test", with_annotations=True)


def test_no_image_header_is_read_when_the_sizes_are_declared(cub, monkeypatch):
    def refuse(path):
        raise AssertionError(f"header of {path} read")

    monkeypatch.setattr(base, "check_image_header_orientation", refuse)
    ds = WSOLDataset(_spec(cub), "test", with_annotations=True).without_images()
    assert [ds[k]["orig_size"] for k in range(len(ds))] == list(_declared_sizes(cub).values())


def test_evaluate_cams_scores_saved_maps_without_the_images(cub, tmp_path):
    sizes = _declared_sizes(cub)
    cams = tmp_path / "cams"
    for image_id, (h, w) in sizes.items():
        path = cams / f"{image_id}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, np.ones((h, w), np.float32))
    with_files = evaluate_cams(cams, data=f"wsol:{_spec(cub)}", single_label=True, progress=False)
    _delete_images(cub)
    without = evaluate_cams(cams, data=f"wsol:{_spec(cub)}", single_label=True, progress=False)
    assert without["results"] == with_files["results"]
    assert without["results"]["images_scored"] == len(sizes)


def test_a_voc_image_without_a_declared_size_still_reads_its_header(tmp_path):
    root = tmp_path / "voc"
    (root / "Annotations").mkdir(parents=True)
    (root / "ImageSets" / "Main").mkdir(parents=True)
    xml = voc_xml([voc_object("cat", (1, 1, 4, 3))]).replace("<size>", "<!--").replace("</size>", "-->")
    assert "<size>" not in xml
    (root / "Annotations" / "a.xml").write_text(xml)
    write_jpeg(root / "JPEGImages" / "a.jpg", 30, 40)
    (root / "ImageSets" / "Main" / "test.txt").write_text("a\n")
    ds = VOCDataset(root, "test", class_names=["cat"], with_annotations=True, with_images=False)
    assert ds[0]["orig_size"] == (30, 40)
