"""Shared tiny fixtures: a synthetic VOC set, a synthetic COCO set (12/4/4 images at 64 px), a DataModule."""

from __future__ import annotations

from pathlib import Path

import pytest

from wsl.data import WSLDataModule, make_synthetic

TINY_SYNTHETIC = {"num_train": 12, "num_val": 4, "num_test": 4, "image_size": 64}


@pytest.fixture(scope="session")
def synthetic_voc_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Root of a tiny synthetic set in the VOC layout (easy preset, seed 0, 12/4/4 images, 64 px)."""
    return make_synthetic(
        tmp_path_factory.mktemp("synthetic_voc"), "voc", seed=0, progress=False, **TINY_SYNTHETIC
    )


@pytest.fixture(scope="session")
def synthetic_coco_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Root of the same tiny synthetic set in the COCO layout (category ids 1, 3, 5, ...)."""
    return make_synthetic(
        tmp_path_factory.mktemp("synthetic_coco"), "coco", seed=0, progress=False, **TINY_SYNTHETIC
    )


@pytest.fixture
def tiny_datamodule(synthetic_voc_root: Path) -> WSLDataModule:
    """A ``WSLDataModule`` on the tiny VOC set: batch_size 4, num_workers 0, image_size 64."""
    return WSLDataModule(data=f"voc:{synthetic_voc_root}", image_size=64, batch_size=4, num_workers=0)
