/* pool.cu -- max-pooling over (time, freq) windows, channels-last.
 *
 *   kernel            launched by (svd/cuda/pool.py)  replaces (its NumPy twin)
 *   maxpool_forward   cuda.pool.maxpool2d_forward     layers.maxpool2d_forward
 *   maxpool_backward  cuda.pool.maxpool2d_backward    layers.maxpool2d_backward
 *
 * Window (ph, pw), stride (sh, sw), both parameters. The network of the paper
 * pools 3x3 with stride 3 (non-overlapping windows); a whole-song network that
 * keeps every frame uses stride (1, 3), where windows overlap in time.
 *
 * The backward is a gather: every input position sums the gradients of the
 * windows whose maximum it was. It never collides with another thread, for
 * any stride, so it needs no atomics and is deterministic.
 *
 * Argmax encoding (shared with layers.maxpool2d_forward, so the caches are
 * interchangeable): uint8 k = i*pw + j, the position of the maximum inside
 * its window; the first maximum in (i, j) order wins ties.
 */
#include "emulate.h"

/* maxpool_forward:
 *   y[n, to, fo, c] = max over i < ph, j < pw of x[n, to*sh + i, fo*sw + j, c]
 *   argmax[n, to, fo, c] = i*pw + j of the first maximum
 * x: (B, T, F, C); y, argmax: (B, To, Fo, C), To = (T - ph)/sh + 1 (floor),
 * same for Fo. One index per output element (it owns y and argmax there).
 */
SVD_KERNEL maxpool_forward(const float *__restrict__ x, float *__restrict__ y,
                           unsigned char *__restrict__ argmax,
                           int batch, int time, int freq, int channels,
                           int pool_time, int pool_freq, int stride_time, int stride_freq)
{
    const int time_out = (time - pool_time) / stride_time + 1;
    const int freq_out = (freq - pool_freq) / stride_freq + 1;
    const long long n_out = (long long)batch * time_out * freq_out * channels;
    SVD_FOR_EACH(idx, n_out) {
        /* idx = ((n*To + to)*Fo + fo)*C + c */
        const int c = (int)(idx % channels);
        const int fo = (int)((idx / channels) % freq_out);
        const int to = (int)((idx / ((long long)channels * freq_out)) % time_out);
        const long long n = idx / ((long long)channels * freq_out * time_out);
        /* x[n, to*sh, fo*sw, c], the window's top-left corner */
        const float *corner = x + ((n * time + (long long)to * stride_time) * freq
                                   + (long long)fo * stride_freq) * channels + c;
        float best = corner[0];
        int best_k = 0;
        for (int i = 0; i < pool_time; ++i) {
            for (int j = 0; j < pool_freq; ++j) {
                const float v = corner[((long long)i * freq + j) * channels];
                if (v > best) {  /* strict: the first maximum wins ties */
                    best = v;
                    best_k = i * pool_freq + j;
                }
            }
        }
        y[idx] = best;
        argmax[idx] = (unsigned char)best_k;
    }
}

/* maxpool_backward (gather):
 *   dx[n, t, f, c] = sum over windows (to, fo) that contain (t, f), i.e.
 *                    t = to*sh + i, f = fo*sw + j with i < ph, j < pw,
 *                    and whose argmax is i*pw + j, of dy[n, to, fo, c]
 * dy, argmax: (B, To, Fo, C); dx: (B, T, F, C), written completely (positions
 * that are no window's maximum, and the rows/columns no window covers, get 0).
 * One index per element of dx (it owns it). Windows are visited in increasing
 * i, then j, i.e. increasing k: the order in which layers.maxpool2d_backward
 * adds them up for overlapping windows.
 */
SVD_KERNEL maxpool_backward(const float *__restrict__ dy,
                            const unsigned char *__restrict__ argmax,
                            float *__restrict__ dx,
                            int batch, int time, int freq, int channels,
                            int pool_time, int pool_freq, int stride_time, int stride_freq)
{
    const int time_out = (time - pool_time) / stride_time + 1;
    const int freq_out = (freq - pool_freq) / stride_freq + 1;
    const long long n_dx = (long long)batch * time * freq * channels;
    SVD_FOR_EACH(idx, n_dx) {
        /* idx = ((n*T + t)*F + f)*C + c */
        const int c = (int)(idx % channels);
        const int f = (int)((idx / channels) % freq);
        const int t = (int)((idx / ((long long)channels * freq)) % time);
        const long long n = idx / ((long long)channels * freq * time);
        float sum = 0.0f;
        for (int i = 0; i < pool_time; ++i) {
            const int t0 = t - i;  /* window start in time if (t, f) is its row i */
            if (t0 < 0 || t0 % stride_time != 0 || t0 / stride_time >= time_out) continue;
            const int to = t0 / stride_time;
            for (int j = 0; j < pool_freq; ++j) {
                const int f0 = f - j;
                if (f0 < 0 || f0 % stride_freq != 0 || f0 / stride_freq >= freq_out) continue;
                const int fo = f0 / stride_freq;
                const long long out = ((n * time_out + to) * freq_out + fo) * channels + c;
                if (argmax[out] == i * pool_freq + j) sum += dy[out];
            }
        }
        dx[idx] = sum;
    }
}
