"""From runs to numbers: one flat row per run, mean ± sample std per entry, BoxAcc curves averaged per
entry, and paired tests of the differences between entries.

Pure functions on dicts (no files): std is the sample standard deviation (``n − 1``) over the seeds with
a finite value, None with one value. Train images/s = epochs × images per epoch / ``train_seconds``.

**Paired test over seeds.** Entries trained at the same seeds are paired by seed: with
``d_s = x_s − y_s`` over the ``n`` common seeds, ``t = d̄ / (s_d / √n)`` with ``n − 1`` degrees of freedom
and the two-sided p-value ``P(|T| ≥ |t|)`` of Student's t (:func:`student_t_two_sided_p`, exact for
integer degrees of freedom). An entry with one seed-free value (the center baseline) is compared by the
one-sample test of ``x_s − y``. A difference is called *larger than the seed spread* when ``p < 0.05``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

import numpy as np

from wsl.benchmark.columns import CURVES, METRICS, compared_keys, metric_columns
from wsl.benchmark.paths import anchored
from wsl.benchmark.plan import BenchmarkRun

__all__ = [
    "CURVES",
    "METRICS",
    "aggregate",
    "compare_to_best",
    "mean_curves",
    "paired_test",
    "present_metrics",
    "run_row",
    "schedule_check",
    "student_t_two_sided_p",
]


def run_row(run: BenchmarkRun, results: dict[str, Any], images_per_epoch: int | None) -> dict[str, Any]:
    """One flat row (CSV) from a run's ``results.json``: identity, timing, and the test fractions.

    The ``checkpoint`` is where it lies now: a path inside the folder the run recorded (``run_dir``; a
    post-hoc run: ``source_run``) moves with that folder to the plan's (:func:`wsl.benchmark.paths.anchored`).
    """
    if run.entry.kind == "posthoc" and run.source_dir is not None:
        checkpoint = anchored(results.get("checkpoint"), results.get("source_run"), run.source_dir)
    else:
        checkpoint = anchored(results.get("checkpoint"), results.get("run_dir"), run.run_dir)
    seconds = results.get("train_seconds")
    epochs = results.get("epochs")
    images = epochs * images_per_epoch if images_per_epoch is not None and epochs is not None else None
    rate = images / seconds if images is not None and seconds else None
    row: dict[str, Any] = {
        "entry": run.entry.name,
        "kind": run.entry.kind,
        "pool": run.entry.pool or results.get("pool"),
        "method": run.entry.method if run.entry.kind == "train" else run.entry.cam_method,
        "setting": run.setting or ("default" if run.entry.kind == "train" else ""),
        "seed": run.seed,
        "run_dir": str(run.run_dir),
        "data": results.get("data"),
        "backbone": results.get("backbone"),
        "epochs": epochs,
        "global_step": results.get("global_step"),
        "train_seconds": seconds,
        "train_images": images,
        "train_images_per_s": round(rate, 2) if rate is not None else None,
        "checkpoint": checkpoint,
    }
    row.update(results.get("test") or {})
    return row


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def aggregate(rows: Sequence[dict[str, Any]], metrics: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Mean and sample std over seeds, per entry (entries in order of first appearance).

    Args:
        rows: flat run rows (see :func:`run_row`), each with ``entry`` and ``seed``.
        metrics: keys to aggregate; default: every column's key (:func:`~wsl.benchmark.columns.columns`).

    Returns:
        One dict per entry: ``entry``, ``setting``, ``runs`` (number of rows), ``seeds`` and, per metric with
        at least one finite value, ``{"mean", "std", "n"}`` under ``metrics[key]``; ``std`` is None when
        ``n < 2``.

    Example:
        >>> rows = [{"entry": "gap", "seed": 0, "map": 0.5}, {"entry": "gap", "seed": 1, "map": 0.7}]
        >>> stat = aggregate(rows)[0]["metrics"]["map"]
        >>> round(stat["mean"], 3), round(stat["std"], 3), stat["n"]
        (0.6, 0.141, 2)
    """
    keys = list(metrics) if metrics is not None else [k for k, _, _ in metric_columns()]
    summary = []
    for name in dict.fromkeys(r["entry"] for r in rows):
        mine = [r for r in rows if r["entry"] == name]
        entry: dict[str, Any] = {
            "entry": name,
            "setting": mine[0].get("setting", ""),
            "runs": len(mine),
            "seeds": [r["seed"] for r in mine],
        }
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
    """The columns ``(key, title, unit)`` that have a value for some entry (so mAP or top-1 acc, PxAP only
    with masks, the fixed-threshold and faithfulness scores only where the runs report them)."""
    return [m for m in metric_columns() if any(m[0] in e["metrics"] for e in summary)]


