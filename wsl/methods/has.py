"""``has``: Hide-and-Seek (Singh & Lee, ICCV 2017), a batch method.

Each training image is split into a ``grid × grid`` grid of cells (cell edges at
``round(k·H/grid)``, ``round(k·W/grid)``); each cell is hidden independently with probability ``p``.
Hidden pixels are set to 0, which after ImageNet mean/std normalisation is the dataset mean (the
paper's choice, so that hiding does not shift the first layer's statistics). Nothing changes at test.

Where wsl deviates from wsolevaluation's ``wsol/method/has.py`` and why:
- ``grid`` is the number of cells per side, not the cell side in pixels (``has_grid_size``), so the
  option means the same at 64 px and at 224 px; wsolevaluation's ``has_grid_size=56`` at 224 px is
  ``grid=4``. wsolevaluation's loop also bounds both axes by the height (a bug for non-square inputs)
  and hides with ``random() <= p``; here the cells tile H and W and a cell is hidden with probability
  exactly ``p``.
- The draws come from a torch generator (the global one, seeded by Lightning's ``seed_everything``),
  one Bernoulli mask per batch, instead of Python's ``random`` per cell.
"""

from __future__ import annotations

import torch
from torch import nn

from wsl.methods.base import LossFn, WSOLMethod
from wsl.methods.registry import register_method

__all__ = ["HaS", "hide_and_seek", "draw_hidden_cells", "cell_mask"]


def draw_hidden_cells(
    batch_size: int, grid: int, p: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Which cells are hidden: bool ``(N, grid, grid)``, each True with probability ``p`` (on the CPU)."""
    return torch.rand(batch_size, grid, grid, generator=generator) < p


def cell_mask(hidden: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Expand cell flags ``(N, G, G)`` to a pixel mask ``(N, 1, H, W)``, True where hidden.

    Row ``i`` of the grid covers pixel rows ``[round(i·H/G), round((i+1)·H/G))``, likewise columns.
    """
    grid = hidden.shape[-1]
    rows = torch.bucketize(torch.arange(height), _edges(height, grid), right=True) - 1
    cols = torch.bucketize(torch.arange(width), _edges(width, grid), right=True) - 1
    return hidden[:, rows][:, :, cols].unsqueeze(1)


def _edges(size: int, grid: int) -> torch.Tensor:
    return torch.tensor([round(k * size / grid) for k in range(grid)])


def hide_and_seek(
    images: torch.Tensor, grid: int = 4, p: float = 0.5, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hide random grid cells of each image.

    Args:
        images: (N, C, H, W), normalised (0 = the dataset mean).
        grid: cells per side (G).
        p: probability that a cell is hidden.
        generator: the random source (default: torch's global generator).

    Returns:
        ``(hidden_images (N, C, H, W), hidden_cells bool (N, G, G))``; the input is not modified.

    Example:
        >>> out, cells = hide_and_seek(torch.ones(1, 3, 4, 4), grid=2, p=1.0)
        >>> bool(out.eq(0).all()), cells.shape
        (True, torch.Size([1, 2, 2]))
    """
    hidden = draw_hidden_cells(len(images), grid, p, generator)
    mask = cell_mask(hidden, images.shape[-2], images.shape[-1]).to(images.device)
    return images.masked_fill(mask, 0.0), hidden


@register_method("has")
class HaS(WSOLMethod):
    """Hide-and-Seek training: ``loss(net(hide_and_seek(images, grid, p))[0], labels)``.

    Args:
        grid: cells per side G ≥ 1 (default 4: 56 px cells at 224 px, one of the paper's sizes).
        p: probability 0 ≤ p ≤ 1 that a cell is hidden (default 0.5, the paper's).
    """

    def __init__(self, grid: int = 4, p: float = 0.5) -> None:
        if isinstance(grid, bool) or not isinstance(grid, int) or grid < 1:
            raise ValueError(f"has: grid must be an int >= 1 (cells per side); got {grid!r}")
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"has: p must be a probability in [0, 1]; got {p!r}")
        self.grid, self.p = grid, float(p)

    def options(self) -> dict:
        return {"grid": self.grid, "p": self.p}

    def training_loss(
        self, net: nn.Module, images: torch.Tensor, labels: torch.Tensor, loss: LossFn
    ) -> torch.Tensor:
        hidden, _ = hide_and_seek(images, self.grid, self.p)
        scores, _ = net(hidden)
        return loss(scores, labels)
