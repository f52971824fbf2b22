"""Winograd F(4x4, 3x3): the fast CPU path's 3x3 convolution with 4x fewer multiplications.

svd/fast/__init__.py sends a float32 3x3 convolution with several input channels
here when the C part (svd/fast/winograd.c, built by svd/fast/build.py) is available
(`applies`); the results equal svd/layers.py's conv2d_forward / conv2d_backward
within float32 rounding (tests/test_fast_winograd.py: a few 1e-6 of the largest value, against 1e-7 for the
direct convolution, from the transforms' larger coefficients).

The maths (Lavin & Gray 2016, "Fast algorithms for convolutional neural
networks"). Cut the output of a valid 3x3 convolution into 4x4 tiles. A tile
depends on a 6x6 patch d of the input, and for one input and one output channel

    y_tile = A^T [ (G w G^T) * (B^T d B) ] A          (* : elementwise, 6x6)

with the 1-D transforms B^T (6x6), G (6x3) and A^T (4x6) below (`B_T`, `G`, `A_T`:
interpolation at the points 0, 1, -1, 2, -2 and infinity). 36 multiplications per
tile and channel pair instead of 16 outputs x 9 taps = 144. Summed over input
channels c, the elementwise products become, for each of the 36 positions xi of
the 6x6 tile, one matrix product over all tiles p:

    M[xi] (tiles, c_out) = V[xi] (tiles, c_in) @ U[xi] (c_in, c_out)
    V[xi][p] = (B^T d_p B)[xi],   U[xi] = (G w G^T)[xi],   y_p = A^T M_p A

The transforms are additions and multiplications by small constants; the products
are where the time goes, and there are 36 x tiles x c_in x c_out of them.

Backward, by the chain rule through the same three linear maps, with dz the
gradient w.r.t. the convolution's output before the leaky rectifier:

    dM_p = A dz_p A^T                              (dz of a 4x4 tile -> 6x6)
    dU[xi] = sum_p V[xi][p]^T dM[xi][p],   dw = G^T dU G,   db = sum of dz
    dx = the full convolution of dz with w flipped in time and frequency and its
         channels swapped: a Winograd forward again, over dz padded by 2 taps

Dilation (d_time, d_freq) (the whole-song network of svd/predict.py) spaces
the tile's inputs and outputs d apart: a tile holds outputs t, t + d, .., t + 3d
and reads inputs t + i*d, so tiles start at 0..d-1, 4d..5d-1, ... (tile_origin
in the C code). Tiles that reach past the output compute a few outputs that are
thrown away (up to 3 rows and columns: 1% of conv2's work, 25% of conv4's).

Speed. Per 3x3 layer this does 1/4 of the direct convolution's multiplications
(plus the partial tiles). The transforms run in compiled C (one pass over a block
of tiles, vectorised over channels), the 36 products per block in BLAS, called
from C through the address of the same cblas_sgemm that svd/fast/blas.py uses;
each worker thread (workers.for_each_worker) takes every n-th block of tile rows.
Without the C code or that BLAS, `available()` is False and the blocked direct
convolution of svd/fast/blocked.py runs instead. Measured per layer in BENCHMARKS.md.
"""

import ctypes

import numpy

from svd.fast import blas, build, workers
from svd.layers import conv_out_shape

# The 1-D transforms, as arrays. G is applied here (transform_weights, weight_gradient);
# svd/fast/winograd.c has B_T, A_T and A = A_T^T written out as additions
# (tests/test_fast_winograd.py checks that these matrices compute a correlation, and the C convolution against svd/layers.py).
B_T = numpy.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                   [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], float)
G = numpy.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                 [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]])
A_T = numpy.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
                   [0, 1, -1, 8, -8, 1]], float)
TILE = 4  # outputs per tile side
SPAN = TILE + 2  # inputs per tile side (a 3-tap kernel)
POSITIONS = SPAN * SPAN  # products per tile and channel pair

# Tiles per block: their V and M take about this many bytes. Measured on the 2-core
# machine: 256 KiB to 2 MiB all within its noise; 4 MiB and more slower.
_BLOCK_BYTES = 1 << 20

# --------------------------------------------------------------------------
# The compiled part (svd/fast/winograd.c, built by svd/fast/build.py)
# --------------------------------------------------------------------------

class _Layer(ctypes.Structure):
    """One convolution for the C code: `struct layer` of svd/fast/winograd.c, field for field."""
    _fields_ = [("x", ctypes.c_void_p)] + [
        (name, ctypes.c_int) for name in ("batch", "T", "F", "C", "dt", "df", "pad_t", "pad_f")] + [
        ("U", ctypes.c_void_p), ("bias", ctypes.c_void_p), ("leaky", ctypes.c_int),
        ("y", ctypes.c_void_p)] + [
        (name, ctypes.c_int) for name in ("T_out", "F_out", "K", "tiles_t", "tiles_f",
                                          "rows_per_block")] + [
        ("zeros", ctypes.c_void_p), ("sgemm", ctypes.c_void_p)]


