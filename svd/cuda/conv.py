"""Launchers of kernels/conv.cu: the valid 2-D convolution as im2col, matrix products and col2im.

The kernels only move numbers (im2col copies each input patch into a row of a
matrix, col2im adds the rows back); the arithmetic is CuPy's float32 matmul
(cuBLAS), and the bias and rectifier are kernels/activation.cu's, launched by
svd/cuda/activation.py. kernels/conv.cu's header lays out the whole forward and
backward with their shapes. Twins: svd/layers.py conv2d_forward / conv2d_backward.
"""
import numpy

from svd.util import arrays
from svd.cuda import activation, checks, launch

_X_AXES = ("batch", "time", "freq", "c_in")
# The largest int: im2col indexes its input with 32-bit ints.
INT32_MAX = 2 ** 31 - 1


def _conv_out_shape(launcher, x_shape, kernel_shape, dilation):
    """(batch, time_out, freq_out) of a valid convolution of an input of
    x_shape (batch, time, freq, c_in); ValueError unless kernel_shape and
    dilation are two integers >= 1 (a negative dilation would read before x)
    and the output is at least 1 x 1."""
    checks.check_sizes(launcher, "kernel_shape", kernel_shape)
    checks.check_sizes(launcher, "dilation", dilation)
    time_out = x_shape[1] - (kernel_shape[0] - 1) * dilation[0]
    freq_out = x_shape[2] - (kernel_shape[1] - 1) * dilation[1]
    if time_out < 1 or freq_out < 1:
        raise ValueError(f"{launcher}: x of shape {tuple(x_shape)} is smaller than the kernel "
                         f"{tuple(kernel_shape)} with dilation {tuple(dilation)}")
    return x_shape[0], time_out, freq_out


def im2col(x, kernel_shape, dilation=(1, 1)):
    """Patches of a valid convolution as rows of a matrix (kernels/conv.cu im2col).

    Twin: the tap loop of layers.conv2d_forward (and layers._im2col).

    Args:
        x: (batch, time, freq, c_in) float32.
        kernel_shape: (kernel_time, kernel_freq); dilation: (d_time, d_freq).

    Returns:
        cols: (batch * time_out * freq_out, kernel_time * kernel_freq * c_in)
            float32, cols[(n*To + t)*Fo + f, (i*kf + j)*c_in + c]
            = x[n, t + i*d_time, f + j*d_freq, c].

    The kernel computes its indices in 32-bit ints: x must hold fewer than
    2^31 numbers (a ValueError otherwise; cols may hold more).
    """
    xp = arrays.array_module(x)
    x = launch.f32(x)
    checks.check_ndim("im2col", "x", x, _X_AXES)
    batch, time_out, freq_out = _conv_out_shape("im2col", x.shape, kernel_shape, dilation)
    if x.size > INT32_MAX:
        raise ValueError(f"im2col: x of shape {tuple(x.shape)} holds more than 2^31 - 1 numbers, "
                         f"which the kernel's 32-bit indices cannot address; use smaller batches")
    c_in = x.shape[3]
    cols = launch.empty(xp, (batch * time_out * freq_out, kernel_shape[0] * kernel_shape[1] * c_in),
                        numpy.float32)
    launch.kernel_rows("conv", "im2col", cols.shape[0], cols.shape[1], x, cols,
                       *x.shape, *kernel_shape, *dilation)
    return cols


def col2im(dcols, x_shape, kernel_shape, dilation=(1, 1)):
    """Adjoint of `im2col` (kernels/conv.cu col2im): each input element sums the
    entries of dcols that im2col copied it to (a gather, no atomics).

    Twin: the dx of layers.conv2d_backward (with dcols = dz @ w_col^T).

    Args:
        dcols: (batch * time_out * freq_out, kernel_time * kernel_freq * c_in) float32.
        x_shape: (batch, time, freq, c_in) of the convolution's input.

    Returns:
        dx: (batch, time, freq, c_in) float32.
    """
    xp = arrays.array_module(dcols)
    dcols = launch.f32(dcols)
    if len(x_shape) != 4 or min(x_shape) < 0:
        raise ValueError(f"col2im: x_shape must be (batch, time, freq, c_in), got {x_shape!r}")
    batch, time_out, freq_out = _conv_out_shape("col2im", x_shape, kernel_shape, dilation)
    checks.check_shape("col2im", "dcols", dcols,
                       (batch * time_out * freq_out, kernel_shape[0] * kernel_shape[1] * x_shape[3]))
    dx = launch.empty(xp, tuple(x_shape), numpy.float32)
    launch.kernel("conv", "col2im", dx.size, dcols, dx, *x_shape, *kernel_shape, *dilation)
    return dx


