"""Launchers of kernels/activation.cu: bias + leaky rectifier, dropout, input noise and input dropout.

Element-wise kernels, one index per element. Twins: svd/layers.py
(leaky_relu_forward/backward, dropout_forward/backward, the bias and rectifier
of conv2d_forward/backward) and svd/augment.py (add_noise, drop_inputs, Sec. 4.1).
Random masks and noise come from a counter-based hash of (seed, element) on the
device, so they differ from the CPU's draws but have the same distribution;
`hash_uniform` is the hash's NumPy twin.
"""
import math

import numpy

from svd.util import arrays
from svd.cuda import checks, launch


def bias_leaky_forward(z, b, leaky=True, out=None):
    """y = z + b, then max(y/100, y) if leaky (kernels/activation.cu bias_leaky_forward).

    Twin: the bias and rectifier steps of layers.conv2d_forward (z + b, then
    layers.leaky_relu_forward if leaky); conv.conv2d_forward launches it in
    place on the product z.

    z: (..., channels) float32, b: (channels,). out: a C-contiguous float32
    array shaped like z to write into (z itself for in place), or None.
    Returns y, shaped like z.
    """
    xp = arrays.array_module(z)
    z = launch.f32(z)
    if z.ndim == 0:
        raise ValueError("bias_leaky_forward: z must have the axes (..., channels), got a 0-d array")
    b = launch.array_on(xp, b, numpy.float32)
    checks.check_shape("bias_leaky_forward", "b", b, z.shape[-1:])
    out = launch.empty(xp, z.shape, numpy.float32) if out is None else out
    checks.check_writable("bias_leaky_forward", "out", out, z.shape)
    launch.kernel("activation", "bias_leaky_forward", z.size, z, b, out, z.size, z.shape[-1], int(bool(leaky)))
    return out


def leaky_backward(dy, y, out=None):
    """dz = dy where y > 0, dy/100 elsewhere (kernels/activation.cu leaky_backward).

    Twin: layers.leaky_relu_backward(dy, y), which gives dz in layers.conv2d_backward
    (and here in conv.conv2d_backward).
    dy, y: same shape, float32 (y the rectifier's output). out: like
    bias_leaky_forward's. Returns dz.
    """
    xp = arrays.array_module(dy)
    dy, y = launch.f32(dy), launch.array_on(xp, y, numpy.float32)
    checks.check_shape("leaky_backward", "y", y, dy.shape)
    out = launch.empty(xp, dy.shape, numpy.float32) if out is None else out
    checks.check_writable("leaky_backward", "out", out, dy.shape)
    launch.kernel("activation", "leaky_backward", dy.size, dy, y, out, dy.size)
    return out


def leaky_relu_forward(x):
    """y = max(x/100, x) (kernels/activation.cu bias_leaky_forward with a zero bias).

    Twin: layers.leaky_relu_forward. x: any shape, float32. Returns y and the cache y.
    """
    xp = arrays.array_module(x)
    x = launch.f32(x)
    y = launch.empty(xp, x.shape, numpy.float32)
    zero_bias = xp.zeros(1, dtype=numpy.float32)  # one "channel": every element adds b[0] = 0
    launch.kernel("activation", "bias_leaky_forward", x.size, x, zero_bias, y, x.size, 1, 1)
    return y, y


def leaky_relu_backward(dy, cache):
    """Twin: layers.leaky_relu_backward. cache: y from leaky_relu_forward, shaped like dy."""
    checks.check_shape("leaky_relu_backward", "cache", cache, numpy.shape(dy))
    return leaky_backward(dy, cache)


def hash_uniform(seed, n, xp=numpy):
    """The uniform numbers in [0, 1) of kernels/activation.cu hash_uniform for
    elements 0..n-1, computed with `xp` (its twin: tests compare the two).

    Returns (n,) float32, multiples of 2^-24.
    """
    def hash32(x):  # "lowbias32"; uint32 arithmetic wraps modulo 2^32 like C's
        x = x ^ (x >> 16)
        x = x * numpy.uint32(0x7FEB352D)
        x = x ^ (x >> 15)
        x = x * numpy.uint32(0x846CA68B)
        return x ^ (x >> 16)

    counter = xp.arange(n, dtype=numpy.uint64)
    low = (counter & numpy.uint64(0xFFFFFFFF)).astype(numpy.uint32)
    high = (counter >> numpy.uint64(32)).astype(numpy.uint32)
    seed_hash = hash32(xp.full(1, seed, dtype=numpy.uint32))
    h = hash32(low ^ hash32(high ^ seed_hash))
    return (h >> numpy.uint32(8)).astype(numpy.float32) * numpy.float32(2.0 ** -24)


def _seed_from(launcher, rng):
    """One 32-bit seed for a counter-based kernel, drawn from numpy Generator `rng`."""
    if rng is None:
        raise ValueError(f"{launcher}: rng is needed to draw the seed")
    return int(rng.integers(0, 2 ** 32))


