"""GIL-free BLAS calls, worker threads and reused buffers: the machinery of the fast CPU path (svd/fast_cpu.py).

- `gemm(a, b, out, beta=..., trans_a=..., trans_b=...)`
                      out <- beta*out + op(a) @ op(b), in place, so that a
                      convolution can accumulate its nine taps into one output
                      without temporaries.
- `parallel_for(fn, blocks)`
                      fn(start, stop, worker) for every block, spread over the
                      CPU cores.
- `reuse(workspace, name, shape, dtype)`, `scratch(...)`
                      buffers kept between calls, so large activations are not
                      freshly allocated (and page-faulted) for every mini-batch.

How the CPU is kept busy. The convolutions are split into blocks of rows that
fit in the L2 cache; each block does a few matrix products and a few
element-wise NumPy operations. Letting BLAS split each small product over the
cores wastes time synchronising, and leaves one core idle during the
element-wise work (NumPy is single-threaded). Instead, one Python thread per
core takes whole blocks, and BLAS runs single-threaded inside each. That only
works if BLAS calls release Python's GIL: SciPy's BLAS wrappers do not, but a
call through `ctypes` does, so `gemm` calls the `cblas_?gemm` of the OpenBLAS
that SciPy ships, directly. If that library cannot be found (another
platform or SciPy build), `gemm` falls back to SciPy's wrappers and
`parallel_for` runs the blocks one after another (BLAS then uses all cores
inside each product). `set_num_threads(1)` gives the sequential behaviour too.

NumPy arrays only: the GPU path (svd/cuda/) never comes here.
"""

import ctypes
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy
from scipy.linalg import blas as _scipy_blas


# --------------------------------------------------------------------------
# Matrix multiply-accumulate
# --------------------------------------------------------------------------

def _find_cblas():
    """{dtype: cblas_?gemm} from the OpenBLAS loaded by SciPy, plus its
    per-thread thread-count setter; ({}, None) if not found."""
    try:
        with open("/proc/self/maps") as maps:  # Linux: which libraries are loaded
            paths = {line.split()[-1] for line in maps if "openblas" in line and "/" in line}
    except OSError:
        return {}, None
    for path in sorted(paths):
        if "openblas64" in os.path.basename(path):  # NumPy's copy: 64-bit integer arguments
            continue
        try:
            lib = ctypes.CDLL(path)
            set_local_threads = lib.openblas_set_num_threads_local  # OpenBLAS >= 0.3.27
        except (OSError, AttributeError):
            continue
        # SciPy's wheels prefix the symbols; a plain OpenBLAS does not.
        for prefix in ("scipy_", ""):
            sgemm = getattr(lib, prefix + "cblas_sgemm", None)
            dgemm = getattr(lib, prefix + "cblas_dgemm", None)
            if sgemm is not None and dgemm is not None:
                break
        else:
            continue
        args = [ctypes.c_int] * 6
        sgemm.argtypes = args + [ctypes.c_float, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                                 ctypes.c_int, ctypes.c_float, ctypes.c_void_p, ctypes.c_int]
        dgemm.argtypes = args + [ctypes.c_double, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                                 ctypes.c_int, ctypes.c_double, ctypes.c_void_p, ctypes.c_int]
        sgemm.restype = dgemm.restype = None
        set_local_threads.argtypes = [ctypes.c_int]
        set_local_threads.restype = ctypes.c_int
        gemms = {numpy.dtype(numpy.float32): sgemm, numpy.dtype(numpy.float64): dgemm}
        return gemms, set_local_threads
    return {}, None


_CBLAS_GEMM, _SET_LOCAL_BLAS_THREADS = _find_cblas()
_CBLAS_ROW_MAJOR, _CBLAS_NO_TRANS, _CBLAS_TRANS = 101, 111, 112
_SCIPY_GEMM = {numpy.dtype(numpy.float32): _scipy_blas.sgemm,
               numpy.dtype(numpy.float64): _scipy_blas.dgemm}


def cblas_sgemm_address():
    """Address of the cblas_sgemm that `gemm` calls (for compiled code that calls
    BLAS itself, svd/winograd.c), or None if none was found."""
    sgemm = _CBLAS_GEMM.get(numpy.dtype(numpy.float32))
    return None if sgemm is None else ctypes.cast(sgemm, ctypes.c_void_p).value


