"""Fixtures of the reliability suite: a synthetic VOC set with a 5-image (odd) test split."""

from __future__ import annotations

from pathlib import Path

import pytest

from wsl.data import make_synthetic


@pytest.fixture(scope="session")
def odd_voc_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic VOC set whose test split has 5 images: uneven over 2 processes."""
    return make_synthetic(
        tmp_path_factory.mktemp("odd_voc"),
        "voc",
        seed=1,
        progress=False,
        num_train=4,
        num_val=1,
        num_test=5,
        image_size=64,
    )