def dropout_forward(x, p=0.5, mask=None, rng=None, seed=None):
    """Inverted dropout on the GPU (kernels/activation.cu dropout_forward, or
    dropout_forward_hash when the mask is drawn here).

    Twin: layers.dropout_forward, same cache (mask, scale) with a bool mask.

    Args:
        x: any shape, float32.
        p: probability of dropping a unit, in [0, 1).
        mask: bool (or uint8) array shaped like x, True = keep; if None, drawn
            on the device from the counter-based hash with `seed`.
        rng: numpy.random.Generator; when mask and seed are None, the seed is
            drawn from it (one 32-bit integer), so a run stays reproducible.
        seed: int in [0, 2^32), the hash's seed.

    Returns:
        y = x * mask / (1 - p), and the cache (mask, scale).
    """
    xp = arrays.array_module(x)
    x = launch.f32(x)
    if not 0 <= p < 1:
        raise ValueError(f"dropout_forward: p must be in [0, 1), got {p!r}")
    scale = 1.0 / (1.0 - p)
    y = launch.empty(xp, x.shape, numpy.float32)
    if mask is not None:
        mask = xp.ascontiguousarray(xp.asarray(mask))
        checks.check_shape("dropout_forward", "mask", mask, x.shape, (numpy.bool_, numpy.uint8))
        launch.kernel("activation", "dropout_forward", x.size, x, mask, y, x.size, scale)
        return y, (mask, scale)
    if seed is None and rng is None:
        raise ValueError("dropout_forward: seed (or rng, or mask) is needed to draw the mask")
    if seed is None:
        seed = _seed_from("dropout_forward", rng)
    if not 0 <= seed < 2 ** 32:
        raise ValueError(f"dropout_forward: seed must be in [0, 2^32), got {seed!r}")
    keep = launch.empty(xp, x.shape, numpy.uint8)
    launch.kernel("activation", "dropout_forward_hash", x.size, x, y, keep, x.size, seed, p, scale)
    return y, (keep.view(numpy.bool_), scale)


def dropout_backward(dy, cache):
    """dx = dy * mask / (1 - p) (kernels/activation.cu dropout_backward).

    Twin: layers.dropout_backward. dy: shaped like the forward's x and the
    cache's bool (or uint8) mask.
    """
    xp = arrays.array_module(dy)
    mask, scale = cache
    dy = launch.f32(dy)
    checks.check_shape("dropout_backward", "mask (cache[0])", mask, dy.shape, (numpy.bool_, numpy.uint8))
    dx = launch.empty(xp, dy.shape, numpy.float32)
    launch.kernel("activation", "dropout_backward", dy.size, dy, mask, dx, dy.size, scale)
    return dx


def drop_inputs(inputs, p, rng):
    """Input dropout of Sec. 4.1, in place: each element set to zero with probability p, no
    rescaling (kernels/activation.cu dropout_forward_hash with scale 1).

    Twin: augment.drop_inputs, which draws the uniforms from `rng`; here one 32-bit
    seed is drawn from `rng` and the uniforms come from the device's counter-based
    hash (so the masks differ from the CPU's, with the same distribution).
    inputs: float32 array, C-contiguous; p in [0, 1]. Returns inputs.
    """
    xp = arrays.array_module(inputs)
    checks.check_writable("drop_inputs", "inputs", inputs, numpy.shape(inputs))
    if not 0 <= p <= 1:
        raise ValueError(f"drop_inputs: p must be in [0, 1], got {p!r}")
    seed = _seed_from("drop_inputs", rng)
    keep = launch.empty(xp, inputs.shape, numpy.uint8)
    launch.kernel("activation", "dropout_forward_hash", inputs.size, inputs, inputs, keep, inputs.size,
                  seed, p, 1.0)
    return inputs


def add_noise(inputs, sigma, rng):
    """Gaussian input noise of Sec. 4.1, in place: inputs += sigma * N(0, 1)
    (kernels/activation.cu gaussian_noise_hash).

    Twin: augment.add_noise, which draws the normals from `rng`; here one 32-bit seed
    is drawn from `rng` and the normals come from the counter-based hash (Box-Muller,
    tails cut at 5.77 standard deviations). inputs: float32, C-contiguous; sigma >= 0.
    Returns inputs.
    """
    checks.check_writable("add_noise", "inputs", inputs, numpy.shape(inputs))
    if not (sigma >= 0 and math.isfinite(sigma)):
        raise ValueError(f"add_noise: sigma must be finite and >= 0, got {sigma!r}")
    seed = _seed_from("add_noise", rng)
    launch.kernel("activation", "gaussian_noise_hash", inputs.size, inputs, inputs.size, seed, sigma)
    return inputs

