"""GPU kernels: compiling kernels/*.cu with CuPy, and one Python launcher per kernel.

Every launcher has the same shape: check and allocate arrays, then
`_launch(family, kernel, n_items, *args)`, which converts the scalar
arguments to the C types the kernel declares, picks a grid (`launch_config`)
and runs kernel `kernel` of kernels/<family>.cu (`_launch_rows` does the
same for a kernel over the rows and columns of a matrix, on a 2-D grid:
`launch_config_rows`). Each docstring names the NumPy function the launcher
replaces (its "twin", which the tests compare it with) and gives every
array's shape. Arrays are C-contiguous; spectrograms
and activations float32 (no TF32 anywhere: the matrix products are CuPy's
float32 matmul, which uses TF32 only if CUPY_TF32=1 is set).

Checks. A kernel trusts its sizes and indices: a wrong one reads or writes
outside an array without any error. So before launching, every launcher
checks that its arguments have the shapes its docstring gives, that arrays
it writes in place are C-contiguous float32, and the other conditions its
docstring states (index ranges, distinct rows, ...): a mismatch is a
ValueError whose message starts with "launcher: argument". Index ranges
cost a reduction (min and max, see `_check_indices`), so only small index
arrays are checked, and where they live: free on the host, but on the
device a read-back that makes the host wait for the GPU. Training passes
its index arrays from the host, so an update never waits (gather_excerpts,
warp). Inputs of another float dtype are converted (`_f32`,
`_on`); `_argument`'s TypeError is the last guard between a launcher and
its kernel's C signature, which only a bug in this file can trip.

Outputs are allocated uninitialised by `_empty`: every kernel writes all of
its outputs (the emulated tests fill `_empty`'s arrays with NaN to prove it).

Composite functions at the end of each section (conv2d_forward, ...) have
exactly the interface of their twins in svd/layers.py, svd/loss.py and
svd/optim.py, caches included, so a backend can swap one for the other.

Launchers are written against the array module of their inputs (`xp`), and
`_launch` hands the kernel to `_run_kernel`. On the GPU that is a CuPy
RawModule function; tests/test_kernels_emulated.py replaces it with the same
kernels compiled by g++ (kernels/emulate.h) and passes NumPy arrays, so every
launcher runs unchanged on a machine without a GPU.

CuPy is imported only when a kernel is first run on the GPU; whether that can
work here is svd/device.py's `why_no_gpu()`.
"""
import functools
import math
import pathlib
import re
from collections import OrderedDict

import numpy

from svd import excerpt, spectrum
from svd.arrays import array_module
# A matrix product plus a bias (cuBLAS through xp.matmul), and zeros: the textbook code is what the GPU runs.
from svd.layers import dense_backward, dense_forward  # noqa: F401
from svd.optim import init_velocity  # noqa: F401

KERNEL_DIR = pathlib.Path(__file__).resolve().parents[2] / "kernels"
FAMILIES = ("conv", "pool", "activation", "loss", "optim", "augment")
# Options for NVRTC. --fmad=false: no fused multiply-adds, so the element-wise
# kernels round exactly like the NumPy twins (they are memory-bound: no cost).
COMPILE_OPTIONS = ("--fmad=false",)
THREADS_PER_BLOCK = 256
# Enough blocks to fill any current GPU (an H100 holds 132 SMs x 2048 threads
# = 1056 blocks of 256); larger arrays are covered by the grid-stride loop.
MAX_BLOCKS = 4096
# A block holds at most 1024 threads (every CUDA GPU); 2-D launches give a
# block at most this many threads along a row's columns.
MAX_THREADS_PER_BLOCK = 1024
# The largest int: im2col indexes its input with 32-bit ints.
INT32_MAX = 2 ** 31 - 1


# --------------------------------------------------------------------------
# Loading and launching
# --------------------------------------------------------------------------

def kernel_source(family):
    """The self-contained CUDA source of kernels/<family>.cu for NVRTC:
    kernels/emulate.h pasted in place of its #include line (NVRTC gets no
    include path, and CuPy's disk cache keys on this text, so editing the
    header recompiles)."""
    text = (KERNEL_DIR / f"{family}.cu").read_text(encoding="utf-8")
    header = (KERNEL_DIR / "emulate.h").read_text(encoding="utf-8")
    include = '#include "emulate.h"'
    if include not in text:
        raise RuntimeError(f"kernels/{family}.cu must contain the line {include}")
    return text.replace(include, header, 1)


_KERNEL_DECLARATION = re.compile(r"SVD_KERNEL\s+(\w+)\s*\(([^)]*)\)")


@functools.lru_cache(maxsize=None)
def kernel_signatures(family):
    """{kernel name: [(C type, argument name), ...]} of kernels/<family>.cu,
    read from its `SVD_KERNEL name(args)` declarations. C types are written
    without `const`/`__restrict__`, pointers as e.g. "float*"."""
    text = (KERNEL_DIR / f"{family}.cu").read_text(encoding="utf-8")
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)  # comments may show declarations
    signatures = {}
    for name, args in _KERNEL_DECLARATION.findall(text):
        signature = []
        for arg in args.split(","):
            words = arg.replace("*", " * ").split()
            words = [w for w in words if w not in ("const", "__restrict__")]
            pointer = "*" in words
            words = [w for w in words if w != "*"]
            signature.append((" ".join(words[:-1]) + ("*" if pointer else ""), words[-1]))
        signatures[name] = signature
    return signatures


