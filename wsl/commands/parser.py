"""The argument parser every tool builds: argparse's interface plus ``--config FILE`` and ``--print_config``.

jsonargparse (LightningCLI's parser, already a dependency) reads a YAML or JSON file whose keys are the
options' destinations (the flag without ``--``, ``-`` as ``_``: ``--no-progress`` → ``no_progress``) and
prints the parsed options as such a file; flags given after ``--config`` override it::

    wsol export --ckpt best.ckpt --out cams --limit 16 --print_config > export.yaml
    wsol export --config export.yaml --limit 32

A required mutually exclusive group (``--images | --data``) is checked after the file is read, so the file
may choose the member.

Example:
    >>> parser = tool_parser("demo")
    >>> _ = parser.add_argument("--limit", type=int, default=None)
    >>> parser.parse_args(["--limit", "3"]).limit
    3
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import jsonargparse

__all__ = ["ToolParser", "tool_parser"]


class ToolParser(jsonargparse.ArgumentParser):
    """jsonargparse's parser whose required exclusive groups may be satisfied by the ``--config`` file."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._required_groups: list[argparse._MutuallyExclusiveGroup] = []

    def add_mutually_exclusive_group(self, required: bool = False) -> Any:
        """As argparse's; with ``required=True`` the check runs after parsing (file values count)."""
        group = super().add_mutually_exclusive_group(required=False)
        if required:
            self._required_groups.append(group)
        return group

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        """Parse, then require one member of each required exclusive group (on the line or in a file)."""
        parsed = super().parse_args(args, namespace, **kwargs)
        for group in self._required_groups:
            actions = group._group_actions
            if all(getattr(parsed, a.dest, a.default) == a.default for a in actions):
                flags = " ".join(a.option_strings[0] for a in actions)
                self.error(f"one of the arguments {flags} is required")
        return parsed


def tool_parser(description: str | None) -> ToolParser:
    """A :class:`ToolParser` with ``--config FILE`` (and the ``--print_config`` it brings)."""
    parser = ToolParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--config",
        action=jsonargparse.ActionConfigFile,
        help="YAML/JSON file of these options (keys: the flags' names with '_' for '-'); "
        "flags after it override it; --print_config writes one",
    )
    return parser
