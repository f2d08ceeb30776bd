"""tools/export_cams.py --layout wsolevaluation: the files wsolevaluation's evaluation.py reads, and the
round trip export → evaluate --cams == evaluate --ckpt in the wsolevaluation frame."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tests.tiny_training import CPU_FP32, TINY_TRAIN
from tools.export_cams import main as export_main
from wsl.checkpoint import load_module
from wsl.cli import train
from wsl.data import WSLDataModule
from wsl.jobs.evaluate import evaluate_cams, evaluate_from_checkpoint
from wsl.jobs.scoremaps import export_scoremaps, scoremap_path


@pytest.fixture(scope="module")
def wsol_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny synthetic set in wsolevaluation's layout and a checkpoint trained on it."""
    from wsl.data import make_synthetic

    tmp = tmp_path_factory.mktemp("wsol_export")
    sizes = {"num_train": 8, "num_val": 4, "num_test": 6, "image_size": 48}
    root = make_synthetic(tmp / "s", "wsol", progress=False, **sizes)
    run = tmp / "run"
    args = ["--dataset", f"wsol:{root}", "--data.single_label", "true", "--model.protocol", "wsolevaluation"]
    args += ["--model.cam_curve_interval", "null", *TINY_TRAIN, *CPU_FP32, "--run_dir", str(run)]
    train([*args, "--skip_test", "true"])
    return root, run / "checkpoints" / "last.ckpt"


def _ids(root: Path, split: str) -> list[str]:
    return (root / "metadata" / "SYNTH" / split / "image_ids.txt").read_text().split()


def _reference_map(module, item: dict) -> np.ndarray:
    """wsolevaluation's inference.py in numpy: CAM of the GT class, cv2 bicubic to 224, normalize_scoremap."""
    with torch.no_grad():
        _, class_maps = module.net.eval()(item["image"][None])
    cam = class_maps[0, int(item["labels"].argmax())].numpy().astype(np.float64)  # util.t2n
    cam = cv2.resize(cam, (224, 224), interpolation=cv2.INTER_CUBIC)
    if np.isnan(cam).any() or cam.min() == cam.max():
        return np.zeros_like(cam)
    cam = cam - cam.min()
    return cam / cam.max()


def test_files_are_what_wsolevaluation_reads(wsol_run, tmp_path, capsys):
    root, ckpt = wsol_run
    out = tmp_path / "maps"
    args = ["--ckpt", str(ckpt), "--data", f"wsol:{root}", "--split", "test", "--out", str(out)]
    assert export_main([*args, "--layout", "wsolevaluation", "--num-workers", "0", "--no-progress"]) == 0
    assert "wrote 6 score maps" in capsys.readouterr().out
    ids = _ids(root, "test")
    assert all("/" in i for i in ids)  # nested ids: <class>/<name>.jpg
    # wsolevaluation's CamDataset: np.load(os.path.join(scoremap_root, image_id + '.npy')).
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == sorted(["cams.json", *(f"{i}.npy" for i in ids)])  # the manifest records the frame
    manifest = json.loads((out / "cams.json").read_text())
    assert manifest["layout"] == manifest["frame"] == "wsolevaluation" and manifest["images"] == []
    module = load_module(ckpt)
    dm = WSLDataModule(f"wsol:{root}", image_size=64, num_workers=0, single_label=True)
    dataset = dm.dataset("test", with_annotations=False)
    for index, image_id in enumerate(ids):
        cam = np.load(os.path.join(out, image_id + ".npy"), allow_pickle=False)
        assert cam.dtype == np.float64 and cam.shape == (224, 224)  # check_scoremap_validity wants float64
        assert cam.min() >= 0.0 and cam.max() <= 1.0
        assert cam.max() in (0.0, 1.0) and cam.min() == 0.0  # wsolevaluation: the map attains 0 and 1
        item = dataset[index]
        assert item["image_id"] == image_id
        # One image at a time here, a batch there: the convolutions round differently (~1e-6).
        np.testing.assert_allclose(cam, _reference_map(module, item), rtol=0, atol=2e-5)


@pytest.mark.parametrize("method", ["native", "gradcam"])
def test_round_trip_gives_the_checkpoint_scores(wsol_run, tmp_path, method):
    """Exact for the native maps and for a post-hoc CAM (``--cam-method``, issue 15) alike."""
    root, ckpt = wsol_run
    out = tmp_path / "maps"
    data = f"wsol:{root}"
    args = ["--ckpt", str(ckpt), "--data", data, "--split", "test", "--out", str(out), "--cam-method", method]
    assert export_main([*args, "--layout", "wsolevaluation", "--num-workers", "0", "--no-progress"]) == 0
    frame = "wsolevaluation"
    direct = evaluate_from_checkpoint(
        ckpt, data, "test", num_workers=0, progress=False, protocol=frame, cam_method=method
    )
    cams = evaluate_cams(out, data, "test", single_label=True, progress=False, protocol=frame)
    assert cams["results"]["images_scored"] == 6
    shared = {k: v for k, v in direct["results"].items() if k in cams["results"]}
    assert {"maxboxacc", "maxboxacc_v2", "maxboxacc_threshold"} <= set(shared)
    assert {k: cams["results"][k] for k in shared} == shared


def test_wsolevaluation_layout_refuses_other_classes_options(wsol_run, tmp_path, capsys):
    root, ckpt = wsol_run
    args = ["--ckpt", str(ckpt), "--data", f"wsol:{root}", "--out", str(tmp_path / "m")]
    assert export_main([*args, "--layout", "wsolevaluation", "--classes", "all"]) == 2
    assert "--classes all does not apply to --layout wsolevaluation" in capsys.readouterr().err


class _TwoMaps(torch.nn.Module):
    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.zeros(len(images), 2), torch.rand(len(images), 2, 3, 3)


def test_multi_label_images_are_refused_naming_the_image(tmp_path):
    batch = {
        "image": torch.zeros(1, 3, 8, 8),
        "image_id": ["a/b.jpg"],
        "orig_size": torch.tensor([[10, 12]]),
        "labels": torch.tensor([[1.0, 1.0]]),
    }
    with pytest.raises(ValueError, match=r"image 'a/b\.jpg' has 2 labelled classes \[0, 1\].*default layout"):
        export_scoremaps(_TwoMaps(), [batch], tmp_path, progress=False)


@pytest.mark.parametrize("bad", ["../x.jpg", "/etc/x.jpg", "a/../../x.jpg", "a\\b.jpg"])
def test_ids_that_leave_the_folder_are_refused(bad, tmp_path):
    with pytest.raises(ValueError, match="cannot name a file inside out_dir"):
        scoremap_path(tmp_path, bad)
