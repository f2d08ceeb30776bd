r"""Score a trained model, or CAMs saved by any method, on a VOC / COCO / synthetic split.

    python tools/evaluate.py --ckpt runs/synthetic-weldon/checkpoints/best.ckpt --split test
    python tools/evaluate.py --cams my_cams/ --data voc:/data/VOC2007 --split test
    python tools/evaluate.py --ckpt best.ckpt --data voc:/data/VOC2007 \
        --pointing-difficult TorchRay/torchray/benchmark/pointing_game_ebp_voc07_difficult.txt
    python tools/evaluate.py --ckpt best.ckpt --cam-method gradcam [--cam-layer backbone.body.layer3]
    python tools/evaluate.py --center --data voc:/data/VOC2007 --split test
    python tools/evaluate.py --model timm:resnet50.tv_in1k --pretrained --cam-method gradcam \
        --data wsol:ILSVRC:dataset/ILSVRC --split test --protocol wsolevaluation

--cam-method scores a post-hoc CAM of the checkpoint's network (gradcam, layercam, scorecam, fullgrad, ...;
default native, its own class maps) on --cam-layer (default: the backbone's output feature map); --center
(or --cam-method center) scores the center baseline, a fixed centred Gaussian, with no model. --model scores
any classifier instead of a checkpoint (timm:NAME, torchvision:NAME; --pretrained or --weights FILE,
--num-classes): its CAMs are --cam-method's (default gradcam) on --cam-layer (default: its usual CAM layer),
on data whose class label k is its output k (wsolevaluation's ILSVRC labels are ImageNet's indices).

Prints a table (percentages) and writes the fractions to JSON.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from wsl.cam import CENTER_SIGMA, POSTHOC_METHODS
from wsl.cli import CAM_FLAGS, add_smoothing_options, run_tool
from wsl.commands.classifier_flags import MODEL_FLAGS, add_model_flags, add_model_source, classifier_from_args
from wsl.commands.parser import tool_parser
from wsl.jobs.evaluate import evaluate_cams, evaluate_center, evaluate_from_checkpoint
from wsl.jobs.logs import tool_logging
from wsl.metrics import format_table
from wsl.runs import RunFolder, check_writable_file, write_json
from wsl.trained import parse_class_names

#: The library's argument names as its error messages spell them → this tool's flags.
FLAGS = {
    "cam_dir": "--cams",
    "skip_missing=True": "--skip-missing",
    "workers": "--workers",
    "pointing subset": "--pointing-difficult",
    "image_size": "--image-size",
    "device": "--device",
    "class_names": "--class-names",
    "skip_bad=True": "--skip-bad",
    **CAM_FLAGS,
    "center sigma": "--center-sigma",
    **MODEL_FLAGS,
}

#: ``--cam-method`` choices: the post-hoc registry and the center baseline.
CAM_METHODS = [*sorted(POSTHOC_METHODS), "center"]


def build_parser() -> argparse.ArgumentParser:
    """The command-line options (``--config FILE`` / ``--print_config`` included)."""
    parser = tool_parser(__doc__)
    _add_source_flags(parser)
    _add_data_flags(parser)
    _add_output_flags(parser)
    return parser


def parse_args(argv: list[str] | None) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    """The parser and the checked options."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_args(parser, args)
    return parser, args


def _add_source_flags(parser: argparse.ArgumentParser) -> None:
    """What is scored: --ckpt, --cams or --center, and the CAM method."""
    source = parser.add_mutually_exclusive_group()  # one of them: _check_args (--cam-method center too)
    add_model_source(source, "a checkpoint written by tools/train.py", model_note="; needs --data")
    source.add_argument("--cams", help="a folder of <image_id>.npz (one map per class) or .npy CAMs")
    source.add_argument(
        "--center", action="store_true", help="score the center baseline (a centred Gaussian; no model)"
    )
    add_model_flags(parser)
    parser.add_argument(
        "--cam-method",
        choices=CAM_METHODS,
        default=None,
        help="--ckpt: the CAMs to score: native (the model's class maps; default), or a post-hoc method of "
        "wsl.cam.posthoc (gradcam, scorecam, fullgrad, ...: the choices above); center: the same as --center",
    )
    parser.add_argument(
        "--cam-layer",
        metavar="NAME",
        default=None,
        help="post-hoc --cam-method: dotted module name of the network (default: backbone, its output "
        "feature map), e.g. backbone.body.layer3; a,b: several layers, their maps fused",
    )
    add_smoothing_options(parser)
    parser.add_argument(
        "--faithfulness",
        action="store_true",
        help="--ckpt/--model: also the means of deletion/insertion AUC, Average Drop and Increase in "
        "Confidence of the same CAMs (softmax confidence single-label, sigmoid multi-label)",
    )
    parser.add_argument("--road", action="store_true", help="with --faithfulness, also ROAD (MoRF/LeRF)")
    parser.add_argument(
        "--center-sigma",
        type=float,
        default=CENTER_SIGMA,
        help=f"--center: the Gaussian's standard deviation, a fraction of each side (default {CENTER_SIGMA})",
    )


