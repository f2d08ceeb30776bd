"""Cost of ``wsl.cam.explain`` on a timm classifier: K targets per image in one batched call, against one
call per target (a loop), and against pytorch-grad-cam (one call per target, when it is importable; it is
not a dependency of wsl), on the same model, images and targets, as ratios in one run.

Process-CPU seconds are printed beside wall seconds (a shared machine's wall time depends on its load);
each is the best of ``--repeats`` runs after one warm-up.

    python bench/explain.py                                     # resnet18, 128 px, batch 4, top-5 targets
    python bench/explain.py --model vit_tiny_patch16_224 --image-size 224 --method layercam --device cuda
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import timm
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import measure  # noqa: E402

from wsl.cam import ClassifierCAM, explain  # noqa: E402


def _pgc_runner(net: ClassifierCAM, images: torch.Tensor, targets: torch.Tensor, method: str):
    """One pytorch-grad-cam call per target column, or None when it is not installed."""
    if importlib.util.find_spec("pytorch_grad_cam") is None:
        return None
    import pytorch_grad_cam as pgc
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    names = {"gradcam": "GradCAM", "gradcampp": "GradCAMPlusPlus", "layercam": "LayerCAM",
             "hirescam": "HiResCAM", "xgradcam": "XGradCAM", "scorecam": "ScoreCAM",
             "ablationcam": "AblationCAM"}  # fmt: skip
    if method not in names or net.resolved_layout(torch.zeros(1, 1, 1, 1)) != "nchw":
        return None

    def run() -> None:
        # Built per run and released after: its hooks, left on the model, would also slow wsl's runs
        # (they detach inside the vmapped backward, which then falls back to one backward per target).
        with getattr(pgc, names[method])(model=net.classifier, target_layers=[net.target]) as cam:
            for j in range(targets.shape[1]):
                cam(input_tensor=images, targets=[ClassifierOutputTarget(int(t)) for t in targets[:, j]])

    return run


def main(argv: list[str] | None = None) -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--model", default="resnet18", help="a timm name (random weights)")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--targets", type=int, default=5, help="targets per image (its top-K classes)")
    parser.add_argument("--method", default="gradcam")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    torch.manual_seed(0)
    kwargs = {"img_size": args.image_size} if "vit" in args.model or "deit" in args.model else {}
    net = ClassifierCAM(timm.create_model(args.model, pretrained=False, **kwargs).to(device).eval())
    images = torch.rand(args.batch_size, 3, args.image_size, args.image_size, device=device)
    with torch.no_grad():
        targets = net(images)[0].topk(args.targets, dim=1).indices
    print(f"{args.model} @ {net.layer}, {args.image_size} px, batch {args.batch_size}, "
          f"{args.targets} targets, {args.method}, {device}, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}")  # fmt: skip
    runs = {
        "wsl batched": lambda: explain(net, images, method=args.method, targets=targets),
        "wsl loop": lambda: [
            explain(net, images, method=args.method, targets=targets[:, j]) for j in range(args.targets)
        ],  # fmt: skip
    }
    pgc = _pgc_runner(net, images, targets, args.method)
    if pgc is not None:
        runs["pytorch-grad-cam loop"] = pgc
    times = {name: measure(fn, args.repeats, device) for name, fn in runs.items()}
    base_wall, base_cpu = times["wsl batched"]
    for name, (wall, cpu) in times.items():
        print(
            f"{name:24s} wall {wall:7.3f} s ({wall / base_wall:5.2f}x)   "
            f"cpu {cpu:7.3f} s ({cpu / base_cpu:5.2f}x)"
        )


if __name__ == "__main__":
    main()
