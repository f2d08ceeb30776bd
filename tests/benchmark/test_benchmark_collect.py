"""wsl.benchmark.collect: finished run folders → rows, read through wsl.runs.RunFolder."""

from __future__ import annotations

import json

import pytest
import yaml

from wsl.benchmark import collect as wc
from wsl.benchmark.collect import _SPLIT_KEYS
from wsl.benchmark.options import BenchmarkOptions
from wsl.benchmark.plan import make_plan

DATA = {"data": "voc:/nowhere", "batch_size": 4}
KEY = tuple(json.dumps(DATA.get(k), sort_keys=True) for k in _SPLIT_KEYS)


@pytest.mark.parametrize(("limit", "expected"), [(None, 10), (2, 8), (0.5, 4), (1.0, 10), (100, 10)])
def test_images_per_epoch_cuts_the_train_split_like_lightning(limit, expected):
    sizes = {KEY: 10}  # 10 images in batches of 4: 3 batches, the last one of 2 images
    config = {"data": DATA, "trainer": {"limit_train_batches": limit}}
    assert wc.images_per_epoch(config, sizes) == expected


def test_images_per_epoch_is_unknown_without_the_data_settings():
    assert wc.images_per_epoch({"trainer": {}}, {}) is None


def test_collect_reads_finished_runs_and_leaves_out_the_others(tmp_path):
    gap0, gap1, lse0 = make_plan(BenchmarkOptions("gap,lse", [0, 1], tmp_path, grid=False)).test_runs({})[:3]
    gap0.run_dir.mkdir(parents=True)
    results = {"epochs": 1, "train_seconds": 2.0, "test": {"map": 0.4}, "test_curves": {"thresholds": [0]}}
    gap0.results_path.write_text(json.dumps(results))
    (gap0.run_dir / "config.yaml").write_text(yaml.safe_dump({"data": DATA, "trainer": {}}))
    gap1.run_dir.mkdir(parents=True)
    gap1.results_path.write_text("{not json")  # unreadable: not finished
    rows, curves = wc.collect_runs([gap0, gap1, lse0], {KEY: 10})
    assert [(r["entry"], r["seed"]) for r in rows] == [("gap", 0)]
    assert rows[0]["train_images"] == 10 and rows[0]["train_images_per_s"] == 5.0 and rows[0]["map"] == 0.4
    assert curves == {str(gap0.run_dir): {"thresholds": [0]}}
