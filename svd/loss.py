"""Binary cross-entropy on sigmoid outputs, computed from logits (Sec. 3.3).

The network's last layer outputs a logit z; the predicted probability of voice
is sigmoid(z). For a target t in [0, 1] the cross-entropy is

    loss(z, t) = -t log sigmoid(z) - (1 - t) log(1 - sigmoid(z))
               = max(z, 0) - z t + log(1 + exp(-|z|))

The second form never overflows and never takes log(0), so we use it. Its
derivative is simply sigmoid(z) - t. The target smoothing to 0.02 / 0.98 of
Sec. 3.3 belongs to the training code; this module takes any t in [0, 1].
"""

from .util.arrays import array_module

TARGETS = (0.02, 0.98)  # Sec. 3.3: the training targets of no-voice and voice frames (not 0 and 1)


def sigmoid(z):
    """1 / (1 + exp(-z)), without overflow for large |z|. z: any shape."""
    xp = array_module(z)
    e = xp.exp(-xp.abs(z))  # in (0, 1]: never overflows
    return xp.where(z >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_cross_entropy_forward(logits, targets):
    """Mean binary cross-entropy between sigmoid(logits) and targets.

    Args:
        logits: (batch,) float array z.
        targets: (batch,) array t with values in [0, 1].

    Returns:
        loss: 0-d array (same dtype as logits), mean over the batch;
        cache: (logits, targets).
    """
    xp = array_module(logits)
    targets = xp.asarray(targets, dtype=logits.dtype)
    per_example = xp.maximum(logits, 0) - logits * targets + xp.log1p(xp.exp(-xp.abs(logits)))
    return per_example.mean(), (logits, targets)


def sigmoid_cross_entropy_backward(cache, dloss=1.0):
    """Gradient of the mean loss w.r.t. the logits.

    Args:
        cache: (logits, targets) from the forward.
        dloss: gradient of the final objective w.r.t. the loss (1 for SGD).

    Returns:
        dlogits: (batch,) = dloss * (sigmoid(z) - t) / batch.
    """
    logits, targets = cache
    return (sigmoid(logits) - targets) * (dloss / logits.shape[0])
