"""Which classes of an image get a CAM: one rule per policy, in one registry.

- ``gt``: the classes that have ground-truth boxes, except those whose boxes are all ``difficult``
  (VOC protocol). These are the evaluation trials: GT-known localization, PxAP and the pointing game.
- ``present``: the image-level positive labels (``labels > 0``).
- ``top1``: the top-scoring class.
- ``all``: every class.

A policy is ``fn(scores (C,) or None, item) -> list[int]`` where ``item`` holds the image's
``labels`` / ``box_labels`` / ``difficult``; :func:`select_classes` applies it to a collated batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from wsl.registry import Registry

__all__ = ["CLASS_POLICIES", "check_policy", "select_classes", "gt_classes", "register_policy"]

Policy = Callable[[torch.Tensor | None, Mapping[str, Any]], list[int]]

#: Policy name → rule.
CLASS_POLICIES: Registry[Policy] = Registry("class policy", what="classes")


def register_policy(name: str) -> Callable[[Policy], Policy]:
    """Decorator that adds a class-selection rule to :data:`CLASS_POLICIES`."""
    return CLASS_POLICIES.register(name)


def gt_classes(box_labels: torch.Tensor, difficult: torch.Tensor) -> list[int]:
    """Ascending classes with at least one non-``difficult`` ground-truth box.

    Example:
        >>> gt_classes(torch.tensor([3, 1, 3]), torch.tensor([False, True, False]))
        [3]
    """
    return [c for c in torch.unique(box_labels).tolist() if not bool(difficult[box_labels == c].all())]


def _need(item: Mapping[str, Any], key: str, policy: str) -> Any:
    if item.get(key) is None:
        raise ValueError(
            f"class policy {policy!r} needs the batch key {key!r}; use 'top1' or 'all' without it"
        )
    return item[key]


@register_policy("gt")
def _gt(scores: torch.Tensor | None, item: Mapping[str, Any]) -> list[int]:
    return gt_classes(_need(item, "box_labels", "gt"), _need(item, "difficult", "gt"))


@register_policy("present")
def _present(scores: torch.Tensor | None, item: Mapping[str, Any]) -> list[int]:
    return torch.nonzero(_need(item, "labels", "present") > 0).flatten().tolist()


@register_policy("top1")
def _top1(scores: torch.Tensor | None, item: Mapping[str, Any]) -> list[int]:
    if scores is None:
        raise ValueError(
            "class policy 'top1' needs the image scores; saved CAMs have none: use 'gt' or 'present'"
        )
    return [int(scores.argmax())]


@register_policy("all")
def _all(scores: torch.Tensor | None, item: Mapping[str, Any]) -> list[int]:
    if scores is None:
        raise ValueError("class policy 'all' needs the image scores to know C; use 'gt' or 'present'")
    return list(range(int(scores.shape[-1])))


def check_policy(policy: str) -> Policy:
    """The rule of ``policy``; an unknown name lists the choices and the closest one."""
    return CLASS_POLICIES.lookup(policy)


def select_classes(
    policy: str, batch: Mapping[str, Any], scores: torch.Tensor | None = None
) -> list[list[int]]:
    """The classes of every image of a collated batch under ``policy``.

    Args:
        policy: a name of :data:`CLASS_POLICIES`.
        batch: collated batch (``image_id`` and the keys the policy reads).
        scores: (B, C) image scores, for ``top1`` and ``all``.

    Returns:
        One ascending list of class indices per image (``top1``: one index).
    """
    rule = check_policy(policy)
    keys = ("labels", "box_labels", "difficult")
    out = []
    for i in range(len(batch["image_id"])):
        item = {k: batch[k][i] for k in keys if batch.get(k) is not None}
        out.append(rule(None if scores is None else scores[i], item))
    return out
