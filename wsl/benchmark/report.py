"""The benchmark's tables: ``results.csv`` (one row per run), ``results.json`` and ``results.md``.

The Markdown table has its own cell formatter rather than :func:`wsl.metrics.format_table`: its cells
are mean ± std over seeds (not one value), it has a ``runs`` column, and the timing columns are seconds
and images/s, which must not be scaled to percent as ``format_table`` scales every cell.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wsl.benchmark.stats import present_metrics
from wsl.runs import write_json, write_text

__all__ = ["csv_text", "format_cell", "format_markdown", "write_tables"]


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


def format_markdown(summary: Sequence[dict[str, Any]]) -> str:
    """The Markdown table of :func:`wsl.benchmark.aggregate`'s summary: mean ± std, scores in percent."""
    columns = present_metrics(summary)
    lines = [
        "| pool | runs | " + " | ".join(title for _, title, _ in columns) + " |",
        "|---|---:|" + "---:|" * len(columns),
    ]
    for entry in summary:
        cells = [format_cell(entry["metrics"].get(key), unit) for key, _, unit in columns]
        lines.append(f"| {entry['pool']} | {entry['runs']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def csv_text(rows: Sequence[dict[str, Any]]) -> str:
    """CSV of the run rows; the columns are every key, in order of first appearance."""
    fields = list(dict.fromkeys(k for r in rows for k in r))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_tables(
    out: Path, rows: list[dict[str, Any]], curves: dict[str, Any], summary: list[dict[str, Any]], meta: dict
) -> list[Path]:
    """``results.csv``, ``results.json`` and ``results.md`` in ``out``, each atomically; returns their paths.

    Args:
        out: the benchmark folder.
        rows: run rows; curves: ``run_dir`` → curves; summary: :func:`wsl.benchmark.aggregate` of rows.
        meta: the plan's settings (``pools``, ``seeds``, ``data``, ``planned_runs`` ...).
    """
    header = (
        f"# Pooling benchmark\n\nData: {meta.get('data') or 'default'}; pools {', '.join(meta['pools'])}; "
        f"seeds {', '.join(map(str, meta['seeds']))}; {len(rows)}/{meta['planned_runs']} runs finished.\n"
        "Test split; mean ± sample std over seeds; scores in percent; train time is the fit time "
        "(validation included).\n\n"
    )
    return [
        write_text(out / "results.csv", csv_text(rows) if rows else ""),
        write_json(out / "results.json", {**meta, "runs": rows, "curves": curves, "summary": summary}),
        write_text(out / "results.md", header + format_markdown(summary) + "\n"),
    ]
