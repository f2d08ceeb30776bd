"""Issue 32: ``--aug-smooth``, ``--eigen-smooth`` and fused ``--cam-layer a,b`` in the jobs (evaluate,
export_cams, predict), with ``--model`` (a timm ResNet18, saved random weights: no download) and with a
checkpoint; the maps the jobs write or score equal :func:`wsl.cam.explain`'s for the same network, images,
targets and options (the same scaling as tests/tools/test_export_any_classifier.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from standin_photos import write_photos
from wsol_metadata import write_standin

from tests.tiny_training import reproducible_tiny_args
from tools.evaluate import main as evaluate_main
from tools.export_cams import main as export_main
from tools.predict import main as predict_main
from wsl.cam import explain, get_frame, normalize_cams
from wsl.cam.explain_eval import evaluate_classifier
from wsl.cam.files import load_cam_npz
from wsl.cam.stream import CamSource
from wsl.checkpoint import load_module
from wsl.cli import train
from wsl.data import WSLDataModule
from wsl.data.transforms import build_transform
from wsl.jobs.predict import predict
from wsl.jobs.predict.images import read_rgb
from wsl.trained import TrainedModel

#: Option name → (the tools' flags, explain's keywords); the layer is layer3 unless fused.
OPTIONS = {
    "aug_smooth": (["--cam-layer", "layer3", "--aug-smooth"], {"layer": "layer3", "aug_smooth": True}),
    "eigen_smooth": (["--cam-layer", "layer3", "--eigen-smooth"], {"layer": "layer3", "eigen_smooth": True}),
    "fused": (["--cam-layer", "layer2,layer3"], {"layer": "layer2,layer3"}),
}


def _classifier(num_classes: int, path: Path) -> torch.nn.Module:
    """A timm resnet18 with seeded random weights, saved to ``path`` for ``--weights``."""
    torch.manual_seed(0)
    net = timm.create_model("resnet18", pretrained=False, num_classes=num_classes).eval()
    torch.save(net.state_dict(), path)
    return net


def _expected(net, image: torch.Tensor, classes: list[int], size, explain_options, frame="original"):
    """explain's maps of ``classes`` for one network input, resized to ``size`` in ``frame`` and min-max
    normalised: (K, H, W) float64."""
    maps = explain(net, image[None], targets=[classes], **explain_options).maps[0]
    return normalize_cams(get_frame(frame).resize(maps, size), torch.float64)


@pytest.fixture(scope="module")
def ilsvrc(tmp_path_factory):
    root, meta = write_standin(
        "ILSVRC", tmp_path_factory.mktemp("ilsvrc"), classes=(0, 1), per_class={"test": 2}
    )
    return f"wsol:ILSVRC:{root}:metadata={meta}"


def _test_images(data: str) -> dict[str, tuple[torch.Tensor, tuple[int, int], int]]:
    """image id → (network input, original size, ground-truth class) of the split ``test``."""
    dm = WSLDataModule(data, image_size=64, num_workers=0, single_label=True)
    images = {}
    for batch in dm.dataloader("test"):
        rows = zip(batch["image_id"], batch["image"], batch["orig_size"], batch["labels"], strict=True)
        images.update({str(i): (x, tuple(map(int, s)), int(y.argmax())) for i, x, s, y in rows})
    return images


def _model_flags(weights: Path, num_classes: int) -> list[str]:
    return ["--model", "timm:resnet18", "--weights", str(weights), "--num-classes", str(num_classes),
            "--image-size", "64", "--num-workers", "0", "--device", "cpu", "--no-progress"]  # fmt: skip


@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_exported_cams_with_each_option_are_explain_s(ilsvrc, tmp_path, option):
    flags, explain_options = OPTIONS[option]
    net = _classifier(5, tmp_path / "w.pt")
    out = tmp_path / "out"
    argv = [
        *_model_flags(tmp_path / "w.pt", 5),
        *flags,
        "--data",
        ilsvrc,
        "--split",
        "test",
        "--out",
        str(out),
    ]
    assert export_main(argv) == 0
    manifest = json.loads((out / "cams.json").read_text())
    # cams.json records the smoothing options that are set, and only those
    assert {k for k in ("aug_smooth", "eigen_smooth") if manifest.get(k)} == set(explain_options) - {"layer"}
    assert "aug_smooth" in manifest if option == "aug_smooth" else "aug_smooth" not in manifest
    images = _test_images(ilsvrc)
    assert len(manifest["images"]) == len(images) == 4
    for record in manifest["images"]:
        image, size, gt = images[record["image_id"]]
        assert [int(c) for c in record["classes"]] == [gt]  # "present": the ground-truth class
        want = _expected(net, image, [gt], size, explain_options)[0]
        got = torch.from_numpy(load_cam_npz(out / record["npz"])[record["classes"][0]].astype(np.float64))
        torch.testing.assert_close(got, want, atol=1e-3, rtol=0)  # the .npz is float16


def test_score_maps_with_aug_smooth_are_explain_s(ilsvrc, tmp_path):
    net = _classifier(5, tmp_path / "w.pt")
    out = tmp_path / "maps"
    flags, explain_options = OPTIONS["aug_smooth"]
    argv = [*_model_flags(tmp_path / "w.pt", 5), *flags, "--data", ilsvrc, "--split", "test",
            "--out", str(out), "--layout", "wsolevaluation"]  # fmt: skip
    assert export_main(argv) == 0
    assert json.loads((out / "cams.json").read_text())["aug_smooth"] is True
    for image_id, (image, size, gt) in _test_images(ilsvrc).items():
        want = _expected(net, image, [gt], size, explain_options, "wsolevaluation")[0]
        torch.testing.assert_close(
            torch.from_numpy(np.load(out / f"{image_id}.npy")), want, atol=1e-6, rtol=0
        )


@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_predict_with_each_option_gives_explain_s_maps(tmp_path, option):
    _, explain_options = OPTIONS[option]
    net = _classifier(4, tmp_path / "w.pt")
    smooth = {k: v for k, v in explain_options.items() if k != "layer"}
    model = TrainedModel.from_classifier(net, layer=explain_options["layer"], image_size=64, device="cpu")
    paths = write_photos(tmp_path / "photos")
    results = predict(model, paths, top_k=2, **smooth)  # cam_method "native": the classifier's own method
    transform = build_transform(64, train=False)
    for path, result in zip(paths, results, strict=True):
        image = transform(torch.from_numpy(read_rgb(path)).permute(2, 0, 1))
        want = _expected(net, image, result.classes, result.size, explain_options)
        for got, expected in zip(result.cams, want, strict=True):
            # 1e-5: the job's float32 SVD (eigen_smooth) runs on a batch of two images, this one on one
            torch.testing.assert_close(torch.as_tensor(got, dtype=torch.float64), expected, atol=1e-5, rtol=0)


def test_the_predict_tool_takes_the_options(tmp_path, capsys):
    _classifier(3, tmp_path / "w.pt")
    write_photos(tmp_path / "photos")
    out = tmp_path / "pred"
    argv = [*_model_flags(tmp_path / "w.pt", 3), "--cam-layer", "layer2,layer3", "--aug-smooth",
            "--eigen-smooth", "--images", str(tmp_path / "photos"), "--out", str(out)]  # fmt: skip
    assert predict_main(argv) == 0, capsys.readouterr().err
    assert "gradcam on layers 'layer2', 'layer3' fused" in capsys.readouterr().err
    manifest = json.loads((out / "cams.json").read_text())
    assert len(manifest["images"]) == 2
    assert manifest["aug_smooth"] is manifest["eigen_smooth"] is True


@pytest.mark.parametrize("option", sorted(OPTIONS))
@pytest.mark.parametrize("protocol", ["original", "wsolevaluation"])
def test_evaluate_with_each_option_scores_explain_s_maps(ilsvrc, tmp_path, option, protocol):
    flags, explain_options = OPTIONS[option]
    net = _classifier(1000, tmp_path / "w.pt")
    out = tmp_path / "eval.json"
    argv = [*_model_flags(tmp_path / "w.pt", 1000), *flags, "--data", ilsvrc, "--split", "test",
            "--protocol", protocol, "--out", str(out)]  # fmt: skip
    assert evaluate_main(argv) == 0
    payload = json.loads(out.read_text())
    assert payload["cam_layer"] == explain_options["layer"]
    assert (payload["aug_smooth"], payload["eigen_smooth"]) == (
        explain_options.get("aug_smooth", False),
        explain_options.get("eigen_smooth", False),
    )
    dm = WSLDataModule(ilsvrc, image_size=64, num_workers=0, single_label=True)
    expected = evaluate_classifier(net, dm.dataloader("test"), protocol=protocol, **explain_options)
    assert expected.pop("images_scored") == 4
    for key, value in expected.items():
        assert payload["results"][key] == pytest.approx(value, abs=1e-9), key


class _OneView(torch.nn.Module):
    """A checkpoint's network seen as a classifier: the scores of one view (no flip averaging)."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net.forward_view(images)[0]


@pytest.fixture(scope="module")
def gap_run(synthetic_voc_root, tmp_path_factory):
    return train(
        reproducible_tiny_args(synthetic_voc_root, tmp_path_factory.mktemp("smooth_run"), "--pool", "gap")
    )


def test_a_checkpoint_s_exported_cams_with_the_options_are_explain_s(gap_run, synthetic_voc_root, tmp_path):
    """``--ckpt`` with a post-hoc method, both smoothings and two fused layers of its network."""
    ckpt, out = gap_run["checkpoint"], tmp_path / "out"
    layers = "backbone.body.blocks.2,backbone"
    argv = ["--ckpt", ckpt, "--data", f"voc:{synthetic_voc_root}", "--split", "test", "--out", str(out),
            "--cam-method", "gradcam", "--cam-layer", layers, "--aug-smooth", "--eigen-smooth",
            "--image-size", "64", "--num-workers", "0", "--device", "cpu", "--no-progress"]  # fmt: skip
    assert export_main(argv) == 0
    view = _OneView(load_module(ckpt).net).eval()
    options = {"layer": "net.backbone.body.blocks.2,net.backbone", "aug_smooth": True, "eigen_smooth": True}
    manifest = json.loads((out / "cams.json").read_text())
    names = manifest["class_names"]
    images = {}
    dm = WSLDataModule(f"voc:{synthetic_voc_root}", image_size=64, num_workers=0, class_names=names)
    for batch in dm.dataloader("test"):
        rows = zip(batch["image_id"], batch["image"], batch["orig_size"], strict=True)
        images.update({str(i): (x, tuple(map(int, s))) for i, x, s in rows})
    for record in manifest["images"]:
        image, size = images[record["image_id"]]
        chosen = [names.index(n) for n in record["classes"]]
        want = _expected(view, image, chosen, size, options)
        saved = load_cam_npz(out / record["npz"])
        for k, name in enumerate(record["classes"]):
            got = torch.from_numpy(saved[name].astype(np.float64))
            torch.testing.assert_close(got, want[k], atol=1e-3, rtol=0)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--aug-smooth"], "--aug-smooth smooths a post-hoc --cam-method, not the model's own class maps"),
        (
            ["--cam-method", "fullgrad", "--eigen-smooth"],
            "error: --eigen-smooth: method='fullgrad' uses every",
        ),
        (["--cam-method", "gradcam", "--cam-layer", "backbone,nope"], "--cam-layer: got 'nope'"),
    ],
)
def test_option_errors_are_one_line_naming_the_flag(gap_run, tmp_path, capsys, argv, message):
    args = ["--ckpt", gap_run["checkpoint"], "--out", str(tmp_path / "o"), "--device", "cpu", *argv]
    assert export_main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert "error:" in err.strip().splitlines()[-1]  # one line


def test_evaluate_refuses_smoothing_saved_maps_and_the_native_maps(capsys):
    assert evaluate_main(["--cams", "maps", "--aug-smooth"]) == 2
    assert "--aug-smooth is an option of a post-hoc --cam-method" in capsys.readouterr().err
    assert evaluate_main(["--ckpt", "x.ckpt", "--eigen-smooth"]) == 2
    assert "--eigen-smooth is an option of a post-hoc --cam-method" in capsys.readouterr().err


def test_the_cam_source_checks_its_options():
    with pytest.raises(
        ValueError, match=r"aug_smooth: the model's own \(native\) class maps are not smoothed"
    ):
        CamSource("native", aug_smooth=True)
    with pytest.raises(ValueError, match=r"eigen_smooth: method='fullgrad' uses every bias layer"):
        CamSource("fullgrad", eigen_smooth=True)
    with pytest.raises(ValueError, match=r"layer: got 'a,a'"):
        CamSource("gradcam", "a,a")
    assert CamSource("gradcam", "a,b", aug_smooth=True, eigen_smooth=True).label == (
        "gradcam@a,b+aug_smooth+eigen_smooth"
    )
