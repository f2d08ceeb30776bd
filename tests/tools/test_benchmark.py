"""tools/benchmark.py on the tiny synthetic VOC set: every file, mean/std, the grid, methods, post-hoc CAMs,
the center baseline, resume, parallel jobs, error exits.

The units of wsl/benchmark/ are tested in tests/benchmark/."""

from __future__ import annotations

import csv
import json
import logging
import math
import re
import shutil

import pytest
import torch
from tiny_training import TINY_TRAIN

import wsl.cli
from tools.benchmark import main
from wsl.jobs.benchmark import BenchmarkOptions, run_benchmark


@pytest.fixture(scope="module")
def finished_benchmark(synthetic_voc_root, tmp_path_factory):
    """Two pools, a method, a post-hoc CAM and the center × 2 seeds, run once through the tool; returns
    (out folder, exit code)."""
    out = tmp_path_factory.mktemp("benchmark")
    argv = [
        "--entries",
        "gap,lse,has,gradcam@gap,center",
        "--seeds",
        "0,1",
        "--data",
        f"voc:{synthetic_voc_root}",
    ]
    argv += ["--out", str(out)]
    argv += ["--pool-kwargs", 'lse={"beta": 3}', "--cam-images", "3", "--", *TINY_TRAIN]
    return out, main(argv)


def test_benchmark_writes_every_file(finished_benchmark):
    out, code = finished_benchmark
    assert code == 0
    names = (
        "results.csv",
        "results.json",
        "results.md",
        "boxacc_curves.png",
        "cams_by_pool.png",
        "val_curves.png",
    )
    for name in names:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    for metric in ("map", "pointing_game", "maxboxacc", "maxboxacc_v2", "pxap", "train_images_per_s"):
        assert (out / f"bar_{metric}.png").is_file(), metric
    assert not list(out.glob("*.tmp*"))
    for run in ("gap", "lse_beta3", "has", "gradcam-on-gap"):
        for seed in (0, 1):
            assert (out / "runs" / f"{run}-seed{seed}" / "results.json").is_file()
    assert (out / "runs" / "center" / "results.json").is_file()


