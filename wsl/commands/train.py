"""Train a weakly supervised localization model: ``python tools/train.py --pool weldon``.

Run with ``--help`` for every option and ``--print_config`` for the full configuration.
"""

import sys

from wsl.cli import run_tool, train

#: The library's argument names as its error messages spell them → this tool's flags.
FLAGS = {"skip_bad=True": "--data.skip_bad true", "ckpt_path": "--ckpt_path"}


def main(argv: list[str] | None = None) -> int:
    """Train, test, print the summary table and write ``results.json``; 2 on bad input."""
    return run_tool(train, argv, FLAGS)


if __name__ == "__main__":
    sys.exit(main())
