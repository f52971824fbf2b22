"""Tests of svd/fast/single_channel_conv.py (with svd/fast/single_channel_conv.c): the
convolution of a one-channel input and its dw, db equal the textbook layers of
svd/layers.py, for any kernel, dilation and channel count (also counts that are no
multiple of the C code's 16-channel chunks), and svd/fast still gives dx when one is
wanted.

Tolerance: float32 sums of 9 products (forward) and of up to a few thousand (dw, db)
against a float64 reference: 1e-5 of the largest value.
"""

import numpy as np
import pytest

from helpers import float32_conv_and_reference
from svd import fast, layers
from svd.fast import build, choice, single_channel_conv

pytestmark = pytest.mark.skipif(build.library() is None,
                                reason="no C compiler: the compiled single-channel conv is unavailable")


def _assert_close(got, want, what):
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max(), err_msg=what)


@pytest.mark.parametrize("seed", range(8))
def test_convolution_and_weight_gradients_equal_reference(seed):
    rng = np.random.default_rng(50 + seed)
    kernel = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    dilation = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    c_out = int(rng.choice([1, 5, 16, 37, 64]))
    shape = (int(rng.integers(1, 4)), (kernel[0] - 1) * dilation[0] + int(rng.integers(1, 12)),
             (kernel[1] - 1) * dilation[1] + int(rng.integers(1, 12)), 1)
    x, w = rng.standard_normal(shape), rng.standard_normal(kernel + (1, c_out))
    b = rng.standard_normal(c_out)
    for name, got, want in float32_conv_and_reference(single_channel_conv, x, w, b, dilation,
                                                      leaky=bool(seed % 2), rng=rng,
                                                      need_dx=False):
        _assert_close(got, want, name)


def test_fast_uses_it_without_dx_and_computes_dx_itself_when_asked(monkeypatch):
    monkeypatch.setattr(choice, "_measuring", False)  # the fixed order: which candidates apply, first
    calls = []
    real = single_channel_conv.conv2d_backward
    monkeypatch.setattr(single_channel_conv, "conv2d_backward",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 9, 10, 1))
    w, b = rng.standard_normal((3, 3, 1, 20)), rng.standard_normal(20)
    y, cache = fast.conv2d_forward(x.astype(np.float32), w.astype(np.float32),
                                   b.astype(np.float32), leaky=True)
    y_ref, cache_ref = layers.conv2d_forward(x, w, b, leaky=True)
    dy = rng.standard_normal(y.shape)
    want = layers.conv2d_backward(dy, cache_ref)
    for need_dx, expected_calls in ((False, 1), (True, 0)):
        calls.clear()
        got = fast.conv2d_backward(dy.astype(np.float32), cache, need_dx=need_dx)
        assert len(calls) == expected_calls
        assert (got[0] is None) == (not need_dx)
        for name, g, r in zip(("dx", "dw", "db"), got, want):
            if g is not None:
                _assert_close(g, r, name)


def test_asking_it_for_dx_is_an_error():
    x = np.zeros((1, 5, 5, 1), np.float32)
    w = np.zeros((3, 3, 1, 2), np.float32)
    _, cache = single_channel_conv.conv2d_forward(x, w, np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="no dx"):
        single_channel_conv.conv2d_backward(np.zeros((1, 3, 3, 2), np.float32), cache, need_dx=True)
