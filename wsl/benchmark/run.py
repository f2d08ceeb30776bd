"""The benchmark driver: train the planned runs that are not finished, then write the tables and figures."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from wsl.benchmark.collect import collect_runs
from wsl.benchmark.plan import BenchmarkPlan, make_plan
from wsl.benchmark.plots import plot_bars, plot_curves
from wsl.benchmark.report import format_markdown, write_tables
from wsl.benchmark.sheet import cams_by_pool
from wsl.benchmark.stats import aggregate, mean_curves

__all__ = ["run_benchmark"]


def _train_missing(plan: BenchmarkPlan, log: Callable[[str], None], split_sizes: dict[tuple, int]) -> None:
    """Train every run without a readable ``results.json``; the tables are rewritten after each run."""
    from wsl import cli  # looked up at call time so that tests can patch wsl.cli.train

    for index, run in enumerate(plan.runs, 1):
        tag = f"[{index}/{len(plan.runs)}] {run.name}"
        if run.folder.results() is not None:
            log(f"{tag}: skip ({run.results_path} exists)")
            continue
        log(f"{tag}: start {time.strftime('%H:%M:%S')}")
        t0 = time.perf_counter()
        results = cli.train(plan.train_args(run))
        test = results.get("test") or {}
        scores = ", ".join(f"{k} {100 * test[k]:.1f}" for k in ("map", "top1_acc", "maxboxacc") if k in test)
        log(f"{tag}: done {time.strftime('%H:%M:%S')} in {time.perf_counter() - t0:.1f} s ({scores})")
        rows, curves = collect_runs(plan.runs, split_sizes)
        write_tables(plan.root, rows, curves, aggregate(rows), plan.meta())


def run_benchmark(
    pools: str | Sequence[str],
    seeds: str | Sequence[int],
    out: str | os.PathLike[str],
    config: str | None = None,
    data: str | None = None,
    extra_args: Sequence[str] = (),
    pool_kwargs: dict[str, dict[str, Any]] | Sequence[str] | None = None,
    num_cam_images: int = 6,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train and test every (pool, seed) through :func:`wsl.cli.train`, skipping finished runs, and write
    the tables and figures described in :mod:`wsl.benchmark`.

    Args:
        pools: pool names (``"gmp,gap"`` or a list).
        seeds: seeds (``"0,1,2"`` or a list); each becomes ``--seed_everything``.
        out: output folder; runs go to ``out/runs/<pool>-seed<seed>``.
        config: a ``tools/train.py`` config file applied to every run (flags override it).
        data: data spec (``--dataset``); default: the config's or ``synthetic``.
        extra_args: more ``tools/train.py`` arguments for every run (e.g. ``--trainer.max_epochs 5``).
        pool_kwargs: per-pool ``--model.pool_kwargs``, as a dict or as ``POOL=JSON`` strings.
        num_cam_images: test images in ``cams_by_pool.png`` (0: no sheet).
        log: where progress lines go.

    Returns:
        ``{"rows", "summary", "markdown", "files"}``.

    Raises:
        ValueError: unknown pool, bad seeds, bad pool kwargs, a reserved extra argument, a config that is
            not a file, a negative ``num_cam_images`` or an output path that is a file.

    Example:
        >>> run_benchmark("gap,lse", "0,1", "runs/bench")  # doctest: +SKIP
    """
    plan = make_plan(
        pools, seeds, out, config=config, data=data, extra_args=extra_args, pool_kwargs=pool_kwargs
    )
    if num_cam_images < 0:
        raise ValueError(f"num_cam_images: got {num_cam_images}; expected >= 0")
    root: Path = plan.root
    (root / "runs").mkdir(parents=True, exist_ok=True)
    split_sizes: dict[tuple, int] = {}
    started = time.perf_counter()
    _train_missing(plan, log, split_sizes)

    rows, curves = collect_runs(plan.runs, split_sizes)
    summary = aggregate(rows)
    files = write_tables(root, rows, curves, summary, plan.meta())
    files += plot_bars(root, summary)
    extra = (plot_curves(root, mean_curves(curves, rows)), cams_by_pool(root, rows, num_cam_images))
    files += [p for p in extra if p is not None]
    markdown = format_markdown(summary)
    seconds = time.perf_counter() - started
    log(f"\n{markdown}\n\n{len(rows)}/{len(plan.runs)} runs in {root} ({seconds:.0f} s)")
    return {"rows": rows, "summary": summary, "markdown": markdown, "files": [str(f) for f in files]}
