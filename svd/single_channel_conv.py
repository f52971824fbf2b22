"""The fast CPU path's convolution of a single-channel input (conv1), in compiled C.

svd/fast_cpu.py sends a float32 convolution with one input channel here when the C
code (svd/single_channel_conv.c, built by svd/native.py) is available; the results
equal svd/layers.py's conv2d_forward / conv2d_backward within float32 rounding
(tests/test_native_conv.py). With one input channel a tap contributes x * w[tap, :]
to each output position's K channels: nothing for a matrix product to share, and
the time goes into writing the (batch, time_out, freq_out, K) output and reading
its gradient, which the C loops do in one pass each (NumPy's im2col product needs
several). The backward gives dw and db only: the first layer of a network needs no
dx, and for a layer that does, fast_cpu.py computes all three itself.
"""

import ctypes

import numpy

from . import cpu_blas, native

_declared = False  # whether the C functions' argument types are set


def _lib():
    """The C library with single_channel_conv.c's argument types declared, or None."""
    global _declared
    lib = native.library()
    if lib is not None and not _declared:
        p, i = ctypes.c_void_p, ctypes.c_int
        lib.single_channel_forward_worker.argtypes = [p] + [i] * 7 + [p, p, i, p] + [i] * 5
        lib.single_channel_weight_grad_worker.argtypes = [p] + [i] * 7 + [p, p, i, i, i, i,
                                                                           p, p, p, i, i]
        lib.single_channel_forward_worker.restype = None
        lib.single_channel_weight_grad_worker.restype = None
        _declared = True
    return lib


def applies(x, w, need_dx=False):
    """Whether fast_cpu.py should compute conv(x, w) (and its backward) here: one
    input channel, float32, no dx wanted, and the C code built."""
    return (w.shape[2] == 1 and not need_dx and x.dtype == w.dtype == numpy.float32
            and _lib() is not None)


def _workers():
    """[(worker, worker + 1)] for cpu_blas.parallel_for: one C call per worker thread."""
    return [(w, w + 1) for w in range(cpu_blas.num_threads())]


def conv2d_forward(x, w, b, dilation=(1, 1), leaky=False, workspace=None):
    """Valid 2-D convolution of a single-channel input, as fast_cpu.conv2d_forward.

    Args:
        x: (batch, time, freq, 1) float32.
        w: (kernel_time, kernel_freq, 1, c_out) float32. b: (c_out,).
        dilation: (d_time, d_freq). leaky: also apply max(z/100, z).
        workspace: dict for reusing the output buffer between calls, or None.

    Returns:
        y: (batch, time_out, freq_out, c_out); cache: (x, w, dilation, leaky, y).
    """
    lib = _lib()
    x = numpy.ascontiguousarray(x)
    batch, time, freq, _ = x.shape
    kernel_time, kernel_freq, _, c_out = w.shape
    time_out = time - (kernel_time - 1) * dilation[0]
    freq_out = freq - (kernel_freq - 1) * dilation[1]
    if time_out < 1 or freq_out < 1:
        raise ValueError(f"input {x.shape} is smaller than the kernel {w.shape[:2]} "
                         f"with dilation {dilation}")
    taps = numpy.ascontiguousarray(w.reshape(-1, c_out))
    bias = numpy.ascontiguousarray(b, dtype=numpy.float32)
    y = cpu_blas.reuse(workspace, "y", (batch, time_out, freq_out, c_out), x.dtype)
    n_workers = len(_workers())
    cpu_blas.parallel_for(lambda _, __, worker: lib.single_channel_forward_worker(
        x.ctypes.data, batch, time, freq, kernel_time, kernel_freq, dilation[0], dilation[1],
        taps.ctypes.data, bias.ctypes.data, int(leaky), y.ctypes.data, time_out, freq_out,
        c_out, worker, n_workers), _workers())
    return y, (x, w, tuple(dilation), leaky, y)


def conv2d_backward(dy, cache, need_dx=False, workspace=None):
    """dw, db of conv2d_forward (dx is None: see `applies`), as fast_cpu.conv2d_backward.

    Notes:
        dz = dy * (1 if y > 0 else 1/100) if leaky, else dy
        dw[i, j, 0, :] = sum_{n,t,f} x[n, t + i*d_time, f + j*d_freq] dz[n, t, f, :]
        db = sum of dz over all positions
    """
    if need_dx:
        raise ValueError("single_channel_conv computes no dx; fast_cpu.py does")
    lib = _lib()
    x, w, dilation, leaky, y = cache
    batch, time, freq, _ = x.shape
    kernel_time, kernel_freq, _, c_out = w.shape
    time_out, freq_out = y.shape[1:3]
    dy = numpy.ascontiguousarray(dy, dtype=numpy.float32)
    n_workers = len(_workers())
    dw_parts = numpy.zeros((n_workers, kernel_time * kernel_freq, c_out), numpy.float32)
    db_parts = numpy.zeros((n_workers, c_out), numpy.float32)
    dz_lines = numpy.empty((n_workers, freq_out * c_out), numpy.float32)
    cpu_blas.parallel_for(lambda _, __, worker: lib.single_channel_weight_grad_worker(
        x.ctypes.data, batch, time, freq, kernel_time, kernel_freq, dilation[0], dilation[1],
        dy.ctypes.data, y.ctypes.data, int(leaky), time_out, freq_out, c_out,
        dw_parts[worker].ctypes.data, db_parts[worker].ctypes.data, dz_lines[worker].ctypes.data,
        worker, n_workers), _workers())
    return None, dw_parts.sum(axis=0).reshape(w.shape), db_parts.sum(axis=0)
