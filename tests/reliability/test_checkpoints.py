"""Checkpoints that mean what they say (issue 34): last.ckpt is the final state, one run per run folder,
a resume mid-epoch is bit-identical, a diverged run fails, and the test scores what it says it scores."""

from __future__ import annotations

import json
import logging
import math

import pytest
import torch
from pytorch_lightning.utilities.exceptions import SIGTERMException
from tiny_training import reproducible_tiny_args as tiny_args
from tiny_training import sigterm_at

from tools.train import main as train_main
from wsl.cli import train

QUIET = ("--trainer.enable_model_summary", "false")


def _step_inside(path) -> int:
    return int(torch.load(path, map_location="cpu", weights_only=True)["global_step"])


def _one_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    return line


# 1. last.ckpt is the final weights -------------------------------------------------------------------


def test_checkpoint_select_last_tests_the_final_weights_when_the_last_epoch_has_no_validation(
    synthetic_voc_root, tmp_path
):
    # Validation every 2 epochs of 3: Lightning's save_last wrote last.ckpt at step 4, never at 6.
    run = tmp_path / "run"
    epochs = ("--trainer.max_epochs", "3", "--trainer.check_val_every_n_epoch", "2", *QUIET)
    results = train(tiny_args(synthetic_voc_root, run, *epochs, "--checkpoint_select", "last"))
    assert results["global_step"] == 6
    assert results["checkpoint"] == str(run / "checkpoints" / "last.ckpt")
    assert _step_inside(results["checkpoint"]) == 6
    assert results["checkpoint_global_step"] == 6
    assert json.loads((run / "results.json").read_text())["checkpoint_global_step"] == 6


def test_last_ckpt_is_rewritten_every_epoch_even_when_the_score_does_not_improve(
    synthetic_voc_root, tmp_path, monkeypatch
):
    # A validation score that never improves after the first epoch: best.ckpt stays at step 2.
    import wsl.lit

    scores = iter([0.9, 0.1, 0.1])

    def frozen_score(self, evaluator, stage):
        self.log(f"{stage}/map", next(scores) if stage == "val" else 0.5)

    monkeypatch.setattr(wsl.lit.WSLModule, "_eval_epoch_end", frozen_score)
    run = tmp_path / "run"
    results = train(
        tiny_args(synthetic_voc_root, run, "--trainer.max_epochs", "3", "--skip_test", "true", *QUIET)
    )
    assert results["global_step"] == 6
    assert _step_inside(run / "checkpoints" / "best.ckpt") == 2
    assert _step_inside(run / "checkpoints" / "last.ckpt") == 6
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]


def test_saving_checkpoints_logs_no_weights_only_default_notice(synthetic_voc_root, tmp_path):
    # Lightning logs "`weights_only` was not set, defaulting to `False`." on every save that leaves it unset:
    # one line per epoch in the first command's output.
    run = tmp_path / "run"
    seen: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    lightning_log = logging.getLogger("pytorch_lightning")
    level = lightning_log.level
    lightning_log.addHandler(handler)
    lightning_log.setLevel(logging.INFO)
    try:
        train(tiny_args(synthetic_voc_root, run, "--trainer.max_epochs", "2", "--skip_test", "true", *QUIET))
    finally:
        lightning_log.removeHandler(handler)
        lightning_log.setLevel(level)
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert [m for m in seen if "weights_only" in m] == []


# 2. One run per run folder ---------------------------------------------------------------------------


@pytest.fixture
def finished_run(synthetic_voc_root, tmp_path):
    run = tmp_path / "run"
    train(tiny_args(synthetic_voc_root, run, "--skip_test", "true", *QUIET))
    return run


