"""Decoding JPEGs from several threads leaves the process's warning filters as they were, warns nothing
and works under ``-W error``; torchvision's op gives its deprecated wrapper's pixels element by element.

``warnings.catch_warnings`` saves and restores the process-wide filter list; two decodes overlapping in
the in-memory cache's threads used to restore each other's "ignore everything", after which no warning of
the process was shown. A lock then serialised the decodes' warning scope (and the decodes); now the
decoders call torchvision's op without the deprecated public wrapper (``wsl.data.images.jpeg_op``): no
warning is raised, so there is no scope and no lock.
"""

from __future__ import annotations

import io
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
import torchvision.io as tio
from PIL import Image

import wsl.data.images as images
from wsl.data import decode


def _jpeg_bytes(size=(17, 23), seed=0, **save) -> np.ndarray:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, "JPEG", **save)
    return np.frombuffer(buffer.getvalue(), dtype=np.uint8).copy()


def _calls(tmp_path):
    data = _jpeg_bytes()
    path = tmp_path / "x.jpg"
    path.write_bytes(data.tobytes())
    return {"images": lambda: images._torchvision_jpeg(data), "decode": lambda: decode._torchvision(path)}


@pytest.mark.parametrize("where", ["images", "decode"])
def test_threaded_decodes_never_call_the_deprecated_wrapper_nor_touch_filters(where, monkeypatch, tmp_path):
    def wrapper(*args, **kwargs):
        raise AssertionError("torchvision.io.decode_jpeg (deprecated) was called")

    monkeypatch.setattr(tio, "decode_jpeg", wrapper)
    call = _calls(tmp_path)[where]
    before = list(warnings.filters)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with ThreadPoolExecutor(4) as pool:
            outs = list(pool.map(lambda _: call(), range(16)))
    assert all(out is not None and out.shape == (17, 23, 3) for out in outs)
    assert [str(w.message) for w in caught] == []  # no deprecation warning to silence
    assert warnings.filters == before
    with pytest.warns(UserWarning, match="still shown"):
        warnings.warn("still shown", UserWarning, stacklevel=1)


@pytest.mark.parametrize(
    "save",
    [
        {"quality": 90, "subsampling": 2},  # 4:2:0
        {"quality": 75, "subsampling": 1},  # 4:2:2
        {"quality": 95, "subsampling": 0},  # 4:4:4
        {"quality": 85, "progressive": True},
    ],
)
@pytest.mark.parametrize("size", [(17, 23), (64, 48), (201, 133)])
def test_the_op_gives_the_wrappers_pixels_element_by_element(save, size):
    data = _jpeg_bytes(size, seed=size[0], **save)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        wrapped = tio.decode_jpeg(torch.from_numpy(data), mode=tio.ImageReadMode.UNCHANGED)
    direct = images.jpeg_op(data)
    assert direct.dtype == wrapped.dtype and direct.shape == wrapped.shape == (3, *size)
    assert bool((direct == wrapped).all())
    with Image.open(io.BytesIO(data.tobytes())) as image:  # and PIL's, as the reader promises
        np.testing.assert_array_equal(images._torchvision_jpeg(data), np.asarray(image.convert("RGB")))


@pytest.mark.parametrize("where", ["images", "decode"])
def test_decoding_works_with_warnings_as_errors(where, tmp_path):
    call = _calls(tmp_path)[where]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = call()
    assert out is not None and out.shape == (17, 23, 3)
