"""The base class of the pooling heads (``modules.py`` defines them, ``registry.py`` names them)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["PoolHead"]


class PoolHead(nn.Module):
    """Base class of the pooling heads: ``forward(x: (N, C, H, W)) -> (N, C)``.

    ``regularization_loss()`` returns a scalar added to the training loss; 0 (on the module's
    device) unless a subclass overrides it.
    """

    def __init__(self) -> None:
        super().__init__()
        # Non-persistent buffer: follows .to(device) so the zero loss lives on the module's device
        # even for parameter-free heads, and stays out of state_dict.
        self.register_buffer("_zero", torch.zeros(()), persistent=False)

    def regularization_loss(self) -> torch.Tensor:
        """Scalar regulariser of the head's parameters (0 by default)."""
        return self._zero.new_zeros(())
