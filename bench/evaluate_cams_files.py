"""``evaluate --cams --protocol wsolevaluation`` on N saved score maps: wall time, CPU time and peak RSS.

The first N images of the real ILSVRC ``test`` split of wsolevaluation's metadata (the ImageNet val set;
``$WSL_WSOL_METADATA`` or ``../shared/wsolevaluation/metadata``) are written as a metadata subset with
their real ids, sizes, labels and boxes; the images are 300-byte header-only JPEG stand-ins at the listed
sizes (the annotation-only loader reads each header, never the pixels); the maps are 224×224 float32
``.npy`` files in wsolevaluation's nested layout (``<image_id>.npy``, e.g.
``val/ILSVRC2012_val_00000001.JPEG.npy``), a Gaussian blob over the first GT box plus one of 32 smooth
random fields and noise, deterministic per image.

Then the real command runs in a child process, once per thread setting, and the child's own resource
usage is read with ``os.wait4`` (wall, user + system CPU, ``ru_maxrss``)::

    python tools/evaluate.py --cams MAPS --data wsol:ILSVRC:ROOT:metadata=META --split test \\
        --single-label --protocol wsolevaluation --no-progress --out RESULT.json

``--workers 1,2`` runs it with ``--workers 1`` and ``--workers 2`` (worker processes for the maps,
:mod:`wsl.evaluation_workers`), ``--repeats R`` interleaves R rounds of every setting. The child runs
under a small reaper (Linux ``PR_SET_CHILD_SUBREAPER``) that waits for every process below it, so the
CPU time includes the worker processes and the forkserver they start from, and a sampler reads the
processes' summed proportional set size (``/proc/PID/smaps_rollup`` Pss, every 0.5 s): ``peak_pss_mib``
is the memory of the whole tree at its peak, ``maxrss_mib`` the largest single process's.

``--threads 2,1`` runs it with ``OMP_NUM_THREADS`` unset (torch's default: one thread per core) and
``OMP_NUM_THREADS=1``; each run's scores are printed and must be equal. ``--keep DIR`` writes the maps and
metadata there (and reuses them when they are already there), so larger N can be written once.
``--tree A --tree B`` runs each tree's ``tools/evaluate.py`` in turn (interleaved: A, B per thread
setting), for a before/after pair under the same load.

    python bench/evaluate_cams_files.py --n 2000 --threads 2,1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evaluate_scale import placeholder_root  # noqa: E402
from standin import metadata_dir  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SIDE = 224
FIELDS = 32
FILES = ("image_ids.txt", "class_labels.txt", "image_sizes.txt", "localization.txt")


def subset_metadata(metadata: Path, dataset: str, split: str, n: int, out: Path) -> list[str]:
    """The first ``n`` ids of ``metadata/dataset/split`` with their lines of the four files, in ``out``."""
    source = metadata / dataset / split
    ids = source.joinpath("image_ids.txt").read_text().splitlines()[:n]
    wanted = set(ids)
    folder = out / dataset / split
    folder.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        lines = [
            line for line in source.joinpath(name).read_text().splitlines() if line.split(",")[0] in wanted
        ]
        folder.joinpath(name).write_text("".join(f"{line}\n" for line in lines))
    return ids


def _fields(seed: int = 0) -> np.ndarray:
    """32 smooth random fields (224×224 float32): a 7×7 random grid, upsampled bilinearly."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((FIELDS, 7, 7))
    axis = np.linspace(0, 6, SIDE)
    i0 = np.minimum(axis.astype(int), 5)
    t = axis - i0
    rows = coarse[:, i0] * (1 - t)[None, :, None] + coarse[:, i0 + 1] * t[None, :, None]
    return (rows[:, :, i0] * (1 - t) + rows[:, :, i0 + 1] * t).astype(np.float32)


def write_maps(folder: Path, meta: Path, ids: list[str]) -> None:
    """One 224×224 float32 ``.npy`` per id in wsolevaluation's nested layout."""
    sizes = {}
    for line in meta.joinpath("image_sizes.txt").read_text().splitlines():
        image_id, w, h = line.rsplit(",", 2)
        sizes[image_id] = (int(w), int(h))
    first_box = {}
    for line in meta.joinpath("localization.txt").read_text().splitlines():
        image_id, *coords = line.rsplit(",", 4)
        first_box.setdefault(image_id, tuple(float(c) for c in coords))
    fields, grid = _fields(), np.arange(SIDE, dtype=np.float32)
    for index, image_id in enumerate(ids):
        w, h = sizes[image_id]
        x0, y0, x1, y1 = first_box[image_id]
        cx, cy = (x0 + x1) / 2 * SIDE / w, (y0 + y1) / 2 * SIDE / h
        sx, sy = max(4.0, (x1 - x0) * SIDE / w / 3), max(4.0, (y1 - y0) * SIDE / h / 3)
        blob = np.exp(-(((grid - cy) / sy) ** 2))[:, None] * np.exp(-(((grid - cx) / sx) ** 2))
        noise = np.random.default_rng(index).random((SIDE, SIDE), dtype=np.float32) * 0.1
        cam = (blob + 0.6 * fields[index % FIELDS] + noise).astype(np.float32)
        path = folder.joinpath(image_id + ".npy")
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, cam, allow_pickle=False)


