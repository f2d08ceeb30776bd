"""The localization benchmark of the pooling heads: every (pool, seed) trained and tested like tools/train.py.

Each run goes through :func:`wsl.cli.train` (the code path of ``tools/train.py``) with
``--pool P --seed_everything S --run_dir OUT/runs/P-seedS`` and writes its own ``results.json``; a run
whose ``results.json`` exists is skipped, so an interrupted benchmark resumes where it stopped (a run
is not redone when its arguments change: delete its folder to redo it). From the finished runs the
benchmark writes, into ``OUT`` and atomically (:mod:`wsl.runs`):

- ``results.csv`` (one row per run), ``results.json`` (runs, curves and the summary) and ``results.md``
  (mean ± std over seeds per pool, in percent) after every run;
- ``bar_<metric>.png`` (mean per pool, sample-std error bars), ``boxacc_curves.png`` (BoxAcc against the
  CAM threshold, mean over seeds) and ``cams_by_pool.png`` (the CAMs of the first test images, one
  column per pool) at the end.

Std is the sample standard deviation (``n − 1``) over the seeds with a finite value; with one seed it
is not shown. Train images/s = epochs × images per epoch (the train split, or ``limit_train_batches``
batches of it) / ``train_seconds`` (fit time, validation included).

Modules, one job each: :mod:`~wsl.benchmark.plan` (arguments → runs and their train arguments),
:mod:`~wsl.benchmark.collect` (finished run folders → rows), :mod:`~wsl.benchmark.stats` (rows →
mean ± std, mean curves), :mod:`~wsl.benchmark.report` (CSV, JSON, Markdown), :mod:`~wsl.benchmark.plots`
(bars, curves), :mod:`~wsl.benchmark.sheet` (CAMs by pool) and :mod:`~wsl.benchmark.run` (the driver).
"""

from wsl.benchmark.collect import collect_runs, images_per_epoch
from wsl.benchmark.plan import (
    RESERVED,
    BenchmarkPlan,
    BenchmarkRun,
    check_extra_args,
    make_plan,
    parse_pool_kwargs,
    parse_pools,
    parse_seeds,
    plan_runs,
    train_args,
)
from wsl.benchmark.plots import plot_bars, plot_curves
from wsl.benchmark.report import csv_text, format_markdown, write_tables
from wsl.benchmark.run import run_benchmark
from wsl.benchmark.sheet import cams_by_pool, sheet_cams
from wsl.benchmark.stats import CURVES, METRICS, aggregate, mean_curves, present_metrics, run_row

__all__ = [
    "CURVES",
    "METRICS",
    "RESERVED",
    "BenchmarkPlan",
    "BenchmarkRun",
    "aggregate",
    "cams_by_pool",
    "check_extra_args",
    "collect_runs",
    "csv_text",
    "format_markdown",
    "images_per_epoch",
    "make_plan",
    "mean_curves",
    "parse_pool_kwargs",
    "parse_pools",
    "parse_seeds",
    "plan_runs",
    "plot_bars",
    "plot_curves",
    "present_metrics",
    "run_benchmark",
    "run_row",
    "sheet_cams",
    "train_args",
    "write_tables",
]
