"""The benchmark's columns name keys the evaluator really reports: a localization column whose metric was
renamed or unregistered in the metric registry (wsl.metrics.METRICS) fails here, not as an empty column."""

from __future__ import annotations

from wsl.benchmark.columns import CURVES, METRICS
from wsl.metrics.registry import result_keys  # importing wsl.metrics registers every metric

#: The evaluator's classification keys (wsl.evaluation) and the training's timing keys (wsl.cli).
NOT_LOCALIZATION = {"map", "top1_acc", "train_seconds", "train_images_per_s"}


def test_every_localization_column_is_a_registered_result_key():
    columns = [key for key, _, _ in METRICS if key not in NOT_LOCALIZATION]
    assert columns and set(columns) <= set(result_keys())


def test_columns_are_unique_and_fractions_are_percent():
    keys = [key for key, _, _ in METRICS]
    assert len(keys) == len(set(keys))
    assert all(unit == "%" for key, _, unit in METRICS if key in result_keys())
    assert CURVES[0][0] == "maxboxacc"
