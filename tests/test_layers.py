"""Tests of svd/layers.py (and the BLAS/threads primitives of svd/backend.py it runs on).

Forward passes are compared with slow, obvious loop implementations; backward
passes with central finite differences in float64.

Tolerances:
- float32 forward vs a float64 reference: a float32 sum of K products of O(1)
  numbers has a relative rounding error of about K * 6e-8 at worst; K is at
  most a few hundred here, so rtol = atol = 1e-4.
- Finite differences in float64 with step 1e-6: every layer here is linear or
  piecewise linear (or smooth, for the loss), so the truncation error is zero
  away from kinks (the random inputs keep a distance from them) and the
  rounding error is ~1e-16 * |f| / 1e-6 ~ 1e-9 relative. A real bug gives an
  O(1) error, so we require a relative error below 1e-6.
"""

import numpy as np
import pytest

from svd import backend, layers

FD_STEP = 1e-6
FD_RTOL = 1e-6


# --------------------------------------------------------------------------
# References and helpers
# --------------------------------------------------------------------------

def naive_conv(x, w, b, dilation=(1, 1)):
    """Valid conv by explicit loops over output positions (float64)."""
    batch, time, freq, _ = x.shape
    kernel_time, kernel_freq, _, c_out = w.shape
    d_time, d_freq = dilation
    time_out = time - (kernel_time - 1) * d_time
    freq_out = freq - (kernel_freq - 1) * d_freq
    y = np.zeros((batch, time_out, freq_out, c_out))
    for n in range(batch):
        for t in range(time_out):
            for f in range(freq_out):
                patch = x[n, t:t + kernel_time * d_time:d_time, f:f + kernel_freq * d_freq:d_freq]
                y[n, t, f] = np.einsum("ijc,ijco->o", patch, w) + b
    return y


def naive_maxpool(x, pool, stride):
    batch, time, freq, c = x.shape
    time_out = (time - pool[0]) // stride[0] + 1
    freq_out = (freq - pool[1]) // stride[1] + 1
    y = np.zeros((batch, time_out, freq_out, c), dtype=x.dtype)
    for t in range(time_out):
        for f in range(freq_out):
            t0, f0 = t * stride[0], f * stride[1]
            window = x[:, t0:t0 + pool[0], f0:f0 + pool[1]]
            y[:, t, f] = window.max(axis=(1, 2))
    return y


def numeric_grad(f, x, indices):
    """Central differences of scalar f() w.r.t. x at the given flat indices
    (x is modified in place and restored)."""
    flat = x.reshape(-1)
    grads = []
    for i in indices:
        old = flat[i]
        flat[i] = old + FD_STEP
        f_plus = f()
        flat[i] = old - FD_STEP
        f_minus = f()
        flat[i] = old
        grads.append((f_plus - f_minus) / (2 * FD_STEP))
    return np.array(grads)


def check_grad(f, x, analytic, rng, n_entries=40):
    """Compare analytic gradient of f w.r.t. x on up to n_entries random entries."""
    indices = rng.choice(x.size, size=min(n_entries, x.size), replace=False)
    numeric = numeric_grad(f, x, indices)
    picked = analytic.reshape(-1)[indices]
    scale = max(np.abs(numeric).max(), np.abs(picked).max(), 1e-12)
    error = np.abs(numeric - picked).max() / scale
    assert error < FD_RTOL, f"relative gradient error {error:.2e}"


@pytest.fixture(params=[2, 1], ids=["threads", "one-thread"])
def threads(request):
    """Run a test with the default worker threads and with sequential blocks."""
    old = backend.num_threads()
    if request.param > 1 and old == 1:
        pytest.skip("no GIL-free BLAS found: parallel blocks are off on this machine")
    backend.set_num_threads(request.param if request.param == 1 else old)
    yield
    backend.set_num_threads(old)


# --------------------------------------------------------------------------
# backend.gemm
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
    result = backend.gemm(a, b, out, trans_a=trans_a, trans_b=trans_b)
    assert result is out
    np.testing.assert_allclose(out, expected, rtol=1e-5)
    out[...] = np.nan  # beta=0 must ignore the old contents, even NaN
    backend.gemm(a, b, out, beta=0.0, trans_a=trans_a, trans_b=trans_b)
    np.testing.assert_allclose(out, (a.T if trans_a else a) @ (b.T if trans_b else b), rtol=1e-5)


