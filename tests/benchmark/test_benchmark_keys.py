"""wsl.benchmark.keys: runs keyed by their configuration; stale and unkeyed finished runs refused, redone
or kept."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil

import pytest

from wsl.benchmark import keys as wk
from wsl.benchmark.options import BenchmarkOptions
from wsl.benchmark.plan import make_plan


def _sha(fields: dict) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def _finish(run, key: dict | None) -> None:
    """A finished run: its results.json, and its key file when ``key`` is given."""
    run.run_dir.mkdir(parents=True, exist_ok=True)
    run.results_path.write_text(json.dumps({"test": {}}))
    if key is not None:
        (run.run_dir / wk.KEY_FILE).write_text(json.dumps(key))


def test_the_key_of_a_trained_run_is_its_portable_arguments_and_the_code(tmp_path):
    config = tmp_path / "a.yaml"
    config.write_text("trainer: {max_epochs: 3}\n")
    plan = make_plan(
        BenchmarkOptions(
            "lse", [1], tmp_path / "out", config=str(config), data="synthetic", extra_args=["--x", "1"]
        )
    )
    [run] = plan.test_runs({"lse": {"beta": 2}})
    key = wk.run_key(plan, run)
    expected_args = [
        "--config", "sha256:" + hashlib.sha256(config.read_bytes()).hexdigest(),
        "--pool", "lse", "--seed_everything", "1", "--run_dir", "lse_beta2-seed1", "--dataset", "synthetic",
        "--checkpoint_select", "last", "--x", "1", "--model.pool_kwargs", '{"beta": 2}',
    ]  # fmt: skip
    fields = {
        "entry": "lse",
        "seed": 1,
        "setting": {"beta": 2},
        "epochs": None,
        "train_args": expected_args,
        "code": wk.code_digest(),
    }
    assert key["fields"] == fields and key["digest"] == _sha(fields)
    assert re.fullmatch("[0-9a-f]{64}", wk.code_digest())


def test_moving_the_folders_keeps_the_key_and_any_change_makes_a_new_one(tmp_path, monkeypatch):
    config = tmp_path / "a.yaml"
    config.write_text("{}\n")
    moved = tmp_path / "elsewhere.yaml"
    shutil.copy(config, moved)

    def digest(out, cfg=config, extra=("--x", "1"), epochs=None, seed=0):
        plan = make_plan(
            BenchmarkOptions("gap", [seed], out, config=str(cfg), extra_args=list(extra), epochs=epochs)
        )
        return wk.run_key(plan, plan.test_runs({})[0])["digest"]

    base = digest(tmp_path / "out")
    assert digest(tmp_path / "another_out", cfg=moved) == base
    assert digest(tmp_path / "out", extra=("--x", "2")) != base
    assert digest(tmp_path / "out", seed=1) != base
    assert digest(tmp_path / "out", epochs="gap=7") != base
    config.write_text("{trainer: {max_epochs: 2}}\n")
    assert digest(tmp_path / "out") != base
    config.write_text("{}\n")
    monkeypatch.setattr(wk, "code_digest", lambda: "another version of the code")
    assert digest(tmp_path / "out") != base


def test_a_posthoc_key_follows_its_source_runs_key(tmp_path):
    plan = make_plan(BenchmarkOptions("gap,gradcam@gap", [0], tmp_path))
    source, posthoc = plan.test_runs({})
    before = wk.run_key(plan, posthoc)
    assert before["fields"]["source"] == "gap-seed0" and before["fields"]["source_digest"] is None
    wk.write_key(plan, source)
    after = wk.run_key(plan, posthoc)
    assert after["fields"]["source_digest"] == wk.run_key(plan, source)["digest"] != before["digest"]


def test_diff_fields_names_what_changed():
    old = {
        "seed": 0,
        "epochs": None,
        "code": "a",
        "train_args": ["--pool", "gap", "--trainer.max_epochs", "5"],
    }
    new = {"seed": 0, "epochs": 7, "code": "b", "train_args": ["--pool", "gap", "--trainer.max_epochs", "7"]}
    assert wk.diff_fields(old, new) == [
        "code: the wsl sources changed since the run",
        "epochs: null → 7",
        "train_args: only before: --trainer.max_epochs 5; only now: --trainer.max_epochs 7",
    ]


@pytest.fixture
def three_runs(tmp_path):
    """gap at seeds 0, 1, 2: seed 0 finished with the current key, seed 1 finished with another one (an
    older --x), seed 2 unfinished; the plan and the runs."""
    plan = make_plan(BenchmarkOptions("gap", [0, 1, 2], tmp_path, extra_args=["--x", "2"]))
    runs = plan.test_runs({})
    _finish(runs[0], wk.run_key(plan, runs[0]))
    old_plan = make_plan(BenchmarkOptions("gap", [0, 1, 2], tmp_path, extra_args=["--x", "1"]))
    _finish(runs[1], wk.run_key(old_plan, old_plan.test_runs({})[1]))
    return plan, runs


def test_a_stale_run_is_refused_with_the_run_the_difference_and_the_fix(three_runs):
    plan, runs = three_runs
    message = r"(?s)1 finished run\(s\).*gap-seed1 .*only before: --x 1; only now: --x 2"
    message += ".*--redo-stale.*--keep-stale"
    with pytest.raises(ValueError, match=message):
        wk.check_finished(plan, runs)


def test_an_unkeyed_run_is_refused_too(three_runs):
    plan, runs = three_runs
    (runs[1].run_dir / wk.KEY_FILE).unlink()
    with pytest.raises(ValueError, match=r"gap-seed1 .*no benchmark key \(finished before run keys"):
        wk.check_finished(plan, runs)


def test_keep_reuses_and_redo_moves_the_stale_run_aside(three_runs, caplog, capsys):
    plan, runs = three_runs
    caplog.set_level(logging.INFO, logger="wsl")
    assert wk.check_finished(plan, runs, "keep") == [runs[2]]
    notes = {r.getMessage().split(":")[0]: r for r in caplog.records if r.name == "wsl.benchmark.keys"}
    assert notes["gap-seed0"].getMessage() == "gap-seed0: skip (finished with the same configuration)"
    assert notes["gap-seed1"].getMessage().startswith("gap-seed1: reused as it is (--keep-stale), although ")
    assert notes["gap-seed0"].levelno == logging.INFO and notes["gap-seed1"].levelno == logging.WARNING
    caplog.clear()
    assert wk.check_finished(plan, runs, "redo") == [runs[1], runs[2]]
    assert not runs[1].run_dir.exists() and (plan.root / "stale" / "gap-seed1-1" / "results.json").is_file()
    assert any("moved to" in m and m.endswith("training it again (--redo-stale)") for m in caplog.messages)
    _finish(runs[1], {"fields": {}, "digest": "x"})
    wk.check_finished(plan, runs, "redo")
    assert capsys.readouterr() == ("", "")  # logged, never printed
    assert (plan.root / "stale" / "gap-seed1-2" / wk.KEY_FILE).is_file()  # the first one is kept


def test_an_unknown_policy_is_refused(three_runs):
    plan, runs = three_runs
    with pytest.raises(ValueError, match="stale: got 'ignore'; expected one of refuse, redo, keep"):
        wk.check_finished(plan, runs, "ignore")


def test_an_interrupted_run_is_moved_aside_and_trained_anew(three_runs, caplog):
    plan, runs = three_runs
    (runs[2].run_dir / "checkpoints").mkdir(parents=True)
    (runs[2].run_dir / "config.yaml").write_text("seed_everything: 2\n")
    (runs[2].run_dir / "checkpoints" / "last.ckpt").write_bytes(b"killed at epoch 3")
    caplog.set_level(logging.INFO, logger="wsl")
    assert wk.check_finished(plan, runs, "keep") == [runs[2]]
    assert not runs[2].run_dir.exists()
    assert (
        plan.root / "stale" / "gap-seed2-1" / "checkpoints" / "last.ckpt"
    ).read_bytes() == b"killed at epoch 3"
    assert any(
        m.startswith("gap-seed2: unfinished (no results.json); its files moved to") for m in caplog.messages
    )
    wk.write_key(plan, runs[2])  # a folder holding only its key has nothing to move
    assert wk.check_finished(plan, runs, "keep") == [runs[2]] and runs[2].run_dir.is_dir()
