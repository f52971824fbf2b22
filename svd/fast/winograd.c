/* Winograd F(4x4, 3x3) convolution for the fast CPU path: the tile transforms,
 * compiled, and the per-block driver that calls BLAS through a function pointer.
 * svd/fast/build.py compiles it; svd/fast/winograd.py calls it through ctypes and
 * holds the maths (its module docstring); the names below follow it.
 *
 * Layouts (all float32, C order, channels last like svd/layers.py):
 *   x   (T, F, C)      one example's input (or the padded output gradient for dx)
 *   y   (T_out, F_out, K)
 *   V   (36, P, C)     transformed input tiles  V[xi][p] = (B^T d B)[xi] of tile p
 *   M   (36, P, K)     products                 M[xi] = V[xi] @ U[xi]
 *   U   (36, C, K)     transformed weights      U[xi] = (G w G^T)[xi]
 * xi = 6 * i + j indexes the 6x6 transformed tile. A block is tile rows
 * a0 <= a < a1 (time) by all `tiles_f` tile columns b of one example; tile p =
 * (a - a0) * tiles_f + b has its outputs at times t0 + u*dt and frequencies
 * f0 + v*df (u, v in 0..3), t0 = tile_origin(a, dt), f0 = tile_origin(b, df), and
 * reads the inputs at t0 + i*dt - pad_t, f0 + j*df - pad_f for i, j in 0..5 (zero
 * outside x).
 *
 * Called from svd/fast/winograd.py: forward_worker (the forward, and dx as a forward over
 * the padded gradient), weight_grad_worker and leaky_backward_worker (the backward),
 * one call per worker thread.
 */
#include <stddef.h>

typedef void (*sgemm_t)(int order, int trans_a, int trans_b, int m, int n, int k,
                        float alpha, const float *a, int lda, const float *b, int ldb,
                        float beta, float *c, int ldc);
enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };

#define LEAKINESS 0.01f /* the leaky rectifier max(z/100, z), Sec. 3.2; as svd/layers.py */

enum { TILE = 4, SPAN = TILE + 2, XI = SPAN * SPAN }; /* outputs, inputs per tile side; positions */

/* First output coordinate of tile a along an axis dilated by d: a tile holds the
 * outputs t, t + d, t + 2d, t + 3d, so origins run 0..d-1, 4d..5d-1, 8d..9d-1, ... */
static int tile_origin(int a, int d) { return (a / d) * TILE * d + a % d; }

/* The three 1-D transforms (svd/fast/winograd.py's B_T, A_T and A), written out: the
 * compiler can then drop the zeros and keep everything in registers. The loops that
 * apply them run over channels, with their small inner loops unrolled (#pragma), so
 * that the compiler vectorises each tile's transform across 16 channels at a time. */
static inline void bt_times(const float d[SPAN], float v[SPAN]) /* v = B^T d */
{
    v[0] = 4 * d[0] - 5 * d[2] + d[4];
    v[1] = -4 * (d[1] + d[2]) + d[3] + d[4];
    v[2] = 4 * (d[1] - d[2]) - d[3] + d[4];
    v[3] = 2 * (d[3] - d[1]) - d[2] + d[4];
    v[4] = 2 * (d[1] - d[3]) - d[2] + d[4];
    v[5] = 4 * d[1] - 5 * d[3] + d[5];
}

static inline void at_times(const float m[SPAN], float y[TILE]) /* y = A^T m */
{
    const float plus = m[1] + m[2], minus = m[1] - m[2];
    const float plus2 = m[3] + m[4], minus2 = m[3] - m[4];
    y[0] = m[0] + plus + plus2;
    y[1] = minus + 2 * minus2;
    y[2] = plus + 4 * plus2;
    y[3] = minus + 8 * minus2 + m[5];
}

static inline void a_times(const float g[TILE], float m[SPAN]) /* m = A g (the transpose of at_times) */
{
    const float even = g[0] + g[2], odd = g[1] + g[3];
    const float even4 = g[0] + 4 * g[2], odd8 = 2 * g[1] + 8 * g[3];
    m[0] = g[0];
    m[1] = even + odd;
    m[2] = even - odd;
    m[3] = even4 + odd8;
    m[4] = even4 - odd8;
    m[5] = g[3];
}

