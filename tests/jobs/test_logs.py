"""wsl.jobs.logs.tool_logging: the one handler that prints the library's log messages for a tool."""

from __future__ import annotations

import io
import logging
import sys

import pytest

from wsl.jobs.logs import tool_logging


@pytest.fixture
def wsl_logger():
    """The ``wsl`` logger with its level and handlers restored after the test."""
    logger = logging.getLogger("wsl")
    level, handlers = logger.level, list(logger.handlers)
    yield logger
    logger.setLevel(level)
    logger.handlers[:] = handlers


def test_messages_of_the_level_and_above_print_as_they_are_one_a_line(wsl_logger):
    out = io.StringIO()
    job = logging.getLogger("wsl.jobs.example")
    with tool_logging(out):
        job.debug("debug: hidden")
        job.info("note: shown")
        job.warning("skipped %d files", 2)
        logging.getLogger("other").warning("not wsl's")
    assert out.getvalue() == "note: shown\nskipped 2 files\n"


def test_a_higher_level_hides_the_notes(wsl_logger):
    out = io.StringIO()
    with tool_logging(out, level=logging.WARNING):
        logging.getLogger("wsl.x").info("note: hidden")
        logging.getLogger("wsl.x").error("error: shown")
    assert out.getvalue() == "error: shown\n"


def test_the_logger_is_restored_after_the_block_even_when_it_raises(wsl_logger):
    wsl_logger.setLevel(logging.ERROR)
    before = list(wsl_logger.handlers)
    out = io.StringIO()
    with pytest.raises(RuntimeError), tool_logging(out) as handler:
        assert handler in wsl_logger.handlers and wsl_logger.level == logging.INFO
        raise RuntimeError("job failed")
    assert wsl_logger.handlers == before and wsl_logger.level == logging.ERROR
    logging.getLogger("wsl.x").error("after the block")
    assert out.getvalue() == ""


def test_a_logger_already_more_verbose_is_left_so(wsl_logger):
    wsl_logger.setLevel(logging.DEBUG)
    out = io.StringIO()
    with tool_logging(out):
        assert wsl_logger.level == logging.DEBUG
        logging.getLogger("wsl.x").debug("debug: not the handler's level")
    assert out.getvalue() == "" and wsl_logger.level == logging.DEBUG


def test_the_default_stream_is_stderr(wsl_logger, capsys):
    with tool_logging() as handler:
        assert handler.stream is sys.stderr
        logging.getLogger("wsl.y").info("note: on stderr")
    captured = capsys.readouterr()
    assert captured.err == "note: on stderr\n" and captured.out == ""