def mean_curves(curves: dict[str, dict[str, Any]], rows: Sequence[dict[str, Any]]) -> dict[str, dict]:
    """Per entry, the BoxAcc curves averaged over its runs (runs with another threshold grid are left out).

    Args:
        curves: ``run_dir`` → that run's ``test_curves`` (``thresholds`` and the :data:`CURVES` keys).
        rows: the run rows, for the entry of each ``run_dir``.

    Returns:
        ``entry`` → ``{"thresholds", "runs", <curve key>: mean curve}``; entries without curves are absent.
    """
    out: dict[str, dict] = {}
    for name in dict.fromkeys(r["entry"] for r in rows):
        runs = [curves[r["run_dir"]] for r in rows if r["entry"] == name and curves.get(r["run_dir"])]
        if not runs:
            continue
        grid = runs[0]["thresholds"]
        same = [c for c in runs if c.get("thresholds") == grid]
        entry = {"thresholds": grid, "runs": len(same)}
        for key, _ in CURVES:
            if all(key in c for c in same):
                entry[key] = np.mean([c[key] for c in same], axis=0).tolist()
        out[name] = entry
    return out


def student_t_two_sided_p(t: float, df: int) -> float:
    """``P(|T| ≥ |t|)`` for Student's t with ``df`` (integer ≥ 1) degrees of freedom, in closed form.

    With ``θ = atan(|t| / √df)``, ``A = P(|T| < |t|)`` is (Abramowitz & Stegun 26.7.3–4)
    ``sin θ · Σ_{j=0}^{(df−2)/2} a_j cos^{2j} θ`` with ``a_0 = 1, a_j = a_{j−1} (2j − 1) / (2j)`` for even
    ``df``, and ``(2/π) (θ + sin θ · Σ_{j=0}^{(df−3)/2} b_j cos^{2j+1} θ)`` with
    ``b_0 = 1, b_j = b_{j−1} (2j) / (2j + 1)`` for odd ``df`` (the sum is empty for ``df = 1``, the Cauchy
    case ``A = 2θ/π``); the p-value is ``1 − A``.

    Example:
        >>> round(student_t_two_sided_p(4.302653, 2), 4), round(student_t_two_sided_p(1.0, 1), 4)
        (0.05, 0.5)
    """
    if df < 1 or int(df) != df:
        raise ValueError(f"df must be an integer >= 1; got {df!r}")
    if math.isinf(t):
        return 0.0
    theta = math.atan(abs(t) / math.sqrt(df))
    sin, cos = math.sin(theta), math.cos(theta)
    if df % 2 == 0:
        term, total = 1.0, 1.0
        for j in range(1, df // 2):
            term *= (2 * j - 1) / (2 * j) * cos * cos
            total += term
        inside = sin * total
    else:
        total = 0.0
        if df > 1:
            term = cos
            total = term
            for j in range(1, (df - 1) // 2):
                term *= (2 * j) / (2 * j + 1) * cos * cos
                total += term
        inside = 2 / math.pi * (theta + sin * total)
    return min(1.0, max(0.0, 1.0 - inside))


def paired_test(
    rows: Sequence[dict[str, Any]], first: str, second: str, metric: str
) -> dict[str, Any] | None:
    """The paired test (module docstring) of ``metric`` between entries ``first`` and ``second``.

    Returns:
        ``{"diff", "n", "t", "p"}`` (``diff``: mean of ``first − second``), or None with fewer than two
        pairs. ``t`` is ±inf and ``p`` 0 when every difference is the same non-zero value; ``p`` is 1 when
        they are all zero.

    Example:
        >>> values = [("a", 0, 0.6), ("a", 1, 0.7), ("a", 2, 0.8), ("b", 0, 0.5), ("b", 1, 0.5)]
        >>> values += [("b", 2, 0.6)]
        >>> rows = [{"entry": e, "seed": s, "m": v} for e, s, v in values]
        >>> out = paired_test(rows, "a", "b", "m")
        >>> round(out["diff"], 3), out["n"], round(out["t"], 3), round(out["p"], 3)
        (0.167, 3, 5.0, 0.038)
    """

    def values(name: str) -> dict[Any, float]:
        return {r["seed"]: float(r[metric]) for r in rows if r["entry"] == name and _finite(r.get(metric))}

    a, b = values(first), values(second)
    if len(b) == 1 and None in b:
        diffs = [v - b[None] for v in a.values()]
    elif len(a) == 1 and None in a:
        diffs = [a[None] - v for v in b.values()]
    else:
        diffs = [a[s] - b[s] for s in a if s in b]
    if len(diffs) < 2:
        return None
    mean = statistics.fmean(diffs)
    sd = statistics.stdev(diffs)
    n = len(diffs)
    constant = 0.0 if mean == 0 else math.copysign(math.inf, mean)  # every difference the same
    t = constant if sd == 0 else mean / (sd / math.sqrt(n))
    p = 1.0 if t == 0 else student_t_two_sided_p(t, n - 1)
    return {"diff": mean, "n": n, "t": t, "p": p}


def compare_to_best(
    rows: Sequence[dict[str, Any]], summary: Sequence[dict[str, Any]], metric: str
) -> dict[str, Any]:
    """The entry with the highest mean ``metric`` and the paired test of every other entry against it.

    Returns:
        ``{"best", "metric", "others": [{"entry", <score>: paired_test(best, entry) or None ...}]}``
        (``best`` None when no entry has ``metric``); differences are best − other.
    """
    ranked = [e for e in summary if metric in e["metrics"]]
    if not ranked:
        return {"best": None, "metric": metric, "others": []}
    best = max(ranked, key=lambda e: e["metrics"][metric]["mean"])["entry"]
    present = [k for k in compared_keys() if any(k in e["metrics"] for e in summary)]
    others = []
    for entry in summary:
        if entry["entry"] != best:
            tests = {k: paired_test(rows, best, entry["entry"], k) for k in present}
            others.append({"entry": entry["entry"], **tests})
    return {"best": best, "metric": metric, "others": others}


def schedule_check(
    rows: Sequence[dict[str, Any]], shared_rows: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Per entry with runs at both schedules: its own (longer) schedule against the shared one, by seed.

    Args:
        rows: the test runs' rows; an entry's own-schedule runs among them.
        shared_rows: the same entries and settings at the shared schedule (see
            :meth:`wsl.benchmark.BenchmarkPlan.shared_schedule_runs`).

    Returns:
        One dict per entry present in both: ``entry``, ``epochs`` and ``shared_epochs`` (of its first row
        each), and per compared score (:func:`~wsl.benchmark.columns.compared_keys`) the
        :func:`paired_test` of own − shared (None with fewer than two common seeds). A difference within
        the seed spread says the shared schedule had already reached what the longer one gives.

    Example:
        >>> row = lambda seed, epochs, v: {"entry": "has", "seed": seed, "epochs": epochs, "maxboxacc": v}
        >>> own, shared = [row(0, 60, 0.6), row(1, 60, 0.7)], [row(0, 30, 0.3), row(1, 30, 0.5)]
        >>> [check] = schedule_check(own, shared)
        >>> check["epochs"], check["shared_epochs"], round(check["maxboxacc"]["diff"], 2)
        (60, 30, 0.25)
    """
    out = []
    for name in dict.fromkeys(r["entry"] for r in shared_rows):
        own = [r for r in rows if r["entry"] == name]
        shared = [r for r in shared_rows if r["entry"] == name]
        if not own:
            continue
        pairs = [{**r, "entry": "own"} for r in own] + [{**r, "entry": "shared"} for r in shared]
        check: dict[str, Any] = {
            "entry": name,
            "epochs": own[0].get("epochs"),
            "shared_epochs": shared[0].get("epochs"),
        }
        for key in compared_keys():
            if any(_finite(r.get(key)) for r in pairs):
                check[key] = paired_test(pairs, "own", "shared", key)
        out.append(check)
    return out