def _add_data_flags(parser: argparse.ArgumentParser) -> None:
    """The split, how it is read and how it is scored."""
    parser.add_argument(
        "--data",
        default=None,
        help="synthetic | voc:PATH | coco:PATH | FORMAT:PATH (--ckpt default: the data the checkpoint was "
        "trained on; --cams/--center default: synthetic)",
    )
    parser.add_argument("--split", default="test")
    parser.add_argument(
        "--image-size", type=int, default=None, help="network input size (default: the training size, or 128)"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--num-workers", type=int, default=None, help="loader workers (default: 2 with --ckpt, 0 with --cams)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="--cams: processes that read and score the maps (default 1: this process); the scores are "
        "identical for any N (integer counts, summed)",
    )
    parser.add_argument("--single-label", action="store_true", help="--cams/--center: one class per image")
    parser.add_argument(
        "--class-names",
        type=parse_class_names,
        help="the dataset's classes, a,b,c or a file (--ckpt: they must be the model's, in any order)",
    )
    parser.add_argument(
        "--skip-bad", action="store_true", help="skip unreadable or inconsistent samples with one warning"
    )
    parser.add_argument("--skip-missing", action="store_true", help="--cams: score only images with a file")
    parser.add_argument(
        "--cam-curve-interval",
        type=float,
        default=None,
        help="--cams/--center: threshold grid step (default: 0.01, or 0.001 with --protocol wsolevaluation)",
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


def _add_output_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="cpu | cuda | cuda:N | mps | mps:N | auto")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--out",
        help="JSON file (default: evaluation_<split>.json in the run or CAM folder, "
        "evaluation_<split>_<cam-method>.json for a post-hoc method, ./evaluation_<split>_center.json)",
    )


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The combinations argparse cannot express (one ``parser.error`` each); ``--data`` defaults."""
    if args.model is not None and args.data is None:
        parser.error("--model needs --data: a classifier records no dataset (e.g. --data wsol:ILSVRC:PATH)")
    if args.data is None and not args.ckpt:
        args.data = "synthetic"
    if args.cam_method == "center":
        if args.ckpt or args.cams or args.model:
            parser.error("--cam-method center scores no model or CAM folder; drop --ckpt/--model/--cams")
        args.center = True
    if not (args.ckpt or args.cams or args.center or args.model):
        parser.error("one of --ckpt, --model, --cams, --center (or --cam-method center) is required")
    if args.model is None and (args.pretrained or args.weights is not None or args.num_classes is not None):
        parser.error("--pretrained, --weights and --num-classes build a --model classifier")
    if args.workers < 1:
        parser.error(f"--workers must be 1 (this process) or more (worker processes); got {args.workers}")
    if args.workers != 1 and not args.cams:
        parser.error("--workers is the number of processes that score saved maps: it needs --cams")
    if args.cams and args.cam_method:
        parser.error("--cam-method needs --ckpt (a network); --cams scores the saved maps as they are")
    if args.model is not None and args.cam_method in (None, "native"):
        args.cam_method = "native"  # classifier_from_args: gradcam, with a note
    _check_posthoc_flags(parser, args)
    _check_faithfulness_flags(parser, args)


def _check_faithfulness_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--faithfulness`` needs a network (``--ckpt`` or ``--model``); ``--road`` needs ``--faithfulness``."""
    if args.faithfulness and (args.cams or args.center):
        source = "--cams" if args.cams else "--center"
        parser.error(f"--faithfulness perturbs a network's input: use --ckpt or --model instead of {source}")
    if args.road and not args.faithfulness:
        parser.error("--road is reported with the faithfulness metrics: add --faithfulness")