def _rows_stride(a, name):
    """Row stride of a 2-D array in elements; its rows must be contiguous."""
    rows, cols = a.shape
    ld = a.strides[0] // a.itemsize if rows > 1 else max(cols, 1)
    if (cols > 1 and a.strides[1] != a.itemsize) or ld < cols or ld < 1:
        raise ValueError(f"gemm: {name} must have contiguous rows, got shape {a.shape} "
                         f"strides {a.strides}")
    return ld


def gemm(a, b, out, beta=1.0, trans_a=False, trans_b=False):
    """In-place matrix multiply-accumulate: out <- beta * out + op(a) @ op(b).

    Args:
        a: (m, k) float array, or (k, m) if `trans_a`.
        b: (k, n) float array, or (n, k) if `trans_b`.
        out: (m, n) array of the same dtype; overwritten.
            All three must have contiguous rows (unit stride along the last
            axis); rows may be further apart (e.g. a row slice of a wider array).
        beta: 1.0 accumulates into `out`, 0.0 overwrites it (its old values are
            then ignored, even NaN).
        trans_a, trans_b: use the transpose of `a` / `b` (no copy is made).

    Returns:
        out (the same array).
    """
    m, n = out.shape
    k = a.shape[0] if trans_a else a.shape[1]
    a_rows = a.shape[1] if trans_a else a.shape[0]
    b_rows, b_cols = (b.shape[1], b.shape[0]) if trans_b else b.shape
    if a_rows != m or b_rows != k or b_cols != n:
        raise ValueError(f"gemm: shapes {a.shape}{'^T' * trans_a} @ {b.shape}{'^T' * trans_b}"
                         f" do not give {out.shape}")
    if not (a.dtype == b.dtype == out.dtype):
        raise ValueError(f"gemm: dtypes differ: {a.dtype}, {b.dtype}, {out.dtype}")
    if m == 0 or n == 0:
        return out
    cblas = _CBLAS_GEMM.get(out.dtype)
    if cblas is not None:  # ctypes releases the GIL for the duration of the call
        lda, ldb, ldc = _rows_stride(a, "a"), _rows_stride(b, "b"), _rows_stride(out, "out")
        cblas(_CBLAS_ROW_MAJOR, _CBLAS_TRANS if trans_a else _CBLAS_NO_TRANS,
              _CBLAS_TRANS if trans_b else _CBLAS_NO_TRANS, m, n, k, 1.0,
              a.ctypes.data, lda, b.ctypes.data, ldb, beta, out.ctypes.data, ldc)
        return out
    # SciPy's (Fortran, column-major) wrapper: a C-contiguous (m, n) array is
    # the column-major matrix out^T, so ask for out^T <- op(b)^T @ op(a)^T.
    # The wrapper would silently copy a non-contiguous array (and write the
    # result into the copy), so that is an error here.
    if not (a.flags.c_contiguous and b.flags.c_contiguous and out.flags.c_contiguous):
        raise ValueError("gemm needs C-contiguous a, b and out")
    out_t = out.T
    result = _SCIPY_GEMM[out.dtype](1.0, b.T, a.T, beta=beta, c=out_t, overwrite_c=1,
                                    trans_a=trans_b, trans_b=trans_a)
    if result is not out_t:
        raise RuntimeError("BLAS copied the output; results would be lost")
    return out


# --------------------------------------------------------------------------
# Threads
# --------------------------------------------------------------------------

def _cpu_count():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


_num_threads = _cpu_count() if _SET_LOCAL_BLAS_THREADS is not None else 1
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
    if n > 1 and _SET_LOCAL_BLAS_THREADS is None:
        raise RuntimeError("parallel blocks need a BLAS that releases the GIL; none was found")
    _num_threads = max(1, int(n))
    if _pool is not None:
        _pool.shutdown()
        _pool = None
        _SET_LOCAL_BLAS_THREADS(_caller_blas_threads)
        _caller_blas_threads = None


def _single_threaded_blas():
    """Make BLAS calls from the current thread use one core; returns the old setting."""
    return _SET_LOCAL_BLAS_THREADS(1)


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
    (svd/winograd.c, svd/single_channel_conv.c, svd/max_pool.c)."""
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
