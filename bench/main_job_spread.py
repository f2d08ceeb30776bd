"""The main job's spread: the README's first command over seeds, thread counts and float-path switches.

Each run is ``tools/train.py --pool weldon`` (the defaults, 30 epochs, the synthetic set already cached)
in a child process with a given ``--seed_everything``, a given number of intra-op threads
(``torch.set_num_threads``) and, optionally, oneDNN switched off or channels_last off: the float-reduction
orders that differ between CPUs (an AMD EPYC with AVX2 and a Xeon with AVX512 round differently; so do 1 and
2 threads on one machine). The test scores of every run are collected, and min / median / max of each score
are printed as a Markdown table, with the CPU named. A run whose folder already holds ``results.json`` and
the same arguments is read, not retrained, so an interrupted sweep resumes.

    python bench/main_job_spread.py --out /tmp/spread                          # 5 seeds x 1, 2 threads
    python bench/main_job_spread.py --out /tmp/spread --switches onednn_off channels_last_off --seeds 0
    python bench/main_job_spread.py --out /tmp/spread --switches omp_passive --seeds 0  # same bits expected
    python bench/main_job_spread.py --out /tmp/spread --jobs 2                 # two runs at a time
    python bench/main_job_spread.py --out /tmp/spread --rescore-flips none hv    # + each tested checkpoint's
                                                                               #   scores at other cam_flips

``--rescore-flips`` scores each run's tested checkpoint again with its class maps averaged over the given
flip views (``model.cam_flips``, an evaluation-only switch: the weights are the same), one table per value,
so a sweep of the previous recipe (``--extra --model.cam_flips none``) gives both sides of the comparison.
``--extra`` arguments go to every run (e.g. the previous recipe, to measure it beside the current one);
``{run_dir}`` in them is replaced by the run's folder.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

TRAIN = Path(__file__).resolve().parents[1] / "tools" / "train.py"
SCORES = ("map", "pointing_game", "maxboxacc", "maxboxacc_v2", "pxap")
#: A float-path switch: the Python run in the child before training.
SWITCHES = {
    "default": "",
    "onednn_off": "torch.backends.mkldnn.enabled = False",
    "channels_last_off": "",  # a model flag, see ARGS
    "omp_passive": "",  # an environment variable, see SWITCH_ENV
}
SWITCH_ARGS = {"channels_last_off": ["--model.channels_last", "false"]}
#: Environment of the child per switch. ``omp_passive``: OpenMP's waiting threads sleep instead of spinning
#: (same partition of the work, so the same results; cheaper on a shared machine: docs/benchmarks.md).
SWITCH_ENV = {"omp_passive": {"OMP_WAIT_POLICY": "PASSIVE"}}
CHILD = """
import sys, torch
torch.set_num_threads({threads})
{switch}
sys.argv = [{train!r}] + {argv!r}
from wsl.cli import run_tool, train
raise SystemExit(run_tool(train))
"""


def cpu_name() -> str:
    """The CPU model and its widest vector extension, e.g. ``AMD EPYC 7B13 (AVX2)``."""
    model, flags = platform.processor() or "unknown CPU", ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model in ("unknown CPU", platform.processor()):
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = line
    except OSError:
        pass
    vector = "AVX512" if " avx512f" in flags else "AVX2" if " avx2" in flags else "no AVX2"
    return f"{model} ({vector})"


def run_one(out: Path, seed: int, threads: int, switch: str, extra: list[str]) -> dict:
    """Train one run in a child process (or read it back); its test scores in percent, wall and CPU
    seconds."""
    name = f"seed{seed}-t{threads}-{switch}"
    run_dir = out / name
    argv = [
        "--pool",
        "weldon",
        "--seed_everything",
        str(seed),
        "--run_dir",
        str(run_dir),
        "--trainer.enable_progress_bar",
        "false",
        *SWITCH_ARGS.get(switch, []),
        *(arg.replace("{run_dir}", str(run_dir)) for arg in extra),
    ]
    key = {"seed": seed, "threads": threads, "switch": switch, "argv": argv}
    done = run_dir / "results.json"
    stored = run_dir / "spread_key.json"
    if done.is_file() and stored.is_file() and json.loads(stored.read_text()) == key:
        times = run_dir / "spread_times.json"
        seen = json.loads(times.read_text()) if times.is_file() else {}
        return _row(name, key, json.loads(done.read_text()), seen.get("wall_s"), seen.get("cpu_s"))
    if run_dir.exists():
        raise SystemExit(f"{run_dir} holds another or an unfinished run: remove it or pick another --out")
    code = CHILD.format(threads=threads, switch=SWITCHES[switch], train=str(TRAIN), argv=argv)
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    with (out / f"{name}.log").open("w") as log:
        env = {**os.environ, **SWITCH_ENV.get(switch, {})}
        child = subprocess.Popen([sys.executable, "-c", code], stdout=log, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own CPU seconds, even with --jobs > 1
        child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise subprocess.CalledProcessError(child.returncode, f"{name} (log: {out / f'{name}.log'})")
    wall = time.perf_counter() - started
    cpu = usage.ru_utime + usage.ru_stime
    (run_dir / "spread_times.json").write_text(json.dumps({"wall_s": wall, "cpu_s": cpu}))
    (run_dir / "spread_key.json").write_text(json.dumps(key))
    return _row(name, key, json.loads(done.read_text()), wall, cpu)


def _row(name: str, key: dict, results: dict, wall: float | None, cpu: float | None = None) -> dict:
    """One run's row: test scores in percent, wall seconds and CPU seconds (user + system, with the
    loaders' worker processes; ``None`` for a run read back from an older sweep)."""
    test = results["test"]
    row = {"run": name, "seed": key["seed"], "threads": key["threads"], "switch": key["switch"]}
    row.update({s: 100 * test[s] for s in SCORES if s in test})
    row["wall_s"] = wall if wall is not None else results.get("wall_seconds")
    row["cpu_s"] = cpu
    return row