def launch_config(n_items):
    """(blocks, threads per block) for a kernel over n_items indices.

    One thread per index up to MAX_BLOCKS blocks; beyond that each thread
    takes several indices (the grid-stride loop of kernels/emulate.h).
    """
    blocks = min(max(1, -(-n_items // THREADS_PER_BLOCK)), MAX_BLOCKS)
    return blocks, THREADS_PER_BLOCK


def launch_config_rows(n_rows, n_cols):
    """((blocks_x, blocks_y), (threads_x, threads_y)) for a kernel over an
    n_rows x n_cols matrix (SVD_FOR_EACH_ROW / SVD_FOR_EACH_COLUMN of kernels/emulate.h).

    Columns go along x: as few blocks as hold them (at most 1024 threads each),
    their threads a multiple of the 32-thread warp, so a row is written by
    consecutive threads; when a row is short (conv1's im2col has 9 columns),
    a block takes several rows (y) to keep about THREADS_PER_BLOCK threads.
    Rows go along y, up to MAX_BLOCKS block rows; the row loop strides over the rest.
    """
    blocks_x = max(1, -(-n_cols // MAX_THREADS_PER_BLOCK))
    cols_per_block = max(1, -(-n_cols // blocks_x))
    threads_x = 32 * -(-cols_per_block // 32)  # rounded up to whole warps
    threads_y = max(1, THREADS_PER_BLOCK // threads_x)
    blocks_y = min(max(1, -(-n_rows // threads_y)), MAX_BLOCKS)
    return (blocks_x, blocks_y), (threads_x, threads_y)


@functools.lru_cache(maxsize=None)
def _module(family):
    """cupy.RawModule of kernels/<family>.cu, compiled on first use (per process;
    CuPy also caches the binary on disk)."""
    import cupy
    return cupy.RawModule(code=kernel_source(family), options=COMPILE_OPTIONS)


@functools.lru_cache(maxsize=None)
def _function(family, name):
    """The cupy.RawKernel of kernel `name` in kernels/<family>.cu."""
    return _module(family).get_function(name)


def _run_kernel(family, name, blocks, threads, args):
    """Run kernel `name` of kernels/<family>.cu on the GPU (tests replace this
    function by the g++ emulation). blocks, threads: ints for a 1-D launch,
    (x, y) pairs for a 2-D one."""
    grid = blocks if isinstance(blocks, tuple) else (blocks,)
    block = threads if isinstance(threads, tuple) else (threads,)
    _function(family, name)(grid, block, tuple(args))


# C scalar types and the NumPy types that pass them by value.
_SCALARS = {"int": numpy.int32, "unsigned int": numpy.uint32, "long long": numpy.int64,
            "float": numpy.float32, "double": numpy.float64}
# C pointer types and the dtypes of the arrays they may point to.
_POINTERS = {"float*": numpy.float32, "double*": numpy.float64, "long long*": numpy.int64,
             "unsigned char*": numpy.uint8}


def _argument(kernel, c_type, arg_name, value):
    """`value` as the kernel argument of C type `c_type`: a scalar converted to
    the exact NumPy type (CuPy would pass a Python float as a double), an array
    checked for dtype and contiguity (a mismatch would be read as garbage)."""
    if c_type in _SCALARS:
        return _SCALARS[c_type](value)
    dtype = numpy.dtype(_POINTERS[c_type])
    if value.dtype == numpy.bool_ and dtype == numpy.uint8:
        value = value.view(numpy.uint8)  # same one-byte layout
    if value.dtype != dtype or not value.flags.c_contiguous:
        raise TypeError(f"kernel {kernel}: argument {arg_name} must be a C-contiguous {dtype} "
                        f"array, got {value.dtype} with shape {value.shape}")
    return value


def _converted(family, kernel, args):
    """`args` as the C arguments of `kernel` (see `_argument`)."""
    signature = kernel_signatures(family)[kernel]
    if len(args) != len(signature):
        raise TypeError(f"kernel {kernel} takes {len(signature)} arguments, got {len(args)}")
    return [_argument(kernel, c_type, arg_name, value) for (c_type, arg_name), value in zip(signature, args)]


def _launch(family, kernel, n_items, *args):
    """Run `kernel` of kernels/<family>.cu over n_items indices with `args`."""
    converted = _converted(family, kernel, args)
    if n_items > 0:
        blocks, threads = launch_config(n_items)
        _run_kernel(family, kernel, blocks, threads, converted)


def _launch_rows(family, kernel, n_rows, n_cols, *args):
    """Run `kernel` of kernels/<family>.cu, a kernel over an n_rows x n_cols
    matrix, on a 2-D grid. Its indices are 32-bit ints: n_rows and n_cols must
    stay below 2^30, so that no grid-stride step overflows past 2^31."""
    converted = _converted(family, kernel, args)
    if n_rows >= 2 ** 30 or n_cols >= 2 ** 30:
        raise ValueError(f"{kernel}: {n_rows} x {n_cols} indices do not fit the kernel's 32-bit ints")
    if n_rows > 0 and n_cols > 0:
        blocks, threads = launch_config_rows(n_rows, n_cols)
        _run_kernel(family, kernel, blocks, threads, converted)


def _f32(x):
    """x as a C-contiguous float32 array of its own array module."""
    return array_module(x).ascontiguousarray(x, dtype=numpy.float32)


def _on(xp, a, dtype):
    """`a` (NumPy, CuPy or a list) as a C-contiguous `dtype` array of module xp:
    small side inputs (biases, factors, indices) follow the main array."""
    return xp.ascontiguousarray(xp.asarray(a, dtype=dtype))


def _empty(xp, shape, dtype):
    """An uninitialised `dtype` array of module xp for a kernel to write
    completely (tests/test_kernels_emulated.py replaces this function by one
    that fills the array with NaN, so an element left unwritten shows)."""
    return xp.empty(shape, dtype=dtype)


# --------------------------------------------------------------------------
# Checking arguments (ValueError "launcher: argument ...")
# --------------------------------------------------------------------------

def _check_shape(launcher, name, a, shape, dtypes=None):
    """ValueError unless array (or list) `a` has `shape`, and one of `dtypes` if given."""
    if tuple(numpy.shape(a)) != tuple(shape):
        raise ValueError(f"{launcher}: {name} has shape {tuple(numpy.shape(a))}, expected {tuple(shape)}")
    if dtypes is not None and a.dtype not in dtypes:
        raise ValueError(f"{launcher}: {name} has dtype {a.dtype}, expected "
                         f"{' or '.join(numpy.dtype(d).name for d in dtypes)}")


def _check_ndim(launcher, name, a, axes):
    """ValueError unless array `a` has one axis per name in `axes`, e.g. ("batch", "bins")."""
    if a.ndim != len(axes):
        raise ValueError(f"{launcher}: {name} must have the axes ({', '.join(axes)}), "
                         f"got shape {tuple(a.shape)}")


def _check_writable(launcher, name, a, shape):
    """ValueError unless `a`, which the kernel writes into (an `out`, or an
    array updated in place), is a C-contiguous float32 array of `shape`: the
    caller keeps it, so it cannot be converted."""
    _check_shape(launcher, name, a, shape, (numpy.float32,))
    if not a.flags.c_contiguous:
        raise ValueError(f"{launcher}: {name} is written in place and must be C-contiguous")


def _check_sizes(launcher, name, pair):
    """ValueError unless `pair` is two integers >= 1 (a kernel shape, dilation,
    pool window, stride or output size)."""
    if numpy.shape(pair) != (2,) or not all(int(v) == v and v >= 1 for v in pair):
        raise ValueError(f"{launcher}: {name} must be two integers >= 1, got {pair!r}")


def _check_indices(launcher, name, indices, n, distinct=False):
    """ValueError unless `indices` is a 1-D integer array (or list) of values
    in [0, n), all different if `distinct`.

    The values are reduced where they live: free for a NumPy array; for a
    CuPy array a min and a max (and for `distinct` a sort) on the GPU and a
    read-back that waits for it, which is why launchers check small index
    arrays only (a batch's positions, songs or rows).
    """
    xp = array_module(indices)
    indices = xp.asarray(indices)
    if indices.ndim != 1 or (indices.size > 0 and indices.dtype.kind not in "iu"):
        raise ValueError(f"{launcher}: {name} must be a 1-D integer array, got {indices.dtype} "
                         f"with shape {tuple(indices.shape)}")
    if indices.size == 0:
        return
    low, high = int(indices.min()), int(indices.max())
    if low < 0 or high >= n:
        raise ValueError(f"{launcher}: {name} must lie in [0, {n}), got values from {low} to {high}")
    if distinct and int(xp.unique(indices).size) != indices.size:
        raise ValueError(f"{launcher}: {name} must be distinct, got a repeated value")


def _check_positive(launcher, name, values):
    """ValueError unless every number of array (or list) `values` is finite and
    > 0; reduced where it lives, like `_check_indices` (warp calls it for host arrays only)."""
    xp = array_module(values)
    values = xp.asarray(values)
    if values.size > 0 and not bool(xp.all(xp.isfinite(values) & (values > 0))):
        raise ValueError(f"{launcher}: {name} must be finite and > 0")


# --------------------------------------------------------------------------
# Convolution: kernels/conv.cu
# --------------------------------------------------------------------------

_X_AXES = ("batch", "time", "freq", "c_in")


def _conv_out_shape(launcher, x_shape, kernel_shape, dilation):
    """(batch, time_out, freq_out) of a valid convolution of an input of
    x_shape (batch, time, freq, c_in); ValueError unless kernel_shape and
    dilation are two integers >= 1 (a negative dilation would read before x)
    and the output is at least 1 x 1."""
    _check_sizes(launcher, "kernel_shape", kernel_shape)
    _check_sizes(launcher, "dilation", dilation)
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
    xp = array_module(x)
    x = _f32(x)
    _check_ndim("im2col", "x", x, _X_AXES)
    batch, time_out, freq_out = _conv_out_shape("im2col", x.shape, kernel_shape, dilation)
    if x.size > INT32_MAX:
        raise ValueError(f"im2col: x of shape {tuple(x.shape)} holds more than 2^31 - 1 numbers, "
                         f"which the kernel's 32-bit indices cannot address; use smaller batches")
    c_in = x.shape[3]
    cols = _empty(xp, (batch * time_out * freq_out, kernel_shape[0] * kernel_shape[1] * c_in),
                  numpy.float32)
    _launch_rows("conv", "im2col", cols.shape[0], cols.shape[1], x, cols, *x.shape, *kernel_shape, *dilation)
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
    xp = array_module(dcols)
    dcols = _f32(dcols)
    if len(x_shape) != 4 or min(x_shape) < 0:
        raise ValueError(f"col2im: x_shape must be (batch, time, freq, c_in), got {x_shape!r}")
    batch, time_out, freq_out = _conv_out_shape("col2im", x_shape, kernel_shape, dilation)
    _check_shape("col2im", "dcols", dcols,
                 (batch * time_out * freq_out, kernel_shape[0] * kernel_shape[1] * x_shape[3]))
    dx = _empty(xp, tuple(x_shape), numpy.float32)
    _launch("conv", "col2im", dx.size, dcols, dx, *x_shape, *kernel_shape, *dilation)
    return dx


def conv2d_forward(x, w, b, dilation=(1, 1), leaky=False, workspace=None):
    """Valid 2-D convolution with bias and optional leaky rectifier, on the GPU.

    Twin: layers.conv2d_forward, same arguments; its own cache (x, w, dilation,
    leaky, y, cols); `workspace` is ignored (CuPy's memory pool reuses buffers).

    x: (batch, time, freq, c_in), w: (kernel_time, kernel_freq, c_in, c_out)
    (the same c_in), b: (c_out,). Returns y: (batch, time_out, freq_out, c_out)
    and the cache.

    Notes:
        cols = im2col(x), z = cols @ w.reshape(-1, c_out), then y = z + b,
        max(y/100, y) if leaky (bias_leaky_forward, in place). The cache keeps
        cols for the backward's dw = cols^T @ dz: rebuilding them there would be
        another pass writing kernel_time * kernel_freq times x's size (621 MB
        for conv2 at batch 32), and holding them costs only memory, which a GPU
        has (a caller that drops the cache, like prediction, frees them at once).
    """
    xp = array_module(x)
    w = _f32(w)
    _check_ndim("conv2d_forward", "x", x, _X_AXES)
    _check_ndim("conv2d_forward", "w", w, ("kernel_time", "kernel_freq", "c_in", "c_out"))
    if w.shape[2] != x.shape[3]:
        raise ValueError(f"conv2d_forward: w has {w.shape[2]} input channels (axis 2), "
                         f"x has {x.shape[3]} (axis 3)")
    c_out = w.shape[3]
    _check_shape("conv2d_forward", "b", b, (c_out,))
    batch, time_out, freq_out = _conv_out_shape("conv2d_forward", x.shape, w.shape[:2], dilation)
    cols = im2col(x, w.shape[:2], dilation)                       # (rows, taps * c_in)
    z = xp.matmul(cols, w.reshape(-1, c_out))                     # (rows, c_out)
    y = bias_leaky_forward(z, b, leaky, out=z).reshape(batch, time_out, freq_out, c_out)
    return y, (x, w, tuple(dilation), leaky, y, cols)


def conv2d_backward(dy, cache, need_dx=True, workspace=None):
    """Gradients of conv2d_forward on the GPU.

    Twin: layers.conv2d_backward, same arguments and results.

    dy: (batch, time_out, freq_out, c_out), the shape of the forward's y;
    cache: (x, w, dilation, leaky, y, cols) from conv2d_forward.
    Returns dx: (batch, time, freq, c_in) or None, dw: (kernel_time,
    kernel_freq, c_in, c_out), db: (c_out,).

    Notes:
        dz = dy * (1 if y > 0 else 1/100) if leaky,
        dw = cols^T @ dz with the forward's cols, db = ones @ dz (the sum of
        dz over rows, see `column_sums`), dx = col2im(dz @ w_col^T).
    """
    x, w, dilation, leaky, y, cols = cache
    _check_shape("conv2d_backward", "dy", dy, y.shape)
    c_out = w.shape[3]
    _check_shape("conv2d_backward", "cols (cache[5])", cols, (y.size // c_out, w.size // c_out))
    dz = _f32(dy).reshape(-1, c_out)
    if leaky:
        dz = leaky_backward(dz, y.reshape(-1, c_out))
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
    xp = array_module(a)
    _check_ndim("column_sums", "a", a, ("rows", "cols"))
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


# --------------------------------------------------------------------------
# Max-pooling: kernels/pool.cu
# --------------------------------------------------------------------------

def _pool_out_shape(launcher, x_shape, pool, stride):
    """(batch, time_out, freq_out, c) of max-pooling an input of x_shape
    (batch, time, freq, c); ValueError unless pool and stride are two
    integers >= 1, the window fits in the input and has at most 256 positions
    (the uint8 argmax numbers them)."""
    _check_sizes(launcher, "pool", pool)
    _check_sizes(launcher, "stride", stride)
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
    xp = array_module(x)
    x = _f32(x)
    stride = tuple(pool if stride is None else stride)
    _check_ndim("maxpool2d_forward", "x", x, ("batch", "time", "freq", "c"))
    y = _empty(xp, _pool_out_shape("maxpool2d_forward", x.shape, pool, stride), numpy.float32)
    argmax = _empty(xp, y.shape, numpy.uint8)
    _launch("pool", "maxpool_forward", y.size, x, y, argmax, *x.shape, *pool, *stride)
    return y, (argmax, x.shape, tuple(pool), stride)


def maxpool2d_backward(dy, cache, workspace=None):
    """Gradient of maxpool2d_forward (kernels/pool.cu maxpool_backward, a gather:
    correct for any stride, overlapping windows included, without atomics).

    Twin: layers.maxpool2d_backward. dy: (batch, time_out, freq_out, c), the
    shape of the forward's y and of the cache's uint8 argmax.
    Returns dx: (batch, time, freq, c) float32.
    """
    xp = array_module(dy)
    argmax, x_shape, pool, stride = cache
    y_shape = _pool_out_shape("maxpool2d_backward", x_shape, pool, stride)
    _check_shape("maxpool2d_backward", "dy", dy, y_shape)
    _check_shape("maxpool2d_backward", "argmax (cache[0])", argmax, y_shape, (numpy.uint8,))
    dx = _empty(xp, tuple(x_shape), numpy.float32)
    _launch("pool", "maxpool_backward", dx.size, _f32(dy), argmax, dx, *x_shape, *pool, *stride)
    return dx


# --------------------------------------------------------------------------
# Bias, leaky rectifier, dropout: kernels/activation.cu
# --------------------------------------------------------------------------

def bias_leaky_forward(z, b, leaky=True, out=None):
    """y = z + b, then max(y/100, y) if leaky (kernels/activation.cu bias_leaky_forward).

    Twin: the bias and rectifier steps of layers.conv2d_forward and
    layers.dense_forward + layers.leaky_relu_forward.

    z: (..., channels) float32, b: (channels,). out: a C-contiguous float32
    array shaped like z to write into (z itself for in place), or None.
    Returns y, shaped like z.
    """
    xp = array_module(z)
    z = _f32(z)
    if z.ndim == 0:
        raise ValueError("bias_leaky_forward: z must have the axes (..., channels), got a 0-d array")
    b = _on(xp, b, numpy.float32)
    _check_shape("bias_leaky_forward", "b", b, z.shape[-1:])
    out = _empty(xp, z.shape, numpy.float32) if out is None else out
    _check_writable("bias_leaky_forward", "out", out, z.shape)
    _launch("activation", "bias_leaky_forward", z.size, z, b, out, z.size, z.shape[-1], int(bool(leaky)))
    return out


def leaky_backward(dy, y, out=None):
    """dz = dy where y > 0, dy/100 elsewhere (kernels/activation.cu leaky_backward).

    Twin: layers.leaky_relu_backward(dy, y), and dz in layers.conv2d_backward.
    dy, y: same shape, float32 (y the rectifier's output). out: like
    bias_leaky_forward's. Returns dz.
    """
    xp = array_module(dy)
    dy, y = _f32(dy), _on(xp, y, numpy.float32)
    _check_shape("leaky_backward", "y", y, dy.shape)
    out = _empty(xp, dy.shape, numpy.float32) if out is None else out
    _check_writable("leaky_backward", "out", out, dy.shape)
    _launch("activation", "leaky_backward", dy.size, dy, y, out, dy.size)
    return out


def leaky_relu_forward(x):
    """y = max(x/100, x) (kernels/activation.cu bias_leaky_forward with a zero bias).

    Twin: layers.leaky_relu_forward. x: any shape, float32. Returns y and the cache y.
    """
    xp = array_module(x)
    x = _f32(x)
    y = _empty(xp, x.shape, numpy.float32)
    zero_bias = xp.zeros(1, dtype=numpy.float32)  # one "channel": every element adds b[0] = 0
    _launch("activation", "bias_leaky_forward", x.size, x, zero_bias, y, x.size, 1, 1)
    return y, y


def leaky_relu_backward(dy, cache):
    """Twin: layers.leaky_relu_backward. cache: y from leaky_relu_forward, shaped like dy."""
    _check_shape("leaky_relu_backward", "cache", cache, numpy.shape(dy))
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
    xp = array_module(x)
    x = _f32(x)
    if not 0 <= p < 1:
        raise ValueError(f"dropout_forward: p must be in [0, 1), got {p!r}")
    scale = 1.0 / (1.0 - p)
    y = _empty(xp, x.shape, numpy.float32)
    if mask is not None:
        mask = xp.ascontiguousarray(xp.asarray(mask))
        _check_shape("dropout_forward", "mask", mask, x.shape, (numpy.bool_, numpy.uint8))
        _launch("activation", "dropout_forward", x.size, x, mask, y, x.size, scale)
        return y, (mask, scale)
    if seed is None and rng is None:
        raise ValueError("dropout_forward: seed (or rng, or mask) is needed to draw the mask")
    if seed is None:
        seed = _seed_from("dropout_forward", rng)
    if not 0 <= seed < 2 ** 32:
        raise ValueError(f"dropout_forward: seed must be in [0, 2^32), got {seed!r}")
    keep = _empty(xp, x.shape, numpy.uint8)
    _launch("activation", "dropout_forward_hash", x.size, x, y, keep, x.size, seed, p, scale)
    return y, (keep.view(numpy.bool_), scale)


def dropout_backward(dy, cache):
    """dx = dy * mask / (1 - p) (kernels/activation.cu dropout_backward).

    Twin: layers.dropout_backward. dy: shaped like the forward's x and the
    cache's bool (or uint8) mask.
    """
    xp = array_module(dy)
    mask, scale = cache
    dy = _f32(dy)
    _check_shape("dropout_backward", "mask (cache[0])", mask, dy.shape, (numpy.bool_, numpy.uint8))
    dx = _empty(xp, dy.shape, numpy.float32)
    _launch("activation", "dropout_backward", dy.size, dy, mask, dx, dy.size, scale)
    return dx


def drop_inputs(inputs, p, rng):
    """Input dropout of Sec. 4.1, in place: each element set to zero with probability p, no
    rescaling (kernels/activation.cu dropout_forward_hash with scale 1).

    Twin: augment.drop_inputs, which draws the uniforms from `rng`; here one 32-bit
    seed is drawn from `rng` and the uniforms come from the device's counter-based
    hash (so the masks differ from the CPU's, with the same distribution).
    inputs: float32 array, C-contiguous; p in [0, 1]. Returns inputs.
    """
    xp = array_module(inputs)
    _check_writable("drop_inputs", "inputs", inputs, numpy.shape(inputs))
    if not 0 <= p <= 1:
        raise ValueError(f"drop_inputs: p must be in [0, 1], got {p!r}")
    seed = _seed_from("drop_inputs", rng)
    keep = _empty(xp, inputs.shape, numpy.uint8)
    _launch("activation", "dropout_forward_hash", inputs.size, inputs, inputs, keep, inputs.size, seed, p, 1.0)
    return inputs


def add_noise(inputs, sigma, rng):
    """Gaussian input noise of Sec. 4.1, in place: inputs += sigma * N(0, 1)
    (kernels/activation.cu gaussian_noise_hash).

    Twin: augment.add_noise, which draws the normals from `rng`; here one 32-bit seed
    is drawn from `rng` and the normals come from the counter-based hash (Box-Muller,
    tails cut at 5.77 standard deviations). inputs: float32, C-contiguous; sigma >= 0.
    Returns inputs.
    """
    _check_writable("add_noise", "inputs", inputs, numpy.shape(inputs))
    if not (sigma >= 0 and math.isfinite(sigma)):
        raise ValueError(f"add_noise: sigma must be finite and >= 0, got {sigma!r}")
    seed = _seed_from("add_noise", rng)
    _launch("activation", "gaussian_noise_hash", inputs.size, inputs, inputs.size, seed, sigma)
    return inputs


# --------------------------------------------------------------------------
# Loss: kernels/loss.cu
# --------------------------------------------------------------------------

def sigmoid_cross_entropy_forward(logits, targets):
    """Mean binary cross-entropy from logits (kernels/loss.cu sigmoid_xent_forward).

    Twin: loss.sigmoid_cross_entropy_forward. logits, targets: (batch,).
    Returns the 0-d mean loss (the per-example losses come from the kernel,
    their mean from CuPy) and the cache (logits, targets).
    """
    xp = array_module(logits)
    logits, targets = _f32(logits), _on(xp, targets, numpy.float32)
    _check_ndim("sigmoid_cross_entropy_forward", "logits", logits, ("batch",))
    _check_shape("sigmoid_cross_entropy_forward", "targets", targets, logits.shape)
    losses = _empty(xp, logits.shape, numpy.float32)
    _launch("loss", "sigmoid_xent_forward", logits.size, logits, targets, losses, logits.size)
    return losses.mean(), (logits, targets)


def sigmoid_cross_entropy_backward(cache, dloss=1.0):
    """dlogits = dloss * (sigmoid(z) - t) / batch (kernels/loss.cu sigmoid_xent_backward).

    Twin: loss.sigmoid_cross_entropy_backward. cache: (logits, targets),
    both (batch,) float32, batch >= 1. Returns (batch,) float32.
    """
    xp = array_module(cache[0])
    logits, targets = cache
    _check_ndim("sigmoid_cross_entropy_backward", "logits (cache[0])", logits, ("batch",))
    _check_shape("sigmoid_cross_entropy_backward", "targets (cache[1])", targets, logits.shape)
    if logits.size == 0:
        raise ValueError("sigmoid_cross_entropy_backward: logits (cache[0]) is empty (batch 0)")
    dlogits = _empty(xp, logits.shape, numpy.float32)
    _launch("loss", "sigmoid_xent_backward", logits.size, logits, targets, dlogits, logits.size,
            dloss / logits.shape[0])
    return dlogits


# --------------------------------------------------------------------------
# Optimiser: kernels/optim.cu
# --------------------------------------------------------------------------

def pack_flat(arrays):
    """One flat buffer holding all arrays one after the other, and views of it.

    arrays: dict name -> array (one dtype, one array module). Returns
    (flat, OrderedDict name -> view of flat in the array's shape), with the
    values copied in. Parameters, gradients and velocities packed this way
    (in the same order) are updated by one `nesterov_momentum_flat` launch.
    """
    first = next(iter(arrays.values()))
    xp = array_module(first)
    flat = _empty(xp, sum(int(a.size) for a in arrays.values()), first.dtype)
    views, start = OrderedDict(), 0
    for name, a in arrays.items():
        views[name] = flat[start:start + a.size].reshape(a.shape)
        views[name][...] = a
        start += a.size
    return flat, views


def nesterov_momentum_flat(params, grads, velocity, learning_rate, momentum=0.95):
    """One Nesterov-momentum step over flat buffers, in place (kernels/optim.cu nesterov_update).

    params, grads, velocity: (n,) float32, packed in the same order (see
    pack_flat), so that all parameters take one launch; params and velocity
    C-contiguous (updated in place).
    v <- mu v - eta g; p <- p + mu v - eta g.
    """
    n = (params.size,)
    _check_writable("nesterov_momentum_flat", "params", params, n)
    _check_writable("nesterov_momentum_flat", "velocity", velocity, n)
    grads = _f32(grads)
    _check_shape("nesterov_momentum_flat", "grads", grads, n)
    _launch("optim", "nesterov_update", params.size, params, grads, velocity, params.size,
            learning_rate, momentum)


def nesterov_momentum(params, grads, velocity, learning_rate, momentum=0.95):
    """One Nesterov-momentum step over every parameter in one launch, in place on
    params and velocity (kernels/optim.cu nesterov_update_tensors).

    Twin: optim.nesterov_momentum, same arguments (dicts name -> float32
    array, grads and velocity with every name of params and its shape).
    params and velocity: C-contiguous float32 arrays, none overlapping another
    (each kernel index owns its element); grads: converted to C-contiguous
    float32 if need be. The kernel reads the arrays where they are, through a
    table of their addresses (`_address`) copied to the device with each call
    (one small host-to-device copy, no read back): nothing is packed or copied.
    """
    written = []  # (address, bytes, name) of every array the kernel writes
    for name, p in params.items():
        if name not in grads or name not in velocity:
            raise ValueError(f"nesterov_momentum: grads and velocity need the parameter {name!r}")
        _check_writable("nesterov_momentum", f"params[{name!r}]", p, p.shape)
        _check_writable("nesterov_momentum", f"velocity[{name!r}]", velocity[name], p.shape)
        _check_shape("nesterov_momentum", f"grads[{name!r}]", grads[name], p.shape)
        written += [(_address(p), p.nbytes, f"params[{name!r}]"),
                    (_address(velocity[name]), p.nbytes, f"velocity[{name!r}]")]
    written.sort()
    for (start, size, first), (next_start, _, second) in zip(written, written[1:]):
        if size > 0 and next_start < start + size:
            raise ValueError(f"nesterov_momentum: params and velocity must not overlap, but {first} and "
                             f"{second} share memory")
    if not params:
        return
    xp = array_module(next(iter(params.values())))
    grads = {name: _f32(grads[name]) for name in params}  # held until the launch is queued
    sizes = [p.size for p in params.values()]
    table = numpy.concatenate([[_address(a) for a in params.values()], [_address(g) for g in grads.values()],
                               [_address(velocity[name]) for name in params], numpy.cumsum([0] + sizes)])
    _launch("optim", "nesterov_update_tensors", sum(sizes), _on(xp, table.astype(numpy.int64), numpy.int64),
            len(params), sum(sizes), learning_rate, momentum)


def _address(a):
    """The address of array a's first element: a device pointer for a CuPy array,
    a host pointer for a NumPy array (the kernel emulation runs on the host)."""
    return a.data.ptr if array_module(a) is not numpy else a.ctypes.data


# --------------------------------------------------------------------------
# Augmentation and excerpts: kernels/augment.cu
# --------------------------------------------------------------------------

def song_positions(song_starts, positions):
    """(song_index, centre): global position indices -> (song, frame) pairs.

    song_starts: (n_songs + 1,) int64 cumulative song lengths with a leading 0
    (batches.TrainingExcerpts.song_starts); positions: (batch,) int in
    [0, song_starts[-1]). Returns two (batch,) int64 arrays.
    """
    xp = array_module(song_starts)
    _check_ndim("song_positions", "song_starts", song_starts, ("n_songs + 1",))
    _check_indices("song_positions", "positions", positions, int(song_starts[-1]))
    positions = xp.asarray(positions, dtype=numpy.int64)
    song_index = xp.searchsorted(song_starts, positions, side="right") - 1
    return song_index.astype(numpy.int64), positions - song_starts[song_index]


def gather_excerpts(songs, song_starts, song_index, centre, width, pad):
    """Excerpts centred on (song, frame) positions (kernels/augment.cu gather_excerpts).

    Twin: batches.gather_excerpts, same arguments and result (rows beyond a
    song's ends read `pad`).

    Args:
        songs: (total_frames, bins) float32, all songs one after the other.
        song_starts: (n_songs + 1,) int64, song s is rows song_starts[s]:song_starts[s+1]:
            non-decreasing from 0 to total_frames.
        song_index: (batch,) int64 in [0, n_songs), the song of each excerpt.
        centre: (batch,) int64, its centre frame, in [0, length of its song).
        width: excerpt frames (odd).
        pad: (bins,) float32 value of frames beyond a song's ends (or one number).

    Returns:
        (batch, width, bins) float32.

    The index arrays (song_starts, song_index, centre) are checked where they
    live, before they are copied to the device: free for host arrays (NumPy or
    lists), which is what training passes (svd/batches.py), so that making a
    batch never waits for the GPU; if any of them is a device array, all three
    are checked on the device, by reductions and a read-back (`_check_indices`).
    """
    xp = array_module(songs)
    songs = _f32(songs)
    _check_ndim("gather_excerpts", "songs", songs, ("total_frames", "bins"))
    total_frames, bins = songs.shape
    on_host = all(array_module(a) is numpy for a in (song_starts, song_index, centre))
    where = numpy if on_host else xp  # the module the checks run in
    song_starts = _on(where, song_starts, numpy.int64)
    if (song_starts.ndim != 1 or song_starts.size < 2 or int(song_starts[0]) != 0
            or int(song_starts[-1]) != total_frames or not bool(where.all(where.diff(song_starts) >= 0))):
        raise ValueError(f"gather_excerpts: song_starts must be (n_songs + 1,) non-decreasing from 0 "
                         f"to total_frames = {total_frames}")
    _check_indices("gather_excerpts", "song_index", _on(where, song_index, numpy.int64), song_starts.size - 1)
    batch = len(song_index)
    _check_shape("gather_excerpts", "centre", centre, (batch,))
    song_index, centre = _on(where, song_index, numpy.int64), _on(where, centre, numpy.int64)
    if batch > 0 and not bool(where.all((centre >= 0) & (centre < where.diff(song_starts)[song_index]))):
        raise ValueError("gather_excerpts: centre must lie in [0, length of its song)")
    song_starts, song_index, centre = (_on(xp, a, numpy.int64) for a in (song_starts, song_index, centre))
    if not (width >= 1 and width % 2 == 1):
        raise ValueError(f"gather_excerpts: width must be odd and >= 1, got {width!r}")
    pad = xp.asarray(pad, dtype=numpy.float32)
    if pad.shape not in ((), (bins,)):
        raise ValueError(f"gather_excerpts: pad has shape {pad.shape}, expected ({bins},) or ()")
    pad = _on(xp, xp.broadcast_to(pad, (bins,)), numpy.float32)
    out = _empty(xp, (batch, width, bins), numpy.float32)
    _launch("augment", "gather_excerpts", out.size, songs, song_starts, song_index, centre, pad, out,
            batch, width, bins)
    return out


def warp(linear, pitch_factors, stretch_factors, out_frames=excerpt.EXCERPT_FRAMES,
         out_bins=spectrum.MEL_INPUT_BINS):
    """Pitch shift + time stretch by bilinear resampling (kernels/augment.cu warp).

    Twin: augment.warp, same arguments and result, the same float32 rounding.
    linear: (batch, frames, bins) float32, frames and bins >= 1;
    pitch_factors, stretch_factors: (batch,), finite and > 0 (float64 on the
    device); out_frames, out_bins >= 1. Returns (batch, out_frames, out_bins).

    Factors on the host are checked (free); factors already on the device
    (augment.augment_batch uploads its draws in one copy) are not, since
    checking them would make every batch wait for a read-back. That is safe
    because the kernel clips every tap index into the source excerpt: a bad
    factor gives wrong (zero or NaN) values, never a read outside `linear`.
    """
    xp = array_module(linear)
    linear = _f32(linear)
    _check_ndim("warp", "linear", linear, ("batch", "frames", "bins"))
    batch, frames, bins = linear.shape
    if frames < 1 or bins < 1:
        raise ValueError(f"warp: linear of shape {linear.shape} has no frames or no bins to interpolate")
    for name, factors in (("pitch_factors", pitch_factors), ("stretch_factors", stretch_factors)):
        _check_shape("warp", name, factors, (batch,))
        if array_module(factors) is numpy:
            _check_positive("warp", name, factors)
    _check_sizes("warp", "out_frames, out_bins", (out_frames, out_bins))
    out = _empty(xp, (batch, out_frames, out_bins), numpy.float32)
    _launch("augment", "warp", out.size, linear, _on(xp, pitch_factors, numpy.float64),
            _on(xp, stretch_factors, numpy.float64), out, batch, frames, bins, out_frames, out_bins)
    return out


def pitch_shift_song(linear_song, factor):
    """Pitch-shift a whole song (kernels/augment.cu warp with stretch 1, all frames).

    Twin: augment.pitch_shift_song. linear_song: (frames, bins) float32;
    factor > 0. Returns (frames, MEL_INPUT_BINS) float32.
    """
    if not factor > 0:
        raise ValueError(f"pitch_shift_song: factor must be > 0, got {factor!r}")
    _check_ndim("pitch_shift_song", "linear_song", linear_song, ("frames", "bins"))
    xp = array_module(linear_song)
    frames = linear_song.shape[0]
    ones = xp.ones(1, dtype=numpy.float64)
    return warp(linear_song[None], ones * factor, ones, out_frames=frames)[0]


def amplitude_gains(params, bins=spectrum.MEL_INPUT_BINS, xp=None):
    """Per-example, per-bin gains of random filter and loudness (kernels/augment.cu filter_gains).

    Twin: augment.amplitude_gains. params: dict with (batch,) float64 arrays
    filter_mu_hz, filter_sigma_semitones, filter_gain_db, loudness_db, as
    augment.draw_parameters returns them. xp: the array module to compute
    with (cupy: the draws are copied to the device); None means that of
    params["filter_mu_hz"]. Returns (batch, bins) float32
    10^((filter_db + loudness_db) / 20), bin k at k * spectrum.BIN_HZ.
    """
    xp = array_module(params["filter_mu_hz"]) if xp is None else xp
    names = ("filter_mu_hz", "filter_sigma_semitones", "filter_gain_db", "loudness_db")
    mu, sigma, gain, loudness = draws = [_on(xp, params[name], numpy.float64) for name in names]
    for name, draw in zip(names, draws):
        _check_shape("amplitude_gains", f"params[{name!r}]", draw, (mu.size,))
    gains = _empty(xp, (len(mu), bins), numpy.float32)
    _launch("augment", "filter_gains", gains.size, mu, sigma, gain, loudness, gains,
            len(mu), bins, spectrum.BIN_HZ)
    return gains


def apply_gains(excerpts, gains):
    """excerpts[b, t, k] *= gains[b, k], in place (kernels/augment.cu apply_gains).

    Twin: `excerpts *= amplitude_gains(params)[:, None, :]` in augment.augment_batch.
    excerpts: (batch, frames, bins) float32 (C-contiguous); gains: (batch, bins).
    """
    xp = array_module(excerpts)
    _check_ndim("apply_gains", "excerpts", excerpts, ("batch", "frames", "bins"))
    _check_writable("apply_gains", "excerpts", excerpts, excerpts.shape)
    batch, frames, bins = excerpts.shape
    gains = _on(xp, gains, numpy.float32)
    _check_shape("apply_gains", "gains", gains, (batch, bins))
    _launch("augment", "apply_gains", excerpts.size, excerpts, gains, batch, frames, bins)
    return excerpts


def mix_negatives(excerpts, chosen, negatives, fractions):
    """Blend raw voice-free excerpts into chosen examples, in place (Sec. 4.3;
    kernels/augment.cu mix_negatives).

    Twin: augment._mix_negatives, i.e. excerpts[chosen] = augment.mix(
    excerpts[chosen], centre crop of negatives, fractions).

    Args:
        excerpts: (batch, frames, bins) float32, C-contiguous, modified in place.
        chosen: (n_mixed,) integer indices into the batch, distinct (each
            index of the kernel owns its example's elements) and in [0, batch):
            checked by a reduction (see `_check_indices`), free when chosen is
            a NumPy array.
        negatives: (n_mixed, src_frames, src_bins) float32, src_frames >= frames
            (centre crop taken), src_bins >= bins.
        fractions: (n_mixed,) mixing fractions f (rounded to float32, like augment.mix).
    """
    xp = array_module(excerpts)
    _check_ndim("mix_negatives", "excerpts", excerpts, ("batch", "frames", "bins"))
    _check_writable("mix_negatives", "excerpts", excerpts, excerpts.shape)
    batch, frames, bins = excerpts.shape
    negatives = _on(xp, negatives, numpy.float32)
    _check_ndim("mix_negatives", "negatives", negatives, ("n_mixed", "src_frames", "src_bins"))
    n_mixed, src_frames, src_bins = negatives.shape
    if src_frames < frames or src_bins < bins:
        raise ValueError(f"mix_negatives: negatives {negatives.shape} are smaller than the "
                         f"excerpts {excerpts.shape}")
    _check_shape("mix_negatives", "chosen", chosen, (n_mixed,))
    _check_indices("mix_negatives", "chosen", chosen, batch, distinct=True)
    _check_shape("mix_negatives", "fractions", fractions, (n_mixed,))
    _launch("augment", "mix_negatives", n_mixed * frames * bins, excerpts,
            _on(xp, chosen, numpy.int64), negatives, _on(xp, fractions, numpy.float32),
            n_mixed, frames, bins, src_frames, src_bins)
    return excerpts

