"""HaS and CutMix: the defining properties, against independent float64 references."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from wsl.methods import get_method
from wsl.methods.cutmix import cutmix
from wsl.methods.has import cell_edges, cell_mask, draw_hidden_cells, hide_and_seek


def upstream_has(images: torch.Tensor, grid_size: int, hidden: torch.Tensor) -> torch.Tensor:
    """wsolevaluation's ``wsol/method/has.py`` loop, written out, with the cell decisions given: cell
    ``(x // s, y // s)`` stands for its ``random.random() <= drop_rate``."""
    out = images.clone()
    _, _, height, width = out.shape
    for b in range(len(out)):
        for x in range(0, width, grid_size):
            for y in range(0, height, grid_size):
                x_end, y_end = min(height, x + grid_size), min(height, y + grid_size)
                if hidden[b, x // grid_size, y // grid_size]:
                    out[b, :, x:x_end, y:y_end] = 0.0
    return out


@pytest.mark.parametrize(("side", "grid_size"), [(8, 4), (10, 4), (224, 120), (7, 1), (5, 9)])
def test_has_pixel_cells_hide_what_upstreams_loop_hides(side, grid_size):
    images = torch.rand(3, 2, side, side, dtype=torch.float64) + 1.0  # never 0 before hiding
    out, hidden = hide_and_seek(images, grid_size, 0.5, "pixels", torch.Generator().manual_seed(1))
    cells = -(-side // grid_size)
    assert hidden.shape == (3, cells, cells)
    torch.testing.assert_close(out, upstream_has(images, grid_size, hidden), rtol=0, atol=0)
    assert images.min() >= 1.0  # the input is not modified


def test_has_hides_by_hand_a_6_by_6_image_in_4_px_cells():
    image = torch.arange(1, 37, dtype=torch.float64).view(1, 1, 6, 6)
    generator = torch.Generator().manual_seed(0)
    _, hidden = hide_and_seek(image, 4, 0.5, "pixels", generator)
    # The rule u <= drop_rate on the same float64 draws, one per cell in row-major order.
    draws = torch.rand(1, 2, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert torch.equal(hidden, draws <= 0.5)
    forced = torch.tensor([[[True, False], [False, True]]])  # top-left 4x4 and bottom-right 2x2 cells
    expected = image.clone()
    expected[0, 0, 0:4, 0:4] = 0.0
    expected[0, 0, 4:6, 4:6] = 0.0
    torch.testing.assert_close(upstream_has(image, 4, forced), expected, rtol=0, atol=0)
    mask = cell_mask(forced, cell_edges(6, 4), cell_edges(6, 4), 6, 6)
    torch.testing.assert_close(image.masked_fill(mask, 0.0), expected, rtol=0, atol=0)


@pytest.mark.parametrize(("height", "width", "grid"), [(8, 8, 4), (10, 7, 3), (5, 5, 5)])
def test_has_cells_unit_hides_exactly_the_drawn_cells(height, width, grid):
    images = torch.rand(3, 2, height, width, dtype=torch.float64) + 1.0  # never 0 before hiding
    out, hidden = hide_and_seek(images, grid, 0.5, "cells", torch.Generator().manual_seed(1))
    assert torch.equal(hidden, draw_hidden_cells(3, grid, grid, 0.5, torch.Generator().manual_seed(1)))
    assert hidden.any() and not hidden.all()
    for n in range(3):
        for i in range(grid):
            for j in range(grid):
                r0, r1 = round(i * height / grid), round((i + 1) * height / grid)
                c0, c1 = round(j * width / grid), round((j + 1) * width / grid)
                cell, original = out[n, :, r0:r1, c0:c1], images[n, :, r0:r1, c0:c1]
                if hidden[n, i, j]:
                    assert cell.eq(0).all()  # the dataset mean after normalisation
                else:
                    assert torch.equal(cell, original)
    assert images.min() >= 1.0  # the input is not modified


@pytest.mark.parametrize("unit", ["pixels", "cells"])
def test_has_probability_zero_and_one_and_grid_size_zero(unit):
    images = torch.randn(2, 3, 8, 8)
    assert torch.equal(hide_and_seek(images, 4, 0.0, unit)[0], images)
    assert hide_and_seek(images, 4, 1.0, unit)[0].eq(0).all()
    assert torch.equal(hide_and_seek(images, 0, 1.0, unit)[0], images)  # upstream: grid_size 0 = off


def test_has_hides_a_fraction_near_the_drop_rate():
    _, hidden = hide_and_seek(torch.zeros(200, 1, 8, 8), 2, 0.3, "pixels", torch.Generator().manual_seed(0))
    assert abs(hidden.double().mean().item() - 0.3) < 0.02  # 3200 Bernoulli draws: 4.9 standard errors


def test_has_defaults_are_wsolevaluations():
    method = get_method("has")
    assert method.options() == {"grid_size": 4, "drop_rate": 0.5, "grid_unit": "pixels"}


def test_has_hides_only_in_training():
    from wsl.lit import WSLModule

    torch.manual_seed(0)
    module = WSLModule(num_classes=2, backbone="resnet18", pool="gap", method="has",
                       method_kwargs={"drop_rate": 1.0}, channels_last=False).eval()  # fmt: skip
    images = torch.randn(2, 3, 32, 32)
    seen = []
    module.net.backbone.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    with torch.no_grad():
        module(images)  # the eval forward, as validation and test call it
        module.wsol_method.training_loss(module.net, images, torch.eye(2), module.loss)
    assert torch.equal(seen[0], images) and seen[1].eq(0).all()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"grid_size": -1}, "grid_size"), ({"grid_size": 2.5}, "grid_size"), ({"drop_rate": 1.5}, "drop_rate"),
     ({"grid_unit": "px"}, "grid_unit")],
)  # fmt: skip
def test_has_refuses_bad_options(kwargs, field):
    with pytest.raises(ValueError, match=f"has: {field} must be"):
        get_method("has", **kwargs)


