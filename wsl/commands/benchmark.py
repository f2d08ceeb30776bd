r"""Benchmark pooling heads, WSOL methods, post-hoc CAMs and the center baseline, fairly; tabulate, plot.

    python tools/benchmark.py \
        --entries gmp,gap,lse,kmax,weldon,softpool,autopool,has,cutmix,adl,acol,gradcam@gap,center \
        --seeds 0,1,2 --jobs 1 --out runs/comparison [--config CONFIG] [--data SPEC] [--no-grid] \
        [--pool-kwargs 'lse={"beta": 10}'] [-- extra tools/train.py arguments, e.g. --trainer.max_epochs 5]

Entries: a pool (``weldon``), a WSOL method on the GAP head (``has``; ``has/lse`` on another head), a
post-hoc CAM of a trained entry's networks (``gradcam@gap``) or ``center``. A head with a declared grid
(LSE beta, k-max k, WELDON k+, AutoPool's CAP/RAP) first trains each setting at the first seed; the best
final val score (``--select-metric``) is kept and trained at every seed, tested on the test split. Runs go
to ``OUT/runs/<entry>[_<setting>]-seed<seed>``, each keyed by its configuration (its train arguments and
the code's digest, in ``benchmark_key.json``): a finished run with the same key is skipped, so rerunning
the same command resumes an interrupted benchmark; a finished run whose key differs (arguments, grid
setting, schedule or code changed) or that has none is refused, naming the runs and the differences:
``--redo-stale`` moves them to ``OUT/stale/`` and trains them again, ``--keep-stale`` reuses them.
``--epochs has=60,gmp=60`` gives the entries still improving at the shared schedule (``†`` in the table)
a longer one of their own (folders ``<entry>_e60-seed<seed>``; the shared schedule's runs are kept);
``--grid-schedule shared`` searches their grids at the shared schedule (reusing its runs) and trains only
the chosen setting at their own.
``OUT`` gets ``results.csv``, ``results.json``, ``results.md`` (mean ± std over seeds, the paired tests
against the best entry, the grid), ``bar_<metric>.png``, ``boxacc_curves.png``, ``val_curves.png`` and
``cams_by_pool.png``; see :mod:`wsl.benchmark`. The columns are those of the metric registry that the
runs report (:mod:`wsl.benchmark.columns`): with single-label data, ``-- --model.cam_threshold 0.2`` adds
GT-known / Top-1 / Top-5 Loc at that CAM threshold and Top-5 Cls. Bad input prints ``error: ...`` and exits
with status 2.
"""

from __future__ import annotations

import argparse
import sys

from wsl.cli import run_tool
from wsl.jobs.benchmark import BenchmarkOptions, run_benchmark
from wsl.jobs.logs import tool_logging
from wsl.pooling import POOLS

ENTRIES_HELP = "comma-separated entries: pools, methods (has, has/lse), CAM@ENTRY (gradcam@gap), center"


def _add_what(parser: argparse.ArgumentParser) -> None:
    """What is compared, on which seeds and data, and where the results go."""
    parser.add_argument(
        "--entries",
        "--pools",
        dest="entries",
        default=",".join(POOLS),
        help=ENTRIES_HELP + " (default: all pools)",
    )
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default: 0,1,2)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--config", default=None, help="tools/train.py config applied to every run")
    parser.add_argument("--data", default=None, help="data spec: synthetic, voc:PATH, coco:PATH ...")
    parser.add_argument(
        "--pool-kwargs",
        action="append",
        default=[],
        metavar="POOL=JSON",
        help="keyword arguments of one pool, e.g. lse='{\"beta\": 10}' (repeat per pool)",
    )
    parser.add_argument("--cam-images", type=int, default=6, help="test images in cams_by_pool.png")
    parser.add_argument("--jobs", type=int, default=1, help="trained runs at a time (default: 1)")


