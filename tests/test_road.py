"""ROAD (wsl.faithfulness.road) and its noisy linear imputation (wsl.cam.imputation): hand-checked pixels,
the linear system against a dense float64 reference assembled pixel by pixel from the definition
(pytorch-grad-cam's ``NoisyLinearImputer``), the removal rule against pytorch-grad-cam's percentile rule
written in NumPy, and ROAD's scores on a model that watches one pixel."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from wsl.cam.imputation import impute, linear_imputation
from wsl.faithfulness import road, road_removed

EDGE, CORNER = 1 / 6, 1 / 12


def weight(dr: int, dc: int) -> float:
    return 0.0 if (dr, dc) == (0, 0) else (CORNER if dr and dc else EDGE)


def dense_reference(image: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """Solve s_i x_i − Σ_{j removed} w_ij x_j = Σ_{j kept} w_ij v_j with an explicit (n, n) matrix."""
    c, h, w = image.shape
    unknown = [(r, q) for r in range(h) for q in range(w) if removed[r, q]]
    index = {p: k for k, p in enumerate(unknown)}
    a = np.zeros((len(unknown), len(unknown)))
    b = np.zeros((len(unknown), c))
    for k, (r, q) in enumerate(unknown):
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                rr, qq = r + dr, q + dc
                if (dr, dc) == (0, 0) or not (0 <= rr < h and 0 <= qq < w):
                    continue
                a[k, k] += weight(dr, dc)
                if removed[rr, qq]:
                    a[k, index[(rr, qq)]] -= weight(dr, dc)
                else:
                    b[k] += weight(dr, dc) * image[:, rr, qq]
    out = image.copy()
    for k, (r, q) in enumerate(unknown):
        out[:, r, q] = np.linalg.solve(a, b)[k]
    return out


def test_one_removed_pixel_is_the_weighted_mean_of_its_in_image_neighbours():
    v = torch.arange(9, dtype=torch.float64).reshape(1, 1, 3, 3) ** 1.5
    centre = torch.zeros(1, 3, 3, dtype=torch.bool)
    centre[0, 1, 1] = True
    got = linear_imputation(v, centre)
    ring = v[0, 0].clone()
    expected = EDGE * (ring[0, 1] + ring[1, 0] + ring[1, 2] + ring[2, 1]) + CORNER * (
        ring[0, 0] + ring[0, 2] + ring[2, 0] + ring[2, 2]
    )
    assert float(got[0, 0, 1, 1]) == pytest.approx(float(expected), rel=1e-9)
    corner = torch.zeros(1, 3, 3, dtype=torch.bool)
    corner[0, 0, 2] = True  # in-image neighbours (0,1) and (1,2) by an edge, (1,1) by a corner: s = 5/12
    got = linear_imputation(v, corner)
    expected = (EDGE * ring[0, 1] + EDGE * ring[1, 2] + CORNER * ring[1, 1]) / (5 / 12)
    assert float(got[0, 0, 0, 2]) == pytest.approx(float(expected), rel=1e-9)
    keep = ~corner[0]
    assert torch.equal(got[0, 0][keep], v[0, 0][keep])  # kept pixels untouched


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_solution_equals_a_dense_reference_system(seed):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(2, 2, 6, 5, generator=g, dtype=torch.float64)
    removed = torch.rand(2, 6, 5, generator=g) < 0.6
    removed[:, 0, 0] = False  # at least one kept pixel
    got = linear_imputation(image, removed, tol=1e-13)
    for i in range(2):
        ref = dense_reference(image[i].numpy(), removed[i].numpy())
        np.testing.assert_allclose(got[i].numpy(), ref, rtol=0, atol=1e-10)


def test_noise_is_added_to_removed_pixels_only_and_a_region_without_kept_pixels_gets_zero():
    image = torch.rand(2, 3, 4, 4, dtype=torch.float64)
    removed = torch.zeros(2, 4, 4, dtype=torch.bool)
    removed[0, 1:3, 1:3] = True
    removed[1] = True  # nothing kept: zeros (plus noise)
    clean = linear_imputation(image, removed)
    assert torch.equal(clean[1], torch.zeros(3, 4, 4, dtype=torch.float64))
    noisy = impute(image, removed, 0.5, torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(7)
    draws = torch.stack([torch.randn(3, 4, 4, generator=g, dtype=torch.float64) for _ in range(2)])
    expected = clean + 0.5 * removed[:, None] * draws
    torch.testing.assert_close(noisy, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("q", [10, 25, 50, 90])
def test_removed_pixels_follow_pytorch_grad_cams_percentile_rule(q):
    s = torch.rand(3, 7, 9, dtype=torch.float64)
    s[0, :2] = 0.5  # ties
    for i in range(3):
        cam = s[i].numpy()
        morf_kept = cam < np.percentile(cam, 100 - q)  # ROADMostRelevantFirst(percentile=100 - q)
        lerf_kept = (1 - cam) < np.percentile(1 - cam, 100 - q)  # ROADLeastRelevantFirst(100 - q)
        assert np.array_equal(~road_removed(s[i : i + 1], q, True)[0].numpy(), morf_kept)
        assert np.array_equal(~road_removed(s[i : i + 1], q, False)[0].numpy(), lerf_kept)
    top = road_removed(torch.arange(10.0).reshape(1, 2, 5), 20, True)[0].flatten().tolist()
    assert top == [False] * 8 + [True] * 2  # 80th percentile 7.2: 8 and 9 removed


class OnePixel(nn.Module):
    """logits = (2 · x[0, 0, 1], 0)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = 2 * x[:, 0, 0, 1]
        return torch.stack([z, torch.zeros_like(z)], dim=1)


