"""The argument parser every tool builds: argparse's interface plus ``--config FILE`` and ``--print_config``.

jsonargparse (LightningCLI's parser, already a dependency) reads a YAML or JSON file whose keys are the
options' destinations (the flag without ``--``, ``-`` as ``_``: ``--no-progress`` → ``no_progress``) and
prints the parsed options as such a file; flags given after ``--config`` override it::

    wsol export --ckpt best.ckpt --out cams --limit 16 --print_config > export.yaml
    wsol export --config export.yaml --limit 32

Example:
    >>> parser = tool_parser("demo")
    >>> _ = parser.add_argument("--limit", type=int, default=None)
    >>> parser.parse_args(["--limit", "3"]).limit
    3
"""

from __future__ import annotations

import argparse

import jsonargparse

__all__ = ["tool_parser"]


def tool_parser(description: str | None) -> jsonargparse.ArgumentParser:
    """An ``argparse``-compatible parser with ``--config FILE`` (and the ``--print_config`` it brings)."""
    parser = jsonargparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--config",
        action=jsonargparse.ActionConfigFile,
        help="YAML/JSON file of these options (keys: the flags' names with '_' for '-'); "
        "flags after it override it; --print_config writes one",
    )
    return parser
