"""Export CAM overlays, CAM files, an HTML gallery and a contact sheet for a trained checkpoint.

    python tools/export_cams.py --ckpt runs/synthetic-weldon/checkpoints/best.ckpt --data synthetic \
        --split test --out cams_out --classes present --limit 100

The files and the ``.npz`` format are described in :mod:`wsl.viz.cam_files`. ``--layout wsolevaluation``
writes clovaai/wsolevaluation's score maps instead (:mod:`wsl.jobs.scoremaps`): ``OUT/<image_id>.npy``,
float64 224x224 in [0, 1], the ground-truth class's map (single-label data), which its ``evaluation.py``
and ``tools/evaluate.py --cams OUT --protocol wsolevaluation`` read::

    python tools/export_cams.py --ckpt RUN/checkpoints/last.ckpt --data wsol:CUB:dataset/CUB \
        --split test --out scoremaps/test --layout wsolevaluation

``--cam-method gradcam`` (or another post-hoc method of the choices) draws and stores a post-hoc CAM of the
same network instead of its own class maps, on ``--cam-layer`` (default: the backbone's output feature map)::

    python tools/export_cams.py --ckpt RUN/checkpoints/last.ckpt --out cams_gradcam --cam-method gradcam \
        --cam-layer backbone.body.blocks.2

Any classifier (``--model timm:NAME``, ``torchvision:NAME``; ``--pretrained`` or ``--weights FILE``) in
place of a checkpoint: its CAMs are ``--cam-method``'s (default gradcam) on ``--cam-layer`` (default: the
model's usual CAM layer), ``--class-names`` names its outputs (default ``0`` … ``C-1``) and the data's label
``k`` is its output ``k``::

    python tools/export_cams.py --model timm:resnet50.tv_in1k --pretrained --cam-method gradcam \
        --cam-layer layer4 --data wsol:ILSVRC:dataset/ILSVRC --split test --out cams_resnet50

``--data`` defaults to the data the checkpoint was trained on (its data module, else its run's
``config.yaml``); a checkpoint that records none, and ``--model``, need ``--data``.

Errors on the inputs
(missing checkpoint, unknown split, bad threshold, an output path that is a file) print
``error: ...`` and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys

from wsl.cam.stream import CamSource
from wsl.cli import CAM_FLAGS, add_cam_options, check_cam_options, run_tool
from wsl.commands.classifier_flags import MODEL_FLAGS, add_model_options, classifier_from_args
from wsl.commands.parser import tool_parser
from wsl.jobs.export import CLASS_MODES, ExportOptions, export_from_checkpoint, summary_text
from wsl.jobs.logs import tool_logging
from wsl.jobs.scoremaps import export_scoremaps_from_checkpoint
from wsl.jobs.source import CheckpointData
from wsl.trained import TrainedModel

#: ``--layout`` choices: wsl's export folder (overlays, gallery, .npz) or wsolevaluation's score maps.
LAYOUTS = ("wsl", "wsolevaluation")

#: The library's argument names as its error messages spell them → this tool's flags.
FLAGS = {
    "out_dir": "--out",
    "limit": "--limit",
    "threshold": "--threshold",
    "image_size": "--image-size",
    "batch_size": "--batch-size",
    "num_workers": "--num-workers",
    "device": "--device",
    "sheet_size": "--sheet-size",
    "class_names": "--class-names",
    "skip_bad=True": "--skip-bad",
    **CAM_FLAGS,
    **MODEL_FLAGS,
}


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    parser = tool_parser(__doc__)
    add_model_options(parser)
    parser.add_argument(
        "--data",
        default=None,
        help="data spec: synthetic, voc:PATH, coco:PATH ... (--ckpt default: the data it was trained on)",
    )
    parser.add_argument("--split", default="test", help="split to export (default: test)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--layout",
        choices=LAYOUTS,
        default="wsl",
        help="wsl: overlays, gallery and one .npz per image (default); wsolevaluation: OUT/<image_id>.npy, "
        "the ground-truth class's 224x224 float64 map (single-label data), as wsolevaluation reads",
    )
    parser.add_argument(
        "--classes",
        choices=list(CLASS_MODES),
        default=None,
        help="classes to draw per image (default present; --layout wsolevaluation: the ground-truth class)",
    )
    parser.add_argument(
        "--class-names",
        metavar="A,B,C|FILE",
        help="the dataset's classes (comma-separated, or a file of one name a line), for a folder that "
        "does not declare them (VOC without classes.txt); they must be the checkpoint's, in any order "
        "(--model: the names of its outputs, in output order)",
    )
    add_cam_options(parser)
    parser.add_argument("--limit", type=int, default=None, help="export only the first N images")
    parser.add_argument(
        "--threshold",
        default="best",
        help="box threshold in [0, 1), or 'best': the run's best MaxBoxAcc threshold from results.json",
    )
    parser.add_argument("--multi-contour", action="store_true", help="boxes of every contour (MaxBoxAccV2)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="network input side (default: the training size, else 128)",
    )
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N, mps, mps:N or auto")
    parser.add_argument("--sheet-size", type=int, default=32, help="overlays in contact_sheet.png")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--skip-bad", action="store_true", help="skip unreadable or inconsistent samples with one warning"
    )
    return parser


def export(argv: list[str] | None = None) -> dict:
    """Export, with the library's notes printed on stderr."""
    with tool_logging(sys.stderr):
        return _export(argv)


