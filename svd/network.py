"""The CNN of paper Sec. 3.2: parameters, forward pass, backward pass.

Input: excerpts of 115 frames x 80 mel bands, (batch, 115, 80) float32.
Output: one logit per excerpt for "voice at the central frame"; the sigmoid is
applied by the loss (svd/loss.py) or by `predict_proba`.

    layer    output (batch, time, freq, channels)   parameters
    input    (B, 115, 80, 1)
    conv1    (B, 113, 78, 64)   3x3, leaky ReLU      conv1.w (3, 3, 1, 64), conv1.b
    conv2    (B, 111, 76, 32)   3x3, leaky ReLU      conv2.w (3, 3, 64, 32), conv2.b
    pool1    (B,  37, 25, 32)   3x3 max, stride 3
    conv3    (B,  35, 23, 128)  3x3, leaky ReLU      conv3.w (3, 3, 32, 128), conv3.b
    conv4    (B,  33, 21, 64)   3x3, leaky ReLU      conv4.w (3, 3, 128, 64), conv4.b
    pool2    (B,  11,  7, 64)   3x3 max, stride 3
    flatten  (B, 4928)          channels-last order: index (t * 7 + f) * 64 + c
    dense1   (B, 256)           dropout on input, leaky ReLU
    dense2   (B, 64)            dropout on input, leaky ReLU
    dense3   (B,)               dropout on input, logit

1,408,225 parameters; about 485 MFLOP per excerpt for the forward pass.

Parameters are an ordered dict name -> array (float32 for training; any float
dtype works, the tests use float64). Training mode (`rng` given) applies 50%
dropout (Sec. 3.3) with masks drawn from `rng` in a fixed order (dense1,
dense2, dense3 inputs), so a run is reproducible from its seed.

Speed: pass the same `workspace` dict (any dict, initially empty) to every
`forward` call of a training loop; the big activation buffers (~8 MB per
excerpt in training, 250 MB at batch 32) then live on between mini-batches
instead of being allocated and page-faulted anew. A cache is then valid only
until the next `forward` with the same workspace; the gradients that
`backward` returns are always fresh arrays.
Every layer runs through `backend.ops`: the textbook layers (svd/layers.py),
the fast CPU ones or the CUDA kernels, as svd/backend.py decides.
"""

from collections import OrderedDict

import numpy

from . import backend
from .excerpt import INPUT_SHAPE
from .loss import sigmoid
from .util import arrays

DROPOUT = 0.5            # on the inputs of all dense layers, Sec. 3.3

CONV_WEIGHTS = OrderedDict([  # (kernel_time, kernel_freq, c_in, c_out), Sec. 3.2
    ("conv1", (3, 3, 1, 64)), ("conv2", (3, 3, 64, 32)), ("conv3", (3, 3, 32, 128)), ("conv4", (3, 3, 128, 64)),
])
CONVS = tuple(CONV_WEIGHTS)
DENSES = ("dense1", "dense2", "dense3")
POOL = (3, 3)  # non-overlapping max-pooling, Sec. 3.2
POOLS = {"conv2": POOL, "conv4": POOL}  # the pools, after these layers


def conv_stack(conv_weights, pools, time, freq):
    """(FLOPs, (time, freq, channels)) of valid convolutions `conv_weights` ({name: (kernel_time,
    kernel_freq, c_in, c_out)}, in order) with max-pools `pools` ({name: (pool_time, pool_freq)}
    after that layer) on one (time, freq) input: multiply and add counted separately, and the
    shape of the last output. Each convolution shrinks an axis by kernel - 1, each pool divides it."""
    flops = 0
    for name, (kernel_time, kernel_freq, c_in, c_out) in conv_weights.items():
        time, freq = time - kernel_time + 1, freq - kernel_freq + 1
        flops += 2 * time * freq * kernel_time * kernel_freq * c_in * c_out
        if name in pools:
            time, freq = time // pools[name][0], freq // pools[name][1]
    return flops, (time, freq, c_out)


def feature_map_shape(time=INPUT_SHAPE[0], freq=INPUT_SHAPE[1]):
    """(time, freq, channels) of the last pool's output for an input of (time, freq): (11, 7, 64) for an excerpt."""
    return conv_stack(CONV_WEIGHTS, POOLS, time, freq)[1]


FLAT_FEATURES = int(numpy.prod(feature_map_shape()))  # dense1's inputs: 11 * 7 * 64 = 4928

PARAM_SHAPES = OrderedDict(
    [(name + suffix, shape if suffix == ".w" else (shape[3],))
     for name, shape in CONV_WEIGHTS.items() for suffix in (".w", ".b")]
    + [("dense1.w", (FLAT_FEATURES, 256)), ("dense1.b", (256,)),
       ("dense2.w", (256, 64)), ("dense2.b", (64,)),
       ("dense3.w", (64, 1)), ("dense3.b", (1,))])
