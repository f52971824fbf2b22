"""The ISMIR-2016 network: batch normalisation after every layer, a fifth convolution, trained with Adam.

The successor of the paper's network (svd/network.py) in Schlüter's later work (ISMIR 2016,
"Learning to pinpoint singing voice from weakly labeled examples"; for singing voice detection
in the thesis repository f0k/ismir2015, branch phd_extra: 6.5 +- 0.3% error on Jamendo).
Same input, same excerpts, same loss; `train --arch ismir2016` selects it.

    layer    output (batch, time, freq, channels)   parameters
    input    (B, 115, 80, 1)
    conv1    (B, 113, 78, 64)   3x3, BN, leaky ReLU    conv1.w (3, 3, 1, 64), conv1.gamma, conv1.beta
    conv2    (B, 111, 76, 32)   3x3, BN, leaky ReLU    conv2.w (3, 3, 64, 32), ...
    pool1    (B,  37, 25, 32)   3x3 max, stride 3
    conv3    (B,  35, 23, 128)  3x3, BN, leaky ReLU    conv3.w (3, 3, 32, 128), ...
    conv4    (B,  33, 21, 64)   3x3, BN, leaky ReLU    conv4.w (3, 3, 128, 64), ...
    conv5    (B,  31,  4, 128)  3x18, BN, leaky ReLU   conv5.w (3, 18, 64, 128), ...: all but 3 bands
    pool2    (B,  31,  1, 128)  1x4 max over frequency
    flatten  (B, 3968)          index t * 128 + c
    dense1   (B, 256)           dropout on input, BN, leaky ReLU    dense1.w (3968, 256), ...
    dense2   (B, 64)            dropout on input, BN, leaky ReLU    dense2.w (256, 64), ...
    dense3   (B,)               dropout on input, logit              dense3.w (64, 1), dense3.b

1,605,697 trained parameters (beside 1,472 running statistics); about 594 MFLOP per excerpt forward.

Batch normalisation (svd/layers.py) takes the place of each layer's bias: its beta is the
shift. Each such layer also keeps running statistics <layer>.mean and <layer>.inv_std in
the params dict: not trained, but averaged over the training batches' statistics by
`update_statistics` (exponential, weight 0.1 for the newest, as Lasagne's BatchNormLayer).
The thesis's network starts with one more batch normalisation, per mel band without scale
or shift; here the corpus's per-band statistics standardise the input (svd/normalise.py),
as for the paper's network.

Training mode (`rng` given): batch statistics and 50% dropout. Evaluation mode: the running
statistics, which are a fixed affine map per channel, so `folded` folds them into the
weights and biases before them; what remains is a plain network of biased convolutions
and dense layers, which is what the whole-song prediction runs (svd/predict.py).
"""
from collections import OrderedDict

import numpy

from . import backend
from .excerpt import INPUT_SHAPE
from .loss import sigmoid
from .network import DROPOUT, conv_stack, orthogonal, space
from .util import arrays

CONV_WEIGHTS = OrderedDict([  # (kernel_time, kernel_freq, c_in, c_out)
    ("conv1", (3, 3, 1, 64)), ("conv2", (3, 3, 64, 32)), ("conv3", (3, 3, 32, 128)), ("conv4", (3, 3, 128, 64)),
    ("conv5", (3, 18, 64, 128)),  # 18 = conv4's 21 bands - 3
])
POOLS = {"conv2": (3, 3), "conv5": (1, 4)}  # max-pool (time, freq), stride = size, after these layers
DENSE_WEIGHTS = OrderedDict([("dense1", (31 * 128, 256)), ("dense2", (256, 64)), ("dense3", (64, 1))])
NORMALISED = (*CONV_WEIGHTS, "dense1", "dense2")  # the layers followed by batch normalisation
RUNNING_AVERAGE = 0.1  # weight of the newest batch in the running statistics (Lasagne's alpha)

