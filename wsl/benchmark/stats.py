"""From runs to numbers: one flat row per run, mean ± sample std per pool, BoxAcc curves averaged per pool.

Pure functions on dicts (no files): std is the sample standard deviation (``n − 1``) over the seeds with
a finite value, None with one value. Train images/s = epochs × images per epoch / ``train_seconds``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

import numpy as np

from wsl.benchmark.plan import BenchmarkRun

__all__ = ["CURVES", "METRICS", "aggregate", "mean_curves", "present_metrics", "run_row"]

# (key, column title, unit): "%" fractions shown in percent, "s" seconds, "img/s" a rate.
METRICS: tuple[tuple[str, str, str], ...] = (
    ("map", "mAP", "%"),
    ("top1_acc", "Top-1 acc", "%"),
    ("pointing_game", "Pointing game", "%"),
    ("maxboxacc", "MaxBoxAcc", "%"),
    ("maxboxacc_v2", "MaxBoxAccV2", "%"),
    ("pxap", "PxAP", "%"),
    ("top1_loc", "Top-1 Loc", "%"),
    ("train_seconds", "train time (s)", "s"),
    ("train_images_per_s", "train img/s", "img/s"),
)
# (key in results.json's test_curves, panel title).
CURVES = (
    ("maxboxacc", "MaxBoxAcc curve (IoU 50, largest contour)"),
    ("maxboxacc_v2_30", "all contours, IoU 30"),
    ("maxboxacc_v2_50", "all contours, IoU 50"),
    ("maxboxacc_v2_70", "all contours, IoU 70"),
)


def run_row(run: BenchmarkRun, results: dict[str, Any], images_per_epoch: int | None) -> dict[str, Any]:
    """One flat row (CSV) from a run's ``results.json``: identity, timing, and the test fractions."""
    seconds = results.get("train_seconds")
    epochs = results.get("epochs")
    images = epochs * images_per_epoch if images_per_epoch is not None and epochs is not None else None
    rate = images / seconds if images is not None and seconds else None
    row: dict[str, Any] = {
        "pool": run.pool,
        "seed": run.seed,
        "run_dir": str(run.run_dir),
        "data": results.get("data"),
        "backbone": results.get("backbone"),
        "epochs": epochs,
        "global_step": results.get("global_step"),
        "train_seconds": seconds,
        "train_images": images,
        "train_images_per_s": round(rate, 2) if rate is not None else None,
        "checkpoint": results.get("checkpoint"),
    }
    row.update(results.get("test") or {})
    return row


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def aggregate(rows: Sequence[dict[str, Any]], metrics: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Mean and sample std over seeds, per pool (pools in order of first appearance).

    Args:
        rows: flat run rows (see :func:`run_row`), each with ``pool`` and ``seed``.
        metrics: keys to aggregate; default: every key of :data:`METRICS`.

    Returns:
        One dict per pool: ``pool``, ``runs`` (number of rows), ``seeds`` and, per metric with at least one
        finite value, ``{"mean", "std", "n"}`` under ``metrics[key]``; ``std`` is None when ``n < 2``.

    Example:
        >>> rows = [{"pool": "gap", "seed": 0, "map": 0.5}, {"pool": "gap", "seed": 1, "map": 0.7}]
        >>> stat = aggregate(rows)[0]["metrics"]["map"]
        >>> round(stat["mean"], 3), round(stat["std"], 3), stat["n"]
        (0.6, 0.141, 2)
    """
    keys = list(metrics) if metrics is not None else [k for k, _, _ in METRICS]
    summary = []
    for pool in dict.fromkeys(r["pool"] for r in rows):
        mine = [r for r in rows if r["pool"] == pool]
        entry: dict[str, Any] = {"pool": pool, "runs": len(mine), "seeds": [r["seed"] for r in mine]}
        stats = {}
        for key in keys:
            values = [float(r[key]) for r in mine if _finite(r.get(key))]
            if values:
                std = statistics.stdev(values) if len(values) > 1 else None
                stats[key] = {"mean": statistics.fmean(values), "std": std, "n": len(values)}
        entry["metrics"] = stats
        summary.append(entry)
    return summary


def present_metrics(summary: Sequence[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """The :data:`METRICS` that have a value for some pool (so mAP or top-1 acc, PxAP only with masks)."""
    return [m for m in METRICS if any(m[0] in e["metrics"] for e in summary)]


def mean_curves(curves: dict[str, dict[str, Any]], rows: Sequence[dict[str, Any]]) -> dict[str, dict]:
    """Per pool, the BoxAcc curves averaged over its runs (runs with another threshold grid are left out).

    Args:
        curves: ``run_dir`` → that run's ``test_curves`` (``thresholds`` and the :data:`CURVES` keys).
        rows: the run rows, for the pool of each ``run_dir``.

    Returns:
        ``pool`` → ``{"thresholds", "runs", <curve key>: mean curve}``; pools without curves are absent.
    """
    out: dict[str, dict] = {}
    for pool in dict.fromkeys(r["pool"] for r in rows):
        runs = [curves[r["run_dir"]] for r in rows if r["pool"] == pool and curves.get(r["run_dir"])]
        if not runs:
            continue
        grid = runs[0]["thresholds"]
        same = [c for c in runs if c.get("thresholds") == grid]
        entry = {"thresholds": grid, "runs": len(same)}
        for key, _ in CURVES:
            if all(key in c for c in same):
                entry[key] = np.mean([c[key] for c in same], axis=0).tolist()
        out[pool] = entry
    return out
