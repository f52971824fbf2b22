"""Tests of svd/fast/batch_norm.py (with svd/fast/batch_norm.c): svd/layers.py's batch normalisation
to float32 rounding, forward and backward, on one worker thread or several, with interchangeable
caches, and for channels far from zero mean (the double sums keep the variance)."""

import numpy as np
import pytest

from svd import layers
from svd.fast import batch_norm, build, workers

pytestmark = pytest.mark.skipif(build.library() is None,
                                reason="no C compiler: the compiled batch normalisation is unavailable")


@pytest.fixture(params=[1, 2, 3])
def threads(request):
    old = workers.num_threads()
    workers.set_num_threads(request.param)
    yield request.param
    workers.set_num_threads(old)


@pytest.mark.parametrize("shape, offset", [((4, 9, 7, 16), 0.0), ((5, 33), 0.0), ((3, 11, 5, 8), 300.0),
                                           ((1, 1, 2, 3), 0.0)])
def test_equals_the_textbook_layer(shape, offset, threads):
    """float32 against the textbook in float64: y and dx within 1e-5 of their largest, the sums within 1e-5."""
    rng = np.random.default_rng(int(offset) + len(shape))
    x = (offset + rng.standard_normal(shape) * np.linspace(0.5, 3, shape[-1])).astype(np.float32)
    gamma, beta = rng.standard_normal(shape[-1]).astype(np.float32), rng.standard_normal(shape[-1]).astype(np.float32)
    y, cache, (mean, inv_std) = batch_norm.batchnorm_forward(x, gamma, beta)
    y_ref, cache_ref, (mean_ref, inv_std_ref) = layers.batchnorm_forward(x.astype(np.float64), gamma, beta)
    assert y.dtype == cache[0].dtype == mean.dtype == inv_std.dtype == np.float32
    np.testing.assert_allclose(y, y_ref, rtol=0, atol=1e-5 * np.abs(y_ref).max())
    np.testing.assert_allclose(mean, mean_ref, rtol=1e-6)
    np.testing.assert_allclose(inv_std, inv_std_ref, rtol=1e-4)  # E[x^2] - E[x]^2 in double at offset 300
    dy = rng.standard_normal(shape).astype(np.float32)
    for got_cache in (cache, tuple(np.asarray(a, np.float32) for a in cache_ref)):  # either forward's cache
        dx, dgamma, dbeta = batch_norm.batchnorm_backward(dy, got_cache)
        dx_ref, dgamma_ref, dbeta_ref = layers.batchnorm_backward(dy.astype(np.float64), cache_ref)
        assert dx.dtype == dgamma.dtype == dbeta.dtype == np.float32
        # dx's terms are of the size of gamma * inv_std * dy, and cancel (to 0 for two rows)
        np.testing.assert_allclose(dx, dx_ref, rtol=0, atol=1e-5 * np.abs(dy).max() * np.abs(gamma * inv_std_ref).max())
        np.testing.assert_allclose(dgamma, dgamma_ref, rtol=0, atol=1e-5 * np.abs(dgamma_ref).max())
        np.testing.assert_allclose(dbeta, dbeta_ref, rtol=0, atol=1e-5 * np.abs(dbeta_ref).max())


def test_applies_to_float32_only():
    assert batch_norm.applies(np.zeros((2, 3), np.float32))
    assert not batch_norm.applies(np.zeros((2, 3)))
