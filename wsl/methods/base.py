"""The interface every WSOL training method implements (:class:`WSOLMethod`), with plain CAM's behaviour."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from wsl.models import WSLNet

__all__ = ["LossFn", "WSOLMethod"]

#: ``loss(scores (N, C), labels (N, C), pool=None) -> scalar``: WSLModule's data loss (BCE or CE) plus the
#: regulariser of ``pool`` (default: the network's pooling head).
LossFn = Callable[..., torch.Tensor]


class WSOLMethod:
    """A WSOL training method: how the network is built and how one training batch becomes a loss.

    The default implementation is plain CAM (Zhou et al., CVPR 2016, with any pooling head): the
    :class:`~wsl.models.WSLNet` as configured, and ``loss(net(images)[0], labels)``. A *batch* method
    (HaS, CutMix) overrides :meth:`training_loss` and changes the images/targets; a *network* method
    (ADL, ACoL) overrides :meth:`build_net` (and, for extra outputs, :meth:`training_loss`).
    Whatever a method does in training, the network's eval forward returns
    ``(scores (N, C), class_maps (N, C, h, w))``, so every CAM consumer works unchanged.

    A method's options are the keyword arguments of its ``__init__`` (``method_kwargs``); it holds
    no parameters itself (those live in the network, so checkpoints stay ``net.*`` state dicts).
    """

    #: The registry name (set by :func:`~wsl.methods.register_method`).
    name: str = ""

    def build_net(self, **net_kwargs: Any) -> WSLNet:
        """The network, from :class:`~wsl.models.WSLNet`'s keyword arguments."""
        return WSLNet(**net_kwargs)

    def training_loss(
        self, net: nn.Module, images: torch.Tensor, labels: torch.Tensor, loss: LossFn
    ) -> torch.Tensor:
        """The training loss of one batch: images (N, 3, H, W), multi-hot labels (N, C)."""
        scores, _ = net(images)
        return loss(scores, labels)

    def options(self) -> dict[str, Any]:
        """The method's resolved options (for ``repr`` and logs)."""
        return {}

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({opts})"