def test_benchmark_tables_agree_with_the_runs(finished_benchmark):
    out, _ = finished_benchmark
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [(r["entry"], r["seed"]) for r in rows] == [
        ("gap", "0"), ("gap", "1"), ("lse", "0"), ("lse", "1"), ("has", "0"), ("has", "1"),
        ("gradcam@gap", "0"), ("gradcam@gap", "1"), ("center", ""),
    ]  # fmt: skip
    assert [r["kind"] for r in rows] == ["train"] * 6 + ["posthoc"] * 2 + ["center"]
    # 1 epoch × 2 batches × 4 images; the rate follows from the run's own train time.
    assert all(int(r["train_images"]) == 8 for r in rows[:6]) and not rows[6]["train_images"]
    rate = 8 / float(rows[0]["train_seconds"])  # the CSV rounds the rate to 2 decimals (0.296 -> 0.3)
    assert float(rows[0]["train_images_per_s"]) == pytest.approx(rate, rel=0.01, abs=0.005)
    payload = json.loads((out / "results.json").read_text())
    assert payload["pool_kwargs"] == {"lse": {"beta": 3}}
    per_run = [json.loads((out / "runs" / f"gap-seed{s}" / "results.json").read_text()) for s in (0, 1)]
    gap = payload["summary"][0]
    assert gap["entry"] == "gap" and gap["runs"] == 2 and payload["grid"] == []
    maps = [r["test"]["map"] for r in per_run]
    assert gap["metrics"]["map"]["mean"] == pytest.approx(sum(maps) / 2)
    assert gap["metrics"]["map"]["std"] == pytest.approx(abs(maps[0] - maps[1]) / math.sqrt(2))
    table = (out / "results.md").read_text()
    assert (
        "| gap | default | 2 |" in table and "| lse | beta3 | 2 |" in table and "| center | – | 1 |" in table
    )
    assert "MaxBoxAccV2" in table and "PxAP" in table and "Top-1 Loc" not in table
    assert "## Against the best entry on MaxBoxAcc" in table
    checkpoint = torch.load(out / "runs" / "lse_beta3-seed0" / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["hyper_parameters"]["pool_kwargs"] == {"beta": 3}
    has = torch.load(out / "runs" / "has-seed1" / "checkpoints" / "last.ckpt", weights_only=True)
    assert has["hyper_parameters"]["method"] == "has" and has["hyper_parameters"]["pool"] == "gap"


def test_the_posthoc_entry_scores_its_source_checkpoint_with_its_cam_method(finished_benchmark):
    out, _ = finished_benchmark
    posthoc = json.loads((out / "runs" / "gradcam-on-gap-seed1" / "results.json").read_text())
    source = json.loads((out / "runs" / "gap-seed1" / "results.json").read_text())
    assert posthoc["cam_method"] == "gradcam" and posthoc["checkpoint"] == source["checkpoint"]
    assert posthoc["test"]["map"] == pytest.approx(source["test"]["map"])  # the same network's scores
    center = json.loads((out / "runs" / "center" / "results.json").read_text())
    assert center["kind"] == "center" and "map" not in center["test"] and "maxboxacc" in center["test"]


def test_rerun_skips_finished_runs_and_redoes_a_missing_one(finished_benchmark, monkeypatch, caplog, capsys):
    out, _ = finished_benchmark
    caplog.set_level(logging.INFO, logger="wsl")
    calls = []
    real_train = wsl.cli.train

    def counting_train(argv):
        calls.append(argv)
        return real_train(argv)

    monkeypatch.setattr(wsl.cli, "train", counting_train)
    shutil.rmtree(out / "runs" / "lse_beta3-seed1")
    data = json.loads((out / "results.json").read_text())["data"]
    kwargs = {"data": data, "extra_args": TINY_TRAIN, "num_cam_images": 0}
    entries = "gap,lse,has,gradcam@gap,center"
    result = run_benchmark(BenchmarkOptions(entries, "0,1", out, pool_kwargs={"lse": {"beta": 3}}, **kwargs))
    assert len(calls) == 1 and "lse_beta3-seed1" in calls[0][calls[0].index("--run_dir") + 1]
    assert calls[0][calls[0].index("--model.pool_kwargs") + 1] == '{"beta": 3}'
    skipped = [m for m in caplog.messages if m.endswith(": skip (finished with the same configuration)")]
    assert len(skipped) == 8  # 5 trained, 2 post-hoc and the center: same keys
    assert len(result["rows"]) == 9
    calls.clear()
    capsys.readouterr()
    caplog.clear()
    run_benchmark(BenchmarkOptions("gap,has", "0,1", out, **kwargs))
    assert calls == []
    assert capsys.readouterr() == ("", "")  # the library logs its progress and prints nothing
    assert caplog.messages[0] == "stage grid: 0 grid runs on val, 4 runs of entries without a grid"
    assert re.search(rf"\n\n4/4 runs in {re.escape(str(out))} \(\d+ s\)$", caplog.messages[-1])


def test_a_run_whose_arguments_changed_is_refused_then_kept_or_redone(
    finished_benchmark, monkeypatch, tmp_path, capsys
):
    out = tmp_path / "out"
    shutil.copytree(finished_benchmark[0], out)
    data = json.loads((out / "results.json").read_text())["data"]
    options = ["--entries", "gap", "--seeds", "0", "--data", data, "--out", str(out), "--cam-images", "0"]
    train_args = ["--", *TINY_TRAIN, "--model.lr", "0.5"]
    monkeypatch.setattr(wsl.cli, "train", lambda argv: pytest.fail(f"nothing may train: {argv}"))
    assert main([*options, *train_args]) == 2
    err = capsys.readouterr().err
    assert "error: stale: 1 finished run(s)" in err and "gap-seed0" in err
    assert "only now: --model.lr 0.5" in err and "--redo-stale" in err and "--keep-stale" in err
    assert main([*options, "--keep-stale", *train_args]) == 0
    assert "gap-seed0: reused as it is (--keep-stale)" in capsys.readouterr().out

    calls = []
    monkeypatch.undo()
    real_train = wsl.cli.train

    def counting_train(argv):
        calls.append(argv)
        return real_train(argv)

    monkeypatch.setattr(wsl.cli, "train", counting_train)
    assert main([*options, "--redo-stale", *train_args]) == 0
    assert len(calls) == 1 and (out / "stale" / "gap-seed0-1" / "results.json").is_file()
    key = json.loads((out / "runs" / "gap-seed0" / "benchmark_key.json").read_text())
    assert key["fields"]["train_args"][-2:] == ["--model.lr", "0.5"]
    assert main([*options, *train_args]) == 0 and len(calls) == 1  # now current: skipped


def test_an_own_schedule_is_reported_against_the_shared_one(finished_benchmark, monkeypatch, tmp_path):
    """--epochs has=7 over a finished benchmark: the _e7 runs are tested, the shared ones only compared."""
    out = tmp_path / "out"
    shutil.copytree(finished_benchmark[0], out)
    for seed, gain in [(0, 0.1), (1, 0.3)]:  # stand-ins for the longer runs: the shared ones, scores moved
        own = out / "runs" / f"has_e7-seed{seed}"
        shutil.copytree(out / "runs" / f"has-seed{seed}", own)
        results = json.loads((own / "results.json").read_text())
        results["epochs"], results["test"]["maxboxacc"] = 7, results["test"]["maxboxacc"] + gain
        (own / "results.json").write_text(json.dumps(results))
    monkeypatch.setattr(wsl.cli, "train", lambda argv: pytest.fail(f"nothing to train: {argv}"))
    data = json.loads((out / "results.json").read_text())["data"]
    kwargs = {"data": data, "extra_args": TINY_TRAIN, "num_cam_images": 0}
    # The stand-ins carry the shared runs' keys: kept as they are.
    result = run_benchmark(BenchmarkOptions("gap,has", "0,1", out, epochs="has=7", stale="keep", **kwargs))
    assert {r["run_dir"].rsplit("/", 1)[-1] for r in result["rows"] if r["entry"] == "has"} == {
        "has_e7-seed0",
        "has_e7-seed1",
    }
    [check] = result["schedule_check"]
    assert check["entry"] == "has" and check["epochs"] == 7 and check["shared_epochs"] != 7
    assert check["maxboxacc"]["diff"] == pytest.approx(0.2) and check["maxboxacc"]["n"] == 2
    assert "## Own schedule against the shared one" in (out / "results.md").read_text()


def test_the_grid_is_chosen_on_val_and_two_jobs_train_in_worker_processes(synthetic_voc_root, tmp_path):
    argv = [
        "--entries",
        "kmax",
        "--seeds",
        "0",
        "--data",
        f"voc:{synthetic_voc_root}",
        "--out",
        str(tmp_path),
    ]
    assert main([*argv, "--jobs", "2", "--cam-images", "0", "--", *TINY_TRAIN]) == 0
    payload = json.loads((tmp_path / "results.json").read_text())
    grid = payload["grid"]
    assert [row["setting"] for row in grid] == ["k0.05", "k0.1", "k0.3"] and sum(
        r["chosen"] for r in grid
    ) == 1
    best = max(grid, key=lambda r: r["val"])
    assert [r["setting"] for r in grid if r["chosen"]] == [
        next(r["setting"] for r in grid if r["val"] == best["val"])
    ]
    assert [row["run_dir"].rsplit("/", 1)[-1] for row in payload["runs"]] == [f"kmax_{best['setting']}-seed0"]
    for setting in ("k0.05", "k0.1", "k0.3"):
        log = (tmp_path / "logs" / f"kmax_{setting}-seed0.log").read_text()
        assert "max_epochs=1" in log  # each worker's output went to its run's log
        assert re.search(r"^cached 12 training images in memory \(", log, re.M)  # and its wsl log messages


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--entries", "gap,weldn"], "weldn"),
        (["--pools", "gap,gap"], "repeated"),
        (["--entries", "gradcam@lse"], "not a trained entry"),
        (["--jobs", "0"], "--jobs: got 0"),
        (["--select-metric", "loss"], "--select-metric: got 'loss'"),
        (["--seeds", "0,x"], "seeds"),
        (["--seeds", "0,-1"], "seeds"),
        (["--seeds", "1,1"], "repeated"),
        (["--pool-kwargs", "lse={beta: 1}"], "not valid JSON"),
        (["--pool-kwargs", "lse=[1]"], "JSON object"),
        (["--pool-kwargs", "lse"], "POOL=JSON"),
        (["--pool-kwargs", 'weldon={"kmax": 1}'], "not benchmarked"),
        (["--", "--pool", "gmp"], "set by the benchmark"),
        (["--config", "/nonexistent.yaml"], "config"),
        (["--cam-images", "-1"], "--cam-images: got -1"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(wsl.cli, "train", lambda argv: pytest.fail("no run may start on bad input"))
    base = ["--entries", "gap,lse", "--seeds", "0", "--out", str(tmp_path / "out")]
    extra = argv[argv.index("--") :] if "--" in argv else []
    options = argv[: argv.index("--")] if "--" in argv else argv
    assert main([*base, *options, *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err


def test_out_that_is_a_file_is_refused(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        run_benchmark(BenchmarkOptions("gap", "0", path))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--pool-kwargs", "lse"], "error: --pool-kwargs: got 'lse'; expected POOL=JSON"),
        (["--seeds", "x"], "error: --seeds: got 'x'"),
        (["--epochs", "gmp=60"], "error: --epochs: 'gmp' is not a trained entry of the benchmark; "
         "give ENTRY=N for one of gap, lse"),
        (["--", "--pool", "gmp"], "'--pool' in the train arguments after -- is set by the benchmark "
         "for every run; set it through --entries, --seeds, --out or --pool-kwargs instead"),
    ],
)  # fmt: skip
def test_errors_name_the_tool_flags(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(wsl.cli, "train", lambda argv: pytest.fail("no run may start on bad input"))
    assert main(["--entries", "gap,lse", "--seeds", "0", "--out", str(tmp_path / "out"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "pool_kwargs" not in err
