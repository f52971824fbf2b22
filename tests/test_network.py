"""Tests of svd/network.py: shapes, initialisation, modes, whole-network gradients, learning."""

import numpy as np
import pytest

from helpers import numeric_grad, random_excerpts, random_params
from svd import backend, excerpt, loss, network, optim

INPUT = excerpt.INPUT_SHAPE


@pytest.fixture(scope="module")
def params():
    return network.init_params(np.random.default_rng(0))


# --------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------

def test_param_shapes_and_count(params):
    assert list(params) == list(network.PARAM_SHAPES)
    for name, shape in network.PARAM_SHAPES.items():
        assert params[name].shape == shape and params[name].dtype == np.float32
    assert network.count_params() == 1_408_225  # Sec. 3.2 architecture
    assert sum(p.size for p in params.values()) == 1_408_225


def test_forward_flops():
    # 2 * (conv1 5.08M + conv2 155.5M + conv3 29.7M + conv4 51.1M + dense 1.28M) MACs
    assert network.forward_flops() == 485_232_512
    assert network.forward_flops(batch=32) == 32 * 485_232_512


def test_init_is_orthogonal_with_zero_biases(params):
    for name, w in params.items():
        if name.endswith(".b"):
            assert not w.any()
            continue
        matrix = w.reshape(-1, w.shape[-1]).astype(np.float64)  # (fan_in, fan_out)
        if matrix.shape[0] >= matrix.shape[1]:
            gram = matrix.T @ matrix  # orthonormal columns
        else:
            gram = matrix @ matrix.T  # orthonormal rows
        # atol: float32 rounding of the stored weights
        np.testing.assert_allclose(gram, np.eye(len(gram)), atol=1e-5, err_msg=name)


def test_init_is_reproducible_and_random(params):
    again = network.init_params(np.random.default_rng(0))  # the fixture's seed
    assert all(np.array_equal(again[k], params[k]) for k in params)
    shape = network.PARAM_SHAPES["conv2.w"]
    assert not np.array_equal(network.orthogonal(np.random.default_rng(1), shape),
                              network.orthogonal(np.random.default_rng(2), shape))


# --------------------------------------------------------------------------
# Forward: shapes, dtypes, modes
# --------------------------------------------------------------------------

def test_forward_shapes_and_float32(params):
    rng = np.random.default_rng(3)
    x = random_excerpts(rng, 3)
    logits, cache = network.forward(params, x, rng=rng)
    assert logits.shape == (3,) and logits.dtype == np.float32
    grads = network.backward(params, cache, np.ones(3, np.float32))
    assert list(grads) == list(params)
    for name in params:
        assert grads[name].shape == params[name].shape
        assert grads[name].dtype == np.float32, name  # no float64 creeping in


def test_eval_mode_is_deterministic_and_differs_from_training(params):
    x = random_excerpts(np.random.default_rng(4), 4)
    first, _ = network.forward(params, x)
    second, _ = network.forward(params, x, workspace={})
    np.testing.assert_array_equal(first, second)
    trained, _ = network.forward(params, x, rng=np.random.default_rng(5))
    assert not np.allclose(first, trained)  # dropout is on in training mode


