"""Tests of the NumPy and BLAS code of the fast CPU path, svd/fast/: its gemm
(svd/fast/blas.py), the blocks, halos and workspaces of svd/fast/blocked.py and
svd/fast/workers.py, and that svd/fast's operations equal the textbook layers of
svd/layers.py, on random shapes and on the paper's full shapes.

These tests switch the compiled parts off (svd/fast/build.py), so that svd/fast runs
blocked.py's and numpy_pool.py's own NumPy loops; the compiled ones have their own
tests (test_fast_winograd.py, test_fast_single_channel_conv.py, test_fast_max_pool.py,
test_fast_build.py), and the whole network is compared with both.

Tolerances: float64 comparisons of the two implementations differ only by the order of
the sums (1e-12); float32 ones by float32 rounding of sums of up to a few thousand terms
(rtol 1e-4 with atol 1e-4 relative to O(1) values; see the individual tests).
"""

import numpy as np
import pytest

from helpers import check_grad, naive_conv
from svd import excerpt, fast, layers, network
from svd.fast import blas, blocked, build, im2col, workers

@pytest.fixture(autouse=True)
def numpy_loops():
    """svd/fast without its compiled parts (see the module docstring)."""
    build.set_enabled(False)
    yield
    build.set_enabled(True)


CONV_CASES = [  # batch, time, freq, c_in, c_out, kernel, dilation
    (2, 9, 8, 5, 6, (3, 3), (1, 1)),
    (2, 11, 13, 6, 5, (3, 2), (3, 2)),     # dilation on both axes
    (1, 7, 6, 1, 8, (3, 3), (1, 1)),       # one input channel: the im2col path
    (2, 8, 9, 3, 5, (3, 3), (2, 1)),       # few input channels, dilated, im2col path
]


# --------------------------------------------------------------------------
# blas.gemm
# --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_gemm_matches_matmul_and_accumulates(dtype, trans_a, trans_b):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((7, 5) if not trans_a else (5, 7)).astype(dtype)
    b = rng.standard_normal((5, 3) if not trans_b else (3, 5)).astype(dtype)
    out = rng.standard_normal((7, 3)).astype(dtype)
    expected = out + (a.T if trans_a else a) @ (b.T if trans_b else b)
    result = blas.gemm(a, b, out, trans_a=trans_a, trans_b=trans_b)
    assert result is out
    np.testing.assert_allclose(out, expected, rtol=1e-5)
    out[...] = np.nan  # beta=0 must ignore the old contents, even NaN
    blas.gemm(a, b, out, beta=0.0, trans_a=trans_a, trans_b=trans_b)
    np.testing.assert_allclose(out, (a.T if trans_a else a) @ (b.T if trans_b else b), rtol=1e-5)


def test_gemm_writes_into_row_slices_in_place():
    rng = np.random.default_rng(1)
    big = np.zeros((10, 4), np.float32)
    a = rng.standard_normal((10, 6)).astype(np.float32)
    w = rng.standard_normal((6, 4)).astype(np.float32)
    blas.gemm(a[2:7], w, big[3:8])
    np.testing.assert_allclose(big[3:8], a[2:7] @ w, rtol=1e-5)
    assert not big[:3].any() and not big[8:].any()


