"""``has``: Hide-and-Seek (Singh & Lee, ICCV 2017), a batch method.

Each training image is tiled into cells; each cell is hidden independently with probability
``drop_rate``. Hidden pixels are set to 0, which after ImageNet mean/std normalisation is the dataset
mean (the paper's choice, so that hiding does not shift the first layer's statistics). Nothing changes
at validation or test (only :meth:`HaS.training_loss` hides).

Two units for ``grid_size`` (:data:`GRID_UNITS`):

- ``pixels`` (the default, wsolevaluation's ``has_grid_size``, ``wsol/method/has.py``): cells are
  ``grid_size`` × ``grid_size`` pixels anchored at the top-left corner, row ``i`` covering pixel rows
  ``[i·s, min((i+1)·s, H))`` (likewise columns), so a side that ``s`` does not divide ends with a
  partial cell (upstream's ``has_grid_size 120`` at 224 px: cells of 120 and 104 px). Default 4 px, as
  upstream's ``config.py``; ``grid_size 0`` hides nothing, as upstream.
- ``cells`` (wsl's own variant): ``grid_size`` cells per side, edges at ``round(k·H/G)``,
  ``round(k·W/G)``, so that the option means the same at 64 px and at 224 px (``cells`` 4 at 224 px =
  ``pixels`` 56).

A cell is hidden when a uniform draw ``u ∈ [0, 1)`` satisfies ``u ≤ drop_rate``, upstream's
``random.random() <= drop_rate``. Where wsl still differs from upstream, and why:

- for non-square inputs upstream's loop runs the row index over ``range(0, W, s)`` and bounds both
  slices by the height (columns at or beyond H are never hidden when W > H); here the cells tile H
  and W. wsolevaluation trains on square 224 px crops, where both rules hide the same cells;
- the draws come from a torch generator (the global one, seeded by Lightning's ``seed_everything``),
  one float64 tensor per batch, instead of Python's ``random`` per cell: the same distribution, not
  the same random stream.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from wsl.methods.base import LossFn, WSOLMethod
from wsl.methods.registry import register_method

__all__ = ["GRID_UNITS", "HaS", "cell_edges", "cell_mask", "draw_hidden_cells", "hide_and_seek"]


def _pixel_edges(size: int, grid_size: int) -> list[int]:
    return list(range(0, size, grid_size))


def _count_edges(size: int, grid_size: int) -> list[int]:
    return [round(k * size / grid_size) for k in range(grid_size)]


#: ``grid_unit`` → the cell starts along one side of ``size`` pixels for a ``grid_size``:
#: ``pixels`` (wsolevaluation's unit: cells of ``grid_size`` px) or ``cells`` (wsl's: ``grid_size`` cells).
GRID_UNITS: dict[str, Callable[[int, int], list[int]]] = {
    "pixels": _pixel_edges,
    "cells": _count_edges,
}


def _check_unit(grid_unit: str) -> None:
    if grid_unit not in GRID_UNITS:
        raise ValueError(f"has: grid_unit must be one of {list(GRID_UNITS)}; got {grid_unit!r}")


def cell_edges(size: int, grid_size: int, grid_unit: str = "pixels") -> list[int]:
    """The first pixel of each cell along a side of ``size`` pixels (the next start, or ``size``, ends it).

    Example:
        >>> cell_edges(224, 120), cell_edges(224, 4, "cells")
        ([0, 120], [0, 56, 112, 168])
    """
    _check_unit(grid_unit)
    return GRID_UNITS[grid_unit](size, grid_size)


def draw_hidden_cells(
    batch_size: int, rows: int, cols: int, drop_rate: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Which cells are hidden: bool ``(N, rows, cols)``, True where a uniform draw ``u ≤ drop_rate``."""
    return torch.rand(batch_size, rows, cols, generator=generator, dtype=torch.float64) <= drop_rate


