"""The tiny ``tools/train.py`` run that the CLI, benchmark and reliability tests share."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from pytorch_lightning import Callback

# Trainer and data flags of a run that takes seconds: 64 px, 2 train batches of 4, 1 val batch.
TINY_TRAIN = [
    "--data.image_size", "64",
    "--data.batch_size", "4",
    "--data.num_workers", "0",
    "--trainer.max_epochs", "1",
    "--trainer.limit_train_batches", "2",
    "--trainer.limit_val_batches", "1",
    "--trainer.check_val_every_n_epoch", "1",
    "--trainer.enable_progress_bar", "false",
]  # fmt: skip

# Pins what `auto` would choose per machine, for bit-reproducible runs.
CPU_FP32 = ["--trainer.accelerator", "cpu", "--trainer.precision", "32-true"]


def tiny_args(root: Path, run_dir: Path, *extra: str) -> list[str]:
    """``tools/train.py`` arguments for the tiny run on a VOC-layout ``root``, writing to ``run_dir``."""
    return ["--dataset", f"voc:{root}", *TINY_TRAIN, "--run_dir", str(run_dir), *extra]


def reproducible_tiny_args(root: Path, run_dir: Path, *extra: str) -> list[str]:
    """:func:`tiny_args` pinned to the CPU in fp32, so that runs compare bit for bit."""
    return tiny_args(root, run_dir, *CPU_FP32, *extra)


class SigtermAtStep(Callback):
    """Sends this process SIGTERM after training step ``step``, as a scheduler's pre-emption would.

    Lightning notes the signal and stops at the batch boundary, where ``SaveOnSigterm`` writes
    ``last.ckpt``; in-process, ``train`` then raises ``SIGTERMException``. Pass it as
    ``--trainer.callbacks '[{"class_path": "tiny_training.SigtermAtStep", "init_args": {"step": K}}]'``.
    """

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGTERM)


def sigterm_at(step: int) -> list[str]:
    """``tools/train.py`` arguments that add :class:`SigtermAtStep` at ``step``."""
    spec = [{"class_path": "tiny_training.SigtermAtStep", "init_args": {"step": step}}]
    return ["--trainer.callbacks", json.dumps(spec)]
