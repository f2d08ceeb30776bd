"""What a checkpoint job reads: a trained run and a data split (the options of ``tools/export_cams.py``).

:class:`CheckpointData` gathers the settings every job that loads a checkpoint and reads a split takes
(checkpoint, data spec, split, image size, loader settings, device, the dataset's classes), checks them
before anything is loaded, and loads the model and the loader the one way
(:meth:`wsl.trained.TrainedModel.load`, :meth:`wsl.trained.TrainedModel.datamodule`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from wsl.trained import TrainedModel, parse_class_names

__all__ = ["CheckpointData", "check_int"]

log = logging.getLogger(__name__)


def check_int(name: str, value: Any, least: int) -> None:
    """Raise ``ValueError`` unless ``value`` is an int (not a bool) ``>= least``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{name} must be an int >= {least}; got {value!r}")


@dataclass(frozen=True)
class CheckpointData:
    """A checkpoint and the data split a job runs it on.

    Attributes:
        ckpt: ``.ckpt`` written by ``tools/train.py`` (or a ``save_pretrained`` folder, or a
            :class:`~wsl.trained.TrainedModel` already built, e.g. a classifier's).
        data: data spec (``synthetic``, ``voc:PATH``, ``coco:PATH`` …); None: the data the checkpoint was
            trained on (:meth:`wsl.trained.TrainedModel.data_spec`, which refuses where it is not recorded).
        split: split name (``test``, ``val`` …).
        image_size: network input side; None: :meth:`wsl.runs.RunFolder.training_image_size`.
        batch_size, num_workers: loader settings.
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (:func:`wsl.runs.resolve_device`).
        skip_bad: skip unreadable images with one warning instead of failing.
        class_names: the dataset's classes (:func:`wsl.trained.parse_class_names`: a list, ``"a,b,c"`` or a
            file), for a folder that does not declare them or declares others (which must be the model's,
            in any order); None: the dataset's own declaration.

    Raises:
        ValueError: ``image_size``, ``batch_size`` or ``num_workers`` out of range.
    """

    ckpt: str | os.PathLike[str] | TrainedModel
    data: str | None = None
    split: str = "test"
    image_size: int | None = None
    batch_size: int = 32
    num_workers: int = 2
    device: str = "auto"
    skip_bad: bool = False
    class_names: str | Sequence[str] | None = None

    def __post_init__(self) -> None:
        check_int("batch_size", self.batch_size, 1)
        check_int("num_workers", self.num_workers, 0)
        if self.image_size is not None:
            check_int("image_size", self.image_size, 1)

    def load(self, threshold: float | str | None = None, limit: int | None = None) -> tuple[Any, Any]:
        """The trained model (:class:`wsl.trained.TrainedModel`, its notes logged) and the split's loader.

        Args:
            threshold: ``"best"``, a number in [0, 1), or None (not needed).
            limit: the loader's first ``limit`` images (None: all).
        """
        names = parse_class_names(self.class_names) if self.class_names is not None else None
        source = self.ckpt if isinstance(self.ckpt, TrainedModel) else os.fspath(self.ckpt)
        model = TrainedModel.load(source, device=self.device, image_size=self.image_size, threshold=threshold)
        spec, data_note = model.data_spec(self.data)
        for note in [*model.notes, data_note] if data_note else model.notes:
            log.info(note)
        dm = model.datamodule(
            spec,
            names,
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            test_split=self.split,
            skip_bad=self.skip_bad,
        )
        return model, dm.dataloader(self.split, limit=limit)

    def summary(self, model: Any) -> dict[str, Any]:
        """``ckpt``, ``data``, ``split``, ``image_size``, ``device`` of a job's summary."""
        return {
            "ckpt": str(self.ckpt) if isinstance(self.ckpt, (str, os.PathLike)) else model.source,
            "data": model.data_spec(self.data)[0],
            "split": self.split,
            "image_size": model.image_size,
            "device": str(model.device),
        }