TRAINED = tuple(PARAM_SHAPES)  # every parameter has a gradient (svd/network2016.py also keeps statistics)


def orthogonal(rng, shape, dtype=numpy.float32):
    """A random orthogonal weight (Saxe et al. 2014), like Lasagne's Orthogonal(gain=1).

    Args:
        rng: numpy.random.Generator.
        shape: weight shape; all axes but the last are the fan-in, so a conv
            weight (kh, kw, c_in, c_out) is treated as a (kh*kw*c_in, c_out) matrix.

    Returns:
        Array of `shape`: as a (fan_in, fan_out) matrix its columns are
        orthonormal if fan_in >= fan_out (W^T W = I), otherwise its rows (W W^T = I).
    """
    flat_shape = (int(numpy.prod(shape[:-1])), shape[-1])
    gaussian = rng.standard_normal(flat_shape)
    u, _, vt = numpy.linalg.svd(gaussian, full_matrices=False)
    q = u if u.shape == flat_shape else vt
    return q.reshape(shape).astype(dtype)


def init_params(rng, dtype=numpy.float32):
    """Fresh parameters: orthogonal weights, zero biases (Sec. 3.3).

    Args:
        rng: numpy.random.Generator; weights are drawn in PARAM_SHAPES order.

    Returns:
        OrderedDict name -> array with the shapes of PARAM_SHAPES.
    """
    params = OrderedDict()
    for name, shape in PARAM_SHAPES.items():
        if name.endswith(".w"):
            params[name] = orthogonal(rng, shape, dtype)
        else:
            params[name] = numpy.zeros(shape, dtype)
    return params


def count_params():
    """Number of parameters in the network (1,408,225)."""
    return sum(int(numpy.prod(shape)) for shape in PARAM_SHAPES.values())


def forward_flops(batch=1):
    """FLOPs of one forward pass (multiply and add counted separately).

    Only the convolutions and dense layers count (bias, rectifier and pooling
    are < 0.5% of it). About 485 MFLOP per excerpt.
    """
    flops = conv_stack(CONV_WEIGHTS, POOLS, *INPUT_SHAPE)[0]
    flops += sum(2 * PARAM_SHAPES[name + ".w"][0] * PARAM_SHAPES[name + ".w"][1] for name in DENSES)
    return batch * flops


def space(workspace, name):
    """The per-layer dict inside `workspace` (None stays None)."""
    return None if workspace is None else workspace.setdefault(name, {})


def forward(params, x, rng=None, workspace=None):
    """Logits for a batch of excerpts.

    Args:
        params: dict name -> array (see PARAM_SHAPES).
        x: (batch, 115, 80) normalised log-mel excerpts; cast to the params' dtype.
        rng: numpy.random.Generator for training mode (dropout on), or None for
            evaluation mode (no dropout, deterministic).
        workspace: dict reused between calls to avoid reallocating big buffers,
            or None.

    Returns:
        logits: (batch,) array; cache: dict layer name -> what its backward needs.
    """
    nn = backend.ops(params["conv1.w"])
    xp = arrays.array_module(params["conv1.w"])
    x = xp.asarray(x, dtype=params["conv1.w"].dtype)
    if x.ndim != 3 or x.shape[1:] != INPUT_SHAPE:
        raise ValueError(f"network input must be excerpts of shape (batch, {INPUT_SHAPE[0]}, "
                         f"{INPUT_SHAPE[1]}), got {x.shape}")
    p, c = params, {"workspace": workspace}
    h = xp.ascontiguousarray(x)[..., None]                                               # (B, 115, 80, 1)
    h, c["conv1"] = nn.conv2d_forward(h, p["conv1.w"], p["conv1.b"], leaky=True,
                                      workspace=space(workspace, "conv1"))               # (B, 113, 78, 64)
    h, c["conv2"] = nn.conv2d_forward(h, p["conv2.w"], p["conv2.b"], leaky=True,
                                      workspace=space(workspace, "conv2"))               # (B, 111, 76, 32)
    h, c["pool1"] = nn.maxpool2d_forward(h, POOL)                                        # (B, 37, 25, 32)
    h, c["conv3"] = nn.conv2d_forward(h, p["conv3.w"], p["conv3.b"], leaky=True,
                                      workspace=space(workspace, "conv3"))               # (B, 35, 23, 128)
    h, c["conv4"] = nn.conv2d_forward(h, p["conv4.w"], p["conv4.b"], leaky=True,
                                      workspace=space(workspace, "conv4"))               # (B, 33, 21, 64)
    h, c["pool2"] = nn.maxpool2d_forward(h, POOL)                                        # (B, 11, 7, 64)
    c["pool2_shape"] = h.shape
    h = h.reshape(h.shape[0], -1)                          # flatten, channels-last order  (B, 4928)
    h, c["dropout1"] = _dropout_forward(nn, h, rng)                                      # (B, 4928)
    h, c["dense1"] = nn.dense_forward(h, p["dense1.w"], p["dense1.b"])                   # (B, 256)
    h, c["leaky1"] = nn.leaky_relu_forward(h)                                            # (B, 256)
    h, c["dropout2"] = _dropout_forward(nn, h, rng)                                      # (B, 256)
    h, c["dense2"] = nn.dense_forward(h, p["dense2.w"], p["dense2.b"])                   # (B, 64)
    h, c["leaky2"] = nn.leaky_relu_forward(h)                                            # (B, 64)
    h, c["dropout3"] = _dropout_forward(nn, h, rng)                                      # (B, 64)
    h, c["dense3"] = nn.dense_forward(h, p["dense3.w"], p["dense3.b"])                   # (B, 1)
    return h[:, 0], c


