"""wsl.metrics.METRICS: the evaluator is built from it, and no metric module is left unregistered."""

from __future__ import annotations

import inspect
import pkgutil

import pytest
import torch
from torchmetrics import Metric

import wsl.metrics
from wsl.cam import CamBatch
from wsl.evaluation import LocalizationEvaluator
from wsl.metrics import METRICS, EvalSettings, MetricEntry, TrialBatch, register_metric
from wsl.metrics.registry import result_keys
from wsl.registry import Registry

# Modules of wsl.metrics that are not one localization metric each.
NOT_METRICS = {
    "_inputs",
    "_cam_levels",
    "boxes",
    "classification",
    "localization",
    "normalize",
    "registry",
    "report",
    "threads",
}


def _metric_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(wsl.metrics.__path__) if m.name not in NOT_METRICS)


def test_every_metric_module_registers_and_every_metric_class_is_built():
    assert isinstance(METRICS, Registry)
    assert _metric_modules() == ["boxacc", "fixed_loc", "pixel_ap", "pointing"]
    settings = EvalSettings(
        num_classes=3, single_label=True, cam_curve_interval=0.1, with_subset=True, cam_threshold=0.5
    )
    built = {name: entry.build(settings) for name, entry in METRICS.items()}
    for module_name in _metric_modules():
        module = getattr(wsl.metrics, module_name)
        registered = [n for n, e in METRICS.items() if e.build.__module__ == module.__name__]
        assert registered, f"wsl.metrics.{module_name} registers no metric"
        classes = {
            cls
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, Metric) and cls.__module__ == module.__name__
        }
        assert classes and classes <= {type(built[n]) for n in registered}


def test_results_order_and_keys():
    assert METRICS.names() == [
        "maxboxacc",
        "maxboxacc_v2",
        "pointing_game",
        "pointing_game_subset",
        "pxap",
        "fixed_loc",
    ]
    assert result_keys() == [
        "maxboxacc",
        "maxboxacc_threshold",
        "top1_loc",
        "maxboxacc_v2",
        "pointing_game",
        "pointing_game_difficult",
        "pxap",
        "gt_known_loc_at_t",
        "top1_loc_at_t",
        "top5_loc_at_t",
        "top5_cls",
        "fixed_cam_threshold",
    ]
    assert all(name == entry.name for name, entry in METRICS.items())


def test_subset_metric_is_built_only_with_a_subset():
    assert "pointing_game_subset" not in LocalizationEvaluator(2).metric_names
    ev = LocalizationEvaluator(2, pointing_subset={"a": (True, False)})
    assert ev.metric_names == [n for n in METRICS.names() if n != "fixed_loc"]  # fixed_loc: cam_threshold


def _batch() -> dict:
    mask = torch.zeros(1, 12, 16, dtype=torch.bool)
    mask[0, 2:6, 3:9] = True
    return {
        "image_id": ["a"],
        "orig_size": torch.tensor([[12, 16]]),
        "labels": torch.tensor([[0.0, 1.0]]),
        "boxes": [torch.tensor([[3, 2, 8, 5]])],
        "box_labels": [torch.tensor([1])],
        "difficult": [torch.tensor([False])],
        "masks": [mask],
        "ignore": [None],
    }


def test_a_registered_metric_is_built_fed_and_reported_by_the_evaluator():
    class TrialCount(Metric):
        full_state_update = False
        count: torch.Tensor

        def __init__(self) -> None:
            super().__init__()
            self.add_state("count", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

        def update(self, n: int) -> None:
            self.count += n

        def compute(self) -> torch.Tensor:
            return self.count

    def fed(metric: Metric, trials: TrialBatch) -> None:
        assert len(trials.cams) == len(trials.quantized) == len(trials.boxes) == 1
        assert trials.quantized[0].dtype == torch.uint8 and trials.classes.tolist() == [1]
        metric.update(len(trials.cams))

    entry = MetricEntry(
        "trial_count",
        ("trial_count",),
        build=lambda s: TrialCount(),
        update=fed,
        results=lambda m, s: {"trial_count": float(m.compute())},
    )
    try:
        register_metric(entry)
        with pytest.raises(ValueError, match=r"^metric name 'trial_count' is already registered to "):
            register_metric(entry)
        ev = LocalizationEvaluator(2)
        assert isinstance(ev.trial_count, TrialCount)
        maps = torch.rand(1, 2, 3, 4, generator=torch.Generator().manual_seed(0))
        ev.update(torch.tensor([[0.2, 0.8]]), maps, _batch())
        ev.update(torch.tensor([[0.2, 0.8]]), maps, _batch())
        results = ev.compute()
        assert results["trial_count"] == 2.0 and list(results)[-1] == "trial_count"
        ev.reset()
        assert int(ev.trial_count.count) == 0
    finally:
        METRICS.pop("trial_count", None)


def test_evaluator_results_equal_the_metrics_fed_by_hand():
    """The registry-built evaluator reports what the metrics report when fed the same CAMs directly."""
    from wsl.metrics import BoxAccuracy, PointingGame, PxAP

    g = torch.Generator().manual_seed(3)
    batch = _batch()
    scores = torch.tensor([[0.2, 0.8]])
    maps = torch.rand(1, 2, 3, 4, generator=g)
    ev = LocalizationEvaluator(2, cam_curve_interval=0.05)
    ev.update(scores, maps, batch)
    cams = CamBatch.from_maps(lambda i, c: maps[i, c], [(12, 16)], [[1]])
    box = BoxAccuracy(iou_thresholds=(50,), cam_curve_interval=0.05, multi_contour=False)
    box.update(cams.cams, batch["boxes"])
    v2 = BoxAccuracy(cam_curve_interval=0.05)
    v2.update(cams.cams, batch["boxes"])
    pg = PointingGame(2)
    pg.update(cams.cams, batch["masks"][0], torch.tensor([1]))
    px = PxAP(cam_curve_interval=0.05)
    px.update(cams.cams, batch["masks"][0])
    results = ev.compute()
    assert list(results) == [
        "map",
        "maxboxacc",
        "maxboxacc_threshold",
        "maxboxacc_v2",
        "pointing_game",
        "pxap",
    ]
    assert results["maxboxacc"] == float(box.compute()["maxboxacc_50"])
    assert results["maxboxacc_threshold"] == float(box.compute()["threshold_50"])
    assert results["maxboxacc_v2"] == float(v2.compute()["maxboxacc_mean"])
    assert results["pointing_game"] == float(pg.compute()["accuracy"])
    assert results["pxap"] == float(px.compute())
