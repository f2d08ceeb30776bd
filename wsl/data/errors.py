"""Dataset errors and the bookkeeping for ``skip_bad``."""

from __future__ import annotations

import warnings
from pathlib import Path

__all__ = ["DatasetError", "BadSamples", "dataset_error"]


class DatasetError(ValueError):
    """A dataset file is missing, unreadable or inconsistent.

    The message always names the file, the field and how to fix it, e.g.
    ``"/data/VOC/Annotations/0001.xml: object[2]/bndbox: xmax=3 < xmin=10. Fix: ..."``.
    """


def dataset_error(path: str | Path, field: str, problem: str, fix: str) -> DatasetError:
    """Build a :class:`DatasetError` with the house message layout ``FILE: FIELD: PROBLEM. Fix: FIX``."""
    return DatasetError(f"{path}: {field}: {problem}. Fix: {fix}")


class BadSamples:
    """Collects skipped samples (``skip_bad=True``) or raises at the first one.

    Args:
        skip_bad: when False, :meth:`add` raises the error it is given; when True it records it.
        what: a short name of the dataset for the warning (e.g. ``"VOCDataset(/data/VOC, train)"``).
    """

    def __init__(self, skip_bad: bool, what: str) -> None:
        self.skip_bad = skip_bad
        self.what = what
        self.errors: list[DatasetError] = []

    def add(self, error: DatasetError) -> None:
        """Record ``error`` (skip_bad) or raise it."""
        if not self.skip_bad:
            raise error
        self.errors.append(error)

    def __len__(self) -> int:
        return len(self.errors)

    def warn(self) -> None:
        """Emit one warning that counts the skipped samples (nothing when none were skipped)."""
        if self.errors:
            warnings.warn(
                f"{self.what}: skipped {len(self.errors)} bad sample(s) (skip_bad=True); "
                f"first: {self.errors[0]}",
                UserWarning,
                stacklevel=3,
            )
