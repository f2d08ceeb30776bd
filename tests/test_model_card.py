"""wsl.model_card from hand-made ``config.json`` and ``results.json`` payloads: the front matter the Hub
indexes and the body (the card of a real ``save_pretrained`` folder is in ``tests/test_hub.py``)."""

from __future__ import annotations

import math

import pytest
import yaml

from wsl.model_card import BASE_TAGS, LIBRARY_NAME, card_metadata, dataset_name, model_card, scores_of

CONFIG = {
    "hyper_parameters": {"pool": "weldon", "backbone": "resnet18", "method": "cam"},
    "class_names": ["cat", "dog"],
    "image_size": 224,
    "threshold": 0.30000001192092896,
}
RESULTS = {
    "data": "wsol:CUB:data/CUB:metadata=m",
    "test_by_protocol": {
        "original": {"map": 0.5, "loss": 1.2, "maxboxacc": 0.625, "maxboxacc_threshold": 0.3, "pxap": None},
        "wsolevaluation": {"maxboxacc": 0.75, "top1_loc": math.nan},
        "empty": {"loss": 0.1},
    },
}


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        ("wsol:CUB:data/CUB:metadata=m", "CUB"),
        ("wsol:data/OpenImages/", "OpenImages"),
        ("voc:data/VOC2007/", "VOC2007"),
        ("coco:/x/coco2014", "coco2014"),
        ("synthetic:easy:wsol", "synthetic"),
        ("imagefolder", "imagefolder"),
        ("voc:/", "voc"),
        ("", None),
        (None, None),
    ],
)
def test_dataset_name_is_the_folder_or_the_declared_name(spec, name):
    assert dataset_name(spec) == name


def test_scores_of_keeps_the_finite_scores_per_frame():
    assert scores_of(RESULTS) == {
        "original": {"map": 0.5, "maxboxacc": 0.625},
        "wsolevaluation": {"maxboxacc": 0.75},
    }
    assert scores_of({"test": {"map": 1, "loss": 0.2}}) == {"original": {"map": 1.0}}
    assert scores_of({"test": None}) == scores_of({}) == scores_of(None) == {}


def test_the_front_matter_has_tags_dataset_metrics_and_an_index_in_percent():
    meta = card_metadata(CONFIG, RESULTS, "cub-weldon")
    assert meta["library_name"] == LIBRARY_NAME
    assert meta["tags"] == [*BASE_TAGS, "weldon", "resnet18", "cam"]
    assert meta["datasets"] == ["CUB"] and meta["metrics"] == ["map", "maxboxacc"]
    (entry,) = meta["model-index"]
    assert entry["name"] == "cub-weldon"
    assert [r["dataset"] for r in entry["results"]] == [
        {"name": "CUB (original frame)", "type": "CUB"},
        {"name": "CUB (wsolevaluation frame)", "type": "CUB"},
    ]
    assert entry["results"][0]["metrics"] == [
        {"type": "map", "value": 50.0, "name": "map (%)"},
        {"type": "maxboxacc", "value": 62.5, "name": "maxboxacc (%)"},
    ]


def test_without_results_there_is_no_dataset_metric_or_index_and_tags_are_not_repeated():
    config = {"hyper_parameters": {"pool": "wsol", "backbone": "", "method": None}}
    meta = card_metadata(config, None, "x")
    assert meta["tags"] == BASE_TAGS  # "wsol" is a base tag already; empty values add none
    assert not {"datasets", "metrics", "model-index"} & set(meta)


def test_the_card_is_front_matter_then_the_body_with_a_table_in_percent():
    text = model_card(CONFIG, RESULTS, "user/cub-weldon", picture="cams.png")
    _, front, body = text.split("---\n", 2)
    assert yaml.safe_load(front) == card_metadata(CONFIG, RESULTS, "cub-weldon")
    assert body.startswith("\n# user/cub-weldon\n")
    assert "- classes (2): cat, dog" in body
    assert "- input: 224 px RGB, ImageNet mean/std; box threshold: 0.3\n" in body
    assert "- data: `wsol:CUB:data/CUB:metadata=m`" in body
    assert (
        "| frame | map | maxboxacc |\n|---|---|---|\n"
        "| original | 50.00 | 62.50 |\n| wsolevaluation | — | 75.00 |\n"
    ) in body
    assert "![class activation maps](cams.png)" in body
    assert 'model = from_pretrained("hf://user/cub-weldon")' in body


def test_a_card_without_results_or_picture_leaves_those_sections_out():
    text = model_card({"hyper_parameters": {}}, None, "me/m")
    assert "## Test scores" not in text and "## Class activation maps" not in text
    assert "- data: `unknown`" in text and "- input: any px RGB" in text and "box threshold: None" in text
    assert text.endswith("```\n")
