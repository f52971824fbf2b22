/* optim.cu -- one Nesterov-momentum SGD step over all parameters at once (Sec. 3.3).
 *
 *   kernel                   launched by (svd/cuda/optim.py)     replaces (its NumPy twin)
 *   nesterov_update          cuda.optim.nesterov_momentum_flat   optim.nesterov_momentum
 *   nesterov_update_tensors  cuda.optim.nesterov_momentum        optim.nesterov_momentum
 *   adam_update              cuda.optim.adam                     optim.adam (the ISMIR-2016 network)
 *
 * Either kernel updates all parameters in one launch instead of 14 small ones
 * (one per parameter array of the network), each in its own layout:
 * - nesterov_update_tensors, what training runs (svd/train.py update_step ->
 *   svd/backend.py -> cuda.optim.nesterov_momentum): one launch per update for
 *   all 14 arrays. They stay where they are (the gradients where the backward
 *   pass put them) and the kernel gets a table of their device addresses, the
 *   "multi-tensor" layout: no copy into a flat buffer.
 * - nesterov_update: all parameters live in one flat float32 buffer (each
 *   parameter array a view of a slice of it, see cuda.optim.pack_flat), and so
 *   do their gradients and velocities, in the same order. Nothing in svd/
 *   packs them so; the tests hold this kernel to the twin as well.
 *
 * Lasagne's nesterov_momentum, for learning rate eta and momentum mu:
 *
 *   v <- mu v - eta g
 *   p <- p + mu v - eta g        (with the new v)
 *
 * One index per parameter element (it owns p[i] and v[i]). The operations are
 * written one by one in the order optim.nesterov_momentum does them, so that
 * the float32 rounding matches (no fused multiply-adds: --fmad=false).
 */
#include "emulate.h"

SVD_DEVICE void nesterov_step(float *p, const float *g, float *v, float learning_rate, float momentum)
{
    const float step = learning_rate * *g;  /* eta g */
    const float v_new = momentum * *v - step; /* v <- mu v - eta g */
    *v = v_new;
    *p = (*p + momentum * v_new) - step;      /* p <- p + mu v - eta g */
}

/* params, velocity: (n,) float32, updated in place; grads: (n,) float32. */
SVD_KERNEL nesterov_update(float *__restrict__ params, const float *__restrict__ grads,
                           float *__restrict__ velocity, long long n,
                           float learning_rate, float momentum)
{
    SVD_FOR_EACH(i, n) {
        nesterov_step(params + i, grads + i, velocity + i, learning_rate, momentum);
    }
}

/* table: (4 * n_tensors + 1,) int64, four parts one after the other:
 *   params_at[s], grads_at[s], velocity_at[s]   (s < n_tensors) the device
 *       addresses of tensor s's parameter, gradient and velocity arrays
 *       (C-contiguous float32, the three of one shape);
 *   starts[s]   (s <= n_tensors) where tensor s begins in the concatenation of
 *       all tensors: starts[0] = 0, starts[s+1] - starts[s] = its size, and
 *       starts[n_tensors] = n, the total number of parameters.
 * Index idx (in [0, n)) is element idx - starts[s] of the tensor s holding it,
 * found by a linear search (the network has 14 tensors). Tensors must not
 * overlap in memory (svd/cuda/optim.py checks), so each index owns its p and v.
 */
SVD_KERNEL nesterov_update_tensors(const long long *__restrict__ table, int n_tensors, long long n,
                                   float learning_rate, float momentum)
{
    const long long *params_at = table, *grads_at = table + n_tensors;
    const long long *velocity_at = table + 2 * n_tensors, *starts = table + 3 * n_tensors;
    SVD_FOR_EACH(idx, n) {
        int s = 0;
        while (idx >= starts[s + 1]) ++s;
        const long long i = idx - starts[s];
        nesterov_step((float *)params_at[s] + i, (const float *)grads_at[s] + i,
                      (float *)velocity_at[s] + i, learning_rate, momentum);
    }
}

/* adam_update: one Adam step on one parameter tensor (svd/optim.py adam), in place:
 *   m <- beta1 m + (1 - beta1) g,  v <- beta2 v + (1 - beta2) g^2,  p <- p - rate m / (sqrt(v) + eps)
 * with rate the bias-corrected learning rate (computed by the launcher) and
 * one_minus_beta1/2 = 1 - beta1/2 as the twin rounds them to float32. The
 * operations in the twin's order. One index per element (it owns p, m, v). */
SVD_KERNEL adam_update(float *__restrict__ params, const float *__restrict__ grads, float *__restrict__ moment1,
                       float *__restrict__ moment2, long long n, float rate, float beta1, float beta2,
                       float one_minus_beta1, float one_minus_beta2, float eps)
{
    SVD_FOR_EACH(i, n) {
        const float g = grads[i];
        const float m = moment1[i] * beta1 + one_minus_beta1 * g;
        const float v = moment2[i] * beta2 + one_minus_beta2 * (g * g);
        moment1[i] = m;
        moment2[i] = v;
        params[i] = params[i] - (rate * m) / (sqrtf(v) + eps);
    }
}
