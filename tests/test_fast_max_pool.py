"""Tests of svd/fast/max_pool.py (with svd/fast/max_pool.c) through svd/fast: the same maxima
and argmax positions (first maximum on ties) as svd/layers.py, exactly, and the same
gradient, for pooled and overlapping windows; stale buffer contents never leak out."""

import numpy as np
import pytest

from svd import fast, layers
from svd.fast import build, choice, max_pool

pytestmark = pytest.mark.skipif(build.library() is None,
                                reason="no C compiler: the compiled max-pool is unavailable")


@pytest.mark.parametrize("seed", range(8))
def test_pooling_equals_reference_with_ties(seed):
    rng = np.random.default_rng(70 + seed)
    pool = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    stride = pool if seed % 2 else (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    shape = (int(rng.integers(1, 4)), pool[0] + int(rng.integers(0, 9)),
             pool[1] + int(rng.integers(0, 9)), int(rng.choice([1, 3, 16, 35])))
    x = rng.integers(-2, 3, size=shape).astype(np.float32)  # few values: many ties
    y, cache = fast.maxpool2d_forward(x, pool, stride)
    y_ref, cache_ref = layers.maxpool2d_forward(x, pool, stride)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(cache[0], cache_ref[0])  # the first maximum wins
    dy = rng.standard_normal(y.shape).astype(np.float32)
    workspace = {"dx": np.full(shape, np.nan, np.float32)}  # stale contents
    dx = fast.maxpool2d_backward(dy, cache, workspace)
    # overlapping windows add their gradients in another order: float32 rounding
    np.testing.assert_allclose(dx, layers.maxpool2d_backward(dy, cache_ref), rtol=1e-6, atol=1e-6)


def test_fast_uses_it_for_float32_only(monkeypatch):
    monkeypatch.setattr(choice, "_measuring", False)  # the fixed order: which candidates apply, first
    calls = []
    real = max_pool.maxpool2d_forward
    monkeypatch.setattr(max_pool, "maxpool2d_forward", lambda *a: calls.append(1) or real(*a))
    for dtype, expected in ((np.float32, 1), (np.float64, 0)):
        calls.clear()
        fast.maxpool2d_forward(np.zeros((1, 6, 6, 2), dtype), (3, 3))
        assert len(calls) == expected