/* V <- B^T d B for every tile of the block. */
static void input_transform(const float *x, int T, int F, int C, int dt, int df, int pad_t,
                            int pad_f, int a0, int a1, int tiles_f, const float *zeros,
                            float *restrict V)
{
    const size_t P = (size_t)(a1 - a0) * tiles_f;
    for (int a = a0; a < a1; a++) {
        const int t0 = tile_origin(a, dt) - pad_t;
        for (int b = 0; b < tiles_f; b++) {
            const int f0 = tile_origin(b, df) - pad_f;
            const size_t p = (size_t)(a - a0) * tiles_f + b;
            const float *d[SPAN][SPAN];
            for (int i = 0; i < SPAN; i++)
                for (int j = 0; j < SPAN; j++) {
                    const int t = t0 + i * dt, f = f0 + j * df;
                    d[i][j] = (t >= 0 && t < T && f >= 0 && f < F)
                                  ? x + ((size_t)t * F + f) * C : zeros;
                }
            float *v = V + p * C;
            /* the 36 rows of V never overlap: tell the compiler, so it vectorises over c */
#pragma GCC ivdep
            for (int c = 0; c < C; c++) {
                float col[SPAN], r[SPAN][SPAN], row[SPAN], out[SPAN];
#pragma GCC unroll 6
                for (int j = 0; j < SPAN; j++) { /* B^T d: transform each column */
#pragma GCC unroll 6
                    for (int i = 0; i < SPAN; i++)
                        col[i] = d[i][j][c];
                    bt_times(col, out);
#pragma GCC unroll 6
                    for (int i = 0; i < SPAN; i++)
                        r[i][j] = out[i];
                }
#pragma GCC unroll 6
                for (int i = 0; i < SPAN; i++) { /* (B^T d) B: transform each row */
#pragma GCC unroll 6
                    for (int j = 0; j < SPAN; j++)
                        row[j] = r[i][j];
                    bt_times(row, out);
#pragma GCC unroll 6
                    for (int j = 0; j < SPAN; j++)
                        v[(SPAN * i + j) * P * C + c] = out[j];
                }
            }
        }
    }
}

/* y <- A^T m A (+ bias, leaky rectifier) for every tile; outputs past T_out or F_out
 * (the last tiles' outer rows/columns) go to `spill` (TILE * TILE * K floats) instead. */
static void output_transform(const float *M, const float *bias, int leaky, float *y, int T_out,
                             int F_out, int K, int dt, int df, int a0, int a1, int tiles_f,
                             float *spill)
{
    const size_t P = (size_t)(a1 - a0) * tiles_f;
    for (int a = a0; a < a1; a++) {
        const int t0 = tile_origin(a, dt);
        for (int b = 0; b < tiles_f; b++) {
            const int f0 = tile_origin(b, df);
            const size_t p = (size_t)(a - a0) * tiles_f + b;
            const float *m = M + p * K;
            float *o[TILE][TILE];
            for (int u = 0; u < TILE; u++)
                for (int v = 0; v < TILE; v++) {
                    const int t = t0 + u * dt, f = f0 + v * df;
                    o[u][v] = (t < T_out && f < F_out) ? y + ((size_t)t * F_out + f) * K
                                                       : spill + (TILE * u + v) * K;
                }
#pragma GCC ivdep
            for (int k = 0; k < K; k++) {
                float col[SPAN], r[TILE][SPAN], row[SPAN], out[TILE];
#pragma GCC unroll 6
                for (int j = 0; j < SPAN; j++) { /* A^T m: transform each column */
#pragma GCC unroll 6
                    for (int i = 0; i < SPAN; i++)
                        col[i] = m[(SPAN * i + j) * P * K + k];
                    at_times(col, out);
#pragma GCC unroll 6
                    for (int u = 0; u < TILE; u++)
                        r[u][j] = out[u];
                }
                const float beta = bias ? bias[k] : 0.0f;
#pragma GCC unroll 6
                for (int u = 0; u < TILE; u++) { /* (A^T m) A: transform each row */
#pragma GCC unroll 6
                    for (int j = 0; j < SPAN; j++)
                        row[j] = r[u][j];
                    at_times(row, out);
#pragma GCC unroll 6
                    for (int v = 0; v < TILE; v++) {
                        const float z = out[v] + beta;
                        o[u][v][k] = leaky && z < 0 ? z * LEAKINESS : z;
                    }
                }
            }
        }
    }
}

/* dM <- A dz A^T for every tile (the transpose of output_transform), and
 * db += the tiles' dz; outputs past T_out or F_out count as dz = 0. */
static void grad_transform(const float *dz, int T_out, int F_out, int K, int dt, int df, int a0,
                           int a1, int tiles_f, const float *zeros, float *restrict dM,
                           float *restrict db)
{
    const size_t P = (size_t)(a1 - a0) * tiles_f;
    for (int a = a0; a < a1; a++) {
        const int t0 = tile_origin(a, dt);
        for (int b = 0; b < tiles_f; b++) {
            const int f0 = tile_origin(b, df);
            const size_t p = (size_t)(a - a0) * tiles_f + b;
            const float *g[TILE][TILE];
            for (int u = 0; u < TILE; u++)
                for (int v = 0; v < TILE; v++) {
                    const int t = t0 + u * dt, f = f0 + v * df;
                    g[u][v] = (t < T_out && f < F_out) ? dz + ((size_t)t * F_out + f) * K : zeros;
                }
            float *m = dM + p * K;
#pragma GCC ivdep
            for (int k = 0; k < K; k++) {
                float col[TILE], r[SPAN][TILE], row[TILE], out[SPAN];
#pragma GCC unroll 6
                for (int v = 0; v < TILE; v++) { /* A dz: transform each column */
#pragma GCC unroll 6
                    for (int u = 0; u < TILE; u++) {
                        col[u] = g[u][v][k];
                        db[k] += col[u];
                    }
                    a_times(col, out);
#pragma GCC unroll 6
                    for (int i = 0; i < SPAN; i++)
                        r[i][v] = out[i];
                }
#pragma GCC unroll 6
                for (int i = 0; i < SPAN; i++) { /* (A dz) A^T: transform each row */
#pragma GCC unroll 6
                    for (int v = 0; v < TILE; v++)
                        row[v] = r[i][v];
                    a_times(row, out);
#pragma GCC unroll 6
                    for (int j = 0; j < SPAN; j++)
                        m[(SPAN * i + j) * P * K + k] = out[j];
                }
            }
        }
    }
}

