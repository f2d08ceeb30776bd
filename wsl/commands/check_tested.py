r"""Which weights each finished run of a benchmark tested: its final ones, or an earlier ``last.ckpt``.

    python tools/check_tested.py docs/benchmark_results/comparison [--metric val/maxboxacc] [--all]

Reads only the records (each run's ``results.json`` and ``metrics.csv`` or CSV logs) and applies
Lightning 2.6.6's rule for ``last.ckpt`` (:mod:`wsl.benchmark.tested`): prints one Markdown row per run
(the affected ones and the undecidable ones; ``--all``: every run) and a count. Exit status 0, 2 on bad
input.
"""

from __future__ import annotations

import argparse
import sys

from wsl.benchmark.tested import check_tested, format_tested
from wsl.cli import run_tool
from wsl.commands.parser import tool_parser


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    parser = tool_parser(__doc__)
    parser.add_argument("folder", help="a benchmark --out folder (or its runs/ folder)")
    parser.add_argument(
        "--metric", default="val/maxboxacc", help="val score shown at both steps (default: val/maxboxacc)"
    )
    parser.add_argument("--all", action="store_true", help="every run, not only the affected ones")
    return parser


def check(argv: list[str] | None = None) -> list[dict]:
    """Parse ``argv``, check the folder, print the table; returns the rows of every run."""
    args = build_parser().parse_args(argv)
    rows = check_tested(args.folder, args.metric)
    shown = rows if args.all else [r for r in rows if r["affected"] is not False]
    affected = [r for r in rows if r["affected"]]
    reported = [r for r in affected if r.get("reported")]
    print(format_tested(shown))
    known = rows[0]["reported"] is not None
    in_table = f" ({len(reported)} of them in the benchmark's table)" if known else ""
    undecidable = sum(r["affected"] is None for r in rows)
    print(
        f"\n{len(affected)} of {len(rows)} runs tested weights older than their final ones{in_table}; "
        f"{undecidable} undecidable."
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the check; 0 on success, 2 on bad input."""
    return run_tool(check, argv)


if __name__ == "__main__":
    sys.exit(main())
