/* batch_norm.cu -- batch normalisation of the ISMIR-2016 network (svd/network2016.py).
 *
 *   kernel               launched by (svd/cuda/batch_norm.py)   replaces (its NumPy twin)
 *   channel_sums         cuda.batch_norm.channel_sums           the per-channel sums of
 *                                                               layers.batchnorm_forward and
 *                                                               layers.batchnorm_backward
 *   batch_norm_apply     cuda.batch_norm.batchnorm_forward      layers.batchnorm_forward (x_hat, y)
 *   batch_norm_gradient  cuda.batch_norm.batchnorm_backward     layers.batchnorm_backward (dx)
 *
 * Activations are (rows, channels) float32, channels last, every leading axis
 * folded into rows. A batch statistic is a sum over all rows of one channel; with
 * no atomics and no shared memory (kernels/emulate.h) it is done in two stages:
 * channel_sums gives each index one (chunk of rows, channel) to sum in double,
 * and the launcher adds the chunks' partial sums (one small CuPy sum). Then every
 * element is independent: batch_norm_apply and batch_norm_gradient own element i.
 */
#include "emulate.h"

/* partial[chunk, 0, c] = sum of a[r, c], partial[chunk, 1, c] = sum of a[r, c] * b[r, c]
 * over the rows r of the chunk: [chunk * chunk_rows, min((chunk + 1) * chunk_rows, rows)).
 * One index per (chunk, channel), channel fastest: neighbouring threads read neighbouring
 * floats of a row. Pass a as b for the sums of squares. */
SVD_KERNEL channel_sums(const float *a, const float *b, double *partial, int rows, int channels,
                        int chunk_rows, int n_chunks)
{
    SVD_FOR_EACH(i, (long long)n_chunks * channels) {
        const int chunk = (int)(i / channels), c = (int)(i % channels);
        const int start = chunk * chunk_rows;
        const int stop = start + chunk_rows < rows ? start + chunk_rows : rows;
        double sum = 0.0, products = 0.0;
        for (int r = start; r < stop; r++) {
            const long long at = (long long)r * channels + c;
            sum += a[at];
            products += (double)a[at] * (double)b[at];
        }
        partial[(2LL * chunk) * channels + c] = sum;
        partial[(2LL * chunk + 1) * channels + c] = products;
    }
}

/* x_hat = (x - mean[c]) * inv_std[c], y = x_hat * gamma[c] + beta[c]; x, x_hat, y: n elements. */
SVD_KERNEL batch_norm_apply(const float *x, const float *mean, const float *inv_std, const float *gamma,
                            const float *beta, float *x_hat, float *y, long long n, int channels)
{
    SVD_FOR_EACH(i, n) {
        const int c = (int)(i % channels);
        const float h = (x[i] - mean[c]) * inv_std[c];
        x_hat[i] = h;
        y[i] = h * gamma[c] + beta[c];
    }
}

/* dx = scale[c] * dy - shift[c] - x_hat * slope[c], with scale = gamma * inv_std,
 * shift = scale * sum(dy) / m, slope = scale * sum(dy * x_hat) / m per channel. */
SVD_KERNEL batch_norm_gradient(const float *dy, const float *x_hat, const float *scale, const float *shift,
                               const float *slope, float *dx, long long n, int channels)
{
    SVD_FOR_EACH(i, n) {
        const int c = (int)(i % channels);
        dx[i] = scale[c] * dy[i] - shift[c] - x_hat[i] * slope[c];
    }
}
