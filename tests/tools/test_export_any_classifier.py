"""Issue 32 item 1: any classifier (a timm name, random or saved weights: no download) as the CAM source of
the export and predict; the maps they write equal :func:`wsl.cam.explain`'s for the same inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from standin_photos import inputs_by_id, write_photos
from wsol_metadata import write_standin

from tools.export_cams import main as export_main
from tools.predict import main as predict_main
from wsl.cam import cam_range, explain, get_frame, normalize_cams
from wsl.cam.files import load_cam_npz
from wsl.data import WSLDataModule
from wsl.data.transforms import build_transform
from wsl.jobs.predict import predict
from wsl.jobs.predict.images import read_rgb
from wsl.trained import TrainedModel

LAYER = "layer3"


def _classifier(num_classes: int, path: Path) -> torch.nn.Module:
    """A timm resnet18 with seeded random weights, saved to ``path`` for ``--weights``."""
    torch.manual_seed(0)
    net = timm.create_model("resnet18", pretrained=False, num_classes=num_classes).eval()
    torch.save(net.state_dict(), path)
    return net


def _expected(net, image: torch.Tensor, classes: list[int], size, frame: str = "original") -> torch.Tensor:
    """explain's Grad-CAM of ``classes`` for one network input, resized to ``size`` in ``frame`` and
    min-max normalised: (K, H, W) float64."""
    out = explain(net, image[None].repeat(len(classes), 1, 1, 1), layer=LAYER, targets=classes)
    maps = out.maps[:, 0]  # one target per copy of the image
    return normalize_cams(get_frame(frame).resize(maps, size), torch.float64)


def _run_export(root: Path, weights: Path, out: Path, names: list[str], *extra: str) -> int:
    return export_main([
        "--model", "timm:resnet18", "--weights", str(weights), "--num-classes", str(len(names)),
        "--class-names", ",".join(names), "--cam-layer", LAYER, "--data", f"voc:{root}", "--split", "test",
        "--out", str(out), "--image-size", "64", "--num-workers", "0", "--device", "cpu", "--no-progress",
        *extra,
    ])  # fmt: skip


@pytest.mark.parametrize("classes", ["present", "top1"])
def test_the_exported_cams_of_a_timm_classifier_are_explain_s(synthetic_voc_root, tmp_path, classes, capsys):
    names = WSLDataModule(f"voc:{synthetic_voc_root}").class_names
    net = _classifier(len(names), tmp_path / "w.pt")
    out = tmp_path / "out"
    assert _run_export(synthetic_voc_root, tmp_path / "w.pt", out, names, "--classes", classes) == 0
    assert "using --cam-method gradcam" in capsys.readouterr().err
    manifest = json.loads((out / "cams.json").read_text())
    assert manifest["cam_method"] == "gradcam" and manifest["class_names"] == names
    dm = WSLDataModule(f"voc:{synthetic_voc_root}", image_size=64, num_workers=0, single_label=True)
    images = inputs_by_id(dm)
    assert len(manifest["images"]) == len(images) == 4
    for record in manifest["images"]:
        image, size = images[record["image_id"]]
        chosen = [names.index(n) for n in record["classes"]]
        assert chosen, "every test image has a class to draw"
        if classes == "top1":
            assert chosen == [int(net(image[None]).argmax())]
        expected = _expected(net, image, chosen, size)
        saved = load_cam_npz(out / record["npz"])
        for k, name in enumerate(record["classes"]):
            got = torch.from_numpy(saved[name].astype(np.float64))
            assert got.shape == expected[k].shape == size
            torch.testing.assert_close(got, expected[k], atol=1e-3, rtol=0)  # the .npz is float16
        raw = explain(net, image[None].repeat(len(chosen), 1, 1, 1), layer=LAYER, targets=chosen).maps[:, 0]
        want = cam_range(get_frame("original").resize(raw, size)).tolist()
        got_range = [record["cam_range"][n] for n in record["classes"]]
        np.testing.assert_allclose(got_range, want, rtol=1e-5, atol=1e-7)


def test_score_maps_of_a_classifier_on_ilsvrc_standins_are_explain_s(tmp_path):
    """The wsolevaluation layout (float64 224x224, the ground-truth class) on real ILSVRC metadata lines: the
    data's label k is output k of a 5-output classifier (labels 0 and 1 here)."""
    root, meta = write_standin("ILSVRC", tmp_path / "ilsvrc", classes=(0, 1), per_class={"test": 2})
    net = _classifier(5, tmp_path / "w.pt")
    out = tmp_path / "maps"
    data = f"wsol:ILSVRC:{root}:metadata={meta}"
    status = export_main([
        "--model", "timm:resnet18", "--weights", str(tmp_path / "w.pt"), "--num-classes", "5",
        "--cam-method", "gradcam", "--cam-layer", LAYER, "--data", data, "--split", "test", "--out", str(out),
        "--layout", "wsolevaluation", "--image-size", "64", "--num-workers", "0", "--device", "cpu",
        "--no-progress",
    ])  # fmt: skip
    assert status == 0
    dm = WSLDataModule(data, image_size=64, num_workers=0, single_label=True)
    seen = 0
    for batch in dm.dataloader("test"):
        for image_id, image, labels, size in zip(
            batch["image_id"], batch["image"], batch["labels"], batch["orig_size"], strict=True
        ):
            gt = int(labels.argmax())
            expected = _expected(net, image, [gt], tuple(map(int, size)), "wsolevaluation")[0]
            got = torch.from_numpy(np.load(out / f"{image_id}.npy"))
            assert got.dtype == torch.float64 and got.shape == (224, 224)
            torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
            seen += 1
    assert seen == 4


