"""wsl.jobs.scoremaps on hand-made batches and a stand-in network with known class maps.

The round trip through ``tools/export_cams.py --layout wsolevaluation`` on a trained checkpoint (files as
wsolevaluation reads them, scores equal to ``evaluate --ckpt``) is in
``tests/viz/test_export_wsolevaluation.py``; here ``export_scoremaps`` is called directly.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from wsl.jobs.scoremaps import FRAME, export_scoremaps, export_scoremaps_from_checkpoint, scoremap_path
from wsl.jobs.source import CheckpointData

#: The class maps of every image: class 0 a ramp, class 1 constant, class 2 another ramp (3 × 2 × 3).
MAPS = torch.tensor(
    [
        [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]],
        [[7.0, 7.0, 7.0], [7.0, 7.0, 7.0]],
        [[5.0, -1.0, 0.0], [2.0, 9.0, 4.0]],
    ]
)


class FixedMaps(torch.nn.Module):
    """Scores that favour class 1 (never labelled here: the map is the labelled class's, not the top one)."""

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scores = torch.tensor([0.0, 10.0, 0.0]).expand(len(images), 3)
        return scores, MAPS.expand(len(images), 3, 2, 3).clone()


def batch_of(ids: list[str], classes: list[int]) -> dict:
    labels = torch.zeros(len(ids), 3)
    labels[range(len(ids)), classes] = 1.0
    return {
        "image": torch.zeros(len(ids), 3, 8, 12),
        "image_id": ids,
        "orig_size": torch.tensor([[8, 12]] * len(ids)),
        "labels": labels,
    }


def reference(class_map: torch.Tensor) -> np.ndarray:
    """wsolevaluation's inference.py: cv2 bicubic to 224×224, then (cam − min) / (max − min) in float64."""
    cam = cv2.resize(class_map.numpy().astype(np.float64), (224, 224), interpolation=cv2.INTER_CUBIC)
    if cam.max() == cam.min():
        return np.zeros((224, 224))
    return (cam - cam.min()) / (cam.max() - cam.min())


def test_each_image_gets_its_labelled_class_map_as_wsolevaluation_computes_it(tmp_path):
    batches = [batch_of(["a/x.jpg", "b.png"], [0, 2]), batch_of(["a/y.jpg"], [1])]
    summary = export_scoremaps(FixedMaps(), batches, tmp_path / "out", progress=False)
    out = tmp_path / "out"
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == ["a/x.jpg.npy", "a/y.jpg.npy", "b.png.npy", "cams.json"]
    for image_id, cls in (("a/x.jpg", 0), ("b.png", 2), ("a/y.jpg", 1)):
        cam = np.load(out / f"{image_id}.npy", allow_pickle=False)
        assert cam.dtype == np.float64 and cam.shape == (224, 224)
        np.testing.assert_allclose(cam, reference(MAPS[cls]), rtol=0, atol=1e-5)
    assert not np.load(out / "a/y.jpg.npy").any()  # a constant map is all zeros
    summary.pop("seconds")
    assert summary == {
        "layout": "wsolevaluation",
        "frame": "wsolevaluation",
        "shape": [224, 224],
        "dtype": "float64",
        "cam_method": "native",
        "cam_layer": None,
        "aug_smooth": False,
        "eigen_smooth": False,
        "out_dir": str(out),
        "num_images": 3,
    }
    manifest = json.loads((out / "cams.json").read_text())
    assert manifest["layout"] == manifest["frame"] == FRAME == "wsolevaluation" and manifest["images"] == []


def test_limit_writes_the_first_images_only(tmp_path):
    batches = [batch_of(["p.jpg", "q.jpg"], [0, 0]), batch_of(["r.jpg", "s.jpg"], [2, 2])]
    summary = export_scoremaps(FixedMaps(), batches, tmp_path, limit=3, progress=False)
    assert summary["num_images"] == 3
    assert sorted(p.name for p in tmp_path.glob("*.npy")) == ["p.jpg.npy", "q.jpg.npy", "r.jpg.npy"]


def test_an_image_without_a_labelled_class_is_refused_naming_it(tmp_path):
    batch = batch_of(["none.jpg"], [0])
    batch["labels"][:] = 0
    with pytest.raises(
        ValueError, match=r"^image 'none\.jpg' has 0 labelled classes \[\]; layout 'wsolevaluation'"
    ):
        export_scoremaps(FixedMaps(), [batch], tmp_path / "out", progress=False)


def test_the_map_path_is_the_id_plus_npy_inside_the_folder(tmp_path):
    assert scoremap_path(tmp_path, "n01/img 1.JPEG") == tmp_path / "n01" / "img 1.JPEG.npy"


def test_the_checkpoint_job_checks_the_cam_request_and_the_folder_before_loading(tmp_path):
    absent = CheckpointData(ckpt=tmp_path / "absent.ckpt", num_workers=0, device="cpu")
    with pytest.raises(ValueError, match="cam_layer='backbone' is only used by a post-hoc cam_method"):
        export_scoremaps_from_checkpoint(absent, tmp_path / "out", cam_layer="backbone")
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match=r"out_dir '.*file' exists and is not a folder; pass a folder path"):
        export_scoremaps_from_checkpoint(absent, tmp_path / "file")
    with pytest.raises(ValueError, match=r"checkpoint '.*absent\.ckpt' does not exist"):
        export_scoremaps_from_checkpoint(absent, tmp_path / "out")
