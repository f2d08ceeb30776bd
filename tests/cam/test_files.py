"""wsl.cam.files: both saved-CAM layouts written and read back by the one module, and the manifest type."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from wsl.cam.files import (
    MANIFEST_FORMAT,
    CamManifest,
    SavedCams,
    manifest_class_names,
    npz_keys,
    save_cam_npz,
    scoremap_path,
    write_scoremap,
)


def test_the_manifest_writes_its_options_in_order_between_format_and_images(tmp_path):
    options = {"class_names": ["b", "a"], "single_label": False, "npz_keys": {"b": "b", "a": "a"}}
    images = [{"image_id": "x", "npz": "cams/x.npz"}]
    path = CamManifest(options, images, [{"image": "overlays/x__a.png"}]).write(tmp_path / "cams.json")
    text = path.read_text(encoding="utf-8")
    expected = {
        "format": "wsl-cams",
        "version": 1,
        "class_names": ["b", "a"],
        "single_label": False,
        "npz_keys": {"b": "b", "a": "a"},
        "images": images,
        "entries": [{"image": "overlays/x__a.png"}],
    }
    assert text == json.dumps(expected, indent=1)  # the bytes, key order included
    back = CamManifest.read(path)
    assert back.class_names == ["b", "a"]
    assert back.npz_keys == {"b": "b", "a": "a"}
    assert back.to_dict() == expected


def test_find_looks_beside_then_above_the_folder(tmp_path):
    (tmp_path / "cams").mkdir()
    CamManifest({"class_names": ["a"]}, [{"image_id": "1", "npz": "cams/1.npz"}]).write(
        tmp_path / "cams.json"
    )
    manifest, where = CamManifest.find(tmp_path / "cams")
    assert where == tmp_path and manifest.class_names == ["a"]
    assert CamManifest.find(tmp_path / "elsewhere" / "x") is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", r"not a CAM manifest \(JSONDecodeError"),
        ('{"class_names": ["a"]}', r"not a CAM manifest \(KeyError: 'images'\)"),
        ('{"images": [{"npz": "a.npz"}]}', r"not a CAM manifest \(KeyError: 'image_id'\)"),
        ('{"images": [], "npz_keys": [1]}', r"not a CAM manifest \(TypeError: npz_keys is not an object\)"),
    ],
)
def test_a_broken_manifest_is_an_error_naming_the_file(tmp_path, content, message):
    path = tmp_path / "cams.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        CamManifest.read(path)
    assert CamManifest.find(tmp_path) is None  # find skips what it cannot read


def test_manifest_class_names_takes_the_first_manifest_that_lists_them(tmp_path):
    (tmp_path / "cams").mkdir()
    (tmp_path / "cams" / "cams.json").write_text('{"class_names": [], "images": []}')
    (tmp_path / "cams.json").write_text('{"class_names": ["x", 2], "images": []}')
    assert manifest_class_names(tmp_path / "cams") == ["x", "2"]
    assert manifest_class_names(tmp_path / "a" / "b") is None


def test_the_wsl_layout_round_trip_with_unsafe_class_names(tmp_path):
    names = ["dog", "../../evil"]
    keys = npz_keys(names)
    dog = np.linspace(0, 1, 12).reshape(3, 4)
    evil = np.full((3, 4), 0.25)
    save_cam_npz(tmp_path / "cams" / "im1.npz", {keys["dog"]: dog, keys["../../evil"]: evil}, compresslevel=1)
    CamManifest({"class_names": names, "npz_keys": keys}, [{"image_id": "a/1", "npz": "cams/im1.npz"}]).write(
        tmp_path / "cams.json"
    )
    saved = SavedCams(tmp_path / "cams", names)
    assert sorted(saved.files) == ["a/1", "im1"]  # the manifest's id, and the file by its own stem
    maps = saved.maps("a/1", [1, 0], (3, 4))
    assert maps.dtype == torch.float32
    assert torch.equal(maps[0], torch.full((3, 4), 0.25))
    assert torch.equal(maps[1], torch.from_numpy(dog.astype(np.float16).astype(np.float32)))


def test_the_wsolevaluation_layout_round_trip(tmp_path):
    path = scoremap_path(tmp_path, "001.Bird/a_1.jpg")
    assert path == tmp_path / "001.Bird" / "a_1.jpg.npy"
    cam = np.arange(6, dtype=np.float64).reshape(2, 3) / 5
    write_scoremap(path, cam)
    assert np.load(path).dtype == np.float64 and np.array_equal(np.load(path), cam)
    saved = SavedCams(tmp_path, ["a", "b"])
    maps = saved.maps("001.Bird/a_1.jpg", [0, 1], (2, 3))  # one map for every asked class
    assert maps.shape == (2, 2, 3)
    assert torch.equal(maps[1], torch.from_numpy(cam.astype(np.float32)))


def test_the_reader_refuses_a_folder_without_maps_and_a_map_larger_than_the_image(tmp_path):
    with pytest.raises(ValueError, match=r"cam_dir .* holds no \.npy or \.npz file"):
        SavedCams(tmp_path, ["a"])
    write_scoremap(tmp_path / "x.npy", np.zeros((5, 5)))
    with pytest.raises(ValueError, match=r"map 'map' is \(5, 5\), larger than the image \(4, 4\)"):
        SavedCams(tmp_path, ["a"]).maps("x", [0], (4, 4))
    with pytest.raises(ValueError, match=r"image id '\.\./x' cannot name a file inside out_dir"):
        scoremap_path(tmp_path, "../x")


def test_the_format_name_is_the_one_the_export_folder_checks():
    from wsl.viz import cam_files

    assert cam_files.MANIFEST_FORMAT == MANIFEST_FORMAT == "wsl-cams"
    assert cam_files.ExportFolder is cam_files.CamFolder
