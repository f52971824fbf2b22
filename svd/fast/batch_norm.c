/* Batch normalisation for the fast CPU path, in two passes over memory each way
 * (NumPy's version makes about six): one pass sums per channel, the second
 * writes. svd/fast/batch_norm.py calls each function once per worker thread;
 * the maths and the cache are those of svd/layers.py's batchnorm_forward /
 * batchnorm_backward.
 *
 * Layouts (C order): x, dy, x_hat, y, dx (rows, C) float32, every leading axis
 * of the activations folded into rows; per-channel vectors (C) float32; each
 * worker's sums (2, C) double, in its own slice of `sums`.
 */
#include <stddef.h>

/* A worker's share [start, stop) of n items. */
static void share(int n, int worker, int n_workers, int *start, int *stop)
{
    *start = (int)((long long)n * worker / n_workers);
    *stop = (int)((long long)n * (worker + 1) / n_workers);
}

/* sums[worker] = (sum of a, sum of a * b) per channel over the worker's rows; b = NULL means b = a. */
void batch_norm_sums_worker(const float *a, const float *b, int rows, int C, double *sums, int worker,
                            int n_workers)
{
    int start, stop;
    share(rows, worker, n_workers, &start, &stop);
    double *restrict sum = sums + (size_t)worker * 2 * C, *restrict products = sum + C;
    for (int c = 0; c < C; c++)
        sum[c] = products[c] = 0.0;
    for (int r = start; r < stop; r++) {
        const float *restrict va = a + (size_t)r * C;
        const float *restrict vb = (b ? b : a) + (size_t)r * C;
        for (int c = 0; c < C; c++) {
            sum[c] += va[c];
            products[c] += (double)va[c] * vb[c];
        }
    }
}

/* x_hat = (x - mean) * inv_std, y = x_hat * gamma + beta over the worker's rows. */
void batch_norm_forward_worker(const float *x, int rows, int C, const float *mean, const float *inv_std,
                               const float *gamma, const float *beta, float *x_hat, float *y, int worker,
                               int n_workers)
{
    int start, stop;
    share(rows, worker, n_workers, &start, &stop);
    for (int r = start; r < stop; r++) {
        const float *restrict v = x + (size_t)r * C;
        float *restrict h = x_hat + (size_t)r * C, *restrict out = y + (size_t)r * C;
        for (int c = 0; c < C; c++) {
            h[c] = (v[c] - mean[c]) * inv_std[c];
            out[c] = h[c] * gamma[c] + beta[c];
        }
    }
}

/* dx = scale * dy - shift - x_hat * slope over the worker's rows, with per-channel
 * scale = gamma * inv_std, shift = scale * dbeta / m, slope = scale * dgamma / m. */
void batch_norm_backward_worker(const float *dy, const float *x_hat, int rows, int C, const float *scale,
                                const float *shift, const float *slope, float *dx, int worker, int n_workers)
{
    int start, stop;
    share(rows, worker, n_workers, &start, &stop);
    for (int r = start; r < stop; r++) {
        const float *restrict g = dy + (size_t)r * C, *restrict h = x_hat + (size_t)r * C;
        float *restrict out = dx + (size_t)r * C;
        for (int c = 0; c < C; c++)
            out[c] = scale[c] * g[c] - shift[c] - h[c] * slope[c];
    }
}
