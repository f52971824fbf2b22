"""Tests of the layers, svd/layers.py (the textbook path) and svd/fast/ (the fast CPU path).

Every test runs on each implementation through the dispatch (`nn`): forward
passes against slow, obvious loop implementations, backward passes against
central finite differences in float64 (tests/helpers.py). What only the fast
path has (BLAS calls, blocks, threads, workspaces) is tested in test_fast.py.

Tolerances:
- float32 forward vs a float64 reference: a float32 sum of K products of O(1)
  numbers has a relative rounding error of about K * 6e-8 at worst; K is at
  most a few hundred here, so rtol = atol = 1e-4.
- Finite differences: see tests/helpers.py (relative error < 1e-6).
"""

import numpy as np
import pytest

from helpers import check_grad, naive_conv, naive_maxpool
from svd import backend, layers
from svd.fast import workers


@pytest.fixture(params=["reference", "fast", "fast-one-thread"])
def nn(request):
    """The layer operations of one implementation (the fast one also with sequential blocks)."""
    if request.param != "fast-one-thread":
        yield backend.IMPLEMENTATIONS[request.param]
        return
    old = workers.num_threads()
    workers.set_num_threads(1)
    yield backend.IMPLEMENTATIONS["fast"]
    workers.set_num_threads(old)


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
    (2, 7, 9, 4, 5, (3, 7), (2, 1)),       # nearly as wide as the input (svd/fast/im2col.py), dilated
]


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("leaky", [False, True])
def test_conv_forward_matches_loops(case, leaky, nn):
    batch, time, freq, c_in, c_out, kernel, dilation = case
    rng = np.random.default_rng(hash(case) % 2**32)
    x = rng.standard_normal((batch, time, freq, c_in)).astype(np.float32)
    w = rng.standard_normal(kernel + (c_in, c_out)).astype(np.float32)
    b = rng.standard_normal(c_out).astype(np.float32)
    y, _ = nn.conv2d_forward(x, w, b, dilation, leaky=leaky)
    expected = naive_conv(x.astype(np.float64), w.astype(np.float64), b, dilation)
    if leaky:
        expected = np.maximum(expected, expected / 100)
    assert y.dtype == np.float32 and y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


def test_conv_forward_random_shapes(nn):
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
        y, _ = nn.conv2d_forward(x, w, b, dilation)
        expected = naive_conv(x.astype(np.float64), w.astype(np.float64), b, dilation)
        np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("leaky", [False, True])
def test_conv_gradients(case, leaky, nn):
    batch, time, freq, c_in, c_out, kernel, dilation = case
    rng = np.random.default_rng(hash(case) % 2**32 + 1)
    x = rng.standard_normal((batch, time, freq, c_in))
    w = rng.standard_normal(kernel + (c_in, c_out))
    b = rng.standard_normal(c_out)
    y, cache = nn.conv2d_forward(x, w, b, dilation, leaky=leaky)
    r = rng.standard_normal(y.shape)  # objective: sum(y * r)
    dx, dw, db = nn.conv2d_backward(r, cache)
    objective = lambda: np.sum(nn.conv2d_forward(x, w, b, dilation, leaky=leaky)[0] * r)
    check_grad(objective, x, dx, rng)
    check_grad(objective, w, dw, rng)
    check_grad(objective, b, db, rng)


def test_conv_keeps_float32(nn):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 8, 8, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 5)).astype(np.float32)
    b = np.zeros(5, np.float32)
    y, cache = nn.conv2d_forward(x, w, b, leaky=True)
    dx, dw, db = nn.conv2d_backward(np.ones_like(y), cache)
    assert {a.dtype for a in (y, dx, dw, db)} == {np.dtype(np.float32)}


def test_conv_rejects_too_small_input(nn):
    with pytest.raises(ValueError):
        nn.conv2d_forward(np.ones((1, 2, 5, 1)), np.ones((3, 3, 1, 1)), np.ones(1))


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
def test_maxpool_forward_matches_loops(shape, pool, stride, nn):
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape).astype(np.float32)
    y, _ = nn.maxpool2d_forward(x, pool, stride)
    np.testing.assert_array_equal(y, naive_maxpool(x, pool, stride))  # max is exact


@pytest.mark.parametrize("shape, pool, stride", POOL_CASES)
def test_maxpool_gradients(shape, pool, stride, nn):
    rng = np.random.default_rng(6)
    x = rng.permutation(np.arange(np.prod(shape), dtype=np.float64)).reshape(shape) / 100  # no ties
    y, cache = nn.maxpool2d_forward(x, pool, stride)
    r = rng.standard_normal(y.shape)
    dx = nn.maxpool2d_backward(r, cache)
    objective = lambda: np.sum(nn.maxpool2d_forward(x, pool, stride)[0] * r)
    check_grad(objective, x, dx, rng, n_entries=x.size)


def test_maxpool_ties_send_gradient_to_one_position(nn):
    x = np.ones((1, 6, 6, 2), np.float32)  # every window is one big tie
    y, cache = nn.maxpool2d_forward(x, (3, 3))
    dx = nn.maxpool2d_backward(np.ones_like(y), cache)
    assert dx.sum() == y.size  # each window passes its gradient on exactly once
    assert dx[0, 0, 0, 0] == 1 and dx[0, 3, 3, 1] == 1  # to its first position


