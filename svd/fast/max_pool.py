"""Max-pooling in compiled C (svd/fast/max_pool.c, built by svd/fast/build.py): float32.

svd/fast/__init__.py sends a float32 max-pool here when the C code is available
(`applies`); the results and the cache equal those of svd/fast/numpy_pool.py and
svd/layers.py (the window position of each maximum as uint8, the first one on ties;
tests/test_fast_max_pool.py). One pass over memory each way instead of NumPy's several
per window position.
"""

import ctypes

import numpy

from svd.fast import build, workers

_P, _I = ctypes.c_void_p, ctypes.c_int
# The C functions of svd/fast/max_pool.c and their argument types.
_FORWARD = ("max_pool_forward_worker", [_P] + [_I] * 8 + [_P, _P] + [_I] * 4)
_BACKWARD = ("max_pool_backward_worker", [_P, _P] + [_I] * 10 + [_P, _I, _I])


def applies(x):
    """Whether the max-pool of x (or the gradient dy of one) can run here: float32 and
    the C code built."""
    return x.dtype == numpy.float32 and build.function(*_FORWARD) is not None


def maxpool2d_forward(x, pool=(3, 3), stride=None):
    """Max-pooling over (time, freq) windows, as svd/fast/numpy_pool.py's maxpool2d_forward.

    Args:
        x: (batch, time, freq, c) float32.
        pool: (pool_time, pool_freq); stride: (stride_time, stride_freq), None for = pool.

    Returns:
        y: (batch, time_out, freq_out, c), time_out = (time - pool_time) // stride_time + 1;
        cache: (argmax, x_shape, pool, stride), argmax a uint8 array like y.
    """
    stride = tuple(pool if stride is None else stride)
    if pool[0] * pool[1] > 256:
        raise ValueError(f"pool {pool} has more than 256 positions; argmax is stored as uint8")
    x = numpy.ascontiguousarray(x)
    batch, time, freq, c = x.shape
    time_out = (time - pool[0]) // stride[0] + 1
    freq_out = (freq - pool[1]) // stride[1] + 1
    y = numpy.empty((batch, time_out, freq_out, c), dtype=x.dtype)
    argmax = numpy.empty((batch, time_out, freq_out, c), dtype=numpy.uint8)
    pool_forward = build.function(*_FORWARD)
    workers.for_each_worker(lambda worker, n_workers: pool_forward(
        x.ctypes.data, batch, time, freq, c, pool[0], pool[1], stride[0], stride[1],
        y.ctypes.data, argmax.ctypes.data, time_out, freq_out, worker, n_workers))
    return y, (argmax, x.shape, tuple(pool), stride)


def maxpool2d_backward(dy, cache, workspace=None):
    """Gradient of maxpool2d_forward: each dy goes to its window's maximum, 0 elsewhere.

    Args:
        dy: (batch, time_out, freq_out, c) float32; cache: from maxpool2d_forward.
        workspace: dict for reusing the dx buffer between calls, or None.

    Returns:
        dx: (batch, time, freq, c).
    """
    argmax, x_shape, pool, stride = cache
    dx = workers.reuse(workspace, "dx", x_shape, dy.dtype)
    pool_backward = build.function(*_BACKWARD)
    batch, time, freq, c = dx.shape
    dy = numpy.ascontiguousarray(dy, dtype=numpy.float32)
    workers.for_each_worker(lambda worker, n_workers: pool_backward(
        dy.ctypes.data, argmax.ctypes.data, batch, time, freq, c, pool[0], pool[1], stride[0],
        stride[1], dy.shape[1], dy.shape[2], dx.ctypes.data, worker, n_workers))
    return dx
