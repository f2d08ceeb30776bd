"""The finished runs of a plan, read through :class:`wsl.runs.RunFolder`: rows and BoxAcc curves.

A run is finished when its ``results.json`` reads as a dict. Its training images per epoch come from its
``config.yaml``: the train split's size, cut by ``limit_train_batches`` as Lightning cuts it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from wsl.benchmark.plan import BenchmarkRun
from wsl.benchmark.stats import run_row

__all__ = ["collect_runs", "images_per_epoch"]

# The data settings that decide the train split's size.
_SPLIT_KEYS = ("data", "train_split", "class_names", "single_label", "cache_dir", "seed")


def images_per_epoch(config: dict[str, Any], split_sizes: dict[tuple, int]) -> int | None:
    """Training images per epoch of a run from its ``config.yaml`` (None when the config does not say).

    Args:
        config: the run's configuration (``data`` and ``trainer`` sections).
        split_sizes: cache of train split sizes by data settings, shared across runs (filled here).
    """
    data, trainer = config.get("data") or {}, config.get("trainer") or {}
    if "data" not in data or "batch_size" not in data:
        return None
    key = tuple(json.dumps(data.get(k), sort_keys=True) for k in _SPLIT_KEYS)
    if key not in split_sizes:
        from wsl.data import WSLDataModule

        module = WSLDataModule(num_workers=0, **{k: data[k] for k in _SPLIT_KEYS if data.get(k) is not None})
        split_sizes[key] = len(module.dataset(module.train_split, train=True, with_annotations=False))
    size, batch = split_sizes[key], int(data["batch_size"])
    batches = math.ceil(size / batch)
    limit = trainer.get("limit_train_batches")
    if isinstance(limit, float) and limit <= 1.0:
        batches = int(batches * limit)
    elif isinstance(limit, (int, float)):
        batches = min(batches, int(limit))
    return min(size, batches * batch)


def collect_runs(
    runs: Sequence[BenchmarkRun], split_sizes: dict[tuple, int]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The rows (:func:`wsl.benchmark.stats.run_row`) and ``test_curves`` of the finished runs.

    Returns:
        ``(rows, curves)``: rows in plan order; ``curves`` maps each row's ``run_dir`` to its curves.
    """
    rows, curves = [], {}
    for run in runs:
        results = run.folder.results()
        if results is None:
            continue
        row = run_row(run, results, images_per_epoch(run.folder.config() or {}, split_sizes))
        rows.append(row)
        curves[row["run_dir"]] = results.get("test_curves")
    return rows, curves
