"""The one place that decides which implementation of the network's operations runs.

Three implementations compute the same operations with the same arguments and
results (within float32 rounding; their caches are their own):

    reference  svd/layers.py, svd/loss.py, svd/optim.py (and the augmentation
               steps of svd/augment.py, the excerpt gather of svd/batches.py):
               plain array code, the textbook
    fast       svd/fast_cpu.py for the convolution, max-pool and dense layers
               (blocked, threaded, BLAS through ctypes; compiled C where a C
               compiler is found: svd/winograd.py, single_channel_conv.py,
               max_pool.py, built by svd/native.py), the reference for the rest;
               NumPy arrays only
    cuda       svd/cuda/: the project's CUDA kernels; CuPy arrays (or NumPy
               arrays under the CPU kernel emulator of the tests)

`ops(array)` returns the operations for an array: the explicit choice made
with `use(name)` if there is one, else `cuda` for a CuPy array and `fast` for
a NumPy array. network.py, predict.py, train.py and augment.py call every
operation through it and never name an implementation. Adding a fourth implementation
means one module with the functions of OPERATIONS and one branch in `implementation`.

`array_module(x)` gives numpy or cupy, whichever owns x, for the array code
that is the same everywhere. CuPy is imported only if it is installed.
"""

import contextlib
import types

import numpy

try:  # A GPU is optional: without CuPy every array is a NumPy array.
    import cupy
except ImportError:
    cupy = None

IMPLEMENTATIONS = ("reference", "fast", "cuda")

# Every implementation provides all of these, with the interfaces of svd/layers.py,
# svd/loss.py, svd/optim.py and svd/augment.py.
OPERATIONS = (
    "conv2d_forward", "conv2d_backward", "maxpool2d_forward", "maxpool2d_backward",
    "dense_forward", "dense_backward", "leaky_relu_forward", "leaky_relu_backward",
    "dropout_forward", "dropout_backward",
    "sigmoid_cross_entropy_forward", "sigmoid_cross_entropy_backward",
    "init_velocity", "nesterov_momentum",
    "warp", "amplitude_gains", "apply_gains", "mix_negatives",  # the augmentation's heavy steps (svd/augment.py)
    "add_noise", "drop_inputs", "pitch_shift_song",
    "gather_excerpts",  # cutting training excerpts out of the song store (svd/batches.py)
)

_chosen = None  # set by use(); None: by the arrays' device


def array_module(x):
    """The array module (numpy or cupy) that owns array `x`."""
    if cupy is not None:
        return cupy.get_array_module(x)
    return numpy


def use(name):
    """Run every operation with implementation `name` (one of IMPLEMENTATIONS), or None
    to choose by the arrays' device again. Returns the previous choice."""
    global _chosen
    if name is not None and name not in IMPLEMENTATIONS:
        raise ValueError(f"unknown implementation {name!r}; choose one of {', '.join(IMPLEMENTATIONS)}")
    previous, _chosen = _chosen, name
    return previous


def implementation_for(x):
    """The name of the implementation that `ops(x)` returns."""
    if _chosen is not None:
        return _chosen
    return "cuda" if array_module(x) is not numpy else "fast"


def ops(x):
    """The operations (a namespace with the functions of OPERATIONS) for arrays like `x`."""
    return implementation(implementation_for(x))


_TABLES = {}


def implementation(name):
    """The operations of implementation `name` (one of IMPLEMENTATIONS) as a namespace, built once."""
    if name not in _TABLES:
        from svd import augment, batches, layers, loss, optim
        reference = {op: getattr(module, op) for module in (layers, loss, optim, augment, batches)
                     for op in OPERATIONS if hasattr(module, op)}
        if name == "reference":
            table = reference
        elif name == "fast":
            from svd import fast_cpu
            table = {**reference, **{op: getattr(fast_cpu, op) for op in fast_cpu.OPERATIONS}}
        else:
            from svd import cuda
            table = {op: getattr(cuda, op) for op in OPERATIONS}
        _TABLES[name] = types.SimpleNamespace(name=name, **table)
    return _TABLES[name]


def fast_cpu_compiled():
    """None if the fast CPU path's compiled C (svd/native.py) runs here, else why not."""
    from svd import native
    return native.unavailable_reason()


@contextlib.contextmanager
def wrapped(name, wrap):
    """Inside the block, implementation `name` runs wrap(op, function) in place of each of its
    operations (svd/bench.py times every layer call this way); restored on exit."""
    table = implementation(name)
    _TABLES[name] = types.SimpleNamespace(name=name, **{op: wrap(op, getattr(table, op)) for op in OPERATIONS})
    try:
        yield
    finally:
        _TABLES[name] = table
