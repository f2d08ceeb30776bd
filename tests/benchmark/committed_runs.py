"""The committed comparison's records (docs/benchmark_results/comparison) as the benchmark's tables are
rendered from them, and a single-label variant of its rows, for the byte-for-byte tests of the tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from wsl.benchmark import aggregate, compare_to_best, schedule_check
from wsl.benchmark import report as wr

ROOT = Path(__file__).resolve().parents[2]
COMPARISON = ROOT / "docs" / "benchmark_results" / "comparison"
#: The single-label variant's tables as the writer rendered them before the columns came from the registry.
GOLDEN = Path(__file__).with_name("golden_single_label")
_STATE = ("runs", "curves", "summary", "comparison", "convergence", "grid", "schedule_check")


def committed() -> dict[str, Any]:
    """The comparison's ``results.json``."""
    return json.loads((COMPARISON / "results.json").read_text(encoding="utf-8"))


def single_label(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows as single-label data would have them: ``top1_acc`` for ``map`` and a ``top1_loc`` (MaxBoxAcc
    times the accuracy), every other key as it is."""
    out = []
    for row in rows:
        new = {k: v for k, v in row.items() if k != "map"}
        if row.get("map") is not None:
            new["top1_acc"] = row["map"]
            if row.get("maxboxacc") is not None:
                new["top1_loc"] = row["maxboxacc"] * row["map"]
        out.append(new)
    return out


def render(out: Path, payload: dict[str, Any], rows: list[dict[str, Any]], shared: list | None = None):
    """``write_tables`` into ``out`` from ``rows`` (summary and paired tests recomputed; the convergence and
    the grid as ``payload`` recorded them; the schedule check recomputed against ``shared`` rows, else as
    recorded)."""
    summary = aggregate(rows)
    state = {
        "rows": rows,
        "curves": payload.get("curves") or {},
        "summary": summary,
        "comparison": compare_to_best(rows, summary, payload["select_metric"]),
        "convergence": payload["convergence"],
        "grid": payload["grid"],
        "schedule_check": schedule_check(rows, shared) if shared is not None else payload["schedule_check"],
    }
    meta = {k: v for k, v in payload.items() if k not in _STATE}
    wr.write_tables(out, state, meta)


def single_label_case() -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """``(payload without curves, own-schedule rows, shared-schedule rows)`` of the single-label variant: the
    seven 60-epoch entries' rows are the own schedule, their 30-epoch namesakes the shared one."""
    payload = {**committed(), "curves": {}}
    rows = single_label(payload["runs"])
    own = {r["entry"] for r in rows if r.get("epochs") == 60}
    shared = [_shorter(r) for r in rows if r["entry"] in own]
    return payload, rows, shared


def _shorter(row: dict[str, Any]) -> dict[str, Any]:
    """A made-up 30-epoch twin of a 60-epoch row: each score times ``0.95 − 0.02 · seed``."""
    factor = 0.95 - 0.02 * row["seed"]
    scores = ("top1_acc", "top1_loc", "pointing_game", "maxboxacc", "maxboxacc_v2", "pxap")
    return {**row, "epochs": 30, **{k: row[k] * factor for k in scores if row.get(k) is not None}}