def test_a_second_training_into_a_finished_run_folder_is_refused_and_changes_nothing(
    finished_run, synthetic_voc_root, capsys
):
    run = finished_run
    before = {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"}
    assert train_main(tiny_args(synthetic_voc_root, run, "--pool", "gap")) == 2
    line = _one_error(capsys)
    assert str(run) in line and "already holds" in line
    assert "--run_dir" in line and "--ckpt_path last" in line and "--overwrite true" in line
    after = {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"}
    assert after == before  # no best-v1.ckpt, no new config.yaml


def test_a_started_run_is_refused_too_and_continued_with_ckpt_path_last(
    finished_run, synthetic_voc_root, capsys
):
    run = finished_run
    (run / "results.json").unlink(missing_ok=True)  # as if killed before the end
    assert train_main(tiny_args(synthetic_voc_root, run)) == 2
    assert "a started run" in _one_error(capsys)
    resumed = train(
        tiny_args(
            synthetic_voc_root, run, "--trainer.max_epochs", "2", "--ckpt_path", "last", "--skip_test", "true"
        )
    )
    assert resumed["global_step"] == 4


def test_a_checkpoint_of_another_run_cannot_continue_into_an_occupied_folder(
    finished_run, synthetic_voc_root, tmp_path, capsys
):
    other = tmp_path / "other"
    train(tiny_args(synthetic_voc_root, other, "--skip_test", "true", *QUIET))
    foreign = other / "checkpoints" / "last.ckpt"
    args = tiny_args(
        synthetic_voc_root, finished_run, "--trainer.max_epochs", "2", "--ckpt_path", str(foreign)
    )
    assert train_main(args) == 2
    assert "already holds" in _one_error(capsys)


def test_overwrite_deletes_the_earlier_run_and_trains_anew(finished_run, synthetic_voc_root, capsys):
    run = finished_run
    (run / "checkpoints" / "best-v1.ckpt").write_bytes(b"left by an old wsl")
    results = train(tiny_args(synthetic_voc_root, run, "--overwrite", "true", "--pool", "gap", *QUIET))
    assert "deleted the earlier run" in capsys.readouterr().out
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    assert json.loads((run / "results.json").read_text())["pool"] == results["pool"] == "gap"
    assert (
        torch.load(run / "checkpoints" / "best.ckpt", weights_only=True)["hyper_parameters"]["pool"] == "gap"
    )


# 3. Exact resume -------------------------------------------------------------------------------------

EPOCHS = ("--trainer.max_epochs", "3", "--skip_test", "true", *QUIET)


@pytest.fixture(scope="module")
def uninterrupted(synthetic_voc_root, tmp_path_factory):
    run = tmp_path_factory.mktemp("uninterrupted")
    train(tiny_args(synthetic_voc_root, run, *EPOCHS))
    return torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)


@pytest.mark.parametrize("kill_step", [1, 3, 4])
def test_a_run_killed_mid_epoch_resumes_to_bit_identical_weights(
    kill_step, uninterrupted, synthetic_voc_root, tmp_path
):
    # 2 batches per epoch: step 1 and 3 are mid-epoch, 4 is an epoch's last batch before its validation.
    # The voc data augments (flips, colour jitter) from torch's global generator in the main process.
    run = tmp_path / "run"
    with pytest.raises(SIGTERMException):
        train(tiny_args(synthetic_voc_root, run, *EPOCHS, *sigterm_at(kill_step)))
    assert _step_inside(run / "checkpoints" / "last.ckpt") == kill_step
    resumed = train(tiny_args(synthetic_voc_root, run, *EPOCHS, "--ckpt_path", "last"))
    assert resumed["resume_not_restored"] == []
    final = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert final["global_step"] == uninterrupted["global_step"] == 6
    expected = uninterrupted["state_dict"]
    assert final["state_dict"].keys() == expected.keys()
    different = [k for k in expected if not torch.equal(final["state_dict"][k], expected[k])]
    assert different == []
    for mine, theirs in zip(final["optimizer_states"], uninterrupted["optimizer_states"], strict=True):
        for key, state in theirs["state"].items():
            for name, value in state.items():
                assert torch.equal(torch.as_tensor(mine["state"][key][name]), torch.as_tensor(value)), name


# 4. Divergence stops the run ---------------------------------------------------------------------------


def test_a_diverging_run_exits_1_naming_the_step_and_the_loss_and_writes_no_results(
    synthetic_voc_root, tmp_path, capsys
):
    run = tmp_path / "run"
    code = train_main(tiny_args(synthetic_voc_root, run, "--model.lr", "1e30", "--trainer.max_epochs", "3"))
    assert code == 1
    line = _one_error(capsys)
    assert "training diverged" in line and "at step" in line
    assert "nan" in line or "inf" in line
    assert "--model.lr" in line and "--trainer.gradient_clip_val" in line
    assert not (run / "results.json").exists()


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--model.lr", "-1", r"lr: got -1\.0; expected a finite number in \(0, inf\)"),
        ("--model.weight_decay", "-0.1", r"weight_decay: got -0\.1"),
        ("--model.gamma", "1.5", r"gamma: got 1\.5; expected a finite number in \(0, 1\]"),
        ("--data.image_size", "0", r"image_size: got 0; expected an int >= 1"),
    ],
)
def test_a_bad_numeric_option_exits_2_before_any_work(
    flag, value, message, synthetic_voc_root, tmp_path, capsys
):
    import re

    run = tmp_path / "run"
    assert train_main(tiny_args(synthetic_voc_root, run, flag, value)) == 2
    assert re.search(message, _one_error(capsys))
    assert not run.exists()


