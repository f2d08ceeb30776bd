"""Decoding JPEGs from several threads leaves the process's warning filters as they were, and works under
``-W error``.

``warnings.catch_warnings`` saves and restores the process-wide filter list; two decodes overlapping in
the in-memory cache's threads used to restore each other's "ignore everything", after which no warning of
the process was shown. The decoders' save/restore now runs under one lock (``quiet_decoder``).
"""

from __future__ import annotations

import io
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torchvision.io as tio
from PIL import Image

import wsl.data.images as images
from wsl.data import decode


def _jpeg_bytes() -> np.ndarray:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(0).integers(0, 256, (17, 23, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, "JPEG")
    return np.frombuffer(buffer.getvalue(), dtype=np.uint8).copy()


def _calls(tmp_path):
    data = _jpeg_bytes()
    path = tmp_path / "x.jpg"
    path.write_bytes(data.tobytes())
    return {"images": lambda: images._torchvision_jpeg(data), "decode": lambda: decode._torchvision(path)}


@pytest.mark.parametrize("where", ["images", "decode"])
def test_no_two_decodes_are_inside_the_warning_scope_at_once(where, monkeypatch, tmp_path):
    """The interleaving that corrupted the filters needs two threads inside the scope: never now."""
    real, inside, most = tio.decode_jpeg, [0], [0]
    lock = threading.Lock()

    def decode_jpeg(*args, **kwargs):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.01)
        with lock:
            inside[0] -= 1
        return real(*args, **kwargs)

    monkeypatch.setattr(tio, "decode_jpeg", decode_jpeg)
    call = _calls(tmp_path)[where]
    before = list(warnings.filters)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: call(), range(16)))
    assert most[0] == 1
    assert warnings.filters == before
    with pytest.warns(UserWarning, match="still shown"):
        warnings.warn("still shown", UserWarning, stacklevel=1)


@pytest.mark.parametrize("where", ["images", "decode"])
def test_decoding_works_with_warnings_as_errors(where, tmp_path):
    call = _calls(tmp_path)[where]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = call()
    assert out is not None and out.shape == (17, 23, 3)
