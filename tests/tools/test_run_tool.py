"""wsl.cli.run_tool: every way a tool's function ends becomes the process's exit status, so each tool's
``main`` is one ``return run_tool(...)`` line (no ``try: ... except SystemExit`` of its own)."""

from __future__ import annotations

import argparse
import ast
import signal
from pathlib import Path

import pytest
from pytorch_lightning.utilities.exceptions import SIGTERMException

import wsl.commands
from wsl.cli import run_tool
from wsl.lit import TrainingDiverged


def _parse(argv):
    parser = argparse.ArgumentParser(prog="tool")
    parser.add_argument("--n", type=int, required=True)
    return parser.parse_args(argv)


def test_argparse_help_is_0_and_a_bad_flag_is_2_with_its_message(capsys):
    assert run_tool(_parse, ["--help"]) == 0
    assert "usage: tool" in capsys.readouterr().out
    assert run_tool(_parse, ["--n", "two"]) == 2
    assert "argument --n: invalid int value: 'two'" in capsys.readouterr().err


def _raises(error):
    def function(argv):
        raise error

    return function


@pytest.mark.parametrize(
    ("error", "status", "err"),
    [
        (SIGTERMException(), 128 + signal.SIGTERM, ""),  # a SystemExit(0): must not look finished
        (SystemExit(), 0, ""),
        (SystemExit(3), 3, ""),
        (SystemExit("stopped: why"), 1, "stopped: why\n"),
        (KeyboardInterrupt(), 128 + signal.SIGINT, "interrupted (Ctrl-C)\n"),
        (ValueError("jobs: got 0; expected >= 1"), 2, "error: --jobs: got 0; expected >= 1\n"),
        (TrainingDiverged("loss is nan"), 1, "error: loss is nan\n"),
    ],
)
def test_each_ending_has_its_status_and_at_most_one_line(error, status, err, capsys):
    assert run_tool(_raises(error), [], {"jobs": "--jobs"}) == status
    assert capsys.readouterr().err == err


def test_no_tool_main_catches_system_exit_itself():
    folder = Path(wsl.commands.__file__).parent
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ExceptHandler) and isinstance(node.type, ast.Name):
                assert node.type.id != "SystemExit", (
                    f"{path.name}:{node.lineno}: leave SystemExit to run_tool"
                )
