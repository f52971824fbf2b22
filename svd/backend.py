"""The one place that decides which implementation of the network's operations runs.

Three implementations compute the same operations with the same arguments and
results (within float32 rounding; their caches are their own). Each is a table
written out below, so that "go to definition" leads from an operation to the
function that runs:

    REFERENCE  svd/layers.py, svd/loss.py, svd/optim.py, the augmentation steps
               of svd/augment.py and the excerpt gather of svd/excerpt.py:
               plain array code, the textbook; NumPy or CuPy arrays
    FAST       svd/fast/ for the convolution, max-pool, dense, batch norm and the rectifier's backward
               (blocked, threaded, BLAS through ctypes, compiled C where a C
               compiler is found), the reference for the rest; NumPy arrays
    CUDA       svd/cuda/: the project's CUDA kernels; CuPy arrays (or NumPy
               arrays under the CPU kernel emulator of the tests)

`ops(array)` returns the table for an array: the one chosen with `use(...)` if
there is one, else CUDA for a CuPy array and FAST for a NumPy array.
network.py, predict.py, train.py and batches.py call every operation through
it and never name an implementation; augment.augment_batch receives its table
from its caller. Adding a fourth implementation means one table here and one
branch in `ops`.
"""
import types

from svd import augment, cuda, excerpt, fast, layers, loss, optim
from svd.util import arrays

REFERENCE = types.SimpleNamespace(
    name="reference",
    conv2d_forward=layers.conv2d_forward, conv2d_backward=layers.conv2d_backward,
    maxpool2d_forward=layers.maxpool2d_forward, maxpool2d_backward=layers.maxpool2d_backward,
    dense_forward=layers.dense_forward, dense_backward=layers.dense_backward,
    leaky_relu_forward=layers.leaky_relu_forward, leaky_relu_backward=layers.leaky_relu_backward,
    dropout_forward=layers.dropout_forward, dropout_backward=layers.dropout_backward,
    batchnorm_forward=layers.batchnorm_forward, batchnorm_backward=layers.batchnorm_backward,
    sigmoid_cross_entropy_forward=loss.sigmoid_cross_entropy_forward,
    sigmoid_cross_entropy_backward=loss.sigmoid_cross_entropy_backward,
    init_velocity=optim.init_velocity, nesterov_momentum=optim.nesterov_momentum, adam=optim.adam,
    warp=augment.warp, amplitude_gains=augment.amplitude_gains, apply_gains=augment.apply_gains,
    mix_negatives=augment.mix_negatives, add_noise=augment.add_noise, drop_inputs=augment.drop_inputs,
    pitch_shift_song=augment.pitch_shift_song,
    gather_excerpts=excerpt.gather_excerpts,
)

FAST = types.SimpleNamespace(**{
    **vars(REFERENCE),  # the rectifier's forward, dropout, loss, optimisers, augmentation: no faster version
    "name": "fast",
    "conv2d_forward": fast.conv2d_forward, "conv2d_backward": fast.conv2d_backward,
    "maxpool2d_forward": fast.maxpool2d_forward, "maxpool2d_backward": fast.maxpool2d_backward,
    "dense_forward": fast.dense_forward, "dense_backward": fast.dense_backward,
    "leaky_relu_backward": fast.leaky_relu_backward,
    "batchnorm_forward": fast.batchnorm_forward, "batchnorm_backward": fast.batchnorm_backward,
})

CUDA = types.SimpleNamespace(
    name="cuda",
    conv2d_forward=cuda.conv2d_forward, conv2d_backward=cuda.conv2d_backward,
    maxpool2d_forward=cuda.maxpool2d_forward, maxpool2d_backward=cuda.maxpool2d_backward,
    dense_forward=cuda.dense_forward, dense_backward=cuda.dense_backward,
    leaky_relu_forward=cuda.leaky_relu_forward, leaky_relu_backward=cuda.leaky_relu_backward,
    dropout_forward=cuda.dropout_forward, dropout_backward=cuda.dropout_backward,
    batchnorm_forward=cuda.batchnorm_forward, batchnorm_backward=cuda.batchnorm_backward,
    sigmoid_cross_entropy_forward=cuda.sigmoid_cross_entropy_forward,
    sigmoid_cross_entropy_backward=cuda.sigmoid_cross_entropy_backward,
    init_velocity=cuda.init_velocity, nesterov_momentum=cuda.nesterov_momentum, adam=cuda.adam,
    warp=cuda.warp, amplitude_gains=cuda.amplitude_gains, apply_gains=cuda.apply_gains,
    mix_negatives=cuda.mix_negatives, add_noise=cuda.add_noise, drop_inputs=cuda.drop_inputs,
    pitch_shift_song=cuda.pitch_shift_song,
    gather_excerpts=cuda.gather_excerpts,
)

IMPLEMENTATIONS = {"reference": REFERENCE, "fast": FAST, "cuda": CUDA}
OPERATIONS = tuple(name for name in vars(REFERENCE) if name != "name")

_chosen = None  # a table chosen by use(); None: by the arrays' device


def use(choice):
    """Run every operation with `choice`: a name of IMPLEMENTATIONS or a table like them (svd/bench/
    passes one whose functions time themselves), or None to choose by the arrays' device again.
    Returns the previous choice (a table or None), for use(previous) afterwards."""
    global _chosen
    if isinstance(choice, str):
        if choice not in IMPLEMENTATIONS:
            raise ValueError(f"unknown implementation {choice!r}; choose one of {', '.join(IMPLEMENTATIONS)}")
        choice = IMPLEMENTATIONS[choice]
    previous, _chosen = _chosen, choice
    return previous


def ops(x):
    """The operations (a table of the functions of OPERATIONS) for arrays like `x`."""
    if _chosen is not None:
        return _chosen
    return FAST if arrays.array_module(x).__name__ == "numpy" else CUDA


def wrapped(table, wrap):
    """A copy of `table` that runs wrap(name, function) in place of each operation (svd/bench/ times
    every layer call with it: backend.use(backend.wrapped(backend.FAST, timer)))."""
    return types.SimpleNamespace(name=table.name, **{op: wrap(op, getattr(table, op)) for op in OPERATIONS})


def fast_build_notices(flag):
    """Say on stderr when the fast CPU path's C code is compiled or cannot be (True, the default), or not."""
    fast.build.set_notices(flag)


def fast_compiled_missing():
    """None if the fast CPU path's compiled C runs here, else why not (svd/fast/build.py)."""
    return fast.unavailable_reason()


def fast_choices():
    """(file, {key: {"chosen": name, "seconds": {candidate: median s}}}): what the fast CPU path measured and chose
    on this machine (svd/fast/choice.py)."""
    return fast.choice.path(), fast.choice.chosen()
