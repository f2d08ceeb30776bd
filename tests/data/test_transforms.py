"""The fused colour transform equals the step-by-step definition in its docstring."""

from __future__ import annotations

import pytest
import torch

from wsl.data.transforms import IMAGENET_MEAN, IMAGENET_STD, EvalTransform, TrainTransform


def reference_train_transform(image: torch.Tensor, params: dict, size: int) -> torch.Tensor:
    """TrainTransform written op by op in float64, as its docstring defines it."""
    x = image.double() / 255.0
    if x.shape[-2:] != (size, size):
        x = torch.nn.functional.interpolate(
            x[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True
        )[0]
    if params["hflip"]:
        x = x.flip(-1)
    if params["vflip"]:
        x = x.flip(-2)
    if params["transpose"]:
        x = x.transpose(-1, -2)
    x = x[params["perm"]]
    if params["bcs"] is not None:
        b, c, s = params["bcs"]
        x = x * b
        mean = x.mean()
        x = (x - mean) * c + mean
        gray = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2])[None]
        x = ((x - gray) * s + gray).clamp(0, 1)
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype).view(3, 1, 1)
    return (x - mean) / std


@pytest.mark.parametrize("size", [24, 16])
@pytest.mark.parametrize("jitter", [0.0, 0.2, 0.5])
def test_fused_train_transform_matches_reference(size, jitter):
    torch.manual_seed(0)
    t = TrainTransform(size, flip_p=0.5, jitter=jitter, dihedral=True, channel_shuffle=True)
    for _ in range(20):
        image = torch.randint(0, 256, (3, 24, 24), dtype=torch.uint8)
        params = t.sample()
        got = t.apply(image, params)
        want = reference_train_transform(image, params, size)
        assert got.dtype == torch.float32 and got.shape == (3, size, size)
        torch.testing.assert_close(got.double(), want, atol=2e-5, rtol=0)


def test_train_transform_draws_every_parameter_kind():
    torch.manual_seed(1)
    t = TrainTransform(8, flip_p=0.5, jitter=0.2, dihedral=True, channel_shuffle=True)
    draws = [t.sample() for _ in range(64)]
    for key in ("hflip", "vflip", "transpose"):
        assert {d[key] for d in draws} == {False, True}
    assert len({tuple(d["perm"].tolist()) for d in draws}) == 6
    bcs = torch.tensor([d["bcs"] for d in draws])
    assert bool((bcs >= 0.8).all() and (bcs <= 1.2).all())
    plain = TrainTransform(8, flip_p=0.0, jitter=0.0).sample()
    assert plain["bcs"] is None and plain["perm"].tolist() == [0, 1, 2] and not plain["hflip"]


def test_eval_transform_leaves_a_float_input_untouched():
    image = torch.rand(3, 8, 8) * 255
    before = image.clone()
    out = EvalTransform(8)(image)
    torch.testing.assert_close(image, before)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    torch.testing.assert_close(out, (before / 255 - mean) / std)
