"""Issue 32 "Must show": a ViT (timm ``deit_tiny_patch16_224``: token maps reshaped to the patch grid) and a
torchvision model (``torchvision:resnet18``), each built from its name with saved random weights (no
download), through ``evaluate`` (both frames), ``export_cams`` and ``predict`` on stand-ins of the real
ILSVRC metadata; the maps the jobs write or score equal :func:`wsl.cam.explain`'s for the same network,
images and targets (tests/tools/test_evaluate_any_classifier.py covers the timm and torchvision ResNet18
through evaluate)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
import torchvision
from standin_photos import inputs_by_id, write_photos
from wsol_metadata import write_standin

from tools.evaluate import main as evaluate_main
from tools.export_cams import main as export_main
from tools.predict import main as predict_main
from wsl.cam import explain, get_frame, normalize_cams
from wsl.cam.explain_eval import evaluate_classifier
from wsl.cam.files import load_cam_npz
from wsl.data import WSLDataModule
from wsl.data.transforms import build_transform
from wsl.jobs.predict.images import read_rgb

#: Model name → its input side (the ViT's own 224: its position embedding is built for it).
SIZES = {"timm:deit_tiny_patch16_224": 224, "torchvision:resnet18": 64}


def _network(name: str, path: Path, num_classes: int) -> torch.nn.Module:
    """The classifier ``name`` with seeded random weights, saved to ``path`` for ``--weights``."""
    torch.manual_seed(0)
    library, _, arch = name.partition(":")
    if library == "timm":
        net = timm.create_model(arch, pretrained=False, num_classes=num_classes)
    else:
        net = getattr(torchvision.models, arch)(weights=None, num_classes=num_classes)
    torch.save(net.state_dict(), path)
    return net.eval()


def _flags(name: str, weights: Path, num_classes: int) -> list[str]:
    """The tools' flags of the classifier (its usual CAM layer: ViT ``blocks.11.norm1``, ResNet
    ``layer4``)."""
    return ["--model", name, "--weights", str(weights), "--num-classes", str(num_classes),
            "--image-size", str(SIZES[name]), "--num-workers", "0", "--device", "cpu",
            "--no-progress"]  # fmt: skip


@pytest.fixture(scope="module")
def ilsvrc(tmp_path_factory):
    root, meta = write_standin(
        "ILSVRC", tmp_path_factory.mktemp("ilsvrc"), classes=(0, 1), per_class={"test": 2}
    )
    return f"wsol:ILSVRC:{root}:metadata={meta}"


def _expected(net, image: torch.Tensor, classes: list[int], size) -> torch.Tensor:
    """explain's Grad-CAM (the usual layer) of ``classes`` for one input, resized to ``size`` and min-max
    normalised: (K, H, W) float64."""
    maps = explain(net, image[None], targets=[classes]).maps[0]
    return normalize_cams(get_frame("original").resize(maps, size), torch.float64)


@pytest.mark.parametrize("name", sorted(SIZES))
def test_the_exported_cams_are_explain_s(ilsvrc, tmp_path, name, capsys):
    net = _network(name, tmp_path / "w.pt", 5)
    out = tmp_path / "out"
    argv = [*_flags(name, tmp_path / "w.pt", 5), "--data", ilsvrc, "--split", "test", "--out", str(out)]
    assert export_main(argv) == 0
    layer = "blocks.11.norm1" if "deit" in name else "layer4"
    assert f"CAMs: gradcam on layer {layer!r}" in capsys.readouterr().err
    manifest = json.loads((out / "cams.json").read_text())
    dm = WSLDataModule(ilsvrc, image_size=SIZES[name], num_workers=0, single_label=True)
    images = inputs_by_id(dm)
    assert len(manifest["images"]) == len(images) == 4
    for record in manifest["images"]:
        image, size = images[record["image_id"]]
        [cls] = [int(c) for c in record["classes"]]
        got = torch.from_numpy(load_cam_npz(out / record["npz"])[record["classes"][0]].astype(np.float64))
        torch.testing.assert_close(got, _expected(net, image, [cls], size)[0], atol=1e-3, rtol=0)


@pytest.mark.parametrize("name", sorted(SIZES))
def test_the_predictions_are_explain_s(tmp_path, name, capsys):
    net = _network(name, tmp_path / "w.pt", 4)
    paths = write_photos(tmp_path / "photos")
    out = tmp_path / "pred"
    argv = [*_flags(name, tmp_path / "w.pt", 4), "--images", str(tmp_path / "photos"), "--out", str(out),
            "--top-k", "2"]  # fmt: skip
    assert predict_main(argv) == 0, capsys.readouterr().err
    records = {Path(r["file"]).name: r for r in json.loads((out / "cams.json").read_text())["images"]}
    transform = build_transform(SIZES[name], train=False)
    for path in paths:
        image = transform(torch.from_numpy(read_rgb(path)).permute(2, 0, 1))
        record = records[path.name]
        classes = [int(c) for c in record["classes"]]
        assert classes == sorted(net(image[None])[0].topk(2).indices.tolist())
        saved = load_cam_npz(out / record["npz"])
        want = _expected(net, image, classes, tuple(record["size"]))
        for k, cls in enumerate(record["classes"]):
            got = torch.from_numpy(saved[cls].astype(np.float64))
            torch.testing.assert_close(got, want[k], atol=1e-3, rtol=0)  # the .npz is float16


@pytest.mark.parametrize("protocol", ["original", "wsolevaluation"])
def test_evaluate_scores_a_vit_as_the_explain_evaluation_does(ilsvrc, tmp_path, protocol):
    name = "timm:deit_tiny_patch16_224"
    net = _network(name, tmp_path / "w.pt", 1000)
    out = tmp_path / "eval.json"
    argv = [*_flags(name, tmp_path / "w.pt", 1000), "--data", ilsvrc, "--split", "test",
            "--protocol", protocol, "--out", str(out)]  # fmt: skip
    assert evaluate_main(argv) == 0
    payload = json.loads(out.read_text())
    assert (payload["cam_method"], payload["cam_layer"]) == ("gradcam", "blocks.11.norm1")
    dm = WSLDataModule(ilsvrc, image_size=224, num_workers=0, single_label=True)
    expected = evaluate_classifier(net, dm.dataloader("test"), protocol=protocol)
    assert expected.pop("images_scored") == 4
    assert set(payload["results"]) == set(expected)
    for key, value in expected.items():
        assert payload["results"][key] == pytest.approx(value, abs=1e-9), key
