"""A forked child scores with a pool of its own: the compiled core's thread pool of the parent is not
inherited (its threads do not exist in the child, and a task handed to it would wait forever).

Before the fix a process that had scored a batch and then forked (a DataLoader worker, a user's
multiprocessing pool) hung in the child's first ``best_ious_many`` of two or more maps.
"""

from __future__ import annotations

import multiprocessing
import os

import numpy as np
import pytest

from wsl.metrics import boxes


def _maps():
    rng = np.random.default_rng(3)
    maps = [boxes.quantize_cam(rng.random((24, 32))) for _ in range(3)]
    gts = [np.array([[2, 3, 20, 15]], dtype=np.int64)] * 3
    return maps, gts, boxes.cam_thresholds(0.05)


def _child(conn) -> None:
    maps, gts, thr = _maps()
    conn.send([a.tolist() for a in boxes.best_ious_many(maps, gts, thr, True)])
    conn.close()


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork on this platform")
@pytest.mark.filterwarnings("ignore:.*multi-threaded.*:DeprecationWarning")
def test_a_forked_child_does_not_inherit_the_parents_scoring_pool():
    set_threads = getattr(boxes, "set_scoring_threads", None)
    if set_threads is not None and len(os.sched_getaffinity(0)) < 2:
        set_threads(2)  # a pool needs two threads; this machine has one CPU
    maps, gts, thr = _maps()
    expected = [a.tolist() for a in boxes.best_ious_many(maps, gts, thr, True)]  # builds the pool
    assert boxes._POOL is not None
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(send,))
    child.start()
    send.close()
    got = receive.recv() if receive.poll(120) else None
    child.join(10)
    if child.is_alive():
        child.kill()
        child.join()
    if set_threads is not None:
        set_threads(None)
    assert got is not None, "the forked child hung in best_ious_many (it used the parent's pool)"
    assert got == expected and child.exitcode == 0


def test_set_scoring_threads_checks_and_rebuilds_the_pool():
    maps, gts, thr = _maps()
    expected = [a.tolist() for a in boxes.best_ious_many(maps, gts, thr, False)]
    try:
        boxes.set_scoring_threads(1)
        assert boxes._scoring_threads() == 1
        assert [a.tolist() for a in boxes.best_ious_many(maps, gts, thr, False)] == expected
        boxes.set_scoring_threads(3)
        assert boxes._POOL is None  # the old pool is shut down; a 3-thread one is built on first use
        assert [a.tolist() for a in boxes.best_ious_many(maps, gts, thr, False)] == expected
        assert boxes._POOL is not None and boxes._POOL._max_workers == 3
    finally:
        boxes.set_scoring_threads(None)
    for bad in (0, -2, 1.0, True, "2"):
        with pytest.raises(ValueError, match="set_scoring_threads: threads must be an int >= 1 or None"):
            boxes.set_scoring_threads(bad)
