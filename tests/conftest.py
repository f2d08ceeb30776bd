"""Shared tiny fixtures: a synthetic VOC set, a synthetic COCO set (12/4/4 images at 64 px), a DataModule."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

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


@pytest.fixture
def cpu_fit() -> Callable[..., Any]:
    """``cpu_fit(module, batches, **trainer_options) -> Trainer``: ``Trainer.fit`` of ``module`` on ready-made
    ``batches`` (one a step: ``DataLoader(batches, batch_size=None)``) on the CPU, with no logger, checkpoint,
    progress bar, model summary or validation; ``trainer_options`` (``max_steps``, ``max_epochs``,
    ``callbacks`` ...) add to these. Returns the fitted trainer."""
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader

    def fit(module: Any, batches: list, **trainer_options: Any) -> pl.Trainer:
        trainer = pl.Trainer(
            accelerator="cpu",
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            limit_val_batches=0,
            **trainer_options,
        )
        trainer.fit(module, train_dataloaders=DataLoader(batches, batch_size=None))
        return trainer

    return fit
