"""The localization benchmark: pooling heads, WSOL methods, post-hoc CAMs and the center baseline, trained
and tested like ``tools/train.py``, compared fairly.

The protocol (:mod:`~wsl.benchmark.plan`): each head's main hyper-parameter is chosen on the validation
split from its declared grid (:data:`GRIDS`, first seed); the chosen setting then trains at every seed and
is scored on the test split; post-hoc CAM entries (``gradcam@gap``) score the same checkpoints with another
CAM method; the center baseline needs no network. Each trained run goes through :func:`wsl.cli.train`
with ``--run_dir OUT/runs/<entry>[_<setting>]-seed<seed>`` and writes its own ``results.json``. Each run is
keyed by its configuration (:mod:`~wsl.benchmark.keys`: its arguments and the code's digest, in
``RUN/benchmark_key.json``): a finished run with the current key is skipped, so an interrupted benchmark
resumes where it stopped, and a finished run whose key differs (or that has none) is refused with the
differences, unless ``stale`` says to redo or keep it. ``jobs`` trains several runs at once.
From the finished runs the benchmark writes, into ``OUT`` and atomically (:mod:`wsl.runs`):

- ``results.csv`` (one row per test run), ``results.json`` (runs, curves, summary, the grid, the paired
  tests, the convergence check, and the schedule check of the entries given a longer schedule of their own
  against their runs at the shared one) and ``results.md`` (:mod:`~wsl.benchmark.report`) after every run;
- ``bar_<metric>.png`` (mean per entry, sample-std error bars), ``boxacc_curves.png`` (BoxAcc against the
  CAM threshold, mean over seeds), ``val_curves.png`` (the selection metric on val by epoch) and
  ``cams_by_pool.png`` (the CAMs of the first test images, one column per trained entry) at the end.

Std is the sample standard deviation (``n − 1``) over the seeds with a finite value; with one seed it
is not shown. Differences to the best entry are tested by a paired t-test over seeds
(:func:`paired_test`), and so is an own schedule against the shared one (:func:`schedule_check`). Train
images/s = epochs × images per epoch (the train split, or ``limit_train_batches`` batches of it) /
``train_seconds`` (fit time, validation included).

Modules, one job each: :mod:`~wsl.benchmark.entries` (what is compared, the grids),
:mod:`~wsl.benchmark.plan` (arguments → runs and their train arguments), :mod:`~wsl.benchmark.execute`
(running them), :mod:`~wsl.benchmark.selection` (val curves, the choice, convergence),
:mod:`~wsl.benchmark.columns` (the columns, from the metric registry),
:mod:`~wsl.benchmark.collect` (finished run folders → rows), :mod:`~wsl.benchmark.stats` (rows →
mean ± std, mean curves, paired tests), :mod:`~wsl.benchmark.report` (CSV, JSON, Markdown),
:mod:`~wsl.benchmark.keys` (run keys, stale runs), :mod:`~wsl.benchmark.paths` (portable paths in the
tables), :mod:`~wsl.benchmark.plots` (bars, curves),
:mod:`~wsl.benchmark.sheet` (CAMs by entry),
:mod:`~wsl.benchmark.tested` (which weights a finished run's test scored, from its records) and
:mod:`wsl.jobs.benchmark` (the driver, in the job layer).
"""

from wsl.benchmark.collect import collect_runs, images_per_epoch
from wsl.benchmark.entries import GRIDS, Entry, parse_entries, setting_tag
from wsl.benchmark.execute import run_center, run_pending, run_posthoc, train_pending
from wsl.benchmark.keys import (
    KEY_FILE,
    STALE_POLICIES,
    check_finished,
    code_digest,
    diff_fields,
    run_key,
    write_key,
)
from wsl.benchmark.options import BenchmarkOptions
from wsl.benchmark.paths import anchored, portable_path, resolve_path
from wsl.benchmark.plan import (
    RESERVED,
    BenchmarkPlan,
    BenchmarkRun,
    check_extra_args,
    make_plan,
    parse_pool_kwargs,
    parse_seeds,
)
from wsl.benchmark.plots import plot_bars, plot_curves, plot_val_curves
from wsl.benchmark.report import (
    csv_text,
    format_comparison,
    format_grid,
    format_markdown,
    portable_tables,
    read_tables,
    write_tables,
)
from wsl.benchmark.selection import (
    PLATEAU_TOLERANCE,
    choose_settings,
    convergence,
    last_third_gain,
    val_curve,
)
from wsl.benchmark.sheet import cams_by_pool, sheet_cams
from wsl.benchmark.stats import (
    CURVES,
    METRICS,
    aggregate,
    compare_to_best,
    mean_curves,
    paired_test,
    present_metrics,
    run_row,
    schedule_check,
    student_t_two_sided_p,
)
from wsl.benchmark.tested import check_tested, format_tested, last_improvement, val_points, which_tested

__all__ = [
    "BenchmarkOptions",
    "BenchmarkPlan",
    "BenchmarkRun",
    "CURVES",
    "Entry",
    "GRIDS",
    "KEY_FILE",
    "METRICS",
    "PLATEAU_TOLERANCE",
    "RESERVED",
    "STALE_POLICIES",
    "aggregate",
    "anchored",
    "cams_by_pool",
    "check_extra_args",
    "check_finished",
    "check_tested",
    "choose_settings",
    "code_digest",
    "collect_runs",
    "compare_to_best",
    "convergence",
    "csv_text",
    "diff_fields",
    "format_comparison",
    "format_grid",
    "format_markdown",
    "format_tested",
    "images_per_epoch",
    "last_improvement",
    "last_third_gain",
    "make_plan",
    "mean_curves",
    "paired_test",
    "parse_entries",
    "parse_pool_kwargs",
    "parse_seeds",
    "plot_bars",
    "plot_curves",
    "plot_val_curves",
    "portable_path",
    "portable_tables",
    "present_metrics",
    "read_tables",
    "resolve_path",
    "run_center",
    "run_key",
    "run_pending",
    "run_posthoc",
    "run_row",
    "schedule_check",
    "setting_tag",
    "sheet_cams",
    "student_t_two_sided_p",
    "train_pending",
    "val_curve",
    "val_points",
    "which_tested",
    "write_key",
    "write_tables",
]
