"""The blocked, threaded convolution and dense layers: NumPy and BLAS, any dtype and kernel.

Same functions, arguments and results as the textbook layers of svd/layers.py (the
tests hold them equal within float32 rounding; caches differ), for NumPy arrays on
the CPU: cut into blocks of rows run on all cores (svd/fast/workers.py), with BLAS
called through ctypes (svd/fast/blas.py). svd/fast/__init__.py sends here every
convolution that its compiled special cases (svd/fast/winograd.py,
svd/fast/single_channel_conv.py) do not take: float64, other kernels of several
input channels (such as prediction's 11-tap dense1 convolution), the backward of a
one-channel layer asked for dx, and all of them on machines without a C compiler;
and every dense layer.

How the convolution is computed (the hot spot: conv2 alone is ~64% of all
FLOPs). View the channels-last input as rows, one row of c_in values per
(example, time, freq) position: row r = (n * T + t) * F + f. A valid
convolution with a kh x kw kernel and dilation (dt, df) is then

    z[r] = b + sum over taps k = (i, j) of  x[r + off_k] @ w[i, j],   off_k = i*dt*F + j*df

because moving i*dt steps in time and j*df steps in frequency moves a fixed
number of rows. Each tap is one matrix product of a *contiguous slice* of the
input rows with a (c_in, c_out) matrix, accumulated into the output in place
by BLAS (`blas.gemm` with beta=1): no im2col copy, no temporaries. We
compute z for whole lines (all F frequencies of a time step); the last
(kw-1)*df entries of each line wrap around into the next line and are
garbage, so only z[..., :F_out] is kept (and the garbage lines t >= T_out
are never computed).

The backward needs the same sums "the other way round". With dz the gradient
w.r.t. z (exactly zero wherever z is not a valid output):

    dw[k] = sum_r x[r + off_k]^T dz[r] = sum_s x[s]^T dz[s - off_k]
    dx[s] = sum_k dz[s - off_k] @ w[k]^T

For a block of input rows s, one of the two operands is copied once into a
wide matrix so that dw comes from a single large product:
- if c_out <= c_in (conv2, conv4): the nine shifted slices of dz side by side,
  D[s] = [dz[s - off_0], ..., dz[s - off_8]]  (rows, taps * c_out); then
  dw_cat += x^T D and also dx = D @ w_cat, both large products;
- if c_in < c_out (conv1, conv3): the input's (transposed) im2col matrix,
  col[k*c_in + c, r] = x[r + off_k, c]  (taps * c_in, rows); then
  dw_col += col dz, and dx is one product per tap, accumulated in place.
Copying the narrower operand is what measured fastest.

Speed. Rows are processed in blocks of whole lines (`_line_blocks`), sized so
that a block's rows stay in cache while its taps run over them. Blocks are
independent (a backward block recomputes the few lines of dz before it that
it needs, its "halo"), so `workers.parallel_for` runs them on all cores at
once, each core doing its own BLAS calls and element-wise work. In the
forward, a single input channel (conv1) would make the taps products with an
inner dimension of 1, so there we also multiply a small im2col matrix
instead. The leaky rectifier y = max(z/100, z) that follows every conv
(Sec. 3.2) is fused into the conv (`leaky=True`): applied to each output
block while it is in cache, and its derivative to each gradient block.
"""

import numpy

from svd.fast import workers
from svd.fast.blas import gemm
from svd.layers import LEAKINESS, conv_out_shape

# Rows per block are chosen so that a block's data take about this many bytes
# (times the caller's block_scale); measured best for the whole network
# (BENCHMARKS.md) on a 2-core CPU with 1 MB of L2 per core and 32 MB of shared
# L3. Bigger blocks mean fewer calls and, in the backward, fewer recomputed halo
# lines; smaller ones stay in a smaller cache. Which scale wins on another
# machine is measured there (svd/fast/__init__.py offers three).
_FORWARD_BLOCK_BYTES = 1 << 23
_BACKWARD_BLOCK_BYTES = 1 << 22
# Up to this many input channels the conv uses a per-block im2col product
# instead of one product per tap (an inner dimension of c_in is too thin).
_IM2COL_MAX_C_IN = 4


# --------------------------------------------------------------------------
# Helpers of the convolution
# --------------------------------------------------------------------------

def _tap_offsets(kernel_time, kernel_freq, dilation, freq):
    """[(i, j, row offset of tap (i, j))] for inputs with `freq` rows per line."""
    d_time, d_freq = dilation
    return [(i, j, i * d_time * freq + j * d_freq)
            for i in range(kernel_time) for j in range(kernel_freq)]


