"""wsl.inference: the former home of the evaluation jobs is a re-export of :mod:`wsl.jobs.evaluate`, the same
objects under the same names (so ``from wsl.inference import evaluate_from_checkpoint`` keeps working)."""

from __future__ import annotations

import wsl.inference
import wsl.jobs.evaluate


def test_every_name_is_the_evaluate_jobs_own_object():
    assert wsl.inference.__all__, "wsl.inference re-exports nothing"
    for name in wsl.inference.__all__:
        assert getattr(wsl.inference, name) is getattr(wsl.jobs.evaluate, name), name


def test_it_defines_nothing_of_its_own():
    public = {name for name in vars(wsl.inference) if not name.startswith("_")}
    assert public == set(wsl.inference.__all__)
    assert set(wsl.inference.__all__) <= set(wsl.jobs.evaluate.__all__)
