"""wsl.evaluation_workers.FolderMaps: the maps a worker reads for a batch and the notes it passes on.

The scoring in processes (identical to one process, key for key) is in ``tests/test_evaluate_workers.py``;
here the reader is called directly on a stand-in folder that records what it is asked.
"""

from __future__ import annotations

import pickle

import pytest
import torch

from wsl.evaluation_workers import FolderMaps


class StandInFolder:
    """``maps(image_id, classes, largest)`` records the call and returns a marker map; the test grows
    ``non_finite``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[int], tuple[int, int]]] = []
        self.non_finite: list[str] = []

    def maps(self, image_id, classes, largest):
        self.calls.append((image_id, list(classes), largest))
        return torch.full((len(classes), 2, 2), float(len(self.calls)))


BATCH = {"image_id": ["a.jpg", "b/c.png"], "orig_size": torch.tensor([[100, 300], [500, 40]])}


@pytest.mark.parametrize(
    ("protocol", "sizes"),
    [("original", [(100, 300), (500, 40)]), ("wsolevaluation", [(224, 300), (500, 224)])],
)
def test_each_image_is_read_at_its_size_and_at_least_224_in_the_wsolevaluation_frame(protocol, sizes):
    folder = StandInFolder()
    maps_of = FolderMaps(folder, protocol)(BATCH)
    assert maps_of(1, [2]).shape == (1, 2, 2)
    assert maps_of(0, [0, 3]).shape == (2, 2, 2)
    assert folder.calls == [("b/c.png", [2], sizes[1]), ("a.jpg", [0, 3], sizes[0])]
    assert all(type(v) is int for _, _, size in folder.calls for v in size)


def test_notes_are_the_new_non_finite_entries_once_each():
    folder = StandInFolder()
    reader = FolderMaps(folder)
    assert reader.notes() == []
    folder.non_finite += ["a.jpg class 0: NaN", "b.jpg class 1: inf"]
    assert reader.notes() == ["a.jpg class 0: NaN", "b.jpg class 1: inf"]
    assert reader.notes() == []
    folder.non_finite.append("c.jpg class 2: NaN")
    assert reader.notes() == ["c.jpg class 2: NaN"]


def test_the_reader_is_picklable_with_its_count_of_notes_sent():
    folder = StandInFolder()
    folder.non_finite.append("x")
    reader = FolderMaps(folder, "wsolevaluation")
    reader.notes()
    copy = pickle.loads(pickle.dumps(reader))
    assert copy.protocol == "wsolevaluation" and copy.notes() == []
    assert "_noted" not in repr(reader)
