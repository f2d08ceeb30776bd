"""``evaluate --cams --workers N`` (wsl.evaluation_workers): the scores of N worker processes are those of
one process, key for key, on wsolevaluation's real metadata (CUB boxes, OpenImages masks) with stand-in
maps; the counts merge exactly; errors and notes come back as in one process."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.wsol_metadata import write_standin
from wsl.evaluation import LocalizationEvaluator
from wsl.evaluation_workers import _from_wire, _to_wire, check_workers, score_in_processes, start_method
from wsl.jobs.evaluate import evaluate_cams

#: Images per class of each split: the test split is scored, the others must not be empty.
SPLITS = {"train": 1, "val": 1, "test": 4}


def _smooth_map(rng: np.random.Generator, side: int = 224) -> np.ndarray:
    """A smooth random map: a 6x6 grid upsampled (np.kron) plus a little noise, float32."""
    coarse = rng.random((6, 6))
    fine = np.kron(coarse, np.ones((side // 6 + 1, side // 6 + 1)))[:side, :side]
    return (fine + 0.05 * rng.random((side, side))).astype(np.float32)


def _write_maps(root: Path, meta: Path, dataset: str, nan_ids: int = 0) -> Path:
    """One 224x224 ``<image_id>.npy`` per test id (wsolevaluation's nested layout); the first
    ``nan_ids`` maps hold a NaN."""
    ids = (meta / dataset / "test" / "image_ids.txt").read_text().split()
    rng = np.random.default_rng(7)
    maps = root / "scoremaps"
    for k, image_id in enumerate(ids):
        cam = _smooth_map(rng)
        if k < nan_ids:
            cam[3, 5] = np.nan
        path = maps / f"{image_id}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, cam)
    return maps


@pytest.fixture(scope="module")
def cub(tmp_path_factory):
    root, meta = write_standin("CUB", tmp_path_factory.mktemp("cub"), classes=(0, 1, 2), per_class=SPLITS)
    return root, meta, _write_maps(root, meta, "CUB", nan_ids=2)


@pytest.fixture(scope="module")
def openimages(tmp_path_factory):
    root, meta = write_standin("OpenImages", tmp_path_factory.mktemp("oi"), classes=(0, 1), per_class=SPLITS)
    return root, meta, _write_maps(root, meta, "OpenImages")


def _run(data, dataset: str, workers: int, **extra) -> dict:
    root, meta, maps = data
    payload = evaluate_cams(
        maps,
        f"wsol:{dataset}:{root}:metadata={meta}",
        "test",
        single_label=True,
        protocol="wsolevaluation",
        batch_size=3,  # several batches, split unevenly between the workers
        progress=False,
        workers=workers,
        **extra,
    )
    return payload["results"]


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        both_nan = isinstance(a[key], float) and math.isnan(a[key]) and math.isnan(b[key])
        assert both_nan or a[key] == b[key], key  # exact: the counts are integers


def test_cub_scores_are_identical_with_one_two_and_three_workers(cub, caplog):
    with caplog.at_level(logging.WARNING, logger="wsl.jobs.evaluate"):
        one = _run(cub, "CUB", 1)
    serial_warnings = [r.getMessage() for r in caplog.records if "NaN" in r.getMessage()]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="wsl.jobs.evaluate"):
        two = _run(cub, "CUB", 2)
    worker_warnings = [r.getMessage() for r in caplog.records if "NaN" in r.getMessage()]
    three = _run(cub, "CUB", 3, cam_curve_interval=0.001)
    assert one["images_scored"] == 12 and {"maxboxacc", "maxboxacc_v2", "pointing_game"} <= one.keys()
    assert 0 < one["maxboxacc_v2"] < 1  # the maps are not trivially right or wrong
    _same(one, two)
    _same(one, three)  # 0.001 is the protocol's default interval
    # the two NaN maps are reported once, naming the same files, as one process reports them
    assert serial_warnings == worker_warnings and len(serial_warnings) == 1 and "2 maps" in serial_warnings[0]


def test_openimages_pxap_is_identical_with_two_workers(openimages):
    one = _run(openimages, "OpenImages", 1)
    two = _run(openimages, "OpenImages", 2)
    assert "pxap" in one and 0 < one["pxap"] < 1
    _same(one, two)


def test_a_bad_map_raises_the_same_error_from_a_worker(cub, tmp_path):
    root, meta, maps = cub
    bad = tmp_path / "maps"
    for path in maps.rglob("*.npy"):
        target = bad / path.relative_to(maps)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    last = sorted(bad.rglob("*.npy"))[-1]
    np.save(last, np.zeros((3, 4, 5), np.float32))  # 3-D: refused by the reader
    for workers in (1, 2):
        with pytest.raises(ValueError, match=r"has shape \(3, 4, 5\); expected a 2-D"):
            _run((root, meta, bad), "CUB", workers)


def test_workers_must_be_a_positive_int(cub):
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="workers must be an int >= 1"):
            check_workers(bad)
    with pytest.raises(ValueError, match="workers must be an int >= 1"):
        _run(cub, "CUB", 0)


def test_the_command_takes_workers_with_cams_only(cub, tmp_path, capsys):
    from tools.evaluate import main

    root, meta, maps = cub
    data = f"wsol:CUB:{root}:metadata={meta}"
    common = ["--data", data, "--single-label", "--protocol", "wsolevaluation", "--no-progress"]
    outs = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}.json"
        assert main(["--cams", str(maps), *common, "--workers", workers, "--out", str(out)]) == 0
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]  # the same file, byte for byte
    assert main(["--center", *common, "--workers", "2"]) == 2
    assert "--workers is the number of processes that score saved maps" in capsys.readouterr().err
    assert main(["--cams", str(maps), *common, "--workers", "0"]) == 2


def test_counts_add_up_and_a_foreign_state_is_refused():
    evaluator = LocalizationEvaluator(3, single_label=True, cam_curve_interval=0.1)
    counts = evaluator.localization_counts()
    assert set(counts) == set(evaluator.metric_names)
    for states in counts.values():
        for value in states.values():
            assert not value.is_floating_point()  # integer counts: sums are exact in any order
    ones = {n: {s: torch.ones_like(v) for s, v in st.items()} for n, st in counts.items()}
    evaluator.add_localization_counts(ones)
    evaluator.add_localization_counts(ones)
    assert int(evaluator.maxboxacc.total) == 2 and int(evaluator.pointing_game.hits.sum()) == 2 * 3
    with pytest.raises(ValueError, match="counts name the metrics"):
        evaluator.add_localization_counts({"maxboxacc": ones["maxboxacc"]})
    floats = {n: dict(st) for n, st in ones.items()}
    floats["maxboxacc"]["correct"] = floats["maxboxacc"]["correct"].double()
    with pytest.raises(ValueError, match="maxboxacc.correct: only sum-reduced integer counts"):
        evaluator.add_localization_counts(floats)


def test_the_wire_round_trips_tensors_as_numpy_and_keeps_the_rest():
    batch = {
        "orig_size": torch.tensor([[3, 4]]),
        "boxes": [torch.tensor([[0, 1, 2, 3]])],
        "masks": [None],
        "image_id": ["a/b.jpg"],
        "pair": (torch.tensor([True]), np.arange(2)),
    }
    wire = _to_wire(batch)
    assert not any(isinstance(v, torch.Tensor) for v in (wire["orig_size"], *wire["boxes"]))
    back = _from_wire(wire)
    assert torch.equal(back["orig_size"], batch["orig_size"])
    assert torch.equal(back["boxes"][0], batch["boxes"][0])
    assert back["masks"] == [None] and back["image_id"] == ["a/b.jpg"]
    assert isinstance(back["pair"], tuple) and back["pair"][0].dtype == torch.bool
    assert isinstance(back["pair"][1], np.ndarray)  # a numpy array stays one


def test_one_worker_scores_in_this_process_and_the_start_method_is_not_fork():
    evaluator = LocalizationEvaluator(2, single_label=True, cam_curve_interval=0.1)
    assert score_in_processes(evaluator, [], lambda batch: None, 1) == (0, [])  # type: ignore[arg-type]
    assert start_method() in ("forkserver", "spawn")
