"""Helpers of the reliability suite."""

from __future__ import annotations

from pathlib import Path


def tiny_args(root: Path, run_dir: Path, *extra: str) -> list[str]:
    """A tiny, deterministic ``tools/train.py`` run on a VOC-layout root (CPU, fp32, no workers)."""
    return [
        "--dataset", f"voc:{root}",
        "--data.image_size", "64",
        "--data.batch_size", "4",
        "--data.num_workers", "0",
        "--trainer.accelerator", "cpu",
        "--trainer.precision", "32-true",
        "--trainer.max_epochs", "1",
        "--trainer.limit_train_batches", "2",
        "--trainer.limit_val_batches", "1",
        "--trainer.check_val_every_n_epoch", "1",
        "--trainer.enable_progress_bar", "false",
        "--run_dir", str(run_dir),
        *extra,
    ]  # fmt: skip
