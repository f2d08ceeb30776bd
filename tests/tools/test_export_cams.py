"""tools/export_cams.py end to end on a tiny checkpoint: outputs, --threshold best, errors exit 2."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from tools.export_cams import main
from wsl.data import WSLDataModule
from wsl.lit import WSLModule


@pytest.fixture(scope="session")
def run_dir(synthetic_voc_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder laid out as tools/train.py leaves it: checkpoints/best.ckpt, results.json, config.yaml."""
    root = tmp_path_factory.mktemp("run")
    dm = WSLDataModule(data=f"voc:{synthetic_voc_root}", image_size=64, batch_size=4, num_workers=0)
    torch.manual_seed(0)
    module = WSLModule(
        num_classes=dm.num_classes, class_names=dm.class_names, backbone="resnet18", pool="gap"
    )
    trainer = pl.Trainer(
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        default_root_dir=root,
    )
    trainer.fit(module, datamodule=dm)
    (root / "checkpoints").mkdir()
    trainer.save_checkpoint(root / "checkpoints" / "best.ckpt")
    (root / "results.json").write_text(json.dumps({"test": {"maxboxacc_threshold": 0.37}}))
    (root / "config.yaml").write_text("data:\n  image_size: 64\n")
    return root


def args(run_dir: Path, root: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--ckpt", str(run_dir / "checkpoints" / "best.ckpt"),
        "--data", f"voc:{root}",
        "--split", "test",
        "--out", str(out),
        "--num-workers", "0",
        "--device", "cpu",
        "--no-progress",
        *extra,
    ]  # fmt: skip


