"""bench/evaluate_cams_files.py: the metadata subset keeps the real lines, the maps are wsolevaluation's
nested ``.npy`` files, and the run reports the child's figures (the command itself is tested elsewhere)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

from tests.wsol_metadata import require_wsol_metadata

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "evaluate_cams_files.py"


def _load():
    sys.path.insert(0, str(SCRIPT.parent))
    spec = importlib.util.spec_from_file_location("evaluate_cams_files", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_subset_holds_the_first_ids_with_their_real_lines(tmp_path):
    metadata = require_wsol_metadata()
    bench = _load()
    ids = bench.subset_metadata(metadata, "ILSVRC", "test", 4, tmp_path)
    source = metadata / "ILSVRC" / "test"
    assert ids == source.joinpath("image_ids.txt").read_text().splitlines()[:4]
    for name in bench.FILES:
        real = [line for line in source.joinpath(name).read_text().splitlines() if line.split(",")[0] in ids]
        assert tmp_path.joinpath("ILSVRC", "test", name).read_text().splitlines() == real
        assert real  # every file has lines for these ids


def test_maps_are_nested_npy_files_of_224_float32_and_deterministic(tmp_path):
    metadata = require_wsol_metadata()
    bench = _load()
    ids = bench.subset_metadata(metadata, "ILSVRC", "test", 3, tmp_path / "meta")
    meta = tmp_path / "meta" / "ILSVRC" / "test"
    bench.write_maps(tmp_path / "a", meta, ids)
    bench.write_maps(tmp_path / "b", meta, ids)
    for image_id in ids:
        path = tmp_path / "a" / (image_id + ".npy")  # e.g. a/val/ILSVRC2012_val_00000001.JPEG.npy
        cam = np.load(path, allow_pickle=False)
        assert cam.shape == (224, 224) and cam.dtype == np.float32 and np.isfinite(cam).all()
        np.testing.assert_array_equal(cam, np.load(tmp_path / "b" / (image_id + ".npy")))
    first = np.load(tmp_path / "a" / (ids[0] + ".npy"))
    assert not np.array_equal(first, np.load(tmp_path / "a" / (ids[1] + ".npy")))


def test_the_fields_are_smooth_and_in_the_unit_range():
    fields = _load()._fields()
    assert fields.shape == (32, 224, 224) and fields.min() >= 0 and fields.max() <= 1
    assert np.abs(np.diff(fields, axis=-1)).max() < 0.05  # bilinear from a 7x7 grid: small steps