def rescore(row: dict, out: Path, cam_flips: str) -> dict:
    """The run's tested checkpoint scored on its test split with ``cam_flips`` (same weights, same data)."""
    import torch

    from wsl.checkpoint import datamodule_for, load_module
    from wsl.jobs.evaluate import evaluate_model

    results = json.loads((out / row["run"] / "results.json").read_text())
    torch.set_num_threads(row["threads"])
    module = load_module(results["checkpoint"], map_location="cpu")
    module.net.cam_flips = cam_flips
    size = module.hparams.get("img_size") or 128
    data = datamodule_for(module, results["data"], image_size=size, batch_size=64, num_workers=0)
    scores = evaluate_model(module, data.dataloader("test"), progress=False)
    return {**row, "run": f"{row['run']} ({cam_flips})", **{s: 100 * float(scores[s]) for s in SCORES}}


def summary(rows: list[dict]) -> str:
    """A Markdown table: every run, then min / median / max of each score."""
    head = "| run | " + " | ".join(SCORES) + " |\n|---|" + "---:|" * len(SCORES) + "\n"
    lines = [
        f"| {r['run']} | " + " | ".join(f"{r.get(s, float('nan')):.1f}" for s in SCORES) + " |" for r in rows
    ]
    for label, fn in (("min", min), ("median", statistics.median), ("max", max)):
        cells = [f"**{fn([r[s] for r in rows if s in r]):.1f}**" for s in SCORES]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return head + "\n".join(lines)


def times_line(rows: list[dict]) -> str:
    """min / median / max wall and CPU seconds (user + system) of the runs that have them."""
    parts = []
    for key, label in (("wall_s", "wall"), ("cpu_s", "CPU (user + system)")):
        values = [r[key] for r in rows if r.get(key) is not None]
        if values:
            low, mid, high = min(values), statistics.median(values), max(values)
            span = f"{low:.0f} / {mid:.0f} / {high:.0f}"
            parts.append(f"{label} s min / median / max {span} ({len(values)} runs)")
    return "; ".join(parts) or "no timings (runs read back from an older sweep)"


def main(argv: list[str] | None = None) -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--switches", nargs="+", default=["default"], choices=sorted(SWITCHES))
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (wall times then overlap)")
    parser.add_argument("--rescore-flips", nargs="+", default=[], choices=["none", "h", "hv"])
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="arguments for every run")
    args = parser.parse_args(argv)
    plan = [(s, t, w) for w in args.switches for t in args.threads for s in args.seeds]
    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(lambda p: run_one(args.out, *p, args.extra), plan))
    cpu = cpu_name()
    rescored = {flips: [rescore(row, args.out, flips) for row in rows] for flips in args.rescore_flips}
    record = {"cpu": cpu, "extra": args.extra, "runs": rows, "rescored": rescored}
    (args.out / "spread.json").write_text(json.dumps(record, indent=1))
    print(f"CPU: {cpu}; extra arguments: {args.extra or 'none'}\n")
    print(summary(rows))
    print(times_line(rows))
    for flips, table in rescored.items():
        print(f"\nThe same checkpoints, class maps with cam_flips={flips}:\n")
        print(summary(table))


if __name__ == "__main__":
    main()
