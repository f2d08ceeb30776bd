"""The in-memory training set: the same items as the per-image path, and when the data module uses it."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
import torch

from wsl.data import WSLDataModule, collate_wsl
from wsl.data.memory import CachedTrainSet, ResizeToUint8, cache_bytes
from wsl.data.transforms import _resize


def _module(root: Path, **kwargs) -> WSLDataModule:
    return WSLDataModule(data=f"voc:{root}", image_size=64, batch_size=4, num_workers=0, **kwargs)


def test_cached_items_equal_the_per_image_items(synthetic_voc_root: Path, caplog, capsys) -> None:
    """At the images' own size the cache stores the decoded pixels, so with the same random draws every
    training item is bit-identical to the per-image (decode + transform) item. Building it logs one line
    (not printed)."""
    dm = _module(synthetic_voc_root)
    per_image = dm.dataset("train", train=True, with_annotations=False)
    caplog.set_level(logging.INFO, logger="wsl")
    cached = CachedTrainSet(dm._uint8_split("train", 64), per_image.transform, 64)
    [record] = [r for r in caplog.records if r.name == "wsl.data.memory"]
    assert re.fullmatch(r"cached 12 training images in memory \(0 MiB, \d+\.\d s\)", record.getMessage())
    assert record.levelno == logging.INFO and capsys.readouterr() == ("", "")
    assert len(cached) == len(per_image) == 12
    for i in (0, 5, 11):
        torch.manual_seed(i)
        want = per_image[i]
        torch.manual_seed(i)
        got = cached[i]
        assert torch.equal(got["image"], want["image"])
        assert torch.equal(got["labels"], want["labels"])
        assert got["image_id"] == want["image_id"] and tuple(got["orig_size"]) == tuple(want["orig_size"])
    batch = collate_wsl([cached[i] for i in range(4)])
    assert batch["image"].shape == (4, 3, 64, 64) and batch["image"].dtype == torch.float32


def test_resize_to_uint8_rounds_the_float_resize() -> None:
    image = torch.randint(0, 256, (3, 50, 70), dtype=torch.uint8)
    out = ResizeToUint8(32)(image)
    assert out.dtype == torch.uint8 and out.shape == (3, 32, 32)
    exact = _resize(image.float(), 32)
    assert (out.float() - exact).abs().max() <= 0.5 + 1e-4
    square = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    assert ResizeToUint8(32)(square) is square  # already S x S: the decoded pixels themselves


def test_cache_refuses_items_that_are_not_resized(synthetic_voc_root: Path) -> None:
    dm = _module(synthetic_voc_root)
    with pytest.raises(ValueError, match=r"ResizeToUint8\(64\)"):
        CachedTrainSet(dm.dataset("train", train=True, with_annotations=False), lambda x: x, 64)


def test_cache_bytes() -> None:
    assert cache_bytes(3000, 128) == 3000 * 3 * 128 * 128


def test_datamodule_uses_the_cache_on_the_cpu_when_it_fits(
    synthetic_voc_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dm = _module(synthetic_voc_root)
    loader = dm.train_dataloader()
    assert isinstance(loader.dataset, CachedTrainSet) and loader.num_workers == 0
    assert next(iter(loader))["image"].shape == (4, 3, 64, 64)
    assert dm.train_dataloader().dataset is loader.dataset  # built once per data module
    # Too big for the limit: the per-image path with the asked workers.
    monkeypatch.setattr("wsl.data.datamodule.CACHE_LIMIT_BYTES", cache_bytes(11, 64))
    assert not isinstance(_module(synthetic_voc_root).train_dataloader().dataset, CachedTrainSet)
    # Explicit choices win over the limit.
    on = _module(synthetic_voc_root, cache_images=True).train_dataloader()
    assert isinstance(on.dataset, CachedTrainSet)
    off = _module(synthetic_voc_root, cache_images=False).train_dataloader()
    assert not isinstance(off.dataset, CachedTrainSet)


def test_wsol_preset_is_cached_at_its_resize_side(synthetic_voc_root: Path) -> None:
    """The ``wsol`` preset resizes to R = S·256/224 and then crops S: the cache stores R × R images, so
    the crop is cut from pixels resized once from the original, as in the per-image path."""
    dm = _module(synthetic_voc_root, augment="wsol", cache_images=True)
    loader = dm.train_dataloader()
    assert loader.dataset.images.shape[-2:] == (73, 73)  # round(64 * 256 / 224)
    torch.manual_seed(3)
    want = dm.dataset("train", train=True, with_annotations=False)[2]["image"]
    torch.manual_seed(3)
    got = loader.dataset[2]["image"]
    assert got.shape == (3, 64, 64)
    # One rounding to uint8 at R x R is the only difference: at most half a grey level after normalising.
    assert (got - want).abs().max() <= 0.5 / 255 / 0.224 + 1e-5
