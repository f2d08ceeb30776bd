"""Write the synthetic shapes dataset as VOC or COCO files (any registered format with a writer).

Example: ``python tools/make_synthetic.py --format coco --out /tmp/shapes --preset easy --seed 0``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from wsl.commands.parser import tool_parser
from wsl.data import PRESETS, format_names, make_synthetic
from wsl.runs import check_writable_dir


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    p = tool_parser(__doc__.splitlines()[0])
    p.add_argument(
        "--format", choices=format_names(writable=True), default="voc", help="file layout (default voc)"
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0, help="seed; files are byte-identical for a seed")
    p.add_argument("--preset", choices=sorted(PRESETS), default="easy", help="parameter preset")
    p.add_argument("--num-train", type=int, help="images in the train split (default: preset's)")
    p.add_argument("--num-val", type=int, help="images in the val split")
    p.add_argument("--num-test", type=int, help="images in the test split")
    p.add_argument("--image-size", type=int, help="image side in pixels")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: CPU count)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and generate; returns 0, or 2 with one ``error:`` line for bad input (e.g. an
    ``--out`` that cannot be written, checked before any image is drawn)."""
    from wsl.cli import run_tool

    return run_tool(_generate, None if argv is None else list(argv))


def _generate(argv: Sequence[str] | None) -> None:
    args = build_parser().parse_args(argv)
    check_writable_dir(args.out, "--out")
    overrides = {
        k: v
        for k, v in {
            "num_train": args.num_train,
            "num_val": args.num_val,
            "num_test": args.num_test,
            "image_size": args.image_size,
        }.items()
        if v is not None
    }
    start = time.perf_counter()
    root = make_synthetic(
        args.out, args.format, args.preset, args.seed, num_workers=args.workers, **overrides
    )
    print(
        f"wrote {args.preset} synthetic set ({args.format}) to {root} in {time.perf_counter() - start:.1f} s"
    )


if __name__ == "__main__":
    raise SystemExit(main())
