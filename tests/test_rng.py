"""wsl.rng: one state of Python's, NumPy's and torch's generators, kept by a weights-only checkpoint."""

from __future__ import annotations

import io
import random

import numpy as np
import torch

from wsl.rng import rng_state, set_rng_state


def _draw():
    return random.random(), float(np.random.rand()), torch.rand(3)  # noqa: NPY002 - the global generator


def test_a_restored_state_repeats_every_generator_after_a_weights_only_round_trip():
    random.seed(1)
    np.random.seed(2)  # noqa: NPY002
    torch.manual_seed(3)
    random.gauss(0, 1)  # a cached Gaussian is part of Python's state
    state = rng_state()
    first = _draw()
    _draw()
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    set_rng_state(torch.load(buffer, weights_only=True))
    again = _draw()
    assert again[:2] == first[:2] and torch.equal(again[2], first[2])
