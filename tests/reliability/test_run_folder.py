"""One run folder, one training: the lock on ``RUN/.lock``, and output folders checked before any work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tiny_training import reproducible_tiny_args as tiny_args

from tools.train import main as train_main
from wsl.cli import train

REPO = Path(__file__).resolve().parents[2]


def _start_training(args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "tools/train.py", *args], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
        )


def _wait_for_file(path: Path, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 300
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"training ended (rc {proc.returncode}) before {path.name}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{path.name} never appeared:\n{log.read_text()}")
        time.sleep(0.02)


def test_a_second_training_into_a_busy_run_dir_is_refused(synthetic_voc_root, tmp_path, capsys):
    run = tmp_path / "run"
    log = tmp_path / "first.log"
    first = _start_training(tiny_args(synthetic_voc_root, run, "--trainer.max_epochs", "1000"), log)
    try:
        _wait_for_file(run / "checkpoints" / "last.ckpt", first, log)
        assert train_main(tiny_args(synthetic_voc_root, run, "--pool", "gap")) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err
        (line,) = [line for line in err.splitlines() if line.startswith("error:")]
        assert str(run) in line and f"pid {first.pid}" in line and "--run_dir" in line
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=120)
    assert not (run / "results.json").exists()  # the second run wrote nothing either


def test_a_lock_left_by_a_dead_process_is_taken_over_with_a_note(synthetic_voc_root, tmp_path, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run = tmp_path / "run"
    run.mkdir()
    (run / ".lock").write_text(json.dumps({"pid": dead.pid, "started": "2026-01-01T00:00:00"}))
    results = train(tiny_args(synthetic_voc_root, run, "--skip_test", "true"))
    assert results["global_step"] == 2
    out = capsys.readouterr()
    assert f"pid {dead.pid}" in out.out + out.err and "taking it over" in out.out + out.err
    assert (run / ".lock").read_text() == ""  # released at the end


def test_sequential_trainings_into_one_run_dir_take_the_lock_in_turn(synthetic_voc_root, tmp_path):
    train(tiny_args(synthetic_voc_root, tmp_path, "--skip_test", "true"))
    resumed = train(
        tiny_args(synthetic_voc_root, tmp_path, "--skip_test", "true", "--trainer.max_epochs", "2")
        + ["--ckpt_path", "last"]
    )
    assert resumed["global_step"] == 4