def backward(params, cache, dlogits, need_dx=False):
    """Gradients of the logits' weighted sum, sum_n dlogits[n] * logits[n].

    Args:
        params: the dict used in `forward`.
        cache: from `forward` (training or evaluation mode).
        dlogits: (batch,) gradient of the loss w.r.t. the logits.
        need_dx: also return the gradient w.r.t. the input x.

    Returns:
        grads: OrderedDict with the same keys and shapes as params;
        and, if need_dx, dx: (batch, 115, 80).

    Each line differentiates the forward line of the same layer, bottom up.
    """
    nn = backend.ops(params["conv1.w"])
    c, workspace = cache, cache["workspace"]
    g = OrderedDict((name, None) for name in params)
    dh = dlogits.reshape(-1, 1)                                                          # (B, 1)
    dh, g["dense3.w"], g["dense3.b"] = nn.dense_backward(dh, c["dense3"])                # (B, 64)
    dh = _dropout_backward(nn, dh, c["dropout3"])
    dh = nn.leaky_relu_backward(dh, c["leaky2"])
    dh, g["dense2.w"], g["dense2.b"] = nn.dense_backward(dh, c["dense2"])                # (B, 256)
    dh = _dropout_backward(nn, dh, c["dropout2"])
    dh = nn.leaky_relu_backward(dh, c["leaky1"])
    dh, g["dense1.w"], g["dense1.b"] = nn.dense_backward(dh, c["dense1"])                # (B, 4928)
    dh = _dropout_backward(nn, dh, c["dropout1"])
    dh = dh.reshape(c["pool2_shape"])                                                    # (B, 11, 7, 64)
    dh = nn.maxpool2d_backward(dh, c["pool2"], space(workspace, "pool2"))                # (B, 33, 21, 64)
    dh, g["conv4.w"], g["conv4.b"] = nn.conv2d_backward(dh, c["conv4"],
                                                        workspace=space(workspace, "conv4"))  # (B, 35, 23, 128)
    dh, g["conv3.w"], g["conv3.b"] = nn.conv2d_backward(dh, c["conv3"],
                                                        workspace=space(workspace, "conv3"))  # (B, 37, 25, 32)
    dh = nn.maxpool2d_backward(dh, c["pool1"], space(workspace, "pool1"))                # (B, 111, 76, 32)
    dh, g["conv2.w"], g["conv2.b"] = nn.conv2d_backward(dh, c["conv2"],
                                                        workspace=space(workspace, "conv2"))  # (B, 113, 78, 64)
    dh, g["conv1.w"], g["conv1.b"] = nn.conv2d_backward(dh, c["conv1"], need_dx=need_dx,
                                                        workspace=space(workspace, "conv1"))  # (B, 115, 80, 1)
    if need_dx:
        return g, dh[..., 0]
    return g


def _dropout_forward(nn, h, rng):
    """50% dropout on a dense layer's input in training mode (rng given); identity (cache None) otherwise."""
    if rng is None:
        return h, None
    return nn.dropout_forward(h, DROPOUT, rng=rng)


def _dropout_backward(nn, dh, cache):
    """The backward of _dropout_forward."""
    return dh if cache is None else nn.dropout_backward(dh, cache)


def predict_proba(params, x, batch_size=64):
    """Voice probabilities for excerpts, in evaluation mode (no dropout).

    Args:
        params: dict name -> array.
        x: (n, 115, 80) excerpts.
        batch_size: excerpts per forward pass (memory: ~4 MB per excerpt).

    Returns:
        (n,) float32 array of sigmoid(logit).
    """
    xp = arrays.array_module(params["conv1.w"])
    workspace = {}
    probs = xp.empty(len(x), dtype=xp.float32)
    for start in range(0, len(x), batch_size):
        logits, _ = forward(params, x[start:start + batch_size], workspace=workspace)
        probs[start:start + len(logits)] = sigmoid(logits)
    return probs
