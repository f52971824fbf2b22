"""The fast CPU implementation of svd/layers.py's convolution, max-pool, dense, batch norm, rectifier backward.

Same functions, arguments and results as the textbook layers (the tests hold them
equal within float32 rounding; each implementation's cache is its own), for NumPy
arrays on the CPU. svd/backend.py's FAST table takes these nine operations from here
for NumPy arrays; the rectifier's forward, dropout, loss and optimisers have no faster
version and come from svd/layers.py, svd/loss.py and svd/optim.py.

Which implementation runs when: each operation below runs the fastest of those that
apply, measured once on this machine (choice.py; SVD_FAST_CHOICE=fixed takes the first
that applies, in this order).

    conv2d_*     winograd.py             compiled, float32, 3x3 kernel, several input channels
                 single_channel_conv.py  compiled, float32, one input channel (its backward
                                         only when no dx is wanted: the first layer)
                 im2col.py               NumPy and BLAS, kernels nearly as wide as their input
                 blocked.py              NumPy and BLAS: everything else, at three block sizes
    maxpool2d_*  max_pool.py             compiled, float32
                 numpy_pool.py           NumPy: everything else
    dense_*      blocked.py              BLAS
    batchnorm_*  batch_norm.py           compiled, float32
                 svd/layers.py           NumPy: everything else
    leaky_relu_backward  blocked.py      NumPy arithmetic instead of a branchy where()

"Compiled": C code that build.py compiles once per machine where a C compiler is
found (`unavailable_reason()` says why it is not used here). Below them all,
blas.py calls BLAS so that Python's GIL is released, and workers.py runs the work in
blocks on all cores and keeps large buffers between calls.
"""
import functools

from svd import layers
from svd.fast import batch_norm, blocked, build, choice, im2col, max_pool, numpy_pool, single_channel_conv, winograd


# The blocked path's block sizes on offer, as multiples of its default: which fits the caches best depends on
# the machine and the layer (on the 2-core EPYC of BENCHMARKS.md section 3, up to 1.9x between the three).
BLOCK_SCALES = {"blocked": 1.0, "blocked, 1/4 blocks": 0.25, "blocked, 4x blocks": 4.0}


def _conv_candidates(x, w, dilation, need_dx, direction):
    """[(name, function)] of the convolutions that apply, in the fixed order; their caches are alike."""
    modules = [("winograd", winograd, winograd.applies(x, w)),
               ("single-channel", single_channel_conv, single_channel_conv.applies(x, w, need_dx)),
               ("im2col", im2col, im2col.applies(x, w, dilation))]
    return ([(name, getattr(module, direction)) for name, module, applies in modules if applies]
            + [(name, functools.partial(getattr(blocked, direction), block_scale=scale))
               for name, scale in BLOCK_SCALES.items()])


def conv2d_forward(x, w, b, dilation=(1, 1), leaky=False, workspace=None):
    """Valid 2-D convolution, optionally dilated, with bias and optionally the leaky rectifier.

    x: (batch, time, freq, c_in), w: (kernel_time, kernel_freq, c_in, c_out), b: (c_out,)
    -> y: (batch, time_out, freq_out, c_out), cache (see blocked.conv2d_forward).
    """
    return choice.choose(choice.key("conv2d_forward", x, w.shape, tuple(dilation), leaky),
                         _conv_candidates(x, w, dilation, False, "conv2d_forward"),
                         lambda forward: forward(x, w, b, dilation, leaky, workspace))


def conv2d_backward(dy, cache, need_dx=True, workspace=None):
    """Gradients of conv2d_forward: dy (batch, time_out, freq_out, c_out) ->
    dx (batch, time, freq, c_in) or None if not need_dx, dw, db."""
    x, w, dilation = cache[:3]
    return choice.choose(choice.key("conv2d_backward", x, w.shape, tuple(dilation), need_dx),
                         _conv_candidates(x, w, dilation, need_dx, "conv2d_backward"),
                         lambda backward: backward(dy, cache, need_dx, workspace))


def _pool_candidates(x, direction):
    compiled = [("compiled", getattr(max_pool, direction))] if max_pool.applies(x) else []
    return compiled + [("numpy", getattr(numpy_pool, direction))]


def maxpool2d_forward(x, pool=(3, 3), stride=None):
    """Max-pooling over (time, freq) windows: x (batch, time, freq, c) ->
    y (batch, time_out, freq_out, c), cache (see numpy_pool.maxpool2d_forward)."""
    return choice.choose(choice.key("maxpool2d_forward", x, tuple(pool), stride),
                         _pool_candidates(x, "maxpool2d_forward"), lambda forward: forward(x, pool, stride))


def maxpool2d_backward(dy, cache, workspace=None):
    """Gradient of maxpool2d_forward: dy (batch, time_out, freq_out, c) -> dx (batch, time, freq, c)."""
    return choice.choose(choice.key("maxpool2d_backward", dy, cache[2], cache[3]),
                         _pool_candidates(dy, "maxpool2d_backward"), lambda backward: backward(dy, cache, workspace))


def dense_forward(x, w, b):
    """y = x @ w + b: x (batch, n_in), w (n_in, n_out), b (n_out,) -> y (batch, n_out), cache."""
    return blocked.dense_forward(x, w, b)


def dense_backward(dy, cache):
    """Gradients of dense_forward: dy (batch, n_out) -> dx, dw, db."""
    return blocked.dense_backward(dy, cache)


def unavailable_reason():
    """None if the compiled C runs here, else why not, as a sentence (no C compiler, a
    failed build, or switched off with build.set_enabled(False))."""
    return build.unavailable_reason()


def _batch_norm_candidates(x, direction):
    compiled = [("compiled", getattr(batch_norm, direction))] if batch_norm.applies(x) else []
    return compiled + [("numpy", getattr(layers, direction))]


def batchnorm_forward(x, gamma, beta, eps=layers.BN_EPSILON):
    """Batch normalisation in training mode: x (..., c) -> y, cache (x_hat, gamma, inv_std), (mean, inv_std)."""
    return choice.choose(choice.key("batchnorm_forward", x), _batch_norm_candidates(x, "batchnorm_forward"),
                         lambda forward: forward(x, gamma, beta, eps))


def batchnorm_backward(dy, cache):
    """Gradients of batchnorm_forward: dy (..., c) -> dx, dgamma (c,), dbeta (c,)."""
    return choice.choose(choice.key("batchnorm_backward", dy), _batch_norm_candidates(dy, "batchnorm_backward"),
                         lambda backward: backward(dy, cache))


def leaky_relu_backward(dy, cache):
    """dx = dy where the forward's output (cache) is positive, dy/100 elsewhere."""
    return blocked.leaky_relu_backward(dy, cache)
