"""Shared test helpers: slow obvious references, finite differences, scaled random parameters.

Finite differences are central, in float64. Every layer is linear or piecewise
linear (or smooth, for the loss), so away from kinks the truncation error is
zero and the rounding error is ~1e-16 * |f| / step; a real bug gives an O(1)
error. `check_grad` therefore asks for a relative error below 1e-6 with step 1e-6.
"""

import numpy as np

from svd import excerpt, layers, network

FD_STEP = 1e-6
FD_RTOL = 1e-6


def naive_conv(x, w, b, dilation=(1, 1)):
    """Valid conv by explicit loops over output positions (float64)."""
    batch, time, freq, _ = x.shape
    kernel_time, kernel_freq, _, c_out = w.shape
    d_time, d_freq = dilation
    time_out = time - (kernel_time - 1) * d_time
    freq_out = freq - (kernel_freq - 1) * d_freq
    y = np.zeros((batch, time_out, freq_out, c_out))
    for n in range(batch):
        for t in range(time_out):
            for f in range(freq_out):
                patch = x[n, t:t + kernel_time * d_time:d_time, f:f + kernel_freq * d_freq:d_freq]
                y[n, t, f] = np.einsum("ijc,ijco->o", patch, w) + b
    return y


def naive_maxpool(x, pool, stride):
    """Max-pooling by explicit loops over output positions."""
    batch, time, freq, c = x.shape
    time_out = (time - pool[0]) // stride[0] + 1
    freq_out = (freq - pool[1]) // stride[1] + 1
    y = np.zeros((batch, time_out, freq_out, c), dtype=x.dtype)
    for t in range(time_out):
        for f in range(freq_out):
            t0, f0 = t * stride[0], f * stride[1]
            y[:, t, f] = x[:, t0:t0 + pool[0], f0:f0 + pool[1]].max(axis=(1, 2))
    return y


def numeric_grad(f, x, indices, step=FD_STEP):
    """Central differences of scalar f() w.r.t. x at the given flat indices
    (x is modified in place and restored)."""
    flat = x.reshape(-1)
    grads = []
    for i in indices:
        old = flat[i]
        flat[i] = old + step
        f_plus = f()
        flat[i] = old - step
        f_minus = f()
        flat[i] = old
        grads.append((f_plus - f_minus) / (2 * step))
    return np.array(grads)


def check_grad(f, x, analytic, rng, n_entries=40, step=FD_STEP, rtol=FD_RTOL, indices=None):
    """Compare the analytic gradient of f w.r.t. x with central differences on up to
    n_entries random entries (or the given flat indices), relative to the largest compared value."""
    if indices is None:
        indices = rng.choice(x.size, size=min(n_entries, x.size), replace=False)
    numeric = numeric_grad(f, x, indices, step)
    picked = analytic.reshape(-1)[indices]
    scale = max(np.abs(numeric).max(), np.abs(picked).max(), 1e-12)
    error = np.abs(numeric - picked).max() / scale
    assert error < rtol, f"relative gradient error {error:.2e}"


def random_params(rng, dtype=np.float64, bias_scale=0.1):
    """The network's orthogonal initial weights with small random (non-zero) biases, so that
    bias gradients are exercised away from zero."""
    params = network.init_params(rng, dtype=dtype)
    for name in params:
        if name.endswith(".b"):
            params[name] += (bias_scale * rng.standard_normal(params[name].shape)).astype(dtype)
    return params


def random_excerpts(rng, batch, dtype=np.float32):
    """(batch, 115, 80) standard normal network inputs."""
    return rng.standard_normal((batch,) + excerpt.INPUT_SHAPE).astype(dtype)


def float32_conv_and_reference(impl, x, w, b, dilation, leaky, rng, need_dx=True):
    """Run impl's conv2d_forward/backward in float32 and svd/layers.py's in float64 on the
    same float64 problem (dy drawn from rng): [(name, got, want)] for y, dx, dw, db
    (dx left out when not need_dx, after checking that impl gave None)."""
    y, cache = impl.conv2d_forward(x.astype(np.float32), w.astype(np.float32),
                                   b.astype(np.float32), dilation, leaky)
    y_ref, cache_ref = layers.conv2d_forward(x, w, b, dilation, leaky)
    dy = rng.standard_normal(y.shape)
    got = (y,) + tuple(impl.conv2d_backward(dy.astype(np.float32), cache, need_dx=need_dx))
    want = (y_ref,) + tuple(layers.conv2d_backward(dy, cache_ref, need_dx=need_dx))
    assert all(g.dtype == np.float32 for g in got if g is not None)
    if not need_dx:
        assert got[1] is None
    return [(name, g, r) for name, g, r in zip(("y", "dx", "dw", "db"), got, want)
            if need_dx or name != "dx"]