PARAM_SHAPES = OrderedDict(
    [(name + ".w", shape) for name, shape in [*CONV_WEIGHTS.items(), *DENSE_WEIGHTS.items()]]
    + [(name + suffix, ({**CONV_WEIGHTS, **DENSE_WEIGHTS}[name][-1],))
       for name in NORMALISED for suffix in (".gamma", ".beta", ".mean", ".inv_std")]
    + [("dense3.b", (1,))])
TRAINED = tuple(name for name in PARAM_SHAPES if not name.endswith((".mean", ".inv_std")))


def feature_map_shape(time=INPUT_SHAPE[0], freq=INPUT_SHAPE[1]):
    """(time, freq, channels) of pool2's output for an input of (time, freq): (31, 1, 128) for an excerpt."""
    return conv_stack(CONV_WEIGHTS, POOLS, time, freq)[1]


def init_params(rng, dtype=numpy.float32):
    """Fresh parameters: orthogonal weights (drawn in PARAM_SHAPES order from the numpy Generator `rng`),
    gamma 1, beta and bias 0; running statistics mean 0 and inv_std 1 (Lasagne's start)."""
    params = OrderedDict()
    for name, shape in PARAM_SHAPES.items():
        if name.endswith(".w"):
            params[name] = orthogonal(rng, shape, dtype)
        elif name.endswith((".gamma", ".inv_std")):
            params[name] = numpy.ones(shape, dtype)
        else:
            params[name] = numpy.zeros(shape, dtype)
    return params


def count_params(names=TRAINED):
    """Number of values in the parameters `names` (1,605,697 trained ones)."""
    return sum(int(numpy.prod(PARAM_SHAPES[name])) for name in names)


def forward_flops(batch=1):
    """FLOPs of one forward pass of the convolutions and dense layers (multiply and add counted
    separately; batch normalisation, rectifiers and pooling are under 1% of it). About 594 MFLOP per excerpt."""
    flops = conv_stack(CONV_WEIGHTS, POOLS, *INPUT_SHAPE)[0]
    return batch * (flops + sum(2 * n_in * n_out for n_in, n_out in DENSE_WEIGHTS.values()))


def forward(params, x, rng=None, workspace=None):
    """Logits for a batch of excerpts.

    Args:
        params: dict name -> array (PARAM_SHAPES); x: (batch, 115, 80) normalised excerpts.
        rng: numpy.random.Generator for training mode (batch statistics, dropout masks drawn
            in the order dense1, dense2, dense3), or None for evaluation mode.
        workspace: dict reused between calls for the big buffers, or None (see svd/network.py).

    Returns:
        logits: (batch,); cache: what `backward` and `update_statistics` need (None in evaluation mode).
    """
    xp = arrays.array_module(params["conv1.w"])
    x = xp.asarray(x, dtype=params["conv1.w"].dtype)
    if x.ndim != 3 or x.shape[1:] != INPUT_SHAPE:
        raise ValueError(f"network input must be excerpts of shape (batch, {INPUT_SHAPE[0]}, "
                         f"{INPUT_SHAPE[1]}), got {x.shape}")
    if rng is None:
        return folded_logits(folded(params), x), None
    nn = backend.ops(params["conv1.w"])
    p, c = params, {"workspace": workspace}
    h = xp.ascontiguousarray(x)[..., None]                                      # (B, 115, 80, 1)
    h = _conv_forward(nn, h, p, "conv1", c)                                     # (B, 113, 78, 64)
    h = _conv_forward(nn, h, p, "conv2", c)                                     # (B, 111, 76, 32)
    h, c["pool1"] = nn.maxpool2d_forward(h, POOLS["conv2"])                     # (B, 37, 25, 32)
    h = _conv_forward(nn, h, p, "conv3", c)                                     # (B, 35, 23, 128)
    h = _conv_forward(nn, h, p, "conv4", c)                                     # (B, 33, 21, 64)
    h = _conv_forward(nn, h, p, "conv5", c)                                     # (B, 31, 4, 128)
    h, c["pool2"] = nn.maxpool2d_forward(h, POOLS["conv5"])                     # (B, 31, 1, 128)
    c["flat_shape"] = h.shape
    h = h.reshape(h.shape[0], -1)                          # flatten, index t * 128 + c  (B, 3968)
    h = _dense_forward(nn, h, p, "dense1", c, rng)                              # (B, 256)
    h = _dense_forward(nn, h, p, "dense2", c, rng)                              # (B, 64)
    h, c["dense3.dropout"] = nn.dropout_forward(h, DROPOUT, rng=rng)            # (B, 64)
    h, c["dense3"] = nn.dense_forward(h, p["dense3.w"], p["dense3.b"])          # (B, 1)
    return h[:, 0], c


