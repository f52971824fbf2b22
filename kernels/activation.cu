/* activation.cu -- element-wise layers: bias + leaky rectifier, dropout; input noise.
 *
 *   kernel                launched by (svd/cuda/activation.py)  replaces (its NumPy twin)
 *   bias_leaky_forward    cuda.activation.bias_leaky_forward    the bias and rectifier of
 *                                                               layers.conv2d_forward
 *                         cuda.activation.leaky_relu_forward    layers.leaky_relu_forward
 *   leaky_backward        cuda.activation.leaky_backward        layers.leaky_relu_backward
 *                                                               (dz in layers.conv2d_backward)
 *   dropout_forward       cuda.activation.dropout_forward       layers.dropout_forward (mask given)
 *   dropout_forward_hash  cuda.activation.dropout_forward       layers.dropout_forward (mask drawn
 *                                                               here by a counter-based hash)
 *                         cuda.activation.drop_inputs           augment.drop_inputs (Sec. 4.1)
 *   dropout_backward      cuda.activation.dropout_backward      layers.dropout_backward
 *   gaussian_noise_hash   cuda.activation.add_noise             augment.add_noise (Sec. 4.1)
 *
 * The convolution's bias and rectifier are these kernels too: cuda.conv.conv2d_forward
 * calls bias_leaky_forward (in place on its product), conv2d_backward leaky_backward
 * (so does leaky_relu_backward). The dense layers add their bias in CuPy (they are
 * layers.dense_forward itself) and call leaky_relu_forward for the rectifier.
 *
 * All arrays are flat views of C-contiguous float32 arrays of n elements; one
 * index per element, which owns the outputs at that element. Masks are uint8
 * (NumPy/CuPy bool has the same one-byte layout): 1 = keep.
 * Outputs may alias inputs (in-place use), so no __restrict__ here.
 */
#include "emulate.h"

/* bias_leaky_forward: y = z + b[c], then y = max(y, y/100) if `leaky`.
 * z, y: (rows, channels) (channels-last: the last axis is the channel);
 * b: (channels,). The rectifier of Sec. 3.2: max(x/100, x) equals x for
 * x > 0 and x/100 otherwise. */
SVD_KERNEL bias_leaky_forward(const float *z, const float *b, float *y,
                              long long n, int channels, int leaky)
{
    SVD_FOR_EACH(i, n) {
        const float v = z[i] + b[i % channels];
        y[i] = leaky ? fmaxf(v, v * SVD_LEAKINESS) : v;
    }
}

/* leaky_backward: dz = dy where y > 0, dy/100 elsewhere.
 * y is the rectifier's output: y > 0 exactly where its input was > 0, so the
 * forward needs to keep nothing else. dy, y, dz: n elements. */
SVD_KERNEL leaky_backward(const float *dy, const float *y, float *dz, long long n)
{
    SVD_FOR_EACH(i, n) {
        dz[i] = y[i] > 0.0f ? dy[i] : dy[i] * SVD_LEAKINESS;
    }
}

/* dropout_forward: y = x * scale where mask, else 0 (inverted dropout,
 * scale = 1/(1-p), so nothing is rescaled at test time; scale = 1 for the
 * input dropout of Sec. 4.1, which only "sets inputs to zero"). */
SVD_KERNEL dropout_forward(const float *x, const unsigned char *mask, float *y,
                           long long n, float scale)
{
    SVD_FOR_EACH(i, n) {
        y[i] = mask[i] ? x[i] * scale : 0.0f;
    }
}

/* "lowbias32" integer hash (C. Wellons, 2018): xor-shift-multiply rounds with
 * constants found by search for a low bias; every input bit affects every
 * output bit. svd/cuda/activation.py hash_uniform is its NumPy twin. */
SVD_DEVICE unsigned int hash32(unsigned int x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

/* A counter-based uniform number in [0, 1): the element index `counter` and
 * the `seed` are hashed together, so element i gets the same number whichever
 * thread computes it and no generator state is stored. Multiples of 2^-24
 * (24 bits: exact in float32). */
SVD_DEVICE float hash_uniform(unsigned int seed, long long counter)
{
    const unsigned int low = (unsigned int)((unsigned long long)counter & 0xffffffffU);
    const unsigned int high = (unsigned int)((unsigned long long)counter >> 32);
    const unsigned int h = hash32(low ^ hash32(high ^ hash32(seed)));
    return (float)(h >> 8) * (1.0f / 16777216.0f);
}

/* dropout_forward_hash: mask = (u_i >= p) with u_i = hash_uniform(seed, i), as
 * layers.dropout_mask keeps a unit when its uniform number is >= p; then
 * y = x * scale where mask, else 0. Writes mask for the backward. */
SVD_KERNEL dropout_forward_hash(const float *x, float *y, unsigned char *mask,
                                long long n, unsigned int seed, float p, float scale)
{
    SVD_FOR_EACH(i, n) {
        const unsigned char keep = hash_uniform(seed, i) >= p;
        mask[i] = keep;
        y[i] = keep ? x[i] * scale : 0.0f;
    }
}

/* dropout_backward: dx = dy * scale where mask, else 0 (y is linear in x). */
SVD_KERNEL dropout_backward(const float *dy, const unsigned char *mask, float *dx,
                            long long n, float scale)
{
    SVD_FOR_EACH(i, n) {
        dx[i] = mask[i] ? dy[i] * scale : 0.0f;
    }
}

/* gaussian_noise_hash: x[i] += sigma * z_i, z_i ~ N(0, 1) by the Box-Muller
 * transform of two counter-based uniforms, u1 = hash_uniform(seed, 2i) and
 * u2 = hash_uniform(seed, 2i + 1):
 *
 *   z_i = sqrt(-2 log(1 - u1)) * cos(2 pi u2)     (1 - u1 in (0, 1]: log finite)
 *
 * |z| <= sqrt(-2 log 2^-24) = 5.77: the 24-bit uniforms cut the tails there.
 * In place; tests/kernel_emulation/checks.py has the NumPy twin. */
SVD_KERNEL gaussian_noise_hash(float *x, long long n, unsigned int seed, float sigma)
{
    SVD_FOR_EACH(i, n) {
        const float u1 = 1.0f - hash_uniform(seed, 2 * i);
        const float u2 = hash_uniform(seed, 2 * i + 1);
        x[i] += sigma * (sqrtf(-2.0f * logf(u1)) * cosf(6.2831853f * u2));
    }
}
