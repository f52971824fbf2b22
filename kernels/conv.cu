/* conv.cu -- the data movement of the valid 2-D convolution over (time, freq),
 * channels-last, optionally dilated. The arithmetic is done by matrix products
 * (cupy.matmul, i.e. cuBLAS, in fp32 without TF32); these kernels only
 * rearrange numbers so that the products see one big matrix.
 *
 *   kernel   launched by (svd/cuda/conv.py)  replaces (its NumPy twin)
 *   im2col   cuda.conv.im2col                layers._im2col in layers.conv2d_forward
 *                                            (its cols are kept for the backward's dw)
 *   col2im   cuda.conv.col2im                layers._col2im, dx of layers.conv2d_backward
 *
 * The convolution on the GPU (svd/cuda/conv.py conv2d_forward / conv2d_backward):
 *   x: (B, T, F, Cin), w: (kh, kw, Cin, Cout), taps K = kh * kw,
 *   To = T - (kh-1)*dt, Fo = F - (kw-1)*df, rows R = B * To * Fo.
 *
 *   forward    cols  = im2col(x)                          (R, K*Cin)
 *              z     = cols @ w.reshape(K*Cin, Cout)      (R, Cout)    matmul
 *              y     = max(z + b, (z + b)/100)            activation.cu
 *   backward   dz    = dy * (y > 0 ? 1 : 1/100)           activation.cu
 *              dw    = cols^T @ dz (the forward's cols)   matmul
 *              db    = ones(R) @ dz, the sum of dz rows   matmul (cuBLAS gemv)
 *              dcols = dz @ w.reshape(K*Cin, Cout)^T      (R, K*Cin)   matmul
 *              dx    = col2im(dcols)                      (B, T, F, Cin)
 *
 * Column order: column (i*kw + j)*Cin + c of cols holds tap (i, j), channel c,
 * which is the row order of w.reshape(K*Cin, Cout) for a C-contiguous
 * (kh, kw, Cin, Cout) weight: no weight transpose is needed.
 */
#include "emulate.h"

/* im2col: cols[r, (i*kw + j)*Cin + c] = x[n, to + i*dt, fo + j*df, c]
 *         with r = (n*To + to)*Fo + fo.
 *
 * x:    (B, T, F, Cin)      float32, C-contiguous
 * cols: (B*To*Fo, K*Cin)    float32, written completely
 * Launched on a 2-D grid (SVD_FOR_EACH_ROW / _COLUMN): one (row, column) pair
 * per element of cols (it owns that element). The output position (n, to, fo)
 * is worked out once per row; consecutive threads take consecutive columns,
 * i.e. walk along c, then the tap, so reads of x are contiguous runs of Cin
 * channels and writes of cols are fully contiguous. All index arithmetic is
 * 32-bit (svd/cuda/conv.py im2col checks that x fits in an int, and
 * svd/cuda/launch.py kernel_rows that the rows and columns do); only the
 * final addresses are 64-bit, since cols can hold more than 2^31 numbers.
 */
SVD_KERNEL im2col(const float *__restrict__ x, float *__restrict__ cols,
                  int batch, int time, int freq, int c_in,
                  int kernel_time, int kernel_freq, int dil_time, int dil_freq)
{
    const int time_out = time - (kernel_time - 1) * dil_time;
    const int freq_out = freq - (kernel_freq - 1) * dil_freq;
    const int n_rows = batch * time_out * freq_out;
    const int n_cols = kernel_time * kernel_freq * c_in;
    SVD_FOR_EACH_ROW(row, n_rows) {
        /* row = (n*To + to)*Fo + fo */
        const int fo = row % freq_out;
        const int to = (row / freq_out) % time_out;
        const int n = row / (freq_out * time_out);
        SVD_FOR_EACH_COLUMN(col, n_cols) {
            /* col = k*Cin + c, tap k = i*kw + j */
            const int c = col % c_in, k = col / c_in;
            const int t = to + (k / kernel_freq) * dil_time, f = fo + (k % kernel_freq) * dil_freq;
            cols[(long long)row * n_cols + col] = x[((long long)(n * time + t) * freq + f) * c_in + c];
        }
    }
}

/* col2im, written as a gather: every input element sums the taps that read it.
 *
 *   dx[n, t, f, c] = sum over taps (i, j) with to = t - i*dt in [0, To)
 *                    and fo = f - j*df in [0, Fo) of
 *                    dcols[(n*To + to)*Fo + fo, (i*kw + j)*Cin + c]
 *
 * which is the adjoint of im2col (im2col copies x[n, t, f, c] to exactly these
 * places). dcols: (B*To*Fo, K*Cin), dx: (B, T, F, Cin), written completely
 * (positions no tap reads get 0). One index per element of dx, which it owns:
 * no atomics, and the sum runs over the taps in a fixed order (i, then j), so
 * the result is deterministic.
 */
SVD_KERNEL col2im(const float *__restrict__ dcols, float *__restrict__ dx,
                  int batch, int time, int freq, int c_in,
                  int kernel_time, int kernel_freq, int dil_time, int dil_freq)
{
    const int time_out = time - (kernel_time - 1) * dil_time;
    const int freq_out = freq - (kernel_freq - 1) * dil_freq;
    const int taps = kernel_time * kernel_freq;
    const long long n_dx = (long long)batch * time * freq * c_in;
    SVD_FOR_EACH(idx, n_dx) {
        /* idx = ((n*T + t)*F + f)*Cin + c */
        const int c = (int)(idx % c_in);
        const int f = (int)((idx / c_in) % freq);
        const int t = (int)((idx / ((long long)c_in * freq)) % time);
        const long long n = idx / ((long long)c_in * freq * time);
        float sum = 0.0f;
        for (int i = 0; i < kernel_time; ++i) {
            const int to = t - i * dil_time;
            if (to < 0 || to >= time_out) continue;
            for (int j = 0; j < kernel_freq; ++j) {
                const int fo = f - j * dil_freq;
                if (fo < 0 || fo >= freq_out) continue;
                const long long row = (n * time_out + to) * freq_out + fo;
                sum += dcols[(row * taps + i * kernel_freq + j) * c_in + c];
            }
        }
        dx[idx] = sum;
    }
}
