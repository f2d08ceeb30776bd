"""How the tools show what the library logs: one handler on the ``wsl`` logger, for the length of a run.

Library functions log through :mod:`logging` (``logging.getLogger(__name__)``: notes on where a value came
from at INFO, skipped inputs at WARNING) and print nothing; a tool wraps its run in :func:`tool_logging`
to print those messages, as they are, on its stream.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

__all__ = ["tool_logging"]


@contextmanager
def tool_logging(stream: TextIO | None = None, level: int = logging.INFO) -> Iterator[logging.Handler]:
    """Print the ``wsl`` loggers' messages of ``level`` and above on ``stream`` (default ``sys.stderr``)
    while the block runs, one message a line, without a prefix; the logger is restored afterwards.

    Example:
        >>> import io
        >>> out = io.StringIO()
        >>> with tool_logging(out):
        ...     logging.getLogger("wsl.jobs.example").info("note: hello")
        >>> out.getvalue()
        'note: hello\\n'
    """
    logger = logging.getLogger("wsl")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.setLevel(level)
    previous = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > level:
        logger.setLevel(level)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
