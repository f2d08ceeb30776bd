"""wsl.runs: the atomic writer, run folders and the device rule."""

from __future__ import annotations

import json
import logging
import os
import stat

import pytest
import torch

from wsl.registry import Registry
from wsl.runs import (
    ACCELERATORS,
    DEFAULT_IMAGE_SIZE,
    DEFAULT_THRESHOLD,
    RunFolder,
    atomic_path,
    check_new_run,
    device_names,
    nan_to_none,
    parse_threshold,
    previous_run,
    resolve_device,
    write_json,
    write_text,
)


def test_atomic_path_replaces_on_success_and_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "sub" / "file.txt"
    write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.txt"]


def test_written_files_get_the_umask_mode_not_mkstemps_0600(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_json(tmp_path / "a.json", {"b": 1, "a": 2})
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert path.read_text() == json.dumps({"a": 2, "b": 1}, indent=2, sort_keys=True)


def test_run_folder_of_a_checkpoint(tmp_path):
    assert RunFolder.of_checkpoint(tmp_path / "run" / "checkpoints" / "best.ckpt").root == tmp_path / "run"
    assert RunFolder.of_checkpoint(tmp_path / "loose" / "model.ckpt").root == tmp_path / "loose"


def test_best_threshold_from_results_json(tmp_path):
    run = RunFolder(tmp_path)
    value, note = run.best_threshold()
    assert value == DEFAULT_THRESHOLD and "no results.json" in note
    write_json(run.results_path, {"test": {"maxboxacc_threshold": 0.27}})
    assert run.best_threshold()[0] == 0.27 and run.results()["test"]["maxboxacc_threshold"] == 0.27
    write_json(run.results_path, {"test": {}})
    value, note = run.best_threshold()
    assert value == DEFAULT_THRESHOLD and "no usable test.maxboxacc_threshold" in note


def test_training_image_size_from_checkpoint_then_config_then_default(tmp_path):
    run = RunFolder(tmp_path)
    assert run.training_image_size()[0] == DEFAULT_IMAGE_SIZE
    write_text(run.config_path, "data:\n  image_size: 96\n")
    assert run.training_image_size() == (96, f"image size 96 from {run.config_path}")
    ckpt = tmp_path / "x.ckpt"
    torch.save({"datamodule_hyper_parameters": {"image_size": 72}}, ckpt)
    assert run.training_image_size(ckpt)[0] == 72


def test_device_rule():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError) as error:
        resolve_device("gpu0")
    assert (
        str(error.value)
        == "device: got 'gpu0'; expected one of ['cpu', 'cuda', 'cuda:N', 'mps', 'mps:N', 'auto']"
    )
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


@pytest.mark.parametrize("bad", ["x", 1.0, -0.1, float("nan")])
def test_parse_threshold_refuses_what_is_not_in_0_1(bad):
    with pytest.raises(ValueError, match="threshold must"):
        parse_threshold(bad)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_write_json_refuses_non_finite_numbers_naming_the_key_and_writes_nothing(tmp_path, bad):
    target = tmp_path / "results.json"
    with pytest.raises(ValueError, match=r"results\.json.*\['test'\]\['curve'\]\[1\] = .*not finite"):
        write_json(target, {"test": {"curve": [0.5, bad]}})
    assert list(tmp_path.iterdir()) == []


def test_write_json_nan_as_null_writes_undefined_scores_as_null_but_still_refuses_infinity(tmp_path):
    target = write_json(tmp_path / "r.json", {"map": float("nan"), "n": [1, float("nan")]}, nan_as_null=True)
    assert target.read_text() == '{\n  "map": null,\n  "n": [\n    1,\n    null\n  ]\n}'
    with pytest.raises(ValueError, match="not finite"):
        write_json(tmp_path / "s.json", {"map": float("inf")}, nan_as_null=True)
    assert nan_to_none((float("nan"), {"a": 1.0})) == [None, {"a": 1.0}]


def _make_run(root, *names):
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")


def test_previous_run_lists_what_a_training_writes_and_ignores_the_rest(tmp_path):
    assert previous_run(tmp_path / "missing") == []
    _make_run(tmp_path, ".lock", "logs/version_0/metrics.csv", "cams/sheet.png")
    assert previous_run(tmp_path) == []
    _make_run(tmp_path, "config.yaml", "checkpoints/last.ckpt", "checkpoints/best.ckpt")
    assert previous_run(tmp_path) == ["checkpoints/best.ckpt", "checkpoints/last.ckpt", "config.yaml"]


