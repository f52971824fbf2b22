"""Compiling kernels/*.cu with CuPy and launching a kernel: what every launcher of svd/cuda/ calls.

A launcher (svd/cuda/<family>.py) checks and allocates its arrays, then calls
`kernel(family, name, n_items, *args)`, which converts the arguments to the C
types that kernel `name` of kernels/<family>.cu declares (`kernel_signatures`,
read from the source), picks a grid (`launch_config`) and hands the kernel to
`run_kernel`. `kernel_rows` does the same for a kernel over the rows and
columns of a matrix, on a 2-D grid (`launch_config_rows`).

On the GPU, `run_kernel` calls a CuPy RawModule function, compiled by NVRTC on
first use. tests/test_kernels_emulated.py replaces `run_kernel` by the same
kernels compiled by g++ (kernels/emulate.h) and passes NumPy arrays, so every
launcher runs unchanged on a machine without a GPU. That works because every
launcher calls these helpers through this module (`launch.kernel(...)`, never
`from svd.cuda.launch import kernel`): a test that sets `launch.run_kernel`
sees every launch.

Outputs are allocated uninitialised by `empty`: every kernel writes all of its
outputs (the tests replace `empty` by one that fills the arrays with NaN, to
prove it). Inputs of another float dtype are converted (`f32`, `array_on`);
`_argument`'s TypeError is the last guard between a launcher and its kernel's
C signature, which only a bug in a launcher can trip.

CuPy is imported only when a kernel is first run on the GPU; whether that can
work here is svd/device.py's `why_no_gpu()`.
"""
import functools
import pathlib
import re

import numpy

from svd.util import arrays

# Where kernels/*.cu and kernels/emulate.h are: in an installed package, its folder
# svd/kernels/ (pyproject.toml installs the top-level kernels/ folder there); in a clone
# (or an editable install), the repository's top-level kernels/ folder.
_PACKAGE = pathlib.Path(__file__).resolve().parents[1]
KERNEL_DIR = next((folder for folder in (_PACKAGE / "kernels", _PACKAGE.parent / "kernels")
                   if (folder / "emulate.h").is_file()), _PACKAGE.parent / "kernels")
# The kernel families: kernels/<family>.cu, launched by svd/cuda/<family>.py.
FAMILIES = ("conv", "pool", "activation", "batch_norm", "loss", "optim", "augment")
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


# --------------------------------------------------------------------------
# The kernel sources
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


# --------------------------------------------------------------------------
# Grids
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# Compiling and running
# --------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def raw_module(family):
    """cupy.RawModule of kernels/<family>.cu, compiled on first use (per process;
    CuPy also caches the binary on disk)."""
    import cupy
    return cupy.RawModule(code=kernel_source(family), options=COMPILE_OPTIONS)


@functools.lru_cache(maxsize=None)
def raw_kernel(family, name):
    """The cupy.RawKernel of kernel `name` in kernels/<family>.cu."""
    return raw_module(family).get_function(name)


def run_kernel(family, name, blocks, threads, args):
    """Run kernel `name` of kernels/<family>.cu on the GPU (tests replace this
    function by the g++ emulation). blocks, threads: ints for a 1-D launch,
    (x, y) pairs for a 2-D one."""
    grid = blocks if isinstance(blocks, tuple) else (blocks,)
    block = threads if isinstance(threads, tuple) else (threads,)
    raw_kernel(family, name)(grid, block, tuple(args))


# C scalar types and the NumPy types that pass them by value.
_SCALARS = {"int": numpy.int32, "unsigned int": numpy.uint32, "long long": numpy.int64,
            "float": numpy.float32, "double": numpy.float64}
# C pointer types and the dtypes of the arrays they may point to.
_POINTERS = {"float*": numpy.float32, "double*": numpy.float64, "long long*": numpy.int64,
             "unsigned char*": numpy.uint8}


def _argument(kernel_name, c_type, arg_name, value):
    """`value` as the kernel argument of C type `c_type`: a scalar converted to
    the exact NumPy type (CuPy would pass a Python float as a double), an array
    checked for dtype and contiguity (a mismatch would be read as garbage)."""
    if c_type in _SCALARS:
        return _SCALARS[c_type](value)
    dtype = numpy.dtype(_POINTERS[c_type])
    if value.dtype == numpy.bool_ and dtype == numpy.uint8:
        value = value.view(numpy.uint8)  # same one-byte layout
    if value.dtype != dtype or not value.flags.c_contiguous:
        raise TypeError(f"kernel {kernel_name}: argument {arg_name} must be a C-contiguous {dtype} "
                        f"array, got {value.dtype} with shape {value.shape}")
    return value


def _converted(family, kernel_name, args):
    """`args` as the C arguments of `kernel_name` (see `_argument`)."""
    signature = kernel_signatures(family)[kernel_name]
    if len(args) != len(signature):
        raise TypeError(f"kernel {kernel_name} takes {len(signature)} arguments, got {len(args)}")
    return [_argument(kernel_name, c_type, arg_name, value)
            for (c_type, arg_name), value in zip(signature, args)]


def kernel(family, name, n_items, *args):
    """Run kernel `name` of kernels/<family>.cu over n_items indices with `args`."""
    converted = _converted(family, name, args)
    if n_items > 0:
        blocks, threads = launch_config(n_items)
        run_kernel(family, name, blocks, threads, converted)


def kernel_rows(family, name, n_rows, n_cols, *args):
    """Run kernel `name` of kernels/<family>.cu, a kernel over an n_rows x n_cols
    matrix, on a 2-D grid. Its indices are 32-bit ints: n_rows and n_cols must
    stay below 2^30, so that no grid-stride step overflows past 2^31."""
    converted = _converted(family, name, args)
    if n_rows >= 2 ** 30 or n_cols >= 2 ** 30:
        raise ValueError(f"{name}: {n_rows} x {n_cols} indices do not fit the kernel's 32-bit ints")
    if n_rows > 0 and n_cols > 0:
        blocks, threads = launch_config_rows(n_rows, n_cols)
        run_kernel(family, name, blocks, threads, converted)


# --------------------------------------------------------------------------
# Arrays for the kernels
# --------------------------------------------------------------------------

def f32(x):
    """x as a C-contiguous float32 array of its own array module."""
    return arrays.array_module(x).ascontiguousarray(x, dtype=numpy.float32)


def array_on(xp, a, dtype):
    """`a` (NumPy, CuPy or a list) as a C-contiguous `dtype` array of module xp:
    small side inputs (biases, factors, indices) follow the main array."""
    return xp.ascontiguousarray(xp.asarray(a, dtype=dtype))


def empty(xp, shape, dtype):
    """An uninitialised `dtype` array of module xp for a kernel to write
    completely (tests/test_kernels_emulated.py replaces this function by one
    that fills the array with NaN, so an element left unwritten shows)."""
    return xp.empty(shape, dtype=dtype)
