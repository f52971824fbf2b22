"""Tests of svd/optim.py: Nesterov momentum like Lasagne's, Adam, learning-rate schedule."""

import numpy as np
import pytest

from svd import optim


def test_nesterov_two_steps_by_hand():
    """mu = 0.9, eta = 0.1, p0 = 1, gradients 1 then 2.
    step 1: v = -0.1 * 1 = -0.1;             p = 1 + 0.9 * (-0.1) - 0.1 * 1 = 0.81
    step 2: v = 0.9 * (-0.1) - 0.1 * 2 = -0.29; p = 0.81 + 0.9 * (-0.29) - 0.1 * 2 = 0.349
    """
    params = {"w": np.array([1.0])}
    velocity = optim.init_velocity(params)
    optim.nesterov_momentum(params, {"w": np.array([1.0])}, velocity, 0.1, momentum=0.9)
    np.testing.assert_allclose(velocity["w"], [-0.1])
    np.testing.assert_allclose(params["w"], [0.81])
    optim.nesterov_momentum(params, {"w": np.array([2.0])}, velocity, 0.1, momentum=0.9)
    np.testing.assert_allclose(velocity["w"], [-0.29])
    np.testing.assert_allclose(params["w"], [0.349])


def test_matches_lasagne_formulation():
    """Lasagne: updated = p - eta g; v' = mu v + updated - p; p' = mu v' + updated."""
    rng = np.random.default_rng(0)
    p, v = rng.standard_normal(5), rng.standard_normal(5)
    params, velocity = {"a": p.copy()}, {"a": v.copy()}
    for _ in range(3):
        g = rng.standard_normal(5)
        updated = p - 0.01 * g
        v = 0.95 * v + updated - p
        p = 0.95 * v + updated
        optim.nesterov_momentum(params, {"a": g}, velocity, 0.01)
    np.testing.assert_allclose(params["a"], p, rtol=1e-12)
    np.testing.assert_allclose(velocity["a"], v, rtol=1e-12)


def test_updates_in_place_and_keeps_float32():
    params = {"w": np.ones((3, 2), np.float32), "b": np.zeros(2, np.float32)}
    arrays = {k: v for k, v in params.items()}
    velocity = optim.init_velocity(params)
    assert all(not v.any() and v.dtype == np.float32 for v in velocity.values())
    grads = {"w": np.full((3, 2), 0.5, np.float32), "b": np.ones(2, np.float32)}
    optim.nesterov_momentum(params, grads, velocity, np.float64(optim.learning_rate(0)))
    for name in params:
        assert params[name] is arrays[name] and params[name].dtype == np.float32
    np.testing.assert_allclose(params["b"], -0.01 - 0.95 * 0.01, rtol=1e-6)


@pytest.mark.parametrize("update, expected", [
    (0, 0.01), (1999, 0.01), (2000, 0.0085), (40000, 0.01 * 0.85 ** 20)])
def test_learning_rate_schedule(update, expected):
    assert optim.learning_rate(update) == pytest.approx(expected, rel=1e-12)


def test_adam_two_steps_by_hand():
    """eta 0.1, beta1 0.9, beta2 0.999, eps 0, p0 = 1, gradients 2 then -1.
    step 1: m = 0.2, v = 0.004; eta_1 = 0.1 sqrt(0.001) / 0.1;  p = 1 - eta_1 * 0.2 / sqrt(0.004) = 0.9
            (the first step moves every parameter by eta, whatever its gradient's size)
    step 2: m = 0.18 - 0.1 = 0.08, v = 0.003996 + 0.001 = 0.004996;
            p = 0.9 - 0.1 sqrt(1 - 0.999^2) / (1 - 0.9^2) * 0.08 / sqrt(0.004996)
    """
    params = {"w": np.array([1.0]), "w.mean": np.array([5.0])}  # a running statistic: no gradient, untouched
    m, v = optim.init_velocity({"w": params["w"]}), optim.init_velocity({"w": params["w"]})
    optim.adam(params, {"w": np.array([2.0])}, m, v, 0.1, step=1, eps=0.0)
    np.testing.assert_allclose([m["w"][0], v["w"][0], params["w"][0]], [0.2, 0.004, 0.9], rtol=1e-12)
    optim.adam(params, {"w": np.array([-1.0])}, m, v, 0.1, step=2, eps=0.0)
    expected = 0.9 - 0.1 * np.sqrt(1 - 0.999 ** 2) / (1 - 0.9 ** 2) * 0.08 / np.sqrt(0.004996)
    np.testing.assert_allclose([m["w"][0], v["w"][0], params["w"][0]], [0.08, 0.004996, expected], rtol=1e-12)
    assert params["w.mean"][0] == 5.0


def test_adam_updates_in_place_and_keeps_float32():
    params = {"w": np.ones((3, 2), np.float32)}
    array = params["w"]
    m, v = optim.init_velocity(params), optim.init_velocity(params)
    optim.adam(params, {"w": np.full((3, 2), 0.5, np.float32)}, m, v, optim.ADAM_LEARNING_RATE, step=1)
    assert params["w"] is array and array.dtype == m["w"].dtype == v["w"].dtype == np.float32
    np.testing.assert_allclose(array, 1 - optim.ADAM_LEARNING_RATE, rtol=1e-6)
