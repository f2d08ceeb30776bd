"""Validation curves of the runs, the choice of each head's setting, and the convergence check.

A run's validation curve is read from the ``metrics.csv`` its CSV logger wrote (``RUN/logs/version_<n>``,
the newest version; a resumed run continues in a new version, so all versions are read in order and the
later one wins at an epoch): one point per validation epoch, ``val/<metric>`` against the epoch. A run
folder without logs is read from its own ``RUN/metrics.csv``: the layout of the run records kept in
``docs/benchmark_results`` (``results.json``, ``config.yaml``, ``metrics.csv``), so a benchmark resumed
from them keeps its curves and its grid choice.

- **Selection score** of a grid run: the last point of its curve of the selection metric (the schedule's
  end, where the tested ``last`` weights are).
- **Last-third gain**: ``v_last − max{v_e : e ≤ ⅔ · e_last}``, the improvement over the last third of the
  schedule. A run whose gain exceeds :data:`PLATEAU_TOLERANCE` (1 point) is flagged *still improving*:
  its schedule is too short for a fair comparison.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["PLATEAU_TOLERANCE", "choose_settings", "convergence", "last_third_gain", "val_curve"]

PLATEAU_TOLERANCE = 0.01


def _version(path: Path) -> int:
    suffix = path.name.removeprefix("version_")
    return int(suffix) if suffix.isdigit() else -1


def val_curve(run_dir: str | Path, metric: str) -> list[tuple[int, float]]:
    """``[(epoch, value), ...]`` of ``val/<metric>`` in the run's CSV logs (else its own ``metrics.csv``), by
    epoch (empty when absent).

    Example:
        >>> val_curve("no/such/run", "map")
        []
    """
    by_epoch: dict[int, float] = {}
    column = f"val/{metric}"
    versions = sorted(Path(run_dir, "logs").glob("version_*"), key=_version)
    paths = [v / "metrics.csv" for v in versions if (v / "metrics.csv").is_file()]
    for path in paths or [Path(run_dir, "metrics.csv")]:
        if not path.is_file():
            continue
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                value, epoch = row.get(column), row.get("epoch")
                if value not in (None, "") and epoch not in (None, ""):
                    by_epoch[int(float(epoch))] = float(value)
    return sorted(by_epoch.items())


def last_third_gain(curve: Sequence[tuple[int, float]]) -> float | None:
    """``v_last − max{v_e : e ≤ ⅔ e_last}`` (None with fewer than two points).

    Example:
        >>> round(last_third_gain([(4, 0.2), (9, 0.5), (14, 0.52)]), 3)
        0.02
    """
    if len(curve) < 2:
        return None
    last_epoch, last = curve[-1]
    early = [v for e, v in curve[:-1] if e <= 2 * last_epoch / 3] or [curve[0][1]]
    return last - max(early)


def choose_settings(
    candidates: Mapping[str, Sequence[Any]], metric: str
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Per entry, the grid setting whose run ends with the highest validation ``metric``.

    Args:
        candidates: entry name → its grid runs (:class:`~wsl.benchmark.BenchmarkRun`, all finished).
        metric: the selection metric (``maxboxacc`` → ``val/maxboxacc``).

    Returns:
        ``(chosen, table)``: entry name → the chosen kwargs; one row per grid run (``entry``, ``setting``,
        ``val`` score, ``chosen``). A tie keeps the first setting of the grid.

    Raises:
        ValueError: a grid run without any validation point of ``metric`` (it was trained without
            validation, or the metric is not logged).
    """
    chosen: dict[str, dict[str, Any]] = {}
    table: list[dict[str, Any]] = []
    for name, runs in candidates.items():
        scores = []
        for run in runs:
            curve = val_curve(run.run_dir, metric)
            if not curve:
                raise ValueError(
                    f"select_metric: run {run.run_dir} has no val/{metric} in its logs; the grid needs "
                    "validation (keep --trainer.check_val_every_n_epoch within the schedule) and a logged "
                    "metric (map, pointing_game, maxboxacc, maxboxacc_v2, pxap ...)"
                )
            scores.append(curve[-1][1])
        ranked = [-math.inf if math.isnan(s) else s for s in scores]
        best = max(range(len(runs)), key=lambda i: (ranked[i], -i))
        chosen[name] = dict(runs[best].pool_kwargs)
        for i, run in enumerate(runs):
            table.append(
                {"entry": name, "setting": run.setting or "default", "val": scores[i], "chosen": i == best}
            )
    return chosen, table


def convergence(rows: Sequence[dict[str, Any]], metric: str) -> dict[str, dict[str, Any]]:
    """Per trained entry of ``rows``, its validation curves of ``metric`` and whether they have flattened.

    Returns:
        ``entry`` → ``{"epochs", "mean"`` (the curve averaged over the runs, at the epochs every run has),
        ``"gain"`` (mean :func:`last_third_gain` over the runs), ``"still_improving"``
        (``gain > PLATEAU_TOLERANCE``), ``"runs"}``; entries without validation points are absent.
    """
    out: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(r["entry"] for r in rows if r.get("kind") == "train"):
        curves = [val_curve(r["run_dir"], metric) for r in rows if r["entry"] == name]
        curves = [c for c in curves if c]
        if not curves:
            continue
        common = sorted(set.intersection(*(set(dict(c)) for c in curves)))
        mean = [sum(dict(c)[e] for c in curves) / len(curves) for e in common]
        gains = [g for g in (last_third_gain(c) for c in curves) if g is not None]
        gain = sum(gains) / len(gains) if gains else None
        out[name] = {
            "epochs": common,
            "mean": mean,
            "gain": gain,
            "still_improving": gain is not None and gain > PLATEAU_TOLERANCE,
            "runs": len(curves),
        }
    return out