def test_gemm_writes_into_row_slices_in_place():
    rng = np.random.default_rng(1)
    big = np.zeros((10, 4), np.float32)
    a = rng.standard_normal((10, 6)).astype(np.float32)
    w = rng.standard_normal((6, 4)).astype(np.float32)
    backend.gemm(a[2:7], w, big[3:8])
    np.testing.assert_allclose(big[3:8], a[2:7] @ w, rtol=1e-5)
    assert not big[:3].any() and not big[8:].any()


def test_conv_with_scipy_blas_fallback(monkeypatch):
    """Without a GIL-free cblas (another platform), gemm uses SciPy's wrappers
    and the blocks run one after another; results must not change."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 9, 8, 5)).astype(np.float32)
    w = rng.standard_normal((3, 3, 5, 4)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    y_ref, cache = layers.conv2d_forward(x, w, b, leaky=True)
    grads_ref = layers.conv2d_backward(np.ones_like(y_ref), cache)
    old_threads = backend.num_threads()
    backend.set_num_threads(1)
    monkeypatch.setattr(backend, "_CBLAS_GEMM", {})
    try:
        y, cache = layers.conv2d_forward(x, w, b, leaky=True)
        grads = layers.conv2d_backward(np.ones_like(y), cache)
    finally:
        backend.set_num_threads(old_threads)
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
    for got, want in zip(grads, grads_ref):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_gemm_rejects_bad_shapes():
    with pytest.raises(ValueError):
        backend.gemm(np.ones((2, 3), np.float32), np.ones((4, 2), np.float32),
                     np.ones((2, 2), np.float32))


# --------------------------------------------------------------------------
# Convolution
# --------------------------------------------------------------------------

CONV_CASES = [  # batch, time, freq, c_in, c_out, kernel, dilation
    (2, 9, 8, 5, 6, (3, 3), (1, 1)),
    (3, 12, 10, 7, 4, (2, 3), (2, 1)),     # non-square kernel, time dilation
    (2, 11, 13, 6, 5, (3, 2), (3, 2)),     # dilation on both axes
    (1, 7, 6, 1, 8, (3, 3), (1, 1)),       # one input channel: the im2col path
    (2, 8, 9, 3, 5, (3, 3), (2, 1)),       # few input channels, dilated, im2col path
    (2, 5, 4, 9, 3, (1, 1), (1, 1)),       # 1x1 kernel
]


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("leaky", [False, True])
def test_conv_forward_matches_loops(case, leaky, threads):
    batch, time, freq, c_in, c_out, kernel, dilation = case
    rng = np.random.default_rng(hash(case) % 2**32)
    x = rng.standard_normal((batch, time, freq, c_in)).astype(np.float32)
    w = rng.standard_normal(kernel + (c_in, c_out)).astype(np.float32)
    b = rng.standard_normal(c_out).astype(np.float32)
    y, _ = layers.conv2d_forward(x, w, b, dilation, leaky=leaky)
    expected = naive_conv(x.astype(np.float64), w.astype(np.float64), b, dilation)
    if leaky:
        expected = np.maximum(expected, expected / 100)
    assert y.dtype == np.float32 and y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


def test_conv_forward_random_shapes():
    rng = np.random.default_rng(42)
    for _ in range(5):
        kernel = tuple(rng.integers(1, 4, size=2))
        dilation = tuple(rng.integers(1, 3, size=2))
        time = (kernel[0] - 1) * dilation[0] + rng.integers(1, 6)
        freq = (kernel[1] - 1) * dilation[1] + rng.integers(1, 6)
        c_in, c_out, batch = rng.integers(1, 9), rng.integers(1, 9), rng.integers(1, 4)
        x = rng.standard_normal((batch, time, freq, c_in)).astype(np.float32)
        w = rng.standard_normal(kernel + (c_in, c_out)).astype(np.float32)
        b = rng.standard_normal(c_out).astype(np.float32)
        y, _ = layers.conv2d_forward(x, w, b, dilation)
        expected = naive_conv(x.astype(np.float64), w.astype(np.float64), b, dilation)
        np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("leaky", [False, True])
def test_conv_gradients(case, leaky, threads):
    batch, time, freq, c_in, c_out, kernel, dilation = case
    rng = np.random.default_rng(hash(case) % 2**32 + 1)
    x = rng.standard_normal((batch, time, freq, c_in))
    w = rng.standard_normal(kernel + (c_in, c_out))
    b = rng.standard_normal(c_out)
    y, cache = layers.conv2d_forward(x, w, b, dilation, leaky=leaky)
    r = rng.standard_normal(y.shape)  # objective: sum(y * r)
    dx, dw, db = layers.conv2d_backward(r, cache)
    objective = lambda: np.sum(layers.conv2d_forward(x, w, b, dilation, leaky=leaky)[0] * r)
    check_grad(objective, x, dx, rng)
    check_grad(objective, w, dw, rng)
    check_grad(objective, b, db, rng)


@pytest.mark.parametrize("case", [CONV_CASES[0], CONV_CASES[2], CONV_CASES[4]])
def test_conv_with_one_line_blocks(case, monkeypatch):
    """Blocks of a single line: many blocks per example, halos that cross blocks
    and examples (the default block size puts these small inputs in one block)."""
    monkeypatch.setattr(layers, "_FORWARD_BLOCK_BYTES", 1)
    monkeypatch.setattr(layers, "_BACKWARD_BLOCK_BYTES", 1)
    batch, time, freq, c_in, c_out, kernel, dilation = case
    rng = np.random.default_rng(12)
    x = rng.standard_normal((batch, time, freq, c_in))
    w = rng.standard_normal(kernel + (c_in, c_out))
    b = rng.standard_normal(c_out)
    y, cache = layers.conv2d_forward(x, w, b, dilation, leaky=True)
    z = naive_conv(x, w, b, dilation)
    np.testing.assert_allclose(y, np.maximum(z, z / 100), rtol=1e-12, atol=1e-12)
    r = rng.standard_normal(y.shape)
    dx, dw, db = layers.conv2d_backward(r, cache)
    objective = lambda: np.sum(layers.conv2d_forward(x, w, b, dilation, leaky=True)[0] * r)
    check_grad(objective, x, dx, rng)
    check_grad(objective, w, dw, rng)
    check_grad(objective, b, db, rng)


def test_conv_backward_without_dx_and_with_workspace():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 10, 9, 1))
    w = rng.standard_normal((3, 3, 1, 4))
    b = rng.standard_normal(4)
    workspace = {}
    y, cache = layers.conv2d_forward(x, w, b, leaky=True, workspace=workspace)
    dy = rng.standard_normal(y.shape)
    none, dw, db = layers.conv2d_backward(dy, cache, need_dx=False, workspace=workspace)
    _, dw_ref, db_ref = layers.conv2d_backward(dy, cache)
    assert none is None
    np.testing.assert_allclose(dw, dw_ref, rtol=1e-12)
    np.testing.assert_allclose(db, db_ref, rtol=1e-12)
    # The workspace buffers are reused: a second forward overwrites the first's output.
    y2, _ = layers.conv2d_forward(x + 1, w, b, leaky=True, workspace=workspace)
    assert np.shares_memory(y, y2)


@pytest.mark.parametrize("case", [CONV_CASES[0], CONV_CASES[3], CONV_CASES[4]])
def test_conv_ignores_stale_workspace_contents(case, monkeypatch):
    """Reused buffers hold the previous call's numbers; fill them with NaN to
    check that every element a call reads was written by that call."""
    monkeypatch.setattr(layers, "_BACKWARD_BLOCK_BYTES", 1)  # many blocks, halos
    batch, time, freq, c_in, c_out, kernel, dilation = case
    rng = np.random.default_rng(13)
    x = rng.standard_normal((batch, time, freq, c_in))
    w = rng.standard_normal(kernel + (c_in, c_out))
    b = rng.standard_normal(c_out)
    dy = rng.standard_normal((batch, time - (kernel[0] - 1) * dilation[0],
                              freq - (kernel[1] - 1) * dilation[1], c_out))
    y_ref, cache = layers.conv2d_forward(x, w, b, dilation, leaky=True)
    expected = layers.conv2d_backward(dy, cache)
    workspace = {}
    _, cache = layers.conv2d_forward(x, w, b, dilation, leaky=True, workspace=workspace)
    layers.conv2d_backward(dy, cache, workspace=workspace)
    for buffer in workspace.values():
        buffer[...] = np.nan
    y, cache = layers.conv2d_forward(x, w, b, dilation, leaky=True, workspace=workspace)
    np.testing.assert_array_equal(y, y_ref)
    for buffer in workspace.values():
        if not np.shares_memory(buffer, y):
            buffer[...] = np.nan
    grads = layers.conv2d_backward(dy, cache, workspace=workspace)
    for got, want in zip(grads, expected):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_conv_keeps_float32():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 8, 8, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 5)).astype(np.float32)
    b = np.zeros(5, np.float32)
    y, cache = layers.conv2d_forward(x, w, b, leaky=True)
    dx, dw, db = layers.conv2d_backward(np.ones_like(y), cache)
    assert {a.dtype for a in (y, dx, dw, db)} == {np.dtype(np.float32)}


def test_conv_rejects_too_small_input():
    with pytest.raises(ValueError):
        layers.conv2d_forward(np.ones((1, 2, 5, 1)), np.ones((3, 3, 1, 1)), np.ones(1))


# --------------------------------------------------------------------------
# Max-pooling
# --------------------------------------------------------------------------

POOL_CASES = [  # shape, pool, stride
    ((2, 9, 12, 3), (3, 3), (3, 3)),
    ((3, 11, 8, 2), (3, 3), (3, 3)),       # floor: partial windows dropped
    ((2, 7, 10, 4), (2, 3), (2, 3)),
    ((2, 8, 9, 3), (3, 3), (1, 3)),        # stride 1 in time (overlapping windows)
    ((1, 6, 7, 2), (2, 2), (1, 1)),
]


@pytest.mark.parametrize("shape, pool, stride", POOL_CASES)
def test_maxpool_forward_matches_loops(shape, pool, stride, threads):
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape).astype(np.float32)
    y, _ = layers.maxpool2d_forward(x, pool, stride)
    np.testing.assert_array_equal(y, naive_maxpool(x, pool, stride))  # max is exact


@pytest.mark.parametrize("shape, pool, stride", POOL_CASES)
def test_maxpool_gradients(shape, pool, stride, threads):
    rng = np.random.default_rng(6)
    x = rng.permutation(np.arange(np.prod(shape), dtype=np.float64)).reshape(shape) / 100  # no ties
    y, cache = layers.maxpool2d_forward(x, pool, stride)
    r = rng.standard_normal(y.shape)
    dx = layers.maxpool2d_backward(r, cache)
    objective = lambda: np.sum(layers.maxpool2d_forward(x, pool, stride)[0] * r)
    check_grad(objective, x, dx, rng, n_entries=x.size)


def test_maxpool_ties_send_gradient_to_one_position():
    x = np.ones((1, 6, 6, 2), np.float32)  # every window is one big tie
    y, cache = layers.maxpool2d_forward(x, (3, 3))
    dx = layers.maxpool2d_backward(np.ones_like(y), cache)
    assert dx.sum() == y.size  # each window passes its gradient on exactly once
    assert dx[0, 0, 0, 0] == 1 and dx[0, 3, 3, 1] == 1  # to its first position


def test_maxpool_cache_is_small():
    x = np.random.default_rng(7).standard_normal((4, 111, 76, 32)).astype(np.float32)
    _, (argmax, *_) = layers.maxpool2d_forward(x, (3, 3))
    assert argmax.dtype == np.uint8 and argmax.shape == (4, 37, 25, 32)


# --------------------------------------------------------------------------
# Dense, leaky rectifier, dropout
# --------------------------------------------------------------------------

def test_dense_forward_and_gradients():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((5, 7))
    w = rng.standard_normal((7, 3))
    b = rng.standard_normal(3)
    y, cache = layers.dense_forward(x, w, b)
    np.testing.assert_allclose(y, x @ w + b, rtol=1e-12)
    r = rng.standard_normal(y.shape)
    dx, dw, db = layers.dense_backward(r, cache)
    objective = lambda: np.sum(layers.dense_forward(x, w, b)[0] * r)
    for param, grad in ((x, dx), (w, dw), (b, db)):
        check_grad(objective, param, grad, rng)


def test_leaky_relu_values_and_gradient():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((4, 6))
    y, cache = layers.leaky_relu_forward(x)
    np.testing.assert_array_equal(y, np.where(x > 0, x, x / 100))
    r = rng.standard_normal(y.shape)
    dx = layers.leaky_relu_backward(r, cache)
    check_grad(lambda: np.sum(layers.leaky_relu_forward(x)[0] * r), x, dx, rng, n_entries=x.size)


def test_dropout_with_fixed_mask_and_its_gradient():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((3, 8))
    mask = rng.random(x.shape) >= 0.5
    y, cache = layers.dropout_forward(x, 0.5, mask=mask)
    np.testing.assert_array_equal(y, np.where(mask, 2 * x, 0))
    r = rng.standard_normal(y.shape)
    dx = layers.dropout_backward(r, cache)
    check_grad(lambda: np.sum(layers.dropout_forward(x, 0.5, mask=mask)[0] * r), x, dx, rng,
               n_entries=x.size)


def test_dropout_keeps_half_and_doubles_them():
    x = np.ones((200, 500), np.float32)
    y, (mask, _) = layers.dropout_forward(x, 0.5, rng=np.random.default_rng(11))
    kept = (y != 0).mean()
    assert abs(kept - 0.5) < 0.01  # 100,000 coin flips: standard deviation 0.0016
    assert set(np.unique(y)) == {0.0, 2.0}
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y != 0, mask)
