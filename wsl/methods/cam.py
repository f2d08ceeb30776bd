"""``cam``: plain CAM training (the default), nothing added.

Zhou et al., "Learning Deep Features for Discriminative Localization", CVPR 2016: the class maps of
the classifier are the localization maps. With wsl's pooling heads this is CAM for ``gap`` and
MIL-style training for the others; the network and the loss are exactly :class:`~wsl.models.WSLNet`
and ``WSLModule.loss``.
"""

from __future__ import annotations

from wsl.methods.base import WSOLMethod
from wsl.methods.registry import register_method

__all__ = ["CAM"]


@register_method("cam")
class CAM(WSOLMethod):
    """Plain CAM: ``loss(net(images)[0], labels)``; no options."""

    def __init__(self) -> None:
        pass
