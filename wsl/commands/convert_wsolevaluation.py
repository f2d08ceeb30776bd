"""Convert a checkpoint written by clovaai/wsolevaluation's main.py into a wsl checkpoint.

    python tools/convert_wsolevaluation.py --source train_log/cub_resnet/last_checkpoint.pth.tar \
        --large-feature-map true --data wsol:CUB:dataset/CUB:metadata=metadata \
        --out runs/wsolevaluation-CUB-resnet50/checkpoints/last.ckpt

The result is scored, exported and used for prediction like a checkpoint of tools/train.py::

    python tools/evaluate.py --ckpt runs/wsolevaluation-CUB-resnet50/checkpoints/last.ckpt \
        --data wsol:CUB:dataset/CUB:metadata=metadata --split test

Every architecture of the WSOL table converts (``--architecture`` resnet50, vgg16, inception_v3, read from
the checkpoint) with the methods cam, has, cutmix, adl and spg, and ResNet50's acol (upstream's VGG16 and
InceptionV3 ACoL networks have no wsl counterpart yet). The method is read from the keys; ``--method``
names it where the keys cannot (has and cutmix train the CAM network; InceptionV3's adl network has the
CAM network's keys: pass ``--method adl``). The scores equal upstream's logits and the class maps its
CAMs, for ResNet50 and VGG16 CAM networks up to a positive scale and a shift that min-max normalisation
removes (:mod:`wsl.models.wsolevaluation`, :mod:`wsl.models.wsolevaluation_vgg`).
``--large-feature-map`` must be the value the run used (only VGG16's cam / adl keys record it; a
different value is then refused). The class names come from ``--data`` (the dataset the model was
trained on) or ``--class-names``. Errors on the inputs print ``error: ...`` and exit with status 2.

    python tools/convert_wsolevaluation.py --source train_log/inception_adl/last_checkpoint.pth.tar \
        --large-feature-map true --method adl --data wsol:CUB:dataset/CUB:metadata=metadata \
        --out runs/wsolevaluation-CUB-inception_v3-adl/checkpoints/last.ckpt
"""

from __future__ import annotations

import argparse
import sys

from wsl.cli import run_tool
from wsl.commands.parser import tool_parser
from wsl.models.wsolevaluation import convert_wsolevaluation_checkpoint

#: The library's argument names as its error messages spell them → this tool's flags.
FLAGS = {
    "source": "--source",
    "large_feature_map": "--large-feature-map",
    "class_names": "--class-names",
    "image_size": "--image-size",
    "method": "--method",
}
#: upstream's --wsol_method values.
METHODS = ("cam", "has", "cutmix", "adl", "acol", "spg")
_BOOLS = {"true": True, "false": False}


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    parser = tool_parser(__doc__)
    parser.add_argument("--source", required=True, help="wsolevaluation's *_checkpoint.pth.tar")
    parser.add_argument("--out", required=True, help="the .ckpt to write")
    parser.add_argument(
        "--large-feature-map",
        required=True,
        choices=sorted(_BOOLS),
        help="upstream's --large_feature_map of that run: true (28x28 at 224 px) or false (14x14)",
    )
    names = parser.add_mutually_exclusive_group(required=True)
    names.add_argument("--data", help="the data spec of the dataset it was trained on, for its class names")
    names.add_argument(
        "--class-names", metavar="A,B,C|FILE", help="the class names in label order (comma list or file)"
    )
    parser.add_argument("--image-size", type=int, default=224, help="input side the tools use (default 224)")
    parser.add_argument(
        "--method",
        choices=METHODS,
        default=None,
        help="upstream's --wsol_method of that run (default: read from the keys; has / cutmix read as cam, "
        "and so does InceptionV3's adl)",
    )
    return parser


def convert(argv: list[str] | None = None) -> dict:
    """Parse, convert, print where the checkpoint went; returns the converter's summary."""
    args = build_parser().parse_args(argv)
    if args.data is not None:
        from wsl.data import WSLDataModule

        class_names = list(WSLDataModule(args.data).class_names)
    else:
        from wsl.trained import parse_class_names

        class_names = parse_class_names(args.class_names)
    summary = convert_wsolevaluation_checkpoint(
        args.source,
        args.out,
        large_feature_map=_BOOLS[args.large_feature_map],
        class_names=class_names,
        image_size=args.image_size,
        method=args.method,
    )
    print(
        f"wrote {summary['out']}: wsolevaluation {summary['architecture']} {summary['method']}, "
        f"{summary['num_classes']} "
        f"classes, large_feature_map {summary['large_feature_map']}, epoch {summary['epoch']}"
    )
    return summary


def main(argv: list[str] | None = None) -> int:
    """Convert and report. Returns the exit status: 0, or 2 on a user error (argparse's, or the library's)."""
    return run_tool(convert, argv, FLAGS)


if __name__ == "__main__":
    sys.exit(main())
