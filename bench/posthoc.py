"""Post-hoc CAM cost: one vmapped backward for all classes (``is_grads_batched``) against one backward per
class, and each method against the native maps, on a random WSLNet.

Process-CPU seconds are printed beside wall seconds (a shared machine's wall time depends on its load),
with the best of ``--repeats`` runs and the ratio to the same-run native forward.

    python bench/posthoc.py                                   # resnet18, 128 px, batch 8, 20 classes
    python bench/posthoc.py --layer backbone.body.layer2 --device cuda
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import measure  # noqa: E402

from wsl.cam.posthoc import POSTHOC_METHODS, class_maps_for  # noqa: E402
from wsl.models import WSLNet  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument("--layer", default=None, help="default: backbone (the head's input)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    torch.manual_seed(0)
    net = WSLNet(num_classes=args.classes, backbone=args.backbone, pool="gap").to(device).eval()
    images = torch.rand(args.batch_size, 3, args.image_size, args.image_size, device=device)
    print(
        f"{args.backbone}, {args.image_size} px, batch {args.batch_size}, {args.classes} classes, "
        f"layer {args.layer or 'backbone'}, {device}, torch {torch.__version__}, "
        f"threads {torch.get_num_threads()}"
    )
    base_wall, base_cpu = measure(lambda: class_maps_for(net, images, "native"), args.repeats, device)
    print(f"{'native':<22} wall {base_wall:7.3f} s  cpu {base_cpu:7.3f} s  (1.00x)")
    for method in sorted(set(POSTHOC_METHODS) - {"native"}):
        modes = [True, False] if POSTHOC_METHODS[method].needs_gradients else [True]
        for batched in modes:

            def run(method: str = method, batched: bool = batched) -> None:
                class_maps_for(net, images, method, args.layer, batched_grads=batched)

            wall, cpu = measure(run, args.repeats, device)
            label = f"{method} ({'vmap' if batched else 'loop'})" if len(modes) > 1 else method
            print(f"{label:<22} wall {wall:7.3f} s  cpu {cpu:7.3f} s  ({wall / base_wall:.2f}x native wall)")


if __name__ == "__main__":
    main()
