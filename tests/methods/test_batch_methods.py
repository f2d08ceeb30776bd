"""HaS and CutMix: the defining properties, against independent float64 references."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from wsl.methods import get_method
from wsl.methods.cutmix import cutmix
from wsl.methods.has import draw_hidden_cells, hide_and_seek


@pytest.mark.parametrize(("height", "width", "grid"), [(8, 8, 4), (10, 7, 3), (5, 5, 5)])
def test_has_hides_exactly_the_drawn_cells(height, width, grid):
    images = torch.rand(3, 2, height, width, dtype=torch.float64) + 1.0  # never 0 before hiding
    out, hidden = hide_and_seek(images, grid, 0.5, torch.Generator().manual_seed(1))
    assert torch.equal(hidden, draw_hidden_cells(3, grid, 0.5, torch.Generator().manual_seed(1)))
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


def test_has_probability_zero_and_one():
    images = torch.randn(2, 3, 8, 8)
    assert torch.equal(hide_and_seek(images, 4, 0.0)[0], images)
    assert hide_and_seek(images, 4, 1.0)[0].eq(0).all()


def test_has_hides_a_fraction_near_p():
    _, hidden = hide_and_seek(torch.zeros(200, 1, 8, 8), 4, 0.3, torch.Generator().manual_seed(0))
    assert abs(hidden.double().mean().item() - 0.3) < 0.02  # 3200 Bernoulli draws: 4.9 standard errors


@pytest.mark.parametrize("kwargs", [{"grid": 0}, {"grid": 2.5}, {"p": 1.5}])
def test_has_refuses_bad_options(kwargs):
    with pytest.raises(ValueError, match="has: (grid|p) must be"):
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
