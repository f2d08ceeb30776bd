"""Issue 32 item 1: ``tools/evaluate.py --model`` scores any classifier's CAMs (a timm or torchvision name,
random weights saved for ``--weights``: no download) on stand-ins of the real ILSVRC metadata, in both
frames, with the same results as the explain tool's evaluation of the same network (a second path:
:func:`wsl.cam.explain_eval.evaluate_classifier`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import timm
import torch
import torchvision
from wsol_metadata import write_standin

from tools.evaluate import main as evaluate_main
from wsl.cam.explain_eval import evaluate_classifier
from wsl.data import WSLDataModule
from wsl.jobs.evaluate import evaluate_from_checkpoint
from wsl.trained import TrainedModel

LAYER = {"timm:resnet18": "layer3", "torchvision:resnet18": "layer3"}


def _network(name: str, path: Path) -> torch.nn.Module:
    """The classifier ``name`` with seeded random weights (1000 ImageNet outputs), saved to ``path``."""
    torch.manual_seed(0)
    library, _, arch = name.partition(":")
    if library == "timm":
        net = timm.create_model(arch, pretrained=False, num_classes=1000)
    else:
        net = getattr(torchvision.models, arch)(weights=None, num_classes=1000)
    torch.save(net.state_dict(), path)
    return net.eval()


@pytest.fixture(scope="module")
def ilsvrc(tmp_path_factory):
    root, meta = write_standin(
        "ILSVRC", tmp_path_factory.mktemp("ilsvrc"), classes=(0, 1), per_class={"test": 2}
    )
    return f"wsol:ILSVRC:{root}:metadata={meta}"


@pytest.mark.parametrize("name", sorted(LAYER))
@pytest.mark.parametrize("protocol", ["original", "wsolevaluation"])
def test_evaluate_model_scores_a_classifier_as_the_explain_evaluation_does(ilsvrc, tmp_path, name, protocol):
    net = _network(name, tmp_path / "w.pt")
    out = tmp_path / "eval.json"
    argv = [
        "--model", name, "--weights", str(tmp_path / "w.pt"), "--num-classes", "1000",
        "--cam-layer", LAYER[name], "--data", ilsvrc, "--split", "test", "--protocol", protocol,
        "--image-size", "64", "--num-workers", "0", "--device", "cpu", "--no-progress", "--out", str(out),
    ]  # fmt: skip
    assert evaluate_main(argv) == 0
    payload = json.loads(out.read_text())
    assert (payload["cam_method"], payload["cam_layer"], payload["protocol"]) == (
        "gradcam",
        LAYER[name],
        protocol,
    )
    assert payload["source"] == name and payload["data"] == ilsvrc
    dm = WSLDataModule(ilsvrc, image_size=64, num_workers=0, single_label=True)
    expected = evaluate_classifier(net, dm.dataloader("test"), layer=LAYER[name], protocol=protocol)
    assert expected.pop("images_scored") == 4
    assert set(payload["results"]) == set(expected)
    for key, value in expected.items():
        assert payload["results"][key] == pytest.approx(value, abs=1e-9), key


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--model", "timm:resnet18"], "--model needs --data"),
        (["--ckpt", "x.ckpt", "--pretrained"], "--pretrained, --weights and --num-classes build a --model"),
        (
            ["--model", "timm:resnet18", "--data", "synthetic", "--cam-method", "center"],
            "drop --ckpt/--model",
        ),
    ],
)
def test_evaluate_model_flag_errors_name_the_fix(extra, message, capsys):
    assert evaluate_main(extra) == 2
    assert message in capsys.readouterr().err


def test_the_cam_source_is_resolved_once_per_evaluation(ilsvrc, tmp_path, monkeypatch):
    """Review item D2: the payload's method and layer and the scored CAMs come from one
    ``TrainedModel.cam_source`` call (the job used to ask again after scoring)."""
    net = _network("timm:resnet18", tmp_path / "w.pt")
    model = TrainedModel.from_classifier(net, layer="layer3", image_size=64, device="cpu")
    calls = []
    real = TrainedModel.cam_source

    def counted(self, method="native", layer=None):
        calls.append((method, layer))
        return real(self, method, layer)

    monkeypatch.setattr(TrainedModel, "cam_source", counted)
    payload = evaluate_from_checkpoint(
        model, data=ilsvrc, split="test", num_workers=0, progress=False, cam_method="native"
    )
    assert calls == [("native", None)]
    assert (payload["cam_method"], payload["cam_layer"]) == ("gradcam", "layer3")
    assert payload["name"].startswith("gradcam@layer3 / ")


def test_evaluate_s_sources_are_one_exclusive_choice(capsys):
    """--model comes from the shared classifier flags, in evaluate's one group with --cams and --center."""
    assert evaluate_main(["--model", "timm:resnet18", "--cams", "maps", "--data", "synthetic"]) == 2
    err = capsys.readouterr().err
    assert "argument --cams: not allowed with argument --model" in err
    assert "[--ckpt CKPT | --model timm:NAME|torchvision:NAME | --cams CAMS | --center]" in err