def conv2d_forward(x, w, b, dilation=(1, 1), leaky=False, workspace=None):
    """Valid 2-D convolution with bias and optional leaky rectifier, on the GPU.

    Twin: layers.conv2d_forward, same arguments and y; its own cache (x, w,
    dilation, leaky, y, cols), which only conv2d_backward below reads (layers'
    is (cols, x_shape, w, dilation, leaky, y)); `workspace` is ignored (CuPy's
    memory pool reuses buffers).

    x: (batch, time, freq, c_in), w: (kernel_time, kernel_freq, c_in, c_out)
    (the same c_in), b: (c_out,). Returns y: (batch, time_out, freq_out, c_out)
    and the cache.

    Notes:
        cols = im2col(x), z = cols @ w.reshape(-1, c_out), then y = z + b,
        max(y/100, y) if leaky (activation.bias_leaky_forward, in place). The cache keeps
        cols for the backward's dw = cols^T @ dz: rebuilding them there would be
        another pass writing kernel_time * kernel_freq times x's size (621 MB
        for conv2 at batch 32), and holding them costs only memory, which a GPU
        has (a caller that drops the cache, like prediction, frees them at once).
    """
    xp = arrays.array_module(x)
    w = launch.f32(w)
    checks.check_ndim("conv2d_forward", "x", x, _X_AXES)
    checks.check_ndim("conv2d_forward", "w", w, ("kernel_time", "kernel_freq", "c_in", "c_out"))
    if w.shape[2] != x.shape[3]:
        raise ValueError(f"conv2d_forward: w has {w.shape[2]} input channels (axis 2), "
                         f"x has {x.shape[3]} (axis 3)")
    c_out = w.shape[3]
    checks.check_shape("conv2d_forward", "b", b, (c_out,))
    batch, time_out, freq_out = _conv_out_shape("conv2d_forward", x.shape, w.shape[:2], dilation)
    cols = im2col(x, w.shape[:2], dilation)                       # (rows, taps * c_in)
    z = xp.matmul(cols, w.reshape(-1, c_out))                     # (rows, c_out)
    y = activation.bias_leaky_forward(z, b, leaky, out=z).reshape(batch, time_out, freq_out, c_out)
    return y, (x, w, tuple(dilation), leaky, y, cols)


def conv2d_backward(dy, cache, need_dx=True, workspace=None):
    """Gradients of conv2d_forward on the GPU.

    Twin: layers.conv2d_backward, same arguments and results.

    dy: (batch, time_out, freq_out, c_out), the shape of the forward's y;
    cache: (x, w, dilation, leaky, y, cols) from conv2d_forward.
    Returns dx: (batch, time, freq, c_in) or None, dw: (kernel_time,
    kernel_freq, c_in, c_out), db: (c_out,).

    Notes:
        dz = dy * (1 if y > 0 else 1/100) if leaky (activation.leaky_backward),
        dw = cols^T @ dz with the forward's cols, db = ones @ dz (the sum of
        dz over rows, see `column_sums`), dx = col2im(dz @ w_col^T).
    """
    x, w, dilation, leaky, y, cols = cache
    checks.check_shape("conv2d_backward", "dy", dy, y.shape)
    c_out = w.shape[3]
    checks.check_shape("conv2d_backward", "cols (cache[5])", cols, (y.size // c_out, w.size // c_out))
    dz = launch.f32(dy).reshape(-1, c_out)
    if leaky:
        dz = activation.leaky_backward(dz, y.reshape(-1, c_out))
    w_col = w.reshape(-1, c_out)  # (taps * c_in, c_out)
    dw = (cols.T @ dz).reshape(w.shape)
    db = column_sums(dz)
    dx = col2im(dz @ w_col.T, x.shape, w.shape[:2], dilation) if need_dx else None
    return dx, dw, db


def column_sums(a):
    """a.sum(axis=0) as a matrix product, ones(rows) @ a (cuBLAS on the GPU).

    Twin: `a.sum(axis=0)`. a: (rows, cols) float32, C-contiguous. Returns (cols,) float32.
    Why not a.sum(axis=0): CuPy sizes a reduction's grid by its number of
    outputs, so summing conv1's 282,048 rows into 64 numbers runs on one or two
    blocks of the GPU (milliseconds); a matrix-vector product spreads the rows
    over the whole GPU. The vector of ones is made once per row count and kept.
    """
    xp = arrays.array_module(a)
    checks.check_ndim("column_sums", "a", a, ("rows", "cols"))
    key = (xp.__name__, a.shape[0], _device_id(xp))
    if key not in _ONES:
        if len(_ONES) >= 64:  # row counts change with the batch (prediction chunks): keep a few
            _ONES.clear()
        _ONES[key] = xp.ones(a.shape[0], dtype=numpy.float32)
    return _ONES[key] @ a


_ONES = {}  # (array module, rows, device) -> ones(rows) float32, for column_sums


def _device_id(xp):
    """The current CUDA device's number for CuPy, 0 for NumPy (arrays of column_sums live there)."""
    return 0 if xp is numpy else xp.cuda.Device().id

