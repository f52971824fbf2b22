"""svd/models/bundled.npz: the model `detect` and `svd.load_model()` use when none is named (docs/model-card.md).

Its accuracy is measured on real recordings by tests/accuracy/bundled_model.py (the
figures of the model card); here, what a user relies on without any data: it is there,
it loads, it carries a usable threshold and the record of how it was made, and it runs
the whole chain on audio it has never seen.
"""
import numpy as np
import pytest

import svd
from svd import model_file, network, predict, spectrum


@pytest.fixture(scope="module")
def bundled():
    return model_file.load(model_file.BUNDLED)


def test_the_bundled_model_is_there_with_a_threshold_and_its_recipe(bundled):
    assert 0.0 < bundled.threshold < 1.0  # chosen on held-out recordings, stored for detect
    train = bundled.config["train"]
    assert train["updates"] >= 3000 and train["batch"] == 32
    assert bundled.provenance.get("svd_version")  # how it was made travels with it
    assert all(params["conv1.w"].shape == network.PARAM_SHAPES["conv1.w"] for params in bundled.networks)


def test_load_model_without_a_path_runs_the_whole_chain_on_samples():
    """The bundled model through the Python API on a synthetic 6 s tone with its harmonics: one
    probability per frame, in [0, 1], and segments covering the signal. What the model answers
    on real music is the model card's business."""
    detector = svd.load_model(device="cpu")
    rate = 22050
    t = np.arange(6 * rate) / rate
    tone = sum(np.sin(2 * np.pi * 440 * k * t) / k for k in range(1, 8)).astype(np.float32) * 0.1
    found = detector.probabilities(tone, sample_rate=rate)
    assert found.raw.shape == (spectrum.frame_count(len(tone)),)
    assert np.all((found.raw >= 0) & (found.raw <= 1))
    segments = detector.segments(tone, sample_rate=rate)
    assert segments[0].start_s == 0.0 and segments[-1].end_s == pytest.approx(6.0, abs=0.05)


def test_a_level_invariant_bundled_model_does_not_hear_the_level(bundled):
    """If the bundled recipe is a level-invariant one (zero-mean first layer, or each recording standardised by
    its own statistics), a gain leaves its output unchanged away from the silence padding."""
    if not (bundled.config["train"].get("zero_mean") or bundled.per_recording):
        pytest.skip("the bundled recipe is neither zero-mean nor per-recording")
    rng = np.random.default_rng(0)
    linear = rng.gamma(2.0, 0.05, (400, spectrum.LINEAR_BINS)).astype(np.float32)
    inner = slice(60, -60)  # away from the silence padding, which a gain does not move
    loud = predict.probabilities(bundled, linear)[inner]
    quiet = predict.probabilities(bundled, linear * np.float32(0.1))[inner]
    assert np.abs(loud - quiet).max() < 1e-3