def backward(params, cache, dlogits, need_dx=False):
    """Gradients of the logits' weighted sum, sum_n dlogits[n] * logits[n], in training mode.

    Returns grads: OrderedDict of the TRAINED names (the running statistics have none);
    and, if need_dx, dx: (batch, 115, 80). Each line undoes the forward line of the same layer, bottom up.
    """
    nn = backend.ops(params["conv1.w"])
    c = cache
    g = OrderedDict((name, None) for name in TRAINED)
    dh = dlogits.reshape(-1, 1)                                                 # (B, 1)
    dh, g["dense3.w"], g["dense3.b"] = nn.dense_backward(dh, c["dense3"])       # (B, 64)
    dh = nn.dropout_backward(dh, c["dense3.dropout"])
    dh = _dense_backward(nn, dh, "dense2", c, g)                                # (B, 256)
    dh = _dense_backward(nn, dh, "dense1", c, g)                                # (B, 3968)
    dh = dh.reshape(c["flat_shape"])                                            # (B, 31, 1, 128)
    dh = nn.maxpool2d_backward(dh, c["pool2"], space(c["workspace"], "pool2"))  # (B, 31, 4, 128)
    dh = _conv_backward(nn, dh, "conv5", c, g)                                  # (B, 33, 21, 64)
    dh = _conv_backward(nn, dh, "conv4", c, g)                                  # (B, 35, 23, 128)
    dh = _conv_backward(nn, dh, "conv3", c, g)                                  # (B, 37, 25, 32)
    dh = nn.maxpool2d_backward(dh, c["pool1"], space(c["workspace"], "pool1"))  # (B, 111, 76, 32)
    dh = _conv_backward(nn, dh, "conv2", c, g)                                  # (B, 113, 78, 64)
    dh = _conv_backward(nn, dh, "conv1", c, g, need_dx)                         # (B, 115, 80, 1) or None
    if need_dx:
        return g, dh[..., 0]
    return g


def _conv_forward(nn, h, params, name, cache):
    """Convolution `name` without a bias (batch normalisation's beta shifts instead), then
    `_normalise_forward`; the caches go into cache[name], cache[name + ...]."""
    w = params[name + ".w"]
    zero_bias = arrays.array_module(w).zeros(w.shape[-1], w.dtype)
    h, cache[name] = nn.conv2d_forward(h, w, zero_bias, workspace=space(cache["workspace"], name))
    return _normalise_forward(nn, h, params, name, cache)


def _conv_backward(nn, dh, name, cache, grads, need_dx=True):
    """The backward of _conv_forward: grads[name + ".w"] (and gamma, beta); returns dx, or None if not need_dx."""
    dh = _normalise_backward(nn, dh, name, cache, grads)
    dh, grads[name + ".w"], _ = nn.conv2d_backward(dh, cache[name], need_dx=need_dx,
                                                   workspace=space(cache["workspace"], name))
    return dh


def _dense_forward(nn, h, params, name, cache, rng):
    """50% dropout on the input, dense layer `name` without a bias, then `_normalise_forward`."""
    h, cache[name + ".dropout"] = nn.dropout_forward(h, DROPOUT, rng=rng)
    w = params[name + ".w"]
    h, cache[name] = nn.dense_forward(h, w, arrays.array_module(w).zeros(w.shape[-1], w.dtype))
    return _normalise_forward(nn, h, params, name, cache)


