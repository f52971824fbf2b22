"""Tests of svd/network2016.py: shapes, gradients, the running statistics, folding, the whole-song form, learning."""

import numpy as np
import pytest

from helpers import numeric_grad, random_excerpts
from svd import excerpt, layers, loss, network2016, optim, predict
from svd.fast import build

INPUT = excerpt.INPUT_SHAPE


def random_params(rng, dtype=np.float64):
    """Initial weights with batch-norm scales, shifts, biases and running statistics away from their start."""
    params = network2016.init_params(rng, dtype)
    for name in params:
        if name.endswith((".gamma", ".inv_std")):
            params[name] *= np.exp(0.3 * rng.standard_normal(params[name].shape)).astype(dtype)
        elif not name.endswith(".w"):
            params[name] += (0.3 * rng.standard_normal(params[name].shape)).astype(dtype)
    return params


def test_param_shapes_and_counts():
    params = network2016.init_params(np.random.default_rng(0))
    assert list(params) == list(network2016.PARAM_SHAPES)
    assert all(params[name].shape == shape and params[name].dtype == np.float32
               for name, shape in network2016.PARAM_SHAPES.items())
    assert network2016.feature_map_shape() == (31, 1, 128)
    assert network2016.PARAM_SHAPES["dense1.w"][0] == 31 * 1 * 128  # dense1 reads the whole pooled map
    assert network2016.count_params() == 1_605_697
    statistics = [name for name in params if name not in network2016.TRAINED]
    assert len(statistics) == 14 and network2016.count_params(statistics) == 1472  # 7 layers x mean, inv_std
    # 2 * (conv1 5.08M + conv2 155.5M + conv3 29.7M + conv4 51.1M + conv5 54.8M + dense 1.03M) MACs
    assert network2016.forward_flops() == pytest.approx(594.4e6, rel=1e-3)


def test_network_gradients_by_finite_differences():
    """Training mode (batch statistics, dropout with fixed masks), float64, as for the paper's network
    (tests/test_network.py), the error relative to each tensor's largest gradient.

    Batch normalisation moves every unit of a channel when one of its weights moves, so a step
    of 1e-7 on a conv1 weight already crosses a rectifier or pooling kink somewhere (error 4e-5),
    while at 1e-8 the rounding of the objective shows (up to 8e-6). Each entry is therefore
    compared at both steps and the better agreement counts (< 1e-5): a kink spoils one step, a
    wrong gradient both, by O(1). The objective weighs all three examples, which the batch
    statistics couple."""
    rng = np.random.default_rng(21)
    params = random_params(rng)
    x = random_excerpts(rng, 3, dtype=np.float64)
    weights = rng.standard_normal(3)

    def objective():
        logits, _ = network2016.forward(params, x, rng=np.random.default_rng(22))
        return float(np.sum(weights * logits))

    logits, cache = network2016.forward(params, x, rng=np.random.default_rng(22))
    grads, dx = network2016.backward(params, cache, weights, need_dx=True)
    assert list(grads) == list(network2016.TRAINED)
    for name, array in [(name, params[name]) for name in network2016.TRAINED] + [("input", x)]:
        grad = dx if name == "input" else grads[name]
        flat, flat_grad = array.reshape(-1), grad.reshape(-1)
        picked = np.concatenate([np.argsort(-np.abs(flat_grad))[:2],
                                 rng.choice(flat.size, size=min(2, flat.size), replace=False)])
        errors = [np.abs(numeric_grad(objective, array, picked, step) - flat_grad[picked]) for step in (1e-7, 1e-8)]
        error = np.minimum(*errors).max() / np.abs(flat_grad).max()
        assert error < 1e-5, (name, error)


def _evaluation_by_hand(params, x):
    """Evaluation mode written out layer by layer with svd/layers.py: each layer's output standardised
    by the running statistics, scaled and shifted, rectified; no folding."""
    def normalise(z, name):
        return layers.leaky_relu_forward(params[name + ".gamma"] * (z - params[name + ".mean"])
                                         * params[name + ".inv_std"] + params[name + ".beta"])[0]
    h = x[..., None]
    for name in network2016.CONV_WEIGHTS:
        w = params[name + ".w"]
        h = normalise(layers.conv2d_forward(h, w, np.zeros(w.shape[-1]))[0], name)
        if name in network2016.POOLS:
            h = layers.maxpool2d_forward(h, network2016.POOLS[name])[0]
    h = h.reshape(len(x), -1)
    h = normalise(h @ params["dense1.w"], "dense1")
    h = normalise(h @ params["dense2.w"], "dense2")
    return (h @ params["dense3.w"] + params["dense3.b"])[:, 0]


def test_evaluation_mode_uses_the_running_statistics_folded_into_the_weights():
    rng = np.random.default_rng(23)
    params = random_params(rng)
    x = random_excerpts(rng, 4, dtype=np.float64)
    logits, cache = network2016.forward(params, x)
    assert cache is None
    np.testing.assert_allclose(logits, _evaluation_by_hand(params, x), rtol=1e-10, atol=1e-10)
    training, _ = network2016.forward(params, x, rng=np.random.default_rng(1))
    assert np.abs(training - logits).max() > 0.1  # batch statistics and dropout: another function


