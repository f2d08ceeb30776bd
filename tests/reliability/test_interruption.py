"""Nothing lost: SIGKILL mid-run resumes to the same step count, SIGTERM saves last.ckpt, saves are atomic."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tiny_training import reproducible_tiny_args as tiny_args

from wsl.checkpoint import AtomicCheckpointIO
from wsl.cli import train

REPO = Path(__file__).resolve().parents[2]


def _start_training(args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "tools/train.py", *args], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
        )


def _wait_for_file(path: Path, proc: subprocess.Popen, log: Path) -> None:
    """Poll until ``path`` exists; fail if the process ends first (a guard, not a timing assertion)."""
    deadline = time.monotonic() + 300
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"training ended (rc {proc.returncode}) before {path.name}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{path.name} never appeared:\n{log.read_text()}")
        time.sleep(0.02)


def test_sigkill_mid_run_then_resume_ends_at_the_uninterrupted_step_count(synthetic_voc_root, tmp_path):
    epochs = ("--trainer.max_epochs", "6")
    reference = train(tiny_args(synthetic_voc_root, tmp_path / "reference", *epochs))
    run = tmp_path / "killed"
    log = tmp_path / "killed.log"
    proc = _start_training(tiny_args(synthetic_voc_root, run, *epochs), log)
    _wait_for_file(run / "checkpoints" / "last.ckpt", proc, log)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL  # killed mid-run, not finished
    assert not (run / "results.json").exists()
    resumed = train(tiny_args(synthetic_voc_root, run, *epochs, "--ckpt_path", "last"))
    assert resumed["global_step"] == reference["global_step"] == 12
    assert json.loads((run / "results.json").read_text())["global_step"] == 12
    assert resumed["test"] and all(math.isfinite(v) for v in resumed["test"].values())


def test_sigterm_saves_last_ckpt_and_exits_and_the_run_resumes_from_that_step(synthetic_voc_root, tmp_path):
    run = tmp_path / "run"
    log = tmp_path / "run.log"
    last = run / "checkpoints" / "last.ckpt"
    proc = _start_training(tiny_args(synthetic_voc_root, run, "--trainer.max_epochs", "1000"), log)
    _wait_for_file(last, proc, log)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait() == 128 + signal.SIGTERM  # not 0: a scheduler must see the run did not finish
    assert "SIGTERM: saved" in log.read_text()
    assert not (run / "results.json").exists()
    checkpoint = torch.load(last, map_location="cpu", weights_only=True)
    step, epoch = checkpoint["global_step"], checkpoint["epoch"]
    assert step >= 2  # at least the first epoch's two steps, saved at a batch boundary
    assert not list(last.parent.glob(".*.tmp"))
    # Resume to two epochs past the interrupted one: every remaining step is run once.
    more = ("--trainer.max_epochs", str(epoch + 2), "--ckpt_path", "last")
    resumed = train(tiny_args(synthetic_voc_root, run, *more))
    assert resumed["global_step"] == 2 * (epoch + 2)


class _Unpicklable:
    def __init__(self, exception: type[BaseException]) -> None:
        self.exception = exception

    def __reduce__(self):
        raise self.exception("refused mid-save")


@pytest.mark.parametrize("exception", [RuntimeError, KeyboardInterrupt])
def test_a_save_that_fails_midway_leaves_the_old_checkpoint_and_no_temp_file(tmp_path, exception):
    path = tmp_path / "checkpoints" / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"global_step": 1, "weights": torch.ones(1000)}, path)
    before = path.read_bytes()
    big = {"global_step": 2, "weights": torch.zeros(100_000), "z_object": _Unpicklable(exception)}
    with pytest.raises(exception, match="refused mid-save"):
        io.save_checkpoint(big, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.ckpt"]
    assert torch.load(path, weights_only=True)["global_step"] == 1


def test_a_completed_save_replaces_the_file_whole(tmp_path):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    for step in (1, 2):
        io.save_checkpoint({"global_step": step}, path)
    assert io.load_checkpoint(path)["global_step"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_ctrl_c_saves_last_ckpt_and_exits_130_and_the_run_resumes(synthetic_voc_root, tmp_path):
    run = tmp_path / "run"
    log = tmp_path / "run.log"
    last = run / "checkpoints" / "last.ckpt"
    proc = _start_training(tiny_args(synthetic_voc_root, run, "--trainer.max_epochs", "1000"), log)
    _wait_for_file(last, proc, log)
    proc.send_signal(signal.SIGINT)
    assert proc.wait() == 128 + signal.SIGINT, log.read_text()
    text = log.read_text()
    assert "SIGINT: saved" in text and "Traceback" not in text
    assert not (run / "results.json").exists()
    checkpoint = torch.load(last, map_location="cpu", weights_only=True)
    step, epoch = checkpoint["global_step"], checkpoint["epoch"]
    assert step >= 2 and not list(last.parent.glob(".*.tmp"))
    more = ("--trainer.max_epochs", str(epoch + 2), "--ckpt_path", "last")
    assert train(tiny_args(synthetic_voc_root, run, *more))["global_step"] == 2 * (epoch + 2)
