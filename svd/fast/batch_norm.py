"""Batch normalisation in compiled C (svd/fast/batch_norm.c, built by svd/fast/build.py): float32.

svd/fast/__init__.py sends float32 batch normalisation here when the C code is
available (`applies`); the results equal svd/layers.py's batchnorm_forward and
batchnorm_backward to float32 rounding, and so does the cache (x_hat, gamma,
inv_std), so either backward reads either forward's cache
(tests/test_fast_batch_norm.py). Two passes over memory each way instead of
NumPy's six or so: one sums per channel (in double, on every worker thread),
one writes.
"""
import ctypes

import numpy

from svd.fast import build, workers
from svd.layers import BN_EPSILON

_P, _I = ctypes.c_void_p, ctypes.c_int
# The C functions of svd/fast/batch_norm.c and their argument types.
_SUMS = ("batch_norm_sums_worker", [_P, _P, _I, _I, _P, _I, _I])
_FORWARD = ("batch_norm_forward_worker", [_P, _I, _I, _P, _P, _P, _P, _P, _P, _I, _I])
_BACKWARD = ("batch_norm_backward_worker", [_P, _P, _I, _I, _P, _P, _P, _P, _I, _I])


def applies(x):
    """Whether batch normalisation of x (or its gradient) can run here: float32 and the C code built."""
    return x.dtype == numpy.float32 and build.function(*_SUMS) is not None


def _sums(a, b):
    """(sum of a, sum of a * b) per channel, float64 (C,) each, for a, b: (rows, C) float32 (b None: b = a)."""
    rows, channels = a.shape
    n_workers = workers.num_threads()
    sums = numpy.zeros((n_workers, 2, channels))
    function = build.function(*_SUMS)
    workers.for_each_worker(lambda worker, count: function(
        a.ctypes.data, None if b is None else b.ctypes.data, rows, channels, sums.ctypes.data, worker, count))
    total = sums.sum(axis=0)
    return total[0], total[1]


def _vector(values):
    return numpy.ascontiguousarray(values, dtype=numpy.float32)


def batchnorm_forward(x, gamma, beta, eps=BN_EPSILON):
    """svd/layers.py's batchnorm_forward: x (..., c) float32 -> y, cache (x_hat, gamma, inv_std), (mean, inv_std).

    var = E[x^2] - E[x]^2 from double sums: float32 values of any size keep 1e-9 of their
    variance's precision there.
    """
    rows = numpy.ascontiguousarray(x).reshape(-1, x.shape[-1])
    m = rows.shape[0]
    total, squares = _sums(rows, None)
    mean = total / m
    inv_std = _vector(1 / numpy.sqrt(numpy.maximum(squares / m - mean * mean, 0) + eps))
    mean, gamma, beta = _vector(mean), _vector(gamma), _vector(beta)
    x_hat, y = numpy.empty_like(rows), numpy.empty_like(rows)
    function = build.function(*_FORWARD)
    workers.for_each_worker(lambda worker, count: function(
        rows.ctypes.data, m, rows.shape[1], mean.ctypes.data, inv_std.ctypes.data, gamma.ctypes.data,
        beta.ctypes.data, x_hat.ctypes.data, y.ctypes.data, worker, count))
    return y.reshape(x.shape), (x_hat, gamma, inv_std), (mean, inv_std)


def batchnorm_backward(dy, cache):
    """svd/layers.py's batchnorm_backward: dy (..., c) float32 -> dx, dgamma, dbeta."""
    x_hat, gamma, inv_std = cache
    rows = numpy.ascontiguousarray(dy, dtype=numpy.float32).reshape(-1, dy.shape[-1])
    m = rows.shape[0]
    dbeta, dgamma = _sums(rows, numpy.ascontiguousarray(x_hat))
    scale = gamma.astype(numpy.float64) * inv_std
    shift, slope, scale = _vector(scale * dbeta / m), _vector(scale * dgamma / m), _vector(scale)
    dx = numpy.empty_like(rows)
    function = build.function(*_BACKWARD)
    workers.for_each_worker(lambda worker, count: function(
        rows.ctypes.data, x_hat.ctypes.data, m, rows.shape[1], scale.ctypes.data, shift.ctypes.data,
        slope.ctypes.data, dx.ctypes.data, worker, count))
    return dx.reshape(dy.shape), dgamma.astype(numpy.float32), dbeta.astype(numpy.float32)