# --------------------------------------------------------------------------
# Dense, leaky rectifier, dropout
# --------------------------------------------------------------------------

def test_dense_forward_and_gradients(nn):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((5, 7))
    w = rng.standard_normal((7, 3))
    b = rng.standard_normal(3)
    y, cache = nn.dense_forward(x, w, b)
    np.testing.assert_allclose(y, x @ w + b, rtol=1e-12)
    r = rng.standard_normal(y.shape)
    dx, dw, db = nn.dense_backward(r, cache)
    objective = lambda: np.sum(nn.dense_forward(x, w, b)[0] * r)
    for param, grad in ((x, dx), (w, dw), (b, db)):
        check_grad(objective, param, grad, rng)


def test_leaky_relu_values_and_gradient(nn):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((4, 6))
    y, cache = nn.leaky_relu_forward(x)
    np.testing.assert_array_equal(y, np.where(x > 0, x, x / 100))
    r = rng.standard_normal(y.shape)
    dx = nn.leaky_relu_backward(r, cache)
    check_grad(lambda: np.sum(nn.leaky_relu_forward(x)[0] * r), x, dx, rng, n_entries=x.size)


def test_dropout_with_fixed_mask_and_its_gradient(nn):
    rng = np.random.default_rng(10)
    x = rng.standard_normal((3, 8))
    mask = rng.random(x.shape) >= 0.5
    y, cache = nn.dropout_forward(x, 0.5, mask=mask)
    np.testing.assert_array_equal(y, np.where(mask, 2 * x, 0))
    r = rng.standard_normal(y.shape)
    dx = nn.dropout_backward(r, cache)
    check_grad(lambda: np.sum(nn.dropout_forward(x, 0.5, mask=mask)[0] * r), x, dx, rng,
               n_entries=x.size)


def test_dropout_keeps_half_and_doubles_them(nn):
    x = np.ones((200, 500), np.float32)
    y, (mask, _) = nn.dropout_forward(x, 0.5, rng=np.random.default_rng(11))
    kept = (y != 0).mean()
    assert abs(kept - 0.5) < 0.01  # 100,000 coin flips: standard deviation 0.0016
    assert set(np.unique(y)) == {0.0, 2.0}
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y != 0, mask)


def test_zero_mean_filters_are_a_projection_and_its_gradient_matches_finite_differences():
    rng = np.random.default_rng(11)
    w = rng.normal(size=(3, 3, 2, 5))
    w0 = layers.zero_mean_forward(w)
    np.testing.assert_allclose(w0.sum(axis=(0, 1, 2)), 0, atol=1e-12)      # every filter sums to zero
    np.testing.assert_allclose(layers.zero_mean_forward(w0), w0, atol=1e-15)  # idempotent
    assert np.abs(w0 - w).max() > 0.1  # the random filters were not zero-mean: the test can fail
    upstream = rng.normal(size=w.shape)
    check_grad(lambda: float((layers.zero_mean_forward(w) * upstream).sum()), w,
               layers.zero_mean_backward(upstream), rng)


# --------------------------------------------------------------------------
# Batch normalisation
# --------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(3, 5, 4, 6), (7, 5)])
def test_batchnorm_forward_matches_its_definition_per_channel(shape, nn):
    """Every channel's values over all leading axes standardised, then scaled and shifted;
    the statistics returned are the batch's mean and 1 / sqrt(var + eps)."""
    rng = np.random.default_rng(12)
    x = 3 + 2 * rng.standard_normal(shape)
    gamma, beta = rng.standard_normal(shape[-1]), rng.standard_normal(shape[-1])
    y, _, (mean, inv_std) = nn.batchnorm_forward(x, gamma, beta)
    for c in range(shape[-1]):
        values = x[..., c].ravel()
        centred = values - values.sum() / values.size
        expected_inv_std = 1 / np.sqrt((centred ** 2).sum() / values.size + layers.BN_EPSILON)
        np.testing.assert_allclose(y[..., c].ravel(), gamma[c] * centred * expected_inv_std + beta[c],
                                   rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose([mean[c], inv_std[c]], [values.mean(), expected_inv_std], rtol=1e-12)
    assert nn.batchnorm_forward(x.astype(np.float32), gamma.astype(np.float32),
                                beta.astype(np.float32))[0].dtype == np.float32


@pytest.mark.parametrize("shape", [(3, 5, 4, 6), (7, 5)])
def test_batchnorm_gradients(shape, nn):
    """The batch statistics depend on x: a backward that forgot them fails on dx."""
    rng = np.random.default_rng(13)
    x = 1 + rng.standard_normal(shape)
    gamma, beta = rng.standard_normal(shape[-1]), rng.standard_normal(shape[-1])
    r = rng.standard_normal(shape)
    dx, dgamma, dbeta = nn.batchnorm_backward(r, nn.batchnorm_forward(x, gamma, beta)[1])
    objective = lambda: np.sum(nn.batchnorm_forward(x, gamma, beta)[0] * r)
    for param, grad in ((x, dx), (gamma, dgamma), (beta, dbeta)):
        check_grad(objective, param, grad, rng)
    np.testing.assert_allclose(dx.reshape(-1, shape[-1]).sum(axis=0), 0, atol=1e-10)  # a shift of x changes nothing
