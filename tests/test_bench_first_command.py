"""bench/first_command_phases.py and the timings of bench/main_job_spread.py: arithmetic and plumbing only
(no timed assertion)."""

import inspect
import json
import subprocess
import sys

import pytorch_lightning as pl

from bench import first_command_phases as phases
from bench import main_job_spread as spread


def test_table_rest_is_the_command_minus_the_named_phases():
    clock = phases.PhaseClock()
    clock.totals.update({"import": [10.0, 8.0, 1], "setup": [5.0, 4.0, 1]})
    clock.totals.update({"train": [60.0, 30.0, 2], "validation": [20.0, 6.0, 2]})
    text = phases.table(clock, (100.0, 50.0))
    rows = {line.split("|")[1].strip(): line.split("|")[2:6] for line in text.splitlines()[2:]}
    # rest = 100 - (10 + 5 + 60 + 20 + 0) wall, 50 - (8 + 4 + 30 + 6 + 0) CPU
    assert [c.strip() for c in rows["rest"]] == ["1", "5.0", "2.0", "4 %"]
    assert [c.strip() for c in rows["train"]] == ["2", "60.0", "30.0", "60 %"]
    assert [c.strip() for c in rows["test"]] == ["0", "0.0", "0.0", "0 %"]


def test_phase_clock_accumulates_spans_and_ignores_an_unopened_stop():
    clock = phases.PhaseClock()
    ticks = iter([(0.0, 0.0), (2.0, 1.5), (10.0, 3.0), (13.0, 3.5)])
    clock_fn = phases.clocks
    try:
        phases.clocks = lambda: next(ticks)  # type: ignore[assignment]
        clock.start("train")
        clock.stop("train")
        clock.stop("validation")  # never started: no span
        clock.start("train")
        clock.stop("train")
    finally:
        phases.clocks = clock_fn
    assert clock.totals["train"] == [5.0, 2.0, 2]
    assert clock.totals["validation"] == [0.0, 0.0, 0]


def test_clocks_count_a_finished_child_process():
    _, before = phases.clocks()
    subprocess.run([sys.executable, "-c", "sum(i * i for i in range(3_000_000))"], check=True)
    _, after = phases.clocks()
    assert after > before  # the child's CPU seconds arrive through getrusage(RUSAGE_CHILDREN)


def test_install_keeps_the_trainer_signature_and_appends_the_callback(monkeypatch):
    monkeypatch.setattr(pl.Trainer, "__init__", pl.Trainer.__init__)  # restored after the test
    marker = pl.Callback()
    phases._install(marker)
    assert "max_epochs" in inspect.signature(pl.Trainer.__init__).parameters  # LightningCLI reads it
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    assert marker in trainer.callbacks


def test_spread_reads_back_the_stored_times(tmp_path):
    run_dir = tmp_path / "seed3-t1-default"
    run_dir.mkdir()
    key = {"seed": 3, "threads": 1, "switch": "default"}
    argv = ["--pool", "weldon", "--seed_everything", "3", "--run_dir", str(run_dir)]
    argv += ["--trainer.enable_progress_bar", "false"]
    (run_dir / "spread_key.json").write_text(json.dumps({**key, "argv": argv}))
    (run_dir / "results.json").write_text(json.dumps({"test": {"map": 0.5, "maxboxacc": 0.25}}))
    (run_dir / "spread_times.json").write_text(json.dumps({"wall_s": 300.0, "cpu_s": 550.0}))
    row = spread.run_one(tmp_path, 3, 1, "default", [])
    assert (row["map"], row["maxboxacc"], row["wall_s"], row["cpu_s"]) == (50.0, 25.0, 300.0, 550.0)
    line = spread.times_line([row, {**row, "cpu_s": 450.0, "wall_s": 200.0}, {**row, "cpu_s": None}])
    wall, cpu = line.split("; ")
    assert wall == "wall s min / median / max 200 / 300 / 300 (3 runs)"
    assert cpu == "CPU (user + system) s min / median / max 450 / 500 / 550 (2 runs)"


def test_spread_runs_a_switch_with_its_environment_and_records_its_cpu(tmp_path, monkeypatch):
    seen = {}

    class FakeChild:
        pid = 12345
        returncode = None

        def __init__(self, argv, stdout, stderr, env):
            seen["env"] = env
            run_dir = tmp_path / "seed0-t2-omp_passive"
            run_dir.mkdir()
            (run_dir / "results.json").write_text(json.dumps({"test": {"map": 1.0}}))

    class Usage:
        ru_utime, ru_stime = 7.0, 0.5

    monkeypatch.setattr(spread.subprocess, "Popen", FakeChild)
    monkeypatch.setattr(spread.os, "wait4", lambda pid, options: (pid, 0, Usage()))
    row = spread.run_one(tmp_path, 0, 2, "omp_passive", [])
    assert seen["env"]["OMP_WAIT_POLICY"] == "PASSIVE"
    assert row["cpu_s"] == 7.5 and row["map"] == 100.0
    stored = json.loads((tmp_path / "seed0-t2-omp_passive" / "spread_times.json").read_text())
    assert stored["cpu_s"] == 7.5
