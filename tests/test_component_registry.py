"""wsl.registry: the one Registry, its one "did you mean" message, and every registry built on it."""

from __future__ import annotations

import inspect

import pytest

import wsl.cam.frames
import wsl.cam.posthoc
import wsl.cam.selection
import wsl.data
import wsl.methods
import wsl.metrics
import wsl.metrics.registry
import wsl.pooling
import wsl.pooling.modules
from wsl.registry import CUTOFF, Registry, closest, unknown_choice


def test_register_lookup_names_and_kwargs():
    reg: Registry[object] = Registry("shape", what="shape_name")

    @reg.register("square")
    def square(side: float, *, scale: float = 1.0, **extra: object) -> float:
        return side * side * scale

    class Disc:
        def __init__(self, radius: float = 1.0) -> None:
            self.radius = radius

    assert reg.add("disc", Disc) is Disc
    assert reg.names() == ["square", "disc"]
    assert reg.lookup("square") is square and reg["disc"] is Disc
    assert reg.kwargs_of("square") == ["side", "scale"]  # **extra is not a keyword it names
    assert reg.kwargs_of("disc") == ["radius"]
    assert reg.kwargs_of("square", exclude=("side",)) == ["scale"]
    assert isinstance(reg, dict) and list(reg) == ["square", "disc"]
    assert repr(reg) == "Registry('shape', ['square', 'disc'])"


def test_unknown_name_is_one_message_with_the_closest_and_the_sorted_names():
    reg: Registry[int] = Registry("shape", what="shape_name")
    reg.add("square", 1)
    reg.add("disc", 2)
    with pytest.raises(
        ValueError,
        match=r"^shape_name: got 'Squares' \(did you mean 'square'\?\); "
        r"expected one of \['disc', 'square'\]$",
    ):
        reg.lookup("Squares")
    with pytest.raises(ValueError, match=r"^other: got 'zzz'; expected one of \['disc', 'square'\]$"):
        reg.lookup("zzz", what="other")
    with pytest.raises(ValueError, match=r"^shape_name: got 3; expected one of"):
        reg.lookup(3)


def test_duplicate_and_bad_names_raise():
    reg: Registry[object] = Registry("shape")
    reg.add("square", len)
    with pytest.raises(
        ValueError, match=r"^shape name 'square' is already registered to builtins\.len; choose another name$"
    ):
        reg.add("square", abs)
    with pytest.raises(ValueError, match=r"already registered to 5;"):
        reg.register("five")(5)
        reg.register("five")(6)
    with pytest.raises(TypeError, match=r"^shape name must be a non-empty str; got ''$"):
        reg.register("")
    with pytest.raises(TypeError, match=r"^shape name must be a non-empty str; got 3$"):
        reg.add(3, abs)  # type: ignore[arg-type]
    assert reg["square"] is len and reg["five"] == 5


def test_closest_uses_one_cutoff_and_folds_case():
    import difflib

    assert CUTOFF == 0.6
    # 'ab' vs 'abcd': ratio 2*2/6 = 0.667 >= 0.6; 'ab' vs 'abcde': 4/7 = 0.571 < 0.6 (hand-computed ratios).
    assert difflib.SequenceMatcher(None, "ab", "abcd").ratio() == pytest.approx(4 / 6)
    assert closest("AB", ["abcd"]) == ["abcd"]
    assert closest("ab", ["abcde"]) == []
    assert closest("x", []) == []
    assert closest("gmpp", ["gmp", "gap", "gmpx"], n=2) == ["gmp", "gmpx"]


def test_unknown_choice_shown_value_and_usage():
    err = unknown_choice("data", "vco", ["voc", "coco"], shown="vco:/x", usage="(FORMAT:PATH)")
    assert (
        str(err) == "data: got 'vco:/x' (did you mean 'voc'?); expected one of ['voc', 'coco'] (FORMAT:PATH)"
    )


# ---- every registry of the package is a Registry, and nothing defined for one is left unregistered ----


