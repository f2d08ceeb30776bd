"""wsl.jobs.predict.predict: a trained checkpoint on a folder of mixed files."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from tests.predict.predict_helpers import READABLE, UNREADABLE, mixed_folder
from wsl.cam import CamBatch
from wsl.checkpoint import load_module
from wsl.data.transforms import build_transform
from wsl.jobs.predict import UnreadableImagesWarning, choose_classes, predict, read_rgb
from wsl.metrics import cam_to_boxes
from wsl.runs import RunFolder


@pytest.fixture(scope="module")
def folder(synthetic_coco_root, tmp_path_factory):
    return mixed_folder(tmp_path_factory.mktemp("mixed"), synthetic_coco_root / "test" / "test_00000.jpg")


def test_a_mixed_folder_gives_every_image_and_one_warning(coco_run, folder):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = predict(coco_run["checkpoint"], folder, top_k=2, device="cpu")
    skipped = [w for w in caught if issubclass(w.category, UnreadableImagesWarning)]
    assert len(skipped) == 1 and len(caught) == 1
    message = str(skipped[0].message)
    assert "skipped 2 path(s)" in message and all(name in message for name in UNREADABLE)
    assert sorted(r.path.name for r in results) == sorted(READABLE)
    threshold, _ = RunFolder.of_checkpoint(coco_run["checkpoint"]).best_threshold()
    for result in results:
        height, width = READABLE[result.path.name]
        assert result.size == (height, width)
        assert len(result.classes) == 2 and result.classes == sorted(result.classes)
        assert result.probs.shape == (6,) and 0 <= float(result.probs.min()) <= float(result.probs.max()) <= 1
        top2 = torch.topk(result.probs, 2).indices.sort().values.tolist()
        assert result.classes == top2
        assert result.threshold == threshold
        for cam, boxes in zip(result.cams, result.boxes, strict=True):
            assert cam.shape == (height, width) and cam.dtype == torch.float64
            assert boxes.dtype == np.int64 and boxes.shape[1] == 4
            assert (boxes[:, 2] < width).all() and (boxes[:, 3] < height).all()
            np.testing.assert_array_equal(boxes, cam_to_boxes(cam, threshold, multi_contour=False))
    # image ids follow the sorted listing of the folder, unreadable files included
    ids = {r.path.name: r.image_id for r in results}
    assert ids["cmyk.jpg"] == 1 and ids["good.jpg"] == 3


def test_the_maps_are_the_cam_pipelines_at_the_image_size(coco_run, synthetic_coco_root):
    path = synthetic_coco_root / "test" / "test_00001.jpg"
    [result] = predict(coco_run["checkpoint"], [path], top_k=3, threshold=0.3, device="cpu")
    module = load_module(coco_run["checkpoint"])
    image = build_transform(64)(torch.from_numpy(read_rgb(path)).permute(2, 0, 1))
    with torch.no_grad():
        scores, class_maps = module(image[None])
    batch = {"image_id": ["x"], "orig_size": torch.tensor([[64, 64]])}
    cams = CamBatch.from_output(scores, class_maps, batch, "all")
    for k, c in enumerate(result.classes):
        torch.testing.assert_close(result.cams[k], cams.cams[c], rtol=0, atol=1e-6)
    torch.testing.assert_close(result.probs, scores[0].sigmoid(), rtol=0, atol=1e-6)
    assert result.threshold == 0.3


def test_a_posthoc_cam_method_gives_the_hand_computed_grad_cam_of_the_chosen_classes(
    coco_run, synthetic_coco_root
):
    """Issue 15: predict(cam_method="gradcam"): same classes and scores as the native maps; each chosen
    class's map is ReLU(Σ_k mean(∂y_c/∂A_k) A_k) of the backbone output A, computed here by autograd,
    then upsampled and normalised by the one CAM pipeline."""
    path = synthetic_coco_root / "test" / "test_00001.jpg"
    ckpt = coco_run["checkpoint"]
    [native] = predict(ckpt, [path], top_k=2, threshold=0.3, device="cpu")
    [result] = predict(ckpt, [path], top_k=2, threshold=0.3, device="cpu", cam_method="gradcam")
    assert result.classes == native.classes and torch.equal(result.probs, native.probs)
    net = load_module(ckpt).net.eval()
    image = build_transform(64)(torch.from_numpy(read_rgb(path)).permute(2, 0, 1))[None]
    activations = net.backbone(image)
    scores, _ = net.head(activations)
    reference = torch.zeros(1, scores.shape[1], *activations.shape[2:])
    for c in result.classes:
        (grads,) = torch.autograd.grad(scores[0, c], activations, retain_graph=True)
        weights = grads.mean(dim=(2, 3), keepdim=True)
        reference[0, c] = (weights * activations).sum(dim=1)[0].clamp(min=0).detach()
    batch = {"image_id": ["x"], "orig_size": torch.tensor([[64, 64]])}
    cams = CamBatch.from_output(scores.detach(), reference, batch, "all")
    for k, c in enumerate(result.classes):
        torch.testing.assert_close(result.cams[k], cams.cams[c], rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="cam_layer='backbone' is only used by a post-hoc cam_method"):
        predict(ckpt, [path], device="cpu", cam_layer="backbone")
    with pytest.raises(ValueError, match="layer: got 'nope'"):
        predict(ckpt, [path], device="cpu", cam_method="eigencam", cam_layer="nope")


def test_min_score_and_top_k_choose_the_classes():
    probs = torch.tensor([0.1, 0.7, 0.5, 0.9])
    assert choose_classes(probs, None, None) == [3]
    assert choose_classes(probs, None, 0.5) == [1, 2, 3]
    assert choose_classes(probs, 2, 0.5) == [1, 3]
    assert choose_classes(probs, None, 0.95) == []


def test_a_threshold_of_best_reads_results_json(coco_run, synthetic_coco_root):
    results = json.loads((RunFolder.of_checkpoint(coco_run["checkpoint"]).results_path).read_text())
    path = synthetic_coco_root / "test" / "test_00002.jpg"
    [result] = predict(coco_run["checkpoint"], [path], device="cpu")
    assert result.threshold == pytest.approx(results["test"]["maxboxacc_threshold"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"top_k": 0}, "top_k must be a positive int"),
        ({"min_score": 1.5}, "min_score must be a probability"),
        ({"threshold": 1.0}, "threshold must be in"),
        ({"threshold": "good"}, "threshold must be"),
        ({"image_size": 0}, "image_size must be a positive int"),
        ({"device": "tpu"}, "device: got 'tpu'"),
    ],
)
def test_bad_arguments_name_the_argument(coco_run, synthetic_coco_root, kwargs, match):
    with pytest.raises(ValueError, match=match):
        predict(coco_run["checkpoint"], synthetic_coco_root / "test", **kwargs)


def test_no_file_at_all_is_an_error(coco_run, tmp_path):
    with pytest.raises(ValueError, match="images: .*no such file or folder; pass image files"):
        predict(coco_run["checkpoint"], tmp_path / "nothing", device="cpu")
    with pytest.raises(ValueError, match="checkpoint .* does not exist"):
        predict(tmp_path / "missing.ckpt", tmp_path, device="cpu")


def test_best_needs_a_run_for_a_bare_module(coco_run, synthetic_coco_root):
    module = load_module(coco_run["checkpoint"])
    with pytest.raises(ValueError, match="threshold='best' needs the run's results.json"):
        predict(module, synthetic_coco_root / "test", device="cpu")
    results = predict(module, synthetic_coco_root / "test", threshold=None, image_size=64, device="cpu")
    assert len(results) == 4 and results[0].threshold == 0.5
