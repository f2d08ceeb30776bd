"""The option objects of the evaluate jobs (wsl.jobs.evaluate.EvalData / EvalOptions): every former keyword
still taken, an unknown or foreign one refused by name, and the objects equal to the keywords they replace."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from wsl.cam import center_map
from wsl.jobs.evaluate import (
    EvalData,
    EvalOptions,
    evaluate_cam_folder,
    evaluate_cams,
    evaluate_center,
    evaluate_from_checkpoint,
)
from wsl.options import apply_fields, check_names

#: The keyword parameters of the four jobs before the option objects (their signatures, written out).
FORMER = {
    evaluate_from_checkpoint: "data split image_size batch_size num_workers device pointing_subset skip_bad "
    "progress protocol cam_method cam_layer class_names",
    evaluate_cams: "data split class_names single_label cam_curve_interval skip_missing batch_size "
    "num_workers pointing_subset skip_bad progress protocol",
    evaluate_center: "data split protocol sigma class_names single_label cam_curve_interval batch_size "
    "num_workers pointing_subset skip_bad progress",
    evaluate_cam_folder: "single_label cam_curve_interval skip_missing progress pointing_subset protocol",
}


@pytest.mark.parametrize("job", list(FORMER), ids=lambda job: job.__name__)
def test_every_former_keyword_is_still_taken_and_no_signature_is_over_eight(job):
    from wsl.jobs.evaluate import _FIELDS

    params = inspect.signature(job).parameters
    taken = set(_FIELDS[job.__name__]) | {p for p in params if p != "fields"}
    assert set(FORMER[job].split()) <= taken
    assert len(params) <= 8


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: evaluate_cams("nowhere", nonsense=1), "nonsense"),
        (lambda: evaluate_cams("nowhere", cam_method="gradcam"), "cam_method"),  # a checkpoint's field
        (lambda: evaluate_center(skip_missing=True), "skip_missing"),
        (lambda: evaluate_from_checkpoint("missing.ckpt", sigma=0.3), "sigma"),
        (lambda: evaluate_from_checkpoint("missing.ckpt", single_label=True), "single_label"),
    ],
)
def test_a_keyword_the_job_does_not_take_is_a_type_error_naming_it(call, name):
    with pytest.raises(TypeError, match=f"unexpected keyword argument '{name}'"):
        call()


def test_a_field_the_job_does_not_read_set_in_an_object_is_refused():
    with pytest.raises(ValueError, match=r"evaluate_cams: EvalOptions.sigma = 0.5 is not read"):
        evaluate_cams("nowhere", options=EvalOptions(sigma=0.5))
    with pytest.raises(ValueError, match=r"EvalData.single_label = True is not read"):
        evaluate_from_checkpoint("missing.ckpt", source=EvalData(single_label=True))


def test_objects_of_the_wrong_class_and_a_data_given_twice_are_type_errors():
    with pytest.raises(TypeError, match="options must be a EvalOptions or None; got EvalData"):
        evaluate_center(options=EvalData())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="multiple values for argument 'data'"):
        evaluate_center("synthetic", data="synthetic")


@pytest.mark.parametrize("kwargs", [{"batch_size": 0}, {"num_workers": -1}, {"batch_size": True}])
def test_eval_data_refuses_loader_settings_out_of_range(kwargs):
    with pytest.raises(ValueError, match=f"{next(iter(kwargs))} must be an int"):
        EvalData(**kwargs)


def test_apply_fields_replaces_only_the_fields_of_the_class():
    base = EvalOptions(protocol="wsolevaluation")
    got = apply_fields(EvalOptions, base, {"sigma": 0.2, "batch_size": 8})
    assert got == EvalOptions(protocol="wsolevaluation", sigma=0.2)
    assert apply_fields(EvalOptions, base, {"batch_size": 8}) is base
    check_names("job", {"a": 1}, {"a", "b"})
    with pytest.raises(TypeError, match=r"job\(\) got an unexpected keyword argument 'c'"):
        check_names("job", {"c": 1}, {"a", "b"})


def test_pointing_flags_take_flags_already_read_and_none_is_none():
    flags = {("img", 1): True}
    assert EvalOptions().pointing_flags(3) is None
    assert EvalOptions(pointing_subset=flags).pointing_flags(3) == flags


def test_center_by_keywords_and_by_objects_gives_the_same_payload(synthetic_voc_root):
    data = f"voc:{synthetic_voc_root}"
    by_keywords = evaluate_center(data, "test", protocol="wsolevaluation", sigma=0.4, progress=False)
    by_objects = evaluate_center(
        source=EvalData(data=data, split="test"),
        options=EvalOptions(protocol="wsolevaluation", sigma=0.4, progress=False),
    )
    mixed = evaluate_center(data, options=EvalOptions(protocol="original"), protocol="wsolevaluation",
                            sigma=0.4, progress=False)  # fmt: skip
    assert by_keywords == by_objects == mixed
    assert by_keywords["sigma"] == 0.4 and by_keywords["protocol"] == "wsolevaluation"
    default = evaluate_center(data, progress=False)
    assert default["protocol"] == "original" and default["results"] != by_keywords["results"]


def test_cams_by_objects_equal_keywords_and_skip_missing_reaches_the_folder(synthetic_voc_root, tmp_path):
    data = f"voc:{synthetic_voc_root}"
    from wsl.data import WSLDataModule

    items = list(WSLDataModule(data, batch_size=4, num_workers=0).dataset("test", with_images=False))
    for item in items[1:]:  # the first image has no map
        np.save(tmp_path / f"{item['image_id']}.npy", center_map(tuple(item["orig_size"])).numpy())
    with pytest.raises(Exception, match=items[0]["image_id"]):
        evaluate_cams(tmp_path, data, progress=False)
    by_keywords = evaluate_cams(tmp_path, data, "test", skip_missing=True, progress=False)
    by_objects = evaluate_cams(
        tmp_path, source=EvalData(data=data), options=EvalOptions(skip_missing=True, progress=False)
    )
    assert by_keywords == by_objects
    assert by_keywords["results"]["images_scored"] == len(items) - 1


def test_the_in_memory_jobs_take_eval_options_and_their_nine_fields_as_keywords():
    from wsl.jobs.evaluate import _FIELDS, evaluate_model, evaluate_trained

    for job in (evaluate_model, evaluate_trained):
        assert list(inspect.signature(job).parameters)[2:] == ["options", "fields"]
        assert _FIELDS[job.__name__] == {
            "protocol", "pointing_subset", "progress", "cam_method", "cam_layer", "aug_smooth",
            "eigen_smooth", "faithfulness", "road",
        }  # fmt: skip


def test_evaluate_model_by_options_equals_by_keywords_and_refuses_foreign_fields(tiny_datamodule):
    import json

    from wsl.jobs.evaluate import evaluate_model, evaluate_trained
    from wsl.lit import WSLModule
    from wsl.trained import TrainedModel

    data = tiny_datamodule
    module = WSLModule(num_classes=data.num_classes, class_names=data.class_names, pool="gap").eval()
    loader = data.dataloader("test")
    by_keywords = evaluate_model(module, loader, protocol="wsolevaluation", progress=False)
    by_options = evaluate_model(module, loader, EvalOptions(protocol="wsolevaluation", progress=False))
    mixed = evaluate_model(module, loader, EvalOptions(protocol="original"), protocol="wsolevaluation",
                           progress=False)  # fmt: skip
    trained = evaluate_trained(TrainedModel.load(module, device="cpu"), loader, protocol="wsolevaluation",
                               progress=False)  # fmt: skip
    same = {json.dumps(r, sort_keys=True) for r in (by_keywords, by_options, mixed, trained)}  # NaN-safe
    assert len(same) == 1 and "maxboxacc" in by_keywords
    with pytest.raises(TypeError, match=r"evaluate_model\(\) got an unexpected keyword argument 'sigma'"):
        evaluate_model(module, loader, sigma=0.3)
    with pytest.raises(ValueError, match=r"evaluate_trained: EvalOptions.device = 'cpu' is not read"):
        evaluate_trained(TrainedModel.load(module, device="cpu"), loader, EvalOptions(device="cpu"))
    with pytest.raises(TypeError, match="options must be a EvalOptions or None; got bool"):
        evaluate_model(module, loader, False)  # type: ignore[arg-type]  # the former positional progress


def test_the_reader_of_saved_cams_has_one_name():
    import wsl.inference
    import wsl.jobs.evaluate
    from wsl.cam.files import SavedCams

    assert not hasattr(wsl.jobs.evaluate, "CamFolder") and not hasattr(wsl.inference, "CamFolder")
    assert SavedCams.__module__ == "wsl.cam.files"
