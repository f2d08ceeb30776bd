"""A tiny trained run on the synthetic COCO set, shared by the predict tests."""

from __future__ import annotations

import pytest

from tests.predict.predict_helpers import train_tiny_coco


@pytest.fixture(scope="session")
def coco_run(synthetic_coco_root, tmp_path_factory):
    """``train``'s results of a seconds-long run on ``synthetic_coco_root`` (its ``checkpoint`` key)."""
    return train_tiny_coco(synthetic_coco_root, tmp_path_factory.mktemp("coco_run"))
