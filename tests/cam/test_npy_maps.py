"""Reading saved maps back (wsl.cam.files.SavedCams, read_npy_map): hostile .npy files are one error naming
the file (issue 35 item 17), ids starting with '.' are found (item 15), the frame of the maps is checked
(items 7 and 23)."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import torch

from wsl.cam.files import MAX_MAP_VALUES, SavedCams, read_npy_map
from wsl.jobs.export import export_cams


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _header_claiming(shape: tuple[int, int]) -> bytes:
    """A bare ``.npy`` header (magic included) claiming a float32 map of ``shape``, and no data."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f4", "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def _bad_files() -> dict[str, tuple[bytes, str]]:
    npz = io.BytesIO()
    np.savez(npz, dog=np.zeros((2, 2)))
    full = _npy_bytes(np.ones((4, 4), np.float32))
    return {
        "string": (_npy_bytes(np.array([["a", "b"], ["c", "d"]])), r"dtype <U1 \(not a plain number\)"),
        "structured": (
            _npy_bytes(np.zeros((2, 2), dtype=[("x", "f4"), ("y", "i4")])),
            r"dtype .*\(not a plain number\)",
        ),
        "empty": (
            _npy_bytes(np.zeros((0, 0), np.float32)),
            r"shape \(0, 0\); expected a 2-D \(H, W\) map with no empty side",
        ),
        "npz": (npz.getvalue(), r"a zip archive \(a \.npz\?\), not a \.npy map"),
        "huge": (_header_claiming((200000, 200000)), r"claims a 200000 x 200000 map, more than"),
        "text": (
            b"0.1 0.2\n0.3 0.4\n",
            r"not a \.npy map \(it starts with b'0\.1 0\.2\\n', not numpy's magic",
        ),
        "truncated": (
            full[:-10],
            r"truncated \(54 bytes of data, the header's \(4, 4\) float32 map needs 64\)",
        ),
        "empty file": (b"", r"not a \.npy map \(it starts with b''"),
        "cut header": (full[:20], r"not a readable \.npy map"),
    }


@pytest.mark.parametrize("case", list(_bad_files()))
def test_a_hostile_npy_is_one_error_naming_the_file_and_never_suggests_pickle(tmp_path, case):
    content, message = _bad_files()[case]
    path = tmp_path / "img.npy"
    path.write_bytes(content)
    folder = SavedCams(tmp_path, ["dog"])
    with pytest.raises(ValueError, match=message) as info:
        folder.maps("img", [0], (8, 8))
    assert str(info.value).startswith(f"{path}: ") and "pickle" not in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("case", ["string", "empty", "huge", "truncated", "text"])
def test_a_hostile_npz_member_is_one_error_naming_the_file_and_the_map(tmp_path, case):
    content, message = _bad_files()[case]
    path = tmp_path / "img.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("dog.npy", content)
    with pytest.raises(ValueError, match=message) as info:
        SavedCams(tmp_path, ["dog"]).maps("img", [0], (8, 8))
    assert str(info.value).startswith(f"{path} (map 'dog'): ") and "pickle" not in str(info.value)


def test_read_npy_map_reads_what_numpy_saves_in_both_orders_and_versions():
    array = np.arange(12, dtype=">f8").reshape(3, 4)
    for data in (_npy_bytes(array), _npy_bytes(np.asfortranarray(array))):
        assert read_npy_map(io.BytesIO(data), "x", len(data)).tolist() == array.tolist()
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, version=(2, 0))
    assert read_npy_map(io.BytesIO(buffer.getvalue()), "x").tolist() == array.tolist()
    assert MAX_MAP_VALUES >= 4096 * 4096


def test_an_id_starting_with_a_dot_is_found_in_both_layouts(tmp_path):
    # item 15: exported, then reported missing by evaluate --cams (hidden files were skipped)
    maps = tmp_path / "maps"
    (maps / "cls").mkdir(parents=True)
    np.save(maps / ".a.jpg.npy", np.ones((2, 2)))
    np.save(maps / "cls" / ".b.jpg.npy", np.ones((2, 2)))
    (maps / ".ipynb_checkpoints").mkdir()
    np.save(maps / ".ipynb_checkpoints" / "c.jpg.npy", np.ones((2, 2)))
    folder = SavedCams(maps, ["dog"])
    assert folder.check_ids([".a.jpg", "cls/.b.jpg"]) == []
    assert sorted(folder.files) == [".a.jpg", "cls/.b.jpg"]


class _Net(torch.nn.Module):
    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.zeros(len(images), 2), images[:, :2, :4, :4].float()


def _batch(image_ids: list[str]) -> dict:
    n = len(image_ids)
    return {
        "image": torch.rand(n, 3, 8, 8),
        "image_id": image_ids,
        "orig_size": torch.tensor([[10, 12]] * n),
        "labels": torch.tensor([[1.0, 0.0]] * n),
    }


def test_an_exported_id_starting_with_a_dot_is_read_back(tmp_path):
    out = tmp_path / "out"
    export_cams(_Net(), [_batch([".hidden", "plain"])], out, class_names=["dog", "cat"], progress=False)
    folder = SavedCams(out / "cams", ["dog", "cat"])
    assert folder.check_ids([".hidden", "plain"]) == []
    assert tuple(folder.maps(".hidden", [0], (10, 12)).shape) == (1, 10, 12)


def test_the_frame_of_an_export_is_recorded_and_another_protocol_refused(tmp_path):
    # item 7: a default-layout export scored with --protocol wsolevaluation gave other numbers, no warning
    out = tmp_path / "out"
    export_cams(_Net(), [_batch(["x"])], out, class_names=["dog", "cat"], progress=False)
    assert json.loads((out / "cams.json").read_text())["frame"] == "original"
    assert SavedCams(out / "cams", ["dog", "cat"], frame="original").saved_frame == "original"
    with pytest.raises(
        ValueError, match=r"written in the 'original' frame, not 'wsolevaluation'.*--protocol original"
    ):
        SavedCams(out / "cams", ["dog", "cat"], frame="wsolevaluation")


def test_score_maps_are_refused_in_the_original_frame_naming_the_flag(tmp_path):
    from wsl.jobs.scoremaps import export_scoremaps

    out = tmp_path / "maps"
    export_scoremaps(_Net(), [_batch(["c/x.jpg"])], out, progress=False)
    with pytest.raises(
        ValueError, match=r"'wsolevaluation' frame, not 'original'.*--protocol wsolevaluation"
    ):
        SavedCams(out, ["dog", "cat"], frame="original")
    assert SavedCams(out, ["dog", "cat"], frame="wsolevaluation").files.keys() == {"c/x.jpg"}


def test_a_manifest_without_a_frame_is_accepted_in_any_frame(tmp_path):
    (tmp_path / "cams.json").write_text('{"format": "wsl-cams", "images": []}')
    np.save(tmp_path / "x.npy", np.ones((2, 2)))
    for frame in ("original", "wsolevaluation"):
        assert SavedCams(tmp_path, ["dog"], frame=frame).saved_frame is None


def test_a_map_larger_than_the_image_suggests_the_wsolevaluation_protocol(tmp_path):
    # item 23: wsolevaluation-layout maps scored in the default frame said nothing of the flag
    np.save(tmp_path / "x.jpg.npy", np.ones((224, 224)))
    with pytest.raises(ValueError, match=r"larger than the image .*--protocol wsolevaluation"):
        SavedCams(tmp_path, ["dog"], frame="original").maps("x.jpg", [0], (100, 120))