/* One convolution, as svd/fast/winograd.py's _Layer (the same fields in the same order).
 * x (batch, T, F, C) -> y (batch, T_out, F_out, K); blocks of rows_per_block tile
 * rows never cross examples and are numbered example by example. */
struct layer {
    const float *x;
    int batch, T, F, C, dt, df, pad_t, pad_f;
    const float *U, *bias;
    int leaky;
    float *y;
    int T_out, F_out, K, tiles_t, tiles_f, rows_per_block;
    const float *zeros; /* max(C, K) zeros: the inputs outside x */
    sgemm_t sgemm;
};

/* Example n and tile rows a0..a1 of block `block`. */
static void block_rows(const struct layer *L, int block, int *n, int *a0, int *a1)
{
    const int per_example = (L->tiles_t + L->rows_per_block - 1) / L->rows_per_block;
    *n = block / per_example;
    *a0 = (block % per_example) * L->rows_per_block;
    *a1 = *a0 + L->rows_per_block < L->tiles_t ? *a0 + L->rows_per_block : L->tiles_t;
}

static int block_count(const struct layer *L)
{
    return L->batch * ((L->tiles_t + L->rows_per_block - 1) / L->rows_per_block);
}

/* y of blocks worker, worker + n_workers, ...: transform, 36 products V[xi] @ U[xi],
 * transform back. V: (36, P, C), M: (36, P, K) and spill: (16, K) are the worker's scratch. */
void forward_worker(const struct layer *L, int worker, int n_workers, float *V, float *M,
                    float *spill)
{
    for (int block = worker; block < block_count(L); block += n_workers) {
        int n, a0, a1;
        block_rows(L, block, &n, &a0, &a1);
        const int P = (a1 - a0) * L->tiles_f, C = L->C, K = L->K;
        input_transform(L->x + (size_t)n * L->T * L->F * C, L->T, L->F, C, L->dt, L->df,
                        L->pad_t, L->pad_f, a0, a1, L->tiles_f, L->zeros, V);
        for (int xi = 0; xi < XI; xi++)
            L->sgemm(ROW_MAJOR, NO_TRANS, NO_TRANS, P, K, C, 1.0f, V + (size_t)xi * P * C, C,
                     L->U + (size_t)xi * C * K, K, 0.0f, M + (size_t)xi * P * K, K);
        output_transform(M, L->bias, L->leaky, L->y + (size_t)n * L->T_out * L->F_out * K,
                         L->T_out, L->F_out, K, L->dt, L->df, a0, a1, L->tiles_f, spill);
    }
}

/* dU[xi] += V[xi]^T dM[xi] and db += sum of dz over the worker's blocks;
 * dz: (batch, T_out, F_out, K), the gradient w.r.t. the output before the rectifier. */
void weight_grad_worker(const struct layer *L, const float *dz, int worker, int n_workers,
                        float *V, float *dM, float *dU, float *db)
{
    for (int block = worker; block < block_count(L); block += n_workers) {
        int n, a0, a1;
        block_rows(L, block, &n, &a0, &a1);
        const int P = (a1 - a0) * L->tiles_f, C = L->C, K = L->K;
        input_transform(L->x + (size_t)n * L->T * L->F * C, L->T, L->F, C, L->dt, L->df, 0, 0,
                        a0, a1, L->tiles_f, L->zeros, V);
        grad_transform(dz + (size_t)n * L->T_out * L->F_out * K, L->T_out, L->F_out, K, L->dt,
                       L->df, a0, a1, L->tiles_f, L->zeros, dM, db);
        for (int xi = 0; xi < XI; xi++)
            L->sgemm(ROW_MAJOR, TRANS, NO_TRANS, C, K, P, 1.0f, V + (size_t)xi * P * C, C,
                     dM + (size_t)xi * P * K, K, 1.0f, dU + (size_t)xi * C * K, K);
    }
}

/* dz <- dy * (1 if y > 0 else 1/100) (the leaky rectifier's derivative) over the
 * worker's share of n values. */
void leaky_backward_worker(const float *dy, const float *y, float *dz, size_t n, int worker,
                           int n_workers)
{
    const size_t start = n * worker / n_workers, stop = n * (worker + 1) / n_workers;
    for (size_t i = start; i < stop; i++)
        dz[i] = y[i] > 0 ? dy[i] : dy[i] * LEAKINESS;
}