def test_conv_with_scipy_blas_fallback(monkeypatch):
    """Without a GIL-free cblas (another platform), gemm uses SciPy's wrappers
    and the blocks run one after another; results must not change."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 9, 8, 5)).astype(np.float32)
    w = rng.standard_normal((3, 3, 5, 4)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    y_ref, cache = fast.conv2d_forward(x, w, b, leaky=True)
    grads_ref = fast.conv2d_backward(np.ones_like(y_ref), cache)
    old_threads = workers.num_threads()
    workers.set_num_threads(1)
    monkeypatch.setattr(blas, "_CBLAS_GEMM", {})
    try:
        y, cache = fast.conv2d_forward(x, w, b, leaky=True)
        grads = fast.conv2d_backward(np.ones_like(y), cache)
    finally:
        workers.set_num_threads(old_threads)
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
    for got, want in zip(grads, grads_ref):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_gemm_rejects_bad_shapes():
    with pytest.raises(ValueError):
        blas.gemm(np.ones((2, 3), np.float32), np.ones((4, 2), np.float32),
                  np.ones((2, 2), np.float32))


# --------------------------------------------------------------------------
# Blocks and workspaces
# --------------------------------------------------------------------------

@pytest.mark.parametrize("case", [CONV_CASES[0], CONV_CASES[1], CONV_CASES[3]])
def test_conv_with_one_line_blocks(case, monkeypatch):
    """Blocks of a single line: many blocks per example, halos that cross blocks
    and examples (the default block size puts these small inputs in one block)."""
    monkeypatch.setattr(blocked, "_FORWARD_BLOCK_BYTES", 1)
    monkeypatch.setattr(blocked, "_BACKWARD_BLOCK_BYTES", 1)
    batch, time, freq, c_in, c_out, kernel, dilation = case
    rng = np.random.default_rng(12)
    x = rng.standard_normal((batch, time, freq, c_in))
    w = rng.standard_normal(kernel + (c_in, c_out))
    b = rng.standard_normal(c_out)
    y, cache = fast.conv2d_forward(x, w, b, dilation, leaky=True)
    z = naive_conv(x, w, b, dilation)
    np.testing.assert_allclose(y, np.maximum(z, z / 100), rtol=1e-12, atol=1e-12)
    r = rng.standard_normal(y.shape)
    dx, dw, db = fast.conv2d_backward(r, cache)
    objective = lambda: np.sum(fast.conv2d_forward(x, w, b, dilation, leaky=True)[0] * r)
    check_grad(objective, x, dx, rng)
    check_grad(objective, w, dw, rng)
    check_grad(objective, b, db, rng)


def test_conv_backward_without_dx_and_with_workspace():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 10, 9, 1))
    w = rng.standard_normal((3, 3, 1, 4))
    b = rng.standard_normal(4)
    workspace = {}
    y, cache = fast.conv2d_forward(x, w, b, leaky=True, workspace=workspace)
    dy = rng.standard_normal(y.shape)
    none, dw, db = fast.conv2d_backward(dy, cache, need_dx=False, workspace=workspace)
    _, dw_ref, db_ref = fast.conv2d_backward(dy, cache)
    assert none is None
    np.testing.assert_allclose(dw, dw_ref, rtol=1e-12)
    np.testing.assert_allclose(db, db_ref, rtol=1e-12)
    # The workspace buffers are reused: a second forward overwrites the first's output.
    y2, _ = fast.conv2d_forward(x + 1, w, b, leaky=True, workspace=workspace)
    assert np.shares_memory(y, y2)


@pytest.mark.parametrize("case", [CONV_CASES[0], CONV_CASES[2], CONV_CASES[3]])
def test_conv_ignores_stale_workspace_contents(case, monkeypatch):
    """Reused buffers hold the previous call's numbers; fill them with NaN to
    check that every element a call reads was written by that call."""
    monkeypatch.setattr(blocked, "_BACKWARD_BLOCK_BYTES", 1)  # many blocks, halos
    batch, time, freq, c_in, c_out, kernel, dilation = case
    rng = np.random.default_rng(13)
    x = rng.standard_normal((batch, time, freq, c_in))
    w = rng.standard_normal(kernel + (c_in, c_out))
    b = rng.standard_normal(c_out)
    dy = rng.standard_normal((batch, time - (kernel[0] - 1) * dilation[0],
                              freq - (kernel[1] - 1) * dilation[1], c_out))
    y_ref, cache = fast.conv2d_forward(x, w, b, dilation, leaky=True)
    expected = fast.conv2d_backward(dy, cache)
    workspace = {}
    _, cache = fast.conv2d_forward(x, w, b, dilation, leaky=True, workspace=workspace)
    fast.conv2d_backward(dy, cache, workspace=workspace)
    for buffer in workspace.values():
        buffer[...] = np.nan
    y, cache = fast.conv2d_forward(x, w, b, dilation, leaky=True, workspace=workspace)
    np.testing.assert_array_equal(y, y_ref)
    for buffer in workspace.values():
        if not np.shares_memory(buffer, y):
            buffer[...] = np.nan
    grads = fast.conv2d_backward(dy, cache, workspace=workspace)
    for got, want in zip(grads, expected):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_maxpool_cache_is_small():
    x = np.random.default_rng(7).standard_normal((4, 111, 76, 32)).astype(np.float32)
    _, (argmax, *_) = fast.maxpool2d_forward(x, (3, 3))
    assert argmax.dtype == np.uint8 and argmax.shape == (4, 37, 25, 32)




# --------------------------------------------------------------------------
# Equal to the textbook layers
# --------------------------------------------------------------------------

def _random_conv_problem(rng, dtype):
    kernel = tuple(int(k) for k in rng.integers(1, 4, size=2))
    dilation = tuple(int(d) for d in rng.integers(1, 4, size=2))
    time = (kernel[0] - 1) * dilation[0] + int(rng.integers(1, 12))
    freq = (kernel[1] - 1) * dilation[1] + int(rng.integers(1, 12))
    c_in, c_out, batch = (int(v) for v in rng.integers(1, 12, size=3))
    x = rng.standard_normal((batch, time, freq, c_in)).astype(dtype)
    w = rng.standard_normal(kernel + (c_in, c_out)).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype)
    return x, w, b, dilation


@pytest.mark.parametrize("seed", range(12))
def test_conv_equals_reference_on_random_shapes(seed):
    """float64: the two differ only in the order of their sums, so 1e-12."""
    rng = np.random.default_rng(100 + seed)
    x, w, b, dilation = _random_conv_problem(rng, np.float64)
    leaky = bool(seed % 2)
    y, cache = fast.conv2d_forward(x, w, b, dilation, leaky)
    y_ref, cache_ref = layers.conv2d_forward(x, w, b, dilation, leaky)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    for got, want in zip(fast.conv2d_backward(dy, cache), layers.conv2d_backward(dy, cache_ref)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_im2col_conv_equals_reference_for_kernels_nearly_as_wide_as_their_input(seed):
    """svd/fast/im2col.py itself (the choice may prefer another): float64, 1e-12; and it applies
    exactly where fewer than half of the input's bands remain (the ISMIR-2016 network's conv5)."""
    rng = np.random.default_rng(150 + seed)
    kernel = (int(rng.integers(1, 4)), int(rng.integers(4, 9)))
    dilation = (int(rng.integers(1, 3)), 1)
    freq = kernel[1] + int(rng.integers(0, 2))
    x = rng.standard_normal((2, (kernel[0] - 1) * dilation[0] + 4, freq, int(rng.integers(1, 6))))
    w = rng.standard_normal(kernel + (x.shape[3], int(rng.integers(1, 6))))
    b = rng.standard_normal(w.shape[3])
    assert im2col.applies(x, w, dilation)
    leaky = bool(seed % 2)
    y, cache = im2col.conv2d_forward(x, w, b, dilation, leaky)
    y_ref, cache_ref = layers.conv2d_forward(x, w, b, dilation, leaky)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    for need_dx in (True, False):
        got, want = im2col.conv2d_backward(dy, cache, need_dx), layers.conv2d_backward(dy, cache_ref, need_dx)
        for g, r in zip(got, want):
            assert (g is None) == (r is None)
            if g is not None:
                np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12)
    assert im2col.applies(np.zeros((1, 33, 21, 64)), np.zeros((3, 18, 64, 128)))
    assert not im2col.applies(np.zeros((1, 113, 78, 64)), np.zeros((3, 3, 64, 32)))


def test_fast_rectifier_backward_equals_the_textbook_one():
    rng = np.random.default_rng(160)
    y = rng.standard_normal((4, 5, 6, 7)).astype(np.float32)
    y[0, 0, 0] = 0  # the forward's output is 0 exactly where its input was: the slope there is 1/100
    dy = rng.standard_normal(y.shape).astype(np.float32)
    np.testing.assert_array_equal(fast.leaky_relu_backward(dy, y), layers.leaky_relu_backward(dy, y))


@pytest.mark.parametrize("seed", range(6))
def test_pool_and_dense_equal_reference_on_random_shapes(seed):
    rng = np.random.default_rng(200 + seed)
    pool = tuple(int(p) for p in rng.integers(1, 4, size=2))
    stride = pool if seed % 2 else tuple(int(s) for s in rng.integers(1, 4, size=2))
    shape = (int(rng.integers(1, 4)), pool[0] + int(rng.integers(0, 9)), pool[1] + int(rng.integers(0, 9)),
             int(rng.integers(1, 6)))
    x = rng.standard_normal(shape).astype(np.float32)
    y, cache = fast.maxpool2d_forward(x, pool, stride)
    y_ref, cache_ref = layers.maxpool2d_forward(x, pool, stride)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(cache[0], cache_ref[0])
    dy = rng.standard_normal(y.shape).astype(np.float32)
    np.testing.assert_allclose(fast.maxpool2d_backward(dy, cache), layers.maxpool2d_backward(dy, cache_ref),
                               rtol=1e-6, atol=1e-6)  # overlapping windows add in another order
    x2 = rng.standard_normal((int(rng.integers(1, 9)), int(rng.integers(1, 30))))
    w2 = rng.standard_normal((x2.shape[1], int(rng.integers(1, 30))))
    b2 = rng.standard_normal(w2.shape[1])
    y2, cache2 = fast.dense_forward(x2, w2, b2)
    y2_ref, cache2_ref = layers.dense_forward(x2, w2, b2)
    np.testing.assert_allclose(y2, y2_ref, rtol=1e-12, atol=1e-12)
    dy2 = rng.standard_normal(y2.shape)
    for got, want in zip(fast.dense_backward(dy2, cache2), layers.dense_backward(dy2, cache2_ref)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("compiled", [False, True])
def test_whole_network_equals_reference_at_the_papers_shapes(choice, compiled):
    """All layers at the paper's full shapes (batch 3, float32), forward and backward, with
    dropout, with svd/fast's NumPy loops or its compiled parts (Winograd: a few 1e-6):
    logits and every gradient agree to float32 rounding of sums of up to 4928 terms,
    measured relative to each tensor's largest entry (1e-4)."""
    if compiled:
        build.set_enabled(True)
        if build.library() is None:
            pytest.skip(build.unavailable_reason())
    rng = np.random.default_rng(300)
    params = network.init_params(rng)
    x = rng.standard_normal((3,) + excerpt.INPUT_SHAPE).astype(np.float32)
    dlogits = rng.standard_normal(3).astype(np.float32)
    results = {}
    for name in ("reference", "fast"):
        choice(name)
        logits, cache = network.forward(params, x, rng=np.random.default_rng(301), workspace={})
        grads, dx = network.backward(params, cache, dlogits, need_dx=True)
        results[name] = (logits, grads, dx)
    (logits, grads, dx), (logits_ref, grads_ref, dx_ref) = results["fast"], results["reference"]
    np.testing.assert_allclose(logits, logits_ref, rtol=1e-4, atol=1e-4 * np.abs(logits_ref).max())
    for name in grads_ref:
        scale = np.abs(grads_ref[name]).max()
        np.testing.assert_allclose(grads[name], grads_ref[name], rtol=0, atol=1e-4 * scale, err_msg=name)
    np.testing.assert_allclose(dx, dx_ref, rtol=0, atol=1e-4 * np.abs(dx_ref).max())