def test_end_to_end_with_the_best_threshold(run_dir, synthetic_voc_root, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(args(run_dir, synthetic_voc_root, out, "--limit", "3")) == 0
    captured = capsys.readouterr()
    assert "threshold 0.370 (best MaxBoxAcc)" in captured.err
    assert "image size 64 from" in captured.err  # the training size from config.yaml
    assert "exported" in captured.out and "index.html" in captured.out
    manifest = json.loads((out / "cams.json").read_text())
    assert manifest["threshold"] == pytest.approx(0.37)
    assert len(manifest["images"]) == 3 and manifest["classes"] == "present"
    for name in ("index.html", "contact_sheet.png", "cams.json"):
        assert (out / name).is_file()
    assert len(list((out / "cams").glob("*.npz"))) == 3


def voc_copy(root: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "voc"
    shutil.copytree(root, copy)
    return copy


def test_the_folder_is_read_with_the_checkpoints_classes(run_dir, synthetic_voc_root, tmp_path):
    # classes.txt lists the same classes in another order: the model's order is used, not refused
    voc = voc_copy(synthetic_voc_root, tmp_path)
    names = (voc / "classes.txt").read_text().split()
    (voc / "classes.txt").write_text("".join(f"{n}\n" for n in reversed(names)))
    argv = args(run_dir, voc, tmp_path / "out", "--classes", "gt")
    assert main(argv) == 0
    manifest = json.loads((tmp_path / "out" / "cams.json").read_text())
    assert manifest["class_names"] == names and manifest["classes"] == "gt"
    for meta in manifest["images"]:
        xml = (voc / "Annotations" / f"{meta['image_id']}.xml").read_text()
        objects = set(re.findall(r"<name>(\w+)</name>", xml))
        assert meta["classes"] == [n for n in names if n in objects]


def test_a_given_threshold_and_classes_are_used(run_dir, synthetic_voc_root, tmp_path):
    out = tmp_path / "out"
    assert main(args(run_dir, synthetic_voc_root, out, "--threshold", "0.2", "--classes", "all")) == 0
    manifest = json.loads((out / "cams.json").read_text())
    assert manifest["threshold"] == 0.2
    assert len(manifest["entries"]) == 4 * 6


def test_best_falls_back_to_half_with_a_note(run_dir, synthetic_voc_root, tmp_path, capsys):
    lone = tmp_path / "lone.ckpt"
    lone.write_bytes((run_dir / "checkpoints" / "best.ckpt").read_bytes())
    argv = args(run_dir, synthetic_voc_root, tmp_path / "out", "--limit", "1")
    argv[1] = str(lone)
    assert main(argv) == 0
    assert "note: no results.json" in capsys.readouterr().err
    assert json.loads((tmp_path / "out" / "cams.json").read_text())["threshold"] == 0.5


@pytest.mark.parametrize(
    "change, message",
    [
        ({"--ckpt": "missing.ckpt"}, "does not exist"),
        ({"--split": "nope"}, "split file not found"),
        ({"--threshold": "1.5"}, r"threshold must be in \[0, 1\)"),
        ({"--threshold": "high"}, "threshold must be 'best' or a number"),
        ({"--data": "VOC_UNKNOWN_CLASS"}, r"test_00000\.xml.*unknown class name 'zebra'"),
        ({"--out": "A_FILE"}, "is not a folder"),
    ],
)
def test_errors_print_a_message_and_exit_2(run_dir, synthetic_voc_root, tmp_path, capsys, change, message):
    argv = args(run_dir, synthetic_voc_root, tmp_path / "out", "--threshold", "best")
    for flag, value in change.items():
        if value == "VOC_UNKNOWN_CLASS":  # read with the checkpoint's 6 classes, an object names another
            voc = voc_copy(synthetic_voc_root, tmp_path)
            xml = voc / "Annotations" / "test_00000.xml"
            xml.write_text(re.sub(r"<name>\w+</name>", "<name>zebra</name>", xml.read_text(), count=1))
            value = f"voc:{voc}"
        elif value == "A_FILE":
            (tmp_path / "file.txt").write_text("x")
            value = str(tmp_path / "file.txt")
        elif value == "missing.ckpt":
            value = str(tmp_path / value)
        argv[argv.index(flag) + 1] = value
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") or "\nerror: " in err
    assert "Traceback" not in err
    assert re.search(message, err), err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_a_clear_error(run_dir, synthetic_voc_root, tmp_path, capsys):
    argv = args(run_dir, synthetic_voc_root, tmp_path / "out")
    argv[argv.index("--device") + 1] = "cuda"
    assert main(argv) == 2
    assert "CUDA is not available" in capsys.readouterr().err


def test_argparse_errors_and_help_return_a_status(capsys):
    assert main(["--help"]) == 0
    assert main(["--ckpt", "x"]) == 2  # --out missing
    assert main(["--ckpt", "x", "--out", "y", "--classes", "some"]) == 2
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, library, tool",
    [
        (["--image-size", "0"], "image_size must be an int >= 1; got 0", "--image-size must be an int >= 1"),
        (["--batch-size", "0"], "batch_size must be an int >= 1; got 0", "--batch-size must be an int >= 1"),
        (["--device", "tpu"], "device: got 'tpu'", "--device: got 'tpu'"),
    ],
)
def test_library_errors_name_arguments_and_the_tool_its_flags(
    run_dir, synthetic_voc_root, tmp_path, capsys, extra, library, tool
):
    from wsl.jobs.export import export_from_checkpoint
    from wsl.jobs.source import CheckpointData

    flag, value = extra
    name = flag[2:].replace("-", "_")
    with pytest.raises(ValueError, match=re.escape(library)) as info:
        source = CheckpointData(
            run_dir / "checkpoints" / "best.ckpt", f"voc:{synthetic_voc_root}", "test",
            **{name: int(value) if value.isdigit() else value},
        )  # fmt: skip
        export_from_checkpoint(source, tmp_path / "out", threshold=0.5)
    assert "--" not in str(info.value)
    argv = args(run_dir, synthetic_voc_root, tmp_path / "out", "--threshold", "0.5")
    if flag in argv:
        argv[argv.index(flag) + 1] = value
    else:
        argv += extra
    assert main(argv) == 2
    assert tool in capsys.readouterr().err


def _claim_sizes(path: Path, size: int) -> None:
    """Make every member of a zip claim ``size`` uncompressed bytes in the central directory."""
    data = bytearray(path.read_bytes())
    start = 0
    while (at := data.find(b"PK\x01\x02", start)) >= 0:
        data[at + 24 : at + 28] = size.to_bytes(4, "little")
        start = at + 4
    path.write_bytes(bytes(data))


def test_a_checkpoint_that_claims_a_huge_size_is_refused_before_loading(tmp_path, capsys):
    # issue 19 item 15: a small file that decompresses to GiBs of tensor loaded silently
    import zipfile

    from wsl.checkpoint import DEFAULT_MAX_CHECKPOINT_BYTES, read_checkpoint

    assert DEFAULT_MAX_CHECKPOINT_BYTES == 8 * 2**30
    small = tmp_path / "small.ckpt"
    torch.save({"w": torch.zeros(1000)}, small)
    assert read_checkpoint(small)["w"].shape == (1000,)
    with pytest.raises(
        ValueError, match=r"small\.ckpt' would unpack to 4\.\d+ kB .*above the limit of 1000 B"
    ):
        read_checkpoint(small, max_bytes=1000)
    bomb = tmp_path / "bomb.ckpt"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        for k in range(3):
            archive.writestr(f"bomb/data/{k}", b"\0" * 1024)
    _claim_sizes(bomb, 0xFFFFFFF0)  # 3 x 4 GiB claimed, a few hundred bytes on disk
    assert bomb.stat().st_size < 2000
    with pytest.raises(ValueError, match=r"would unpack to 12\.0 GiB.*above the limit of 8\.0 GiB"):
        read_checkpoint(bomb)
    argv = ["--ckpt", str(bomb), "--out", str(tmp_path / "out"), "--device", "cpu", "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "would unpack to 12.0 GiB" in err and "Traceback" not in err


def _voc_without_classes_txt(root: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    voc = voc_copy(root, tmp_path)
    names = (voc / "classes.txt").read_text().split()
    (voc / "classes.txt").unlink()
    return voc, names


@pytest.mark.parametrize("as_file", [False, True])
def test_class_names_flag_for_a_voc_folder_without_classes_txt(
    run_dir, synthetic_voc_root, tmp_path, as_file
):
    # issue 19 item 3: the dataset's classes, given in another order than the model's, are accepted
    voc, names = _voc_without_classes_txt(synthetic_voc_root, tmp_path)
    given = ",".join(reversed(names))
    if as_file:
        (tmp_path / "names.txt").write_text("".join(f"{n}\n" for n in reversed(names)))
        given = str(tmp_path / "names.txt")
    out = tmp_path / "out"
    assert main(args(run_dir, voc, out, "--class-names", given, "--classes", "gt")) == 0
    manifest = json.loads((out / "cams.json").read_text())
    assert manifest["class_names"] == names  # the model's order
    for meta in manifest["images"]:
        xml = (voc / "Annotations" / f"{meta['image_id']}.xml").read_text()
        assert meta["classes"] == [n for n in names if n in set(re.findall(r"<name>(\w+)</name>", xml))]


def test_wrong_class_names_are_an_error_that_suggests_only_existing_flags(
    run_dir, synthetic_voc_root, tmp_path, capsys
):
    voc, names = _voc_without_classes_txt(synthetic_voc_root, tmp_path)
    assert main(args(run_dir, voc, tmp_path / "out", "--class-names", "a,b")) == 2
    err = capsys.readouterr().err
    assert "--class-names ['a', 'b'] are not the checkpoint's classes" in err
    assert "--data." not in err and not re.search(r"(?<!-)class_names", err), err
    assert main(args(run_dir, voc, tmp_path / "out", "--class-names", " , ")) == 2
    assert "--class-names" in capsys.readouterr().err


def test_evaluate_cams_takes_class_names_for_a_voc_folder_without_classes_txt(
    run_dir, synthetic_voc_root, tmp_path, capsys
):
    from tools.evaluate import main as evaluate

    voc, names = _voc_without_classes_txt(synthetic_voc_root, tmp_path)
    assert main(args(run_dir, voc, tmp_path / "out", "--class-names", ",".join(names))) == 0
    cams = tmp_path / "cams"  # without the export's cams.json
    shutil.copytree(tmp_path / "out" / "cams", cams)
    base = ["--cams", str(cams), "--data", f"voc:{voc}", "--no-progress", "--out", str(tmp_path / "e.json")]
    assert evaluate(base) == 2  # read with the 20 VOC classes, the XML names another
    err = capsys.readouterr().err
    assert "--class-names" in err and not re.search(r"(?<!-)class_names", err), err
    assert evaluate([*base, "--class-names", ",".join(reversed(names))]) == 0
    assert json.loads((tmp_path / "e.json").read_text())["results"]["images_scored"] == 4.0


def test_a_posthoc_export_scores_as_evaluate_cam_method_does(run_dir, synthetic_voc_root, tmp_path, capsys):
    """Issue 15: --cam-method in the export tool; its files, scored by evaluate --cams, give the numbers of
    evaluate --ckpt --cam-method (one CAM path), and they differ from the native export's maps."""
    from tools.evaluate import evaluate

    ckpt = str(run_dir / "checkpoints" / "best.ckpt")
    common = ["--data", f"voc:{synthetic_voc_root}", "--num-workers", "0", "--device", "cpu", "--no-progress"]
    out, native = tmp_path / "gradcam", tmp_path / "native"
    layer = ["--cam-layer", "backbone.body.layer3"]
    gradcam = ["--cam-method", "gradcam", *layer, "--classes", "gt"]
    assert main(args(run_dir, synthetic_voc_root, out, *gradcam)) == 0
    assert re.search(r"exported \d+ gradcam@backbone.body.layer3 CAMs of 4 images", capsys.readouterr().out)
    manifest = json.loads((out / "cams.json").read_text())
    assert manifest["cam_method"] == "gradcam" and manifest["cam_layer"] == "backbone.body.layer3"
    assert main(args(run_dir, synthetic_voc_root, native, "--classes", "gt")) == 0
    saved = evaluate([*common, "--cams", str(out / "cams"), "--image-size", "64",
                      "--out", str(tmp_path / "a.json")])["results"]  # fmt: skip
    direct = evaluate([*common, "--ckpt", ckpt, "--cam-method", "gradcam", *layer,
                       "--out", str(tmp_path / "b.json")])["results"]  # fmt: skip
    for key in ("maxboxacc", "maxboxacc_v2", "pointing_game", "pxap"):
        assert saved[key] == pytest.approx(direct[key], abs=0.02), key  # .npz maps are stored in float16
    first = sorted((out / "cams").glob("*.npz"))[0]
    with np.load(first) as a, np.load(native / "cams" / first.name) as b:
        assert a.files == b.files and any(not np.allclose(a[k], b[k], atol=0.05) for k in a.files)


def test_a_cam_layer_without_a_posthoc_method_and_an_unknown_layer_exit_2(
    run_dir, synthetic_voc_root, tmp_path, capsys
):
    assert main(args(run_dir, synthetic_voc_root, tmp_path / "o", "--cam-layer", "backbone")) == 2
    assert "--cam-layer is the layer of a post-hoc --cam-method" in capsys.readouterr().err
    assert main(args(run_dir, synthetic_voc_root, tmp_path / "o", "--cam-method", "layercam",
                     "--cam-layer", "backbone.nope")) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "--cam-layer: got 'backbone.nope'" in err and "closest" in err
    assert not (tmp_path / "o" / "cams.json").exists()