def test_road_on_a_model_that_watches_one_pixel():
    x = torch.tensor([[0.2, 0.8], [0.6, 0.4]], dtype=torch.float64).expand(1, 3, 2, 2).clone()
    first = torch.tensor([[[0.0, 9.0], [1.0, 2.0]]])  # the watched pixel (0, 1) most relevant
    got = road(OnePixel(), x, first, torch.tensor([0]), percentiles=(25,), noise=0, score="logit")
    imputed = (EDGE * 0.2 + EDGE * 0.4 + CORNER * 0.6) / (5 / 12)  # = 0.36
    assert float(got.base[0]) == pytest.approx(1.6)
    assert float(got.morf[0, 0]) == pytest.approx(2 * imputed, rel=1e-8)  # 0.72: the watched pixel imputed
    assert float(got.lerf[0, 0]) == pytest.approx(1.6)  # the least relevant pixel (0, 0) removed instead
    assert float(got.morf_mean[0]) == pytest.approx(0.72 - 1.6, rel=1e-8)
    assert float(got.lerf_mean[0]) == pytest.approx(0.0, abs=1e-12)
    assert float(got.combined[0]) == pytest.approx((0 - (0.72 - 1.6)) / 2, rel=1e-8)
    last = road(OnePixel(), x, -first, torch.tensor([0]), percentiles=(25,), noise=0, score="logit")
    assert float(last.combined[0]) < float(got.combined[0])  # the unfaithful map scores lower


def test_road_does_not_depend_on_the_batch_size_and_checks_arguments():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten()).double()
    x, s = torch.rand(3, 3, 8, 8, dtype=torch.float64), torch.rand(3, 8, 8)
    a = road(model, x, s, torch.tensor([0, 1, 3]), percentiles=(20, 60), batch_size=5)
    b = road(model, x, s, torch.tensor([0, 1, 3]), percentiles=(20, 60), batch_size=64)
    # the same noise draws; the solver stops per batch, so the imputations agree within its tolerance
    torch.testing.assert_close(a.morf, b.morf, rtol=0, atol=1e-6)
    torch.testing.assert_close(a.lerf, b.lerf, rtol=0, atol=1e-6)
    assert a.morf.shape == (3, 2)
    with pytest.raises(ValueError, match="percentiles"):
        road(model, x, s, torch.tensor([0, 1, 3]), percentiles=(120,))
