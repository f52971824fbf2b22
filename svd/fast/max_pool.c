/* Max-pooling for the fast CPU path, in one pass over memory each way (NumPy's
 * version makes several: a compare, a maximum and an argmax update per window
 * position). svd/fast/max_pool.py calls it, one call per worker thread; the maths
 * and the cache are those of svd/fast/numpy_pool.py's maxpool2d_forward /
 * maxpool2d_backward.
 *
 * Layouts (C order, channels last): x, dx (batch, T, F, C) float32; y, dy and
 * argmax (batch, T_out, F_out, C), argmax holding the window position i * pf + j
 * of the first maximum as a uint8.
 */
#include <stddef.h>

/* A worker's share [start, stop) of n items. */
static void share(int n, int worker, int n_workers, int *start, int *stop)
{
    *start = (int)((long long)n * worker / n_workers);
    *stop = (int)((long long)n * (worker + 1) / n_workers);
}

/* y[n, t, f, c] = max_{i,j} x[n, t*st + i, f*sf + j, c] over the worker's output lines. */
void max_pool_forward_worker(const float *x, int batch, int T, int F, int C, int pt, int pf,
                             int st, int sf, float *y, unsigned char *argmax, int T_out,
                             int F_out, int worker, int n_workers)
{
    int start, stop;
    share(batch * T_out, worker, n_workers, &start, &stop);
    for (int line = start; line < stop; line++) {
        const int n = line / T_out, t = line % T_out;
        for (int f = 0; f < F_out; f++) {
            float *restrict best = y + ((size_t)line * F_out + f) * C;
            unsigned char *restrict arg = argmax + ((size_t)line * F_out + f) * C;
            const float *restrict first = x + (((size_t)n * T + t * st) * F + f * sf) * C;
            for (int c = 0; c < C; c++) {
                best[c] = first[c];
                arg[c] = 0;
            }
            for (int k = 1; k < pt * pf; k++) {
                const int i = k / pf, j = k % pf;
                const float *restrict v = x + (((size_t)n * T + t * st + i) * F + f * sf + j) * C;
                for (int c = 0; c < C; c++) {
                    const int bigger = v[c] > best[c]; /* strict: the first maximum wins ties */
                    best[c] = bigger ? v[c] : best[c];
                    arg[c] = bigger ? (unsigned char)k : arg[c];
                }
            }
        }
    }
}

/* dx = dy sent to the position of each window's maximum (0 elsewhere), for the
 * worker's examples (whole examples, so overlapping windows never race). */
void max_pool_backward_worker(const float *dy, const unsigned char *argmax, int batch, int T,
                              int F, int C, int pt, int pf, int st, int sf, int T_out, int F_out,
                              float *dx, int worker, int n_workers)
{
    int start, stop;
    share(batch, worker, n_workers, &start, &stop);
    for (int n = start; n < stop; n++) {
        float *dx_n = dx + (size_t)n * T * F * C;
        for (size_t e = 0; e < (size_t)T * F * C; e++)
            dx_n[e] = 0;
        for (int t = 0; t < T_out; t++)
            for (int f = 0; f < F_out; f++) {
                const size_t out = (((size_t)n * T_out + t) * F_out + f) * C;
                const float *restrict g = dy + out;
                const unsigned char *restrict arg = argmax + out;
                for (int i = 0; i < pt; i++)
                    for (int j = 0; j < pf; j++) {
                        float *restrict d = dx_n + (((size_t)t * st + i) * F + f * sf + j) * C;
                        const unsigned char k = (unsigned char)(i * pf + j);
                        for (int c = 0; c < C; c++)
                            d[c] += arg[c] == k ? g[c] : 0.0f;
                    }
            }
    }
}
