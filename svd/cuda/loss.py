"""Launchers of kernels/loss.cu: binary cross-entropy from logits, and its gradient (Sec. 3.3).

Twins: svd/loss.py sigmoid_cross_entropy_forward / sigmoid_cross_entropy_backward.
"""
import numpy

from svd.util import arrays
from svd.cuda import checks, launch


def sigmoid_cross_entropy_forward(logits, targets):
    """Mean binary cross-entropy from logits (kernels/loss.cu sigmoid_xent_forward).

    Twin: loss.sigmoid_cross_entropy_forward. logits, targets: (batch,).
    Returns the 0-d mean loss (the per-example losses come from the kernel,
    their mean from CuPy) and the cache (logits, targets).
    """
    xp = arrays.array_module(logits)
    logits, targets = launch.f32(logits), launch.array_on(xp, targets, numpy.float32)
    checks.check_ndim("sigmoid_cross_entropy_forward", "logits", logits, ("batch",))
    checks.check_shape("sigmoid_cross_entropy_forward", "targets", targets, logits.shape)
    losses = launch.empty(xp, logits.shape, numpy.float32)
    launch.kernel("loss", "sigmoid_xent_forward", logits.size, logits, targets, losses, logits.size)
    return losses.mean(), (logits, targets)


def sigmoid_cross_entropy_backward(cache, dloss=1.0):
    """dlogits = dloss * (sigmoid(z) - t) / batch (kernels/loss.cu sigmoid_xent_backward).

    Twin: loss.sigmoid_cross_entropy_backward. cache: (logits, targets),
    both (batch,) float32, batch >= 1. Returns (batch,) float32.
    """
    xp = arrays.array_module(cache[0])
    logits, targets = cache
    checks.check_ndim("sigmoid_cross_entropy_backward", "logits (cache[0])", logits, ("batch",))
    checks.check_shape("sigmoid_cross_entropy_backward", "targets (cache[1])", targets, logits.shape)
    if logits.size == 0:
        raise ValueError("sigmoid_cross_entropy_backward: logits (cache[0]) is empty (batch 0)")
    dlogits = launch.empty(xp, logits.shape, numpy.float32)
    launch.kernel("loss", "sigmoid_xent_backward", logits.size, logits, targets, dlogits, logits.size,
                  dloss / logits.shape[0])
    return dlogits

