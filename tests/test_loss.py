"""Tests of svd/loss.py: values, numerical stability, gradient."""

import numpy as np
import pytest

from svd import loss


def naive_cross_entropy(z, t):
    """The textbook form, -t log p - (1-t) log(1-p); fine for moderate |z| in float64."""
    p = 1 / (1 + np.exp(-z))
    return np.mean(-t * np.log(p) - (1 - t) * np.log(1 - p))


def test_loss_matches_textbook_formula():
    rng = np.random.default_rng(0)
    z = rng.standard_normal(16) * 3
    t = rng.random(16)
    value, _ = loss.sigmoid_cross_entropy_forward(z, t)
    np.testing.assert_allclose(value, naive_cross_entropy(z, t), rtol=1e-12)


def test_sigmoid_values_and_no_overflow():
    z = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0], np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        p = loss.sigmoid(z)
        targets = np.array([0, 0, 0.5, 1, 1], np.float32)
        value, cache = loss.sigmoid_cross_entropy_forward(z, targets)
        grad = loss.sigmoid_cross_entropy_backward(cache)
    assert p.dtype == np.float32
    expected = [0, 1 / (1 + np.exp(30.0)), 0.5, 1 / (1 + np.exp(-30.0)), 1]
    np.testing.assert_allclose(p, expected, rtol=1e-6)
    assert np.isfinite(value) and np.all(np.isfinite(grad))


def test_loss_is_stable_for_large_logits():
    z = np.array([1000.0, -1000.0])
    value, _ = loss.sigmoid_cross_entropy_forward(z, np.array([0.0, 0.0]))
    assert value == pytest.approx(500.0)  # (1000 + 0) / 2: exact limit of the loss
    value, _ = loss.sigmoid_cross_entropy_forward(z, np.array([1.0, 0.0]))
    assert value == pytest.approx(0.0, abs=1e-300)


def test_gradient_formula_and_finite_differences():
    """Central differences in float64, step 1e-6: the loss is smooth, so the
    truncation error is ~1e-12 and the rounding error ~1e-10; relative error < 1e-6."""
    rng = np.random.default_rng(1)
    z = rng.standard_normal(8) * 2
    t = rng.random(8)
    _, cache = loss.sigmoid_cross_entropy_forward(z, t)
    grad = loss.sigmoid_cross_entropy_backward(cache)
    np.testing.assert_allclose(grad, (1 / (1 + np.exp(-z)) - t) / len(z), rtol=1e-12)
    step = 1e-6
    for i in range(len(z)):
        plus, minus = z.copy(), z.copy()
        plus[i] += step
        minus[i] -= step
        numeric = (loss.sigmoid_cross_entropy_forward(plus, t)[0]
                   - loss.sigmoid_cross_entropy_forward(minus, t)[0]) / (2 * step)
        assert abs(numeric - grad[i]) / abs(grad).max() < 1e-6


def test_smoothed_targets_are_minimised_at_their_logit():
    """With target 0.98 (Sec. 3.3 smoothing) the loss is smallest, and its gradient zero,
    at z = log(0.98 / 0.02), not at z = infinity."""
    t = np.array([0.98, 0.02])
    z = np.log(t / (1 - t))
    _, cache = loss.sigmoid_cross_entropy_forward(z, t)
    np.testing.assert_allclose(loss.sigmoid_cross_entropy_backward(cache), 0, atol=1e-15)
    at_optimum = loss.sigmoid_cross_entropy_forward(z, t)[0]
    assert at_optimum < loss.sigmoid_cross_entropy_forward(z * 1.5, t)[0]


def test_float32_stays_float32():
    z = np.linspace(-5, 5, 7).astype(np.float32)
    value, cache = loss.sigmoid_cross_entropy_forward(z, np.full(7, 0.98))
    assert value.dtype == np.float32
    assert loss.sigmoid_cross_entropy_backward(cache).dtype == np.float32
