"""One run folder, one training: the lock on ``RUN/.lock``, and output folders checked before any work."""

from __future__ import annotations

import json
import os
import re
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
    assert train_main(tiny_args(synthetic_voc_root, run, "--skip_test", "true")) == 0
    assert json.loads((run / "results.json").read_text())["global_step"] == 2
    out = capsys.readouterr().out  # the tool prints the library's notes, as it did before they were logged
    assert re.search(r"^cached 12 training images in memory \(\d+ MiB, [\d.]+ s\)$", out, re.M)
    (note,) = [line for line in out.splitlines() if "taking it over" in line]
    assert note.startswith(f"note: {run / '.lock'} was left by pid {dead.pid} (started 2026-01-01T00:00:00)")
    assert (run / ".lock").read_text() == ""  # released at the end


def test_sequential_trainings_into_one_run_dir_take_the_lock_in_turn(synthetic_voc_root, tmp_path):
    train(tiny_args(synthetic_voc_root, tmp_path, "--skip_test", "true"))
    resumed = train(
        tiny_args(synthetic_voc_root, tmp_path, "--skip_test", "true", "--trainer.max_epochs", "2")
        + ["--ckpt_path", "last"]
    )
    assert resumed["global_step"] == 4


def _one_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    return line


def test_train_into_a_run_dir_that_is_a_file_exits_2_before_any_work(synthetic_voc_root, tmp_path, capsys):
    run = tmp_path / "run"
    run.write_text("not a folder")
    assert train_main(tiny_args(synthetic_voc_root, run)) == 2
    line = _one_error(capsys)
    assert "--run_dir" in line and str(run) in line and "is a file" in line
    run_below = run / "sub"
    assert train_main(tiny_args(synthetic_voc_root, run_below)) == 2
    assert "is a file" in _one_error(capsys)


def test_train_into_a_read_only_run_dir_exits_2(synthetic_voc_root, tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    run.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == run else real_access(p, mode))
    assert train_main(tiny_args(synthetic_voc_root, run)) == 2
    line = _one_error(capsys)
    assert "--run_dir" in line and "not writable" in line
    assert list(run.iterdir()) == []


@pytest.fixture(scope="module")
def checkpoint(synthetic_voc_root, tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    return train(tiny_args(synthetic_voc_root, run, "--pool", "gap", "--skip_test", "true"))["run_dir"]


def test_evaluate_out_that_is_a_folder_or_read_only_exits_2_before_scoring(
    checkpoint, synthetic_voc_root, tmp_path, capsys, monkeypatch
):
    from tools.evaluate import main as evaluate_main

    ckpt = str(Path(checkpoint) / "checkpoints" / "last.ckpt")
    common = ["--ckpt", ckpt, "--data", f"voc:{synthetic_voc_root}", "--num-workers", "0", "--no-progress"]
    import wsl.jobs.evaluate

    def never(*args, **kwargs):
        raise AssertionError("scored before the output was checked")

    # evaluate --ckpt scores through evaluate_trained (evaluate_model is the in-memory module's job)
    monkeypatch.setattr(wsl.jobs.evaluate, "evaluate_trained", never)
    monkeypatch.setattr(wsl.jobs.evaluate, "evaluate_model", never)
    folder = tmp_path / "out.json"
    folder.mkdir()
    assert evaluate_main([*common, "--out", str(folder)]) == 2
    line = _one_error(capsys)
    assert "--out" in line and "is a folder" in line
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert evaluate_main([*common, "--out", str(blocker / "eval.json")]) == 2
    assert "is a file" in _one_error(capsys)
    read_only = tmp_path / "ro"
    read_only.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == read_only else real_access(p, mode))
    assert evaluate_main([*common, "--out", str(read_only / "eval.json")]) == 2
    assert "not writable" in _one_error(capsys)
    assert list(read_only.iterdir()) == [] and not list(tmp_path.glob("*.tmp"))


def test_make_synthetic_into_a_read_only_out_is_one_error_line(tmp_path, capsys, monkeypatch):
    """Issue 35 item 21: the tool printed a traceback after it had started drawing."""
    from tools.make_synthetic import main as make_synthetic_main

    read_only = tmp_path / "ro"
    read_only.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == read_only else real_access(p, mode))
    args = ["--out", str(read_only / "set"), "--num-train", "4", "--num-val", "2", "--num-test", "2"]
    assert make_synthetic_main([*args, "--image-size", "32", "--workers", "1"]) == 2
    line = _one_error(capsys)
    assert "--out" in line and "not writable" in line
    assert list(read_only.iterdir()) == []


def test_a_too_small_limit_val_batches_is_one_error_line_and_the_run_dir_stays_reusable(
    synthetic_voc_root, tmp_path, capsys
):
    """Issue 35 item 21: Lightning's MisconfigurationException came as a traceback after config.yaml was
    written, and the folder then counted as a started run."""
    from wsl.runs import previous_run

    run = tmp_path / "run"
    args = tiny_args(synthetic_voc_root, run, "--trainer.limit_val_batches", "0.0001")
    assert train_main([*args, "--trainer.check_val_every_n_epoch", "1"]) == 2
    line = _one_error(capsys)
    assert line.startswith("error: trainer:") and "limit_val_batches" in line
    assert previous_run(run) == []
