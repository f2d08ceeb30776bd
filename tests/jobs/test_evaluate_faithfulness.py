"""Issue 32 item 4: ``evaluate --faithfulness [--road]`` scores the same CAMs the evaluator scores for
faithfulness (deletion / insertion AUC, Average Drop, Increase in Confidence, ROAD): the job's means equal
:class:`~wsl.cam.explain_eval.FaithfulnessSums` fed by hand with the network's maps at the input size, in
both frames; for a single-label classifier they equal the explain evaluation's
(:func:`wsl.cam.explain_eval.evaluate_classifier`); the flags' errors name the fix."""

from __future__ import annotations

import json

import pytest
import timm
import torch
from torch.utils.data import DataLoader, Subset
from wsol_metadata import write_standin

from tools.evaluate import main as evaluate_main
from wsl.cam import gt_classes
from wsl.cam.classifier import classifier_of
from wsl.cam.explain_eval import FaithfulnessSums, evaluate_classifier
from wsl.cam.maps import normalize_cams, upsample_class_maps
from wsl.data import WSLDataModule
from wsl.jobs.evaluate import EvalOptions, evaluate_cams, evaluate_model
from wsl.lit import WSLModule

KEYS = set(FaithfulnessSums.KEYS)


def _by_hand(module: WSLModule, loader, road: bool) -> dict[str, float]:
    """Every (image, ground-truth class) pair: its class map at the input size; sigmoid confidence."""
    sums = FaithfulnessSums(road, "sigmoid")
    net = module.net.eval()
    for batch in loader:
        images = batch["image"]
        with torch.no_grad():
            _, maps = net(images)
        gts = [gt_classes(batch["box_labels"][i], batch["difficult"][i]) for i in range(len(images))]
        pairs = [(i, c) for i, classes in enumerate(gts) for c in classes]
        index = torch.tensor([i for i, _ in pairs])
        classes = torch.tensor([c for _, c in pairs])
        cams = normalize_cams(upsample_class_maps(maps[index, classes], tuple(images.shape[-2:])))
        sums.update(classifier_of(net), images[index], cams, classes)
    return sums.compute()


@pytest.mark.parametrize("protocol", ["original", "wsolevaluation"])
def test_evaluate_faithfulness_equals_the_sums_fed_by_hand(tiny_datamodule, protocol):
    torch.manual_seed(0)
    data = tiny_datamodule
    module = WSLModule(num_classes=data.num_classes, class_names=data.class_names, pool="gap").eval()
    loader = data.dataloader("test")
    road = protocol == "original"  # ROAD once, on one image (18 imputations a pair, solved by CG: slow)
    if road:
        loader = DataLoader(Subset(loader.dataset, [0]), batch_size=1, collate_fn=loader.collate_fn)
    results = evaluate_model(module, loader, protocol=protocol, progress=False, faithfulness=True, road=road)
    plain = evaluate_model(module, loader, protocol=protocol, progress=False)
    expected = _by_hand(module, loader, road)
    assert set(expected) == KEYS | (set(FaithfulnessSums.ROAD_KEYS) if road else set())
    for key, value in expected.items():
        assert results[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
    assert {k: v for k, v in results.items() if k not in expected} == pytest.approx(plain, nan_ok=True)


def test_faithfulness_options_are_refused_where_there_is_no_network(tmp_path, capsys):
    with pytest.raises(ValueError, match="road: ROAD is reported with the faithfulness metrics"):
        EvalOptions(road=True)
    with pytest.raises(TypeError, match="unexpected keyword argument 'faithfulness'"):
        evaluate_cams(tmp_path, faithfulness=True)
    for argv, message in [
        (["--cams", str(tmp_path), "--faithfulness"], "use --ckpt or --model instead of --cams"),
        (["--center", "--faithfulness"], "use --ckpt or --model instead of --center"),
        (["--cam-method", "center", "--faithfulness"], "use --ckpt or --model instead of --center"),
        (["--ckpt", "x.ckpt", "--road"], "--road is reported with the faithfulness metrics: add --faith"),
    ]:
        assert evaluate_main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()[-1]) < 160, err


@pytest.fixture(scope="module")
def ilsvrc(tmp_path_factory):
    root, meta = write_standin(
        "ILSVRC", tmp_path_factory.mktemp("ilsvrc_faith"), classes=(0, 1), per_class={"test": 2}
    )
    return f"wsol:ILSVRC:{root}:metadata={meta}"


def test_evaluate_model_faithfulness_equals_the_explain_evaluation_and_is_printed(ilsvrc, tmp_path, capsys):
    torch.manual_seed(0)
    net = timm.create_model("resnet18", pretrained=False, num_classes=1000).eval()
    torch.save(net.state_dict(), tmp_path / "w.pt")
    out = tmp_path / "eval.json"
    argv = [
        "--model", "timm:resnet18", "--weights", str(tmp_path / "w.pt"), "--num-classes", "1000",
        "--cam-layer", "layer3", "--data", ilsvrc, "--split", "test", "--protocol", "wsolevaluation",
        "--image-size", "64", "--num-workers", "0", "--device", "cpu", "--no-progress", "--out", str(out),
        "--faithfulness",
    ]  # fmt: skip
    assert evaluate_main(argv) == 0
    printed = capsys.readouterr().out
    header = next(line for line in printed.splitlines() if line.startswith("| run |"))
    assert all(key in header for key in KEYS) and "maxboxacc" in header
    results = json.loads(out.read_text())["results"]
    dm = WSLDataModule(ilsvrc, image_size=64, num_workers=0, single_label=True)
    expected = evaluate_classifier(
        net, dm.dataloader("test"), layer="layer3", protocol="wsolevaluation", faithfulness=True
    )
    assert expected.pop("images_scored") == 4
    assert set(results) == set(expected)
    for key in KEYS:
        assert results[key] == pytest.approx(expected[key], rel=1e-6, abs=1e-9), key
