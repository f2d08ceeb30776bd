"""Which weights a finished run's test scored, from its records: the final ones or an earlier ``last.ckpt``.

Up to Lightning 2.6.6, ``wsl.cli`` checkpointed with ``ModelCheckpoint(monitor=M, mode="max",
save_top_k=1, save_last=True)`` and the default triggers (``every_n_epochs=1``, no step or time trigger).
``pytorch_lightning/callbacks/model_checkpoint.py`` (2.6.6) then writes checkpoints only at the end of a
validation (``on_validation_end``; ``on_train_epoch_end`` only when ``check_val_every_n_epoch == 1`` and
there is no validation at all):

1. ``best.ckpt`` is written when ``check_monitor_top_k`` holds: no best yet (the first validation; a NaN
   score is then stored as −inf), or ``torch.gt(score, best)``, a *strict* improvement (a tie or NaN is
   not one).
2. ``last.ckpt`` is written right after, and only when step 1 wrote at this global step
   (``self._last_global_step_saved == trainer.global_step``).
3. ``on_train_end`` writes ``last.ckpt`` only when no checkpoint was written at all.

So with validation, ``last.ckpt`` holds the weights of the **last validation that strictly improved the
monitored score**, not the final weights. A validation row of the CSV logger at ``step s`` was run at
``global_step = s + 1`` (the logger writes the index of the last optimizer step), which is the
``global_step`` stored in the checkpoint saved there. The test tiny-trains with that callback to check the
rule against the ``global_step`` inside ``last.ckpt``.

:func:`which_tested` applies the rule to one run folder (``results.json``, and ``metrics.csv`` or the
CSV logs), :func:`check_tested` to every run of a benchmark folder, :func:`format_tested` writes the table.
A post-hoc run scored its source run's checkpoint, so it shares the source's answer.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wsl.runs import RunFolder

__all__ = ["check_tested", "format_tested", "last_improvement", "which_tested", "val_points"]


def _version(path: Path) -> int:
    suffix = path.name.removeprefix("version_")
    return int(suffix) if suffix.isdigit() else -1


def val_points(run_dir: str | os.PathLike[str], monitor: str) -> list[tuple[int, int, float]]:
    """``[(epoch, global_step, value), ...]`` of the validations of a run, in order, for column ``monitor``.

    Read from ``RUN/logs/version_*/metrics.csv`` (all versions, in order) or else ``RUN/metrics.csv``;
    ``global_step`` is the CSV's ``step`` + 1, the step the validation ran at (see the module docstring).

    Example:
        >>> val_points("no/such/run", "val/map")
        []
    """
    versions = sorted(Path(run_dir, "logs").glob("version_*"), key=_version)
    paths = [v / "metrics.csv" for v in versions if (v / "metrics.csv").is_file()]
    points: list[tuple[int, int, float]] = []
    for path in paths or [Path(run_dir, "metrics.csv")]:
        if not path.is_file():
            continue
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                value, epoch, step = row.get(monitor), row.get("epoch"), row.get("step")
                if value not in (None, "") and epoch not in (None, "") and step not in (None, ""):
                    points.append((int(float(epoch)), int(float(step)) + 1, float(value)))
    return points


def last_improvement(points: Sequence[tuple[int, int, float]]) -> tuple[int, int] | None:
    """``(epoch, global_step)`` of the last validation whose score was the first or strictly above every
    earlier one (a NaN never is, except as the first, counted as −inf); None without validations.

    Example:
        >>> last_improvement([(0, 3, 0.5), (1, 6, 0.7), (2, 9, 0.7)])
        (1, 6)
    """
    best: float | None = None
    found = None
    for epoch, step, value in points:
        if best is None or value > best:  # NaN > x is False, as torch.gt
            best = -math.inf if math.isnan(value) else value
            found = (epoch, step)
    return found


def _value_at(points: Sequence[tuple[int, int, float]], step: int | None) -> float | None:
    return next((v for _, s, v in points if s == step), None)


def which_tested(run_dir: str | os.PathLike[str], metric: str = "val/maxboxacc") -> dict[str, Any]:
    """Whether the test of a finished run scored its final weights, by the rule of the module docstring.

    Args:
        run_dir: a run folder with ``results.json`` (and its CSV logs or ``metrics.csv``). A post-hoc run
            is answered by its source run, found by folder name beside it (the records may have moved).
        metric: another logged validation score shown at the final and the tested step (the size of the
            difference for localization).

    Returns:
        ``run``, ``select`` (``checkpoint_select``), ``monitor``, ``final_step`` (``global_step`` at the end
        of training), ``tested_step`` (``global_step`` of the tested weights), ``final_epoch`` and
        ``tested_epoch`` (epochs done, 1-based), ``val_final`` and ``val_tested`` (the monitored score at
        the last validation and at the tested one), ``metric``, ``metric_final`` and ``metric_tested`` (the
        same for ``metric``), ``affected`` (True: the test scored earlier weights than
        the final ones; None: not decidable, see ``note``) and ``note``.

    Raises:
        ValueError: ``run_dir`` has no readable ``results.json``.
    """
    folder = RunFolder(Path(run_dir))
    results = folder.results()
    if results is None:
        raise ValueError(
            f"run_dir: {str(run_dir)!r} has no readable results.json; pass a finished run folder"
        )
    row: dict[str, Any] = {
        "run": folder.root.name,
        "select": results.get("checkpoint_select"),
        "monitor": results.get("checkpoint_monitor"),
        "final_step": results.get("global_step"),
        "tested_step": None,
        "final_epoch": results.get("epochs"),
        "tested_epoch": None,
        "val_final": None,
        "val_tested": None,
        "metric": metric,
        "metric_final": None,
        "metric_tested": None,
        "affected": None,
        "note": "",
    }
    kind = results.get("kind")
    if kind == "center":
        return {**row, "affected": False, "note": "no network: nothing tested from a checkpoint"}
    if kind == "posthoc":
        source_name = Path(str(results.get("source_run") or "")).name
        source = folder.root.parent / source_name
        if not source_name or not source.is_dir():
            return {**row, "note": f"source run {source_name or '?'} not found beside it"}
        answer = which_tested(source, metric)
        return {**answer, "run": row["run"], "note": f"scored {source_name}'s checkpoint"}
    monitor = row["monitor"]
    points = val_points(folder.root, monitor) if monitor else []
    if not monitor:
        return {**row, "note": "no checkpoint_monitor in results.json"}
    if row["final_step"] is None:
        return {**row, "note": "no global_step in results.json"}
    if not points:
        # Without validation nothing was saved before on_train_end, which writes the final weights.
        note = f"no {monitor} in the logs: last.ckpt written at the end of training"
        final = {"tested_step": row["final_step"], "tested_epoch": row["final_epoch"]}
        return {**row, **final, "affected": False, "note": note}
    epoch, step = last_improvement(points) or points[-1][:2]
    others = val_points(folder.root, metric)
    tested = {
        "metric_final": others[-1][2] if others else None,
        "metric_tested": _value_at(others, step),
        "tested_step": step,
        "tested_epoch": epoch + 1,
        "val_final": points[-1][2],
        "val_tested": _value_at(points, step),
    }
    if row["select"] == "best":
        return {**row, **tested, "affected": False, "note": "best.ckpt chosen on purpose"}
    return {**row, **tested, "affected": step != row["final_step"]}


def check_tested(folder: str | os.PathLike[str], metric: str = "val/maxboxacc") -> list[dict[str, Any]]:
    """:func:`which_tested` of every finished run of a benchmark folder (``FOLDER/runs/*``, or the run
    folders directly in ``FOLDER``), by run name, each with ``reported``: whether the benchmark's
    ``FOLDER/results.json`` lists the run in its table (None without one; grid runs of settings that were
    not chosen, and runs at a schedule another one replaced, are not reported).

    Raises:
        ValueError: ``folder`` holds no run folder with a ``results.json``.
    """
    root = Path(folder)
    runs_root = root / "runs" if (root / "runs").is_dir() else root
    found = runs_root.iterdir() if runs_root.is_dir() else iter(())
    runs = sorted(p for p in found if (p / "results.json").is_file())
    if not runs:
        raise ValueError(
            f"folder: {str(folder)!r} has no run folders with a results.json (looked in {str(runs_root)!r}); "
            "pass a benchmark --out folder or its runs/ folder"
        )
    summary = RunFolder(root).results() or {}
    reported = {Path(str(r.get("run_dir"))).name for r in summary.get("runs") or [] if isinstance(r, dict)}
    rows = [which_tested(run, metric) for run in runs]
    return [{**row, "reported": row["run"] in reported if reported else None} for row in rows]


def _cell(value: Any, percent: bool = False) -> str:
    if value is None:
        return "–"
    if percent:
        return f"{100 * value:.1f}"
    return str(value)


def format_tested(rows: Sequence[dict[str, Any]]) -> str:
    """The Markdown table of :func:`check_tested`: run, final and tested step (epoch), affected, and the
    monitored val score and the other ``metric`` at both, in percent."""
    metric = next((r["metric"] for r in rows), "val/maxboxacc")
    monitor = next((r["monitor"] for r in rows if r["monitor"]), "monitor")
    lines = [
        "| run | in the table | final step (epoch) | tested step (epoch) | affected | "
        f"{monitor} final / tested | {metric} final / tested | note |",
        "|---|:---:|---:|---:|:---:|---:|---:|---|",
    ]
    for row in rows:
        affected = {True: "**yes**", False: "no", None: "?"}[row["affected"]]
        final = f"{_cell(row['final_step'])} ({_cell(row['final_epoch'])})"
        tested = f"{_cell(row['tested_step'])} ({_cell(row['tested_epoch'])})"
        scores = f"{_cell(row['val_final'], True)} / {_cell(row['val_tested'], True)}"
        other = f"{_cell(row['metric_final'], True)} / {_cell(row['metric_tested'], True)}"
        reported = {True: "yes", False: "no", None: "–"}[row.get("reported")]
        cells = [row["run"], reported, final, tested, affected, scores, other, row["note"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
