"""Score a trained model, or CAMs saved by any method, on a VOC / COCO / synthetic split.

    python tools/evaluate.py --ckpt runs/synthetic-weldon/checkpoints/best.ckpt --split test
    python tools/evaluate.py --cams my_cams/ --data voc:/data/VOC2007 --split test
    python tools/evaluate.py --ckpt best.ckpt --data voc:/data/VOC2007 \
        --pointing-difficult TorchRay/torchray/benchmark/pointing_game_ebp_voc07_difficult.txt

Prints a table (percentages) and writes the fractions to JSON.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from wsl.cli import run_tool
from wsl.inference import evaluate_cams, evaluate_from_checkpoint
from wsl.metrics import format_table
from wsl.runs import RunFolder, check_writable_file, write_json
from wsl.viz.export import parse_class_names

#: The library's argument names as its error messages spell them → this tool's flags.
FLAGS = {
    "cam_dir": "--cams",
    "skip_missing=True": "--skip-missing",
    "pointing subset": "--pointing-difficult",
    "image_size": "--image-size",
    "device": "--device",
    "class_names": "--class-names",
    "skip_bad=True": "--skip-bad",
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--ckpt", help="a checkpoint written by tools/train.py")
    source.add_argument("--cams", help="a folder of <image_id>.npz (one map per class) or .npy CAMs")
    parser.add_argument("--data", default="synthetic", help="synthetic | voc:PATH | coco:PATH")
    parser.add_argument("--split", default="test")
    parser.add_argument(
        "--image-size", type=int, default=None, help="network input size (default: the training size, or 128)"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--num-workers", type=int, default=None, help="loader workers (default: 2 with --ckpt, 0 with --cams)"
    )
    parser.add_argument("--single-label", action="store_true", help="--cams: one class per image")
    parser.add_argument("--class-names", type=parse_class_names, help="--cams: the classes, a,b,c or a file")
    parser.add_argument(
        "--skip-bad", action="store_true", help="skip unreadable or inconsistent samples with one warning"
    )
    parser.add_argument("--skip-missing", action="store_true", help="--cams: score only images with a file")
    parser.add_argument(
        "--cam-curve-interval",
        type=float,
        default=None,
        help="--cams: threshold grid step (default: 0.01, or 0.001 with --protocol wsolevaluation)",
    )
    parser.add_argument(
        "--protocol",
        choices=("original", "wsolevaluation"),
        default=None,
        help="evaluation frame: original (each image's own size; default) or wsolevaluation (224x224, "
        "bicubic CAMs, rescaled boxes: the frame of the CUB/ImageNet/OpenImages tables; docs/protocols.md); "
        "--ckpt default: the checkpoint's",
    )
    parser.add_argument(
        "--pointing-difficult",
        metavar="FILE",
        help="TorchRay's per-(image, class) flag file (e.g. pointing_game_ebp_voc07_difficult.txt): also "
        "report the pointing game on that 'difficult' subset",
    )
    parser.add_argument("--device", default="auto", help="cpu | cuda | cuda:N | auto")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--out", help="JSON file (default: evaluation_<split>.json in the run or CAM folder)")
    return parser.parse_args(argv)


def evaluate(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    # Saved CAMs need no image decoding: worker processes would cost more to start than they save.
    workers = args.num_workers if args.num_workers is not None else (2 if args.ckpt else 0)
    common = dict(data=args.data, split=args.split, batch_size=args.batch_size, num_workers=workers)
    common.update(
        pointing_subset=args.pointing_difficult, progress=not args.no_progress, skip_bad=args.skip_bad
    )
    folder = RunFolder.of_checkpoint(args.ckpt).root if args.ckpt else Path(args.cams)
    out = check_writable_file(args.out or folder / f"evaluation_{args.split}.json", "--out")
    if args.ckpt:
        payload = evaluate_from_checkpoint(
            args.ckpt,
            image_size=args.image_size,
            device=args.device,
            log_note=print,
            protocol=args.protocol,
            **common,
        )
    else:
        payload = evaluate_cams(
            args.cams,
            single_label=args.single_label,
            cam_curve_interval=args.cam_curve_interval,
            skip_missing=args.skip_missing,
            class_names=args.class_names,
            protocol=args.protocol or "original",
            **common,
        )
    results = payload["results"]
    protocol = payload.get("protocol", "original")
    print(f"\n{args.data} / {args.split}, {protocol} frame, percentages:\n")
    print(format_table([(payload.pop("name"), {k: v for k, v in results.items() if k != "images_scored"})]))
    write_json(out, payload)
    print(f"\nresults: {out}")
    return payload


def main(argv: list[str] | None = None) -> int:
    """Evaluate and report; 2 on bad input."""
    return run_tool(evaluate, argv, FLAGS)


if __name__ == "__main__":
    sys.exit(main())
