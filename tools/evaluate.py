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

import torch

from wsl.checkpoint import check_class_names, load_module
from wsl.cli import run_tool, write_json_atomic
from wsl.data import WSLDataModule
from wsl.evaluation import format_table, read_pointing_subset
from wsl.inference import evaluate_cam_folder, evaluate_model


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
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--single-label", action="store_true", help="one class per image (Top-1 Loc)")
    parser.add_argument("--skip-missing", action="store_true", help="--cams: score only images with a file")
    parser.add_argument("--cam-curve-interval", type=float, default=0.01)
    parser.add_argument(
        "--pointing-difficult",
        metavar="FILE",
        help="TorchRay's per-(image, class) flag file (e.g. pointing_game_ebp_voc07_difficult.txt): also "
        "report the pointing game on that 'difficult' subset",
    )
    parser.add_argument("--device", default="auto", help="cpu | cuda | auto")
    parser.add_argument("--out", help="JSON file (default: evaluation_<split>.json beside the checkpoint)")
    return parser.parse_args(argv)


def training_image_size(ckpt: str | None, default: int = 128) -> int:
    """The image size the checkpoint's data module was configured with (stored by Lightning)."""
    if ckpt and Path(ckpt).is_file():
        try:
            payload = torch.load(ckpt, map_location="cpu", weights_only=True, mmap=True)
        except Exception:  # noqa: BLE001 - load_module reports an unreadable checkpoint with a clear error
            return default
        return int(payload.get("datamodule_hyper_parameters", {}).get("image_size", default))
    return default


def evaluate(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    data = WSLDataModule(
        args.data,
        image_size=args.image_size or training_image_size(args.ckpt),
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        single_label=args.single_label,
    )
    loader = data.dataloader(args.split)
    subset = None
    if args.pointing_difficult:
        subset = read_pointing_subset(args.pointing_difficult, data.num_classes)
    if args.ckpt:
        device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
        module = load_module(args.ckpt, map_location="cpu" if device == "auto" else device)
        check_class_names(module, data.class_names, args.data)
        results = evaluate_model(module, loader, pointing_subset=subset)
        name = f"{module.hparams.pool} / {module.hparams.backbone}"
        out = Path(args.out) if args.out else Path(args.ckpt).parent.parent / f"evaluation_{args.split}.json"
    else:
        results = evaluate_cam_folder(
            args.cams,
            loader,
            data.class_names,
            single_label=args.single_label,
            cam_curve_interval=args.cam_curve_interval,
            skip_missing=args.skip_missing,
            pointing_subset=subset,
        )
        name = Path(args.cams).name
        out = Path(args.out) if args.out else Path(args.cams) / f"evaluation_{args.split}.json"
    print(f"\n{args.data} / {args.split}, percentages:\n")
    print(format_table([(name, {k: v for k, v in results.items() if k != "images_scored"})]))
    payload = {"data": args.data, "split": args.split, "source": args.ckpt or args.cams, "results": results}
    write_json_atomic(out, payload)
    print(f"\nresults: {out}")
    return payload


def main(argv: list[str] | None = None) -> int:
    """Evaluate and report; 2 on bad input."""
    return run_tool(evaluate, argv)


if __name__ == "__main__":
    sys.exit(main())
