"""``--ckpt`` or ``--model``: the flags by which ``export_cams`` and ``predict`` take any classifier.

``--model timm:NAME`` (``torchvision:NAME``, a bare timm name) with ``--pretrained`` or ``--weights FILE`` and
``--num-classes`` builds a classifier (:func:`wsl.cam.load_classifier`); the tool's ``--cam-method`` (its
``native`` default means gradcam here) and ``--cam-layer`` (default: the model's usual CAM layer) choose its
CAMs, ``--class-names`` names its outputs (:meth:`wsl.trained.TrainedModel.from_classifier`).
"""

from __future__ import annotations

import argparse
import logging

from wsl.runs import parse_threshold
from wsl.trained import TrainedModel

__all__ = ["MODEL_FLAGS", "add_model_options", "classifier_from_args"]

log = logging.getLogger(__name__)

#: The classifier options' names as the library's errors spell them → the flags.
MODEL_FLAGS = {"weights": "--weights", "num_classes": "--num-classes"}


def add_model_options(
    parser: argparse.ArgumentParser, ckpt_help: str = "checkpoint written by tools/train.py"
) -> None:
    """Add the required choice ``--ckpt FILE | --model NAME`` and ``--pretrained``, ``--weights``,
    ``--num-classes`` (read back with :func:`classifier_from_args`)."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--ckpt", default=None, help=ckpt_help)
    source.add_argument(
        "--model",
        default=None,
        metavar="timm:NAME|torchvision:NAME",
        help="any classifier instead of a checkpoint: its CAMs are --cam-method's (default gradcam) on "
        "--cam-layer (default: its usual CAM layer)",
    )
    parser.add_argument("--pretrained", action="store_true", help="--model: download its library's weights")
    parser.add_argument("--weights", default=None, help="--model: a local state dict to load")
    parser.add_argument("--num-classes", type=int, default=None, help="--model: its outputs (default: 1000)")


def classifier_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> TrainedModel | None:
    """The classifier ``--model`` names, built with the tool's flags; None for ``--ckpt``.

    ``--cam-method native`` (the default) becomes ``gradcam`` with a note: a classifier has no class maps.
    ``--threshold best`` (the default) means :data:`wsl.runs.DEFAULT_THRESHOLD`, with a note.
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
    given = getattr(args, "threshold", None)  # evaluate has no --threshold: its boxes are every threshold's
    threshold = None if given in (None, "best", "auto") else parse_threshold(given)
    return TrainedModel.from_classifier(
        args.model,
        method=args.cam_method,
        layer=args.cam_layer,
        class_names=getattr(args, "class_names", None),
        image_size=args.image_size,
        threshold=threshold,
        device=args.device,
        pretrained=args.pretrained,
        weights=args.weights,
        num_classes=args.num_classes,
    )