def cell_mask(
    hidden: torch.Tensor, row_starts: list[int], col_starts: list[int], height: int, width: int
) -> torch.Tensor:
    """Expand cell flags ``(N, R, C)`` to a pixel mask ``(N, 1, H, W)``, True where hidden.

    Cell ``(i, j)`` covers rows ``[row_starts[i], row_starts[i+1])`` (the last one up to H) and likewise
    columns.
    """
    rows = torch.bucketize(torch.arange(height), torch.tensor(row_starts), right=True) - 1
    cols = torch.bucketize(torch.arange(width), torch.tensor(col_starts), right=True) - 1
    return hidden[:, rows][:, :, cols].unsqueeze(1)


def hide_and_seek(
    images: torch.Tensor,
    grid_size: int = 4,
    drop_rate: float = 0.5,
    grid_unit: str = "pixels",
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hide random cells of each image.

    Args:
        images: (N, C, H, W), normalised (0 = the dataset mean).
        grid_size: the cell side in pixels (``grid_unit`` ``pixels``) or the cells per side (``cells``);
            0 hides nothing.
        drop_rate: probability that a cell is hidden.
        grid_unit: ``pixels`` (wsolevaluation's) or ``cells`` (wsl's), see :data:`GRID_UNITS`.
        generator: the random source (default: torch's global generator).

    Returns:
        ``(hidden_images (N, C, H, W), hidden_cells bool (N, R, C'))``, R × C' the cells per column and
        row; the input is not modified.

    Example:
        >>> out, cells = hide_and_seek(torch.ones(1, 3, 6, 6), grid_size=4, drop_rate=1.0)
        >>> bool(out.eq(0).all()), cells.shape
        (True, torch.Size([1, 2, 2]))
    """
    _check_unit(grid_unit)
    if grid_size == 0:
        return images.clone(), torch.zeros(len(images), 0, 0, dtype=torch.bool)
    height, width = images.shape[-2:]
    row_starts, col_starts = cell_edges(height, grid_size, grid_unit), cell_edges(width, grid_size, grid_unit)
    hidden = draw_hidden_cells(len(images), len(row_starts), len(col_starts), drop_rate, generator)
    mask = cell_mask(hidden, row_starts, col_starts, height, width).to(images.device)
    return images.masked_fill(mask, 0.0), hidden


@register_method("has")
class HaS(WSOLMethod):
    """Hide-and-Seek training: ``loss(net(hide_and_seek(images, ...))[0], labels)``.

    Args:
        grid_size: an int ≥ 0: the cell side in pixels (default 4, wsolevaluation's ``has_grid_size``
            default; its tuned CUB-ResNet50 runs are reported with 120) or, with ``grid_unit`` ``cells``,
            the cells per side; 0 hides nothing.
        drop_rate: probability 0 ≤ p ≤ 1 that a cell is hidden (default 0.5, wsolevaluation's
            ``has_drop_rate`` and the paper's).
        grid_unit: ``pixels`` (default, wsolevaluation's unit) or ``cells`` (wsl's own variant: the
            side is divided into ``grid_size`` cells, e.g. ``cells`` 4 = 56 px cells at 224 px).
    """

    def __init__(self, grid_size: int = 4, drop_rate: float = 0.5, grid_unit: str = "pixels") -> None:
        if isinstance(grid_size, bool) or not isinstance(grid_size, int) or grid_size < 0:
            raise ValueError(
                f"has: grid_size must be an int >= 0 (cell side in pixels, or cells per side with "
                f"grid_unit 'cells'; 0 hides nothing); got {grid_size!r}"
            )
        if isinstance(drop_rate, bool) or not isinstance(drop_rate, int | float) or not 0 <= drop_rate <= 1:
            raise ValueError(f"has: drop_rate must be a probability in [0, 1]; got {drop_rate!r}")
        _check_unit(grid_unit)
        self.grid_size, self.drop_rate, self.grid_unit = grid_size, float(drop_rate), grid_unit

    def options(self) -> dict:
        return {"grid_size": self.grid_size, "drop_rate": self.drop_rate, "grid_unit": self.grid_unit}

    def training_loss(
        self, net: nn.Module, images: torch.Tensor, labels: torch.Tensor, loss: LossFn
    ) -> torch.Tensor:
        hidden, _ = hide_and_seek(images, self.grid_size, self.drop_rate, self.grid_unit)
        scores, _ = net(hidden)
        return loss(scores, labels)
