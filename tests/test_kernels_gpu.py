"""svd/cuda.py on a real GPU against the NumPy twins.

The same comparisons as tests/test_kernels_emulated.py (tests/kernel_emulation/
checks.py, tolerances explained there), with CuPy arrays and the kernels
compiled by NVRTC: they test what the emulation cannot, i.e. the CUDA
compilation through CuPy, the argument passing to real kernels, the cuBLAS
matrix products, and that the GPU rounds like the CPU.

Skipped when svd.device.why_no_gpu() gives a reason (no CuPy or no CUDA device).
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


@pytest.mark.parametrize("family", cuda.FAMILIES)
def test_kernels_load_with_cupy(cupy, family):
    module = cuda._module(family)
    for name in cuda.kernel_signatures(family):
        module.get_function(name)  # compiles on first access; raises on errors


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("check", checks.CHECKS, ids=lambda c: c.__name__[len("check_"):])
def test_kernel_matches_numpy_twin_on_gpu(cupy, check, seed):
    check(cupy, np.random.default_rng([zlib.crc32(check.__name__.encode()), seed]))
    cupy.cuda.Device().synchronize()  # surface asynchronous launch errors here


def test_large_arrays_use_the_grid_stride_loop(cupy):
    """More indices than MAX_BLOCKS * THREADS_PER_BLOCK threads: each thread takes several."""
    n = cuda.MAX_BLOCKS * cuda.THREADS_PER_BLOCK * 3 + 17
    x = cupy.random.standard_normal(n, dtype=cupy.float32)
    y, _ = cuda.leaky_relu_forward(x)
    x_host = cupy.asnumpy(x)
    assert np.array_equal(cupy.asnumpy(y), np.maximum(x_host, x_host * np.float32(0.01)))


def test_hash_dropout_matches_its_numpy_twin(cupy):
    x = cupy.ones(100_003, dtype=cupy.float32)
    _, (mask, _) = cuda.dropout_forward(x, 0.5, seed=2024)
    assert np.array_equal(cupy.asnumpy(mask), cuda.hash_uniform(2024, x.size) >= np.float32(0.5))