# 5. Batch limits, the frames of the test, the checkpoint that falls back ----------------------------------


def test_an_integer_batch_limit_is_a_count_of_batches(synthetic_voc_root, tmp_path):
    from wsl.cli import TRAINER_DEFAULTS, WSLCLI, expand_aliases
    from wsl.data import WSLDataModule
    from wsl.lit import WSLModule

    config = tmp_path / "limits.yaml"
    config.write_text("trainer:\n  limit_test_batches: 1\n")

    def parsed(*extra: str):
        args = expand_aliases(tiny_args(synthetic_voc_root, tmp_path / "run", *extra))
        cli = WSLCLI(WSLModule, WSLDataModule, run=False, args=args, trainer_defaults=TRAINER_DEFAULTS)
        return cli.trainer

    trainer = parsed("--trainer.limit_val_batches", "1", "--trainer.limit_train_batches", "0.5")
    assert trainer.limit_val_batches == 1 and type(trainer.limit_val_batches) is int
    assert trainer.limit_train_batches == 0.5
    trainer = parsed("--trainer.limit_val_batches", "1.0", "--config", str(config))
    assert trainer.limit_val_batches == 1.0 and type(trainer.limit_val_batches) is float
    assert trainer.limit_test_batches == 1 and type(trainer.limit_test_batches) is int


def test_limit_val_batches_1_validates_one_batch(synthetic_voc_root, tmp_path, monkeypatch):
    import wsl.lit

    seen = []
    step = wsl.lit.WSLModule.validation_step
    monkeypatch.setattr(
        wsl.lit.WSLModule, "validation_step", lambda self, batch, i: (seen.append(i), step(self, batch, i))[1]
    )
    # Batches of 2 over the 4 validation images: 1 means one batch (before: 1.0, all of them).
    train(
        tiny_args(
            synthetic_voc_root, tmp_path / "run", "--data.batch_size", "2", "--skip_test", "true", *QUIET
        )
    )
    assert seen == [0]


