"""``--ckpt`` or ``--model``: the flags by which ``evaluate``, ``export_cams`` and ``predict`` take any
classifier.

``--model timm:NAME`` (``torchvision:NAME``, a bare timm name) with ``--pretrained`` or ``--weights FILE`` and
``--num-classes`` builds a classifier (:func:`wsl.cam.load_classifier`); the tool's ``--cam-method`` (its
``native`` default means gradcam here) and ``--cam-layer`` (default: the model's usual CAM layer) choose its
CAMs, ``--class-names`` names its outputs (:meth:`wsl.trained.TrainedModel.from_classifier`).
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from wsl.runs import parse_threshold
from wsl.trained import TrainedModel

__all__ = ["MODEL_FLAGS", "add_model_flags", "add_model_options", "add_model_source", "classifier_from_args"]

log = logging.getLogger(__name__)

#: The classifier options' names as the library's errors spell them → the flags.
MODEL_FLAGS = {"weights": "--weights", "num_classes": "--num-classes"}


def add_model_options(
    parser: argparse.ArgumentParser, ckpt_help: str = "checkpoint written by tools/train.py"
) -> None:
    """Add the required choice ``--ckpt FILE | --model NAME`` and ``--pretrained``, ``--weights``,
    ``--num-classes`` (read back with :func:`classifier_from_args`)."""
    add_model_source(parser.add_mutually_exclusive_group(required=True), ckpt_help)
    add_model_flags(parser)


def add_model_source(group: Any, ckpt_help: str, model_note: str = "") -> None:
    """Add ``--ckpt FILE`` and ``--model NAME`` to a mutually exclusive ``group``.

    For a tool with more sources in the same group (evaluate's ``--cams``, ``--center``), which then
    calls :func:`add_model_flags`; ``model_note`` is appended to ``--model``'s help.
    """
    group.add_argument("--ckpt", default=None, help=ckpt_help)
    group.add_argument(
        "--model",
        default=None,
        metavar="timm:NAME|torchvision:NAME",
        help="any classifier instead of a checkpoint: its CAMs are --cam-method's (default gradcam) on "
        f"--cam-layer (default: its usual CAM layer){model_note}",
    )


def add_model_flags(parser: argparse.ArgumentParser) -> None:
    """Add ``--pretrained``, ``--weights FILE`` and ``--num-classes N``, which build a ``--model``."""
    parser.add_argument("--pretrained", action="store_true", help="--model: download its library's weights")
    parser.add_argument("--weights", default=None, help="--model: a local state dict to load")
    parser.add_argument("--num-classes", type=int, default=None, help="--model: its outputs (default: 1000)")


def classifier_from_args(
    parser: argparse.ArgumentParser, args: argparse.Namespace, *, threshold: str | None
) -> TrainedModel | None:
    """The classifier ``--model`` names, built with the tool's flags; None for ``--ckpt``.

    ``--cam-method native`` (the default) becomes ``gradcam`` with a note: a classifier has no class maps.
    ``threshold`` is the tool's ``--threshold`` (None for a tool without one, e.g. evaluate, whose boxes
    are every threshold's): ``best`` or ``auto`` (or None) means :data:`wsl.runs.DEFAULT_THRESHOLD`, with
    a note; a number in [0, 1) is the box threshold.
    """
    if args.model is None:
        if args.pretrained or args.weights is not None or args.num_classes is not None:
            parser.error(
                "--pretrained, --weights and --num-classes build a --model classifier; not for --ckpt"
            )
        return None
    if args.cam_method == "native":
        args.cam_method = "gradcam"
        log.info("note: a classifier has no class maps of its own; using --cam-method gradcam")
    return TrainedModel.from_classifier(
        args.model,
        method=args.cam_method,
        layer=args.cam_layer,
        class_names=args.class_names,
        image_size=args.image_size,
        threshold=None if threshold in (None, "best", "auto") else parse_threshold(threshold),
        device=args.device,
        pretrained=args.pretrained,
        weights=args.weights,
        num_classes=args.num_classes,
    )