def test_training_mode_is_reproducible_from_the_seed(params):
    x = random_excerpts(np.random.default_rng(6), 4)
    a, _ = network.forward(params, x, rng=np.random.default_rng(7))
    b, _ = network.forward(params, x, rng=np.random.default_rng(7))
    c, _ = network.forward(params, x, rng=np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_workspace_gives_the_same_results(params):
    rng = np.random.default_rng(9)
    x = random_excerpts(rng, 2)
    workspace = {}
    for _ in range(2):  # the second call reuses the buffers
        logits, cache = network.forward(params, x, workspace=workspace)
        grads = network.backward(params, cache, np.ones(2, np.float32))
    ref_logits, ref_cache = network.forward(params, x)
    ref_grads = network.backward(params, ref_cache, np.ones(2, np.float32))
    np.testing.assert_array_equal(logits, ref_logits)
    for name in params:
        np.testing.assert_array_equal(grads[name], ref_grads[name])


def test_predict_proba_matches_forward(params):
    x = random_excerpts(np.random.default_rng(10), 5)
    probs = network.predict_proba(params, x, batch_size=2)
    logits, _ = network.forward(params, x)
    assert probs.shape == (5,) and probs.dtype == np.float32
    np.testing.assert_allclose(probs, 1 / (1 + np.exp(-logits.astype(np.float64))), rtol=1e-5)


# --------------------------------------------------------------------------
# Whole-network gradient check
# --------------------------------------------------------------------------

def test_network_gradients_by_finite_differences():
    """Central differences in float64 on a random subset of every tensor and of the input.

    Tolerance: the network is piecewise linear in each parameter (leaky
    rectifiers, max-pooling), so central differences are exact up to rounding
    unless a unit's pre-activation or a pooling window's maximum changes sign
    or place within the step. With ~10^6 units and windows per excerpt a step
    of 1e-6 already crosses a few such kinks (errors ~1e-3); 1e-7 crosses none
    for this seed. Its rounding error is ~1e-15 * |f| / 1e-7 ~ 1e-8 in
    absolute terms, so we measure the error relative to the tensor's largest
    gradient and require < 1e-6; a wrong gradient is off by O(1) on the
    largest entries, which we always check.
    """
    rng = np.random.default_rng(11)
    params = random_params(rng)
    x = random_excerpts(rng, 2, dtype=np.float64)
    weights = rng.standard_normal(2)  # objective: sum(weights * logits)

    def objective():  # training mode with the same dropout masks every time
        logits, _ = network.forward(params, x, rng=np.random.default_rng(12))
        return float(np.sum(weights * logits))

    logits, cache = network.forward(params, x, rng=np.random.default_rng(12))
    grads, dx = network.backward(params, cache, weights, need_dx=True)
    step = 1e-7
    for name, array in list(params.items()) + [("input", x)]:
        grad = dx if name == "input" else grads[name]
        flat, flat_grad = array.reshape(-1), grad.reshape(-1)
        # entries with the largest gradients (where a bug would show) plus random ones
        picked = np.concatenate([np.argsort(-np.abs(flat_grad))[:2],
                                 rng.choice(flat.size, size=min(2, flat.size), replace=False)])
        numeric = numeric_grad(objective, array, picked, step)
        scale = np.abs(flat_grad).max()  # the tensor's gradient scale
        error = np.abs(numeric - flat_grad[picked]).max() / scale
        assert error < 1e-6, (name, error)


# --------------------------------------------------------------------------
# Learning
# --------------------------------------------------------------------------

def test_network_fits_a_small_batch():
    """Nesterov updates on 8 random excerpts with smoothed labels lower the loss clearly.

    Without dropout (that only slows fitting down) and with momentum 0.9 instead
    of the paper's 0.95, which oscillates more over so few updates.
    """
    rng = np.random.default_rng(13)
    params = network.init_params(rng)
    velocity = optim.init_velocity(params)
    x = random_excerpts(rng, 8)
    targets = np.where(np.arange(8) % 2 == 0, 0.98, 0.02).astype(np.float32)  # Sec. 3.3 smoothing
    workspace = {}
    losses = []
    for update in range(24):
        logits, cache = network.forward(params, x, workspace=workspace)
        batch_loss, loss_cache = loss.sigmoid_cross_entropy_forward(logits, targets)
        losses.append(float(batch_loss))
        grads = network.backward(params, cache, loss.sigmoid_cross_entropy_backward(loss_cache))
        optim.nesterov_momentum(params, grads, velocity, optim.learning_rate(update), momentum=0.9)
    assert losses[0] > 0.65  # about log(2): the untrained network guesses
    assert losses[-1] < 0.7 * losses[0], losses


# --------------------------------------------------------------------------
# Dropout placement (Sec. 3.3: 50% on the inputs of all dense layers, nowhere else)
# --------------------------------------------------------------------------

def test_dropout_masks_the_inputs_of_exactly_the_three_dense_layers(params):
    """With the textbook layers (whose dense cache is (x, w)): in training mode each dense
    layer's input is its eval-mode input, masked and doubled; the convolutions see no dropout."""
    previous = backend.use("reference")
    try:
        rng = np.random.default_rng(14)
        x = random_excerpts(rng, 2)
        _, train = network.forward(params, x, rng=np.random.default_rng(15))
        _, evaluation = network.forward(params, x)
    finally:
        backend.use(previous)
    masks = [train[f"dropout{k}"][0] for k in (1, 2, 3)]
    assert [m.shape for m in masks] == [(2, 4928), (2, 256), (2, 64)]
    assert all(evaluation[f"dropout{k}"] is None for k in (1, 2, 3))
    before_dropout = [evaluation["dense1"][0], train["leaky1"], train["leaky2"]]  # leaky cache: y
    for k, (mask, clean) in enumerate(zip(masks, before_dropout), start=1):
        np.testing.assert_array_equal(train[f"dense{k}"][0], np.where(mask, 2 * clean, 0), err_msg=f"dense{k}")
    for name in ("conv1", "conv2", "conv3", "conv4"):
        np.testing.assert_array_equal(train[name][-1], evaluation[name][-1], err_msg=name)  # outputs y


def test_dense1_reads_what_the_last_pool_gives_for_any_band_count():
    """The 4928 inputs of dense1 are derived, not written down (issue 30): 80 bands give 11 x 7 x 64."""
    assert network.feature_map_shape() == (11, 7, 64) and network.PARAM_SHAPES["dense1.w"][0] == 4928
    assert network.feature_map_shape(115, 128) == (11, 12, 64)  # 128 bands: ((128-4)//3 - 4)//3 = 12