def _dense_backward(nn, dh, name, cache, grads):
    """The backward of _dense_forward: grads[name + ".w"] (and gamma, beta); returns dx."""
    dh = _normalise_backward(nn, dh, name, cache, grads)
    dh, grads[name + ".w"], _ = nn.dense_backward(dh, cache[name])
    return nn.dropout_backward(dh, cache[name + ".dropout"])


def _normalise_forward(nn, h, params, name, cache):
    """Batch normalisation and leaky rectifier after layer `name`; their caches go into cache[name + ...]."""
    h, cache[name + ".bn"], cache[name + ".stats"] = nn.batchnorm_forward(h, params[name + ".gamma"],
                                                                          params[name + ".beta"])
    h, cache[name + ".leaky"] = nn.leaky_relu_forward(h)
    return h


def _normalise_backward(nn, dh, name, cache, grads):
    """The backward of _normalise_forward: the rectifier's, then the batch normalisation's (its gamma, beta)."""
    dh = nn.leaky_relu_backward(dh, cache[name + ".leaky"])
    dh, grads[name + ".gamma"], grads[name + ".beta"] = nn.batchnorm_backward(dh, cache[name + ".bn"])
    return dh


def update_statistics(params, cache, weight=RUNNING_AVERAGE):
    """Move each running statistic towards the batch's (from a training-mode `forward`), in place:
    running <- (1 - weight) * running + weight * batch, for the mean and the inverse deviation."""
    for name in NORMALISED:
        for suffix, batch_value in zip((".mean", ".inv_std"), cache[name + ".stats"]):
            running = params[name + suffix]
            running *= 1 - weight
            running += weight * batch_value


def folded(params):
    """The evaluation-mode network as biased layers: dict conv1..conv5, dense1..dense3 -> ".w", ".b".

    Batch normalisation with fixed statistics is y = gamma * (z - mean) * inv_std + beta per
    channel, and z = x * w is linear, so with scale = gamma * inv_std:
        w' = w * scale (each output channel's filter),  b' = beta - mean * scale.
    """
    out = OrderedDict()
    for name in [*CONV_WEIGHTS, *DENSE_WEIGHTS]:
        if name in NORMALISED:
            scale = params[name + ".gamma"] * params[name + ".inv_std"]
            out[name + ".w"] = params[name + ".w"] * scale
            out[name + ".b"] = params[name + ".beta"] - params[name + ".mean"] * scale
        else:
            out[name + ".w"], out[name + ".b"] = params[name + ".w"], params[name + ".b"]
    return out


def folded_logits(q, x):
    """Evaluation-mode logits from `folded` parameters q: x (batch, 115, 80) -> (batch,)."""
    nn = backend.ops(q["conv1.w"])
    xp = arrays.array_module(q["conv1.w"])
    h = xp.ascontiguousarray(xp.asarray(x, q["conv1.w"].dtype))[..., None]
    for name in CONV_WEIGHTS:
        h, _ = nn.conv2d_forward(h, q[name + ".w"], q[name + ".b"], leaky=True)
        if name in POOLS:
            h, _ = nn.maxpool2d_forward(h, POOLS[name])
    h = h.reshape(h.shape[0], -1)
    for name in DENSE_WEIGHTS:
        h, _ = nn.dense_forward(h, q[name + ".w"], q[name + ".b"])
        if name != "dense3":
            h, _ = nn.leaky_relu_forward(h)
    return h[:, 0]


def predict_proba(params, x, batch_size=64):
    """Voice probabilities (n,) float32 for excerpts x (n, 115, 80), in evaluation mode."""
    q = folded(params)
    xp = arrays.array_module(q["conv1.w"])
    probs = xp.empty(len(x), dtype=xp.float32)
    for start in range(0, len(x), batch_size):
        probs[start:start + batch_size] = sigmoid(folded_logits(q, x[start:start + batch_size]))
    return probs