def test_predict_with_a_classifier_gives_explain_s_maps(tmp_path):
    net = _classifier(4, tmp_path / "w.pt")
    model = TrainedModel.from_classifier(net, layer=LAYER, image_size=64, device="cpu", threshold=0.4)
    paths = write_photos(tmp_path / "photos")
    results = predict(model, paths, top_k=2)  # cam_method "native": the classifier's own method
    transform = build_transform(64, train=False)
    for path, result in zip(paths, results, strict=True):
        image = transform(torch.from_numpy(read_rgb(path)).permute(2, 0, 1))
        probs = net(image[None]).softmax(dim=1)[0]
        assert result.classes == sorted(probs.topk(2).indices.tolist())
        torch.testing.assert_close(result.probs.double(), probs.double(), atol=1e-5, rtol=0)
        expected = _expected(net, image, result.classes, result.size)
        for got, want in zip(result.cams, expected, strict=True):
            torch.testing.assert_close(torch.as_tensor(got, dtype=torch.float64), want, atol=1e-6, rtol=0)
        assert result.threshold == 0.4


def test_the_predict_tool_takes_a_model_name_and_its_class_names(tmp_path, capsys):
    _classifier(3, tmp_path / "w.pt")
    write_photos(tmp_path / "photos")
    out = tmp_path / "pred"
    status = predict_main([
        "--model", "timm:resnet18", "--weights", str(tmp_path / "w.pt"), "--num-classes", "3",
        "--class-names", "cat,dog,fox", "--cam-method", "layercam", "--images", str(tmp_path / "photos"),
        "--out", str(out), "--image-size", "64", "--device", "cpu", "--no-progress",
    ])  # fmt: skip
    assert status == 0, capsys.readouterr().err
    manifest = json.loads((out / "cams.json").read_text())
    assert manifest["class_names"] == ["cat", "dog", "fox"] and manifest["cam_method"] == "layercam"
    assert len(manifest["images"]) == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ((), "--data"),  # a classifier records no training data
        (("--data", "synthetic", "--cam-layer", "layer9"), "layer: got 'layer9'"),
        (("--data", "synthetic", "--class-names", "a,b"), "2 names but the classifier has 3 outputs"),
    ],
)
def test_a_classifier_export_error_is_one_line(tmp_path, capsys, extra, message):
    _classifier(3, tmp_path / "w.pt")
    args = [
        "--model", "timm:resnet18", "--weights", str(tmp_path / "w.pt"), "--num-classes", "3",
        "--out", str(tmp_path / "out"), "--device", "cpu", "--no-progress", "--image-size", "64", *extra,
    ]  # fmt: skip
    assert export_main(args) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("error:") and message in err and "Traceback" not in err


def test_classifier_flags_need_model_and_a_classifier_has_no_native_maps(tmp_path, capsys):
    assert export_main(["--ckpt", "x.ckpt", "--pretrained", "--out", str(tmp_path / "o")]) == 2
    assert "--pretrained, --weights and --num-classes build a --model" in capsys.readouterr().err
    net = timm.create_model("resnet18", pretrained=False, num_classes=2)
    with pytest.raises(ValueError, match=r"method: got 'native'; a classifier has no class maps"):
        TrainedModel.from_classifier(net, method="native", device="cpu")
    model = TrainedModel.from_classifier(net, device="cpu", image_size=32)
    with pytest.raises(ValueError, match=r"cam_layer='layer2': the classifier's CAM layer is chosen"):
        model.cam_source("gradcam", "layer2")
    assert model.cam_source("native", None) == ("gradcam", None)
    assert model.cam_source("layercam", None) == ("layercam", None)
