"""Running the planned runs that are not finished: trained runs (in this process or ``jobs`` at a time),
post-hoc runs (the CAM method on the source run's tested checkpoint) and the center baseline.

Every run writes ``results.json`` in its folder last, so a run with one is finished, and an interrupted
benchmark resumes where it stopped. Before a run starts, its key (:mod:`~wsl.benchmark.keys`: its
arguments and the code's digest) goes into ``RUN/benchmark_key.json``; a finished run is reused only when
its key is the current one, and a stale or unkeyed one is refused, redone or kept by ``stale``.

With ``jobs > 1`` the trained runs go to ``jobs`` worker processes (``spawn``), each limited to
``cpu_count // jobs`` torch threads; each run's output goes to ``OUT/logs/<run>.log`` instead of the
terminal. It pays off only with more cores than one run uses: on a 2-core machine two 1-thread workers
took 444 s and 459 s for 30-epoch runs that take 222 s alone with 2 threads (docs/benchmarks.md), i.e. no
gain. Workers start with
``--trainer.enable_progress_bar false``.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from wsl.benchmark.keys import check_finished, write_key
from wsl.benchmark.paths import anchored
from wsl.benchmark.plan import BenchmarkPlan, BenchmarkRun
from wsl.runs import RunFolder, write_json

__all__ = ["add_faithfulness", "run_center", "run_posthoc", "run_pending", "train_pending"]

log = logging.getLogger(__name__)


def _summary(results: dict[str, Any]) -> str:
    test = results.get("test") or {}
    return ", ".join(f"{k} {100 * test[k]:.1f}" for k in ("map", "top1_acc", "maxboxacc") if k in test)


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _train_in_worker(args: list[str], log_path: str) -> dict[str, Any]:
    """One run in a worker process, its stdout and stderr (file descriptors 1 and 2, so that the logging
    handlers and warnings bound to them at import follow) redirected to ``log_path``; the ``wsl`` loggers'
    messages are printed there too (:func:`~wsl.jobs.logs.tool_logging` on stdout, as ``tools/train.py``)."""
    from wsl import cli
    from wsl.jobs.logs import tool_logging

    sys.stdout.flush()
    sys.stderr.flush()
    with open(log_path, "w") as handle:
        os.dup2(handle.fileno(), 1)
        os.dup2(handle.fileno(), 2)
        try:
            with tool_logging(sys.stdout):
                results = cli.train(args)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
    return {"test": results.get("test") or {}}


def train_pending(
    plan: BenchmarkPlan,
    runs: Sequence[BenchmarkRun],
    jobs: int = 1,
    after_each: Callable[[], object] = lambda: None,
    stale: str = "refuse",
) -> None:
    """Train every run of ``runs`` that is not finished with its current key (:func:`check_finished`),
    ``jobs`` at a time, each after writing its key. Progress (a run's start, its end and scores) is logged
    at INFO, a failed run at WARNING (logger ``wsl.benchmark.execute``).

    Raises:
        ValueError: ``jobs < 1``; a stale or unkeyed finished run under ``stale="refuse"`` (before any
        training). A failing run's error is raised once the runs in flight have ended (the queued ones are
        cancelled); its log is ``OUT/logs/<run>.log``.
    """
    from wsl import cli  # looked up at call time so that tests can patch wsl.cli.train

    if jobs < 1:
        raise ValueError(f"jobs: got {jobs}; expected >= 1")
    todo = check_finished(plan, runs, stale)
    for run in todo:
        write_key(plan, run)
    if jobs == 1:
        for index, run in enumerate(todo, 1):
            log.info("[%d/%d] %s: start %s", index, len(todo), run.name, time.strftime("%H:%M:%S"))
            started = time.perf_counter()
            results = cli.train(plan.train_args(run))
            log.info("%s: done in %.0f s (%s)", run.name, time.perf_counter() - started, _summary(results))
            after_each()
        return
    (plan.root / "logs").mkdir(parents=True, exist_ok=True)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker, initargs=(threads,)) as pool:
        pending: dict[Future, tuple[BenchmarkRun, float]] = {}
        for run in todo:
            args = [*plan.train_args(run), "--trainer.enable_progress_bar", "false"]
            future = pool.submit(_train_in_worker, args, str(plan.root / "logs" / f"{run.name}.log"))
            pending[future] = (run, time.perf_counter())
        log.info(
            "%d runs, %d at a time, %d thread(s) each; logs in %s",
            len(todo),
            jobs,
            threads,
            plan.root / "logs",
        )
        done_count = 0
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                run, started = pending.pop(future)
                error = future.exception()
                if error is not None:
                    pool.shutdown(wait=True, cancel_futures=True)
                    log.warning("%s: failed; see %s", run.name, plan.root / "logs" / f"{run.name}.log")
                    raise error
                done_count += 1
                seconds = time.perf_counter() - started
                log.info(
                    "[%d/%d] %s: done (%s; %.0f s since queued)",
                    done_count,
                    len(todo),
                    run.name,
                    _summary(future.result()),
                    seconds,
                )
                after_each()


def run_posthoc(run: BenchmarkRun, faithfulness: bool = False) -> None:
    """Score the post-hoc CAM method of ``run`` on the test split with its source run's tested checkpoint
    (the same data and frame), write ``results.json`` and log its scores (INFO); with ``faithfulness``
    the faithfulness means of the same maps too (``EvalOptions.faithfulness``)."""
    from wsl.jobs.evaluate import evaluate_from_checkpoint

    source = RunFolder(Path(str(run.source_dir)))
    trained = source.results() or {}
    ckpt = anchored(trained.get("checkpoint"), trained.get("run_dir"), source.root)
    if not ckpt or not Path(ckpt).is_file():
        raise ValueError(
            f"entries: {run.entry.name!r} needs the checkpoint of {source.root}, which is missing "
            f"({ckpt!r}); delete {source.root} to retrain it"
        )
    data = ((source.config() or {}).get("data") or {}).get("data") or trained.get("data") or "synthetic"
    started = time.perf_counter()
    report = evaluate_from_checkpoint(
        ckpt,
        data=data,
        split="test",
        num_workers=0,
        progress=False,
        cam_method=run.entry.cam_method,
        faithfulness=faithfulness,
    )
    write_json(
        run.results_path,
        {
            "entry": run.entry.name,
            "kind": "posthoc",
            "cam_method": run.entry.cam_method,
            "source_run": str(source.root),
            "checkpoint": ckpt,
            "data": data,
            "pool": trained.get("pool"),
            "backbone": trained.get("backbone"),
            "eval_seconds": round(time.perf_counter() - started, 1),
            "test": report["results"],
        },
        nan_as_null=True,  # a score undefined on the split (NaN) is written as null
    )
    log.info("%s: done (%s)", run.name, _summary({"test": report["results"]}))


def run_center(run: BenchmarkRun, reference: BenchmarkRun | None) -> None:
    """Score the center baseline on the test split of the benchmark's data (and the frame of the
    ``reference`` trained run's config, when there is one), write ``results.json`` and log its scores
    (INFO)."""
    from wsl.jobs.evaluate import evaluate_center

    config = (reference.folder.config() or {}) if reference is not None else {}
    data, model = config.get("data") or {}, config.get("model") or {}
    report = evaluate_center(
        data=data.get("data") or "synthetic",
        split=data.get("test_split") or "test",
        protocol=model.get("protocol") or "original",
        class_names=data.get("class_names"),
        single_label=bool(data.get("single_label")),
        progress=False,
    )
    write_json(
        run.results_path,
        {
            "entry": "center",
            "kind": "center",
            "sigma": report["sigma"],
            "data": report["data"],
            "test": report["results"],
        },
        nan_as_null=True,  # a score undefined on the split (NaN) is written as null
    )
    log.info("%s: done (%s)", run.name, _summary({"test": report["results"]}))


def run_pending(
    runs: Sequence[BenchmarkRun],
    reference: BenchmarkRun | None,
    plan: BenchmarkPlan | None = None,
    stale: str = "refuse",
    faithfulness: bool = False,
) -> None:
    """Run the post-hoc and center runs of ``runs`` that are not finished (trained runs are left out): with
    ``plan``, finished means finished with the current key (:func:`check_finished`, by ``stale``), and each
    run's key is written before it runs; without, a readable ``results.json``. ``faithfulness``: the
    post-hoc runs report the faithfulness means too (:func:`run_posthoc`).

    Raises:
        ValueError: a stale or unkeyed finished run under ``stale="refuse"``; a post-hoc run whose source
            checkpoint is missing.
    """
    others = [r for r in runs if r.entry.kind != "train"]
    if plan is None:
        todo = [r for r in others if r.folder.results() is None]
    else:
        todo = check_finished(plan, others, stale)
    for run in todo:
        run.run_dir.mkdir(parents=True, exist_ok=True)
        if plan is not None:
            write_key(plan, run)
        if run.entry.kind == "posthoc":
            run_posthoc(run, faithfulness)
        else:
            run_center(run, reference)


def add_faithfulness(runs: Sequence[BenchmarkRun]) -> None:
    """Add the faithfulness means to the finished trained and post-hoc runs of ``runs`` whose test results
    lack them (``deletion_auc``).

    Each such run's tested checkpoint (a post-hoc run: its source run's) is scored again on the test split
    by the evaluate job with ``faithfulness=True`` (:func:`wsl.jobs.evaluate.evaluate_from_checkpoint`: its
    CAM method, the checkpoint's data and frame), and the faithfulness keys
    (:class:`wsl.cam.explain_eval.FaithfulnessSums`) are merged into its ``results.json`` ``test``; the
    run's other scores are kept as they are. Runs without a readable checkpoint are left out (logged).
    """
    from wsl.cam.explain_eval import FaithfulnessSums
    from wsl.jobs.evaluate import evaluate_from_checkpoint

    for run in runs:
        results = run.folder.results()
        if run.entry.kind == "center" or not results or "deletion_auc" in (results.get("test") or {}):
            continue
        ckpt, data, split = _tested(run, results)
        if not ckpt or not Path(ckpt).is_file():
            log.warning("%s: no checkpoint (%r): no faithfulness scores", run.name, ckpt)
            continue
        method = run.entry.cam_method if run.entry.kind == "posthoc" else "native"
        report = evaluate_from_checkpoint(
            ckpt, data=data, split=split, num_workers=0, progress=False, cam_method=method, faithfulness=True
        )
        found = {k: v for k, v in report["results"].items() if k in FaithfulnessSums.KEYS}
        write_json(
            run.results_path, {**results, "test": {**results.get("test", {}), **found}}, nan_as_null=True
        )
        log.info("%s: faithfulness %s", run.name, ", ".join(f"{k} {100 * v:.1f}" for k, v in found.items()))


def _tested(run: BenchmarkRun, results: dict[str, Any]) -> tuple[str | None, str, str]:
    """``(checkpoint, data, split)`` a run was tested with: a post-hoc run's own record, a trained run's
    tested checkpoint and its config's data and test split."""
    if run.entry.kind == "posthoc":
        return results.get("checkpoint"), results.get("data") or "synthetic", "test"
    ckpt = anchored(results.get("checkpoint"), results.get("run_dir"), run.folder.root)
    data = (run.folder.config() or {}).get("data") or {}
    return ckpt, data.get("data") or results.get("data") or "synthetic", data.get("test_split") or "test"
