"""Explain any classifier: CAM overlays of a folder of images, or its CAMs scored on a WSOL split.

    python tools/explain.py --model timm:resnet50.tv_in1k --pretrained --images photos/ --out cams/ \
        --method gradcam
    python tools/explain.py --model timm:vit_base_patch16_224 --pretrained --method layercam \
        --data wsol:ILSVRC:dataset/ILSVRC --split test --protocol wsolevaluation --out results.json

``--model`` is ``timm:NAME``, ``torchvision:NAME`` or a timm name (:func:`wsl.cam.load_classifier`);
``--weights FILE`` loads a local state dict instead of ``--pretrained``'s download. ``--layer`` is a dotted
module name (default: the model's usual CAM layer; ViT/DeiT token maps and Swin's channels-last maps are
reshaped automatically). With ``--images`` the tool writes ``OUT/<name>.png`` (the CAM of the top-1 class, or
of ``--target``, over the resized image) and ``OUT/cams.npz`` (``cams`` (N, H, W) float64 in [0, 1],
``targets``, ``scores``, ``names``). With ``--data`` (single-label data whose labels are the classifier's
class indices, as wsolevaluation's ILSVRC metadata) it prints and writes the evaluator's results.
Errors on the inputs print ``error: ...`` and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from wsl.cam import explain, explain_methods, load_classifier
from wsl.cam.explain_eval import evaluate_classifier
from wsl.cli import run_tool
from wsl.commands.parser import tool_parser
from wsl.data import WSLDataModule
from wsl.data.transforms import EvalTransform, denormalize
from wsl.metrics import format_table
from wsl.viz.overlay import overlay_cam

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    parser = tool_parser(__doc__)
    parser.add_argument("--model", required=True, help="timm:NAME, torchvision:NAME or a timm name")
    parser.add_argument("--pretrained", action="store_true", help="download the library's pretrained weights")
    parser.add_argument("--weights", default=None, help="a local state dict to load")
    parser.add_argument(
        "--num-classes", type=int, default=None, help="classifier outputs (default: source's)"
    )
    parser.add_argument(
        "--layer", default=None, help="dotted module name, or a,b to fuse several (default: the usual layer)"
    )
    parser.add_argument("--method", default="gradcam", choices=explain_methods())
    parser.add_argument("--aug-smooth", action="store_true", help="flip x brightness test-time augmentation")
    parser.add_argument("--eigen-smooth", action="store_true", help="first principal component of W*A")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", default=None, help="a folder of images to explain")
    source.add_argument("--data", default=None, help="a data spec with boxes, e.g. wsol:ILSVRC:ROOT")
    parser.add_argument("--split", default="test")
    parser.add_argument("--protocol", default="wsolevaluation", choices=["original", "wsolevaluation"])
    parser.add_argument("--cam-threshold", type=float, default=None, help="also Loc at this CAM threshold")
    parser.add_argument("--faithfulness", action="store_true", help="also deletion/insertion AUC, drop")
    parser.add_argument("--road", action="store_true", help="with --faithfulness, also ROAD (MoRF/LeRF)")
    parser.add_argument("--target", type=int, default=None, help="class to explain (default: top-1)")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--limit", type=int, default=None, help="at most this many images")
    parser.add_argument("--out", required=True, help="folder (--images) or results JSON (--data)")
    return parser


def _folder_images(folder: Path, limit: int | None) -> list[Path]:
    if not folder.is_dir():
        raise ValueError(f"images: {folder} is not a folder; pass a folder of image files")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ValueError(f"images: {folder} holds no image ({', '.join(IMAGE_SUFFIXES)})")
    return paths[:limit]


def explain_folder(model: torch.nn.Module, args: argparse.Namespace) -> dict[str, Any]:
    """Overlays and ``cams.npz`` of every image of ``args.images``."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    transform = EvalTransform(args.image_size)
    paths = _folder_images(Path(args.images), args.limit)
    cams, targets, scores = [], [], []
    for start in range(0, len(paths), args.batch_size):
        chunk = paths[start : start + args.batch_size]
        pixels = [torch.from_numpy(np.array(Image.open(p).convert("RGB"))).permute(2, 0, 1) for p in chunk]
        images = torch.stack([transform(x) for x in pixels])
        result = explain(model, images, layer=args.layer, method=args.method, targets=args.target,
                         aug_smooth=args.aug_smooth, eigen_smooth=args.eigen_smooth)  # fmt: skip
        for path, rgb, cam in zip(chunk, denormalize(images), result.cams[:, 0], strict=True):
            Image.fromarray(overlay_cam(rgb, cam.numpy())).save(out / f"{path.stem}.png")
        cams.append(result.cams[:, 0].numpy())
        targets.append(result.targets[:, 0].numpy())
        scores.append(result.scores.numpy())
    names = np.array([p.name for p in paths])
    np.savez_compressed(out / "cams.npz", cams=np.concatenate(cams), targets=np.concatenate(targets),
                        scores=np.concatenate(scores), names=names)  # fmt: skip
    print(f"{len(paths)} overlays and cams.npz in {out}")
    return {"images": len(paths), "out": str(out)}


def evaluate_data(model: torch.nn.Module, args: argparse.Namespace) -> dict[str, Any]:
    """The evaluator's results on ``args.data``/``args.split``, printed and written to ``args.out``."""
    dm = WSLDataModule(args.data, image_size=args.image_size, batch_size=args.batch_size, num_workers=0,
                       single_label=True)  # fmt: skip
    loader = dm.dataloader(args.split, limit=args.limit)
    results = evaluate_classifier(model, loader, layer=args.layer, protocol=args.protocol, method=args.method,
                                  cam_threshold=args.cam_threshold, faithfulness=args.faithfulness,
                                  road=args.road, aug_smooth=args.aug_smooth,
                                  eigen_smooth=args.eigen_smooth)  # fmt: skip
    name = f"{args.model} {args.method}"
    print(f"\n{args.data} / {args.split}, {args.protocol} frame, percentages:\n")
    print(format_table([(name, {k: v for k, v in results.items() if k != "images_scored"})]))
    payload = {"model": args.model, "method": args.method, "layer": args.layer, "protocol": args.protocol,
               "split": args.split, "results": results}  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(payload, indent=2, allow_nan=True))
    return payload


def run(argv: list[str] | None = None) -> dict[str, Any]:
    """Parse, build the classifier and explain a folder or evaluate a split."""
    args = build_parser().parse_args(argv)
    model = load_classifier(args.model, args.pretrained, args.weights, args.num_classes)
    return explain_folder(model, args) if args.images else evaluate_data(model, args)


def main(argv: list[str] | None = None) -> int:
    """Run; 2 on bad input."""
    return run_tool(run, argv)


if __name__ == "__main__":
    sys.exit(main())
