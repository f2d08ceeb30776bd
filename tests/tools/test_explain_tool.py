"""tools/explain.py: a folder of images → overlays + cams.npz; a classifier's CAMs scored on stand-in
images of the real ILSVRC metadata in both frames (random weights: no download); errors exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
import timm
import torch
from PIL import Image
from wsol_metadata import write_standin

from tools.explain import main, run
from wsl.cam.explain_eval import evaluate_classifier
from wsl.data import WSLDataModule


def _folder(tmp_path, count=3):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for k in range(count):
        Image.fromarray(rng.integers(0, 255, (40 + k, 50, 3), dtype=np.uint8)).save(folder / f"im{k}.png")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_a_folder_gives_one_overlay_per_image_and_the_cams(tmp_path):
    folder = _folder(tmp_path)
    out = tmp_path / "cams"
    args = ["--model", "timm:resnet18", "--num-classes", "5", "--images", str(folder), "--out", str(out),
            "--image-size", "64", "--batch-size", "2", "--method", "layercam"]  # fmt: skip
    assert run(args) == {"images": 3, "out": str(out)}
    assert sorted(p.name for p in out.glob("*.png")) == ["im0.png", "im1.png", "im2.png"]
    with np.load(out / "cams.npz") as saved:
        assert saved["cams"].shape == (3, 64, 64) and saved["cams"].dtype == np.float64
        assert saved["names"].tolist() == ["im0.png", "im1.png", "im2.png"]
        assert saved["targets"].tolist() == saved["scores"].argmax(axis=1).tolist()
        assert saved["cams"].min() >= 0.0 and saved["cams"].max() <= 1.0


@pytest.fixture(scope="module")
def ilsvrc(tmp_path_factory):
    root, meta = write_standin("ILSVRC", tmp_path_factory.mktemp("ilsvrc"), per_class={"test": 2})
    return f"wsol:ILSVRC:{root}:metadata={meta}"


@pytest.mark.parametrize(
    ("model", "size"),
    [("timm:resnet18", 64), ("torchvision:resnet18", 64), ("timm:vit_tiny_patch16_224", 224)],
)
def test_an_imagenet_classifier_is_scored_in_both_frames(ilsvrc, tmp_path, model, size):
    for protocol in ("original", "wsolevaluation"):
        out = tmp_path / f"{protocol}.json"
        payload = run(["--model", model, "--data", ilsvrc, "--split", "test", "--protocol", protocol,
                       "--image-size", str(size), "--out", str(out), "--method", "gradcam",
                       "--cam-threshold", "0.2"])  # fmt: skip
        results = payload["results"]
        assert results["images_scored"] == 4.0
        for key in ("top1_acc", "maxboxacc", "maxboxacc_v2", "top1_loc", "gt_known_loc_at_t", "top1_loc_at_t",
                    "top5_loc_at_t", "top5_cls"):  # fmt: skip
            assert 0.0 <= results[key] <= 1.0, key
        assert json.loads(out.read_text())["results"] == pytest.approx(results)


def test_every_method_runs_through_the_evaluator(ilsvrc):
    torch.manual_seed(0)
    model = timm.create_model("resnet18", pretrained=False, num_classes=4).eval()
    loader = WSLDataModule(ilsvrc, image_size=32, batch_size=4, num_workers=0, single_label=True).dataloader(
        "test"
    )
    for method in ("gradcam", "hirescam", "xgradcam", "eigengradcam", "scorecam", "ablationcam", "eigencam",
                   "fullgrad"):  # fmt: skip
        results = evaluate_classifier(model, loader, method=method, protocol="original", batch_size=512)
        assert 0.0 <= results["maxboxacc_v2"] <= 1.0 and results["images_scored"] == 4.0
    fused = evaluate_classifier(model, loader, layer="layer3,layer4", protocol="original")
    assert 0.0 <= fused["maxboxacc_v2"] <= 1.0 and fused["images_scored"] == 4.0


def test_faithfulness_is_reported_beside_localization(ilsvrc, tmp_path):
    payload = run(["--model", "timm:resnet18", "--data", ilsvrc, "--image-size", "32", "--faithfulness",
                   "--road", "--protocol", "original", "--out", str(tmp_path / "r.json")])  # fmt: skip
    results = payload["results"]
    for key in ("deletion_auc", "insertion_auc", "average_drop", "increase_in_confidence", "maxboxacc_v2"):
        assert 0.0 <= results[key] <= 1.0, key
    for key in ("road_morf", "road_lerf", "road_combined"):
        assert -1.0 <= results[key] <= 1.0, key  # differences of probabilities


def test_bad_inputs_exit_2(tmp_path, capsys):
    assert main(["--model", "timm:resnet18", "--images", str(tmp_path / "none"), "--out", str(tmp_path)]) == 2
    assert "error: images: " in capsys.readouterr().err
    assert main(["--model", "timn:resnet18", "--images", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "did you mean 'timm'" in capsys.readouterr().err


def test_evaluate_classifier_refuses_multi_label_data_and_labels_past_the_outputs(ilsvrc):
    model = timm.create_model("resnet18", pretrained=False, num_classes=1).eval()
    loader = WSLDataModule(ilsvrc, image_size=32, batch_size=4, num_workers=0, single_label=True)
    with pytest.raises(ValueError, match="data: 2 classes but the classifier has 1 outputs"):
        evaluate_classifier(model, loader.dataloader("test"), protocol="original")
    batch = next(iter(loader.dataloader("test")))
    batch["labels"][0] = 1.0
    model = timm.create_model("resnet18", pretrained=False, num_classes=2).eval()
    with pytest.raises(ValueError, match="data: evaluate_classifier needs single-label data"):
        evaluate_classifier(model, [batch], protocol="original")
    with pytest.raises(ValueError, match="data: the loader yielded no batch"):
        evaluate_classifier(model, [], protocol="original")
