"""The main job end to end: today's recipe against the previous one, in the same run.

Each recipe is the README's first training command (``tools/train.py --pool weldon``, 30 epochs, test on
the best checkpoint) run as a child process into its own run folder, with the synthetic set already in
the cache; wall time, the child's CPU time (user + system, all threads and loader workers) and its test
scores are printed side by side, with the ratio old / new. Recipes run alternately (old, new, old, new
…) so that drift from other jobs on the machine hits both alike.

- ``previous``: the recipe up to 2026-12-02: ``bf16-mixed`` (what ``precision: null`` chose on a CPU
  with AVX512-BF16), every training image decoded from its JPEG each epoch in 2 loader workers
  (``--data.cache_images false --data.num_workers 2``).
- ``current``: the defaults: ``32-true`` on a CPU without AMX, the training split decoded once into
  memory (``cache_images`` auto), no training-loader workers.

    python bench/train_speed.py                    # one run of each (≈10 min on 2 cores)
    python bench/train_speed.py --repeats 2 --out /tmp/train_speed
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

TRAIN = Path(__file__).resolve().parents[1] / "tools" / "train.py"
COMMON = ["--pool", "weldon", "--trainer.enable_progress_bar", "false"]
RECIPES = {
    "previous": [
        "--trainer.precision",
        "bf16-mixed",
        "--data.cache_images",
        "false",
        "--data.num_workers",
        "2",
    ],
    "current": [],
}
SCORES = ("map", "pointing_game", "maxboxacc", "maxboxacc_v2", "pxap")


def run_recipe(name: str, out: Path, repeat: int) -> dict:
    """Train one recipe in a child process; wall and CPU seconds and the test scores (percent)."""
    run_dir = out / f"{name}-{repeat}"
    cmd = [sys.executable, str(TRAIN), *COMMON, *RECIPES[name], "--run_dir", str(run_dir)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    log = (out / f"{name}-{repeat}.log").open("w")
    subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    results = json.loads((run_dir / "results.json").read_text())
    scores = {k: 100 * results["test"][k] for k in SCORES}
    return {"wall": wall, "cpu": cpu, "train_seconds": results["train_seconds"], **scores}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=1, help="runs of each recipe (alternating)")
    parser.add_argument("--out", default="/tmp/wsl_train_speed", help="run folders and logs")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"{datetime.date.today()}  {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, load average {os.getloadavg()[0]:.2f} at start"
    )
    rows: dict[str, list[dict]] = {name: [] for name in RECIPES}
    for repeat in range(args.repeats):
        for name in RECIPES:
            rows[name].append(run_recipe(name, out, repeat))
            r = rows[name][-1]
            print(
                f"  {name} #{repeat}: wall {r['wall']:.0f} s, cpu {r['cpu']:.0f} s, "
                + ", ".join(f"{k} {r[k]:.1f}" for k in SCORES),
                flush=True,
            )
    print(f"load average {os.getloadavg()[0]:.2f} at the end\n")
    header = ["recipe", "wall s", "CPU s", "fit s", *SCORES]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for name, runs in rows.items():
        for r in runs:
            cells = [name, f"{r['wall']:.0f}", f"{r['cpu']:.0f}", f"{r['train_seconds']:.0f}"]
            print("| " + " | ".join(cells + [f"{r[k]:.1f}" for k in SCORES]) + " |")
    mean = {n: {k: sum(r[k] for r in runs) / len(runs) for k in ("wall", "cpu")} for n, runs in rows.items()}
    print(
        f"\nprevious / current: wall {mean['previous']['wall'] / mean['current']['wall']:.2f}x, "
        f"CPU {mean['previous']['cpu'] / mean['current']['cpu']:.2f}x"
    )


if __name__ == "__main__":
    main()
