"""Training throughput of WSLModule under pl.Trainer against a bare PyTorch loop, measured in the same run.

Both sides train the same ``WSLNet`` (reset to the same initial weights every repeat) on the same train
loader, with AdamW over the same two parameter groups, the same per-step cosine/warm-up LR schedule
(WSLModule's default), and the same loss (BCE-with-logits plus
the head's regulariser). The timed window of a repeat runs from the end of the last warm-up step to the
end of the last timed step, so it holds exactly ``--steps`` batch fetches and optimisation steps on both
sides; Lightning's fit setup/teardown is reported separately. Repeats are interleaved A/B/A/B and
medians reported, so that drift from other jobs on the machine hits both sides alike. Wall-clock and
process CPU time (all threads, ``num_workers=0`` keeps the loader in-process) are both reported: on a
shared machine the CPU time is the steadier measure of work.

    OMP_NUM_THREADS=1 python bench/train_throughput.py                 # regnetx_002, 128 px, batch 64
    OMP_NUM_THREADS=1 python bench/train_throughput.py --steps 6 --repeats 2 --pool gap
    OMP_NUM_THREADS=1 python bench/train_throughput.py --profile       # cProfile of one Lightning window
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import io
import math
import os
import platform
import pstats
import resource
import statistics
import time
import warnings
from collections.abc import Iterator

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from wsl.data import WSLDataModule
from wsl.lit import WSLModule
from wsl.pooling import POOLS, build_pool

TARGET_OVERHEAD = 5.0  # percent


class Window:
    """Wall and CPU clocks between two marks: ``start()`` after warm-up, ``stop()`` after the last step."""

    def __init__(self) -> None:
        self.wall = self.cpu = self.sys = 0.0
        self.faults = 0
        self._t0 = self._c0 = self._s0 = 0.0
        self._f0 = 0

    def start(self) -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self._s0, self._f0 = usage.ru_stime, usage.ru_minflt
        self._t0, self._c0 = time.perf_counter(), time.process_time()

    def stop(self) -> None:
        self.wall, self.cpu = time.perf_counter() - self._t0, time.process_time() - self._c0
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.sys, self.faults = usage.ru_stime - self._s0, usage.ru_minflt - self._f0


class WindowCallback(pl.Callback):
    """Marks the timed window on the Lightning side (hooks at the same points as the bare loop's marks)."""

    def __init__(self, warmup: int, steps: int, window: Window, profile: bool = False) -> None:
        self.warmup, self.last, self.window = warmup, warmup + steps - 1, window
        self.profiler = cProfile.Profile() if profile else None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if batch_idx == self.warmup - 1:
            self.window.start()
            if self.profiler is not None:
                self.profiler.enable()
        elif batch_idx == self.last:
            if self.profiler is not None:
                self.profiler.disable()
            self.window.stop()


def make_module(args: argparse.Namespace, data: WSLDataModule) -> WSLModule:
    return WSLModule(
        num_classes=data.num_classes,
        class_names=data.class_names,
        backbone=args.backbone,
        pool=args.pool,
        out_index=args.out_index,
    )


def run_lightning(
    module: WSLModule, data: WSLDataModule, args: argparse.Namespace, profile: bool = False
) -> tuple[Window, float, cProfile.Profile | None]:
    """One ``trainer.fit`` of ``warmup + steps`` batches; returns the window, the whole fit's wall time,
    and the profile of the window when asked."""
    window = Window()
    callback = WindowCallback(args.warmup, args.steps, window, profile)
    trainer = pl.Trainer(
        max_epochs=1,
        limit_train_batches=args.warmup + args.steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        accelerator="cpu",
        devices=1,
        callbacks=[callback],
    )
    t0 = time.perf_counter()
    trainer.fit(module, train_dataloaders=data.train_dataloader())
    return window, time.perf_counter() - t0, callback.profiler


def cosine_with_warmup(total: int, warmup_epochs: float = 1.0, epochs: int = 1):
    """WSLModule's default schedule (``scheduler='cosine'``) for ``total`` steps in ``epochs`` epochs: the
    bare loop must take the same learning rates, or the weights (and the CPU's speed on them: denormals)
    drift apart."""
    warmup = min(total - 1, int(total * warmup_epochs / epochs))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def run_bare(
    net: torch.nn.Module, data: WSLDataModule, args: argparse.Namespace, lookahead: bool = False
) -> Window:
    """The same training in plain PyTorch: fetch, forward, loss, backward, AdamW step, LR step.

    With ``lookahead`` the next batch is fetched before the current step runs, as Lightning's data
    fetcher does (to know which batch is the last). The arithmetic is the same, but the order of the
    big allocations changes, and with glibc malloc that changes how much memory is returned to the OS
    and page-faulted back in every step (see docs/benchmarks.md, "Training throughput").
    """
    groups = [
        {"params": list(net.backbone.parameters()), "lr": 5e-3},
        {"params": list(net.head.parameters()), "lr": 5e-3},
    ]
    optimizer = torch.optim.AdamW(groups, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_with_warmup(args.warmup + args.steps))
    window = Window()
    net.train()
    batches: Iterator[dict] = iter(data.train_dataloader())
    upcoming = next(batches) if lookahead else None
    for i in range(args.warmup + args.steps):
        if lookahead:
            batch, upcoming = upcoming, next(batches, None)
        else:
            batch = next(batches)
        scores, _ = net(batch["image"])
        loss = F.binary_cross_entropy_with_logits(scores.float(), batch["labels"].float())
        loss = loss + net.pool.regularization_loss()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if i == args.warmup - 1:
            window.start()
    window.stop()
    return window


def data_only(data: WSLDataModule, batches: int) -> tuple[float, float]:
    """Images/s of the train loader alone (wall) and CPU ms per image."""
    loader = iter(data.train_dataloader())
    next(loader)
    count, t0, c0 = 0, time.perf_counter(), time.process_time()
    for _ in range(batches):
        count += len(next(loader)["image"])
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return count / wall, 1e3 * cpu / count


def pool_share(
    module: WSLModule, args: argparse.Namespace, step_seconds: float, repeats: int = 20
) -> list[tuple[str, float, float]]:
    """Forward + backward time (ms, median) of every pooling head on this model's class-map shape, and
    its share of one training step."""
    with torch.no_grad():
        _, maps = module.net(torch.zeros(1, 3, args.image_size, args.image_size))
    shape = (args.batch_size, *maps.shape[1:])
    x = torch.randn(shape).requires_grad_()
    rows = []
    for name in POOLS:
        head = build_pool(name, shape[1])
        times = []
        for r in range(repeats + 3):
            x.grad = None
            t0 = time.process_time()
            head(x).sum().backward()
            if r >= 3:
                times.append(time.process_time() - t0)
        ms = 1e3 * statistics.median(times)
        rows.append((name, ms, 100 * ms / 1e3 / step_seconds))
    return rows


FRAMEWORK = ("pytorch_lightning", "lightning_fabric", "lightning_utilities", "torchmetrics", "wsl/lit.py")


def print_profile(profiler: cProfile.Profile, step_ms: float) -> None:
    """Top functions of the Lightning window, and the self time spent in framework code (Lightning,
    torchmetrics, WSLModule): the per-step overhead that no drift on the machine can hide."""
    stats = pstats.Stats(profiler)
    steps = stats.total_calls and max(
        (ncalls for (file, _, name), (_, ncalls, *_rest) in stats.stats.items() if name == "run_backward"),
        default=1,
    )
    framework = {k: v for k, v in stats.stats.items() if any(f in k[0] for f in FRAMEWORK)}
    self_time = sum(v[2] for v in framework.values())
    print(
        f"\ncProfile of one Lightning window: framework self time {1e3 * self_time / steps:.2f} ms per step "
        f"({100 * self_time / steps / (step_ms / 1e3):.2f} % of a {step_ms:.0f} ms step; cProfile inflates "
        "small Python calls, so this is an upper bound)\n"
    )
    top = sorted(framework.items(), key=lambda kv: -kv[1][2])[:10]
    print("| framework function | calls | self ms / step |")
    print("|---|---:|---:|")
    for (file, line, name), (_, ncalls, tottime, *_rest) in top:
        where = file.split("site-packages/")[-1]
        print(f"| {where}:{line}({name}) | {ncalls} | {1e3 * tottime / steps:.3f} |")
    stream = io.StringIO()
    stats.stream = stream
    stats.sort_stats("tottime").print_stats(12)
    print("\nAll code, by self time:\n" + stream.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="regnetx_002")
    parser.add_argument("--out-index", type=int, default=3)
    parser.add_argument("--pool", default="weldon")
    parser.add_argument("--data", default="synthetic", help="data spec (default: the synthetic easy set)")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--warmup", type=int, default=2, help="untimed batches at the start of each repeat")
    parser.add_argument("--steps", type=int, default=10, help="timed batches per repeat (both sides)")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds; medians are reported")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--profile", action="store_true", help="cProfile one extra Lightning window")
    args = parser.parse_args(argv)
    if args.warmup < 1 or args.steps < 1 or args.repeats < 1:
        parser.error("--warmup, --steps and --repeats must be >= 1")
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*smaller than the logging interval.*")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    data = WSLDataModule(
        args.data, image_size=args.image_size, batch_size=args.batch_size, num_workers=args.num_workers
    )
    data.prepare_data()
    data.setup("fit")
    module = make_module(args, data)
    # The bare loop trains the very same nn.Module (module.net), reset to the same weights: a second
    # WSLNet object with copied weights ran ~40 % slower in the bare loop, with 3-10x the page faults,
    # on this machine (an allocator/memory-placement effect, not arithmetic; see the docs).
    bare = module.net

    load_start = os.getloadavg()
    arms: dict[str, list[Window]] = {"lightning": [], "bare": [], "bare_lookahead": []}
    fits = []
    initial = {k: v.clone() for k, v in module.net.state_dict().items()}
    for r in range(args.repeats):
        # Every arm starts every repeat from the same weights, so all do the same arithmetic.
        module.net.load_state_dict(initial)
        window, fit_wall, _ = run_lightning(module, data, args)
        arms["lightning"].append(window)
        fits.append(fit_wall)
        for name, lookahead in (("bare", False), ("bare_lookahead", True)):
            bare.load_state_dict(initial)
            arms[name].append(run_bare(bare, data, args, lookahead=lookahead))
        print(
            f"repeat {r} (wall s / CPU s / sys s / page faults): "
            + "; ".join(
                f"{name} {w[-1].wall:.2f} / {w[-1].cpu:.2f} / {w[-1].sys:.2f} / {w[-1].faults}"
                for name, w in arms.items()
            ),
            flush=True,
        )
    load_end = os.getloadavg()

    images = args.steps * args.batch_size
    keys = ("wall", "cpu", "sys", "faults")
    med = {name: {k: statistics.median(getattr(w, k) for w in ws) for k in keys} for name, ws in arms.items()}
    lw, lc = med["lightning"]["wall"], med["lightning"]["cpu"]
    loader_rate, loader_cpu = data_only(data, min(args.steps, 8))

    print(
        f"\n{datetime.date.today()}, torch {torch.__version__}, pytorch_lightning {pl.__version__}, "
        f"{platform.machine()} {os.cpu_count()} cores, threads={args.threads}, "
        f"load average {load_start[0]:.1f} → {load_end[0]:.1f}\n"
        f"{args.backbone} out_index {args.out_index}, pool {args.pool}, {args.image_size} px, batch "
        f"{args.batch_size}, workers {args.num_workers}, data {args.data}; warm-up {args.warmup}, "
        f"{args.steps} timed steps × {args.repeats} interleaved repeats\n"
    )
    titles = {
        "bare": "bare PyTorch loop",
        "bare_lookahead": "bare PyTorch loop, next batch fetched first (as Lightning)",
        "lightning": "Lightning (pl.Trainer + WSLModule)",
    }
    print("| loop | images/s (wall) | CPU ms / image | sys ms / step | page faults / step | overhead |")
    print("|---|---:|---:|---:|---:|---:|")
    overheads = {}
    for name in ("bare", "bare_lookahead", "lightning"):
        m = med[name]
        overhead = ""
        if name != "lightning":
            # (bare − lightning) / bare on images/s, wall and CPU
            overheads[name] = (100 * (lw - m["wall"]) / lw, 100 * (lc - m["cpu"]) / lc)
            overhead = f"{overheads[name][0]:.1f} % wall, {overheads[name][1]:.1f} % CPU"
        print(
            f"| {titles[name]} | {images / m['wall']:.1f} | {1e3 * m['cpu'] / images:.2f} | "
            f"{1e3 * m['sys'] / args.steps:.0f} | {m['faults'] / args.steps:.0f} | {overhead} |"
        )
    print(f"| data loading alone (train loader) | {loader_rate:.1f} | {loader_cpu:.2f} | | | |")
    print("\n(medians over the repeats; overhead = (bare − lightning) / bare of images/s)")
    bw = med["bare"]["wall"]
    headline = overheads["bare"][1]
    verdict = "within" if headline <= TARGET_OVERHEAD else "ABOVE"
    print(
        f"\nOverhead on CPU time against the bare loop {headline:.1f} % "
        f"(against the lookahead loop {overheads['bare_lookahead'][1]:.1f} %) is {verdict} the "
        f"{TARGET_OVERHEAD:g} % target; per step: Lightning {1e3 * lc / args.steps:.1f} ms CPU, bare "
        f"{1e3 * med['bare']['cpu'] / args.steps:.1f} ms. Lightning fit() wall incl. setup/teardown: "
        f"{statistics.median(fits):.2f} s vs window {lw:.2f} s."
    )
    step = bw / args.steps
    print(f"\nPooling heads, fwd+bwd on the class maps, share of one bare step ({1e3 * step:.0f} ms):\n")
    print("| pool | ms (CPU, median) | % of step |")
    print("|---|---:|---:|")
    for name, ms, share in pool_share(module, args, step):
        print(f"| {name} | {ms:.2f} | {share:.2f} |")

    if args.profile:
        module.net.load_state_dict(initial)
        _, _, profiler = run_lightning(module, data, args, profile=True)
        print_profile(profiler, 1e3 * lw / args.steps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