def _export(argv: list[str] | None) -> dict:
    """Parse, export, print the summary; returns :func:`wsl.jobs.export.export_from_checkpoint`'s summary."""
    parser = build_parser()
    args = parser.parse_args(argv)
    model = classifier_from_args(parser, args, threshold=args.threshold)
    check_cam_options(parser, args)
    if args.layout == "wsolevaluation":
        if args.classes not in (None, "gt", "present"):
            raise ValueError(
                f"--classes {args.classes} does not apply to --layout wsolevaluation, which writes the map "
                "of each image's ground-truth class; leave --classes out"
            )
        # a classifier's CAMs: its method, on the layer(s) it was built on
        method, layer = model.cam_source() if model is not None else (args.cam_method, args.cam_layer)
        cam = CamSource(method, layer, args.aug_smooth, args.eigen_smooth)
        maps = export_scoremaps_from_checkpoint(
            _source(args, model), args.out, args.limit, not args.no_progress, cam
        )
        print(
            f"wrote {maps['num_images']} score maps (float64 224x224, wsolevaluation layout) in "
            f"{maps['seconds']:.1f} s: {maps['out_dir']}/<image_id>.npy\n"
            f"score them: tools/evaluate.py --cams {maps['out_dir']} --data {maps['data']} "
            f"--split {args.split} "
            "--single-label "
            "--protocol wsolevaluation"
        )
        return maps
    options = ExportOptions(
        classes=args.classes or "present",
        limit=args.limit,
        multi_contour=args.multi_contour,
        sheet_size=args.sheet_size,
        progress=not args.no_progress,
        cam_method=args.cam_method if model is None else "native",  # a classifier's "native": its method
        cam_layer=args.cam_layer if model is None else None,
        aug_smooth=args.aug_smooth,
        eigen_smooth=args.eigen_smooth,
    )
    summary = export_from_checkpoint(_source(args, model), args.out, options, args.threshold)
    print(summary_text(summary))
    return summary


def _source(args: argparse.Namespace, model: TrainedModel | None) -> CheckpointData:
    """The checkpoint (or the classifier of ``--model``) and the split the flags name."""
    return CheckpointData(
        args.ckpt if model is None else model,
        args.data,
        args.split,
        image_size=args.image_size,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        device=args.device,
        skip_bad=args.skip_bad,
        class_names=args.class_names if model is None else None,
    )


def main(argv: list[str] | None = None) -> int:
    """Export and report. Returns the exit status: 0, or 2 on a user error (argparse's, or the library's)."""
    return run_tool(export, argv, FLAGS)


if __name__ == "__main__":
    sys.exit(main())
