"""The benchmark's tables: ``results.csv`` (one row per test run), ``results.json`` and ``results.md``.

``results.md`` has three tables: the comparison (mean ± std over seeds per entry, scores in percent, the
chosen setting, and the validation gain over the last third of the schedule, ``†`` when the entry is still
improving), the differences to the best entry (best − entry in points, with the paired test's p-value;
``*`` marks p < 0.05, a difference larger than the seed spread), the grid on val, and, for the entries
given a schedule of their own, that schedule against the shared one (own − shared, paired by seed).

The tables have their own cell formatter rather than :func:`wsl.metrics.format_table`: cells are
mean ± std over seeds (not one value), and the timing columns are seconds and images/s, which must not be
scaled to percent as ``format_table`` scales every cell.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wsl.benchmark.columns import titles
from wsl.benchmark.paths import portable_path, resolve_path
from wsl.benchmark.stats import present_metrics
from wsl.runs import RunFolder, write_json, write_text

__all__ = [
    "csv_text",
    "format_cell",
    "format_comparison",
    "format_grid",
    "format_markdown",
    "format_schedule_check",
    "portable_tables",
    "read_tables",
    "write_tables",
]


def format_cell(stat: dict[str, Any] | None, unit: str) -> str:
    """``"60.0 ± 10.0"`` from ``{"mean", "std"}``: percent for unit ``%``, as is otherwise; ``–`` if None.

    Example:
        >>> format_cell({"mean": 0.6, "std": 0.1}, "%"), format_cell({"mean": 12.0, "std": None}, "s")
        ('60.0 ± 10.0', '12.0')
    """
    if stat is None:
        return "–"
    scale = 100.0 if unit == "%" else 1.0
    text = f"{scale * stat['mean']:.1f}"
    if stat["std"] is not None:
        text += f" ± {scale * stat['std']:.1f}"
    return text


def _gain_cell(info: dict[str, Any] | None) -> str:
    if not info or info.get("gain") is None:
        return "–"
    return f"{100 * info['gain']:+.1f}" + (" †" if info["still_improving"] else "")


def format_markdown(
    summary: Sequence[dict[str, Any]], convergence: dict[str, dict[str, Any]] | None = None
) -> str:
    """The comparison table of :func:`wsl.benchmark.aggregate`'s summary: mean ± std, scores in percent,
    and (with ``convergence``, :func:`wsl.benchmark.selection.convergence`) the last-third val gain."""
    columns = present_metrics(summary)
    gains = convergence is not None
    head = "| entry | setting | runs | " + " | ".join(title for _, title, _ in columns)
    lines = [
        head + (" | val gain, last third |" if gains else " |"),
        "|---|---|---:|" + "---:|" * (len(columns) + gains),
    ]
    for entry in summary:
        cells = [format_cell(entry["metrics"].get(key), unit) for key, _, unit in columns]
        if gains:
            cells.append(_gain_cell((convergence or {}).get(entry["entry"])))
        setting = entry.get("setting") or "–"
        lines.append(f"| {entry['entry']} | {setting} | {entry['runs']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _test_cell(test: dict[str, Any] | None) -> str:
    if test is None:
        return "–"
    return f"{100 * test['diff']:+.1f} ({test['p']:.3f})" + ("*" if test["p"] < 0.05 else "")


def format_schedule_check(checks: Sequence[dict[str, Any]]) -> str:
    """Own schedule − shared schedule in points per score, with the paired test's p; "" without checks."""
    names = titles()
    keys = [k for k in names if any(c.get(k) for c in checks)]
    if not keys:
        return ""
    lines = [
        "| entry | epochs: own vs shared | " + " | ".join(f"Δ {names[k]} (p)" for k in keys) + " |",
        "|---|---|" + "---:|" * len(keys),
    ]
    for check in checks:
        cells = " | ".join(_test_cell(check.get(k)) for k in keys)
        lines.append(f"| {check['entry']} | {check['epochs']} vs {check['shared_epochs']} | {cells} |")
    return "\n".join(lines)


