"""Train a weakly supervised localization model: ``python tools/train.py --pool weldon``.

Run with ``--help`` for every option and ``--print_config`` for the full configuration.
"""

import sys

from wsl.cli import run_tool, train
from wsl.jobs.logs import tool_logging

#: The library's argument names as its error messages spell them → this tool's flags.
FLAGS = {"skip_bad=True": "--data.skip_bad true", "ckpt_path": "--ckpt_path"}


def train_printing(argv: list[str] | None = None) -> dict:
    """:func:`wsl.cli.train`, with the library's log messages (the run folder's lock note, the training
    image cache's line, the Ctrl-C/SIGTERM save line) printed on stdout, beside the training's own lines.

    Only the ``wsl`` loggers get the handler (:func:`wsl.jobs.logs.tool_logging`): Lightning's loggers and
    progress bar print as they do without it.
    """
    with tool_logging(sys.stdout):
        return train(argv)


def main(argv: list[str] | None = None) -> int:
    """Train, test, print the summary table and write ``results.json``; 2 on bad input."""
    return run_tool(train_printing, argv, FLAGS)


if __name__ == "__main__":
    sys.exit(main())
