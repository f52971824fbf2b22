/* The convolution of a single-channel input (the network's first layer, conv1 on the
 * mel spectrogram), written out directly for the fast CPU path: with one input
 * channel there is nothing for a matrix product or a Winograd transform to share,
 * and the layer's time goes into writing its 64-channel output and reading its
 * gradient, which this does in one pass each. svd/fast/single_channel_conv.py calls
 * it, one call per worker thread; the maths is svd/layers.py's conv2d_forward/backward.
 *
 * Layouts (float32, C order): x (batch, T, F) (the channel axis of size 1 dropped),
 * w (kt * kf, K) (tap i*kf + j), y and dy (batch, T_out, F_out, K).
 */
#include <stddef.h>
#include <string.h>

#define LEAKINESS 0.01f /* the leaky rectifier max(z/100, z), Sec. 3.2; as svd/layers.py */

/* As many floats as one vector register holds, so that the compiler keeps a chunk in a
 * register: 16 with AVX-512, else 8. (A 16-float chunk without AVX-512 is not split into
 * two registers but spilled through memory: conv1 ran 6x slower on a Zen 3 machine.)
 * memcpy to and from memory compiles to unaligned vector loads and stores. */
#if defined(__AVX512F__)
#define CHUNK 16
#else
#define CHUNK 8
#endif
typedef float chunk __attribute__((vector_size(CHUNK * sizeof(float))));

/* A worker's share [start, stop) of n output lines (example, time step). */
static void share(int n, int worker, int n_workers, int *start, int *stop)
{
    *start = (int)((long long)n * worker / n_workers);
    *stop = (int)((long long)n * (worker + 1) / n_workers);
}

/* y[n, t, f, :] = leaky(b + sum_{i,j} x[n, t + i*dt, f + j*df] w[i*kf + j, :]). */
void single_channel_forward_worker(const float *x, int batch, int T, int F, int kt, int kf,
                                   int dt, int df, const float *w, const float *b, int leaky,
                                   float *y, int T_out, int F_out, int K, int worker,
                                   int n_workers)
{
    int start, stop;
    share(batch * T_out, worker, n_workers, &start, &stop);
    for (int line = start; line < stop; line++) {
        const int n = line / T_out, t = line % T_out;
        for (int f = 0; f < F_out; f++) {
            float *restrict out = y + ((size_t)line * F_out + f) * K;
            int k0 = 0;
            for (; k0 + CHUNK <= K; k0 += CHUNK) { /* CHUNK channels summed in a register */
                chunk acc, part;
                memcpy(&acc, b + k0, sizeof acc);
                for (int i = 0; i < kt; i++)
                    for (int j = 0; j < kf; j++) {
                        memcpy(&part, w + (size_t)(i * kf + j) * K + k0, sizeof part);
                        acc += x[((size_t)n * T + t + i * dt) * F + f + j * df] * part;
                    }
                memcpy(out + k0, &acc, sizeof acc);
            }
            for (; k0 < K; k0++) { /* channels left over when K is not a multiple of 16 */
                out[k0] = b[k0];
                for (int i = 0; i < kt; i++)
                    for (int j = 0; j < kf; j++)
                        out[k0] += x[((size_t)n * T + t + i * dt) * F + f + j * df]
                                   * w[(size_t)(i * kf + j) * K + k0];
            }
            if (leaky)
                for (int k = 0; k < K; k++)
                    out[k] = out[k] > 0 ? out[k] : out[k] * LEAKINESS;
        }
    }
}

/* dw[i*kf + j, :] += sum x[n, t + i*dt, f + j*df] dz[n, t, f, :] and db += sum dz over the
 * worker's lines, dz = dy * (1 if y > 0 else 1/100) if leaky, else dy. dz: F_out * K floats
 * of scratch (one line). Per line and tap, 16 channels at a time are summed over f in
 * registers (acc) before they are added to dw: adding every product to dw in memory
 * would store and reload dw F_out times. */
void single_channel_weight_grad_worker(const float *x, int batch, int T, int F, int kt, int kf,
                                       int dt, int df, const float *dy, const float *y,
                                       int leaky, int T_out, int F_out, int K, float *dw,
                                       float *db, float *dz, int worker, int n_workers)
{
    int start, stop;
    share(batch * T_out, worker, n_workers, &start, &stop);
    for (int line = start; line < stop; line++) {
        const int n = line / T_out, t = line % T_out;
        const size_t at = (size_t)line * F_out * K;
        float *restrict g = dz;
        for (int e = 0; e < F_out * K; e++)
            g[e] = leaky && y[at + e] <= 0 ? dy[at + e] * LEAKINESS : dy[at + e];
        for (int f = 0; f < F_out; f++)
            for (int k = 0; k < K; k++)
                db[k] += g[f * K + k];
        for (int i = 0; i < kt; i++)
            for (int j = 0; j < kf; j++) {
                const float *xs = x + ((size_t)n * T + t + i * dt) * F + j * df;
                float *restrict tap = dw + (size_t)(i * kf + j) * K;
                int k0 = 0;
                for (; k0 + CHUNK <= K; k0 += CHUNK) {
                    chunk acc = {0}, part;
                    for (int f = 0; f < F_out; f++) {
                        memcpy(&part, g + f * K + k0, sizeof part);
                        acc += xs[f] * part;
                    }
                    memcpy(&part, tap + k0, sizeof part);
                    part += acc;
                    memcpy(tap + k0, &part, sizeof part);
                }
                for (; k0 < K; k0++) /* channels left over when K is not a multiple of 16 */
                    for (int f = 0; f < F_out; f++)
                        tap[k0] += xs[f] * g[f * K + k0];
            }
    }
}
