"""svd/fast/workers.py parallel_for: an interrupt or an exception never leaves workers running behind the caller.

The workers run compiled code on raw pointers to the caller's arrays; if the caller's
frames unwound while a worker was still inside a block, the arrays would be freed under
it (the segmentation faults of issue 22). So whatever ends parallel_for early must
return only once no worker is inside a block, and workers must start no new block.
A block here sleeps instead of computing, which makes "still inside" last long enough
to be seen; a real SIGINT is sent to the main thread while it waits.
"""
import signal
import threading
import time

import pytest

from svd.fast import blas, workers

BLOCK_S = 0.3  # how long the slow block takes: far longer than parallel_for needs to react


@pytest.fixture
def two_workers():
    if not blas.gil_free():
        pytest.skip("no GIL-free BLAS found: parallel_for runs blocks in the caller")
    previous = workers.num_threads()
    workers.set_num_threads(2)
    yield
    workers.set_num_threads(previous)


def slow_blocks(trouble):
    """fn for parallel_for over 4 blocks: block 1 (worker 1) calls trouble() and sleeps; returns (fn, log)."""
    log = {"finished": [], "started": []}

    def fn(start, stop, worker):
        log["started"].append(start)
        if start == 1:
            trouble()
            time.sleep(BLOCK_S)
        log["finished"].append(start)
    return fn, log


def test_ctrl_c_waits_for_the_workers_and_starts_no_new_block(two_workers):
    main = threading.main_thread().ident
    fn, log = slow_blocks(lambda: signal.pthread_kill(main, signal.SIGINT))
    with pytest.raises(KeyboardInterrupt):
        workers.parallel_for(fn, [(0, 1), (1, 2), (2, 3), (3, 4)])
    assert 1 in log["finished"]          # the block in progress ended before the caller went on
    assert 3 not in log["started"]       # worker 1's next block was never started


def test_an_exception_in_one_worker_waits_for_the_others(two_workers):
    log = {"finished": []}
    inside = threading.Event()

    def fn(start, stop, worker):
        if start == 0:
            inside.wait()  # block 1 is in progress
            raise ValueError("block 0 failed")
        inside.set()
        time.sleep(BLOCK_S)
        log["finished"].append(start)
    with pytest.raises(ValueError, match="block 0 failed"):
        workers.parallel_for(fn, [(0, 1), (1, 2)])
    assert log["finished"] == [1]


def test_after_an_interrupt_the_pool_still_works(two_workers):
    main = threading.main_thread().ident
    fn, _ = slow_blocks(lambda: signal.pthread_kill(main, signal.SIGINT))
    with pytest.raises(KeyboardInterrupt):
        workers.parallel_for(fn, [(0, 1), (1, 2)])
    done = []
    workers.parallel_for(lambda start, stop, worker: done.append(start), [(0, 1), (1, 2), (2, 3)])
    assert sorted(done) == [0, 1, 2]
