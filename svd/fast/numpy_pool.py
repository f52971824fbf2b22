"""Max-pooling in NumPy, a few examples per worker thread: any dtype.

Same functions, arguments, results and cache as svd/layers.py's maxpool2d_forward /
maxpool2d_backward (the argmax of each window as uint8, the first maximum on ties),
but without stacking every window position into one big array: a running maximum
over the window positions, a few examples at a time so that it stays in cache, the
blocks of examples spread over the cores by svd/fast/workers.py.
svd/fast/__init__.py sends here what the compiled max-pool (svd/fast/max_pool.py)
does not take: float64, and machines without a C compiler.
"""

import numpy

from svd.fast import workers

# A block holds about _POOL_BLOCK_BYTES / 4 bytes of output (`_example_blocks`), so
# that the running maximum and its temporaries stay in cache; chosen along with the
# block sizes of svd/fast/blocked.py, on the 2-core CPU described there.
_POOL_BLOCK_BYTES = 1 << 21


def _pool_taps(x, pool, stride, time_out, freq_out):
    """[(k, view)]: for each window position k = i * pool_freq + j, the
    (batch, time_out, freq_out, c) view of x holding that position of every window."""
    pool_time, pool_freq = pool
    stride_time, stride_freq = stride
    taps = []
    for i in range(pool_time):
        for j in range(pool_freq):
            view = x[:, i:i + stride_time * (time_out - 1) + 1:stride_time,
                     j:j + stride_freq * (freq_out - 1) + 1:stride_freq]
            taps.append((i * pool_freq + j, view))
    return taps


def _example_blocks(batch, bytes_per_example):
    """[(start, stop)] over the batch, a few examples (~_POOL_BLOCK_BYTES / 4) at a time."""
    step = max(1, _POOL_BLOCK_BYTES // (4 * max(1, bytes_per_example)))
    return [(n, min(n + step, batch)) for n in range(0, batch, step)]


def maxpool2d_forward(x, pool=(3, 3), stride=None):
    """Max-pooling over (time, freq) windows; partial windows at the end are dropped.

    Args:
        x: (batch, time, freq, c).
        pool: (pool_time, pool_freq) window size.
        stride: (stride_time, stride_freq); None means stride = pool
            (non-overlapping windows, as in the paper).

    Returns:
        y: (batch, time_out, freq_out, c), with
            time_out = (time - pool_time) // stride_time + 1 (same for freq).
        cache: (argmax, x_shape, pool, stride); argmax is a
            (batch, time_out, freq_out, c) uint8 array of the window position
            i * pool_freq + j of each maximum (the first one on ties).

    Notes:
        y[n, t, f, c] = max_{i, j} x[n, t*stride_time + i, f*stride_freq + j, c]
    """
    stride = tuple(pool if stride is None else stride)
    if pool[0] * pool[1] > 256:
        raise ValueError(f"pool {pool} has more than 256 positions; argmax is stored as uint8")
    batch, time, freq, c = x.shape
    time_out = (time - pool[0]) // stride[0] + 1
    freq_out = (freq - pool[1]) // stride[1] + 1
    y = numpy.empty((batch, time_out, freq_out, c), dtype=x.dtype)
    argmax = numpy.empty((batch, time_out, freq_out, c), dtype=numpy.uint8)

    def pool_examples(start, stop, worker):  # a few examples: the running max stays in cache
        y_part, arg_part = y[start:stop], argmax[start:stop]
        bigger = numpy.empty(y_part.shape, dtype=bool)
        step = numpy.empty(y_part.shape, dtype=numpy.uint8)
        for k, view in _pool_taps(x[start:stop], pool, stride, time_out, freq_out):
            if k == 0:
                y_part[...] = view
                arg_part[...] = 0
                continue
            numpy.greater(view, y_part, out=bigger)  # strict: the first maximum wins ties
            numpy.maximum(y_part, view, out=y_part)
            # argmax = k where bigger, else unchanged, as arithmetic (modulo 256):
            # masked writes with random masks branch unpredictably (slow).
            numpy.subtract(k, arg_part, out=step)
            step *= bigger
            arg_part += step

    workers.parallel_for(pool_examples, _example_blocks(batch, y[0].nbytes))
    return y, (argmax, x.shape, tuple(pool), stride)


def maxpool2d_backward(dy, cache, workspace=None):
    """Gradient of maxpool2d_forward: each dy goes to the position of its maximum.

    Args:
        dy: (batch, time_out, freq_out, c).
        cache: from maxpool2d_forward.
        workspace: dict for reusing the dx buffer between calls, or None.

    Returns:
        dx: (batch, time, freq, c).
    """
    argmax, x_shape, pool, stride = cache
    time_out, freq_out = argmax.shape[1:3]
    dx = workers.reuse(workspace, "dx", x_shape, dy.dtype)

    def unpool_examples(start, stop, worker):
        dx_part, dy_part, arg_part = dx[start:stop], dy[start:stop], argmax[start:stop]
        if stride == pool:
            # Windows tile dx without overlap: each covered position is written
            # once; the rows/columns left over by the floor division get zero.
            dx_part[:, time_out * stride[0]:] = 0
            dx_part[:, :, freq_out * stride[1]:] = 0
            for k, view in _pool_taps(dx_part, pool, stride, time_out, freq_out):
                numpy.multiply(dy_part, arg_part == k, out=view)
        else:  # overlapping windows: a position can receive from several windows
            dx_part[...] = 0
            for k, view in _pool_taps(dx_part, pool, stride, time_out, freq_out):
                view += dy_part * (arg_part == k)

    workers.parallel_for(unpool_examples, _example_blocks(x_shape[0], dy[0].nbytes))
    return dx
