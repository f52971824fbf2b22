"""Worker threads and reused buffers: how the fast CPU path keeps every core busy.

- `parallel_for(fn, blocks)`
                      fn(start, stop, worker) for every block, spread over the
                      CPU cores (svd/fast/blocked.py, svd/fast/numpy_pool.py).
- `for_each_worker(fn)`
                      fn(worker, n_workers) once per worker thread, for compiled
                      code that shares its work out itself (svd/fast/winograd.py,
                      single_channel_conv.py, max_pool.py).
- `num_threads()`, `set_num_threads(n)`
                      how many worker threads there are.
- `reuse(workspace, name, shape, dtype)`, `scratch(...)`
                      buffers kept between calls, so large activations are not
                      freshly allocated (and page-faulted) for every mini-batch.

How the CPU is kept busy. The convolutions are split into blocks of rows that
fit in the L2 cache; each block does a few matrix products and a few
element-wise NumPy operations. Letting BLAS split each small product over the
cores wastes time synchronising, and leaves one core idle during the
element-wise work (NumPy is single-threaded). Instead, one Python thread per
core takes whole blocks, and BLAS runs single-threaded inside each. That only
works if BLAS calls release Python's GIL, which the `gemm` of svd/fast/blas.py
does when it finds a cblas to call through ctypes (`blas.gil_free()`). Without
one, `parallel_for` runs the blocks one after another (BLAS then uses all cores
inside each product). `set_num_threads(1)` gives the sequential behaviour too.

NumPy arrays only: the GPU path (svd/cuda/) never comes here.
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy

from svd.fast import blas


# --------------------------------------------------------------------------
# Threads
# --------------------------------------------------------------------------

def _cpu_count():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


_num_threads = _cpu_count() if blas.gil_free() else 1
_pool = None
_caller_blas_threads = None  # the pool creator's own BLAS thread setting, to restore


def num_threads():
    """Number of worker threads `parallel_for` uses (1 = run in the caller)."""
    return _num_threads


def set_num_threads(n):
    """Use n worker threads in `parallel_for`; n=1 runs blocks in the calling
    thread, with BLAS using all cores inside each product (as before the pool).
    Call it from the thread that runs the network."""
    global _num_threads, _pool, _caller_blas_threads
    if n > 1 and not blas.gil_free():
        raise RuntimeError("parallel blocks need a BLAS that releases the GIL; none was found")
    _num_threads = max(1, int(n))
    if _pool is not None:
        _pool.shutdown()
        _pool = None
        blas.set_local_threads(_caller_blas_threads)
        _caller_blas_threads = None


def _single_threaded_blas():
    """Make BLAS calls from the current thread use one core; returns the old setting."""
    return blas.set_local_threads(1)


def parallel_for(fn, blocks):
    """Call fn(start, stop, worker) for every (start, stop) in blocks.

    Worker w of num_threads() takes blocks w, w + num_threads(), ...; `worker`
    lets fn use per-worker scratch buffers and accumulators. Blocks must not
    depend on each other (they may run in any order, at the same time).
    Exceptions in a worker are re-raised here. Whatever ends the call early (an
    exception in a worker, Ctrl-C or SIGTERM in the caller) first waits for the
    workers to leave their blocks: they may be in compiled code using the
    caller's arrays, which would be freed under them.
    """
    global _pool, _caller_blas_threads
    n_workers = min(_num_threads, len(blocks))
    if n_workers <= 1:
        for start, stop in blocks:
            fn(start, stop, 0)
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(_num_threads, initializer=_single_threaded_blas)
        # BLAS in the caller's thread (the dense layers) single-threaded too:
        # otherwise OpenBLAS's own threads keep spinning for ~0.1 s after each
        # call, stealing the cores from our workers.
        _caller_blas_threads = _single_threaded_blas()

    # The workers run compiled code (ctypes releases the GIL) on arrays that only the
    # caller's frames keep alive. If the caller leaves early (Ctrl-C, SIGTERM, or an
    # exception in another worker), its frames are freed at once: so first stop the
    # workers from taking new blocks, and wait for the blocks they are in to end.
    running = {"workers": 0, "cancelled": False}
    changed = threading.Condition()

    def work(worker):
        with changed:
            if running["cancelled"]:
                return
            running["workers"] += 1
        try:
            for start, stop in blocks[worker::n_workers]:
                if running["cancelled"]:
                    break
                fn(start, stop, worker)
        finally:
            with changed:
                running["workers"] -= 1
                changed.notify_all()

    try:
        futures = []
        for w in range(n_workers):
            futures.append(_pool.submit(work, w))
        for future in futures:
            future.result()
    except BaseException:
        _cancel_and_wait(running, changed)
        raise


def _cancel_and_wait(running, changed):
    """Stop parallel_for's workers from starting blocks; return once none is inside one.

    A second Ctrl-C while waiting does not cut the wait short (the blocks take
    milliseconds); the first interruption is the one raised afterwards.
    """
    while True:
        try:
            with changed:
                running["cancelled"] = True
                while running["workers"]:
                    changed.wait()
            return
        except BaseException:
            continue


def for_each_worker(fn):
    """Call fn(worker, n_workers) once on each of the n_workers = num_threads() worker
    threads, at the same time: for compiled code that shares its work out itself
    (svd/fast/winograd.c, single_channel_conv.c, max_pool.c, batch_norm.c)."""
    n_workers = num_threads()
    parallel_for(lambda start, stop, worker: fn(worker, n_workers),
                 [(worker, worker + 1) for worker in range(n_workers)])


# --------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------

def reuse(workspace, name, shape, dtype):
    """An uninitialised array kept in `workspace[name]` for the next call.

    Args:
        workspace: a dict owned by the caller, or None for a fresh array.
        name: key of this buffer inside `workspace`.
        shape, dtype: what the buffer must be; a buffer of another shape or
            dtype is replaced.

    Notes:
        Large arrays are returned to the OS when freed, so allocating them anew
        for every mini-batch costs a page fault per 4 KB page on first touch.
        Reusing them avoids that. The price: whatever a function returns
        inside a workspace buffer is overwritten by its next call with the
        same workspace.
    """
    if workspace is None:
        return numpy.empty(shape, dtype)
    buf = workspace.get(name)
    if buf is None or buf.shape != tuple(shape) or buf.dtype != dtype:
        buf = numpy.empty(shape, dtype)
        workspace[name] = buf
    return buf


def scratch(workspace, name, shape, dtype):
    """Like `reuse`, but for per-block temporaries whose shape varies a little
    (the last block is shorter): one flat buffer, grown when needed, viewed as
    a C-contiguous array of `shape`."""
    size = int(numpy.prod(shape))
    flat = None if workspace is None else workspace.get(name)
    if flat is None or flat.size < size or flat.dtype != dtype:
        flat = numpy.empty(max(size, 1), dtype)
        if workspace is not None:
            workspace[name] = flat
    return flat[:size].reshape(shape)
