"""Export CAM overlays, CAM files, an HTML gallery and a contact sheet for a trained checkpoint.

    python tools/export_cams.py --ckpt runs/synthetic-weldon/checkpoints/best.ckpt --data synthetic \
        --split test --out cams_out --classes present --limit 100

The files and the ``.npz`` format are described in :mod:`wsl.viz.export`. Errors on the inputs
(missing checkpoint, class mismatch, unknown split, bad threshold, an output path that is a file) print
``error: ...`` and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys

from wsl.viz.export import CLASS_MODES, export_from_checkpoint


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ckpt", required=True, help="checkpoint written by tools/train.py")
    parser.add_argument("--data", default="synthetic", help="data spec: synthetic, voc:PATH, coco:PATH ...")
    parser.add_argument("--split", default="test", help="split to export (default: test)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--classes", choices=CLASS_MODES, default="present", help="classes to draw per image")
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
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--sheet-size", type=int, default=32, help="overlays in contact_sheet.png")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse, export, print a summary. Returns the exit status (0, or 2 on a user error)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help (0) or an argparse error (2, message already printed)
        return int(exit_.code or 0)
    try:
        summary = export_from_checkpoint(
            args.ckpt,
            args.data,
            args.split,
            args.out,
            classes=args.classes,
            limit=args.limit,
            threshold=args.threshold,
            image_size=args.image_size,
            batch_size=args.batch_size,
            num_workers=args.num_workers,
            device=args.device,
            progress=not args.no_progress,
            multi_contour=args.multi_contour,
            sheet_size=args.sheet_size,
            log=lambda line: print(line, file=sys.stderr),
        )
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    iou, seconds = summary["mean_iou"], summary["seconds"]
    print(
        f"exported {summary['num_cams']} CAMs of {summary['num_images']} images in {seconds:.1f} s "
        f"(threshold {summary['threshold']:.2f}"
        + (f", mean IoU {iou:.3f}, BoxAcc@0.5 {summary['box_acc']:.3f}" if iou is not None else "")
        + f")\ngallery: {summary['index']}\nCAM files (tools/evaluate.py --cams): {summary['out_dir']}/cams"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
