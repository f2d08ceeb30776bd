"""Train a weakly supervised localization model: ``python tools/train.py --pool weldon``.

Run with ``--help`` for every option and ``--print_config`` for the full configuration.
"""

import sys

from wsl.cli import run_tool, train


def main(argv: list[str] | None = None) -> int:
    """Train, test, print the summary table and write ``results.json``; 2 on bad input."""
    return run_tool(train, argv)


if __name__ == "__main__":
    sys.exit(main())