def _line_blocks(batch, time, lines, freq, row_bytes, block_bytes):
    """[(start_row, stop_row)]: lines 0..lines-1 of every example (of `time`
    lines of `freq` rows each), cut into nearly equal blocks of whole lines
    of at most ~block_bytes (row_bytes per row), never crossing examples."""
    max_lines = max(1, block_bytes // (row_bytes * freq))
    n_blocks = -(-lines // max_lines)
    cuts = [lines * k // n_blocks for k in range(n_blocks + 1)]
    return [((n * time + t0) * freq, (n * time + t1) * freq)
            for n in range(batch) for t0, t1 in zip(cuts[:-1], cuts[1:])]


def leaky_slope(y):
    """d max(z/100, z) / dz as an array: 1 where y > 0, 1/100 elsewhere (y > 0 <=> z > 0).

    Written without where() or masked copies: with random signs those branch
    unpredictably and run ~10x slower than this arithmetic.
    """
    slope = (y > 0).astype(y.dtype)
    slope *= 1 - LEAKINESS
    slope += LEAKINESS
    return slope


def leaky_relu_backward(dy, y):
    """The rectifier's backward (svd/layers.py leaky_relu_backward) as arithmetic: dy * leaky_slope(y)."""
    dx = leaky_slope(y)
    dx *= dy
    return dx


def _im2col_t(x_rows, start, stop, taps, col_t):
    """col_t[k*c_in + c, r - start] = x_rows[r + off_k, c] for r in [start, stop).

    The transposed im2col matrix (taps * c_in, rows): for one input channel
    each of its rows is a contiguous copy of a slice of x_rows.
    """
    c_in = x_rows.shape[1]
    for k, (_, _, off) in enumerate(taps):
        col_t[k * c_in:(k + 1) * c_in] = x_rows[start + off:stop + off].T
    return col_t


def _output_grad(dz_lines, first_line, time, dy, y, leaky):
    """Fill dz_lines with the gradient w.r.t. the pre-activation z, laid out
    like the input rows.

    Args:
        dz_lines: (lines, freq, c_out) buffer to fill; line i is input line
            first_line + i = n * time + t (lines before 0 are allowed).
        time: lines per example of the input.
        dy, y: (batch, time_out, freq_out, c_out) gradient w.r.t. the output, and the output.
        leaky: whether the leaky rectifier was fused.

    Returns:
        dz_lines, holding dz = dy * (1 if y > 0 else 1/100) if leaky, else dy,
        on valid outputs (t < time_out, f < freq_out) and exactly 0 elsewhere.
    """
    time_out, freq_out = y.shape[1:3]
    dz_lines[:, freq_out:] = 0  # the garbage tail of every line
    i, line = 0, first_line
    while i < dz_lines.shape[0]:  # one run of lines per example
        n, t = divmod(line, time)
        run = min(dz_lines.shape[0] - i, time - t)
        valid = max(0, min(t + run, time_out) - t) if n >= 0 else 0  # lines t < time_out
        if valid:
            target = dz_lines[i:i + valid, :freq_out]
            if leaky:
                numpy.multiply(dy[n, t:t + valid], leaky_slope(y[n, t:t + valid]), out=target)
            else:
                target[...] = dy[n, t:t + valid]
        dz_lines[i + valid:i + run] = 0  # garbage lines t >= time_out, or before the first example
        i += run
        line += run
    return dz_lines


# --------------------------------------------------------------------------
# Convolution (valid, kh x kw kernel, optional dilation), fused leaky ReLU
# --------------------------------------------------------------------------

def conv2d_forward(x, w, b, dilation=(1, 1), leaky=False, workspace=None, block_scale=1.0):
    """Valid 2-D convolution over (time, freq), optionally dilated, with bias.

    Args:
        x: (batch, time, freq, c_in) input.
        w: (kernel_time, kernel_freq, c_in, c_out) weights.
        b: (c_out,) biases.
        dilation: (d_time, d_freq) spacing between kernel taps.
        leaky: also apply the leaky rectifier max(z/100, z).
        workspace: dict for reusing buffers between calls (see workers.reuse),
            or None.
        block_scale: the size of the blocks of rows run in turn, as a multiple
            of _FORWARD_BLOCK_BYTES (speed only: the result is the same).

    Returns:
        y: (batch, time_out, freq_out, c_out), time_out = time - (kernel_time-1)*d_time,
            freq_out = freq - (kernel_freq-1)*d_freq.
        cache: what conv2d_backward needs: (x, w, dilation, leaky, y).

    Notes:
        z[n, t, f, o] = b[o] + sum_{i, j, c} x[n, t + i*d_time, f + j*d_freq, c] * w[i, j, c, o]
        y = z, or max(z/100, z) if leaky.
        (Cross-correlation, no kernel flip: for learned weights it makes no difference.)
    """
    x = numpy.ascontiguousarray(x)
    w = numpy.ascontiguousarray(w)
    batch, time, freq, c_in = x.shape
    kernel_time, kernel_freq, _, c_out = w.shape
    time_out, freq_out = conv_out_shape(x.shape, w.shape[:2], dilation)
    x_rows = x.reshape(-1, c_in)  # row (n * time + t) * freq + f
    taps = _tap_offsets(kernel_time, kernel_freq, dilation, freq)
    last_row = x_rows.shape[0] - taps[-1][2]  # rows before it have every tap inside x
    y = workers.reuse(workspace, "y", (batch, time_out, freq_out, c_out), x.dtype)
    im2col = c_in <= _IM2COL_MAX_C_IN
    w_col = w.reshape(-1, c_out)  # (taps * c_in, c_out), tap-major like col_t
    row_bytes = x.dtype.itemsize * ((len(taps) if im2col else 1) * c_in + 2 * c_out)

    def forward_block(start, stop, worker):  # lines t0..t1 of example n
        n, t0 = divmod(start // freq, time)
        t1 = t0 + (stop - start) // freq
        z = workers.scratch(workspace, f"z{worker}", (stop - start, c_out), x.dtype)
        # Rows from last_row on (the garbage tail of the batch's very last line)
        # would read past the end of x: they are neither computed nor used.
        m = min(stop, last_row) - start
        z[:m] = b
        if im2col:
            col_t = workers.scratch(workspace, f"col_t{worker}", (w_col.shape[0], m), x.dtype)
            gemm(_im2col_t(x_rows, start, start + m, taps, col_t), w_col, z[:m], trans_a=True)
        else:
            for i, j, off in taps:
                gemm(x_rows[start + off:start + off + m], w[i, j], z[:m])  # z += x[r+off] w[i,j]
        valid = z.reshape(t1 - t0, freq, c_out)[:, :freq_out]  # drop each line's garbage tail
        if leaky:
            numpy.maximum(valid, valid * LEAKINESS, out=y[n, t0:t1])
        else:
            y[n, t0:t1] = valid

    workers.parallel_for(forward_block, _line_blocks(batch, time, time_out, freq, row_bytes,
                                                     int(_FORWARD_BLOCK_BYTES * block_scale)))
    return y, (x, w, dilation, leaky, y)


def conv2d_backward(dy, cache, need_dx=True, workspace=None, block_scale=1.0):
    """Gradients of conv2d_forward.

    Args:
        dy: (batch, time_out, freq_out, c_out) gradient w.r.t. y (the output
            after the leaky rectifier if it was fused).
        cache: from conv2d_forward.
        need_dx: compute dx (the first layer of a network does not need it).
        workspace: dict for reusing buffers between calls, or None.
        block_scale: the size of the blocks of rows, as a multiple of
            _BACKWARD_BLOCK_BYTES (speed only).

    Returns:
        dx: (batch, time, freq, c_in) (None if not need_dx),
        dw: (kernel_time, kernel_freq, c_in, c_out), db: (c_out,).

    Notes:
        dz = dy * (1 if y > 0 else 1/100) if leaky, else dy   (y > 0 <=> z > 0)
        db = sum of dz over all positions
        dw[k] = sum_s x[s]^T dz[s - off_k],  dx[s] = sum_k dz[s - off_k] @ w[k]^T
        computed per block of input rows s from D[s] = [dz[s - off_k]]_k
        (see the module docstring). A block needs dz from `halo` lines before
        it, which it computes itself, so that blocks are independent.
    """
    x, w, dilation, leaky, y = cache
    dy = numpy.ascontiguousarray(dy)
    batch, time, freq, c_in = x.shape
    kernel_time, kernel_freq, _, c_out = w.shape
    x_rows = x.reshape(-1, c_in)
    taps = _tap_offsets(kernel_time, kernel_freq, dilation, freq)
    n_taps = len(taps)
    max_off = taps[-1][2]
    last_row = x_rows.shape[0] - max_off  # rows before it have every tap inside x
    halo = -(-max_off // freq) * freq  # rows of whole lines of dz needed before a block

    # Copy the narrower of x and dz: the input's im2col (taps * c_in wide) or
    # D (taps * c_out wide). Measured: conv1, conv3 gather x; conv2, conv4 gather dz.
    gather_x = c_in < c_out
    n_workers = workers.num_threads()
    dw_parts = numpy.zeros((n_workers, n_taps * c_in, c_out) if gather_x else
                        (n_workers, c_in, n_taps * c_out), dtype=w.dtype)
    db_parts = numpy.zeros((n_workers, 1, c_out), dtype=w.dtype)
    if not gather_x:
        w_cat = numpy.ascontiguousarray(  # row k*c_out + o holds w[k][:, o]
            w.reshape(n_taps, c_in, c_out).transpose(0, 2, 1).reshape(n_taps * c_out, c_in))
    if need_dx:
        dx = workers.reuse(workspace, "dx", x.shape, x.dtype)
        dx_rows = dx.reshape(-1, c_in)
    row_bytes = x.dtype.itemsize * (2 * c_in + c_out + n_taps * (c_in if gather_x else c_out))

    def backward_block(start, stop, worker):
        m = stop - start
        # 1. dz of the halo lines and of this block's lines: dz_ext[h] is row start - halo + h.
        dz_ext = workers.scratch(workspace, f"dz{worker}", (halo + m, c_out), dy.dtype)
        _output_grad(dz_ext.reshape(-1, freq, c_out), (start - halo) // freq, time, dy, y, leaky)
        dz = dz_ext[halo:]
        gemm(numpy.ones((1, m), dtype=dz.dtype), dz, db_parts[worker])  # db += sum of dz rows
        # 2. Weight gradient and input gradient.
        if gather_x:
            # dw_col += col^T dz over this block's rows that have all taps inside x
            m_out = max(0, min(stop, last_row) - start)
            col_t = workers.scratch(workspace, f"col_t{worker}", (n_taps * c_in, m_out),
                                    x.dtype)
            gemm(_im2col_t(x_rows, start, start + m_out, taps, col_t), dz[:m_out],
                 dw_parts[worker])
            if need_dx:  # dx = sum_k dz[s - off_k] @ w[k]^T, one product per tap
                for k, (i, j, off) in enumerate(taps):
                    gemm(dz_ext[halo - off:halo - off + m], w[i, j], dx_rows[start:stop],
                         beta=0.0 if k == 0 else 1.0, trans_b=True)
        else:
            d = workers.scratch(workspace, f"d{worker}", (m, n_taps * c_out), dy.dtype)
            for k, (_, _, off) in enumerate(taps):  # D[s, k] = dz[s - off_k]
                d[:, k * c_out:(k + 1) * c_out] = dz_ext[halo - off:halo - off + m]
            gemm(x_rows[start:stop], d, dw_parts[worker], trans_a=True)  # dw_cat += x^T D
            if need_dx:
                gemm(d, w_cat, dx_rows[start:stop], beta=0.0)  # dx = D w_cat

    workers.parallel_for(backward_block, _line_blocks(batch, time, time, freq, row_bytes,
                                                      int(_BACKWARD_BLOCK_BYTES * block_scale)))
    if gather_x:
        dw = dw_parts.sum(axis=0).reshape(w.shape)
    else:
        dw_cat = dw_parts.sum(axis=0)  # (c_in, taps * c_out), column k*c_out + o
        dw = numpy.ascontiguousarray(
            dw_cat.reshape(c_in, kernel_time, kernel_freq, c_out).transpose(1, 2, 0, 3))
    db = db_parts.sum(axis=0)[0]
    return (dx if need_dx else None), dw, db


# --------------------------------------------------------------------------
# Dense (fully connected)
# --------------------------------------------------------------------------

def dense_forward(x, w, b):
    """y = x @ w + b.

    Args:
        x: (batch, n_in), w: (n_in, n_out), b: (n_out,).

    Returns:
        y: (batch, n_out); cache: (x, w).
    """
    x = numpy.ascontiguousarray(x)
    y = numpy.empty((x.shape[0], w.shape[1]), dtype=x.dtype)
    y[...] = b
    gemm(x, numpy.ascontiguousarray(w), y)
    return y, (x, w)


def dense_backward(dy, cache):
    """Gradients of dense_forward.

    Args:
        dy: (batch, n_out); cache: (x, w) from dense_forward.

    Returns:
        dx: (batch, n_in), dw: (n_in, n_out), db: (n_out,).

    Notes:
        dx = dy @ w^T,  dw = x^T @ dy,  db = sum over the batch of dy.
    """
    x, w = cache
    dy = numpy.ascontiguousarray(dy)
    w = numpy.ascontiguousarray(w)
    dx = gemm(dy, w, numpy.empty(x.shape, dtype=dy.dtype), beta=0.0, trans_b=True)
    dw = gemm(x, dy, numpy.empty(w.shape, dtype=dy.dtype), beta=0.0, trans_a=True)
    return dx, dw, dy.sum(axis=0)
