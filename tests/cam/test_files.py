"""wsl.cam.files: both saved-CAM layouts written and read back by the one module, and the manifest type."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from wsl.cam.files import (
    MANIFEST_FORMAT,
    CamManifest,
    CamWriter,
    ManifestOptions,
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

    assert MANIFEST_FORMAT == "wsl-cams"
    assert issubclass(cam_files.ExportFolder, CamWriter)


def _options(**selection) -> ManifestOptions:
    return ManifestOptions(
        class_names=["dog", "../../evil"],
        single_label=True,
        classes="top_k" if selection else "present",
        threshold=0.25,
        multi_contour=False,
        cam_method="native",
        cam_layer=None,
        frame="original",
        selection=selection,
    )


def test_manifest_options_are_one_dict_in_one_order_for_the_export_and_the_prediction():
    keys = {"dog": "dog", "../../evil": "evil"}
    export = _options().to_dict(keys)
    assert list(export) == [
        "class_names", "npz_keys", "single_label", "classes", "threshold", "multi_contour",
        "cam_method", "cam_layer", "frame",
    ]  # fmt: skip
    assert export["npz_keys"] == keys and export["classes"] == "present" and export["threshold"] == 0.25
    predict = _options(top_k=2, min_score=None).to_dict(keys)
    # the prediction's selection sits right after "classes"; every other key is the export's, in its order
    assert list(predict) == [*list(export)[:4], "top_k", "min_score", *list(export)[4:]]
    assert {k: v for k, v in predict.items() if k in export} == {**export, "classes": "top_k"}
    assert json.loads(json.dumps(predict)) == predict  # plain JSON values


def test_the_writer_and_the_reader_of_the_wsl_layout_round_trip(tmp_path):
    writer = CamWriter(tmp_path / "out")
    assert (tmp_path / "out" / "cams").is_dir() and not (tmp_path / "out" / "overlays").exists()
    stems = [writer.image_stem(i) for i in ("a/b", "a_b", "A_B")]
    assert stems == ["a_b", "a_b-2", "A_B-3"]
    cam = np.arange(12, dtype=np.float64).reshape(3, 4) / 11
    images = []
    for image_id, stem in zip(("a/b", "a_b", "A_B"), stems, strict=True):
        npz = writer.write_cams(stem, {"dog": cam, "../../evil": 1 - cam})
        images.append({"image_id": image_id, "npz": npz})
    assert writer.npz_keys == {"dog": "dog", "../../evil": "evil"}
    writer.write_manifest(_options(), images)
    manifest = CamManifest.read(writer.manifest_path)
    assert manifest.options == _options().to_dict(writer.npz_keys) and manifest.entries == []
    saved = SavedCams(tmp_path / "out" / "cams", ["dog", "../../evil"], frame="original")
    # ids map through cams.json: "a/b" is a_b.npz, "a_b" is a_b-2.npz, "A_B" is A_B-3.npz
    assert {i: saved.files[i].name for i in ("a/b", "a_b", "A_B")} == {
        "a/b": "a_b.npz",
        "a_b": "a_b-2.npz",
        "A_B": "A_B-3.npz",
    }
    maps = saved.maps("a/b", [0, 1], (3, 4)).double().numpy()
    expected = np.stack([cam, 1 - cam]).astype(np.float16).astype(np.float64)
    assert np.array_equal(maps, expected)
    assert sorted(os.listdir(tmp_path / "out" / "cams")) == ["A_B-3.npz", "a_b-2.npz", "a_b.npz"]


def test_the_writer_refuses_a_file_as_its_folder(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match=r"out_dir '.*f' exists and is not a folder; pass a folder path"):
        CamWriter(tmp_path / "f")
