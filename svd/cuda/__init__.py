"""GPU kernels: compiling kernels/*.cu with CuPy, and one Python launcher per kernel.

This package is the `cuda` implementation of the dispatch (svd/backend.py): it
exposes every operation of backend.OPERATIONS, with the interface of its NumPy
twin. Reading order:

    launch.py      compiling kernels/<family>.cu, grids, launching a kernel,
                   converting arguments to the kernels' C types, outputs
    checks.py      the argument checks every launcher makes before launching
    conv.py        kernels/conv.cu: im2col, col2im; the convolution
    pool.py        kernels/pool.cu: max-pooling
    activation.py  kernels/activation.cu: bias + leaky rectifier, dropout, input noise
    batch_norm.py  kernels/batch_norm.cu: batch normalisation (the ISMIR-2016 network)
    loss.py        kernels/loss.cu: sigmoid cross-entropy
    optim.py       kernels/optim.cu: the Nesterov step, the Adam step
    augment.py     kernels/augment.cu: excerpt gather, warp, gains, mixing

One module per kernel family, named after its kernels/<family>.cu, whose header
comment maps each kernel to its launcher here and to its NumPy twin. Unlike
svd/fast/, whose .c files sit beside their launchers, the .cu sources are kept
together at the top of the repository, in kernels/: the same files are
compiled by NVRTC on a GPU (launch.py) and by g++ for the tests on any machine
(tests/kernel_emulation/), and pyproject.toml installs the folder as
svd/kernels/, where launch.py finds it in an installed package.

Every launcher has the same shape: check its arguments (checks.py), allocate
its outputs, then `launch.kernel(family, name, n_items, *args)` (or
`launch.kernel_rows` for a kernel over a matrix, on a 2-D grid), which converts
the arguments to the C types kernel `name` of kernels/<family>.cu declares,
picks a grid and runs it. Each docstring names the NumPy function the launcher
replaces (its "twin", which the tests compare it with) and gives every array's
shape. Arrays are C-contiguous; spectrograms and activations float32 (no TF32
anywhere: the matrix products are CuPy's float32 matmul, which uses TF32 only
if CUPY_TF32=1 is set). Launchers are written against the array module of their
inputs (`xp`): under the tests' g++ emulation of the kernels they run on NumPy
arrays (see launch.py).

Composite functions (conv2d_forward, ...) take the arguments and return the
results of their twins in svd/layers.py, svd/loss.py and svd/optim.py. Their
caches are the twins' for max-pooling (argmax, x_shape, pool, stride; the same
uint8 argmax), the rectifier (y), dropout ((mask, scale)), batch normalisation
((x_hat, gamma, inv_std)) and the loss ((logits, targets)), but not for the convolution: conv2d_forward caches (x, w, dilation,
leaky, y, cols) with 2-D cols, layers.conv2d_forward (cols, x_shape, w,
dilation, leaky, y). A cache goes back to the implementation that made it.

The dense layer and the zero velocities are the textbook functions themselves
(svd/layers.py, svd/optim.py): a matrix product plus a bias is cuBLAS through
xp.matmul, zeros are xp.zeros; no kernel would do better.

This package never imports svd/backend.py (which imports it): the array module
of an array comes from svd/util/arrays.py.
"""
from svd.cuda.activation import (add_noise, drop_inputs, dropout_backward, dropout_forward,
                                 leaky_relu_backward, leaky_relu_forward)
from svd.cuda.augment import (amplitude_gains, apply_gains, gather_excerpts, mix_negatives,
                              pitch_shift_song, warp)
from svd.cuda.batch_norm import batchnorm_backward, batchnorm_forward
from svd.cuda.conv import conv2d_backward, conv2d_forward
from svd.cuda.loss import sigmoid_cross_entropy_backward, sigmoid_cross_entropy_forward
from svd.cuda.optim import adam, nesterov_momentum
from svd.cuda.pool import maxpool2d_backward, maxpool2d_forward
from svd.layers import dense_backward, dense_forward
from svd.optim import init_velocity

# The operations of svd/backend.py OPERATIONS, in its order.
__all__ = [
    "conv2d_forward", "conv2d_backward", "maxpool2d_forward", "maxpool2d_backward",
    "dense_forward", "dense_backward", "leaky_relu_forward", "leaky_relu_backward",
    "dropout_forward", "dropout_backward", "batchnorm_forward", "batchnorm_backward",
    "sigmoid_cross_entropy_forward", "sigmoid_cross_entropy_backward",
    "init_velocity", "nesterov_momentum", "adam",
    "warp", "amplitude_gains", "apply_gains", "mix_negatives",
    "add_noise", "drop_inputs", "pitch_shift_song",
    "gather_excerpts",
]
