"""wsl.serving: ONNX and torch.export match PyTorch; a pretrained folder loads without the checkpoint."""

from __future__ import annotations

import json

import pytest
import torch

from wsl.jobs.predict import predict
from wsl.lit import WSLModule
from wsl.serving import export_onnx, export_program, from_pretrained, load_program, save_pretrained

#: A CNN and a ViT (timm's test ViT, 160 px), each with a head whose k depends on the map size.
NETWORKS = [
    pytest.param({"backbone": "lcnet_050", "pool": "weldon"}, 64, id="lcnet_050-weldon"),
    pytest.param({"backbone": "test_vit", "pool": "lse", "out_index": -1}, 160, id="test_vit-lse"),
]


def _module(kwargs):
    torch.manual_seed(0)
    return WSLModule(num_classes=3, **kwargs).eval()


def _reference(module, images):
    with torch.no_grad():
        return module.net(images)


@pytest.mark.parametrize(("kwargs", "size"), NETWORKS)
def test_onnx_matches_pytorch(tmp_path, kwargs, size):
    ort = pytest.importorskip(
        "onnxruntime", reason="onnxruntime is an optional extra: pip install 'wsl[onnx]'"
    )
    pytest.importorskip("onnxscript", reason="the ONNX exporter needs onnxscript: pip install 'wsl[onnx]'")
    module = _module(kwargs)
    path = export_onnx(module, tmp_path / "net.onnx", size)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["scores", "class_maps"]
    images = torch.randn(3, 3, size, size)  # another batch size than the export's example
    scores, class_maps = session.run(None, {"images": images.numpy()})
    ref_scores, ref_maps = _reference(module, images)
    torch.testing.assert_close(torch.from_numpy(scores), ref_scores, rtol=0, atol=1e-4)
    torch.testing.assert_close(torch.from_numpy(class_maps), ref_maps, rtol=0, atol=1e-4)


@pytest.mark.parametrize(("kwargs", "size"), NETWORKS)
def test_torch_export_matches_pytorch(tmp_path, kwargs, size):
    module = _module(kwargs)
    program = load_program(export_program(module, tmp_path / "net.pt2", size))
    images = torch.randn(1, 3, size, size)
    with torch.no_grad():
        scores, class_maps = program(images)
    ref_scores, ref_maps = _reference(module, images)
    torch.testing.assert_close(scores, ref_scores, rtol=0, atol=1e-4)
    torch.testing.assert_close(class_maps, ref_maps, rtol=0, atol=1e-4)


def test_a_pretrained_folder_predicts_like_its_checkpoint(coco_run, synthetic_coco_root, tmp_path):
    folder = save_pretrained(coco_run["checkpoint"], tmp_path / "model")
    config = json.loads((folder / "config.json").read_text())
    assert config["image_size"] == 64 and config["class_names"] == config["hyper_parameters"]["class_names"]
    assert config["threshold"] == pytest.approx(coco_run["test"]["maxboxacc_threshold"])
    images = synthetic_coco_root / "test"
    from_ckpt = predict(coco_run["checkpoint"], images, top_k=2, device="cpu")
    from_folder = predict(folder, images, top_k=2, device="cpu")
    assert [r.classes for r in from_folder] == [r.classes for r in from_ckpt]
    for a, b in zip(from_folder, from_ckpt, strict=True):
        torch.testing.assert_close(a.probs, b.probs, rtol=0, atol=0)
        assert a.threshold == b.threshold and all(
            (x == y).all() for x, y in zip(a.boxes, b.boxes, strict=True)
        )


def test_from_pretrained_never_reads_the_checkpoint(coco_run, tmp_path):
    folder = save_pretrained(coco_run["checkpoint"], tmp_path / "model")
    moved = tmp_path / "elsewhere"
    folder.rename(moved)  # no run folder, no .ckpt beside it
    module = from_pretrained(moved)
    assert module.class_names == json.loads((moved / "config.json").read_text())["class_names"]
    assert not module.training


def test_bad_pretrained_folders_and_arguments_say_what_to_do(tmp_path):
    with pytest.raises(ValueError, match="needs config.json and model.safetensors"):
        from_pretrained(tmp_path)
    folder = save_pretrained(WSLModule(num_classes=2, pool="gap"), tmp_path / "m")
    (folder / "model.safetensors").write_bytes(b"broken")
    with pytest.raises(ValueError, match="does not hold the weights"):
        from_pretrained(folder)
    (folder / "config.json").write_text('{"format": "other"}')
    with pytest.raises(ValueError, match="not a wsl pretrained config"):
        from_pretrained(folder)
    with pytest.raises(ValueError, match="save_pretrained needs a WSLModule"):
        save_pretrained(torch.nn.Linear(2, 2), tmp_path / "x")
    with pytest.raises(ValueError, match="image_size must be a positive int"):
        export_program(WSLModule(num_classes=2, pool="gap"), tmp_path / "n.pt2", 0)


# --- config.json from a newer writer or edited by hand (issue 35 item 19)


def _pretrained_folder(tmp_path):
    folder = save_pretrained(WSLModule(num_classes=3, pool="gap"), tmp_path / "model", 64, 0.3)
    return folder, json.loads((folder / "config.json").read_text())


def test_keys_of_a_newer_writer_are_ignored_with_one_warning(tmp_path):
    folder, config = _pretrained_folder(tmp_path)
    config["hyper_parameters"]["a_future_option"] = 1
    config["a_future_section"] = {"x": 1}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.warns(UserWarning, match="ignored keys") as record:
        module = from_pretrained(folder)
    assert len(record) == 1
    assert "hyper_parameters.a_future_option" in str(record[0].message)
    assert "a_future_section" in str(record[0].message)
    assert module.pretrained_config["image_size"] == 64


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("image_size", 100000, r"config.json: image_size is 100000; expected null or an int from 1 to 4096"),
        ("image_size", "224", r"image_size is '224'"),
        ("image_size", True, r"image_size is True"),
        ("threshold", 7, r"config.json: threshold: .*got 7\. Fix"),
        ("class_names", ["a", "a", "b"], r"config.json: class_names must be a list of distinct strings"),
    ],
)
def test_implausible_config_values_name_the_file_and_the_field(tmp_path, field, value, message):
    folder, config = _pretrained_folder(tmp_path)
    config[field] = value
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=message):
        from_pretrained(folder)
