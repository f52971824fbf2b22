"""svd/cuda/ on a real GPU against the NumPy twins.

The same comparisons as tests/test_kernels_emulated.py (tests/kernel_emulation/
checks.py, tolerances explained there), with CuPy arrays and the kernels
compiled by NVRTC: they test what the emulation cannot, i.e. the CUDA
compilation through CuPy, the argument passing to real kernels, the cuBLAS
matrix products, and that the GPU rounds like the CPU.

Every output array starts poisoned (NaN, or all bits set for integers), as in
the emulated tests, so an element a kernel skips fails instead of passing on
whatever the memory pool left there.

Skipped when svd.device.why_no_gpu() gives a reason (no CuPy or no CUDA device);
tests/gpu/run.sh counts such a skip as a failure.
Leave CUPY_TF32 unset: with TF32 the matrix products lose ~3 decimal digits.
"""
import os
import pathlib
import sys
import zlib

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from kernel_emulation import checks  # noqa: E402

from svd import cuda, device  # noqa: E402

pytestmark = pytest.mark.skipif(device.why_no_gpu() is not None, reason="no CUDA device (or CuPy not installed)")


@pytest.fixture(scope="module")
def cupy():
    import cupy
    if os.environ.get("CUPY_TF32", "0") != "0":
        pytest.skip("CUPY_TF32 is set: float32 matrix products would use TF32")
    return cupy


@pytest.fixture(autouse=True)
def poisoned(monkeypatch):
    """svd.cuda's outputs start as NaN / all bits set (checks.poisoned_empty), as under the emulator."""
    monkeypatch.setattr(cuda.launch, "empty", checks.poisoned_empty)


def test_outputs_start_poisoned(cupy):
    """The poison is in place: with no kernel launched, an output keeps it."""
    out = cuda.launch.empty(cupy, (3, 2), np.float32)
    assert bool(cupy.isnan(out).all())


@pytest.mark.parametrize("family", cuda.launch.FAMILIES)
def test_kernels_load_with_cupy(cupy, family):
    module = cuda.launch.raw_module(family)
    for name in cuda.launch.kernel_signatures(family):
        module.get_function(name)  # compiles on first access; raises on errors


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("check", checks.CHECKS, ids=lambda c: c.__name__[len("check_"):])
def test_kernel_matches_numpy_twin_on_gpu(cupy, check, seed):
    check(cupy, np.random.default_rng([zlib.crc32(check.__name__.encode()), seed]))
    cupy.cuda.Device().synchronize()  # surface asynchronous launch errors here


def test_large_arrays_use_the_grid_stride_loop(cupy):
    """More indices than MAX_BLOCKS * THREADS_PER_BLOCK threads: each thread takes several."""
    n = cuda.launch.MAX_BLOCKS * cuda.launch.THREADS_PER_BLOCK * 3 + 17
    x = cupy.random.standard_normal(n, dtype=cupy.float32)
    y, _ = cuda.leaky_relu_forward(x)
    x_host = cupy.asnumpy(x)
    assert np.array_equal(cupy.asnumpy(y), np.maximum(x_host, x_host * np.float32(0.01)))


def test_im2col_at_the_paper_conv2_shape_on_gpu(cupy):
    """conv2's im2col at batch 32 (269,952 rows of 576 columns, on the 2-D grid): equal to the slices of x."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((32, 113, 78, 64), dtype=np.float32)
    cols = cupy.asnumpy(cuda.conv.im2col(cupy.asarray(x), (3, 3))).reshape(32, 111, 76, 3, 3, 64)
    for i in range(3):
        for j in range(3):
            assert np.array_equal(cols[:, :, :, i, j], x[:, i:i + 111, j:j + 76]), (i, j)


def test_hash_dropout_matches_its_numpy_twin(cupy):
    x = cupy.ones(100_003, dtype=cupy.float32)
    _, (mask, _) = cuda.dropout_forward(x, 0.5, seed=2024)
    assert np.array_equal(cupy.asnumpy(mask), cuda.activation.hash_uniform(2024, x.size) >= np.float32(0.5))
