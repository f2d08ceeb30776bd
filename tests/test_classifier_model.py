"""wsl.classifier_model: any classifier as a TrainedModel, each default said once in its notes.

The CAMs themselves (``map = rule(A, ∂y/∂A)`` equal to ``wsl.cam.explain``'s) are in
``tests/cam/test_classifier_cam.py`` and ``tests/tools/test_*_any_classifier.py``; here a tiny module in
memory checks what ``classifier_model`` resolves and refuses.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from wsl.cam import POSTHOC_METHODS
from wsl.classifier_model import (
    CLASSIFIER_IMAGE_SIZE,
    ClassifierOptions,
    classifier_model,
    posthoc_method_names,
)
from wsl.runs import DEFAULT_THRESHOLD


class Tiny(nn.Module):
    """A 3-class classifier: features (N, 4, H, W) → global average → linear."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.features(images)).mean((2, 3)))


def test_posthoc_method_names_are_every_method_with_a_rule():
    names = posthoc_method_names()
    assert "native" not in names and {"gradcam", "gradcampp", "layercam"} <= set(names)
    assert set(names) == {m for m in POSTHOC_METHODS if m != "native"}


def test_the_defaults_are_resolved_and_each_is_said_in_the_notes():
    model = classifier_model(Tiny(), layer="features", device="cpu")
    assert model.class_names == ["0", "1", "2"] and model.num_classes == 3
    assert model.image_size == CLASSIFIER_IMAGE_SIZE == 224
    assert model.threshold == DEFAULT_THRESHOLD
    assert (model.cam_method, model.classes_by_index, model.source, model.precision) == (
        "gradcam",
        True,
        None,
        None,
    )
    assert model.single_label is True and not model.net.training
    assert model.notes == [
        "note: the classifier does not say its input size; using 224",
        f"note: no threshold given; using {DEFAULT_THRESHOLD}",
        "CAMs: gradcam on layer 'features' of Tiny",
    ]


def test_given_settings_replace_the_defaults_and_leave_no_note():
    options = ClassifierOptions(method="layercam", image_size=32, threshold=0.25, single_label=False)
    model = classifier_model(Tiny(), options, layer="features", class_names="cat,dog,bird", device="cpu")
    assert (model.image_size, model.threshold, model.single_label) == (32, 0.25, False)
    assert model.class_names == ["cat", "dog", "bird"] and model.cam_method == "layercam"
    assert model.notes == ["CAMs: layercam on layer 'features' of Tiny"]


def test_the_input_size_of_a_pretrained_cfg_is_used_and_said():
    net = Tiny()
    net.pretrained_cfg = {"input_size": (3, 40, 40)}
    model = classifier_model(net, layer="features", threshold=0.5, device="cpu")
    assert model.image_size == 40
    assert model.notes[0] == "image size 40 from the classifier's pretrained_cfg input_size"


def test_class_names_must_name_each_output_once():
    with pytest.raises(
        ValueError, match=r"^class_names: 2 names but the classifier has 3 outputs; name each"
    ):
        classifier_model(Tiny(), layer="features", class_names=["a", "b"], image_size=16, device="cpu")


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        (
            {"method": "native"},
            r"^method: got 'native'; a classifier has no class maps of its own, pass a post",
        ),
        ({"image_size": 0}, r"^image_size must be a positive int or None; got 0$"),
        ({"image_size": True}, r"^image_size must be a positive int or None; got True$"),
        ({"threshold": 1.0}, "threshold"),
    ],
)
def test_bad_options_name_the_field(fields, match):
    with pytest.raises(ValueError, match=match):
        ClassifierOptions(**fields).check()
    with pytest.raises(ValueError, match=match):
        classifier_model(Tiny(), layer="features", device="cpu", **fields)


def test_a_module_with_options_of_a_named_classifier_is_refused():
    with pytest.raises(
        ValueError, match=r"^pretrained, weights and num_classes build a classifier given by name"
    ):
        classifier_model(Tiny(), layer="features", num_classes=3, device="cpu")
    with pytest.raises(
        TypeError, match=r"^model must be an nn\.Module or 'timm:NAME'/'torchvision:NAME'; got int$"
    ):
        classifier_model(5, device="cpu")