@pytest.mark.parametrize("seed", range(6))
def test_cutmix_weights_sum_to_one_and_equal_the_pasted_area(seed):
    n, height, width = 5, 12, 9
    # Image i is the constant i + 1, so a pixel's value names the image it came from.
    images = torch.arange(1, n + 1, dtype=torch.float64).view(n, 1, 1, 1).expand(n, 2, height, width).clone()
    batch = cutmix(images, alpha=1.0, generator=torch.Generator().manual_seed(seed))
    torch.testing.assert_close(
        batch.weights.sum(dim=1), torch.ones(n, dtype=torch.float64), rtol=0, atol=1e-15
    )
    y0, x0, y1, x1 = batch.box
    for i in range(n):
        from_partner = batch.images[i, 0] == float(batch.partner[i] + 1)
        from_self = batch.images[i, 0] == float(i + 1)
        assert (from_partner | from_self).all()
        if batch.partner[i] != i:
            assert from_partner.sum().item() == (y1 - y0) * (x1 - x0)
            assert from_partner[y0:y1, x0:x1].all()
        assert batch.weights[i, 1].item() == pytest.approx(
            (y1 - y0) * (x1 - x0) / (height * width), abs=1e-15
        )
    assert images[0, 0, 0, 0] == 1.0  # the input is not modified


def test_cutmix_targets_are_area_weighted():
    labels = torch.tensor([[1.0, 0, 0], [0, 1, 1], [0, 0, 1]], dtype=torch.float64)
    batch = cutmix(torch.zeros(3, 1, 16, 16), generator=torch.Generator().manual_seed(3))
    own, other = batch.weights[:, :1], batch.weights[:, 1:]
    expected = own * labels + other * labels[batch.partner]
    torch.testing.assert_close(batch.targets(labels), expected)
    # An image whose partner has the same labels keeps its targets exactly.
    assert torch.equal(
        batch.targets(labels)[batch.partner == torch.arange(3)], labels[batch.partner == torch.arange(3)]
    )


class _ScoresOfTheImage(torch.nn.Module):
    """A stand-in network: scores = a fixed linear map of the mean pixel (the loss sees the mixed images)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64))

    def forward(self, images):
        return images.mean(dim=(1, 2, 3))[:, None] * self.weight, None


@pytest.mark.parametrize("single_label", [False, True])
def test_cutmix_loss_is_bce_on_mixed_targets_or_the_mixed_cross_entropy(single_label):
    images = torch.randn(4, 3, 8, 8, dtype=torch.float64)
    labels = torch.eye(3, dtype=torch.float64)[[0, 1, 2, 1]]
    if not single_label:
        labels[0, 2] = 1.0

    def loss(scores, targets, pool=None):
        if single_label:
            return F.cross_entropy(scores, targets.argmax(dim=1))
        return F.binary_cross_entropy_with_logits(scores, targets)

    net = _ScoresOfTheImage()
    torch.manual_seed(7)
    got = get_method("cutmix", prob=1.0, alpha=1.0).training_loss(net, images, labels, loss)
    torch.manual_seed(7)
    torch.rand(())  # the method's coin for `prob`
    batch = cutmix(images, 1.0)
    scores, _ = net(batch.images)
    lam = batch.weights[0, 0]
    if single_label:
        expected = lam * F.cross_entropy(scores, labels.argmax(1)) + (1 - lam) * F.cross_entropy(
            scores, labels[batch.partner].argmax(1)
        )
    else:
        expected = F.binary_cross_entropy_with_logits(scores, batch.targets(labels))
    torch.testing.assert_close(got, expected)


def test_cutmix_with_probability_zero_is_the_plain_loss():
    images, labels = torch.randn(2, 3, 8, 8, dtype=torch.float64), torch.eye(3, dtype=torch.float64)[:2]
    net = _ScoresOfTheImage()
    loss = lambda s, y, pool=None: F.binary_cross_entropy_with_logits(s, y)  # noqa: E731
    got = get_method("cutmix", prob=0.0).training_loss(net, images, labels, loss)
    assert torch.equal(got, loss(net(images)[0], labels))


@pytest.mark.parametrize("kwargs", [{"prob": -0.1}, {"alpha": 0.0}])
def test_cutmix_refuses_bad_options(kwargs):
    with pytest.raises(ValueError, match="cutmix: (prob|alpha) must be"):
        get_method("cutmix", **kwargs)
