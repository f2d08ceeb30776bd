"""tools/evaluate.py --cam-method / --cam-layer / --center: a tiny trained checkpoint scored with every
post-hoc CAM method and the center baseline, in both evaluation frames."""

from __future__ import annotations

import json

import pytest

from tests.tiny_training import reproducible_tiny_args
from tools.evaluate import evaluate, main
from wsl.cam import POSTHOC_METHODS
from wsl.cli import train
from wsl.runs import RunFolder


@pytest.fixture(scope="module")
def gap_run(synthetic_voc_root, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("posthoc_run")
    return train(reproducible_tiny_args(synthetic_voc_root, run_dir, "--pool", "gap"))


def base(root, *extra):
    return ["--data", f"voc:{root}", "--image-size", "64", "--num-workers", "0", "--batch-size", "3",
            "--no-progress", *extra]  # fmt: skip


@pytest.mark.parametrize("protocol", ["original", "wsolevaluation"])
def test_every_cam_method_scores_the_checkpoint(gap_run, synthetic_voc_root, tmp_path, protocol):
    ckpt = gap_run["checkpoint"]
    native = evaluate([*base(synthetic_voc_root), "--ckpt", ckpt, "--protocol", protocol,
                       "--out", str(tmp_path / "native.json")])["results"]  # fmt: skip
    for method in sorted(set(POSTHOC_METHODS) - {"native"}):
        out = tmp_path / f"{method}.json"
        payload = evaluate([*base(synthetic_voc_root), "--ckpt", ckpt, "--cam-method", method,
                            "--protocol", protocol, "--out", str(out)])  # fmt: skip
        results = payload["results"]
        assert payload["cam_method"] == method and payload["protocol"] == protocol
        assert json.loads(out.read_text())["results"] == pytest.approx(results)
        # The scores come from the same forward pass: classification is that of the native maps.
        assert results["map"] == pytest.approx(native["map"])
        for key in ("maxboxacc", "maxboxacc_v2", "pointing_game", "pxap"):
            assert 0.0 <= results[key] <= 1.0


def test_native_method_reproduces_the_training_time_test_scores(gap_run, synthetic_voc_root, tmp_path):
    payload = evaluate([*base(synthetic_voc_root), "--ckpt", gap_run["checkpoint"], "--cam-method", "native",
                        "--out", str(tmp_path / "e.json")])  # fmt: skip
    assert payload["results"] == pytest.approx({k: v for k, v in gap_run["test"].items() if k != "loss"})


def test_a_cam_layer_and_the_default_output_file(gap_run, synthetic_voc_root, capsys):
    ckpt = gap_run["checkpoint"]
    payload = evaluate([*base(synthetic_voc_root), "--ckpt", ckpt, "--cam-method", "layercam",
                        "--cam-layer", "backbone.body.blocks.2"])  # fmt: skip
    assert payload["cam_layer"] == "backbone.body.blocks.2"
    assert "layercam@backbone.body.blocks.2 / gap" in capsys.readouterr().out  # the table's row name
    written = RunFolder.of_checkpoint(gap_run["checkpoint"]).root / "evaluation_test_layercam.json"
    assert json.loads(written.read_text())["results"] == pytest.approx(payload["results"])


def test_center_baseline_needs_no_model(synthetic_voc_root, tmp_path):
    for flags in (["--center"], ["--cam-method", "center"]):
        out = tmp_path / "center.json"
        payload = evaluate([*base(synthetic_voc_root), *flags, "--out", str(out)])
        assert payload["cam_method"] == "center" and payload["results"]["images_scored"] == 4
        assert "map" not in payload["results"]
    wsol = evaluate([*base(synthetic_voc_root), "--center", "--protocol", "wsolevaluation",
                     "--out", str(out)])  # fmt: skip
    assert wsol["protocol"] == "wsolevaluation"


def test_bad_flags_are_reported_with_the_tool_names(gap_run, synthetic_voc_root, capsys):
    ckpt = gap_run["checkpoint"]
    assert main([*base(synthetic_voc_root), "--ckpt", ckpt, "--cam-method", "gradcam",
                 "--cam-layer", "backbone.nope"]) == 2  # fmt: skip
    assert "--cam-layer: got 'backbone.nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        evaluate([*base(synthetic_voc_root), "--ckpt", ckpt, "--cam-layer", "backbone"])
    assert "--cam-layer is the layer of a post-hoc --cam-method" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        evaluate([*base(synthetic_voc_root), "--cams", "x", "--cam-method", "gradcam"])
    assert "--cam-method needs --ckpt" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        evaluate(base(synthetic_voc_root))
    assert "one of --ckpt, --model, --cams, --center" in capsys.readouterr().err
    assert main([*base(synthetic_voc_root), "--center", "--center-sigma", "0", "--out", "/tmp/x.json"]) == 2
    assert "--center-sigma: got 0.0" in capsys.readouterr().err
