"""The fast CPU path's convolution of a single-channel input (conv1), in compiled C.

svd/fast/__init__.py sends a float32 convolution with one input channel here when the
C code (svd/fast/single_channel_conv.c, built by svd/fast/build.py) is available
(`applies`); the results equal svd/layers.py's conv2d_forward / conv2d_backward within
float32 rounding (tests/test_fast_single_channel_conv.py). With one input channel a
tap contributes x * w[tap, :] to each output position's K channels: nothing for a
matrix product to share, and the time goes into writing the (batch, time_out,
freq_out, K) output and reading its gradient, which the C loops do in one pass each
(the im2col product of svd/fast/blocked.py needs several). The backward gives dw and
db only: the first layer of a network needs no dx, and for a layer that does,
svd/fast/blocked.py computes all three.
"""

import ctypes

import numpy

from svd.fast import build, workers
from svd.layers import conv_out_shape

_P, _I = ctypes.c_void_p, ctypes.c_int
# The C functions of svd/fast/single_channel_conv.c and their argument types.
_FORWARD = ("single_channel_forward_worker", [_P] + [_I] * 7 + [_P, _P, _I, _P] + [_I] * 5)
_WEIGHT_GRAD = ("single_channel_weight_grad_worker",
                [_P] + [_I] * 7 + [_P, _P, _I, _I, _I, _I, _P, _P, _P, _I, _I])


def applies(x, w, need_dx=False):
    """Whether svd/fast/__init__.py should compute conv(x, w) (and its backward) here: one
    input channel, float32, no dx wanted, and the C code built."""
    return (w.shape[2] == 1 and not need_dx and x.dtype == w.dtype == numpy.float32
            and build.function(*_FORWARD) is not None)


def conv2d_forward(x, w, b, dilation=(1, 1), leaky=False, workspace=None):
    """Valid 2-D convolution of a single-channel input, as blocked.conv2d_forward.

    Args:
        x: (batch, time, freq, 1) float32.
        w: (kernel_time, kernel_freq, 1, c_out) float32. b: (c_out,).
        dilation: (d_time, d_freq). leaky: also apply max(z/100, z).
        workspace: dict for reusing the output buffer between calls, or None.

    Returns:
        y: (batch, time_out, freq_out, c_out); cache: (x, w, dilation, leaky, y).
    """
    conv_forward = build.function(*_FORWARD)
    x = numpy.ascontiguousarray(x)
    batch, time, freq, _ = x.shape
    kernel_time, kernel_freq, _, c_out = w.shape
    time_out, freq_out = conv_out_shape(x.shape, w.shape[:2], dilation)
    taps = numpy.ascontiguousarray(w.reshape(-1, c_out))
    bias = numpy.ascontiguousarray(b, dtype=numpy.float32)
    y = workers.reuse(workspace, "y", (batch, time_out, freq_out, c_out), x.dtype)
    workers.for_each_worker(lambda worker, n_workers: conv_forward(
        x.ctypes.data, batch, time, freq, kernel_time, kernel_freq, dilation[0], dilation[1],
        taps.ctypes.data, bias.ctypes.data, int(leaky), y.ctypes.data, time_out, freq_out,
        c_out, worker, n_workers))
    return y, (x, w, tuple(dilation), leaky, y)


def conv2d_backward(dy, cache, need_dx=False, workspace=None):
    """dw, db of conv2d_forward (dx is None: see `applies`), as blocked.conv2d_backward.

    Notes:
        dz = dy * (1 if y > 0 else 1/100) if leaky, else dy
        dw[i, j, 0, :] = sum_{n,t,f} x[n, t + i*d_time, f + j*d_freq] dz[n, t, f, :]
        db = sum of dz over all positions
    """
    if need_dx:
        raise ValueError("single_channel_conv computes no dx; svd/fast/blocked.py does")
    weight_grad = build.function(*_WEIGHT_GRAD)
    x, w, dilation, leaky, y = cache
    batch, time, freq, _ = x.shape
    kernel_time, kernel_freq, _, c_out = w.shape
    time_out, freq_out = y.shape[1:3]
    dy = numpy.ascontiguousarray(dy, dtype=numpy.float32)
    n_workers = workers.num_threads()
    dw_parts = numpy.zeros((n_workers, kernel_time * kernel_freq, c_out), numpy.float32)
    db_parts = numpy.zeros((n_workers, c_out), numpy.float32)
    dz_lines = numpy.empty((n_workers, freq_out * c_out), numpy.float32)
    workers.for_each_worker(lambda worker, n_workers: weight_grad(
        x.ctypes.data, batch, time, freq, kernel_time, kernel_freq, dilation[0], dilation[1],
        dy.ctypes.data, y.ctypes.data, int(leaky), time_out, freq_out, c_out,
        dw_parts[worker].ctypes.data, db_parts[worker].ctypes.data, dz_lines[worker].ctypes.data,
        worker, n_workers))
    return None, dw_parts.sum(axis=0).reshape(w.shape), db_parts.sum(axis=0)
