"""Flip-averaged class maps (``cam_flips``): the definition, its exact flip equivariance, the offset it
cancels, and the paths that must keep one view."""

from __future__ import annotations

import pytest
import torch

from wsl.cam import class_maps_for
from wsl.models import WSLNet
from wsl.models.flips import FLIP_VIEWS, flip_averaged


def _net(cam_flips: str) -> WSLNet:
    torch.manual_seed(0)
    return WSLNet(num_classes=3, backbone="resnet18", pool="weldon", cam_flips=cam_flips).double().eval()


@pytest.mark.parametrize("cam_flips", ["h", "hv"])
def test_maps_are_the_mean_of_the_flipped_views_flipped_back_and_scores_the_plain_views(cam_flips):
    net = _net(cam_flips)
    x = torch.randn(2, 3, 64, 80, dtype=torch.float64)
    with torch.no_grad():
        scores, maps = net(x)
        plain_scores, plain_maps = net.forward_view(x)
        # The definition, view by view: M̄ = (1/|G|) Σ_g g⁻¹ M(g x).
        views = [plain_maps, net.forward_view(x.flip(-1))[1].flip(-1)]
        if cam_flips == "hv":
            views.append(net.forward_view(x.flip(-2))[1].flip(-2))
            views.append(net.forward_view(x.flip(-2, -1))[1].flip(-2, -1))
        reference = sum(views) / len(views)
    torch.testing.assert_close(maps, reference, rtol=0, atol=1e-10)
    torch.testing.assert_close(scores, plain_scores, rtol=0, atol=1e-10)
    assert not torch.allclose(maps, plain_maps)  # the views differ: the average is not a no-op


@pytest.mark.parametrize(("cam_flips", "group"), [("h", [(-1,)]), ("hv", [(-1,), (-2,), (-2, -1)])])
def test_averaged_maps_are_exactly_equivariant_to_the_flips_of_their_group(cam_flips, group):
    net = _net(cam_flips)
    x = torch.randn(1, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        maps = net(x)[1]
        for dims in group:
            torch.testing.assert_close(net(x.flip(dims))[1], maps.flip(dims), rtol=0, atol=1e-10)


def test_a_learned_offset_is_cancelled_the_centre_of_mass_returns_to_the_object():
    """A "network" whose map sits 2 cells right of and 1 cell below the object: the hv average is centred."""

    def shifted(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x.amax((2, 3)), x.roll((1, 2), dims=(-2, -1))

    x = torch.zeros(1, 1, 9, 9, dtype=torch.float64)
    x[0, 0, 4, 3] = 1.0  # the object at row 4, column 3

    def centre(m: torch.Tensor) -> tuple[float, float]:
        rows, cols = torch.meshgrid(torch.arange(9.0), torch.arange(9.0), indexing="ij")
        m = m[0, 0]
        return float((m * rows).sum() / m.sum()), float((m * cols).sum() / m.sum())

    assert centre(shifted(x)[1]) == (5.0, 5.0)
    assert centre(flip_averaged(shifted, x, "hv")[1]) == (4.0, 3.0)
    assert centre(flip_averaged(shifted, x, "h")[1]) == (5.0, 3.0)  # h cancels only the horizontal offset


def test_training_mode_and_none_run_one_plain_view():
    net = _net("hv").train()
    calls = []
    net.backbone.register_forward_hook(lambda _m, inputs, _o: calls.append(inputs[0].shape[0]))
    net(torch.randn(2, 3, 64, 64, dtype=torch.float64))
    net.eval()
    with torch.no_grad():
        net(torch.randn(2, 3, 64, 64, dtype=torch.float64))
    assert calls == [2, 8]  # training: one view; eval: the four views of hv in one batch
    assert FLIP_VIEWS["none"] == ((),)


def test_gradient_cams_use_one_view_and_native_cams_the_average():
    plain, flipped = _net("none"), _net("hv")
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    grad_plain = class_maps_for(plain, x, "gradcam")[1]
    grad_flipped = class_maps_for(flipped, x, "gradcam")[1]
    torch.testing.assert_close(grad_flipped, grad_plain, rtol=0, atol=1e-10)
    with torch.no_grad():
        torch.testing.assert_close(class_maps_for(flipped, x, "native")[1], flipped(x)[1])


def test_an_unknown_cam_flips_names_the_choices():
    with pytest.raises(ValueError, match=r"cam_flips: got 'vh'; expected one of \['none', 'h', 'hv'\]"):
        WSLNet(num_classes=2, backbone="resnet18", cam_flips="vh")
