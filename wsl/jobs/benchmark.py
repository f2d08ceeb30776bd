"""The benchmark driver: the grid stage on val, the choice, the test stage over seeds, then the tables and
figures (rewritten after every finished run, so an interrupted benchmark still has them)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wsl.benchmark.collect import collect_runs
from wsl.benchmark.execute import add_faithfulness, run_pending, train_pending
from wsl.benchmark.keys import STALE_POLICIES
from wsl.benchmark.options import BenchmarkOptions
from wsl.benchmark.plan import BenchmarkPlan, BenchmarkRun, make_plan
from wsl.benchmark.plots import plot_bars, plot_curves, plot_val_curves
from wsl.benchmark.report import format_markdown, write_tables
from wsl.benchmark.selection import choose_settings, convergence
from wsl.benchmark.sheet import cams_by_pool
from wsl.benchmark.stats import aggregate, compare_to_best, mean_curves, schedule_check

__all__ = ["BenchmarkOptions", "run_benchmark"]

log = logging.getLogger(__name__)


class _Tables:
    """Rewrites the benchmark's tables from the finished runs of the test stage (and the grid's rows)."""

    def __init__(self, plan: BenchmarkPlan) -> None:
        self.plan = plan
        self.test_runs: list[BenchmarkRun] = []
        self.shared_runs: list[BenchmarkRun] = []  # own-schedule entries at the shared one (read only)
        self.grid_table: list[dict[str, Any]] = []
        self.split_sizes: dict[tuple, int] = {}

    def summarise(self) -> dict[str, Any]:
        rows, curves = collect_runs(self.test_runs, self.split_sizes)
        shared_rows, _ = collect_runs(self.shared_runs, self.split_sizes)
        summary = aggregate(rows)
        metric = self.plan.select_metric
        return {
            "rows": rows,
            "curves": curves,
            "summary": summary,
            "comparison": compare_to_best(rows, summary, metric),
            "convergence": convergence(rows, metric),
            "grid": self.grid_table,
            "schedule_check": schedule_check(rows, shared_rows),
        }

    def write(self) -> dict[str, Any]:
        state = self.summarise()
        state["files"] = write_tables(
            self.plan.root, state, {**self.plan.meta(), "planned_runs": len(self.test_runs)}
        )
        return state


def _by_seed(plan: BenchmarkPlan, runs: Sequence[BenchmarkRun]) -> list[BenchmarkRun]:
    """Seed by seed, in entry order, so that a stopped benchmark has every entry at its first seeds."""
    order = {e.name: i for i, e in enumerate(plan.entries)}
    return sorted(runs, key=lambda r: (-1 if r.seed is None else r.seed, order[r.entry.name]))


def _check_driver(options: BenchmarkOptions) -> None:
    """The settings the plan does not hold: ``num_cam_images``, ``jobs`` and ``stale``."""
    if options.num_cam_images < 0:
        raise ValueError(f"num_cam_images: got {options.num_cam_images}; expected >= 0")
    if options.jobs < 1:
        raise ValueError(f"jobs: got {options.jobs}; expected >= 1")
    if options.stale not in STALE_POLICIES:
        raise ValueError(f"stale: got {options.stale!r}; expected one of {', '.join(STALE_POLICIES)}")


def _grid_stage(
    plan: BenchmarkPlan, options: BenchmarkOptions, tables: _Tables
) -> tuple[list[BenchmarkRun], list[BenchmarkRun]]:
    """Stage 1: the grids at the first seed, and every run of the entries without a grid; returns the grid's
    runs and the others."""
    grid_runs = plan.grid_runs()
    fixed = [r for r in plan.test_runs({}) if r.entry.kind == "train" and len(plan.settings(r.entry)) == 1]
    tables.test_runs = fixed
    log.info("stage grid: %d grid runs on val, %d runs of entries without a grid", len(grid_runs), len(fixed))
    runs = _by_seed(plan, [*grid_runs, *fixed])
    train_pending(plan, runs, options.jobs, after_each=tables.write, stale=options.stale)
    return grid_runs, fixed


def _test_stage(
    plan: BenchmarkPlan,
    options: BenchmarkOptions,
    tables: _Tables,
    stage1: tuple[list[BenchmarkRun], list[BenchmarkRun]],
) -> None:
    """The choice on val, then stage 2: the chosen settings at every seed, post-hoc CAMs, the center."""
    candidates: dict[str, list[BenchmarkRun]] = {}
    grid_runs, fixed = stage1
    for run in grid_runs:
        candidates.setdefault(run.entry.name, []).append(run)
    chosen, tables.grid_table = choose_settings(candidates, plan.select_metric)
    for name, kwargs in chosen.items():
        log.info("%s: chose %s on val/%s", name, kwargs or "the defaults", plan.select_metric)
    tables.test_runs = plan.test_runs(chosen)
    tables.shared_runs = plan.shared_schedule_runs(chosen)
    trained = [r for r in tables.test_runs if r.entry.kind == "train"]
    seen = {r.run_dir for r in [*grid_runs, *fixed]}
    remaining = [r for r in trained if r.run_dir not in seen]
    train_pending(plan, _by_seed(plan, remaining), options.jobs, after_each=tables.write, stale=options.stale)
    reference = trained[0] if trained else None
    run_pending(
        tables.test_runs, reference, plan=plan, stale=options.stale, faithfulness=options.faithfulness
    )
    if options.faithfulness:
        add_faithfulness(tables.test_runs)


def _figures(plan: BenchmarkPlan, state: dict[str, Any], num_cam_images: int) -> list[Path]:
    """The bar charts, the mean curves, the val curves and the CAM sheet (those that have data)."""
    files = list(plot_bars(plan.root, state["summary"]))
    figures = (
        plot_curves(plan.root, mean_curves(state["curves"], state["rows"])),
        plot_val_curves(plan.root, state["convergence"], plan.select_metric),
        cams_by_pool(plan.root, state["rows"], num_cam_images),
    )
    return files + [p for p in figures if p is not None]


def run_benchmark(options: BenchmarkOptions) -> dict[str, Any]:
    """Run the benchmark protocol of :mod:`wsl.benchmark.plan`, skipping finished runs, and write the tables
    and figures described in :mod:`wsl.benchmark`.

    Progress (each stage, run and choice, then the Markdown table) is logged at INFO through :mod:`logging`
    (loggers ``wsl.jobs.benchmark`` and ``wsl.benchmark.*``); nothing is printed. ``tools/benchmark.py``
    prints these lines (:func:`wsl.jobs.logs.tool_logging`).

    Args:
        options: what to compare, on which seeds, where, and how (:class:`BenchmarkOptions`).

    Returns:
        ``{"rows", "summary", "comparison", "convergence", "grid", "schedule_check", "markdown", "files"}``.

    Raises:
        ValueError: a bad setting (named by its field, see :func:`wsl.benchmark.plan.make_plan`), a negative
            ``num_cam_images``, ``jobs < 1``, an unknown ``stale``, or a stale or unkeyed finished run under
            ``stale="refuse"``.

    Example:
        >>> options = BenchmarkOptions("gap,lse,has,gradcam@gap,center", "0,1,2", "runs/bench")
        >>> run_benchmark(options)  # doctest: +SKIP
    """
    plan = make_plan(options)
    _check_driver(options)
    (plan.root / "runs").mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    tables = _Tables(plan)
    _test_stage(plan, options, tables, _grid_stage(plan, options, tables))
    state = tables.write()
    files = [*state["files"], *_figures(plan, state, options.num_cam_images)]
    markdown = format_markdown(state["summary"], state["convergence"])
    seconds = time.perf_counter() - started
    log.info(
        "\n%s\n\n%d/%d runs in %s (%.0f s)",
        markdown,
        len(state["rows"]),
        len(tables.test_runs),
        plan.root,
        seconds,
    )
    keys = ("rows", "summary", "comparison", "convergence", "grid", "schedule_check")
    return {**{k: state[k] for k in keys}, "markdown": markdown, "files": [str(f) for f in files]}