def test_both_frames_of_a_limited_test_score_the_same_images(odd_voc_root, tmp_path):
    from wsl.checkpoint import load_module
    from wsl.data import WSLDataModule
    from wsl.jobs.evaluate import evaluate_model

    run = tmp_path / "run"
    frames = ("--test_protocols", "original,wsolevaluation", "--trainer.limit_test_batches", "1", *QUIET)
    results = train(tiny_args(odd_voc_root, run, *frames))  # 5 test images, batches of 4: one batch is 4
    assert results["test_images"] == 4
    by_frame = results["test_by_protocol"]
    module = load_module(results["checkpoint"])
    data = WSLDataModule(f"voc:{odd_voc_root}", image_size=64, batch_size=4, num_workers=0)
    first_four = evaluate_model(module, data.dataloader("test", limit=4), progress=False, protocol="original")
    assert by_frame["original"]["map"] == pytest.approx(first_four["map"], abs=1e-6)
    assert by_frame["wsolevaluation"]["map"] == pytest.approx(first_four["map"], abs=1e-6)


def test_checkpoint_select_best_without_validation_falls_back_to_last_and_says_so(
    synthetic_voc_root, tmp_path, capsys
):
    run = tmp_path / "run"
    results = train(tiny_args(synthetic_voc_root, run, "--trainer.limit_val_batches", "0", *QUIET))
    assert results["checkpoint"] == str(run / "checkpoints" / "last.ckpt")
    assert results["checkpoint_global_step"] == results["global_step"] == 2
    reason = results["checkpoint_fallback"]
    assert "val/map" in reason and "last.ckpt" in reason
    assert f"note: --checkpoint_select best: {reason}" in capsys.readouterr().out
    assert json.loads((run / "results.json").read_text())["checkpoint_fallback"] == reason


def test_results_json_is_strict_json(synthetic_voc_root, tmp_path):
    run = tmp_path / "run"
    train(tiny_args(synthetic_voc_root, run, *QUIET))

    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")

    payload = json.loads((run / "results.json").read_text(), parse_constant=refuse)
    assert all(v is None or math.isfinite(v) for v in payload["test"].values())


# ------------------------------------------------ a checkpoint that finds no room (issue 35 item 18)

_FSIZE_SCRIPT = r"""
import resource, signal, sys
import torch
from wsl.checkpoint import AtomicCheckpointIO, CheckpointWriteError
path = sys.argv[1]
AtomicCheckpointIO().save_checkpoint({"w": torch.zeros(10)}, path)  # a small complete one first
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write then fails with EFBIG instead of killing us
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    AtomicCheckpointIO().save_checkpoint({"w": torch.zeros(1_000_000)}, path)
except CheckpointWriteError as err:
    print("CAUGHT", err)
"""


@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGXFSZ"), reason="POSIX file-size limit")
def test_a_file_size_limit_while_saving_is_one_clear_error_and_the_old_checkpoint_stays(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "last.ckpt"
    done = subprocess.run(
        [sys.executable, "-c", _FSIZE_SCRIPT, str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "CAUGHT cannot write the checkpoint" in done.stdout, done.stdout + done.stderr[-2000:]
    assert "file too large or disk full" in done.stdout and "--ckpt_path last" in done.stdout
    assert torch.load(path, weights_only=True)["w"].shape == (10,)  # the previous file, complete
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temporary file left


def test_a_full_disk_while_saving_is_one_error_line_from_the_tool(tmp_path, monkeypatch, capsys):
    import errno

    from wsl.checkpoint import AtomicCheckpointIO, CheckpointWriteError
    from wsl.cli import run_tool

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", no_space)

    def tool(argv):
        AtomicCheckpointIO().save_checkpoint({"w": torch.zeros(3)}, tmp_path / "best.ckpt")

    assert run_tool(tool, []) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write the checkpoint") and err.count("\n") == 1
    assert "best.ckpt" in err and "No space left on device" in err
    assert list(tmp_path.iterdir()) == []
    # other failures are not dressed up as a full disk
    monkeypatch.setattr(torch, "save", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("bad tensor")))
    with pytest.raises(RuntimeError, match="bad tensor") as info:
        AtomicCheckpointIO().save_checkpoint({"w": torch.zeros(3)}, tmp_path / "best.ckpt")
    assert not isinstance(info.value, CheckpointWriteError)
