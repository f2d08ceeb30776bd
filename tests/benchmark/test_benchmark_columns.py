"""The benchmark's columns come from the metric registry (wsl.metrics.registry: each metric declares its
Column), the other producers' columns (OTHER_COLUMNS) name keys those producers really report, and the
columns, compared scores and selectable scores the benchmark had as hand-written lists are kept, in order."""

from __future__ import annotations

import pytest
import torch

from wsl.benchmark import columns as bc
from wsl.cam.explain_eval import FaithfulnessSums
from wsl.evaluation import LocalizationEvaluator
from wsl.metrics.registry import (
    METRICS,
    OTHER_COLUMNS,
    Column,
    MetricEntry,
    register_metric,
    result_columns,
    result_keys,
)

#: The hand-written list the columns replaced (benchmark/columns.py before), in its order.
BEFORE = (
    ("map", "mAP", "%"),
    ("top1_acc", "Top-1 acc", "%"),
    ("pointing_game", "Pointing game", "%"),
    ("maxboxacc", "MaxBoxAcc", "%"),
    ("maxboxacc_v2", "MaxBoxAccV2", "%"),
    ("pxap", "PxAP", "%"),
    ("top1_loc", "Top-1 Loc", "%"),
    ("train_seconds", "train time (s)", "s"),
    ("train_images_per_s", "train img/s", "img/s"),
)
FIXED = ("gt_known_loc_at_t", "top1_loc_at_t", "top5_loc_at_t", "top5_cls")
FAITHFULNESS = FaithfulnessSums.KEYS + FaithfulnessSums.ROAD_KEYS


def test_the_columns_before_keep_their_titles_units_and_order():
    triples = bc.metric_columns()
    assert [t for t in triples if t[0] in {k for k, _, _ in BEFORE}] == list(BEFORE)
    assert triples == bc.METRICS


def test_compared_and_selectable_scores_are_those_of_before_then_the_new_scores():
    before = ("map", "top1_acc", "pointing_game", "maxboxacc", "maxboxacc_v2", "pxap")
    assert bc.compared_keys() == before + FIXED + FAITHFULNESS
    assert bc.selectable_keys() == (*before, "top1_loc")


def test_every_registered_column_is_a_result_key_of_its_metric():
    for entry in METRICS.values():
        assert {c.key for c in entry.columns} <= set(entry.keys), entry.name
    registry_keys = {c.key for e in METRICS.values() for c in e.columns}
    assert registry_keys <= set(result_keys())
    assert {"maxboxacc", "maxboxacc_v2", "pointing_game", "pxap", "top1_loc", *FIXED} == registry_keys


def test_a_column_outside_its_metrics_keys_is_refused_before_registration():
    entry = MetricEntry("stray", ("a",), lambda s: None, lambda m, t: None, lambda m, s: {},
                        columns=(Column("b", "B", 99),))  # fmt: skip
    with pytest.raises(ValueError, match=r"^metric 'stray': columns \['b'\] are not among its keys \['a'\]"):
        register_metric(entry)
    assert "stray" not in METRICS


def test_a_column_unit_must_be_known():
    with pytest.raises(ValueError, match=r"^Column 'x': unit got 'pct'; expected one of %, s, img/s"):
        Column("x", "X", 1, unit="pct")


def test_columns_are_unique_and_every_score_is_percent():
    keys = [c.key for c in bc.columns()]
    assert len(keys) == len(set(keys))
    assert all(c.unit == "%" for c in result_columns())
    assert [c.rank for c in bc.columns()] == sorted(c.rank for c in bc.columns())
    assert bc.CURVES[0][0] == "maxboxacc"


def test_a_key_declared_twice_is_an_error(monkeypatch):
    monkeypatch.setattr(bc, "TIMING", (*bc.TIMING, Column("map", "mAP again", 99)))
    with pytest.raises(ValueError, match=r"^benchmark columns: keys \['map'\] are declared twice"):
        bc.columns()


def test_the_faithfulness_columns_are_the_faithfulness_sums_keys():
    faithful = [c.key for c in OTHER_COLUMNS if c.rank >= 80]
    assert tuple(faithful) == FAITHFULNESS


@pytest.mark.filterwarnings("ignore:The ``compute`` method of metric")  # no localization trial fed
@pytest.mark.parametrize(("single_label", "key"), [(False, "map"), (True, "top1_acc")])
def test_the_classification_columns_are_the_evaluators_keys(single_label, key):
    evaluator = LocalizationEvaluator(3, single_label=single_label)
    batch = {
        "labels": torch.eye(3, dtype=torch.long),
        "box_labels": [torch.tensor([c]) for c in range(3)],
        "difficult": [torch.tensor([False])] * 3,
    }
    evaluator.update_classification(torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 3.0], [0.0, 0.0, 1.0]]), batch)
    reported = set(evaluator.compute())
    classification = {c.key for c in OTHER_COLUMNS if c.rank < 80}
    assert reported & classification == {key}
