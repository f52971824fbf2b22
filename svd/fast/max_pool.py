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

_P, _I = ctypes.c_void_p, ctypes.c_int
# The C functions of svd/max_pool.c and their argument types.
_FORWARD = ("max_pool_forward_worker", [_P] + [_I] * 8 + [_P, _P] + [_I] * 4)
_BACKWARD = ("max_pool_backward_worker", [_P, _P] + [_I] * 10 + [_P, _I, _I])


def available(x):
    """Whether `forward`/`backward` can pool x here: float32 and the C code built."""
    return x.dtype == numpy.float32 and native.function(*_FORWARD) is not None


def forward(x, pool, stride, y, argmax):
    """Fill y and argmax, (batch, time_out, freq_out, c), with the maxima of x's windows.

    x: (batch, time, freq, c) float32, C-contiguous; pool, stride: (time, freq) pairs.
    """
    pool_forward = native.function(*_FORWARD)
    batch, time, freq, c = x.shape
    cpu_blas.for_each_worker(lambda worker, n_workers: pool_forward(
        x.ctypes.data, batch, time, freq, c, pool[0], pool[1], stride[0], stride[1],
        y.ctypes.data, argmax.ctypes.data, y.shape[1], y.shape[2], worker, n_workers))


def backward(dy, argmax, pool, stride, dx):
    """Fill dx (batch, time, freq, c) with dy (batch, time_out, freq_out, c) sent to each
    window's maximum, argmax from `forward`; positions that are no maximum get 0."""
    pool_backward = native.function(*_BACKWARD)
    batch, time, freq, c = dx.shape
    dy = numpy.ascontiguousarray(dy, dtype=numpy.float32)
    cpu_blas.for_each_worker(lambda worker, n_workers: pool_backward(
        dy.ctypes.data, argmax.ctypes.data, batch, time, freq, c, pool[0], pool[1], stride[0],
        stride[1], dy.shape[1], dy.shape[2], dx.ctypes.data, worker, n_workers))
