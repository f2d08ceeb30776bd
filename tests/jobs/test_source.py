"""wsl.jobs.source: ``check_int`` and ``CheckpointData``, the checkpoint-and-split settings of every job."""

from __future__ import annotations

import logging

import pytest
import torch

from wsl.data import WSLDataModule
from wsl.jobs.source import CheckpointData, check_int
from wsl.models import WSLNet
from wsl.trained import TrainedModel


@pytest.mark.parametrize(("value", "least"), [(0, 0), (3, 1), (10**9, 1)])
def test_check_int_accepts_ints_from_least(value, least):
    check_int("batch_size", value, least)


@pytest.mark.parametrize("value", [0, -1, True, False, 2.0, "4", None])
def test_check_int_refuses_bools_floats_strings_and_small_values_naming_field_and_value(value):
    with pytest.raises(ValueError) as caught:
        check_int("batch_size", value, 1)
    assert str(caught.value) == f"batch_size must be an int >= 1; got {value!r}"


@pytest.mark.parametrize(
    ("field", "value", "least"),
    [("batch_size", 0, 1), ("num_workers", -1, 0), ("image_size", 0, 1), ("image_size", True, 1)],
)
def test_checkpoint_data_checks_its_numbers_before_anything_is_loaded(tmp_path, field, value, least):
    with pytest.raises(ValueError, match=rf"^{field} must be an int >= {least}; got {value!r}$"):
        CheckpointData(ckpt=tmp_path / "absent.ckpt", **{field: value})


def test_the_defaults_are_the_test_split_on_the_chosen_device():
    options = CheckpointData(ckpt="run.ckpt")
    assert (options.data, options.split, options.image_size, options.device) == (None, "test", None, "auto")
    assert (options.batch_size, options.num_workers, options.skip_bad, options.class_names) == (
        32,
        2,
        False,
        None,
    )


@pytest.fixture(scope="module")
def voc_model(synthetic_voc_root) -> TrainedModel:
    """A trained model in memory on the tiny VOC set's classes (untrained weights: nothing runs it here)."""
    names = WSLDataModule(data=f"voc:{synthetic_voc_root}", image_size=64, num_workers=0).class_names
    net = WSLNet(len(names), backbone="lcnet_050", pool="gap", pretrained=False)
    return TrainedModel(
        net=net.eval(),
        class_names=list(names),
        single_label=False,
        image_size=48,
        threshold=None,
        precision=None,
        device=torch.device("cpu"),
        notes=["note: a note of the model"],
    )


def test_load_gives_the_model_and_the_first_images_of_the_split_at_its_size(
    voc_model, synthetic_voc_root, caplog
):
    data = f"voc:{synthetic_voc_root}"
    options = CheckpointData(
        ckpt=voc_model, data=data, split="val", batch_size=2, num_workers=0, device="cpu"
    )
    with caplog.at_level(logging.INFO, logger="wsl"):
        model, loader = options.load(limit=3)
    assert model is voc_model
    assert [r.getMessage() for r in caplog.records if r.name == "wsl.jobs.source"] == [
        "note: a note of the model"
    ]
    images = [batch["image"] for batch in loader]
    assert [tuple(x.shape) for x in images] == [(2, 3, 48, 48), (1, 3, 48, 48)]
    assert options.summary(model) == {
        "ckpt": None,
        "data": data,
        "split": "val",
        "image_size": 48,
        "device": "cpu",
    }


def test_a_given_image_size_replaces_the_models(voc_model, synthetic_voc_root):
    options = CheckpointData(
        ckpt=voc_model,
        data=f"voc:{synthetic_voc_root}",
        image_size=32,
        batch_size=4,
        num_workers=0,
        device="cpu",
    )
    model, loader = options.load(limit=1)
    assert model.image_size == 32 and options.summary(model)["image_size"] == 32
    assert tuple(next(iter(loader))["image"].shape) == (1, 3, 32, 32)


def test_without_data_a_model_that_does_not_record_its_own_is_refused(voc_model):
    with pytest.raises(ValueError, match=r"^data: not given, and the model does not record the data"):
        CheckpointData(ckpt=voc_model, num_workers=0, device="cpu").load()


def test_declared_classes_that_are_not_the_models_are_refused(voc_model, synthetic_voc_root):
    options = CheckpointData(
        ckpt=voc_model, data=f"voc:{synthetic_voc_root}", num_workers=0, device="cpu", class_names="x,y"
    )
    with pytest.raises(ValueError, match="class"):
        options.load()