def prepare(work: Path, metadata: Path, dataset: str, split: str, n: int) -> tuple[Path, str]:
    """Metadata subset, header-only images and maps under ``work`` (reused when ``work/ready-N`` exists)."""
    meta, maps, root = work / "metadata", work / "scoremaps", work / "images"
    ready = work / f"ready-{dataset}-{split}-{n}"
    if not ready.exists():
        started = time.perf_counter()
        ids = subset_metadata(metadata, dataset, split, n, meta)
        placeholder_root(meta, dataset, split, root)
        write_maps(maps, meta / dataset / split, ids)
        ready.write_text(f"{len(ids)} maps written in {time.perf_counter() - started:.1f} s\n")
    print(ready.read_text().strip(), f"({work})", flush=True)
    return maps, f"wsol:{dataset}:{root}:metadata={meta}"


#: Runs the command and then waits for every orphaned descendant (the forkserver and its workers), so
#: that their CPU time reaches this process's parent through ``wait4`` (Linux; elsewhere: the command's).
REAPER = """
import ctypes, os, subprocess, sys
try:
    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
except (OSError, AttributeError):
    pass
code = subprocess.call(sys.argv[1:])
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
sys.exit(code)
"""


def _tree_pss_kib(root: int) -> int:
    """Summed Pss of ``root`` and its descendants (``/proc``; 0 where unreadable)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        children = [p for p, parent in parents.items() if parent == pid and p not in tree]
        tree.update(children)
        frontier.extend(children)
    total = 0
    for pid in tree:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return total


def _sample_peak(pid: int, stop: threading.Event, peak: list[int]) -> None:
    while not stop.wait(0.5):
        peak[0] = max(peak[0], _tree_pss_kib(pid))


def evaluate(
    tree: Path,
    maps: Path,
    spec: str,
    split: str,
    threads: int,
    interval: float | None,
    out: Path,
    workers: int = 1,
) -> dict:
    """Run ``tools/evaluate.py --cams`` in a child; its wall, CPU and peak memory, and its scores."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    env.pop("OMP_NUM_THREADS", None)
    if threads == 1:
        env["OMP_NUM_THREADS"] = "1"
    cmd = [sys.executable, str(tree / "tools" / "evaluate.py"), "--cams", str(maps), "--data", spec]
    cmd += ["--split", split, "--single-label", "--protocol", "wsolevaluation", "--no-progress"]
    cmd += ["--out", str(out)]
    if interval is not None:
        cmd += ["--cam-curve-interval", str(interval)]
    if workers != 1:
        cmd += ["--workers", str(workers)]
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", REAPER, *cmd], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    stop, peak = threading.Event(), [0]
    sampler = threading.Thread(target=_sample_peak, args=(child.pid, stop, peak), daemon=True)
    sampler.start()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    stop.set()
    sampler.join()
    child.returncode = os.waitstatus_to_exitcode(status)
    stderr = child.stderr.read().decode() if child.stderr else ""
    if child.returncode != 0:
        raise SystemExit(f"evaluate failed ({child.returncode}):\n{stderr[-3000:]}")
    results = json.loads(out.read_text())
    return {
        "tree": str(tree),
        "threads": "default" if threads != 1 else 1,
        "workers": workers,
        "wall_s": round(wall, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "maxrss_mib": round(usage.ru_maxrss / 1024, 1),
        "peak_pss_mib": round(peak[0] / 1024, 1),
        "results": results.get("results", results),
    }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=2000, help="number of images (the first N of the split)")
    parser.add_argument("--dataset", default="ILSVRC")
    parser.add_argument("--split", default="test")
    parser.add_argument("--metadata", default=None, help="wsolevaluation's metadata folder")
    parser.add_argument(
        "--threads", default="2,1", help="runs: 1 = OMP_NUM_THREADS=1, other = torch's default"
    )
    parser.add_argument("--workers", default="1", help="comma-separated --workers values, e.g. 1,2")
    parser.add_argument("--repeats", type=int, default=1, help="interleaved rounds of every setting")
    parser.add_argument("--interval", type=float, default=None, help="threshold step (default: 0.001)")
    parser.add_argument("--tree", action="append", help="repository root whose code runs (repeatable)")
    parser.add_argument("--keep", default=None, help="folder for the maps and metadata (kept and reused)")
    args = parser.parse_args(argv)
    load = os.getloadavg()
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load {load[0]:.1f}", flush=True
    )
    metadata = Path(args.metadata) if args.metadata else metadata_dir()
    with tempfile.TemporaryDirectory(prefix="wsl-camfiles-") as tmp:
        work = Path(args.keep) if args.keep else Path(tmp)
        maps, spec = prepare(work, metadata, args.dataset, args.split, args.n)
        rows = []
        trees = [Path(t).resolve() for t in args.tree or [REPO]]
        runs = [
            (tree, int(t), int(w))
            for _ in range(args.repeats)
            for t in args.threads.split(",")
            for w in args.workers.split(",")
            for tree in trees
        ]
        for k, (tree, threads, workers) in enumerate(runs):
            out = Path(tmp) / f"result{k}.json"
            load_before = round(os.getloadavg()[0], 1)
            row = evaluate(tree, maps, spec, args.split, threads, args.interval, out, workers)
            row["load_before"], row["load_after"] = load_before, round(os.getloadavg()[0], 1)
            print(json.dumps(row), flush=True)
            rows.append(row)
    scores = [json.dumps(r["results"], sort_keys=True) for r in rows]
    print("scores identical across runs:", len(set(scores)) == 1)
    return rows


if __name__ == "__main__":
    main()
