"""Original pixels travel with the batch when a picture sink asks (decoded once); the fallbacks stay."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, Subset

import wsl.data.base as data_base
import wsl.jobs.originals as originals_module
from wsl.data import WSLDataModule, collate_wsl
from wsl.data.base import read_image
from wsl.data.transforms import denormalize
from wsl.jobs.export import export_cams
from wsl.jobs.originals import OriginalImages
from wsl.lit import WSLModule


@pytest.fixture(scope="module")
def dm(synthetic_voc_root: Path) -> WSLDataModule:
    return WSLDataModule(data=f"voc:{synthetic_voc_root}", image_size=64, batch_size=3, num_workers=0)


@pytest.fixture(scope="module")
def module(dm: WSLDataModule) -> WSLModule:
    torch.manual_seed(0)
    return WSLModule(num_classes=dm.num_classes, class_names=dm.class_names, backbone="resnet18").eval()


def test_items_carry_pixels_only_when_asked(dm: WSLDataModule) -> None:
    dataset = dm.dataset("test")
    assert dataset.keep_pixels is False and "pixels" not in dataset[0]
    view = dataset.with_pixels()
    assert dataset.keep_pixels is False, "with_pixels is a view, the dataset itself is unchanged"
    for index, record in enumerate(view.records):
        item = view[index]
        pixels = item["pixels"]
        assert pixels.dtype == torch.uint8 and tuple(pixels.shape) == (*item["orig_size"], 3)
        np.testing.assert_array_equal(pixels.numpy(), read_image(record.image_path))
    assert "pixels" not in view.without_images()[0], "annotation-only items decode nothing"


def test_collate_keeps_the_pixels_of_each_image_in_a_list(dm: WSLDataModule) -> None:
    view = dm.dataset("test").with_pixels()
    batch = collate_wsl([view[0], view[1]])
    assert isinstance(batch["pixels"], list) and len(batch["pixels"]) == 2
    np.testing.assert_array_equal(batch["pixels"][1].numpy(), view[1]["pixels"].numpy())


@pytest.mark.parametrize("num_workers", [0, 1])
def test_carried_asks_the_dataset_behind_a_loader_and_restores_it(
    dm: WSLDataModule, num_workers: int
) -> None:
    dataset = dm.dataset("test")
    subset = Subset(dataset, [2, 0])
    loader = DataLoader(subset, batch_size=2, collate_fn=collate_wsl, num_workers=num_workers)
    originals = OriginalImages(loader.dataset)
    with originals.carried() as carried:
        assert carried is True and dataset.keep_pixels is True
        batch = next(iter(loader))
    assert dataset.keep_pixels is False
    assert "pixels" not in next(iter(loader))
    for k, index in enumerate([2, 0]):
        expected = read_image(dataset.records[index].image_path)
        np.testing.assert_array_equal(batch["pixels"][k].numpy(), expected)
        size = tuple(int(v) for v in batch["orig_size"][k])
        picture = originals(batch["image_id"][k], size, batch["image"][k], batch["pixels"][k])
        np.testing.assert_array_equal(picture, expected)


class _Plain(Dataset):
    """A dataset without records: items of a wsl dataset, re-served (no file behind them)."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.items[index]


def test_the_fallbacks_file_then_denormalised_input(dm: WSLDataModule) -> None:
    dataset = dm.dataset("test")
    item = dataset[1]
    size = tuple(item["orig_size"])
    from_file = OriginalImages(dataset)
    wrong = torch.zeros(size[0] + 1, size[1], 3, dtype=torch.uint8)  # a wrong size is passed over
    np.testing.assert_array_equal(
        from_file(item["image_id"], size, item["image"], wrong), read_image(dataset.records[1].image_path)
    )
    plain = OriginalImages(_Plain([item]))
    with plain.carried() as carried:
        assert carried is False
    picture = plain(item["image_id"], size, item["image"])
    assert picture.shape == (*size, 3) and picture.dtype == np.uint8
    if size == tuple(item["image"].shape[1:]):
        np.testing.assert_array_equal(picture, denormalize(item["image"]))


def _counting(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Count the decodes of image files: the dataset's and the originals' file fallback
    (``read_image``) both go through ``wsl.data.base.read_image_orientation``."""
    counts: Counter[str] = Counter()
    decode = data_base.read_image_orientation

    def counted(path: Any) -> Any:
        counts[Path(path).name] += 1
        return decode(path)

    monkeypatch.setattr(data_base, "read_image_orientation", counted)
    assert originals_module.read_image is data_base.read_image
    return counts


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_export_decodes_each_image_once_and_draws_the_same_pictures(
    dm: WSLDataModule, module: WSLModule, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = dm.dataset("test")
    counts = _counting(monkeypatch)
    export_cams(module, dm.dataloader("test"), tmp_path / "once", threshold=0.4, progress=False)
    names = [r.image_path.name for r in dataset.records]
    assert counts == Counter(names), "every image decoded exactly once"
    assert dataset.keep_pixels is False, "the dataset is left as it was"
    # the same items from a dataset that cannot carry pixels: each picture decodes its file again
    items = _Plain([dataset[i] for i in range(len(dataset))])
    items.records = dataset.records  # type: ignore[attr-defined]
    counts.clear()
    loader = DataLoader(items, batch_size=3, collate_fn=collate_wsl)
    export_cams(module, loader, tmp_path / "twice", threshold=0.4, progress=False)
    manifest = json.loads((tmp_path / "twice" / "cams.json").read_text())
    drawn = len({e["image_id"] for e in manifest["entries"]})
    assert drawn > 0 and sum(counts.values()) == drawn
    once, twice = _tree(tmp_path / "once"), _tree(tmp_path / "twice")
    assert sorted(once) == sorted(twice)
    assert [name for name in once if once[name] != twice[name]] == []
