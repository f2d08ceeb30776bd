"""Where the first command's time goes: wall and CPU seconds of each phase of ``tools/train.py``.

Runs the training command in this process (the same code path as ``python tools/train.py ...``) with a
Lightning callback that reads two clocks at the phase boundaries, and prints one row per phase:

- ``import``: importing ``wsl.cli`` (torch, Lightning, timm, jsonargparse);
- ``setup``: from the import to the start of the training (configuration, the data set check,
  the in-memory training cache, the model);
- ``train``: the training epochs without the validations inside them;
- ``validation``: every validation (forward with the flip views and the localization metrics);
- ``test``: the test of the chosen checkpoint;
- ``rest``: everything else (checkpoint loading and writing, ``results.json``, teardown).

CPU seconds are user + system of this process and of its worker processes (the validation and test
loaders' workers: alive ones read from ``/proc``, finished ones from ``getrusage``). On a shared machine
the wall column is inflated by the other processes; the CPU column much less, so compare phases by CPU
seconds and runs by paired ratios, never by a single wall figure.

    python bench/first_command_phases.py --threads 2 -- --pool weldon --run_dir /tmp/phases --overwrite true
    # a short run whose phases extrapolate to the full one (per training batch, per validation):
    python bench/first_command_phases.py --threads 1 -- --pool weldon --run_dir /tmp/ph --overwrite true \\
        --trainer.max_epochs 2 --trainer.limit_train_batches 10 --trainer.check_val_every_n_epoch 1
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHASES = ("import", "setup", "train", "validation", "test", "rest")
_TICK = os.sysconf("SC_CLK_TCK")


def _live_children_cpu() -> float:
    """User + system seconds of this process's live child processes (``/proc/<pid>/stat``)."""
    total, me = 0.0, os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me:  # fields[1] is the ppid; utime and stime are fields 14 and 15 of stat
            total += (int(fields[11]) + int(fields[12])) / _TICK
    return total


def clocks() -> tuple[float, float]:
    """``(wall, cpu)``: a monotonic clock and the CPU seconds of this process and its children so far."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    done = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + done.ru_utime + done.ru_stime + _live_children_cpu()
    return time.perf_counter(), cpu


class PhaseClock:
    """Accumulates ``(wall, cpu)`` spans per phase; ``start(name)`` / ``stop(name)`` bracket one span."""

    def __init__(self) -> None:
        self.totals = {name: [0.0, 0.0, 0] for name in PHASES}
        self._open: dict[str, tuple[float, float]] = {}

    def start(self, name: str) -> None:
        self._open[name] = clocks()

    def stop(self, name: str) -> None:
        if name not in self._open:
            return
        (w0, c0), (w1, c1) = self._open.pop(name), clocks()
        row = self.totals[name]
        row[0], row[1], row[2] = row[0] + w1 - w0, row[1] + c1 - c0, row[2] + 1


def phase_callback(clock: PhaseClock):
    """A Lightning callback that brackets setup, the training epochs, validations and the test."""
    import pytorch_lightning as pl

    class _Phases(pl.Callback):
        def on_train_start(self, trainer, module):
            clock.stop("setup")

        def on_train_epoch_start(self, trainer, module):
            clock.start("train")

        def on_validation_start(self, trainer, module):
            if trainer.training or trainer.state.fn == "fit":
                clock.stop("train")  # validation runs inside the training epoch
            clock.start("validation")

        def on_validation_end(self, trainer, module):
            clock.stop("validation")

        def on_train_epoch_end(self, trainer, module):
            clock.stop("train")

        def on_test_start(self, trainer, module):
            clock.start("test")

        def on_test_end(self, trainer, module):
            clock.stop("test")

    return _Phases()


def _install(callback) -> None:
    """Append ``callback`` to every ``pytorch_lightning.Trainer`` built from now on."""
    import pytorch_lightning as pl

    original = pl.Trainer.__init__

    @functools.wraps(original)  # LightningCLI reads the Trainer's signature
    def init(self, *args, **kwargs):
        given = kwargs.get("callbacks") or []
        kwargs["callbacks"] = [*(given if isinstance(given, list) else [given]), callback]
        original(self, *args, **kwargs)

    pl.Trainer.__init__ = init  # type: ignore[method-assign]


def with_rest(clock: PhaseClock, total: tuple[float, float]) -> dict[str, list]:
    """The phases with ``rest`` = the command's ``(wall, cpu)`` minus the named phases."""
    rows = dict(clock.totals)
    known_w = sum(v[0] for k, v in rows.items() if k != "rest")
    known_c = sum(v[1] for k, v in rows.items() if k != "rest")
    rows["rest"] = [total[0] - known_w, total[1] - known_c, 1]
    return rows


def table(clock: PhaseClock, total: tuple[float, float]) -> str:
    """A Markdown table: each phase's spans, wall and CPU seconds and its share of the command's CPU."""
    rows = with_rest(clock, total)
    lines = ["| phase | spans | wall s | CPU s | CPU share |", "|---|---:|---:|---:|---:|"]
    for name in PHASES:
        wall, cpu, spans = rows[name]
        lines.append(f"| {name} | {spans} | {wall:.1f} | {cpu:.1f} | {100 * cpu / total[1]:.0f} % |")
    lines.append(f"| **command** | | **{total[0]:.1f}** | **{total[1]:.1f}** | 100 % |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--json", type=Path, default=None, help="also write the phases here")
    parser.add_argument("train_args", nargs=argparse.REMAINDER, help="--, then train.py's arguments")
    args = parser.parse_args(argv)
    train_args = args.train_args[1:] if args.train_args[:1] == ["--"] else args.train_args
    sys.path.insert(0, str(ROOT))  # this checkout's wsl
    begun = clocks()
    clock = PhaseClock()
    clock.start("import")
    import torch

    from wsl.cli import run_tool, train

    clock.stop("import")
    clock.start("setup")
    if args.threads:
        torch.set_num_threads(args.threads)
    _install(phase_callback(clock))
    code = run_tool(train, train_args)
    end = clocks()
    total = (end[0] - begun[0], end[1] - begun[1])
    print(f"\nthreads {torch.get_num_threads()}; arguments: {' '.join(train_args)}\n")
    print(table(clock, total))
    if args.json is not None:
        record = {"threads": torch.get_num_threads(), "args": train_args, "total": total}
        record.update(with_rest(clock, total))
        args.json.write_text(json.dumps(record, indent=1))
    return code


if __name__ == "__main__":
    sys.exit(main())
