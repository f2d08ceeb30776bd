"""The benchmark driver: the grid stage on val, the choice, the test stage over seeds, then the tables and
figures (rewritten after every finished run, so an interrupted benchmark still has them)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from wsl.benchmark.collect import collect_runs
from wsl.benchmark.execute import run_pending, train_pending
from wsl.benchmark.keys import STALE_POLICIES
from wsl.benchmark.plan import BenchmarkPlan, BenchmarkRun, make_plan
from wsl.benchmark.plots import plot_bars, plot_curves, plot_val_curves
from wsl.benchmark.report import format_markdown, write_tables
from wsl.benchmark.selection import choose_settings, convergence
from wsl.benchmark.sheet import cams_by_pool
from wsl.benchmark.stats import aggregate, compare_to_best, mean_curves, schedule_check

__all__ = ["run_benchmark"]


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


def run_benchmark(
    entries: str | Sequence[str],
    seeds: str | Sequence[int],
    out: str | os.PathLike[str],
    config: str | None = None,
    data: str | None = None,
    extra_args: Sequence[str] = (),
    pool_kwargs: dict[str, dict[str, Any]] | Sequence[str] | None = None,
    num_cam_images: int = 6,
    jobs: int = 1,
    grid: bool = True,
    select_metric: str = "maxboxacc",
    method_pool: str = "gap",
    checkpoint_select: str = "last",
    epochs: dict[str, int] | Sequence[str] | str | None = None,
    grid_schedule: str = "own",
    stale: str = "refuse",
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the benchmark protocol of :mod:`wsl.benchmark.plan`, skipping finished runs, and write the tables
    and figures described in :mod:`wsl.benchmark`.

    Args:
        entries: what is compared (:func:`wsl.benchmark.parse_entries`: pools, methods, ``CAM@ENTRY``,
            ``center``), as ``"gap,has,gradcam@gap,center"`` or a list.
        seeds: seeds (``"0,1,2"`` or a list); each becomes ``--seed_everything``.
        out: output folder (runs in ``out/runs``).
        config: a ``tools/train.py`` config file applied to every run (flags override it).
        data: data spec (``--dataset``); default: the config's or ``synthetic``.
        extra_args: more ``tools/train.py`` arguments for every run (e.g. ``--trainer.max_epochs 5``).
        pool_kwargs: fixed per-pool ``--model.pool_kwargs`` (no grid for that pool), as a dict or as
            ``POOL=JSON`` strings.
        num_cam_images: test images in ``cams_by_pool.png`` (0: no sheet).
        jobs: trained runs at a time (worker processes sharing the CPU cores).
        grid: search the declared grids (:data:`wsl.benchmark.GRIDS`) on val; False: each head's defaults.
        select_metric: the validation metric that chooses a grid setting and ranks the entries.
        method_pool: the pooling head of a method entry without ``/POOL``.
        checkpoint_select: the tested weights of every run (``last`` or ``best`` on val).
        epochs: per-entry schedules, ``"has=60,gmp=60"`` (:func:`wsl.benchmark.plan.parse_epochs`), for the
            entries still improving at the shared one.
        grid_schedule: where an entry with its own schedule searches its grid: ``own`` (every setting at
            that schedule) or ``shared`` (the grid at the shared schedule, the chosen setting at its own).
        stale: a finished run whose key (:mod:`wsl.benchmark.keys`: its arguments and the code) differs from
            the current one, or that has none: ``refuse`` (an error naming the runs and the differences),
            ``redo`` (moved to ``out/stale/`` and trained again) or ``keep`` (reused, with a note).
        log: where progress lines go.

    Returns:
        ``{"rows", "summary", "comparison", "convergence", "grid", "schedule_check", "markdown", "files"}``.

    Raises:
        ValueError: a bad argument (named as above), a negative ``num_cam_images``, ``jobs < 1``, an unknown
            ``stale``, or a stale or unkeyed finished run under ``stale="refuse"``.

    Example:
        >>> run_benchmark("gap,lse,has,gradcam@gap,center", "0,1,2", "runs/bench")  # doctest: +SKIP
    """
    plan = make_plan(
        entries,
        seeds,
        out,
        config=config,
        data=data,
        extra_args=extra_args,
        pool_kwargs=pool_kwargs,
        grid=grid,
        select_metric=select_metric,
        method_pool=method_pool,
        checkpoint_select=checkpoint_select,
        epochs=epochs,
        grid_schedule=grid_schedule,
    )
    if num_cam_images < 0:
        raise ValueError(f"num_cam_images: got {num_cam_images}; expected >= 0")
    if jobs < 1:
        raise ValueError(f"jobs: got {jobs}; expected >= 1")
    if stale not in STALE_POLICIES:
        raise ValueError(f"stale: got {stale!r}; expected one of {', '.join(STALE_POLICIES)}")
    (plan.root / "runs").mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    tables = _Tables(plan)

    # Stage 1: the grids at the first seed, and every run of the entries without a grid.
    grid_runs = plan.grid_runs()
    fixed = [r for r in plan.test_runs({}) if r.entry.kind == "train" and len(plan.settings(r.entry)) == 1]
    tables.test_runs = fixed
    log(f"stage grid: {len(grid_runs)} grid runs on val, {len(fixed)} runs of entries without a grid")
    train_pending(plan, _by_seed(plan, [*grid_runs, *fixed]), jobs, log, after_each=tables.write, stale=stale)

    # The choice on val, then stage 2: the chosen settings at every seed, post-hoc CAMs, the center.
    candidates: dict[str, list[BenchmarkRun]] = {}
    for run in grid_runs:
        candidates.setdefault(run.entry.name, []).append(run)
    chosen, tables.grid_table = choose_settings(candidates, plan.select_metric)
    for name, kwargs in chosen.items():
        log(f"{name}: chose {kwargs or 'the defaults'} on val/{plan.select_metric}")
    tables.test_runs = plan.test_runs(chosen)
    tables.shared_runs = plan.shared_schedule_runs(chosen)
    trained = [r for r in tables.test_runs if r.entry.kind == "train"]
    seen = {r.run_dir for r in [*grid_runs, *fixed]}
    remaining = [r for r in trained if r.run_dir not in seen]
    train_pending(plan, _by_seed(plan, remaining), jobs, log, after_each=tables.write, stale=stale)
    run_pending(tables.test_runs, trained[0] if trained else None, log, plan=plan, stale=stale)

    state = tables.write()
    files = list(state["files"])
    files += plot_bars(plan.root, state["summary"])
    figures = (
        plot_curves(plan.root, mean_curves(state["curves"], state["rows"])),
        plot_val_curves(plan.root, state["convergence"], plan.select_metric),
        cams_by_pool(plan.root, state["rows"], num_cam_images),
    )
    files += [p for p in figures if p is not None]
    markdown = format_markdown(state["summary"], state["convergence"])
    log(
        f"\n{markdown}\n\n{len(state['rows'])}/{len(tables.test_runs)} runs in {plan.root} "
        f"({time.perf_counter() - started:.0f} s)"
    )
    keys = ("rows", "summary", "comparison", "convergence", "grid", "schedule_check")
    return {**{k: state[k] for k in keys}, "markdown": markdown, "files": [str(f) for f in files]}