def _check_posthoc_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--cam-layer``, ``--aug-smooth`` and ``--eigen-smooth`` need a post-hoc ``--cam-method`` (or a
    ``--model``, whose CAMs are one)."""
    if args.model is not None or args.cam_method not in (None, "native", "center"):
        return
    posthoc = ", ".join(m for m in CAM_METHODS if m not in ("native", "center"))
    for flag in ("cam_layer", "aug_smooth", "eigen_smooth"):
        if getattr(args, flag) not in (None, False):
            what = "the layer of" if flag == "cam_layer" else "an option of"
            parser.error(f"--{flag.replace('_', '-')} is {what} a post-hoc --cam-method: {posthoc}")


def default_out(args: argparse.Namespace) -> Path:
    """Where the JSON goes without ``--out``."""
    if args.center:
        return Path(f"evaluation_{args.split}_center.json")
    if args.cams:
        return Path(args.cams) / f"evaluation_{args.split}.json"
    if args.model:
        return Path(f"evaluation_{args.split}_{args.model.replace(':', '-').replace('/', '-')}.json")
    suffix = f"_{args.cam_method}" if args.cam_method not in (None, "native") else ""
    return RunFolder.of_checkpoint(args.ckpt).root / f"evaluation_{args.split}{suffix}.json"


def evaluate(argv: list[str] | None = None) -> dict:
    """Evaluate, with the library's notes printed on stdout."""
    with tool_logging(sys.stdout):
        return _evaluate(argv)


def _evaluate(argv: list[str] | None) -> dict:
    parser, args = parse_args(argv)
    # Saved CAMs need no image decoding: worker processes would cost more to start than they save.
    workers = args.num_workers if args.num_workers is not None else (2 if args.ckpt or args.model else 0)
    common = dict(data=args.data, split=args.split, batch_size=args.batch_size, num_workers=workers)
    common.update(
        pointing_subset=args.pointing_difficult, progress=not args.no_progress, skip_bad=args.skip_bad
    )
    out = check_writable_file(args.out or default_out(args), "--out")
    smooth = {"aug_smooth": args.aug_smooth, "eigen_smooth": args.eigen_smooth}
    if args.faithfulness:
        smooth.update(faithfulness=True, road=args.road)
    if args.model:
        model = classifier_from_args(parser, args, threshold=None)  # no --threshold: every threshold's boxes
        assert model is not None  # --model was given
        payload = evaluate_from_checkpoint(
            model, device=args.device, protocol=args.protocol, cam_method="native", **smooth, **common
        )
    elif args.ckpt:
        payload = evaluate_from_checkpoint(
            args.ckpt,
            image_size=args.image_size,
            device=args.device,
            protocol=args.protocol,
            cam_method=args.cam_method or "native",
            cam_layer=args.cam_layer,
            class_names=args.class_names,
            **smooth,
            **common,
        )
    elif args.center:
        payload = evaluate_center(
            protocol=args.protocol or "original",
            sigma=args.center_sigma,
            class_names=args.class_names,
            single_label=args.single_label,
            cam_curve_interval=args.cam_curve_interval,
            **common,
        )
    else:
        payload = evaluate_cams(
            args.cams,
            single_label=args.single_label,
            cam_curve_interval=args.cam_curve_interval,
            skip_missing=args.skip_missing,
            class_names=args.class_names,
            workers=args.workers,
            protocol=args.protocol or "original",
            **common,
        )
    results = payload["results"]
    protocol = payload.get("protocol", "original")
    print(f"\n{payload['data']} / {args.split}, {protocol} frame, percentages:\n")
    print(format_table([(payload.pop("name"), {k: v for k, v in results.items() if k != "images_scored"})]))
    write_json(out, payload, nan_as_null=True)  # an undefined score (NaN) is written as null
    print(f"\nresults: {out}")
    return payload


def main(argv: list[str] | None = None) -> int:
    """Evaluate and report; 2 on bad input."""
    return run_tool(evaluate, argv, FLAGS)


if __name__ == "__main__":
    sys.exit(main())
