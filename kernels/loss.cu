/* loss.cu -- binary cross-entropy on sigmoid outputs, from logits (Sec. 3.3).
 *
 *   kernel                 launched by (svd/cuda/loss.py)           replaces (its NumPy twin)
 *   sigmoid_xent_forward   cuda.loss.sigmoid_cross_entropy_forward  loss.sigmoid_cross_entropy_forward
 *   sigmoid_xent_backward  cuda.loss.sigmoid_cross_entropy_backward loss.sigmoid_cross_entropy_backward
 *
 * For a logit z and a target t in [0, 1]:
 *
 *   loss(z, t) = -t log sigmoid(z) - (1 - t) log(1 - sigmoid(z))
 *              = max(z, 0) - z t + log(1 + exp(-|z|))     (never overflows)
 *   d loss / dz = sigmoid(z) - t
 *
 * The forward writes the per-example losses; the mean over the batch (a
 * reduction over a few dozen numbers) is taken by the launcher with CuPy.
 * logits, targets, losses, dlogits: (batch,) float32; one index per example.
 */
#include "emulate.h"

/* sigmoid(z) = 1 / (1 + exp(-z)) without overflow: e = exp(-|z|) is in (0, 1]. */
SVD_DEVICE float stable_sigmoid(float z)
{
    const float e = expf(-fabsf(z));
    return z >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

/* sigmoid_xent_forward: losses[i] = max(z, 0) - z t + log1p(exp(-|z|)). */
SVD_KERNEL sigmoid_xent_forward(const float *__restrict__ logits,
                                const float *__restrict__ targets,
                                float *__restrict__ losses, long long batch)
{
    SVD_FOR_EACH(i, batch) {
        const float z = logits[i], t = targets[i];
        losses[i] = fmaxf(z, 0.0f) - z * t + log1pf(expf(-fabsf(z)));
    }
}

/* sigmoid_xent_backward: dlogits[i] = (sigmoid(z) - t) * scale, where
 * scale = dloss / batch is the derivative of the mean (the launcher passes it). */
SVD_KERNEL sigmoid_xent_backward(const float *__restrict__ logits,
                                 const float *__restrict__ targets,
                                 float *__restrict__ dlogits, long long batch, float scale)
{
    SVD_FOR_EACH(i, batch) {
        dlogits[i] = (stable_sigmoid(logits[i]) - targets[i]) * scale;
    }
}
