"""The convolution as one im2col matrix and one BLAS product: for kernels nearly as wide as their input.

blocked.py computes each tap's product over whole lines of the input (every
frequency of a time step) and drops each line's last kernel_freq - 1 results.
For a 3x3 kernel over 78 bands that waste is 3%; for the ISMIR-2016 network's
conv5, a 3x18 kernel over 21 bands (svd/network2016.py), it is 81%: five times
the work. Here only the valid outputs are computed: im2col copies each output's
input window once, cols (batch * time_out * freq_out, taps * c_in), and one
product with the weights gives every output (BLAS threads inside it).
Same functions, arguments and results as blocked.py, with its cache (x, w,
dilation, leaky, y), so the forward and backward may be chosen independently.
"""
import numpy

from svd.fast.blas import gemm
from svd.fast.blocked import leaky_slope
from svd.layers import LEAKINESS, conv_out_shape


def applies(x, w, dilation=(1, 1)):
    """Whether the blocked path wastes over half its products here: fewer valid output bands than half the input's."""
    freq_out = x.shape[2] - (w.shape[1] - 1) * dilation[1]
    return 2 * freq_out < x.shape[2]


def _cols(x, kernel_shape, dilation):
    """cols[(n, t, f), (i, j, c)] = x[n, t + i*d_time, f + j*d_freq, c]: (batch * time_out * freq_out, taps * c_in)."""
    (kernel_time, kernel_freq), (d_time, d_freq) = kernel_shape, dilation
    batch, _, _, c_in = x.shape
    time_out, freq_out = conv_out_shape(x.shape, kernel_shape, dilation)
    cols = numpy.empty((batch, time_out, freq_out, kernel_time, kernel_freq, c_in), x.dtype)
    for i in range(kernel_time):
        for j in range(kernel_freq):
            cols[:, :, :, i, j] = x[:, i * d_time:i * d_time + time_out, j * d_freq:j * d_freq + freq_out]
    return cols.reshape(batch * time_out * freq_out, -1)


def conv2d_forward(x, w, b, dilation=(1, 1), leaky=False, workspace=None):
    """Valid 2-D convolution with bias and optionally the leaky rectifier (svd/fast/blocked.py's arguments).

    x: (batch, time, freq, c_in), w: (kernel_time, kernel_freq, c_in, c_out), b: (c_out,)
    -> y: (batch, time_out, freq_out, c_out), cache (x, w, dilation, leaky, y). workspace: unused.
    """
    x, w = numpy.ascontiguousarray(x), numpy.ascontiguousarray(w)
    time_out, freq_out = conv_out_shape(x.shape, w.shape[:2], dilation)
    c_out = w.shape[3]
    z = numpy.empty((x.shape[0] * time_out * freq_out, c_out), x.dtype)
    z[...] = b
    gemm(_cols(x, w.shape[:2], dilation), w.reshape(-1, c_out), z)  # z = b + cols W
    if leaky:
        numpy.maximum(z, z * LEAKINESS, out=z)
    y = z.reshape(x.shape[0], time_out, freq_out, c_out)
    return y, (x, w, tuple(dilation), leaky, y)


def conv2d_backward(dy, cache, need_dx=True, workspace=None):
    """Gradients of conv2d_forward: dy (batch, time_out, freq_out, c_out) -> dx (None if not need_dx), dw, db.

    dz = dy times the rectifier's slope; dW = cols^T dz, db = sum of dz, and dx adds each tap's
    columns of dcols = dz W^T back where the window read them.
    """
    x, w, dilation, leaky, y = cache
    kernel_time, kernel_freq, c_in, c_out = w.shape
    dz = numpy.ascontiguousarray(dy).reshape(-1, c_out)
    if leaky:
        dz = dz * leaky_slope(y).reshape(-1, c_out)
    cols = _cols(x, w.shape[:2], dilation)
    dw = gemm(cols, dz, numpy.empty((cols.shape[1], c_out), dz.dtype), beta=0.0, trans_a=True).reshape(w.shape)
    db = dz.sum(axis=0)
    if not need_dx:
        return None, dw, db
    dcols = gemm(dz, w.reshape(-1, c_out), cols, beta=0.0, trans_b=True)  # reuses cols' memory
    dcols = dcols.reshape(*dy.shape[:3], kernel_time, kernel_freq, c_in)
    dx = numpy.zeros(x.shape, dz.dtype)
    time_out, freq_out = dy.shape[1:3]
    for i in range(kernel_time):
        for j in range(kernel_freq):
            t0, f0 = i * dilation[0], j * dilation[1]
            dx[:, t0:t0 + time_out, f0:f0 + freq_out] += dcols[:, :, :, i, j]
    return dx, dw, db