_P, _I = ctypes.c_void_p, ctypes.c_int
# The C functions of svd/fast/winograd.c and their argument types.
_FORWARD = ("forward_worker", [ctypes.POINTER(_Layer), _I, _I, _P, _P, _P])
_WEIGHT_GRAD = ("weight_grad_worker", [ctypes.POINTER(_Layer), _P, _I, _I, _P, _P, _P, _P])
_LEAKY_BACKWARD = ("leaky_backward_worker", [_P, _P, _P, ctypes.c_size_t, _I, _I])


def available():
    """Whether the Winograd convolution can run here: the C code built and a
    ctypes-callable cblas_sgemm found (svd/fast/blas.py)."""
    return blas.cblas_sgemm_address() is not None and build.function(*_FORWARD) is not None


def applies(x, w):
    """Whether svd/fast/__init__.py should compute conv(x, w) here: compiled, a 3x3
    kernel, float32, and more than one input channel (conv1's single channel gives
    products with an inner dimension of 1: svd/fast/single_channel_conv.c does it
    directly)."""
    return (w.shape[:2] == (3, 3) and w.shape[2] > 1
            and x.dtype == w.dtype == numpy.float32 and available())


# --------------------------------------------------------------------------
# Transforms done in NumPy (weights: small)
# --------------------------------------------------------------------------

def transform_weights(w):
    """U = G w G^T per channel pair. w: (3, 3, c_in, c_out) -> U: (36, c_in, c_out) float32."""
    c_in, c_out = w.shape[2:]
    left = G @ w.astype(numpy.float64).reshape(3, -1)  # (6, 3 * c_in * c_out): G along time
    u = numpy.matmul(G, left.reshape(SPAN, 3, -1))  # (6, 6, c_in * c_out): G along frequency
    return numpy.ascontiguousarray(u.reshape(POSITIONS, c_in, c_out), dtype=numpy.float32)


def weight_gradient(du):
    """dw = G^T dU G, the gradient through transform_weights. du: (36, c_in, c_out) -> (3, 3, c_in, c_out)."""
    c_in, c_out = du.shape[1:]
    right = numpy.matmul(G.T, du.astype(numpy.float64).reshape(SPAN, SPAN, -1))  # (6, 3, c_in*c_out)
    dw = G.T @ right.reshape(SPAN, -1)  # (3, 3 * c_in * c_out)
    return dw.reshape(3, 3, c_in, c_out).astype(numpy.float32)


def tile_count(n_out, dilation):
    """Tiles along an axis of n_out outputs (tiles hold t, t + d, .., t + 3d, d = dilation):
    the tile origins 0..d-1, 4d..5d-1, ... that are below n_out."""
    groups, rest = divmod(n_out, TILE * dilation)
    return groups * dilation + min(rest, dilation)


