"""wsl.data.samplers.ResumableRandomSampler: RandomSampler's order, and an epoch that resumes mid-way."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import RandomSampler

from wsl.data.samplers import ResumableRandomSampler
from wsl.rng import rng_state


def test_the_order_is_random_samplers_for_the_same_generator_state():
    for n in (1, 7, 12):
        torch.manual_seed(5)
        mine = [list(ResumableRandomSampler(range(n), 4)) for _ in range(3)]
        torch.manual_seed(5)
        theirs = [list(RandomSampler(range(n))) for _ in range(3)]
        assert mine == theirs


def _epoch_with_draws(sampler, batch_size, stop=None):
    """The batches of one epoch and one torch draw per batch right after its indices (the transform)."""
    out, batch = [], []
    for index in sampler:
        batch.append(index)
        if len(batch) == 1:
            out.append([float(torch.rand(()))])
        if len(batch) == batch_size:
            out[-1].append(tuple(batch))
            batch = []
            if stop is not None and len(out) == stop:
                break
    if batch:
        out[-1].append(tuple(batch))
    return out


@pytest.mark.parametrize("done", [1, 2, 3])
def test_a_resumed_epoch_yields_the_rest_with_the_same_random_draws(done):
    torch.manual_seed(0)
    sampler = ResumableRandomSampler(range(10), 3)  # batches of 3, 3, 3, 1
    reference = _epoch_with_draws(sampler, 3)
    # The same epoch, interrupted after `done` batches (the loader had not asked for the next one).
    torch.manual_seed(0)
    sampler = ResumableRandomSampler(range(10), 3)
    iterator = iter(sampler)
    seen, batch = [], []
    while len(seen) < done or batch:
        index = next(iterator)
        if not batch:
            seen.append([float(torch.rand(()))])
        batch.append(index)
        if len(batch) == 3:
            seen[-1].append(tuple(batch))
            batch = []
    state = {**sampler.state_dict(done), "rng_at_save": rng_state(), "stop": None}
    assert state["rng_next_batch"] is None
    torch.manual_seed(123)  # whatever the resumed process drew before
    resumed = ResumableRandomSampler(range(10), 3)
    resumed.load_state_dict(state)
    assert seen + _epoch_with_draws(resumed, 3) == reference
    assert len(list(resumed)) == 10  # the next epoch is whole again


def test_a_batch_asked_for_before_the_save_gets_its_recorded_state_then_the_saved_one():
    torch.manual_seed(0)
    reference = _epoch_with_draws(ResumableRandomSampler(range(8), 2), 2)
    torch.manual_seed(0)
    sampler = ResumableRandomSampler(range(8), 2)
    iterator = iter(sampler)
    first = [next(iterator), next(iterator)]
    draw0 = float(torch.rand(()))
    ahead = next(iterator)  # batch 1 fetched ahead: its draw already happened before the save
    draw1 = float(torch.rand(()))
    assert [draw0, tuple(first)] == reference[0] and draw1 == reference[1][0] and ahead == reference[1][1][0]
    state = {**sampler.state_dict(1), "rng_at_save": rng_state(), "stop": None}
    assert state["rng_next_batch"] is not None
    resumed = ResumableRandomSampler(range(8), 2)
    resumed.load_state_dict(state)
    assert _epoch_with_draws(resumed, 2) == reference[1:]


def test_stop_ends_the_resumed_epoch_where_the_limited_one_ended():
    torch.manual_seed(0)
    sampler = ResumableRandomSampler(range(12), 2)
    iterator = iter(sampler)
    [next(iterator) for _ in range(2)]
    state = {**sampler.state_dict(1), "rng_at_save": rng_state(), "stop": 3}
    resumed = ResumableRandomSampler(range(12), 2)
    resumed.load_state_dict(state)
    assert len(list(resumed)) == 4  # batches 1 and 2


def test_a_state_of_another_dataset_or_batch_size_is_refused():
    state = ResumableRandomSampler(range(10), 3).state_dict(1)
    with pytest.raises(ValueError, match="num_samples=10 but this run has num_samples=9"):
        ResumableRandomSampler(range(9), 3).load_state_dict(state)
    with pytest.raises(ValueError, match=r"batch_size=3 but this run has batch_size=2; .*--data\.batch_size"):
        ResumableRandomSampler(range(10), 2).load_state_dict(state)
    with pytest.raises(ValueError, match="batch_size: got 0"):
        ResumableRandomSampler(range(10), 0)