def test_check_new_run_refuses_an_occupied_folder_unless_the_run_is_continued(tmp_path):
    assert check_new_run(tmp_path, None) == []  # empty folder
    _make_run(tmp_path, "config.yaml", "checkpoints/last.ckpt", "results.json")
    with pytest.raises(
        ValueError,
        match=r"run_dir .* already holds a finished run \(checkpoints/last\.ckpt, "
        r"config\.yaml, results\.json\); pass a new --run_dir, --ckpt_path last .* --overwrite true",
    ):
        check_new_run(tmp_path, None)
    assert check_new_run(tmp_path, "last") == []
    assert check_new_run(tmp_path, str(tmp_path / "checkpoints" / "last.ckpt")) == []
    with pytest.raises(ValueError, match="already holds"):
        check_new_run(tmp_path, str(tmp_path / "elsewhere" / "last.ckpt"))
    (tmp_path / "results.json").unlink()
    with pytest.raises(ValueError, match="already holds a started run"):
        check_new_run(tmp_path, None)


def test_check_new_run_overwrite_deletes_only_the_run_outputs(tmp_path):
    _make_run(tmp_path, "config.yaml", "checkpoints/best.ckpt", "checkpoints/best-v1.ckpt", "logs/a.csv")
    deleted = check_new_run(tmp_path, None, overwrite=True)
    assert deleted == ["checkpoints/best-v1.ckpt", "checkpoints/best.ckpt", "config.yaml"]
    assert previous_run(tmp_path) == [] and (tmp_path / "logs" / "a.csv").is_file()


def test_mps_is_accepted_wherever_cuda_is(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("mps") == torch.device("mps")
    assert resolve_device("mps:0") == torch.device("mps", 0)
    assert resolve_device(torch.device("mps")) == torch.device("mps")
    assert resolve_device("auto") == torch.device("cpu")  # mps only when asked for
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device 'mps' was asked for but MPS is not available; use 'cpu'"):
        resolve_device("mps")


def test_cuda_index_is_kept_and_auto_prefers_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device("auto") == torch.device("cuda")


@pytest.mark.parametrize("bad", ["cuda:", "cuda:x", "mps:-1", "cpu:0", "CUDA", "metal"])
def test_device_rule_refuses_malformed_names(bad):
    with pytest.raises(
        ValueError, match=rf"^device: got '{bad}'( \(did you mean '[\w:]+'\?\))?; expected one of \["
    ):
        resolve_device(bad)


@pytest.mark.parametrize(
    ("bad", "closest"),
    [("cdua", "cuda"), ("CUDA", "cuda"), ("cuda:x", "cuda:N"), ("mp", "mps"), ("cpu:0", "cpu")],
)
def test_a_wrong_device_gets_the_registrys_error_naming_the_closest_device(bad, closest):
    with pytest.raises(ValueError) as error:
        resolve_device(bad)
    names = ["cpu", "cuda", "cuda:N", "mps", "mps:N", "auto"]
    assert str(error.value) == f"device: got {bad!r} (did you mean {closest!r}?); expected one of {names}"
    assert isinstance(ACCELERATORS, Registry) and ACCELERATORS.names() == ["cuda", "mps"]
    assert device_names() == names


def test_a_second_lock_on_a_held_run_dir_is_refused_naming_the_holder(tmp_path, caplog):
    from wsl.runs import lock_run_dir

    caplog.set_level(logging.INFO, logger="wsl")

    with lock_run_dir(tmp_path) as path:
        assert json.loads(path.read_text())["pid"] == os.getpid()
        busy = rf"is in use by another training \(pid {os.getpid()}, started"
        with pytest.raises(ValueError, match=busy), lock_run_dir(tmp_path):
            pass
    assert path.read_text() == ""
    with lock_run_dir(tmp_path):  # released: taken again
        pass
    assert caplog.records == []  # an OS lock, never left by a dead process: nothing to say


def _dead_pid() -> int:
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_without_an_os_lock_the_pid_in_the_lock_file_decides(tmp_path, monkeypatch, caplog, capsys):
    import wsl.runs
    from wsl.portable import LOCK_BACKENDS

    monkeypatch.setattr(wsl.runs, "lock_backend", lambda: LOCK_BACKENDS["none"])
    caplog.set_level(logging.INFO, logger="wsl")
    lock = tmp_path / ".lock"
    live = os.getppid()  # the process that started the tests: alive, not this one
    lock.write_text(json.dumps({"pid": live, "started": "2026-01-01T00:00:00"}))
    busy = rf"in use by another training \(pid {live}, started 2026-01-01"
    with pytest.raises(ValueError, match=busy), wsl.runs.lock_run_dir(tmp_path):
        pass
    assert lock.read_text().startswith('{"pid": ' + str(live))  # left as it was
    dead = _dead_pid()
    lock.write_text(json.dumps({"pid": dead, "started": "2026-01-01T00:00:00"}))
    with wsl.runs.lock_run_dir(tmp_path):
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert lock.read_text() == ""
    notes = [r.getMessage() for r in caplog.records if r.name == "wsl.runs"]
    assert all(r.levelno == logging.INFO for r in caplog.records)
    assert notes[0] == f"note: no file lock on linux; {lock} is checked by the pid it names"
    assert notes[-1] == (
        f"note: {lock} was left by pid {dead} (started 2026-01-01T00:00:00), which is no longer running; "
        "taking it over"
    )
    assert capsys.readouterr() == ("", "")  # logged, not printed
