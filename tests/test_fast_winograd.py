"""Tests of svd/fast/winograd.py (with svd/fast/winograd.c): the transforms compute a
correlation, tiles cover every output once, and the convolution and its gradients equal
the textbook layers of svd/layers.py on random shapes, dilations and partial tiles.

Tolerance: float32 Winograd F(4x4, 3x3) against a float64 reference. The transforms
multiply by up to 8 (A^T) and 5 (B^T) and divide by 6 and 24 (G), so rounding errors
are larger than a direct float32 sum's: measured a few 1e-6 of the largest value
(tests below allow 2e-5 of it; the direct convolution is within 1e-7).
"""

import numpy as np
import pytest

from helpers import float32_conv_and_reference
from svd import fast
from svd.fast import choice, winograd, workers

pytestmark = pytest.mark.skipif(not winograd.available(),
                                reason="no C compiler or ctypes BLAS: Winograd unavailable")


def _origin(a, dilation):
    return (a // dilation) * winograd.TILE * dilation + a % dilation


def _random_problem(rng):
    batch = int(rng.integers(1, 4))
    c_in, c_out = int(rng.integers(2, 41)), int(rng.integers(1, 41))
    dilation = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    time = 2 * dilation[0] + int(rng.integers(1, 14))  # 1..13 outputs: full and partial tiles
    freq = 2 * dilation[1] + int(rng.integers(1, 14))
    x = rng.standard_normal((batch, time, freq, c_in))
    w = rng.standard_normal((3, 3, c_in, c_out)) / np.sqrt(9 * c_in)
    b = rng.standard_normal(c_out)
    return x, w, b, dilation


def _assert_close(got, want, what):
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-5 * np.abs(want).max(), err_msg=what)


def test_one_dimensional_transforms_compute_a_correlation():
    """A^T [(G g) * (B^T d)] = the 4 outputs of correlating 6 inputs d with 3 taps g (float64)."""
    rng = np.random.default_rng(0)
    for _ in range(20):
        d, g = rng.standard_normal(winograd.SPAN), rng.standard_normal(3)
        want = [d[i:i + 3] @ g for i in range(winograd.TILE)]
        np.testing.assert_allclose(winograd.A_T @ ((winograd.G @ g) * (winograd.B_T @ d)), want,
                                   rtol=0, atol=1e-12)


@pytest.mark.parametrize("dilation", [1, 2, 3, 9])
def test_tiles_cover_every_output_once(dilation):
    for n_out in range(1, 50):
        tiles = winograd.tile_count(n_out, dilation)
        covered = [_origin(a, dilation) + u * dilation
                   for a in range(tiles) for u in range(winograd.TILE)]
        assert len(set(covered)) == len(covered)  # no output twice
        assert set(range(n_out)) <= set(covered)  # every output
        assert _origin(tiles - 1, dilation) < n_out <= _origin(tiles, dilation)  # no empty tile


def test_weight_gradient_is_the_adjoint_of_the_weight_transform():
    """<G w G^T, dU> = <w, G^T dU G>: weight_gradient is the chain rule through transform_weights."""
    rng = np.random.default_rng(1)
    w = rng.standard_normal((3, 3, 4, 5)).astype(np.float32)
    du = rng.standard_normal((winograd.POSITIONS, 4, 5)).astype(np.float32)
    lhs = np.sum(winograd.transform_weights(w).astype(np.float64) * du)
    rhs = np.sum(w.astype(np.float64) * winograd.weight_gradient(du))
    assert abs(lhs - rhs) < 1e-5 * np.abs(du).sum()


@pytest.mark.parametrize("seed", range(10))
def test_convolution_and_gradients_equal_reference_on_random_shapes(seed):
    rng = np.random.default_rng(10 + seed)
    x, w, b, dilation = _random_problem(rng)
    for name, got, want in float32_conv_and_reference(winograd, x, w, b, dilation,
                                                      leaky=bool(seed % 2), rng=rng):
        _assert_close(got, want, name)


def test_error_at_the_papers_conv2_shapes():
    """conv2 (64 -> 32 channels, 113 x 78 inputs): the error stays at a few 1e-6 of the
    largest value, for the output and all three gradients (BENCHMARKS.md quotes it)."""
    rng = np.random.default_rng(2)
    x = np.abs(rng.standard_normal((2, 113, 78, 64)))  # rectified inputs, as after conv1
    w = rng.standard_normal((3, 3, 64, 32)) * np.sqrt(2 / (9 * 64))
    for name, got, want in float32_conv_and_reference(winograd, x, w, np.zeros(32), (1, 1),
                                                      leaky=True, rng=rng):
        assert np.abs(got - want).max() < 1e-5 * np.abs(want).max(), name


def test_stale_workspace_contents_never_reach_the_results():
    """Every output element is written: buffers of a workspace filled with NaN between calls."""
    rng = np.random.default_rng(3)
    x, w, b, dilation = (a.astype(np.float32) if isinstance(a, np.ndarray) else a
                         for a in _random_problem(rng))
    fresh_y, cache = winograd.conv2d_forward(x, w, b, dilation, True)
    fresh = (fresh_y.copy(),) + winograd.conv2d_backward(np.ones_like(fresh_y), cache)
    workspace = {}
    winograd.conv2d_forward(x, w, b, dilation, True, workspace)
    for buffer in workspace.values():
        buffer[...] = np.nan
    y, cache = winograd.conv2d_forward(x, w, b, dilation, True, workspace)
    y = y.copy()
    for name, buffer in workspace.items():
        if name != "y":  # the forward's output is in the cache: the backward reads it
            buffer[...] = np.nan
    got = (y,) + winograd.conv2d_backward(np.ones_like(y), cache, workspace=workspace)
    for g, f in zip(got, fresh):
        np.testing.assert_array_equal(g, f)


def test_one_worker_equals_several():
    rng = np.random.default_rng(4)
    x, w, b, dilation = (a.astype(np.float32) if isinstance(a, np.ndarray) else a
                         for a in _random_problem(rng))
    results = []
    old = workers.num_threads()
    for threads in (1, 2):
        workers.set_num_threads(threads)
        try:
            y, cache = winograd.conv2d_forward(x, w, b, dilation, False)
            results.append((y.copy(),) + winograd.conv2d_backward(np.ones_like(y), cache))
        finally:
            workers.set_num_threads(old)
    for one, two in zip(*results):  # dw, db are summed per worker: another order of the sums
        _assert_close(one, two, "one worker against two")


def test_fast_sends_float32_3x3_convolutions_here(monkeypatch):
    monkeypatch.setattr(choice, "_measuring", False)  # the fixed order: which candidates apply, first
    calls = []
    real = winograd.conv2d_forward
    monkeypatch.setattr(winograd, "conv2d_forward", lambda *a, **k: calls.append(1) or real(*a, **k))
    rng = np.random.default_rng(5)
    for dtype, kernel, c_in, expected in [(np.float32, (3, 3), 4, 1), (np.float64, (3, 3), 4, 0),
                                          (np.float32, (3, 2), 4, 0), (np.float32, (3, 3), 1, 0)]:
        calls.clear()
        x = rng.standard_normal((1, 8, 8, c_in)).astype(dtype)
        w = rng.standard_normal(kernel + (c_in, 3)).astype(dtype)
        fast.conv2d_forward(x, w, np.zeros(3, dtype))
        assert len(calls) == expected, (dtype, kernel, c_in)
