"""The one command line: ``wsol SUBCOMMAND`` / ``python -m wsl`` dispatch to the tools (issue 31)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from wsl.commands import SUBCOMMANDS, main
from wsl.registry import Registry

REPO = Path(__file__).resolve().parents[2]


def test_every_tool_is_a_subcommand_and_every_subcommand_a_tool():
    tools = {p.stem for p in (REPO / "tools").glob("*.py") if p.stem != "__init__"}
    assert {module.rsplit(".", 1)[1] for module in SUBCOMMANDS.values()} == tools
    for name, module in SUBCOMMANDS.items():
        assert callable(__import__(module, fromlist=["main"]).main), name


def test_help_lists_the_subcommands_and_no_subcommand_is_an_error(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in SUBCOMMANDS)
    assert main([]) == 2
    assert "usage: wsol" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("wrong", "closest"), [("evalute", "evaluate"), ("make_synthetic", "make-synthetic")]
)
def test_an_unknown_subcommand_gets_the_registrys_error_naming_the_closest(capsys, wrong, closest):
    assert main([wrong]) == 2
    err = capsys.readouterr().err
    names = sorted(SUBCOMMANDS)
    assert err == f"error: subcommand: got {wrong!r} (did you mean {closest!r}?); expected one of {names}\n"
    assert isinstance(SUBCOMMANDS, Registry) and SUBCOMMANDS.names()[:2] == ["train", "evaluate"]


def test_a_subcommand_runs_its_tool_and_returns_its_status(tmp_path, capsys):
    out = tmp_path / "set"
    args = ["--out", str(out), "--num-train", "4", "--num-val", "2", "--num-test", "2", "--image-size", "32"]
    assert main(["make-synthetic", *args, "--workers", "1"]) == 0
    assert (out / "JPEGImages").is_dir()


@pytest.mark.parametrize("argv", [["-m", "wsl", "--help"], ["tools/evaluate.py", "--help"]])
def test_python_m_wsl_and_the_tool_files_run(argv):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, *argv], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout
