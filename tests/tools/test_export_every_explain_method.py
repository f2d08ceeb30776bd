"""Every method of ``tools/explain.py`` (one list: :data:`wsl.cam.POSTHOC_METHODS`) is a ``--cam-method`` of
the export and predict; for the methods computed from the network (ScoreCAM, AblationCAM: extra forward
passes on the layer; FullGrad: every bias layer, no layer) the maps they write equal
:func:`wsl.cam.explain`'s for the same network inputs and targets (a timm ResNet18 with saved random
weights: no download)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from standin_photos import write_photos
from wsol_metadata import write_standin

from tools.export_cams import build_parser as export_parser
from tools.export_cams import main as export_main
from tools.predict import build_parser as predict_parser
from tools.predict import main as predict_main
from wsl.cam import class_maps_for, explain, explain_methods, get_frame, normalize_cams
from wsl.cam.classifier import ClassifierCAM
from wsl.commands.explain import build_parser as explain_parser
from wsl.data import WSLDataModule
from wsl.data.transforms import build_transform
from wsl.jobs.predict import predict
from wsl.jobs.predict.images import read_rgb
from wsl.trained import TrainedModel

LAYER = "layer3"
#: The methods explain offers that are no rule on one layer's activations and gradients.
NETWORK_METHODS = ("scorecam", "ablationcam", "fullgrad")


def _choices(parser, dest: str) -> list[str]:
    [action] = [a for a in parser._actions if a.dest == dest]
    return list(action.choices)


def test_the_tools_offer_every_explain_method():
    offered = _choices(explain_parser(), "method")
    assert offered == explain_methods() and set(NETWORK_METHODS) <= set(offered)
    for parser in (export_parser(), predict_parser()):
        assert sorted(_choices(parser, "cam_method")) == sorted(["native", *offered])


def _classifier(num_classes: int, path: Path) -> torch.nn.Module:
    torch.manual_seed(0)
    net = timm.create_model("resnet18", pretrained=False, num_classes=num_classes).eval()
    torch.save(net.state_dict(), path)
    return net


def _layer(method: str) -> str | None:
    return None if method == "fullgrad" else LAYER


def _explained(net, images: torch.Tensor, method: str, targets: list[int]) -> torch.Tensor:
    """explain's raw maps (N, K, h, w) of ``targets`` for every image of the batch."""
    out = explain(net, images, layer=_layer(method), method=method, targets=[targets] * len(images))
    return out.maps


@pytest.mark.parametrize("method", NETWORK_METHODS)
def test_class_maps_for_a_classifier_are_explain_s(tmp_path, method):
    net = _classifier(5, tmp_path / "w.pt")
    images = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    wrapper = ClassifierCAM(net, LAYER)
    _, maps = class_maps_for(wrapper, images, method, classes=[[1], [3, 1], [4]])
    want = _explained(net, images, method, [1, 3, 4])
    torch.testing.assert_close(maps[:, [1, 3, 4]], want, atol=0, rtol=0)
    assert maps[:, [0, 2]].eq(0).all() and maps.shape[-2:] == want.shape[-2:]


@pytest.mark.parametrize("method", NETWORK_METHODS)
def test_score_maps_of_every_method_on_ilsvrc_standins_are_explain_s(tmp_path, method):
    root, meta = write_standin("ILSVRC", tmp_path / "ilsvrc", classes=(0, 1), per_class={"test": 2})
    net = _classifier(5, tmp_path / "w.pt")
    out = tmp_path / "maps"
    data = f"wsol:ILSVRC:{root}:metadata={meta}"
    layer = ["--cam-layer", LAYER] if _layer(method) else []
    status = export_main([
        "--model", "timm:resnet18", "--weights", str(tmp_path / "w.pt"), "--num-classes", "5",
        "--cam-method", method, *layer, "--data", data, "--split", "test", "--out", str(out),
        "--layout", "wsolevaluation", "--image-size", "64", "--num-workers", "0", "--device", "cpu",
        "--no-progress",
    ])  # fmt: skip
    assert status == 0
    dm = WSLDataModule(data, image_size=64, batch_size=32, num_workers=0, single_label=True)
    seen = 0
    for batch in dm.dataloader("test"):
        gts = [int(labels.argmax()) for labels in batch["labels"]]
        asked = sorted(set(gts))  # the job computes the batch's classes for every image
        maps = _explained(net, batch["image"], method, asked)
        rows = zip(batch["image_id"], gts, batch["orig_size"], strict=True)
        for n, (image_id, gt, size) in enumerate(rows):
            raw = get_frame("wsolevaluation").resize(maps[n, asked.index(gt)][None], tuple(map(int, size)))
            expected = normalize_cams(raw, torch.float64)
            got = torch.from_numpy(np.load(out / f"{image_id}.npy"))
            assert got.dtype == torch.float64 and got.shape == (224, 224)
            torch.testing.assert_close(got, expected[0], atol=1e-6, rtol=0)
            seen += 1
    assert seen == 4


@pytest.mark.parametrize("method", NETWORK_METHODS)
def test_predict_gives_explain_s_maps_for_every_method(tmp_path, method):
    net = _classifier(4, tmp_path / "w.pt")
    layer = _layer(method)
    model = TrainedModel.from_classifier(net, method=method, layer=layer, image_size=64, device="cpu")
    paths = write_photos(tmp_path / "photos")
    results = predict(model, paths, top_k=2)
    transform = build_transform(64, train=False)
    images = torch.stack([transform(torch.from_numpy(read_rgb(p)).permute(2, 0, 1)) for p in paths])
    asked = sorted({c for r in results for c in r.classes})
    maps = _explained(net, images, method, asked)
    for n, result in enumerate(results):
        for k, got in zip(result.classes, result.cams, strict=True):
            raw = maps[n, asked.index(k)][None]
            want = normalize_cams(get_frame("original").resize(raw, result.size), torch.float64)[0]
            torch.testing.assert_close(torch.as_tensor(got, dtype=torch.float64), want, atol=1e-6, rtol=0)


def test_the_predict_tool_takes_fullgrad_and_refuses_a_layer_for_it(tmp_path, capsys):
    _classifier(3, tmp_path / "w.pt")
    write_photos(tmp_path / "photos")
    common = [
        "--model", "timm:resnet18", "--weights", str(tmp_path / "w.pt"), "--num-classes", "3",
        "--cam-method", "fullgrad", "--images", str(tmp_path / "photos"), "--image-size", "64",
        "--device", "cpu", "--no-progress",
    ]  # fmt: skip
    assert predict_main([*common, "--out", str(tmp_path / "pred")]) == 0, capsys.readouterr().err
    manifest = json.loads((tmp_path / "pred" / "cams.json").read_text())
    assert manifest["cam_method"] == "fullgrad" and len(manifest["images"]) == 2
    assert predict_main([*common, "--cam-layer", LAYER, "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: --cam-layer: got 'layer3'") and "uses every bias layer" in err[-1]
