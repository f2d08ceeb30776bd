"""Benchmark runs keyed by their configuration, so that a finished run is reused only for what it ran.

Each run folder gets ``benchmark_key.json`` before its run starts: the run's **fields** and their
``digest`` (SHA-256 of the fields as canonical JSON). The fields of a trained run are its entry, seed,
head setting and own schedule, its ``tools/train.py`` arguments (:meth:`BenchmarkPlan.train_args`, with
``--run_dir`` reduced to the folder's name and ``--config`` replaced by the SHA-256 of the file's text, so
that moving the benchmark folder or the config file changes nothing), and the **code**: the SHA-256 of
the ``wsl`` package's sources (every ``*.py`` under it, by relative path). A post-hoc run's fields are its
entry, its source run's name and that run's digest, and the code; the center baseline's, its data, the
config's text and the code. The installed ``wsl`` version and the git commit (when ``git`` finds one) are
stored beside the fields as information: a commit that changes only the documentation does not make the
runs stale.

:func:`check_finished` sorts the finished runs (a readable ``results.json``) into current ones (same digest:
reused), stale ones (another digest) and unkeyed ones (no ``benchmark_key.json``: from before the keys, or
a run folder copied from elsewhere, e.g. ``docs/benchmark_results``). With ``stale="refuse"`` (the default)
any stale or unkeyed run is an error that names each run, its differing fields and the two ways out;
``"redo"`` moves the run folder to ``OUT/stale/<run>-<n>`` and trains it again; ``"keep"`` reuses it as it
is, with a note. Reading and reporting finished runs (:mod:`~wsl.benchmark.collect`,
:mod:`~wsl.benchmark.tested`) never looks at the keys.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import wsl
from wsl.benchmark.plan import BenchmarkPlan, BenchmarkRun
from wsl.runs import write_json

__all__ = [
    "KEY_FILE",
    "STALE_POLICIES",
    "check_finished",
    "code_digest",
    "diff_fields",
    "run_key",
    "write_key",
]

log = logging.getLogger(__name__)

KEY_FILE = "benchmark_key.json"
#: What to do with a finished run whose key differs or is missing.
STALE_POLICIES = ("refuse", "redo", "keep")


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """SHA-256 over the ``wsl`` package's ``*.py`` files (relative path and bytes, in path order)."""
    root = Path(wsl.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def _git_commit() -> str | None:
    root = Path(wsl.__file__).resolve().parent
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def _file_digest(path: str | None) -> str | None:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else None


def _portable_args(plan: BenchmarkPlan, run: BenchmarkRun) -> list[str]:
    args = list(plan.train_args(run))
    for flag, value in (("--run_dir", run.name), ("--config", f"sha256:{_file_digest(plan.config)}")):
        if flag in args:
            args[args.index(flag) + 1] = value
    return args


def _digest(fields: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def _read_key(run: BenchmarkRun) -> dict[str, Any] | None:
    try:
        key = json.loads((run.run_dir / KEY_FILE).read_text())
    except (OSError, ValueError):
        return None
    return key if isinstance(key, dict) and isinstance(key.get("fields"), dict) else None


def _train_fields(plan: BenchmarkPlan, run: BenchmarkRun) -> dict[str, Any]:
    """A trained run: its entry, seed, head setting, schedule and portable train arguments."""
    return {
        "entry": run.entry.name,
        "seed": run.seed,
        "setting": run.pool_kwargs,
        "epochs": run.epochs,
        "train_args": _portable_args(plan, run),
    }


def _posthoc_fields(plan: BenchmarkPlan, run: BenchmarkRun) -> dict[str, Any]:
    """A post-hoc run: its entry, and the folder and key digest of the trained run it reads."""
    source = Path(str(run.source_dir))
    source_key = (_read_key(BenchmarkRun(run.entry, run.seed, source)) or {}).get("digest")
    return {"entry": run.entry.name, "source": source.name, "source_digest": source_key}


def _center_fields(plan: BenchmarkPlan, run: BenchmarkRun) -> dict[str, Any]:
    """The center baseline: the data spec and the config file's digest."""
    return {"entry": run.entry.name, "data": plan.data, "config": _file_digest(plan.config)}


#: Entry kind (:attr:`wsl.benchmark.entries.Entry.kind`) → the key fields of its runs (``code`` follows).
KEY_FIELDS: dict[str, Callable[[BenchmarkPlan, BenchmarkRun], dict[str, Any]]] = {
    "train": _train_fields,
    "posthoc": _posthoc_fields,
    "center": _center_fields,
}


def run_key(plan: BenchmarkPlan, run: BenchmarkRun) -> dict[str, Any]:
    """``{"digest", "fields", "info"}`` of ``run`` (see the module docstring)."""
    fields = {**KEY_FIELDS[run.entry.kind](plan, run), "code": code_digest()}
    info = {"wsl_version": wsl.__version__, "git_commit": _git_commit()}
    return {"digest": _digest(fields), "fields": fields, "info": info}


def write_key(plan: BenchmarkPlan, run: BenchmarkRun) -> Path:
    """Write ``run``'s key into its folder (created if needed), atomically."""
    run.run_dir.mkdir(parents=True, exist_ok=True)
    return write_json(run.run_dir / KEY_FILE, run_key(plan, run))


def _short(value: Any, width: int = 60) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= width else text[: width - 1] + "…"


def diff_fields(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The fields that differ, one ``name: old → new`` each; for ``train_args``, the arguments only one
    side has.

    Example:
        >>> diff_fields({"seed": 0, "train_args": ["--a", "1"]}, {"seed": 0, "train_args": ["--a", "2"]})
        ['train_args: only before: --a 1; only now: --a 2']
    """
    out = []
    for name in sorted(set(old) | set(new)):
        before, now = old.get(name), new.get(name)
        if before == now:
            continue
        if name == "train_args" and isinstance(before, list) and isinstance(now, list):
            pairs_before, pairs_now = _arg_pairs(before), _arg_pairs(now)
            gone = [p for p in pairs_before if p not in pairs_now]
            added = [p for p in pairs_now if p not in pairs_before]
            before_text, now_text = " ".join(gone) or "–", " ".join(added) or "–"
            out.append(f"train_args: only before: {before_text}; only now: {now_text}")
        elif name == "code":
            out.append("code: the wsl sources changed since the run")
        else:
            out.append(f"{name}: {_short(before)} → {_short(now)}")
    return out


def _arg_pairs(args: Sequence[str]) -> list[str]:
    """``["--a", "1", "--b", "2"]`` → ``["--a 1", "--b 2"]`` (a flag with its value, as one item)."""
    pairs, index = [], 0
    while index < len(args):
        value = args[index + 1] if index + 1 < len(args) and not args[index + 1].startswith("--") else None
        pairs.append(args[index] if value is None else f"{args[index]} {value}")
        index += 1 if value is None else 2
    return pairs


def check_finished(
    plan: BenchmarkPlan,
    runs: Sequence[BenchmarkRun],
    stale: str = "refuse",
) -> list[BenchmarkRun]:
    """The runs of ``runs`` to (re)do: those unfinished, and the stale or unkeyed finished ones under
    ``stale="redo"`` (their folders moved to ``OUT/stale/``). Finished runs with the current key are
    reused; under ``"keep"`` stale and unkeyed ones are reused too. An unfinished run that left files (an
    interrupted training: config, logs, checkpoints) is moved to ``OUT/stale/`` as well, so that it trains
    anew in an empty folder rather than beside the files of the killed training. Each decision is logged
    (logger ``wsl.benchmark.keys``): a skip or a move at INFO, a stale run kept at WARNING.

    Raises:
        ValueError: ``stale`` is not one of :data:`STALE_POLICIES`; under ``"refuse"``, a finished run is
            stale or unkeyed (every such run is named, with its differing fields and the fix).
    """
    if stale not in STALE_POLICIES:
        raise ValueError(f"stale: got {stale!r}; expected one of {', '.join(STALE_POLICIES)}")
    todo, problems = [], []
    for run in runs:
        if run.folder.results() is None:
            leftovers = (
                [p.name for p in run.run_dir.iterdir() if p.name != KEY_FILE] if run.run_dir.is_dir() else []
            )
            if leftovers:  # an interrupted run: train it anew in an empty folder, keeping what it left
                moved = _move_aside(plan.root, run)
                log.info(
                    "%s: unfinished (no results.json); its files moved to %s, training it anew",
                    run.name,
                    moved,
                )
            todo.append(run)
            continue
        old, new = _read_key(run), run_key(plan, run)
        if old is not None and old.get("digest") == new["digest"]:
            log.info("%s: skip (finished with the same configuration)", run.name)
            continue
        why = (
            "no benchmark key (finished before run keys, or copied): its configuration cannot be checked"
            if old is None
            else "configuration changed: " + "; ".join(diff_fields(old["fields"], new["fields"]))
        )
        if stale == "keep":
            log.warning("%s: reused as it is (--keep-stale), although %s", run.name, why)
        elif stale == "redo":
            moved = _move_aside(plan.root, run)
            log.info("%s: %s; moved to %s, training it again (--redo-stale)", run.name, why, moved)
            todo.append(run)
        else:
            problems.append(f"  {run.name} ({run.run_dir}): {why}")
    if problems:
        raise ValueError(
            f"stale: {len(problems)} finished run(s) do not match this benchmark's configuration:\n"
            + "\n".join(problems)
            + "\nRerun with --redo-stale (stale='redo') to train them again (their folders move to "
            f"{plan.root / 'stale'}), or with --keep-stale (stale='keep') to reuse them as they are."
        )
    return todo


def _move_aside(root: Path, run: BenchmarkRun) -> Path:
    (root / "stale").mkdir(parents=True, exist_ok=True)
    number = 1
    while (root / "stale" / f"{run.name}-{number}").exists():
        number += 1
    target = root / "stale" / f"{run.name}-{number}"
    shutil.move(str(run.run_dir), str(target))
    return target
