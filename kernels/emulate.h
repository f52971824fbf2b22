/* emulate.h -- lets every kernel source (kernels/<family>.cu) compile both as CUDA and as plain C++.
 *
 * Every kernel of this project is written in one style, which this header names:
 *
 *     SVD_KERNEL foo(const float *x, float *y, long long n)
 *     {
 *         SVD_FOR_EACH(i, n) {          // each index i in [0, n) exactly once
 *             y[i] = ...;               // index i writes only its own outputs
 *         }
 *     }
 *
 * - SVD_FOR_EACH is a grid-stride loop: thread `g` of the grid handles the
 *   indices g, g + (threads in the grid), g + 2 * (threads in the grid), ...
 *   so any grid size covers any n (svd/cuda/launch.py caps the grid; see launch_config).
 * - A kernel over a matrix (rows x columns, e.g. im2col) may use the 2-D pair
 *
 *     SVD_FOR_EACH_ROW(row, n_rows) {        // grid-stride over rows (y)
 *         const int a = row / 7;             // per-row work, done once per row
 *         SVD_FOR_EACH_COLUMN(col, n_cols) { // grid-stride over columns (x)
 *             out[(long long)row * n_cols + col] = ...;
 *         }
 *     }
 *
 *   launched on a 2-D grid (svd/cuda/launch.py launch_config_rows): each (row, col)
 *   exactly once, consecutive threads of a block on consecutive columns (so
 *   writes along a row are contiguous), indices in 32-bit ints (the launcher
 *   checks that they fit), which GPUs divide several times faster than 64-bit
 *   ones. SVD_FOR_EACH_COLUMN is only valid directly inside SVD_FOR_EACH_ROW.
 * - No shared memory, no __syncthreads(), no atomics: each index writes only
 *   the outputs it owns, so the threads never need to talk to each other, and
 *   running them one after another gives exactly the GPU's result.
 *
 * Three ways this file is compiled:
 * - nvcc (tests/test_kernels_compile.py): included as usual by each .cu file.
 * - NVRTC through cupy.RawModule (svd/cuda/launch.py): kernel_source pastes this file
 *   in place of the #include line, so the source handed to NVRTC is
 *   self-contained (and CuPy's disk cache sees changes to this header).
 *   NVRTC has no standard headers, so the CUDA branch includes none; the math
 *   functions (expf, log1pf, floor, pow, ...) are built in.
 * - g++ (tests/test_kernels_emulated.py): the CUDA keywords become nothing and
 *   SVD_FOR_EACH becomes serial loops over an emulated grid: for every block,
 *   for every thread of it, the same grid-stride loop the GPU runs. The grid
 *   and block sizes are set by svd_emulate_launch() before each kernel call
 *   (tests/kernel_emulation/launch.cpp), so a wrong index mapping *or* a wrong
 *   stride shows up as a wrong result on the CPU. What the emulation cannot
 *   show is a race between threads; the rule above (an index writes only its
 *   own outputs) is what rules races out, and every kernel states which
 *   outputs an index owns.
 */
#ifndef SVD_EMULATE_H
#define SVD_EMULATE_H

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)

/* ---- CUDA (nvcc or NVRTC) ---- */
#define SVD_KERNEL extern "C" __global__ void
#define SVD_DEVICE static __device__ __forceinline__

/* Flat index of this thread in the grid, then steps of the whole grid. */
#define SVD_FOR_EACH(i, n)                                                      \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;        \
         i < (long long)(n);                                                    \
         i += (long long)blockDim.x * gridDim.x)

/* Row of this thread (y), then steps of all rows the grid holds; column (x) likewise. */
#define SVD_FOR_EACH_ROW(row, n_rows)                                           \
    for (int row = (int)(blockIdx.y * blockDim.y + threadIdx.y);                \
         row < (n_rows);                                                        \
         row += (int)(blockDim.y * gridDim.y))
#define SVD_FOR_EACH_COLUMN(col, n_cols)                                        \
    for (int col = (int)(blockIdx.x * blockDim.x + threadIdx.x);                \
         col < (n_cols);                                                        \
         col += (int)(blockDim.x * gridDim.x))

#else

/* ---- plain C++ (g++), the CPU emulation ---- */
#include <math.h>

#define SVD_KERNEL extern "C" void
#define SVD_DEVICE static inline

/* The emulated launch: gridDim.x/.y and blockDim.x/.y of the next kernel call
 * (defined and set in tests/kernel_emulation/launch.cpp; .y is 1 for 1-D launches). */
extern unsigned svd_emu_grid_dim, svd_emu_block_dim, svd_emu_grid_dim_y, svd_emu_block_dim_y;

/* blockIdx.x = svd_b, threadIdx.x = svd_t, then the same grid-stride loop. */
#define SVD_FOR_EACH(i, n)                                                      \
    for (unsigned svd_b = 0; svd_b < svd_emu_grid_dim; ++svd_b)                 \
    for (unsigned svd_t = 0; svd_t < svd_emu_block_dim; ++svd_t)                \
    for (long long i = (long long)svd_b * svd_emu_block_dim + svd_t;            \
         i < (long long)(n);                                                    \
         i += (long long)svd_emu_block_dim * svd_emu_grid_dim)

/* blockIdx = (svd_b, svd_by), threadIdx = (svd_t, svd_ty): every thread of
 * the 2-D grid, one after another, each running the row loop and, inside it,
 * the column loop, as on the GPU. */
#define SVD_FOR_EACH_ROW(row, n_rows)                                           \
    for (unsigned svd_by = 0; svd_by < svd_emu_grid_dim_y; ++svd_by)            \
    for (unsigned svd_b = 0; svd_b < svd_emu_grid_dim; ++svd_b)                 \
    for (unsigned svd_ty = 0; svd_ty < svd_emu_block_dim_y; ++svd_ty)           \
    for (unsigned svd_t = 0; svd_t < svd_emu_block_dim; ++svd_t)                \
    for (int row = (int)(svd_by * svd_emu_block_dim_y + svd_ty);                \
         row < (n_rows);                                                        \
         row += (int)(svd_emu_block_dim_y * svd_emu_grid_dim_y))
#define SVD_FOR_EACH_COLUMN(col, n_cols)                                        \
    for (int col = (int)(svd_b * svd_emu_block_dim + svd_t);                    \
         col < (n_cols);                                                        \
         col += (int)(svd_emu_block_dim * svd_emu_grid_dim))

#endif

/* The slope of the leaky rectifier y = max(x/100, x) for x < 0 (Sec. 3.2);
 * the same constant as svd/layers.py LEAKINESS. */
#define SVD_LEAKINESS 0.01f

#endif /* SVD_EMULATE_H */
