"""The fast CPU path's max-pooling in compiled C (svd/max_pool.c, built by svd/native.py).

svd/fast_cpu.py's maxpool2d_forward / maxpool2d_backward call `forward` and
`backward` when the C code is available, with the same results and cache (the
window position of each maximum as uint8, the first one on ties); without it they
keep their NumPy loops. One pass over memory each way instead of NumPy's several
per window position.
"""

import ctypes

import numpy

from . import cpu_blas, native

_declared = False  # whether the C functions' argument types are set


def _lib():
    """The C library with max_pool.c's argument types declared, or None."""
    global _declared
    lib = native.library()
    if lib is not None and not _declared:
        p, i = ctypes.c_void_p, ctypes.c_int
        lib.max_pool_forward_worker.argtypes = [p] + [i] * 8 + [p, p] + [i] * 4
        lib.max_pool_backward_worker.argtypes = [p, p] + [i] * 10 + [p, i, i]
        lib.max_pool_forward_worker.restype = None
        lib.max_pool_backward_worker.restype = None
        _declared = True
    return lib


def available(x):
    """Whether `forward`/`backward` can pool x here: float32 and the C code built."""
    return x.dtype == numpy.float32 and _lib() is not None


def _workers():
    """[(worker, worker + 1)] for cpu_blas.parallel_for: one C call per worker thread."""
    return [(w, w + 1) for w in range(cpu_blas.num_threads())]


def forward(x, pool, stride, y, argmax):
    """Fill y and argmax, (batch, time_out, freq_out, c), with the maxima of x's windows.

    x: (batch, time, freq, c) float32, C-contiguous; pool, stride: (time, freq) pairs.
    """
    lib = _lib()
    batch, time, freq, c = x.shape
    n_workers = len(_workers())
    cpu_blas.parallel_for(lambda _, __, worker: lib.max_pool_forward_worker(
        x.ctypes.data, batch, time, freq, c, pool[0], pool[1], stride[0], stride[1],
        y.ctypes.data, argmax.ctypes.data, y.shape[1], y.shape[2], worker, n_workers),
        _workers())


def backward(dy, argmax, pool, stride, dx):
    """Fill dx (batch, time, freq, c) with dy (batch, time_out, freq_out, c) sent to each
    window's maximum, argmax from `forward`; positions that are no maximum get 0."""
    lib = _lib()
    batch, time, freq, c = dx.shape
    dy = numpy.ascontiguousarray(dy, dtype=numpy.float32)
    n_workers = len(_workers())
    cpu_blas.parallel_for(lambda _, __, worker: lib.max_pool_backward_worker(
        dy.ctypes.data, argmax.ctypes.data, batch, time, freq, c, pool[0], pool[1], stride[0],
        stride[1], dy.shape[1], dy.shape[2], dx.ctypes.data, worker, n_workers), _workers())
