"""Launchers of kernels/pool.cu: max-pooling with a uint8 argmax, and its gradient.

Twins: svd/layers.py maxpool2d_forward / maxpool2d_backward, whose argmax
encoding (k = i * pool_freq + j, first maximum on ties) the kernels share, so
the caches are the same.
"""
import numpy

from svd.util import arrays
from svd.cuda import checks, launch


def _pool_out_shape(launcher, x_shape, pool, stride):
    """(batch, time_out, freq_out, c) of max-pooling an input of x_shape
    (batch, time, freq, c); ValueError unless pool and stride are two
    integers >= 1, the window fits in the input and has at most 256 positions
    (the uint8 argmax numbers them)."""
    checks.check_sizes(launcher, "pool", pool)
    checks.check_sizes(launcher, "stride", stride)
    if pool[0] * pool[1] > 256:
        raise ValueError(f"{launcher}: pool {tuple(pool)} has more than 256 positions, "
                         f"which the uint8 argmax cannot number")
    if x_shape[1] < pool[0] or x_shape[2] < pool[1]:
        raise ValueError(f"{launcher}: x of shape {tuple(x_shape)} is smaller than the pool {tuple(pool)}")
    return (x_shape[0], (x_shape[1] - pool[0]) // stride[0] + 1,
            (x_shape[2] - pool[1]) // stride[1] + 1, x_shape[3])


def maxpool2d_forward(x, pool=(3, 3), stride=None):
    """Max-pooling with argmax (kernels/pool.cu maxpool_forward).

    Twin: layers.maxpool2d_forward, same arguments and cache
    (argmax, x_shape, pool, stride); stride None means stride = pool.

    x: (batch, time, freq, c) float32, time >= pool_time, freq >= pool_freq;
    pool_time * pool_freq <= 256. Returns y: (batch, time_out, freq_out, c)
    float32, time_out = (time - pool_time) // stride_time + 1 (same for freq),
    and the cache with argmax: (batch, time_out, freq_out, c) uint8 = i*pool_freq + j.
    """
    xp = arrays.array_module(x)
    x = launch.f32(x)
    stride = tuple(pool if stride is None else stride)
    checks.check_ndim("maxpool2d_forward", "x", x, ("batch", "time", "freq", "c"))
    y = launch.empty(xp, _pool_out_shape("maxpool2d_forward", x.shape, pool, stride), numpy.float32)
    argmax = launch.empty(xp, y.shape, numpy.uint8)
    launch.kernel("pool", "maxpool_forward", y.size, x, y, argmax, *x.shape, *pool, *stride)
    return y, (argmax, x.shape, tuple(pool), stride)


def maxpool2d_backward(dy, cache, workspace=None):
    """Gradient of maxpool2d_forward (kernels/pool.cu maxpool_backward, a gather:
    correct for any stride, overlapping windows included, without atomics).

    Twin: layers.maxpool2d_backward. dy: (batch, time_out, freq_out, c), the
    shape of the forward's y and of the cache's uint8 argmax.
    Returns dx: (batch, time, freq, c) float32.
    """
    xp = arrays.array_module(dy)
    argmax, x_shape, pool, stride = cache
    y_shape = _pool_out_shape("maxpool2d_backward", x_shape, pool, stride)
    checks.check_shape("maxpool2d_backward", "dy", dy, y_shape)
    checks.check_shape("maxpool2d_backward", "argmax (cache[0])", argmax, y_shape, (numpy.uint8,))
    dx = launch.empty(xp, tuple(x_shape), numpy.float32)
    launch.kernel("pool", "maxpool_backward", dx.size, launch.f32(dy), argmax, dx, *x_shape, *pool, *stride)
    return dx

