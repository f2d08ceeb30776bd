"""Predictions' manifest records the .npz member of every class, so unsafe class names are read back."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from wsl.cam.files import SavedCams
from wsl.jobs.predict.folder import predict_to_folder
from wsl.lit import WSLModule


def test_an_unsafe_class_name_is_found_again_through_npz_keys(tmp_path):
    names = ["../../evil", "cat"]
    module = WSLModule(num_classes=2, class_names=names, pool="gap").eval()
    photo = tmp_path / "photo.png"
    Image.fromarray(np.full((40, 50, 3), 120, np.uint8)).save(photo)
    out = tmp_path / "pred"
    predict_to_folder(module, [str(photo)], out, top_k=2, threshold=0.5, image_size=64, device="cpu",
                      progress=False)  # fmt: skip
    manifest = json.loads((out / "cams.json").read_text())
    assert set(manifest["npz_keys"]) == set(names) and manifest["npz_keys"]["../../evil"] != "../../evil"
    maps = SavedCams(out / "cams", names).maps("photo", [0, 1], (40, 50))
    assert tuple(maps.shape) == (2, 40, 50)
    assert not any(p.name.startswith("evil") for p in tmp_path.parent.iterdir())
