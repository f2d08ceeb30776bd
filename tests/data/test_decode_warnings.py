"""Decoding JPEGs from several threads leaves the process's warning filters as they were.

``warnings.catch_warnings`` saves and restores the process-wide filter list; two decodes that overlap in
the in-memory cache's threads used to restore each other's "ignore everything", after which no warning
of the process was shown. The interleaving is forced here: the second decode is still inside the
decoder when the first has returned.
"""

from __future__ import annotations

import io
import threading
import warnings

import numpy as np
import pytest
import torchvision.io as tio
from PIL import Image

import wsl.data.images as images
from wsl.data import decode


def _jpeg_bytes() -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (17, 23, 3), dtype=np.uint8)).save(
        buffer, "JPEG"
    )
    return np.frombuffer(buffer.getvalue(), dtype=np.uint8).copy()


def _overlapping_calls(decode_call, monkeypatch) -> None:
    """Run ``decode_call`` in two threads; B leaves the decoder only after A's call has returned."""
    real = tio.decode_jpeg
    a_inside, b_inside, a_done = threading.Event(), threading.Event(), threading.Event()

    def decode_jpeg(*args, **kwargs):
        if threading.current_thread().name == "A":
            a_inside.set()
            assert b_inside.wait(10)
        else:
            b_inside.set()
            assert a_done.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(tio, "decode_jpeg", decode_jpeg)

    def run_a() -> None:
        decode_call()
        a_done.set()

    threads = [threading.Thread(target=run_a, name="A"), threading.Thread(target=decode_call, name="B")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)


@pytest.mark.parametrize("where", ["images", "decode"])
def test_overlapping_decodes_leave_the_warning_filters_as_they_were(where, monkeypatch, tmp_path):
    data = _jpeg_bytes()
    path = tmp_path / "x.jpg"
    path.write_bytes(data.tobytes())
    call = {"images": lambda: images._torchvision_jpeg(data), "decode": lambda: decode._torchvision(path)}[
        where
    ]
    before = list(warnings.filters)
    _overlapping_calls(call, monkeypatch)
    assert warnings.filters == before
    with pytest.warns(UserWarning, match="still shown"):
        warnings.warn("still shown", UserWarning, stacklevel=1)


def test_the_decoders_deprecation_warning_is_filtered_by_its_message():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")
        for category, message in images.QUIET_DECODER_WARNINGS:
            warnings.filterwarnings("ignore", message=message, category=category)
        images._torchvision_jpeg(_jpeg_bytes())
    assert not [w for w in seen if "TorchVision are deprecated" in str(w.message)]
