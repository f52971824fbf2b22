/* optim.cu -- one Nesterov-momentum SGD step over all parameters at once (Sec. 3.3).
 *
 *   kernel           launched by (svd/cuda.py)   replaces (its NumPy twin)
 *   nesterov_update  cuda.nesterov_momentum      optim.nesterov_momentum
 *
 * All parameters live in one flat float32 buffer (each parameter array is a
 * view of a slice of it), and so do their gradients and velocities, in the
 * same order: one launch updates the whole network instead of 14 small ones.
 *
 * Lasagne's nesterov_momentum, for learning rate eta and momentum mu:
 *
 *   v <- mu v - eta g
 *   p <- p + mu v - eta g        (with the new v)
 *
 * params, velocity: (n,) float32, updated in place; grads: (n,) float32.
 * One index per parameter (it owns p[i] and v[i]). The operations are written
 * one by one in the order optim.nesterov_momentum does them, so that the
 * float32 rounding matches (up to the fused multiply-adds the GPU compiler
 * may form).
 */
#include "emulate.h"

SVD_KERNEL nesterov_update(float *__restrict__ params, const float *__restrict__ grads,
                           float *__restrict__ velocity, long long n,
                           float learning_rate, float momentum)
{
    SVD_FOR_EACH(i, n) {
        const float step = learning_rate * grads[i];   /* eta g */
        const float v = momentum * velocity[i] - step; /* v <- mu v - eta g */
        velocity[i] = v;
        params[i] = (params[i] + momentum * v) - step; /* p <- p + mu v - eta g */
    }
}
