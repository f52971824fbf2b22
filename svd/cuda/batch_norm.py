"""Launchers of kernels/batch_norm.cu: batch normalisation in training mode (svd/network2016.py).

Twins: layers.batchnorm_forward and layers.batchnorm_backward, same arguments and
results (within float32 rounding: the statistics are summed in double here) and the
same cache (x_hat, gamma, inv_std), so either backward reads either forward's cache.
"""
import numpy

from svd.layers import BN_EPSILON
from svd.util import arrays
from svd.cuda import checks, launch

CHUNK_ROWS = 256  # rows one index of channel_sums adds up: thousands of indices for a batch of activations


def channel_sums(a, b):
    """(sum of a, sum of a * b) per channel, each (channels,) float64, for a, b: (rows, channels) float32
    (kernels/batch_norm.cu channel_sums, then the chunks' partial sums added)."""
    xp = arrays.array_module(a)
    checks.check_ndim("channel_sums", "a", a, ("rows", "channels"))
    checks.check_shape("channel_sums", "b", b, a.shape, (numpy.float32,))
    a, b = launch.f32(a), launch.f32(b)
    rows, channels = a.shape
    n_chunks = max(1, -(-rows // CHUNK_ROWS))
    partial = launch.empty(xp, (n_chunks, 2, channels), numpy.float64)
    launch.kernel("batch_norm", "channel_sums", n_chunks * channels, a, b, partial, rows, channels, CHUNK_ROWS,
                  n_chunks)
    total = partial.sum(axis=0)
    return total[0], total[1]


def batchnorm_forward(x, gamma, beta, eps=BN_EPSILON):
    """Twin: layers.batchnorm_forward. x: (..., c) float32; gamma, beta: (c,).
    Returns y, cache (x_hat, gamma, inv_std), statistics (mean, inv_std)."""
    xp = arrays.array_module(x)
    if numpy.ndim(x) == 0:
        raise ValueError("batchnorm_forward: x must have the axes (..., channels), got a 0-d array")
    x = launch.f32(x)
    channels = x.shape[-1]
    gamma, beta = launch.array_on(xp, gamma, numpy.float32), launch.array_on(xp, beta, numpy.float32)
    checks.check_shape("batchnorm_forward", "gamma", gamma, (channels,))
    checks.check_shape("batchnorm_forward", "beta", beta, (channels,))
    rows = x.reshape(-1, channels)
    total, squares = channel_sums(rows, rows)
    m = rows.shape[0]
    mean64 = total / m
    inv_std = (1 / xp.sqrt(xp.maximum(squares / m - mean64 * mean64, 0) + eps)).astype(numpy.float32)
    mean = mean64.astype(numpy.float32)
    x_hat, y = launch.empty(xp, x.shape, numpy.float32), launch.empty(xp, x.shape, numpy.float32)
    launch.kernel("batch_norm", "batch_norm_apply", x.size, x, mean, inv_std, gamma, beta, x_hat, y, x.size,
                  channels)
    return y, (x_hat.reshape(-1, channels), gamma, inv_std), (mean, inv_std)


def batchnorm_backward(dy, cache):
    """Twin: layers.batchnorm_backward. dy: like the forward's x; cache: (x_hat, gamma, inv_std) from
    either forward. Returns dx (like dy), dgamma (c,), dbeta (c,)."""
    xp = arrays.array_module(dy)
    x_hat, gamma, inv_std = cache
    if numpy.ndim(dy) == 0:
        raise ValueError("batchnorm_backward: dy must have the axes (..., channels), got a 0-d array")
    dy, x_hat = launch.f32(dy), launch.array_on(xp, x_hat, numpy.float32)
    if x_hat.size != dy.size or numpy.shape(gamma) != dy.shape[-1:]:
        raise ValueError(f"batchnorm_backward: cache holds {x_hat.size} normalised values and "
                         f"{numpy.size(gamma)} scales, expected {dy.size} and {dy.shape[-1:]} (dy's shape {dy.shape})")
    channels = dy.shape[-1]
    rows = dy.reshape(-1, channels)
    x_hat = x_hat.reshape(rows.shape)
    dbeta, dgamma = channel_sums(rows, x_hat)
    m = rows.shape[0]
    scale64 = launch.array_on(xp, gamma, numpy.float64) * launch.array_on(xp, inv_std, numpy.float64)
    scale = scale64.astype(numpy.float32)
    shift = (scale64 * dbeta / m).astype(numpy.float32)
    slope = (scale64 * dgamma / m).astype(numpy.float32)
    dx = launch.empty(xp, dy.shape, numpy.float32)
    launch.kernel("batch_norm", "batch_norm_gradient", dy.size, dy, x_hat, scale, shift, slope, dx, dy.size,
                  channels)
    return dx, dgamma.astype(numpy.float32), dbeta.astype(numpy.float32)