def test_update_statistics_averages_the_batch_statistics():
    """running <- 0.9 running + 0.1 batch; conv1's batch mean is the mean of its output over batch, time, freq."""
    rng = np.random.default_rng(24)
    params = random_params(rng)
    before = {name: params[name].copy() for name in params}
    x = random_excerpts(rng, 3, dtype=np.float64)
    _, cache = network2016.forward(params, x, rng=np.random.default_rng(2))
    network2016.update_statistics(params, cache)
    z = layers.conv2d_forward(x[..., None], params["conv1.w"], np.zeros(64))[0]
    np.testing.assert_allclose(params["conv1.mean"], 0.9 * before["conv1.mean"] + 0.1 * z.mean(axis=(0, 1, 2)),
                               rtol=1e-12)
    inv_std = 1 / np.sqrt(z.var(axis=(0, 1, 2)) + layers.BN_EPSILON)
    np.testing.assert_allclose(params["conv1.inv_std"], 0.9 * before["conv1.inv_std"] + 0.1 * inv_std, rtol=1e-12)
    for name in network2016.TRAINED:
        np.testing.assert_array_equal(params[name], before[name])
    moved = [name for name in params if name not in network2016.TRAINED
             and not np.array_equal(params[name], before[name])]
    assert len(moved) == 14


def test_whole_song_prediction_equals_excerpt_by_excerpt():
    """The dilated whole-song network (svd/predict.py) on the folded parameters gives every frame's
    excerpt probability, float32, to rounding."""
    rng = np.random.default_rng(25)
    params = {name: value.astype(np.float32) for name, value in random_params(rng).items()}
    padded = rng.standard_normal((40 + 2 * excerpt.CONTEXT_FRAMES, INPUT[1])).astype(np.float32)
    whole = predict.song_probabilities(predict.inference_params("ismir2016", params), padded)
    windows = np.lib.stride_tricks.sliding_window_view(padded, excerpt.EXCERPT_FRAMES, axis=0)
    one_by_one = network2016.predict_proba(params, np.ascontiguousarray(windows.transpose(0, 2, 1)))
    assert whole.shape == (40,) and np.ptp(whole) > 0.01  # the frames differ: a shifted input would show
    np.testing.assert_allclose(whole, one_by_one, rtol=1e-5, atol=1e-6)


@pytest.fixture
def numpy_loops():
    """svd/fast without its compiled parts for one test."""
    build.set_enabled(False)
    yield
    build.set_enabled(True)


def test_reference_and_fast_paths_agree_at_full_shapes(choice, numpy_loops):
    """Forward and backward in float32 through the textbook layers and the fast CPU path's NumPy and
    BLAS code (blocked, im2col for conv5): logits and gradients agree to float32 rounding (1e-4 of
    each tensor's largest; measured 2e-5).

    Without the compiled parts: Winograd's float32 rounding (a few 1e-6, tests/test_fast_winograd.py)
    moves some batch-normalised units across a rectifier's kink, and their gradients then differ by
    up to 1.5% of a tensor's largest, in a few entries of a million; the paper's network has no such
    amplifier (tests/test_fast.py compares it with the compiled parts too)."""
    rng = np.random.default_rng(26)
    params = network2016.init_params(rng)
    x = random_excerpts(rng, 3)
    dlogits = rng.standard_normal(3).astype(np.float32)
    results = {}
    for name in ("reference", "fast"):
        choice(name)
        logits, cache = network2016.forward(params, x, rng=np.random.default_rng(27), workspace={})
        results[name] = (logits, network2016.backward(params, cache, dlogits))
    (logits, grads), (logits_ref, grads_ref) = results["fast"], results["reference"]
    np.testing.assert_allclose(logits, logits_ref, rtol=1e-4, atol=1e-4 * np.abs(logits_ref).max())
    for name in grads_ref:
        np.testing.assert_allclose(grads[name], grads_ref[name], rtol=0, atol=1e-4 * np.abs(grads_ref[name]).max(),
                                   err_msg=name)


def test_adam_fits_a_small_batch():
    """Adam at 0.001 on 8 random excerpts with smoothed labels, dropout on: the loss falls clearly."""
    rng = np.random.default_rng(28)
    params = network2016.init_params(rng)
    trained = {name: params[name] for name in network2016.TRAINED}
    moment1, moment2 = optim.init_velocity(trained), optim.init_velocity(trained)
    x = random_excerpts(rng, 8)
    targets = np.where(np.arange(8) % 2 == 0, 0.98, 0.02).astype(np.float32)
    losses = []
    for step in range(1, 21):
        logits, cache = network2016.forward(params, x, rng=np.random.default_rng(step), workspace={})
        batch_loss, loss_cache = loss.sigmoid_cross_entropy_forward(logits, targets)
        losses.append(float(batch_loss))
        grads = network2016.backward(params, cache, loss.sigmoid_cross_entropy_backward(loss_cache))
        network2016.update_statistics(params, cache)
        optim.adam(params, grads, moment1, moment2, optim.ADAM_LEARNING_RATE, step)
    assert losses[-1] < 0.5 * losses[0], losses
