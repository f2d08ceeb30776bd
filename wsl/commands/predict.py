"""Run a trained model on your own images: overlays, CAM files, a gallery, a contact sheet, COCO detections.

    python tools/predict.py --ckpt runs/synthetic-weldon/checkpoints/best.ckpt --images photos/ \
        --out predictions --top-k 1

``--images`` takes files, folders and glob patterns (JPEG, PNG, WebP; EXIF orientation applied).
Files that cannot be read are listed in one warning and skipped. ``OUT/detections.json`` is in COCO's
results format (ids in ``OUT/images.json``); with ``--coco-gt instances.json`` it uses that file's image
and category ids, so that ``pycocotools`` can score it. The layout is in :mod:`wsl.jobs.predict.folder`.
``--model timm:NAME`` (``torchvision:NAME``; ``--pretrained`` or ``--weights FILE``) predicts with any
classifier instead: its CAMs are ``--cam-method``'s (default gradcam) on ``--cam-layer`` (default: its usual
CAM layer), ``--class-names`` names its outputs (default ``0`` … ``C-1``)::

    python tools/predict.py --model timm:resnet50.tv_in1k --pretrained --images photos/ --out predictions \
        --class-names imagenet_classes.txt --top-k 1

Errors on the inputs print ``error: ...`` and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys

from wsl.cli import CAM_FLAGS, add_cam_options, check_cam_options, run_tool
from wsl.commands.classifier_flags import MODEL_FLAGS, add_model_options, classifier_from_args
from wsl.commands.parser import tool_parser
from wsl.jobs.logs import tool_logging
from wsl.jobs.predict import predict_to_folder, summary_text

#: The library's argument names as its error messages spell them → this tool's flags.
FLAGS = {
    "out_dir": "--out",
    "images": "--images",
    "top_k": "--top-k",
    "min_score": "--min-score",
    "threshold": "--threshold",
    "image_size": "--image-size",
    "batch_size": "--batch-size",
    "device": "--device",
    "coco_gt": "--coco-gt",
    "sheet_size": "--sheet-size",
    "checkpoint": "--ckpt",
    **CAM_FLAGS,
    **MODEL_FLAGS,
    "class_names": "--class-names",
}


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    parser = tool_parser(__doc__)
    add_model_options(parser, "checkpoint written by tools/train.py, or a save_pretrained folder")
    parser.add_argument(
        "--class-names",
        metavar="A,B,C|FILE",
        default=None,
        help="--model: the names of its outputs, in order",
    )
    parser.add_argument("--images", required=True, nargs="+", help="image files, folders or glob patterns")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--top-k", type=int, default=None, help="classes per image (default 1)")
    parser.add_argument(
        "--min-score",
        type=float,
        default=None,
        help="classes with probability >= P (with --top-k: at most k)",
    )
    parser.add_argument(
        "--threshold",
        default="best",
        help="box threshold in [0, 1), or 'best': the run's best MaxBoxAcc threshold from results.json",
    )
    add_cam_options(parser)
    parser.add_argument("--coco-gt", default=None, help="COCO annotations whose image/category ids to use")
    parser.add_argument("--multi-contour", action="store_true", help="boxes of every contour (MaxBoxAccV2)")
    parser.add_argument("--image-size", type=int, default=None, help="network input side (default: training)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N, mps, mps:N or auto")
    parser.add_argument("--sheet-size", type=int, default=32, help="overlays in contact_sheet.png")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def run(argv: list[str] | None = None) -> dict:
    """Predict, with the library's notes and skipped files printed on stderr."""
    with tool_logging(sys.stderr):
        return _run(argv)


def _run(argv: list[str] | None) -> dict:
    """Parse, predict, print the summary; returns :func:`wsl.jobs.predict.predict_to_folder`'s summary."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.class_names is not None and args.model is None:
        parser.error(
            "--class-names names the outputs of a --model classifier (a checkpoint knows its classes)"
        )
    model = classifier_from_args(parser, args, threshold=args.threshold)
    check_cam_options(parser, args)
    summary = predict_to_folder(
        args.ckpt if model is None else model,
        args.images,
        args.out,
        top_k=args.top_k,
        min_score=args.min_score,
        threshold=args.threshold,
        image_size=args.image_size,
        device=args.device,
        coco_gt=args.coco_gt,
        multi_contour=args.multi_contour,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        sheet_size=args.sheet_size,
        progress=not args.no_progress,
        cam_method=args.cam_method,
        cam_layer=args.cam_layer if model is None else None,  # a classifier's layer is in the model
        aug_smooth=args.aug_smooth,
        eigen_smooth=args.eigen_smooth,
    )
    print(summary_text(summary))
    return summary


def main(argv: list[str] | None = None) -> int:
    """Predict and report. Returns the exit status: 0, or 2 on a user error (argparse's, or the library's)."""
    return run_tool(run, argv, FLAGS)


if __name__ == "__main__":
    sys.exit(main())