def format_comparison(comparison: dict[str, Any]) -> str:
    """Best − entry in points per score, with the paired test's p (``*``: p < 0.05); "" without a best."""
    others = comparison.get("others") or []
    if comparison.get("best") is None or not others:
        return ""
    names = titles()
    keys = [k for k in names if any(o.get(k) for o in others)]
    if not keys:  # e.g. one seed per entry: nothing to pair
        return f"No paired test against {comparison['best']}: the entries share fewer than two seeds."
    lines = [
        f"| {comparison['best']} − entry | " + " | ".join(f"Δ {names[k]} (p)" for k in keys) + " |",
        "|---|" + "---:|" * len(keys),
    ]
    for other in others:
        cells = [_test_cell(other.get(key)) for key in keys]
        lines.append(f"| {other['entry']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_grid(grid: Sequence[dict[str, Any]], metric: str) -> str:
    """The grid on val: one line per setting, its final val score in percent, the chosen one marked."""
    if not grid:
        return ""
    title = titles().get(metric, metric)
    lines = [f"| entry | setting | val {title} (final) | chosen |", "|---|---|---:|:---:|"]
    for row in grid:
        lines.append(
            f"| {row['entry']} | {row['setting']} | {100 * row['val']:.1f} | {'✓' if row['chosen'] else ''} |"
        )
    return "\n".join(lines)


def csv_text(rows: Sequence[dict[str, Any]]) -> str:
    """CSV of the run rows; the columns are every key, in order of first appearance."""
    fields = list(dict.fromkeys(k for r in rows for k in r))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def portable_tables(
    rows: Sequence[dict[str, Any]], curves: dict[str, Any], out: str | os.PathLike[str]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``rows`` and ``curves`` with each ``run_dir``, ``checkpoint`` and curve key under ``out`` made relative
    to it (:func:`wsl.benchmark.paths.portable_path`), as the tables store them."""
    portable_rows = [
        {**r, **{k: portable_path(r[k], out) for k in ("run_dir", "checkpoint") if r.get(k) is not None}}
        for r in rows
    ]
    return portable_rows, {str(portable_path(k, out)): v for k, v in (curves or {}).items()}


def read_tables(out: str | os.PathLike[str]) -> dict[str, Any]:
    """``OUT/results.json`` with its ``runs``' ``run_dir`` and ``checkpoint`` and its ``curves`` keys as paths
    on this machine: relative ones (written since 2026-12-07) under ``out``, absolute ones (before) as they
    are (:func:`wsl.benchmark.paths.resolve_path`).

    Raises:
        ValueError: ``out`` has no readable ``results.json``.
    """
    payload = RunFolder(Path(out)).results()
    if payload is None:
        raise ValueError(f"out: {str(out)!r} has no readable results.json; pass a benchmark's output folder")
    runs = [
        {**r, **{k: resolve_path(r[k], out) for k in ("run_dir", "checkpoint") if r.get(k) is not None}}
        for r in payload.get("runs") or []
    ]
    curves = {str(resolve_path(k, out)): v for k, v in (payload.get("curves") or {}).items()}
    return {**payload, "runs": runs, "curves": curves}


#: Columns where a lower value is better (faithfulness: the map's top pixels matter to the score).
_LOWER_IS_BETTER = ("deletion_auc", "average_drop")


def _column_notes(rows: Sequence[dict[str, Any]], summary: Sequence[dict[str, Any]]) -> str:
    """The header's sentences on the columns that need one, only when they are shown ("" otherwise): the
    fixed CAM threshold of the ``@t`` columns (each run's ``fixed_cam_threshold``) and which faithfulness
    columns are better lower.

    Example:
        >>> _column_notes([{"fixed_cam_threshold": 0.2}], [{"metrics": {"top1_loc_at_t": {}}}])
        ' @t: at the fixed CAM threshold t = 0.2.'
    """
    shown = {key for key, _, _ in present_metrics(summary)}
    notes = ""
    if any(key.endswith("_at_t") for key in shown):
        values = sorted({r["fixed_cam_threshold"] for r in rows if r.get("fixed_cam_threshold") is not None})
        notes += f" @t: at the fixed CAM threshold t = {', '.join(f'{v:g}' for v in values) or '?'}."
    lower = [titles()[key] for key in _LOWER_IS_BETTER if key in shown]
    if lower:
        notes += f" Lower is better for {' and '.join(lower)}."
    return notes


def write_tables(out: Path, state: dict[str, Any], meta: dict[str, Any]) -> list[Path]:
    """``results.csv``, ``results.json`` and ``results.md`` in ``out``, each atomically; returns their paths.

    Args:
        out: the benchmark folder.
        state: ``rows``, ``curves`` (``run_dir`` → BoxAcc curves), ``summary``, ``comparison``,
            ``convergence``, ``grid`` and ``schedule_check`` (see :func:`wsl.jobs.benchmark.run_benchmark`).
        meta: the plan's settings (:meth:`wsl.benchmark.BenchmarkPlan.meta`) and ``planned_runs``.

    Paths under ``out`` (each run's ``run_dir`` and ``checkpoint``, the keys of ``curves``) are stored
    relative to it (:func:`portable_tables`); :func:`read_tables` reads either form.
    """
    rows, curves = portable_tables(state["rows"], state.get("curves") or {}, out)
    metric = meta["select_metric"]
    title = titles().get(metric, metric)
    header = (
        f"# Localization benchmark\n\nData: {meta.get('data') or 'default'}; entries "
        f"{', '.join(meta['entries'])}; seeds {', '.join(map(str, meta['seeds']))}; "
        f"{len(rows)}/{meta['planned_runs']} test runs finished.\n"
        "Test split; mean ± sample std over seeds; scores in percent; train time is the fit time "
        f"(validation included). Settings chosen on val/{metric}; val gain is the last point of the val "
        f"{title} curve minus its best in the first two thirds of the schedule "
        "(† above 1 point: still improving)." + _column_notes(rows, state["summary"]) + "\n\n"
    )
    parts = [header + format_markdown(state["summary"], state["convergence"])]
    comparison = format_comparison(state["comparison"])
    if comparison:
        parts.append(
            f"## Against the best entry on {title}\n\nbest − entry in points; (p) is "
            "the two-sided paired t-test over seeds (the center baseline: one-sample); * p < 0.05.\n\n"
            + comparison
        )
    grid = format_grid(state["grid"], metric)
    if grid:
        parts.append("## Grid on val (first seed)\n\n" + grid)
    schedules = format_schedule_check(state.get("schedule_check") or [])
    if schedules:
        parts.append(
            "## Own schedule against the shared one\n\nFor the entries given a longer schedule of their own "
            "(--epochs): own − shared in points, the same setting at each seed; (p) is the two-sided paired "
            "t-test over seeds, * p < 0.05. Within the seed spread, the shared schedule had already reached "
            "what the longer one gives.\n\n" + schedules
        )
    keys = ("summary", "comparison", "convergence", "grid", "schedule_check")
    payload = {**meta, "curves": curves, **{k: state.get(k) for k in keys}, "runs": rows}
    return [
        write_text(out / "results.csv", csv_text(rows) if rows else ""),
        write_json(out / "results.json", payload, nan_as_null=True),  # a one-seed std or p is undefined
        write_text(out / "results.md", "\n\n".join(parts) + "\n"),
    ]