def test_every_registry_is_a_registry():
    for reg in (
        wsl.pooling.POOLS,
        wsl.data.FORMATS,
        wsl.cam.selection.CLASS_POLICIES,
        wsl.cam.posthoc.POSTHOC_METHODS,
        wsl.cam.frames.FRAMES,
        wsl.methods.METHODS,
        wsl.metrics.registry.METRICS,
    ):
        assert isinstance(reg, Registry)


def test_every_pooling_head_class_is_registered():
    heads = [
        cls
        for _, cls in inspect.getmembers(wsl.pooling.modules, inspect.isclass)
        if cls.__module__ == wsl.pooling.modules.__name__
        and issubclass(cls, wsl.pooling.PoolHead)
        and cls is not wsl.pooling.ClassWiseMean  # not a pooling head: the M → 1 map reducer before it
    ]
    assert len(heads) == 7
    assert set(heads) == set(wsl.pooling.POOLS.values())


def test_every_dataset_class_has_a_registered_format():
    from wsl.data.base import WSLDataset

    datasets = {
        cls
        for name in dir(wsl.data)
        if inspect.isclass(cls := getattr(wsl.data, name))
        and issubclass(cls, WSLDataset)
        and cls is not WSLDataset
    }
    assert datasets and datasets <= {f.dataset for f in wsl.data.FORMATS.values()}


def test_every_map_rule_of_posthoc_is_registered():
    rules = {
        fn
        for module in (wsl.cam.posthoc, wsl.cam.weighted)
        for name, fn in inspect.getmembers(module, inspect.isfunction)
        if name.endswith("_maps") and fn.__module__ == module.__name__
    }
    assert len(rules) == 7
    layer_rules = {m.rule for m in wsl.cam.posthoc.POSTHOC_METHODS.values() if m.rule and m.network is None}
    assert rules == layer_rules
    assert all(name == m.name for name, m in wsl.cam.posthoc.POSTHOC_METHODS.items())


def test_every_policy_rule_of_selection_is_registered():
    rules = {
        fn
        for name, fn in inspect.getmembers(wsl.cam.selection, inspect.isfunction)
        if name.startswith("_") and name not in ("_need",) and fn.__module__ == wsl.cam.selection.__name__
    }
    assert set(wsl.cam.selection.CLASS_POLICIES.values()) == rules
    assert wsl.cam.selection.CLASS_POLICIES.names() == ["gt", "present", "top1", "all"]


def test_every_wsol_method_class_is_registered():
    """A WSOLMethod subclass in wsl.methods that is not decorated with @register_method fails here."""
    import pkgutil

    import wsl.methods.base

    classes = set()
    for info in pkgutil.iter_modules(wsl.methods.__path__):
        module = __import__(f"wsl.methods.{info.name}", fromlist=["_"])
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                cls.__module__ == module.__name__
                and issubclass(cls, wsl.methods.base.WSOLMethod)
                and cls is not wsl.methods.base.WSOLMethod
            ):
                classes.add(cls)
    assert len(classes) >= 6
    assert classes == set(wsl.methods.METHODS.values())
    assert all(cls.name == name for name, cls in wsl.methods.METHODS.items())


def test_every_localization_metric_class_is_registered():
    """A Metric in wsl.metrics' localization modules without its register_metric line fails here."""
    import pkgutil

    from torchmetrics import Metric

    settings = wsl.metrics.registry.EvalSettings(
        num_classes=3, single_label=True, cam_curve_interval=0.01, with_subset=True, cam_threshold=0.5
    )
    built = [entry.build(settings) for entry in wsl.metrics.registry.METRICS.values()]
    registered = {type(metric) for metric in built if metric is not None}
    classes = set()
    for info in pkgutil.iter_modules(wsl.metrics.__path__):
        if info.name.startswith("_") or info.name in ("classification", "registry", "report"):
            continue
        module = __import__(f"wsl.metrics.{info.name}", fromlist=["_"])
        classes |= {
            cls
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if cls.__module__ == module.__name__ and issubclass(cls, Metric)
        }
    assert classes and classes <= registered
