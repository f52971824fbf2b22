"""svd/normalise.py: band statistics against float64 reference, stability, silence value."""
import numpy as np

from svd import normalise, spectrum


def test_statistics_equal_the_float64_reference_over_all_frames():
    rng = np.random.default_rng(0)
    songs = [rng.normal(rng.normal(size=80), 2.0, size=(rng.integers(5, 200), 80)).astype(np.float32)
             for _ in range(5)]
    mean, std = normalise.band_statistics(songs)
    everything = np.concatenate(songs).astype(np.float64)
    np.testing.assert_allclose(mean, everything.mean(axis=0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(std, everything.std(axis=0), rtol=1e-5)
    assert mean.dtype == std.dtype == np.float32


def test_statistics_are_stable_for_a_large_offset_and_tiny_spread():
    # Naive float32 E[x^2] - E[x]^2 loses all digits here (offset 1e4, spread 1e-2).
    rng = np.random.default_rng(1)
    songs = [(1e4 + 1e-2 * rng.standard_normal((2000, 80))).astype(np.float64) for _ in range(3)]
    _, std = normalise.band_statistics(songs)
    reference = np.concatenate(songs).std(axis=0)
    np.testing.assert_allclose(std, reference, rtol=1e-3)


def test_silence_normalises_the_log_floor():
    mean = np.arange(80, dtype=np.float32)
    std = np.full(80, 2.0, np.float32)
    np.testing.assert_allclose(normalise.silence_value(mean, std), (np.log(spectrum.LOG_FLOOR) - mean) / 2,
                               rtol=1e-6)


def test_a_recording_standardised_by_its_own_statistics_forgets_its_level():
    """recording_log_mel: zero mean and unit deviation per band; a gain on the audio changes nothing; a band
    that never changes stays constant (its deviation floored) instead of amplifying rounding."""
    rng = np.random.default_rng(4)
    linear = rng.uniform(0.01, 1.0, (300, 513)).astype(np.float32)
    linear[:, 200:] = 0.0  # bands above the last bin with energy: digital silence
    own = normalise.recording_log_mel(linear, True)
    loud = normalise.recording_log_mel(linear * np.float32(50.0), True)
    live = np.flatnonzero(normalise.recording_statistics(spectrum.log_mel(linear))[1] > normalise.MIN_RECORDING_STD)
    assert 20 < len(live) < 80  # some bands are silent, some are not: both rules are tested
    np.testing.assert_allclose(own.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(own[:, live].std(axis=0), 1, rtol=1e-4)
    np.testing.assert_allclose(loud[:, live], own[:, live], atol=2e-4)
    assert np.abs(own[:, live[-1] + 1:]).max() == 0
    np.testing.assert_array_equal(normalise.recording_log_mel(linear, False), spectrum.log_mel(linear))
