"""Every reader hands its keyword options to the base class as one ``DatasetOptions``, unchanged.

The readers keep the options as keyword arguments of their own (the names users type, and the data module
asks a reader's signature whether it takes ``with_images`` / ``box_policy``); ``wsl.options.apply_fields``
picks them from the reader's keywords. Each reader is built here with every option off its default and the
dataset must show each value given: a reader that dropped one would show the default instead.
"""

from __future__ import annotations

import inspect
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from wsl.data import COCODataset, ImageFolderDataset, VOCDataset, WSOLDataset, make_synthetic
from wsl.data.base import DatasetOptions
from wsl.options import apply_fields

OPTION_NAMES = [f.name for f in fields(DatasetOptions)]


def _scale(image: torch.Tensor) -> torch.Tensor:
    """A custom transform (an identity object to recognise on the dataset)."""
    return image.float() / 255.0


#: Each option away from its default.
NOT_DEFAULT = {
    "image_size": 48,
    "train": True,
    "transform": _scale,
    "with_annotations": True,
    "single_label": True,
    "skip_bad": True,
    "with_images": False,
    "box_policy": "strict",
}


def test_not_default_covers_every_option_and_differs_from_each_default():
    defaults = DatasetOptions()
    assert sorted(NOT_DEFAULT) == sorted(OPTION_NAMES)
    assert all(getattr(defaults, name) != value for name, value in NOT_DEFAULT.items())


def test_a_readers_keywords_become_the_options_and_its_other_names_are_ignored():
    """What a reader does with its ``locals()``: ``apply_fields(DatasetOptions, None, locals())``."""
    keywords = {"self": object(), "root": "x", "split": "val", "image_size": 64, "skip_bad": True}
    assert apply_fields(DatasetOptions, None, keywords) == DatasetOptions(image_size=64, skip_bad=True)
    assert apply_fields(DatasetOptions, None, {}) == DatasetOptions()
    assert apply_fields(DatasetOptions, None, NOT_DEFAULT) == DatasetOptions(**NOT_DEFAULT)


def _shown(dataset: object) -> dict:
    return {name: getattr(dataset, name) for name in OPTION_NAMES}


@pytest.fixture(scope="module")
def wsol_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_synthetic(
        tmp_path_factory.mktemp("wsol"), "wsol", progress=False, num_train=2, num_val=2, num_test=2
    )


@pytest.mark.parametrize("reader", ["voc", "coco", "wsol"])
def test_each_reader_hands_every_option_to_the_base_class(
    reader, synthetic_voc_root, synthetic_coco_root, wsol_root
):
    if reader == "voc":
        dataset = VOCDataset(synthetic_voc_root, "val", **NOT_DEFAULT)
    elif reader == "coco":
        dataset = COCODataset(synthetic_coco_root, "val", empty_images="skip", **NOT_DEFAULT)
    else:
        dataset = WSOLDataset(f"SYNTH:{wsol_root}", "val", **NOT_DEFAULT)
    assert _shown(dataset) == NOT_DEFAULT
    assert "image" not in dataset[0] and "boxes" in dataset[0]  # with_images False, with_annotations True


@pytest.mark.parametrize("reader", [VOCDataset, COCODataset, WSOLDataset])
def test_the_readers_keep_every_option_as_a_keyword_of_their_own(reader):
    """Their public keyword API, which the data module reads from the signature (``with_images`` ...)."""
    parameters = inspect.signature(reader).parameters
    defaults = DatasetOptions()
    for name in OPTION_NAMES:
        assert parameters[name].default == getattr(defaults, name), name


def test_an_image_level_reader_hands_its_keyword_options_to_the_base_class(tmp_path):
    folder = tmp_path / "train" / "cat"
    folder.mkdir(parents=True)
    Image.fromarray(np.full((30, 40, 3), 128, np.uint8)).save(folder / "a.jpg")
    given = {k: v for k, v in NOT_DEFAULT.items() if k != "box_policy"}
    dataset = ImageFolderDataset(tmp_path, "train", **given)
    assert _shown(dataset) == {**given, "box_policy": "clip"}
    with pytest.raises(TypeError, match="image_sise"):
        ImageFolderDataset(tmp_path, "train", image_sise=64)
