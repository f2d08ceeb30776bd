"""Forward+backward time of every pooling head relative to ``gap``, and SoftPool2d vs max_pool2d.

Ratios are to a baseline measured in the same run (median of interleaved repeats after warm-up), so
they are comparable across machines; absolute milliseconds are printed for context only.

    python bench/pooling.py                 # full run, 1 thread
    python bench/pooling.py --repeats 5     # quicker
    python bench/pooling.py --clock wall    # latency instead of CPU time
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from wsl.pooling import POOLS, build_pool, class_wise_mean
from wsl.pooling.functional import softpool2d

GLOBAL_TARGET = 3.0
LOCAL_TARGET = 4.0


def _kmax_sort(x: torch.Tensor, k: float = 0.1) -> torch.Tensor:
    # Alternative formulation, timed to justify topk.
    z = x.flatten(2)
    kk = max(1, min(round(k * z.shape[-1]), z.shape[-1]))
    return z.sort(dim=-1, descending=True).values[..., :kk].mean(-1)


def _softpool2d_unfold(x: torch.Tensor, k: int = 3, s: int = 2, p: int = 1) -> torch.Tensor:
    # Alternative formulation (unfold + masked softmax), timed to justify the per-offset loop.
    n, c, h, w = x.shape
    cols = F.unfold(x.reshape(n * c, 1, h, w), k, padding=p, stride=s)
    valid = F.unfold(torch.ones(1, 1, h, w, dtype=x.dtype), k, padding=p, stride=s) > 0
    weights = torch.softmax(cols.masked_fill(~valid, float("-inf")), dim=1)
    return (weights * cols).sum(1).view(n, c, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)


def time_fwd_bwd(
    fns: dict[str, Callable[[torch.Tensor], torch.Tensor]],
    x: torch.Tensor,
    repeats: int,
    warmup: int,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[dict[str, float], dict[str, float]]:
    """(median, min) seconds of forward + backward of each fn; rounds are interleaved so that load
    from other processes hits every fn alike (the min is the least disturbed run)."""
    x = x.detach().requires_grad_()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for r in range(warmup + repeats):
        for name, fn in fns.items():
            x.grad = None
            t0 = clock()
            fn(x).sum().backward()
            dt = clock() - t0
            if r >= warmup:
                times[name].append(dt)
    return {name: statistics.median(ts) for name, ts in times.items()}, {
        name: min(ts) for name, ts in times.items()
    }


def global_heads(
    shape: tuple[int, ...], repeats: int, warmup: int, clock: Callable[[], float]
) -> list[tuple[str, float, float, float]]:
    num_classes = shape[1]
    fns: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        name: build_pool(name, num_classes) for name in POOLS
    }
    fns["lse (learnable β)"] = build_pool("lse", num_classes, learnable=True)
    fns["kmax via sort (alt.)"] = _kmax_sort
    if num_classes % 4 == 0:
        gap_head = build_pool("gap", num_classes // 4)
        fns["class_wise_mean M=4 + gap"] = lambda x: gap_head(class_wise_mean(x, num_classes // 4))
    x = torch.randn(*shape)
    t, tmin = time_fwd_bwd(fns, x, repeats, warmup, clock)
    return [(name, t[name] * 1e3, t[name] / t["gap"], tmin[name] / tmin["gap"]) for name in fns]


def local_pool(
    shape: tuple[int, ...], repeats: int, warmup: int, clock: Callable[[], float]
) -> list[tuple[str, float, float, float]]:
    fns = {
        "F.max_pool2d(3, 2, 1)": lambda x: F.max_pool2d(x, 3, 2, 1),
        "softpool2d(3, 2, 1)": lambda x: softpool2d(x, 3, 2, 1),
        "softpool2d unfold (alt.)": _softpool2d_unfold,
    }
    t, tmin = time_fwd_bwd(fns, torch.randn(*shape), repeats, warmup, clock)
    base, base_min = t["F.max_pool2d(3, 2, 1)"], tmin["F.max_pool2d(3, 2, 1)"]
    return [(name, t[name] * 1e3, t[name] / base, tmin[name] / base_min) for name in fns]


def table(title: str, rows: list[tuple[str, float, float, float]], baseline: str, target: float) -> str:
    lines = [
        f"### {title}",
        "",
        f"| op | median ms (fwd+bwd) | × {baseline} (median) | × {baseline} (min) | within {target:g}× |",
        "|---|---:|---:|---:|:-:|",
    ]
    for name, ms, ratio, ratio_min in rows:
        ok = "—" if "alt." in name else ("yes" if ratio <= target else "**no**")
        lines.append(f"| {name} | {ms:.2f} | {ratio:.2f} | {ratio_min:.2f} | {ok} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21, help="timed repeats per op (median is reported)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed warm-up rounds")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--clock",
        choices=["cpu", "wall"],
        default="cpu",
        help="cpu: process CPU time (robust when other jobs share the cores; measures work); wall: latency",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    torch.manual_seed(args.seed)
    print(
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"threads={args.threads}, clock={args.clock}, repeats={args.repeats}, warmup={args.warmup}\n"
    )
    for shape in [(64, 20 * 4, 14, 14), (32, 80, 28, 28)]:
        rows = global_heads(shape, args.repeats, args.warmup, clock)
        print(table(f"Global heads on {shape}", rows, "gap", GLOBAL_TARGET), "\n")
    stem = (32, 64, 112, 112)
    rows = local_pool(stem, max(3, args.repeats // 3), 1, clock)
    print(table(f"SoftPool2d on a ResNet-stem tensor {stem}", rows, "max_pool2d", LOCAL_TARGET))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
