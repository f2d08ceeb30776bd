"""wsl.cam.files.SavedCams on the files an export (or another method) leaves: errors name the file,
nested folders are searched, class names are mapped to their .npz keys through cams.json."""

from __future__ import annotations

import json

import numpy as np
import pytest

from wsl.cam.files import SavedCams


def test_object_array_npz_error_names_the_file(tmp_path):
    # issue 19 item 16: already fixed by the redesign (the member is read with allow_pickle=False)
    path = tmp_path / "img.npz"
    np.savez(path, dog=np.array([np.zeros((2, 2)), "x"], dtype=object))
    folder = SavedCams(tmp_path, ["dog"])
    # issue 35 item 17: the header is read first; the message names the dtype, never allow_pickle
    with pytest.raises(ValueError, match=rf"{path} \(map 'dog'\): the map has dtype object") as info:
        folder.maps("img", [0], (4, 4))
    assert "pickle" not in str(info.value)


def test_object_array_npy_error_names_the_file(tmp_path):
    path = tmp_path / "img.npy"
    np.save(path, np.array([np.zeros((2, 2)), "x"], dtype=object), allow_pickle=True)
    folder = SavedCams(tmp_path, ["dog"])
    with pytest.raises(ValueError, match=rf"{path}: the map has dtype object") as info:
        folder.maps("img", [0], (4, 4))
    assert "pickle" not in str(info.value)


def test_nested_folders_are_searched_and_ids_are_relative_paths(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    np.savez(tmp_path / "a" / "x.npz", dog=np.ones((2, 2), np.float32))
    np.save(tmp_path / "a" / "b" / "y.npy", np.full((2, 2), 2.0, np.float32))
    np.save(tmp_path / "z.npy", np.full((2, 2), 3.0, np.float32))
    (tmp_path / ".hidden").mkdir()
    np.save(tmp_path / ".hidden" / "w.npy", np.zeros((2, 2), np.float32))
    folder = SavedCams(tmp_path, ["dog"])
    assert sorted(folder.files) == ["a/b/y", "a/x", "z"]
    assert folder.maps("a/x", [0], (4, 4)).tolist() == [[[1.0, 1.0], [1.0, 1.0]]]
    assert float(folder.maps("a/b/y", [0], (4, 4))[0, 0, 0]) == 2.0
    assert folder.check_ids(["a/x", "a/b/y", "z"]) == []
    with pytest.raises(ValueError, match=r"1 of 2 images have no CAM file.*'a/q'"):
        folder.check_ids(["a/x", "a/q"])


def test_a_folder_with_only_empty_subfolders_is_refused(tmp_path):
    (tmp_path / "sub").mkdir()
    with pytest.raises(ValueError, match="holds no .npy or .npz file"):
        SavedCams(tmp_path, ["dog"])


def test_manifest_maps_class_names_to_npz_keys(tmp_path):
    cams = tmp_path / "cams"
    cams.mkdir()
    np.savez(cams / "img_1.npz", evil=np.ones((2, 2), np.float32))
    manifest = {
        "format": "wsl-cams",
        "version": 1,
        "class_names": ["../../evil"],
        "npz_keys": {"../../evil": "evil"},
        "images": [{"image_id": "img/1", "npz": "cams/img_1.npz"}],
    }
    (tmp_path / "cams.json").write_text(json.dumps(manifest))
    for root in (cams, tmp_path):  # the cams/ folder or the export folder itself
        folder = SavedCams(root, ["../../evil"])
        assert float(folder.maps("img/1", [0], (4, 4)).sum()) == 4.0


def test_manifest_paths_outside_the_folder_are_ignored(tmp_path):
    cams = tmp_path / "cams"
    cams.mkdir()
    np.save(cams / "a.npy", np.zeros((2, 2), np.float32))
    np.save(tmp_path / "outside.npy", np.zeros((2, 2), np.float32))
    images = [{"image_id": "b", "npz": "../outside.npy"}, {"image_id": "c", "npz": "outside.npy"}]
    (cams / "cams.json").write_text(json.dumps({"format": "wsl-cams", "images": images}))
    assert sorted(SavedCams(cams, ["dog"]).files) == ["a"]