def _add_protocol(parser: argparse.ArgumentParser) -> None:
    """How settings are chosen and tested: the grid, the metric, the heads, the weights, the schedules."""
    parser.add_argument("--no-grid", action="store_true", help="skip the val grids: each head's defaults")
    parser.add_argument(
        "--select-metric",
        default="maxboxacc",
        help="val metric that chooses a grid setting (default: maxboxacc)",
    )
    parser.add_argument(
        "--method-pool", default="gap", help="head of a method entry without /POOL (default: gap)"
    )
    parser.add_argument(
        "--checkpoint-select", default="last", choices=("last", "best"), help="tested weights (default: last)"
    )
    parser.add_argument(
        "--epochs",
        metavar="ENTRY=N,...",
        default=None,
        help="own schedules for entries still improving at the shared one, e.g. has=60,gmp=60 (their runs "
        "get --trainer.max_epochs N and folders <entry>_eN-seed<seed>)",
    )
    parser.add_argument(
        "--faithfulness",
        action="store_true",
        help="also the faithfulness means (deletion/insertion AUC, Average Drop, Increase in Confidence) of "
        "every trained and post-hoc test run (tools/evaluate.py --faithfulness on its tested checkpoint)",
    )
    parser.add_argument(
        "--grid-schedule",
        choices=("own", "shared"),
        default="own",
        help="where an entry given --epochs searches its grid: at its own schedule (default) or at the "
        "shared one, reusing those runs; the chosen setting trains at its own schedule either way",
    )


def _add_stale(parser: argparse.ArgumentParser) -> None:
    """What happens to finished runs whose configuration changed."""
    stale = parser.add_mutually_exclusive_group()
    stale.add_argument(
        "--redo-stale",
        dest="stale",
        action="store_const",
        const="redo",
        default="refuse",
        help="train again the finished runs whose configuration changed (or is unknown); the old folders "
        "move to OUT/stale/",
    )
    stale.add_argument(
        "--keep-stale",
        dest="stale",
        action="store_const",
        const="keep",
        help="reuse the finished runs whose configuration changed (or is unknown) as they are",
    )


def build_parser() -> argparse.ArgumentParser:
    """The command-line options (the train arguments after ``--`` are not parsed here)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    for add in (_add_what, _add_protocol, _add_stale):
        add(parser)
    return parser


# The library's argument names, as its errors spell them, → this tool's flags.
FLAGS = {
    "entries": "--entries",
    "seeds": "--seeds",
    "out": "--out",
    "config": "--config",
    "pool_kwargs": "--pool-kwargs",
    "num_cam_images": "--cam-images",
    "jobs": "--jobs",
    "select_metric": "--select-metric",
    "method_pool": "--method-pool",
    "checkpoint_select": "--checkpoint-select",
    "epochs": "--epochs",
    "grid_schedule": "--grid-schedule",
    "faithfulness": "--faithfulness",
    "extra_args": "the train arguments after --",
}


def benchmark(argv: list[str] | None = None) -> dict:
    """Parse ``argv`` (``[options] [-- train args]``) and run the benchmark, printing its progress (the
    library's log messages) on stdout."""
    argv = list(sys.argv[1:] if argv is None else argv)
    cut = argv.index("--") if "--" in argv else len(argv)
    args = build_parser().parse_args(argv[:cut])
    options = BenchmarkOptions(
        args.entries,
        args.seeds,
        args.out,
        config=args.config,
        data=args.data,
        extra_args=argv[cut + 1 :],
        pool_kwargs=args.pool_kwargs,
        num_cam_images=args.cam_images,
        jobs=args.jobs,
        grid=not args.no_grid,
        select_metric=args.select_metric,
        method_pool=args.method_pool,
        checkpoint_select=args.checkpoint_select,
        epochs=args.epochs,
        grid_schedule=args.grid_schedule,
        stale=args.stale,
        faithfulness=args.faithfulness,
    )
    with tool_logging(sys.stdout):
        return run_benchmark(options)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 on success, 2 on bad input."""
    return run_tool(benchmark, argv, flags=FLAGS)


if __name__ == "__main__":
    sys.exit(main())
