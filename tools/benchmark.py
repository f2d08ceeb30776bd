r"""Benchmark the pooling heads: train and test every (pool, seed) like tools/train.py; tabulate, plot.

    python tools/benchmark.py --pools gmp,gap,lse,kmax,weldon,softpool,autopool --seeds 0,1,2 \
        --out runs/benchmark [--config CONFIG] [--data SPEC] [--pool-kwargs 'lse={"beta": 10}'] \
        [-- extra tools/train.py arguments, e.g. --trainer.max_epochs 5]

Runs go to ``OUT/runs/<pool>-seed<seed>``; a run whose ``results.json`` exists is skipped, so rerunning
the same command resumes an interrupted benchmark. ``OUT`` gets ``results.csv``, ``results.json``,
``results.md`` (mean ± std over seeds, percent), ``bar_<metric>.png``, ``boxacc_curves.png`` and
``cams_by_pool.png``; see :mod:`wsl.benchmark`. Bad input prints ``error: ...`` and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys

from wsl.benchmark import run_benchmark
from wsl.cli import run_tool
from wsl.pooling import POOLS


def build_parser() -> argparse.ArgumentParser:
    """The command-line options (the train arguments after ``--`` are not parsed here)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pools", default=",".join(POOLS), help="comma-separated pool names (default: all)")
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
    return parser


# The library's argument names, as its errors spell them, → this tool's flags.
FLAGS = {
    "pools": "--pools",
    "seeds": "--seeds",
    "out": "--out",
    "config": "--config",
    "pool_kwargs": "--pool-kwargs",
    "num_cam_images": "--cam-images",
    "extra_args": "the train arguments after --",
}


def benchmark(argv: list[str] | None = None) -> dict:
    """Parse ``argv`` (``[options] [-- train args]``) and run the benchmark."""
    argv = list(sys.argv[1:] if argv is None else argv)
    cut = argv.index("--") if "--" in argv else len(argv)
    args = build_parser().parse_args(argv[:cut])
    return run_benchmark(
        args.pools,
        args.seeds,
        args.out,
        config=args.config,
        data=args.data,
        extra_args=argv[cut + 1 :],
        pool_kwargs=args.pool_kwargs,
        num_cam_images=args.cam_images,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 on success, 2 on bad input."""
    try:
        return run_tool(benchmark, argv, flags=FLAGS)
    except SystemExit as exit_:  # --help (0) or an argparse error (2, message already printed)
        return int(exit_.code or 0)


if __name__ == "__main__":
    sys.exit(main())