def _layer(x, u, b, dilation, padding, leaky, y, zeros):
    """The _Layer for y <- conv(x padded by `padding`, transformed weights u) + b, leaky.
    Blocks hold about _BLOCK_BYTES of V and M (tile rows of one example each)."""
    batch, time, freq, c_in = x.shape
    _, time_out, freq_out, c_out = y.shape
    tiles_t, tiles_f = tile_count(time_out, dilation[0]), tile_count(freq_out, dilation[1])
    max_rows = max(1, _BLOCK_BYTES // (4 * POSITIONS * (c_in + c_out) * tiles_f))
    n_blocks = -(-tiles_t // max_rows)
    return _Layer(x.ctypes.data, batch, time, freq, c_in, dilation[0], dilation[1], padding[0],
                  padding[1], u.ctypes.data, None if b is None else b.ctypes.data, int(leaky),
                  y.ctypes.data, time_out, freq_out, c_out, tiles_t, tiles_f,
                  -(-tiles_t // n_blocks), zeros.ctypes.data, blas.cblas_sgemm_address())


def _scratch(workspace, name, layer, channels, worker):
    """A worker's (36, tiles of its biggest block, channels) float32 buffer."""
    tiles = layer.rows_per_block * layer.tiles_f
    return workers.scratch(workspace, f"{name}{worker}", (POSITIONS, tiles, channels),
                            numpy.float32)


# --------------------------------------------------------------------------
# The convolution (interfaces of svd/layers.py)
# --------------------------------------------------------------------------

def _convolve(x, u, b, dilation, padding, leaky, y, workspace, tag):
    """y <- the Winograd convolution of x (padded by `padding` zeros before and after in
    time and frequency) with transformed weights u (36, c_in, c_out), + b, leaky. Returns y."""
    forward_worker = build.function(*_FORWARD)
    zeros = numpy.zeros(max(x.shape[3], y.shape[3]), numpy.float32)
    bias = None if b is None else numpy.ascontiguousarray(b, dtype=numpy.float32)
    layer = _layer(x, u, bias, dilation, padding, leaky, y, zeros)

    def work(worker, n_workers):
        v = _scratch(workspace, tag + "v", layer, layer.C, worker)
        m = _scratch(workspace, tag + "m", layer, layer.K, worker)
        spill = workers.scratch(workspace, f"{tag}s{worker}", (TILE * TILE, layer.K), numpy.float32)
        forward_worker(ctypes.byref(layer), worker, n_workers, v.ctypes.data, m.ctypes.data,
                       spill.ctypes.data)

    workers.for_each_worker(work)
    return y


def conv2d_forward(x, w, b, dilation=(1, 1), leaky=False, workspace=None):
    """Valid 3x3 convolution over (time, freq), optionally dilated, with bias (float32).

    Args:
        x: (batch, time, freq, c_in) float32.
        w: (3, 3, c_in, c_out) float32. b: (c_out,).
        dilation: (d_time, d_freq). leaky: also apply max(z/100, z).
        workspace: dict for reusing buffers between calls, or None.

    Returns:
        y: (batch, time - 2*d_time, freq - 2*d_freq, c_out),
        cache: (x, w, dilation, leaky, y), as svd/fast/blocked.py's conv2d_forward.
    """
    x = numpy.ascontiguousarray(x)
    time_out, freq_out = conv_out_shape(x.shape, w.shape[:2], dilation)
    y = workers.reuse(workspace, "y", (x.shape[0], time_out, freq_out, w.shape[3]), x.dtype)
    _convolve(x, transform_weights(w), b, dilation, (0, 0), leaky, y, workspace, "f")
    return y, (x, w, tuple(dilation), leaky, y)


def conv2d_backward(dy, cache, need_dx=True, workspace=None):
    """Gradients of conv2d_forward: dx (None if not need_dx), dw, db; as blocked.conv2d_backward.

    dz = dy * (1 if y > 0 else 1/100) if leaky, else dy; dw and db from dz's tiles
    (weight_grad_worker), dx as the Winograd convolution of dz padded by two dilated taps
    with w turned by 180 degrees and its channels swapped (the module docstring).
    """
    x, w, dilation, leaky, y = cache
    c_in, c_out = w.shape[2:]
    n_workers = workers.num_threads()
    dy = numpy.ascontiguousarray(dy, dtype=numpy.float32)
    dz = dy
    if leaky:
        leaky_backward = build.function(*_LEAKY_BACKWARD)
        dz = workers.reuse(workspace, "dz", dy.shape, numpy.float32)
        workers.for_each_worker(lambda worker, n_workers: leaky_backward(
            dy.ctypes.data, y.ctypes.data, dz.ctypes.data, dy.size, worker, n_workers))

    zeros = numpy.zeros(max(c_in, c_out), numpy.float32)
    layer = _layer(x, numpy.empty(0, numpy.float32), None, dilation, (0, 0), False, dz, zeros)
    du_parts = numpy.zeros((n_workers, POSITIONS, c_in, c_out), numpy.float32)
    db_parts = numpy.zeros((n_workers, c_out), numpy.float32)

    weight_grad_worker = build.function(*_WEIGHT_GRAD)

    def weight_work(worker, n_workers):
        v = _scratch(workspace, "bv", layer, c_in, worker)
        dm = _scratch(workspace, "bm", layer, c_out, worker)
        weight_grad_worker(ctypes.byref(layer), dz.ctypes.data, worker, n_workers,
                           v.ctypes.data, dm.ctypes.data, du_parts[worker].ctypes.data,
                           db_parts[worker].ctypes.data)

    workers.for_each_worker(weight_work)
    dw = weight_gradient(du_parts.sum(axis=0))
    db = db_parts.sum(axis=0)
    dx = None
    if need_dx:  # full convolution of dz with w flipped and transposed: (3, 3, c_out, c_in)
        u_flip = transform_weights(w[::-1, ::-1].transpose(0, 1, 3, 2))
        dx = workers.reuse(workspace, "dx", x.shape, numpy.float32)
        _convolve(dz, u_flip, None, dilation, (2 * dilation[0], 2 * dilation[1]), False, dx,
                  workspace, "d")
    return dx, dw, db
