"""wsl.jobs.predict.coco: COCO's results format from inclusive boxes, and the ids of a ground truth."""

from __future__ import annotations

import json

import numpy as np
import pytest

from wsl.jobs.predict.coco import CocoIds, coco_bbox, coco_results


@pytest.mark.parametrize(
    ("box", "xywh"),
    [([3, 2, 6, 4], [3, 2, 4, 3]), ([0, 0, 0, 0], [0, 0, 1, 1]), (np.array([5, 1, 5, 9]), [5, 1, 1, 9])],
)
def test_coco_bbox_counts_the_pixels_of_the_inclusive_box(box, xywh):
    assert coco_bbox(box) == xywh
    assert all(type(v) is int for v in coco_bbox(box))  # json-ready, not numpy ints


def test_coco_bbox_inverts_to_the_last_covered_pixel():
    rng = np.random.default_rng(0)
    for x0, y0, dx, dy in rng.integers(0, 50, size=(20, 4)):
        x, y, w, h = coco_bbox([x0, y0, x0 + dx, y0 + dy])
        assert (x, y, x + w - 1, y + h - 1) == (x0, y0, x0 + dx, y0 + dy)


def test_coco_results_give_one_result_per_box_of_each_chosen_class():
    boxes = [np.array([[0, 0, 9, 4], [2, 3, 2, 3]]), np.zeros((0, 4), np.int64)]
    results = coco_results(np.int64(12), [2, 0], boxes, [np.float32(0.5), 0.25], [1, 3, 5])
    assert results == [
        {"image_id": 12, "category_id": 5, "bbox": [0, 0, 10, 5], "score": 0.5},
        {"image_id": 12, "category_id": 5, "bbox": [2, 3, 1, 1], "score": 0.5},
    ]
    assert json.loads(json.dumps(results)) == results


def test_coco_results_refuse_lists_of_different_lengths():
    with pytest.raises(ValueError):
        coco_results(1, [0, 1], [np.array([[0, 0, 1, 1]])], [0.9, 0.8], [1, 2])


def _gt(tmp_path, payload) -> str:
    path = tmp_path / "instances_val.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    return str(path)


GT = {
    "images": [{"id": 42, "file_name": "val/a.jpg"}, {"id": 7, "file_name": "b.png"}],
    "categories": [{"id": 3, "name": "cat"}, {"id": 18, "name": "dog"}, {"id": 1, "name": "person"}],
}


def test_coco_ids_match_file_names_and_the_models_class_order(tmp_path):
    ids = CocoIds.read(_gt(tmp_path, GT), ["dog", "cat"])
    assert ids.image_ids == {"a.jpg": 42, "b.png": 7}
    assert ids.category_ids == [18, 3]
    assert str(ids.path) == _gt(tmp_path, GT)


def test_a_class_without_a_category_is_named_with_the_categories(tmp_path):
    with pytest.raises(ValueError) as caught:
        CocoIds.read(_gt(tmp_path, GT), ["dog", "bird"])
    message = str(caught.value)
    assert message.startswith("coco_gt ") and "has no category named ['bird']" in message
    assert "its categories are ['cat', 'dog', 'person']" in message
    assert message.endswith("pass the annotations of the model's classes")


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (None, "FileNotFoundError"),
        ("{not json", "JSONDecodeError"),
        (json.dumps({"images": []}), "KeyError"),
        (json.dumps({"images": [{"file_name": "a.jpg"}], "categories": []}), "KeyError"),
        (json.dumps([1, 2]), "TypeError"),
    ],
)
def test_a_file_that_is_not_coco_annotations_is_one_error_naming_it(tmp_path, content, error):
    path = tmp_path / "gt.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError) as caught:
        CocoIds.read(path, ["cat"])
    message = str(caught.value)
    assert message.startswith(f"coco_gt {str(path)!r} cannot be read as COCO annotations ({error}")
    assert message.endswith("pass an instances_*.json with 'images' and 'categories'")
